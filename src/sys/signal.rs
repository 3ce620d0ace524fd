//! Signals: [`Signal`], [`SigSet`], dispositions (`rt_sigaction`), masks
//! (`rt_sigprocmask`), sending (`kill`, `tgkill`, pidfds).
//!
//! ```
//! use clonekit::sys::process::getpid;
//! use clonekit::sys::signal::{SigSet, SigmaskHow, Signal, kill, rt_sigprocmask, sigtimedwait};
//! # if clonekit::program::emulated() {
//! #     return Ok(()); // a process-directed signal could land on one of qemu-user's threads
//! # }
//!
//! assert_eq!(Signal::from_raw(10), Some(Signal::SIGUSR1));
//! assert_eq!(Signal::rt(0).map(Signal::raw), Some(32)); // the kernel's SIGRTMIN
//! let usr1 = SigSet::empty().with(Signal::SIGUSR1);
//!
//! // Blocked, a signal waits in the queue until it is taken.
//! let old = rt_sigprocmask(SigmaskHow::Block, Some(&usr1))?;
//! kill(getpid(), Signal::SIGUSR1)?;
//! assert_eq!(sigtimedwait(&usr1, None)?, Signal::SIGUSR1);
//! rt_sigprocmask(SigmaskHow::SetMask, Some(&old))?;
//! # Ok::<(), clonekit::Errno>(())
//! ```

use crate::errno::from_syscall;
use crate::fd::{AsFd, OwnedFd, RawFd};
use crate::sys::Pid;
use crate::sys::time::Timespec;
use crate::{Errno, Result};
use core::ffi::{c_int, c_ulong, c_void};
use core::fmt;
use linux_raw_sys::general as g;
use sc::{syscall2, syscall3, syscall4};

/// A signal number, `1..=64` (31 classic signals, then the real-time ones).
///
/// The classic signals are associated constants with their kernel names
/// (`Signal::SIGCHLD`); real-time signals come from [`Signal::rt`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(u8);

macro_rules! signals {
    ($($name:ident => $doc:literal,)*) => {
        impl Signal {
            $(
                #[doc = concat!("`", stringify!($name), "`: ", $doc, ".")]
                pub const $name: Signal = Signal(g::$name as u8);
            )*

            /// The kernel name, e.g. `"SIGCHLD"`; real-time signals are `"SIGRT"`
            /// (see [`Signal::raw`] for the number).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Signal::$name => stringify!($name),)*
                    _ => "SIGRT",
                }
            }
        }
    };
}

signals! {
    SIGHUP => "hang-up, or a PID namespace's init asked to restart",
    SIGINT => "interrupt from the keyboard, or a PID namespace's init asked to power off",
    SIGQUIT => "quit from the keyboard",
    SIGILL => "illegal instruction",
    SIGTRAP => "trace or breakpoint trap",
    SIGABRT => "abort",
    SIGBUS => "bus error",
    SIGFPE => "arithmetic exception",
    SIGKILL => "kill (cannot be caught, blocked or ignored)",
    SIGUSR1 => "user-defined signal 1",
    SIGSEGV => "invalid memory reference",
    SIGUSR2 => "user-defined signal 2",
    SIGPIPE => "write to a pipe with no readers",
    SIGALRM => "timer from alarm",
    SIGTERM => "termination request",
    SIGSTKFLT => "stack fault (unused)",
    SIGCHLD => "child stopped, continued or terminated",
    SIGCONT => "continue if stopped",
    SIGSTOP => "stop (cannot be caught, blocked or ignored)",
    SIGTSTP => "stop typed at the terminal",
    SIGTTIN => "terminal input for a background process",
    SIGTTOU => "terminal output for a background process",
    SIGURG => "urgent condition on a socket",
    SIGXCPU => "CPU time limit exceeded",
    SIGXFSZ => "file size limit exceeded",
    SIGVTALRM => "virtual alarm clock",
    SIGPROF => "profiling timer expired",
    SIGWINCH => "window resize",
    SIGIO => "I/O now possible",
    SIGPWR => "power failure",
    SIGSYS => "bad system call",
}

impl Signal {
    /// The number of the first real-time signal the kernel defines (`SIGRTMIN`, 32).
    /// glibc reserves 32 and 33 for itself; its `SIGRTMIN()` is 34.
    pub const RTMIN: i32 = 32;
    /// The highest signal number (`_NSIG`, 64).
    pub const MAX: i32 = g::_NSIG as i32;

