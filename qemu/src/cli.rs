//! The command line: every subcommand, its options and their checks, as clap derives them
//! (`--help` on each, usage on errors). The values that depend on each other (a kernel
//! that must exist for the arch given) are checked when the options are built
//! ([`Boot::options`], [`Kernel::pairs`]), with errors in clap's format too.
//!
//! clap (derive): the most used and best kept Rust argument parser; it writes the help and
//! usage text from these doc comments, validates values with the parsers below, and
//! handles `run`'s trailing `-- PROGRAM [ARGS]` (arguments starting with `-` included).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::arch::Arch;
use crate::guest::BootOptions;
use crate::kernel::release::{self, Choice, Pair};
use crate::{kernel, matrix, run, stress};

#[derive(Parser, Debug)]
#[command(
    name = "clonekit-qemu",
    version,
    about = "The host tool of clonekit: toolchains, every check, Debian kernels, guest boots, \
             and `run`: any program (or cargo test binary) in a real kernel of any arch",
    after_help = "ARCH is x86_64, aarch64 or riscv64 (amd64, arm64, riscv64gc too). A kernel K \
                  is 5.10 (Debian bullseye; x86_64 and aarch64), 6.1 (bookworm; x86_64 and \
                  aarch64), 6.12 (trixie, the default) or latest (the newer of trixie-backports' \
                  and sid's). Caches live in $XDG_CACHE_HOME/clonekit (else ~/.cache/clonekit).\n\
                  `run` works in any directory; the other commands in a clonekit checkout."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses this process's arguments; usage and help say `cargo qemu` when it runs as
    /// the repository's `cargo qemu` (cargo run sets `CARGO_PKG_NAME` to this package),
    /// `clonekit-qemu` otherwise (installed, or as another crate's cargo runner).
    pub fn parse_args() -> Result<Cli, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let name = if std::env::var_os("CARGO_PKG_NAME").is_some_and(|n| n == "clonekit-qemu") {
            "cargo qemu"
        } else {
            "clonekit-qemu"
        };
        let matches = Cli::command().bin_name(name).try_get_matches()?;
        Cli::from_arg_matches(&matches)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Install the missing Debian packages, Rust targets and components
    Setup,
    /// Setup, then every check: fmt, clippy, doc, host tests, cross tests under QEMU 7.2 and
    /// 10.0 user-mode, no_std builds, Miri, quick benches, the guest boots of the whole
    /// kernel matrix, clonekit-init's checks and `run`'s
    Test {
        /// Run it all against empty caches in a temporary directory, removed afterwards
        #[arg(long)]
        fresh: bool,
    },
    /// Run clonekit's host test binaries again and again at many test threads; a run past
    /// the limit counts as a hang
    Stress {
        /// How many times each test binary runs
        #[arg(long, value_name = "N", default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
        rounds: u32,
        /// Test threads of each run
        #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
        test_threads: u32,
        /// Seconds one run may take before it counts as hung
        #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = parse_seconds)]
        limit: u64,
    },
    /// Setup, then build and boot init-demo on every arch that has kernel K; shows a table
    Demo {
        /// The kernel (or `all`: the whole arch x kernel matrix)
        #[arg(long, value_name = "K|all", default_value = kernel::DEFAULT, value_parser = parse_choice)]
        kernel: Choice,
        /// Boots at a time (default: one per core)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        jobs: Option<u32>,
    },
    /// Fetch (or find in the cache) Debian kernels and print where they are
    Kernel(Kernel),
    /// Build init-demo for ARCH and pack <target>/qemu/ARCH/initramfs.cpio
    Build {
        /// The guest architecture
        #[arg(value_name = "ARCH", value_parser = parse_arch)]
        arch: Arch,
    },
    /// Build init-demo (or take --init), boot it in qemu-system-ARCH and check its KTAP
    /// report; the console goes to <target>/qemu/ARCH-K.log
    Boot(Boot),
    /// Check CloneFlags against include/linux/sched.h of Debian's newest linux-libc-dev
    Uapi {
        /// Ask apt for the newest linux-libc-dev again
        #[arg(long)]
        refresh: bool,
    },
    /// clonekit-init's checks: its size next to tini and dumb-init, its scenarios against
    /// Debian's tini, its boots as PID 1 (default: all three)
    Init {
        #[arg(value_enum, value_name = "CHECK")]
        checks: Vec<InitCheck>,
    },
    /// Run PROGRAM in a real kernel of ARCH (also as a cargo runner); see docs/runner.md
    Run(run::RunArgs),
    /// `run`'s end-to-end check: gcc-built static and dynamic programs on each arch,
    /// exit codes and output byte for byte, refusals, overhead
    RunCheck {
        /// Architectures (default: all three)
        #[arg(value_name = "ARCH", value_parser = parse_arch)]
        arches: Vec<Arch>,
        /// Boots at a time (default: one per core)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        jobs: Option<u32>,
    },
    /// clonekit's tests (cargo test -p clonekit --lib --tests) in the guest, this tool as
    /// the cargo runner with --busybox; fails on any SKIP
    GuestTest {
        /// Architectures (default: all three)
        #[arg(value_name = "ARCH", value_parser = parse_arch)]
        arches: Vec<Arch>,
        /// Architectures tested at a time (default: one per core)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        jobs: Option<u32>,
    },
}

