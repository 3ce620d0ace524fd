//! The running kernel's version, for the rules that changed over time.
//!
//! ```
//! use clonekit::KernelVersion;
//!
//! let debian = KernelVersion::parse(b"6.12.38+deb13-amd64").unwrap();
//! assert_eq!(debian, KernelVersion::new(6, 12, 38));
//! assert!(debian >= KernelVersion::V5_6); // time namespaces, for instance
//! println!("running {:?}", KernelVersion::current());
//! ```

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// A kernel version `major.minor.patch`, ordered as versions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// The major number (`6` in `6.12.3`).
    pub major: u16,
    /// The minor number (`12` in `6.12.3`).
    pub minor: u16,
    /// The patch level (`3` in `6.12.3`; 0 when absent).
    pub patch: u16,
}

impl KernelVersion {
    /// `clone()` in its modern form, with no newer rule: the oldest version the rules model.
    pub const V2_6: KernelVersion = KernelVersion::new(2, 6, 0);
    /// Linux 4.6: `CLONE_NEWCGROUP`.
    pub const V4_6: KernelVersion = KernelVersion::new(4, 6, 0);
    /// Linux 5.2: `CLONE_PIDFD`.
    pub const V5_2: KernelVersion = KernelVersion::new(5, 2, 0);
    /// Linux 5.3: `clone3()`.
    pub const V5_3: KernelVersion = KernelVersion::new(5, 3, 0);
    /// Linux 5.5: `CLONE_CLEAR_SIGHAND`, `clone3()` `set_tid`.
    pub const V5_5: KernelVersion = KernelVersion::new(5, 5, 0);
    /// Linux 5.6: `CLONE_NEWTIME` (in `unshare()`).
    pub const V5_6: KernelVersion = KernelVersion::new(5, 6, 0);
    /// Linux 5.7: `CLONE_INTO_CGROUP`.
    pub const V5_7: KernelVersion = KernelVersion::new(5, 7, 0);
    /// Linux 6.2: a `CLONE_VM` or `CLONE_THREAD` child after `unshare(CLONE_NEWTIME)`
    /// (the child stays in the caller's time namespace; `execve` moves a task into the one
    /// for children: upstream 2b5f9dad32ed, "fs/exec: switch timens when a task gets a new
    /// mm").
    pub const V6_2: KernelVersion = KernelVersion::new(6, 2, 0);
    /// Linux 6.3: `CLONE_NEWTIME` accepted by `clone3()` (and by some stable kernels before
    /// it: see [`KernelVersion::clone3_takes_newtime`]).
    pub const V6_3: KernelVersion = KernelVersion::new(6, 3, 0);
    /// Linux 6.9: `CLONE_PIDFD` together with `CLONE_THREAD` (a thread pidfd).
    pub const V6_9: KernelVersion = KernelVersion::new(6, 9, 0);
    /// Linux 7.1: `CLONE_AUTOREAP`, `CLONE_NNP`, `CLONE_PIDFD_AUTOKILL`,
    /// `CLONE_EMPTY_MNTNS` (`clone3()` only).
    pub const V7_1: KernelVersion = KernelVersion::new(7, 1, 0);

