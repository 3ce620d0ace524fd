//! What answers this program's system calls: the kernel, or an emulator that implements
//! `clone` itself (qemu-user). Its own module, below both `program` and `procfs`, which
//! each need the answer.

use core::sync::atomic::{AtomicU8, Ordering};

use crate::errno::Errno;
use crate::kernel_version::KernelVersion;

/// Whether this program runs under an emulator that implements `clone` itself (qemu-user):
/// `clone3` is missing (`ENOSYS`) although the kernel `uname` reports has it (5.3 and
/// later). Such an emulator refuses flags the kernel allows and has threads of its own in
/// the address space; errors and checks take that into account. Asked once, then cached.
pub fn emulated() -> bool {
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let emulated = KernelVersion::cached() >= KernelVersion::new(5, 3, 0)
        && crate::sys::process::clone3_probe() == Errno::ENOSYS;
    KNOWN.store(if emulated { 1 } else { 2 }, Ordering::Relaxed);
    emulated
}
