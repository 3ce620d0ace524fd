//! Waiting for a command under a time limit: past it, its whole process group (the command
//! and everything it started: a test binary, the children it forked) is killed, so a hang
//! ends as a reported failure instead of eating the rest of the run.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Makes `cmd` start a process group of its own (what [`wait`] kills).
pub fn own_group(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0)
}

/// Waits for `child` (started with [`own_group`]), checking every `poll`; `None` when it
/// outlived `limit` and its group was killed (and reaped).
pub fn wait(child: &mut Child, limit: Duration, poll: Duration) -> Result<Option<ExitStatus>> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child")? {
            return Ok(Some(status));
        }
        if started.elapsed() > limit {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_past_its_limit_is_killed_with_its_group() {
        // The shell starts a second sleeper in the background: killing the group ends both.
        let mut child = own_group(Command::new("sh").args(["-c", "sleep 30 & sleep 30"]))
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = wait(
            &mut child,
            Duration::from_millis(300),
            Duration::from_millis(20),
        );
        assert!(status.unwrap().is_none());
        assert!(started.elapsed() < Duration::from_secs(10));
        let mut quick = own_group(&mut Command::new("true")).spawn().unwrap();
        let status = wait(
            &mut quick,
            Duration::from_secs(30),
            Duration::from_millis(20),
        );
        assert!(status.unwrap().is_some_and(|s| s.success()));
    }
}
