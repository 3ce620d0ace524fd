//! aarch64: the `clone`/`clone3` trampolines, the thread pointer (`TPIDR_EL0`), the signal
//! restorer and the `_start` glue of a static binary.
//!
//! Syscall ABI: number in `x8`; arguments in `x0..x5`; result in `x0`, the only register
//! `svc 0` changes. `clone` takes `(flags, stack, ptid, tls, ctid)`.

use core::arch::asm;
use core::ffi::c_void;

use linux_raw_sys::general::{__NR_clone, __NR_clone3, clone_args};

use super::ChildFn;

/// The alignment the ABI requires of the stack pointer (the hardware checks it).
pub(crate) const STACK_ALIGNMENT: usize = 16;

/// The inaccessible region below a mapped stack. rustc's aarch64 code probes every page of
/// a large frame on the way down, so any overflow faults in the guard; 64 KiB is the largest
/// page size an aarch64 kernel uses, so the guard is at least one page everywhere.
pub(crate) const STACK_GUARD_SIZE: usize = 64 * 1024;

/// Where, relative to the thread pointer, every Linux TCB layout has a readable word (glibc
/// and musl put a two-word TCB at `TPIDR_EL0`); clonekit's control block keeps its tag there.
pub(crate) const TCB_TAG_OFFSET: isize = 8;

/// The child's side of both trampolines, entered with x0 = 0, the function in x5 and its
/// argument in x6 (registers `svc` preserves).
macro_rules! enter_child {
    () => {
        concat!(
            "mov x29, xzr\n",     // Zero the frame pointer so unwinders stop here.
            "mov x30, xzr\n",     // Zero the link register: nothing to return to.
            "mov x9, sp\n",       // Copy sp to align it (sp cannot be an AND operand).
            "and x9, x9, #-16\n", // Round down to 16 bytes.
            "mov sp, x9\n",       // The aligned stack.
            "mov x0, x5\n",       // First argument of the entry: the function.
            "mov x1, x6\n",       // Second argument: its argument.
            "b {entry}",          // Run the function; the entry ends with exit(2).
        )
    };
}

/// Legacy `clone`, with the child running `func(arg)` on `stack_top` and exiting with
/// its return value.
///
/// # Safety
/// See [`super::clone`].
#[inline(never)]
pub(crate) unsafe fn clone(
    flags: usize,
    stack_top: *mut u8,
    ptid: *mut i32,
    ctid: *mut i32,
    tls: usize,
    func: ChildFn,
    arg: *mut c_void,
) -> usize {
    let ret: usize;
    // SAFETY: the caller upholds `super::clone`'s contract; the parent path only reads the
    // syscall's result, the child path never returns into this function.
    unsafe {
        asm!(
            "svc 0",                // clone(flags, stack_top, ptid, tls, ctid) -> tid in x0.
            "cbnz x0, 2f",          // Non-zero (tid or -errno): the parent leaves the asm.
            enter_child!(),         // Child: start the function on the new stack.
            "2:",                   // Parent continues here.
            entry = sym super::child_entry,
            in("x8") __NR_clone as usize,
            inlateout("x0") flags => ret,
            in("x1") stack_top,
            in("x2") ptid,
            in("x3") tls,
            in("x4") ctid,
            in("x5") func,
            in("x6") arg,
            lateout("x9") _,
        );
    }
    ret
}

/// `clone3`, with the child running `func(arg)` on the stack the kernel set up.
///
/// # Safety
/// As [`clone`]; `args` must point to `size` readable bytes.
#[inline(never)]
pub(crate) unsafe fn clone3(
    args: *mut clone_args,
    size: usize,
    func: ChildFn,
    arg: *mut c_void,
) -> usize {
    let ret: usize;
    // SAFETY: as in `clone`; func and arg ride in x5/x6, which `svc` preserves, because
    // the kernel gives the child a new stack pointer and nothing else.
    unsafe {
        asm!(
            "svc 0",                // clone3(args, size) -> tid in x0.
            "cbnz x0, 2f",          // Non-zero (tid or -errno): the parent leaves the asm.
            enter_child!(),         // Child: start the function on the new stack.
            "2:",                   // Parent continues here.
            entry = sym super::child_entry,
            in("x8") __NR_clone3 as usize,
            inlateout("x0") args => ret,
            in("x1") size,
            in("x5") func,
            in("x6") arg,
            lateout("x9") _,
        );
    }
    ret
}

