//! Program start for a static `#![no_std]` `#![no_main]` binary: `_start` glue, arguments,
//! and a main-thread control block so [`thread::current`](crate::thread::current) works.
//!
//! [`entry!`](crate::entry) defines the program's `_start`: it gives the main thread its
//! control block, opens `/dev/null` on any of descriptors 0-2 the kernel left closed, calls
//! your `main` with the command line and environment ([`Args`]) and exits with what it
//! returns. Such a program has no libc, so clonekit's threads and `CLONE_VM` children are sound
//! in it with any closure (see [`program`](crate::program)), and it supplies the few C symbols
//! the compiler's output needs without one. The program brings its own panic handler:
//!
//! ```no_run
//! #![no_std]
//! #![no_main]
//! # extern crate std; // a doc test is built with std's unwinding panics; a program is not
//! # macro_rules! as_a_doc_test {
//! #     (#[panic_handler] $handler:item) => { #[allow(dead_code)] $handler };
//! # }
//!
//! clonekit::entry!(main);
//!
//! fn main(args: &clonekit::rt::Args) -> i32 {
//!     clonekit::println!("{} arguments", args.len());
//!     for variable in args.env() {
//!         clonekit::println!("{}", variable.to_str().unwrap_or("(not UTF-8)"));
//!     }
//!     // A thread, sound here: no libc owns the thread pointer.
//!     let Ok(handle) = clonekit::thread::spawn(|| 6 * 7) else { return 1 };
//!     if handle.join() == Ok(42) { 0 } else { 1 }
//! }
//!
//! # as_a_doc_test! {
//! #[panic_handler]
//! fn panic(_: &core::panic::PanicInfo) -> ! {
//!     clonekit::sys::process::exit_group(101)
//! }
//! # }
//! ```
//!
//! This example is compiled by `cargo test` (a doc test cannot be linked into a static
//! program, so it is not run here); the crate docs' [static PID 1](crate#a-static-pid-1) is the
//! same kind of program with the exact build recipe (a `.cargo/config.toml` and
//! `panic = "abort"`), which clonekit's tests build and run on all three arches.

use core::ffi::{CStr, c_char};

use crate::arch;
use crate::task::start::Tcb;

/// The process's arguments and environment, as the kernel laid them on the initial stack.
#[derive(Debug, Clone, Copy)]
pub struct Args {
    argc: usize,
    argv: *const *const c_char,
    envp: *const *const c_char,
}

impl Args {
    /// The number of arguments.
    pub fn len(&self) -> usize {
        self.argc
    }

    /// Whether there are no arguments at all (not even a program name).
    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// Argument `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&'static CStr> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: the kernel put `argc` valid, NUL-terminated strings at argv.
        Some(unsafe { CStr::from_ptr(*self.argv.add(i)) })
    }

    /// The environment strings (`KEY=value`).
    pub fn env(&self) -> impl Iterator<Item = &'static CStr> {
        let mut p = self.envp;
        core::iter::from_fn(move || {
            // SAFETY: envp is a NULL-terminated array of valid strings from the kernel.
            let s = unsafe { *p };
            if s.is_null() {
                return None;
            }
            // SAFETY: as above; we stop at the NULL.
            unsafe { p = p.add(1) };
            // SAFETY: a valid, NUL-terminated string.
            Some(unsafe { CStr::from_ptr(s) })
        })
    }

    /// The raw `argv` array (NULL-terminated), for `execve`.
    pub fn argv_ptr(&self) -> *const *const c_char {
        self.argv
    }

    /// The raw `envp` array (NULL-terminated), for `execve`.
    pub fn envp_ptr(&self) -> *const *const c_char {
        self.envp
    }
}

/// The kernel's `envp` array of an `entry!` program, set once by [`start`] before `main`.
static ENVP: core::sync::atomic::AtomicPtr<*const c_char> =
    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

/// The process's environment now, as the NULL-terminated array `execve` takes (null: none):
/// in an `entry!` program the kernel's, which nothing changes; in a program with a libc
/// what the libc's `environ` holds (`setenv` and std's `set_var` included).
///
/// A libc's array may be changed by `setenv` in another thread while it is read; std makes
/// that the `set_var` caller's to rule out (its `unsafe` contract: no other thread reads
/// the environment meanwhile), as it is for glibc's own `getenv`.
pub(crate) fn environ() -> *const *const c_char {
    if crate::program::started_by_entry() {
        return ENVP.load(core::sync::atomic::Ordering::Relaxed);
    }
    let slot = crate::arch::libc_environ();
    if slot.is_null() {
        return core::ptr::null();
    }
    // SAFETY: the libc's `environ` variable, a pointer; read as the libc's getenv does.
    unsafe { slot.read_volatile() }
}

