//! A KTAP v1 parser for the report the guest prints on its console.
//!
//! Format (Documentation/dev-tools/ktap.rst): a version line `KTAP version 1`, a plan
//! `1..N`, result lines `ok|not ok N name [# SKIP reason]`, `# ` diagnostic lines, and
//! subtests indented by two spaces with their own version line and plan, closed by their
//! parent's result line. `Bail out!` aborts. Anything else (kernel log lines, firmware
//! banners before the version line) is ignored, and `\r` is stripped.
//!
//! Besides the results, the parser decides whether the report is *complete*: started,
//! with a plan at every level, every plan met, every subtest closed by its result line.
//! A report that never started or stopped half way is a [`Problem`], never a pass. The text
//! after the last `\n` is a line the console cut short (QEMU killed mid-write): it is never
//! read as a result, so a cut `ok 3 name # SK` cannot pass for a whole line.

use std::fmt;

use crate::guest::console::printable;

/// The outcome of one test or subtest case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    NotOk,
    /// `# SKIP` directive (on `ok` or `not ok`).
    Skip,
}

/// One result line, with the diagnostics printed before it and its subtests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    pub number: usize,
    pub name: String,
    pub status: Status,
    /// The text after `# SKIP` (or another directive).
    pub directive: Option<String>,
    /// `# ` lines printed (at this test's level) since the previous result line.
    pub diagnostics: Vec<String>,
    /// The cases of a test that has subtests.
    pub subtests: Vec<TestResult>,
}

/// Why a report is not a complete one: each rule has a name a user sees in the error and
/// a test names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// No `KTAP version 1` line at all: the init never ran, or printed nothing.
    NeverStarted,
    /// A level without a `1..N` plan.
    NoPlan { level: String },
    /// Fewer results than planned: the output stopped half way.
    Stopped {
        level: String,
        seen: usize,
        planned: usize,
    },
    /// More results than planned.
    TooMany {
        level: String,
        seen: usize,
        planned: usize,
    },
    /// A subtest block whose parent result line never came.
    NoSummary { level: String },
    /// A result numbered out of sequence.
    OutOfOrder {
        level: String,
        expected: usize,
        found: usize,
    },
    /// `Bail out!` (with its reason).
    BailOut { reason: String },
    /// The output ends inside a line (no final `\n`) before the report was complete.
    CutMidLine { text: String },
    /// After the report was complete, the guest still printed a failure (`Bail out!` or a
    /// top-level `not ok`): e.g. a panic in the init after its last case.
    FailureAfterReport { text: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NeverStarted => write!(
                f,
                "the KTAP report never started (no `KTAP version 1` line)"
            ),
            Problem::NoPlan { level } => write!(f, "{level} has no plan line (`1..N`)"),
            Problem::Stopped {
                level,
                seen,
                planned,
            } => {
                write!(f, "{level} stopped half way: {seen} of {planned} results")
            }
            Problem::TooMany {
                level,
                seen,
                planned,
            } => {
                write!(f, "{level} has {seen} results but planned {planned}")
            }
            Problem::NoSummary { level } => {
                write!(f, "{level} was never closed by its result line")
            }
            Problem::OutOfOrder {
                level,
                expected,
                found,
            } => {
                write!(
                    f,
                    "{level}: result numbered {found} where {expected} was expected"
                )
            }
            Problem::BailOut { reason } => write!(f, "the guest bailed out: {reason}"),
            Problem::CutMidLine { text } => {
                write!(f, "the console output ends mid-line: `{text}`")
            }
            Problem::FailureAfterReport { text } => {
                write!(f, "after the report ended, the guest printed `{text}`")
            }
        }
    }
}

/// Counts of leaf cases (a test with subtests counts its subtests, not itself).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: usize,
    pub not_ok: usize,
    pub skip: usize,
}

/// A parsed report.
#[derive(Debug, Default)]
pub struct Report {
    /// The top-level results.
    pub tests: Vec<TestResult>,
    pub plan: Option<usize>,
    /// Empty if and only if the report is complete.
    pub problems: Vec<Problem>,
    /// Index (0-based, in the input's lines) of the version line and of the line that
    /// completed the report.
    pub start_line: Option<usize>,
    pub end_line: Option<usize>,
}

