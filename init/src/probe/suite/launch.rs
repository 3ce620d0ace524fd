//! Starting the init under test with the probe as its program: argument lists, the
//! program's standard input and output on pipes to the suite, here or as the init of a
//! new PID namespace (a clonekit `Container`), and waiting for it with a time limit.

use core::ffi::{CStr, c_char};

use clonekit::container::Container;
use clonekit::fd::{BorrowedFd, OwnedFd};
use clonekit::process::{self, ExitStatus};
use clonekit::sys::Pid;
use clonekit::sys::fs::{self, CWD, OFlags, PipeFlags, PollFd, PollFlags, dup3, pipe2, poll, read};
use clonekit::sys::process::{execve, exit_group};
use clonekit::sys::signal::{Signal, kill};
use clonekit::sys::time::{Timespec, nanosleep};
use clonekit::sys::wait::{WaitOptions, wait4};
use clonekit::{CloneFlags, Error};

use crate::out::Text;

/// The most words of a command line (the init, its options, the probe and its mode).
const MAX_WORDS: usize = 12;

/// A command line of static strings (`Copy` and `Send`, for a container's closure).
#[derive(Clone, Copy)]
pub struct Words {
    words: [&'static CStr; MAX_WORDS],
    len: usize,
}

impl Words {
    pub fn new(words: &[&'static CStr]) -> Words {
        let mut all = [c""; MAX_WORDS];
        let len = words.len().min(MAX_WORDS);
        all[..len].copy_from_slice(&words[..len]);
        Words { words: all, len }
    }

    pub fn program(&self) -> &'static CStr {
        self.words[0]
    }

    /// The words as one line, for messages.
    pub fn show(&self) -> Text {
        let mut text = Text::new();
        for (i, w) in self.words[..self.len].iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = core::fmt::Write::write_fmt(
                &mut text,
                format_args!("{sep}{}", w.to_str().unwrap_or("?")),
            );
        }
        text
    }
}

/// Where the init runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A child of the suite.
    Here,
    /// PID 1 of a new PID (and mount, with its own `/proc`) namespace.
    Container,
}

/// What the init's standard error goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stderr {
    /// The suite's own (the test's output).
    Shown,
    /// `/dev/null` (usage errors, on purpose).
    Hidden,
}

/// A started init: its pid (in the suite's namespace), the write end of its standard
/// input and the read end of its standard output.
pub struct Started {
    pub pid: Pid,
    /// Kept for its pidfd (a container's), closed when done; the waits go by pid.
    _handle: process::Child,
    input: Option<OwnedFd>,
    output: Lines,
}

/// Starts `words` (the init first) with `env` as its environment.
pub fn start(
    words: Words,
    env: *const *const c_char,
    place: Place,
    stderr: Stderr,
) -> Result<Started, Error> {
    start_on(words, env, place, stderr, None)
}

/// As [`start`], with `terminal` (a pseudo-terminal's slave end, open in the suite) as
/// the init's standard input and controlling terminal, in a session of its own.
pub fn start_on(
    words: Words,
    env: *const *const c_char,
    place: Place,
    stderr: Stderr,
    terminal: Option<BorrowedFd<'_>>,
) -> Result<Started, Error> {
    let (in_r, in_w) = pipe2(PipeFlags::CLOEXEC)?;
    let (out_r, out_w) = pipe2(PipeFlags::CLOEXEC)?;
    let input = terminal.map_or(in_r.as_raw(), |t| t.as_raw());
    let fds = (input, out_w.as_raw(), terminal.is_some());
    let env = EnvPtr(env);
    let child = move || exec_child(words, env, fds, stderr);
    let handle = match place {
        Place::Here => process::fork(child)?,
        Place::Container => Container::new()
            .namespaces(CloneFlags::NEWPID | CloneFlags::NEWNS)
            .spawn(child)?
            .into_child(),
    };
    drop(in_r);
    drop(out_w);
    Ok(Started {
        pid: handle.pid(),
        _handle: handle,
        input: Some(in_w),
        output: Lines::new(out_r),
    })
}

/// The environment pointer, moved into a container's closure: the array is the
/// process's own, static for its life, and the closure runs in a copy of this memory.
#[derive(Clone, Copy)]
struct EnvPtr(*const *const c_char);

// SAFETY: a pointer to the process's static environment array, only read (in a forked
// child, on its own copy of it).
unsafe impl Send for EnvPtr {}

