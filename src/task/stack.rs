//! Child stacks: an mmap'd stack with a guard region below it, or a caller's static buffer.
//!
//! ```
//! use clonekit::stack::{GUARD_SIZE, Stack, StackError};
//!
//! let stack = Stack::new(128 * 1024)?;
//! assert!(stack.has_guard()); // GUARD_SIZE bytes below bottom() fault on any access
//! assert_eq!(stack.size(), 128 * 1024);
//! assert_eq!(stack.top() as usize - stack.bottom() as usize, stack.size());
//! assert!(GUARD_SIZE >= 64 * 1024);
//!
//! assert!(matches!(Stack::new(1024), Err(StackError::TooSmall { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A stack goes to a thread ([`thread::Builder::stack`](crate::thread::Builder::stack)) or a
//! process child ([`ChildBuilder::stack`](crate::process::ChildBuilder::stack)), which keep it
//! until the kernel reports the task gone.

use core::fmt;
use core::ptr::NonNull;

use crate::errno::Errno;
use crate::sys::mm::{self, MapFlags, ProtFlags};

/// Size of the inaccessible region below a mapped stack: an overflow faults (`SIGSEGV`)
/// instead of silently writing into whatever lies below.
///
/// How far that holds depends on the arch's code generation:
/// - x86_64 and aarch64: 64 KiB (at least one page on every kernel). rustc probes every
///   page of a large frame on the way down, so any overflow, whatever the frame size,
///   faults in the guard.
/// - riscv64: 1 MiB. rustc's riscv64 target emits no stack probes: a frame moves the stack
///   pointer down all at once, so only a frame up to the guard's size is sure to fault in
///   it. Larger single frames (over 1 MiB of locals in one function) are not caught there.
///
/// The guard is address space only: it is never accessible and takes no memory.
pub const GUARD_SIZE: usize = crate::arch::STACK_GUARD_SIZE;

/// Why a stack was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackError {
    /// Smaller than [`Stack::MIN_SIZE`].
    TooSmall {
        /// The size given.
        size: usize,
        /// The minimum.
        min: usize,
    },
    /// A buffer whose start or length is not a multiple of 16 (the ABI's stack alignment).
    Misaligned {
        /// The buffer's address.
        addr: usize,
        /// Its length.
        len: usize,
    },
    /// A size so large that it overflows when the guard is added.
    TooLarge(usize),
    /// `mmap` or `mprotect` failed.
    Map(Errno),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::TooSmall { size, min } => {
                write!(f, "{size} bytes is below the minimum stack size of {min}")
            }
            StackError::Misaligned { addr, len } => write!(
                f,
                "a stack buffer must start and end on 16 bytes (got {addr:#x}, {len} bytes)"
            ),
            StackError::TooLarge(size) => write!(f, "{size} bytes is too large for a stack"),
            StackError::Map(errno) => write!(f, "mapping the stack failed: {errno}"),
        }
    }
}

impl core::error::Error for StackError {}

enum Memory {
    /// Our own mapping, guard included: `len` bytes from `map`.
    Mapped { map: NonNull<u8>, len: usize },
    /// A caller's buffer, never freed.
    Static,
}

/// Memory a child runs on: grows down from [`Stack::top`] to [`Stack::bottom`].
///
/// A mapped stack is unmapped on drop; clonekit's spawners keep the `Stack` until the
/// kernel reports the child gone, so a stack is never freed under a running child.
pub struct Stack {
    bottom: NonNull<u8>,
    size: usize,
    memory: Memory,
}

// SAFETY: a Stack is plain memory owned by one value at a time; moving it to another
// thread moves that ownership.
unsafe impl Send for Stack {}

impl Stack {
    /// The smallest stack accepted: room for the child's control block, its closure, the
    /// trampoline's frame and a little Rust code. Real work wants [`Stack::DEFAULT_SIZE`].
    pub const MIN_SIZE: usize = 16 * 1024;

    /// The size [`Stack::new_default`] maps: as much as glibc gives a thread by default
    /// is wasteful for a `no_std` child; 256 KiB holds deep formatting and recursion.
    pub const DEFAULT_SIZE: usize = 256 * 1024;

