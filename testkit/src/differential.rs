//! The validator against the running kernel: random flag combinations, each run for real as
//! a child that exits at once, the kernel's verdict compared with [`validate`]'s.
//!
//! Used by the host test `testkit/tests/differential.rs` and by the init demo in the QEMU
//! guest; it is public so that a user's CI can run the same check on its own kernel.
//! Everything here is `no_std` and allocation-free, so it can run in a forked child of a std
//! program.
//!
//! Running a combination is [`try_in_kernel`], which is `unsafe`: it makes every
//! combination for real, including those no safe spawner makes (see its contract).

use core::ffi::c_void;
use core::ptr;

use clonekit::clone_args::{CloneArgs, SIZE_VER2};
use clonekit::errno::Errno;
use clonekit::fd::{BorrowedFd, OwnedFd};
use clonekit::flags::{CloneFlags, ExitSignal};
use clonekit::kernel_version::KernelVersion;
use clonekit::raw;
use clonekit::raw::ChildFn;
use clonekit::stack::Stack;
use clonekit::sys::Pid;
use clonekit::sys::signal::Signal;
use clonekit::sys::wait::{WaitOptions, wait4};
use clonekit::validate::{Caller, Request, Syscall, validate};

/// One request to try: a syscall, flags and an exit signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Combo {
    /// Legacy `clone()` or `clone3()`.
    pub syscall: Syscall,
    /// The flags.
    pub flags: CloneFlags,
    /// The exit signal.
    pub exit_signal: ExitSignal,
}

/// What the caller and kernel look like for a batch of combos.
#[derive(Debug, Clone, Copy)]
pub struct Env<'fd> {
    /// The running kernel.
    pub kernel: KernelVersion,
    /// The process making the clones.
    pub caller: Caller,
    /// A cgroup2 directory fd for `CLONE_INTO_CGROUP`, if the generator may use that flag,
    /// borrowed for as long as the `Env` is used.
    pub cgroup_fd: Option<BorrowedFd<'fd>>,
}

/// A seeded generator of combos (xorshift64*), biased so that both accepted and refused
/// combinations are common: each flag is drawn on its own, `CLONE_VM` and its dependants
/// more often than the rest.
#[derive(Debug, Clone)]
pub struct ComboGenerator {
    state: u64,
    with_cgroup: bool,
    with_linux_7_1: bool,
}

/// Each flag with its chance of being drawn, in 256ths.
const FLAG_ODDS: [(CloneFlags, u32); 31] = [
    (CloneFlags::VM, 128),
    (CloneFlags::FS, 64),
    (CloneFlags::FILES, 64),
    (CloneFlags::SIGHAND, 96),
    (CloneFlags::PIDFD, 48),
    (CloneFlags::PTRACE, 32),
    (CloneFlags::VFORK, 32),
    (CloneFlags::PARENT, 32),
    (CloneFlags::THREAD, 80),
    (CloneFlags::NEWNS, 40),
    (CloneFlags::SYSVSEM, 48),
    (CloneFlags::SETTLS, 48),
    (CloneFlags::PARENT_SETTID, 48),
    (CloneFlags::CHILD_CLEARTID, 48),
    (CloneFlags::DETACHED, 24),
    (CloneFlags::UNTRACED, 32),
    (CloneFlags::CHILD_SETTID, 48),
    (CloneFlags::NEWCGROUP, 32),
    (CloneFlags::NEWUTS, 40),
    (CloneFlags::NEWIPC, 40),
    (CloneFlags::NEWUSER, 40),
    (CloneFlags::NEWPID, 40),
    (CloneFlags::NEWNET, 24),
    (CloneFlags::IO, 32),
    (CloneFlags::NEWTIME, 32),
    (CloneFlags::CLEAR_SIGHAND, 40),
    (CloneFlags::INTO_CGROUP, 32),
    (CloneFlags::AUTOREAP, 48),
    (CloneFlags::NNP, 40),
    (CloneFlags::PIDFD_AUTOKILL, 40),
    (CloneFlags::EMPTY_MNTNS, 32),
];

impl ComboGenerator {
    /// A generator from `seed`; `with_cgroup` lets it draw `CLONE_INTO_CGROUP`. It draws
    /// Linux 7.1's flags when the running kernel has them (see
    /// [`ComboGenerator::with_linux_7_1`]).
    pub fn new(seed: u64, with_cgroup: bool) -> ComboGenerator {
        ComboGenerator {
            state: seed | 1,
            with_cgroup,
            with_linux_7_1: KernelVersion::cached() >= KernelVersion::V7_1,
        }
    }

