//! Spawning process children: [`ChildBuilder`] (a closure run in a new process on its own
//! stack) and [`fork`] with its variants (a fork-like child on a copy of the caller's
//! stack). What the child may do, and why the safe calls check what they check, is written
//! once, in the public module's docs ([`crate::process`]).
//!
//! The handle these return and the waits are in [`crate::task::child`]; children the kernel
//! reaps are made from a [`ChildBuilder`] in [`crate::task::autoreap`], which depends on
//! this module and not the other way round.
//!
//! # References
//! clone(2), clone3(2), TLPI 28.2

use core::ffi::c_void;
use core::mem::ManuallyDrop;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::Errno;
use crate::clone_args::CloneArgs;
use crate::error::Error;
use crate::fd::{BorrowedFd, OwnedFd};
use crate::flags::{CloneFlags, ExitSignal};
use crate::pidfd::PidFd;
use crate::stack::Stack;
use crate::sys::Pid;
use crate::task::child::Child;
use crate::task::start::Tcb;
use crate::validate::Syscall;

/// Flags [`ChildBuilder`] and [`fork_with`] set themselves, or that belong elsewhere:
/// passing them gives [`Error::ManagedFlags`].
///
/// `SETTLS` (the child's own control block), `PARENT_SETTID`, `CHILD_SETTID` and
/// `CHILD_CLEARTID` (pointers the API would have to vouch for), `THREAD` (use
/// [`thread::spawn`](crate::thread::spawn)), `PIDFD` (use [`ChildBuilder::pidfd`]),
/// `INTO_CGROUP` (use [`ChildBuilder::cgroup`]), and `AUTOREAP` and `PIDFD_AUTOKILL` (use
/// [`ChildBuilder::autoreap`]: a [`Child`] would offer a `wait` that can only fail).
pub const MANAGED_FLAGS: CloneFlags = CloneFlags::SETTLS
    .union(CloneFlags::PARENT_SETTID)
    .union(CloneFlags::CHILD_SETTID)
    .union(CloneFlags::CHILD_CLEARTID)
    .union(CloneFlags::THREAD)
    .union(CloneFlags::PIDFD)
    .union(CloneFlags::INTO_CGROUP)
    .union(CloneFlags::AUTOREAP)
    .union(CloneFlags::PIDFD_AUTOKILL);

/// The most `set_tid` entries the kernel takes (`MAX_PID_NS_LEVEL`).
pub const MAX_SET_TID: usize = 32;

/// Set once `clone3()` gave `ENOSYS` (an old kernel, qemu-user, a seccomp profile), so
/// later requests that legacy `clone()` can carry go there directly.
static CLONE3_ENOSYS: AtomicBool = AtomicBool::new(false);

/// A fork-like child must not share the descriptor table (see [`Error::FilesWithoutVm`]).
fn refuse_files_without_vm(flags: CloneFlags) -> crate::Result<()> {
    if flags.contains(CloneFlags::FILES) && !flags.contains(CloneFlags::VM) {
        Err(Error::FilesWithoutVm)
    } else {
        Ok(())
    }
}

fn refuse_managed(flags: CloneFlags) -> crate::Result<()> {
    let managed = flags & MANAGED_FLAGS;
    if managed.is_empty() {
        Ok(())
    } else {
        Err(Error::ManagedFlags(managed))
    }
}

/// Options for a child process that runs a closure on its own stack.
///
/// ```no_run
/// use clonekit::process::ChildBuilder;
/// use clonekit::{CloneFlags, ExitSignal};
///
/// let mut child = ChildBuilder::new(CloneFlags::NEWUTS)
///     .pidfd(true)
///     .spawn(|| {
///         let _ = clonekit::sys::ns::sethostname(b"sandbox");
///         0
///     })?;
/// assert!(child.wait()?.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `'fd` is how long the descriptor given to [`ChildBuilder::cgroup`] is borrowed: it must
/// stay open until the child is spawned.
#[derive(Debug)]
pub struct ChildBuilder<'fd> {
    flags: CloneFlags,
    exit_signal: ExitSignal,
    stack: Option<Stack>,
    stack_size: Option<usize>,
    pidfd: bool,
    set_tid: [Pid; MAX_SET_TID],
    set_tid_len: usize,
    cgroup: Option<BorrowedFd<'fd>>,
    prefer_clone3: bool,
    /// `CLONE_AUTOREAP` (and `CLONE_PIDFD_AUTOKILL`), set only by the builders of
    /// [`crate::task::autoreap`], whose handles have no `wait`.
    kernel_reaps: CloneFlags,
}

