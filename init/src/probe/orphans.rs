//! A zombie storm: a middle process starts N children that exit at once and exits itself
//! without waiting for them, so N orphans (most already zombies) are re-parented to the
//! init (PID 1 of their namespace, or the nearest child subreaper); then the processes
//! the init is the parent of are counted in `/proc` until none is left but the caller.

use clonekit::process;
use clonekit::sys::Pid;
use clonekit::sys::process::getpid;
use clonekit::sys::time::{ClockId, Timespec, clock_gettime, nanosleep};

use crate::procstat::children_of;

/// How long the init may take to reap them all.
pub const BOUND_MS: u64 = 10_000;

/// What a storm left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Storm {
    /// Processes (but the caller) still with the init as parent at the end (0 when reaped).
    pub left: u32,
    /// Of those, zombies.
    pub zombies: u32,
    /// From the middle's end to the last check.
    pub ms: u64,
}

fn now_ms() -> u64 {
    let t = clock_gettime(ClockId::Monotonic).unwrap_or_default();
    (t.tv_sec as u64) * 1000 + (t.tv_nsec as u64) / 1_000_000
}

/// Runs the storm with `n` orphans for the init `init`; `Err` names the step that failed.
pub fn storm(n: u32, init: Pid) -> Result<Storm, &'static str> {
    let mut middle = process::fork(move || {
        for _ in 0..n {
            match process::fork(|| 0) {
                // Never waited for: each becomes the init's to reap.
                Ok(child) => core::mem::forget(child),
                Err(_) => return 1,
            }
        }
        0
    })
    .map_err(|_| "fork the middle process")?;
    match middle.wait() {
        Ok(status) if status.success() => {}
        _ => return Err("the middle process failed to start its children"),
    }
    let started = now_ms();
    loop {
        let (left, zombies) = children_of(init, getpid()).ok_or("reading /proc")?;
        let ms = now_ms() - started;
        if left == 0 || ms > BOUND_MS {
            return Ok(Storm { left, zombies, ms });
        }
        let _ = nanosleep(&Timespec::from_millis(2));
    }
}
