//! `test`: every check of the project, one step after another, then a summary.
//!
//! The steps are data ([`STEPS`]): adding a check is adding one line.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::cargo::{self, Outer, Plan, Toolchain};
use crate::kernel::release::{self, Choice};
use crate::qemu_user::{self, Emulator};
use crate::{init_check, jobs, limit, matrix, progress, setup, stress, uapi, workspace};

/// What a step does.
pub enum Action {
    /// `cargo <args>` in the workspace root, with extra environment variables, run by the
    /// given toolchain's cargo (see [`crate::cargo`]).
    Cargo {
        toolchain: Toolchain,
        args: &'static [&'static str],
        env: &'static [(&'static str, &'static str)],
    },
    /// `cargo test -p clonekit --target <arch>` under one qemu-user release, fetched into
    /// the cache (see [`crate::qemu_user`]).
    CrossTest {
        arch: Arch,
        emulator: &'static Emulator,
    },
    /// `cargo qemu stress --rounds <rounds>`: the host test binaries again and again at 8
    /// test threads; any hang or failure fails the step.
    Stress { rounds: u32 },
    /// `cargo qemu demo --kernel all`: build init-demo and boot it on every arch × kernel
    /// pair of the matrix, several at a time (see [`crate::matrix`]), checking each KTAP
    /// report.
    BootMatrix,
    /// clonekit's uapi header test against `include/linux/sched.h` of Debian's newest
    /// `linux-libc-dev`, fetched into the cache (see [`crate::uapi`]).
    UapiHeader,
    /// clonekit-init for every arch, stripped, next to Debian's tini and dumb-init; fails
    /// over 12 KiB or with formatting code linked in (see [`crate::init_check::sizes`]).
    InitSizes,
    /// clonekit-init's scenario test, natively, against it and Debian's tini.
    InitVersusTini,
    /// clonekit-init as the guest's PID 1 on every arch, the scenario suite its program.
    InitBoots,
    /// `run`'s end-to-end check: static and dynamic C programs on every arch through
    /// `clonekit-qemu run`, exit codes and output byte for byte, refusals, overhead (see
    /// [`crate::run::check`]).
    RunCheck,
    /// clonekit's tests in the guest through `clonekit-qemu run` as the cargo runner, on
    /// every arch, no SKIP allowed (see [`crate::run::suite`]).
    GuestTest,
}

/// One check of `cargo qemu test`.
pub struct Step {
    pub name: &'static str,
    pub action: Action,
    /// Keeps about one core busy once built (one emulated or interpreted test program at a
    /// time), so it may run beside its neighbours that do too: a run of such steps goes
    /// [`matrix::default_jobs`] at a time, each step's output kept in a log and printed
    /// whole when it ends. Only `Cargo` and `CrossTest` steps can.
    pub one_core: bool,
}

