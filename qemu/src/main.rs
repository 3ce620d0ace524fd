//! `cargo qemu <command>`: the host tool of clonekit (`clonekit-qemu` when installed with
//! `cargo install --path qemu`).
//!
//! Installs the toolchains (`setup`), runs every check (`test`), fetches Debian kernels
//! (`kernel`), builds the init demo (`build`), boots it in QEMU (`boot`, `demo`), and runs
//! any program in a real kernel of any arch (`run`, also a cargo runner). `cargo qemu help`
//! lists the commands, `cargo qemu <command> --help` explains one.
//!
//! Where things are:
//! - [`cli`]: the command line (clap);
//! - [`arch`]: the three architectures and every fact that differs between them;
//! - the commands: [`setup`], [`steps`] (`test`), [`stress`], [`demo`], [`run`]; `kernel`,
//!   `build` and `boot` are run here by the two rooms below; [`matrix`]: several
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
mod cli;
mod demo;
mod elf;
mod guest;
mod init_build;
mod init_check;
mod jobs;
mod kernel;
mod limit;
mod matrix;
mod peers;
mod progress;
mod qemu_user;
mod run;
mod setup;
mod steps;
mod stress;
mod uapi;
mod workspace;

use anyhow::{Context, Result, bail};

use crate::cli::{Cli, Command};
use crate::guest::{boot, initramfs};

fn main() {
    progress::start();
    let cli = match Cli::parse_args() {
        Ok(cli) => cli,
        Err(e) => {
            // `run` is a cargo runner: its usage errors are its own code (125), not a
            // program's 2.
            let is_run = std::env::args_os().nth(1).is_some_and(|a| a == "run");
            let code = match (e.use_stderr(), is_run) {
                (false, _) => 0,
                (true, true) => run::outcome::TOOL_FAILED,
                (true, false) => 2,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if let Command::Run(args) = &cli.command {
        std::process::exit(run::command(args));
    }
    // Every other command works in a checkout.
    if let Err(e) = workspace::find_root() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
    match dispatch(cli.command) {
        Ok(()) => {}
        Err(e) => {
            if let Some(usage) = e.downcast_ref::<clap::Error>() {
                let _ = usage.print();
                std::process::exit(2);
            }
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Setup => setup::run(),
        Command::Test { fresh } => {
            let failed = steps::run(fresh)?;
            if failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Stress {
            rounds,
            test_threads,
            limit,
        } => {
            let failed = stress::run(&cli::stress_options(rounds, test_threads, limit))?;
            if failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Demo { kernel, jobs } => demo::run(&demo::DemoOptions {
            kernel,
            jobs: cli::jobs(jobs),
        }),
        Command::Kernel(k) => kernel_command(&k),
        Command::Build { arch } => {
            let initramfs = initramfs::build(arch)?;
            println!(
                "{}: /init is {} bytes (stripped)",
                initramfs.path.display(),
                initramfs.init_size
            );
            Ok(())
        }
        Command::Boot(b) => {
            let opts = b.options()?;
            let boot = boot::run(&opts)?;
            if let Err(why) = boot.verdict {
                bail!("{} {}: {why}", opts.arch, opts.kernel.name);
            }
            Ok(())
        }
        Command::Uapi { refresh } => uapi_command(refresh),
        Command::Init { checks } => init_check::command(&checks),
        Command::Run(_) => unreachable!("run is handled before a checkout is looked for"),
        Command::RunCheck { arches, jobs } => {
            run::check::run(&all_if_empty(arches), cli::jobs(jobs))
        }
        Command::GuestTest { arches, jobs } => {
            run::suite::run(&all_if_empty(arches), cli::jobs(jobs))
        }
    }
}

fn all_if_empty(arches: Vec<arch::Arch>) -> Vec<arch::Arch> {
    if arches.is_empty() {
        arch::Arch::ALL.to_vec()
    } else {
        arches
    }
}

/// `kernel [<arch>...|all] [--kernel K|all] [--refresh]`: fetches and prints the cached
/// kernels.
fn kernel_command(k: &cli::Kernel) -> Result<()> {
    for kernel::release::Pair { arch, release } in k.pairs()? {
        if k.refresh {
            kernel::forget(release, arch)?;
        }
        let found = kernel::get(release, arch)?;
        println!(
            "{arch} {}: {} {} (Linux {}) -> {} ({:?})",
            release.name,
            found.package,
            found.version,
            kernel::linux_version(&found.version),
            found.image.display(),
            found.format
        );
        if !found.missing_config.is_empty() {
            println!("  not built in: {}", found.missing_config.join(" "));
        }
    }
    Ok(())
}

/// `uapi [--refresh]`: fetches (or finds) the newest uapi `sched.h` and runs the header test.
fn uapi_command(refresh: bool) -> Result<()> {
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
