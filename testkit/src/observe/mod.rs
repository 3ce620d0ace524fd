//! What only tests read from the kernel, to observe a flag's effect: SysV IPC objects
//! (`CLONE_SYSVSEM`, `CLONE_NEWIPC`), network interfaces (`CLONE_NEWNET`), I/O priorities
//! (`CLONE_IO`) and ptrace (`CLONE_PTRACE`, `CLONE_UNTRACED`). The library does not need
//! them, so they live here, on the library's `from_syscall` and `sc`.

pub mod ioprio;
pub mod ipc;
pub mod net;
pub mod ptrace;
