//! PID 1 duties through `clonekit::init` (each signal of its table sent to PID 1 with
//! `kill` and its effect shown), and fault injection: children and threads that crash,
//! are killed, never exit or fail to exec, and mass spawning that must leave no zombie,
//! no descriptor and no mapping behind.

use core::hint::black_box;
use core::sync::atomic::Ordering::SeqCst;

use clonekit::exec::{self, SpawnError};
use clonekit::init::{self, Action, HANDLED, Init};
use clonekit::process::{self, ChildBuilder, ExitStatus};
use clonekit::sys::Pid;
use clonekit::sys::fs::{self, CWD, OFlags};
use clonekit::sys::process::{getpid, getppid};
use clonekit::sys::signal::{self, SigSet, Signal};
use clonekit::sys::time::Timespec;
use clonekit::sys::wait::{WaitId, WaitOptions, waitid};
use clonekit::{CloneFlags, Errno, ExitSignal, Stack, thread};

use crate::case::{Case, Ctx, Fail, Outcome, case, check, diag, eq, need_entry, need_pid1};
use crate::observe::fs::count_dir_entries;
use crate::shared::{reset_slots, slot};
use crate::show::Text;
use crate::util::{read_file, sleep_ms};

pub const CASES: &[Case] = &[
    case!(init_handlers_installed_show_in_proc_1_status_sigcgt),
    case!(init_sigchld_to_pid1_wakes_reaper_wall_reaps_any_exit_signal),
    case!(init_sigterm_sigint_sigpwr_to_pid1_set_shutdown_flag_then_cleared),
    case!(init_every_discarded_signal_to_pid1_recorded_pid1_runs_on),
    case!(init_unhandled_faults_rt_kill_stop_to_pid1_dropped_by_kernel),
    case!(init_run_main_exit_code_and_128_plus_signal),
    case!(fault_null_deref_child_dies_sigsegv_pid1_carries_on),
    case!(fault_thread_stack_overflow_hits_guard_page_sigsegv),
    case!(fault_88k_frame_on_16k_stack_faults_in_the_guard_not_below),
    case!(entry_program_refuses_fork_beside_threads_and_vm_children_and_split_tables),
    case!(entry_program_thread_starts_with_its_creators_mask),
    case!(fault_sigkill_mid_work_reported),
    case!(fault_500_children_reaped_no_zombie_no_fd_leak),
    case!(fault_100_threads_joined_stacks_unmapped),
    case!(fault_child_past_deadline_killed),
    case!(fault_failing_execve_reports_errno),
];

/// The init (re-installed: earlier sections reset `SIGUSR1`, `SIGUSR2` to their defaults).
fn init() -> Result<Init, Fail> {
    Init::install().ctx("Init::install")
}

/// Waits for `pid` through the init, with others reaped on the way shown.
fn wait(init: Init, pid: Pid) -> Result<ExitStatus, Fail> {
    init.wait_for(pid, |p, status| diag!("also reaped {p}: {status}"))
        .ctx("Init::wait_for")
}

/// A hex mask field (`SigCgt:`, `SigIgn:`) of a `/proc/<pid>/status` file.
fn status_mask(status: &[u8], name: &str) -> Option<SigSet> {
    let field = clonekit::procfs::status_field(status, name)?;
    let mut bits = 0u64;
    for &b in field.iter().filter(|b| !b.is_ascii_whitespace()) {
        let digit = (b as char).to_digit(16)?;
        bits = (bits << 4) | u64::from(digit);
    }
    Some(SigSet::from_bits(bits))
}

/// `/proc/1/status` when PID 1, else our own.
fn own_status(buf: &mut [u8]) -> Result<&[u8], Fail> {
    let path = if getpid() == 1 {
        c"/proc/1/status"
    } else {
        c"/proc/self/status"
    };
    read_file(path, buf).ctx("read status")
}