    /// Maps a stack of `size` usable bytes (rounded up to 4 KiB) with a [`GUARD_SIZE`]
    /// guard below it. A stack of [`Stack::DEFAULT_SIZE`] may be one a dropped `Stack` left
    /// (kept instead of unmapped, as glibc keeps thread stacks): it is as good as new but
    /// for what its last child left in it.
    pub fn new(size: usize) -> Result<Stack, StackError> {
        if size < Stack::MIN_SIZE {
            return Err(StackError::TooSmall {
                size,
                min: Stack::MIN_SIZE,
            });
        }
        let size = size
            .checked_next_multiple_of(4096)
            .ok_or(StackError::TooLarge(size))?;
        if size == Stack::DEFAULT_SIZE
            && let Some(stack) = cache::take()
        {
            return Ok(stack);
        }
        let len = size
            .checked_add(GUARD_SIZE)
            .ok_or(StackError::TooLarge(size))?;
        // Map it all inaccessible, then open the part above the guard: the guard never
        // exists as writable memory, even for an instant.
        let map = mm::mmap_anonymous(
            len,
            ProtFlags::empty(),
            MapFlags::NORESERVE | MapFlags::STACK,
        )
        .map_err(StackError::Map)?;
        // SAFETY: `map` is a fresh mapping of `len` bytes only this function knows of.
        let bottom = unsafe { map.add(GUARD_SIZE) };
        // SAFETY: the range lies inside our fresh mapping.
        let opened = unsafe {
            mm::mprotect(
                bottom.as_ptr().cast(),
                size,
                ProtFlags::READ | ProtFlags::WRITE,
            )
        };
        if let Err(errno) = opened {
            // SAFETY: nothing refers to the mapping yet.
            let _ = unsafe { mm::munmap(map.as_ptr().cast(), len) };
            return Err(StackError::Map(errno));
        }
        Ok(Stack {
            bottom,
            size,
            memory: Memory::Mapped { map, len },
        })
    }

    /// Maps a stack of [`Stack::DEFAULT_SIZE`].
    pub fn new_default() -> Result<Stack, StackError> {
        Stack::new(Stack::DEFAULT_SIZE)
    }

    /// Uses a caller's buffer as a stack (for programs without `mmap`): it must be at least
    /// [`Stack::MIN_SIZE`] bytes, and start and end on 16 bytes (else a typed error).
    ///
    /// # Safety
    /// The buffer has no guard below it: a child that uses more stack than the buffer holds
    /// writes into whatever memory lies below, silently. The caller guarantees that the code
    /// run on this stack stays within it (or that the memory below is itself inaccessible).
    pub unsafe fn from_static(buffer: &'static mut [u8]) -> Result<Stack, StackError> {
        let addr = buffer.as_mut_ptr() as usize;
        let len = buffer.len();
        if len < Stack::MIN_SIZE {
            return Err(StackError::TooSmall {
                size: len,
                min: Stack::MIN_SIZE,
            });
        }
        if !addr.is_multiple_of(16) || !len.is_multiple_of(16) {
            return Err(StackError::Misaligned { addr, len });
        }
        let bottom = NonNull::from(buffer).cast::<u8>();
        Ok(Stack {
            bottom,
            size: len,
            memory: Memory::Static,
        })
    }

    /// The lowest usable address.
    pub fn bottom(&self) -> *mut u8 {
        self.bottom.as_ptr()
    }

    /// One past the highest usable address: where the stack pointer starts (16-aligned).
    pub fn top(&self) -> *mut u8 {
        // SAFETY: `size` bytes from `bottom` are ours, so one past the end is in bounds.
        unsafe { self.bottom.as_ptr().add(self.size) }
    }

    /// The usable size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether a guard region lies below the stack.
    pub fn has_guard(&self) -> bool {
        matches!(self.memory, Memory::Mapped { .. })
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Memory::Mapped { map, len } = self.memory {
            // Whoever lent it to a child kept the Stack alive until the child was gone, so
            // nothing runs on it any more: it may be kept for the next stack of its size.
            if len == cache::LEN && cache::put(map) {
                return;
            }
            // SAFETY: the mapping is ours, and nothing runs on it (see above).
            let _ = unsafe { mm::munmap(map.as_ptr().cast(), len) };
        }
    }
}

/// Unmaps the stacks kept for reuse (see [`Stack::new`]), returning how many there were: for a
/// long-running program that spawned many threads once and wants the address space back, or
/// to count mappings exactly.
pub fn release_kept_stacks() -> usize {
    cache::release()
}

/// Mappings of recently dropped stacks of [`Stack::DEFAULT_SIZE`], reused by the next
/// [`Stack::new`] of that size instead of a new `mmap` + `mprotect` (and this one's
/// `munmap`, which also costs the other CPUs a TLB flush when a thread ran there): what
/// glibc does with its thread stacks. At most [`SLOTS`](cache::SLOTS) are kept; the rest
/// are unmapped.
///
/// A reused stack holds what its last child left in it, as glibc's do (its guard is
/// untouched). Each slot is one atomic pointer: a mapping is in one slot or owned by one
/// `Stack`, never both.
mod cache {
    use core::ptr::{self, NonNull};
    use core::sync::atomic::{AtomicPtr, Ordering};

    use super::{GUARD_SIZE, Memory, Stack};

    /// How many mappings are kept.
    pub(super) const SLOTS: usize = 8;

    /// The length of a default-size mapping: the stack and its guard.
    pub(super) const LEN: usize = Stack::DEFAULT_SIZE + GUARD_SIZE;

    static KEPT: [AtomicPtr<u8>; SLOTS] = [const { AtomicPtr::new(ptr::null_mut()) }; SLOTS];