/// In the forked child: the input (a pipe, or a terminal made the controlling one) onto
/// 0, the output pipe onto 1, `/dev/null` onto 2 if asked, `execve`.
fn exec_child(
    words: Words,
    env: EnvPtr,
    (input, output, terminal): (i32, i32, bool),
    stderr: Stderr,
) -> i32 {
    if terminal {
        // SAFETY: in this forked child, `input` is its own copy of the terminal's slave
        // end, open until it execs.
        let slave = unsafe { BorrowedFd::borrow_raw(input) };
        if crate::terminal::take_as_controlling(slave).is_err() {
            exit_group(121);
        }
    }
    // SAFETY: in this forked child, `input` and `output` are its own copies of the pipe
    // ends (close-on-exec), and 0, 1 (and 2) are its own standard streams to replace.
    unsafe {
        let _ = dup3(BorrowedFd::borrow_raw(input), 0, fs::FdFlags::empty());
        let _ = dup3(BorrowedFd::borrow_raw(output), 1, fs::FdFlags::empty());
    }
    if stderr == Stderr::Hidden
        && let Ok(null) = fs::openat(CWD, c"/dev/null", OFlags::WRONLY | OFlags::CLOEXEC, 0)
    {
        // SAFETY: as above, for descriptor 2.
        let _ = unsafe { dup3(null.as_fd(), 2, fs::FdFlags::empty()) };
    }
    let mut argv = [core::ptr::null::<c_char>(); MAX_WORDS + 1];
    for (slot, word) in argv.iter_mut().zip(&words.words[..words.len]) {
        *slot = word.as_ptr();
    }
    // SAFETY: argv is NULL-terminated (one slot more than words), of static strings; env
    // is the process's environment array.
    let errno = unsafe { execve(words.program(), argv.as_ptr(), env.0) };
    // 120: the init could not be run at all (the suite says so).
    let _ = errno;
    exit_group(120)
}

impl Started {
    /// The next line the program writes, within `ms` milliseconds.
    pub fn line(&mut self, ms: u64) -> Option<Text> {
        self.output.next(ms)
    }

    /// Sends `sig` to the init.
    pub fn signal(&self, sig: Signal) -> Result<(), clonekit::Errno> {
        kill(self.pid, sig)
    }

    /// Closes the program's standard input (the `record` modes end there).
    pub fn close_input(&mut self) {
        self.input = None;
    }

    /// Waits up to `ms` for the init to exit; kills it (`SIGKILL`) past that. Its exit code
    /// (128 + N for a signal), or `None` when it had to be killed.
    pub fn finish(mut self, ms: u64) -> Option<i32> {
        self.close_input();
        let mut waited = 0;
        loop {
            match wait4(self.pid, WaitOptions::NOHANG | WaitOptions::ALL) {
                Ok(Some((_, status))) => {
                    return match ExitStatus::from_wait(status) {
                        Some(status) => Some(clonekit::init::exit_code(status)),
                        None => continue,
                    };
                }
                Ok(None) | Err(clonekit::Errno::EINTR) => {}
                Err(_) => return None,
            }
            if waited >= ms {
                let _ = kill(self.pid, Signal::SIGKILL);
                let _ = wait4(self.pid, WaitOptions::ALL);
                return None;
            }
            let _ = nanosleep(&Timespec::from_millis(5));
            waited += 5;
        }
    }
}

/// Lines read from a pipe, with a time limit for each.
pub struct Lines {
    fd: OwnedFd,
    buf: [u8; 4096],
    len: usize,
}

impl Lines {
    fn new(fd: OwnedFd) -> Lines {
        Lines {
            fd,
            buf: [0; 4096],
            len: 0,
        }
    }

    fn next(&mut self, ms: u64) -> Option<Text> {
        let mut waited = 0;
        loop {
            if let Some(end) = self.buf[..self.len].iter().position(|&b| b == b'\n') {
                let mut text = Text::new();
                let _ = core::fmt::Write::write_str(
                    &mut text,
                    core::str::from_utf8(&self.buf[..end]).unwrap_or("?"),
                );
                self.buf.copy_within(end + 1..self.len, 0);
                self.len -= end + 1;
                return Some(text);
            }
            if waited >= ms || self.len == self.buf.len() {
                return None;
            }
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::IN)];
            let step = 50;
            match poll(&mut fds, Some(&Timespec::from_millis(step))) {
                Ok(0) => waited += step,
                Ok(_) => match read(self.fd.as_fd(), &mut self.buf[self.len..]) {
                    Ok(0) => return None, // end of file
                    Ok(n) => self.len += n,
                    Err(_) => return None,
                },
                Err(_) => waited += step,
            }
        }
    }
}
