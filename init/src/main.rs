//! clonekit-init: a tini-class PID 1 in under 12 KiB, on clonekit.
//!
//! `clonekit-init [-s] [-g] [-e CODE]... [-p SIGNAL] [-v] [-w] [--] PROGRAM [ARGS]` runs
//! PROGRAM as its child and, until it terminates, forwards every signal it receives to it
//! (or, with `-g`, to its process group), reaps every zombie (orphans re-parented to it
//! included), and then exits with the child's exit code (128 + N when signal N killed it;
//! codes given with `-e` become 0). The semantics are tini's (src/tini.c); where they
//! differ on purpose, init/README.md says why.
//!
//! As the kernel's own init (PID 1 of the initial PID namespace, the arguments coming from
//! the kernel command line after `--`) it is in machine mode ([`machine`]): it mounts
//! `/proc`, `/sys`, `/dev` and `/tmp` first, and at the end prints one status line on the
//! console, syncs and powers the machine off.
//!
//! No `core::fmt` anywhere ([`say`] writes the messages), so the static binary stays small.
#![no_std]
#![no_main]

mod machine;
mod options;
mod say;

use clonekit::Errno;
use clonekit::init::{
    MainProgram, Seen, SignalsTaken, SpawnFailure, SpawnStep, Supervisor, Target, claim_machine,
};
use clonekit::rt::Args;
use clonekit::sys::process::{
    exit_group, get_child_subreaper, getpid, set_child_subreaper, set_pdeathsig,
};

use options::Options;
use say::Line;

clonekit::entry!(main);

fn main(args: &Args) -> i32 {
    if claim_machine() {
        machine::run(args)
    }
    run(args)
}

/// tini's `main`: options, signals, parent-death signal, subreaper, the child, the loop.
/// Returns the exit code.
pub fn run(args: &Args) -> i32 {
    let options = match options::parse(args) {
        Ok(options) => options,
        Err(code) => return code,
    };
    let signals = match SignalsTaken::take() {
        Ok(signals) => signals,
        Err(errno) => return fatal(b"taking the signals over", errno),
    };
    if let Some(sig) = options.parent_death
        && let Err(errno) = set_pdeathsig(Some(sig))
    {
        return fatal(b"setting the parent-death signal", errno);
    }
    if options.subreaper
        && let Err(errno) = set_child_subreaper(true)
    {
        return fatal(b"registering as a child subreaper", errno);
    }
    if options.verbosity > 0 && getpid() != 1 && get_child_subreaper() != Ok(true) {
        Line::new()
            .text(b"warning: not PID 1 and not a child subreaper: zombies whose parent dies are not re-parented here (use -s)")
            .write_err();
    }
    let Some(program) = MainProgram::from_args(args, options.program) else {
        return 1; // not reached: the options name an argument that is there
    };
    let spawned = match program.spawn(&signals) {
        Ok(spawned) => spawned,
        Err(errno) => return fatal(b"fork", errno),
    };
    if let Some(failure) = spawned.failure {
        report_failure(program.name().to_bytes(), failure);
    } else if options.verbosity > 1 {
        Line::new()
            .text(b"spawned ")
            .text(program.name().to_bytes())
            .text(b" as pid ")
            .num(spawned.pid as u64)
            .write_out();
    }
    supervise(&options, spawned.pid, &signals)
}

/// The loop, with tini's messages for what it sees.
fn supervise(options: &Options, child: clonekit::sys::Pid, signals: &SignalsTaken) -> i32 {
    let target = if options.group {
        Target::Group
    } else {
        Target::Child
    };
    let supervisor = Supervisor::new(child)
        .target(target)
        .success_codes(options.success);
    let seen = |seen: Seen| match seen {
        Seen::Forwarded(sig, Err(errno)) if options.verbosity > 0 => {
            let mut line = Line::new();
            line.text(b"warning: forwarding ").signal(sig);
            if errno == Errno::ESRCH {
                line.text(b": the child was gone");
            } else {
                line.text(b": ").errno(errno);
            }
            line.write_err();
        }
        Seen::Reaped(pid, _) if options.warn_on_reap && options.verbosity > 0 => {
            Line::new()
                .text(b"warning: reaped zombie process ")
                .num(pid as u64)
                .write_err();
        }
        Seen::MainExited(status) if options.verbosity > 1 => {
            let mut line = Line::new();
            line.text(b"the child ");
            match status.signal() {
                Some(sig) => line.text(b"was killed by ").signal(sig),
                None => line
                    .text(b"exited with ")
                    .num(status.code().unwrap_or(0) as u64),
            };
            line.write_out();
        }
        _ => {}
    };
    match supervisor.run(signals, seen) {
        Ok(code) => i32::from(code),
        Err(errno) => fatal(b"supervising the child", errno),
    }
}

/// `exec PROGRAM failed: ENOENT (2)` (or the step that failed before it).
fn report_failure(program: &[u8], failure: SpawnFailure) {
    let step: &[u8] = match failure.step {
        SpawnStep::ProcessGroup => b"setpgid",
        SpawnStep::Terminal => b"tcsetpgrp",
        SpawnStep::Signals => b"restoring the signals",
        SpawnStep::Exec => b"exec ",
    };
    let mut line = Line::new();
    line.text(step);
    if failure.step == SpawnStep::Exec {
        line.text(program);
    }
    line.text(b" failed: ").errno(failure.errno).write_err();
}

/// A fatal error: its message, and exit code 1 (tini's).
fn fatal(what: &[u8], errno: Errno) -> i32 {
    Line::new()
        .text(what)
        .text(b" failed: ")
        .errno(errno)
        .write_err();
    1
}

/// A panic cannot happen on any path of this program (the binary holds no panic
/// formatting; the size check looks for it): if one did, exit as tini does on a fatal
/// error, or, as PID 1 of the machine, power off.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    if getpid() == 1 {
        let _ = clonekit::init::power_off();
    }
    exit_group(1)
}