impl Report {
    pub fn is_complete(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn counts(&self) -> Counts {
        fn walk(tests: &[TestResult], c: &mut Counts) {
            for t in tests {
                if !t.subtests.is_empty() {
                    walk(&t.subtests, c);
                    continue;
                }
                match t.status {
                    Status::Ok => c.ok += 1,
                    Status::NotOk => c.not_ok += 1,
                    Status::Skip => c.skip += 1,
                }
            }
        }
        let mut c = Counts::default();
        walk(&self.tests, &mut c);
        c
    }

    /// Every result (at any level) that is `not ok`, and, unless `allow_skip`, every
    /// skipped leaf case: `(path, result)`.
    pub fn failures(&self, allow_skip: bool) -> Vec<(String, &TestResult)> {
        fn walk<'a>(
            tests: &'a [TestResult],
            prefix: &str,
            allow_skip: bool,
            out: &mut Vec<(String, &'a TestResult)>,
        ) {
            for t in tests {
                let path = format!("{prefix}{}", t.name);
                let leaf_skip = t.status == Status::Skip && t.subtests.is_empty();
                if t.status == Status::NotOk || (leaf_skip && !allow_skip) {
                    out.push((path.clone(), t));
                }
                walk(&t.subtests, &format!("{path}."), allow_skip, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.tests, "", allow_skip, &mut out);
        out
    }
}

/// One classified line (the indentation is handled by the caller).
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Version,
    Plan(usize),
    Result {
        ok: bool,
        number: usize,
        description: &'a str,
    },
    Subtest(&'a str),
    Diagnostic(&'a str),
    BailOut(&'a str),
    Unknown,
}

fn classify(content: &str) -> Line<'_> {
    let content = content.trim_end();
    if content.starts_with("KTAP version ") || content.starts_with("TAP version ") {
        return Line::Version;
    }
    if let Some(n) = content.strip_prefix("1..")
        && let Ok(n) = n.parse()
    {
        return Line::Plan(n);
    }
    if let Some(reason) = content.strip_prefix("Bail out!") {
        return Line::BailOut(reason.trim());
    }
    if let Some(name) = content.strip_prefix("# Subtest:") {
        return Line::Subtest(name.trim());
    }
    if content == "#" {
        return Line::Diagnostic("");
    }
    if let Some(text) = content.strip_prefix("# ") {
        return Line::Diagnostic(text);
    }
    let (ok, rest) = if let Some(rest) = content.strip_prefix("ok ") {
        (true, rest)
    } else if let Some(rest) = content.strip_prefix("not ok ") {
        (false, rest)
    } else {
        return Line::Unknown;
    };
    let (number, description) = rest.split_once(' ').unwrap_or((rest, ""));
    match number.parse() {
        Ok(number) => Line::Result {
            ok,
            number,
            description,
        },
        Err(_) => Line::Unknown,
    }
}

/// `name # SKIP reason` -> (name, status, directive).
fn split_description(ok: bool, description: &str) -> (String, Status, Option<String>) {
    let split = description
        .split_once(" # ")
        .or_else(|| description.strip_prefix("# ").map(|d| ("", d)));
    let (name, directive) = match split {
        Some((name, directive)) => (name, Some(directive.trim().to_string())),
        None => (description, None),
    };
    let name = name.trim().trim_start_matches("- ").trim().to_string();
    let skip = directive
        .as_deref()
        .is_some_and(|d| d.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("skip")));
    let status = match (skip, ok) {
        (true, _) => Status::Skip,
        (false, true) => Status::Ok,
        (false, false) => Status::NotOk,
    };
    let directive = directive.map(|d| if skip { d[4..].trim().to_string() } else { d });
    (name, status, directive)
}

/// An open level of the report: the top level, or a subtest block.
#[derive(Default)]
struct Group {
    name: Option<String>,
    plan: Option<usize>,
    tests: Vec<TestResult>,
    pending_diagnostics: Vec<String>,
}

impl Group {
    fn level(&self, depth: usize) -> String {
        match (&self.name, depth) {
            (_, 0) => "the report".to_string(),
            (Some(name), _) => format!("subtest `{name}`"),
            (None, _) => format!("an unnamed subtest at depth {depth}"),
        }
    }

    /// Plan problems of a finished or abandoned level.
    fn check_plan(&self, depth: usize, problems: &mut Vec<Problem>) {
        let level = self.level(depth);
        let seen = self.tests.len();
        match self.plan {
            None => problems.push(Problem::NoPlan { level }),
            Some(planned) if seen < planned => problems.push(Problem::Stopped {
                level,
                seen,
                planned,
            }),
            Some(planned) if seen > planned => problems.push(Problem::TooMany {
                level,
                seen,
                planned,
            }),
            Some(_) => {}
        }
    }
}

/// Parses the console output of a guest (the whole of it: firmware, kernel log, report).
pub fn parse(output: &str) -> Report {
    let mut report = Report::default();
    let mut stack: Vec<Group> = Vec::new();
    let mut bailed = false;
    let mut cut = None;
    let lines: Vec<&str> = output.split('\n').collect();
    let unterminated = lines.len() - 1;
    for (index, raw) in lines.into_iter().enumerate() {
        let line = raw.replace('\r', "");
        if index == unterminated {
            // Text after the last newline: a line the console did not finish.
            if !line.trim().is_empty() {
                cut = Some(line);
            }
            break;
        }
        if report.start_line.is_none() {
            // Firmware escape codes may precede the version line on the same line.
            if line.contains("KTAP version ") {
                report.start_line = Some(index);
                stack.push(Group::default());
            }
            continue;
        }
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        let kind = classify(content);
        if kind == Line::Unknown || indent % 2 != 0 {
            continue;
        }
        let depth = indent / 2;
        let current = stack.len() - 1;
        if let Line::BailOut(reason) = kind {
            report.problems.push(Problem::BailOut {
                reason: reason.to_string(),
            });
            report.end_line = Some(index);
            bailed = true;
            break;
        }
        if depth > current + 1 {
            continue; // deeper than anything open: not ours
        }
        if depth == current + 1 {
            match kind {
                // A new subtest block opens with its version, `# Subtest:` or plan line.
                Line::Version | Line::Subtest(_) | Line::Plan(_) | Line::Result { .. } => {
                    stack.push(Group::default())
                }
                _ => continue,
            }
        }
        let group = &mut stack[depth];
        match kind {
            Line::Version => {}
            Line::Subtest(name) if group.tests.is_empty() && group.name.is_none() => {
                group.name = Some(name.to_string())
            }
            Line::Subtest(name) => group.pending_diagnostics.push(format!("Subtest: {name}")),
            Line::Plan(n) if group.plan.is_none() => {
                group.plan = Some(n);
                // TAP allows the plan after the results: then it ends the report.
                if depth == 0 && !group.tests.is_empty() && group.tests.len() >= n {
                    report.end_line = Some(index);
                    break;
                }
            }
            Line::Plan(_) => {}
            Line::Diagnostic(text) => group.pending_diagnostics.push(text.to_string()),
            Line::Result {
                ok,
                number,
                description,
            } => {
                // Close the levels below this one: the block right below is this test's
                // subtests; anything deeper lost its own result line.
                let mut children = None;
                while stack.len() - 1 > depth {
                    let child_depth = stack.len() - 1;
                    let mut group = stack.pop().expect("deeper level");
                    if child_depth == depth + 1 {
                        children = Some(group);
                    } else {
                        if group.name.is_none() {
                            group.name = Some(format!("(inside test {number})"));
                        }
                        report.problems.push(Problem::NoSummary {
                            level: group.level(child_depth),
                        });
                        group.check_plan(child_depth, &mut report.problems);
                    }
                }
                let (name, status, directive) = split_description(ok, description);
                let subtests = match children {
                    Some(mut block) => {
                        block.name.get_or_insert_with(|| name.clone());
                        block.check_plan(depth + 1, &mut report.problems);
                        block.tests
                    }
                    None => Vec::new(),
                };
                let group = &mut stack[depth];
                let expected = group.tests.len() + 1;
                if number != expected {
                    report.problems.push(Problem::OutOfOrder {
                        level: group.level(depth),
                        expected,
                        found: number,
                    });
                }
                group.tests.push(TestResult {
                    number,
                    name,
                    status,
                    directive,
                    diagnostics: std::mem::take(&mut group.pending_diagnostics),
                    subtests,
                });
                if depth == 0 && group.plan.is_some_and(|p| group.tests.len() >= p) {
                    report.end_line = Some(index);
                    break;
                }
            }
            Line::BailOut(_) | Line::Unknown => unreachable!("handled above"),
        }
    }
    if report.start_line.is_none() {
        report.problems.push(Problem::NeverStarted);
        return report;
    }
    if let Some(end) = report.end_line.filter(|_| !bailed) {
        // The report is complete; a failure printed after it still counts.
        let after = output.split('\n').skip(end + 1);
        if let Some(text) = after.map(|l| l.replace('\r', "")).find(|l| {
            let top = l.trim_end();
            top.trim_start().starts_with("Bail out!") || top.starts_with("not ok ")
        }) {
            report.problems.push(Problem::FailureAfterReport {
                text: text.trim().to_string(),
            });
        }
    }
    if bailed {
        // The bail-out is the problem; what was open is expected to be unfinished.
        let top = stack.swap_remove(0);
        report.plan = top.plan;
        report.tests = top.tests;
        return report;
    }
    if let Some(text) = cut.filter(|_| report.end_line.is_none()) {
        report.problems.push(Problem::CutMidLine {
            text: printable(&text),
        });
    }
    // Whatever is still open at the end of the output.
    while stack.len() > 1 {
        let depth = stack.len() - 1;
        let group = stack.pop().expect("open level");
        report.problems.push(Problem::NoSummary {
            level: group.level(depth),
        });
        group.check_plan(depth, &mut report.problems);
    }
    let top = stack.pop().expect("top level");
    top.check_plan(0, &mut report.problems);
    report.plan = top.plan;
    report.tests = top.tests;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_after_the_complete_report_fails_it() {
        let bail = "KTAP version 1\n1..1\nok 1 a\nnot ok 2 init\nBail out! panicked\n";
        let report = parse(bail);
        assert!(!report.is_complete());
        assert!(matches!(
            report.problems[0],
            Problem::FailureAfterReport { .. }
        ));
        let fine = "KTAP version 1\n1..1\nok 1 a\n# Totals: pass:1\n[ 3.2] reboot: Power down\n";
        assert!(parse(fine).is_complete());
    }

    /// What the init demo writes (clonekit's own KTAP writer), the parser reads back whole:
    /// results, skips, nesting, diagnostics, totals.
    #[test]
    fn reads_what_clonekit_ktap_writes() {
        use clonekit_testkit::ktap::{Ktap, Verdict};
        let mut k = Ktap::new(String::new());
        k.start(2, true);
        k.begin_subtest("threads", 3);
        k.ok("vm_child_writes_land_in_parents_memory");
        k.diag(format_args!("expected {}, got {}", 105, 5));
        k.not_ok("files_close_in_child");
        k.skip("io_context", "no CLONE_IO");
        k.end_subtest("threads");
        k.begin_subtest("pid1", 1);
        k.result("reaps_orphans", Verdict::Pass);
        k.end_subtest("pid1");
        k.summary();
        let text = format!("SeaBIOS noise\r\n{}", k.get_mut());
        let report = parse(&text);
        assert!(report.is_complete(), "{:?}", report.problems);
        assert_eq!(report.plan, Some(2));
        assert_eq!(
            report.counts(),
            Counts {
                ok: 2,
                not_ok: 1,
                skip: 1
            }
        );
        let failures: Vec<String> = report.failures(true).into_iter().map(|(p, _)| p).collect();
        assert_eq!(failures, ["threads", "threads.files_close_in_child"]);
    }

    const COMPLETE: &str = "\
KTAP version 1
1..2
  KTAP version 1
  # Subtest: threads
  1..2
  ok 1 shared_counter
  ok 2 clone3
ok 1 threads
ok 2 pid1_reaps
";

    #[test]
    fn complete_report_has_every_case_ok() {
        let r = parse(COMPLETE);
        assert!(r.is_complete(), "{:?}", r.problems);
        assert_eq!(r.plan, Some(2));
        assert_eq!(r.tests.len(), 2);
        assert_eq!(r.tests[0].name, "threads");
        assert_eq!(r.tests[0].subtests.len(), 2);
        assert_eq!(r.tests[0].subtests[1].name, "clone3");
        assert_eq!(
            r.counts(),
            Counts {
                ok: 3,
                not_ok: 0,
                skip: 0
            }
        );
        assert!(r.failures(false).is_empty());
        assert_eq!((r.start_line, r.end_line), (Some(0), Some(8)));
    }

    #[test]
    fn failing_case_is_reported_with_its_diagnostics() {
        let log = "KTAP version 1\n1..2\n# expected 1, got 2\nnot ok 1 hostname_isolated\nok 2 - pid_is_1\n";
        let r = parse(log);
        assert!(r.is_complete());
        assert_eq!(
            r.counts(),
            Counts {
                ok: 1,
                not_ok: 1,
                skip: 0
            }
        );
        let failures = r.failures(true);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, "hostname_isolated");
        assert_eq!(failures[0].1.diagnostics, ["expected 1, got 2"]);
        assert_eq!(r.tests[1].name, "pid_is_1");
    }

    #[test]
    fn skip_directive_counts_as_skip_and_fails_unless_allowed() {
        let log = "KTAP version 1\n1..1\n  KTAP version 1\n  # Subtest: ns\n  1..2\n  ok 1 newuts\n  ok 2 newtime # SKIP CONFIG_TIME_NS not set\nok 1 ns\n";
        let r = parse(log);
        assert!(r.is_complete());
        assert_eq!(
            r.counts(),
            Counts {
                ok: 1,
                not_ok: 0,
                skip: 1
            }
        );
        let case = &r.tests[0].subtests[1];
        assert_eq!(case.status, Status::Skip);
        assert_eq!(case.name, "newtime");
        assert_eq!(case.directive.as_deref(), Some("CONFIG_TIME_NS not set"));
        assert_eq!(r.failures(false)[0].0, "ns.newtime");
        assert!(r.failures(true).is_empty());
    }

    #[test]
    fn truncated_report_is_stopped_half_way() {
        let cut = &COMPLETE[..COMPLETE.find("  ok 2 clone3").unwrap()];
        let r = parse(cut);
        assert!(!r.is_complete());
        assert!(r.problems.contains(&Problem::NoSummary {
            level: "subtest `threads`".into()
        }));
        assert!(r.problems.contains(&Problem::Stopped {
            level: "subtest `threads`".into(),
            seen: 1,
            planned: 2
        }));
        assert!(r.problems.contains(&Problem::Stopped {
            level: "the report".into(),
            seen: 0,
            planned: 2
        }));
    }

    #[test]
    fn report_cut_before_the_plan_has_no_plan() {
        let r = parse("KTAP version 1\n");
        assert_eq!(
            r.problems,
            [Problem::NoPlan {
                level: "the report".into()
            }]
        );
    }

    #[test]
    fn missing_report_never_started() {
        let r = parse(
            "[    0.000000] Linux version 6.12\nKernel panic - not syncing: No working init found.\n",
        );
        assert_eq!(r.problems, [Problem::NeverStarted]);
        assert_eq!(r.counts(), Counts::default());
        assert_eq!(parse("").problems, [Problem::NeverStarted]);
    }

    #[test]
    fn bail_out_stops_the_report_with_its_reason() {
        let r = parse("KTAP version 1\n1..3\nok 1 a\nBail out! clone failed: ENOMEM\nok 2 b\n");
        assert_eq!(
            r.problems,
            [Problem::BailOut {
                reason: "clone failed: ENOMEM".into()
            }]
        );
        assert_eq!(r.tests.len(), 1);
    }

    #[test]
    fn too_many_and_out_of_order_results_are_problems() {
        let r = parse("KTAP version 1\n1..1\n  1..1\n  ok 1 x\n  ok 2 y\nok 1 a\n");
        assert!(r.problems.contains(&Problem::TooMany {
            level: "subtest `a`".into(),
            seen: 2,
            planned: 1
        }));
        let r = parse("KTAP version 1\n1..2\nok 2 b\nok 1 a\n");
        assert!(matches!(
            r.problems[0],
            Problem::OutOfOrder {
                expected: 1,
                found: 2,
                ..
            }
        ));
    }

    #[test]
    fn noisy_console_with_firmware_banner_kernel_log_and_crlf_parses() {
        let log = "\
\x1b[2J\x1b[01;01HSeaBIOS (version 1.16.2-debian-1.16.2-1)\r
\r
OpenSBI v1.1\r
   ____                    _____ ____ _____\r
Platform Name             : riscv-virtio,qemu\r
[    0.000000] Linux version 6.12.57+deb13-riscv64\r
\x1b[0m\x1b[?7hKTAP version 1\r
1..2\r
[    1.234567] random: crng init done\r
  KTAP version 1\r
  # Subtest: threads\r
  1..1\r
[    1.300000] clocksource: Switched to clocksource riscv_clocksource\r
  ok 1 shared_counter\r
ok 1 threads\r
# diagnostic at top\r
ok 2 pid1_reaps # SKIP not applicable\r
[    2.000000] reboot: Power down\r
";
        let r = parse(log);
        assert!(r.is_complete(), "{:?}", r.problems);
        assert_eq!(
            r.counts(),
            Counts {
                ok: 1,
                not_ok: 0,
                skip: 1
            }
        );
        assert_eq!(r.tests[1].diagnostics, ["diagnostic at top"]);
        assert_eq!(r.start_line, Some(6));
        assert_eq!(r.end_line, Some(16));
    }

    #[test]
    fn a_plan_after_the_results_ends_the_report() {
        let r = parse("KTAP version 1\nok 1 a\nok 2 b\n1..2\nok 3 stray\n");
        assert!(r.is_complete(), "{:?}", r.problems);
        assert_eq!(r.tests.len(), 2);
        assert_eq!(r.end_line, Some(3));
    }

    #[test]
    fn problems_read_as_sentences() {
        let p = Problem::Stopped {
            level: "the report".into(),
            seen: 3,
            planned: 5,
        };
        assert_eq!(p.to_string(), "the report stopped half way: 3 of 5 results");
        assert!(Problem::NeverStarted.to_string().contains("never started"));
    }

    #[test]
    fn binary_garbage_on_the_console_is_ignored() {
        // Bytes as the serial port gives them: the host tool decodes each line lossily.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"\xff\xfe\x00\x1b[2J\x80garbage\xc3\n");
        bytes.extend_from_slice(b"KTAP version 1\n1..2\n");
        bytes.extend_from_slice(b"\x00\x00\x00\xff\xff\n\x1b]0;\x07\r\n");
        bytes.extend_from_slice(b"ok 1 first\n");
        bytes.extend_from_slice(&[0xf0, 0x9f, 0x98, b'\n', 0xed, 0xa0, 0x80, b'\n']);
        bytes.extend_from_slice(b"ok 2 second\n\xde\xad\xbe\xef");
        let text = String::from_utf8_lossy(&bytes);
        let r = parse(&text);
        assert!(r.is_complete(), "{:?}", r.problems);
        assert_eq!(r.counts().ok, 2);
        // Garbage alone never starts a report.
        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let r = parse(&String::from_utf8_lossy(&noise));
        assert_eq!(r.problems, [Problem::NeverStarted]);
    }

    #[test]
    fn a_log_cut_mid_line_is_incomplete_and_says_so() {
        for cut in [
            "KTAP version 1\n1..2\nok 1 a\nok 2 b # SK",
            "KTAP version 1\n1..2\nok 1 a\nok 2",
            "KTAP version 1\n1..2\nok 1 a\nnot o",
            "KTAP version 1\n1..2\nok 1 a\r\nok 2 b\r",
        ] {
            let r = parse(cut);
            assert!(!r.is_complete(), "{cut:?}");
            assert!(
                r.problems.contains(&Problem::Stopped {
                    level: "the report".into(),
                    seen: 1,
                    planned: 2
                }),
                "{cut:?}: {:?}",
                r.problems
            );
            let said = r.problems.iter().any(|p| {
                matches!(p, Problem::CutMidLine { .. }) && p.to_string().contains("ends mid-line")
            });
            assert!(said, "{cut:?}: {:?}", r.problems);
        }
        // A cut after the report was complete does not matter.
        let r = parse("KTAP version 1\n1..1\nok 1 a\n[    2.000000] reboot: Powe");
        assert!(r.is_complete(), "{:?}", r.problems);
    }

    #[test]
    fn a_report_that_stops_after_the_plan() {
        let r = parse("KTAP version 1\n1..3\n");
        assert_eq!(
            r.problems,
            [Problem::Stopped {
                level: "the report".into(),
                seen: 0,
                planned: 3
            }]
        );
        assert!(r.problems[0].to_string().contains("0 of 3"));
    }

    #[test]
    fn a_nested_subtest_never_closed() {
        let log = "\
KTAP version 1
1..1
  KTAP version 1
  # Subtest: outer
  1..1
    KTAP version 1
    # Subtest: inner
    1..1
    ok 1 leaf
";
        let r = parse(log);
        assert!(!r.is_complete());
        for level in ["subtest `inner`", "subtest `outer`"] {
            assert!(
                r.problems.contains(&Problem::NoSummary {
                    level: level.into()
                }),
                "{level}: {:?}",
                r.problems
            );
        }
        assert!(r.problems.contains(&Problem::Stopped {
            level: "the report".into(),
            seen: 0,
            planned: 1
        }));
        // The inner block closed, the outer never: only the outer is missing its line.
        let r = parse(&format!("{log}  ok 1 inner\n"));
        assert_eq!(
            r.problems,
            [
                Problem::NoSummary {
                    level: "subtest `outer`".into()
                },
                Problem::Stopped {
                    level: "the report".into(),
                    seen: 0,
                    planned: 1
                }
            ]
        );
    }

    // ---- Fuzz: random reports, garbage, truncations and interleavings ----

    /// Iterations per fuzz test (Miri, a thousand times slower, runs a sample).
    const FUZZ_ITERATIONS: u64 = if cfg!(miri) { 30 } else { 3000 };

    /// SplitMix64, seeded from `CLONEKIT_FUZZ_SEED` (as `tests/fuzz.rs` of clonekit).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn chance(&mut self, one_in: u64) -> bool {
            self.below(one_in) == 0
        }
    }

    fn fuzz_seed() -> u64 {
        std::env::var("CLONEKIT_FUZZ_SEED")
            .ok()
            .and_then(|s| {
                let s = s.trim();
                match s.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16).ok(),
                    None => s.parse().ok(),
                }
            })
            .unwrap_or(0x00c1_0e4b_17f0_2025)
    }