fn init_handlers_installed_show_in_proc_1_status_sigcgt() -> Outcome {
    need_pid1()?;
    init()?;
    let mut buf = [0u8; 2048];
    let status = own_status(&mut buf)?;
    let (Some(cgt), Some(ign)) = (status_mask(status, "SigCgt"), status_mask(status, "SigIgn"))
    else {
        diag!("no SigCgt/SigIgn in {}", Text(status));
        return Err(Fail::Failed);
    };
    diag!(
        "SigCgt {:016x} SigIgn {:016x}, table: {} handled",
        cgt.bits(),
        ign.bits(),
        HANDLED.iter().count()
    );
    eq(
        "SigCgt & HANDLED",
        HANDLED.bits(),
        cgt.bits() & HANDLED.bits(),
    )?;
    eq(
        "SigIgn & HANDLED (a handler, not SIG_IGN)",
        0,
        ign.bits() & HANDLED.bits(),
    )?;
    for sig in [Signal::SIGSEGV, Signal::SIGKILL, Signal::SIGSTOP] {
        check(!cgt.contains(sig), format_args!("{sig} shows as caught"))?;
    }
    Ok(())
}

/// A child (exit signal `SIGCHLD`) and a clone child (no exit signal: `__WALL` is needed)
/// exit; the `SIGCHLD` handler wakes the init's wait loop, which reaps both.
fn init_sigchld_to_pid1_wakes_reaper_wall_reaps_any_exit_signal() -> Outcome {
    need_pid1()?;
    let init = init()?;
    let before = init.sigchld_count();
    let plain = process::fork(|| 3).ctx("fork")?;
    let quiet = process::fork_with(CloneFlags::empty(), ExitSignal::NONE, || 4).ctx("fork_with")?;
    let (plain, quiet) = (plain.pid(), quiet.pid());
    // Waiting for one child reaps every other that has ended too: keep the quiet one's
    // status if it comes first that way.
    let mut quiet_status = None;
    let plain_status = init
        .wait_for(plain, |p, status| {
            if p == quiet {
                quiet_status = Some(status);
            } else {
                diag!("also reaped {p}: {status}");
            }
        })
        .ctx("Init::wait_for")?;
    eq("the plain child", ExitStatus::Exited(3), plain_status)?;
    let quiet_status = match quiet_status {
        Some(status) => status,
        None => wait(init, quiet)?,
    };
    eq(
        "the child with no exit signal",
        ExitStatus::Exited(4),
        quiet_status,
    )?;
    let sigchlds = init.sigchld_count() - before;
    check(
        sigchlds >= 1,
        format_args!("no SIGCHLD reached the handler"),
    )?;
    check(
        init.received().contains(Signal::SIGCHLD),
        format_args!("SIGCHLD not recorded"),
    )?;
    diag!("{sigchlds} SIGCHLD(s) handled, both children reaped");
    eq("children left to reap", 0, init.reap_all())
}

/// Forks a child that sends each of `sigs` to PID 1 with `kill`, and waits for it (the
/// signals are pending at PID 1 before the child's exit is, so they have been handled when
/// the wait returns).
fn child_sends(init: Init, sigs: &[Signal]) -> Outcome {
    let child = process::fork(|| {
        let mut failed = 0;
        for &sig in sigs {
            if signal::kill(getppid(), sig).is_err() {
                failed += 1;
            }
        }
        failed
    })
    .ctx("fork")?;
    eq(
        "the child sending the signals",
        ExitStatus::Exited(0),
        wait(init, child.pid())?,
    )
}

fn init_sigterm_sigint_sigpwr_to_pid1_set_shutdown_flag_then_cleared() -> Outcome {
    need_pid1()?;
    let init = init()?;
    init.clear_shutdown();
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGPWR] {
        eq("table", true, init::action(sig) == Action::Shutdown)?;
        child_sends(init, &[sig])?;
        check(
            init.shutdown_requested() == Some(sig),
            format_args!("{sig} to PID 1 did not set the shutdown request"),
        )?;
        // Do not shut down mid-run: the flag is what the test is about.
        init.clear_shutdown();
        eq("getpid() (still running)", 1, getpid())?;
    }
    eq(
        "shutdown request after clearing",
        true,
        init.shutdown_requested().is_none(),
    )
}

