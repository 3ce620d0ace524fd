//! `cargo qemu <command>`: the host tool of clonekit.
//!
//! Installs the toolchains (`setup`), runs every check (`test`), fetches Debian kernels
//! (`kernel`), builds the init demo (`build`), boots it in QEMU (`boot`, `demo`).
//! Run `cargo qemu help` for the commands.
//!
//! Where things are:
//! - [`arch`]: the three architectures and every fact that differs between them;
//! - the commands: [`setup`], [`steps`] (`test`), [`stress`], [`demo`]; `kernel`, `build`
//!   and `boot` are parsed here and run by the two rooms below; [`matrix`]: several
//!   arch × kernel boots at a time and their table (`demo`, `test`);
//! - [`kernel`]: Debian's kernels, fetched and cached ([`kernel::image`]: image formats);
//! - [`guest`]: the init's initramfs, the boot in qemu-system, the KTAP report and the
//!   verdict;
//! - what several of them use: [`apt`] (a private apt for Debian packages), [`qemu_user`]
//!   (the cross tests' emulators), [`cargo`] (nested cargo runs), [`workspace`] (paths),
//!   [`progress`] (progress lines).

mod apt;
mod arch;
mod cargo;
mod demo;
mod elf;
mod guest;
mod init_build;
mod init_check;
mod kernel;
mod limit;
mod matrix;
mod peers;
mod progress;
mod qemu_user;
mod setup;
mod steps;
mod stress;
mod uapi;
mod workspace;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::guest::{BootOptions, boot, initramfs};
use crate::kernel::release::Pair;

const USAGE: &str = "\
usage: cargo qemu <command> [options]

commands:
  setup   install the missing Debian packages, Rust targets and components
  test [--fresh]
          setup, then every check: fmt, clippy, doc, host tests, cross tests under
          QEMU 7.2 and 10.0 user-mode, no_std builds, Miri, quick benches and the
          guest boots of the whole kernel matrix (see demo --kernel all), in
          parallel; --fresh runs it all against empty caches in a temporary
          directory, removed afterwards
  stress [--rounds N] [--test-threads N] [--limit SECS]
          run clonekit's host test binaries N times (default 300) at N test threads
          (default 8), each run killed and counted as a hang past SECS (default 60)
  demo [--kernel K|all] [--jobs N]
          setup, then build and boot init-demo on every architecture that has
          kernel K (default 6.12); shows a table. --kernel all boots the whole
          arch x kernel matrix, N boots at a time (default: one per core)
  kernel [<arch>...|all] [--kernel K|all] [--refresh]
          fetch (or find in the cache) Debian kernels (default: 6.12 on every
          arch); --refresh asks apt for the release's current version again
  build <arch>
          build init-demo for <arch> and pack target/qemu/<arch>/initramfs.cpio
  boot <arch> [--kernel K] [--timeout SECS] [--kvm] [--allow-skip] [--smp N]
              [--init PATH] [--append WORDS]
          build, boot in qemu-system-<arch> and check the KTAP report; the console
          is saved to target/qemu/<arch>-<kernel>.log. --timeout defaults to 120,
          TCG unless --kvm, a SKIP without a reason fails unless --allow-skip
          (a SKIP with one passes and is listed), --init boots any
          static init binary instead of init-demo, --append adds
          kernel command line words (k=v reaches init's environment)
  uapi [--refresh]
          check CloneFlags against include/linux/sched.h of Debian's newest
          linux-libc-dev (fetched into the cache; --refresh asks apt again)
  init [sizes|scenarios|boots]
          clonekit-init: its stripped size on each arch next to Debian's tini and
          dumb-init, its scenarios natively against Debian's tini, its boot as PID 1
          of each arch's guest with the scenario suite as its program (default: all)
  help    this text

<arch> is x86_64, aarch64 or riscv64. K, the kernel, is 5.10 (Debian bullseye;
x86_64 and aarch64), 6.1 (bookworm; x86_64 and aarch64), 6.12 (trixie) or latest
(the newer of trixie-backports' and sid's: 7.3 on x86_64 and aarch64 and 7.2 on
riscv64 when written; the version booted is shown).
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
            let fresh = match rest {
                [] => false,
                [flag] if flag == "--fresh" => true,
                [other, ..] => bail!("unknown option `{other}` for test (see cargo qemu help)"),
            };
            let failed = steps::run(fresh)?;
            if failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        "stress" => {
            let failed = stress::run(&stress::parse_args(rest)?)?;
            if failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        "demo" => demo::run(&demo::parse_args(rest)?),
        "kernel" => kernel_command(rest),
        "build" => build_command(rest),
        "boot" => boot_command(rest),
        "uapi" => uapi_command(rest),
        "init" => init_check::command(rest),
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

/// `kernel [<arch>...|all] [--kernel K|all] [--refresh]`: fetches and prints the cached
/// kernels.
fn kernel_command(args: &[String]) -> Result<()> {
    let (pairs, refresh) = parse_kernel_args(args)?;
    for Pair { arch, release } in pairs {
        if refresh {
            kernel::forget(release, arch)?;
        }
        let k = kernel::get(release, arch)?;
        println!(
            "{arch} {}: {} {} (Linux {}) -> {} ({:?})",
            release.name,
            k.package,
            k.version,
            kernel::linux_version(&k.version),
            k.image.display(),
            k.format
        );
        if !k.missing_config.is_empty() {
            println!("  not built in: {}", k.missing_config.join(" "));
        }
    }
    Ok(())
}

/// The arguments of `kernel`: the arch × kernel pairs (every arch the kernel has by
/// default), and whether to resolve the meta packages again.
fn parse_kernel_args(args: &[String]) -> Result<(Vec<Pair>, bool)> {
    let mut name = kernel::DEFAULT.to_string();
    let mut archs: Vec<Arch> = Vec::new();
    let mut refresh = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--kernel" => name = value(&mut it, "--kernel")?,
            "--refresh" => refresh = true,
            "all" => archs.clear(),
            other if other.starts_with('-') => {
                bail!("unknown option `{other}` for kernel (see cargo qemu help)")
            }
            other => archs.push(other.parse()?),
        }
    }
    let choice = kernel::release::Choice::parse(&name)?;
    if archs.is_empty() {
        archs = Arch::ALL.to_vec();
    } else if let kernel::release::Choice::One(_) = choice {
        for &arch in &archs {
            kernel::release_for(&name, arch)?;
        }
    }
    Ok((kernel::release::pairs(&archs, choice), refresh))
}

