//! Program start for a static `#![no_std] #![no_main]` binary: `_start` glue, arguments,
//! and a main-thread control block so [`thread::current`](crate::thread::current) works.
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! clonekit::entry!(main);
//! fn main(args: &clonekit::rt::Args) -> i32 { 0 }
//! ```

use core::ffi::{CStr, c_char};

use crate::arch;
use crate::thread::Tcb;

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
    let tid = crate::sys::process::gettid() as u32;
    // SAFETY: single-threaded start: nothing else refers to MAIN_TCB yet; it is static, so
    // it outlives the main thread.
    unsafe {
        let tcb = (&raw mut MAIN_TCB).cast::<Tcb>();
        Tcb::init(tcb, tid, core::ptr::null_mut());
        arch::set_thread_pointer(Tcb::thread_pointer_for(tcb) as *mut u8);
    }
    arch::note_thread_pointer_set();
    let code = main(&args);
    crate::sys::process::exit_group(code)
}

/// Defines the `_start` of a static `no_main` binary that runs `$main(&Args) -> i32` and
/// exits with its return value.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::__clonekit_start!($main);
    };
}