    /// The signal numbered `raw`, if `1..=64`.
    pub const fn from_raw(raw: i32) -> Option<Signal> {
        if raw >= 1 && raw <= Signal::MAX {
            Some(Signal(raw as u8))
        } else {
            None
        }
    }

    /// The real-time signal `SIGRTMIN + n` (kernel numbering), if `n <= 32`.
    pub const fn rt(n: i32) -> Option<Signal> {
        if n < 0 {
            None
        } else {
            Signal::from_raw(Signal::RTMIN + n)
        }
    }

    /// The signal number.
    pub const fn raw(self) -> i32 {
        self.0 as i32
    }

    /// Whether this is a real-time signal (`>= 32`).
    pub const fn is_realtime(self) -> bool {
        self.raw() >= Signal::RTMIN
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signal({self})")
    }
}

impl fmt::Display for Signal {
    /// `SIGCHLD`, or `SIGRTMIN+n` for real-time signals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_realtime() {
            write!(f, "SIGRTMIN+{}", self.raw() - Signal::RTMIN)
        } else {
            f.write_str(self.name())
        }
    }
}

/// A set of signals (the kernel's 64-bit `sigset_t`).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SigSet(u64);

static_assertions::assert_eq_size!(SigSet, g::kernel_sigset_t);

impl SigSet {
    /// No signals.
    pub const fn empty() -> SigSet {
        SigSet(0)
    }

    /// Every signal, 1..=64 (the kernel silently never blocks `SIGKILL`/`SIGSTOP`).
    pub const fn full() -> SigSet {
        SigSet(u64::MAX)
    }

    const fn bit(sig: Signal) -> u64 {
        1 << (sig.0 - 1)
    }

    /// This set plus `sig` (for building constants).
    pub const fn with(self, sig: Signal) -> SigSet {
        SigSet(self.0 | SigSet::bit(sig))
    }

    /// Adds `sig`.
    pub fn add(&mut self, sig: Signal) {
        self.0 |= SigSet::bit(sig);
    }

    /// Removes `sig`.
    pub fn remove(&mut self, sig: Signal) {
        self.0 &= !SigSet::bit(sig);
    }

    /// Whether `sig` is in the set.
    pub const fn contains(&self, sig: Signal) -> bool {
        self.0 & SigSet::bit(sig) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The kernel's bit mask: bit `n - 1` for signal `n`.
    pub const fn bits(&self) -> u64 {
        self.0
    }

    /// A set from the kernel's bit mask.
    pub const fn from_bits(bits: u64) -> SigSet {
        SigSet(bits)
    }

    /// The signals in the set, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = Signal> + '_ {
        (1..=Signal::MAX)
            .filter_map(Signal::from_raw)
            .filter(|s| self.contains(*s))
    }
}

impl fmt::Debug for SigSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

bitflags::bitflags! {
    /// `SA_*` flags for a [`SigAction`] (`SA_SIGINFO` and `SA_RESTORER` are managed by
    /// [`rt_sigaction`] itself).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SaFlags: u32 {
        /// `SA_NOCLDSTOP`: no `SIGCHLD` when children stop or continue.
        const NOCLDSTOP = g::SA_NOCLDSTOP;
        /// `SA_NOCLDWAIT`: children are reaped automatically (no zombies).
        const NOCLDWAIT = g::SA_NOCLDWAIT;
        /// `SA_ONSTACK`: run on the alternate signal stack.
        const ONSTACK = g::SA_ONSTACK;
        /// `SA_RESTART`: restart interruptible syscalls after the handler.
        const RESTART = g::SA_RESTART;
        /// `SA_NODEFER`: do not block the signal during its handler.
        const NODEFER = g::SA_NODEFER;
        /// `SA_RESETHAND`: reset to the default after one delivery.
        const RESETHAND = g::SA_RESETHAND;
    }
}

/// What a signal does on delivery.
///
/// Equality compares handler addresses (`core::ptr::fn_addr_eq`): the same function
/// may have several addresses across codegen units, so a mismatch is not proof of a
/// different handler.
#[derive(Debug, Clone, Copy)]
pub enum SigHandler {
    /// `SIG_DFL`: the default action.
    Default,
    /// `SIG_IGN`: discard the signal.
    Ignore,
    /// A handler called with the signal number.
    Handler(extern "C" fn(c_int)),
    /// An `SA_SIGINFO` handler called with the number, a `siginfo_t *` and a
    /// `ucontext_t *`.
    SigInfo(extern "C" fn(c_int, *mut c_void, *mut c_void)),
}

