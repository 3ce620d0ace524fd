//! The crate docs' static PID 1, built as a user would: the three files of the quick start's
//! "A static PID 1" (`Cargo.toml`, `.cargo/config.toml`, `src/main.rs`), read from
//! `src/lib.rs` as the docs show them, make a fresh package in a temporary directory outside
//! this workspace (so no configuration of ours applies), built with the documented command
//! for each arch; the `rt` module's example joins it as a second program
//! (`src/bin/rt-example.rs`). Each result must be a static executable of its machine (an ELF
//! `ET_EXEC` with no interpreter and no dynamic section) that runs: natively on x86_64, under
//! `qemu-aarch64-static` and `qemu-riscv64-static` for the others (which `cargo qemu setup`
//! installs, with the rustup targets).
//!
//! The only change to the docs' files: the dependency `clonekit = "0.1"` becomes this
//! checkout's path, and the workspace's `Cargo.lock` is copied in, so that nothing is
//! resolved anew. Under qemu-user (the cross test runs) the tests skip: they drive the
//! host's cargo.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (this package is `testkit/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ has a parent")
        .to_path_buf()
}

/// The module docs of a source file (its `//!` lines, without the prefix): `src/lib.rs`'s are
/// the crate docs.
fn module_docs(file: &str) -> String {
    let text = std::fs::read_to_string(root().join(file)).expect("read a source file");
    text.lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.trim_start_matches("//!"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The code block that follows the line `label` in the docs (the first block for `""`), as
/// rendered: rustdoc's hidden lines (`# ` and a lone `#`) left out.
fn block_from_docs(docs: &str, label: &str) -> String {
    let mut lines = docs
        .lines()
        .skip_while(|l| !label.is_empty() && *l != label);
    if !label.is_empty() {
        assert!(lines.next().is_some(), "the docs have no `{label}` line");
    }
    let fence = lines
        .find(|l| l.starts_with("```"))
        .unwrap_or_else(|| panic!("no code block after `{label}`"));
    assert!(
        fence.len() > 3,
        "the block after {label:?} names its language: {fence}"
    );
    let mut text = String::new();
    for line in lines.take_while(|l| *l != "```") {
        let trimmed = line.trim_start();
        if trimmed == "#" || trimmed.starts_with("# ") {
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// A fresh package made of the docs' three files (and the `rt` example as a second binary),
/// in a new temporary directory.
fn package_from_docs(arch: &str) -> PathBuf {
    let docs = module_docs("src/lib.rs");
    let manifest = block_from_docs(&docs, "`Cargo.toml`:");
    let config = block_from_docs(&docs, "`.cargo/config.toml`:");
    let main = block_from_docs(&docs, "`src/main.rs`:");
    let rt_example = block_from_docs(&module_docs("src/rt.rs"), "");
    let dependency = "clonekit = \"0.1\"\n";
    assert!(
        manifest.contains(dependency),
        "the docs' Cargo.toml depends on {dependency:?}"
    );
    let manifest = manifest.replace(
        dependency,
        &format!(
            "clonekit = {{ path = {:?} }}\n",
            root().display().to_string()
        ),
    );

    let dir = std::env::temp_dir().join(format!(
        "clonekit-static-init-{arch}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in [
        ("Cargo.toml", manifest.as_str()),
        (".cargo/config.toml", config.as_str()),
        ("src/main.rs", main.as_str()),
        ("src/bin/rt-example.rs", rt_example.as_str()),
    ] {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).expect("create the package's dirs");
        std::fs::write(&path, text).expect("write a package file");
    }
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");
    dir
}

/// The documented command: `cargo build --release`, with `--target` for the other arches
/// (the docs' config makes x86_64 the default). Returns the directory of the binaries.
fn build(package: &Path, triple: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release"]);
    if triple != "x86_64-unknown-linux-gnu" {
        cmd.args(["--target", triple]);
    }
    cmd.current_dir(package)
        .env("CARGO_TARGET_DIR", package.join("target"));
    // What the outer cargo or the caller's shell set would decide the build instead of the
    // package's own configuration.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key == "RUSTFLAGS"
            || key == "CARGO_ENCODED_RUSTFLAGS"
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_PROFILE_")
            || (key.starts_with("CARGO_TARGET_") && key != "CARGO_TARGET_DIR")
        {
            cmd.env_remove(&key);
        }
    }
    let out = cmd.output().expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo build for {triple} failed:\n{stderr}"
    );
    assert!(
        !stderr.contains("warning"),
        "cargo build for {triple} warned:\n{stderr}"
    );
    package.join("target").join(triple).join("release")
}

/// ELF header and program-header facts: machine, type, and whether a segment asks for an
/// interpreter or dynamic linking.
struct Elf {
    machine: u16,
    kind: u16,
    interp: bool,
    dynamic: bool,
}

fn read_elf(path: &Path) -> Elf {
    let bytes = std::fs::read(path).expect("read the binary");
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    assert_eq!(bytes[4], 2, "64-bit");
    assert_eq!(bytes[5], 1, "little-endian");
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38));
    let types: Vec<u32> = (0..usize::from(phnum))
        .map(|i| u32_at(phoff + i * usize::from(phentsize)))
        .collect();
    Elf {
        machine: u16_at(0x12),
        kind: u16_at(0x10),
        interp: types.contains(&3),  // PT_INTERP
        dynamic: types.contains(&2), // PT_DYNAMIC
    }
}

/// Runs the binary with `args`, natively or under the arch's qemu-user.
fn run(binary: &Path, arch: &str, args: &[&str]) -> Output {
    let mut cmd = if cfg!(target_arch = "x86_64") && arch == "x86_64" {
        Command::new(binary)
    } else {
        let mut qemu = Command::new(format!("qemu-{arch}-static"));
        qemu.arg(binary);
        qemu
    };
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {} for {arch}: {e}", binary.display()))
}

fn check(arch: &str, triple: &str, machine: u16) {
    if clonekit::program::emulated() {
        clonekit::eprintln!(
            "SKIP static_init_{arch}: drives the host's cargo, not under qemu-user"
        );
        return;
    }
    let package = package_from_docs(arch);
    let built = build(&package, triple);
    let binary = built.join("static-init");
    for program in [&binary, &built.join("rt-example")] {
        let elf = read_elf(program);
        assert_eq!(elf.machine, machine, "{triple}: e_machine");
        assert_eq!(
            elf.kind, 2,
            "{triple}: ET_EXEC, a fixed-address executable (not a PIE)"
        );
        assert!(!elf.interp, "{triple}: no interpreter (static)");
        assert!(
            !elf.dynamic,
            "{triple}: no dynamic section (nothing to relocate at run time)"
        );
        let size = std::fs::metadata(program).map(|m| m.len()).unwrap_or(0);
        println!(
            "{triple}: {}: static ET_EXEC, {size} bytes",
            program.display()
        );
    }

    // "A few kilobytes", as the docs say (6 to 9 KB measured): no formatting machinery
    // links into the init.
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    assert!(size < 12 * 1024, "{triple}: static-init is {size} bytes");

    // The rt example: its arguments counted, a thread joined.
    let out = run(&built.join("rt-example"), arch, &["one", "two"]);
    assert_eq!(out.status.code(), Some(0), "{triple}: rt example: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("3 arguments\n"),
        "{triple}: rt example printed {stdout:?}"
    );

    // The main program's exit code is the init's; a signal's death is 128 + N.
    let out = run(&binary, arch, &["/bin/sh", "-c", "exit 7"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{triple}: exit code passed on: {out:?}"
    );
    let out = run(&binary, arch, &["/bin/sh", "-c", "kill -TERM $$"]);
    assert_eq!(
        out.status.code(),
        Some(128 + 15),
        "{triple}: SIGTERM is 143: {out:?}"
    );
    // No program: the usage code.
    let out = run(&binary, arch, &[]);
    assert_eq!(out.status.code(), Some(2), "{triple}: no PROGRAM: {out:?}");

    let _ = std::fs::remove_dir_all(&package);
}

#[test]
fn static_init_x86_64() {
    check("x86_64", "x86_64-unknown-linux-gnu", 62); // EM_X86_64
}

#[test]
fn static_init_aarch64() {
    check("aarch64", "aarch64-unknown-linux-gnu", 183); // EM_AARCH64
}

#[test]
fn static_init_riscv64() {
    check("riscv64", "riscv64gc-unknown-linux-gnu", 243); // EM_RISCV
}

/// As a container's init: PID 1 of a new PID namespace (util-linux's `unshare`, as root),
/// the shell it runs is PID 2.
#[test]
fn static_init_as_a_pid_namespace_init() {
    if clonekit::program::emulated() || !cfg!(target_arch = "x86_64") {
        clonekit::eprintln!("SKIP static_init_as_a_pid_namespace_init: native x86_64 only");
        return;
    }
    let package = package_from_docs("x86_64-pidns");
    let binary = build(&package, "x86_64-unknown-linux-gnu").join("static-init");
    let out = Command::new("unshare")
        .args(["--fork", "--pid", "--mount-proc"])
        .arg(&binary)
        .args(["/bin/sh", "-c", "test $$ = 2 && exit 5"])
        .output()
        .expect("run unshare(1)");
    assert_eq!(
        out.status.code(),
        Some(5),
        "the shell is PID 2 of the namespace: {out:?}"
    );
    let _ = std::fs::remove_dir_all(&package);
}
