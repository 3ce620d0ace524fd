//! Threads through clonekit's API and trampolines, in a std program: what `join` returns and
//! how it reclaims the stack, `thread::current()` beside glibc's thread pointer, the
//! trampoline's promises (stack alignment, callee-saved registers), 64 threads at once, the
//! refusals before the syscall, and the signal block around a thread's start in a libc
//! program. What the kernel makes of the thread flags (one TGID, a TID each, the SETTID and
//! CLEARTID words, SETTLS, a thread's exit ending only its task) is proven once, by the test
//! kit's cases (`testkit/src/cases/sharing.rs`, `tids_and_tls.rs`), run by `testkit/tests/cases.rs`
//! and in the QEMU guest.
//!
//! Every closure that runs in a clonekit thread touches only atomics and clonekit::sys: a
//! clonekit thread must not call into libc or std. These run natively and under qemu-user
//! (the NPTL flag set is what qemu-user supports).

use core::ffi::c_void;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use clonekit::fd::OwnedFd;
use clonekit::stack::StackError;
use clonekit::sys::fs::{CWD, OFlags, PipeFlags, openat, pipe2, read, write};
use clonekit::sys::futex::futex_wait;
use clonekit::sys::process::gettid;
use clonekit::thread::{self, Builder, JoinError, JoinHandle};
use clonekit::{CloneFlags, Error, ExitSignal, FlagError, Stack, raw};
use clonekit_testkit::observe::futex::futex_wake;

/// Waits until `word` is 0 (a CHILD_CLEARTID word), as `JoinHandle::join` does.
fn wait_zero(word: &AtomicU32) {
    loop {
        let v = word.load(Ordering::Acquire);
        if v == 0 {
            return;
        }
        let _ = futex_wait(word, v, None, false);
    }
}

#[test]
fn the_return_value_is_what_join_returns() {
    for value in [0, 1, 42, -7, i32::MAX] {
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        let handle = unsafe { thread::Builder::new().spawn_unchecked(move || value) };
        assert_eq!(handle.unwrap().join(), Ok(value));
    }
    // Any `T: Send`, written into the thread's stack block: larger than the closure,
    // over-aligned, zero-sized, borrowed for 'static.
    #[derive(Debug, PartialEq)]
    #[repr(align(64))]
    struct Wide([u64; 8]);
    // SAFETY: as above.
    let big = unsafe { Builder::new().spawn_unchecked(|| (gettid(), [0xa5u8; 3000])) }.unwrap();
    let tid = big.tid();
    assert_eq!(
        big.join(),
        Ok((tid, [0xa5u8; 3000])),
        "the thread's own gettid()"
    );
    // SAFETY: as above.
    let wide = unsafe { Builder::new().spawn_unchecked(|| Wide([7; 8])) }.unwrap();
    assert_eq!(wide.join(), Ok(Wide([7; 8])));
    // SAFETY: as above.
    let unit = unsafe { Builder::new().spawn_unchecked(|| {}) }.unwrap();
    assert_eq!(unit.join(), Ok(()));
    // SAFETY: as above.
    let text = unsafe { Builder::new().spawn_unchecked(|| "from the thread") }.unwrap();
    assert_eq!(text.join(), Ok("from the thread"));
}

/// The number's target in `/proc/self/fd`, or `None` once it is closed.
fn fd_target(fd: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .ok()
        .map(|p| p.display().to_string())
}

/// How many of this process's descriptors other than `except` name the same file as `fd`
/// (`pipe:[inode]`). Asked of `/proc/self/fd`, not by writing into the pipe: a test running
/// beside this one may fork while the pipe is open, and its child's copy of the read end
/// would keep a write from failing with `EPIPE`; descriptor numbers may be reused at once.
fn others_naming_the_same_file(fd: i32, except: i32) -> usize {
    let target = fd_target(fd).expect("an open descriptor");
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&n| n != except && fd_target(n).as_deref() == Some(target.as_str()))
        .count()
}

#[test]
fn join_moves_descriptors_the_thread_opened_to_the_joiner() {
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let handle = unsafe {
        Builder::new().spawn_unchecked(|| {
            let null = openat(CWD, c"/dev/null", OFlags::RDWR | OFlags::CLOEXEC, 0);
            (null, pipe2(PipeFlags::CLOEXEC))
        })
    }
    .unwrap();
    let (null, pipe) = handle.join().unwrap();
    let (null, (r, w)): (OwnedFd, (OwnedFd, OwnedFd)) = (null.unwrap(), pipe.unwrap());
    // The thread's open files are in the table the two share.
    assert_eq!(fd_target(null.as_raw()).as_deref(), Some("/dev/null"));
    assert_eq!(write(&null, b"x"), Ok(1));
    assert!(fd_target(r.as_raw()).unwrap().starts_with("pipe:"));
    assert_eq!(write(&w, b"x"), Ok(1));
    assert_eq!(read(&r, &mut [0u8; 1]), Ok(1));
    assert_eq!(
        others_naming_the_same_file(w.as_raw(), w.as_raw()),
        1,
        "the reader is open"
    );
    drop(r);
    assert_eq!(
        others_naming_the_same_file(w.as_raw(), w.as_raw()),
        0,
        "the joiner's drop closed the reader"
    );
}