/// The argument of `build`: one architecture.
fn parse_build_args(args: &[String]) -> Result<Arch> {
    let [arch] = args else {
        bail!("usage: cargo qemu build <x86_64|aarch64|riscv64>");
    };
    arch.parse()
}

/// `build <arch>`.
fn build_command(args: &[String]) -> Result<()> {
    let initramfs = initramfs::build(parse_build_args(args)?)?;
    println!(
        "{}: /init is {} bytes (stripped)",
        initramfs.path.display(),
        initramfs.init_size
    );
    Ok(())
}

/// `boot <arch> [options]`: exits non-zero unless the report is complete and passed.
fn boot_command(args: &[String]) -> Result<()> {
    let opts = parse_boot_args(args)?;
    let boot = boot::run(&opts)?;
    if let Err(why) = boot.verdict {
        bail!("{} {}: {why}", opts.arch, opts.kernel.name);
    }
    Ok(())
}

/// The arguments of `boot`: an architecture, then options.
fn parse_boot_args(args: &[String]) -> Result<BootOptions> {
    let mut it = args.iter();
    let arch: Arch = it
        .next()
        .context("usage: cargo qemu boot <arch> [options] (see cargo qemu help)")?
        .parse()?;
    let mut opts = BootOptions::new(arch, kernel::release_for(kernel::DEFAULT, arch)?);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--kernel" => opts.kernel = kernel::release_for(&value(&mut it, "--kernel")?, arch)?,
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
    Ok(opts)
}

/// The value after an option (`--timeout 60`).
fn value<'a>(it: &mut impl Iterator<Item = &'a String>, option: &str) -> Result<String> {
    it.next()
        .cloned()
        .with_context(|| format!("{option} needs a value"))
}

