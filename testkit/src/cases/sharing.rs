//! Sections A and B: the flags POSIX threads are made of (`CLONE_VM`, `CLONE_FILES`,
//! `CLONE_FS`, `CLONE_SIGHAND`, `CLONE_THREAD`, `CLONE_SYSVSEM`), their dependency rules,
//! Example 1 (the shared counter) and Example 2 (TID vs TGID), the NPTL set (Q3), and the
//! process-level flags of the table: `CLONE_IO`, `CLONE_PARENT`, `CLONE_VFORK`,
//! `CLONE_PTRACE`, `CLONE_UNTRACED`, and `CLONE_DETACHED`.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering::SeqCst};

use clonekit::fd::OwnedFd;
use clonekit::process::{self, ChildBuilder, ExitStatus};
use clonekit::procfs::{self, PathBuf};
use clonekit::sys::fs::{self, PipeFlags};
use clonekit::sys::futex;
use clonekit::sys::process::{getpid, getppid, gettid};
use clonekit::sys::signal::{
    self, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, rt_sigaction,
};
use clonekit::sys::wait::WaitOptions;
use clonekit::validate::Syscall;
use clonekit::{CloneFlags as F, Errno, ExitSignal, FlagError, Stack, raw, thread};

use super::validator_vs_kernel::refusal;
use crate::case::{Case, Ctx, Fail, Outcome, case, check, child_ok, code, diag, eq, eq_bytes};
use crate::observe::fs::{getcwd, umask};
use crate::observe::futex::futex_wake;
use crate::observe::ioprio::{IoPriority, IoprioClass, IoprioWho, ioprio_get, ioprio_set};
use crate::observe::ipc::{self, Sembuf};
use crate::observe::ptrace;
use crate::shared::slot;
use crate::util;

pub const CASES: &[Case] = &[
    case!(vm_child_writes_land_in_parents_memory),
    case!(vm_absent_child_writes_land_in_its_copy),
    case!(files_close_in_child_closes_parents_fd),
    case!(files_absent_close_in_child_stays_private),
    case!(fs_chdir_and_umask_in_child_are_parents),
    case!(fs_absent_chdir_and_umask_stay_private),
    case!(sighand_child_handler_is_parents_masks_separate),
    case!(sighand_absent_child_handler_stays_private),
    case!(sighand_without_vm_refused_einval),
    case!(thread_without_sighand_refused_einval),
    case!(newns_with_fs_refused_einval),
    case!(thread_shares_the_tgid_with_its_own_tid),
    case!(thread_exit_ends_only_its_own_task),
    case!(nptl_flag_set_thread_spawn_and_join),
    case!(sysvsem_undo_applied_when_last_sharer_exits),
    case!(sysvsem_absent_undo_applied_at_child_exit),
    case!(io_child_ioprio_seen_by_parent),
    case!(io_absent_child_ioprio_stays_private),
    case!(parent_grandchild_of_pid1_child_is_reaped_by_pid1),
    case!(parent_from_pid1_refused_einval),
    case!(vfork_parent_suspended_until_child_exits),
    case!(vfork_parent_resumes_when_child_execs),
    case!(vfork_absent_parent_runs_on),
    case!(ptrace_child_of_traced_task_is_traced_too),
    case!(untraced_child_escapes_ptrace_o_tracefork),
    case!(ptrace_o_tracefork_traces_child_without_untraced),
    case!(detached_ignored_by_legacy_clone),
    case!(detached_with_pidfd_refused_einval),
];

static COUNTER: AtomicI32 = AtomicI32::new(0);
static SEEN_BEFORE: AtomicI32 = AtomicI32::new(0);

/// Example 1: `clone(CLONE_VM | CLONE_FILES | CLONE_SIGHAND | SIGCHLD)`; the child adds 100
/// to the parent's counter.
fn vm_child_writes_land_in_parents_memory() -> Outcome {
    COUNTER.store(5, SeqCst);
    SEEN_BEFORE.store(-1, SeqCst);
    let mut child = ChildBuilder::new(F::VM | F::FILES | F::SIGHAND)
        .spawn(|| {
            SEEN_BEFORE.store(COUNTER.load(SeqCst), SeqCst);
            COUNTER.fetch_add(100, SeqCst);
            0
        })
        .ctx("clone(VM|FILES|SIGHAND)")?;
    let via = child.via();
    child_ok("child", child.wait())?;
    check(
        via == Syscall::Clone,
        format_args!("the child was not made by legacy clone(), which these flags fit"),
    )?;
    eq("[Child] shared_counter before", 5, SEEN_BEFORE.load(SeqCst))?;
    eq("[Parent] shared_counter after", 105, COUNTER.load(SeqCst))
}

