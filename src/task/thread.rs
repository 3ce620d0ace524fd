//! Threads: `spawn` a closure with the NPTL flag set, `join` it through `CLONE_CHILD_CLEARTID`.
//!
//! Each thread gets a [`Stack`] and, at the top of it, a control block (its TCB) that the
//! thread pointer points at (`CLONE_SETTLS`). The kernel stores the thread's TID in the
//! TCB before `clone` returns (`CLONE_PARENT_SETTID`, race-free) and clears it with a futex
//! wake when the thread has exited (`CLONE_CHILD_CLEARTID`): [`JoinHandle::join`] sleeps on
//! that word, and frees the stack only after the kernel has cleared it, when the thread can
//! no longer touch its stack. No allocator is involved: the closure is moved onto the
//! thread's own stack.
//!
//! A clonekit thread's thread pointer is its own TCB, so it is sound only where no libc owns
//! the thread pointer: in a program started by [`entry!`](crate::entry). Elsewhere (any std
//! program) [`spawn`] and [`Builder::spawn`] refuse with [`Error::LibcOwnsThreadPointer`]
//! (see [`program`](crate::program)); [`Builder::spawn_unchecked`] is the `unsafe` way in,
//! for closures that keep to clonekit and core. Use `std::thread` for std code.

use core::ffi::c_void;
use core::mem::ManuallyDrop;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, Ordering};

use crate::arch;
use crate::errno::Errno;
use crate::error::Error;
use crate::flags::{CloneFlags, ExitSignal};
use crate::stack::Stack;
use crate::sys::Pid;
use crate::sys::futex;
use crate::task::start::current_tcb;
use crate::task::start::{Layout, SignalsBlocked, Tcb};

/// The TID of the calling thread, read from its control block without a syscall; `None`
/// when the thread pointer does not point at a clonekit TCB (the main thread of a libc
/// program, for instance: use [`gettid`](crate::sys::process::gettid) there).
///
/// Inside clonekit threads, and in a program started by [`entry!`](crate::entry), it is
/// always `Some`.
pub fn current() -> Option<Pid> {
    let tcb = current_tcb()?;
    // SAFETY: a clonekit TCB lives as long as its thread.
    Some(unsafe { (*tcb).tid.load(Ordering::Relaxed) } as Pid)
}

/// The calling thread's thread-pointer register: the FS base on x86_64, `TPIDR_EL0` on
/// aarch64, `tp` on riscv64; 0 where none is set. Whose control block it points at (a
/// libc's, clonekit's) is not asked; [`current`] is the TID from a clonekit one.
pub fn thread_pointer() -> usize {
    arch::thread_pointer_register()
}

/// The flags every clonekit thread is created with: the set NPTL's `pthread_create()` uses.
pub const THREAD_FLAGS: CloneFlags = CloneFlags::NPTL_THREAD;

/// Starts `f` in a new thread on a fresh [`Stack::DEFAULT_SIZE`] stack.
///
/// The thread runs with [`THREAD_FLAGS`]; its return value is what [`JoinHandle::join`]
/// returns (and its exit status). [`Error::LibcOwnsThreadPointer`] in a program not started
/// by [`entry!`](crate::entry): see the [module docs](self).
///
/// In a std program (this doc test is one) the safe call refuses; nothing runs:
///
/// ```
/// let refused = clonekit::thread::spawn(|| {
///     let s = String::from("x"); // would run malloc on clonekit's thread pointer
///     s.len() as i32
/// });
/// assert_eq!(refused.unwrap_err(), clonekit::Error::LibcOwnsThreadPointer);
/// ```
pub fn spawn<F>(f: F) -> Result<JoinHandle, Error>
where
    F: FnOnce() -> i32 + Send + 'static,
{
    Builder::new().spawn(f)
}

/// Thread options: stack size, or a stack to reuse.
#[derive(Debug, Default)]
pub struct Builder {
    stack_size: Option<usize>,
    stack: Option<Stack>,
}

impl Builder {
    /// Default options: a fresh mapped stack of [`Stack::DEFAULT_SIZE`].
    pub fn new() -> Builder {
        Builder::default()
    }

    /// A fresh mapped stack of `size` bytes.
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Runs the thread on `stack` (for instance one returned by [`JoinHandle::join_reclaim`]),
    /// saving the `mmap`/`munmap` of a fresh one.
    pub fn stack(mut self, stack: Stack) -> Builder {
        self.stack = Some(stack);
        self
    }

    /// Starts `f` in a new thread. On failure the stack, if one was given, is dropped.
    ///
    /// [`Error::LibcOwnsThreadPointer`] in a program not started by
    /// [`entry!`](crate::entry) (see the [module docs](self)).
    pub fn spawn<F>(self, f: F) -> Result<JoinHandle, Error>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        crate::program::require_own_thread_pointer()?;
        // SAFETY: no libc owns the thread pointer in an entry! program, so any code may run
        // on the thread's own TCB.
        unsafe { self.spawn_unchecked(f) }
    }

    /// As [`Builder::spawn`], also in a program with a libc.
    ///
    /// # Safety
    /// In a program with a libc (one not started by [`entry!`](crate::entry): any std
    /// program), the thread's thread pointer is clonekit's TCB, not the libc's, so `f` must
    /// not call into libc or std, directly or through another crate: no allocation, no
    /// `std::println!`, no locks, no thread-locals, no panics. It may use
    /// [`clonekit::sys`](crate::sys), [`clonekit::println!`](crate::println), atomics and
    /// core. In such a program the thread runs with every signal blocked, so no handler of
    /// the libc's runs on it either. In an `entry!` program this is [`Builder::spawn`].
    pub unsafe fn spawn_unchecked<F>(self, f: F) -> Result<JoinHandle, Error>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        let stack = match self.stack {
            Some(stack) => stack,
            None => Stack::new(self.stack_size.unwrap_or(Stack::DEFAULT_SIZE))?,
        };
        spawn_on(stack, f)
    }
}