impl<'fd> ChildBuilder<'fd> {
    /// A child created with `flags` (what it shares, which namespaces it gets) and
    /// `SIGCHLD` as exit signal, on a fresh [`Stack::DEFAULT_SIZE`] stack.
    pub fn new(flags: CloneFlags) -> ChildBuilder<'fd> {
        ChildBuilder {
            flags,
            exit_signal: ExitSignal::SIGCHLD,
            stack: None,
            stack_size: None,
            pidfd: false,
            set_tid: [0; MAX_SET_TID],
            set_tid_len: 0,
            cgroup: None,
            prefer_clone3: false,
            kernel_reaps: CloneFlags::empty(),
        }
    }

    /// The signal the parent gets when the child terminates (default `SIGCHLD`;
    /// [`ExitSignal::NONE`] for none). [`Child::wait`] reaps whatever it is.
    pub fn exit_signal(mut self, signal: ExitSignal) -> ChildBuilder<'fd> {
        self.exit_signal = signal;
        self
    }

    /// Runs the child on `stack` (kept by the [`Child`] until it is reaped).
    pub fn stack(mut self, stack: Stack) -> ChildBuilder<'fd> {
        self.stack = Some(stack);
        self
    }

    /// A fresh mapped stack of `size` bytes.
    pub fn stack_size(mut self, size: usize) -> ChildBuilder<'fd> {
        self.stack_size = Some(size);
        self
    }

    /// Also return a pidfd for the child (`CLONE_PIDFD`, Linux 5.2): [`Child::pidfd`].
    pub fn pidfd(mut self, on: bool) -> ChildBuilder<'fd> {
        self.pidfd = on;
        self
    }

    /// The PIDs the child should get, innermost PID namespace first (`clone_args.set_tid`,
    /// Linux 5.5; needs `CAP_SYS_ADMIN` and `clone3()`). More than [`MAX_SET_TID`]
    /// entries are refused by [`ChildBuilder::spawn`].
    pub fn set_tid(mut self, pids: &[Pid]) -> ChildBuilder<'fd> {
        let n = pids.len().min(MAX_SET_TID);
        self.set_tid[..n].copy_from_slice(&pids[..n]);
        self.set_tid_len = pids.len();
        self
    }

    /// Starts the child in the cgroup v2 directory open as `fd` (`CLONE_INTO_CGROUP`,
    /// Linux 5.7; `clone3()` only). A descriptor that is not a cgroup v2 directory gives the
    /// kernel's refusal (`EBADF` for [`CWD`](crate::sys::fs::CWD)).
    ///
    /// `fd` is borrowed until the builder is spawned:
    ///
    /// ```no_run
    /// use clonekit::process::ChildBuilder;
    /// use clonekit::sys::fs::{CWD, OFlags, openat};
    /// let dir = openat(CWD, c"/sys/fs/cgroup", OFlags::DIRECTORY | OFlags::CLOEXEC, 0)?;
    /// let builder = ChildBuilder::new(clonekit::CloneFlags::empty()).cgroup(dir.as_fd());
    /// let child = builder.spawn(|| 0);
    /// drop(dir);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// so it cannot be closed before:
    ///
    /// ```compile_fail,E0505
    /// use clonekit::process::ChildBuilder;
    /// use clonekit::sys::fs::{CWD, OFlags, openat};
    /// let dir = openat(CWD, c"/sys/fs/cgroup", OFlags::DIRECTORY | OFlags::CLOEXEC, 0)?;
    /// let builder = ChildBuilder::new(clonekit::CloneFlags::empty()).cgroup(dir.as_fd());
    /// drop(dir);
    /// let child = builder.spawn(|| 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cgroup(mut self, fd: BorrowedFd<'fd>) -> ChildBuilder<'fd> {
        self.cgroup = Some(fd);
        self
    }

    /// Starts the child with `no_new_privs` set (`CLONE_NNP`, Linux 7.1; `clone3()` only):
    /// no `execve` in it or its descendants can grant privileges (setuid bits, file
    /// capabilities); the caller's own flag is unchanged. The same as putting
    /// [`CloneFlags::NNP`] into the flags. On a kernel before 7.1 the validator refuses it
    /// by name ([`FlagError::NeedsKernel`](crate::FlagError::NeedsKernel)).
    ///
    /// ```no_run
    /// use clonekit::process::ChildBuilder;
    /// use clonekit::sys::process::get_no_new_privs;
    /// # fn main() -> Result<(), clonekit::Error> {
    /// let mut child = ChildBuilder::new(clonekit::CloneFlags::empty())
    ///     .no_new_privs(true)
    ///     .spawn(|| if get_no_new_privs() == Ok(true) { 0 } else { 1 })?;
    /// assert!(child.wait()?.success());
    /// assert_eq!(get_no_new_privs(), Ok(false)); // the parent's is unchanged
    /// # Ok(())
    /// # }
    /// ```
    pub fn no_new_privs(mut self, on: bool) -> ChildBuilder<'fd> {
        self.flags.set(CloneFlags::NNP, on);
        self
    }

    /// Set by the builders of [`crate::task::autoreap`]: `flags` (`CLONE_AUTOREAP`, and
    /// `CLONE_PIDFD_AUTOKILL`) at the clone, no exit signal, a pidfd.
    pub(crate) fn reaped_by_the_kernel(mut self, flags: CloneFlags) -> ChildBuilder<'fd> {
        self.kernel_reaps = flags;
        self.exit_signal = ExitSignal::NONE;
        self.pidfd = true;
        self
    }

    /// Whether the child will share the caller's memory (`CLONE_VM`).
    pub(crate) fn shares_vm(&self) -> bool {
        self.flags.contains(CloneFlags::VM)
    }

    /// Prefer `clone3()` even when legacy `clone()` could carry the request. If `clone3()`
    /// gives `ENOSYS`, the child is created with `clone()` and [`Child::via`] says so.
    pub fn clone3(mut self, prefer: bool) -> ChildBuilder<'fd> {
        self.prefer_clone3 = prefer;
        self
    }

    /// The API's own refusals: [`MANAGED_FLAGS`], too many `set_tid` entries.
    fn refuse_bad_request(&self) -> crate::Result<()> {
        refuse_managed(self.flags)?;
        if self.set_tid_len > MAX_SET_TID {
            return Err(crate::FlagError::SetTidTooLong(self.set_tid_len as u64).into());
        }
        Ok(())
    }

    /// Whether only `clone3()` can carry this request.
    fn needs_clone3(&self) -> bool {
        self.flags.intersects(CloneFlags::CLONE3_ONLY)
            || !self.kernel_reaps.is_empty()
            || self.set_tid_len > 0
            || self.cgroup.is_some()
    }

    /// Starts `f` in the new child, on its own stack. Its return value is the child's exit
    /// status: an `i32`, unlike a std thread's closure, because what the kernel keeps of a
    /// process that ends is one number (its low 8 bits), as `main`'s `ExitCode`.
    ///
    /// Without `CLONE_VM` the child is fork-like: a copy of the caller's memory with the
    /// caller's thread pointer, where `f` may use std as in a child of `fork(2)`; the caller
    /// must be single-threaded ([`Error::MultiThreaded`]) and `CLONE_FILES` is refused
    /// ([`Error::FilesWithoutVm`]). With `CLONE_VM` the child gets its own control block as
    /// thread pointer (`CLONE_SETTLS`, so [`thread::current`](crate::thread::current) gives
    /// the child's TID there), which only an [`entry!`](crate::entry) program allows
    /// ([`Error::LibcOwnsThreadPointer`]), and shares the descriptor table with the memory
    /// (`CLONE_FILES`, else [`Error::VmWithoutFiles`]). See the [module docs](crate::process).
    ///
    /// Requests that need `clone3()` (`set_tid`, `cgroup`, `CLONE_CLEAR_SIGHAND`,
    /// `CLONE_NEWTIME`) use it; others use legacy `clone()` unless
    /// [`ChildBuilder::clone3`] asks otherwise. Every request is checked by the
    /// [validator](crate::validate::validate) first; [`MANAGED_FLAGS`] are refused.
    ///
    /// `f` is moved onto the child's stack and consumed there. Without `CLONE_VM` the
    /// parent's copy is forgotten, not dropped: what it owns stays allocated in the parent.
    ///
    /// A fork-like child in a single-threaded std program may allocate and print:
    ///
    /// ```
    /// use clonekit::process::{ChildBuilder, ExitStatus};
    /// # // Doc tests run as single-threaded programs of their own.
    /// # // Not single-threaded (under qemu-user doc tests share a harness), or no count (qemu-user 7.2).
    /// # if clonekit::program::require_single_threaded().is_err() {
    /// #     return Ok(());
    /// # }
    /// let mut child = ChildBuilder::new(clonekit::CloneFlags::empty()).spawn(|| {
    ///     let greeting = format!("hello from {}", std::process::id());
    ///     println!("{greeting}");
    ///     0
    /// })?;
    /// assert_eq!(child.wait()?, ExitStatus::Exited(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn<F>(self, f: F) -> crate::Result<Child>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        // What is wrong with the request itself is named first, whatever the program.
        self.refuse_bad_request()?;
        if self.flags.contains(CloneFlags::VM) {
            crate::program::require_own_thread_pointer()?;
            if !self.flags.contains(CloneFlags::FILES) {
                return Err(Error::VmWithoutFiles);
            }
        } else {
            refuse_files_without_vm(self.flags)?;
            crate::program::require_single_threaded()?;
        }
        // SAFETY: the checks above are this function's contract: a CLONE_VM child only where
        // no libc owns the thread pointer, a fork-like one only from a single thread and
        // without a shared descriptor table.
        unsafe { self.spawn_unchecked(f) }
    }

    /// As [`ChildBuilder::spawn`], without the checks of [`crate::program`].
    ///
    /// # Safety
    /// - With `CLONE_VM`, in a program not started by [`entry!`](crate::entry) (any std
    ///   program): the child's thread pointer is clonekit's control block, so `f` must not
    ///   call into libc or std, directly or through another crate (no allocation, no
    ///   `std::println!`, no locks, no thread-locals, no panics); it may use
    ///   [`clonekit::sys`](crate::sys), [`clonekit::println!`](crate::println), atomics and
    ///   core. The child then starts with every signal blocked (a libc handler must not run
    ///   on its control block), and so does a program it execs unless it sets a mask first.
    /// - Without `CLONE_VM`, in a multithreaded process: `f` must not take any lock another
    ///   thread may hold (libc's and std's included: no allocation, no stdio), as after
    ///   `fork(2)` in a multithreaded program; clonekit and core are fine.
    /// - With `CLONE_FILES` and without `CLONE_VM`: `f` must not close or replace a
    ///   descriptor that the parent owns (every `OwnedFd` and `File` it can reach in its
    ///   copy of memory is one).
    /// - With `CLONE_VM` and without `CLONE_FILES`: the two tables part at the clone, so a
    ///   descriptor owner (`OwnedFd`, `File`, a pidfd, a [`Child`] with one) created by one
    ///   side after it must never be used or dropped by the other.
    pub unsafe fn spawn_unchecked<F>(mut self, f: F) -> crate::Result<Child>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        self.refuse_bad_request()?;
        let stack = match self.stack.take() {
            Some(stack) => stack,
            None => Stack::new(self.stack_size.unwrap_or(Stack::DEFAULT_SIZE))?,
        };
        // The child's first frame moves the closure out of its slot: room for it, twice.
        let layout = crate::task::start::Layout::new::<F>(&stack, 2 * size_of::<F>())?;
        let closure = layout.closure as *mut F;
        let tcb = layout.tcb as *mut Tcb;
        let shares_vm = self.flags.contains(CloneFlags::VM);
        // A CLONE_VM child gets its own TCB as thread pointer, on which a libc's handler must
        // never run: see `SignalsBlocked`. A fork-like child keeps our thread pointer (its
        // copy of it) and our mask, as after fork(2).
        let blocked = if shares_vm {
            crate::task::start::SignalsBlocked::for_new_task()?
        } else {
            None
        };
        // SAFETY: both lie inside the stack above `sp`, aligned (see `Layout`), and nothing
        // else uses the stack yet: we own it.
        unsafe {
            closure.write(f);
            if shares_vm {
                Tcb::init(tcb, 0, closure.cast());
            }
        }
        let (tls, start): (Option<usize>, crate::raw::ChildFn) = if shares_vm {
            (Some(Tcb::thread_pointer_for(tcb)), child_start::<F>)
        } else {
            crate::task::start::prime_for_fork_like_children();
            (None, fork_start::<F>)
        };
        let mut pidfd_slot: i32 = -1;
        let created = self.create(
            &stack,
            layout.sp,
            tls,
            closure.cast(),
            start,
            &mut pidfd_slot,
        );
        drop(blocked);
        match created {
            Ok((pid, via)) => {
                let pidfd = self.pidfd.then(|| {
                    // SAFETY: with CLONE_PIDFD a successful clone stored a new descriptor,
                    // owned by nobody else, in the slot.
                    PidFd::from_owned(unsafe { OwnedFd::from_raw(pidfd_slot) })
                });
                let shares_vm = shares_vm && !self.flags.contains(CloneFlags::VFORK);
                Ok(Child::from_parts(pid, Some(stack), pidfd, via, shares_vm))
            }
            Err(e) => {
                // SAFETY: no child was created: the closure on the stack is still ours.
                unsafe { ptr::drop_in_place(closure) };
                Err(e)
            }
        }
    }

    /// Makes the `clone3()` or `clone()` call (with the `ENOSYS` fallback) for a child that
    /// starts at `sp` running `func(arg)`, with thread pointer `tls` if given (else the
    /// caller's).
    fn create(
        &self,
        stack: &Stack,
        sp: usize,
        tls: Option<usize>,
        arg: *mut c_void,
        func: crate::raw::ChildFn,
        pidfd_slot: &mut i32,
    ) -> crate::Result<(Pid, Syscall)> {
        let mut flags = self.flags | self.kernel_reaps;
        if tls.is_some() {
            flags |= CloneFlags::SETTLS;
        }
        let tls = tls.unwrap_or(0);
        if self.pidfd {
            flags |= CloneFlags::PIDFD;
        }
        let needs_clone3 = self.needs_clone3();
        let try_clone3 =
            needs_clone3 || (self.prefer_clone3 && !CLONE3_ENOSYS.load(Ordering::Relaxed));
        if try_clone3 {
            let mut args = CloneArgs::new(flags, self.exit_signal);
            if self.pidfd {
                args.pidfd = pidfd_slot as *mut i32 as u64;
            }
            // The kernel puts the stack pointer at stack + stack_size: at `sp`.
            args.stack = stack.bottom() as u64;
            args.stack_size = (sp - stack.bottom() as usize) as u64;
            args.tls = tls as u64;
            if self.set_tid_len > 0 {
                args.set_tid = self.set_tid.as_ptr() as u64;
                args.set_tid_size = self.set_tid_len as u64;
            }
            if let Some(fd) = self.cgroup {
                args.flags |= CloneFlags::INTO_CGROUP.bits();
                args.cgroup = fd.as_raw() as u64;
            }
            // The stack below `sp` is the child's alone (we own it and keep it until
            // the child is reaped or provably gone); `pidfd` points at a live i32; `set_tid`
            // at `set_tid_size` pids in `self`, read during the call only; `tls`, if set,
            // points at the TCB above `sp`; `func(arg)` only reads the closure written for it.
            // SAFETY: the points above are what the raw entry point's contract asks for.
            match unsafe { crate::raw::clone3(&mut args, func, arg) } {
                Ok(pid) => return Ok((pid, Syscall::Clone3)),
                Err(Error::Os(Errno::ENOSYS)) if !needs_clone3 => {
                    CLONE3_ENOSYS.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        let ptid: *mut Pid = if self.pidfd {
            pidfd_slot
        } else {
            ptr::null_mut()
        };
        // As for clone3: the stack below `sp` is the child's alone, `ptid` points
        // at a live i32 the kernel writes the pidfd to (CLONE_PIDFD) before returning, no
        // ctid flag is set, and `tls`, if set, points at the TCB. `raw::clone` validates the legacy
        // form of the request.
        // SAFETY: the points above are what the raw entry point's contract asks for.
        let pid = unsafe {
            crate::raw::clone(
                flags,
                self.exit_signal,
                sp as *mut u8,
                ptid,
                ptr::null_mut(),
                tls,
                func,
                arg,
            )
        }?;
        Ok((pid, Syscall::Clone))
    }
}

/// The function of a [`ChildBuilder`] child with `CLONE_VM`: records its TID in its TCB,
/// switches to its mask, takes the closure off its stack and runs it.
///
/// # Safety
/// `arg` points at an `F` written for this child alone, and the thread pointer at the TCB
/// `spawn` built.
unsafe extern "C" fn child_start<F>(arg: *mut c_void) -> i32
where
    F: FnOnce() -> i32,
{
    crate::task::start::refresh_current_tid();
    // SAFETY: the closure was written for us and nobody else reads or drops it.
    let f = unsafe { ptr::read(arg.cast::<F>()) };
    end_process(f())
}

/// The function of a fork-like child ([`fork_with`], and [`ChildBuilder`] without
/// `CLONE_VM`): refreshes the TID of a clonekit TCB it inherited, and runs the closure from
/// its copy of the parent's memory.
///
/// # Safety
/// `arg` points at an `F` in the child's copy of the parent's memory (on the parent's stack,
/// or on the child's own), which only this child consumes (the parent forgets its copy).
unsafe extern "C" fn fork_start<F>(arg: *mut c_void) -> i32
where
    F: FnOnce() -> i32,
{
    crate::task::start::refresh_current_tid();
    // The parent's "created with CLONE_AUTOREAP" is not ours (an autoreaped child's own
    // closure records it again).
    crate::caller::forget_inherited_mark();
    // SAFETY: see above: this is the one read of the child's copy.
    let f = unsafe { ptr::read(arg.cast::<F>()) };
    end_process(f())
}

/// Ends a process child with `status`: `exit_group`, not the trampoline's `exit`.
///
/// The child is its own thread group (never `CLONE_THREAD`), so both end it when it has one
/// thread; `exit_group` also ends threads the closure may have started, as returning from
/// `main` does. And under qemu-user, `exit` takes an emulator lock that a fork-like child
/// may have inherited held (another thread of the parent was being created or was exiting
/// at the moment of the fork), which hangs the child; `exit_group` takes none.
pub(crate) fn end_process(status: i32) -> ! {
    crate::sys::process::exit_group(status)
}

/// A fork-like child (`clone(SIGCHLD)`, no new stack): `f` runs in the child on a copy of
/// the caller's stack and memory; its return value is the child's exit status (an `i32`,
/// not any value as a std thread's: a process leaves the kernel one number, its low 8 bits).
///
/// `f` may borrow from the caller (the child has its own copy of everything). The parent's
/// copy of `f` is forgotten, not dropped. The child keeps the caller's thread pointer, so in
/// a std program it may use std as a child of `fork(2)` may; it first refreshes the TID in a
/// clonekit control block it inherited, so [`thread::current`](crate::thread::current) is
/// right.
///
/// The caller must be single-threaded: [`Error::MultiThreaded`] otherwise (or
/// [`Error::ThreadCountUnknown`] without `/proc` outside an `entry!` program); see the
/// [module docs](crate::process) and [`fork_unchecked`].
///
/// ```
/// use std::io::Write;
/// # // Doc tests run as single-threaded programs of their own.
/// # // Not single-threaded (under qemu-user doc tests share a harness), or no count (qemu-user 7.2).
/// # if clonekit::program::require_single_threaded().is_err() {
/// #     return Ok(());
/// # }
/// let mut child = clonekit::process::fork(|| {
///     let mut out = std::io::stdout().lock();
///     let _ = writeln!(out, "{}", vec![1, 2, 3].iter().sum::<i32>());
///     0
/// })?;
/// assert!(child.wait()?.success());
///
/// // A second thread makes the same call a typed refusal.
/// let (go, wait) = std::sync::mpsc::channel::<()>();
/// let other = std::thread::spawn(move || wait.recv());
/// let refused = clonekit::process::fork(|| 0).unwrap_err();
/// assert!(matches!(refused, clonekit::Error::MultiThreaded { threads: 2 }));
/// go.send(()).unwrap();
/// other.join().unwrap().unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fork<F>(f: F) -> crate::Result<Child>
where
    F: FnOnce() -> i32,
{
    fork_with(CloneFlags::empty(), ExitSignal::SIGCHLD, f)
}

/// [`fork`] without the single-thread check.
///
/// # Safety
/// As for [`fork_with_unchecked`].
pub unsafe fn fork_unchecked<F>(f: F) -> crate::Result<Child>
where
    F: FnOnce() -> i32,
{
    // SAFETY: the caller's contract is the one of fork_with_unchecked.
    unsafe { fork_with_unchecked(CloneFlags::empty(), ExitSignal::SIGCHLD, f) }
}

/// As [`fork`], with any flags that do not share memory (namespaces, `CLONE_FS`,
/// `CLONE_PARENT`, ...) and any exit signal.
///
/// `CLONE_VM` gives [`Error::StackRequired`] (parent and child would share one stack: use
/// [`ChildBuilder`]); `CLONE_FILES` gives [`Error::FilesWithoutVm`]; [`MANAGED_FLAGS`]
/// give [`Error::ManagedFlags`]. Flags only `clone3()` carries (`CLONE_NEWTIME`,
/// `CLONE_CLEAR_SIGHAND`) make it use `clone3()` with no stack. The caller must be
/// single-threaded, as for [`fork`].
pub fn fork_with<F>(flags: CloneFlags, exit_signal: ExitSignal, f: F) -> crate::Result<Child>
where
    F: FnOnce() -> i32,
{
    refuse_managed(flags)?;
    refuse_files_without_vm(flags)?;
    crate::program::require_single_threaded()?;
    // SAFETY: single-threaded and no shared descriptor table: the contract holds.
    unsafe { fork_with_unchecked(flags, exit_signal, f) }
}

/// [`fork_with`] without the single-thread and `CLONE_FILES` checks.
///
/// # Safety
/// - In a multithreaded process, `f` must not take any lock another thread may hold
///   (libc's and std's included: no allocation, no stdio), as after `fork(2)` in a
///   multithreaded program; clonekit and core are fine.
/// - With `CLONE_FILES`, `f` must not close or replace a descriptor that the parent owns
///   (every `OwnedFd` and `File` it can reach in its copy of memory is one).
pub unsafe fn fork_with_unchecked<F>(
    flags: CloneFlags,
    exit_signal: ExitSignal,
    f: F,
) -> crate::Result<Child>
where
    F: FnOnce() -> i32,
{
    refuse_managed(flags)?;
    if flags.contains(CloneFlags::VM) {
        return Err(Error::StackRequired);
    }
    crate::task::start::prime_for_fork_like_children();
    let mut f = ManuallyDrop::new(f);
    let arg = (&mut *f as *mut F).cast::<c_void>();
    let created = if flags.intersects(CloneFlags::CLONE3_ONLY) {
        let mut args = CloneArgs::new(flags, exit_signal);
        // SAFETY: no stack and no CLONE_VM: the child runs on its own copy of our stack,
        // where `arg` points at its own copy of `f`; no pointer flags are set.
        unsafe { crate::raw::clone3(&mut args, fork_start::<F>, arg) }
            .map(|pid| (pid, Syscall::Clone3))
    } else {
        // SAFETY: as above, for legacy clone with a null stack.
        unsafe {
            crate::raw::clone(
                flags,
                exit_signal,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                0,
                fork_start::<F>,
                arg,
            )
        }
        .map(|pid| (pid, Syscall::Clone))
    };
    match created {
        // The child consumes its copy of `f`; ours stays forgotten.
        Ok((pid, via)) => Ok(Child::from_parts(pid, None, None, via, false)),
        Err(e) => {
            // SAFETY: no child was created, so `f` was never moved out of.
            drop(unsafe { ManuallyDrop::take(&mut f) });
            Err(e)
        }
    }
}
