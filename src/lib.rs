//! clonekit: Linux's `clone()` family with its full power, `no_std`, no libc.
#![no_std]
#![warn(missing_docs)]

pub mod console;
pub mod errno;
pub mod fd;
pub mod sys;

mod arch;
pub mod clone_args;
pub mod differential;
pub mod error;
pub mod flags;
pub mod kernel_version;
pub mod raw;
pub mod rt;
pub mod stack;
pub mod thread;
pub mod validate;
pub mod process;
pub mod pidfd;
pub mod exec;

pub use clone_args::CloneArgs;
pub use errno::{Errno, Result};
pub use error::Error;
pub use fd::OwnedFd;
pub use flags::{CloneFlags, ExitSignal};
pub use kernel_version::KernelVersion;
pub use stack::Stack;
pub use validate::{FlagError, validate};
