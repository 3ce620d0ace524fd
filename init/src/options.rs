//! tini's command line: `[-s] [-g] [-e CODE]... [-p SIGNAL] [-v] [-w] [--] PROGRAM [ARGS]`,
//! `-h`, `--version`, and its three environment variables (`TINI_SUBREAPER`,
//! `TINI_KILL_PROCESS_GROUP`, `TINI_VERBOSITY`).
//!
//! One deliberate difference: options end at the first word that is not one (POSIX
//! `getopt`), so `clonekit-init ls -l` runs `ls -l`. tini's GNU `getopt` permutes, which
//! takes the `-l` for its own and is why tini's usage says `PROGRAM -- [ARGS]`; with the
//! `--` both read the same.

use clonekit::init::SuccessCodes;
use clonekit::rt::Args;
use clonekit::sys::signal::Signal;

use crate::say::Line;

/// What the command line asks for.
pub struct Options {
    /// `-s` or `TINI_SUBREAPER`: become a child subreaper.
    pub subreaper: bool,
    /// `-g` or `TINI_KILL_PROCESS_GROUP`: forward to the child's process group.
    pub group: bool,
    /// `-e CODE`, repeatable: codes that count as success.
    pub success: SuccessCodes,
    /// `-p SIGNAL`: the parent-death signal.
    pub parent_death: Option<Signal>,
    /// 0 fatal errors only, 1 (default) warnings, 2 information (`-v` or
    /// `TINI_VERBOSITY`).
    pub verbosity: u32,
    /// `-w`: a warning for every zombie reaped that is not the child.
    pub warn_on_reap: bool,
    /// The index of PROGRAM in the arguments.
    pub program: usize,
}

/// The usage text (tini's, shortened), for `-h` and usage errors.
const USAGE: &[u8] = b"Usage: clonekit-init [-s] [-g] [-e CODE]... [-p SIGNAL] [-v] [-w] [--] PROGRAM [ARGS] | --version
Runs PROGRAM as its child: forwards signals to it, reaps zombies, exits with its code.
  -s  register as a child subreaper (TINI_SUBREAPER)
  -g  send signals to the child's process group (TINI_KILL_PROCESS_GROUP)
  -e CODE  exit 0 when the child exits with CODE (0-255; repeatable)
  -p SIGNAL  set the parent-death signal, e.g. -p SIGKILL
  -v  more output (repeatable; TINI_VERBOSITY=N)
  -w  warn about each zombie reaped
  -h  this help
";

/// `--version`'s line.
const VERSION: &[u8] = concat!(
    "clonekit-init ",
    env!("CARGO_PKG_VERSION"),
    " (tini 0.19 compatible)\n"
)
.as_bytes();

/// Reads the command line and the environment. `Err(code)`: exit with `code` (the help,
/// the version, or a usage error already printed).
pub fn parse(args: &Args) -> Result<Options, i32> {
    let mut options = Options {
        subreaper: false,
        group: false,
        success: SuccessCodes::new(),
        parent_death: None,
        verbosity: 1,
        warn_on_reap: false,
        program: args.len(),
    };
    let word = |i: usize| args.get(i).map_or(&[][..], |s| s.to_bytes());
    if args.len() == 2 && word(1) == b"--version" {
        print(VERSION, false);
        return Err(0);
    }
    let mut i = 1;
    while i < args.len() {
        let arg = word(i);
        i += 1;
        if arg == b"--" {
            break;
        }
        let Some(letters) = arg.strip_prefix(b"-").filter(|l| !l.is_empty()) else {
            i -= 1; // PROGRAM
            break;
        };
        for (at, &letter) in letters.iter().enumerate() {
            match letter {
                b's' => options.subreaper = true,
                b'g' => options.group = true,
                b'v' => options.verbosity += 1,
                b'w' => options.warn_on_reap = true,
                b'h' => {
                    print(USAGE, false);
                    return Err(0);
                }
                b'e' | b'p' => {
                    // The value: the rest of this word, or the next word.
                    let rest = letters.get(at + 1..).unwrap_or(&[]);
                    let value = if rest.is_empty() {
                        i += 1;
                        match args.get(i - 1) {
                            Some(v) => v.to_bytes(),
                            None => return usage_error(b"option requires a value -- ", letter),
                        }
                    } else {
                        rest
                    };
                    if letter == b'e' {
                        let code = decimal(value).ok_or_else(|| invalid(b"-e", value))?;
                        options.success.add(code);
                    } else {
                        let sig = signal_named(value).ok_or_else(|| invalid(b"-p", value))?;
                        options.parent_death = Some(sig);
                    }
                    break;
                }
                _ => return usage_error(b"invalid option -- ", letter),
            }
        }
    }
    if i >= args.len() {
        print(USAGE, true);
        return Err(1);
    }
    // After the options, as tini reads it: TINI_VERBOSITY overrides `-v`.
    read_environment(args, &mut options);
    options.program = i;
    Ok(options)
}

/// `TINI_SUBREAPER` and `TINI_KILL_PROCESS_GROUP` (set: on, whatever the value),
/// `TINI_VERBOSITY=N`.
fn read_environment(args: &Args, options: &mut Options) {
    for entry in args.env() {
        let entry = entry.to_bytes();
        let mut parts = entry.splitn(2, |&b| b == b'=');
        let name = parts.next().unwrap_or(&[]);
        let value = parts.next().unwrap_or(&[]);
        match name {
            b"TINI_SUBREAPER" => options.subreaper = true,
            b"TINI_KILL_PROCESS_GROUP" => options.group = true,
            b"TINI_VERBOSITY" => options.verbosity = decimal(value).map_or(0, u32::from),
            _ => {}
        }
    }
}

/// A decimal number `0..=255`: only digits, at least one.
fn decimal(text: &[u8]) -> Option<u8> {
    if text.is_empty() {
        return None;
    }
    let mut n: u32 = 0;
    for &b in text {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(b - b'0');
        if n > 255 {
            return None;
        }
    }
    Some(n as u8)
}

/// A classic signal by its name with the `SIG` prefix (`SIGKILL`), as tini's `-p` takes.
fn signal_named(name: &[u8]) -> Option<Signal> {
    (1..Signal::RTMIN)
        .filter_map(Signal::from_raw)
        .find(|sig| sig.name().as_bytes() == name)
}

/// tini's message for a value it refuses (exit code 1).
fn invalid(option: &[u8], value: &[u8]) -> i32 {
    Line::new()
        .text(b"not a valid value for ")
        .text(option)
        .text(b": ")
        .text(value)
        .write_err();
    1
}

/// A `getopt`-style complaint about `letter`, then the usage (exit code 1).
fn usage_error(what: &[u8], letter: u8) -> Result<Options, i32> {
    Line::new().text(what).text(&[letter]).write_err();
    print(USAGE, true);
    Err(1)
}

fn print(text: &[u8], to_stderr: bool) {
    use clonekit::console::StdStream;
    let stream = if to_stderr {
        StdStream::Stderr
    } else {
        StdStream::Stdout
    };
    let _ = clonekit::sys::fs::write_all(stream.fd(), text);
}
