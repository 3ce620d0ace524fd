//! What only tests read from the kernel, to observe a flag's effect: the working directory,
//! umask and descriptor flags (`CLONE_FS`, `CLONE_FILES`), futex wakes, host names
//! (`CLONE_NEWUTS`), ignored signals and `kill(pid, 0)`, SysV IPC objects (`CLONE_SYSVSEM`,
//! `CLONE_NEWIPC`), network interfaces (`CLONE_NEWNET`), I/O priorities (`CLONE_IO`) and
//! ptrace (`CLONE_PTRACE`, `CLONE_UNTRACED`). The library does not need them, so they live
//! here, on the library's `from_syscall` and `sc`.

pub mod fs;
pub mod futex;
pub mod ioprio;
pub mod ipc;
pub mod net;
pub mod ns;
pub mod ptrace;
pub mod signal;
