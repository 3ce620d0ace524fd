//! x86_64: the `clone`/`clone3` trampolines, the thread pointer (FS base), the signal
//! restorer and the `_start` glue of a static binary.
//!
//! Syscall ABI: number in `rax`; arguments in `rdi rsi rdx r10 r8 r9`; result in `rax`;
//! `syscall` itself clobbers `rcx` (return address) and `r11` (saved flags). Note that
//! `clone` takes `ctid` before `tls` here, the reverse of every other arch.

use core::arch::{asm, naked_asm};
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use linux_raw_sys::general::{__NR_clone, __NR_clone3, __NR_rt_sigreturn, clone_args};

use super::ChildFn;

/// The alignment the ABI requires of the stack pointer at a call.
pub(crate) const STACK_ALIGNMENT: usize = 16;

/// The inaccessible region below a mapped stack. rustc's x86_64 code touches every page of
/// a large frame on the way down (inline stack probes), so one page of guard would catch any
/// overflow; 64 KiB keeps one size on the arches that probe.
pub(crate) const STACK_GUARD_SIZE: usize = 64 * 1024;

/// Where, relative to the thread pointer, every Linux TCB layout has a readable word
/// (glibc and musl keep the TCB's self pointer at `fs:0` and more fields after it); clonekit's
/// control block keeps its tag there.
pub(crate) const TCB_TAG_OFFSET: isize = 8;

/// The child's side of both trampolines, entered with rax = 0, the function in r9 and its
/// argument in r12 (registers `syscall` preserves).
macro_rules! enter_child {
    () => {
        concat!(
            "xor ebp, ebp\n", // Zero the frame pointer so unwinders stop here.
            "and rsp, -16\n", // Align the stack (a fork-like child inherits any rsp).
            "mov rdi, r9\n",  // First argument of the entry: the function.
            "mov rsi, r12\n", // Second argument: its argument.
            "push rax\n",     // A zero return address: nothing to return to.
            "jmp {entry}",    // Run the function; the entry ends with exit(2).
        )
    };
}

/// Legacy `clone`, with the child running `func(arg)` on `stack_top` and exiting with
/// its return value.
///
/// # Safety
/// See [`super::clone`]: the caller guarantees the stack, pointers and flags form a child
/// that can run `func` without touching memory the parent still uses.
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
            "syscall",              // clone(flags, stack_top, ptid, ctid, tls) -> tid in rax.
            "test rax, rax",        // Zero in the child; a tid or -errno in the parent.
            "jnz 2f",               // The parent leaves the asm with the result.
            enter_child!(),         // Child: start the function on the new stack.
            "2:",                   // Parent continues here.
            entry = sym super::child_entry,
            inlateout("rax") __NR_clone as usize => ret,
            in("rdi") flags,
            in("rsi") stack_top,
            in("rdx") ptid,
            in("r10") ctid,
            in("r8") tls,
            in("r9") func,
            in("r12") arg,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// `clone3`, with the child running `func(arg)` on the stack the kernel set up from
