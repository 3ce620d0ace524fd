//! The qemu-user emulators the cross tests run under, two versions side by side.
//!
//! Users run whatever qemu-user their distribution ships, so `cargo qemu test` runs the
//! aarch64 and riscv64 tests under both ends of that range: Debian 12's QEMU 7.2
//! (`qemu-user-static`, binaries `qemu-<arch>-static`) and bookworm-backports' QEMU 10.0
//! (`qemu-user`, whose `qemu-<arch>` are static-pie). Both come through the private apt and
//! are unpacked into the cache; nothing is installed. The plain `cargo test --target ...`
//! of a user uses the runner in `.cargo/config.toml` instead (the system's
//! `qemu-<arch>-static`, installed by `setup`).
//!
//! Cache layout (under [`workspace::cache_dir`]):
//! - `qemu-user/<package>_<version>/qemu-<arch>[-static]`: the binaries;
//! - `qemu-user/<suite>-<package>.resolved`: which `<package>_<version>` was fetched, so a
//!   second run uses no network.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::apt::{PrivateApt, clear_dir, file_safe};
use crate::arch::Arch;
use crate::{progress, workspace};

/// One qemu-user release the cross tests run under.
#[derive(Debug)]
pub struct Emulator {
    /// Its QEMU version (`7.2`), as step names show it; the fetched package must have it.
    pub version: &'static str,
    /// The Debian suite and package it comes from.
    pub suite: &'static str,
    pub package: &'static str,
    /// What the package appends to `qemu-<arch>` (`-static`, or nothing).
    pub suffix: &'static str,
}

/// Debian 12's.
pub const QEMU_7_2: Emulator = Emulator {
    version: "7.2",
    suite: "bookworm",
    package: "qemu-user-static",
    suffix: "-static",
};

/// bookworm-backports'.
pub const QEMU_10_0: Emulator = Emulator {
    version: "10.0",
    suite: "bookworm-backports",
    package: "qemu-user",
    suffix: "",
};

impl Emulator {
    /// The binary's file name for `arch` (`qemu-aarch64-static`).
    pub fn binary(&self, arch: Arch) -> String {
        format!("{}{}", arch.qemu_user_binary(), self.suffix)
    }

    /// Whether a Debian package version is this emulator's (`1:7.2+dfsg-7+deb12u18`).
    fn has_version(&self, debian_version: &str) -> bool {
        let upstream = debian_version
            .split_once(':')
            .map_or(debian_version, |(_, v)| v);
        upstream
            .strip_prefix(self.version)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
    }
}

/// The cargo runner of `arch`'s test binaries under the emulator `program`.
///
/// `RUST_TEST_THREADS=1`: QEMU 7.2 deadlocks a fork taken while another emulated thread
/// runs (a `qemu-riscv64-static` was seen stuck on a futex for over 8 minutes when tests ran
/// in parallel, and clonekit's tests fork), so each test binary runs its tests one at a
/// time; an explicit `--test-threads=N` still wins. `-L`: the cross libc, for the
/// dynamically linked test binaries (binfmt_misc is not relied on).
///
/// `.cargo/config.toml` has the same runner with the system's `qemu-<arch>-static`, so a
/// plain `cargo test --target <triple>` gets it too; a test checks that the two agree.
pub fn runner(arch: Arch, program: &str) -> Vec<String> {
    [
        "env",
        "RUST_TEST_THREADS=1",
        program,
        "-L",
        arch.cross_sysroot(),
    ]
    .iter()
    .map(|w| w.to_string())
    .collect()
}

/// `--config target.<triple>.runner=[...]`: the runner as a cargo argument (a TOML array,
/// so a cache path with spaces stays one word).
pub fn runner_config(arch: Arch, program: &Path) -> Result<String> {
    let program = program
        .to_str()
        .with_context(|| format!("{} is not UTF-8", program.display()))?;
    let words = runner(arch, program)
        .iter()
        .map(|w| toml_string(w))
        .collect::<Result<Vec<_>>>()?;
    Ok(format!(
        "target.{}.runner=[{}]",
        arch.triple(),
        words.join(", ")
    ))
}

