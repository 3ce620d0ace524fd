//! Thin, typed wrappers over the raw Linux syscalls clonekit needs: what the library itself
//! calls. What only tests read from the kernel (a working directory, SysV IPC objects,
//! ptrace...) is in the test kit, `clonekit-testkit`'s `observe`.
//!
//! Each wrapper makes exactly one syscall (through `sc`'s `syscall` / `svc` /
//! `ecall` instruction with the number from `linux_raw_sys`), never touches libc,
//! thread-local state or a lock, and maps the kernel's `-errno` return to
//! [`Errno`](crate::Errno). That makes every function here usable from a raw `clone`
//! child, a signal handler or a `no_main` init.
//!
//! A function is `unsafe` only where memory safety depends on its caller (a pointer
//! the kernel will write through later, a mapping being changed, a signal handler,
//! `execve`'s pointer arrays); each such function says what the caller must promise.
//!
//! | module | concern |
//! |---|---|
//! | [`fd`] | `OwnedFd`, `BorrowedFd<'_>` (I/O safety) and the `close` an owner's drop makes; also `clonekit::fd` |
//! | [`process`] | ids, exit, exec, prctl, capabilities |
//! | [`wait`] | `wait4`, `waitid`, [`wait::WaitStatus`] |
//! | [`fs`] | descriptors, files, directories, `poll` |
//! | [`mm`] | `mmap`, `munmap`, `mprotect` |
//! | [`signal`] | [`signal::Signal`], [`signal::SigSet`], actions, masks, `kill`, pidfds |
//! | [`ns`] | namespaces, host names, mounts, `pivot_root`, `reboot` |
//! | [`time`] | [`time::Timespec`], clocks, sleeping |
//! | [`futex`] | `futex` wait on an `AtomicU32` (a join's sleep until the kernel's wake) |
//!
//! ```
//! use clonekit::sys::{ns::uname, process::{getpid, gettid}, time};
//!
//! assert_eq!(getpid(), std::process::id() as i32);
//! println!("process {}, thread {}", getpid(), gettid());
//! let name = uname();
//! let release = String::from_utf8_lossy(name.release());
//! println!("{} {release}", String::from_utf8_lossy(name.sysname()));
//! time::nanosleep(&time::Timespec::new(0, 1_000_000))?; // 1 ms
//! # Ok::<(), clonekit::Errno>(())
//! ```

pub mod fd;
pub mod fs;
pub mod futex;
pub mod mm;
pub mod ns;
pub mod process;
pub mod signal;
pub mod time;
pub mod wait;

pub use ns::uname;

/// A process or thread id as the kernel numbers it (`pid_t`).
pub type Pid = i32;

/// A user id (`uid_t`).
pub type Uid = u32;

/// A group id (`gid_t`).
pub type Gid = u32;

/// Test-only helpers shared by the modules' tests.
#[cfg(test)]
pub(crate) mod testutil {
    extern crate std;
    use super::Pid;
    use linux_raw_sys::general::{__NR_clone, SIGCHLD};

    /// A raw fork: `clone(SIGCHLD, 0, 0, 0, 0)`. Returns 0 in the child.
    ///
    /// The child shares nothing with the (multithreaded) test harness but a copy of
    /// memory: it may only make raw syscalls (the `sys` wrappers), never call std,
    /// and must end with `exit_group`.
    pub(crate) fn raw_fork() -> Pid {
        try_raw_fork().expect("clone(SIGCHLD)")
    }

    /// [`raw_fork`] without the panic, for use inside a forked child.
    pub(crate) fn try_raw_fork() -> crate::Result<Pid, crate::Errno> {
        // SAFETY: a fork-like clone (no CLONE_VM, no new stack) duplicates the calling
        // thread into a new process with a copy of this memory; both return here.
        let ret = unsafe { sc::syscall5(__NR_clone as usize, SIGCHLD as usize, 0, 0, 0, 0) };
        crate::errno::from_syscall(ret).map(|p| p as Pid)
    }

    /// Waits for `pid` and returns its exit code, panicking if it did not exit.
    pub(crate) fn wait_exit_code(pid: Pid) -> i32 {
        use super::wait::{WaitOptions, WaitStatus, wait4};
        loop {
            match wait4(pid, WaitOptions::empty()) {
                Ok(Some((p, WaitStatus::Exited(code)))) if p == pid => return code,
                Ok(other) => panic!("child {pid}: unexpected {other:?}"),
                Err(crate::Errno::EINTR) => continue,
                Err(e) => panic!("wait4({pid}): {e}"),
            }
        }
    }

    /// Whether we run under qemu-user: [`crate::program::emulated`].
    pub(crate) fn under_qemu_user() -> bool {
        crate::program::emulated()
    }

    /// Prints a `SKIP <test>: <reason>` line straight to fd 2 (libtest captures std's
    /// `eprintln!`, so the line shows in every run).
    pub(crate) fn skip(test: &str, reason: impl core::fmt::Display) {
        crate::eprintln!("SKIP {test}: {reason}");
    }

    /// Something a test needs that qemu-user refuses: the errno it really gives, and why.
    /// A test attempts the operation and skips only if [`Refusal::is`] holds, so natively
    /// (and under an emulator that accepts it) the test asserts as usual.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Refusal {
        /// The exit code a forked test child reports it with ([`wait_child`]); above every
        /// step number the children use.
        pub(crate) code: i32,
        /// The errno qemu-user gives.
        pub(crate) errno: crate::Errno,
        /// Why, for the `SKIP` line.
        pub(crate) reason: &'static str,
    }

    impl Refusal {
        /// Whether `err` is this refusal: the kernel-side errno (never one of clonekit's own
        /// refusals) is [`Refusal::errno`] and we run under qemu-user. Usable in a forked
        /// child (raw syscalls only).
        pub(crate) fn is(&self, err: impl Into<crate::Error>) -> bool {
            err.into() == crate::Error::Os(self.errno) && under_qemu_user()
        }

        /// In a forked child: the exit code for `err` at `step`: [`Refusal::code`] if `err`
        /// is this refusal ([`Refusal::is`]), else `step` (a failure).
        pub(crate) fn exit_code(&self, err: impl Into<crate::Error>, step: i32) -> i32 {
            if self.is(err) { self.code } else { step }
        }

        /// Prints `SKIP <test>: <reason> (<ERRNO>)`.
        pub(crate) fn skip(&self, test: &str) {
            skip(
                test,
                format_args!("{} ({})", self.reason, self.errno.name()),
            );
        }
    }

    /// Waits for a forked test child that exits 0 when it passed, with the
    /// [`Refusal::code`] of one of `refusals` when it met that refusal (checked in the
    /// child with [`Refusal::exit_code`]), or with the number of the step that failed.
    /// Returns whether it passed; a refusal prints its `SKIP` line, a failed step panics.
    pub(crate) fn wait_child(test: &str, pid: Pid, refusals: &[Refusal]) -> bool {
        match wait_exit_code(pid) {
            0 => true,
            code => match refusals.iter().find(|r| r.code == code) {
                Some(refusal) => {
                    refusal.skip(test);
                    false
                }
                None => panic!("{test}: step {code} failed in the child"),
            },
        }
    }
}
