//! Process file descriptors outside `clone3()`: `CLONE_PIDFD` through legacy `clone()`, whose
//! descriptor comes back in the `ptid` slot, and `pidfd_open()` of a child made without one.
//! (`clone3()`'s own pidfd slot, and polling a pidfd, are in the clone3 section.)

use clonekit::pidfd::PidFd;
use clonekit::process::{self, ChildBuilder, ExitStatus};
use clonekit::procfs::{self, PathBuf};
use clonekit::sys::signal::Signal;
use clonekit::validate::Syscall;
use clonekit::{CloneFlags as F, Errno};

use crate::case::{Case, Ctx, Fail, Outcome, case, check, diag, eq};
use crate::show::Shown;
use crate::util::{read_file, sleep_ms};

pub const CASES: &[Case] = &[
    case!(pidfd_legacy_clone_returns_fd_naming_the_child),
    case!(pidfd_open_signals_and_reaps_then_echild_esrch),
];

/// The `Pid:` field of `/proc/self/fdinfo/<fd>`: the process a pidfd refers to.
fn fdinfo_pid(fd: clonekit::fd::RawFd) -> Result<Option<u64>, Errno> {
    let path = PathBuf::format(format_args!("/proc/self/fdinfo/{fd}"))?;
    let mut buf = [0u8; 512];
    let text = read_file(path.as_c_str(), &mut buf)?;
    Ok(procfs::status_field(text, "Pid").and_then(procfs::parse_u64))
}

/// `clone(CLONE_PIDFD)`: the kernel stores a new descriptor for the child at `ptid` (legacy
/// `clone()`, not `clone3()`); its fdinfo names the child, it does not poll ready while the
/// child runs, and it signals and reaps the child.
fn pidfd_legacy_clone_returns_fd_naming_the_child() -> Outcome {
    let mut child = ChildBuilder::new(F::empty())
        .pidfd(true)
        .spawn(|| {
            loop {
                sleep_ms(1000);
            }
        })
        .ctx("clone(PIDFD)")?;
    let (pid, via) = (child.pid(), child.via());
    let Some(pidfd) = child.pidfd() else {
        let _ = child.signal(Signal::SIGKILL);
        let _ = child.wait();
        diag!("the child has no pidfd");
        return Err(Fail::Failed);
    };
    let named = fdinfo_pid(pidfd.as_raw());
    let alive = pidfd.is_exited();
    let sent = pidfd.send_signal(Signal::SIGKILL);
    if sent.is_err() {
        let _ = child.signal(Signal::SIGKILL);
    }
    let status = pidfd.wait();
    check(
        via == Syscall::Clone,
        format_args!("the child was made by clone3(), not legacy clone()"),
    )?;
    eq("Pid: in the pidfd's fdinfo", Ok(Some(pid as u64)), named)?;
    eq("poll while the child runs: exited?", Ok(false), alive)?;
    eq("pidfd_send_signal(SIGKILL)", Ok(()), sent)?;
    eq(
        "waitid(P_PIDFD)",
        Ok(ExitStatus::Signaled(Signal::SIGKILL)),
        status,
    )?;
    diag!("child {pid} via pidfd {}", pidfd.as_raw());
    Ok(())
}

/// `pidfd_open()` of a forked child: the descriptor signals and reaps it; once it is reaped
/// there is nothing left to wait for (`ECHILD`, through the descriptor and by pid) or to
/// signal (`ESRCH`); a pid that names no process group leader is `EINVAL`.
fn pidfd_open_signals_and_reaps_then_echild_esrch() -> Outcome {
    let mut child = process::fork(|| {
        loop {
            sleep_ms(1000);
        }
    })
    .ctx("fork")?;
    let pidfd = match PidFd::open(child.pid()) {
        Ok(pidfd) => pidfd,
        Err(e) => {
            let _ = child.signal(Signal::SIGKILL);
            let _ = child.wait();
            diag!("pidfd_open: {}", Shown(&e));
            return Err(Fail::Failed);
        }
    };
    let sent = pidfd.send_signal(Signal::SIGKILL);
    if sent.is_err() {
        let _ = child.signal(Signal::SIGKILL);
    }
    let status = pidfd.wait();
    eq("pidfd_send_signal(SIGKILL)", Ok(()), sent)?;
    eq(
        "waitid(P_PIDFD)",
        Ok(ExitStatus::Signaled(Signal::SIGKILL)),
        status,
    )?;
    eq(
        "waitid(P_PIDFD) again, after reaping",
        Err(Errno::ECHILD),
        pidfd.wait(),
    )?;
    eq(
        "pidfd_send_signal after reaping",
        Err(Errno::ESRCH),
        pidfd.send_signal(Signal::SIGKILL),
    )?;
    eq(
        "wait4 by pid after reaping through the pidfd",
        Err(Errno::ECHILD),
        child.wait(),
    )?;
    eq(
        "pidfd_open(-5)",
        Err(Errno::EINVAL),
        PidFd::open(-5).map(drop),
    )
}
