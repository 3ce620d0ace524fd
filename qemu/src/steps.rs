//! `test`: every check of the project, one step after another, then a summary.
//!
//! The steps are data ([`STEPS`]): adding a check is adding one line.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::boot::BootOptions;
use crate::{boot, kernel, progress, setup, workspace};

/// What a step does.
pub enum Action {
    /// `cargo <args>` in the workspace root, with extra environment variables.
    Cargo {
        args: &'static [&'static str],
        env: &'static [(&'static str, &'static str)],
    },
    /// `cargo qemu boot <arch> --kernel <kernel>`: build init-demo, boot it, check the
    /// KTAP report.
    Boot { arch: Arch, kernel: &'static str },
}

/// One check of `cargo qemu test`.
pub struct Step {
    pub name: &'static str,
    pub action: Action,
}

const fn cargo(name: &'static str, args: &'static [&'static str]) -> Step {
    Step {
        name,
        action: Action::Cargo { args, env: &[] },
    }
}

const fn cargo_env(
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
) -> Step {
    Step {
        name,
        action: Action::Cargo { args, env },
    }
}

const fn boot(name: &'static str, arch: Arch, kernel: &'static str) -> Step {
    Step {
        name,
        action: Action::Boot { arch, kernel },
    }
}

/// Every step of `cargo qemu test`, in order.
///
/// The cross tests run one test at a time: qemu-user (7.2) can deadlock a child forked
/// while another thread of the emulated program runs (seen here as exec tests hanging in a
/// futex inside qemu, one run in three), which serial tests avoid.
pub const STEPS: &[Step] = &[
    cargo("fmt", &["fmt", "--all", "--check"]),
    cargo(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ),
    cargo_env(
        "doc clonekit",
        &["doc", "--no-deps", "-p", "clonekit"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    ),
    cargo("test (host x86_64)", &["test", "--workspace"]),
    cargo(
        "build no_std x86_64",
        &[
            "build",
            "-p",
            "clonekit",
            "--target",
            "x86_64-unknown-linux-gnu",
        ],
    ),
    cargo(
        "build no_std aarch64",
        &[
            "build",
            "-p",
            "clonekit",
            "--target",
            "aarch64-unknown-linux-gnu",
        ],
    ),
    cargo(
        "build no_std riscv64",
        &[
            "build",
            "-p",
            "clonekit",
            "--target",
            "riscv64gc-unknown-linux-gnu",
        ],
    ),
    cargo(
        "test aarch64 (qemu-user)",
        &[
            "test",
            "-p",
            "clonekit",
            "--target",
            "aarch64-unknown-linux-gnu",
            "--",
            "--test-threads=1",
        ],
    ),
    cargo(
        "test riscv64 (qemu-user)",
        &[
            "test",
            "-p",
            "clonekit",
            "--target",
            "riscv64gc-unknown-linux-gnu",
            "--",
            "--test-threads=1",
        ],
    ),
    // Miri (nightly) on the code that makes no syscalls: the validator, flags, the KTAP
    // writer, id maps, the fuzz tests (fewer iterations under Miri), the host tool's KTAP
    // parser and newc writer. Tests that make syscalls or spawn tools are skipped by name.
    cargo_env(
        "miri clonekit",
        &[
            "miri",
            "test",
            "-p",
            "clonekit",
            "--lib",
            "--",
            "validate::",
            "flags::",
            "ktap::",
            "idmap::",
            "kernel_version::",
            "errno::",
            "--skip",
            "console_backed",
            "--skip",
            "current_kernel",
        ],
        &[("RUSTUP_TOOLCHAIN", setup::MIRI_TOOLCHAIN)],
    ),
    cargo_env(
        "miri fuzz",
        &["miri", "test", "-p", "clonekit", "--test", "fuzz"],
        &[("RUSTUP_TOOLCHAIN", setup::MIRI_TOOLCHAIN)],
    ),
    cargo_env(
        "miri qemu (KTAP parser, newc)",
        &[
            "miri",
            "test",
            "-p",
            "clonekit-qemu",
            "--",
            "ktap::",
            "newc::",
            "--skip",
            "gnu_cpio",
        ],
        &[("RUSTUP_TOOLCHAIN", setup::MIRI_TOOLCHAIN)],
    ),
    // Benchmarks are not timed tests: this only proves they build and run (ratios printed).
    cargo_env(
        "bench (quick)",
        &[
            "bench",
            "-p",
            "clonekit",
            "--bench",
            "spawn",
            "--bench",
            "namespaces",
        ],
        &[("CLONEKIT_BENCH_QUICK", "1")],
    ),
    boot("boot x86_64 6.12", Arch::X86_64, "6.12"),
    boot("boot aarch64 6.12", Arch::Aarch64, "6.12"),
    boot("boot riscv64 6.12", Arch::Riscv64, "6.12"),
    boot("boot x86_64 6.1", Arch::X86_64, "6.1"),
    boot("boot aarch64 6.1", Arch::Aarch64, "6.1"),
];

/// The outcome of one step.
struct Outcome {
    name: &'static str,
    passed: bool,
    took: Duration,
    note: String,
}

/// Runs setup, then every step; prints a summary and `test: N passed, N failed`.
pub fn run() -> Result<()> {
    setup::run().context("setup failed")?;
    let total = STEPS.len();
    let mut outcomes = Vec::with_capacity(total);
    for (i, step) in STEPS.iter().enumerate() {
        eprintln!();
        progress::line(format_args!(
            "==> step {}/{total}: {} ({})",
            i + 1,
            step.name,
            describe(&step.action)
        ));
        let started = Instant::now();
        let result = run_action(&step.action);
        let took = started.elapsed();
        let (passed, note) = match result {
            Ok(()) => (true, String::new()),
            Err(e) => (false, format!("{e:#}")),
        };
        progress::line(format_args!(
            "<== step {}/{total}: {} {} in {}{}",
            i + 1,
            step.name,
            if passed { "passed" } else { "FAILED" },
            progress::human(took),
            if note.is_empty() {
                String::new()
            } else {
                format!(": {note}")
            }
        ));
        outcomes.push(Outcome {
            name: step.name,
            passed,
            took,
            note,
        });
    }
    print_summary(&outcomes);
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    println!("test: {} passed, {failed} failed", total - failed);
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// The command a step runs, as a user would type it.
fn describe(action: &Action) -> String {
    match action {
        Action::Cargo { args, env } => {
            let env: String = env.iter().map(|(k, v)| format!("{k}=\"{v}\" ")).collect();
            format!("{env}cargo {}", args.join(" "))
        }
        Action::Boot { arch, kernel } => format!("cargo qemu boot {arch} --kernel {kernel}"),
    }
}

fn run_action(action: &Action) -> Result<()> {
    match action {
        Action::Cargo { args, env } => run_cargo(args, env),
        Action::Boot { arch, kernel } => {
            let boot = boot::run(&BootOptions::new(*arch, kernel::release(kernel)?))?;
            boot.verdict.map_err(anyhow::Error::msg)
        }
    }
}

/// How long one cargo step may run before it is killed: a hung test (qemu-user has
/// deadlocks of its own) must not eat CI's whole time budget. `CLONEKIT_STEP_TIMEOUT`
/// (seconds) overrides it.
fn step_time_limit() -> Duration {
    let secs = std::env::var("CLONEKIT_STEP_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15 * 60);
    Duration::from_secs(secs)
}

/// Runs a nested cargo with inherited output, in its own process group, killed with all
/// its children if it outlives [`step_time_limit`].
///
/// `cargo qemu test` itself runs under `cargo run`, which releases the build directory lock
/// before starting this binary, so the nested cargo can share the target directory (and its
/// cache) with the user's own builds. The nested steps build in the `dev` profile, so they
/// never rewrite the running `release` binary of this tool.
fn run_cargo(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(cargo_bin())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(workspace::root())
        .process_group(0)
        .spawn()
        .context("running cargo")?;
    let limit = step_time_limit();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for cargo")? {
            break status;
        }
        if started.elapsed() > limit {
            // The whole group: cargo, the test binary and anything it forked.
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            bail!(
                "cargo {} was killed after {} (the time limit of a step; \
                 the test running at that point is the last one named above)",
                args.join(" "),
                progress::human(limit)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        bail!("cargo {} exited with {status}", args.join(" "));
    }
    Ok(())
}

/// The cargo that started this tool (cargo sets `$CARGO` for `cargo run`), else the one on
/// `PATH`.
pub fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn print_summary(outcomes: &[Outcome]) {
    let width = outcomes
        .iter()
        .map(|o| o.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!();
    println!(
        "{:>3}  {:<width$}  {:<6}  {:>8}",
        "#", "step", "result", "time"
    );
    for (i, o) in outcomes.iter().enumerate() {
        let first_line = o.note.lines().next().unwrap_or("");
        println!(
            "{:>3}  {:<width$}  {:<6}  {:>8}  {}",
            i + 1,
            o.name,
            if o.passed { "ok" } else { "FAILED" },
            progress::human(o.took),
            first_line
        );
    }
    let total: Duration = outcomes.iter().map(|o| o.took).sum();
    println!(
        "{:>3}  {:<width$}  {:<6}  {:>8}",
        "",
        "total",
        "",
        progress::human(total)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cross_target_is_built_and_tested() {
        for arch in Arch::ALL {
            let uses = |verb: &str| {
                STEPS.iter().any(|s| match &s.action {
                    Action::Cargo { args, .. } => args[0] == verb && args.contains(&arch.triple()),
                    Action::Boot { .. } => false,
                })
            };
            assert!(uses("build"), "no build step for {arch}");
            if arch != Arch::X86_64 {
                assert!(uses("test"), "no cross test step for {arch}");
            }
        }
    }

    #[test]
    fn every_boot_step_names_a_kernel_that_has_its_arch() {
        let mut boots = 0;
        for step in STEPS {
            if let Action::Boot { arch, kernel } = &step.action {
                boots += 1;
                assert!(
                    kernel::release(kernel).unwrap().package(*arch).is_ok(),
                    "{}",
                    step.name
                );
            }
        }
        assert_eq!(boots, 5);
    }

    #[test]
    fn step_names_are_unique() {
        let mut names: Vec<&str> = STEPS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STEPS.len());
    }
}