/// Example 1 without `CLONE_VM` (nor `CLONE_SIGHAND`, which needs it): the child's write
/// lands in its copy.
fn vm_absent_child_writes_land_in_its_copy() -> Outcome {
    COUNTER.store(5, SeqCst);
    // CLONE_FILES without CLONE_VM is refused by the safe spawners (the child's copy of
    // memory would own the parent's descriptors through one table).
    // SAFETY: the child touches only an atomic: it closes and replaces no descriptor.
    let mut child = unsafe {
        ChildBuilder::new(F::FILES).spawn_unchecked(|| {
            COUNTER.fetch_add(100, SeqCst);
            if COUNTER.load(SeqCst) == 105 { 0 } else { 1 }
        })
    }
    .ctx("clone(FILES)")?;
    child_ok("child (sees 105 in its copy)", child.wait())?;
    eq("[Parent] shared_counter after", 5, COUNTER.load(SeqCst))
}

fn files_case(flags: F, shared: bool) -> Outcome {
    let (r, _w) = fs::pipe2(PipeFlags::CLOEXEC).ctx("pipe2")?;
    let fd = r.as_raw();
    // Shared: the number is handed to the child, which closes it: nobody owns it here any
    // more. Private: the child closes its own copy, and `r` keeps ours.
    let r = if shared {
        let _ = r.into_raw();
        None
    } else {
        Some(r)
    };
    // With CLONE_FILES the child closes only `fd`, which nobody owns here (see above).
    // Without it the child has its own copy of the table, made while `r` was open, in which
    // its copy of `r` is never dropped: it alone owns the copy it closes.
    // SAFETY: so no descriptor the parent owns is closed or replaced.
    let mut child = unsafe {
        process::fork_with_unchecked(flags, ExitSignal::SIGCHLD, move || {
            if fs::close(OwnedFd::from_raw(fd)).is_ok() {
                0
            } else {
                1
            }
        })
    }
    .ctx("clone")?;
    child_ok("child closing the fd", child.wait())?;
    // Asked of the number: a descriptor the child closed cannot be borrowed any more.
    let now = match crate::observe::fs::fd_is_open(fd) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Errno::EBADF),
        Err(e) => Err(e),
    };
    if shared {
        eq(
            "parent's fd after the child closed it",
            Err(Errno::EBADF),
            now,
        )
        .inspect_err(|_| {
            if now.is_ok() {
                // SAFETY: the child did not close it: the number is still ours alone.
                drop(unsafe { OwnedFd::from_raw(fd) });
            }
        })
    } else {
        drop(r);
        eq("parent's fd after the child closed its copy", Ok(()), now)
    }
}

fn files_close_in_child_closes_parents_fd() -> Outcome {
    files_case(F::FILES, true)
}

fn files_absent_close_in_child_stays_private() -> Outcome {
    files_case(F::empty(), false)
}

fn fs_case(flags: F, shared: bool) -> Outcome {
    fs::chdir(c"/").ctx("chdir /")?;
    let before = umask(0o022);
    let mut child = process::fork_with(flags, ExitSignal::SIGCHLD, || {
        let moved = fs::chdir(c"/tmp").is_ok();
        umask(0o077);
        if moved { 0 } else { 1 }
    })
    .ctx("clone")?;
    let waited = child_ok("child (chdir /tmp, umask 077)", child.wait());
    let mut buf = [0u8; 64];
    let mut cwd = [0u8; 64];
    let cwd_len = match getcwd(&mut buf) {
        Ok(c) => {
            let b = c.to_bytes();
            cwd[..b.len()].copy_from_slice(b);
            b.len()
        }
        Err(_) => 0,
    };
    let mask = umask(before);
    let _ = fs::chdir(c"/");
    waited?;
    let (want_cwd, want_mask): (&[u8], u32) = if shared {
        (b"/tmp", 0o077)
    } else {
        (b"/", 0o022)
    };
    eq_bytes("parent's cwd", want_cwd, &cwd[..cwd_len])?;
    eq("parent's umask", Octal(want_mask), Octal(mask))
}

/// A mode shown in octal.
#[derive(PartialEq)]
struct Octal(u32);

impl crate::show::Show for Octal {
    fn show(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#o}", self.0)
    }
}

