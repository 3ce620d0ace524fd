//! What a runner does to be the PID 1 the cases expect: the mounts (`/proc`, a tmpfs on
//! `/tmp`, sysfs, cgroup2) and clonekit's PID 1 duties ([`clonekit::init::Init`]). `init-demo`
//! does it as the kernel's init in the guest; `testkit/tests/cases.rs` does it as PID 1 of new
//! PID, mount and network namespaces on the host, so the PID 1 cases run natively too.

use core::sync::atomic::{AtomicU32, Ordering};

use clonekit::init::Init;
use clonekit::procfs;
use clonekit::sys::ns::{self, MountFlags};
use clonekit::sys::process::getpid;
use clonekit::{KernelVersion, mount};

use crate::cases::SECTIONS;
use crate::ktap::Ktap;
use crate::show::Text;
use crate::util::now_ms;
use crate::{report, shared};

/// Mounts what the cases need: `/proc`, a tmpfs on `/tmp`, sysfs on `/sys` and cgroup2 on
/// `/sys/fs/cgroup`. On error, what was being mounted and why it failed.
pub fn mount_all() -> Result<(), (&'static str, clonekit::Error)> {
    let at = |what| move |e| (what, e);
    for dir in [c"/proc", c"/tmp", c"/sys"] {
        mount::ensure_dir(dir).map_err(at("a mount point"))?;
    }
    mount::mount_proc(c"/proc").map_err(at("/proc"))?;
    mount::mount_tmpfs(c"/tmp", None).map_err(at("/tmp"))?;
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    ns::mount(Some(c"sysfs"), c"/sys", Some(c"sysfs"), flags, None)
        .map_err(|e| ("/sys", e.into()))?;
    ns::mount(
        Some(c"cgroup2"),
        c"/sys/fs/cgroup",
        Some(c"cgroup2"),
        flags,
        None,
    )
    .map_err(|e| ("/sys/fs/cgroup", e.into()))?;
    Ok(())
}

/// How many PID-namespace levels above the runner the `/proc` it mounted hides: 0 in the
/// guest (the kernel's init mounts the initial namespace's `/proc`), 1 natively (the runner is
/// PID 1 of a new PID namespace and mounts that namespace's `/proc`). Depths read from
/// `/proc/self/status` (`NSpid:`) count from the `/proc` mount's namespace, so a case that
/// checks the kernel's absolute nesting limit needs this to be 0.
pub fn proc_hides_pid_levels() -> u32 {
    PROC_HIDES_PID_LEVELS.load(Ordering::Relaxed)
}

static PROC_HIDES_PID_LEVELS: AtomicU32 = AtomicU32::new(0);

/// The whole report, as both runners make it: when the caller is PID 1, the mounts and
/// clonekit's PID 1 duties ([`Init::install`]: handlers for every signal of its table,
/// SIGCHLD wakes the reaper, SIGTERM/SIGINT/SIGPWR request a shutdown); the shared page;
/// every section of [`SECTIONS`] as KTAP on stdout; PID 1's last
/// reaping; the totals. Returns the exit code: 1 if a case failed (or the shared page could
/// not be mapped), else 0. `program` names the runner in the report's first line.
pub fn run(program: &str) -> i32 {
    let started = now_ms();
    let is_pid1 = getpid() == 1;
    let level_before = procfs::pid_ns_level();
    let mounted = if is_pid1 { mount_all() } else { Ok(()) };
    if let (Some(before), Some(after)) = (level_before, procfs::pid_ns_level()) {
        PROC_HIDES_PID_LEVELS.store(before.saturating_sub(after), Ordering::Relaxed);
    }
    let init = if is_pid1 { Some(Init::install()) } else { None };
    let shared = shared::map();

    let mut k = Ktap::stdout();
    k.start(SECTIONS.len(), true);
    let uts = clonekit::sys::uname();
    k.diag(format_args!(
        "clonekit {program}: TLPI 28.2.1 on Linux {} ({}), {}",
        KernelVersion::cached(),
        Text(uts.machine()),
        if is_pid1 { "PID 1" } else { "not PID 1" },
    ));
    if let Err((what, e)) = mounted {
        k.diag(format_args!("mounting {what}: {e}"));
    }
    if let Some(Err(e)) = init {
        k.diag(format_args!("clonekit::init::Init::install: {e}"));
    }
    if let Err(e) = shared {
        k.bail_out(format_args!("no shared page: {e}"));
        return 1;
    }
    report::run(&mut k, SECTIONS);
    if let Some(Ok(init)) = init {
        let left = init.reap_all();
        k.diag(format_args!(
            "PID 1: {} children reaped by clonekit::init, {left} at the end; shutdown request: {}",
            init.reaped_total(),
            init.shutdown_requested().map_or("none", |s| s.name()),
        ));
    }
    k.summary();
    k.diag(format_args!("{program}: {} ms", now_ms() - started));
    i32::from(k.totals().fail > 0)
}