const fn cargo(name: &'static str, args: &'static [&'static str]) -> Step {
    cargo_env(name, args, &[])
}

const fn cargo_env(
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
) -> Step {
    Step {
        name,
        action: Action::Cargo {
            toolchain: Toolchain::Current,
            args,
            env,
        },
        one_core: false,
    }
}

/// A Miri step: `cargo miri <args>` with the toolchain Miri comes with.
const fn miri(name: &'static str, args: &'static [&'static str]) -> Step {
    Step {
        name,
        action: Action::Cargo {
            toolchain: Toolchain::Named(setup::MIRI_TOOLCHAIN),
            args,
            env: &[],
        },
        one_core: true,
    }
}

const fn cross_test(name: &'static str, arch: Arch, emulator: &'static Emulator) -> Step {
    Step {
        name,
        action: Action::CrossTest { arch, emulator },
        one_core: true,
    }
}

/// Every step of `cargo qemu test`, in order.
///
/// The cross tests run under QEMU 7.2 and 10.0 user-mode, each with the runner of
/// `.cargo/config.toml` (tests one at a time: 7.2 deadlocks a fork taken while another
/// emulated thread runs).
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
    // The arch modules and cfg'd code of the other two targets, which host clippy never sees.
    cargo(
        "clippy aarch64",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--target",
            Arch::Aarch64.triple(),
            "--",
            "-D",
            "warnings",
        ],
    ),
    cargo(
        "clippy riscv64",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--target",
            Arch::Riscv64.triple(),
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
    Step {
        name: "uapi header (CloneFlags vs Debian's newest linux-libc-dev)",
        action: Action::UapiHeader,
        one_core: false,
    },
    Step {
        name: "clonekit-init size (3 arches) vs tini, dumb-init",
        action: Action::InitSizes,
        one_core: false,
    },
    Step {
        name: "clonekit-init scenarios vs Debian's tini (native)",
        action: Action::InitVersusTini,
        one_core: false,
    },
    cargo(
        "build no_std x86_64",
        &["build", "-p", "clonekit", "--target", Arch::X86_64.triple()],
    ),
    cargo(
        "build no_std aarch64",
        &[
            "build",
            "-p",
            "clonekit",
            "--target",
            Arch::Aarch64.triple(),
        ],
    ),
    cargo(
        "build no_std riscv64",
        &[
            "build",
            "-p",
            "clonekit",
            "--target",
            Arch::Riscv64.triple(),
        ],
    ),
    cross_test(
        "test aarch64 (qemu-user 7.2)",
        Arch::Aarch64,
        &qemu_user::QEMU_7_2,
    ),
    cross_test(
        "test riscv64 (qemu-user 7.2)",
        Arch::Riscv64,
        &qemu_user::QEMU_7_2,
    ),
    cross_test(
        "test aarch64 (qemu-user 10.0)",
        Arch::Aarch64,
        &qemu_user::QEMU_10_0,
    ),
    cross_test(
        "test riscv64 (qemu-user 10.0)",
        Arch::Riscv64,
        &qemu_user::QEMU_10_0,
    ),
    // Miri (nightly) on the code that makes no syscalls: the validator, flags, the KTAP
    // writer, id maps, the fuzz tests (fewer iterations under Miri), the host tool's KTAP
    // parser and newc writer. Tests that make syscalls or spawn tools are skipped by name.
    Step {
        name: "msrv (the workspace builds with its declared Rust)",
        action: Action::Cargo {
            toolchain: Toolchain::Named(setup::MSRV_TOOLCHAIN),
            args: &["check", "--workspace", "--all-targets"],
            env: &[("CARGO_TARGET_DIR", "target/msrv")],
        },
        one_core: true,
    },
    miri(
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
    ),
    miri(
        "miri fuzz",
        &["miri", "test", "-p", "clonekit-testkit", "--test", "fuzz"],
    ),
    miri(
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
    ),
    // A short stress run: tests that leak descriptors into each other's children hang only
    // now and then (`cargo qemu stress` runs 300 rounds).
    Step {
        name: "stress (50 rounds)",
        action: Action::Stress { rounds: 50 },
        one_core: false,
    },
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
    // init-demo on every arch × kernel pair: 5.10 and 6.1 on x86_64 and aarch64, 6.12 and
    // latest on all three.
    Step {
        name: "boot matrix (10 arch x kernel pairs)",
        action: Action::BootMatrix,
        one_core: false,
    },
    Step {
        name: "clonekit-init as PID 1 (3 arches, 6.12)",
        action: Action::InitBoots,
        one_core: false,
    },
    Step {
        name: "run: static and dynamic programs in the guest (3 arches)",
        action: Action::RunCheck,
        one_core: false,
    },
    Step {
        name: "test in the guest via the runner (3 arches, 6.12, no SKIP)",
        action: Action::GuestTest,
        one_core: false,
    },
];

/// The outcome of one step.
struct Outcome {
    name: &'static str,
    passed: bool,
    took: Duration,
    note: String,
}

/// Runs setup, then every step; prints a summary and `test: N passed, N failed`, and
/// returns how many steps failed.
///
/// `fresh`: the whole run against empty caches, as on a machine that never ran it (see
/// [`FreshCaches`]).
pub fn run(fresh: bool) -> Result<usize> {
    let _fresh = if fresh {
        Some(FreshCaches::create()?)
    } else {
        None
    };
    setup::run().context("setup failed")?;
    let started = Instant::now();
    let total = STEPS.len();
    let mut outcomes = Vec::with_capacity(total);
    for batch in batches(STEPS) {
        if let [(i, step)] = batch[..] {
            outcomes.push(run_step(i, step, None));
            continue;
        }
        eprintln!();
        progress::line(format_args!(
            "==> steps {}-{}/{total} keep one core busy each: {} at a time, each one's output \
             printed whole when it ends",
            batch[0].0 + 1,
            batch[batch.len() - 1].0 + 1,
            matrix::default_jobs()
        ));
        let logs = workspace::qemu_dir();
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        // What the steps share is fetched or built here, one step after another: two
        // fetches of one emulator would share its apt directory and staging directory, and
        // two cargo-miri runs would both build Miri's sysroot.
        let items: Vec<(usize, &Step, Result<(), String>)> = batch
            .iter()
            .map(|&(i, step)| {
                (
                    i,
                    step,
                    prepare_shared(&step.action).map_err(|e| format!("{e:#}")),
                )
            })
            .collect();
        outcomes.extend(jobs::map(
            &items,
            matrix::default_jobs(),
            |(i, step, ready)| match ready {
                Ok(()) => run_step(*i, step, Some(&logs.join(format!("step-{}.log", i + 1)))),
                Err(note) => Outcome {
                    name: step.name,
                    passed: false,
                    took: Duration::ZERO,
                    note: note.clone(),
                },
            },
        ));
    }
    print_summary(&outcomes, started.elapsed());
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    println!("test: {} passed, {failed} failed", total - failed);
    Ok(failed)
}

/// Fetches or builds what a step would otherwise make on its way, where steps that run side
/// by side would make it at once: a qemu-user emulator (see [`qemu_user::get`]), Miri's
/// sysroot (`cargo miri setup`).
fn prepare_shared(action: &Action) -> Result<()> {
    match action {
        Action::CrossTest { emulator, .. } => qemu_user::get(emulator).map(|_| ()),
        Action::Cargo {
            toolchain, args, ..
        } if args.first() == Some(&"miri") => {
            run_cargo(&cargo_plan(*toolchain, &["miri", "setup"], &[]), None)
        }
        _ => Ok(()),
    }
}

/// `steps` with their indices, cut into batches: each run of consecutive one-core steps is
/// one batch, every other step a batch of its own.
fn batches(steps: &[Step]) -> Vec<Vec<(usize, &Step)>> {
    let mut out: Vec<Vec<(usize, &Step)>> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match out.last_mut() {
            Some(last) if step.one_core && last.iter().all(|(_, s)| s.one_core) => {
                last.push((i, step))
            }
            _ => out.push(vec![(i, step)]),
        }
    }
    out
}