fn init_every_discarded_signal_to_pid1_recorded_pid1_runs_on() -> Outcome {
    need_pid1()?;
    let init = init()?;
    let mut sigs = [Signal::SIGHUP; 64];
    let mut n = 0;
    for sig in HANDLED.iter() {
        if init::action(sig) == Action::Discard && sig != Signal::SIGCONT {
            sigs[n] = sig;
            n += 1;
        }
    }
    init.take_received();
    child_sends(init, &sigs[..n])?;
    // SIGCONT from a second child, once the stop signals are handled: generating SIGCONT
    // discards pending stop signals (SIGTSTP, SIGTTIN, SIGTTOU) and generating one of those
    // discards a pending SIGCONT, handler or not (kernel/signal.c prepare_signal).
    child_sends(init, &[Signal::SIGCONT])?;
    sigs[n] = Signal::SIGCONT;
    n += 1;
    let got = init.take_received();
    let mut missing = 0;
    for &sig in &sigs[..n] {
        if !got.contains(sig) {
            diag!("{sig} sent to PID 1 was not handled");
            missing += 1;
        }
    }
    diag!("{n} discarded signals each handled by PID 1");
    eq("discarded signals not seen by the handler", 0, missing)?;
    eq(
        "shutdown request (none of them asks)",
        true,
        init.shutdown_requested().is_none(),
    )?;
    eq("getpid() (still running)", 1, getpid())
}

/// Signals the table leaves at their default (faults, 32/33) and the uncatchable two, sent
/// to PID 1 from a child: the kernel drops them (PID 1 has no handler), PID 1 runs on.
fn init_unhandled_faults_rt_kill_stop_to_pid1_dropped_by_kernel() -> Outcome {
    need_pid1()?;
    let init = init()?;
    let mut buf = [0u8; 2048];
    let cgt = status_mask(own_status(&mut buf)?, "SigCgt").unwrap_or_default();
    let mut sigs = [Signal::SIGKILL; 16];
    let mut n = 0;
    for sig in (1..=Signal::MAX).filter_map(Signal::from_raw) {
        if matches!(init::action(sig), Action::Default | Action::Uncatchable) && !cgt.contains(sig)
        {
            sigs[n] = sig;
            n += 1;
        }
    }
    child_sends(init, &sigs[..n])?;
    sleep_ms(10);
    diag!("{n} signals without a handler sent to PID 1 and dropped (SIGKILL, SIGSTOP included)");
    eq("getpid() (still running)", 1, getpid())?;
    let mut buf = [0u8; 2048];
    let status = own_status(&mut buf)?;
    let state = clonekit::procfs::status_field(status, "State").unwrap_or(b"?");
    check(
        state.first() == Some(&b'R') || state.first() == Some(&b'S'),
        format_args!("PID 1's state {}", Text(state)),
    )
}

fn init_run_main_exit_code_and_128_plus_signal() -> Outcome {
    let init = init()?;
    eq(
        "run_main(|| 42)",
        Ok(42),
        init.run_main(|| 42).map_err(|e| e.errno()),
    )?;
    let killed = init.run_main(|| {
        let _ = signal::kill(getpid(), Signal::SIGTERM);
        sleep_ms(10_000);
        0
    });
    eq(
        "run_main of a program killed by SIGTERM (handlers reset in the child)",
        Ok(128 + 15),
        killed.map_err(|e| e.errno()),
    )?;
    eq(
        "init::exit_code(SIGSEGV)",
        139,
        init::exit_code(ExitStatus::Signaled(Signal::SIGSEGV)),
    )
}

