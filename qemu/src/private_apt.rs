//! A private apt: Debian packages of any suite and architecture, resolved and downloaded
//! from the mirror this machine's apt already uses, without reading or changing the
//! system's apt state. Kernels and the qemu-user emulators come through it.
//!
//! Its state lives in the cache: `apt/<suite>-<debian arch>/` (source list, package lists,
//! downloads).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::{apt_sources, workspace};

/// The keyring that signs every Debian suite the tool uses (bookworm, its backports,
/// trixie).
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// The private apt invocation for one suite and architecture.
pub struct PrivateApt {
    dir: PathBuf,
    arch: Arch,
}

impl PrivateApt {
    /// Prepares the private state for `suite` on `arch` (no network yet).
    pub fn new(suite: &str, arch: Arch) -> Result<PrivateApt> {
        let dir = workspace::cache_dir()?
            .join("apt")
            .join(format!("{suite}-{}", arch.debian()));
        for sub in ["lists/partial", "cache/archives/partial", "download"] {
            fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
        }
        let mirror = apt_sources::debian_mirror()?;
        let list = format!("deb [signed-by={KEYRING}] {mirror} {suite} main\n");
        fs::write(dir.join("sources.list"), list)?;
        fs::write(dir.join("status"), "")?;
        Ok(PrivateApt { dir, arch })
    }

    /// `apt-get update` of the private lists.
    pub fn update(&self) -> Result<()> {
        self.run("apt-get", &["-q", "update"])
            .context("private apt-get update")?;
        Ok(())
    }

    /// `apt-get`/`apt-cache` with every state and configuration path pointed at the
    /// private directory, so the system's apt state is neither read nor changed.
    fn command(&self, tool: &str) -> Command {
        let d = &self.dir;
        let arch = self.arch.debian();
        let mut cmd = Command::new(tool);
        for opt in [
            format!("Dir::Etc::SourceList={}", d.join("sources.list").display()),
            "Dir::Etc::SourceParts=/dev/null".into(),
            "Dir::Etc::Preferences=/dev/null".into(),
            "Dir::Etc::PreferencesParts=/dev/null".into(),
            format!("Dir::State::Lists={}", d.join("lists").display()),
            format!("Dir::State::status={}", d.join("status").display()),
            format!("Dir::Cache={}", d.join("cache").display()),
            format!("APT::Architecture={arch}"),
            format!("APT::Architectures::={arch}"),
            "Acquire::Languages=none".into(),
            // The cache lives in the user's home, which apt's `_apt` user cannot enter.
            "APT::Sandbox::User=root".into(),
        ] {
            cmd.arg("-o").arg(opt);
        }
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<String> {
        let out = self
            .command(tool)
            .args(args)
            .current_dir(self.dir.join("download"))
            .output()
            .with_context(|| format!("running {tool}"))?;
        if !out.status.success() {
            bail!(
                "{tool} {} failed ({}):\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// One field of a package's record (`apt-cache show --no-all-versions`).
    pub fn field(&self, package: &str, field: &str) -> Result<String> {
        let record = self.run("apt-cache", &["show", "--no-all-versions", package])?;
        record_field(&record, field).with_context(|| format!("{package} has no {field} field"))
    }

    /// Downloads `package` and extracts only `members` (paths as the package's tar names
    /// them: `./boot`, `./usr/bin/qemu-aarch64`) into a fresh `unpacked/` directory, which
    /// it returns. The `.deb` is removed afterwards: only what was extracted is kept.
    pub fn download_and_extract(&self, package: &str, members: &[&str]) -> Result<PathBuf> {
        let download = self.dir.join("download");
        clear_dir(&download)?;
        self.run("apt-get", &["-q", "download", package])
            .with_context(|| format!("downloading {package}"))?;
        let deb = fs::read_dir(&download)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .context("apt-get download left no .deb")?;
        let unpacked = self.dir.join("unpacked");
        clear_dir(&unpacked)?;
        extract(&deb, &unpacked, members)?;
        let _ = fs::remove_file(&deb);
        Ok(unpacked)
    }
}

/// `dpkg-deb --fsys-tarfile <deb> | tar -x -C <into> <members>...`.
fn extract(deb: &Path, into: &Path, members: &[&str]) -> Result<()> {
    let script =
        "deb=$1; into=$2; shift 2; dpkg-deb --fsys-tarfile \"$deb\" | tar -x -C \"$into\" \"$@\"";
    let status = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(deb)
        .arg(into)
        .args(members)
        .status()
        .context("running dpkg-deb | tar")?;
    if !status.success() {
        bail!(
            "extracting {} from {} failed ({status})",
            members.join(" "),
            deb.display()
        );
    }
    Ok(())
}

/// A field of a Debian control record (single-line fields are enough here).
pub fn record_field(record: &str, field: &str) -> Option<String> {
    record.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == field).then(|| v.trim().to_string())
    })
}

/// Removes `dir` with everything in it, then creates it empty.
pub fn clear_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Version strings can hold `:` (epochs); keep directory names plain.
pub fn file_safe(version: &str) -> String {
    version.replace(':', "%3a")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_fields_match_whole_names() {
        let record = "Package: linux-image-riscv64\nVersion: 6.12.57-1\nDepends: linux-image-6.12.57+deb13-riscv64 (= 6.12.57-1)\nPre-Depends: dpkg\n";
        assert_eq!(
            record_field(record, "Version").as_deref(),
            Some("6.12.57-1")
        );
        assert_eq!(
            record_field(record, "Depends").as_deref(),
            Some("linux-image-6.12.57+deb13-riscv64 (= 6.12.57-1)")
        );
        assert_eq!(record_field(record, "Size"), None);
    }

    #[test]
    fn epochs_are_kept_out_of_directory_names() {
        assert_eq!(file_safe("1:10.0.2+ds-2"), "1%3a10.0.2+ds-2");
        assert_eq!(file_safe("6.12.57-1"), "6.12.57-1");
    }
}