/// Runs step `i`: its output on this process's streams, or, with `log`, into that file,
/// printed whole (with the step's header) when the step ends.
fn run_step(i: usize, step: &Step, log: Option<&Path>) -> Outcome {
    let header = format!(
        "==> step {}/{}: {} ({})",
        i + 1,
        STEPS.len(),
        step.name,
        describe(&step.action)
    );
    if log.is_none() {
        eprintln!();
        progress::line(&header);
    }
    if let Some(log) = log {
        // Not a log of an earlier run, if this one fails before writing its own.
        let _ = std::fs::remove_file(log);
    }
    let started = Instant::now();
    let result = run_action(&step.action, log);
    let took = started.elapsed();
    let (passed, note) = match result {
        Ok(()) => (true, String::new()),
        Err(e) => (false, format!("{e:#}")),
    };
    let footer = format!(
        "<== step {}/{}: {} {} in {}{}",
        i + 1,
        STEPS.len(),
        step.name,
        if passed { "passed" } else { "FAILED" },
        progress::human(took),
        if note.is_empty() {
            String::new()
        } else {
            format!(": {note}")
        }
    );
    if let Some(log) = log {
        let text = std::fs::read_to_string(log)
            .unwrap_or_else(|e| format!("(no log at {}: {e})\n", log.display()));
        // One lock for the whole block, so the outputs of steps that ran side by side do
        // not interleave.
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err);
        let _ = writeln!(
            err,
            "[{:>7}] {header} (log: {})",
            progress::human(progress::elapsed()),
            log.display()
        );
        let _ = err.write_all(text.as_bytes());
        let _ = writeln!(
            err,
            "[{:>7}] {footer}",
            progress::human(progress::elapsed())
        );
    } else {
        progress::line(&footer);
    }
    Outcome {
        name: step.name,
        passed,
        took,
        note,
    }
}

