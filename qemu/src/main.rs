//! `cargo qemu <command>`: the host tool of clonekit.
//!
//! Installs the toolchains (`setup`), runs every check (`test`), and boots the init demo
//! in QEMU (`demo`). Run `cargo qemu help` for the commands.

mod demo;
mod initbuild;
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
