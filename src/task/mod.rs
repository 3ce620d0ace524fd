//! Tasks, from the stack up: [`stack`] (mapped stacks with a guard), [`start`] (what a new
//! task finds at the top of its stack: its control block and closure, and the signal block
//! around its creation), [`raw`] (the validated clone entry points), and the tasks built on
//! them: [`thread`], [`process`] children, [`pidfd`]s and vfork-style [`exec`].
//!
//! [`process`] is the public path of process children and defines nothing: it re-exports
//! from the modules that do, [`spawn`] ([`ChildBuilder`](spawn::ChildBuilder) and `fork`),
//! [`child`] (the handle and the waits), [`exit_status`] and [`autoreap`] (the children the
//! kernel reaps). `autoreap` builds on `spawn` and adds `ChildBuilder::autoreap` in an
//! `impl` block of its own, so `spawn` never names the autoreap types: the two depend one
//! way, and the public path holds them side by side.

#[allow(unsafe_code)]
pub(crate) mod autoreap;
pub(crate) mod child;
#[allow(unsafe_code)]
pub mod exec;
pub mod exit_status;
#[allow(unsafe_code)]
pub mod pidfd;
pub mod process;
#[allow(unsafe_code)]
pub mod raw;
#[allow(unsafe_code)]
pub(crate) mod spawn;
#[allow(unsafe_code)]
pub mod stack;
#[allow(unsafe_code)]
pub(crate) mod start;
#[allow(unsafe_code)]
pub mod thread;
