//! The scenario suite natively (`clonekit-init-probe suite`, see init/src/probe/suite):
//! against clonekit-init, where every case must pass, then against Debian's tini (the
//! binary named by `CLONEKIT_TINI`, else `/usr/bin/tini`), where the same cases must pass
//! and every observation (exit codes, forwarded signals, zombies left) must be the same.
//! `cargo qemu test` fetches Debian's tini and sets `CLONEKIT_TINI`; without one, the
//! differential half prints a SKIP line.
//!
//! The container cases need root (they SKIP otherwise, and run in the guest as PID 1).
//! A single-threaded program (`harness = false`): the suite is one process tree.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

const INIT: &str = env!("CARGO_BIN_EXE_clonekit-init");
const PROBE: &str = env!("CARGO_BIN_EXE_clonekit-init-probe");

/// Runs the suite against `init`; prints its report; returns its `= ` observation lines,
/// or why it failed.
fn suite(init: &str, reference: bool) -> Result<Vec<String>, String> {
    let mut command = Command::new(PROBE);
    command.args(["suite", init]);
    if reference {
        command.arg("--reference");
    }
    let out = command
        .output()
        .map_err(|e| format!("running {PROBE}: {e}"))?;
    let report = String::from_utf8_lossy(&out.stdout);
    for line in report.lines() {
        println!("    {line}");
    }
    if !out.stderr.is_empty() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    if !out.status.success() {
        return Err(format!("the suite against {init} failed ({})", out.status));
    }
    if !report.lines().any(|l| l.starts_with("suite: ")) {
        return Err(format!("the suite against {init} did not finish"));
    }
    Ok(report
        .lines()
        .filter(|l| l.starts_with("= "))
        .map(String::from)
        .collect())
}

/// Debian's tini, if there is one to compare with.
fn tini() -> Result<PathBuf, String> {
    let given = std::env::var_os("CLONEKIT_TINI").map(PathBuf::from);
    let path = given.unwrap_or_else(|| PathBuf::from("/usr/bin/tini"));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no tini at {} (set CLONEKIT_TINI; `cargo qemu test` fetches Debian's)",
            path.display()
        ))
    }
}

/// The observations of the reference run that clonekit-init's run does not share, word
/// for word.
fn disagreements(ours: &[String], theirs: &[String]) -> Vec<String> {
    let mut wrong = Vec::new();
    for line in theirs {
        if !ours.contains(line) {
            let case = line.split(' ').nth(1).unwrap_or("");
            let mine = ours
                .iter()
                .find(|l| l.split(' ').nth(1) == Some(case))
                .map_or("(not run)", String::as_str);
            wrong.push(format!("tini:          {line}\nclonekit-init: {mine}"));
        }
    }
    wrong
}

fn main() -> ExitCode {
    println!("scenarios against clonekit-init ({INIT})");
    let ours = match suite(INIT, false) {
        Ok(ours) => ours,
        Err(why) => {
            eprintln!("FAILED: {why}");
            return ExitCode::FAILURE;
        }
    };
    let tini = match tini() {
        Ok(tini) => tini,
        Err(why) => {
            println!("SKIP differential against tini: {why}");
            return ExitCode::SUCCESS;
        }
    };
    println!("the same scenarios against tini ({})", tini.display());
    let theirs = match suite(&tini.to_string_lossy(), true) {
        Ok(theirs) => theirs,
        Err(why) => {
            eprintln!("FAILED: {why}");
            return ExitCode::FAILURE;
        }
    };
    let wrong = disagreements(&ours, &theirs);
    if theirs.is_empty() || !wrong.is_empty() {
        eprintln!(
            "FAILED: clonekit-init and tini disagree:\n{}",
            wrong.join("\n")
        );
        return ExitCode::FAILURE;
    }
    println!(
        "clonekit-init agrees with tini on all {} observations",
        theirs.len()
    );
    ExitCode::SUCCESS
}
