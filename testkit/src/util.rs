//! Helpers the cases share: the clock, sleeping,
//! reading small files, and running a raw `CLONE_THREAD` child to completion.

use core::ffi::{CStr, c_void};
use core::sync::atomic::{AtomicU32, Ordering};

use clonekit::procfs::PathBuf;
use clonekit::raw::{self, ChildFn};
use clonekit::sys::Pid;
use clonekit::sys::fs::{self, CWD, OFlags};
use clonekit::sys::futex;
use clonekit::sys::process::getpid;
use clonekit::sys::time::{ClockId, Timespec, clock_gettime, nanosleep};
use clonekit::{CloneFlags, Errno, ExitSignal, Stack};

use crate::case::{Ctx, Fail};

/// Milliseconds on the monotonic clock.
pub fn now_ms() -> i64 {
    clock_gettime(ClockId::Monotonic).map_or(0, |t| t.tv_sec * 1000 + t.tv_nsec / 1_000_000)
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
    while crate::observe::signal::kill_probe(tid).is_ok() {
        sleep_ms(1);
    }
}

/// A word the kernel stores a thread's TID in (`CLONE_PARENT_SETTID`) and clears with a
/// futex wake when it exits (`CLONE_CHILD_CLEARTID`).
#[derive(Default)]
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

/// The zombies among the runner's children (PID 1's in the guest; natively the runner is a
/// child subreaper, so orphaned grandchildren are its children too): (count, the first
/// one's pid). Zombies of other processes on the machine are not the cases' business.
pub fn zombies() -> Result<(usize, i32), Fail> {
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
        // "pid (comm) S ppid ...": the state follows the last ')', the parent's pid the state.
        let Some(after_comm) = stat
            .iter()
            .rposition(|&b| b == b')')
            .map(|i| &stat[i + 2..])
        else {
            return;
        };
        let mut fields = after_comm.split(|&b| b == b' ');
        let state = fields.next();
        let ppid = fields.next().and_then(clonekit::procfs::parse_u64);
        if state == Some(b"Z") && ppid == Some(u64::from(getpid().unsigned_abs())) {
            if count == 0 {
                first = pid as i32;
            }
            count += 1;
        }
    })
    .ctx("getdents64 /proc")?;
    Ok((count, first))
}