#[test]
fn a_finished_thread_dropped_unjoined_drops_its_value() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted(#[allow(dead_code)] OwnedFd);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    // SAFETY: as above; the value's drop runs in the thread that drops the handle (here,
    // this std thread), where it may do anything.
    let handle = unsafe { Builder::new().spawn_unchecked(move || Counted(r)) }.unwrap();
    while !handle.is_finished() {
        std::thread::yield_now();
    }
    // The read end is still open, owned by the value in the thread's stack block.
    assert_eq!(write(&w, b"x"), Ok(1));
    assert_eq!(
        others_naming_the_same_file(w.as_raw(), w.as_raw()),
        1,
        "the reader is open"
    );
    drop(handle);
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        1,
        "dropped once, by the handle"
    );
    assert_eq!(
        others_naming_the_same_file(w.as_raw(), w.as_raw()),
        0,
        "its descriptor closed with it"
    );
}

#[test]
fn a_thread_that_exits_instead_of_returning_has_no_value() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted;
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    // SAFETY: as above; `exit` abandons nothing that another thread borrows.
    let handle = unsafe {
        Builder::new().spawn_unchecked(|| -> Counted { clonekit::sys::process::exit(3) })
    }
    .unwrap();
    assert_eq!(handle.join().err(), Some(JoinError::Exited));
    // SAFETY: as above.
    let handle = unsafe {
        Builder::new().spawn_unchecked(|| -> Counted { clonekit::sys::process::exit(3) })
    }
    .unwrap();
    while !handle.is_finished() {
        std::thread::yield_now();
    }
    drop(handle);
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        0,
        "no value was ever written or dropped"
    );
}

#[test]
fn join_waits_for_the_kernel_to_clear_the_tid_word() {
    static RELEASE: AtomicU32 = AtomicU32::new(0);
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let handle = unsafe {
        thread::Builder::new().spawn_unchecked(|| {
            while RELEASE.load(Ordering::Acquire) == 0 {
                let _ = futex_wait(&RELEASE, 0, None, true);
            }
            7
        })
    }
    .unwrap();
    assert_eq!(
        handle.tid_word(),
        handle.tid() as u32,
        "PARENT_SETTID filled the TCB"
    );
    assert!(!handle.is_finished());
    RELEASE.store(1, Ordering::Release);
    futex_wake(&RELEASE, 1, true).unwrap();
    let (value, stack) = handle.join_reclaim();
    assert_eq!(value, Ok(7));
    // The reclaimed stack runs another thread.
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let handle = unsafe { Builder::new().stack(stack).spawn_unchecked(|| 8) }.unwrap();
    assert_eq!(handle.join(), Ok(8));
}

#[test]
fn each_thread_sees_its_own_thread_pointer() {
    // In a std program the main thread's thread pointer is glibc's: not clonekit's.
    assert_eq!(thread::current(), None);
    let handles: Vec<JoinHandle<i32>> = (0..4)
        .map(|_| {
            // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
            unsafe {
                thread::Builder::new().spawn_unchecked(|| {
                    // `current()` reads the TID from this thread's own TCB, no syscall.
                    let from_tcb = thread::current().unwrap_or(-1);
                    if from_tcb == gettid() { 1 } else { 0 }
                })
            }
            .unwrap()
        })
        .collect();
    for h in handles {
        assert_eq!(h.join(), Ok(1), "current() matched gettid() in the thread");
    }
}

