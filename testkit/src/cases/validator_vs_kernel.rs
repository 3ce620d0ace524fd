//! The validator against the running kernel: single rules asked of both (used by every
//! section), and the differential check: seeded random flag combinations, each run for
//! real, the kernel's verdict compared with `clonekit::validate`'s.

use core::mem::size_of;
use core::sync::atomic::{AtomicI32, Ordering::Relaxed};

use crate::differential::{
    Combo, ComboGenerator, Env, Outcome as Ran, predict, reap, request, try_in_kernel,
};
use clonekit::fd::{BorrowedFd, OwnedFd};
use clonekit::sys::fs::{self, CWD, OFlags};
use clonekit::sys::mm::{MapFlags, ProtFlags, mmap_anonymous, munmap};
use clonekit::validate::{Syscall, validate};
use clonekit::{CloneFlags as F, Errno, ExitSignal, FlagError, KernelVersion, process};

use crate::case::{Case, Ctx, Outcome, case, child_ok, diag, eq, need_pid1};
use crate::show::Shown;
use crate::util::now_ms;

pub const CASES: &[Case] = &[
    case!(validator_differential_400_seeded_combos_agree_with_kernel),
    case!(validator_from_pid1_100_combos_agree_parent_refused),
];

/// The kernel, this process, and the cgroup fd, if any.
pub fn env(cgroup_fd: Option<BorrowedFd<'_>>) -> Env<'_> {
    Env {
        kernel: KernelVersion::cached(),
        caller: clonekit::namespace::caller(),
        cgroup_fd,
    }
}

/// Asks the validator and the kernel (`clone`/`clone3` without the validator, run for
/// real) about one request, and checks both give `expected`: the rule, and its errno.
pub fn expect(
    syscall: Syscall,
    flags: F,
    exit_signal: ExitSignal,
    expected: Result<(), FlagError>,
) -> Outcome {
    let env = env(None);
    let combo = Combo {
        syscall,
        flags,
        exit_signal,
    };
    let validator = validate(&request(&combo, &env));
    // The demo's only signal handlers (clonekit's `Init` ones and `on_usr1`) store to atomics
    // and make raw system calls, sound on any stack and thread pointer; the sections pass no
    // exit signal or SIGCHLD, which this process handles that way or ignores.
    // SAFETY: so no handler runs unsoundly; a CLONE_PARENT child is reaped right below.
    let ran = unsafe { try_in_kernel(&combo, &env) };
    if let Ran::ParentMustReap(pid) = ran {
        reap(pid);
    }
    let kernel = ran.verdict();
    eq("validator", expected, validator)?;
    eq("kernel", expected.map_err(|rule| rule.errno()), kernel)?;
    match expected {
        Err(rule) => diag!("kernel {}, validator: {rule}", rule.errno().name()),
        Ok(()) => diag!("kernel and validator accept"),
    }
    Ok(())
}

/// [`expect`] for a refusal.
pub fn refusal(syscall: Syscall, flags: F, exit_signal: ExitSignal, rule: FlagError) -> Outcome {
    expect(syscall, flags, exit_signal, Err(rule))
}

/// One combo's result, in memory shared with the runner.
#[repr(C)]
struct Slot {
    errno: AtomicI32,
    parent_pid: AtomicI32,
}

const SEED: u64 = 0x00c1_0e4b_17c0_ffee;

/// `cgroup2`'s filesystem magic (`CGROUP2_SUPER_MAGIC` in `linux/magic.h`).
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// The cgroup2 root for `CLONE_INTO_CGROUP`, when `/sys/fs/cgroup` is one (the guest mounts
/// it; a host with cgroup v1 there has none, and the kernel answers `EBADF` for its fds).
fn open_cgroup_root() -> Option<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = fs::openat(CWD, c"/sys/fs/cgroup", flags, 0).ok()?;
    (fs::fstatfs_type(fd.as_fd()) == Ok(CGROUP2_SUPER_MAGIC)).then_some(fd)
}

/// The most combos one run tries.
const MAX_COMBOS: usize = 400;

