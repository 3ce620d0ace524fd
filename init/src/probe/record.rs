//! Recording the signals a process receives: a handler for every catchable signal counts
//! them, and the waits run with the signals unblocked only inside `ppoll`, so none is
//! missed between a check and the sleep.
//!
//! `record` and `tree` are the probe's modes for a main program under test: they print
//! `ready <role> pid=P pgid=G ppid=Q`, then `got <number> <role>` for each signal, and exit
//! 0 at end of file on standard input (the scenario closes it).

use core::ffi::c_int;
use core::sync::atomic::{AtomicU32, Ordering};

use clonekit::Errno;
use clonekit::fd::BorrowedFd;
use clonekit::process::{self, Child};
use clonekit::sys::fs::{PollFd, PollFlags, ppoll, read};
use clonekit::sys::process::{getpid, getppid};
use clonekit::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, rt_sigaction, rt_sigprocmask,
    signal_default,
};
use clonekit::sys::time::Timespec;

use crate::out::say;
use crate::procstat;

/// How often each signal arrived (index: the signal number).
static COUNTS: [AtomicU32; 65] = [const { AtomicU32::new(0) }; 65];

extern "C" fn on_signal(sig: c_int) {
    if let Some(count) = COUNTS.get(sig as usize) {
        count.fetch_add(1, Ordering::SeqCst);
    }
}

/// Every signal a handler can take: all but `SIGKILL` and `SIGSTOP`.
pub fn catchable() -> SigSet {
    let mut set = SigSet::full();
    set.remove(Signal::SIGKILL);
    set.remove(Signal::SIGSTOP);
    set
}

/// The handlers installed for a set of signals, blocked outside [`Recorder::wait`].
pub struct Recorder {
    set: SigSet,
    seen: [u32; 65],
    old_mask: SigSet,
}

impl Recorder {
    /// Counts every signal of `set` from now on.
    pub fn install(set: SigSet) -> Result<Recorder, Errno> {
        let old_mask = rt_sigprocmask(SigmaskHow::Block, Some(&set))?;
        let mut seen = [0; 65];
        for sig in set.iter() {
            seen[sig.raw() as usize] = COUNTS[sig.raw() as usize].load(Ordering::SeqCst);
            let act = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), set);
            // SAFETY: the handler only adds to an atomic; it runs with every recorded
            // signal blocked (the action's mask), and cannot unwind.
            unsafe { rt_sigaction(sig, Some(&act)) }?;
        }
        Ok(Recorder {
            set,
            seen,
            old_mask,
        })
    }

    /// Sleeps with the signals unblocked until one arrives, `fd` (if any) is readable or
    /// `timeout` passes; hands each new signal (once per arrival) to `got`. Returns whether
    /// `fd` is readable (or hung up).
    pub fn wait(
        &mut self,
        fd: Option<BorrowedFd<'_>>,
        timeout: Option<&Timespec>,
        mut got: impl FnMut(Signal),
    ) -> Result<bool, Errno> {
        let mut fds = [fd.map_or(PollFd::ignored(), |fd| PollFd::new(fd, PollFlags::IN))];
        let n = usize::from(fd.is_some());
        let awake = SigSet::from_bits(self.old_mask.bits() & !self.set.bits());
        let ready = match ppoll(&mut fds[..n], timeout, Some(&awake)) {
            Ok(ready) => ready > 0,
            Err(Errno::EINTR) => false,
            Err(errno) => return Err(errno),
        };
        self.take(&mut got);
        Ok(ready)
    }

    /// Hands each signal counted since the last call to `got`.
    pub fn take(&mut self, got: &mut impl FnMut(Signal)) {
        for sig in self.set.iter() {
            let i = sig.raw() as usize;
            let now = COUNTS[i].load(Ordering::SeqCst);
            while self.seen[i] != now {
                self.seen[i] = self.seen[i].wrapping_add(1);
                got(sig);
            }
        }
    }

    /// The default dispositions back, and the old mask.
    pub fn uninstall(self) {
        for sig in self.set.iter() {
            let _ = signal_default(sig);
        }
        let _ = rt_sigprocmask(SigmaskHow::SetMask, Some(&self.old_mask));
    }
}

/// The `record` mode (and, with `grandchild`, `tree`: a grandchild in the same process
/// group records too). In `tree` mode `SIGCHLD` is not recorded (the grandchild's exit
/// sends one).
pub fn record(grandchild: bool) -> i32 {
    let mut set = catchable();
    if grandchild {
        set.remove(Signal::SIGCHLD);
    }
    let Ok(mut recorder) = Recorder::install(set) else {
        return 2;
    };
    let mut other: Option<Child> = None;
    if grandchild {
        match process::fork(|| until_end_of_input(&mut recorder, "grandchild")) {
            Ok(child) => other = Some(child),
            Err(_) => return 3,
        }
    }
    let code = until_end_of_input(&mut recorder, "child");
    if let Some(mut child) = other {
        let _ = child.wait();
    }
    code
}

/// `ready <role> pid=P pgid=G ppid=Q tpgid=T` (T: the terminal's foreground group, -1
/// without a controlling terminal).
pub fn say_ready(role: &str) {
    let stat = procstat::own();
    say!(
        "ready {role} pid={} pgid={} ppid={} tpgid={}",
        getpid(),
        stat.map_or(-1, |s| s.pgrp),
        getppid(),
        stat.map_or(-1, |s| s.tpgid)
    );
}

/// Prints `ready`, then a `got` line for every signal, until standard input ends.
fn until_end_of_input(recorder: &mut Recorder, role: &str) -> i32 {
    say_ready(role);
    // SAFETY: descriptor 0 is standard input, open for the program's life.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    loop {
        let readable = match recorder.wait(Some(stdin), None, |sig| {
            say!("got {} {role}", sig.raw());
        }) {
            Ok(readable) => readable,
            Err(_) => return 4,
        };
        if readable {
            let mut buf = [0u8; 64];
            match read(stdin, &mut buf) {
                Ok(0) => return 0,
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return 5,
            }
        }
    }
}
