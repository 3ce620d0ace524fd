//! A one-shot gate between a parent and a child that does not share its memory.

use clonekit::fd::{OwnedFd, RawFd};
use clonekit::sys::fs::{self, PipeFlags};

use crate::case::{Ctx, Fail};

/// A one-shot gate between a parent and a child that does not share its memory: the child
/// blocks in [`Gate::wait`] until the parent calls [`Gate::open`] (or drops the gate).
pub struct Gate {
    read: OwnedFd,
    write: Option<OwnedFd>,
}

impl Gate {
    /// A new, closed gate.
    pub fn new() -> Result<Gate, Fail> {
        let (read, write) = fs::pipe2(PipeFlags::CLOEXEC).ctx("pipe2 for a gate")?;
        Ok(Gate {
            read,
            write: Some(write),
        })
    }

    /// The numbers of the descriptors the child needs (read end, write end to close), to
    /// capture in a child closure that must be `'static`; used there by [`Gate::wait`].
    pub fn child_side(&self) -> ChildSide {
        ChildSide {
            read: self.read.as_raw(),
            write: self.write.as_ref().map(OwnedFd::as_raw),
        }
    }

    /// In the child: closes its copy of the write end, then waits for the parent. `true` if
    /// the parent opened the gate, `false` if it went away.
    ///
    /// # Safety
    /// Only in a child of the gate's process that was created while the gate existed and
    /// has its own copy of the descriptor table (no `CLONE_FILES`), in which nothing else
    /// uses the gate's descriptors: its copy of the `Gate` is never dropped there (true of
    /// every clonekit child, which ends without returning into the parent's frames). The
    /// child then owns its copies of both ends, which this closes.
    pub unsafe fn wait(side: ChildSide) -> bool {
        // SAFETY: the caller's contract: the child owns its copies of both numbers.
        let (read, write) = unsafe {
            (
                OwnedFd::from_raw(side.read),
                side.write.map(|fd| OwnedFd::from_raw(fd)),
            )
        };
        drop(write);
        let mut byte = [0u8; 1];
        loop {
            match fs::read(read.as_fd(), &mut byte) {
                Ok(n) => return n == 1,
                Err(clonekit::Errno::EINTR) => continue,
                Err(_) => return false,
            }
        }
    }

    /// In the parent: lets the child go on.
    pub fn open(&mut self) {
        if let Some(w) = self.write.take() {
            let _ = fs::write(w.as_fd(), b"1");
        }
    }
}

/// The numbers of a [`Gate`]'s descriptors, for its child ([`Gate::child_side`]).
#[derive(Debug, Clone, Copy)]
pub struct ChildSide {
    read: RawFd,
    write: Option<RawFd>,
}
