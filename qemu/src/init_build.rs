//! clonekit-init and its scenario probe for one arch, built with the crate's own recipe
//! (init/build.rs links them static with rust-lld through the target's C driver) in the
//! `min-size` profile, kept unstripped (its symbols are checked) and stripped (the size
//! that counts; the one the guest boots).
//!
//! The plain command a user types is the same: `cargo build -p clonekit-init --profile
//! min-size --target <triple>`. Unlike init-demo's build ([`crate::guest::initramfs`]),
//! no linker is named here: the recipe needs the C driver (`cc`, or the cross `gcc` of
//! `.cargo/config.toml`), which `cargo qemu setup` installs.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::guest::initramfs::strip;
use crate::{cargo, progress, workspace};

/// The package, and its two binaries.
pub const PACKAGE: &str = "clonekit-init";
pub const PROBE: &str = "clonekit-init-probe";

/// The profile (root `Cargo.toml`): `init` at `opt-level = "z"`.
pub const PROFILE: &str = "min-size";

/// The 12 KiB the stripped binary must stay within on every arch.
pub const SIZE_GOAL: u64 = 12 * 1024;

/// The two binaries of one arch.
#[derive(Debug, Clone)]
pub struct Built {
    pub arch: Arch,
    /// clonekit-init as linked (with its symbol table).
    pub unstripped: PathBuf,
    /// clonekit-init stripped: what is measured and booted.
    pub init: PathBuf,
    /// The probe, stripped.
    pub probe: PathBuf,
}

/// Where these builds go: their own target directory.
fn target_dir() -> PathBuf {
    workspace::target_dir().join(PACKAGE)
}

/// `cargo build -p clonekit-init --profile min-size --target <triple>`, with the profile's
/// strip turned off (this tool strips, after reading the symbols).
pub fn cargo_build_command(arch: Arch) -> Command {
    let mut cmd = cargo::current(&[
        "build",
        "-p",
        PACKAGE,
        "--profile",
        PROFILE,
        "--target",
        arch.triple(),
    ]);
    cmd.env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_PROFILE_MIN_SIZE_STRIP", "false")
        // A global RUSTFLAGS would replace the per-target ones a user may have.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .current_dir(workspace::root());
    cmd
}

/// Builds both binaries for `arch` and strips them into `target/qemu/<arch>/`.
pub fn build(arch: Arch) -> Result<Built> {
    progress::line(format_args!(
        "build: {PACKAGE} for {arch} ({PROFILE} profile)"
    ));
    let status = cargo_build_command(arch)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build -p {PACKAGE} for {arch} failed ({status})");
    }
    let built = target_dir().join(arch.triple()).join(PROFILE);
    let out = workspace::qemu_dir().join(arch.name());
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let init = out.join(format!("{PACKAGE}.stripped"));
    let probe = out.join(format!("{PROBE}.stripped"));
    strip(arch, &built.join(PACKAGE), &init)?;
    strip(arch, &built.join(PROBE), &probe)?;
    Ok(Built {
        arch,
        unstripped: built.join(PACKAGE),
        init,
        probe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_is_the_plain_command_with_its_own_target_dir_and_no_linker_override() {
        for arch in Arch::ALL {
            let cmd = cargo_build_command(arch);
            let args: Vec<_> = cmd
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assert_eq!(
                args,
                [
                    "build",
                    "-p",
                    "clonekit-init",
                    "--profile",
                    "min-size",
                    "--target",
                    arch.triple()
                ]
            );
            let set = |key: &str| {
                cmd.get_envs()
                    .find(|(k, _)| *k == key)
                    .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            };
            assert_eq!(
                set("CARGO_TARGET_DIR").map(PathBuf::from),
                Some(target_dir())
            );
            assert_eq!(
                set("CARGO_PROFILE_MIN_SIZE_STRIP").as_deref(),
                Some("false")
            );
            // The recipe links through the C driver: naming rust-lld as the linker (as
            // init-demo's build does) would hand it the driver's options.
            assert!(
                !cmd.get_envs()
                    .any(|(k, _)| k.to_string_lossy().ends_with("_LINKER"))
            );
        }
    }
}
