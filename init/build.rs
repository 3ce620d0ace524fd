//! Links clonekit-init (and the probe) as static executables with no C start files and no
//! libc, through whatever C compiler driver cargo uses for the target (`cc` on the host,
//! the cross `gcc` that `.cargo/config.toml` names), with the toolchain's own `rust-lld`:
//!
//! - `-nostartfiles -nostdlib`: `_start` is clonekit's (`entry!`), and there is no libc;
//! - `-static -no-pie`: a fixed-address executable with nothing left to relocate at run
//!   time (a static-pie has no loader to apply its relocations);
//! - `-fuse-ld=lld -B<sysroot>/lib/rustlib/<host>/bin/gcc-ld`: the driver runs rustc's
//!   `rust-lld` (the `ld.lld` there), the same linker on every arch, no binutils needed;
//! - `-z norelro --build-id=none`: no page-aligned RELRO padding (a static executable has
//!   no loader to protect anything) and no build-id note: hundreds of bytes each;
//! - `-T no-unwind-tables.ld`, a script that only adds a `/DISCARD/` for `.eh_frame` and
//!   `.eh_frame_hdr` to the linker's own layout (`INSERT AFTER .text`): the unwind tables
//!   rustc emits for every function serve unwinding and backtraces, and a `panic = "abort"`
//!   binary without an unwinder reads them never; they were 1.6 to 3 KB of the 12 KiB.
//!
//! The profile must abort on panic (`--profile init`; `cargo test` builds them in the
//! `dev` profile, which aborts too): a `no_std` binary cannot unwind.

use std::process::Command;

/// Added to the default linker script, not replacing it.
const NO_UNWIND_TABLES: &str =
    "SECTIONS { /DISCARD/ : { *(.eh_frame) *(.eh_frame_hdr) } } INSERT AFTER .text;\n";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let host = std::env::var("HOST").expect("cargo sets HOST for build scripts");
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_else(|| panic!("`{rustc} --print sysroot` failed"));
    let gcc_ld = format!("{sysroot}/lib/rustlib/{host}/bin/gcc-ld");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let script = std::path::Path::new(&out_dir).join("no-unwind-tables.ld");
    std::fs::write(&script, NO_UNWIND_TABLES).expect("writing the linker script to OUT_DIR");
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-fuse-ld=lld",
        &format!("-B{gcc_ld}"),
        "-Wl,-z,norelro",
        "-Wl,--build-id=none",
        &format!("-Wl,-T,{}", script.display()),
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
