//! The end-to-end check of `run` (`cargo qemu run-check`, a step of the test command):
//! a C program (`check/runcheck.c`) built with gcc, static and dynamic, for every arch,
//! run through this very binary's `run` in the guest, its exit code and its stdout and
//! stderr compared byte for byte with what it must print; refusals checked before any
//! boot; and the runner's overhead measured.
//!
//! The cases, each one boot (or none for a refusal):
//! - per arch and linkage: `echo` (its arguments, `CK_*` variables, all 256 byte values and
//!   a 200 KB pattern on stdout, a 50 KB pattern on stderr ending without a newline; exit 0
//!   static, 3 dynamic) and `signal 11` (exit 139, the partial output intact);
//! - the 8250 fallback (x86_64 and aarch64 on Linux 6.1, whose virtio-console is a module):
//!   `echo` again, byte for byte through raw terminals;
//! - a timeout (aarch64: the program sleeps past `--timeout`: 124);
//! - refusals without a boot: another arch's ELF, a missing library, `--timeout 0`, a file
//!   that is no kernel as `--kernel-image`, a script whose interpreter is not packed;
//! - overhead: the static program exiting at once, with `-v`: the time from QEMU's start to
//!   its exit next to the kernel's own boot time (its uptime when the program started);
//! - the runner as a user has it ([`runner_crate`]): a copy of this binary outside the
//!   checkout, a new crate in a temporary directory whose `.cargo/config.toml` names it as
//!   the runner of each target, and `cargo test --target <triple>` there: every test binary
//!   boots, the tests see PID 1 is clonekit-init, a writable `/tmp`, cargo's variables and
//!   their working directory, and a filter argument reaches them.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::{progress, workspace};

const SOURCE: &str = include_str!("check/runcheck.c");

/// Static or dynamic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Linkage {
    Static,
    Dynamic,
}

fn compiler(arch: Arch) -> String {
    if Some(arch) == Arch::host() {
        "gcc".into()
    } else {
        format!("{}-gcc", arch.multiarch())
    }
}

fn build_dir() -> PathBuf {
    workspace::qemu_dir().join("run-check")
}

/// Builds the program for `arch`, `linkage`.
fn build(arch: Arch, linkage: Linkage) -> Result<PathBuf> {
    let dir = build_dir();
    std::fs::create_dir_all(&dir)?;
    let source = dir.join("runcheck.c");
    std::fs::write(&source, SOURCE)?;
    let out = dir.join(format!(
        "runcheck-{arch}-{}",
        if linkage == Linkage::Static {
            "static"
        } else {
            "dynamic"
        }
    ));
    let mut cmd = Command::new(compiler(arch));
    cmd.args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(&source);
    if linkage == Linkage::Static {
        cmd.arg("-static");
    }
    run_compiler(cmd, arch)?;
    Ok(out)
}

fn run_compiler(mut cmd: Command, arch: Arch) -> Result<()> {
    let output = cmd.output().with_context(|| {
        format!(
            "running {} (`apt-get install {}`)",
            compiler(arch),
            arch.cross_compiler_package().unwrap_or("gcc")
        )
    })?;
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            compiler(arch),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// `runcheck`'s LCG, as in the C source.
fn pattern(mut seed: u32, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as u8
        })
        .collect()
}

/// The tricky arguments every `echo` case passes.
fn echo_args() -> Vec<OsString> {
    vec![
        "a b".into(),
        "".into(),
        "--".into(),
        "x\ny".into(),
        "quote\"d".into(),
        OsString::from_vec(vec![0xff, 0xfe, b'!']),
    ]
}

const ECHO_ENV: [(&str, &str); 3] = [("CK_ONE", "1"), ("CK_SPACES", "a b c"), ("CK_EMPTY", "")];

/// What `runcheck echo <code> <args>` must print: (stdout, stderr).
fn echo_expected(program: &Path, code: i32) -> (Vec<u8>, Vec<u8>) {
    let mut out = Vec::new();
    let mut argv: Vec<OsString> = vec![program.into(), "echo".into(), code.to_string().into()];
    argv.extend(echo_args());
    for arg in argv {
        out.extend_from_slice(b"arg:");
        out.extend_from_slice(&arg.into_vec());
        out.push(b'\n');
    }
    for (k, v) in ECHO_ENV {
        out.extend_from_slice(format!("env:{k}={v}\n").as_bytes());
    }
    out.extend(0..=255u8);
    out.extend(pattern(1, 200_000));
    let mut err = b"to stderr\n".to_vec();
    err.extend(pattern(2, 50_000));
    err.extend_from_slice(b"end without a newline");
    (out, err)
}

