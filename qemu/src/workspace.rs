//! Where things are: the workspace root and the directories this tool writes.

use std::path::PathBuf;

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