/// `test --fresh`: every cache the run uses (kernels, qemu-user emulators, the private apt
/// state, Miri's sysroot) starts empty in a new temporary directory, which is removed
/// afterwards, whatever the outcome.
///
/// The caches are found through `XDG_CACHE_HOME` (see [`workspace::cache_dir`]; cargo-miri
/// keeps its sysroot under `$XDG_CACHE_HOME/miri`), so pointing it at the new directory
/// covers this tool and every program it starts. The build directory (`target/`) is
/// the checkout's own and is left as it is.
struct FreshCaches {
    dir: std::path::PathBuf,
}

impl FreshCaches {
    fn create() -> Result<FreshCaches> {
        let dir = std::env::temp_dir().join(format!("clonekit-fresh-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing a stale {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // SAFETY: called from the main thread before any other thread exists (this tool
        // starts none before its steps, and the steps run after this), so nothing reads the
        // environment concurrently.
        unsafe { std::env::set_var("XDG_CACHE_HOME", &dir) };
        progress::line(format_args!(
            "fresh: every cache starts empty in {} (XDG_CACHE_HOME), removed at the end",
            dir.display()
        ));
        Ok(FreshCaches { dir })
    }
}

impl Drop for FreshCaches {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => progress::line(format_args!("fresh: removed {}", self.dir.display())),
            Err(e) => progress::line(format_args!(
                "fresh: could not remove {}: {e}",
                self.dir.display()
            )),
        }
    }
}

/// The cargo a `Cargo` step runs.
fn cargo_plan(toolchain: Toolchain, args: &[&str], env: &[(&str, &str)]) -> Plan {
    cargo::plan(toolchain, args, env, &Outer::here())
}

/// The arguments of a cross test step (before the runner is known): the library's own tests
/// and the kit's (the tests that need the kit live in `testkit/tests/`).
fn cross_test_args(arch: Arch) -> [&'static str; 7] {
    [
        "test",
        "-p",
        "clonekit",
        "-p",
        "clonekit-testkit",
        "--target",
        arch.triple(),
    ]
}

/// The command a step runs, as a user would type it.
fn describe(action: &Action) -> String {
    match action {
        Action::Cargo {
            toolchain,
            args,
            env,
        } => cargo_plan(*toolchain, args, env).display(),
        Action::CrossTest { arch, emulator } => format!(
            "cargo {} under QEMU {} ({} {}: {}, from the cache)",
            cross_test_args(*arch).join(" "),
            emulator.version,
            emulator.suite,
            emulator.package,
            emulator.binary(*arch)
        ),
        Action::Stress { rounds } => format!("cargo qemu stress --rounds {rounds}"),
        Action::BootMatrix => format!(
            "cargo qemu demo --kernel all --jobs {}",
            matrix::default_jobs()
        ),
        Action::InitSizes => init_check::describe_sizes(),
        Action::InitVersusTini => format!(
            "{}=<Debian's tini, cached> cargo {}",
            init_check::TINI_ENV,
            init_check::SCENARIO_ARGS.join(" ")
        ),
        Action::InitBoots => init_check::describe_boots(),
        Action::GuestTest => format!(
            "cargo {} and cargo {} -- --skip every_flag_matches_debians_newest_uapi_header, --config target.<triple>.runner=[\"clonekit-qemu\", \"run\", \"--arch\", \"<arch>\", \"--busybox\", \"--\"] for each arch, {} at a time",
            crate::run::suite::test_args(Arch::Aarch64, crate::run::suite::Suite::Clonekit)
                .join(" ")
                .replace(Arch::Aarch64.triple(), "<triple>"),
            crate::run::suite::test_args(Arch::Aarch64, crate::run::suite::Suite::Kit)
                .join(" ")
                .replace(Arch::Aarch64.triple(), "<triple>"),
            matrix::default_jobs()
        ),
        Action::RunCheck => format!(
            "cargo qemu run-check --jobs {}: gcc-built test programs through `cargo qemu run`",
            matrix::default_jobs()
        ),
        Action::UapiHeader => format!(
            "{}=<sched.h of {}, cached> cargo {}",
            uapi::ENV,
            uapi::PACKAGE,
            uapi::TEST_ARGS.join(" ")
        ),
    }
}