    /// Whether to draw `CLONE_AUTOREAP`, `CLONE_NNP`, `CLONE_PIDFD_AUTOKILL` and
    /// `CLONE_EMPTY_MNTNS` (on a kernel before 7.1 every one is the same unknown-bit EINVAL).
    pub fn with_linux_7_1(mut self, on: bool) -> ComboGenerator {
        self.with_linux_7_1 = on;
        self
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn chance(&mut self, in_256: u32) -> bool {
        ((self.next_u64() >> 56) as u32) < in_256
    }

    /// The next combo.
    pub fn next_combo(&mut self) -> Combo {
        let syscall = if self.chance(128) {
            Syscall::Clone
        } else {
            Syscall::Clone3
        };
        let mut flags = CloneFlags::empty();
        for (flag, odds) in FLAG_ODDS {
            if self.chance(odds) {
                flags |= flag;
            }
        }
        if syscall == Syscall::Clone {
            // Legacy clone() cannot carry these (Clone3OnlyFlags is an encoding rule).
            flags -= CloneFlags::CLONE3_ONLY;
        }
        if !self.with_cgroup {
            flags -= CloneFlags::INTO_CGROUP;
        }
        if !self.with_linux_7_1 {
            flags -= CloneFlags::LINUX_7_1;
        } else if flags.contains(CloneFlags::PIDFD_AUTOKILL) && self.chance(192) {
            // Kill-on-drop needs both of these: make the accepted case common too.
            flags |= CloneFlags::PIDFD | CloneFlags::AUTOREAP;
        }
        // SIGURG's default action is to ignore it, so the runner survives receiving it.
        let exit_signal = match self.next_u64() % 3 {
            0 => ExitSignal::NONE,
            1 => ExitSignal::SIGCHLD,
            _ => ExitSignal::new(Signal::SIGURG.raw() as u32).unwrap_or(ExitSignal::SIGCHLD),
        };
        Combo {
            syscall,
            flags,
            exit_signal,
        }
    }
}

/// The validator's verdict on `combo`, as the errno the kernel should give (`Ok` to accept).
pub fn predict(combo: &Combo, env: &Env<'_>) -> Result<(), Errno> {
    validate(&request(combo, env)).map_err(|rule| rule.errno())
}

/// The request [`try_in_kernel`] makes for `combo`, as the validator sees it (a stack for
/// `CLONE_VM` combos, the cgroup fd of `env`).
pub fn request(combo: &Combo, env: &Env<'_>) -> Request {
    let mut request = match combo.syscall {
        Syscall::Clone => Request::legacy(combo.flags, combo.exit_signal, env.kernel),
        Syscall::Clone3 => Request::clone3(combo.flags, combo.exit_signal, env.kernel),
    };
    request.caller = env.caller;
    let needs_stack = combo.flags.contains(CloneFlags::VM);
    request.stack_given = needs_stack;
    request.clone3.stack_size = if needs_stack { STACK_SIZE as u64 } else { 0 };
    request.clone3.cgroup = env.cgroup_fd.map_or(0, |fd| fd.as_raw()) as u64;
    request
}

/// What the kernel did with a combo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Refused with this errno.
    Refused(Errno),
    /// Accepted; the child was reaped (or, a thread, is gone).
    Reaped,
    /// Accepted with `CLONE_PARENT`: the child (this pid) is the caller's parent's to reap.
    ParentMustReap(Pid),
}

impl Outcome {
    /// The outcome as a verdict comparable with [`predict`].
    pub fn verdict(&self) -> Result<(), Errno> {
        match self {
            Outcome::Refused(errno) => Err(*errno),
            _ => Ok(()),
        }
    }
}

/// Stack size for children that share memory: room for the trampoline and an exit.
const STACK_SIZE: usize = Stack::MIN_SIZE;

/// The scratch words a child's flags make the kernel write, kept with the child's stack so
/// they outlive the call when the child shares our memory.
#[repr(C, align(64))]
struct Scratch {
    ptid: Pid,
    ctid: Pid,
    pidfd: i32,
    tls: [usize; 6],
}

unsafe extern "C" fn exit_at_once(_: *mut c_void) -> i32 {
    0
}

