//! What `/proc` says about processes: a process's state, parent and process group
//! (`/proc/<pid>/stat` fields 3 to 5), and which processes a given one is the parent of.

use clonekit::procfs::{self, PathBuf, parse_u64};
use clonekit::sys::Pid;
use clonekit::sys::fs::{self, CWD, OFlags, for_each_dir_entry};

/// Fields 3 to 5 and 8 of a `/proc/<pid>/stat` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `R`, `S`, `Z`, ...
    pub state: u8,
    pub ppid: Pid,
    pub pgrp: Pid,
    /// The foreground process group of the controlling terminal (-1: none).
    pub tpgid: Pid,
}

/// Parses the fields after the command name (which may hold spaces and parentheses: they
/// resume after the last `)`).
fn parse(line: &[u8]) -> Option<Stat> {
    let close = line.iter().rposition(|&b| b == b')')?;
    let mut fields = line
        .get(close + 1..)?
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty());
    let state = *fields.next()?.first()?;
    let ppid = parse_u64(fields.next()?)? as Pid;
    let pgrp = parse_u64(fields.next()?)? as Pid;
    // session, tty_nr, then tpgid (which may be -1).
    let tpgid = fields.nth(2)?;
    let tpgid = match tpgid.strip_prefix(b"-") {
        Some(n) => -(parse_u64(n)? as Pid),
        None => parse_u64(tpgid)? as Pid,
    };
    Some(Stat {
        state,
        ppid,
        pgrp,
        tpgid,
    })
}

/// `pid`'s fields, or `None` if it is gone (or `/proc` is not there).
pub fn of(pid: Pid) -> Option<Stat> {
    let path = PathBuf::proc(Some(pid), "stat").ok()?;
    let mut buf = [0u8; 512];
    let n = procfs::read(path.as_c_str(), &mut buf).ok()?;
    parse(buf.get(..n)?)
}

/// The caller's own fields.
pub fn own() -> Option<Stat> {
    let mut buf = [0u8; 512];
    let n = procfs::read(c"/proc/self/stat", &mut buf).ok()?;
    parse(buf.get(..n)?)
}

/// The processes whose parent is `parent`, other than `except`: how many, and how many of
/// those are zombies. `None` without `/proc`.
pub fn children_of(parent: Pid, except: Pid) -> Option<(u32, u32)> {
    let dir = fs::openat(
        CWD,
        c"/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        0,
    )
    .ok()?;
    let mut buf = [0u8; 4096];
    let (mut all, mut zombies) = (0, 0);
    for_each_dir_entry(dir.as_fd(), &mut buf, |entry| {
        let Some(pid) = parse_u64(entry.name.to_bytes()) else {
            return;
        };
        let pid = pid as Pid;
        if pid == except {
            return;
        }
        if let Some(stat) = of(pid)
            && stat.ppid == parent
        {
            all += 1;
            zombies += u32::from(stat.state == b'Z');
        }
    })
    .ok()?;
    Some((all, zombies))
}
