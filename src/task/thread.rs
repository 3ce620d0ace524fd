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
//!
//! In a std program (this doc test is one) the safe [`spawn`] refuses, and the `unsafe` way
//! in runs a closure that keeps to clonekit and core; [`JoinHandle::join_reclaim`] hands the
//! stack back for the next thread:
//!
//! ```
//! use clonekit::{Error, thread};
//!
//! assert_eq!(thread::spawn(|| 1).unwrap_err(), Error::LibcOwnsThreadPointer);
//!
//! // SAFETY: the closure computes on its own stack: no libc, no std.
//! let handle = unsafe {
//!     thread::Builder::new().stack_size(64 * 1024).spawn_unchecked(|| (1..=10u32).sum::<u32>())
//! }?;
//! let (sum, stack) = handle.join_reclaim();
//! assert_eq!(sum?, 55);
//!
//! // The same stack again, no mmap. `current()` reads the thread's own control block.
//! // SAFETY: as above.
//! let again = unsafe { thread::Builder::new().stack(stack).spawn_unchecked(thread::current) }?;
//! assert!(again.join()?.is_some());
//! assert_eq!(thread::current(), None); // the main thread of a std program: glibc's block
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
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
/// The thread runs with [`THREAD_FLAGS`]; what `f` returns is what [`JoinHandle::join`]
/// returns, as with `std::thread::spawn`: any `T: Send`, written into the thread's own stack
/// block (no allocator), where the joiner takes it once the kernel has cleared the thread's
/// TID word. [`Error::LibcOwnsThreadPointer`] in a program not started by
/// [`entry!`](crate::entry): see the [module docs](self).
///
/// In a std program (this doc test is one) the safe call refuses; nothing runs:
///
/// ```
/// let refused = clonekit::thread::spawn(|| {
///     let s = String::from("x"); // would run malloc on clonekit's thread pointer
///     s.len()
/// });
/// assert_eq!(refused.unwrap_err(), clonekit::Error::LibcOwnsThreadPointer);
/// ```
///
/// The value crosses to the joining thread, so it must be `Send`, as std requires:
///
/// ```compile_fail,E0277
/// let handle = clonekit::thread::spawn(|| std::rc::Rc::new(1));
/// ```
pub fn spawn<F, T>(f: F) -> Result<JoinHandle<T>, Error>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
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
    /// [`entry!`](crate::entry) (see the [module docs](self)). Where std's `Builder::spawn`
    /// gives an `io::Result`, this gives clonekit's [`Error`]: a refused stack or rule is
    /// named, not folded into an errno.
    pub fn spawn<F, T>(self, f: F) -> Result<JoinHandle<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
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
    /// core, and so may the drop of its return value if the handle is dropped instead of
    /// joined (it runs in the thread that drops the handle). In such a program the thread
    /// runs with every signal blocked, so no handler of the libc's runs on it either. In an
    /// `entry!` program this is [`Builder::spawn`].
    ///
    /// ```
    /// use clonekit::sys::fs::{PipeFlags, pipe2};
    /// use clonekit::sys::process::gettid;
    /// use clonekit::thread::Builder;
    ///
    /// // SAFETY: the closure makes system calls through clonekit only: no libc, no std.
    /// let handle =
    ///     unsafe { Builder::new().spawn_unchecked(|| (gettid(), pipe2(PipeFlags::CLOEXEC))) }?;
    /// let tid = handle.tid();
    /// let (seen, pipe) = handle.join()?;
    /// assert_eq!(seen, tid);
    /// let (_read_end, _write_end) = pipe?; // opened in the thread, owned here now
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn spawn_unchecked<F, T>(self, f: F) -> Result<JoinHandle<T>, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let stack = match self.stack {
            Some(stack) => stack,
            None => Stack::new(self.stack_size.unwrap_or(Stack::DEFAULT_SIZE))?,
        };
        spawn_on(stack, f)
    }
}

/// Where a thread's closure waits at the top of its stack, and where its return value is
/// written once the closure has been taken out and run: one place for both, as big as the
/// larger.
#[repr(C)]
union Slot<F, T> {
    closure: ManuallyDrop<F>,
    value: ManuallyDrop<T>,
}

/// Lays out the TCB and the closure at the top of `stack` and clones the thread.
fn spawn_on<F, T>(stack: Stack, f: F) -> Result<JoinHandle<T>, Error>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // `thread_start` moves the closure out of the slot and builds the value in its own frame
    // before it writes it back: room for both, twice (an unoptimised build keeps copies).
    let entry_frame = 2 * (size_of::<F>() + size_of::<T>());
    let layout = Layout::new::<Slot<F, T>>(&stack, entry_frame)?;
    let (sp, slot, tcb) = (
        layout.sp,
        layout.closure as *mut Slot<F, T>,
        layout.tcb as *mut Tcb,
    );
    // Held until the thread exists (restored when this returns): see `SignalsBlocked`.
    let _blocked = SignalsBlocked::for_new_task()?;
    // SAFETY: both lie inside the stack, above `sp`, aligned, and nothing else uses the
    // stack yet (we own it). A `#[repr(C)]` union's fields all start at its address.
    unsafe {
        slot.cast::<F>().write(f);
        Tcb::init(tcb, 0, slot.cast());
    }
    // PARENT_SETTID and CHILD_CLEARTID point at the TCB's tid word, which lives as
    // long as the stack, which the JoinHandle keeps until the kernel has cleared that word;
    // SETTLS points the thread pointer at the TCB; the stack below `sp` is the thread's
    // alone; `thread_start::<F, T>` only touches the TCB, the slot, and what `F` owns
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
            thread_start::<F, T>,
            tcb.cast(),
        )
    };
    match spawned {
        Ok(tid) => Ok(JoinHandle {
            tcb: NonNull::new(tcb).expect("inside the stack"),
            value: NonNull::new(slot.cast::<T>()).expect("inside the stack"),
            stack: ManuallyDrop::new(stack),
            tid,
            _value: PhantomData,
        }),
        Err(e) => {
            // SAFETY: no thread was created: the closure is still ours to drop.
            unsafe { ptr::drop_in_place(slot.cast::<F>()) };
            Err(e)
        }
    }
}

