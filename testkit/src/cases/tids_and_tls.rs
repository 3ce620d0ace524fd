//! Section D: the threading support flags: `CLONE_PARENT_SETTID` (race-free TID capture),
//! `CLONE_CHILD_SETTID`, `CLONE_CHILD_CLEARTID` with a futex join, and
//! `CLONE_SETTLS`.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering::SeqCst};

use clonekit::process::{self, ExitStatus};
use clonekit::sys::process::gettid;
use clonekit::{CloneFlags as F, ExitSignal, Stack, raw};

use crate::case::{Case, Ctx, Outcome, case, check, diag, eq};
use crate::util::{self, TidWord};
use clonekit::thread::thread_pointer;

pub const CASES: &[Case] = &[
    case!(parent_settid_stored_before_clone_returns),
    case!(child_settid_stored_in_childs_memory),
    case!(child_cleartid_zeroed_and_futex_woken_at_exit),
    case!(settls_child_thread_pointer_is_value_passed),
    case!(settls_absent_child_keeps_parents_thread_pointer),
];

struct Tids {
    ptid: AtomicI32,
    seen_by_child: AtomicI32,
    child_tid: AtomicI32,
}

static TIDS: Tids = Tids {
    ptid: AtomicI32::new(0),
    seen_by_child: AtomicI32::new(0),
    child_tid: AtomicI32::new(0),
};

/// The child's first act: read the ptid word.
///
/// # Safety
/// Runs with `CLONE_VM` on its own stack; touches only the static [`TIDS`].
unsafe extern "C" fn read_ptid_first(_: *mut c_void) -> i32 {
    TIDS.seen_by_child.store(TIDS.ptid.load(SeqCst), SeqCst);
    TIDS.child_tid.store(gettid(), SeqCst);
    0
}

/// The kernel stores the TID at `ptid` before `clone()` returns, before the child runs at
/// all: the child's very first read already finds its TID there, so a handler that fires
/// on the child's exit can never see the slot empty.
fn parent_settid_stored_before_clone_returns() -> Outcome {
    TIDS.ptid.store(0, SeqCst);
    TIDS.seen_by_child.store(-1, SeqCst);
    let stack = Stack::new(Stack::MIN_SIZE).ctx("stack")?;
    // SAFETY: the child runs `read_ptid_first` on its own stack, kept until it is reaped;
    // ptid is a static word.
    let pid = unsafe {
        raw::clone(
            F::VM | F::PARENT_SETTID,
            ExitSignal::SIGCHLD,
            stack.top(),
            TIDS.ptid.as_ptr(),
            ptr::null_mut(),
            0,
            read_ptid_first,
            ptr::null_mut(),
        )
    }
    .ctx("clone(VM|PARENT_SETTID)")?;
    let at_return = TIDS.ptid.load(SeqCst);
    let status = process::wait_pid(pid);
    drop(stack);
    eq("child", Ok(ExitStatus::Exited(0)), status)?;
    eq("ptid when clone() returned", pid, at_return)?;
    eq(
        "ptid at the child's first instruction",
        TIDS.child_tid.load(SeqCst),
        TIDS.seen_by_child.load(SeqCst),
    )
}

static CTID: AtomicI32 = AtomicI32::new(0);

/// A fork-like child checks its copy of the ctid word.
///
/// # Safety
/// Runs on a copy of the parent's memory.
unsafe extern "C" fn check_ctid(_: *mut c_void) -> i32 {
    if CTID.load(SeqCst) == gettid() { 0 } else { 1 }
}

static CTID_SEEN: AtomicI32 = AtomicI32::new(0);

/// A `CLONE_VM` child records what its ctid word holds at its first instruction.
///
/// # Safety
/// Runs with `CLONE_VM` on its own stack; touches only statics.
unsafe extern "C" fn record_ctid(_: *mut c_void) -> i32 {
    CTID_SEEN.store(CTID.load(SeqCst), SeqCst);
    if CTID.load(SeqCst) == gettid() { 0 } else { 1 }
}