fn fs_chdir_and_umask_in_child_are_parents() -> Outcome {
    fs_case(F::FS, true)
}

fn fs_absent_chdir_and_umask_stay_private() -> Outcome {
    fs_case(F::empty(), false)
}

static USR1_HITS: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_usr1(_: c_int) {
    USR1_HITS.fetch_add(1, SeqCst);
}

/// Installs `on_usr1` for `SIGUSR1` in the calling task.
pub fn install_usr1_handler() -> bool {
    let act = SigAction::new(
        SigHandler::Handler(on_usr1),
        SaFlags::RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only increments an atomic.
    unsafe { rt_sigaction(Signal::SIGUSR1, Some(&act)) }.is_ok()
}

/// The number of `SIGUSR1`s `on_usr1` has seen, reset.
pub fn take_usr1_hits() -> i32 {
    USR1_HITS.swap(0, SeqCst)
}

fn usr1_handler_installed() -> bool {
    // SAFETY: reads the disposition, installs nothing.
    let now = unsafe { rt_sigaction(Signal::SIGUSR1, None) };
    now.is_ok_and(|a| a.handler == SigHandler::Handler(on_usr1))
}

fn sighand_child_handler_is_parents_masks_separate() -> Outcome {
    signal::signal_default(Signal::SIGUSR1).ctx("SIG_DFL")?;
    // The chapter's flags: memory without the descriptor table, which the safe spawn
    // refuses (Error::VmWithoutFiles).
    // SAFETY: the child touches no descriptor: nothing names a file in one table that the
    // other side uses.
    let mut child = unsafe {
        ChildBuilder::new(F::VM | F::SIGHAND).spawn_unchecked(|| {
            let installed = install_usr1_handler();
            let blocked = SigSet::empty().with(Signal::SIGUSR2);
            let masked = signal::rt_sigprocmask(SigmaskHow::Block, Some(&blocked)).is_ok();
            if installed && masked { 0 } else { 1 }
        })
    }
    .ctx("clone(VM|SIGHAND)")?;
    child_ok("child installing a SIGUSR1 handler", child.wait())?;
    let shared = usr1_handler_installed();
    take_usr1_hits();
    let _ = signal::tgkill(getpid(), gettid(), Signal::SIGUSR1);
    let hits = take_usr1_hits();
    let _ = signal::signal_default(Signal::SIGUSR1);
    check(
        shared,
        format_args!("the parent's SIGUSR1 disposition is not the child's handler"),
    )?;
    eq(
        "SIGUSR1 deliveries to the parent's (child-installed) handler",
        1,
        hits,
    )?;
    let mask = signal::rt_sigprocmask(SigmaskHow::Block, None).ctx("sigprocmask")?;
    check(
        !mask.contains(Signal::SIGUSR2),
        format_args!("SIGUSR2, blocked by the child only, is blocked in the parent"),
    )
}

fn sighand_absent_child_handler_stays_private() -> Outcome {
    signal::signal_default(Signal::SIGUSR1).ctx("SIG_DFL")?;
    let mut child = process::fork(|| if install_usr1_handler() { 0 } else { 1 }).ctx("fork")?;
    child_ok("child installing a SIGUSR1 handler", child.wait())?;
    check(
        !usr1_handler_installed(),
        format_args!("the child's handler leaked into the parent without CLONE_SIGHAND"),
    )
}

/// `CLONE_SIGHAND` needs `CLONE_VM` (TLPI 28.2.1, question 2).
fn sighand_without_vm_refused_einval() -> Outcome {
    refusal(
        Syscall::Clone,
        F::SIGHAND,
        ExitSignal::SIGCHLD,
        FlagError::SighandRequiresVm,
    )
}

fn thread_without_sighand_refused_einval() -> Outcome {
    refusal(
        Syscall::Clone,
        F::VM | F::THREAD,
        ExitSignal::NONE,
        FlagError::ThreadRequiresSighand,
    )
}

/// Section E: a private mount namespace cannot share the filesystem attributes.
fn newns_with_fs_refused_einval() -> Outcome {
    refusal(
        Syscall::Clone,
        F::NEWNS | F::FS,
        ExitSignal::SIGCHLD,
        FlagError::NewnsWithFs,
    )
}

struct Ids {
    tgid: AtomicI32,
    tid: AtomicI32,
}

static IDS: [Ids; 3] = [const {
    Ids {
        tgid: AtomicI32::new(0),
        tid: AtomicI32::new(0),
    }
}; 3];

/// Example 2's `thread_func`: records `getpid()` and `gettid()`.
///
/// # Safety
/// `arg` points at an [`Ids`] that outlives the thread.
unsafe extern "C" fn record_ids(arg: *mut c_void) -> i32 {
    // SAFETY: see above.
    let ids = unsafe { &*arg.cast::<Ids>() };
    ids.tgid.store(getpid(), SeqCst);
    ids.tid.store(gettid(), SeqCst);
    0
}

/// Example 2: three threads (B, C, D of the diagram) made with exactly
/// `CLONE_VM | CLONE_SIGHAND | CLONE_THREAD`.
fn thread_shares_the_tgid_with_its_own_tid() -> Outcome {
    let leader = getpid();
    eq("[Main] gettid() of the group leader", leader, gettid())?;
    let mut stacks: [Option<Stack>; 3] = [None, None, None];
    let mut tids = [0; 3];
    for (i, ids) in IDS.iter().enumerate() {
        ids.tgid.store(0, SeqCst);
        ids.tid.store(0, SeqCst);
        let stack = Stack::new(Stack::MIN_SIZE).ctx("stack")?;
        // SAFETY: the thread runs `record_ids` on its own stack, kept until the kernel has
        // released the thread; `ids` is static.
        let tid = unsafe {
            raw::clone(
                F::VM | F::SIGHAND | F::THREAD,
                ExitSignal::NONE,
                stack.top(),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                0,
                record_ids,
                (ids as *const Ids).cast_mut().cast(),
            )
        }
        .ctx("clone(VM|SIGHAND|THREAD)")?;
        tids[i] = tid;
        stacks[i] = Some(stack);
    }
    // A CLONE_THREAD child cannot be waited for: wait until the kernel has released it.
    for tid in tids {
        util::wait_thread_gone(tid);
    }
    drop(stacks);
    for (i, ids) in IDS.iter().enumerate() {
        eq("[Thread] getpid() (TGID)", leader, ids.tgid.load(SeqCst))?;
        eq(
            "[Thread] gettid() = clone()'s return",
            tids[i],
            ids.tid.load(SeqCst),
        )?;
        check(
            tids[i] != leader && !tids[..i].contains(&tids[i]),
            format_args!(
                "TID {} is not distinct from the others and the TGID {leader}",
                tids[i]
            ),
        )?;
    }
    diag!("TGID {leader}, TIDs {} {} {}", tids[0], tids[1], tids[2]);
    Ok(())
}

static EXIT_GATE: AtomicU32 = AtomicU32::new(0);
static EXIT_WORD: util::TidWord = util::TidWord::new();

/// Waits until the parent opens `EXIT_GATE`, then returns (the trampoline ends the task).
///
/// # Safety
/// Runs as a thread; touches only statics.
unsafe extern "C" fn wait_at_exit_gate(_: *mut c_void) -> i32 {
    while EXIT_GATE.load(SeqCst) == 0 {
        let _ = futex::futex_wait(&EXIT_GATE, 0, None, true);
    }
    3
}

/// `/proc/self/task/<tid>/stat` read whole: `Ok` while the task exists.
fn task_stat(tid: clonekit::sys::Pid) -> Result<(), Errno> {
    let path = PathBuf::format(format_args!("/proc/self/task/{tid}/stat"))?;
    let mut buf = [0u8; 512];
    util::read_file(path.as_c_str(), &mut buf).map(drop)
}

/// A `CLONE_THREAD` task's end ends that task only (clonekit's start code calls `exit`, not
/// `exit_group`): it is in `/proc/self/task` and in the `Threads:` count while it runs, gone
/// from both afterwards, and the rest of its thread group runs on.
fn thread_exit_ends_only_its_own_task() -> Outcome {
    let leader = getpid();
    EXIT_GATE.store(0, SeqCst);
    EXIT_WORD.0.store(0, SeqCst);
    let threads = procfs::thread_count().ctx("Threads: before")?;
    let stack = Stack::new(Stack::MIN_SIZE).ctx("stack")?;
    // SAFETY: the thread runs `wait_at_exit_gate` on its own stack, kept until the kernel
    // clears EXIT_WORD (the thread is past its last use of the stack then); it touches only
    // statics.
    let tid = unsafe {
        raw::clone(
            F::VM | F::SIGHAND | F::THREAD | F::PARENT_SETTID | F::CHILD_CLEARTID,
            ExitSignal::NONE,
            stack.top(),
            EXIT_WORD.as_ptr(),
            EXIT_WORD.as_ptr(),
            0,
            wait_at_exit_gate,
            core::ptr::null_mut(),
        )
    }
    .ctx("clone(VM|SIGHAND|THREAD|PARENT_SETTID|CHILD_CLEARTID)")?;
    let running = task_stat(tid);
    let threads_running = procfs::thread_count();
    EXIT_GATE.store(1, SeqCst);
    let _ = futex_wake(&EXIT_GATE, 1, true);
    EXIT_WORD.join();
    drop(stack);
    // CHILD_CLEARTID fires before the kernel has released the task, and a task on its way
    // out can still be listed and answer ESRCH: 10 s at most until its entry is gone.
    let mut gone = task_stat(tid);
    for _ in 0..10_000 {
        if gone == Err(Errno::ENOENT) {
            break;
        }
        util::sleep_ms(1);
        gone = task_stat(tid);
    }
    eq("/proc/self/task/<tid>/stat while it runs", Ok(()), running)?;
    eq("Threads: while it runs", Ok(threads + 1), threads_running)?;
    eq(
        "/proc/self/task/<tid>/stat after it ended",
        Err(Errno::ENOENT),
        gone,
    )?;
    eq(
        "Threads: after it ended",
        Ok(threads),
        procfs::thread_count(),
    )?;
    eq("getpid() (the group runs on)", leader, getpid())
}

/// clonekit threads use exactly NPTL's nine flags; a spawned thread shares
/// the PID, has its own TID, its own TLS (SETTLS), and is joined through CHILD_CLEARTID.
fn nptl_flag_set_thread_spawn_and_join() -> Outcome {
    let q3 = F::VM
        | F::FILES
        | F::FS
        | F::SIGHAND
        | F::THREAD
        | F::SETTLS
        | F::PARENT_SETTID
        | F::CHILD_CLEARTID
        | F::SYSVSEM;
    check(
        thread::THREAD_FLAGS == q3 && F::NPTL_THREAD == q3,
        format_args!("thread::THREAD_FLAGS is not the Q3 set"),
    )?;
    // What the thread saw comes back as its closure's value, through its stack.
    let handle = thread::spawn(|| (getpid(), gettid(), thread::current().unwrap_or(-1)))
        .ctx("thread::spawn")?;
    let tid = handle.tid();
    let (pid, own_tid, current) = handle.join().ctx("join")?;
    eq("thread's getpid()", getpid(), pid)?;
    eq("thread's gettid()", tid, own_tid)?;
    eq(
        "thread::current() in the thread (its TLS block)",
        tid,
        current,
    )?;
    check(tid != getpid(), format_args!("thread TID equals the PID"))
}

/// A runner (not PID 1, so PID 1's undo list stays out of it) makes a child with or
/// without `CLONE_SYSVSEM`; the child raises the semaphore with `SEM_UNDO` and exits.
/// The value seen by the runner after the child, and by PID 1 after the runner, tell when
/// the undo happened.
fn sysvsem_case(flags: F, after_child: i32) -> Outcome {
    let sem = ipc::semget(ipc::IPC_PRIVATE, 1, ipc::IPC_CREAT | 0o600).ctx("semget")?;
    let outcome = sysvsem_run(sem, flags, after_child);
    let _ = ipc::semctl_rmid(sem);
    outcome
}

fn sysvsem_run(sem: i32, flags: F, after_child: i32) -> Outcome {
    let mut runner = process::fork(move || {
        code((|| {
            let mut child = process::fork_with(flags, ExitSignal::SIGCHLD, move || {
                let up = Sembuf {
                    sem_num: 0,
                    sem_op: 1,
                    sem_flg: ipc::SEM_UNDO,
                };
                if ipc::semop(sem, &[up]).is_ok() { 0 } else { 1 }
            })
            .ctx("clone")?;
            child_ok("child's semop(+1, SEM_UNDO)", child.wait())?;
            let now = ipc::semctl_getval(sem, 0).ctx("GETVAL")?;
            eq(
                "semaphore after the child (first sharer) exited",
                after_child,
                now,
            )
        })())
    })
    .ctx("fork runner")?;
    child_ok("runner", runner.wait())?;
    let now = ipc::semctl_getval(sem, 0).ctx("GETVAL")?;
    eq("semaphore after the runner (last sharer) exited", 0, now)
}

fn sysvsem_undo_applied_when_last_sharer_exits() -> Outcome {
    sysvsem_case(F::SYSVSEM, 1)
}

fn sysvsem_absent_undo_applied_at_child_exit() -> Outcome {
    sysvsem_case(F::empty(), 0)
}

/// A runner gives itself an I/O context (best effort, level 4), then a child with or
/// without `CLONE_IO` sets best effort level 1 on itself.
fn io_case(flags: F, shared: bool) -> Outcome {
    let mut runner = process::fork(move || {
        code((|| {
            let mine = IoPriority::new(IoprioClass::BestEffort, 4);
            ioprio_set(IoprioWho::Process(0), mine).ctx("ioprio_set (runner)")?;
            let mut child = process::fork_with(flags, ExitSignal::SIGCHLD, || {
                let prio = IoPriority::new(IoprioClass::BestEffort, 1);
                if ioprio_set(IoprioWho::Process(0), prio).is_ok() {
                    0
                } else {
                    1
                }
            })
            .ctx("clone")?;
            child_ok("child's ioprio_set", child.wait())?;
            let now = ioprio_get(IoprioWho::Process(0)).ctx("ioprio_get")?;
            let want = if shared { 1 } else { 4 };
            eq(
                "runner's best-effort level after the child set 1",
                (IoprioClass::BestEffort as u16, want),
                (now.class() as u16, now.level()),
            )
        })())
    })
    .ctx("fork runner")?;
    child_ok("runner", runner.wait())
}

fn io_child_ioprio_seen_by_parent() -> Outcome {
    io_case(F::IO, true)
}

fn io_absent_child_ioprio_stays_private() -> Outcome {
    io_case(F::empty(), false)
}

/// From a forked child of PID 1, `clone(CLONE_PARENT)`: the grandchild is PID 1's.
fn parent_grandchild_of_pid1_child_is_reaped_by_pid1() -> Outcome {
    crate::shared::reset_slots(2);
    let mut runner = process::fork(|| {
        code((|| {
            let grandchild = process::fork_with(F::PARENT, ExitSignal::SIGCHLD, || {
                slot(0).store(i64::from(getppid()), SeqCst);
                0
            })
            .ctx("clone(PARENT)")?;
            let pid = grandchild.pid();
            slot(1).store(i64::from(pid), SeqCst);
            core::mem::forget(grandchild);
            let mine = clonekit::sys::wait::wait4(pid, WaitOptions::NOHANG | WaitOptions::ALL);
            eq(
                "the caller waiting for its CLONE_PARENT child",
                Err(Errno::ECHILD),
                mine.map(drop),
            )
        })())
    })
    .ctx("fork runner")?;
    let runner_pid = runner.pid();
    child_ok("runner", runner.wait())?;
    let grandchild = slot(1).load(SeqCst) as i32;
    let status = process::wait_pid(grandchild);
    eq(
        "PID 1 reaping the grandchild by pid",
        Ok(ExitStatus::Exited(0)),
        status,
    )?;
    eq(
        "grandchild's getppid() (the runner's parent)",
        i64::from(getpid()),
        slot(0).load(SeqCst),
    )?;
    diag!(
        "runner {runner_pid}, grandchild {grandchild}, its parent {}",
        getpid()
    );
    Ok(())
}

fn parent_from_pid1_refused_einval() -> Outcome {
    crate::case::need_pid1()?;
    refusal(
        Syscall::Clone,
        F::PARENT,
        ExitSignal::SIGCHLD,
        FlagError::ParentFromNsInit,
    )
}

static VFORK_FLAG: AtomicI32 = AtomicI32::new(0);

fn vfork_case(flags: F, want_flag: i32) -> Outcome {
    VFORK_FLAG.store(0, SeqCst);
    let started = crate::util::now_ms();
    // The chapter's flags: memory without the descriptor table (Error::VmWithoutFiles from
    // the safe spawn).
    // SAFETY: the child sleeps and sets an atomic: it touches no descriptor.
    let mut child = unsafe {
        ChildBuilder::new(flags).spawn_unchecked(|| {
            util::sleep_ms(200);
            VFORK_FLAG.store(1, SeqCst);
            0
        })
    }
    .ctx("clone")?;
    let seen = VFORK_FLAG.load(SeqCst);
    let elapsed = crate::util::now_ms() - started;
    child_ok("child", child.wait())?;
    eq(
        "flag set by the child, as clone() returned",
        want_flag,
        seen,
    )?;
    if want_flag == 1 {
        check(
            elapsed >= 190,
            format_args!("clone() returned after {elapsed} ms, before the child's 200 ms"),
        )?;
    }
    Ok(())
}

/// `CLONE_VFORK`: the parent is suspended until the child exits.
fn vfork_parent_suspended_until_child_exits() -> Outcome {
    vfork_case(F::VM | F::VFORK, 1)
}

/// `CLONE_VFORK`: ... or until it execs: the child execs this program again
/// (`vfork-exec-child`, which sleeps 300 ms); clone() returns while it still runs.
fn vfork_parent_resumes_when_child_execs() -> Outcome {
    let started = crate::util::now_ms();
    let exec_self = || {
        let argv = [
            c"/init".as_ptr(),
            crate::EXEC_CHILD_ARG.as_ptr(),
            core::ptr::null(),
        ];
        let envp = [core::ptr::null()];
        // SAFETY: argv and envp are NULL-terminated arrays of static strings; the parent
        // stays suspended (CLONE_VFORK) until the exec has copied them.
        let errno = unsafe {
            clonekit::sys::process::execve(c"/proc/self/exe", argv.as_ptr(), envp.as_ptr())
        };
        100 + errno.raw()
    };
    // SAFETY: the child only execs (no descriptor is used; memory without the table is
    // the chapter's vfork).
    let mut child = unsafe { ChildBuilder::new(F::VM | F::VFORK).spawn_unchecked(exec_self) }
        .ctx("clone(VM|VFORK)")?;
    let elapsed = crate::util::now_ms() - started;
    let running = child.try_wait().ctx("wait4(WNOHANG)")?;
    let status = child.wait();
    eq(
        "the child, still running when clone() returned",
        "running",
        match running {
            None => "running",
            Some(_) => "exited",
        },
    )?;
    child_ok("exec'd child", status)?;
    check(
        elapsed < 300,
        format_args!("clone() returned after {elapsed} ms: not at the exec"),
    )
}

fn vfork_absent_parent_runs_on() -> Outcome {
    vfork_case(F::VM, 0)
}

const PTRACE_SETOPTIONS: u32 = 0x4200;
const PTRACE_GETEVENTMSG: u32 = 0x4201;
const PTRACE_O_TRACEFORK: usize = 2;
const PTRACE_EVENT_FORK: i32 = 1;

/// What PID 1, as tracer, saw while a traced runner ran.
#[derive(Default)]
struct Trace {
    /// The new child PID of a `PTRACE_EVENT_FORK` stop of the runner.
    fork_event: Option<i32>,
    /// A task other than the runner that stopped under PID 1's trace.
    traced_other: Option<i32>,
    /// The runner's exit code.
    runner_code: Option<i32>,
}

/// Forks a runner that makes itself traced by PID 1 (`PTRACE_TRACEME`, `SIGSTOP`), sets
/// `options`, lets it clone with `flags` and wait for that child, and records what PID 1
/// sees as tracer: event stops, other tasks stopping under its trace, the runner's exit.
fn traced_runner(flags: F, options: usize) -> Result<Trace, Fail> {
    crate::shared::reset_slots(1);
    let runner = process::fork(move || {
        if ptrace::ptrace_traceme().is_err() {
            return 90;
        }
        let _ = signal::kill(getpid(), Signal::SIGSTOP);
        let mut child = match process::fork_with(flags, ExitSignal::SIGCHLD, || 0) {
            Ok(child) => child,
            Err(_) => return 91,
        };
        slot(0).store(i64::from(child.pid()), SeqCst);
        match child.wait() {
            Ok(ExitStatus::Exited(0)) => 0,
            _ => 92,
        }
    })
    .ctx("fork runner")?;
    let pid = runner.pid();
    core::mem::forget(runner); // reaped below, as a tracee
    let mut trace = Trace::default();
    let (_, status) = wait_raw(pid).ctx("wait for the runner's SIGSTOP")?;
    if status & 0xff != 0x7f || (status >> 8) & 0xff != Signal::SIGSTOP.raw() {
        diag!("runner {pid}: status {status:#x}, not a SIGSTOP stop");
        let _ = signal::kill(pid, Signal::SIGKILL);
        let _ = wait_raw(pid);
        return Err(Fail::Failed);
    }
    // SAFETY: PTRACE_SETOPTIONS takes the options in `data`, no pointer.
    unsafe { ptrace::ptrace(PTRACE_SETOPTIONS, pid, 0, options) }.ctx("PTRACE_SETOPTIONS")?;
    ptrace::ptrace_cont(pid, None).ctx("PTRACE_CONT")?;
    while trace.runner_code.is_none() {
        let (who, status) = wait_raw(-1).ctx("wait4(-1)")?;
        let stopped = status & 0xff == 0x7f;
        let sig = (status >> 8) & 0xff;
        if who == pid {
            if !stopped {
                trace.runner_code = Some(if status & 0x7f == 0 {
                    sig
                } else {
                    128 + (status & 0x7f)
                });
            } else {
                if sig == Signal::SIGTRAP.raw() && status >> 16 == PTRACE_EVENT_FORK {
                    let mut msg: usize = 0;
                    // SAFETY: GETEVENTMSG writes one unsigned long at `data`.
                    let _ = unsafe {
                        ptrace::ptrace(PTRACE_GETEVENTMSG, pid, 0, &mut msg as *mut usize as usize)
                    };
                    trace.fork_event = Some(msg as i32);
                }
                // Resume; a signal-delivery stop (SIGCHLD) is suppressed.
                let _ = ptrace::ptrace_cont(pid, None);
            }
        } else if stopped {
            trace.traced_other = Some(who);
            let _ = ptrace::ptrace_detach(who, None);
        } else {
            diag!("reaped an unexpected child {who} (status {status:#x})");
        }
    }
    Ok(trace)
}

/// A runner traced by PID 1 clones with `CLONE_PTRACE`: its child is traced by PID 1 too
/// (PID 1 sees it stop with the `SIGSTOP` a new tracee starts with).
fn ptrace_child_of_traced_task_is_traced_too() -> Outcome {
    let trace = traced_runner(F::PTRACE, 0)?;
    eq("traced runner's exit code", Some(0), trace.runner_code)?;
    let child = slot(0).load(SeqCst) as i32;
    eq(
        "task stopped under PID 1's trace (the CLONE_PTRACE child)",
        child,
        trace.traced_other.unwrap_or(0),
    )?;
    diag!("runner traced by PID 1; its CLONE_PTRACE child {child} stopped under PID 1's trace");
    Ok(())
}

/// PID 1 asks for `PTRACE_O_TRACEFORK`; the runner's `CLONE_UNTRACED` child escapes it: no
/// fork event, never stopped under PID 1's trace.
fn untraced_child_escapes_ptrace_o_tracefork() -> Outcome {
    let trace = traced_runner(F::UNTRACED, PTRACE_O_TRACEFORK)?;
    eq("traced runner's exit code", Some(0), trace.runner_code)?;
    eq("PTRACE_EVENT_FORK child", 0, trace.fork_event.unwrap_or(0))?;
    eq(
        "task stopped under PID 1's trace",
        0,
        trace.traced_other.unwrap_or(0),
    )
}

/// The contrast: without `CLONE_UNTRACED` the tracer's `PTRACE_O_TRACEFORK` forces tracing
/// on the child: a fork event, then the child stops under PID 1's trace.
fn ptrace_o_tracefork_traces_child_without_untraced() -> Outcome {
    let trace = traced_runner(F::empty(), PTRACE_O_TRACEFORK)?;
    eq("traced runner's exit code", Some(0), trace.runner_code)?;
    let child = slot(0).load(SeqCst) as i32;
    eq(
        "PTRACE_EVENT_FORK child",
        child,
        trace.fork_event.unwrap_or(0),
    )?;
    eq(
        "task stopped under PID 1's trace",
        child,
        trace.traced_other.unwrap_or(0),
    )
}

/// `CLONE_DETACHED` has been ignored by legacy `clone()` since 2.6.2: an ordinary child.
fn detached_ignored_by_legacy_clone() -> Outcome {
    let mut child =
        process::fork_with(F::DETACHED, ExitSignal::SIGCHLD, || 7).ctx("clone(DETACHED)")?;
    eq(
        "the CLONE_DETACHED child's status",
        Ok(ExitStatus::Exited(7)),
        child.wait(),
    )
}

fn detached_with_pidfd_refused_einval() -> Outcome {
    refusal(
        Syscall::Clone,
        F::PIDFD | F::DETACHED,
        ExitSignal::SIGCHLD,
        FlagError::PidfdWithDetached,
    )
}

/// `wait4(pid, .., __WALL)` with the kernel's status word as it is (a ptrace event stop keeps
/// its event in bits 16 and up), retried on `EINTR`.
fn wait_raw(pid: clonekit::sys::Pid) -> Result<(clonekit::sys::Pid, i32), Errno> {
    loop {
        match clonekit::sys::wait::wait4_raw(pid, WaitOptions::ALL) {
            Ok(Some(found)) => return Ok(found),
            Ok(None) => return Err(Errno::ECHILD),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}