/// One run of `clonekit-qemu run` and what it must give.
struct Case {
    name: String,
    args: Vec<OsString>,
    code: i32,
    stdout: Option<Vec<u8>>,
    /// The exact stderr, or a piece it must contain.
    stderr: Expect,
    boots: bool,
}

enum Expect {
    Exact(Vec<u8>),
    Contains(String),
}

fn run_args(
    arch: Arch,
    extra: &[&str],
    program: &Path,
    program_args: &[OsString],
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["run".into(), "--arch".into(), arch.name().into()];
    args.extend(extra.iter().map(OsString::from));
    args.push("--".into());
    args.push(program.into());
    args.extend(program_args.iter().cloned());
    args
}

fn echo_case(name: String, arch: Arch, extra: &[&str], program: &Path, code: i32) -> Case {
    let mut program_args: Vec<OsString> = vec!["echo".into(), code.to_string().into()];
    program_args.extend(echo_args());
    let mut extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    for (k, v) in ECHO_ENV {
        extra.push("--env".into());
        extra.push(format!("{k}={v}"));
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (stdout, stderr) = echo_expected(program, code);
    Case {
        name,
        args: run_args(arch, &extra, program, &program_args),
        code,
        stdout: Some(stdout),
        stderr: Expect::Exact(stderr),
        boots: true,
    }
}

fn refusal(name: &str, args: Vec<OsString>, message: &str) -> Case {
    Case {
        name: name.into(),
        args,
        code: 125,
        stdout: Some(Vec::new()),
        stderr: Expect::Contains(message.into()),
        boots: false,
    }
}

/// The outcome of a case.
struct Outcome {
    name: String,
    took: Duration,
    problems: Vec<String>,
}

fn first_difference(got: &[u8], want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    format!(
        "{} bytes, expected {}; first difference at byte {at}: got {:?}, expected {:?}",
        got.len(),
        want.len(),
        String::from_utf8_lossy(&got[at..got.len().min(at + 40)]),
        String::from_utf8_lossy(&want[at..want.len().min(at + 40)])
    )
}

fn run_case(exe: &Path, case: &Case) -> Outcome {
    let started = Instant::now();
    let output = Command::new(exe).args(&case.args).output();
    let took = started.elapsed();
    let mut problems = Vec::new();
    match output {
        Err(e) => problems.push(format!("could not run {}: {e}", exe.display())),
        Ok(out) => {
            let code = out.status.code().unwrap_or(-1);
            if code != case.code {
                problems.push(format!("exit code {code}, expected {}", case.code));
            }
            if let Some(want) = &case.stdout
                && out.stdout != *want
            {
                problems.push(format!("stdout: {}", first_difference(&out.stdout, want)));
            }
            match &case.stderr {
                Expect::Exact(want) if out.stderr != *want => {
                    problems.push(format!("stderr: {}", first_difference(&out.stderr, want)));
                }
                Expect::Contains(piece)
                    if !String::from_utf8_lossy(&out.stderr).contains(piece.as_str()) =>
                {
                    problems.push(format!(
                        "stderr does not say `{piece}`: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                _ => {}
            }
        }
    }
    Outcome {
        name: case.name.clone(),
        took,
        problems,
    }
}

/// Runs `cases` `jobs` at a time (boots only; refusals are instant), in order.
fn run_all(exe: &Path, cases: &[Case], jobs: usize) -> Vec<Outcome> {
    crate::jobs::map(cases, jobs, |case| {
        let outcome = run_case(exe, case);
        log_outcome(&outcome);
        outcome
    })
}

/// The overhead of one arch: QEMU's whole run of a program that exits at once, next to
/// the kernel's own boot time.
struct Overhead {
    arch: Arch,
    kernel_uptime: f64,
    qemu: f64,
    total: f64,
    /// With `--kernel-log`: QEMU's start to the kernel's first line, that line to the
    /// program's start, and QEMU's whole run.
    kernel_start: f64,
    logged_boot: f64,
    logged_qemu: f64,
}

/// The figures of `-v`'s line, in seconds from QEMU's start (`total`: from the command's).
#[derive(Debug, PartialEq)]
struct Timing {
    /// Only with `--kernel-log`.
    kernel_start: Option<f64>,
    kernel_uptime: f64,
    to_exec: f64,
    qemu: f64,
    total: f64,
}

/// Reads `-v`'s line: `prepare 0.02s, kernel started at 0.15s, program started at 2.36s
/// (kernel uptime 1.70s), exit status at 2.41s, QEMU ran 2.43s, total 2.45s`.
fn parse_timings(stderr: &str) -> Option<Timing> {
    let line = stderr.lines().find(|l| l.contains("program started at"))?;
    let after = |key: &str| -> Option<f64> {
        let at = line.find(key)? + key.len();
        line[at..]
            .trim_start()
            .split(['s', ' ', ')', ','])
            .next()?
            .parse()
            .ok()
    };
    Some(Timing {
        kernel_start: after("kernel started at"),
        kernel_uptime: after("kernel uptime")?,
        to_exec: after("program started at")?,
        qemu: after("QEMU ran")?,
        total: after("total")?,
    })
}

/// Two boots of a program that exits at once: one as users run it (`-v`: the kernel's
/// uptime when the program started), one with `--kernel-log` (the kernel's first line; its
/// printing makes that boot slower, so the uptime figures come from the first).
fn measure(exe: &Path, arch: Arch, program: &Path) -> Result<Overhead> {
    let timings = |extra: &[&str]| -> Result<Timing> {
        let mut flags = vec!["-v"];
        flags.extend(extra);
        let out = Command::new(exe)
            .args(run_args(
                arch,
                &flags,
                program,
                &["sleep".into(), "0".into()],
            ))
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        parse_timings(&stderr).with_context(|| format!("no timings from {arch}: {stderr}"))
    };
    let plain = timings(&[])?;
    let logged = timings(&["--kernel-log"])?;
    let kernel_start = logged
        .kernel_start
        .with_context(|| format!("{arch}: no `Linux version` line with --kernel-log"))?;
    Ok(Overhead {
        arch,
        kernel_uptime: plain.kernel_uptime,
        qemu: plain.qemu,
        total: plain.total,
        kernel_start,
        logged_boot: logged.to_exec - kernel_start,
        logged_qemu: logged.qemu,
    })
}

/// A dynamic program that needs a library no directory has (built against a stub that
/// is then removed).
fn missing_library_program(arch: Arch) -> Result<PathBuf> {
    let dir = build_dir().join(format!("missing-{arch}"));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("stub.c"),
        "int clonekit_stub(void) { return 1; }\n",
    )?;
    std::fs::write(
        dir.join("main.c"),
        "int clonekit_stub(void);\nint main(void) { return clonekit_stub(); }\n",
    )?;
    let mut stub = Command::new(compiler(arch));
    stub.args(["-shared", "-fPIC", "-o"])
        .arg(dir.join("libclonekitmissing.so"))
        .arg(dir.join("stub.c"));
    run_compiler(stub, arch)?;
    let program = dir.join("needs-missing");
    let mut main = Command::new(compiler(arch));
    main.arg("-o")
        .arg(&program)
        .arg(dir.join("main.c"))
        .arg("-L")
        .arg(&dir)
        .arg("-lclonekitmissing");
    run_compiler(main, arch)?;
    std::fs::remove_file(dir.join("libclonekitmissing.so"))?;
    Ok(program)
}

/// Fetches the kernels and builds the guest programs the cases use, here, so that no
/// case's stderr holds a first-use message.
pub fn warm_caches(arches: &[Arch]) -> Result<()> {
    for &arch in arches {
        crate::run::guest::get(arch)?;
        for name in [crate::kernel::DEFAULT, "6.1"] {
            if let Ok(release) = crate::kernel::release_for(name, arch) {
                crate::kernel::get(release, arch)?;
            }
        }
    }
    Ok(())
}

/// The crate [`runner_crate`] writes: tests that hold only in the guest.
const USER_TESTS: &str = r#"
#[test]
fn pid_1_is_clonekit_init() {
    // The kernel's /init: clonekit-init, whose command name is "init".
    assert_eq!(std::fs::read_to_string("/proc/1/comm").unwrap(), "init\n");
}

#[test]
fn tmp_is_writable() {
    std::fs::write("/tmp/runner-check", b"data").unwrap();
    assert_eq!(std::fs::read("/tmp/runner-check").unwrap(), b"data");
}

#[test]
fn cargo_variables_and_the_working_directory_arrive() {
    assert_eq!(std::env::var("CARGO_PKG_NAME").unwrap(), "runner-user");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    assert_eq!(dir, env!("CARGO_MANIFEST_DIR"));
    assert_eq!(std::env::current_dir().unwrap(), std::path::Path::new(&dir));
}
"#;

/// Writes a crate whose `.cargo/config.toml` makes `exe` the runner of every target, in
/// `dir`, and returns the number of its tests.
fn runner_crate(dir: &Path, exe: &Path, arches: &[Arch]) -> Result<usize> {
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::create_dir_all(dir.join(".cargo"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"runner-user\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )?;
    std::fs::write(dir.join("src/lib.rs"), USER_TESTS)?;
    let mut config = String::new();
    for &arch in arches {
        config.push_str(&format!("[target.{}]\n", arch.triple()));
        if Some(arch) != Arch::host() {
            config.push_str(&format!("linker = \"{}\"\n", compiler(arch)));
        }
        config.push_str(&format!(
            "runner = [\"{}\", \"run\", \"--arch\", \"{}\", \"--\"]\n\n",
            exe.display(),
            arch.name()
        ));
    }
    std::fs::write(dir.join(".cargo/config.toml"), config)?;
    Ok(USER_TESTS.matches("#[test]").count())
}

/// `cargo test --target <triple> [-- ARGS]` in the user's crate: passes when cargo
/// reports `expected` tests passed.
fn user_cargo_test(dir: &Path, arch: Arch, test_args: &[&str], expected: usize) -> Outcome {
    let started = Instant::now();
    let mut args = vec!["test", "--target", arch.triple()];
    if !test_args.is_empty() {
        args.push("--");
        args.extend(test_args);
    }
    let plan = crate::cargo::plan(
        crate::cargo::Toolchain::Current,
        &args,
        &[],
        &crate::cargo::Outer::here(),
    );
    let output = plan
        .command()
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output();
    let mut problems = Vec::new();
    match output {
        Err(e) => problems.push(format!("running cargo: {e}")),
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let want = format!("test result: ok. {expected} passed; 0 failed");
            if !out.status.success() || !text.contains(&want) {
                problems.push(format!(
                    "{} (wanted `{want}`): {}{}",
                    out.status,
                    text.trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
    }
    Outcome {
        name: format!(
            "runner line outside the checkout: {arch} cargo test{}",
            if test_args.is_empty() {
                String::new()
            } else {
                format!(" -- {}", test_args.join(" "))
            }
        ),
        took: started.elapsed(),
        problems,
    }
}

/// The runner as a user has it: this binary copied outside the checkout, a new crate in a
/// temporary directory, `cargo test --target <triple>` for each arch (and once with a
/// filter argument), one after another (cargo locks the crate's target directory).
fn user_runner(exe: &Path, arches: &[Arch]) -> Result<Vec<Outcome>> {
    let dir = std::env::temp_dir().join(format!("clonekit-runner-check-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(dir.join("bin"))?;
    let copy = dir.join("bin").join("clonekit-qemu");
    std::fs::copy(exe, &copy).with_context(|| format!("copying {}", exe.display()))?;
    let crate_dir = dir.join("user");
    let tests = runner_crate(&crate_dir, &copy, arches)?;
    let mut outcomes = Vec::new();
    for &arch in arches {
        let outcome = user_cargo_test(&crate_dir, arch, &[], tests);
        log_outcome(&outcome);
        outcomes.push(outcome);
    }
    if let Some(&arch) = arches.first() {
        let outcome = user_cargo_test(&crate_dir, arch, &["--exact", "tmp_is_writable"], 1);
        log_outcome(&outcome);
        outcomes.push(outcome);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(outcomes)
}

fn log_outcome(outcome: &Outcome) {
    progress::line(format_args!(
        "run-check: {} {} in {}",
        outcome.name,
        if outcome.problems.is_empty() {
            "ok"
        } else {
            "FAILED"
        },
        progress::human(outcome.took)
    ));
}

/// The whole check; fails when any case does.
pub fn run(arches: &[Arch], jobs: usize) -> Result<()> {
    let exe = std::env::current_exe().context("finding this binary")?;
    let started = Instant::now();
    warm_caches(arches)?;
    let mut cases = Vec::new();
    let mut statics = Vec::new();
    for &arch in arches {
        let s = build(arch, Linkage::Static)?;
        let d = build(arch, Linkage::Dynamic)?;
        cases.push(echo_case(
            format!("{arch} static echo (exit 0)"),
            arch,
            &[],
            &s,
            0,
        ));
        cases.push(echo_case(
            format!("{arch} dynamic echo (exit 3)"),
            arch,
            &[],
            &d,
            3,
        ));
        for (linkage, program) in [("static", &s), ("dynamic", &d)] {
            cases.push(Case {
                name: format!("{arch} {linkage} signal 11 (exit 139)"),
                args: run_args(arch, &[], program, &["signal".into(), "11".into()]),
                code: 139,
                stdout: Some(b"before the signal".to_vec()),
                stderr: Expect::Exact(b"dying of signal 11".to_vec()),
                boots: true,
            });
        }
        if arch != Arch::Riscv64 {
            cases.push(echo_case(
                format!("{arch} static echo on Linux 6.1 (8250 serial ports)"),
                arch,
                &["--kernel", "6.1"],
                &s,
                0,
            ));
        }
        statics.push((arch, s));
    }
    // First in the list: it is the longest case, and the other slots' boots go on beside it.
    // 10 s is four times an aarch64 boot's wall time, and "sleeping" on stdout shows that the
    // program had started when the time ran out.
    if let Some((arch, program)) = statics.iter().find(|(a, _)| *a == Arch::Aarch64) {
        cases.insert(
            0,
            Case {
                name: format!("{arch} timeout (exit 124)"),
                args: run_args(
                    *arch,
                    &["--timeout", "10"],
                    program,
                    &["sleep".into(), "600".into()],
                ),
                code: 124,
                stdout: Some(b"sleeping\n".to_vec()),
                stderr: Expect::Contains("did not end within 10 s".into()),
                boots: true,
            },
        );
    }
    // Refusals: nothing boots.
    if let (Some((_, x86)), Some(other)) = (
        statics.iter().find(|(a, _)| *a == Arch::X86_64),
        arches.iter().find(|a| **a != Arch::X86_64),
    ) {
        cases.push(refusal(
            &format!("refused: an x86_64 ELF with --arch {other}"),
            run_args(*other, &[], x86, &[]),
            &format!("is an ELF for x86_64, not {other}"),
        ));
    }
    if let Some(&arch) = arches.iter().find(|a| a.is_cross()) {
        let program = missing_library_program(arch)?;
        cases.push(refusal(
            &format!("refused: {arch} program needing a missing library"),
            run_args(arch, &[], &program, &[]),
            "libclonekitmissing.so (needed by",
        ));
    }
    if let Some((arch, program)) = statics.first() {
        cases.push(refusal(
            "refused: --timeout 0",
            run_args(*arch, &["--timeout", "0"], program, &[]),
            "the timeout must be at least 1 second",
        ));
        let not_a_kernel = build_dir().join("runcheck.c");
        cases.push(refusal(
            "refused: --kernel-image that is no kernel",
            run_args(
                *arch,
                &["--kernel-image", &not_a_kernel.display().to_string()],
                program,
                &[],
            ),
            &format!("is not a kernel QEMU can boot on {arch}"),
        ));
        let script = build_dir().join("script.sh");
        std::fs::write(&script, "#!/bin/sh\necho hi\n")?;
        cases.push(refusal(
            "refused: a script whose interpreter is not packed",
            run_args(*arch, &[], &script, &[]),
            "is a script for /bin/sh, which is not in the guest",
        ));
    }
    let boots = cases.iter().filter(|c| c.boots).count();
    progress::line(format_args!(
        "run-check: {} cases ({boots} boots, {jobs} at a time) on {}",
        cases.len(),
        arches
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut outcomes = run_all(&exe, &cases, jobs);
    outcomes.extend(user_runner(&exe, arches)?);
    let mut overheads = Vec::new();
    for (arch, program) in &statics {
        overheads.push(measure(&exe, *arch, program)?);
    }
    println!();
    println!("{:<64} {:>7}  result", "case", "time");
    for o in &outcomes {
        println!(
            "{:<64} {:>7}  {}",
            o.name,
            progress::human(o.took),
            if o.problems.is_empty() {
                "ok".to_string()
            } else {
                o.problems.join("; ")
            }
        );
    }
    println!();
    println!(
        "{:<8} {:>13} {:>9} {:>11} {:>7} | {:>12} {:>11} {:>9} {:>13}",
        "arch",
        "kernel uptime",
        "QEMU ran",
        "QEMU-uptime",
        "wall",
        "kernel start",
        "logged boot",
        "QEMU ran",
        "QEMU-logged"
    );
    for o in &overheads {
        println!(
            "{:<8} {:>12.2}s {:>8.2}s {:>10.2}s {:>6.2}s | {:>11.2}s {:>10.2}s {:>8.2}s {:>12.2}s",
            o.arch.name(),
            o.kernel_uptime,
            o.qemu,
            o.qemu - o.kernel_uptime,
            o.total,
            o.kernel_start,
            o.logged_boot,
            o.logged_qemu,
            o.logged_qemu - o.logged_boot
        );
    }
    println!(
        "(a static program that exits at once. Left, as users run it: the kernel's uptime when \
         the program started (its clock starts in time_init(), after ftrace's boot-time \
         patching), QEMU's run, the difference. Right, with --kernel-log: QEMU's start to the \
         kernel's first line, that line to the program's start, QEMU's run, the difference: \
         QEMU's start and firmware, and the program's end to QEMU's exit. All in {})",
        progress::human(started.elapsed())
    );
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.problems.is_empty()).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} of {} cases failed: {}",
            failed.len(),
            outcomes.len(),
            failed
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_is_the_c_programs_lcg() {
        // seed 1: 1103515245 + 12345 = 1103527590 = 0x41c67ea6 -> byte 0xc6.
        assert_eq!(pattern(1, 1), [0xc6]);
        assert_eq!(pattern(2, 3).len(), 3);
        assert_ne!(pattern(1, 64), pattern(2, 64));
    }

    #[test]
    fn the_expected_echo_output_holds_every_part() {
        let (out, err) = echo_expected(Path::new("/t/p"), 3);
        assert!(out.starts_with(b"arg:/t/p\narg:echo\narg:3\narg:a b\narg:\narg:--\narg:x\ny\n"));
        assert!(out.windows(7).any(|w| w == b"\xff\xfe!\nenv"));
        assert_eq!(out.len(), {
            let args: usize = [
                "/t/p", "echo", "3", "a b", "", "--", "x\ny", "quote\"d", "xxx",
            ]
            .iter()
            .map(|a| a.len() + 5)
            .sum();
            let env: usize = ECHO_ENV.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
            args + env + 256 + 200_000
        });
        assert!(err.ends_with(b"end without a newline"));
        assert_eq!(err.len(), 10 + 50_000 + 21);
    }

    #[test]
    fn timings_are_read_from_the_verbose_line() {
        let line = "clonekit-qemu: prepare 0.02s, kernel started at 0.15s, program started at \
                    2.36s (kernel uptime 1.70s), exit status at 2.41s, QEMU ran 2.43s, total \
                    2.45s\n";
        let want = Timing {
            kernel_start: Some(0.15),
            kernel_uptime: 1.70,
            to_exec: 2.36,
            qemu: 2.43,
            total: 2.45,
        };
        assert_eq!(parse_timings(line), Some(want));
        // Without --kernel-log, no first line.
        let want = Timing {
            kernel_start: None,
            kernel_uptime: 1.70,
            to_exec: 2.36,
            qemu: 2.43,
            total: 2.45,
        };
        assert_eq!(parse_timings(&line.replace("0.15s", "-")), Some(want));
        assert_eq!(parse_timings("nothing"), None);
    }
}
