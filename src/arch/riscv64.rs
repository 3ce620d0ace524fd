//! riscv64: the `clone`/`clone3` trampolines, the thread pointer (`tp`), the signal
//! restorer and the `_start` glue of a static binary.
//!
//! Syscall ABI: number in `a7`; arguments in `a0..a5`; result in `a0`. `ecall` also makes
//! the vector registers unspecified (Documentation/arch/riscv/vector.rst), so they are
//! declared clobbered. `clone` takes `(flags, stack, ptid, tls, ctid)`.

use core::arch::asm;
use core::ffi::c_void;

use linux_raw_sys::general::{__NR_clone, __NR_clone3, clone_args};

use super::ChildFn;

/// The alignment the ABI requires of the stack pointer.
pub(crate) const STACK_ALIGNMENT: usize = 16;

/// The inaccessible region below a mapped stack. rustc's riscv64 code does not probe the
/// stack: a function moves the stack pointer down by its whole frame at once, so a frame
/// larger than the guard lands below it and writes whatever is mapped there (an 88 KiB
/// local on a 16 KiB stack was seen to do so with a 64 KiB guard). 1 MiB of address space
/// (no memory: it is never accessible) bounds that: any frame up to 1 MiB faults in the
/// guard.
pub(crate) const STACK_GUARD_SIZE: usize = 1024 * 1024;

/// Where, relative to the thread pointer, every Linux TCB layout has a readable word (glibc
/// and musl keep a TCB just below `tp`); clonekit's control block keeps its tag there.
pub(crate) const TCB_TAG_OFFSET: isize = -8;

/// How far past the start of clonekit's TCB `tp` points, so that its tag sits at
/// `tp + TCB_TAG_OFFSET` as in the libcs' layout.
const TP_BIAS: usize = 16;

/// The child's side of both trampolines, entered with a0 = 0, the function in a5 and its
/// argument in a6 (registers `ecall` preserves).
macro_rules! enter_child {
    () => {
        concat!(
            "mv s0, zero\n",      // Zero the frame pointer so unwinders stop here.
            "mv ra, zero\n",      // Zero the return address: nothing to return to.
            "andi sp, sp, -16\n", // Align the stack (a fork-like child inherits any sp).
            "mv a0, a5\n",        // First argument of the entry: the function.
            "mv a1, a6\n",        // Second argument: its argument.
            "tail {entry}",       // Run the function; the entry ends with exit(2).
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
            "ecall",                // clone(flags, stack_top, ptid, tls, ctid) -> tid in a0.
            "bnez a0, 2f",          // Non-zero (tid or -errno): the parent leaves the asm.
            enter_child!(),         // Child: start the function on the new stack.
            "2:",                   // Parent continues here.
            entry = sym super::child_entry,
            in("a7") __NR_clone as usize,
            inlateout("a0") flags => ret,
            in("a1") stack_top,
            in("a2") ptid,
            in("a3") tls,
            in("a4") ctid,
            in("a5") func,
            in("a6") arg,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _,
            out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _,
            out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _, out("v29") _, out("v30") _, out("v31") _,
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
    // SAFETY: as in `clone`; func and arg ride in a5/a6, which `ecall` preserves, because
    // the kernel gives the child a new stack pointer and nothing else.
    unsafe {
        asm!(
            "ecall",                // clone3(args, size) -> tid in a0.
            "bnez a0, 2f",          // Non-zero (tid or -errno): the parent leaves the asm.
            enter_child!(),         // Child: start the function on the new stack.
            "2:",                   // Parent continues here.
            entry = sym super::child_entry,
            in("a7") __NR_clone3 as usize,
            inlateout("a0") args => ret,
            in("a1") size,
            in("a5") func,
            in("a6") arg,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _,
            out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _,
            out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _, out("v29") _, out("v30") _, out("v31") _,
        );
    }
    ret
}

/// The thread pointer, `tp`.
#[inline]
pub(crate) fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: copying `tp` has no side effects.
    unsafe {
        asm!(
            "mv {}, tp",            // Read the thread pointer register.
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

/// Sets the thread pointer, `tp`.
///
/// # Safety
/// `tp` must be [`tls_value`] of a TCB that outlives the thread; in a program with a libc
/// this breaks the libc's thread-local storage.
pub(crate) unsafe fn set_thread_pointer(tp: *mut u8) {
    // SAFETY: `tp` is reserved for the thread pointer; the caller guarantees the TCB. Not
    // `nomem` (as on aarch64): thread-local accesses after this go through the new TCB, so
    // the compiler must not move memory accesses across it.
    unsafe {
        asm!(
            "mv tp, {}",            // Write the thread pointer register.
            in(reg) tp,
            options(nostack, preserves_flags),
        );
    }
}

/// The thread-pointer value to pass with `CLONE_SETTLS` for a TCB at `tcb`.
pub(crate) fn tls_value(tcb: *mut u8) -> usize {
    tcb as usize + TP_BIAS
}

/// No `sa_restorer`: the kernel returns from a signal handler through the vdso's
/// `rt_sigreturn` trampoline (riscv has no `SA_RESTORER`).
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
            "2: auipc {addr}, %got_pcrel_hi(environ)",
            "ld {addr}, %pcrel_lo(2b)({addr})",
            addr = out(reg) addr,
            options(nostack, preserves_flags, readonly, pure),
        );
    }
    addr as *const *const *const core::ffi::c_char
}

/// The program entry of a static binary: hands the initial stack pointer (argc, argv, envp)
/// to `start` in Rust, with the frame pointer and return address zeroed.
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
                "mv s0, zero",          // Outermost frame: zero frame pointer.
                "mv ra, zero",          // And zero return address.
                "mv a0, sp",            // First argument: the initial stack (argc at sp).
                "lla a1, {main}",       // Second argument: the program's main.
                "andi sp, sp, -16",     // Align the stack for the call.
                "tail {start}",         // Into Rust; never returns.
                main = sym $main,
                start = sym $start,
            )
        }
    };
}
