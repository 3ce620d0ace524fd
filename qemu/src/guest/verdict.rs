//! Whether a boot passed. A clean power-off, a reboot and a kernel panic all end QEMU with
//! status 0, so the verdict comes from the KTAP report on the console alone: complete, and
//! every case ok (or skipped, when allowed), with no kernel panic anywhere.

use std::time::Duration;

use crate::guest::console::Console;
use crate::guest::ktap::{self, Report};

/// The KTAP report on a console.
pub fn report(console: &Console) -> Report {
    ktap::parse(&console_text(&console.lines, console.cut_mid_line))
}

/// The console's lines as the parser reads them: each ended by a newline, except a last
/// line the console cut short, which the parser must see as unfinished.
fn console_text(lines: &[(Duration, String)], cut_mid_line: bool) -> String {
    let mut text: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    if cut_mid_line {
        text.pop();
    }
    text
}

/// Passed, or the reason it did not.
pub fn judge(report: &Report, allow_skip: bool, console: &Console) -> Result<(), String> {
    if console.timed_out {
        let mut why = format!(
            "timed out: QEMU was killed after {} s",
            console.total.as_secs()
        );
        if !report.is_complete() {
            why.push_str(&format!(" ({})", report.problems[0]));
        }
        return Err(why);
    }
    if let Some(status) = console.status
        && !status.success()
    {
        return Err(format!("QEMU exited with {status}"));
    }
    if !report.is_complete() {
        let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        let mut why = problems.join("; ");
        if let Some(panic) = kernel_panic(&console.lines) {
            why.push_str(&format!("; the kernel panicked: {panic}"));
        }
        return Err(why);
    }
    // A complete report does not excuse a panic (PID 1 exiting after its last line, an oops):
    // QEMU exits 0 either way.
    if let Some(panic) = kernel_panic(&console.lines) {
        return Err(format!("the kernel panicked after the report: {panic}"));
    }
    let counts = report.counts();
    if counts.ok + counts.not_ok + counts.skip == 0 {
        return Err("the report has no cases: nothing was tested".into());
    }
    let failures = report.failures(allow_skip);
    if !failures.is_empty() {
        let names: Vec<String> = failures
            .iter()
            .map(|(path, t)| match t.status {
                ktap::Status::Skip => format!("{path} skipped"),
                _ => format!("{path} not ok"),
            })
            .collect();
        let hint = if failures.iter().any(|(_, t)| t.status == ktap::Status::Skip) {
            " (skips fail unless --allow-skip)"
        } else {
            ""
        };
        return Err(format!("{}{hint}", names.join(", ")));
    }
    Ok(())
}

/// The reason of a kernel panic on the console (`Kernel panic - not syncing: <reason>`),
/// often "Attempted to kill init!" when the init exited or crashed.
fn kernel_panic(lines: &[(Duration, String)]) -> Option<&str> {
    lines.iter().find_map(|(_, l)| {
        l.split_once("Kernel panic - not syncing: ")
            .map(|(_, reason)| reason.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_reason_is_found_among_kernel_log_lines() {
        let lines =
            vec![
            (Duration::ZERO, "[    1.5] Run /init as init process".to_string()),
            (
                Duration::ZERO,
                "[    1.6] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000"
                    .to_string(),
            ),
        ];
        assert_eq!(
            kernel_panic(&lines),
            Some("Attempted to kill init! exitcode=0x00000000")
        );
        assert_eq!(kernel_panic(&lines[..1]), None);
    }

    #[test]
    fn a_console_cut_mid_line_reaches_the_parser_unfinished() {
        let lines: Vec<(Duration, String)> = ["KTAP version 1", "1..2", "ok 1 a", "ok 2 b # SK"]
            .iter()
            .map(|l| (Duration::ZERO, l.to_string()))
            .collect();
        let whole = ktap::parse(&console_text(&lines, false));
        assert!(whole.is_complete(), "{:?}", whole.problems);
        let cut = ktap::parse(&console_text(&lines, true));
        assert!(!cut.is_complete());
        let why = cut
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        assert!(why.contains("ends mid-line: `ok 2 b # SK`"), "{why}");
        assert!(why.contains("1 of 2 results"), "{why}");
    }
}
