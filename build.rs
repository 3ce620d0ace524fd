//! Refuses targets clonekit has no trampolines for (anything but Linux on x86_64, aarch64,
//! riscv64), with a message naming the supported triples.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The crate reads no custom cfg (only target_arch and the built-in doctest): were one
    // added, its `cargo:rustc-check-cfg=cfg(...)` line belongs here, keeping
    // `unexpected_cfgs` strict.

    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    let supported_arch = matches!(arch.as_str(), "x86_64" | "aarch64" | "riscv64");
    if os != "linux" || !supported_arch {
        eprintln!(
            "error: clonekit supports Linux on x86_64, aarch64 and riscv64 only; \
             the target `{target}` is {arch} on {os}. Build for one of \
             x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu or riscv64gc-unknown-linux-gnu."
        );
        std::process::exit(1);
    }
}
