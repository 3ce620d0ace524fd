//! Bundles the sources `clonekit-qemu run` builds its guest programs from (clonekit-init
//! and clonekit-launch, with the clonekit library they use) into the binary, so that an
//! installed `clonekit-qemu` (`cargo install --path qemu`) needs no checkout: on first use
//! it writes them into its cache and builds them there (see src/run/guest.rs).
//!
//! Bundled: the workspace root's `Cargo.toml`, `Cargo.lock` and `build.rs`, and the
//! directories `src/`, `tests/`, `benches/` (the root package's manifest names targets in
//! them) and `init/` — about a megabyte. Hidden files and `target/` are left out. The
//! output is `$OUT_DIR/bundle.rs`: a table of `(path, include_bytes!(...))` and a hash of
//! it all (FNV-1a, 64 bits), the key of the cache's build.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const FILES: &[&str] = &["Cargo.toml", "Cargo.lock", "build.rs"];
const DIRS: &[&str] = &["src", "tests", "benches", "init"];

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        let path = dir.join(&*name);
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(root, &path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

fn fnv(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= u64::from(b);
        *hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("qemu/ lies inside the workspace")
        .to_path_buf();
    println!("cargo:rerun-if-changed=build.rs");
    let mut files: Vec<PathBuf> = Vec::new();
    for file in FILES {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
        if root.join(file).is_file() {
            files.push(PathBuf::from(file));
        }
    }
    for dir in DIRS {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
        walk(&root, Path::new(dir), &mut files);
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut table = String::from("/// The bundled sources: (path in the workspace, contents).\n");
    table.push_str("pub const FILES: &[(&str, &[u8])] = &[\n");
    for file in &files {
        let absolute = root.join(file);
        let bytes = std::fs::read(&absolute).expect("reading a bundled source");
        let name = file.to_string_lossy();
        fnv(&mut hash, name.as_bytes());
        fnv(&mut hash, &(bytes.len() as u64).to_le_bytes());
        fnv(&mut hash, &bytes);
        let _ = writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            absolute.display().to_string()
        );
    }
    table.push_str("];\n");
    let _ = writeln!(
        table,
        "/// FNV-1a (64 bits) of every path, length and content, in order.\npub const HASH: &str = \"{hash:016x}\";"
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("bundle.rs");
    std::fs::write(out, table).expect("writing bundle.rs");
}