/// Runs `action`; with `log`, its output goes into that file (only `Cargo` and
/// `CrossTest` steps can run so, see [`Step::one_core`]).
fn run_action(action: &Action, log: Option<&Path>) -> Result<()> {
    match action {
        Action::Cargo {
            toolchain,
            args,
            env,
        } => run_cargo(&cargo_plan(*toolchain, args, env), log),
        Action::CrossTest { arch, emulator } => {
            let dir = qemu_user::get(emulator)?;
            let runner = qemu_user::runner_config(*arch, &dir.join(emulator.binary(*arch)))?;
            let mut args = cross_test_args(*arch).to_vec();
            args.extend(["--config", &runner]);
            let plan = cargo_plan(Toolchain::Current, &args, &[]);
            if log.is_none() {
                progress::line(format_args!("running {}", plan.display()));
            }
            run_cargo(&plan, log)
        }
        _ if log.is_some() => bail!("only cargo steps can run beside others"),
        Action::Stress { rounds } => {
            let options = stress::Options {
                rounds: *rounds,
                ..stress::Options::default()
            };
            match stress::run(&options)? {
                0 => Ok(()),
                n => bail!("{n} runs hung or failed"),
            }
        }
        Action::BootMatrix => {
            let pairs = release::pairs(&Arch::ALL, Choice::All);
            let outcomes = matrix::run(&pairs, matrix::default_jobs());
            println!();
            print!("{}", matrix::table(&outcomes));
            matrix::verdict(&outcomes)
        }
        Action::InitSizes => init_check::sizes(),
        Action::InitVersusTini => run_cargo(&init_check::versus_tini_plan()?, None),
        Action::InitBoots => init_check::boots(),
        Action::RunCheck => crate::run::check::run(&Arch::ALL, matrix::default_jobs()),
        Action::GuestTest => crate::run::suite::run(&Arch::ALL, matrix::default_jobs()),
        Action::UapiHeader => {
            let header = uapi::get(false)?;
            progress::line(format_args!(
                "uapi: {} {} at {}",
                uapi::PACKAGE,
                header.version,
                header.path.display()
            ));
            run_cargo(&uapi::plan(&header)?, None)
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

/// Runs a nested cargo with inherited output (or its stdout and stderr into `log`), in its
/// own process group, killed with all its children if it outlives [`step_time_limit`].
///
/// `cargo qemu test` itself runs under `cargo run`, which releases the build directory lock
/// before starting this binary, so the nested cargo can share the target directory (and its
/// cache) with the user's own builds. The nested steps build in the `dev` profile, so they
/// never rewrite the running `release` binary of this tool.
fn run_cargo(plan: &Plan, log: Option<&Path>) -> Result<()> {
    let mut command = plan.command();
    if let Some(log) = log {
        let mut file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        writeln!(file, "running {}", plan.display())?;
        command
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file));
    }
    let mut child = limit::own_group(&mut command)
        .current_dir(workspace::root())
        .spawn()
        .with_context(|| format!("running {}", plan.program))?;
    let limit = step_time_limit();
    let Some(status) = limit::wait(&mut child, limit, Duration::from_millis(200))? else {
        bail!(
            "killed after {} (the time limit of a step; the test running at that point is \
             the last one named above)",
            progress::human(limit)
        );
    };
    if !status.success() {
        bail!(
            "`{} {}` exited with {status}",
            plan.program_name(),
            plan.args.join(" ")
        );
    }
    Ok(())
}

/// The table of steps; `wall`: the whole run (less than the steps' sum when some ran side
/// by side).
fn print_summary(outcomes: &[Outcome], wall: Duration) {
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
        "sum of the steps",
        "",
        progress::human(total)
    );
    println!(
        "{:>3}  {:<width$}  {:<6}  {:>8}",
        "",
        "wall (set-up excluded)",
        "",
        progress::human(wall)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cross_target_is_built_and_tested_under_every_emulator() {
        for arch in Arch::ALL {
            let built = STEPS.iter().any(|s| match &s.action {
                Action::Cargo { args, .. } => args[0] == "build" && args.contains(&arch.triple()),
                _ => false,
            });
            assert!(built, "no build step for {arch}");
            for emulator in [&qemu_user::QEMU_7_2, &qemu_user::QEMU_10_0] {
                let tested = STEPS.iter().any(|s| match &s.action {
                    Action::CrossTest {
                        arch: a,
                        emulator: e,
                    } => *a == arch && e.version == emulator.version,
                    _ => false,
                });
                assert_eq!(
                    tested,
                    arch.is_cross(),
                    "cross test of {arch} under QEMU {}",
                    emulator.version
                );
            }
        }
    }

    #[test]
    fn one_core_steps_are_cargo_steps_batched_in_order() {
        for step in STEPS.iter().filter(|s| s.one_core) {
            assert!(
                matches!(step.action, Action::Cargo { .. } | Action::CrossTest { .. }),
                "{} cannot run beside others",
                step.name
            );
        }
        let batches = batches(STEPS);
        let order: Vec<usize> = batches.iter().flatten().map(|(i, _)| *i).collect();
        assert_eq!(order, (0..STEPS.len()).collect::<Vec<_>>());
        let shared: Vec<&Vec<(usize, &Step)>> = batches.iter().filter(|b| b.len() > 1).collect();
        // The four qemu-user steps, the MSRV check and the three Miri steps.
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].len(), 8);
        assert!(shared[0].iter().all(|(_, s)| s.one_core));
    }

    #[test]
    fn a_step_that_is_not_cargo_refuses_to_run_into_a_log() {
        let log = std::env::temp_dir().join(format!("clonekit-step-{}.log", std::process::id()));
        let err = run_action(&Action::BootMatrix, Some(&log)).unwrap_err();
        assert!(err.to_string().contains("only cargo steps"), "{err}");
        assert!(!log.exists());
    }

    #[test]
    fn miri_steps_run_through_rustup_with_the_miri_toolchain() {
        let miri: Vec<&Step> = STEPS
            .iter()
            .filter(|s| matches!(&s.action, Action::Cargo { args, .. } if args[0] == "miri"))
            .collect();
        assert_eq!(miri.len(), 3);
        for step in miri {
            let Action::Cargo {
                toolchain,
                args,
                env,
            } = &step.action
            else {
                unreachable!()
            };
            assert_eq!(
                *toolchain,
                Toolchain::Named(setup::MIRI_TOOLCHAIN),
                "{}",
                step.name
            );
            let plan = cargo_plan(*toolchain, args, env);
            assert_eq!(plan.program, "rustup", "{}", step.name);
            assert_eq!(&plan.args[..3], ["run", setup::MIRI_TOOLCHAIN, "cargo"]);
            assert!(plan.set.iter().all(|(k, _)| k != "RUSTUP_TOOLCHAIN"));
        }
    }

    #[test]
    fn the_boot_step_boots_the_whole_matrix_once() {
        let boots: Vec<&Step> = STEPS
            .iter()
            .filter(|s| matches!(s.action, Action::BootMatrix))
            .collect();
        assert_eq!(boots.len(), 1);
        let pairs = release::pairs(&Arch::ALL, Choice::All);
        assert!(
            boots[0]
                .name
                .contains(&format!("{} arch x kernel pairs", pairs.len()))
        );
        for arch in Arch::ALL {
            let kernels: Vec<&str> = pairs
                .iter()
                .filter(|p| p.arch == arch)
                .map(|p| p.release.name)
                .collect();
            let expected: &[&str] = match arch {
                Arch::Riscv64 => &["6.12", "latest"],
                _ => &["5.10", "6.1", "6.12", "latest"],
            };
            assert_eq!(kernels, expected, "{arch}");
        }
    }

    #[test]
    fn step_names_are_unique() {
        let mut names: Vec<&str> = STEPS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STEPS.len());
    }
}
