//! `build <arch>`: the static init binary (init-demo, built with rust-lld for the guest
//! architecture and stripped) and the initramfs that carries it as `/init`, written to
//! `target/qemu/<arch>/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::guest::newc;
use crate::{cargo, progress, workspace};

/// The package (and binary) name of the guest init.
const INIT_PACKAGE: &str = "init-demo";

/// The cargo profile the init is built in (defined in the root `Cargo.toml`).
const INIT_PROFILE: &str = "init";

/// An initramfs ready to boot.
#[derive(Debug)]
pub struct Initramfs {
    pub path: PathBuf,
    /// Size of `/init` inside it (the stripped binary for init-demo).
    pub init_size: u64,
}

/// The cargo invocation that builds the init for `arch`: a static, non-PIE executable
/// linked by the toolchain's own rust-lld, so no cross C toolchain is involved (see
/// shared notes, toolchain.md: without these flags the output is static-pie and nothing
/// applies its relocations).
///
/// `CARGO_TARGET_<TRIPLE>_LINKER` also applies to build scripts when the triple is the
/// host's (cargo's target-applies-to-host), and a std build script cannot be linked by a
/// bare rust-lld (`unable to find library -lc`). So the linker is named in the per-target
/// rustflags, which with `--target` reach only the target's units; the `LINKER`
/// variable is set too for the cross triples, to override `.cargo/config.toml`'s
/// qemu-user test linkers.
pub fn cargo_build_command(arch: Arch) -> Command {
    let triple = arch.triple();
    let mut cmd = cargo::current(&["build", "-p", INIT_PACKAGE, "--profile", INIT_PROFILE]);
    cmd.args(["--target", triple])
        .env(
            arch.cargo_target_env("RUSTFLAGS"),
            "-C linker=rust-lld -C relocation-model=static -C target-feature=+crt-static",
        )
        .env("CARGO_TARGET_DIR", workspace::init_target_dir())
        // A global RUSTFLAGS would replace the per-target flags above.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .current_dir(workspace::root());
    if Some(arch) != Arch::host() {
        cmd.env(arch.cargo_target_env("LINKER"), "rust-lld");
    }
    cmd
}

/// `<arch's strip> -o to from`: a stripped copy of the ELF file `from` (for init-demo here,
/// and for clonekit-init's binaries in [`crate::init_build`]).
pub fn strip(arch: Arch, from: &Path, to: &Path) -> Result<()> {
    let status = Command::new(arch.strip_tool())
        .arg("-o")
        .arg(to)
        .arg(from)
        .status()
        .with_context(|| {
            format!(
                "running {} (cargo qemu setup installs it)",
                arch.strip_tool()
            )
        })?;
    if !status.success() {
        bail!("{} {} failed ({status})", arch.strip_tool(), from.display());
    }
    Ok(())
}

/// Builds init-demo for `arch`, strips it and packs `target/qemu/<arch>/initramfs.cpio`.
pub fn build(arch: Arch) -> Result<Initramfs> {
    progress::line(format_args!("build: {INIT_PACKAGE} for {arch}"));
    let status = cargo_build_command(arch)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build -p {INIT_PACKAGE} for {arch} failed ({status})");
    }
    let binary = workspace::init_target_dir()
        .join(arch.triple())
        .join(INIT_PROFILE)
        .join(INIT_PACKAGE);
    let out_dir = arch_dir(arch)?;
    let stripped = out_dir.join(format!("{INIT_PACKAGE}.stripped"));
    strip(arch, &binary, &stripped)?;
    let initramfs = pack(arch, &stripped, "initramfs.cpio")?;
    progress::line(format_args!(
        "build: {} is {} bytes stripped ({} unstripped); {}",
        INIT_PACKAGE,
        initramfs.init_size,
        fs::metadata(&binary).map(|m| m.len()).unwrap_or(0),
        initramfs.path.display()
    ));
    Ok(initramfs)
}

/// Packs any init binary (`boot --init <path>`) into `target/qemu/<arch>/initramfs-custom.cpio`.
pub fn pack_custom(arch: Arch, init: &Path) -> Result<Initramfs> {
    pack(arch, init, "initramfs-custom.cpio")
}

fn arch_dir(arch: Arch) -> Result<PathBuf> {
    let dir = workspace::qemu_dir().join(arch.name());
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn pack(arch: Arch, init: &Path, name: &str) -> Result<Initramfs> {
    let bytes = fs::read(init).with_context(|| format!("reading {}", init.display()))?;
    if !bytes.starts_with(b"\x7fELF") {
        bail!("{} is not an ELF executable", init.display());
    }
    let path = arch_dir(arch)?.join(name);
    fs::write(&path, newc::initramfs(&bytes))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Initramfs {
        path,
        init_size: bytes.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_target_env_names_follow_cargo_spelling() {
        assert_eq!(
            Arch::Riscv64.cargo_target_env("LINKER"),
            "CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_LINKER"
        );
    }

    #[test]
    fn init_is_built_static_with_rust_lld_in_its_own_target_dir() {
        // A cross arch: the LINKER override is for triples other than the host's (this
        // test also runs on an aarch64 host, e.g. under qemu-user).
        let arch = Arch::ALL
            .into_iter()
            .find(|a| Some(*a) != Arch::host() && *a != Arch::X86_64)
            .unwrap();
        let cmd = cargo_build_command(arch);
        let var = |key: &str| arch.cargo_target_env(key);
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "build",
                "-p",
                "init-demo",
                "--profile",
                "init",
                "--target",
                arch.triple()
            ]
        );
        let env = |key: &str| {
            cmd.get_envs()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
        };
        assert_eq!(env(&var("LINKER")).as_deref(), Some("rust-lld"));
        assert!(env(&var("RUSTFLAGS")).unwrap().contains("linker=rust-lld"));
        assert!(
            env(&var("RUSTFLAGS"))
                .unwrap()
                .contains("relocation-model=static")
        );
        assert_eq!(
            env("CARGO_TARGET_DIR").map(PathBuf::from),
            Some(workspace::init_target_dir())
        );
    }

    #[test]
    fn the_host_triple_names_its_linker_only_in_target_rustflags() {
        // CARGO_TARGET_<host>_LINKER would also link build scripts with a bare rust-lld.
        let Some(host) = Arch::host() else { return };
        let cmd = cargo_build_command(host);
        let linker_var = host.cargo_target_env("LINKER");
        assert!(
            !cmd.get_envs()
                .any(|(k, _)| k.to_string_lossy() == linker_var)
        );
        let flags_var = host.cargo_target_env("RUSTFLAGS");
        assert!(cmd.get_envs().any(|(k, v)| k.to_string_lossy() == flags_var
            && v.is_some_and(|v| v.to_string_lossy().contains("-C linker=rust-lld"))));
    }
}
