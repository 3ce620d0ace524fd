//! The few system calls the demo needs that `clonekit::sys` does not give it in this form:
//! `wait4` with the raw status word (a ptrace event stop keeps its event in bits 16..,
//! which [`clonekit::sys::wait::WaitStatus`] drops), reading the thread pointer, and
//! `fcntl(F_GETFD)` on a number (to see that a descriptor was closed, which clonekit's
//! `BorrowedFd`, always open, cannot ask).
//!
//! Numbers per arch from the kernel's tables (x86_64 `syscall_64.tbl`, the generic
//! `unistd.h` for aarch64 and riscv64).

use clonekit::Errno;
use clonekit::sys::Pid;
use core::arch::asm;

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const WAIT4: usize = 61;
    pub const FCNTL: usize = 72;
    pub const ARCH_PRCTL: usize = 158;
}

#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
mod nr {
    pub const WAIT4: usize = 260;
    pub const FCNTL: usize = 25;
}

/// A raw four-argument system call.
///
/// # Safety
/// The arguments must be valid for system call `nr` (pointers to memory it may use).
#[cfg(target_arch = "x86_64")]
unsafe fn syscall4(nr: usize, a: usize, b: usize, c: usize, d: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller vouches for the arguments; `syscall` clobbers rcx and r11.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// A raw four-argument system call.
///
/// # Safety
/// The arguments must be valid for system call `nr` (pointers to memory it may use).
#[cfg(target_arch = "aarch64")]
unsafe fn syscall4(nr: usize, a: usize, b: usize, c: usize, d: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller vouches for the arguments; `svc` returns in x0.
    unsafe {
        asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a => ret,
            in("x1") b,
            in("x2") c,
            in("x3") d,
            options(nostack),
        );
    }
    ret
}

/// A raw four-argument system call.
///
/// # Safety
/// The arguments must be valid for system call `nr` (pointers to memory it may use).
#[cfg(target_arch = "riscv64")]
unsafe fn syscall4(nr: usize, a: usize, b: usize, c: usize, d: usize) -> usize {
    let ret: usize;
    // SAFETY: the caller vouches for the arguments; `ecall` returns in a0.
    unsafe {
        asm!(
            "ecall",
            in("a7") nr,
            inlateout("a0") a => ret,
            in("a1") b,
            in("a2") c,
            in("a3") d,
            options(nostack),
        );
    }
    ret
}

fn result(ret: usize) -> Result<usize, Errno> {
    if ret > (-4096isize) as usize {
        Err(Errno::from_raw(ret.wrapping_neg() as i32))
    } else {
        Ok(ret)
    }
}

/// `wait4(pid, &status, options, NULL)` with the raw status word; retries on `EINTR`.
pub fn wait4_raw(pid: Pid, options: u32) -> Result<(Pid, i32), Errno> {
    loop {
        let mut status: i32 = 0;
        // SAFETY: the kernel writes one int into `status`; no rusage.
        let ret = result(unsafe {
            syscall4(
                nr::WAIT4,
                pid as usize,
                &mut status as *mut i32 as usize,
                options as usize,
                0,
            )
        });
        match ret {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(p) => return Ok((p as Pid, status)),
        }
    }
}

/// `fcntl(fd, F_GETFD)` on the number `fd`, which only reads the descriptor's flags: `Ok`
/// while it is open, `EBADF` once it is closed.
pub fn getfd_on_number(fd: i32) -> Result<(), Errno> {
    const F_GETFD: usize = 1;
    // SAFETY: F_GETFD takes no argument and changes nothing.
    result(unsafe { syscall4(nr::FCNTL, fd as usize, F_GETFD, 0, 0) }).map(drop)
}

/// The calling thread's thread pointer: the FS base (`arch_prctl(ARCH_GET_FS)`; QEMU's
/// default CPU has no `rdfsbase`).
#[cfg(target_arch = "x86_64")]
pub fn thread_pointer() -> usize {
    const ARCH_GET_FS: usize = 0x1003;
    let mut base: usize = 0;
    // SAFETY: ARCH_GET_FS writes one usize into `base`.
    let _ = unsafe {
        syscall4(
            nr::ARCH_PRCTL,
            ARCH_GET_FS,
            &mut base as *mut usize as usize,
            0,
            0,
        )
    };
    base
}

/// The calling thread's thread pointer: `TPIDR_EL0`.
#[cfg(target_arch = "aarch64")]
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reading TPIDR_EL0 has no side effect.
    unsafe { asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack, preserves_flags)) };
    tp
}

/// The calling thread's thread pointer: `tp`.
#[cfg(target_arch = "riscv64")]
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: copying tp has no side effect.
    unsafe { asm!("mv {}, tp", out(reg) tp, options(nomem, nostack, preserves_flags)) };
    tp
}