/// Loads a word from `addr` with one instruction: a real null dereference when `addr` is 0,
/// without the undefined behaviour of a Rust null read.
///
/// # Safety
/// Faults (`SIGSEGV`) unless `addr` is readable: only for a child meant to die.
unsafe fn load(addr: usize) -> usize {
    let out: usize;
    // SAFETY: the caller accepts the fault; the load touches no Rust-visible memory.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        core::arch::asm!("mov {0}, [{1}]", out(reg) out, in(reg) addr, options(nostack, readonly));
        #[cfg(target_arch = "aarch64")]
        core::arch::asm!("ldr {0}, [{1}]", out(reg) out, in(reg) addr, options(nostack, readonly));
        #[cfg(target_arch = "riscv64")]
        core::arch::asm!("ld {0}, 0({1})", out(reg) out, in(reg) addr, options(nostack, readonly));
    }
    out
}

fn fault_null_deref_child_dies_sigsegv_pid1_carries_on() -> Outcome {
    let init = init()?;
    let child = process::fork(|| {
        // SAFETY: this child exists to fault.
        let v = unsafe { load(black_box(0)) };
        black_box(v) as i32
    })
    .ctx("fork")?;
    let pid = child.pid();
    let status = wait(init, pid)?;
    diag!("child {pid}: {status}; PID 1 carries on");
    eq(
        "the null-dereferencing child",
        ExitStatus::Signaled(Signal::SIGSEGV),
        status,
    )?;
    // Carrying on: the next child runs and is reaped as usual.
    let next = process::fork(|| 0).ctx("fork after the fault")?;
    eq(
        "the next child",
        ExitStatus::Exited(0),
        wait(init, next.pid())?,
    )
}

const FRAME: usize = 4096;

/// Recurses without end, each frame a `FRAME`-byte buffer written through `black_box`,
/// recording the lowest address written in slot 2.
fn recurse(depth: usize) -> usize {
    let mut buf = [0u8; FRAME];
    black_box(&mut buf)[0] = depth as u8;
    slot(2).store(buf.as_ptr() as i64, SeqCst);
    slot(3).store(depth as i64, SeqCst);
    if depth == black_box(usize::MAX) {
        return 0; // never: the stack runs out long before
    }
    recurse(black_box(depth + 1)) + usize::from(black_box(&buf)[1])
}

fn fault_thread_stack_overflow_hits_guard_page_sigsegv() -> Outcome {
    need_entry()?;
    let init = init()?;
    reset_slots(4);
    let child = process::fork(|| {
        let Ok(stack) = Stack::new(64 * 1024) else {
            return 2;
        };
        slot(0).store(stack.bottom() as i64, SeqCst);
        slot(1).store(i64::from(stack.has_guard()), SeqCst);
        match thread::Builder::new()
            .stack(stack)
            .spawn(|| recurse(0) as i32)
        {
            // Not reached: the overflow kills the whole thread group.
            Ok(handle) => handle.join().map_or(99, |n| n + 100),
            Err(_) => 3,
        }
    })
    .ctx("fork")?;
    let status = wait(init, child.pid())?;
    let (bottom, guarded) = (slot(0).load(SeqCst), slot(1).load(SeqCst));
    let (lowest, depth) = (slot(2).load(SeqCst), slot(3).load(SeqCst));
    diag!(
        "thread stack bottom {bottom:#x} (guard {} KiB below), deepest frame {depth} wrote at \
         {lowest:#x}, {} bytes above the guard: {status}",
        clonekit::stack::GUARD_SIZE / 1024,
        lowest - bottom
    );
    eq("the stack has a guard", 1, guarded)?;
    eq(
        "the overflowing child",
        ExitStatus::Signaled(Signal::SIGSEGV),
        status,
    )?;
    check(
        lowest >= bottom,
        format_args!("a frame wrote below the stack's bottom (into the guard) and survived"),
    )?;
    check(
        lowest - bottom < 2 * FRAME as i64 + 1024,
        format_args!("the fault came before the stack was used up: not the guard"),
    )
}

/// One frame larger than a 64 KiB guard: 88 KiB of locals, the lowest byte written.
const BIG_FRAME: usize = 88 * 1024;