#[test]
fn the_child_stack_is_16_byte_aligned() {
    #[repr(align(16))]
    struct Aligned(#[allow(dead_code)] [u8; 16]);
    static MISALIGNED: AtomicUsize = AtomicUsize::new(usize::MAX);
    static DONE: AtomicU32 = AtomicU32::new(u32::MAX);
    #[inline(never)]
    fn probe() -> usize {
        // An align(16) local is placed relative to the incoming stack pointer: it is
        // misaligned exactly when the trampoline entered Rust with a misaligned stack.
        let local = Aligned([0; 16]);
        std::hint::black_box(&local) as *const Aligned as usize % 16
    }
    unsafe extern "C" fn child(_: *mut c_void) -> i32 {
        MISALIGNED.store(probe(), Ordering::SeqCst);
        0
    }
    let stack = Stack::new(64 * 1024).unwrap();
    let flags = CloneFlags::NPTL_THREAD - CloneFlags::SETTLS - CloneFlags::PARENT_SETTID;
    // Hand the trampoline a top 8 bytes off alignment: it must realign.
    // SAFETY: 8 bytes below the top is still inside the stack.
    let top = unsafe { stack.top().sub(8) };
    // SAFETY: the child runs on `stack`, kept until CLEARTID; touches only statics.
    unsafe {
        raw::clone(
            flags,
            ExitSignal::NONE,
            top,
            core::ptr::null_mut(),
            DONE.as_ptr().cast(),
            0,
            child,
            core::ptr::null_mut(),
        )
    }
    .unwrap();
    wait_zero(&DONE);
    assert_eq!(MISALIGNED.load(Ordering::SeqCst), 0);
    // And through the thread API.
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let handle = unsafe { thread::Builder::new().spawn_unchecked(|| probe() as i32) };
    assert_eq!(handle.unwrap().join(), Ok(0));
}

#[test]
fn sixty_four_threads_add_to_one_atomic() {
    static SUM: AtomicUsize = AtomicUsize::new(0);
    let handles: Vec<JoinHandle<i32>> = (1..=64usize)
        .map(|i| {
            // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
            unsafe {
                Builder::new()
                    .stack_size(Stack::MIN_SIZE * 2)
                    .spawn_unchecked(move || {
                        for _ in 0..1000 {
                            SUM.fetch_add(i, Ordering::Relaxed);
                        }
                        i as i32
                    })
            }
            .unwrap()
        })
        .collect();
    let returned: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(returned, (1..=64).sum::<i32>());
    assert_eq!(SUM.load(Ordering::SeqCst), 1000 * (1..=64).sum::<usize>());
}

#[test]
fn bad_requests_are_refused_before_the_syscall() {
    assert!(matches!(
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        unsafe { Builder::new().stack_size(100).spawn_unchecked(|| 0) },
        Err(Error::Stack(clonekit::stack::StackError::TooSmall { .. }))
    ));
    // A closure too big for the stack it is given.
    let big = [7u8; 32 * 1024];
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        Builder::new()
            .stack_size(Stack::MIN_SIZE)
            .spawn_unchecked(move || big[0] as i32)
    };
    assert!(matches!(r, Err(Error::Stack(_))), "{r:?}");
    // The raw entry point names the rule the kernel would trip.
    let stack = Stack::new(Stack::MIN_SIZE).unwrap();
    unsafe extern "C" fn never(_: *mut c_void) -> i32 {
        0
    }
    // SAFETY: refused before any syscall; no child is created.
    let r = unsafe {
        raw::clone(
            CloneFlags::SIGHAND,
            ExitSignal::SIGCHLD,
            stack.top(),
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            0,
            never,
            core::ptr::null_mut(),
        )
    };
    assert_eq!(r, Err(Error::Flags(FlagError::SighandRequiresVm)));
}

/// A fork-like clone and wait, called from the register test's asm.
extern "C" fn fork_and_wait() -> i32 {
    unsafe extern "C" fn child(_: *mut c_void) -> i32 {
        5
    }
    // SAFETY: fork-like (no CLONE_VM, no stack): the child runs `child` on a copy of our
    // stack and exits at once.
    let pid = unsafe {
        raw::clone(
            CloneFlags::empty(),
            ExitSignal::SIGCHLD,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            0,
            child,
            core::ptr::null_mut(),
        )
    }
    .unwrap();
    match clonekit::sys::wait::wait4(pid, clonekit::sys::wait::WaitOptions::ALL) {
        Ok(Some((_, clonekit::sys::wait::WaitStatus::Exited(code)))) => code,
        other => panic!("{other:?}"),
    }
}

#[test]
fn callee_saved_registers_survive_in_the_parent() {
    let (out, code) = callee_saved_around_clone();
    assert_eq!(code, 5, "the fork-like child's status");
    for (i, v) in out.iter().enumerate() {
        assert_eq!(*v, MAGIC + i as u64, "callee-saved register {i} changed");
    }
}

const MAGIC: u64 = 0x5eed_0000_0000_0000;

