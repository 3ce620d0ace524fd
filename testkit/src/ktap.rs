//! A KTAP version 1 writer (the kernel's test report format, `Documentation/dev-tools/ktap.rst`),
//! `no_std` and allocation-free, over [`Console`] or any [`fmt::Write`].
//!
//! ```text
//! KTAP version 1
//! 1..2
//!   KTAP version 1
//!   # Subtest: threads
//!   1..2
//!   ok 1 vm_shared_counter
//!   # expected 105, got 5
//!   not ok 2 files_shared_close
//! not ok 1 threads
//! ok 2 pid1 # SKIP not PID 1
//! # Totals: pass:1 fail:1 skip:0 total:2
//! ```
//!
//! Each line goes out in one `write_str` call (one `write(2)` on a [`Console`]) when it fits
//! [`LINE_MAX`] bytes, so lines from several processes writing to one console do not mix
//! inside a line. A subtest's own result line is derived from its cases: `not ok` if any
//! failed, `# SKIP` if all were skipped. [`Totals`] counts the leaf cases only.
//!
//! A writer for another process or a panic handler that must print at the current nesting
//! (diagnostics from a forked child, a `not ok` before `Bail out!`) is [`Ktap::nested`].

use core::fmt::{self, Write};

use clonekit::console::Console;

/// The deepest nesting of subtests a [`Ktap`] keeps counts for.
pub const MAX_DEPTH: usize = 4;

/// Lines up to this many bytes are written in one piece.
pub const LINE_MAX: usize = 256;

/// The result of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// `ok N name`.
    Pass,
    /// `not ok N name`.
    Fail,
    /// `ok N name # SKIP reason`.
    Skip(&'a str),
}

/// Counts of leaf test results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Skipped.
    pub skip: usize,
}

impl Totals {
    /// All results counted.
    pub const fn total(&self) -> usize {
        self.pass + self.fail + self.skip
    }

    fn add(&mut self, verdict: Verdict<'_>) {
        match verdict {
            Verdict::Pass => self.pass += 1,
            Verdict::Fail => self.fail += 1,
            Verdict::Skip(_) => self.skip += 1,
        }
    }
}

/// One nesting level: the results printed so far at it.
#[derive(Debug, Clone, Copy, Default)]
struct Level {
    printed: usize,
    counts: Totals,
}

/// A KTAP v1 report being written.
#[derive(Debug)]
pub struct Ktap<W: Write = Console<'static>> {
    out: W,
    depth: usize,
    /// Subtests opened past [`MAX_DEPTH`]: printed at the deepest level, which they share.
    beyond: usize,
    levels: [Level; MAX_DEPTH + 1],
    totals: Totals,
}

impl Ktap<Console<'static>> {
    /// A report on standard output (the serial console of an init).
    pub const fn stdout() -> Ktap<Console<'static>> {
        Ktap::new(Console::stdout())
    }
}

impl<W: Write> Ktap<W> {
    /// A report written to `out`, at the top level.
    pub const fn new(out: W) -> Ktap<W> {
        Ktap::nested(out, 0, 0)
    }

    /// A writer positioned inside a report another writer owns: at nesting `depth` (0 = top),
    /// where `printed` results have been printed already (the next is numbered
    /// `printed + 1`). For diagnostics from a child process or a panic handler.
    pub const fn nested(out: W, depth: usize, printed: usize) -> Ktap<W> {
        let depth = if depth > MAX_DEPTH { MAX_DEPTH } else { depth };
        let mut levels = [Level {
            printed: 0,
            counts: Totals {
                pass: 0,
                fail: 0,
                skip: 0,
            },
        }; MAX_DEPTH + 1];
        levels[depth].printed = printed;
        Ktap {
            out,
            depth,
            beyond: 0,
            levels,
            totals: Totals {
                pass: 0,
                fail: 0,
                skip: 0,
            },
        }
    }

    /// The current nesting: 0 at the top, 1 inside a subtest, ...
    pub const fn depth(&self) -> usize {
        self.depth
    }

    /// How many results the current level has printed (the next is numbered one more).
    pub const fn printed(&self) -> usize {
        self.levels[self.depth].printed
    }

