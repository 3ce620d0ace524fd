//! Whether a boot passed. A clean power-off, a reboot and a kernel panic all end QEMU with
//! status 0, so the verdict comes from the KTAP report on the console alone: complete, and
//! every case ok or skipped with a reason (a case that needs a newer kernel says which),
//! with no kernel panic anywhere. A skip without a reason fails unless skips are allowed.

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
    // Failures at any level (`failures(true)` leaves skips out; they are judged below).
    let mut names: Vec<String> = report
        .failures(true)
        .iter()
        .map(|(path, _)| format!("{path} not ok"))
        .collect();
    let bare_skips: Vec<String> = skips(report)
        .into_iter()
        .filter(|(_, reason)| reason.is_none() && !allow_skip)
        .map(|(path, _)| format!("{path} skipped without a reason"))
        .collect();
    let hint = if bare_skips.is_empty() {
        ""
    } else {
        " (a skip must say why, e.g. the kernel version it needs; --allow-skip passes it)"
    };
    names.extend(bare_skips);
    if !names.is_empty() {
        return Err(format!("{}{hint}", names.join(", ")));
    }
    Ok(())
}

/// Every skipped leaf case (`path`, its reason): `None` when the `# SKIP` directive gives
/// none.
pub fn skips(report: &Report) -> Vec<(String, Option<&str>)> {
    fn walk<'a>(
        tests: &'a [ktap::TestResult],
        prefix: &str,
        out: &mut Vec<(String, Option<&'a str>)>,
    ) {
        for t in tests {
            let path = format!("{prefix}{}", t.name);
            if t.status == ktap::Status::Skip && t.subtests.is_empty() {
                let reason = t
                    .directive
                    .as_deref()
                    .map(str::trim)
                    .filter(|r| !r.is_empty());
                out.push((path.clone(), reason));
            }
            walk(&t.subtests, &format!("{path}."), out);
        }
    }
    let mut out = Vec::new();
    walk(&report.tests, "", &mut out);
    out
}

/// Why the kernel crashed before the init printed its report, when it did: a panic with
/// no report started, other than the init's own death ("Attempted to kill init!"). Such a
/// crash happened before any case ran, so it says nothing about clonekit; under TCG with
/// two vCPUs Debian's x86_64 kernels now and then take an `int3` oops in `sched_clock_*`
/// while patching their own text at boot (seen 3 times in about 95 x86_64 boots here: 6.12
/// twice, 7.3.4 once, each time with the host busy; never on aarch64 or riscv64), which a
/// second boot does not repeat.
///
/// Likewise a boot that printed nothing of the report before its time limit: once (riscv64,
/// Debian's 7.2.13, in about 40 boots of it) the guest stopped after OpenSBI's banner, without
/// a kernel line, for the whole 120 s. The init prints its report's first line before any
/// case runs, so such a boot ran no case either; an init that hangs before that line hangs
/// at the second boot too, and fails there.
pub fn crashed_before_init(report: &Report, console: &Console) -> Option<String> {
    if report.start_line.is_some() {
        return None;
    }
    match kernel_panic(&console.lines) {
        Some(reason) => worth_a_second_boot(reason).then(|| reason.to_string()),
        None if console.timed_out => Some(format!(
            "no report line within the time limit ({} console lines, none of them a panic)",
            console.lines.len()
        )),
        None => None,
    }
}

/// Whether a kernel panic before the guest's program ran is the kernel's own crash, which a
/// second boot does not repeat, rather than the init's death ("Attempted to kill init!"),
/// which it would. The boot matrix and `run` both ask this before booting again.
pub fn worth_a_second_boot(reason: &str) -> bool {
    !reason.starts_with("Attempted to kill init")
}

/// The reason in a console line that reports a kernel panic
/// (`Kernel panic - not syncing: <reason>`).
pub fn panic_reason(line: &str) -> Option<&str> {
    line.split_once("Kernel panic - not syncing: ")
        .map(|(_, reason)| reason.trim())
}

