//! `run --busybox`: a shell and the usual commands in the guest, from Debian's
//! `busybox-static` and `bash-static` (trixie) for the arch, fetched with the private apt
//! into the cache.
//!
//! Programs under test often run `/bin/sh`, `true`, `env` or `cat` (clonekit's own tests
//! do); under qemu-user those are the host's, in a guest there are none unless packed.
//! With `--busybox` the guest gets `/usr/bin/busybox`, a link to it for every applet in
//! `/usr/bin`, and Debian's merged-`/usr` links `/bin`, `/sbin` -> `usr/bin` and
//! `/usr/sbin` -> `bin`, so both `/bin/sh` and `/usr/bin/env` exist.
//!
//! `sh` (and `bash`) is bash-static, not busybox's `ash`: a multi-call binary picks its
//! applet by `argv[0]`, so a shell started with another `argv[0]` (`execve("/bin/sh",
//! ["renamed", "-c", ...])`, which clonekit's tests do) would be "applet not found".
//!
//! The applets are read from the binary itself (busybox keeps their names as one sorted,
//! NUL-separated list starting `[`, `[[`): the target's busybox cannot run on the host.
//!
//! Cache: `busybox/<debian arch>/<busybox version>+<bash version>/busybox`, `bash` and
//! `applets` (one name a line), and `busybox/<debian arch>.resolved` naming that directory.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::apt::{PrivateApt, clear_dir, file_safe};
use crate::arch::Arch;
use crate::run::guest::Lock;
use crate::run::pack::Tree;
use crate::{progress, workspace};

/// The Debian suite (the current stable: it has all three arches).
const SUITE: &str = "trixie";
const PACKAGE: &str = "busybox-static";
const BASH: &str = "bash-static";

/// A fetched busybox (and bash).
pub struct Busybox {
    pub binary: PathBuf,
    pub bash: PathBuf,
    pub applets: Vec<String>,
}

/// The applet names in a busybox binary, in its order; empty when the list is not found.
pub fn applet_names(binary: &[u8]) -> Vec<String> {
    // The list may follow other data directly (no NUL before it): try every `[\0[[\0`.
    let mut from = 0;
    while let Some(at) = binary[from..].windows(5).position(|w| w == b"[\0[[\0") {
        let start = from + at;
        let mut names = Vec::new();
        for name in binary[start..].split(|&b| b == 0) {
            let plain = !name.is_empty()
                && name
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b"[]-_.".contains(&b));
            if !plain {
                break;
            }
            names.push(String::from_utf8_lossy(name).into_owned());
        }
        if names.iter().any(|n| n == "sh") {
            return names;
        }
        from = start + 1;
    }
    Vec::new()
}

/// The busybox of `arch`: from the cache, else fetched.
pub fn get(arch: Arch) -> Result<Busybox> {
    let root = workspace::cache_dir()?.join("busybox");
    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let pointer = root.join(format!("{}.resolved", arch.debian()));
    if let Ok(Some(key)) = workspace::cache_pointer(&pointer)
        && let Ok(found) = load(&root.join(arch.debian()).join(key))
    {
        return Ok(found);
    }
    let _lock = Lock::acquire(&root.join("lock"))?;
    if let Ok(Some(key)) = workspace::cache_pointer(&pointer)
        && let Ok(found) = load(&root.join(arch.debian()).join(key))
    {
        return Ok(found);
    }
    progress::line(format_args!(
        "clonekit-qemu: fetching Debian {SUITE}'s {PACKAGE} and {BASH} for {arch} (first use of --busybox)"
    ));
    let apt = PrivateApt::new(SUITE, arch)?;
    apt.update()?;
    let version = apt.field(PACKAGE, "Version")?;
    let bash_version = apt.field(BASH, "Version")?;
    let key = format!("{}+{}", file_safe(&version), file_safe(&bash_version));
    let dir = root.join(arch.debian()).join(&key);
    clear_dir(&dir)?;
    for (package, wanted, name) in [
        (PACKAGE, "busybox", "busybox"),
        (BASH, "bash-static", "bash"),
    ] {
        let unpacked = apt.download_and_extract(package, &["."])?;
        let found = ["usr/bin", "bin"]
            .iter()
            .map(|d| unpacked.join(d).join(wanted))
            .find(|p| p.is_file())
            .with_context(|| format!("{package} has no {wanted} in /usr/bin or /bin"))?;
        fs::rename(&found, dir.join(name))?;
        let _ = fs::remove_dir_all(&unpacked);
    }
    let applets = applet_names(&fs::read(dir.join("busybox"))?);
    if !applets.iter().any(|a| a == "sh") {
        bail!("no applet list (with sh) found in {PACKAGE} {version} for {arch}");
    }
    fs::write(dir.join("applets"), applets.join("\n") + "\n")?;
    fs::write(&pointer, &key)?;
    load(&dir)
}