/// The main thread's control block (threads get theirs on their stacks).
static mut MAIN_TCB: core::mem::MaybeUninit<Tcb> = core::mem::MaybeUninit::uninit();

/// Called by `_start` with the initial stack pointer; runs `main` and exits the process with
/// its return value.
///
/// # Safety
/// Only `_start` calls this, once, with the kernel's initial stack.
#[doc(hidden)]
// A Rust fn pointer travels through `_start` as a plain code address.
#[allow(improper_ctypes_definitions)]
pub unsafe extern "C" fn start(sp: *const usize, main: fn(&Args) -> i32) -> ! {
    // SAFETY: the kernel's initial stack: argc, then argc argv pointers and a NULL, then
    // the environment pointers and a NULL.
    let args = unsafe {
        let argc = *sp;
        let argv = sp.add(1).cast::<*const c_char>();
        Args {
            argc,
            argv,
            envp: argv.add(argc + 1),
        }
    };
    ENVP.store(args.envp.cast_mut(), core::sync::atomic::Ordering::Relaxed);
    let tid = crate::sys::process::gettid() as u32;
    // SAFETY: single-threaded start: nothing else refers to MAIN_TCB yet; it is static, so
    // it outlives the main thread.
    unsafe {
        let tcb = (&raw mut MAIN_TCB).cast::<Tcb>();
        Tcb::init(tcb, tid, core::ptr::null_mut());
        arch::set_thread_pointer(Tcb::thread_pointer_for(tcb) as *mut u8);
    }
    arch::note_thread_pointer_set();
    crate::program::note_started_by_entry();
    open_standard_streams();
    let code = main(&args);
    crate::sys::process::exit_group(code)
}

/// Makes sure descriptors 0, 1 and 2 are open, as std does at start: the print macros and
/// [`StdStream`](crate::console::StdStream) take them to be the standard streams for the
/// program's whole life, and a closed one would be handed to the next `open` (the kernel
/// starts an init with none when its initramfs has no `/dev/console`), whose file would then
/// receive what the program prints. A closed one gets `/dev/null`, or, where there is no
/// `/dev` yet, an `O_PATH` descriptor of `/` (reads and writes on it give `EBADF`).
fn open_standard_streams() {
    use crate::sys::fs::{self, CWD, OFlags};
    for fd in 0..=2 {
        if fs::fd_is_open(fd) != Ok(false) {
            continue;
        }
        // The lowest free number is `fd` (those below it are open by now): the new
        // descriptor takes its place, and is left open for the program's whole life.
        let opened = fs::openat(CWD, c"/dev/null", OFlags::RDWR, 0)
            .or_else(|_| fs::openat(CWD, c"/", OFlags::PATH | OFlags::RDONLY, 0));
        if let Ok(owned) = opened {
            let _ = owned.into_raw();
        }
    }
}

/// Defines the `_start` of a static `no_main` binary that runs `$main(&Args) -> i32` and
/// exits with its return value, and the few C symbols such a binary needs without a libc
/// (`memcpy`, `memmove`, `memset`, `memcmp`, `bcmp`, `strlen`, on aarch64 `getauxval`, and
/// `rust_eh_personality`, never called since the program aborts on panic). An example and
/// the build recipe: the [`rt`](crate::rt) module and the crate docs'
/// [static PID 1](crate#a-static-pid-1).
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::__clonekit_start!($main, $crate::rt::start);
        $crate::__clonekit_libc_shims!();
    };
}