#[inline(never)]
fn big_frame() -> i32 {
    let mut locals = core::mem::MaybeUninit::<[u8; BIG_FRAME]>::uninit();
    let lowest = locals.as_mut_ptr().cast::<u8>();
    // SAFETY: the first byte of this frame's own local array (uninitialised memory may be
    // written); where the frame lies is what the case is about.
    unsafe { lowest.write_volatile(7) };
    i32::from(black_box(&locals).as_ptr().cast::<u8>() == lowest)
}

/// A thread on a 16 KiB stack calls a function with an 88 KiB frame. On x86_64 and aarch64
/// the frame's stack probes fault on the guard's first page; riscv64 emits no probes, and
/// the frame's lowest byte lands 72 KiB below the stack, inside riscv64's 1 MiB guard (past
/// the 64 KiB guard it had, into a mapping below). A writable sentinel mapped right below
/// the guard shows whether a write got past it.
fn fault_88k_frame_on_16k_stack_faults_in_the_guard_not_below() -> Outcome {
    need_entry()?;
    use clonekit::stack::GUARD_SIZE;
    use clonekit::sys::mm::{self, MapFlags, ProtFlags};
    const SENTINEL: usize = 1024 * 1024;
    let init = init()?;
    reset_slots(2);
    let child = process::fork(|| {
        let Ok(stack) = Stack::new(Stack::MIN_SIZE) else {
            return 2;
        };
        let guard_low = stack.bottom() as usize - GUARD_SIZE;
        let Some(at) = guard_low.checked_sub(SENTINEL) else {
            return 3;
        };
        // SAFETY: FIXED_NOREPLACE maps only where nothing is mapped (else EEXIST): no
        // memory of ours is replaced.
        let sentinel = unsafe {
            mm::mmap(
                at as *mut core::ffi::c_void,
                SENTINEL,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED_NOREPLACE,
                None,
                0,
            )
        };
        let Ok(sentinel) = sentinel else {
            return 4;
        };
        slot(0).store(sentinel.as_ptr() as i64, SeqCst);
        slot(1).store(stack.bottom() as i64, SeqCst);
        match thread::Builder::new().stack(stack).spawn(big_frame) {
            // Only reached if the frame did not fault: it wrote past the guard.
            Ok(handle) => {
                let _ = handle.join();
                // SAFETY: our own sentinel mapping, SENTINEL bytes, readable.
                let touched = unsafe {
                    core::slice::from_raw_parts(sentinel.as_ptr().cast::<u8>(), SENTINEL)
                        .iter()
                        .any(|&b| b != 0)
                };
                if touched { 5 } else { 6 }
            }
            Err(_) => 7,
        }
    })
    .ctx("fork")?;
    let status = wait(init, child.pid())?;
    diag!(
        "stack bottom {:#x}, guard {} KiB below it, sentinel at {:#x}: {status}",
        slot(1).load(SeqCst),
        GUARD_SIZE / 1024,
        slot(0).load(SeqCst)
    );
    eq(
        "the child whose thread ran an 88 KiB frame on a 16 KiB stack (5: it wrote into the \
         mapping below the guard)",
        ExitStatus::Signaled(Signal::SIGSEGV),
        status,
    )
}