/// One of `init`'s checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InitCheck {
    /// Its stripped size on each arch next to Debian's tini and dumb-init
    Sizes,
    /// Its scenarios natively, against it and Debian's tini
    Scenarios,
    /// Its boot as PID 1 of each arch's guest, the scenario suite its program
    Boots,
}

#[derive(clap::Args, Debug)]
pub struct Kernel {
    /// Architectures, or `all` (default: every arch the kernel has)
    #[arg(value_name = "ARCH|all")]
    pub arches: Vec<String>,
    /// The kernel, or `all`
    #[arg(long, value_name = "K|all", default_value = kernel::DEFAULT, value_parser = parse_choice)]
    pub kernel: Choice,
    /// Ask apt which version the release's meta package stands for again
    #[arg(long)]
    pub refresh: bool,
}

#[derive(clap::Args, Debug)]
pub struct Boot {
    /// The guest architecture
    #[arg(value_name = "ARCH", value_parser = parse_arch)]
    pub arch: Arch,
    /// The kernel
    #[arg(long, value_name = "K", default_value = kernel::DEFAULT)]
    pub kernel: String,
    /// Seconds before QEMU is stopped
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = parse_seconds)]
    pub timeout: u64,
    /// Use KVM (x86_64 only; TCG by default)
    #[arg(long)]
    pub kvm: bool,
    /// A SKIP without a reason passes too (one with a reason always passes, listed)
    #[arg(long)]
    pub allow_skip: bool,
    /// Virtual CPUs
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub smp: u32,
    /// Boot this static init binary instead of init-demo
    #[arg(long, value_name = "PATH")]
    pub init: Option<PathBuf>,
    /// Kernel command line words to add (k=v reaches init's environment)
    #[arg(long, value_name = "WORDS")]
    pub append: Option<String>,
}

fn invalid(message: String) -> clap::Error {
    use clap::CommandFactory;
    Cli::command().error(clap::error::ErrorKind::InvalidValue, message)
}

impl Boot {
    /// The boot's options; a kernel the arch lacks is refused.
    pub fn options(&self) -> Result<BootOptions, clap::Error> {
        let release = kernel::release_for(&self.kernel, self.arch)
            .map_err(|e| invalid(format!("--kernel: {e:#}")))?;
        let mut opts = BootOptions::new(self.arch, release);
        opts.timeout = Duration::from_secs(self.timeout);
        opts.kvm = self.kvm;
        opts.allow_skip = self.allow_skip;
        opts.smp = self.smp;
        opts.init = self.init.clone();
        opts.append = self.append.clone();
        Ok(opts)
    }
}

impl Kernel {
    /// The arch × kernel pairs: every arch the kernel has by default; a named arch the
    /// kernel lacks is refused.
    pub fn pairs(&self) -> Result<Vec<Pair>, clap::Error> {
        let mut arches = Vec::new();
        for word in &self.arches {
            if word == "all" {
                arches.clear();
                arches.extend(Arch::ALL);
            } else {
                arches.push(parse_arch(word).map_err(invalid)?);
            }
        }
        if arches.is_empty() {
            arches = Arch::ALL.to_vec();
        } else if let Choice::One(one) = self.kernel {
            for &arch in &arches {
                kernel::release_for(one.name, arch)
                    .map_err(|e| invalid(format!("--kernel: {e:#}")))?;
            }
        }
        Ok(release::pairs(&arches, self.kernel))
    }
}

