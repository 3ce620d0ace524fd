//! Runs qemu-system and captures its serial console: each line streamed to the terminal
//! (prefixed with the arch) and saved raw to a log, with the time it arrived; QEMU is
//! killed when the time limit passes.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::arch::Arch;

/// The console of one QEMU run.
pub struct Console {
    /// Each line with the time since QEMU started.
    pub lines: Vec<(Duration, String)>,
    pub total: Duration,
    pub timed_out: bool,
    /// QEMU's exit status (`None` when it was killed).
    pub status: Option<ExitStatus>,
    /// The last line had no newline: QEMU stopped (or was killed) in the middle of it.
    pub cut_mid_line: bool,
}

/// Runs `arch`'s qemu-system with `args`, streaming its serial output (each line prefixed
/// with `label`, e.g. `x86_64 6.12`, which tells apart boots that run at the same time) to
/// the terminal and saving it raw to `log`; kills it after `timeout`.
pub fn capture(
    arch: Arch,
    label: &str,
    args: &[String],
    timeout: Duration,
    log: &Path,
) -> Result<Console> {
    let binary = arch.qemu_system_binary();
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "{binary} is not installed: it is in the Debian package {} (`cargo qemu setup` installs it)",
                arch.qemu_system_package()
            ),
            _ => anyhow::Error::new(e).context(format!("starting {binary}")),
        })?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel::<(Duration, String)>();
    let label = label.to_string();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        let mut cut_mid_line = false;
        while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            cut_mid_line = !buf.ends_with(b"\n");
            let _ = log_file.write_all(&buf);
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .replace('\r', "");
            println!("{label}| {}", printable(&line));
            if tx.send((started.elapsed(), line)).is_err() {
                break;
            }
            buf.clear();
        }
        cut_mid_line
    });
    let (status, timed_out) = wait_or_kill(&mut child, timeout)?;
    let total = started.elapsed();
    let cut_mid_line = reader.join().unwrap_or(false);
    Ok(Console {
        lines: rx.try_iter().collect(),
        total,
        timed_out,
        status,
        cut_mid_line,
    })
}

/// Waits for QEMU, killing it (this child only) when the time limit passes.
fn wait_or_kill(child: &mut Child, timeout: Duration) -> Result<(Option<ExitStatus>, bool)> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((Some(status), false));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok((None, true));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A console line without terminal escape sequences (SeaBIOS clears the screen) and
/// other control characters, for echoing to the user's terminal.
pub fn printable(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e); other escapes: one char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_drops_escape_sequences_and_control_characters() {
        assert_eq!(
            printable("\x1b[2J\x1b[01;01HSeaBIOS\x1bc ok\x07"),
            "SeaBIOS ok"
        );
        assert_eq!(printable("KTAP version 1"), "KTAP version 1");
    }
}
