//! `build <arch>`: the static init binary and the initramfs that carries it.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{steps, workspace};

/// The package (and binary) name of the guest init.
pub const INIT_PACKAGE: &str = "init-demo";

/// Whether the workspace has an `init-demo` package yet.
pub fn init_demo_exists() -> Result<bool> {
    let out = Command::new(steps::cargo_bin())
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(workspace::root())
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json = String::from_utf8_lossy(&out.stdout);
    Ok(json.contains(&format!("\"name\":\"{INIT_PACKAGE}\",\"version\"")))
}