    /// The leaf results so far.
    pub const fn totals(&self) -> Totals {
        self.totals
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Starts the report: `KTAP version 1` and the plan `1..plan`. An init prints a newline
    /// before it (`newline_first`), so firmware output on the same line cannot hide it.
    pub fn start(&mut self, plan: usize, newline_first: bool) {
        if newline_first {
            self.line(format_args!(""));
        }
        self.line(format_args!("KTAP version 1"));
        self.line(format_args!("1..{plan}"));
    }

    /// Opens a subtest of `plan` cases at the next nesting level: its version line, its
    /// `# Subtest: name` header and its plan.
    /// Past [`MAX_DEPTH`] the subtest shares the deepest level (its counts included).
    pub fn begin_subtest(&mut self, name: &str, plan: usize) {
        if self.depth < MAX_DEPTH {
            self.depth += 1;
            self.levels[self.depth] = Level::default();
        } else {
            self.beyond += 1;
        }
        self.line(format_args!("KTAP version 1"));
        self.line(format_args!("# Subtest: {name}"));
        self.line(format_args!("1..{plan}"));
    }

    /// Closes the current subtest and prints its result line in the parent: `not ok` if any
    /// case failed, skipped if every case was skipped (or there were none), `ok` otherwise.
    /// Returns that verdict.
    pub fn end_subtest(&mut self, name: &str) -> Verdict<'static> {
        let counts = self.levels[self.depth].counts;
        let verdict = if counts.fail > 0 {
            Verdict::Fail
        } else if counts.pass == 0 {
            Verdict::Skip("no case ran")
        } else {
            Verdict::Pass
        };
        if self.beyond > 0 {
            self.beyond -= 1;
        } else {
            self.depth = self.depth.saturating_sub(1);
        }
        self.print_result(name, verdict);
        verdict
    }

    /// Prints the result of a leaf case at the current level and counts it in the totals.
    pub fn result(&mut self, name: &str, verdict: Verdict<'_>) {
        self.totals.add(verdict);
        self.print_result(name, verdict);
    }

    /// `ok N name`.
    pub fn ok(&mut self, name: &str) {
        self.result(name, Verdict::Pass);
    }

    /// `not ok N name`.
    pub fn not_ok(&mut self, name: &str) {
        self.result(name, Verdict::Fail);
    }

    /// `ok N name # SKIP reason`.
    pub fn skip(&mut self, name: &str, reason: &str) {
        self.result(name, Verdict::Skip(reason));
    }

    fn print_result(&mut self, name: &str, verdict: Verdict<'_>) {
        let level = &mut self.levels[self.depth];
        level.printed += 1;
        level.counts.add(verdict);
        let n = level.printed;
        match verdict {
            Verdict::Pass => self.line(format_args!("ok {n} {name}")),
            Verdict::Fail => self.line(format_args!("not ok {n} {name}")),
            Verdict::Skip(reason) => self.line(format_args!("ok {n} {name} # SKIP {reason}")),
        }
    }

    /// A diagnostic line, `# ` and the text, at the current level. Newlines in the text
    /// start new `# ` lines.
    pub fn diag(&mut self, args: fmt::Arguments<'_>) {
        let mut line = Line::new(&mut self.out, self.depth * 2, "# ");
        let _ = line.write_fmt(args);
        line.finish();
    }

    /// `Bail out! reason`: the run ends here.
    pub fn bail_out(&mut self, args: fmt::Arguments<'_>) {
        self.line(format_args!("Bail out! {args}"));
    }

    /// The summary diagnostic: `# Totals: pass:N fail:N skip:N total:N`, at the top level.
    pub fn summary(&mut self) {
        let t = self.totals;
        let mut line = Line::new(&mut self.out, 0, "");
        let _ = write!(
            line,
            "# Totals: pass:{} fail:{} skip:{} total:{}",
            t.pass,
            t.fail,
            t.skip,
            t.total()
        );
        line.finish();
    }

    fn line(&mut self, args: fmt::Arguments<'_>) {
        let mut line = Line::new(&mut self.out, self.depth * 2, "");
        let _ = line.write_fmt(args);
        line.finish();
    }
}

/// One output line, assembled in a buffer and handed to the writer in one piece (or a few,
/// when longer than [`LINE_MAX`]); `prefix` is repeated after each embedded newline.
struct Line<'a, W: Write> {
    out: &'a mut W,
    buf: [u8; LINE_MAX],
    len: usize,
    indent: usize,
    prefix: &'static str,
}

impl<'a, W: Write> Line<'a, W> {
    fn new(out: &'a mut W, indent: usize, prefix: &'static str) -> Line<'a, W> {
        let mut line = Line {
            out,
            buf: [0; LINE_MAX],
            len: 0,
            indent,
            prefix,
        };
        line.start_line();
        line
    }

    fn start_line(&mut self) {
        for _ in 0..self.indent {
            self.push(" ");
        }
        self.push(self.prefix);
    }

    fn push(&mut self, s: &str) {
        if self.len + s.len() > LINE_MAX {
            self.flush();
        }
        if s.len() > LINE_MAX {
            let _ = self.out.write_str(s);
        } else {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        }
    }

    fn flush(&mut self) {
        // Only whole `&str`s are ever copied in, so the buffer is valid UTF-8.
        if let Ok(s) = core::str::from_utf8(&self.buf[..self.len]) {
            let _ = self.out.write_str(s);
        }
        self.len = 0;
    }

    fn finish(mut self) {
        self.push("\n");
        self.flush();
    }
}