/// `uapi [--refresh]`: fetches (or finds) the newest uapi `sched.h` and runs the header test.
fn uapi_command(args: &[String]) -> Result<()> {
    let refresh = match args {
        [] => false,
        [flag] if flag == "--refresh" => true,
        [other, ..] => bail!("unknown option `{other}` for uapi (see cargo qemu help)"),
    };
    let header = uapi::get(refresh)?;
    println!(
        "{} {} -> {}",
        uapi::PACKAGE,
        header.version,
        header.path.display()
    );
    let plan = uapi::plan(&header)?;
    let status = plan
        .command()
        .current_dir(workspace::root())
        .status()
        .with_context(|| format!("running {}", plan.program))?;
    if !status.success() {
        bail!("the header test failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn error<T>(result: Result<T>) -> String {
        match result {
            Ok(_) => panic!("bad arguments were accepted"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn unknown_arches_are_refused_naming_the_supported_ones() {
        for words in [
            &["boot", "sparc"][..],
            &["build", "mips"],
            &["kernel", "ppc64le"],
            &["boot", ""],
            &["build", "x86"],
        ] {
            let (command, rest) = words.split_first().unwrap();
            let rest = args(rest);
            let e = match *command {
                "boot" => error(parse_boot_args(&rest)),
                "build" => error(parse_build_args(&rest)),
                _ => error(parse_kernel_args(&rest)),
            };
            assert!(
                e.contains(&format!("unknown architecture `{}`", rest[0])),
                "{words:?}: {e}"
            );
            for arch in Arch::ALL {
                assert!(
                    e.contains(arch.name()),
                    "{words:?}: {e} does not name {arch}"
                );
            }
        }
    }

    #[test]
    fn missing_or_extra_arguments_say_how_to_call() {
        assert!(error(parse_build_args(&[])).contains("usage: cargo qemu build"));
        assert!(error(parse_build_args(&args(&["x86_64", "aarch64"]))).contains("usage"));
        assert!(error(parse_boot_args(&[])).contains("usage: cargo qemu boot"));
        let e = error(parse_boot_args(&args(&["x86_64", "--fast"])));
        assert!(e.contains("unknown option `--fast`"), "{e}");
        let e = error(parse_boot_args(&args(&["x86_64", "--timeout"])));
        assert!(e.contains("--timeout needs a value"), "{e}");
        let e = error(parse_boot_args(&args(&["x86_64", "--timeout", "soon"])));
        assert!(e.contains("--timeout wants seconds, got `soon`"), "{e}");
        let e = error(parse_boot_args(&args(&["x86_64", "--smp", "0"])));
        assert!(e.contains("--smp wants a CPU count"), "{e}");
        let e = error(parse_kernel_args(&args(&["--bogus"])));
        assert!(e.contains("unknown option `--bogus`"), "{e}");
    }

    #[test]
    fn unknown_kernels_and_missing_arch_kernels_are_refused() {
        let e = error(parse_boot_args(&args(&["x86_64", "--kernel", "2.6"])));
        assert!(
            e.contains("unknown kernel `2.6`") && e.contains("6.12"),
            "{e}"
        );
        let e = error(parse_boot_args(&args(&["riscv64", "--kernel", "6.1"])));
        assert!(e.contains("has no riscv64 kernel"), "{e}");
        let e = error(parse_kernel_args(&args(&["riscv64", "--kernel", "6.1"])));
        assert!(e.contains("has no riscv64 kernel"), "{e}");
        // The refusal lists what the arch has, 5.10 and latest included.
        let e = error(parse_boot_args(&args(&["aarch64", "--kernel", "7.3"])));
        assert!(
            e.contains("unknown kernel `7.3` for aarch64")
                && e.contains("5.10 (Debian bullseye)")
                && e.contains("latest (Debian trixie-backports or sid)"),
            "{e}"
        );
        let e = error(parse_kernel_args(&args(&["--kernel", "7"])));
        assert!(e.contains("unknown kernel `7`: known are 5.10"), "{e}");
    }

    #[test]
    fn good_arguments_parse() {
        assert_eq!(parse_build_args(&args(&["arm64"])).unwrap(), Arch::Aarch64);
        let opts = parse_boot_args(&args(&["riscv64", "--smp", "2", "--allow-skip"])).unwrap();
        assert_eq!(
            (opts.arch, opts.smp, opts.allow_skip),
            (Arch::Riscv64, 2, true)
        );
        let (pairs, refresh) = parse_kernel_args(&args(&["--kernel", "6.1", "--refresh"])).unwrap();
        let arches: Vec<Arch> = pairs.iter().map(|p| p.arch).collect();
        assert_eq!(arches, [Arch::X86_64, Arch::Aarch64]);
        assert!(pairs.iter().all(|p| p.release.name == "6.1") && refresh);
        let opts = parse_boot_args(&args(&["x86_64", "--kernel", "5.10"])).unwrap();
        assert_eq!(opts.kernel.suites, ["bullseye"]);
        let opts = parse_boot_args(&args(&["riscv64", "--kernel", "latest"])).unwrap();
        assert_eq!(opts.kernel.name, "latest");
        let (pairs, _) = parse_kernel_args(&args(&["--kernel", "all"])).unwrap();
        assert_eq!(pairs.len(), 10);
        let (pairs, _) = parse_kernel_args(&args(&["riscv64", "--kernel", "all"])).unwrap();
        let names: Vec<&str> = pairs.iter().map(|p| p.release.name).collect();
        assert_eq!(names, ["6.12", "latest"]);
    }
}