    /// A kept mapping as a stack, if there is one.
    pub(super) fn take() -> Option<Stack> {
        KEPT.iter().find_map(|slot| {
            let map = NonNull::new(slot.swap(ptr::null_mut(), Ordering::Acquire))?;
            // SAFETY: a kept mapping is `LEN` bytes, its guard the first GUARD_SIZE.
            let bottom = unsafe { map.add(GUARD_SIZE) };
            Some(Stack {
                bottom,
                size: Stack::DEFAULT_SIZE,
                memory: Memory::Mapped { map, len: LEN },
            })
        })
    }

    /// Keeps a default-size mapping nothing uses any more; `false` when every slot is full.
    pub(super) fn put(map: NonNull<u8>) -> bool {
        KEPT.iter().any(|slot| {
            slot.compare_exchange(
                ptr::null_mut(),
                map.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
        })
    }

    /// Unmaps every kept mapping; how many there were.
    pub(super) fn release() -> usize {
        let mut released = 0;
        for slot in &KEPT {
            if let Some(map) = NonNull::new(slot.swap(ptr::null_mut(), Ordering::Acquire)) {
                // SAFETY: a kept mapping is `LEN` bytes that nothing uses; taking it out of
                // its slot made it ours alone.
                let _ = unsafe { super::mm::munmap(map.as_ptr().cast(), LEN) };
                released += 1;
            }
        }
        released
    }

    #[cfg(test)]
    pub(super) fn holds(map: *mut u8) -> bool {
        KEPT.iter().any(|slot| slot.load(Ordering::Relaxed) == map)
    }
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("bottom", &self.bottom)
            .field("size", &self.size)
            .field("guard", &self.has_guard())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dropped default-size stack is kept (still mapped, its guard intact) and handed out
    /// again; other sizes are unmapped.
    #[test]
    fn default_size_stacks_are_kept_for_reuse() {
        let stack = Stack::new(Stack::DEFAULT_SIZE).unwrap();
        let Memory::Mapped { map, .. } = stack.memory else {
            panic!("a mapped stack");
        };
        drop(stack);
        // Other tests of this binary take and drop default stacks meanwhile: if ours was
        // kept it is either still in a slot or in use by one of them, mapped either way.
        // SAFETY: PROT_NONE on the guard changes nothing; a range that is not mapped gives
        // ENOMEM instead.
        let mapped = unsafe { mm::mprotect(map.as_ptr().cast(), GUARD_SIZE, ProtFlags::empty()) };
        if cache::holds(map.as_ptr()) {
            assert_eq!(mapped, Ok(()), "a kept stack is still mapped");
            let again = Stack::new(Stack::DEFAULT_SIZE).unwrap();
            assert!(again.has_guard() && again.size() == Stack::DEFAULT_SIZE);
            // The guard stays inaccessible: a write there would fault (checked in the guest).
            assert_eq!(again.bottom() as usize % 4096, 0);
        }
        let small = Stack::new(Stack::MIN_SIZE).unwrap();
        let Memory::Mapped { map, .. } = small.memory else {
            panic!("a mapped stack");
        };
        drop(small);
        assert!(
            !cache::holds(map.as_ptr()),
            "only default-size stacks are kept"
        );
    }

    #[test]
    fn sizes_below_the_minimum_are_refused() {
        assert_eq!(
            Stack::new(0).unwrap_err(),
            StackError::TooSmall {
                size: 0,
                min: Stack::MIN_SIZE
            }
        );
        assert!(matches!(Stack::new(100), Err(StackError::TooSmall { .. })));
        assert!(matches!(
            Stack::new(usize::MAX),
            Err(StackError::TooLarge(_))
        ));
    }

    #[test]
    fn a_mapped_stack_is_writable_and_aligned() {
        let stack = Stack::new(Stack::MIN_SIZE + 1).unwrap();
        assert_eq!(stack.size(), Stack::MIN_SIZE + 4096);
        assert_eq!(stack.top() as usize % 16, 0);
        assert!(stack.has_guard());
        // SAFETY: both ends are inside the usable range.
        unsafe {
            stack.bottom().write(1);
            stack.top().sub(1).write(2);
        }
    }

    #[test]
    fn static_buffers_are_checked() {
        extern crate std;
        use std::boxed::Box;
        use std::vec;
        let small: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
        // SAFETY: refused before any child runs on it.
        let refused = unsafe { Stack::from_static(small) };
        assert!(matches!(refused, Err(StackError::TooSmall { .. })));
        #[repr(align(16))]
        struct Aligned([u8; Stack::MIN_SIZE + 16]);
        let buf = Box::leak(Box::new(Aligned([0; Stack::MIN_SIZE + 16])));
        let misaligned = &mut buf.0[1..Stack::MIN_SIZE + 1];
        // SAFETY: refused before any child runs on it.
        let refused = unsafe { Stack::from_static(misaligned) };
        assert!(matches!(refused, Err(StackError::Misaligned { .. })));
        let buf = Box::leak(Box::new(Aligned([0; Stack::MIN_SIZE + 16])));
        // SAFETY: the stack is never run on in this test.
        let stack = unsafe { Stack::from_static(&mut buf.0[..]) }.unwrap();
        assert!(!stack.has_guard());
        assert_eq!(stack.size(), Stack::MIN_SIZE + 16);
    }
}
