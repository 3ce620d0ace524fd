//! The uapi header check: clonekit's `CloneFlags` against `include/linux/sched.h` of
//! Debian's newest `linux-libc-dev`.
//!
//! `linux-raw-sys` (where clonekit takes its constants from) trails the kernel: Linux 7.1's
//! four `clone3()` flags are defined in clonekit itself. This check keeps them honest: it
//! fetches the header the way kernels are fetched (a private apt, the cache, a pointer file
//! so that a second run needs no network) and runs clonekit's `tests/linux7.rs` header test
//! with `CLONEKIT_UAPI_SCHED_H` pointing at it, which compares every `CLONE_*` define with
//! `CloneFlags` (and the largest `CLONE_ARGS_SIZE_VER*` with the `clone_args` clonekit
//! passes).
//!
//! "Newest" is the highest `linux-libc-dev` version of [`SUITES`] (`dpkg
//! --compare-versions`): sid's and trixie-backports' both carry the 7.x headers, and either
//! may be ahead of the other.
//!
//! Cache layout (under [`workspace::cache_dir`]):
//! - `uapi/linux-libc-dev_<version>/sched.h`: the header;
//! - `uapi/linux-libc-dev.resolved`: which `linux-libc-dev_<version>` that is.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::apt::{PrivateApt, clear_dir, file_safe};
use crate::arch::Arch;
use crate::cargo::{self, Outer, Plan, Toolchain};
use crate::{progress, workspace};

/// The package with the kernel's uapi headers (`Architecture: all` since Linux 6.x).
pub const PACKAGE: &str = "linux-libc-dev";

/// The suites whose `linux-libc-dev` may be the newest.
pub const SUITES: &[&str] = &["sid", "trixie-backports"];

/// The header, as the package's tar names it.
const MEMBER: &str = "./usr/include/linux/sched.h";

/// The environment variable the clonekit test reads the header's path from.
pub const ENV: &str = "CLONEKIT_UAPI_SCHED_H";

/// The cargo arguments of the check: clonekit's header test alone.
pub const TEST_ARGS: &[&str] = &[
    "test",
    "-p",
    "clonekit-testkit",
    "--test",
    "linux7",
    "--",
    "--exact",
    "every_flag_matches_debians_newest_uapi_header",
    "--nocapture",
];

/// The cargo run of the check for `header`: clonekit's header test with [`ENV`] set.
pub fn plan(header: &Header) -> Result<Plan> {
    let path = header
        .path
        .to_str()
        .with_context(|| format!("{} is not UTF-8", header.path.display()))?;
    Ok(cargo::plan(
        Toolchain::Current,
        TEST_ARGS,
        &[(ENV, path)],
        &Outer::here(),
    ))
}

/// A cached header.
#[derive(Debug)]
pub struct Header {
    /// `linux-libc-dev`'s Debian version (`7.3.4-1~bpo13+1`).
    pub version: String,
    /// `.../uapi/linux-libc-dev_<version>/sched.h`.
    pub path: PathBuf,
}

/// The header: from the cache, else fetched. `refresh` asks apt for the newest again.
pub fn get(refresh: bool) -> Result<Header> {
    let root = workspace::cache_dir()?.join("uapi");
    let pointer = root.join(format!("{PACKAGE}.resolved"));
    if !refresh {
        match workspace::cache_pointer(&pointer) {
            Ok(Some(key)) => match load(&root.join(&key)) {
                Ok(path) => {
                    return Ok(Header {
                        version: key
                            .strip_prefix(&format!("{PACKAGE}_"))
                            .unwrap_or(&key)
                            .to_string(),
                        path,
                    });
                }
                Err(e) => progress::line(format_args!(
                    "uapi: cached {key} is unusable ({e:#}); fetching it again"
                )),
            },
            Ok(None) => {}
            Err(why) => progress::line(format_args!("uapi: {why}; fetching it again")),
        }
    }
    let header = fetch(&root)?;
    fs::write(
        &pointer,
        format!("{PACKAGE}_{}", file_safe(&header.version)),
    )
    .with_context(|| format!("writing {}", pointer.display()))?;
    Ok(header)
}

/// A cached header directory's `sched.h`, if it looks like the uapi one.
fn load(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("sched.h");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    check(&text)?;
    Ok(path)
}

/// What any uapi `linux/sched.h` has: the first clone flag and `struct clone_args`. A
/// truncated or foreign file fails here, not as a flag mismatch in the test.
fn check(text: &str) -> Result<()> {
    for needle in ["#define CLONE_VM", "struct clone_args"] {
        if !text.contains(needle) {
            bail!("no `{needle}` in it");
        }
    }
    Ok(())
}

/// Finds the newest `linux-libc-dev` of [`SUITES`] and extracts its `sched.h` into the
/// cache.
fn fetch(root: &Path) -> Result<Header> {
    let mut newest: Option<(&str, PrivateApt, String)> = None;
    for suite in SUITES {
        progress::line(format_args!(
            "uapi: asking {suite} for {PACKAGE} with a private apt"
        ));
        let apt = PrivateApt::new(suite, Arch::X86_64)?;
        apt.update()?;
        let version = apt.field(PACKAGE, "Version")?;
        let newer = match &newest {
            None => true,
            Some((_, _, best)) => version_gt(&version, best)?,
        };
        if newer {
            newest = Some((suite, apt, version));
        }
    }
    let (suite, apt, version) = newest.context("no suite to ask")?;
    progress::line(format_args!("uapi: fetching {PACKAGE} {version} ({suite})"));
    let unpacked = apt.download_and_extract(PACKAGE, &[MEMBER])?;
    let extracted = unpacked.join(MEMBER.trim_start_matches("./"));
    let text = fs::read_to_string(&extracted)
        .with_context(|| format!("{PACKAGE} {version} has no {MEMBER}"))?;
    check(&text).with_context(|| format!("{MEMBER} of {PACKAGE} {version}"))?;
    let dir = root.join(format!("{PACKAGE}_{}", file_safe(&version)));
    clear_dir(&dir)?;
    let path = dir.join("sched.h");
    fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(Header { version, path })
}

/// `dpkg --compare-versions a gt b`: Debian's ordering (`~` sorts before everything, so
/// `7.3.4-1~bpo13+1` is newer than `7.2.13-1` and older than `7.3.4-1`).
fn version_gt(a: &str, b: &str) -> Result<bool> {
    let status = Command::new("dpkg")
        .args(["--compare-versions", a, "gt", b])
        .status()
        .context("running dpkg --compare-versions")?;
    match status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => bail!("dpkg --compare-versions {a} gt {b} failed ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_without_clone_flags_is_refused() {
        assert!(check("#define CLONE_VM 0x100\nstruct clone_args {\n").is_ok());
        assert!(check("").is_err());
        assert!(check("#define CLONE_VM 0x100\n").is_err());
        assert!(check("<html>404</html>").is_err());
    }

    #[test]
    fn debian_versions_compare_as_dpkg_does() {
        if Command::new("dpkg").arg("--version").output().is_err() {
            return; // not a Debian host: the tool's apt steps cannot run there either
        }
        assert!(version_gt("7.3.4-1~bpo13+1", "7.2.13-1").unwrap());
        assert!(!version_gt("7.3.4-1~bpo13+1", "7.3.4-1").unwrap());
        assert!(!version_gt("7.2.13-1", "7.2.13-1").unwrap());
    }
}
