//! User-namespace id maps: `uid_map`, `gid_map` and `setgroups`, written for a child by its
//! parent (see user_namespaces(7)).
//!
//! A map is checked as the kernel would before anything is written;
//! [`Container::uid_map`](crate::container::Container::uid_map) writes one for its child:
//!
//! ```
//! use clonekit::idmap::{self, IdMap, IdMapError};
//!
//! let root = IdMap::single(0, 100_000); // root inside is 100000 outside
//! let users = IdMap::parse("1000 101000 1000")?; // as /proc/PID/uid_map shows a line
//! assert_eq!(users, IdMap { inside: 1000, outside: 101_000, count: 1000 });
//! assert_eq!(idmap::check(&[root, users]), Ok(()));
//!
//! // Two lines that overlap inside, a line that is not three numbers.
//! let clash = IdMap::parse("0 200000 10")?;
//! assert_eq!(idmap::check(&[root, clash]), Err(IdMapError::Overlap));
//! assert_eq!(IdMap::parse("0 100000"), Err(IdMapError::Malformed));
//! # Ok::<(), IdMapError>(())
//! ```

use core::fmt::{self, Write};

use crate::errno::Errno;
use crate::error::Error;
use crate::procfs::{self, PathBuf};
use crate::sys::Pid;

/// One line of an id map: ids `inside..inside+count` in the namespace are
/// `outside..outside+count` in the parent namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdMap {
    /// The first id inside the namespace.
    pub inside: u32,
    /// The id it stands for outside.
    pub outside: u32,
    /// How many consecutive ids.
    pub count: u32,
}

/// The most lines clonekit writes to one map (the kernel takes up to 340).
pub const MAX_LINES: usize = 16;

/// Why an id map was refused before writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdMapError {
    /// A line is not three decimal numbers.
    Malformed,
    /// `count` is zero, or `inside + count` / `outside + count` overflows 32 bits.
    BadRange,
    /// No lines, or more than [`MAX_LINES`].
    BadLength(usize),
    /// Two lines' inside (or outside) ranges overlap, which the kernel refuses.
    Overlap,
}

impl fmt::Display for IdMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdMapError::Malformed => {
                f.write_str("an id map line is three numbers: inside outside count")
            }
            IdMapError::BadRange => f.write_str("an id map range is empty or passes 2^32"),
            IdMapError::BadLength(n) => write!(f, "an id map has 1 to {MAX_LINES} lines, not {n}"),
            IdMapError::Overlap => f.write_str("id map ranges overlap"),
        }
    }
}

impl core::error::Error for IdMapError {}

impl IdMap {
    /// Maps `inside` to `outside`, one id.
    pub const fn single(inside: u32, outside: u32) -> IdMap {
        IdMap {
            inside,
            outside,
            count: 1,
        }
    }

    /// Parses one line, `"inside outside count"` (as `/proc/PID/uid_map` shows it).
    pub fn parse(line: &str) -> Result<IdMap, IdMapError> {
        let mut words = line.split_ascii_whitespace().map(|w| w.parse::<u32>());
        let mut next = || {
            words
                .next()
                .ok_or(IdMapError::Malformed)?
                .map_err(|_| IdMapError::Malformed)
        };
        let map = IdMap {
            inside: next()?,
            outside: next()?,
            count: next()?,
        };
        if words.next().is_some() {
            return Err(IdMapError::Malformed);
        }
        map.check()?;
        Ok(map)
    }

    fn check(&self) -> Result<(), IdMapError> {
        let fits = |start: u32| start.checked_add(self.count).is_some();
        if self.count == 0 || !fits(self.inside) || !fits(self.outside) {
            return Err(IdMapError::BadRange);
        }
        Ok(())
    }
}

