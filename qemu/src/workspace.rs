//! Where things are: the workspace root and the directories this tool writes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The clonekit checkout this command works in (the directory of the root `Cargo.toml`),
/// found at run time: no path is compiled into the binary, so an installed
/// `clonekit-qemu` (`cargo install --path qemu`) works in any checkout, and `run` in any
/// directory. Every command but `run` needs one; `main` asks [`find_root`] first, so that
/// a command started elsewhere is refused with a message. Here, a missing checkout ends
/// the process with that message.
pub fn root() -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| match find_root() {
        Ok(root) => root,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    })
    .clone()
}

/// Whether `dir` is a clonekit checkout: its `qemu/Cargo.toml` is this tool's package.
fn is_checkout(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("qemu").join("Cargo.toml"))
        .is_ok_and(|m| m.lines().any(|l| l.trim() == "name = \"clonekit-qemu\""))
        && dir.join("Cargo.toml").is_file()
}

/// The checkout: the one `cargo run` names (`CARGO_MANIFEST_DIR`, set for `cargo qemu`),
/// else the first above the working directory, else the first above this binary (a
/// `target/` inside a checkout).
pub fn find_root() -> Result<PathBuf> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let cwd = std::env::current_dir().ok();
    let exe = std::env::current_exe().ok();
    find_root_from(manifest_dir.as_deref(), cwd.as_deref(), exe.as_deref()).with_context(|| {
        format!(
            "this command works inside a clonekit checkout, and none is above {}: cd into \
             one (`clonekit-qemu run` works anywhere)",
            cwd.as_deref().unwrap_or(Path::new("?")).display()
        )
    })
}

fn find_root_from(
    manifest_dir: Option<&Path>,
    cwd: Option<&Path>,
    exe: Option<&Path>,
) -> Option<PathBuf> {
    if let Some(parent) = manifest_dir.and_then(Path::parent)
        && is_checkout(parent)
    {
        return Some(parent.to_path_buf());
    }
    [cwd, exe].into_iter().flatten().find_map(|start| {
        start
            .ancestors()
            .find(|d| is_checkout(d))
            .map(Path::to_path_buf)
    })
}

/// The cargo target directory in use: `CARGO_TARGET_DIR` when set (relative to the
/// working directory, as cargo reads it), else the one this tool's binary was built into
/// (`cargo qemu` runs `<target>/release/clonekit-qemu`; cargo marks every target
/// directory with a `CACHEDIR.TAG`), else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    target_dir_from(
        std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()),
        std::env::current_exe().ok(),
    )
}

fn target_dir_from(env: Option<std::ffi::OsString>, exe: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = env {
        let dir = PathBuf::from(dir);
        return std::path::absolute(&dir).unwrap_or(dir);
    }
    if let Some(dir) = exe
        .as_deref()
        .and_then(|exe| exe.parent()?.parent())
        .filter(|dir| dir.join("CACHEDIR.TAG").is_file())
    {
        return dir.to_path_buf();
    }
    root().join("target")
}

/// `<target dir>/qemu/`: serial logs and initramfs images of the repository's boots
/// (`boot`, `demo`, the test command), under the cargo target directory in use, so that
/// checkouts (or engineers) with target directories of their own never share one.
pub fn qemu_dir() -> PathBuf {
    target_dir().join("qemu")
}

/// The init binary's own target directory, kept apart from the host build so the
/// `init` profile's static, rust-lld-linked artifacts never mix with the host ones.
pub fn init_target_dir() -> PathBuf {
    target_dir().join("init-demo")
}

/// Where every cache of the tool lives: `$XDG_CACHE_HOME/clonekit`, else
/// `~/.cache/clonekit` (kernels, the qemu-user emulators, the private apt state). Pointing
/// `XDG_CACHE_HOME` at an empty directory reproduces a first run; `cargo qemu test --fresh`
/// does exactly that (and Miri, which `test` runs, keeps its sysroot under
/// `$XDG_CACHE_HOME/miri`).
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("clonekit"));
    }
    let home = std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache").join("clonekit"))
}

/// The entry a cache pointer file (`<what>.resolved`) names, for [`cache_dir`]'s fetchers:
/// `Ok(None)` when there is no pointer yet, `Err` with the reason when it is garbled (empty,
/// hidden, a path, or not UTF-8), so that a damaged cache is fetched again instead of
/// reaching outside its directory.
pub fn cache_pointer(pointer: &std::path::Path) -> Result<Option<String>, String> {
    let Ok(bytes) = std::fs::read(pointer) else {
        return Ok(None);
    };
    let key = String::from_utf8_lossy(&bytes);
    let key = key.trim();
    let plain = !key.is_empty()
        && !key.starts_with('.')
        && !key.contains(['/', '\\', '\0', '\n', '\u{fffd}']);
    if plain {
        Ok(Some(key.to_string()))
    } else {
        Err(format!(
            "the cache pointer {} is garbled ({key:?})",
            pointer.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkout_is_found_at_run_time_from_cargo_the_directory_or_the_binary() {
        let here = find_root().unwrap();
        assert!(here.join("qemu/Cargo.toml").is_file());
        let qemu = here.join("qemu");
        let deep = here.join("src").join("sys");
        // cargo run's variable, the working directory, the binary: each alone finds it.
        assert_eq!(find_root_from(Some(&qemu), None, None), Some(here.clone()));
        assert_eq!(find_root_from(None, Some(&deep), None), Some(here.clone()));
        let exe = here.join("target/release/clonekit-qemu");
        assert_eq!(find_root_from(None, None, Some(&exe)), Some(here.clone()));
        // Another crate's manifest directory (the tool as a cargo runner) is no checkout.
        let elsewhere = std::env::temp_dir();
        assert_eq!(
            find_root_from(Some(&elsewhere.join("x")), Some(&elsewhere), None),
            None
        );
        assert!(!is_checkout(Path::new("/")));
    }

    #[test]
    fn the_target_dir_is_cargos_in_use() {
        // CARGO_TARGET_DIR wins, made absolute.
        let dir = target_dir_from(Some("/tmp/t".into()), Some("/w/target/release/x".into()));
        assert_eq!(dir, PathBuf::from("/tmp/t"));
        let dir = target_dir_from(Some("rel".into()), None);
        assert!(dir.is_absolute() && dir.ends_with("rel"));
        // The directory this binary was built into, when cargo marked it.
        let tmp = std::env::temp_dir().join(format!("clonekit-target-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("release")).unwrap();
        std::fs::write(
            tmp.join("CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55",
        )
        .unwrap();
        let dir = target_dir_from(None, Some(tmp.join("release/clonekit-qemu")));
        assert_eq!(dir, tmp);
        // An installed binary (~/.cargo/bin) is not in a target directory.
        let dir = target_dir_from(None, Some("/root/.cargo/bin/clonekit-qemu".into()));
        assert_eq!(dir, root().join("target"));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