/// A TOML basic string (`"..."`); control characters are refused rather than escaped.
fn toml_string(s: &str) -> Result<String> {
    if s.chars().any(char::is_control) {
        bail!("{s:?} has a control character");
    }
    Ok(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// The directory holding `emulator`'s binaries for every cross arch: from the cache, else
/// fetched.
pub fn get(emulator: &Emulator) -> Result<PathBuf> {
    let root = workspace::cache_dir()?.join("qemu-user");
    let pointer = root.join(format!("{}-{}.resolved", emulator.suite, emulator.package));
    match workspace::cache_pointer(&pointer) {
        Ok(Some(key)) => {
            let dir = root.join(key);
            match check(emulator, &dir) {
                Ok(()) => return Ok(dir),
                Err(e) => progress::line(format_args!(
                    "qemu-user: cached {} is unusable ({e:#}); fetching it again",
                    dir.display()
                )),
            }
        }
        Ok(None) => {}
        Err(why) => progress::line(format_args!("qemu-user: {why}; fetching it again")),
    }
    let dir = fetch(emulator, &root)?;
    let key = dir.file_name().unwrap_or_default().to_string_lossy();
    fs::write(&pointer, key.as_bytes())
        .with_context(|| format!("writing {}", pointer.display()))?;
    Ok(dir)
}

/// The cross arches (the host runs its own tests natively).
fn cross_arches() -> impl Iterator<Item = Arch> {
    Arch::ALL.into_iter().filter(|a| a.is_cross())
}

/// Every binary is there, runs, and says it is this emulator's version.
fn check(emulator: &Emulator, dir: &Path) -> Result<()> {
    for arch in cross_arches() {
        let binary = dir.join(emulator.binary(arch));
        let out = Command::new(&binary)
            .arg("--version")
            .output()
            .with_context(|| format!("running {}", binary.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap_or("");
        let expected = format!("version {}.", emulator.version);
        if !out.status.success() || !first.contains(&expected) {
            bail!(
                "{} --version said {first:?}, not QEMU {}",
                binary.display(),
                emulator.version
            );
        }
    }
    Ok(())
}

fn fetch(emulator: &Emulator, root: &Path) -> Result<PathBuf> {
    let host = Arch::host().context("the qemu-user packages are fetched for the host's arch")?;
    progress::line(format_args!(
        "qemu-user: resolving {} ({} {}) with a private apt",
        emulator.package,
        emulator.suite,
        host.debian()
    ));
    let apt = PrivateApt::new(emulator.suite, host)?;
    apt.update()?;
    let version = apt.field(emulator.package, "Version")?;
    if !emulator.has_version(&version) {
        bail!(
            "{} {} is {version}, not QEMU {}: the emulator table in qemu/src/qemu_user.rs \
             needs updating",
            emulator.suite,
            emulator.package,
            emulator.version
        );
    }
    let kept: Vec<&str> = cross_arches().map(Arch::name).collect();
    progress::line(format_args!(
        "qemu-user: downloading {} {version} (only the {} emulators are kept)",
        emulator.package,
        kept.join(" and ")
    ));
    let members: Vec<String> = cross_arches()
        .map(|a| format!("./usr/bin/{}", emulator.binary(a)))
        .collect();
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    let unpacked = apt.download_and_extract(emulator.package, &members)?;
    let dir = root.join(format!("{}_{}", emulator.package, file_safe(&version)));
    let staging = root.join(format!(".staging-{}", emulator.package));
    clear_dir(&staging)?;
    for arch in cross_arches() {
        let name = emulator.binary(arch);
        fs::rename(unpacked.join("usr/bin").join(&name), staging.join(&name))
            .with_context(|| format!("{} has no /usr/bin/{name}", emulator.package))?;
    }
    let _ = fs::remove_dir_all(&unpacked);
    check(emulator, &staging)?;
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::rename(&staging, &dir)?;
    progress::line(format_args!("qemu-user: cached {}", dir.display()));
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_are_named_as_each_package_names_them() {
        assert_eq!(QEMU_7_2.binary(Arch::Aarch64), "qemu-aarch64-static");
        assert_eq!(QEMU_10_0.binary(Arch::Riscv64), "qemu-riscv64");
    }

    /// The runner a plain `cargo test --target <triple>` uses is the one the test command
    /// uses, with the system's emulator.
    #[test]
    fn cargo_config_has_the_same_runner_for_every_cross_arch() {
        let config = std::fs::read_to_string(workspace::root().join(".cargo/config.toml"))
            .expect("reading .cargo/config.toml");
        for arch in cross_arches() {
            let section = format!("[target.{}]", arch.triple());
            let start = config
                .find(&section)
                .unwrap_or_else(|| panic!("no {section} in .cargo/config.toml"));
            let line = config[start..]
                .lines()
                .find(|l| l.starts_with("runner"))
                .unwrap_or_else(|| panic!("{section} has no runner"));
            let words: Vec<String> = runner(arch, &QEMU_7_2.binary(arch))
                .iter()
                .map(|w| toml_string(w).unwrap())
                .collect();
            assert_eq!(line, format!("runner = [{}]", words.join(", ")), "{arch}");
        }
    }

    #[test]
    fn runner_configs_are_toml_arrays() {
        let config = runner_config(Arch::Aarch64, Path::new("/c a/q\\\"x")).unwrap();
        assert_eq!(
            config,
            r#"target.aarch64-unknown-linux-gnu.runner=["env", "RUST_TEST_THREADS=1", "/c a/q\\\"x", "-L", "/usr/aarch64-linux-gnu"]"#
        );
        assert!(runner_config(Arch::Riscv64, Path::new("/a\nb")).is_err());
    }

    #[test]
    fn versions_match_on_whole_components() {
        assert!(QEMU_7_2.has_version("1:7.2+dfsg-7+deb12u18+b3"));
        assert!(QEMU_10_0.has_version("1:10.0.2+ds-2+deb13u1~bpo12+1"));
        assert!(QEMU_10_0.has_version("10.0.2"));
        assert!(!QEMU_7_2.has_version("1:7.20.1"));
        assert!(!QEMU_10_0.has_version("1:10.1.0+ds-1"));
        assert!(!QEMU_7_2.has_version("1:8.2.1"));
    }
}
