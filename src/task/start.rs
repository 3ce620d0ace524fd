//! What a new clonekit task finds at the top of its stack, shared by threads, process
//! children, exec children and the main thread of an `entry!` program: its control block
//! ([`Tcb`], what the thread pointer points at), where the TCB and the closure go
//! ([`Layout`]), and the signal block around the task's creation ([`SignalsBlocked`]).

use core::ffi::c_void;
use core::mem::{align_of, size_of};
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::arch;
use crate::errno::Errno;
use crate::stack::{Stack, StackError};
use crate::sys::signal::{SigSet, SigmaskHow, rt_sigprocmask};

/// Marks a thread control block as clonekit's, so [`current`] can tell it from a libc's.
const TCB_TAG: usize = usize::from_ne_bytes(*b"clonekit");

/// Stack a thread keeps free below its closure for its own frames, at the least.
const MIN_FREE_STACK: usize = 8 * 1024;

/// A thread's control block, at the top of its stack; the thread pointer points at it.
///
/// The layout serves every arch at once: the self pointer at offset 0 is what x86_64's
/// `fs:0` convention needs, and the tag at offset 8 is where [`arch::TCB_TAG_OFFSET`] looks
/// (riscv64 biases its thread pointer by 16 so that `tp - 8` lands here too).
#[repr(C, align(16))]
pub(crate) struct Tcb {
    self_ptr: *mut Tcb,
    tag: usize,
    /// The thread's TID: written by the kernel before `clone` returns, cleared (with a
    /// futex wake) when the thread exits.
    pub(crate) tid: AtomicU32,
    /// 1 once a thread has written its closure's value into its slot (cleared by the join
    /// that moves the value out); 0 otherwise, and always for other tasks.
    pub(crate) returned: AtomicU32,
    /// The closure, moved onto the thread's stack (a thread's: the slot it shares with the
    /// closure's value).
    pub(crate) closure: *mut c_void,
}

impl Tcb {
    /// A TCB at `at` (not yet with its TID), for a closure at `closure`.
    ///
    /// # Safety
    /// `at` must be valid for writing a `Tcb` and aligned for it.
    pub(crate) unsafe fn init(at: *mut Tcb, tid: u32, closure: *mut c_void) {
        let tcb = Tcb {
            self_ptr: at,
            tag: TCB_TAG,
            tid: AtomicU32::new(tid),
            returned: AtomicU32::new(0),
            closure,
        };
        // SAFETY: the caller guarantees `at` is writable and aligned.
        unsafe { at.write(tcb) };
    }

    /// The thread-pointer value for this TCB.
    pub(crate) fn thread_pointer_for(at: *mut Tcb) -> usize {
        arch::tls_value(at.cast())
    }
}

/// After a fork-like clone (the child runs on a copy of the parent's memory, TCB included):
/// makes the copied TCB hold the child's own TID, so [`current`] stays right in the child.
/// Call it first thing in such a child; a no-op where the thread pointer is not clonekit's.
#[allow(dead_code)] // Used by the process module.
pub(crate) fn refresh_current_tid() {
    if let Some(tcb) = current_tcb() {
        let tid = crate::sys::process::gettid() as u32;
        // SAFETY: the TCB is this task's private (copy-on-write) copy.
        unsafe { (*tcb).tid.store(tid, Ordering::Relaxed) };
    }
}

/// Answers, in the parent, what [`refresh_current_tid`] asks in a fork-like child (whether
/// the thread pointer is clonekit's; on x86_64 that can read `/proc/self/auxv` once): the
/// answer is cached, and each child inherits the cache instead of asking again.
pub(crate) fn prime_for_fork_like_children() {
    let _ = current_tcb();
}