/// The thread pointer, `TPIDR_EL0`.
#[inline]
pub(crate) fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reading TPIDR_EL0 has no side effects.
    unsafe {
        asm!(
            "mrs {}, tpidr_el0",    // Read the thread pointer register.
            out(reg) tp,
            options(nostack, preserves_flags, nomem),
        );
    }
    tp
}

/// Whether this thread has a thread pointer at all (a register read, no syscall).
pub(crate) fn has_thread_pointer() -> bool {
    thread_pointer() != 0
}

/// The calling thread's thread-pointer register (0 when none is set): the register itself.
pub(crate) fn thread_pointer_register() -> usize {
    thread_pointer()
}

/// Records that this process's threads now have a thread pointer (nothing to remember here:
/// the register itself tells).
pub(crate) fn note_thread_pointer_set() {}

/// Sets the thread pointer, `TPIDR_EL0`.
///
/// # Safety
/// `tp` must point to a TCB that outlives the thread; in a program with a libc this
/// breaks the libc's thread-local storage.
pub(crate) unsafe fn set_thread_pointer(tp: *mut u8) {
    // SAFETY: writing TPIDR_EL0 only affects this thread; the caller guarantees the TCB.
    unsafe {
        asm!(
            "msr tpidr_el0, {}",    // Write the thread pointer register.
            in(reg) tp,
            options(nostack, preserves_flags),
        );
    }
}

/// The thread-pointer value to pass with `CLONE_SETTLS` for a TCB at `tcb`.
pub(crate) fn tls_value(tcb: *mut u8) -> usize {
    tcb as usize
}

/// No `sa_restorer`: without `SA_RESTORER` the kernel returns from a signal handler
/// through the vdso's `rt_sigreturn` trampoline.
pub(crate) const SIGNAL_RESTORER: Option<unsafe extern "C" fn()> = None;

/// The address of the libc's `environ` variable (`char **environ`, what `getenv`, `setenv`
/// and std's `std::env` read and write), or null where no libc is linked (a static
/// `entry!` program).
///
/// A weak reference, through the GOT: the program links whether or not a libc defines the
/// symbol (glibc and musl both do), and an undefined weak symbol resolves to 0. So a
/// `no_std` library can find the environment a libc program holds now, `setenv` included,
/// without depending on that libc.
pub(crate) fn libc_environ() -> *const *const *const core::ffi::c_char {
    let addr: usize;
    // SAFETY: loads one GOT entry (the linker's, for a symbol declared weak here); no
    // memory of the program is read or written, no register but the output changes.
    unsafe {
        core::arch::asm!(
            ".weak environ",
            "adrp {addr}, :got:environ",
            "ldr {addr}, [{addr}, :got_lo12:environ]",
            addr = out(reg) addr,
            options(nostack, preserves_flags, readonly, pure),
        );
    }
    addr as *const *const *const core::ffi::c_char
}

/// The program entry of a static binary: hands the initial stack pointer (argc, argv, envp)
/// to `start` in Rust, with the frame pointer and link register zeroed.
#[doc(hidden)]
#[macro_export]
macro_rules! __clonekit_start {
    ($main:path, $start:path) => {
        /// The ELF entry point.
        ///
        /// # Safety
        /// Only the kernel calls this, with the initial process stack.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn _start() -> ! {
            ::core::arch::naked_asm!(
                "mov x29, xzr",         // Outermost frame: zero frame pointer.
                "mov x30, xzr",         // And zero link register.
                "mov x0, sp",           // First argument: the initial stack (argc at sp).
                "adrp x1, {main}",      // Second argument: the program's main (page)...
                "add x1, x1, :lo12:{main}", // ...and offset.
                "b {start}",            // Into Rust (sp is 16-aligned at entry); never returns.
                main = sym $main,
                start = sym $start,
            )
        }
    };
}
