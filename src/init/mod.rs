//! PID 1 duties for an init built on clonekit: signal handling, reaping, one supervised main
//! program with every signal forwarded to it and its exit status passed on, and power-off
//! or reboot at the end.
//!
//! Two ways to be an init share the rules below:
//! - **tini's**, for an init whose one job is a main program (`clonekit-init` is one):
//!   no handlers at all. [`SignalsTaken::take`] blocks every signal to forward and
//!   `SIGCHLD`, [`MainProgram::spawn`] starts the program in a process group of its own,
//!   and the [`Supervisor`] takes the signals from the queue with `sigtimedwait`, forwards
//!   them ([`FORWARDED`], to the program or its group: [`Target`]), reaps every child and
//!   returns the exit code ([`exit_code`], with [`SuccessCodes`] mapped to 0).
//!   [`claim_machine`] and [`mount_machine_filesystems`] are the extra duties of the
//!   kernel's own init.
//! - **the handler model**, for an init that does other work besides ([`Init`]: the init
//!   demo): a handler for every signal it must act on, records in atomics, wait loops that
//!   hand back every status they reap; [`Init::supervise`] and [`Init::run_main`] hand a
//!   main program to the same [`Supervisor`].
//!
//! Both ways work in any process, not only in a PID 1; what only the machine's init does is
//! [`claim_machine`], [`mount_machine_filesystems`] and, at the end, [`finish`] powering off
//! instead of exiting. tini's way, with a program to supervise:
//!
//! ```
//! use core::ptr::null;
//! use clonekit::init::{MainProgram, SignalsTaken, Supervisor, Target};
//! # if clonekit::program::emulated() {
//! #     return Ok(()); // see program::emulated: qemu-user's own threads share the signal state
//! # }
//!
//! let argv = [c"sh".as_ptr(), c"-c".as_ptr(), c"kill -TERM $$".as_ptr(), null()];
//! let envp = [c"PATH=/usr/bin:/bin".as_ptr(), null()];
//! // SAFETY: both arrays are NULL-terminated, of strings that outlive `program`.
//! let program = unsafe { MainProgram::from_raw(argv.as_ptr(), envp.as_ptr()) };
//!
//! let signals = SignalsTaken::take()?; // before the child exists: no signal is lost
//! let spawned = program.spawn(&signals)?; // PATH searched for `sh`
//! let code = Supervisor::new(spawned.pid)
//!     .target(Target::Group) // forward signals to its whole process group
//!     .run(&signals, |_seen| {})?;
//! assert_eq!(code, 128 + 15); // killed by SIGTERM
//! # Ok::<(), clonekit::Errno>(())
//! ```
//!
//! In a static program, [`MainProgram::from_args`] takes the program from the init's own
//! command line: the crate docs' [static PID 1](crate#a-static-pid-1) is a complete one, which
//! clonekit's tests build and run for the three arches (and as PID 1 of a PID namespace), and
//! the QEMU guest boots the same way (`clonekit-init`). The handler model, with a closure as
//! the main program:
//!
//! ```
//! use clonekit::init::Init;
//! # if clonekit::program::emulated() {
//! #     return Ok(()); // qemu-user 7.2 refuses PR_SET_CHILD_SUBREAPER
//! # }
//!
//! let init = Init::install()?; // the handlers of the table below, and a subreaper
//! // The main program: a closure in a fork-like child (or `supervise` an exec'd one).
//! let code = init.run_main(|| 7)?;
//! assert_eq!(code, 7); // its code, or 128 + the signal that killed it
//! // A PID 1 would now end with init::finish(code, End::PowerOff): sync and power off.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The kernel's rules an init lives by
//! - Orphans are re-parented to PID 1 (or to the nearest child subreaper): it must reap them
//!   all with `wait4(-1, .., __WALL)`, whatever their exit signal ([`Init::reap`]).
//! - A signal sent to PID 1 (and to any PID namespace's init) whose disposition is the
//!   default is dropped by the kernel, `SIGKILL` and `SIGSTOP` included (from inside its
//!   namespace). So every signal an init must act on needs a handler, or must be blocked and
//!   taken from the queue (tini's way: the kernel never drops a blocked signal).
//! - PID 1 must never exit: the kernel panics ("Attempted to kill init!"). [`finish`] powers
//!   off or reboots instead.
//!
//! # Forwarding (both ways)
//! [`FORWARDED`] is tini's set: every signal but `SIGKILL`, `SIGSTOP`, `SIGCHLD`, the seven
//! synchronous faults and `SIGTTIN` / `SIGTTOU`; 32 and 33 only in a program without a libc
//! ([`forwarded`]). While a main program is supervised they are blocked, so they queue
//! (even for a PID 1, whose signals with the default disposition the kernel would drop) and
//! each is forwarded once it is taken; real-time signals queue once per `kill`.
//!
//! # The signal table (the handler model)
//! Every handler only records the signal in atomics (async-signal-safe); the main loop
//! ([`Init::wait_for`], [`Init::run_main`], or the caller with [`Init::reap`]) does the work.
//! All handlers are installed with `SA_RESTART`, so the rest of the program's blocking calls
//! are not disturbed; the init's own waits use `ppoll`, which the kernel never restarts, and
//! see every signal.
//!
//! | signal | [`Action`] | what the init does |
//! |---|---|---|
//! | `SIGCHLD` | [`Reap`](Action::Reap) | wakes the wait loop, which reaps with `wait4(-1, WNOHANG \| __WALL)` until nothing is left (`SA_NOCLDSTOP`: stops and continues are not reported) |
//! | `SIGTERM`, `SIGINT`, `SIGPWR` | [`Shutdown`](Action::Shutdown) | sets the shutdown request ([`Init::shutdown_requested`]); while a main program is supervised it is forwarded to it, as every signal of [`FORWARDED`] is. `SIGTERM` is what `kill 1` and container runtimes send, `SIGINT` what the kernel sends on Ctrl-Alt-Del, `SIGPWR` what power daemons send |
//! | `SIGHUP`, `SIGQUIT`, `SIGUSR1`, `SIGUSR2`, `SIGPIPE`, `SIGALRM`, `SIGSTKFLT`, `SIGCONT`, `SIGTSTP`, `SIGTTIN`, `SIGTTOU`, `SIGURG`, `SIGXCPU`, `SIGXFSZ`, `SIGVTALRM`, `SIGPROF`, `SIGWINCH`, `SIGIO`, `SIGRTMIN+3` ..= `SIGRTMIN+32` | [`Discard`](Action::Discard) | recorded ([`Init::received`]) and otherwise ignored (forwarded while a main program is supervised). A handler rather than `SIG_IGN`: an ignored disposition is inherited through `execve` (a program started with `SIGPIPE` ignored is a classic init bug), a handled one is reset to the default there |
//! | `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, `SIGABRT`, `SIGSYS`, `SIGTRAP` | [`Default`](Action::Default) | left at the default: a fault in the init is a bug, and a handler that returns would re-run the faulting instruction forever; a real fault kills the init (the kernel panics, which is visible), a `kill` of one is dropped for PID 1 |
//! | `SIGRTMIN` ..= `SIGRTMIN+2` (32 to 34) | [`Default`](Action::Default) | left as they are: libcs use them internally (glibc 32, 33: thread cancellation, `setxid`; musl also 34) |
//! | `SIGKILL`, `SIGSTOP` | [`Uncatchable`](Action::Uncatchable) | cannot be caught; the kernel refuses them to PID 1 from inside its namespace |
//!
//! # Children inherit the handlers
//! A fork-like child starts with the init's handlers (`execve` resets them). A handler that
//! runs in a process that is not the init (one that did not call [`Init::install`], so it is
//! not a child subreaper: `PR_SET_CHILD_SUBREAPER` is not inherited) resets the signal to its
//! default and raises it again, so such a child behaves as if it had never had the handler:
//! `SIGTERM` kills it. [`Init::run_main`] also resets them in its child before running the
//! main program ([`reset_signals`]). A child that shares the handler table (`CLONE_SIGHAND`
//! without `CLONE_THREAD`) would reset the init's disposition too: don't give one to an init.
//!
//! # Reaping takes every child
//! `wait4(-1)` reaps any child of the process, including one another part of the program
//! holds a [`Child`](crate::process::Child) for (its `wait` then gives `ECHILD`). [`Init::reap`]
//! and [`Init::wait_for`] hand every status they reap to the caller, so it can match them.
//!
//! # References
//! init(1), signal(7) "Signals and PID 1", prctl(2) `PR_SET_CHILD_SUBREAPER`, wait4(2),
//! reboot(2), pid_namespaces(7)

mod end;
mod exit_code;
mod forward;
mod handlers;
mod machine;
mod main_program;
mod supervisor;
mod table;
mod takeover;

pub use end::{End, finish, power_off, reboot_now};
pub use exit_code::{SuccessCodes, exit_code};
pub use forward::{FORWARDED, NOT_FORWARDED, Target, forwarded};
pub use handlers::{Event, Init, Reap, reset_signals};
pub use machine::{MACHINE_MOUNTS, claim_machine, mount_machine_filesystems};
pub use main_program::{MainProgram, SpawnFailure, SpawnStep, Spawned};
pub use supervisor::{Seen, Supervisor};
pub use table::{Action, HANDLED, WAKE, action};
pub use takeover::SignalsTaken;
