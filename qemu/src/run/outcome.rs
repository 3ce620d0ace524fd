//! How a `run` ended, read from the kernel's console, and the exit code that says so.
//!
//! | exit code | when |
//! |---|---|
//! | 0-255 | the program's own exit code (128 + N when signal N killed it), from clonekit-init's `clonekit-init: exit-code=N` line |
//! | 121 | the machine went down after the program started, without its exit status and without a kernel panic (the program powered it off or rebooted it) |
//! | 122 | the kernel panicked (before or after the program started) |
//! | 123 | the boot never reached the program: QEMU stopped or the time ran out before `clonekit-launch` started it (no kernel panic seen) |
//! | 124 | the program did not end within `--timeout` (QEMU was killed) |
//! | 125 | clonekit-qemu refused or failed before the program could run: bad arguments, a program or library it cannot pack, a kernel QEMU cannot boot, QEMU missing or failing to start |
//!
//! The program's own codes can be any of 0-255, so these cannot be told apart by the number
//! alone: a code of 121-125 comes with a `clonekit-qemu:` message on stderr saying which
//! it is. 124 and 125 are `timeout(1)`'s; 126 and 127 keep their shell meaning (from the
//! guest: the program could not be executed / was not found).

use std::time::Duration;

/// clonekit-init's status line (init/src/machine.rs).
pub const STATUS: &str = "clonekit-init: exit-code=";

/// The launcher's line just before it execs the program.
pub const EXEC: &str = "clonekit-launch: exec uptime=";

/// The launcher's messages start so.
pub const LAUNCHER: &str = "clonekit-launch: ";

pub const MACHINE_STOPPED: i32 = 121;
pub const KERNEL_PANIC: i32 = 122;
pub const NEVER_REACHED: i32 = 123;
pub const TIMEOUT: i32 = 124;
pub const TOOL_FAILED: i32 = 125;

/// What the console said, with when each thing was seen (since QEMU started).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Console {
    /// When the kernel's banner (`Linux version ...`, its first line) arrived: only with
    /// `--kernel-log`, which logs from the first line.
    pub kernel_start: Option<Duration>,
    /// The launcher's exec line: when it arrived, and the kernel's uptime it reported.
    pub exec: Option<(Duration, Option<f64>)>,
    /// The last status line after the exec line: when, and the code.
    pub status: Option<(Duration, i32)>,
    /// The first `Kernel panic` line.
    pub panic: Option<String>,
    /// The launcher's last complaint (`clonekit-launch: ...` other than the exec line).
    pub launcher_error: Option<String>,
}

impl Console {
    /// Reads the console's lines (with their arrival times).
    pub fn read<'a>(lines: impl IntoIterator<Item = (Duration, &'a str)>) -> Console {
        let mut c = Console::default();
        for (t, line) in lines {
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(at) = line.find(EXEC) {
                let uptime = line[at + EXEC.len()..].trim().parse().ok();
                c.exec = Some((t, uptime));
                c.status = None;
            } else if let Some(at) = line.find(STATUS) {
                if c.exec.is_some()
                    && let Ok(code) = line[at + STATUS.len()..].trim().parse()
                {
                    c.status = Some((t, code));
                }
            } else if let Some(at) = line.find(LAUNCHER) {
                c.launcher_error = Some(line[at..].to_string());
            } else if c.kernel_start.is_none() && line.contains("Linux version ") {
                c.kernel_start = Some(t);
            } else if c.panic.is_none()
                && let Some(at) = line.find("Kernel panic")
            {
                c.panic = Some(line[at..].to_string());
            }
        }
        c
    }
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// The program ended with this exit code.
    Program(i32),
    /// The time ran out after the program started.
    Timeout,
    /// The kernel panicked; the panic line.
    KernelPanic(String),
    /// The boot never reached the program; why, as far as is known.
    NeverReached(String),
    /// The machine went down after the program started, without its status.
    MachineStopped,
}

impl Ending {
    /// Judges a run from its console and whether QEMU was killed at the time limit.
    pub fn judge(console: &Console, timed_out: bool) -> Ending {
        if let Some((_, code)) = console.status {
            return Ending::Program(code);
        }
        if let Some(panic) = &console.panic {
            return Ending::KernelPanic(panic.clone());
        }
        match (console.exec.is_some(), timed_out) {
            (true, true) => Ending::Timeout,
            (true, false) => Ending::MachineStopped,
            (false, _) => Ending::NeverReached(match &console.launcher_error {
                Some(why) => why.clone(),
                None if timed_out => "the time ran out before the program started".into(),
                None => "QEMU stopped before the program started".into(),
            }),
        }
    }

    /// The exit code `run` ends with (see the module's table).
    pub fn exit_code(&self) -> i32 {
        match self {
            Ending::Program(code) => *code,
            Ending::MachineStopped => MACHINE_STOPPED,
            Ending::KernelPanic(_) => KERNEL_PANIC,
            Ending::NeverReached(_) => NEVER_REACHED,
            Ending::Timeout => TIMEOUT,
        }
    }