/// Checks a whole map as the kernel would: 1..=MAX_LINES valid, non-overlapping lines.
pub fn check(maps: &[IdMap]) -> Result<(), IdMapError> {
    if maps.is_empty() || maps.len() > MAX_LINES {
        return Err(IdMapError::BadLength(maps.len()));
    }
    for (i, a) in maps.iter().enumerate() {
        a.check()?;
        for b in &maps[..i] {
            let overlap = |x: u32, y: u32| x < y + b.count && y < x + a.count;
            if overlap(a.inside, b.inside) || overlap(a.outside, b.outside) {
                return Err(IdMapError::Overlap);
            }
        }
    }
    Ok(())
}

/// The map's text in a fixed buffer: up to MAX_LINES lines of three u32s.
struct MapText {
    buf: [u8; MAX_LINES * 34],
    len: usize,
}

impl Write for MapText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn write_map(pid: Pid, file: &str, maps: &[IdMap]) -> Result<(), Error> {
    check(maps).map_err(|_| Error::Os(Errno::EINVAL))?;
    let mut text = MapText {
        buf: [0; MAX_LINES * 34],
        len: 0,
    };
    for m in maps {
        writeln!(text, "{} {} {}", m.inside, m.outside, m.count).map_err(|_| Errno::E2BIG)?;
    }
    let path = PathBuf::proc(Some(pid), file)?;
    procfs::write_once(path.as_c_str(), &text.buf[..text.len])?;
    Ok(())
}

/// Writes `/proc/<pid>/uid_map` (once per namespace, by a process with the rights
/// user_namespaces(7) lists: typically the parent, before the child needs the ids).
pub fn write_uid_map(pid: Pid, maps: &[IdMap]) -> Result<(), Error> {
    write_map(pid, "uid_map", maps)
}

/// Writes `/proc/<pid>/gid_map`. An unprivileged writer must call [`deny_setgroups`] first.
pub fn write_gid_map(pid: Pid, maps: &[IdMap]) -> Result<(), Error> {
    write_map(pid, "gid_map", maps)
}

/// Writes `deny` to `/proc/<pid>/setgroups`: required before an unprivileged process may
/// write `gid_map` (so that dropping supplementary groups cannot be undone, CVE-2014-8989).
pub fn deny_setgroups(pid: Pid) -> Result<(), Error> {
    let path = PathBuf::proc(Some(pid), "setgroups")?;
    procfs::write_once(path.as_c_str(), b"deny")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_or_say_why_not() {
        assert_eq!(IdMap::parse("0 1000 1"), Ok(IdMap::single(0, 1000)));
        assert_eq!(
            IdMap::parse("  0\t100000 65536 "),
            Ok(IdMap {
                inside: 0,
                outside: 100000,
                count: 65536
            })
        );
        assert_eq!(IdMap::parse("0 1000"), Err(IdMapError::Malformed));
        assert_eq!(IdMap::parse("0 1000 1 2"), Err(IdMapError::Malformed));
        assert_eq!(IdMap::parse("a b c"), Err(IdMapError::Malformed));
        assert_eq!(IdMap::parse("-1 0 1"), Err(IdMapError::Malformed));
        assert_eq!(IdMap::parse("0 0 0"), Err(IdMapError::BadRange));
        assert_eq!(IdMap::parse("4294967295 0 2"), Err(IdMapError::BadRange));
    }

    #[test]
    fn whole_maps_are_checked() {
        assert_eq!(check(&[]), Err(IdMapError::BadLength(0)));
        assert_eq!(
            check(&[IdMap::single(0, 0); MAX_LINES + 1]),
            Err(IdMapError::BadLength(17))
        );
        let a = IdMap {
            inside: 0,
            outside: 1000,
            count: 10,
        };
        let b = IdMap {
            inside: 5,
            outside: 5000,
            count: 10,
        };
        assert_eq!(check(&[a, b]), Err(IdMapError::Overlap));
        let c = IdMap {
            inside: 10,
            outside: 5000,
            count: 10,
        };
        assert_eq!(check(&[a, c]), Ok(()));
    }
}