/// The kernel writes the child's TID at `ctid` in the child's memory before the child runs:
/// without `CLONE_VM` into the child's copy of the word only (the parent's stays 0); with
/// `CLONE_VM` the child's memory is the parent's, so the parent finds the child's TID in its
/// own word (no `CLONE_CHILD_CLEARTID` clears it).
fn child_settid_stored_in_childs_memory() -> Outcome {
    CTID.store(0, SeqCst);
    // SAFETY: fork-like (no VM, no stack): the child runs `check_ctid` on a copy of our
    // memory, where the kernel writes its TID at its copy of CTID.
    let pid = unsafe {
        raw::clone(
            F::CHILD_SETTID,
            ExitSignal::SIGCHLD,
            ptr::null_mut(),
            ptr::null_mut(),
            CTID.as_ptr(),
            0,
            check_ctid,
            ptr::null_mut(),
        )
    }
    .ctx("clone(CHILD_SETTID)")?;
    eq(
        "child (its ctid word holds its TID)",
        Ok(ExitStatus::Exited(0)),
        process::wait_pid(pid),
    )?;
    eq(
        "the parent's own ctid word (no CLONE_VM)",
        0,
        CTID.load(SeqCst),
    )?;
    CTID_SEEN.store(-1, SeqCst);
    let stack = Stack::new(Stack::MIN_SIZE).ctx("stack")?;
    // SAFETY: the child runs `record_ctid` on its own stack, kept until it is reaped; ctid
    // is a static word.
    let pid = unsafe {
        raw::clone(
            F::VM | F::CHILD_SETTID,
            ExitSignal::SIGCHLD,
            stack.top(),
            ptr::null_mut(),
            CTID.as_ptr(),
            0,
            record_ctid,
            ptr::null_mut(),
        )
    }
    .ctx("clone(VM|CHILD_SETTID)")?;
    let status = process::wait_pid(pid);
    drop(stack);
    eq(
        "CLONE_VM child (its ctid word holds its TID)",
        Ok(ExitStatus::Exited(0)),
        status,
    )?;
    eq(
        "ctid at the CLONE_VM child's first instruction",
        pid,
        CTID_SEEN.load(SeqCst),
    )?;
    eq(
        "the parent's ctid word after the CLONE_VM child",
        pid,
        CTID.load(SeqCst),
    )
}

static SLEPT: AtomicI32 = AtomicI32::new(0);

/// # Safety
/// Runs as a thread; touches only a static.
unsafe extern "C" fn sleep_then_mark(_: *mut c_void) -> i32 {
    util::sleep_ms(100);
    SLEPT.store(1, SeqCst);
    0
}

static CLEAR_WORD: TidWord = TidWord::new();

/// The thread's TID word is zeroed and futex-woken when it exits; the parent
/// sleeps in `futex_wait` on it (no polling) and wakes once the thread is gone.
fn child_cleartid_zeroed_and_futex_woken_at_exit() -> Outcome {
    SLEPT.store(0, SeqCst);
    let stack = Stack::new(Stack::MIN_SIZE).ctx("stack")?;
    // SAFETY: the thread runs `sleep_then_mark` on its own stack, kept until the kernel
    // clears CLEAR_WORD (a static).
    let tid = unsafe {
        raw::clone(
            F::VM | F::SIGHAND | F::THREAD | F::PARENT_SETTID | F::CHILD_CLEARTID,
            ExitSignal::NONE,
            stack.top(),
            CLEAR_WORD.as_ptr(),
            CLEAR_WORD.as_ptr(),
            0,
            sleep_then_mark,
            ptr::null_mut(),
        )
    }
    .ctx("clone(..|CHILD_CLEARTID)")?;
    let before = CLEAR_WORD.0.load(SeqCst);
    let waits = CLEAR_WORD.join();
    drop(stack);
    eq("TID word while the thread runs", tid as u32, before)?;
    eq(
        "the thread finished before join returned",
        1,
        SLEPT.load(SeqCst),
    )?;
    eq("TID word after join", 0, CLEAR_WORD.0.load(SeqCst))?;
    check(
        (1..=3).contains(&waits),
        format_args!("{waits} futex waits: polling, not one sleep"),
    )?;
    diag!("joined thread {tid} with {waits} futex_wait call(s)");
    Ok(())
}

/// A TLS block: on x86_64 the thread pointer's first word points at itself.
#[repr(C, align(64))]
struct TlsBlock([AtomicUsize; 8]);

static TLS: TlsBlock = TlsBlock([const { AtomicUsize::new(0) }; 8]);
static TP_SEEN: AtomicUsize = AtomicUsize::new(0);
static TP_WORD: TidWord = TidWord::new();

/// # Safety
/// Runs as a thread; touches only statics.
unsafe extern "C" fn record_thread_pointer(_: *mut c_void) -> i32 {
    TP_SEEN.store(thread_pointer(), SeqCst);
    0
}

fn settls_child_thread_pointer_is_value_passed() -> Outcome {
    let block = &TLS as *const TlsBlock as usize;
    TLS.0[0].store(block, SeqCst);
    TP_SEEN.store(0, SeqCst);
    // SAFETY: the thread only records its thread pointer; the TLS block is static.
    unsafe {
        util::run_thread(
            F::SETTLS,
            block,
            &TP_WORD,
            record_thread_pointer,
            ptr::null_mut(),
        )
    }
    .ctx("clone(..|SETTLS)")?;
    eq("the thread's thread pointer", block, TP_SEEN.load(SeqCst))?;
    check(
        block != thread_pointer(),
        format_args!("the parent's thread pointer changed"),
    )
}

fn settls_absent_child_keeps_parents_thread_pointer() -> Outcome {
    TP_SEEN.store(0, SeqCst);
    // SAFETY: the thread only records its thread pointer (the parent's).
    unsafe {
        util::run_thread(
            F::empty(),
            0,
            &TP_WORD,
            record_thread_pointer,
            ptr::null_mut(),
        )
    }
    .ctx("clone")?;
    eq(
        "the thread's thread pointer",
        thread_pointer(),
        TP_SEEN.load(SeqCst),
    )
}
