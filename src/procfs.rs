//! Small, allocation-free reads and writes of `/proc` files: what namespaces, id maps and
//! the caller-state checks need.
//!
//! ```
//! use clonekit::procfs::{self, PathBuf};
//!
//! let path = PathBuf::proc(None, "status")?; // this process's /proc/self/status
//! let mut buf = [0u8; 4096];
//! let n = procfs::read(path.as_c_str(), &mut buf)?;
//! let threads = procfs::status_field(&buf[..n], "Threads").and_then(procfs::parse_u64);
//! assert!(threads >= Some(1));
//! # Ok::<(), clonekit::Errno>(())
//! ```

use core::ffi::CStr;
use core::fmt::{self, Write};

use crate::errno::Errno;
use crate::sys::Pid;
use crate::sys::fs::{self, CWD, OFlags};

/// A path built in a fixed buffer, NUL-terminated: `/proc/<pid>/<name>` and the like. `Copy`,
/// so a child closure can take one along.
#[derive(Clone, Copy)]
pub struct PathBuf {
    buf: [u8; 64],
    len: usize,
}

impl PathBuf {
    /// Formats `args` into a path; `ENAMETOOLONG` if it does not fit.
    pub fn format(args: fmt::Arguments<'_>) -> Result<PathBuf, Errno> {
        let mut path = PathBuf {
            buf: [0; 64],
            len: 0,
        };
        path.write_fmt(args).map_err(|_| Errno::ENAMETOOLONG)?;
        if path.len >= path.buf.len() {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok(path)
    }

    /// `/proc/<pid>/<name>`, or `/proc/self/<name>` for `None`.
    pub fn proc(pid: Option<Pid>, name: &str) -> Result<PathBuf, Errno> {
        match pid {
            Some(pid) => PathBuf::format(format_args!("/proc/{pid}/{name}")),
            None => PathBuf::format(format_args!("/proc/self/{name}")),
        }
    }

    /// The path as a C string.
    pub fn as_c_str(&self) -> &CStr {
        // SAFETY: `format` keeps one NUL after the text (the buffer starts zeroed and the
        // text is shorter than the buffer); `write_str` refuses interior NULs.
        unsafe { CStr::from_bytes_with_nul_unchecked(&self.buf[..=self.len]) }
    }
}

impl Write for PathBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end >= self.buf.len() || s.bytes().any(|b| b == 0) {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Reads a whole (small) file into `buf`, returning the bytes read.
pub fn read(path: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = fs::openat(CWD, path, OFlags::RDONLY | OFlags::CLOEXEC, 0)?;
    fs::read_full(fd.as_fd(), buf)
}

/// Writes `data` to a file in one `write` (as `uid_map` and friends require).
pub fn write_once(path: &CStr, data: &[u8]) -> Result<(), Errno> {
    let fd = fs::openat(CWD, path, OFlags::WRONLY | OFlags::CLOEXEC, 0)?;
    loop {
        match fs::write(fd.as_fd(), data) {
            Ok(n) if n == data.len() => return Ok(()),
            Ok(_) => return Err(Errno::EIO),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The value of `name:` in a `/proc/<pid>/status` text, trimmed.
pub fn status_field<'a>(status: &'a [u8], name: &str) -> Option<&'a [u8]> {
    status.split(|&b| b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(name.as_bytes())?.strip_prefix(b":")?;
        Some(rest.trim_ascii())
    })
}

/// A decimal number.
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

/// Bytes read of `/proc/self/status`: it is about 1.5 KB, plus a `Groups:` line of up to
/// 65,536 groups on systems that use many; 8 KB covers the common cases.
const STATUS_BUF: usize = 8192;

/// The number of threads in the calling process: `num_threads`, field 20 of
/// `/proc/self/stat`. The errno of the read without `/proc`; `EINVAL` for a garbled line or
/// a count of 0, which no real process has (qemu-user 7.2 writes 0 there).
///
/// `stat`, not `Threads:` of `status`: qemu-user emulates `stat` with the guest's own count
/// (QEMU 10), while `status` is the emulator's, which has threads of its own.
///
/// The file must be procfs's (a directory mounted or chrooted over `/proc` is `EXDEV`) and
/// describe the caller (its pid field is ours; else `ESRCH`), so a stand-in cannot claim a
/// count. Under an emulator ([`program::emulated`](crate::program::emulated)) the file is
/// the emulator's own stand-in, written for the emulated program, and is taken as it is.
pub fn thread_count() -> Result<u64, Errno> {
    let fd = fs::openat(
        fs::CWD,
        c"/proc/self/stat",
        OFlags::RDONLY | OFlags::CLOEXEC,
        0,
    )?;
    let procfs = u64::from(linux_raw_sys::general::PROC_SUPER_MAGIC);
    if fs::fstatfs_type(fd.as_fd())? != procfs && !crate::emulator::emulated() {
        return Err(Errno::EXDEV);
    }
    let mut buf = [0u8; 1024];
    let filled = fs::read_full(fd.as_fd(), &mut buf)?;
    let line = &buf[..filled];
    let pid = line
        .split(|&b| b == b' ')
        .next()
        .and_then(parse_u64)
        .ok_or(Errno::EINVAL)?;
    if pid != crate::sys::process::getpid() as u64 {
        return Err(Errno::ESRCH);
    }
    stat_num_threads(line).ok_or(Errno::EINVAL)
}

/// `num_threads` of a `/proc/<pid>/stat` line, if it is there and not 0.
pub fn stat_num_threads(stat: &[u8]) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: fields resume after the
    // last `)`. Field 3 (the state) is the first after it, so field 20 is the 18th.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let threads = stat[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .nth(17)?;
    parse_u64(threads).filter(|&n| n > 0)
}

/// The depth of the calling process's PID namespace below the namespace of the `/proc`
/// mount (0 when they are the same): the number of entries in `NSpid:` minus one. `None`
/// without `/proc`. With the initial namespace's `/proc` (what a machine's init mounts) this
/// is the absolute depth the kernel's 32-level limit counts; a process that mounted its own
/// namespace's `/proc` sees 0 however deep it is, and the kernel, not the validator, then
/// reports the limit (`ENOSPC`). A process cannot see above its own PID namespace.
pub fn pid_ns_level() -> Option<u32> {
    // Large enough for a long `Groups:` line before the fields wanted.
    let mut buf = [0u8; STATUS_BUF];
    let n = read(c"/proc/self/status", &mut buf).ok()?;
    let nspid = status_field(&buf[..n], "NSpid")?;
    let levels = nspid
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .count();
    u32::try_from(levels.checked_sub(1)?).ok()
}

/// The inode a namespace link names (`uts:[4026531838]` -> 4026531838); `EINVAL` if the
/// link is not of that form.
pub(crate) fn ns_link_inode(path: &PathBuf) -> Result<u64, Errno> {
    let mut buf = [0u8; 64];
    let link = fs::readlinkat(CWD, path.as_c_str(), &mut buf)?;
    let open = link.iter().position(|&b| b == b'[').ok_or(Errno::EINVAL)?;
    let digits = link
        .get(open + 1..link.len().saturating_sub(1))
        .ok_or(Errno::EINVAL)?;
    parse_u64(digits).ok_or(Errno::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_nul_terminated_and_bounded() {
        let p = PathBuf::proc(Some(42), "uid_map").unwrap();
        assert_eq!(p.as_c_str(), c"/proc/42/uid_map");
        let p = PathBuf::proc(None, "ns/uts").unwrap();
        assert_eq!(p.as_c_str(), c"/proc/self/ns/uts");
        let long = "x".repeat(100);
        assert_eq!(PathBuf::proc(None, &long).err(), Some(Errno::ENAMETOOLONG));
        assert!(PathBuf::format(format_args!("a\0b")).is_err());
    }

    #[test]
    fn status_fields_parse() {
        let text = b"Name:\tx\nThreads:\t3\nNSpid:\t77\t1\n";
        assert_eq!(status_field(text, "Threads").and_then(parse_u64), Some(3));
        assert_eq!(status_field(text, "NSpid"), Some(&b"77\t1"[..]));
        assert_eq!(status_field(text, "Missing"), None);
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_u64(b""), None);
    }

    #[test]
    fn stat_lines_give_their_thread_count() {
        let line = b"4242 (a) b) c) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 3 0 5 1 1";
        assert_eq!(stat_num_threads(line), Some(3));
        let emulated = b"7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 5";
        assert_eq!(stat_num_threads(emulated), None, "a count of 0 is no count");
        assert_eq!(stat_num_threads(b"7 (x) S 1 2"), None);
        assert_eq!(stat_num_threads(b"no parenthesis"), None);
    }

    #[test]
    fn this_process_is_read_for_real() {
        use crate::sys::testutil::{skip, under_qemu_user};
        extern crate std;
        // libtest's main thread waits while this test runs on a thread of its own.
        match thread_count() {
            Ok(threads) => assert!(threads >= 2, "{threads}"),
            // QEMU 7.2 writes 0 threads in its emulated /proc/self/stat (QEMU 10 the count).
            Err(Errno::EINVAL) if under_qemu_user() => skip(
                "this_process_is_read_for_real (thread count)",
                "the emulator reports 0 threads in /proc/self/stat (EINVAL)",
            ),
            Err(e) => panic!("thread_count: {e}"),
        }
        assert_eq!(
            pid_ns_level(),
            Some(0),
            "the test runs in the initial PID namespace"
        );
        let mut buf = [0u8; 64];
        let n = read(c"/proc/self/comm", &mut buf).unwrap();
        assert!(n > 0);
    }
}
