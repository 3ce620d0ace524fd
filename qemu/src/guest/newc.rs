//! A writer for the newc cpio format (`070701`), the format the kernel unpacks as an
//! initramfs.
//!
//! Each entry is a 110-byte ASCII header (magic and 13 eight-digit hex fields), the name
//! with its NUL, padded to 4 bytes, then the data, padded to 4 bytes; the archive ends
//! with an entry named `TRAILER!!!`. Reference: Documentation/driver-api/early-userspace/
//! buffer-format.rst.

use std::fmt::Write as _;

/// File type bits of `st_mode`.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// An archive being built in memory (an initramfs is a few kilobytes to a few megabytes).
pub struct Archive {
    bytes: Vec<u8>,
    next_ino: u32,
}

impl Default for Archive {
    fn default() -> Self {
        Self::new()
    }
}

impl Archive {
    pub fn new() -> Archive {
        Archive {
            bytes: Vec::new(),
            next_ino: 1,
        }
    }

    /// Adds a directory (`mode` is the permission bits, e.g. `0o755`).
    pub fn dir(&mut self, name: &str, mode: u32) {
        self.entry(name, S_IFDIR | (mode & 0o7777), 2, &[]);
    }

    /// Adds a regular file.
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, S_IFREG | (mode & 0o7777), 1, data);
    }

    /// Adds a symbolic link to `target` (the link's data is the target path).
    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, 1, target.as_bytes());
    }

    /// Ends the archive with the trailer and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.write_header("TRAILER!!!", 0, 0, 0, 0);
        self.bytes.extend_from_slice(b"TRAILER!!!\0");
        self.pad();
        self.bytes
    }

    fn entry(&mut self, name: &str, mode: u32, nlink: u32, data: &[u8]) {
        let name = name.trim_start_matches('/');
        assert!(
            !name.is_empty() && !name.contains('\0'),
            "bad cpio name {name:?}"
        );
        let ino = self.next_ino;
        self.next_ino += 1;
        let size = u32::try_from(data.len()).expect("cpio newc files are below 4 GiB");
        self.write_header(name, ino, mode, nlink, size);
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn write_header(&mut self, name: &str, ino: u32, mode: u32, nlink: u32, size: u32) {
        let namesize = name.len() as u32 + 1;
        // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor
        // namesize check; uid/gid root, mtime 0 so the archive is reproducible.
        let fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, namesize, 0];
        let mut header = String::with_capacity(110);
        header.push_str("070701");
        for field in fields {
            let _ = write!(header, "{field:08x}");
        }
        self.bytes.extend_from_slice(header.as_bytes());
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }
}

/// The directories the init expects to mount things on.
pub const INIT_DIRS: &[&str] = &["dev", "proc", "sys", "tmp", "mnt"];

/// An initramfs with `init` as `/init` (mode 0755) and [`INIT_DIRS`].
pub fn initramfs(init: &[u8]) -> Vec<u8> {
    let mut archive = Archive::new();
    for dir in INIT_DIRS {
        archive.dir(dir, if *dir == "tmp" { 0o1777 } else { 0o755 });
    }
    archive.file("init", 0o755, init);
    archive.finish()
}

/// One entry read back from an archive (for tests and checks).
#[cfg(test)]
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub data: Vec<u8>,
}

/// Parses a newc archive up to its trailer.
#[cfg(test)]
pub fn parse(mut bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let start_len = bytes.len();
    loop {
        let at = start_len - bytes.len();
        let header = bytes
            .get(..110)
            .ok_or(format!("truncated header at {at}"))?;
        if &header[..6] != b"070701" {
            return Err(format!("bad magic at {at}"));
        }
        let field = |i: usize| -> Result<usize, String> {
            let hex =
                std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i]).map_err(|e| e.to_string())?;
            usize::from_str_radix(hex, 16).map_err(|e| format!("bad field {i} at {at}: {e}"))
        };
        let (mode, size, namesize) = (field(1)?, field(6)?, field(11)?);
        let name_end = 110 + namesize;
        let name = bytes.get(110..name_end - 1).ok_or("truncated name")?;
        let name = String::from_utf8(name.to_vec()).map_err(|e| e.to_string())?;
        let data_start = name_end.next_multiple_of(4);
        let data = bytes
            .get(data_start..data_start + size)
            .ok_or("truncated data")?;
        let next = (data_start + size).next_multiple_of(4);
        if name == "TRAILER!!!" {
            return Ok(entries);
        }
        entries.push(Entry {
            name,
            mode: mode as u32,
            data: data.to_vec(),
        });
        bytes = bytes.get(next..).ok_or("truncated padding")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    const INIT: &[u8] = b"\x7fELF not really, but 37 bytes of it";

    #[test]
    fn initramfs_round_trips_through_the_parser() {
        let archive = initramfs(INIT);
        assert!(archive.len().is_multiple_of(4));
        let entries = parse(&archive).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["dev", "proc", "sys", "tmp", "mnt", "init"]);
        let init = entries.last().unwrap();
        assert_eq!(init.mode, 0o100755);
        assert_eq!(init.data, INIT);
        assert_eq!(entries[0].mode, 0o040755);
        assert_eq!(entries[3].mode, 0o041777);
    }

    #[test]
    fn every_header_starts_with_the_newc_magic_on_a_4_byte_boundary() {
        let archive = initramfs(b"abc");
        assert!(archive.starts_with(b"070701"));
        let trailer = archive
            .windows(10)
            .position(|w| w == b"TRAILER!!!")
            .unwrap();
        assert_eq!((trailer - 110) % 4, 0);
        assert_eq!(&archive[trailer - 110..trailer - 104], b"070701");
    }

    #[test]
    fn truncated_archives_are_rejected_by_the_parser() {
        let archive = initramfs(INIT);
        assert!(parse(&archive[..archive.len() - 20]).is_err());
        assert!(parse(&archive[..50]).is_err());
        assert!(parse(b"070707 old binary format").is_err());
    }

    /// The real `cpio` reads the archive and lists what we wrote (skipped if cpio is not
    /// installed; `cargo qemu setup` installs it).
    #[test]
    fn gnu_cpio_lists_init_and_the_directories() {
        let Ok(mut child) = Command::new("cpio")
            .args(["-itv", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            eprintln!("cpio not installed; skipped");
            return;
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&initramfs(INIT))
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines.len(), 6, "{listing}");
        let init = lines.iter().find(|l| l.ends_with(" init")).unwrap();
        assert!(init.starts_with("-rwxr-xr-x"), "{init}");
        assert!(init.contains(&format!(" {} ", INIT.len())), "{init}");
        for dir in INIT_DIRS {
            let line = lines
                .iter()
                .find(|l| l.ends_with(&format!(" {dir}")))
                .unwrap();
            assert!(line.starts_with('d'), "{line}");
        }
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("drwxrwxrwt") && l.ends_with(" tmp"))
        );
    }
}