/// In an `entry!` program threads and `CLONE_VM` children are allowed, and the safe
/// fork-like spawners ask the kernel whether anything else runs in the address space: a
/// running thread or a `CLONE_VM` child makes `fork` a typed refusal, and the same fork
/// works once they are gone. Memory shared without the descriptor table is refused.
fn entry_program_refuses_fork_beside_threads_and_vm_children_and_split_tables() -> Outcome {
    need_entry()?;
    use clonekit::Error;
    reset_slots(1);
    let split = ChildBuilder::new(CloneFlags::VM).spawn(|| 0).err();
    eq(
        "CLONE_VM without CLONE_FILES",
        Some(Error::VmWithoutFiles),
        split,
    )?;
    // A thread that runs until told to stop.
    let thread = thread::spawn(|| {
        while slot(0).load(SeqCst) == 0 {
            clonekit::sys::process::sched_yield();
        }
        0
    })
    .ctx("thread::spawn")?;
    let beside_thread = process::fork(|| 0).err();
    slot(0).store(1, SeqCst);
    let _ = thread.join();
    eq(
        "fork beside a running thread",
        Some(Error::MultiThreaded { threads: 2 }),
        beside_thread,
    )?;
    slot(0).store(0, SeqCst);
    let mut sharer = ChildBuilder::new(CloneFlags::VM | CloneFlags::FILES)
        .spawn(|| {
            while slot(0).load(SeqCst) == 0 {
                clonekit::sys::process::sched_yield();
            }
            0
        })
        .ctx("a CLONE_VM child")?;
    let beside_sharer = process::fork(|| 0).err();
    slot(0).store(1, SeqCst);
    child_ok_status("the CLONE_VM child", sharer.wait())?;
    eq(
        "fork beside a CLONE_VM child",
        Some(Error::AddressSpaceShared),
        beside_sharer,
    )?;
    let mut after = process::fork(|| 9).ctx("fork once both are gone")?;
    eq(
        "the fork once alone again",
        Ok(ExitStatus::Exited(9)),
        after.wait(),
    )
}

/// In an `entry!` program a thread needs no signal block around its creation (every handler
/// is sound on its complete clonekit TCB): it starts with exactly its creator's mask.
fn entry_program_thread_starts_with_its_creators_mask() -> Outcome {
    need_entry()?;
    reset_slots(1);
    let extra = SigSet::empty().with(Signal::SIGUSR2).with(Signal::SIGWINCH);
    let before =
        signal::rt_sigprocmask(signal::SigmaskHow::Block, Some(&extra)).ctx("rt_sigprocmask")?;
    let creators = signal::rt_sigprocmask(signal::SigmaskHow::Block, None).ctx("read mask")?;
    let spawned = thread::spawn(|| {
        match signal::rt_sigprocmask(signal::SigmaskHow::Block, None) {
            Ok(mask) => slot(0).store(mask.bits() as i64, SeqCst),
            Err(_) => slot(0).store(-1, SeqCst),
        }
        0
    });
    let joined = spawned.map(|handle| handle.join().ok());
    let _ = signal::rt_sigprocmask(signal::SigmaskHow::SetMask, Some(&before));
    eq("the thread", Ok(Some(0)), joined.map_err(drop))?;
    eq(
        "the thread's signal mask (the creator's, with SIGUSR2 and SIGWINCH)",
        creators.bits() as i64,
        slot(0).load(SeqCst),
    )
}

/// `Ok(Exited(0))`, or a failure naming `what`.
fn child_ok_status(what: &str, status: clonekit::Result<ExitStatus, clonekit::Errno>) -> Outcome {
    eq(what, Ok(ExitStatus::Exited(0)), status)
}

fn fault_sigkill_mid_work_reported() -> Outcome {
    let init = init()?;
    reset_slots(1);
    let child = process::fork(|| {
        loop {
            slot(0).fetch_add(1, SeqCst);
        }
    })
    .ctx("fork")?;
    let pid = child.pid();
    let mut waited = 0;
    while slot(0).load(SeqCst) < 10_000 && waited < 5000 {
        sleep_ms(1);
        waited += 1;
    }
    let progress = slot(0).load(SeqCst);
    check(
        progress >= 10_000,
        format_args!("the child made no progress ({progress})"),
    )?;
    signal::kill(pid, Signal::SIGKILL).ctx("kill")?;
    let status = wait(init, pid)?;
    let after = slot(0).load(SeqCst);
    sleep_ms(20);
    diag!(
        "killed mid-work after {progress} iterations: {status}, exit code {}",
        init::exit_code(status)
    );
    eq(
        "the working child",
        ExitStatus::Signaled(Signal::SIGKILL),
        status,
    )?;
    eq(
        "its terminating signal",
        Some(Signal::SIGKILL.raw()),
        status.signal().map(Signal::raw),
    )?;
    eq("its exit code (none: signalled)", None, status.code())?;
    eq("exit code", 137, init::exit_code(status))?;
    eq("work after the kill (none)", after, slot(0).load(SeqCst))
}