/// Runs `combo` for real, unchecked: the child runs a function that returns at once, then
/// exits. The verdict matches [`predict`] when `env` describes the caller: a process that is
/// PID 1 of its namespace only if `env.caller` says so, single-threaded (`CLONE_NEWUSER` is
/// refused in a multithreaded one), with the capabilities `env.caller` claims.
///
/// Children created with `CLONE_PARENT` are the caller's parent's
/// ([`Outcome::ParentMustReap`]): it must reap them, or they stay zombies. A `CLONE_VM`
/// child of that kind may still run on its stack when this returns, so the stack is leaked.
///
/// Its callers vouch for the contract below in `unsafe` code:
///
/// ```no_run
/// use clonekit_testkit::differential::{Combo, Env, try_in_kernel};
/// use clonekit::validate::{Caller, Syscall};
/// use clonekit::{CloneFlags, ExitSignal, KernelVersion};
/// let combo = Combo {
///     syscall: Syscall::Clone,
///     flags: CloneFlags::VM | CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::SETTLS,
///     exit_signal: ExitSignal::NONE,
/// };
/// let env = Env { kernel: KernelVersion::cached(), caller: Caller::PRIVILEGED, cgroup_fd: None };
/// // SAFETY: this program installs no signal handler, and the combo has no exit signal.
/// let outcome = unsafe { try_in_kernel(&combo, &env) };
/// ```
///
/// and without `unsafe` it does not compile:
///
/// ```compile_fail,E0133
/// use clonekit_testkit::differential::{Combo, Env, try_in_kernel};
/// use clonekit::validate::{Caller, Syscall};
/// use clonekit::{CloneFlags, ExitSignal, KernelVersion};
/// let combo = Combo {
///     syscall: Syscall::Clone,
///     flags: CloneFlags::VM | CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::SETTLS,
///     exit_signal: ExitSignal::NONE,
/// };
/// let env = Env { kernel: KernelVersion::cached(), caller: Caller::PRIVILEGED, cgroup_fd: None };
/// let outcome = try_in_kernel(&combo, &env);
/// ```
///
/// # Safety
/// Every combination is run as given, whether the validator accepts it or not, including
/// those no safe spawner makes: `CLONE_VM` without a thread pointer of the child's own
/// (the child runs on the caller's), `CLONE_VM | CLONE_THREAD | CLONE_SETTLS` with a zeroed
/// block as thread pointer (a task of the caller's thread group that libc knows nothing
/// of), `CLONE_FILES` without `CLONE_VM`, any exit signal. The child's own code touches
/// nothing but its stack (a fresh [`Stack::MIN_SIZE`] one with `CLONE_VM`, its copy of the
/// caller's otherwise), and this call frees that stack only once the child is gone. What the
/// types cannot check is the caller's:
///
/// - **No signal handler may run in a child** unless it is sound there: on that small
///   stack, with the caller's thread pointer shared with the running caller (`CLONE_VM`
///   without `CLONE_SETTLS`) or a zeroed block as thread pointer (`CLONE_SETTLS`). A
///   `CLONE_THREAD` child can take any signal sent to the process; every child can take one
///   sent to its pid. So while this runs, every signal with a handler in this process must
///   be blocked in the calling thread (children start with its mask), not be sent, or
///   have a handler that needs neither (one that only stores to atomics and makes raw
///   system calls, as clonekit's [`Init`](clonekit::init::Init) handlers do). A program that
///   installs no handlers of its own meets this: std's `SIGSEGV`/`SIGBUS` handlers run
///   only for a fault, and the child's code makes none.
/// - **The exit signal is really sent** when a non-thread child exits: to the caller, or
///   with `CLONE_PARENT` to the caller's parent. Its effect is the caller's to accept (a
///   combo with `SIGKILL` as exit signal kills the receiver; the generator draws only
///   none, `SIGCHLD` and `SIGURG`, whose default actions ignore them).
///
/// A multithreaded caller is not unsound (the children run none of its code and take no
/// lock), but its other threads must not reap the children (`wait` for any child), or
/// this waits for whichever process reuses the pid.
pub unsafe fn try_in_kernel(combo: &Combo, env: &Env<'_>) -> Outcome {
    let shares_memory = combo.flags.contains(CloneFlags::VM);
    let stack = if shares_memory {
        match Stack::new(STACK_SIZE) {
            Ok(stack) => Some(stack),
            Err(_) => return Outcome::Refused(Errno::ENOMEM),
        }
    } else {
        None
    };
    let mut local = Scratch {
        ptid: 0,
        ctid: 0,
        pidfd: -1,
        tls: [0; 6],
    };
    let (scratch, stack_top): (*mut Scratch, *mut u8) = match &stack {
        Some(stack) => {
            let at = (stack.top() as usize - core::mem::size_of::<Scratch>()) & !63;
            let at = at as *mut Scratch;
            // SAFETY: `at` lies inside the stack, aligned, and nothing else uses it yet.
            unsafe {
                at.write(Scratch {
                    ptid: 0,
                    ctid: 0,
                    pidfd: -1,
                    tls: [0; 6],
                })
            };
            (at, at.cast())
        }
        None => (&mut local, ptr::null_mut()),
    };
    // SAFETY: `scratch` is valid (a local for a child that copies our memory, inside the
    // child's stack mapping otherwise); the fields are plain integers.
    let (ptid, ctid, pidfd, tls) = unsafe {
        (
            &raw mut (*scratch).ptid,
            &raw mut (*scratch).ctid,
            &raw mut (*scratch).pidfd,
            (&raw mut (*scratch).tls) as usize,
        )
    };
    let func: ChildFn = exit_at_once;
    let result = match combo.syscall {
        // SAFETY: the child runs `exit_at_once` on its own stack (or a copy of ours without
        // CLONE_VM); every pointer the flags hand the kernel is valid for as long as the
        // child may use it: the stack is kept until the child is gone.
        Syscall::Clone => unsafe {
            raw::clone_unchecked(
                combo.flags,
                combo.exit_signal,
                stack_top,
                ptid,
                ctid,
                tls,
                func,
                ptr::null_mut(),
            )
        },
        Syscall::Clone3 => {
            let mut args = CloneArgs::new(combo.flags, combo.exit_signal);
            args.pidfd = pidfd as u64;
            args.parent_tid = ptid as u64;
            args.child_tid = ctid as u64;
            args.tls = tls as u64;
            if let Some(stack) = &stack {
                args.stack = stack.bottom() as u64;
                args.stack_size = (stack_top as usize - stack.bottom() as usize) as u64;
            }
            args.cgroup = env.cgroup_fd.map_or(0, |fd| fd.as_raw()) as u64;
            // SAFETY: as for legacy clone.
            unsafe { raw::clone3_unchecked(&mut args, SIZE_VER2, func, ptr::null_mut()) }
        }
    };
    let pid = match result {
        Ok(pid) => pid,
        Err(errno) => return Outcome::Refused(errno),
    };
    if combo.flags.contains(CloneFlags::PIDFD) {
        // SAFETY: reading back the word the kernel wrote (legacy: ptid; clone3: pidfd).
        let fd = unsafe {
            if combo.syscall == Syscall::Clone {
                *ptid
            } else {
                *pidfd
            }
        };
        // SAFETY: with CLONE_PIDFD a successful clone stored a new descriptor, which nobody
        // else owns, in that word.
        drop(unsafe { OwnedFd::from_raw(fd) });
    }
    if combo.flags.contains(CloneFlags::THREAD) {
        wait_thread_gone(pid);
    } else if combo.flags.contains(CloneFlags::PARENT) {
        // Not ours to wait for; a child sharing our memory may still run on its stack.
        core::mem::forget(stack);
        return Outcome::ParentMustReap(pid);
    } else {
        reap(pid);
    }
    drop(stack);
    Outcome::Reaped
}