/// The calling thread's clonekit TCB, if its thread pointer points at one.
pub(crate) fn current_tcb() -> Option<*const Tcb> {
    if !arch::has_thread_pointer() {
        return None;
    }
    let tp = arch::thread_pointer();
    let tag = tp.wrapping_add_signed(arch::TCB_TAG_OFFSET) as *const usize;
    // SAFETY: every Linux TCB layout (glibc's, musl's, clonekit's) has a readable word at
    // TCB_TAG_OFFSET from the thread pointer; see the arch files.
    if unsafe { tag.read_volatile() } != TCB_TAG {
        return None;
    }
    let bias = arch::tls_value(ptr::null_mut());
    Some((tp - bias) as *const Tcb)
}

/// Every signal blocked in the calling thread until dropped, around the creation of a task
/// that must not run a signal handler: the task starts with them all blocked.
///
/// A clonekit task with its own thread pointer needs it only in a program whose thread
/// pointer belongs to a libc (any std program): a handler the host installed would run with
/// clonekit's TCB as its thread pointer and compute its thread-locals (errno included) into
/// the task's stack, so the task keeps every signal blocked ([`SignalsBlocked::for_new_task`]).
/// In a program started by [`entry!`](crate::entry) every handler is sound on a clonekit
/// TCB, which is complete before the task runs: the task simply starts with its creator's
/// mask, as threads do, and nothing is blocked (two `rt_sigprocmask` calls fewer).
pub(crate) struct SignalsBlocked {
    old: SigSet,
}

impl SignalsBlocked {
    /// Blocks every signal (SIGKILL and SIGSTOP stay deliverable, as the kernel decides).
    pub(crate) fn block_all() -> Result<SignalsBlocked, Errno> {
        let old = rt_sigprocmask(SigmaskHow::SetMask, Some(&SigSet::full()))?;
        Ok(SignalsBlocked { old })
    }

    /// Around the creation of a task with clonekit's TCB as its thread pointer: every signal
    /// blocked where a libc owns the thread pointer, nothing where clonekit started the
    /// program (see above).
    pub(crate) fn for_new_task() -> Result<Option<SignalsBlocked>, Errno> {
        if crate::program::started_by_entry() {
            Ok(None)
        } else {
            SignalsBlocked::block_all().map(Some)
        }
    }

    /// The mask the caller had before, which dropping this restores.
    pub(crate) fn previous(&self) -> SigSet {
        self.old
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        let _ = rt_sigprocmask(SigmaskHow::SetMask, Some(&self.old));
    }
}

/// Where the TCB and the closure go at the top of a thread's or child's stack, and where the child's
/// stack pointer starts (below both, aligned).
pub(crate) struct Layout {
    pub(crate) tcb: usize,
    pub(crate) closure: usize,
    pub(crate) sp: usize,
}

impl Layout {
    /// The layout for a slot of type `S` (the closure, or a thread's closure/value union),
    /// refused unless the stack also holds `entry_frame` bytes below it (what the child's
    /// first frame copies: the closure it moves out of the slot and the value it builds,
    /// twice in an unoptimised build) and [`MIN_FREE_STACK`] for the closure's own calls.
    /// The first frame must fit in the stack, not merely reach the guard: riscv64 opens a
    /// frame with one `sub sp` and no probes, so a frame larger than the guard would jump
    /// over it into whatever lies below.
    pub(crate) fn new<S>(stack: &Stack, entry_frame: usize) -> crate::Result<Layout, StackError> {
        let top = stack.top() as usize;
        let tcb = (top - size_of::<Tcb>()) & !(align_of::<Tcb>() - 1);
        let closure_align = align_of::<S>().max(arch::STACK_ALIGNMENT);
        let closure = tcb
            .checked_sub(size_of::<S>())
            .map(|a| a & !(closure_align - 1));
        let needed = closure.map_or(usize::MAX, |c| {
            (top - c)
                .saturating_add(entry_frame)
                .saturating_add(MIN_FREE_STACK)
        });
        match closure {
            Some(closure) if needed <= stack.size() => Ok(Layout {
                tcb,
                closure,
                sp: closure & !(arch::STACK_ALIGNMENT - 1),
            }),
            _ => Err(StackError::TooSmall {
                size: stack.size(),
                min: needed,
            }),
        }
    }
}