/// Open descriptors of this process.
fn fd_count() -> Result<usize, Fail> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir = fs::openat(CWD, c"/proc/self/fd", flags, 0).ctx("open /proc/self/fd")?;
    let mut buf = [0u8; 1024];
    count_dir_entries(dir.as_fd(), &mut buf).ctx("count /proc/self/fd")
}

/// Lines of a `/proc` file of any length.
fn line_count(path: &core::ffi::CStr) -> Result<usize, Fail> {
    let fd = fs::openat(CWD, path, OFlags::RDONLY | OFlags::CLOEXEC, 0).ctx("open")?;
    let mut buf = [0u8; 1024];
    let mut lines = 0;
    loop {
        match fs::read(fd.as_fd(), &mut buf) {
            Ok(0) => return Ok(lines),
            Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count(),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e).ctx("read"),
        }
    }
}

/// 500 short-lived children in batches of 50: half fork-like, half on their own mapped
/// stack with a pidfd (a descriptor and a mapping each, to leak if anything were wrong),
/// all reaped by the init.
fn fault_500_children_reaped_no_zombie_no_fd_leak() -> Outcome {
    let init = init()?;
    init.reap_all();
    let fds = fd_count()?;
    let maps = line_count(c"/proc/self/maps")?;
    let reaped = init.reaped_total();
    let mut peak_fds = 0;
    for round in 0..10 {
        let mut batch: [Option<process::Child>; 50] = [const { None }; 50];
        for (i, slot) in batch.iter_mut().enumerate() {
            let code = (round * 50 + i) as i32 % 200;
            let child = if i % 2 == 0 {
                process::fork(move || code)
            } else {
                ChildBuilder::new(CloneFlags::empty())
                    .pidfd(true)
                    .stack_size(Stack::MIN_SIZE)
                    .spawn(move || code)
            };
            *slot = Some(child.ctx("spawn")?);
        }
        peak_fds = peak_fds.max(fd_count()?);
        // Waiting for one child reaps any other that has terminated: keep what each wait
        // hands over, and wait only for those not reaped yet.
        let mut pids = [0; 50];
        for (pid, child) in pids.iter_mut().zip(&batch) {
            *pid = child.as_ref().map_or(0, |c| c.pid());
        }
        let mut done: [Option<ExitStatus>; 50] = [None; 50];
        for i in 0..50 {
            if done[i].is_some() {
                continue;
            }
            let status = init
                .wait_for(pids[i], |p, status| {
                    match pids.iter().position(|&q| q == p) {
                        Some(j) => done[j] = Some(status),
                        None => diag!("reaped {p}, not of this batch: {status}"),
                    }
                })
                .ctx("Init::wait_for")?;
            done[i] = Some(status);
        }
        for (i, status) in done.iter().enumerate() {
            let code = (round * 50 + i) as i32 % 200;
            eq("a child", Some(ExitStatus::Exited(code)), *status)?;
        }
        // The handles close the pidfds and unmap the stacks of children reaped already.
        drop(batch);
    }
    let no_children = waitid(
        WaitId::All,
        WaitOptions::EXITED | WaitOptions::NOHANG | WaitOptions::NOWAIT | WaitOptions::ALL,
    );
    diag!(
        "500 children reaped; fds {fds} before, {peak_fds} at a batch's peak, {} after; \
         maps lines {maps} before, {} after",
        fd_count()?,
        line_count(c"/proc/self/maps")?
    );
    eq(
        "children reaped by the init",
        500,
        init.reaped_total() - reaped,
    )?;
    eq(
        "waitid(P_ALL, WNOWAIT): no child left",
        Err(Errno::ECHILD),
        no_children.map(|_| ()),
    )?;
    eq("zombies in /proc", 0, crate::util::zombies()?.0)?;
    eq("open fds after (as before)", fds, fd_count()?)?;
    check(
        peak_fds > fds,
        format_args!("the pidfds never showed in /proc/self/fd"),
    )?;
    eq(
        "/proc/self/maps lines after (stacks freed)",
        maps,
        line_count(c"/proc/self/maps")?,
    )
}