/// What a static `no_std` binary on a `*-linux-gnu` target needs from a libc it does not
/// have: `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp` and `strlen` (rustc emits calls to
/// them for copies and zeroing, and `compiler_builtins` leaves them to the libc there), on
/// aarch64 `getauxval` (asked by the outline atomics), and `rust_eh_personality` (referenced
/// by the prebuilt, unwinding `core`; never called, since such a binary aborts on panic).
/// [`entry!`](crate::entry) expands it; it must not be used in a program that has a libc.
///
/// The loops use volatile accesses so that LLVM cannot turn them into calls to the very
/// functions they implement; simple beats fast for the little an init copies.
#[doc(hidden)]
#[macro_export]
macro_rules! __clonekit_libc_shims {
    () => {
        /// # Safety
        /// `dest` and `src` are valid for `n` bytes and do not overlap.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
            for i in 0..n {
                // SAFETY: both ranges are valid for `n` bytes (the caller's contract).
                unsafe { dest.add(i).write_volatile(src.add(i).read_volatile()) };
            }
            dest
        }

        /// # Safety
        /// `dest` and `src` are valid for `n` bytes; they may overlap.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
            if (dest as usize) <= (src as usize) {
                for i in 0..n {
                    // SAFETY: as in memcpy; copying forwards is safe when dest is below src.
                    unsafe { dest.add(i).write_volatile(src.add(i).read_volatile()) };
                }
            } else {
                for i in (0..n).rev() {
                    // SAFETY: as in memcpy; copying backwards is safe when dest is above src.
                    unsafe { dest.add(i).write_volatile(src.add(i).read_volatile()) };
                }
            }
            dest
        }

        /// # Safety
        /// `dest` is valid for `n` bytes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
            for i in 0..n {
                // SAFETY: `dest` is valid for `n` bytes (the caller's contract).
                unsafe { dest.add(i).write_volatile(c as u8) };
            }
            dest
        }

        /// # Safety
        /// `a` and `b` are valid for `n` bytes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            for i in 0..n {
                // SAFETY: both are valid for `n` bytes (the caller's contract).
                let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
                if x != y {
                    return i32::from(x) - i32::from(y);
                }
            }
            0
        }

        /// # Safety
        /// `a` and `b` are valid for `n` bytes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            // SAFETY: the same contract as memcmp.
            unsafe { memcmp(a, b, n) }
        }

        /// # Safety
        /// `s` points at a NUL-terminated string.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
            let mut n = 0;
            // SAFETY: the string is NUL-terminated, so every byte up to the NUL is readable.
            while unsafe { s.add(n).read_volatile() } != 0 {
                n += 1;
            }
            n
        }

        /// `getauxval(type)`: `compiler_builtins`' aarch64 outline atomics ask it for `AT_HWCAP` to
        /// choose LSE instructions, from a constructor that a libc-less binary never runs anyway.
        /// Answering 0 keeps the load/store-exclusive fallback, correct on every aarch64 CPU.
        #[cfg(target_arch = "aarch64")]
        #[unsafe(no_mangle)]
        pub extern "C" fn getauxval(_type: core::ffi::c_ulong) -> core::ffi::c_ulong {
            0
        }

        /// Never called: the binary aborts on panic. The prebuilt `core` references it.
        #[unsafe(no_mangle)]
        extern "C" fn rust_eh_personality() {}
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fs::{self, CWD, fd_is_open};
    use crate::sys::testutil::{raw_fork, wait_exit_code};

    /// With standard output closed, the start-up fills the hole with `/dev/null` before the
    /// program opens anything: the next file opened does not become "standard output".
    #[test]
    fn a_closed_standard_stream_is_filled_before_main() {
        let pid = raw_fork();
        if pid == 0 {
            // A child of its own (its own descriptor table): close its standard output.
            // SAFETY: the child owns its copy of descriptor 1 and never uses it again.
            let _ = unsafe { crate::sys::fs::close(crate::fd::OwnedFd::from_raw(1)) };
            let code = if fd_is_open(1) != Ok(false) {
                1
            } else {
                open_standard_streams();
                let mut buf = [0u8; 64];
                let link = fs::readlinkat(CWD, c"/proc/self/fd/1", &mut buf);
                match (fd_is_open(1) == Ok(true), link) {
                    (true, Ok(target)) if target == b"/dev/null" => {
                        // The next open gets a number above the standard ones.
                        match fs::openat(CWD, c"/proc/self/stat", fs::OFlags::RDONLY, 0) {
                            Ok(fd) if fd.as_raw() > 2 => 0,
                            _ => 4,
                        }
                    }
                    (true, _) => 3,
                    (false, _) => 2,
                }
            };
            crate::sys::process::exit_group(code);
        }
        assert_eq!(wait_exit_code(pid), 0);
    }
}
