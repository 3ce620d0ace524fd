//! Progress lines: what is running, and how long it (and the whole command) took.

use std::time::{Duration, Instant};

/// The instant the command started; every progress line shows the time since.
static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Marks the start of the command (call once, first thing in `main`).
pub fn start() {
    START.get_or_init(Instant::now);
}

/// Time since [`start`].
pub fn elapsed() -> Duration {
    START.get_or_init(Instant::now).elapsed()
}

/// Prints `[  12.3s] <what>` on stderr, so it interleaves with cargo's and QEMU's output
/// in the order things happen.
pub fn line(what: impl std::fmt::Display) {
    eprintln!("[{:>7}] {what}", human(elapsed()));
}

/// `4.2s`, `3m07s`: short enough for a table column.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_switch_to_minutes_at_sixty_seconds() {
        assert_eq!(human(Duration::from_millis(4_240)), "4.2s");
        assert_eq!(human(Duration::from_secs(187)), "3m07s");
    }
}