/// The new thread's function: takes the closure out of its slot, runs it, writes the value
/// into the same slot and marks it there (the TCB's `returned`); the trampoline then ends
/// the thread with `exit(0)` (the kernel keeps no status for a thread of a group).
///
/// # Safety
/// `arg` is the TCB `spawn_on` built, whose `closure` points at the `Slot<F, T>` holding an
/// `F` moved there for us.
unsafe extern "C" fn thread_start<F, T>(arg: *mut c_void) -> i32
where
    F: FnOnce() -> T,
{
    let tcb = arg.cast::<Tcb>();
    // SAFETY: the TCB is ours (see above).
    let slot = unsafe { (*tcb).closure.cast::<Slot<F, T>>() };
    // SAFETY: the closure was written for us and nobody else reads it.
    let f = unsafe { ptr::read(slot.cast::<F>()) };
    let value = f();
    // SAFETY: the closure was moved out, so the slot is free; the TCB and the slot outlive
    // this thread (its stack is freed only after CLEARTID), and the joiner reads the value
    // only after `returned`, released here, and the kernel's clearing of the TID word.
    unsafe {
        slot.cast::<T>().write(value);
        (*tcb).returned.store(1, Ordering::Release);
    }
    0
}

/// A running clonekit thread: join it to get what its closure returned and free its stack.
///
/// Dropping a handle without joining detaches the thread: if it is still running, its stack
/// (with the value it will return) is left mapped (leaked) rather than pulled from under
/// it; if it has finished, its value is dropped and its stack freed.
pub struct JoinHandle<T> {
    tcb: NonNull<Tcb>,
    /// The slot the thread writes its value into (in the stack this handle owns).
    value: NonNull<T>,
    stack: ManuallyDrop<Stack>,
    tid: Pid,
    _value: PhantomData<T>,
}

// SAFETY: the handle reads only atomics in the TCB and owns the stack and, once the thread
// has returned, the value: any thread may join, and the value moves to it (T: Send).
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: a shared handle gives access to the TID and the atomics alone, never to the value.
unsafe impl<T> Sync for JoinHandle<T> {}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("tid", &self.tid)
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
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

    /// Waits for the thread to exit and returns what its closure returned, as std's
    /// `join`.
    ///
    /// [`JoinError::Exited`] if the thread ended without returning (it called the `unsafe`
    /// [`sys::process::exit`](crate::sys::process::exit)). Where std's `Err` carries a
    /// panic, clonekit has none to carry: a panic in a clonekit thread aborts the process
    /// (it cannot unwind out of the thread's `extern "C"` start).
    pub fn join(self) -> Result<T, JoinError> {
        self.join_reclaim().0
    }

    /// Waits for the thread to exit, and returns what [`JoinHandle::join`] returns and the
    /// thread's stack for reuse.
    pub fn join_reclaim(self) -> (Result<T, JoinError>, Stack) {
        wait_cleared(self.word());
        let mut this = ManuallyDrop::new(self);
        let value = this.take_value();
        // SAFETY: `this` is never used or dropped again, so the stack moves out once.
        let stack = unsafe { ManuallyDrop::take(&mut this.stack) };
        (value, stack)
    }

    /// Once the thread has exited: its value, moved out of the slot (at most once: the
    /// mark is cleared).
    fn take_value(&mut self) -> Result<T, JoinError> {
        // SAFETY: the TCB is in our stack; the thread has exited (its TID word cleared).
        let tcb = unsafe { self.tcb.as_ref() };
        if tcb.returned.swap(0, Ordering::Acquire) == 0 {
            return Err(JoinError::Exited);
        }
        // SAFETY: the thread wrote the value before marking it, and is gone; the mark was
        // ours to clear, so the value is read once.
        Ok(unsafe { self.value.as_ptr().read() })
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if self.is_finished() {
            drop(self.take_value());
            // SAFETY: the thread is gone and the stack is dropped exactly once, here.
            unsafe { ManuallyDrop::drop(&mut self.stack) };
        }
        // Still running: the mapping is leaked rather than unmapped under the thread.
    }
}

/// Why [`JoinHandle::join`] has no value to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The thread ended without returning from its closure: it called
    /// [`sys::process::exit`](crate::sys::process::exit) itself.
    Exited,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Exited => f.write_str(
                "the thread ended without returning from its closure (it called exit): there \
                 is no value to join",
            ),
        }
    }
}

impl core::error::Error for JoinError {}

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
