//! The published crate, as crates.io would get it: `cargo package -p clonekit` must not warn,
//! must leave the development files out and keep the library's own, and the `.crate`,
//! unpacked into a directory of its own, must pass its own `cargo test` (as root, as here):
//! its tests, benches' build aside, use nothing but the crate and its registry dependencies.
//!
//! Everything is offline (`--offline`): the dependencies are those the workspace already
//! built. Under qemu-user (the cross test runs) the test skips: it drives the host's cargo.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this package is `testkit/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ has a parent")
        .to_path_buf()
}

/// `cargo <args>` in `dir`, with what the outer cargo or the caller's shell set that would
/// decide the build instead of the package (`RUSTFLAGS`, `CARGO_BUILD_*`, `CARGO_TARGET_*`
/// and the like) removed; `target_dir` for its builds.
fn cargo(dir: &Path, target_dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key == "RUSTFLAGS"
            || key == "RUSTDOCFLAGS"
            || key == "CARGO_ENCODED_RUSTFLAGS"
            || key == "CARGO_ENCODED_RUSTDOCFLAGS"
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_PROFILE_")
            || (key.starts_with("CARGO_TARGET_") && key != "CARGO_TARGET_DIR")
        {
            cmd.env_remove(&key);
        }
    }
    cmd.output().expect("run cargo")
}

#[test]
fn the_packaged_crate_passes_its_own_tests_unpacked() {
    if clonekit::program::emulated() {
        clonekit::eprintln!("SKIP package: drives the host's cargo, not under qemu-user");
        return;
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package");
    let package_target = work.join("target");
    let package_args = ["package", "-p", "clonekit", "--allow-dirty", "--offline"];

    // What goes in.
    let list = cargo(
        &root(),
        &package_target,
        &[&package_args[..], &["--list"]].concat(),
    );
    assert!(list.status.success(), "cargo package --list: {list:?}");
    let files = String::from_utf8_lossy(&list.stdout);
    let files: Vec<&str> = files.lines().collect();
    for kept in [
        "Cargo.toml",
        "README.md",
        "build.rs",
        "src/lib.rs",
        "tests/soundness.rs",
    ] {
        assert!(files.contains(&kept), "{kept} is packaged: {files:?}");
    }
    for left_out in [
        ".cargo/",
        ".ci/",
        ".gitignore",
        "rustfmt.toml",
        "docs/",
        "DEVELOPING.md",
        "qemu/",
        "testkit/",
        "init/",
        "init-demo/",
    ] {
        assert!(
            !files.iter().any(|f| f.starts_with(left_out)),
            "{left_out} is left out: {files:?}"
        );
    }

    // The .crate, without cargo's own verification build (the test below is a stronger one).
    let _ = std::fs::remove_dir_all(package_target.join("package"));
    let packaged = cargo(
        &root(),
        &package_target,
        &[&package_args[..], &["--no-verify"]].concat(),
    );
    let stderr = String::from_utf8_lossy(&packaged.stderr);
    assert!(packaged.status.success(), "cargo package: {stderr}");
    assert!(
        !stderr.contains("warning"),
        "cargo package warned:\n{stderr}"
    );

    let crate_file = std::fs::read_dir(package_target.join("package"))
        .expect("cargo package's output directory")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "crate"))
        .expect("a .crate file");
    let stem = crate_file.file_stem().expect("a file name").to_owned(); // clonekit-<version>
    // Outside the workspace: cargo takes a package below a workspace's root for one of its
    // members (and refuses it); the build output may stay in the target directory.
    let unpacked = std::env::temp_dir().join(format!("clonekit-package-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked).expect("create the unpack directory");
    // `m`: the files get the time of unpacking, not the one stored in the .crate, so that
    // cargo rebuilds them over the last run's build in the same target directory.
    let tar = Command::new("tar")
        .arg("xzmf")
        .arg(&crate_file)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("run tar");
    assert!(tar.success(), "unpack {}", crate_file.display());

    // Its own tests, in its own directory: no workspace, no path dependency.
    let crate_dir = unpacked.join(stem);
    let test = cargo(
        &crate_dir,
        &work.join("unpacked-target"),
        &["test", "--offline"],
    );
    let stdout = String::from_utf8_lossy(&test.stdout);
    let stderr = String::from_utf8_lossy(&test.stderr);
    for line in stdout.lines().chain(stderr.lines()) {
        if line.starts_with("test result") || line.trim_start().starts_with("Running") {
            println!("{line}");
        }
    }
    assert!(
        test.status.success(),
        "the unpacked crate's cargo test failed:\n{stdout}\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(&unpacked);
}