fn differential(n: usize, seed: u64, from_pid1: bool) -> Outcome {
    let n = n.min(MAX_COMBOS);
    let cgroup = open_cgroup_root();
    let mut env = env(cgroup.as_ref().map(OwnedFd::as_fd));
    env.caller.is_ns_init = from_pid1;
    let mut generator = ComboGenerator::new(seed, cgroup.is_some());
    let all: [Combo; MAX_COMBOS] = core::array::from_fn(|_| generator.next_combo());
    let combos = &all[..n];
    let len = (n * size_of::<Slot>()).next_multiple_of(4096);
    let map = mmap_anonymous(len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED)
        .ctx("mmap the result slots")?;
    // SAFETY: a fresh, zeroed, shared mapping of at least n slots of two atomics each.
    let slots = unsafe { core::slice::from_raw_parts(map.as_ptr().cast::<Slot>(), n) };
    let run_all = || {
        for (combo, slot) in combos.iter().zip(slots) {
            // SAFETY: as in `expect`: the only handlers are sound in any child, and the
            // generator's exit signals (none, SIGCHLD, SIGURG) are handled that way or ignored
            // by the runner and by PID 1, which reaps the runner's CLONE_PARENT children below.
            match unsafe { try_in_kernel(combo, &env) } {
                Ran::Refused(errno) => slot.errno.store(errno.raw(), Relaxed),
                Ran::Reaped => {}
                Ran::ParentMustReap(pid) => slot.parent_pid.store(pid, Relaxed),
            }
        }
        0
    };
    let started = now_ms();
    if from_pid1 {
        run_all();
    } else {
        // A forked runner, as testkit/tests/differential.rs does: its CLONE_PARENT children
        // are PID 1's, reaped here by pid.
        let mut runner = process::fork(run_all).ctx("fork the runner")?;
        child_ok("runner", runner.wait())?;
    }
    let (mut accepted, mut refused, mut reaped, mut disagreements) = (0, 0, 0, 0);
    let mut parent_accepted = 0;
    for (i, (combo, slot)) in combos.iter().zip(slots).enumerate() {
        let parent_pid = slot.parent_pid.load(Relaxed);
        if parent_pid != 0 {
            let _ = process::wait_pid(parent_pid);
            reaped += 1;
        }
        let kernel = match slot.errno.load(Relaxed) {
            0 => Ok(()),
            e => Err(Errno::from_raw(e)),
        };
        if from_pid1 && combo.flags.contains(F::PARENT) && kernel.is_ok() {
            parent_accepted += 1;
        }
        if kernel.is_ok() {
            accepted += 1;
        } else {
            refused += 1;
        }
        let validator = predict(combo, &env);
        if validator != kernel {
            disagreements += 1;
            if disagreements <= 5 {
                diag!(
                    "#{i} {} flags {:#x} exit signal {}: validator {}, kernel {}",
                    match combo.syscall {
                        Syscall::Clone => "clone",
                        Syscall::Clone3 => "clone3",
                    },
                    combo.flags.bits(),
                    combo.exit_signal.raw(),
                    Shown(&validator),
                    Shown(&kernel)
                );
            }
        }
    }
    // SAFETY: the runner is gone; nothing else uses the mapping.
    let _ = unsafe { munmap(map.as_ptr().cast(), len) };
    diag!(
        "{n} combos (seed {seed:#x}, kernel {}, caller PID 1: {from_pid1}): {accepted} accepted, \
         {refused} refused, {reaped} CLONE_PARENT children reaped by PID 1, {} ms",
        env.kernel,
        now_ms() - started
    );
    eq("disagreements", 0, disagreements)?;
    eq(
        "CLONE_PARENT combos accepted from PID 1",
        0,
        parent_accepted,
    )?;
    crate::case::check(
        accepted > n / 10 && refused > n / 10,
        format_args!("the combos do not cover both verdicts"),
    )
}

fn validator_differential_400_seeded_combos_agree_with_kernel() -> Outcome {
    differential(400, SEED, false)
}

/// From PID 1 itself: every `CLONE_PARENT` combo is refused (init has no parent to give).
/// Its own seed (the generator sets the low bit of every seed, so `^ 0x1` would not be one):
/// other combinations than the forked run's first 100.
fn validator_from_pid1_100_combos_agree_parent_refused() -> Outcome {
    need_pid1()?;
    differential(100, SEED ^ 0x100, true)
}
