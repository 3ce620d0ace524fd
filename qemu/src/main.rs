//! `cargo qemu <command>`: the host tool of clonekit.
//!
//! Installs the toolchains (`setup`), runs every check (`test`), fetches Debian kernels
//! (`kernel`), builds the init demo (`build`), boots it in QEMU (`boot`, `demo`).
//! Run `cargo qemu help` for the commands.

mod apt_sources;
mod arch;
mod boot;
mod demo;
mod initbuild;
mod kernel;
mod kimage;
mod ktap;
mod newc;
mod progress;
mod setup;
mod steps;
mod workspace;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::arch::Arch;

const USAGE: &str = "\
usage: cargo qemu <command> [options]

commands:
  setup   install the missing Debian packages, Rust targets and components
  test    setup, then every check: fmt, clippy, doc, host and cross tests, no_std
          builds, and the guest boots (3 arches on 6.12, x86_64 and aarch64 on 6.1)
  demo    setup, then build and boot init-demo on every architecture; shows a table
  kernel [<arch>...|all] [--kernel 6.12|6.1] [--refresh]
          fetch (or find in the cache) Debian kernels (default: all of the release);
          --refresh asks apt for the release's current version again
  build <arch>
          build init-demo for <arch> and pack target/qemu/<arch>/initramfs.cpio
  boot <arch> [--kernel 6.12|6.1] [--timeout SECS] [--kvm] [--allow-skip] [--smp N]
              [--init PATH] [--append WORDS]
          build, boot in qemu-system-<arch> and check the KTAP report; the console
          is saved to target/qemu/<arch>-<kernel>.log. --timeout defaults to 120,
          TCG unless --kvm, a SKIP fails unless --allow-skip, --init boots any
          static init binary instead of init-demo, --append adds
          kernel command line words (k=v reaches init's environment)
  help    this text

<arch> is x86_64, aarch64 or riscv64.
";

fn main() {
    progress::start();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        bail!("no command given");
    };
    let no_args = |name: &str| -> Result<()> {
        if let Some(extra) = rest.first() {
            bail!("`{name}` takes no arguments (got `{extra}`)");
        }
        Ok(())
    };
    match command.as_str() {
        "setup" => {
            no_args("setup")?;
            setup::run()
        }
        "test" => {
            no_args("test")?;
            steps::run()
        }
        "demo" => {
            no_args("demo")?;
            demo::run()
        }
        "kernel" => kernel_command(rest),
        "build" => build_command(rest),
        "boot" => boot_command(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown command `{other}`")
        }
    }
}

/// `kernel [<arch>...|all] [--kernel NAME]`: fetches and prints the cached kernels.
fn kernel_command(args: &[String]) -> Result<()> {
    let mut release = kernel::DEFAULT.to_string();
    let mut archs: Vec<Arch> = Vec::new();
    let mut refresh = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--kernel" => release = value(&mut it, "--kernel")?,
            "--refresh" => refresh = true,
            "all" => archs.clear(),
            other => archs.push(other.parse()?),
        }
    }
    let release = kernel::release(&release)?;
    if archs.is_empty() {
        archs = release.packages.iter().map(|(a, _)| *a).collect();
    }
    for arch in archs {
        if refresh {
            kernel::forget(release, arch)?;
        }
        let k = kernel::get(release, arch)?;
        println!(
            "{arch} {}: {} {} -> {} ({:?})",
            release.name,
            k.package,
            k.version,
            k.image.display(),
            k.format
        );
        if !k.missing_config.is_empty() {
            println!("  not built in: {}", k.missing_config.join(" "));
        }
    }
    Ok(())
}

/// `build <arch>`.
fn build_command(args: &[String]) -> Result<()> {
    let [arch] = args else {
        bail!("usage: cargo qemu build <x86_64|aarch64|riscv64>");
    };
    let initramfs = initbuild::build(arch.parse()?)?;
    println!(
        "{}: /init is {} bytes (stripped)",
        initramfs.path.display(),
        initramfs.init_size
    );
    Ok(())
}

/// `boot <arch> [options]`: exits non-zero unless the report is complete and passed.
fn boot_command(args: &[String]) -> Result<()> {
    let mut it = args.iter();
    let arch: Arch = it
        .next()
        .context("usage: cargo qemu boot <arch> [options] (see cargo qemu help)")?
        .parse()?;
    let mut opts = boot::BootOptions::new(arch, kernel::release(kernel::DEFAULT)?);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--kernel" => opts.kernel = kernel::release(&value(&mut it, "--kernel")?)?,
            "--timeout" => {
                let secs = value(&mut it, "--timeout")?;
                let secs: u64 = secs
                    .parse()
                    .with_context(|| format!("--timeout wants seconds, got `{secs}`"))?;
                opts.timeout = Duration::from_secs(secs);
            }
            "--kvm" => opts.kvm = true,
            "--allow-skip" => opts.allow_skip = true,
            "--smp" => {
                let n = value(&mut it, "--smp")?;
                opts.smp = n
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("--smp wants a CPU count, got `{n}`"))?;
            }
            "--append" => opts.append = Some(value(&mut it, "--append")?),
            "--init" => opts.init = Some(PathBuf::from(value(&mut it, "--init")?)),
            other => bail!("unknown option `{other}` for boot (see cargo qemu help)"),
        }
    }
    let boot = boot::run(&opts)?;
    if let Err(why) = boot.verdict {
        bail!("{arch} {}: {why}", opts.kernel.name);
    }
    Ok(())
}

/// The value after an option (`--timeout 60`).
fn value<'a>(it: &mut impl Iterator<Item = &'a String>, option: &str) -> Result<String> {
    it.next()
        .cloned()
        .with_context(|| format!("{option} needs a value"))
}
