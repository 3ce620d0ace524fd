//! Namespaces: [`namespace`] (unshare and setns with the kernel's rules checked first),
//! [`idmap`] (uid and gid maps), [`mount`] (private mounts, `/proc`, pivot_root), and
//! [`container`], which puts them together.

#[allow(unsafe_code)]
pub mod container;
pub mod idmap;
pub mod mount;
#[allow(unsafe_code)]
pub mod namespace;
