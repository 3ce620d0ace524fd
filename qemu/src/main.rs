//! `cargo qemu <command>`: the host tool of clonekit.
//!
//! Installs the toolchains (`setup`), runs every check (`test`), and boots the init demo
//! in QEMU (`demo`). Run `cargo qemu help` for the commands.

mod apt_sources;
mod arch;
mod demo;
mod initbuild;
mod kernel;
mod kimage;
mod progress;
mod setup;
mod steps;
mod workspace;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo qemu <command>

commands:
  setup   install the missing Debian packages, Rust targets and components
  test    setup, then every check (fmt, clippy, doc, tests, cross builds and tests)
  demo    setup, build and boot the init demo on every architecture, show a table
  kernel [<arch>...|all] [--kernel 6.12|6.1]
          fetch (or find in the cache) the Debian kernels (default: all the release has)
  help    this text
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
        print!("{USAGE}");
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
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            print!("{USAGE}");
            bail!("unknown command `{other}`")
        }
    }
}

/// `kernel [<arch>|all] [--kernel NAME]`: fetches and prints the cached kernels.
fn kernel_command(args: &[String]) -> Result<()> {
    let mut release = kernel::DEFAULT.to_string();
    let mut archs: Vec<arch::Arch> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--kernel" => release = value(&mut it, "--kernel")?,
            "all" => archs.clear(),
            other => archs.push(other.parse()?),
        }
    }
    let release = kernel::release(&release)?;
    if archs.is_empty() {
        archs = release.packages.iter().map(|(a, _)| *a).collect();
    }
    for arch in archs {
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

/// The value after an option (`--timeout 60`).
fn value<'a>(it: &mut impl Iterator<Item = &'a String>, option: &str) -> Result<String> {
    it.next()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{option} needs a value"))
}
