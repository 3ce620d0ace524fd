//! clonekit's own tests in real kernels through the runner (`cargo qemu guest-test`, a
//! step of the test command), on the default kernel, for each arch, with
//! `target.<triple>.runner = [<this binary>, "run", "--arch", ARCH, "--busybox", "--"]`:
//!
//! - `cargo test -p clonekit --target <triple>`: the library's unit tests, its integration
//!   tests and its doc tests (the runner runs rustdoc's merged doctests one process each,
//!   as rustdoc does natively; see [`super::doctest_bundle_env`]);
//! - `cargo test -p clonekit-testkit --target <triple>` for the kit's library and the tests
//!   that need a kernel: the namespace proofs (`cases`, PID 1 of new namespaces), the
//!   5,000-combination differential check, the Linux 7 tests, the observers, the thread
//!   tests. Left out: `package` and `static_init`, which drive the host's cargo; `fuzz`,
//!   which makes no syscall (it runs under qemu-user on each arch); the uapi header test,
//!   which reads a header on the host (its own step).
//!
//! Under qemu-user, 25 of clonekit's tests and the kit's namespace proofs, differential check
//! and Linux 7 tests `SKIP` (no namespaces, no clone3, no pidfds, no subreaper, ...); in the
//! guest none may: the step fails on any `SKIP` line, any failed test, a soundness summary
//! with a skip, and a KTAP report with a failure. The KTAP report's own SKIPs are the kit's
//! by design (cases that need an `entry!` program or Linux 7.1, which init-demo runs in the
//! boot matrix) and are counted apart.
//!
//! The builds run one after another (cargo locks the target directory), then the runs go
//! [`matrix::default_jobs`](crate::matrix::default_jobs) at a time, each test binary one
//! boot.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::cargo::{self, Outer, Toolchain};
use crate::{limit, progress, workspace};

/// One `cargo test` of the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// clonekit: unit, integration and doc tests.
    Clonekit,
    /// The kit's tests that need a kernel (see the module's documentation).
    Kit,
}

impl Suite {
    pub const ALL: [Suite; 2] = [Suite::Clonekit, Suite::Kit];

    pub fn name(self) -> &'static str {
        match self {
            Suite::Clonekit => "clonekit",
            Suite::Kit => "kit",
        }
    }
}

/// The kit's test targets that run in the guest.
const KIT_TESTS: [&str; 5] = ["cases", "differential", "linux7", "observe", "threads"];

/// The cargo arguments, without the runner and the test filter ([`test_filter`]).
pub fn test_args(arch: Arch, suite: Suite) -> Vec<String> {
    let mut args = match suite {
        Suite::Clonekit => vec!["test", "-p", "clonekit", "--target", arch.triple()],
        Suite::Kit => vec![
            "test",
            "-p",
            "clonekit-testkit",
            "--target",
            arch.triple(),
            "--lib",
        ],
    };
    if suite == Suite::Kit {
        for test in KIT_TESTS {
            args.extend(["--test", test]);
        }
    }
    args.iter().map(|s| s.to_string()).collect()
}

/// What follows cargo's `--`: the kit's uapi header test reads a file of the host.
pub fn test_filter(suite: Suite) -> &'static [&'static str] {
    match suite {
        Suite::Clonekit => &[],
        Suite::Kit => &["--skip", "every_flag_matches_debians_newest_uapi_header"],
    }
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
    /// The KTAP report's `# Totals:` (pass, fail, skip), if one was printed.
    pub ktap: Option<(usize, usize, usize)>,
    /// The KTAP report's SKIPs whose reason is not one of [`KIT_SKIPS_BY_DESIGN`].
    pub unexpected_ktap_skips: Vec<String>,
}

