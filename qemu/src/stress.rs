//! `stress`: runs clonekit's host test binaries again and again, many tests at once, and
//! reports the runs that hang or fail.
//!
//! A test that leaks a descriptor into a concurrent test's child (a pipe end copied by a
//! fork) can make two tests wait for each other's end of file: a hang once in hundreds of
//! runs, which one `cargo test` does not show. Each binary runs with `--test-threads=N`
//! (default 8) under a time limit; a run past it counts as a hang and its process group is
//! killed. The long single-test binaries (the 5,000-combination differential test, the
//! fuzzers) and the `harness = false` programs have no concurrency to stress and are left
//! out.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cargo::{self, Outer, Toolchain};
use crate::{limit, progress, workspace};

/// What `stress` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub rounds: u32,
    pub test_threads: u32,
    /// How long one binary may run before it counts as hung.
    pub limit: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            rounds: 300,
            test_threads: 8,
            limit: Duration::from_secs(60),
        }
    }
}

/// Test binaries without concurrency worth stressing: one long test each, or `harness =
/// false` programs (`cases`, `soundness`) that run their cases one after another whatever
/// `--test-threads` says (and were 90% of a round's time).
const LEFT_OUT: &[&str] = &[
    "differential",
    "fuzz",
    "package",
    "static_init",
    "cases",
    "soundness",
];

/// One test binary of the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBinary {
    pub name: String,
    pub path: PathBuf,
}

/// The test binaries `cargo test -p clonekit --no-run --message-format=json` reports: each
/// `compiler-artifact` line of a target with `"test":true` that has an executable.
pub fn parse_test_binaries(json_lines: &str) -> Vec<TestBinary> {
    json_lines
        .lines()
        .filter(|l| l.contains(r#""reason":"compiler-artifact""#) && l.contains(r#""test":true"#))
        .filter_map(|l| {
            let path = string_field(l, "executable")?;
            let target = &l[l.find(r#""target":{"#)?..];
            let name = string_field(target, "name")?;
            Some(TestBinary {
                name,
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// The first `"key":"value"` of a JSON line (cargo escapes nothing in paths and names it
/// writes here but `\` and `"`, which clonekit's paths do not hold).
fn string_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!(r#""{key}":""#))? + key.len() + 4;
    let end = start + line[start..].find('"')?;
    Some(line[start..end].to_string())
}

/// How one run of one binary ended.
#[derive(Debug, PartialEq, Eq)]
enum Run {
    Passed,
    Failed(String),
    Hung,
}

/// Builds the binaries, then runs each of them `rounds` times; prints every hang and
/// failure, a summary, and `stress: N passed, N failed` (runs); returns the runs that hung
/// or failed.
pub fn run(options: &Options) -> Result<usize> {
    let out = cargo::plan(
        Toolchain::Current,
        &[
            "test",
            "-p",
            "clonekit",
            "-p",
            "clonekit-testkit",
            "--no-run",
            "--message-format=json",
        ],
        &[],
        &Outer::here(),
    )
    .command()
    .current_dir(workspace::root())
    .stderr(Stdio::inherit())
    .output()
    .context("building the test binaries")?;
    if !out.status.success() {
        bail!("building the test binaries failed ({})", out.status);
    }
    let binaries: Vec<TestBinary> = parse_test_binaries(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .filter(|b| !LEFT_OUT.contains(&b.name.as_str()))
        .collect();
    if binaries.is_empty() {
        bail!("cargo reported no test binaries");
    }
    let names: Vec<&str> = binaries.iter().map(|b| b.name.as_str()).collect();
    progress::line(format_args!(
        "stress: {} rounds of {} at {} test threads, {} each at most (left out: {})",
        options.rounds,
        names.join(", "),
        options.test_threads,
        progress::human(options.limit),
        LEFT_OUT.join(", ")
    ));
    let started = Instant::now();
    let (mut passed, mut failed, mut hangs) = (0usize, 0usize, 0usize);
    for round in 1..=options.rounds {
        for binary in &binaries {
            match run_once(binary, options)? {
                Run::Passed => passed += 1,
                Run::Failed(tail) => {
                    failed += 1;
                    progress::line(format_args!(
                        "stress: round {round}: {} FAILED:\n{tail}",
                        binary.name
                    ));
                }
                Run::Hung => {
                    hangs += 1;
                    progress::line(format_args!(
                        "stress: round {round}: {} HUNG (killed after {})",
                        binary.name,
                        progress::human(options.limit)
                    ));
                }
            }
        }
        if round % 25 == 0 || round == options.rounds {
            progress::line(format_args!(
                "stress: {round}/{} rounds, {hangs} hangs, {failed} failures",
                options.rounds
            ));
        }
    }
    println!(
        "stress: {} rounds x {} binaries at {} test threads in {}: {hangs} hangs, {failed} \
         failures",
        options.rounds,
        binaries.len(),
        options.test_threads,
        progress::human(started.elapsed())
    );
    println!("stress: {passed} passed, {} failed", failed + hangs);
    Ok(failed + hangs)
}

/// One run of one binary in its own process group, killed with everything it forked once
/// past the limit.
fn run_once(binary: &TestBinary, options: &Options) -> Result<Run> {
    let mut child = limit::own_group(&mut Command::new(&binary.path))
        .arg(format!("--test-threads={}", options.test_threads))
        .current_dir(workspace::root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", binary.path.display()))?;
    // Drain the pipes on threads so a chatty binary never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = limit::wait(&mut child, options.limit, Duration::from_millis(20))?;
    let text = stdout.join().unwrap_or_default() + &stderr.join().unwrap_or_default();
    Ok(match status {
        None => Run::Hung,
        Some(status) if status.success() => Run::Passed,
        Some(status) => {
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Run::Failed(format!("{status}\n{}", tail.join("\n")))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_binaries_are_read_from_cargo_json() {
        let json = concat!(
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"clonekit","test":true},"profile":{"test":false},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"pidfd","test":true},"profile":{"test":true},"executable":"/t/debug/deps/pidfd-1"}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"clonekit","test":true},"profile":{"test":true},"executable":"/t/debug/deps/clonekit-2"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            parse_test_binaries(json),
            [
                TestBinary {
                    name: "pidfd".into(),
                    path: "/t/debug/deps/pidfd-1".into()
                },
                TestBinary {
                    name: "clonekit".into(),
                    path: "/t/debug/deps/clonekit-2".into()
                },
            ]
        );
        assert!(parse_test_binaries("garbage\n{}").is_empty());
    }
}