/// Lays out the TCB and the closure at the top of `stack` and clones the thread.
fn spawn_on<F>(stack: Stack, f: F) -> Result<JoinHandle, Error>
where
    F: FnOnce() -> i32 + Send + 'static,
{
    let layout = Layout::new::<F>(&stack)?;
    let (sp, closure_ptr, tcb) = (layout.sp, layout.closure as *mut F, layout.tcb as *mut Tcb);
    // Held until the thread exists (restored when this returns): see `SignalsBlocked`.
    let _blocked = SignalsBlocked::for_new_task()?;
    // SAFETY: both lie inside the stack, above `sp`, aligned, and nothing else uses the
    // stack yet (we own it).
    unsafe {
        closure_ptr.write(f);
        Tcb::init(tcb, 0, closure_ptr.cast());
    }
    // PARENT_SETTID and CHILD_CLEARTID point at the TCB's tid word, which lives as
    // long as the stack, which the JoinHandle keeps until the kernel has cleared that word;
    // SETTLS points the thread pointer at the TCB; the stack below `sp` is the thread's
    // alone; `thread_start::<F>` only touches the TCB, the closure, and what `F` owns
    // (F: Send + 'static).
    // SAFETY: the points above are what the raw entry point's contract asks for.
    let spawned = unsafe {
        let tid_word = (*tcb).tid.as_ptr().cast::<Pid>();
        crate::raw::clone(
            THREAD_FLAGS,
            ExitSignal::NONE,
            sp as *mut u8,
            tid_word,
            tid_word,
            Tcb::thread_pointer_for(tcb),
            thread_start::<F>,
            tcb.cast(),
        )
    };
    match spawned {
        Ok(tid) => Ok(JoinHandle {
            tcb: NonNull::new(tcb).expect("inside the stack"),
            stack: ManuallyDrop::new(stack),
            tid,
        }),
        Err(e) => {
            // SAFETY: no thread was created: the closure is still ours to drop.
            unsafe { ptr::drop_in_place(closure_ptr) };
            Err(e)
        }
    }
}

/// The new thread's function: takes the closure off its stack, runs it, publishes the result.
///
/// # Safety
/// `arg` is the TCB `spawn_on` built, whose `closure` holds an `F` moved there for us.
unsafe extern "C" fn thread_start<F>(arg: *mut c_void) -> i32
where
    F: FnOnce() -> i32,
{
    let tcb = arg.cast::<Tcb>();
    // SAFETY: the closure was written for us and nobody else reads it.
    let f = unsafe { ptr::read((*tcb).closure.cast::<F>()) };
    let result = f();
    // SAFETY: the TCB outlives this thread (its stack is freed only after CLEARTID).
    unsafe { (*tcb).result.store(result, Ordering::Release) };
    result
}

/// A running clonekit thread: join it to get its return value and free its stack.
///
/// Dropping a handle without joining detaches the thread: if it is still running, its stack
/// is left mapped (leaked) rather than pulled from under it.
#[derive(Debug)]
pub struct JoinHandle {
    tcb: NonNull<Tcb>,
    stack: ManuallyDrop<Stack>,
    tid: Pid,
}

// SAFETY: the handle only reads atomics in the TCB and owns the stack; any thread may join.
unsafe impl Send for JoinHandle {}

impl JoinHandle {
    /// The thread's TID (as `clone` returned it; the kernel also stored it in the TCB).
    pub fn tid(&self) -> Pid {
        self.tid
    }

    /// The TID word in the TCB: the thread's TID while it runs, 0 once the kernel has
    /// cleared it (`CLONE_CHILD_CLEARTID`).
    pub fn tid_word(&self) -> u32 {
        self.word().load(Ordering::Acquire)
    }

    /// Whether the thread has exited (the kernel cleared its TID word).
    pub fn is_finished(&self) -> bool {
        self.tid_word() == 0
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: the TCB lives in the stack this handle owns.
        unsafe { &self.tcb.as_ref().tid }
    }

    /// Waits for the thread to exit and returns its closure's return value.
    pub fn join(self) -> i32 {
        self.join_reclaim().0
    }

    /// Waits for the thread to exit, and returns its return value and its stack for reuse.
    pub fn join_reclaim(self) -> (i32, Stack) {
        wait_cleared(self.word());
        // SAFETY: the thread has exited; its TCB is still in our stack.
        let result = unsafe { self.tcb.as_ref().result.load(Ordering::Acquire) };
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the stack moves out once.
        let stack = unsafe { ManuallyDrop::take(&mut this.stack) };
        (result, stack)
    }
}

impl Drop for JoinHandle {
    fn drop(&mut self) {
        if self.is_finished() {
            // SAFETY: the thread is gone and the stack is dropped exactly once, here.
            unsafe { ManuallyDrop::drop(&mut self.stack) };
        }
        // Still running: the mapping is leaked rather than unmapped under the thread.
    }
}

/// Sleeps until the kernel clears `word` (`CLONE_CHILD_CLEARTID`): a *shared* futex wait,
/// because the kernel's wake on thread exit is not a private one; retried on `EINTR` and
/// spurious wakes.
fn wait_cleared(word: &AtomicU32) {
    loop {
        let tid = word.load(Ordering::Acquire);
        if tid == 0 {
            return;
        }
        match futex::futex_wait(word, tid, None, false) {
            Ok(()) | Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            Err(errno) => panic!("futex_wait on a thread's TID word: {errno}"),
        }
    }
}