/// The jobs a command runs at a time: as given, else one per core.
pub fn jobs(given: Option<u32>) -> usize {
    given.map_or_else(matrix::default_jobs, |n| n as usize)
}

/// `stress`'s options.
pub fn stress_options(rounds: u32, test_threads: u32, limit: u64) -> stress::Options {
    stress::Options {
        rounds,
        test_threads,
        limit: Duration::from_secs(limit),
    }
}

pub fn parse_arch(s: &str) -> Result<Arch, String> {
    s.parse::<Arch>().map_err(|e| e.to_string())
}

fn parse_choice(s: &str) -> Result<Choice, String> {
    Choice::parse(s).map_err(|e| format!("{e:#}"))
}

/// Seconds, at least 1.
fn parse_seconds(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("must be at least 1 second".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a number of seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(words: &[&str]) -> Result<Command, String> {
        Cli::try_parse_from(std::iter::once("cargo-qemu").chain(words.iter().copied()))
            .map(|c| c.command)
            .map_err(|e| e.to_string())
    }

    fn boot(words: &[&str]) -> Result<BootOptions, String> {
        let words: Vec<&str> = std::iter::once("boot")
            .chain(words.iter().copied())
            .collect();
        match parse(&words)? {
            Command::Boot(b) => b.options().map_err(|e| e.to_string()),
            other => panic!("not boot: {other:?}"),
        }
    }

    fn kernel_pairs(words: &[&str]) -> Result<Vec<Pair>, String> {
        let words: Vec<&str> = std::iter::once("kernel")
            .chain(words.iter().copied())
            .collect();
        match parse(&words)? {
            Command::Kernel(k) => k.pairs().map_err(|e| e.to_string()),
            other => panic!("not kernel: {other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_help() {
        for name in [
            "setup",
            "test",
            "stress",
            "demo",
            "kernel",
            "build",
            "boot",
            "uapi",
            "init",
            "run",
            "run-check",
            "guest-test",
        ] {
            let e = Cli::try_parse_from(["cargo-qemu", name, "--help"]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp, "{name}");
            let help = e.to_string();
            assert!(
                help.contains(&format!("Usage: cargo-qemu {name}")),
                "{name}: {help}"
            );
        }
        // `boot --help` is help, not an architecture named `--help`.
        let help = Cli::try_parse_from(["cargo-qemu", "boot", "--help"])
            .unwrap_err()
            .to_string();
        assert!(help.contains("--allow-skip") && !help.contains("unknown architecture"));
    }

    #[test]
    fn unknown_arches_are_refused_naming_the_supported_ones() {
        for words in [
            &["boot", "sparc"][..],
            &["build", "mips"],
            &["kernel", "ppc64le"],
            &["run", "--arch", "x86", "p"],
            &["run-check", "s390"],
        ] {
            let e = match parse(words) {
                Err(e) => e,
                Ok(Command::Kernel(k)) => k.pairs().unwrap_err().to_string(),
                Ok(other) => panic!("{words:?} accepted: {other:?}"),
            };
            assert!(e.contains("unknown architecture"), "{words:?}: {e}");
            for arch in Arch::ALL {
                assert!(
                    e.contains(arch.name()),
                    "{words:?}: {e} does not name {arch}"
                );
            }
        }
    }

    #[test]
    fn missing_extra_and_bad_arguments_are_usage_errors() {
        let e = parse(&["build"]).unwrap_err();
        assert!(
            e.contains("<ARCH>") && e.contains("Usage: cargo-qemu build"),
            "{e}"
        );
        assert!(
            parse(&["build", "x86_64", "aarch64"])
                .unwrap_err()
                .contains("unexpected argument")
        );
        let e = parse(&["boot", "x86_64", "--fast"]).unwrap_err();
        assert!(
            e.contains("--fast") && e.contains("Usage: cargo-qemu boot"),
            "{e}"
        );
        let e = parse(&["boot", "x86_64", "--timeout"]).unwrap_err();
        assert!(e.contains("--timeout"), "{e}");
        let e = parse(&["boot", "x86_64", "--timeout", "soon"]).unwrap_err();
        assert!(e.contains("`soon` is not a number of seconds"), "{e}");
        let e = parse(&["boot", "x86_64", "--timeout", "0"]).unwrap_err();
        assert!(e.contains("at least 1 second"), "{e}");
        let e = parse(&["boot", "x86_64", "--smp", "0"]).unwrap_err();
        assert!(e.contains("--smp"), "{e}");
        assert!(parse(&["setup", "now"]).is_err());
        assert!(parse(&["test", "--quick"]).is_err());
        for bad in [
            &["stress", "--rounds"][..],
            &["stress", "--rounds", "0"],
            &["stress", "--rounds", "x"],
            &["stress", "--limit", "0"],
            &["stress", "--what"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&["demo", "--jobs", "0"]).is_err());
        assert!(
            parse(&["init", "everything"])
                .unwrap_err()
                .contains("sizes")
        );
        assert!(
            parse(&["frobnicate"])
                .unwrap_err()
                .contains("unrecognized subcommand")
        );
    }

    #[test]
    fn unknown_kernels_and_missing_arch_kernels_are_refused() {
        let e = boot(&["x86_64", "--kernel", "2.6"]).unwrap_err();
        assert!(
            e.contains("unknown kernel `2.6`") && e.contains("6.12"),
            "{e}"
        );
        let e = boot(&["riscv64", "--kernel", "6.1"]).unwrap_err();
        assert!(e.contains("has no riscv64 kernel"), "{e}");
        let e = kernel_pairs(&["riscv64", "--kernel", "6.1"]).unwrap_err();
        assert!(e.contains("has no riscv64 kernel"), "{e}");
        let e = boot(&["aarch64", "--kernel", "7.3"]).unwrap_err();
        assert!(
            e.contains("unknown kernel `7.3` for aarch64")
                && e.contains("5.10 (Debian bullseye)")
                && e.contains("latest (Debian trixie-backports or sid)"),
            "{e}"
        );
        let e = parse(&["kernel", "--kernel", "7"]).unwrap_err();
        assert!(e.contains("unknown kernel `7`: known are 5.10"), "{e}");
    }

    #[test]
    fn good_arguments_parse() {
        assert!(matches!(
            parse(&["build", "arm64"]).unwrap(),
            Command::Build {
                arch: Arch::Aarch64
            }
        ));
        let opts = boot(&["riscv64", "--smp", "2", "--allow-skip"]).unwrap();
        assert_eq!(
            (opts.arch, opts.smp, opts.allow_skip),
            (Arch::Riscv64, 2, true)
        );
        assert_eq!(opts.timeout, Duration::from_secs(120));
        let Command::Kernel(k) = parse(&["kernel", "--kernel", "6.1", "--refresh"]).unwrap() else {
            panic!()
        };
        let pairs = k.pairs().unwrap();
        let arches: Vec<Arch> = pairs.iter().map(|p| p.arch).collect();
        assert_eq!(arches, [Arch::X86_64, Arch::Aarch64]);
        assert!(pairs.iter().all(|p| p.release.name == "6.1") && k.refresh);
        assert_eq!(
            boot(&["x86_64", "--kernel", "5.10"]).unwrap().kernel.suites,
            ["bullseye"]
        );
        assert_eq!(
            boot(&["riscv64", "--kernel", "latest"])
                .unwrap()
                .kernel
                .name,
            "latest"
        );
        assert_eq!(kernel_pairs(&["--kernel", "all"]).unwrap().len(), 10);
        let names: Vec<&str> = kernel_pairs(&["riscv64", "--kernel", "all"])
            .unwrap()
            .iter()
            .map(|p| p.release.name)
            .collect();
        assert_eq!(names, ["6.12", "latest"]);
        assert!(matches!(
            parse(&["test", "--fresh"]).unwrap(),
            Command::Test { fresh: true }
        ));
        let Command::Stress {
            rounds,
            test_threads,
            limit,
        } = parse(&["stress", "--rounds", "5", "--limit", "9"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            stress_options(rounds, test_threads, limit),
            stress::Options {
                rounds: 5,
                test_threads: 8,
                limit: Duration::from_secs(9)
            }
        );
        let Command::Demo { kernel, jobs: j } =
            parse(&["demo", "--kernel", "all", "--jobs", "3"]).unwrap()
        else {
            panic!()
        };
        assert_eq!((release::pairs(&Arch::ALL, kernel).len(), jobs(j)), (10, 3));
        let Command::Init { checks } = parse(&["init", "sizes", "boots"]).unwrap() else {
            panic!()
        };
        assert_eq!(checks, [InitCheck::Sizes, InitCheck::Boots]);
        let Command::Run(r) = parse(&["run", "--arch", "aarch64", "--", "/t", "-x"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.command, ["/t", "-x"]);
    }
}
