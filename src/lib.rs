//! Linux's `clone()` family with its full power, in `no_std` Rust with no libc and no
//! allocator: threads, process children, pidfds, program spawning, namespaces, containers and
//! the duties of PID 1, on x86_64, aarch64 and riscv64. Every `CLONE_*` flag is a typed
//! [`CloneFlags`] value, checked against the kernel's own combination rules before the system
//! call ([`validate()`]), and the same calls work in an ordinary std program and in a static
//! `no_main` binary that is its machine's init.
//!
//! # Quick start
//!
//! ```toml
//! [dependencies]
//! clonekit = "0.1"
//! ```
//!
//! The crate is `no_std` and needs no feature. With `features = ["std"]` its descriptor types
//! convert to and from std's (`std::os::fd`) and std's implement clonekit's `AsFd` ([`fd`]).
//! The examples below are tests that run as written (as root: new namespaces need
//! `CAP_SYS_ADMIN`).
//!
//! ## A thread
//!
//! A clonekit thread runs a closure on a stack of its own and hands its value back at the
//! join, with no allocator. Its thread pointer is clonekit's own control block, so in a program
//! with a libc (every std program), where the libc's `malloc` and std's thread-locals find their
//! state through that register, the safe [`thread::spawn`] refuses; there the `unsafe`
//! [`Builder::spawn_unchecked`](thread::Builder::spawn_unchecked) runs closures that keep to
//! clonekit and core. In a static program started by [`entry!`] any closure may run (see
//! [Guarantees](#guarantees)).
//!
//! ```
//! use core::sync::atomic::{AtomicU32, Ordering};
//! use clonekit::{Error, thread};
//!
//! static HITS: AtomicU32 = AtomicU32::new(0);
//!
//! // This doc test is a std program: the safe spawn refuses, nothing runs.
//! assert_eq!(thread::spawn(|| 1).unwrap_err(), Error::LibcOwnsThreadPointer);
//!
//! // SAFETY: the closure touches only an atomic: no libc, no std.
//! let handle = unsafe {
//!     thread::Builder::new().spawn_unchecked(|| HITS.fetch_add(1, Ordering::SeqCst) + 41)
//! }?;
//! assert_eq!(handle.join()?, 41);
//! assert_eq!(HITS.load(Ordering::SeqCst), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## A child in new namespaces
//!
//! A process child runs a closure on a copy of the caller's memory, as after `fork(2)`, so std
//! works in it; [`ChildBuilder`](process::ChildBuilder) gives it any valid set of flags. Here it
//! is PID 1 of a new PID namespace with a host name of its own:
//!
//! ```
//! use clonekit::CloneFlags;
//! use clonekit::process::ChildBuilder;
//! use clonekit::sys::{ns::{sethostname, uname}, process::getpid};
//! # if clonekit::program::emulated() {
//! #     return Ok(()); // qemu-user refuses new namespaces in clone (see program::emulated)
//! # }
//!
//! let mut child = ChildBuilder::new(CloneFlags::NEWPID | CloneFlags::NEWUTS).spawn(|| {
//!     sethostname(b"sandbox").unwrap();
//!     println!("pid {} on {}", getpid(), String::from_utf8_lossy(uname().nodename()));
//!     if getpid() == 1 { 0 } else { 1 }
//! })?;
//! assert!(child.wait()?.success());
//! assert_ne!(uname().nodename(), b"sandbox"); // the parent's host name is untouched
//! # Ok::<(), clonekit::Error>(())
//! ```
//!
//! [`Container`](container::Container) does the whole set (UTS, PID, mount, IPC, network and
//! user namespaces, id maps, a private `/proc`) in one call.
//!
//! ## Running a program
//!
//! [`exec::Command`] starts a program as std's `Command` does (`PATH` search, the inherited
//! environment unless changed, standard streams and working directory), vfork-style as
//! `posix_spawn` does, without an allocator; a failed `execve` comes back with the child's own
//! errno:
//!
//! ```
//! use clonekit::Errno;
//! use clonekit::exec::{Command, SpawnError, Stdio};
//! use clonekit::sys::fs::{PipeFlags, pipe2, read};
//!
//! let (reader, writer) = pipe2(PipeFlags::CLOEXEC)?;
//! let mut child = Command::new(c"sh") // found in PATH
//!     .args([c"-c", c"echo $GREETING from $PWD; exit 3"])
//!     .env(c"GREETING", c"hello")
//!     .current_dir(c"/")
//!     .stdout(Stdio::Fd(writer.as_fd()))
//!     .spawn()?;
//! drop(writer); // the program holds its own copy
//! let mut out = [0u8; 64];
//! let n = read(&reader, &mut out)?;
//! assert_eq!(&out[..n], b"hello from /\n");
//! assert_eq!(child.wait()?.code(), Some(3));
//!
//! let missing = Command::new(c"/no/such/program").status();
//! assert!(matches!(missing, Err(SpawnError::Exec(Errno::ENOENT))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## A static PID 1
//!
//! A `#![no_std]` `#![no_main]` program started by [`entry!`] is a static executable of a few
//! kilobytes that needs nothing on the machine: no libc, no loader. This one is a complete init, as
//! a machine's `/init` or a container's first process: it runs its arguments as the one main
//! program, forwards every signal to it, reaps every orphan, ends with the program's exit code
//! (128 + N for signal N) and, as the machine's init, mounts `/proc`, `/sys`, `/dev` and `/tmp`
//! first and powers off at the end. A new package, three files:
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "static-init"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [dependencies]
//! clonekit = "0.1"
//!
//! # A no_std program cannot unwind: it aborts on panic, in every profile.
//! [profile.dev]
//! panic = "abort"
//!
//! [profile.release]
//! panic = "abort"
//! strip = true
//! ```
//!
//! `.cargo/config.toml`:
//!
//! ```toml
//! # Linked by rustc's own rust-lld: a static executable at a fixed address, no C toolchain,
//! # no libc, no start files (clonekit's entry! is the `_start`).
//! [target.'cfg(target_os = "linux")']
//! rustflags = [
//!     "-C", "linker=rust-lld",
//!     "-C", "relocation-model=static",
//!     "-C", "target-feature=+crt-static",
//! ]
//!
//! # Always build for a named target, even the host's: the flags above then reach the program
//! # only, never a dependency's build script (a host program that needs the libc).
//! [build]
//! target = "x86_64-unknown-linux-gnu"
//! ```
//!
//! `src/main.rs`:
//!
//! ```no_run
//! #![no_std]
//! #![no_main]
//! # extern crate std; // a doc test is built with std's unwinding panics; a program is not
//! # macro_rules! as_a_doc_test {
//! #     (#[panic_handler] $handler:item) => { #[allow(dead_code)] $handler };
//! # }
//!
//! use clonekit::init::{self, End, MainProgram, SignalsTaken, Supervisor};
//!
//! clonekit::entry!(main);
//!
//! /// `static-init PROGRAM [ARGS]...`
//! fn main(args: &clonekit::rt::Args) -> i32 {
//!     let machine = init::claim_machine(); // PID 1 of the machine, not of a container?
//!     if machine {
//!         init::mount_machine_filesystems(|_, _| {});
//!     }
//!     let code = match MainProgram::from_args(args, 1) {
//!         None => 2, // no PROGRAM
//!         Some(program) => SignalsTaken::take()
//!             .and_then(|signals| {
//!                 let child = program.spawn(&signals)?;
//!                 Supervisor::new(child.pid).run(&signals, |_| {})
//!             })
//!             .map_or(1, i32::from),
//!     };
//!     if machine {
//!         init::finish(code, End::PowerOff); // the machine's init must never exit
//!     }
//!     code
//! }
//!
//! # as_a_doc_test! {
//! #[panic_handler]
//! fn panic(_: &core::panic::PanicInfo) -> ! {
//!     init::finish(101, End::PowerOff)
//! }
//! # }
//! ```
//!
//! The one command, for each arch (after `rustup target add aarch64-unknown-linux-gnu
//! riscv64gc-unknown-linux-gnu` for the other two):
//!
//! ```sh
//! cargo build --release            # target/x86_64-unknown-linux-gnu/release/static-init
//! cargo build --release --target aarch64-unknown-linux-gnu
//! cargo build --release --target riscv64gc-unknown-linux-gnu
//! ```
//!
//! Each is a "statically linked" executable of its machine (`file`) of 6 to 9 KB (stripped by
//! the profile's `strip = true`). `static-init /bin/sh -c 'exit 7'` exits with 7, and
//! `unshare --fork --pid --mount-proc static-init /bin/sh` runs a shell as PID 2 under it, as a
//! container's init. Without the `rustflags` the link fails (`duplicate symbol: _start`: the C
//! start files' against clonekit's); without `relocation-model=static` the output is a static
//! PIE, which nothing relocates, and it dies of `SIGSEGV` before `main`. clonekit's own tests
//! build exactly these three files for the three arches and run the results (natively, and
//! under `qemu-aarch64-static` and `qemu-riscv64-static`).
//!
//! As a machine's init it goes into an initramfs as `/init`, beside a static program to run
//! (here `hello`), which the kernel command line names after `--`:
//!
//! ```sh
//! mkdir -p root && cp target/x86_64-unknown-linux-gnu/release/static-init root/init
//! cp hello root/
//! (cd root && find . | cpio -o -H newc) > initramfs.cpio
//! qemu-system-x86_64 -nographic -no-reboot -kernel vmlinuz -initrd initramfs.cpio \
//!     -append "console=ttyS0 -- /hello"
//! ```
//!
//! with any x86_64 kernel image as `vmlinuz` (Debian's `/boot/vmlinuz-*`, for instance): it
//! mounts `/proc`, `/sys`, `/dev` and `/tmp`, runs `/hello`, and powers the machine off when
//! `hello` ends.
//!
//! # Guarantees
//!
//! No safe function of clonekit can cause undefined behaviour, in a std program or in an
//! [`entry!`] program. What the types cannot check is checked at run time and refused with a
//! typed [`Error`]; an `unsafe` variant with a written contract is there for callers who know
//! more. The whole model is [`program`]'s:
//!
//! - **Threads and `CLONE_VM` children** run on clonekit's control block: sound in an
//!   [`entry!`] program, refused in a program with a libc ([`Error::LibcOwnsThreadPointer`]).
//! - **Fork-like children** (no `CLONE_VM`: [`process::fork`],
//!   [`ChildBuilder`](process::ChildBuilder), [`Container`](container::Container)) keep the caller's libc state, as after `fork(2)`, so
//!   std works in them, when the caller is alone in its address space
//!   ([`Error::MultiThreaded`] otherwise: another thread's locks would be copied held).
//! - **Memory and descriptor table go together**: `CLONE_FILES` without `CLONE_VM`
//!   ([`Error::FilesWithoutVm`]) and `CLONE_VM` without `CLONE_FILES` ([`Error::VmWithoutFiles`])
//!   are refused, so an owned descriptor always names the same file for every task that can
//!   reach it.
//! - **Descriptors** follow std's I/O-safety rules ([`fd`]): no safe function takes a raw
//!   descriptor number; numbers enter only through `unsafe` calls.
//! - **Stacks** are mapped with an inaccessible guard below them ([`stack`]); a stack without
//!   one can only be made in `unsafe` code.
//! - **Flags** are checked against the kernel's rules, in the kernel's order, before the system
//!   call ([`validate()`]): a refused combination is one named [`FlagError`] with the errno the
//!   kernel would give, and a flag newer than the running kernel is refused by name instead of
//!   being ignored.
//!
//! # Architectures and kernels
//!
//! - **Targets**: Linux on x86_64, aarch64 and riscv64 (`x86_64-unknown-linux-gnu`,
//!   `aarch64-unknown-linux-gnu`, `riscv64gc-unknown-linux-gnu`), in std programs and in static
//!   `no_main` ones; the build script refuses any other target with a message naming these.
//!   The crate builds with Rust 1.88 or later.
//! - **Kernels**: each flag needs the kernel that introduced it (the table below) and is
//!   refused by name on an older one ([`FlagError::NeedsKernel`]); `clone3` falls back to
//!   `clone` where the kernel lacks it ([`Child::via`](process::Child::via) says which ran). The
//!   test suite runs natively on the build machine's kernel and as PID 1 of QEMU guests on
//!   Debian's Linux 6.1 (x86_64, aarch64), 6.12 and 7.2 or 7.3 (all three), where the flags of
//!   Linux 7.1 run too.
//! - **Emulators**: under qemu-user, which turns `CLONE_VFORK` into a fork and refuses
//!   `CLONE_VM` without the thread flags and every `CLONE_NEW*`, clonekit finds out that it is
//!   emulated ([`program::emulated`]) and reports the emulator's refusals as they are.
//!
//! # Where things are
//!
//! | module | what it holds |
//! |---|---|
//! | [`thread`] | threads: [`thread::spawn`], [`thread::Builder`], [`thread::JoinHandle`] |
//! | [`process`] | process children: [`process::fork`], [`process::ChildBuilder`] (any valid flags), [`process::Child`] and the waits |
//! | [`exec`] | starting programs, vfork-style |
//! | [`pidfd`] | process file descriptors: signal, poll and reap a process by handle |
//! | [`namespace`], [`idmap`], [`mount`], [`container`] | `unshare` and `setns` with the rules checked first, uid and gid maps, mounts and `pivot_root`, [`Container`](container::Container) |
//! | [`init`] | PID 1: signal forwarding, reaping, one supervised main program, power-off |
//! | [`rt`], [`console`] | [`entry!`] for static `no_main` programs, `print!`-style macros over `write(2)` |
//! | [`flags`], [`validate`](mod@validate), [`kernel_version`], [`raw`], [`clone_args`] | the flags, the kernel's rules, the running kernel's version, the validated `clone`/`clone3` entry points |
//! | [`stack`], [`fd`], [`sys`], [`errno`], [`procfs`], [`program`] | stacks with guards, owned and borrowed descriptors, typed system calls, errno values, `/proc` reads, what the running program is |
//!
//! # The rules, checked first
//!
//! ```
//! use clonekit::{CloneFlags, ExitSignal, FlagError, KernelVersion, validate};
//! use clonekit::validate::Request;
//!
//! // CLONE_SIGHAND requires CLONE_VM (shared handlers need shared memory).
//! let request = Request::legacy(CloneFlags::SIGHAND, ExitSignal::SIGCHLD, KernelVersion::V6_9);
//! assert_eq!(validate(&request), Err(FlagError::SighandRequiresVm));
//! assert_eq!(FlagError::SighandRequiresVm.errno(), clonekit::Errno::EINVAL);
//!
//! // The flag set of NPTL's pthread_create() passes.
//! let request = Request::legacy(CloneFlags::NPTL_THREAD, ExitSignal::NONE, KernelVersion::V6_9);
//! assert_eq!(validate(&request), Ok(()));
//! ```
//!
//! # The flags
//!
//! Every flag of TLPI 28.2.1's table, and those added since:
//!
//! | Flag | Effect when set | Used by | [`CloneFlags`] |
//! |---|---|---|---|
//! | `CLONE_FILES` | Share the open file descriptor table | POSIX threads | [`FILES`](CloneFlags::FILES) |
//! | `CLONE_FS` | Share filesystem info (umask, cwd, root) | POSIX threads | [`FS`](CloneFlags::FS) |
//! | `CLONE_SIGHAND` | Share the signal disposition table | POSIX threads | [`SIGHAND`](CloneFlags::SIGHAND) |
//! | `CLONE_VM` | Share virtual memory (same page tables) | POSIX threads, `vfork()` | [`VM`](CloneFlags::VM) |
//! | `CLONE_THREAD` | Place the child in the parent's thread group (share PID) | NPTL | [`THREAD`](CloneFlags::THREAD) |
//! | `CLONE_SYSVSEM` | Share System V semaphore undo values | NPTL | [`SYSVSEM`](CloneFlags::SYSVSEM) |
//! | `CLONE_SETTLS` | Set up thread-local storage from the `tls` argument | NPTL | [`SETTLS`](CloneFlags::SETTLS) |
//! | `CLONE_PARENT_SETTID` | Write the child's TID to `ptid` before returning | NPTL | [`PARENT_SETTID`](CloneFlags::PARENT_SETTID) |
//! | `CLONE_CHILD_SETTID` | Write the child's TID to `ctid` in the child's memory | 2.6+ | [`CHILD_SETTID`](CloneFlags::CHILD_SETTID) |
//! | `CLONE_CHILD_CLEARTID` | Zero `ctid` on exit and wake its futex (`pthread_join`) | NPTL | [`CHILD_CLEARTID`](CloneFlags::CHILD_CLEARTID) |
//! | `CLONE_NEWNS` | New mount namespace (a copy of the parent's) | Containers | [`NEWNS`](CloneFlags::NEWNS) |
//! | `CLONE_NEWIPC` | New System V IPC namespace | Containers | [`NEWIPC`](CloneFlags::NEWIPC) |
//! | `CLONE_NEWNET` | New network namespace | Containers | [`NEWNET`](CloneFlags::NEWNET) |
//! | `CLONE_NEWPID` | New PID namespace (the child is its PID 1) | Containers | [`NEWPID`](CloneFlags::NEWPID) |
//! | `CLONE_NEWUSER` | New user and group ID namespace | Containers | [`NEWUSER`](CloneFlags::NEWUSER) |
//! | `CLONE_NEWUTS` | New UTS namespace (hostname, domain name) | Containers | [`NEWUTS`](CloneFlags::NEWUTS) |
//! | `CLONE_PARENT` | The child's parent is the caller's parent (same PPID) | 2.4+ | [`PARENT`](CloneFlags::PARENT) |
//! | `CLONE_VFORK` | Suspend the parent until the child execs or exits | `vfork()` | [`VFORK`](CloneFlags::VFORK) |
//! | `CLONE_PTRACE` | Trace the child if the parent is traced | Debuggers | [`PTRACE`](CloneFlags::PTRACE) |
//! | `CLONE_UNTRACED` | A tracer cannot force `CLONE_PTRACE` on the child | Kernel threads | [`UNTRACED`](CloneFlags::UNTRACED) |
//! | `CLONE_IO` | Share the I/O context | 2.6.25+ | [`IO`](CloneFlags::IO) |
//! | `CLONE_PIDFD` | Return a pidfd for the child | 5.2+ | [`PIDFD`](CloneFlags::PIDFD) |
//! | `CLONE_NEWCGROUP` | New cgroup namespace | 4.6+ | [`NEWCGROUP`](CloneFlags::NEWCGROUP) |
//! | `CLONE_NEWTIME` | New time namespace (`clone3`/`unshare` only) | 5.6+ | [`NEWTIME`](CloneFlags::NEWTIME) |
//! | `CLONE_CLEAR_SIGHAND` | Reset handled signals to default in the child (`clone3`) | 5.5+ | [`CLEAR_SIGHAND`](CloneFlags::CLEAR_SIGHAND) |
//! | `CLONE_INTO_CGROUP` | Start the child in a given cgroup2 directory (`clone3`) | 5.7+ | [`INTO_CGROUP`](CloneFlags::INTO_CGROUP) |
//! | `CLONE_DETACHED` | Ignored by `clone`; refused by `clone3` and with `CLONE_PIDFD` | — | [`DETACHED`](CloneFlags::DETACHED) |
//! | `CLONE_AUTOREAP` | The kernel reaps the child when it exits: no zombie, no exit signal (`clone3`) | 7.1+ | [`AUTOREAP`](CloneFlags::AUTOREAP) |
//! | `CLONE_NNP` | The child starts with `no_new_privs` set (`clone3`) | 7.1+ | [`NNP`](CloneFlags::NNP) |
//! | `CLONE_PIDFD_AUTOKILL` | `SIGKILL` for the child when its pidfd is closed for the last time (`clone3`) | 7.1+ | [`PIDFD_AUTOKILL`](CloneFlags::PIDFD_AUTOKILL) |
//! | `CLONE_EMPTY_MNTNS` | A new mount namespace holding only an empty root (`clone3`) | 7.1+ | [`EMPTY_MNTNS`](CloneFlags::EMPTY_MNTNS) |
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