/// Loads distinct values into the callee-saved registers the asm may name, calls a clone
/// through a plain C call, and reads them back.
#[cfg(target_arch = "x86_64")]
fn callee_saved_around_clone() -> ([u64; 5], i32) {
    let mut r = [MAGIC, MAGIC + 1, MAGIC + 2, MAGIC + 3, MAGIC + 4];
    let code: i32;
    // SAFETY: rbx is saved and restored around the call; r12-r15 are declared operands;
    // clobber_abi covers the caller-saved registers; the stack is aligned at asm entry and
    // the push/sub keep it aligned for the call.
    unsafe {
        core::arch::asm!(
            "push rbx",
            "sub rsp, 8",
            "mov rbx, rdi",
            "call {f}",
            "mov rdi, rbx",
            "add rsp, 8",
            "pop rbx",
            f = sym fork_and_wait,
            inout("rdi") r[4],
            inout("r12") r[0],
            inout("r13") r[1],
            inout("r14") r[2],
            inout("r15") r[3],
            out("eax") code,
            clobber_abi("C"),
        );
    }
    (r, code)
}

#[cfg(target_arch = "aarch64")]
fn callee_saved_around_clone() -> ([u64; 5], i32) {
    let mut r = [MAGIC, MAGIC + 1, MAGIC + 2, MAGIC + 3, MAGIC + 4];
    let code: i32;
    // SAFETY: x20-x24 are declared operands that the callee must preserve; clobber_abi
    // covers the caller-saved registers and the link register.
    unsafe {
        core::arch::asm!(
            "bl {f}",
            f = sym fork_and_wait,
            inout("x20") r[0],
            inout("x21") r[1],
            inout("x22") r[2],
            inout("x23") r[3],
            inout("x24") r[4],
            out("w0") code,
            clobber_abi("C"),
        );
    }
    (r, code)
}

#[cfg(target_arch = "riscv64")]
fn callee_saved_around_clone() -> ([u64; 5], i32) {
    let mut r = [MAGIC, MAGIC + 1, MAGIC + 2, MAGIC + 3, MAGIC + 4];
    let code: i64;
    // SAFETY: s2-s6 are declared operands that the callee must preserve; clobber_abi
    // covers the caller-saved registers and ra.
    unsafe {
        core::arch::asm!(
            "call {f}",
            f = sym fork_and_wait,
            inout("s2") r[0],
            inout("s3") r[1],
            inout("s4") r[2],
            inout("s5") r[3],
            inout("s6") r[4],
            out("a0") code,
            clobber_abi("C"),
        );
    }
    (r, code as i32)
}

#[test]
fn in_a_libc_program_a_thread_starts_with_every_signal_blocked() {
    use clonekit::sys::signal::{SigmaskHow, Signal, rt_sigprocmask};
    // A host (std/libc) signal handler must never run on a clonekit thread: its thread
    // pointer is clonekit's TCB, not the libc's.
    let before = rt_sigprocmask(SigmaskHow::Block, None).unwrap();
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let handle = unsafe {
        thread::Builder::new().spawn_unchecked(|| {
            let mask = rt_sigprocmask(SigmaskHow::Block, None).unwrap();
            let blocked = [
                Signal::SIGUSR1,
                Signal::SIGPROF,
                Signal::SIGINT,
                Signal::SIGTERM,
            ]
            .iter()
            .all(|s| mask.contains(*s));
            i32::from(blocked)
        })
    }
    .unwrap();
    assert_eq!(handle.join(), Ok(1));
    let after = rt_sigprocmask(SigmaskHow::Block, None).unwrap();
    assert_eq!(before, after, "the creator's mask is restored");
}

/// The thread's first frame holds the closure and the value it builds (twice, unoptimised)
/// besides the slot at the top of the stack: a value that fits the slot but not those copies
/// is refused before the clone, not found out as a fault (or, on riscv64, where a frame
/// larger than the guard opens without probes, as stores below the guard).
#[test]
fn a_value_whose_copies_do_not_fit_the_stack_is_refused_before_the_clone() {
    const SIZE: usize = 256 * 1024;
    // SAFETY: as above (the thread would only build an array).
    let refused = unsafe {
        Builder::new()
            .stack_size(SIZE)
            .spawn_unchecked(|| [1u8; 200 * 1024])
    };
    match refused {
        Err(Error::Stack(StackError::TooSmall { size, min })) => {
            assert_eq!(size, SIZE);
            assert!(min > 3 * 200 * 1024, "the copies are counted: min {min}");
        }
        other => panic!("expected a too-small stack, got {:?}", other.map(|_| ())),
    }
    // Room for them: the value comes back whole.
    // SAFETY: as above.
    let fits = unsafe {
        Builder::new()
            .stack_size(1024 * 1024)
            .spawn_unchecked(|| [1u8; 200 * 1024])
    }
    .unwrap();
    assert!(fits.join().unwrap().iter().all(|&b| b == 1));
}
