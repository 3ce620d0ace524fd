//! Debian's `tini` and `dumb-init`, the inits clonekit-init is measured against (sizes, per
//! arch) and checked against (the x86_64 `tini` runs the same scenarios natively).
//!
//! They come through the private apt, unpacked into the cache; nothing is installed. The
//! suite is the machine's own release, bookworm, where it has the arch (the one `apt-get
//! install tini` would give here, which the host can run), else trixie (riscv64).
//!
//! Cache layout (under [`workspace::cache_dir`]):
//! - `peers/<suite>-<debian arch>/tini_<version>+dumb-init_<version>/`: `tini`,
//!   `tini-static` and `dumb-init` from the two packages;
//! - `peers/<suite>-<debian arch>.resolved`: which of those was fetched, so a second run
//!   uses no network.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::apt::{PrivateApt, clear_dir, file_safe};
use crate::arch::Arch;
use crate::{progress, workspace};

/// The binaries kept, with the package each comes from.
pub const BINARIES: [(&str, &str); 3] = [
    ("tini", "tini"),
    ("tini-static", "tini"),
    ("dumb-init", "dumb-init"),
];

/// The Debian suite the peers of `arch` come from.
pub const fn suite(arch: Arch) -> &'static str {
    match arch {
        Arch::Riscv64 => "trixie",
        Arch::X86_64 | Arch::Aarch64 => "bookworm",
    }
}

/// The directory holding `arch`'s peers ([`BINARIES`]): from the cache, else fetched.
pub fn get(arch: Arch) -> Result<PathBuf> {
    let root = workspace::cache_dir()?.join("peers");
    let name = format!("{}-{}", suite(arch), arch.debian());
    let pointer = root.join(format!("{name}.resolved"));
    match workspace::cache_pointer(&pointer) {
        Ok(Some(key)) => {
            let dir = root.join(&name).join(key);
            match check(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) => progress::line(format_args!(
                    "peers: cached {} is unusable ({e:#}); fetching it again",
                    dir.display()
                )),
            }
        }
        Ok(None) => {}
        Err(why) => progress::line(format_args!("peers: {why}; fetching them again")),
    }
    let dir = fetch(arch, &root.join(&name))?;
    let key = dir.file_name().unwrap_or_default().to_string_lossy();
    fs::write(&pointer, key.as_bytes())
        .with_context(|| format!("writing {}", pointer.display()))?;
    Ok(dir)
}

/// Every binary is there and is an ELF file.
fn check(dir: &Path) -> Result<()> {
    for (binary, _) in BINARIES {
        let path = dir.join(binary);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if !bytes.starts_with(b"\x7fELF") {
            bail!("{} is not an ELF file", path.display());
        }
    }
    Ok(())
}

fn fetch(arch: Arch, root: &Path) -> Result<PathBuf> {
    let suite = suite(arch);
    progress::line(format_args!(
        "peers: resolving tini and dumb-init ({suite} {}) with a private apt",
        arch.debian()
    ));
    let apt = PrivateApt::new(suite, arch)?;
    apt.update()?;
    let tini = apt.field("tini", "Version")?;
    let dumb_init = apt.field("dumb-init", "Version")?;
    let dir = root.join(format!(
        "tini_{}+dumb-init_{}",
        file_safe(&tini),
        file_safe(&dumb_init)
    ));
    let staging = root.join(".staging");
    clear_dir(&staging)?;
    for package in ["tini", "dumb-init"] {
        let members: Vec<String> = BINARIES
            .iter()
            .filter(|(_, p)| *p == package)
            .map(|(b, _)| format!("./usr/bin/{b}"))
            .collect();
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        progress::line(format_args!("peers: downloading {package} for {arch}"));
        let unpacked = apt.download_and_extract(package, &members)?;
        for member in &members {
            let name = member.trim_start_matches("./usr/bin/");
            fs::rename(unpacked.join("usr/bin").join(name), staging.join(name))
                .with_context(|| format!("{package} has no /usr/bin/{name}"))?;
        }
        let _ = fs::remove_dir_all(&unpacked);
    }
    check(&staging)?;
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::rename(&staging, &dir)?;
    progress::line(format_args!("peers: cached {}", dir.display()));
    Ok(dir)
}