/// Why a case of the kit's namespace proofs may SKIP in the guest when run as a std
/// program (`testkit/tests/cases.rs`): each such case runs in init-demo, the guest's real
/// PID 1 and an `entry!` program, in the boot matrix on every kernel. The kit's own words
/// (`case::NEEDS_ENTRY`, `cases::linux7`, `cases::namespaces_in_depth`), checked by a test.
pub const KIT_SKIPS_BY_DESIGN: [&str; 3] = [
    "clonekit threads need an entry! program",
    "needs Linux 7.1",
    "this /proc is a nested PID namespace's",
];

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
        } else if let Some((_, reason)) = line.split_once(" # SKIP ")
            && line.trim_start().starts_with("ok ")
        {
            if !KIT_SKIPS_BY_DESIGN.iter().any(|r| reason.starts_with(r)) {
                s.unexpected_ktap_skips.push(line.trim().to_string());
            }
        } else if let Some(rest) = line.strip_prefix("# Totals:") {
            let field = |key: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(key)?.parse().ok())
                    .unwrap_or(0)
            };
            s.ktap = Some((field("pass:"), field("fail:"), field("skip:")));
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
    let mut runs = Vec::new();
    for &arch in arches {
        crate::run::guest::get(arch)?;
        crate::kernel::get(
            crate::kernel::release_for(crate::kernel::DEFAULT, arch)?,
            arch,
        )?;
        crate::run::busybox::get(arch)?;
        for suite in Suite::ALL {
            let mut args = test_args(arch, suite);
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
                bail!(
                    "building the {arch} {} tests failed ({status})",
                    suite.name()
                );
            }
            runs.push((arch, suite));
        }
    }
    let results = crate::jobs::map(&runs, jobs, |&(arch, suite)| {
        run_one(arch, suite, &exe, &outer, &dir)
    });
    println!();
    println!(
        "{:<17} {:>9} {:>7} {:>7} {:>6} {:>8}  log",
        "arch suite", "binaries", "passed", "failed", "SKIP", "time"
    );
    let mut wrong = Vec::new();
    for ((arch, suite), result) in runs.iter().zip(&results) {
        let label = format!("{arch} {}", suite.name());
        match result {
            Ok((summary, ok, took, log)) => {
                println!(
                    "{label:<17} {:>9} {:>7} {:>7} {:>6} {:>8}  {}",
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
                if let Some((pass, fail, skip)) = summary.ktap {
                    println!(
                        "    the kit's KTAP report: {pass} pass, {fail} fail, {skip} SKIP ({} \
                         by design: an entry! program, Linux 7.1 or the first PID namespace's \
                         /proc, each run by init-demo in the boot matrix)",
                        skip.saturating_sub(summary.unexpected_ktap_skips.len())
                    );
                }
                for skip in &summary.unexpected_ktap_skips {
                    println!("    unexpected: {skip}");
                }
                if !ok || summary.failed > 0 || summary.ktap.is_some_and(|(_, f, _)| f > 0) {
                    wrong.push(format!("{label}: tests failed (log {})", log.display()));
                } else if !summary.skips.is_empty() {
                    wrong.push(format!(
                        "{label}: {} SKIPs in the guest",
                        summary.skips.len()
                    ));
                } else if !summary.unexpected_ktap_skips.is_empty() {
                    wrong.push(format!(
                        "{label}: {} KTAP SKIPs for a reason that is not by design",
                        summary.unexpected_ktap_skips.len()
                    ));
                } else if summary.passed == 0 {
                    wrong.push(format!("{label}: no test ran"));
                } else if *suite == Suite::Kit && summary.ktap.is_none_or(|(p, _, _)| p == 0) {
                    wrong.push(format!(
                        "{label}: the namespace proofs printed no KTAP totals"
                    ));
                }
            }
            Err(e) => {
                println!("{label:<17} {e:#}");
                wrong.push(format!("{label}: {e:#}"));
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        bail!("{}", wrong.join("; "))
    }
}

/// How long one `cargo test` may take (TCG; about 10-20 s when quiet).
const LIMIT: Duration = Duration::from_secs(15 * 60);

type RunResult = (Summary, bool, Duration, PathBuf);

fn run_one(arch: Arch, suite: Suite, exe: &Path, outer: &Outer, dir: &Path) -> Result<RunResult> {
    let mut args = test_args(arch, suite);
    args.extend([
        "--no-fail-fast".into(),
        "--config".into(),
        runner_config(arch, exe)?,
    ]);
    let filter = test_filter(suite);
    if !filter.is_empty() {
        args.push("--".into());
        args.extend(filter.iter().map(|s| s.to_string()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let plan = cargo::plan(Toolchain::Current, &args, &[], outer);
    let log = dir.join(format!("guest-test-{arch}-{}.log", suite.name()));
    let file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    progress::line(format_args!(
        "guest-test: {arch} {}: {} (output in {})",
        suite.name(),
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
        "guest-test: {arch} {}: {} passed, {} failed, {} SKIP in {}",
        suite.name(),
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
                ktap: None,
                unexpected_ktap_skips: vec![],
            }
        );
        let clean = summarize("soundness: 12 passed, 0 failed, 0 skipped\n");
        assert_eq!((clean.passed, clean.skips.len()), (12, 0));
        let kit = summarize(
            "  ok 1 a # SKIP needs Linux 7.1 (CLONE_AUTOREAP)\n  ok 2 b # SKIP no /dev/kvm\n\
             # Totals: pass:100 fail:0 skip:23 total:123\n",
        );
        assert_eq!((kit.ktap, kit.skips.len()), (Some((100, 0, 23)), 0));
        assert_eq!(kit.unexpected_ktap_skips, ["ok 2 b # SKIP no /dev/kvm"]);
    }

    #[test]
    fn the_skips_by_design_are_the_kits_own_words() {
        let kit = crate::workspace::root().join("testkit/src");
        let mut sources = String::new();
        for file in ["case.rs", "cases/linux7.rs", "cases/namespaces_in_depth.rs"] {
            sources += &std::fs::read_to_string(kit.join(file)).unwrap();
        }
        for reason in KIT_SKIPS_BY_DESIGN {
            assert!(sources.contains(reason), "{reason:?} is not in the kit");
        }
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
            test_args(Arch::Aarch64, Suite::Clonekit),
            [
                "test",
                "-p",
                "clonekit",
                "--target",
                "aarch64-unknown-linux-gnu"
            ]
        );
        let kit = test_args(Arch::Riscv64, Suite::Kit).join(" ");
        assert_eq!(
            kit,
            "test -p clonekit-testkit --target riscv64gc-unknown-linux-gnu --lib --test cases \
             --test differential --test linux7 --test observe --test threads"
        );
        assert!(test_filter(Suite::Clonekit).is_empty());
        assert_eq!(
            test_filter(Suite::Kit),
            ["--skip", "every_flag_matches_debians_newest_uapi_header"]
        );
    }
}
