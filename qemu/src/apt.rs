//! A private apt: Debian packages of any suite and architecture, resolved and downloaded
//! from the mirror this machine's apt already uses, without reading or changing the
//! system's apt state. Kernels and the qemu-user emulators come through it.
//!
//! Its state lives in the cache: `apt/<suite>-<debian arch>/` (source list, package lists,
//! downloads).
//!
//! The mirror is the first Debian archive of the system's own apt sources (no mirror
//! address is written in this repository): `/etc/apt/sources.list` (one-line format) and
//! `/etc/apt/sources.list.d/*.list` / `*.sources` (deb822 format); see sources.list(5).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::workspace;

/// The keyring that signs every Debian suite the tool uses (bullseye, bookworm and its
/// backports, trixie and its backports, sid): Debian 12's debian-archive-keyring holds
/// the keys of all of them.
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
        let mirror = debian_mirror()?;
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

// --- The mirror: where this machine's apt gets Debian from ---

/// The apt configuration directory.
const APT_ETC: &str = "/etc/apt";

/// The first Debian archive URI configured on this machine (`http://.../debian`).
fn debian_mirror() -> Result<String> {
    let etc = Path::new(APT_ETC);
    let mut files = vec![etc.join("sources.list")];
    if let Ok(dir) = std::fs::read_dir(etc.join("sources.list.d")) {
        let mut parts: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        parts.sort();
        files.extend(parts);
    }
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let name = file.to_string_lossy();
        let uris = if name.ends_with(".sources") {
            deb822_uris(&text)
        } else if name.ends_with(".list") {
            one_line_uris(&text)
        } else {
            continue; // e.g. `*.list.disabled`: apt ignores these too
        };
        if let Some(uri) = uris.into_iter().find(|u| is_debian_archive(u)) {
            return Ok(uri.trim_end_matches('/').to_string());
        }
    }
    bail!(
        "no Debian archive (a `deb` source whose URI ends in /debian) in {APT_ETC}/sources.list or \
         {APT_ETC}/sources.list.d/; the kernels are fetched from the mirror apt is configured with"
    )
}

/// Whether a URI is a Debian main archive (`.../debian`), not the security archive,
/// debian-ports or a third-party repository.
pub fn is_debian_archive(uri: &str) -> bool {
    let path = uri.trim_end_matches('/');
    (path.starts_with("http://") || path.starts_with("https://"))
        && path.rsplit('/').next() == Some("debian")
}

/// URIs of the `deb` lines of a one-line-style list: `deb [opts] URI suite comp...`.
pub fn one_line_uris(text: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue; // deb-src, comments, blank lines
        };
        let mut rest = rest.trim_start();
        if rest.starts_with('[') {
            match rest.find(']') {
                Some(end) => rest = rest[end + 1..].trim_start(),
                None => continue,
            }
        }
        if let Some(uri) = rest.split_whitespace().next() {
            uris.push(uri.to_string());
        }
    }
    uris
}

/// URIs of the enabled `Types: deb` stanzas of a deb822-style `.sources` file.
pub fn deb822_uris(text: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for stanza in text.split("\n\n") {
        let mut types = Vec::new();
        let mut stanza_uris = Vec::new();
        let mut enabled = true;
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue; // continuation lines (of Signed-By keys) and the like
            };
            if key.starts_with(' ') || key.starts_with('\t') {
                continue;
            }
            let words = value.split_whitespace().map(String::from);
            match key.trim().to_ascii_lowercase().as_str() {
                "types" => types.extend(words),
                "uris" => stanza_uris.extend(words),
                "enabled" => enabled = value.trim() != "no",
                _ => {}
            }
        }
        if enabled && types.iter().any(|t| t == "deb") {
            uris.extend(stanza_uris);
        }
    }
    uris
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

    const DEB822: &str = "\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
";

    #[test]
    fn deb822_stanzas_give_their_uris_in_order() {
        assert_eq!(
            deb822_uris(DEB822),
            [
                "http://mirror.example/debian",
                "http://mirror.example/debian-security"
            ]
        );
    }

    #[test]
    fn deb822_skips_disabled_and_source_only_stanzas() {
        let text = "Types: deb-src\nURIs: http://a.example/debian\n\nTypes: deb\nEnabled: no\nURIs: http://b.example/debian\n\nTypes: deb deb-src\nURIs: http://c.example/debian/\n";
        assert_eq!(deb822_uris(text), ["http://c.example/debian/"]);
    }

    #[test]
    fn one_line_format_skips_options_comments_and_deb_src() {
        let text = "# deb http://old.example/debian bullseye main\n\
                    deb-src http://src.example/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/k.gpg] https://packages.example/apt stable main\n\
                    deb http://mirror.example/debian/ bookworm main # trailing\n";
        assert_eq!(
            one_line_uris(text),
            [
                "https://packages.example/apt",
                "http://mirror.example/debian/"
            ]
        );
    }

    #[test]
    fn only_main_debian_archives_qualify() {
        assert!(is_debian_archive("http://mirror.example/debian"));
        assert!(is_debian_archive("https://mirror.example/pub/debian/"));
        assert!(!is_debian_archive("http://mirror.example/debian-security"));
        assert!(!is_debian_archive("https://packages.example/apt"));
        assert!(!is_debian_archive("file:/srv/debian"));
    }
}
