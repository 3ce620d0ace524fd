//! Clocks and sleeping: [`Timespec`], `clock_gettime`, `clock_nanosleep`.
//!
//! `clock_gettime` here is the real syscall, not the vDSO: slower (~100 ns) but usable
//! anywhere, including before any vDSO lookup in a `no_main` init.
//!
//! ```
//! use clonekit::sys::time::{ClockId, Timespec, clock_gettime, nanosleep};
//!
//! let start = clock_gettime(ClockId::Monotonic)?;
//! nanosleep(&Timespec::from_millis(2))?;
//! let elapsed = clock_gettime(ClockId::Monotonic)?.as_nanos() - start.as_nanos();
//! assert!(elapsed >= 2_000_000);
//! # Ok::<(), clonekit::Errno>(())
//! ```

use crate::errno::from_syscall;
use crate::{Errno, Result};
use linux_raw_sys::general as g;
use sc::{syscall2, syscall4};

/// `struct __kernel_timespec`: seconds and nanoseconds (`0..1_000_000_000`).
///
/// Ordered by time (seconds, then nanoseconds).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timespec {
    /// Seconds.
    pub tv_sec: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub tv_nsec: i64,
}

static_assertions::assert_eq_size!(Timespec, g::__kernel_timespec);
static_assertions::assert_eq_align!(Timespec, g::__kernel_timespec);

impl Timespec {
    /// A timespec of `sec` seconds and `nsec` nanoseconds.
    pub const fn new(sec: i64, nsec: i64) -> Timespec {
        Timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        }
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Timespec {
        Timespec::new((ms / 1000) as i64, ((ms % 1000) * 1_000_000) as i64)
    }

    /// The time as nanoseconds (exact: an `i128` cannot overflow here).
    pub const fn as_nanos(&self) -> i128 {
        self.tv_sec as i128 * 1_000_000_000 + self.tv_nsec as i128
    }
}

impl From<Timespec> for core::time::Duration {
    /// Negative times become zero.
    fn from(t: Timespec) -> core::time::Duration {
        if t.tv_sec < 0 {
            core::time::Duration::ZERO
        } else {
            core::time::Duration::new(t.tv_sec as u64, t.tv_nsec.clamp(0, 999_999_999) as u32)
        }
    }
}

impl From<core::time::Duration> for Timespec {
    /// Durations past `i64::MAX` seconds saturate.
    fn from(d: core::time::Duration) -> Timespec {
        Timespec::new(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            i64::from(d.subsec_nanos()),
        )
    }
}

/// A clock for [`clock_gettime`] and [`clock_nanosleep`].
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockId {
    /// `CLOCK_REALTIME`: wall-clock time, can jump.
    Realtime = g::CLOCK_REALTIME,
    /// `CLOCK_MONOTONIC`: never goes back; stops during suspend.
    Monotonic = g::CLOCK_MONOTONIC,
    /// `CLOCK_PROCESS_CPUTIME_ID`: CPU time of the process.
    ProcessCputime = g::CLOCK_PROCESS_CPUTIME_ID,
    /// `CLOCK_THREAD_CPUTIME_ID`: CPU time of the calling thread.
    ThreadCputime = g::CLOCK_THREAD_CPUTIME_ID,
    /// `CLOCK_MONOTONIC_RAW`: monotonic, without NTP slewing.
    MonotonicRaw = g::CLOCK_MONOTONIC_RAW,
    /// `CLOCK_BOOTTIME`: monotonic, including suspend.
    Boottime = g::CLOCK_BOOTTIME,
}

/// `clock_gettime(clock, &ts)`: the clock's current time.
///
/// # References
/// clock_gettime(2)
pub fn clock_gettime(clock: ClockId) -> Result<Timespec, Errno> {
    let mut ts = Timespec::default();
    // SAFETY: the kernel writes one `__kernel_timespec` (same layout) into `ts`.
    from_syscall(unsafe {
        syscall2(
            g::__NR_clock_gettime as usize,
            clock as usize,
            &mut ts as *mut Timespec as usize,
        )
    })?;
    Ok(ts)
}

/// `clock_nanosleep(clock, flags, req, rem)`: sleeps for `req` (or, with `absolute`,
/// until the clock reads `req`, `TIMER_ABSTIME`).
///
/// On `EINTR` the error is returned (no remaining time; with `absolute` simply call
/// again).
///
/// # References
/// clock_nanosleep(2)
pub fn clock_nanosleep(clock: ClockId, req: &Timespec, absolute: bool) -> Result<(), Errno> {
    let flags = if absolute { g::TIMER_ABSTIME } else { 0 };
    // SAFETY: the kernel reads one timespec from `req`; `rem` is NULL.
    from_syscall(unsafe {
        syscall4(
            g::__NR_clock_nanosleep as usize,
            clock as usize,
            flags as usize,
            req as *const Timespec as usize,
            0,
        )
    })
    .map(drop)
}

/// `nanosleep(req, NULL)` on `CLOCK_MONOTONIC`, restarted after `EINTR` until the full
/// time has passed.
///
/// # References
/// nanosleep(2), clock_nanosleep(2)
pub fn nanosleep(req: &Timespec) -> Result<(), Errno> {
    if !(0..1_000_000_000).contains(&req.tv_nsec) || req.tv_sec < 0 {
        return Err(Errno::EINVAL);
    }
    let now = clock_gettime(ClockId::Monotonic)?;
    let mut end = Timespec::new(
        now.tv_sec.saturating_add(req.tv_sec),
        now.tv_nsec + req.tv_nsec,
    );
    if end.tv_nsec >= 1_000_000_000 {
        end.tv_sec = end.tv_sec.saturating_add(1);
        end.tv_nsec -= 1_000_000_000;
    }
    loop {
        match clock_nanosleep(ClockId::Monotonic, &end, true) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_gettime_monotonic_increases() {
        let a = clock_gettime(ClockId::Monotonic).unwrap();
        nanosleep(&Timespec::from_millis(2)).unwrap();
        let b = clock_gettime(ClockId::Monotonic).unwrap();
        assert!(b > a, "{a:?} then {b:?}");
        assert!(b.as_nanos() - a.as_nanos() >= 2_000_000);
        assert!((0..1_000_000_000).contains(&b.tv_nsec));
        let rt = clock_gettime(ClockId::Realtime).unwrap();
        assert!(rt.tv_sec > 1_600_000_000, "realtime after 2020");
    }

    #[test]
    fn nanosleep_rejects_bad_nanoseconds() {
        assert_eq!(
            nanosleep(&Timespec::new(0, 1_000_000_000)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            clock_nanosleep(ClockId::Monotonic, &Timespec::new(0, -1), false),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn duration_conversions() {
        let t = Timespec::from_millis(1500);
        assert_eq!(t, Timespec::new(1, 500_000_000));
        let d: core::time::Duration = t.into();
        assert_eq!(d.as_millis(), 1500);
        assert_eq!(Timespec::from(d), t);
    }
}
