//! clonekit's own tests in real kernels through the runner (`cargo qemu guest-test`, a
//! step of the test command): `cargo test -p clonekit --target <triple> --lib --tests`
//! with `target.<triple>.runner = [<this binary>, "run", "--arch", ARCH, "--busybox",
//! "--"]`, on the default kernel, for each arch.
//!
//! Under qemu-user, 25 of these tests `SKIP` (no namespaces, no clone3, no pidfds, no
//! subreaper, ...); in the guest none may: the step fails on any `SKIP` line, any failed
//! test, and a soundness summary with a skip.
//!
//! The builds run one after another (cargo locks the target directory), then the test
//! runs [`matrix::default_jobs`](crate::matrix::default_jobs) at a time, each test binary
//! one boot. Doc tests are left out: rustdoc hands a runner the merged doctest binary alone
//! (without the marker that makes it run each doctest in a process of its own), so every
//! doctest runs as a thread of one process, where clonekit's fork examples refuse to run
//! (`MultiThreaded`); they run natively in the host step.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::cargo::{self, Outer, Toolchain};
use crate::{limit, progress, workspace};

/// The cargo arguments, without the runner.
pub fn test_args(arch: Arch) -> Vec<String> {
    [
        "test",
        "-p",
        "clonekit",
        "--target",
        arch.triple(),
        "--lib",
        "--tests",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `target.<triple>.runner=[...]` naming `exe` (this binary) as the runner.
pub fn runner_config(arch: Arch, exe: &Path) -> Result<String> {
    let exe = exe
        .to_str()
        .with_context(|| format!("{} is not UTF-8", exe.display()))?;
    if exe.contains(['"', '\\']) || exe.chars().any(char::is_control) {
        bail!("the path {exe:?} cannot be written in a TOML string as is");
    }
    Ok(format!(
        "target.{}.runner=[\"{exe}\", \"run\", \"--arch\", \"{}\", \"--busybox\", \"--\"]",
        arch.triple(),
        arch.name()
    ))
}

/// What one arch's run showed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// `test result:` lines (one per libtest binary) and the soundness line.
    pub binaries: usize,
    pub passed: usize,
    pub failed: usize,
    /// `SKIP ...` lines.
    pub skips: Vec<String>,
}

/// Reads cargo test's output (stdout and stderr together).
pub fn summarize(output: &str) -> Summary {
    let mut s = Summary::default();
    let number = |line: &str, key: &str| -> usize {
        line.split([';', ','])
            .find_map(|part| {
                part.trim()
                    .strip_suffix(key)?
                    .trim()
                    .rsplit(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    for line in output.lines() {
        let line = line.trim_end();
        if line.starts_with("test result:") {
            s.binaries += 1;
            s.passed += number(line, "passed");
            s.failed += number(line, "failed");
        } else if let Some(rest) = line.strip_prefix("soundness:") {
            s.binaries += 1;
            s.passed += number(rest, "passed");
            s.failed += number(rest, "failed");
            let skipped = number(rest, "skipped");
            if skipped > 0 {
                s.skips.push(format!("soundness: {skipped} skipped"));
            }
        } else if line.starts_with("SKIP ") {
            s.skips.push(line.to_string());
        }
    }
    s
}

/// The whole step.
pub fn run(arches: &[Arch], jobs: usize) -> Result<()> {
    let exe = std::env::current_exe().context("finding this binary")?;
    let outer = Outer::here();
    let dir = workspace::qemu_dir();
    std::fs::create_dir_all(&dir)?;
    // Builds first, one at a time (cargo holds the build directory's lock anyway); the
    // guest programs and the kernel too, so that the runs start at once.
    for &arch in arches {
        crate::run::guest::get(arch)?;
        crate::kernel::get(
            crate::kernel::release_for(crate::kernel::DEFAULT, arch)?,
            arch,
        )?;
        crate::run::busybox::get(arch)?;
        let mut args = test_args(arch);
        args.push("--no-run".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let plan = cargo::plan(Toolchain::Current, &args, &[], &outer);
        progress::line(format_args!("guest-test: {}", plan.display()));
        let status = plan
            .command()
            .current_dir(workspace::root())
            .status()
            .context("running cargo")?;
        if !status.success() {
            bail!("building the {arch} tests failed ({status})");
        }
    }
    let results = crate::jobs::map(arches, jobs, |&arch| run_arch(arch, &exe, &outer, &dir));
    println!();
    println!(
        "{:<8} {:>9} {:>7} {:>7} {:>6} {:>8}  log",
        "arch", "binaries", "passed", "failed", "SKIP", "time"
    );
    let mut wrong = Vec::new();
    for (arch, result) in arches.iter().zip(&results) {
        match result {
            Ok((summary, ok, took, log)) => {
                println!(
                    "{:<8} {:>9} {:>7} {:>7} {:>6} {:>8}  {}",
                    arch.name(),
                    summary.binaries,
                    summary.passed,
                    summary.failed,
                    summary.skips.len(),
                    progress::human(*took),
                    log.display()
                );
                for skip in &summary.skips {
                    println!("    {skip}");
                }
                if !ok || summary.failed > 0 {
                    wrong.push(format!("{arch}: tests failed (log {})", log.display()));
                } else if !summary.skips.is_empty() {
                    wrong.push(format!(
                        "{arch}: {} SKIPs in the guest",
                        summary.skips.len()
                    ));
                } else if summary.passed == 0 {
                    wrong.push(format!("{arch}: no test ran"));
                }
            }
            Err(e) => {
                println!("{:<8} {e:#}", arch.name());
                wrong.push(format!("{arch}: {e:#}"));
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        bail!("{}", wrong.join("; "))
    }
}

/// How long one arch's tests may take (TCG; about 10 s when quiet).
const LIMIT: Duration = Duration::from_secs(15 * 60);

type ArchResult = (Summary, bool, Duration, PathBuf);

fn run_arch(arch: Arch, exe: &Path, outer: &Outer, dir: &Path) -> Result<ArchResult> {
    let mut args = test_args(arch);
    args.extend([
        "--no-fail-fast".into(),
        "--config".into(),
        runner_config(arch, exe)?,
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let plan = cargo::plan(Toolchain::Current, &args, &[], outer);
    let log = dir.join(format!("guest-test-{arch}.log"));
    let file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    progress::line(format_args!(
        "guest-test: {arch}: {} (output in {})",
        plan.display(),
        log.display()
    ));
    let started = Instant::now();
    let mut child = limit::own_group(&mut plan.command())
        .current_dir(workspace::root())
        .stdout(Stdio::from(file.try_clone()?))
        .stderr(Stdio::from(file))
        .spawn()
        .context("running cargo")?;
    let status = limit::wait(&mut child, LIMIT, Duration::from_millis(200))?;
    let took = started.elapsed();
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let summary = summarize(&output);
    let Some(status) = status else {
        bail!(
            "killed after {} (log {})",
            progress::human(LIMIT),
            log.display()
        );
    };
    progress::line(format_args!(
        "guest-test: {arch}: {} passed, {} failed, {} SKIP in {}",
        summary.passed,
        summary.failed,
        summary.skips.len(),
        progress::human(took)
    ));
    Ok((summary, status.success(), took, log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_skips_and_the_soundness_line_are_counted() {
        let output = "\
     Running unittests src/lib.rs (/t/deps/clonekit-1)
test result: ok. 137 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.60s
SKIP clone3_is_used_when_asked_or_needed: qemu-user has no clone3 (ENOSYS)
test result: FAILED. 13 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.3s
soundness: 4 passed, 0 failed, 8 skipped
test sys::fs::tests::poll_skips_an_ignored_entry ... ok
";
        let s = summarize(output);
        assert_eq!(
            s,
            Summary {
                binaries: 3,
                passed: 154,
                failed: 1,
                skips: vec![
                    "SKIP clone3_is_used_when_asked_or_needed: qemu-user has no clone3 (ENOSYS)"
                        .into(),
                    "soundness: 8 skipped".into()
                ],
            }
        );
        let clean = summarize("soundness: 12 passed, 0 failed, 0 skipped\n");
        assert_eq!((clean.passed, clean.skips.len()), (12, 0));
    }

    #[test]
    fn the_runner_is_this_binary_with_busybox() {
        let config =
            runner_config(Arch::Riscv64, Path::new("/w/target/release/clonekit-qemu")).unwrap();
        assert_eq!(
            config,
            "target.riscv64gc-unknown-linux-gnu.runner=[\"/w/target/release/clonekit-qemu\", \
             \"run\", \"--arch\", \"riscv64\", \"--busybox\", \"--\"]"
        );
        assert!(runner_config(Arch::X86_64, Path::new("/a\"b")).is_err());
        assert_eq!(
            test_args(Arch::Aarch64),
            [
                "test",
                "-p",
                "clonekit",
                "--target",
                "aarch64-unknown-linux-gnu",
                "--lib",
                "--tests"
            ]
        );
    }
}