impl PartialEq for SigHandler {
    fn eq(&self, other: &SigHandler) -> bool {
        use core::ptr::fn_addr_eq;
        match (*self, *other) {
            (SigHandler::Default, SigHandler::Default)
            | (SigHandler::Ignore, SigHandler::Ignore) => true,
            (SigHandler::Handler(a), SigHandler::Handler(b)) => fn_addr_eq(a, b),
            (SigHandler::SigInfo(a), SigHandler::SigInfo(b)) => fn_addr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for SigHandler {}

/// A signal disposition for [`rt_sigaction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigAction {
    /// What happens on delivery.
    pub handler: SigHandler,
    /// `SA_*` flags.
    pub flags: SaFlags,
    /// Signals blocked while the handler runs (besides the signal itself unless
    /// `NODEFER`).
    pub mask: SigSet,
    /// The `sa_restorer` read back from the kernel (0 for a new action), so that
    /// re-installing an old action keeps its restorer.
    restorer: usize,
}

impl SigAction {
    /// A disposition with the given handler, flags and handler mask.
    pub const fn new(handler: SigHandler, flags: SaFlags, mask: SigSet) -> SigAction {
        SigAction {
            handler,
            flags,
            mask,
            restorer: 0,
        }
    }
}

fn to_kernel(act: &SigAction) -> g::kernel_sigaction {
    let mut flags = act.flags.bits() as c_ulong;
    let handler: usize = match act.handler {
        SigHandler::Default => 0, // SIG_DFL
        SigHandler::Ignore => 1,  // SIG_IGN
        SigHandler::Handler(f) => f as usize,
        SigHandler::SigInfo(f) => {
            flags |= g::SA_SIGINFO as c_ulong;
            f as usize
        }
    };
    // SAFETY: kernel_sigaction is plain data (integers and nullable function
    // pointers), for which all-zero is valid.
    let mut k: g::kernel_sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: the field is an `Option<fn>`, pointer-sized with 0 meaning `None`;
    // SIG_IGN (1) is a non-null value the kernel interprets, never called by us.
    k.sa_handler_kernel =
        unsafe { core::mem::transmute::<usize, g::__kernel_sighandler_t>(handler) };
    k.sa_flags = flags;
    k.sa_mask = g::kernel_sigset_t { sig: [act.mask.0] };
    set_restorer(&mut k, act.restorer);
    k
}

/// x86_64 (and aarch64 when the arch supplies one): the signal frame returns through
/// `sa_restorer`, which must call `rt_sigreturn`. aarch64 falls back to the vDSO's
/// trampoline when none is given.
#[cfg(not(target_arch = "riscv64"))]
fn set_restorer(k: &mut g::kernel_sigaction, old: usize) {
    if old != 0 {
        k.sa_flags |= g::SA_RESTORER as c_ulong;
        // SAFETY: `old` is the non-null restorer the kernel reported for an action.
        k.sa_restorer = unsafe { core::mem::transmute::<usize, g::__sigrestore_t>(old) };
    } else if let Some(f) = crate::arch::SIGNAL_RESTORER {
        k.sa_flags |= g::SA_RESTORER as c_ulong;
        k.sa_restorer = Some(f);
    }
}

/// riscv64's `struct sigaction` has no `sa_restorer`: the vDSO always provides the
/// return trampoline.
#[cfg(target_arch = "riscv64")]
fn set_restorer(_k: &mut g::kernel_sigaction, _old: usize) {
    const _: () = assert!(
        crate::arch::SIGNAL_RESTORER.is_none(),
        "riscv64 has no sa_restorer"
    );
}

#[cfg(not(target_arch = "riscv64"))]
fn restorer_of(k: &g::kernel_sigaction) -> usize {
    if k.sa_flags & g::SA_RESTORER as c_ulong != 0 {
        k.sa_restorer.map_or(0, |f| f as usize)
    } else {
        0
    }
}

#[cfg(target_arch = "riscv64")]
fn restorer_of(_k: &g::kernel_sigaction) -> usize {
    0
}

fn from_kernel(k: &g::kernel_sigaction) -> SigAction {
    let raw = k.sa_handler_kernel.map_or(0, |f| f as usize);
    let siginfo = k.sa_flags & g::SA_SIGINFO as c_ulong != 0;
    let handler = match raw {
        0 => SigHandler::Default,
        1 => SigHandler::Ignore,
        // SAFETY: the kernel reports back the non-null handler address installed for
        // this signal, which was a function of the matching signature.
        _ if siginfo => SigHandler::SigInfo(unsafe {
            core::mem::transmute::<usize, extern "C" fn(c_int, *mut c_void, *mut c_void)>(raw)
        }),
        _ => {
            // SAFETY: as above, for a one-argument handler.
            let f = unsafe { core::mem::transmute::<usize, extern "C" fn(c_int)>(raw) };
            SigHandler::Handler(f)
        }
    };
    SigAction {
        handler,
        flags: SaFlags::from_bits_truncate(k.sa_flags as u32),
        mask: SigSet(k.sa_mask.sig[0]),
        restorer: restorer_of(k),
    }
}

/// `rt_sigaction(sig, act, oldact, 8)`: sets (when `act` is given) and returns the
/// previous disposition of `sig`.
///
/// When the arch needs a signal-return trampoline (`crate::arch::SIGNAL_RESTORER`,
/// x86_64), it is installed with `SA_RESTORER`. `SIGKILL`/`SIGSTOP` give `EINVAL`.
///
/// # Safety
///
/// A `Handler`/`SigInfo` function runs asynchronously, interrupting any code of any
/// thread of the process (or of a `CLONE_SIGHAND` sibling): it must be
/// async-signal-safe (no locks, no allocation, only atomics and raw syscalls) and
/// must not unwind. Replacing a disposition another component installed (std's stack
/// overflow handler for `SIGSEGV`, glibc's for 32/33) breaks that component.
/// `Default`/`Ignore` have no such requirement (see [`signal_default`]).
///
/// # References
/// rt_sigaction(2), sigaction(2)
pub unsafe fn rt_sigaction(sig: Signal, act: Option<&SigAction>) -> Result<SigAction, Errno> {
    let new = act.map(to_kernel);
    // SAFETY: all-zero is a valid kernel_sigaction (see `to_kernel`).
    let mut old: g::kernel_sigaction = unsafe { core::mem::zeroed() };
    let np = new
        .as_ref()
        .map_or(0, |k| k as *const g::kernel_sigaction as usize);
    // SAFETY: the kernel reads `new` (if given) and writes `old`, both locals of the
    // right layout with an 8-byte sigset; the caller vouches for the handler.
    from_syscall(unsafe {
        syscall4(
            g::__NR_rt_sigaction as usize,
            sig.raw() as usize,
            np,
            &mut old as *mut g::kernel_sigaction as usize,
            core::mem::size_of::<g::kernel_sigset_t>(),
        )
    })?;
    Ok(from_kernel(&old))
}

/// Sets `sig` to `SIG_DFL`, returning the previous disposition.
///
/// # References
/// rt_sigaction(2)
pub fn signal_default(sig: Signal) -> Result<SigAction, Errno> {
    let act = SigAction::new(SigHandler::Default, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_DFL runs no code.
    unsafe { rt_sigaction(sig, Some(&act)) }
}

/// How [`rt_sigprocmask`] combines the given set with the thread's mask.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigmaskHow {
    /// `SIG_BLOCK`: add the set.
    Block = g::SIG_BLOCK,
    /// `SIG_UNBLOCK`: remove the set.
    Unblock = g::SIG_UNBLOCK,
    /// `SIG_SETMASK`: replace the mask with the set.
    SetMask = g::SIG_SETMASK,
}

/// `rt_sigprocmask(how, set, oldset, 8)`: changes the calling thread's signal mask
/// (when `set` is given) and returns the previous one.
///
/// The raw call does not protect glibc's internal signals 32 and 33 the way
/// `pthread_sigmask` does; blocking them in a std program can stall `setxid` calls.
///
/// # References
/// rt_sigprocmask(2), sigprocmask(2)
pub fn rt_sigprocmask(how: SigmaskHow, set: Option<&SigSet>) -> Result<SigSet, Errno> {
    let mut old = SigSet::empty();
    let sp = set.map_or(0, |s| s as *const SigSet as usize);
    // SAFETY: the kernel reads one 8-byte sigset from `set` (if given) and writes one
    // into `old`.
    from_syscall(unsafe {
        syscall4(
            g::__NR_rt_sigprocmask as usize,
            how as usize,
            sp,
            &mut old as *mut SigSet as usize,
            core::mem::size_of::<SigSet>(),
        )
    })?;
    Ok(old)
}

/// `kill(pid, sig)`: sends `sig` to a process (`pid > 0`), the caller's process group
/// (`0`), every process it may signal (`-1`) or a process group (`< -1`).
///
/// # References
/// kill(2)
pub fn kill(pid: Pid, sig: Signal) -> Result<(), Errno> {
    // SAFETY: kill takes no pointers.
    from_syscall(unsafe { syscall2(g::__NR_kill as usize, pid as usize, sig.raw() as usize) })
        .map(drop)
}

/// `tgkill(tgid, tid, sig)`: sends `sig` to one thread `tid` of thread group `tgid`.
///
/// # References
/// tgkill(2)
pub fn tgkill(tgid: Pid, tid: Pid, sig: Signal) -> Result<(), Errno> {
    // SAFETY: tgkill takes no pointers.
    from_syscall(unsafe {
        syscall3(
            g::__NR_tgkill as usize,
            tgid as usize,
            tid as usize,
            sig.raw() as usize,
        )
    })
    .map(drop)
}

bitflags::bitflags! {
    /// Flags for [`pidfd_open`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PidfdFlags: u32 {
        /// `PIDFD_NONBLOCK` (= `O_NONBLOCK`): `waitid` on it gives `EAGAIN` instead of
        /// blocking.
        const NONBLOCK = g::O_NONBLOCK;
    }
}

/// `pidfd_open(pid, flags)`: a descriptor that refers to process `pid` (Linux 5.3).
/// It polls readable ([`crate::sys::fs::PollFlags::IN`]) once the process exits.
///
/// # References
/// pidfd_open(2)
pub fn pidfd_open(pid: Pid, flags: PidfdFlags) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes no pointers.
    let fd = from_syscall(unsafe {
        syscall2(
            g::__NR_pidfd_open as usize,
            pid as usize,
            flags.bits() as usize,
        )
    })?;
    // SAFETY: a successful pidfd_open returns a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw(fd as RawFd) })
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`: sends `sig` to the process a pidfd refers
/// to, race-free against pid reuse (Linux 5.1).
///
/// # References
/// pidfd_send_signal(2)
pub fn pidfd_send_signal(pidfd: impl AsFd, sig: Signal) -> Result<(), Errno> {
    let pidfd = pidfd.as_fd();
    // SAFETY: the info pointer is NULL; nothing else is a pointer.
    from_syscall(unsafe {
        sc::syscall4(
            g::__NR_pidfd_send_signal as usize,
            pidfd.as_raw() as usize,
            sig.raw() as usize,
            0,
            0,
        )
    })
    .map(drop)
}

/// `rt_sigtimedwait(set, NULL, timeout, 8)`: takes one pending signal of `set` (which the
/// caller keeps blocked) without running a handler, waiting up to `timeout` (`None`: for
/// ever). `EAGAIN` when the time ran out, `EINTR` when a signal outside `set` was handled.
///
/// # References
/// sigtimedwait(2)
pub fn sigtimedwait(set: &SigSet, timeout: Option<&Timespec>) -> Result<Signal, Errno> {
    let tp = timeout.map_or(0, |t| t as *const Timespec as usize);
    // SAFETY: the kernel reads one 8-byte sigset from `set` and one timespec from `tp` when
    // given; the siginfo pointer is NULL, so it writes nothing.
    let raw = from_syscall(unsafe {
        syscall4(
            g::__NR_rt_sigtimedwait as usize,
            set as *const SigSet as usize,
            0,
            tp,
            core::mem::size_of::<SigSet>(),
        )
    })?;
    Signal::from_raw(raw as i32).ok_or(Errno::EINVAL)
}

/// In a child about to `execve` (or to run with the signal mask it inherited restored): every
/// signal with a handler, and `SIGPIPE` (which std ignores in its programs), back to its
/// default disposition, so that no signal delivered before the exec runs a handler of the
/// parent's in the child (in a `CLONE_VM` child, on the parent's memory), and the program
/// starts as `std::process::Command` starts it. Ignored signals other than `SIGPIPE` stay
/// ignored, as `execve` keeps them. Makes only system calls.
pub(crate) fn reset_handlers_to_default() {
    // Raw, without `SigAction`'s conversions: this runs in every exec'd child and in
    // clonekit-init, whose size is counted.
    let size = core::mem::size_of::<g::kernel_sigset_t>();
    for n in 1..=Signal::MAX as usize {
        if n == g::SIGKILL as usize || n == g::SIGSTOP as usize {
            continue;
        }
        // SAFETY: all-zero is a valid kernel_sigaction (see `to_kernel`): SIG_DFL, no flags.
        let mut old: g::kernel_sigaction = unsafe { core::mem::zeroed() };
        // SAFETY: with no new action the kernel only writes the old one into `old`.
        let read = unsafe {
            syscall4(
                g::__NR_rt_sigaction as usize,
                n,
                0,
                &mut old as *mut g::kernel_sigaction as usize,
                size,
            )
        };
        if read != 0 {
            continue;
        }
        // SAFETY: the field is an `Option<fn>`, pointer-sized: 0 is SIG_DFL, 1 SIG_IGN,
        // anything else a handler.
        let handler = unsafe {
            core::mem::transmute::<g::__kernel_sighandler_t, usize>(old.sa_handler_kernel)
        };
        if handler > 1 || n == g::SIGPIPE as usize {
            // SAFETY: as above: SIG_DFL, no flags, an empty mask; nothing is written back.
            let default: g::kernel_sigaction = unsafe { core::mem::zeroed() };
            // SAFETY: the kernel reads `default`, a complete kernel_sigaction.
            let _ = unsafe {
                syscall4(
                    g::__NR_rt_sigaction as usize,
                    n,
                    &default as *const g::kernel_sigaction as usize,
                    0,
                    size,
                )
            };
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::Errno;
    use crate::sys::process::{getpid, gettid};
    use core::sync::atomic::{AtomicI32, Ordering};

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(Signal::SIGCHLD.raw(), 17);
        assert_eq!(Signal::SIGKILL.raw(), 9);
        assert_eq!(Signal::SIGSYS.raw(), 31);
        assert_eq!(Signal::SIGCHLD.name(), "SIGCHLD");
        assert_eq!(std::format!("{:?}", Signal::SIGTERM), "Signal(SIGTERM)");
        assert_eq!(std::format!("{}", Signal::rt(2).unwrap()), "SIGRTMIN+2");
        assert_eq!(Signal::rt(32).map(Signal::raw), Some(64));
        assert_eq!(Signal::rt(33), None);
        assert_eq!(Signal::from_raw(0), None);
        assert_eq!(Signal::from_raw(65), None);
    }

    #[test]
    fn sigset_ops() {
        let mut s = SigSet::empty();
        assert!(s.is_empty());
        s.add(Signal::SIGUSR1);
        s.add(Signal::rt(32).unwrap());
        assert!(s.contains(Signal::SIGUSR1));
        assert!(!s.contains(Signal::SIGUSR2));
        assert_eq!(s.bits(), (1 << 9) | (1 << 63));
        s.remove(Signal::SIGUSR1);
        assert!(!s.contains(Signal::SIGUSR1));
        assert_eq!(s.iter().count(), 1);
        assert!(SigSet::full().contains(Signal::SIGHUP));
        assert_eq!(SigSet::full().iter().count(), 64);
        assert_eq!(SigSet::empty().with(Signal::SIGHUP).bits(), 1);
        assert_eq!(
            std::format!("{:?}", SigSet::empty().with(Signal::SIGINT)),
            "{Signal(SIGINT)}"
        );
    }

    #[test]
    fn rt_sigprocmask_round_trip() {
        // The mask is per thread: this test thread's only.
        let orig = rt_sigprocmask(SigmaskHow::Block, None).unwrap();
        let set = SigSet::empty().with(Signal::SIGUSR2).with(Signal::SIGKILL);
        let before = rt_sigprocmask(SigmaskHow::Block, Some(&set)).unwrap();
        assert_eq!(before, orig);
        let now = rt_sigprocmask(SigmaskHow::Block, None).unwrap();
        assert!(now.contains(Signal::SIGUSR2));
        assert!(
            !now.contains(Signal::SIGKILL),
            "the kernel never blocks SIGKILL"
        );
        // A blocked signal stays pending: send one to this thread, then discard it by
        // ignoring it before unblocking.
        rt_sigprocmask(SigmaskHow::Unblock, Some(&set)).unwrap();
        rt_sigprocmask(SigmaskHow::SetMask, Some(&orig)).unwrap();
        assert_eq!(rt_sigprocmask(SigmaskHow::Block, None).unwrap(), orig);
    }

    #[test]
    fn sigaction_ignore_and_default_round_trip() {
        // SIGWINCH: default action is "ignore", so the process is never at risk.
        let ignore = SigAction::new(SigHandler::Ignore, SaFlags::empty(), SigSet::empty());
        // SAFETY: SIG_IGN runs no code.
        let old = unsafe { rt_sigaction(Signal::SIGWINCH, Some(&ignore)) }.unwrap();
        let mut cur = signal_default(Signal::SIGWINCH).unwrap();
        assert_eq!(cur.handler, SigHandler::Ignore);
        cur = signal_default(Signal::SIGWINCH).unwrap();
        assert_eq!(cur.handler, SigHandler::Default);
        // SAFETY: restores what was there (a default or ignore disposition).
        unsafe { rt_sigaction(Signal::SIGWINCH, Some(&old)) }.unwrap();
        // SAFETY: SIG_IGN runs no code (and is refused for SIGKILL).
        let kill = unsafe { rt_sigaction(Signal::SIGKILL, Some(&ignore)) };
        assert_eq!(kill, Err(Errno::EINVAL));
        assert_eq!(signal_default(Signal::SIGSTOP), Err(Errno::EINVAL));
    }

    static SEEN: AtomicI32 = AtomicI32::new(0);

    extern "C" fn on_signal(sig: c_int) {
        SEEN.store(sig, Ordering::SeqCst);
    }

    #[test]
    fn sigaction_handler_runs_on_tgkill() {
        // x86_64 has no vdso sigreturn: without a restorer the handler could not return.
        #[cfg(target_arch = "x86_64")]
        assert!(crate::arch::SIGNAL_RESTORER.is_some());
        let act = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only stores to an atomic.
        let old = unsafe { rt_sigaction(Signal::SIGUSR1, Some(&act)) }.unwrap();
        // SAFETY: reading back installs nothing.
        let now = unsafe { rt_sigaction(Signal::SIGUSR1, None) }.unwrap();
        assert_eq!(now.handler, SigHandler::Handler(on_signal));
        tgkill(getpid(), gettid(), Signal::SIGUSR1).unwrap();
        // A signal sent to the calling thread is delivered before tgkill returns.
        assert_eq!(SEEN.load(Ordering::SeqCst), Signal::SIGUSR1.raw());
        // SAFETY: restores the previous disposition.
        unsafe { rt_sigaction(Signal::SIGUSR1, Some(&old)) }.unwrap();
    }

    #[test]
    fn kill_and_tgkill_to_a_missing_task_are_esrch() {
        // pid_max is at most 2^22: no process or thread has this number.
        assert_eq!(kill(1 << 23, Signal::SIGUSR1), Err(Errno::ESRCH));
        assert_eq!(
            tgkill(getpid(), 1 << 23, Signal::SIGUSR1),
            Err(Errno::ESRCH)
        );
        // A thread of this process, named under another thread group.
        assert_eq!(
            tgkill(1 << 23, gettid(), Signal::SIGUSR1),
            Err(Errno::ESRCH)
        );
    }

    #[test]
    fn sigtimedwait_takes_a_blocked_pending_signal_and_times_out_without_one() {
        use crate::sys::process::{exit_group, getpid};
        use crate::sys::testutil::{raw_fork, wait_exit_code};
        let pid = raw_fork();
        if pid == 0 {
            // A child of its own: the mask and the pending signal stay there.
            let set = SigSet::empty().with(Signal::SIGUSR2);
            let code = if rt_sigprocmask(SigmaskHow::Block, Some(&set)).is_err() {
                1
            } else if tgkill(getpid(), crate::sys::process::gettid(), Signal::SIGUSR2).is_err() {
                2
            } else if sigtimedwait(&set, Some(&Timespec::new(1, 0))) != Ok(Signal::SIGUSR2) {
                3
            } else if sigtimedwait(&set, Some(&Timespec::from_millis(10))) != Err(Errno::EAGAIN) {
                4
            } else {
                0
            };
            exit_group(code);
        }
        assert_eq!(wait_exit_code(pid), 0);
    }
}