/// 100 threads, 10 at a time, each joined: their stacks (mapping plus guard) are unmapped.
fn fault_100_threads_joined_stacks_unmapped() -> Outcome {
    // Dropped default-size stacks are kept for reuse (up to 8): count without them.
    let kept_before = clonekit::stack::release_kept_stacks();
    let before = line_count(c"/proc/self/maps")?;
    let mut peak = 0;
    let mut sum = 0;
    for round in 0..10 {
        let mut handles: [Option<thread::JoinHandle<i32>>; 10] = [const { None }; 10];
        for (i, h) in handles.iter_mut().enumerate() {
            let n = (round * 10 + i) as i32;
            *h = Some(thread::spawn(move || black_box(n)).ctx("thread::spawn")?);
        }
        peak = peak.max(line_count(c"/proc/self/maps")?);
        for h in handles.iter_mut() {
            sum += h.take().ok_or(Fail::Failed)?.join().ctx("join")?;
        }
    }
    let kept = clonekit::stack::release_kept_stacks();
    let after = line_count(c"/proc/self/maps")?;
    diag!(
        "/proc/self/maps: {before} lines before, {peak} with 10 threads alive, {after} after \
         ({kept} stacks kept for reuse released, {kept_before} before)"
    );
    check(
        (1..=8).contains(&kept),
        format_args!("{kept} stacks were kept for reuse, not 1 to 8"),
    )?;
    eq(
        "sum of the 100 threads' results",
        (0..100).sum::<i32>(),
        sum,
    )?;
    check(
        peak > before,
        format_args!("the thread stacks never showed in maps"),
    )?;
    eq(
        "/proc/self/maps lines after joining (stacks unmapped, the kept ones released)",
        before,
        after,
    )
}

fn fault_child_past_deadline_killed() -> Outcome {
    let init = init()?;
    let child = process::fork(|| {
        loop {
            sleep_ms(1000);
        }
    })
    .ctx("fork")?;
    let pid = child.pid();
    let started = crate::util::now_ms();
    let early = init
        .wait_for_timeout(pid, Timespec::from_millis(200), |_, _| {})
        .ctx("wait_for_timeout")?;
    let waited = crate::util::now_ms() - started;
    eq("status by the deadline (still running)", None, early)?;
    check(
        waited >= 200,
        format_args!("the deadline came after {waited} ms"),
    )?;
    signal::kill(pid, Signal::SIGKILL).ctx("kill")?;
    let status = wait(init, pid)?;
    diag!("child {pid} still running after {waited} ms, killed: {status}");
    eq(
        "the child past its deadline",
        ExitStatus::Signaled(Signal::SIGKILL),
        status,
    )
}

fn fault_failing_execve_reports_errno() -> Outcome {
    let init = init()?;
    for (path, want) in [
        (c"/no/such/program", Errno::ENOENT),
        (c"/proc", Errno::EACCES),
        (c"/proc/self/status", Errno::EACCES),
    ] {
        let got = match exec::spawn(path, &[path], &[]) {
            Err(SpawnError::Exec(errno)) => Ok(errno),
            Ok(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(Errno::EEXIST)
            }
            Err(_) => Err(Errno::EINVAL),
        };
        diag!(
            "execve({}) in the child: {}",
            Text(path.to_bytes()),
            crate::show::Shown(&got)
        );
        eq("the child's execve errno", Ok(want), got)?;
    }
    eq(
        "children left to reap (spawn reaped each)",
        0,
        init.reap_all(),
    )
}