impl<W: Write> Write for Line<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut parts = s.split('\n');
        if let Some(first) = parts.next() {
            self.push(first);
        }
        for part in parts {
            self.push("\n");
            self.start_line();
            self.push(part);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    /// Records every `write_str` call, to check both the text and that lines go out whole.
    #[derive(Default)]
    struct Calls(Vec<String>);

    impl Write for Calls {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.push(s.into());
            Ok(())
        }
    }

    impl Calls {
        fn text(&self) -> String {
            self.0.concat()
        }
    }

    #[test]
    fn subtests_past_max_depth_close_back_to_the_right_level() {
        let mut k = Ktap::new(Calls::default());
        for _ in 0..MAX_DEPTH + 2 {
            k.begin_subtest("deep", 1);
        }
        assert_eq!(k.depth(), MAX_DEPTH);
        k.ok("leaf");
        for _ in 0..MAX_DEPTH + 2 {
            k.end_subtest("deep");
        }
        assert_eq!(k.depth(), 0, "every end matches a begin");
        k.ok("after");
        assert!(
            k.get_mut().text().ends_with("\nok 2 after\n"),
            "{}",
            k.get_mut().text()
        );
    }

    #[test]
    fn nested_report_with_plan_subtests_skip_and_totals() {
        let mut k = Ktap::new(Calls::default());
        k.start(2, true);
        k.begin_subtest("threads", 3);
        k.ok("vm_counter");
        k.diag(format_args!("expected {}, got {}", 105, 5));
        k.not_ok("files_close");
        k.skip("io_context", "no CLONE_IO");
        assert_eq!(k.end_subtest("threads"), Verdict::Fail);
        k.begin_subtest("pid1", 1);
        k.ok("reaps_orphans");
        assert_eq!(k.end_subtest("pid1"), Verdict::Pass);
        k.summary();
        assert_eq!(
            k.get_mut().text(),
            "\nKTAP version 1\n1..2\n\
             \x20 KTAP version 1\n  # Subtest: threads\n  1..3\n\
             \x20 ok 1 vm_counter\n  # expected 105, got 5\n  not ok 2 files_close\n\
             \x20 ok 3 io_context # SKIP no CLONE_IO\n\
             not ok 1 threads\n\
             \x20 KTAP version 1\n  # Subtest: pid1\n  1..1\n  ok 1 reaps_orphans\n\
             ok 2 pid1\n\
             # Totals: pass:2 fail:1 skip:1 total:4\n"
        );
        assert_eq!(
            k.totals(),
            Totals {
                pass: 2,
                fail: 1,
                skip: 1
            }
        );
    }

    #[test]
    fn every_short_line_is_one_write() {
        let mut k = Ktap::new(Calls::default());
        k.start(1, false);
        k.begin_subtest("s", 1);
        k.diag(format_args!("a {} b {} c", 1, "two"));
        k.ok("case_with_a_name");
        assert!(k.get_mut().0.iter().all(|call| call.ends_with('\n')));
        assert_eq!(k.get_mut().0.len(), 7);
    }

    #[test]
    fn all_skipped_subtest_is_skipped_and_empty_one_too() {
        let mut k = Ktap::new(Calls::default());
        k.begin_subtest("a", 1);
        k.skip("x", "why");
        assert_eq!(k.end_subtest("a"), Verdict::Skip("no case ran"));
        k.begin_subtest("b", 0);
        assert_eq!(k.end_subtest("b"), Verdict::Skip("no case ran"));
        assert!(
            k.get_mut()
                .text()
                .ends_with("ok 1 a # SKIP no case ran\n  KTAP version 1\n  # Subtest: b\n  1..0\nok 2 b # SKIP no case ran\n")
        );
    }

    #[test]
    fn multiline_diagnostics_and_bail_out_keep_the_indent() {
        let mut k = Ktap::nested(Calls::default(), 1, 4);
        k.diag(format_args!("first\nsecond"));
        k.not_ok("panicked_case");
        k.bail_out(format_args!("panic: {}", "boom"));
        assert_eq!(
            k.get_mut().text(),
            "  # first\n  # second\n  not ok 5 panicked_case\n  Bail out! panic: boom\n"
        );
    }

    #[test]
    fn long_lines_are_split_on_str_boundaries_and_depth_is_capped() {
        let mut k = Ktap::nested(Calls::default(), MAX_DEPTH + 3, 0);
        assert_eq!(k.depth(), MAX_DEPTH);
        let long: String = "é".repeat(LINE_MAX);
        k.diag(format_args!("{long}"));
        let text = k.get_mut().text();
        assert_eq!(
            text,
            std::format!("{}# {long}\n", " ".repeat(2 * MAX_DEPTH))
        );
        assert!(k.get_mut().0.len() > 1);
    }

    #[test]
    fn console_backed_report_reaches_a_pipe() {
        use clonekit::sys::fs::{PipeFlags, pipe2, read};
        let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        let mut k = Ktap::new(Console::new(w.as_fd()));
        k.start(1, false);
        k.ok("pipe_case");
        let mut buf = [0u8; 64];
        let n = read(r.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"KTAP version 1\n1..1\nok 1 pipe_case\n");
    }
}