/// `args.stack`/`args.stack_size` (or the parent's, copied, when none is given).
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
    // SAFETY: as in `clone`; func and arg ride in r9/r12, which `syscall` preserves,
    // because the kernel gives the child a new stack pointer and nothing else.
    unsafe {
        asm!(
            "syscall",              // clone3(args, size) -> tid in rax.
            "test rax, rax",        // Zero in the child; a tid or -errno in the parent.
            "jnz 2f",               // The parent leaves the asm with the result.
            enter_child!(),         // Child: start the function on the new stack.
            "2:",                   // Parent continues here.
            entry = sym super::child_entry,
            inlateout("rax") __NR_clone3 as usize => ret,
            in("rdi") args,
            in("rsi") size,
            in("r9") func,
            in("r12") arg,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// The thread pointer: the FS base, read from the TCB's self pointer at `fs:0` (every
/// Linux TCB layout on x86_64 keeps one there; reading it needs no syscall).
#[inline]
pub(crate) fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reads the word at fs:0. The kernel starts every thread with FS base 0 unless
    // told otherwise, so a thread without a TCB would fault; clonekit only calls this after
    // checking `has_thread_pointer`.
    unsafe {
        asm!(
            "mov {}, qword ptr fs:0", // Load the TCB's self pointer.
            out(reg) tp,
            options(nostack, preserves_flags, readonly),
        );
    }
    tp
}

/// Whether the calling thread has a thread pointer at all (FS base non-zero), without
/// reading `fs:0` (which faults when FS is 0).
///
/// FS is per thread, so the answer cannot be cached for the process; what is cached is how to
/// ask: in a program started by clonekit's `_start` every thread has one (answer at once);
/// otherwise `rdfsbase` where the CPU and kernel allow it (`HWCAP2_FSGSBASE`, Linux 5.9+), a
/// user-mode instruction, else `arch_prctl(ARCH_GET_FS)`.
pub(crate) fn has_thread_pointer() -> bool {
    ENTRY_SET_FS.load(Ordering::Relaxed) || thread_pointer_register() != 0
}

/// The calling thread's thread-pointer register, the FS base (0 when none is set): by
/// `rdfsbase` where the CPU and kernel allow it, else `arch_prctl(ARCH_GET_FS)`.
pub(crate) fn thread_pointer_register() -> usize {
    if fsgsbase_usable() {
        let base: usize;
        // SAFETY: `rdfsbase rax` (encoded as bytes so that no target feature is needed)
        // reads this thread's FS base into rax; HWCAP2_FSGSBASE says the kernel enabled it.
        unsafe {
            asm!(
                ".byte 0xf3, 0x48, 0x0f, 0xae, 0xc0", // rdfsbase rax: FS base into rax.
                out("rax") base,
                options(nostack, preserves_flags, nomem),
            );
        }
        return base;
    }
    let mut base: usize = 0;
    // SAFETY: ARCH_GET_FS writes one usize to the address given, which is `base`.
    let ret = unsafe {
        sc::syscall2(
            linux_raw_sys::general::__NR_arch_prctl as usize,
            ARCH_GET_FS,
            &mut base as *mut usize as usize,
        )
    };
    if ret == 0 { base } else { 0 }
}

/// Records that every thread of this process has a thread pointer (clonekit's `_start` set
/// the main thread's; clonekit's threads and children get theirs with `CLONE_SETTLS`).
pub(crate) fn note_thread_pointer_set() {
    ENTRY_SET_FS.store(true, Ordering::Relaxed);
}

/// Set by clonekit's `_start`.
static ENTRY_SET_FS: AtomicBool = AtomicBool::new(false);

/// Whether `rdfsbase` may be used: a property of the CPU and kernel, the same for every
/// thread, so cached (0 unknown, 1 yes, 2 no).
fn fsgsbase_usable() -> bool {
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let usable = hwcap2().is_some_and(|caps| caps & HWCAP2_FSGSBASE != 0);
    KNOWN.store(if usable { 1 } else { 2 }, Ordering::Relaxed);
    usable
}

/// `AT_HWCAP2` from `/proc/self/auxv` (`None` without `/proc`). Read with the arch's own
/// system calls (see the module `arch`: it uses nothing above it).
fn hwcap2() -> Option<u64> {
    const AT_HWCAP2: u64 = 26;
    let mut buf = [0u8; 1024];
    let n = read_auxv(&mut buf)?;
    buf[..n].chunks_exact(16).find_map(|pair| {
        let key = u64::from_ne_bytes(pair[..8].try_into().ok()?);
        let value = u64::from_ne_bytes(pair[8..].try_into().ok()?);
        (key == AT_HWCAP2).then_some(value)
    })
}

/// Reads `/proc/self/auxv` into `buf` (one `read` fills it: the vector is a few hundred
/// bytes); the length read, or `None` if it cannot be opened or read.
fn read_auxv(buf: &mut [u8]) -> Option<usize> {
    use linux_raw_sys::general::{
        __NR_close, __NR_openat, __NR_read, AT_FDCWD, O_CLOEXEC, O_RDONLY,
    };
    let path = c"/proc/self/auxv";
    // SAFETY: a NUL-terminated path; the flags open for reading only.
    let fd = unsafe {
        sc::syscall4(
            __NR_openat as usize,
            AT_FDCWD as isize as usize,
            path.as_ptr() as usize,
            (O_RDONLY | O_CLOEXEC) as usize,
            0,
        )
    } as isize;
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let n = unsafe {
        sc::syscall3(
            __NR_read as usize,
            fd as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    } as isize;
    // SAFETY: the descriptor was opened above and is used nowhere else.
    unsafe { sc::syscall1(__NR_close as usize, fd as usize) };
    usize::try_from(n).ok()
}

/// `HWCAP2_FSGSBASE`: the kernel lets user mode use `rdfsbase` and friends.
const HWCAP2_FSGSBASE: u64 = 1 << 1;

const ARCH_SET_FS: usize = 0x1002;
const ARCH_GET_FS: usize = 0x1003;

/// Sets the thread pointer (FS base) with `arch_prctl(ARCH_SET_FS)`.
///
/// # Safety
/// `tp` must point to a TCB whose first word is `tp` itself and which outlives the thread;
/// in a program with a libc this breaks the libc's thread-local storage.
pub(crate) unsafe fn set_thread_pointer(tp: *mut u8) {
    // SAFETY: ARCH_SET_FS only changes this thread's FS base; the caller guarantees what
    // it points to.
    let ret = unsafe {
        sc::syscall2(
            linux_raw_sys::general::__NR_arch_prctl as usize,
            ARCH_SET_FS,
            tp as usize,
        )
    };
    debug_assert_eq!(ret, 0, "arch_prctl(ARCH_SET_FS) failed");
}

/// The thread-pointer value to pass with `CLONE_SETTLS` for a TCB at `tcb`.
pub(crate) fn tls_value(tcb: *mut u8) -> usize {
    tcb as usize
}

/// Where `SA_RESTORER` points: x86_64 has no vdso signal trampoline, so the kernel's signal
/// frame returns here, and this calls `rt_sigreturn`.
#[unsafe(naked)]
unsafe extern "C" fn restore_rt() {
    naked_asm!(
        "mov eax, {nr}",            // rt_sigreturn: restore the interrupted context.
        "syscall",                  // Never returns.
        "ud2",                      // Trap if it ever does.
        nr = const __NR_rt_sigreturn,
    );
}

/// The `sa_restorer` the kernel's signal frame returns to: x86_64 requires one.
pub(crate) const SIGNAL_RESTORER: Option<unsafe extern "C" fn()> = Some(restore_rt);

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
            "mov {addr}, qword ptr [rip + environ@GOTPCREL]",
            addr = out(reg) addr,
            options(nostack, preserves_flags, readonly, pure),
        );
    }
    addr as *const *const *const core::ffi::c_char
}

/// The program entry of a static binary: hands the initial stack pointer (argc, argv, envp)
/// to `start` in Rust, with the frame pointer and return address zeroed and the stack aligned.
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
                "xor ebp, ebp",         // Outermost frame: zero frame pointer.
                "mov rdi, rsp",         // First argument: the initial stack (argc at rsp).
                "lea rsi, [rip + {main}]", // Second argument: the program's main.
                "and rsp, -16",         // Align the stack for the call.
                "push rbp",             // A zero return address (rbp is zero).
                "jmp {start}",          // Into Rust; never returns.
                main = sym $main,
                start = sym $start,
            )
        }
    };
}