/// The reason of a kernel panic on the console, often "Attempted to kill init!" when the
/// init exited or crashed.
fn kernel_panic(lines: &[(Duration, String)]) -> Option<&str> {
    lines.iter().find_map(|(_, l)| panic_reason(l))
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

    /// A console that printed `text` and ended cleanly.
    fn console(text: &str) -> Console {
        Console {
            lines: text
                .lines()
                .map(|l| (Duration::ZERO, l.to_string()))
                .collect(),
            total: Duration::from_secs(5),
            timed_out: false,
            status: None,
            cut_mid_line: false,
        }
    }

    fn verdict_of(text: &str, allow_skip: bool) -> Result<(), String> {
        let console = console(text);
        judge(&report(&console), allow_skip, &console)
    }

    const SKIPS: &str = "KTAP version 1\n1..1\n  KTAP version 1\n  # Subtest: clone3\n  1..3\n  \
        ok 1 args_size\n  ok 2 autoreap # SKIP needs Linux 7.1 (this is 5.10.223)\n  \
        ok 3 into_cgroup # SKIP\nok 1 clone3\n";

    #[test]
    fn a_skip_with_a_reason_passes_and_one_without_fails_unless_allowed() {
        let with_reason = SKIPS.replace("into_cgroup # SKIP", "into_cgroup");
        assert_eq!(verdict_of(&with_reason, false), Ok(()));
        let why = verdict_of(SKIPS, false).unwrap_err();
        assert!(
            why.contains("clone3.into_cgroup skipped without a reason"),
            "{why}"
        );
        assert!(!why.contains("autoreap"), "{why}");
        assert!(why.contains("--allow-skip"), "{why}");
        assert_eq!(verdict_of(SKIPS, true), Ok(()));
    }

    #[test]
    fn skips_are_listed_with_their_reasons() {
        let console = console(SKIPS);
        let report = report(&console);
        assert_eq!(
            skips(&report),
            [
                (
                    "clone3.autoreap".to_string(),
                    Some("needs Linux 7.1 (this is 5.10.223)")
                ),
                ("clone3.into_cgroup".to_string(), None),
            ]
        );
    }

    #[test]
    fn a_not_ok_case_fails_even_when_skips_are_allowed() {
        let failing = SKIPS.replace("ok 1 args_size", "not ok 1 args_size");
        let failing = failing.replace("ok 1 clone3", "not ok 1 clone3");
        let why = verdict_of(&failing, true).unwrap_err();
        assert!(why.contains("clone3.args_size not ok"), "{why}");
        assert!(why.contains("clone3 not ok"), "{why}");
    }

    #[test]
    fn only_a_kernel_crash_before_the_report_counts_as_crashed_before_init() {
        let oops = "SeaBIOS\n[    1.08] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n\
                    [    1.08] Kernel panic - not syncing: Fatal exception in interrupt\n";
        let console_of = |text: &str| console(text);
        let c = console_of(oops);
        assert_eq!(
            crashed_before_init(&report(&c), &c).as_deref(),
            Some("Fatal exception in interrupt")
        );
        // The init died: its own failure, never retried.
        let init_died =
            "[ 1.5] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n";
        let c = console_of(init_died);
        assert_eq!(crashed_before_init(&report(&c), &c), None);
        // A panic after the report started is the cases' business.
        let after_start = format!("KTAP version 1\n1..2\nok 1 a\n{oops}");
        let c = console_of(&after_start);
        assert_eq!(crashed_before_init(&report(&c), &c), None);
        // No panic, and the boot ended (the init exited without a report): not retried.
        let c = console_of("SeaBIOS\n");
        assert_eq!(crashed_before_init(&report(&c), &c), None);
        // Silent until the time limit, before the report: booted once more.
        let mut c = console_of("OpenSBI v1.1\nBoot HART ID : 0\n");
        c.timed_out = true;
        let why = crashed_before_init(&report(&c), &c).unwrap();
        assert!(
            why.contains("no report line within the time limit"),
            "{why}"
        );
        // A kernel panic before the report, QEMU left running to the limit: the panic says why.
        let mut c = console_of(oops);
        c.timed_out = true;
        assert_eq!(
            crashed_before_init(&report(&c), &c).as_deref(),
            Some("Fatal exception in interrupt")
        );
        // Timed out after the report began: the cases' business.
        let mut c = console_of("KTAP version 1\n1..2\nok 1 a\n");
        c.timed_out = true;
        assert_eq!(crashed_before_init(&report(&c), &c), None);
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