    /// A version from its three numbers.
    pub const fn new(major: u16, minor: u16, patch: u16) -> KernelVersion {
        KernelVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parses a `uname -r` release string such as `6.12.117+deb13-amd64` or `6.1.0-56-arm64`:
    /// the leading `major.minor[.patch]`, anything after it ignored. `None` if it does not
    /// start with two numbers.
    pub fn parse(release: &[u8]) -> Option<KernelVersion> {
        let mut numbers = [0u16; 3];
        let mut count = 0;
        let mut rest = release;
        while count < 3 {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || digits > 5 {
                break;
            }
            let mut value: u32 = 0;
            for &b in &rest[..digits] {
                value = value * 10 + u32::from(b - b'0');
            }
            numbers[count] = u16::try_from(value).ok()?;
            count += 1;
            rest = &rest[digits..];
            match rest.first() {
                Some(b'.') => rest = &rest[1..],
                _ => break,
            }
        }
        (count >= 2).then(|| KernelVersion::new(numbers[0], numbers[1], numbers[2]))
    }

    /// Whether this kernel's `clone3()` takes `CLONE_NEWTIME`: Linux 6.3, and the stable
    /// series that got the fix ("fork: allow CLONE_NEWTIME in clone3 flags", upstream
    /// a402f1e35313) in the March 2023 review cycle: 6.2.7, 6.1.20, 5.15.103, 5.10.175.
    /// Debian 12's 6.1 kernels have it; 5.6 to 5.9 and the other non-LTS series never did.
    pub fn clone3_takes_newtime(self) -> bool {
        const BACKPORTS: [(u16, u16, u16); 4] = [(6, 2, 7), (6, 1, 20), (5, 15, 103), (5, 10, 175)];
        self >= KernelVersion::V6_3
            || BACKPORTS.iter().any(|&(major, minor, patch)| {
                self.major == major && self.minor == minor && self.patch >= patch
            })
    }

    /// The running kernel's version, from `uname(2)`; `None` if its release string does not
    /// parse. See [`KernelVersion::from_uname`] for distribution kernels.
    pub fn current() -> Option<KernelVersion> {
        let uts = crate::sys::uname();
        KernelVersion::from_uname(uts.release(), uts.version())
    }

    /// The version from `uname`'s `release` and `version` fields. Distributions keep an ABI
    /// name in `release` (Debian's `6.1.0-28-amd64` is really 6.1.176) and put the upstream
    /// version in `version` (`#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2025-01-01)`): a
    /// `major.minor.patch` there with the release's major and minor and a higher patch wins.
    pub fn from_uname(release: &[u8], version: &[u8]) -> Option<KernelVersion> {
        let base = KernelVersion::parse(release)?;
        let better = version
            .split(|b| b.is_ascii_whitespace())
            .filter_map(KernelVersion::parse)
            .filter(|v| v.major == base.major && v.minor == base.minor && v.patch > base.patch)
            .max();
        Some(better.unwrap_or(base))
    }
}

/// The running kernel's version, packed (`major << 32 | minor << 16 | patch`), with
/// [`CACHE_SET`] once known: the kernel does not change under a running process.
static CACHE: AtomicU64 = AtomicU64::new(0);
const CACHE_SET: u64 = 1 << 48;

impl KernelVersion {
    /// [`KernelVersion::current`], asked once per process and remembered. An unparsable
    /// release is taken as the newest kernel, so the validator leaves the version-dependent
    /// rules to the kernel itself.
    pub fn cached() -> KernelVersion {
        let packed = CACHE.load(Ordering::Relaxed);
        if packed & CACHE_SET != 0 {
            return KernelVersion::new((packed >> 32) as u16, (packed >> 16) as u16, packed as u16);
        }
        let v = KernelVersion::current().unwrap_or(KernelVersion::new(u16::MAX, 0, 0));
        let packed =
            CACHE_SET | u64::from(v.major) << 32 | u64::from(v.minor) << 16 | u64::from(v.patch);
        CACHE.store(packed, Ordering::Relaxed);
        v
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_and_upstream_release_strings() {
        let v = |s: &str| KernelVersion::parse(s.as_bytes());
        assert_eq!(
            v("6.12.117+deb13-amd64"),
            Some(KernelVersion::new(6, 12, 117))
        );
        assert_eq!(v("6.1.0-56-arm64"), Some(KernelVersion::new(6, 1, 0)));
        assert_eq!(v("6.18.44-fc-v595"), Some(KernelVersion::new(6, 18, 44)));
        assert_eq!(v("5.10"), Some(KernelVersion::new(5, 10, 0)));
        assert_eq!(v("6"), None);
        assert_eq!(v("linux"), None);
        assert_eq!(v(""), None);
        assert_eq!(v("99999999.1"), None);
        assert!(KernelVersion::new(6, 9, 0) > KernelVersion::new(6, 8, 12));
        assert!(KernelVersion::new(6, 12, 0) >= KernelVersion::V6_9);
    }

    #[test]
    fn distribution_kernels_report_their_upstream_patch_level() {
        let debian = KernelVersion::from_uname(
            b"6.1.0-28-amd64",
            b"#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2025-06-01)",
        );
        assert_eq!(debian, Some(KernelVersion::new(6, 1, 176)));
        let plain = KernelVersion::from_uname(b"6.18.44-fc", b"#1 SMP Tue Nov 4 2026");
        assert_eq!(plain, Some(KernelVersion::new(6, 18, 44)));
        // A different series in `version` is not taken.
        let other = KernelVersion::from_uname(b"5.15.0-91-generic", b"#101-Ubuntu SMP 6.2.1");
        assert_eq!(other, Some(KernelVersion::new(5, 15, 0)));
        assert_eq!(KernelVersion::from_uname(b"junk", b"Debian 6.1.176"), None);
    }

    #[test]
    fn clone3_newtime_follows_the_stable_backports() {
        let v = KernelVersion::new;
        assert!(v(6, 3, 0).clone3_takes_newtime());
        assert!(v(6, 1, 176).clone3_takes_newtime(), "Debian 12's kernel");
        assert!(v(6, 1, 20).clone3_takes_newtime());
        assert!(!v(6, 1, 19).clone3_takes_newtime());
        assert!(v(5, 10, 175).clone3_takes_newtime());
        assert!(!v(5, 10, 174).clone3_takes_newtime());
        assert!(
            !v(6, 0, 19).clone3_takes_newtime(),
            "6.0 reached its end before the fix"
        );
        assert!(!v(5, 6, 0).clone3_takes_newtime());
    }

    #[test]
    fn current_kernel_parses() {
        let v = KernelVersion::current().expect("uname release parses");
        assert!(v >= KernelVersion::V2_6, "{v}");
        assert_eq!(KernelVersion::cached(), v);
        assert_eq!(KernelVersion::cached(), v);
    }
}
