//! Tasks, from the stack up: [`stack`] (mapped stacks with a guard), [`start`] (what a new
//! task finds at the top of its stack: its control block and closure, and the signal block
//! around its creation), [`raw`] (the validated clone entry points), and the tasks built on
//! them: [`thread`], [`process`] children (spawned there, held and waited for in
//! [`child`], with their [`ExitStatus`](exit_status::ExitStatus); those the kernel reaps
//! itself in [`autoreap`]),
//! [`pidfd`]s and vfork-style [`exec`].

#[allow(unsafe_code)]
pub(crate) mod autoreap;
pub(crate) mod child;
#[allow(unsafe_code)]
pub mod exec;
pub mod exit_status;
pub mod pidfd;
#[allow(unsafe_code)]
pub mod process;
#[allow(unsafe_code)]
pub mod raw;
#[allow(unsafe_code)]
pub mod stack;
#[allow(unsafe_code)]
pub(crate) mod start;
#[allow(unsafe_code)]
pub mod thread;