/// Waits for child `pid` of any exit signal, retrying on `EINTR`.
pub fn reap(pid: Pid) {
    loop {
        match wait4(pid, WaitOptions::ALL) {
            Err(Errno::EINTR) => continue,
            _ => return,
        }
    }
}

/// Waits until thread `tid` of this process no longer exists (a thread is released by the
/// kernel once it has exited, after which it can no longer touch its stack).
fn wait_thread_gone(tid: Pid) {
    // kill(tid, 0) finds a thread by its TID until the kernel releases it.
    while crate::observe::signal::kill_probe(tid).is_ok() {
        clonekit::sys::process::sched_yield();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_can_draw_every_flag() {
        let union = FLAG_ODDS
            .iter()
            .fold(CloneFlags::empty(), |a, (f, _)| a | *f);
        assert_eq!(union, CloneFlags::all());
        let mut generator = ComboGenerator::new(1, true).with_linux_7_1(true);
        let mut seen = CloneFlags::empty();
        for _ in 0..2000 {
            seen |= generator.next_combo().flags;
        }
        assert_eq!(seen, CloneFlags::all());
    }

    #[test]
    fn linux_7_1_flags_are_drawn_only_when_asked() {
        let mut generator = ComboGenerator::new(3, true).with_linux_7_1(false);
        for _ in 0..2000 {
            assert!(
                !generator
                    .next_combo()
                    .flags
                    .intersects(CloneFlags::LINUX_7_1)
            );
        }
    }

    #[test]
    fn legacy_combos_carry_no_clone3_only_flags() {
        let mut generator = ComboGenerator::new(7, true);
        for _ in 0..2000 {
            let combo = generator.next_combo();
            if combo.syscall == Syscall::Clone {
                assert!(
                    !combo.flags.intersects(CloneFlags::CLONE3_ONLY),
                    "{combo:?}"
                );
            }
        }
    }
}
