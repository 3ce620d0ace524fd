//! The launch spec: what the guest's `clonekit-launch` (init/src/launch/main.rs) runs, and
//! how, as one file of NUL-terminated fields at `/.clonekit/spec` in the initramfs:
//!
//! ```text
//! clonekit-launch 1 \0 STDOUT-DEVICE \0 STDERR-DEVICE \0 CWD \0 TMP \0 PROGRAM \0 ARGC \0
//! ARGV[0] \0 ... ARGV[ARGC-1] \0 ENV[0] \0 ... (to the end of the file)
//! ```
//!
//! TMP is `tmpfs` (clonekit-init's empty tmpfs on `/tmp` stays) or `packed` (files were
//! packed under `/tmp`, so the launcher unmounts that tmpfs to show them).
//!
//! Arguments and environment are bytes (`OsString`s): anything but NUL passes, newlines,
//! quotes, `--` and non-UTF-8 included, none of which the kernel command line can carry.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use anyhow::{Result, bail};

/// The first field (the launcher refuses any other).
pub const MAGIC: &str = "clonekit-launch 1";

/// Where the spec goes in the guest.
pub const PATH: &str = "/.clonekit/spec";

/// Where the launcher goes in the guest.
pub const LAUNCHER: &str = "/.clonekit/launch";

/// Everything the launcher needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub stdout_device: String,
    pub stderr_device: String,
    pub cwd: OsString,
    /// Files were packed below `/tmp` (which clonekit-init's tmpfs would hide).
    pub packed_tmp: bool,
    /// The program's path in the guest.
    pub program: OsString,
    /// `argv`, `argv[0]` first.
    pub argv: Vec<OsString>,
    /// `K=V` entries, in order.
    pub env: Vec<OsString>,
}

impl Spec {
    /// The file's bytes; refuses a field with a NUL in it (C strings cannot hold one).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut field = |what: &str, value: &OsStr| -> Result<()> {
            if value.as_bytes().contains(&0) {
                bail!("{what} {value:?} contains a NUL byte, which no C string can hold");
            }
            out.extend_from_slice(value.as_bytes());
            out.push(0);
            Ok(())
        };
        field("the magic", OsStr::new(MAGIC))?;
        field("the stdout device", OsStr::new(&self.stdout_device))?;
        field("the stderr device", OsStr::new(&self.stderr_device))?;
        field("the working directory", &self.cwd)?;
        field(
            "/tmp",
            OsStr::new(if self.packed_tmp { "packed" } else { "tmpfs" }),
        )?;
        field("the program", &self.program)?;
        field(
            "the argument count",
            OsStr::new(&self.argv.len().to_string()),
        )?;
        for arg in &self.argv {
            field("the argument", arg)?;
        }
        for var in &self.env {
            field("the environment entry", var)?;
        }
        Ok(out)
    }
}

/// Reads a spec back as the launcher does (its parser, in Rust with std): for the tests.
#[cfg(test)]
pub fn decode(bytes: &[u8]) -> Option<Spec> {
    use std::os::unix::ffi::OsStringExt;
    if bytes.last() != Some(&0) {
        return None;
    }
    let mut fields = bytes[..bytes.len() - 1]
        .split(|&b| b == 0)
        .map(|f| OsString::from_vec(f.to_vec()));
    let text = |f: OsString| f.into_string().ok();
    if text(fields.next()?)? != MAGIC {
        return None;
    }
    let stdout_device = text(fields.next()?)?;
    let stderr_device = text(fields.next()?)?;
    let cwd = fields.next()?;
    let packed_tmp = match text(fields.next()?)?.as_str() {
        "packed" => true,
        "tmpfs" => false,
        _ => return None,
    };
    let program = fields.next()?;
    let argc: usize = text(fields.next()?)?.parse().ok()?;
    let argv: Vec<OsString> = fields.by_ref().take(argc).collect();
    if argv.len() != argc {
        return None;
    }
    Some(Spec {
        stdout_device,
        stderr_device,
        cwd,
        packed_tmp,
        program,
        argv,
        env: fields.collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn spec() -> Spec {
        Spec {
            stdout_device: "/dev/vport0p1".into(),
            stderr_device: "/dev/vport0p2".into(),
            cwd: "/work/crate".into(),
            packed_tmp: true,
            program: "/work/crate/target/debug/deps/t-1234".into(),
            argv: vec![
                "/work/crate/target/debug/deps/t-1234".into(),
                "--test-threads=1".into(),
                "--".into(),
                "a b\n\"c\"".into(),
                OsString::from_vec(vec![0xff, 0xfe, b'x']),
                "".into(),
            ],
            env: vec!["RUST_BACKTRACE=1".into(), "CARGO_PKG_NAME=t".into()],
        }
    }

    #[test]
    fn every_field_round_trips_byte_for_byte() {
        let s = spec();
        let bytes = s.encode().unwrap();
        assert!(bytes.starts_with(
            b"clonekit-launch 1\0/dev/vport0p1\0/dev/vport0p2\0/work/crate\0packed\0"
        ));
        assert_eq!(decode(&bytes), Some(s));
        // No environment at all, no argument beyond argv[0].
        let bare = Spec {
            argv: vec!["/p".into()],
            env: Vec::new(),
            packed_tmp: false,
            ..spec()
        };
        assert_eq!(decode(&bare.encode().unwrap()), Some(bare));
    }

    #[test]
    fn a_nul_inside_a_field_is_refused() {
        let mut s = spec();
        s.argv.push(OsString::from_vec(b"a\0b".to_vec()));
        let e = s.encode().unwrap_err().to_string();
        assert!(e.contains("NUL"), "{e}");
    }

    #[test]
    fn a_cut_or_foreign_spec_is_not_read() {
        let bytes = spec().encode().unwrap();
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(
            decode(b"clonekit-launch 2\0a\0b\0/\0tmpfs\0/p\x000\0"),
            None
        );
        assert_eq!(
            decode(b"clonekit-launch 1\0a\0b\0/\0tmpfs\0/p\x005\0x\0"),
            None
        );
        assert_eq!(
            decode(b"clonekit-launch 1\0a\0b\0/\0other\0/p\x000\0"),
            None
        );
        assert!(decode(b"clonekit-launch 1\0a\0b\0/\0tmpfs\0/p\x000\0").is_some());
    }
}
