//! Where things are: the workspace root and the directories this tool writes.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// The workspace root (the directory with the root `Cargo.toml`). The tool always runs
/// through `cargo qemu`, which rebuilds it from this checkout, so the compile-time path is
/// the checkout it belongs to.
pub fn root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// `target/qemu/`: serial logs and initramfs images (under the workspace, never the
/// cache: they are products of this checkout).
pub fn qemu_dir() -> PathBuf {
    root().join("target").join("qemu")
}

/// The init binary's own target directory, kept apart from the host build so the
/// `init` profile's static, rust-lld-linked artifacts never mix with the host ones.
pub fn init_target_dir() -> PathBuf {
    root().join("target").join("init-demo")
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