// The `std` feature: conversions between clonekit's descriptor types and std's (`fd`).
#[cfg(feature = "std")]
extern crate std;

// The source is laid out in rooms by kernel concept (`arch/`, `sys/`, `task/`, `ns/`; see
// docs/architecture.md); the public paths stay one level deep (`clonekit::thread`,
// `clonekit::container`), re-exported from their rooms below.

// Without unsafe code, which the compiler holds them to (`deny(unsafe_code)` above).
/// The calling process as the kernel's rules see it (its public items are in `namespace`).
mod caller;
pub mod clone_args;
pub mod errno;
pub mod error;
pub mod flags;
pub mod kernel_version;
pub mod validate;

// Where unsafe code must live: system calls and the machine, memory the kernel writes,
// stacks, thread pointers and descriptors by number. Each `unsafe` block says why it holds
// (`// SAFETY:`, checked by clippy), each `unsafe fn` what its caller must hold (`# Safety`).
#[allow(unsafe_code)]
mod arch;
#[allow(unsafe_code)]
pub mod console;
mod emulator;
#[allow(unsafe_code)]
pub mod init;
#[allow(unsafe_code)]
pub mod procfs;
#[allow(unsafe_code)]
pub mod program;
#[allow(unsafe_code)]
pub mod rt;
#[allow(unsafe_code)]
pub mod sys;
/// Descriptors as owned and borrowed values (I/O safety); they live in `sys` beside `close`.
pub use sys::fd;

/// Tasks: stacks, the raw clone entry points, threads, process children, pidfds, exec.
mod task;
pub use task::{exec, pidfd, process, raw, stack, thread};

/// Namespaces: unshare/setns, id maps, mounts, containers.
mod ns;
pub use ns::{container, idmap, mount, namespace};

pub use clone_args::CloneArgs;
pub use errno::Errno;

/// clonekit's one `Result`: [`Error`] for what spawns and checks (a refused rule, a stack,
/// the kernel), [`Errno`] spelled out where a system call is all there is
/// (`Result<T, Errno>`).
pub type Result<T, E = Error> = core::result::Result<T, E>;
pub use error::Error;
pub use fd::OwnedFd;
pub use flags::{CloneFlags, ExitSignal};
pub use kernel_version::KernelVersion;
pub use stack::Stack;
pub use validate::{FlagError, validate};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