    /// What to tell the user on stderr (nothing when the program ended on its own).
    pub fn message(&self, timeout: Duration) -> Option<String> {
        match self {
            Ending::Program(_) => None,
            Ending::Timeout => Some(format!(
                "the program did not end within {} s (--timeout); QEMU was stopped (exit code {TIMEOUT})",
                timeout.as_secs()
            )),
            Ending::KernelPanic(line) => Some(format!(
                "the kernel panicked: {line} (exit code {KERNEL_PANIC})"
            )),
            Ending::NeverReached(why) => Some(format!(
                "the boot never reached the program: {why} (exit code {NEVER_REACHED})"
            )),
            Ending::MachineStopped => Some(format!(
                "the machine went down after the program started, without its exit status \
                 (did the program power it off or reboot it?) (exit code {MACHINE_STOPPED})"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(lines: &[&str]) -> Console {
        Console::read(
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| (Duration::from_millis(100 * i as u64), *l)),
        )
    }

    #[test]
    fn the_programs_code_passes_through_signals_as_128_plus_n() {
        let console = read(&[
            "OpenSBI v1.5",
            "[    0.000000] Linux version 6.12.117",
            "clonekit-launch: exec uptime=1.52\r",
            "clonekit-init: exit-code=3\r",
            "[    2.1] reboot: Power down",
        ]);
        assert_eq!(console.kernel_start, Some(Duration::from_millis(100)));
        assert_eq!(console.exec, Some((Duration::from_millis(200), Some(1.52))));
        assert_eq!(console.status, Some((Duration::from_millis(300), 3)));
        assert_eq!(Ending::judge(&console, false), Ending::Program(3));
        assert_eq!(Ending::judge(&console, false).exit_code(), 3);
        for code in [0, 1, 126, 127, 137, 139, 255] {
            let c = read(&[
                "clonekit-launch: exec uptime=0.9",
                &format!("clonekit-init: exit-code={code}"),
            ]);
            let ending = Ending::judge(&c, false);
            assert_eq!(ending.exit_code(), code);
            assert_eq!(ending.message(Duration::from_secs(1)), None);
        }
    }

    #[test]
    fn a_timeout_after_the_start_is_124_and_before_it_123() {
        let started = read(&["clonekit-launch: exec uptime=1.0"]);
        assert_eq!(Ending::judge(&started, true), Ending::Timeout);
        assert_eq!(Ending::judge(&started, true).exit_code(), 124);
        let m = Ending::judge(&started, true)
            .message(Duration::from_secs(7))
            .unwrap();
        assert!(m.contains("within 7 s"), "{m}");
        let silent = read(&["SeaBIOS (version 1.16)"]);
        let ending = Ending::judge(&silent, true);
        assert_eq!(ending.exit_code(), 123);
        assert!(
            ending
                .message(Duration::from_secs(1))
                .unwrap()
                .contains("time ran out")
        );
    }

    #[test]
    fn a_kernel_panic_is_122_wherever_it_happens() {
        let before = read(&[
            "[    0.5] Kernel panic - not syncing: VFS: Unable to mount root fs",
            "[    0.5] ---[ end Kernel panic",
        ]);
        assert_eq!(
            Ending::judge(&before, false),
            Ending::KernelPanic("Kernel panic - not syncing: VFS: Unable to mount root fs".into())
        );
        let after = read(&[
            "clonekit-launch: exec uptime=1.0",
            "[    3.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b",
        ]);
        assert_eq!(Ending::judge(&after, false).exit_code(), 122);
    }

    #[test]
    fn a_boot_that_never_reached_the_program_says_why() {
        let c = read(&[
            "clonekit-launch: opening the stdout device: ENOENT (No such file or directory)",
            "clonekit-init: exit-code=125",
        ]);
        // The status line of a launcher that failed is not the program's.
        assert_eq!(c.status, None);
        let ending = Ending::judge(&c, false);
        assert_eq!(ending.exit_code(), 123);
        assert!(
            ending
                .message(Duration::from_secs(1))
                .unwrap()
                .contains("opening the stdout device"),
        );
        assert_eq!(
            Ending::judge(&read(&[]), false),
            Ending::NeverReached("QEMU stopped before the program started".into())
        );
    }

    #[test]
    fn a_machine_that_stops_after_the_start_without_a_status_is_121() {
        let c = read(&[
            "clonekit-launch: exec uptime=1.0",
            "[ 2.0] reboot: Power down",
        ]);
        assert_eq!(Ending::judge(&c, false).exit_code(), 121);
    }

    #[test]
    fn codes_are_distinct_and_documented() {
        let codes = [
            MACHINE_STOPPED,
            KERNEL_PANIC,
            NEVER_REACHED,
            TIMEOUT,
            TOOL_FAILED,
        ];
        let mut sorted = codes.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), codes.len());
        let doc = include_str!("outcome.rs");
        for code in codes {
            assert!(
                doc.contains(&format!("//! | {code} |")),
                "{code} undocumented"
            );
        }
    }
}