    /// Runs `body` for up to `iterations` iterations (and at most 3 s), each with its own
    /// generator; a failure names the seed and iteration to replay.
    fn fuzz(test: &str, iterations: u64, mut body: impl FnMut(&mut Rng)) {
        struct Replay<'a>(&'a str, u64, u64);
        impl Drop for Replay<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    eprintln!(
                        "fuzz {}: failed at iteration {} with CLONEKIT_FUZZ_SEED={:#x}",
                        self.0, self.2, self.1
                    );
                }
            }
        }
        let seed = fuzz_seed();
        let started = std::time::Instant::now();
        for i in 0..iterations {
            if started.elapsed() > std::time::Duration::from_secs(3) {
                break;
            }
            let guard = Replay(test, seed, i);
            body(&mut Rng(seed ^ i.wrapping_mul(0xa076_1d64_78bd_642f)));
            drop(guard);
        }
    }

    /// A complete random report, as clonekit's writer prints it, and its leaf counts.
    fn random_report(rng: &mut Rng) -> (Vec<String>, Counts) {
        fn level(rng: &mut Rng, depth: usize, out: &mut Vec<String>, c: &mut Counts) -> bool {
            let pad = "  ".repeat(depth);
            let n = rng.below(5) as usize + usize::from(depth == 0);
            out.push(format!("{pad}1..{n}"));
            let mut failed = false;
            for i in 1..=n {
                let name = format!("case_{}", rng.below(1000));
                if rng.chance(5) {
                    out.push(format!("{pad}# diagnostic {}", rng.next()));
                }
                if depth < 3 && rng.chance(3) {
                    let inner = "  ".repeat(depth + 1);
                    out.push(format!("{inner}KTAP version 1"));
                    out.push(format!("{inner}# Subtest: {name}"));
                    let mut sub = Counts::default();
                    let sub_failed = level(rng, depth + 1, out, &mut sub);
                    // An empty block counts as a leaf (its own result line).
                    if sub.ok + sub.not_ok + sub.skip == 0 {
                        out.push(format!("{pad}ok {i} {name} # SKIP no case ran"));
                        c.skip += 1;
                    } else {
                        let verdict = if sub_failed { "not ok" } else { "ok" };
                        out.push(format!("{pad}{verdict} {i} {name}"));
                        c.ok += sub.ok;
                        c.not_ok += sub.not_ok;
                        c.skip += sub.skip;
                    }
                    failed |= sub_failed;
                } else {
                    match rng.below(3) {
                        0 => {
                            out.push(format!("{pad}ok {i} {name}"));
                            c.ok += 1;
                        }
                        1 => {
                            out.push(format!("{pad}not ok {i} {name}"));
                            c.not_ok += 1;
                            failed = true;
                        }
                        _ => {
                            out.push(format!("{pad}ok {i} {name} # SKIP why {}", rng.below(9)));
                            c.skip += 1;
                        }
                    }
                }
            }
            failed
        }
        let mut out = vec!["KTAP version 1".to_string()];
        let mut counts = Counts::default();
        level(rng, 0, &mut out, &mut counts);
        (out, counts)
    }

    /// A console line that is not KTAP: kernel log, firmware noise, decoded binary garbage.
    fn garbage_line(rng: &mut Rng) -> String {
        let body: String = (0..rng.below(80))
            .map(|_| match rng.below(6) {
                0 => char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{fffd}'),
                1 => '\u{fffd}',
                2 => '\x1b',
                3 => '\r',
                _ => char::from(b' ' + rng.below(95) as u8),
            })
            .filter(|&c| c != '\n')
            .collect();
        let start = ["[    1.234567] ", "\u{fffd}", "\x1b[0m", "[", "SeaBIOS "];
        format!("{}{body}", start[rng.below(start.len() as u64) as usize])
    }

    fn joined(lines: &[String]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn fuzz_whole_reports_parse_complete_with_their_counts() {
        fuzz("ktap_whole", FUZZ_ITERATIONS, |rng| {
            let (lines, counts) = random_report(rng);
            let r = parse(&joined(&lines));
            assert!(r.is_complete(), "{:?}\n{}", r.problems, joined(&lines));
            assert_eq!(r.counts(), counts);
            assert_eq!(r.end_line, Some(lines.len() - 1));
        });
    }

    #[test]
    fn fuzz_garbage_lines_between_report_lines_change_nothing() {
        fuzz("ktap_garbage", FUZZ_ITERATIONS, |rng| {
            let (lines, counts) = random_report(rng);
            let mut noisy = Vec::new();
            for line in &lines {
                while rng.chance(3) {
                    noisy.push(garbage_line(rng));
                }
                // A \r before the newline (a serial console's CRLF) is dropped too.
                noisy.push(if rng.chance(4) {
                    format!("{line}\r")
                } else {
                    line.clone()
                });
            }
            let r = parse(&joined(&noisy));
            assert!(r.is_complete(), "{:?}\n{}", r.problems, joined(&noisy));
            assert_eq!(r.counts(), counts);
        });
    }

    #[test]
    fn fuzz_truncated_reports_are_incomplete() {
        fuzz("ktap_truncated", FUZZ_ITERATIONS, |rng| {
            let (lines, _) = random_report(rng);
            let text = joined(&lines);
            // Cut anywhere before the newline that ends the last result line.
            let mut at = rng.below(text.len() as u64) as usize;
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let r = parse(&text[..at]);
            assert!(
                !r.is_complete(),
                "cut at {at} of {}:\n{}",
                text.len(),
                &text[..at]
            );
            assert!(r.counts().ok + r.counts().not_ok + r.counts().skip <= text.len());
            for p in &r.problems {
                assert!(!p.to_string().is_empty());
            }
        });
    }

    #[test]
    fn fuzz_random_ktap_like_lines_and_interleavings_never_panic() {
        fuzz("ktap_chaos", FUZZ_ITERATIONS, |rng| {
            let (a, _) = random_report(rng);
            let (b, _) = random_report(rng);
            // Two reports interleaved line by line (two writers on one console), with
            // KTAP-like fragments at random indentation, and garbage.
            let (mut ia, mut ib) = (a.into_iter(), b.into_iter());
            let fragments = [
                "ok",
                "not ok",
                "ok 0",
                "ok 18446744073709551616 x",
                "1..",
                "1..99999999999",
                "1..0",
                "# Subtest:",
                "#",
                "Bail out",
                "KTAP version 1",
                "TAP version 13",
                "ok 1 # SKIP",
                "ok 1 x # skip",
                "ok 1 x # SKI",
                "not ok 2 - # TODO",
            ];
            let mut lines = Vec::new();
            for _ in 0..rng.below(120) {
                let line = match rng.below(6) {
                    0 => ia.next(),
                    1 => ib.next(),
                    2 => Some(garbage_line(rng)),
                    _ => {
                        let f = fragments[rng.below(fragments.len() as u64) as usize];
                        Some(format!("{}{f}", " ".repeat(rng.below(12) as usize)))
                    }
                };
                lines.extend(line);
            }
            let mut text = joined(&lines);
            if rng.chance(2) {
                let mut at = rng.below(text.len() as u64 + 1) as usize;
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
            }
            let r = parse(&text);
            let _ = (r.counts(), r.failures(false), r.is_complete());
            for p in &r.problems {
                let _ = p.to_string();
            }
            if r.is_complete() {
                assert!(r.start_line.is_some() && r.plan.is_some());
            }
        });
    }
}