fn load(dir: &Path) -> Result<Busybox> {
    let binary = dir.join("busybox");
    let bash = dir.join("bash");
    for file in [&binary, &bash] {
        let bytes = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        if !bytes.starts_with(b"\x7fELF") {
            bail!("{} is not an ELF file", file.display());
        }
    }
    let applets: Vec<String> = fs::read_to_string(dir.join("applets"))?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if applets.is_empty() {
        bail!("{} lists no applet", dir.join("applets").display());
    }
    Ok(Busybox {
        binary,
        bash,
        applets,
    })
}

/// Puts busybox and its links into the guest tree; what is packed already (a program at
/// `/usr/bin/true`, a `/bin` directory) wins over a link.
pub fn pack(tree: &mut Tree, busybox: &Busybox) -> Result<()> {
    if !tree.contains("/usr/bin/busybox") {
        tree.file("/usr/bin/busybox", &busybox.binary, Some(0o755))?;
    }
    for shell in ["/usr/bin/bash", "/usr/bin/sh"] {
        if !tree.contains(shell) {
            tree.file(shell, &busybox.bash, Some(0o755))?;
        }
    }
    for applet in &busybox.applets {
        let path = format!("/usr/bin/{applet}");
        if !tree.contains(&path) {
            tree.symlink(&path, "busybox")?;
        }
    }
    for (link, target) in [
        ("/bin", "usr/bin"),
        ("/sbin", "usr/bin"),
        ("/usr/sbin", "bin"),
    ] {
        if !tree.contains(link) {
            tree.symlink(link, target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applet_names_are_read_from_the_nul_separated_list() {
        // The shell's own builtin table comes first in the real binary: `2[\x002[[\x00`.
        let mut binary = b"\x7fELF junk 2[\x002[[\x006alias\x00\x00".to_vec();
        binary
            .extend_from_slice(b"\xae [\0[[\0acpid\0cat\0env\0run-parts\0sh\0true\0\0\x01\x02more");
        assert_eq!(
            applet_names(&binary),
            ["[", "[[", "acpid", "cat", "env", "run-parts", "sh", "true"]
        );
        assert!(applet_names(b"no list here").is_empty());
    }

    #[test]
    fn a_cached_busybox_has_sh_true_and_env() {
        // The real binaries, where a run with --busybox fetched them.
        let Ok(root) = workspace::cache_dir().map(|d| d.join("busybox")) else {
            return;
        };
        for arch in Arch::ALL {
            let pointer = root.join(format!("{}.resolved", arch.debian()));
            let Ok(Some(key)) = workspace::cache_pointer(&pointer) else {
                eprintln!("no busybox cached for {arch}; skipped");
                continue;
            };
            let dir = root.join(arch.debian()).join(key);
            let names = applet_names(&fs::read(dir.join("busybox")).unwrap());
            for needed in ["sh", "true", "false", "env", "cat", "sleep", "ls"] {
                assert!(names.iter().any(|n| n == needed), "{arch}: no {needed}");
            }
        }
    }

    #[test]
    fn the_links_follow_debians_merged_usr() {
        let dir =
            std::env::temp_dir().join(format!("clonekit-busybox-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("busybox"), b"\x7fELF").unwrap();
        let busybox = Busybox {
            binary: dir.join("busybox"),
            bash: dir.join("busybox"),
            applets: vec!["sh".into(), "true".into(), "busybox".into()],
        };
        let mut tree = Tree::new();
        pack(&mut tree, &busybox).unwrap();
        for path in [
            "/usr/bin/busybox",
            "/usr/bin/sh",
            "/usr/bin/true",
            "/bin",
            "/sbin",
            "/usr/sbin",
        ] {
            assert!(tree.contains(path), "{path}");
        }
        let entries = crate::guest::newc::parse(&tree.archive().unwrap()).unwrap();
        let link = |n: &str| {
            entries
                .iter()
                .find(|e| e.name == n)
                .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        };
        assert_eq!(link("bin").as_deref(), Some("usr/bin"));
        assert_eq!(link("usr/bin/true").as_deref(), Some("busybox"));
        // sh is a file of its own (bash-static), not a busybox link.
        let sh = entries.iter().find(|e| e.name == "usr/bin/sh").unwrap();
        assert_eq!(sh.mode & 0o170000, 0o100000);
        fs::remove_dir_all(&dir).unwrap();
    }
}
