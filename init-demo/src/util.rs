//! Helpers the sections share: a page of memory shared with forked children, sleeping,
//! reading small files, and running a raw `CLONE_THREAD` child to completion.

use core::ffi::{CStr, c_void};
use core::sync::atomic::{AtomicI64, AtomicPtr, AtomicU32, Ordering};

use clonekit::procfs::PathBuf;
use clonekit::raw::{self, ChildFn};
use clonekit::sys::Pid;
use clonekit::sys::fs::{self, CWD, OFlags};
use clonekit::sys::futex;
use clonekit::sys::mm::{MapFlags, ProtFlags, mmap_anonymous};
use clonekit::sys::time::{Timespec, nanosleep};
use clonekit::{CloneFlags, Errno, ExitSignal, Stack};

use crate::report::Ctx;

/// Slots in memory every child of the demo shares with PID 1 (`MAP_SHARED`), forked or not.
pub struct Shared {
    slots: [AtomicI64; 64],
}

static SHARED: AtomicPtr<Shared> = AtomicPtr::new(core::ptr::null_mut());

/// Maps the shared page; call once at start, before any child.
pub fn init_shared() -> Result<(), Errno> {
    let page = mmap_anonymous(4096, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED)?;
    SHARED.store(page.as_ptr().cast(), Ordering::Release);
    Ok(())
}

/// Slot `i` of the shared page (zero-filled at start; cases reset what they use).
pub fn slot(i: usize) -> &'static AtomicI64 {
    let shared = SHARED.load(Ordering::Acquire);
    assert!(!shared.is_null(), "init_shared not called");
    // SAFETY: a zeroed, never unmapped page of atomics (all-zero is a valid AtomicI64).
    unsafe { &(*shared).slots[i] }
}

/// Zeroes slots `0..n`.
pub fn reset_slots(n: usize) {
    for i in 0..n {
        slot(i).store(0, Ordering::SeqCst);
    }
}

/// Sleeps `ms` milliseconds (`nanosleep` itself goes on after a signal).
pub fn sleep_ms(ms: u64) {
    let _ = nanosleep(&Timespec::from_millis(ms));
}

/// Reads a small file (a `/proc` file) into `buf`.
pub fn read_file<'a>(path: &CStr, buf: &'a mut [u8]) -> Result<&'a [u8], Errno> {
    let n = clonekit::procfs::read(path, buf)?;
    Ok(&buf[..n])
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Waits until thread `tid` of this process is gone (`kill(tid, 0)` finds it until the
/// kernel releases it, after which it no longer touches its stack).
pub fn wait_thread_gone(tid: Pid) {
    while clonekit::sys::signal::kill_probe(tid).is_ok() {
        sleep_ms(1);
    }
}

/// A word the kernel stores a thread's TID in (`CLONE_PARENT_SETTID`) and clears with a
/// futex wake when it exits (`CLONE_CHILD_CLEARTID`).
pub struct TidWord(pub AtomicU32);

impl TidWord {
    /// A cleared word.
    pub const fn new() -> TidWord {
        TidWord(AtomicU32::new(0))
    }

    /// The word as the `ptid`/`ctid` pointer of `clone`.
    pub fn as_ptr(&self) -> *mut Pid {
        self.0.as_ptr().cast()
    }

    /// Sleeps on the word until the kernel clears it (`CLONE_CHILD_CLEARTID`), and returns how
    /// many `futex_wait` calls that took.
    pub fn join(&self) -> u32 {
        let mut waits = 0;
        loop {
            let tid = self.0.load(Ordering::Acquire);
            if tid == 0 {
                return waits;
            }
            waits += 1;
            // The kernel's wake is a shared one: wait with private = false.
            let _ = futex::futex_wait(&self.0, tid, None, false);
        }
    }
}

/// Starts `func(arg)` as a thread of this process with `THREAD_BASE | extra` flags on its
/// own stack, with `PARENT_SETTID` and `CHILD_CLEARTID` on `word`, and waits for it to
/// exit through that word. Returns the TID clone returned and the TID word's value then.
///
/// # Safety
/// `func(arg)` must be sound to run as a thread sharing this process's memory, and `tls`
/// (with `SETTLS` in `extra`) must point at memory that outlives it.
pub unsafe fn run_thread(
    extra: CloneFlags,
    tls: usize,
    word: &TidWord,
    func: ChildFn,
    arg: *mut c_void,
) -> Result<(Pid, u32), clonekit::Error> {
    let flags = CloneFlags::VM
        | CloneFlags::SIGHAND
        | CloneFlags::THREAD
        | CloneFlags::PARENT_SETTID
        | CloneFlags::CHILD_CLEARTID
        | extra;
    let stack = Stack::new(Stack::MIN_SIZE)?;
    word.0.store(0, Ordering::SeqCst);
    // SAFETY: the thread runs on its own stack, kept until the kernel clears `word` (the
    // thread is then past its last use of the stack); the caller vouches for func and tls.
    let tid = unsafe {
        raw::clone(
            flags,
            ExitSignal::NONE,
            stack.top(),
            word.as_ptr(),
            word.as_ptr(),
            tls,
            func,
            arg,
        )
    }?;
    let at_return = word.0.load(Ordering::Acquire);
    word.join();
    drop(stack);
    Ok((tid, at_return))
}

/// The zombies among `/proc`'s processes: (count, the first one's pid).
pub fn zombies() -> Result<(usize, i32), crate::report::Fail> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir = fs::openat(CWD, c"/proc", flags, 0).ctx("open /proc")?;
    let mut buf = [0u8; 2048];
    let (mut count, mut first) = (0, 0);
    fs::for_each_dir_entry(dir.as_fd(), &mut buf, |entry| {
        let name = entry.name.to_bytes();
        let Some(pid) = clonekit::procfs::parse_u64(name) else {
            return;
        };
        let Ok(path) = PathBuf::proc(Some(pid as i32), "stat") else {
            return;
        };
        let mut stat = [0u8; 512];
        let Ok(stat) = read_file(path.as_c_str(), &mut stat) else {
            return;
        };
        // "pid (comm) S ...": the state follows the last ')'.
        let state = stat
            .iter()
            .rposition(|&b| b == b')')
            .and_then(|i| stat.get(i + 2));
        if state == Some(&b'Z') {
            if count == 0 {
                first = pid as i32;
            }
            count += 1;
        }
    })
    .ctx("getdents64 /proc")?;
    Ok((count, first))
}
