//! A container-style child in one call: new namespaces (UTS, PID, mount, IPC, network, user,
//! and optionally cgroup and time), a hostname, id maps, a private `/proc`: the
//! "Container Isolation Model" as an init system wants it. On Linux 7.1 and later it can
//! start from an empty mount namespace ([`Container::empty_mounts`]) and with
//! `no_new_privs` ([`Container::no_new_privs`]).
//!
//! ```
//! use clonekit::container::Container;
//! use clonekit::idmap::IdMap;
//! use clonekit::sys::{ns::uname, process::{getpid, getuid}};
//! # if clonekit::program::emulated() {
//! #     return Ok(()); // qemu-user refuses new namespaces in clone (see program::emulated)
//! # }
//!
//! let mut child = Container::new()
//!     .hostname(b"webapp-container")
//!     .uid_map(IdMap::single(0, 1000))
//!     .gid_map(IdMap::single(0, 1000))
//!     .spawn(|| {
//!         // PID 1 of its own PID namespace, root inside, only `lo`, its own /proc.
//!         let me = std::fs::read_link("/proc/self").unwrap();
//!         let ok = getpid() == 1 && getuid() == 0 && me.as_os_str() == "1"
//!             && uname().nodename() == b"webapp-container";
//!         if ok { 0 } else { 1 }
//!     })?;
//! assert!(child.wait()?.success());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A set-up step that fails in the child (a map the kernel refuses, a mount) comes back as
//! [`Error::ContainerSetup`](crate::Error::ContainerSetup), naming the [`SetupStep`].

use crate::error::Error;
// Defined beside the error that names it; documented here too, where its steps are taken.
#[doc(inline)]
pub use crate::error::SetupStep;
use crate::fd::{BorrowedFd, OwnedFd};
use crate::flags::{CloneFlags, ExitSignal};
use crate::idmap::{self, IdMap};
use crate::mount;
use crate::namespace::{self, Namespace};
use crate::pidfd::PidFd;
use crate::process::{Child, ChildBuilder, ExitStatus};
use crate::procfs::{self, PathBuf};
use crate::sys::Pid;
use crate::sys::fs::{self, PipeFlags};
use crate::sys::ns as sysns;
use crate::sys::process::{getegid, geteuid, setresgid, setresuid};
use crate::validate::FlagError;

/// The six namespaces of the classic container model (UTS, PID, mount, IPC, network, user).
pub const CLASSIC_NAMESPACES: CloneFlags = CloneFlags::NEWUTS
    .union(CloneFlags::NEWPID)
    .union(CloneFlags::NEWNS)
    .union(CloneFlags::NEWIPC)
    .union(CloneFlags::NEWNET)
    .union(CloneFlags::NEWUSER);

/// Exit status of a container child whose set-up failed before `f` ran (like `env`'s 125);
/// [`Container::spawn`] reports the step and errno as [`Error::ContainerSetup`].
pub const SETUP_FAILED: i32 = 125;

/// A name of up to 64 bytes (the kernel's limit for host and domain names), kept inline.
#[derive(Debug, Clone, Copy)]
struct Name {
    bytes: [u8; 64],
    len: usize,
}

impl Name {
    fn new(name: &[u8]) -> Result<Name, Error> {
        if name.len() > 64 {
            return Err(Error::Os(crate::Errno::EINVAL));
        }
        let mut bytes = [0; 64];
        bytes[..name.len()].copy_from_slice(name);
        Ok(Name {
            bytes,
            len: name.len(),
        })
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// What the child sets up inside before running the function (all `Copy`: it is moved onto
/// the child's stack).
#[derive(Debug, Clone, Copy)]
struct Inside {
    namespaces: CloneFlags,
    hostname: Option<Name>,
    domainname: Option<Name>,
    mount_proc: bool,
    time_offsets: Option<(i64, i64)>,
    /// Switch to uid and gid 0 once the maps are written (both maps map 0).
    become_root: bool,
    /// The mount namespace starts empty (`CLONE_EMPTY_MNTNS`): a tmpfs becomes the root.
    empty_mounts: bool,
}

/// Builder of a container-style child. Start from [`Container::new`].
#[derive(Debug, Clone)]
pub struct Container {
    inside: Inside,
    uid_map: Option<IdMap>,
    gid_map: Option<IdMap>,
    deny_setgroups: bool,
    stack_size: Option<usize>,
    no_new_privs: bool,
    error: Option<Error>,
}

impl Default for Container {
    fn default() -> Self {
        Container::new()
    }
}

impl Container {
    /// The six classic namespaces ([`CLASSIC_NAMESPACES`]), a private `/proc`, uid and gid 0
    /// inside mapped to the caller's effective ids, `setgroups` denied.
    pub fn new() -> Container {
        Container {
            inside: Inside {
                namespaces: CLASSIC_NAMESPACES,
                hostname: None,
                domainname: None,
                mount_proc: true,
                time_offsets: None,
                become_root: false,
                empty_mounts: false,
            },
            uid_map: None,
            gid_map: None,
            deny_setgroups: true,
            stack_size: None,
            no_new_privs: false,
            error: None,
        }
    }

    /// Exactly these namespaces (`CLONE_NEW*` flags only; `CLONE_NEWCGROUP` and
    /// `CLONE_NEWTIME` are welcome).
    pub fn namespaces(mut self, flags: CloneFlags) -> Container {
        let stray = flags - CloneFlags::ALL_NAMESPACES;
        if !stray.is_empty() {
            self.error = Some(FlagError::NamespaceFlagsOnly(stray).into());
        }
        self.inside.namespaces = flags & CloneFlags::ALL_NAMESPACES;
        self
    }

    /// Sets the hostname inside (needs `CLONE_NEWUTS`: [`Container::spawn`] refuses a name
    /// without it, which would rename the host).
    pub fn hostname(mut self, name: &[u8]) -> Container {
        match Name::new(name) {
            Ok(n) => self.inside.hostname = Some(n),
            Err(e) => self.error = Some(e),
        }
        self
    }

    /// Sets the NIS domain name inside (needs `CLONE_NEWUTS`).
    pub fn domainname(mut self, name: &[u8]) -> Container {
        match Name::new(name) {
            Ok(n) => self.inside.domainname = Some(n),
            Err(e) => self.error = Some(e),
        }
        self
    }

    /// The uid map (default: 0 inside is the caller's effective uid outside).
    pub fn uid_map(mut self, map: IdMap) -> Container {
        self.uid_map = Some(map);
        self
    }

    /// The gid map (default: 0 inside is the caller's effective gid outside).
    pub fn gid_map(mut self, map: IdMap) -> Container {
        self.gid_map = Some(map);
        self
    }

    /// Whether to write `deny` to `setgroups` before `gid_map` (default `true`; an
    /// unprivileged caller must).
    pub fn deny_setgroups(mut self, deny: bool) -> Container {
        self.deny_setgroups = deny;
        self
    }

    /// Whether to mount a fresh `/proc` inside (default `true`; needs `CLONE_NEWNS` and
    /// `CLONE_NEWPID` to be meaningful).
    pub fn mount_proc(mut self, on: bool) -> Container {
        self.inside.mount_proc = on;
        self
    }

    /// Enters a new time namespace whose `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME` run
    /// `monotonic_secs` / `boottime_secs` ahead (written to `timens_offsets` before any
    /// process is in it). Implies `CLONE_NEWTIME` and needs `CLONE_NEWUSER` or privilege.
    pub fn time_offsets(mut self, monotonic_secs: i64, boottime_secs: i64) -> Container {
        self.inside.time_offsets = Some((monotonic_secs, boottime_secs));
        self.inside.namespaces |= CloneFlags::NEWTIME;
        self
    }

    /// Starts the container in an empty mount namespace (`CLONE_EMPTY_MNTNS`, Linux 7.1)
    /// instead of a copy of the caller's mounts, so it holds only what it mounts itself.
    /// Implies `CLONE_NEWNS`.
    ///
    /// The kernel gives the child one mount, an empty read-only root; the set-up mounts a
    /// tmpfs on it and enters it (the new `/`, writable, mode 755), then, unless
    /// [`Container::mount_proc`] is off, creates `/proc` and mounts a `proc` there with
    /// `subset=pid` (only the processes, which a user namespace may mount where no other
    /// `proc` is visible). `f` starts with exactly those two mounts and adds what it needs.
    /// On a kernel before 7.1 [`Container::spawn`] gives
    /// [`FlagError::NeedsKernel`](crate::FlagError::NeedsKernel) naming the flag.
    ///
    /// ```no_run
    /// use clonekit::container::Container;
    /// use clonekit::mount;
    ///
    /// let mut child = Container::new()
    ///     .empty_mounts()
    ///     .spawn(|| {
    ///         // Nothing of the host's tree is here; make a scratch directory of our own.
    ///         let made = mount::ensure_dir(c"/scratch")
    ///             .and_then(|()| mount::mount_tmpfs(c"/scratch", Some(c"size=1m")));
    ///         if made.is_ok() { 0 } else { 1 }
    ///     })?;
    /// assert!(child.wait()?.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn empty_mounts(mut self) -> Container {
        self.inside.empty_mounts = true;
        self.inside.namespaces |= CloneFlags::NEWNS;
        self
    }

    /// Starts the container's init with `no_new_privs` set (`CLONE_NNP`, Linux 7.1): no
    /// `execve` inside can grant privileges (setuid bits, file capabilities). The caller's
    /// own flag is unchanged.
    pub fn no_new_privs(mut self, on: bool) -> Container {
        self.no_new_privs = on;
        self
    }

    /// The child's stack size (default [`Stack::DEFAULT_SIZE`](crate::Stack::DEFAULT_SIZE)).
    pub fn stack_size(mut self, size: usize) -> Container {
        self.stack_size = Some(size);
        self
    }

    /// Starts `f` in the container and returns once its set-up is done and `f` runs.
    ///
    /// The child waits on a pipe until the parent has written its id maps (user
    /// namespaces need the parent to do it), becomes uid and gid 0 inside when both maps map
    /// 0 (so uid 0 inside is the chosen outer uid), then sets the hostname, makes mounts
    /// private, mounts `/proc`, enters the time namespace, reports success and runs `f`. A
    /// failed step is reported back instead: [`Error::ContainerSetup`] names the step and
    /// the errno (the child exits with [`SETUP_FAILED`] and is reaped).
    ///
    /// The container's init is a fork-like child (a copy of the caller's memory and
    /// thread pointer), so `f` may use std, and the caller must be single-threaded
    /// ([`Error::MultiThreaded`]; see [`program`](crate::program)). Under an emulator that
    /// refuses namespace flags itself (qemu-user), the refusal is
    /// [`Error::EmulatorRefused`] rather than a bare `EINVAL`.
    pub fn spawn<F>(self, f: F) -> Result<ContainerChild, Error>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        if let Some(e) = self.error {
            return Err(e);
        }
        crate::program::require_single_threaded()?;
        // SAFETY: a single-threaded caller, and the container's flags never hold CLONE_VM
        // or CLONE_FILES: the contract of spawn_unchecked holds for any `f`.
        unsafe { self.spawn_unchecked(f) }
    }

    /// As [`Container::spawn`], without the single-thread check.
    ///
    /// # Safety
    /// In a multithreaded process, `f` must not take any lock another thread may hold
    /// (libc's and std's included: no allocation, no stdio), as after `fork(2)` in a
    /// multithreaded program; clonekit and core are fine.
    pub unsafe fn spawn_unchecked<F>(self, f: F) -> Result<ContainerChild, Error>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut inside = self.inside;
        let names_set = inside.hostname.is_some() || inside.domainname.is_some();
        if names_set && !inside.namespaces.contains(CloneFlags::NEWUTS) {
            // Without a UTS namespace of its own, the child would rename the host.
            return Err(Error::NeedsNamespace(CloneFlags::NEWUTS));
        }
        if inside.namespaces.contains(CloneFlags::NEWTIME) && inside.time_offsets.is_none() {
            // A new time namespace is entered from inside, with zero offsets unless set.
            inside.time_offsets = Some((0, 0));
        }
        let user_ns = inside.namespaces.contains(CloneFlags::NEWUSER);
        let maps_root = |m: Option<IdMap>| m.is_none_or(|m| m.inside == 0);
        inside.become_root = user_ns && maps_root(self.uid_map) && maps_root(self.gid_map);
        // `ready`: the parent tells the child its maps are written. `report`: the child
        // tells the parent how its set-up went, in one record.
        let (ready_r, ready_w) = fs::pipe2(PipeFlags::CLOEXEC)?;
        let (report_r, report_w) = fs::pipe2(PipeFlags::CLOEXEC)?;
        // The child's closure is 'static: it takes the four numbers, and its own copies of
        // the descriptors (see below).
        let numbers = [
            ready_r.as_raw(),
            ready_w.as_raw(),
            report_r.as_raw(),
            report_w.as_raw(),
        ];
        if inside.empty_mounts && !inside.namespaces.contains(CloneFlags::NEWNS) {
            // `namespaces()` after `empty_mounts()` dropped the mount namespace.
            return Err(Error::NeedsNamespace(CloneFlags::NEWNS));
        }
        // NEWTIME is entered from inside (see `enter_time_namespace`), not by clone; an
        // empty mount namespace is asked for as such (the kernel adds NEWNS).
        let mut clone_flags = inside.namespaces - CloneFlags::NEWTIME;
        if inside.empty_mounts {
            clone_flags = (clone_flags - CloneFlags::NEWNS) | CloneFlags::EMPTY_MNTNS;
        }
        let mut builder = ChildBuilder::new(clone_flags)
            .exit_signal(ExitSignal::SIGCHLD)
            .pidfd(true)
            .no_new_privs(self.no_new_privs);
        if let Some(size) = self.stack_size {
            builder = builder.stack_size(size);
        }
        let in_child = move || {
            // This fork-like child (namespace flags only: no CLONE_VM, no CLONE_FILES) got its
            // own copy of the descriptor table while the parent held the four pipe ends open,
            // and never drops the parent's `OwnedFd`s in its copy of memory (it ends with
            // exit_group, never returning into the parent's frames).
            // SAFETY: so the child alone owns its copies of the four numbers.
            let [ready_r, ready_w, report_r, report_w] =
                unsafe { numbers.map(|fd| OwnedFd::from_raw(fd)) };
            // Our copies of the parent's ends: closed, or the parent never sees EOF.
            drop(ready_w);
            drop(report_r);
            let result = set_up_inside(&inside, ready_r);
            let _ = fs::write_all(report_w.as_fd(), &SetupReport::from(result).encode());
            drop(report_w);
            match result {
                Ok(()) => f(),
                Err(_) => SETUP_FAILED,
            }
        };
        // SAFETY: the caller's contract (a single-threaded caller, or an `f` that keeps to
        // clonekit and core) is the one of `spawn_unchecked` for a fork-like child; the
        // set-up itself makes only clonekit calls.
        let spawned = unsafe { builder.spawn_unchecked(in_child) };
        let mut child = match spawned {
            Ok(child) => child,
            Err(Error::Os(crate::Errno::EINVAL)) if crate::program::emulated() => {
                return Err(Error::EmulatorRefused(clone_flags));
            }
            Err(e) => return Err(e),
        };
        drop(ready_r);
        drop(report_w);
        let pid = child.pid();
        let maps = if user_ns {
            self.write_maps(pid)
        } else {
            Ok(())
        };
        let released = maps.and_then(|()| Ok(fs::write_all(ready_w.as_fd(), b"1")?));
        if let Err(e) = released {
            // Closing the pipe unwritten tells the child to give up; reap it, leaving no
            // zombie behind.
            drop(ready_w);
            let _ = child.wait();
            return Err(e);
        }
        drop(ready_w);
        match read_report(report_r.as_fd()) {
            Some(SetupReport::Done) => Ok(ContainerChild { child }),
            Some(SetupReport::Failed(step, errno)) => {
                let _ = child.wait();
                Err(Error::ContainerSetup { step, errno })
            }
            None => {
                // The child died before it could report (a signal): say how it ended.
                let status = child.wait()?;
                Err(Error::ContainerDied(status))
            }
        }
    }

    fn write_maps(&self, pid: Pid) -> Result<(), Error> {
        let uid = self.uid_map.unwrap_or(IdMap::single(0, geteuid()));
        let gid = self.gid_map.unwrap_or(IdMap::single(0, getegid()));
        if self.deny_setgroups {
            idmap::deny_setgroups(pid)?;
        }
        idmap::write_gid_map(pid, &[gid])?;
        idmap::write_uid_map(pid, &[uid])
    }
}

/// The child's one record to the parent: 8 bytes, the step's number (0 for done) and the
/// errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetupReport {
    Done,
    Failed(SetupStep, crate::Errno),
}

impl SetupReport {
    fn encode(self) -> [u8; 8] {
        let (step, errno) = match self {
            SetupReport::Done => (0u32, 0i32),
            SetupReport::Failed(step, errno) => (step as u32 + 1, errno.raw()),
        };
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&step.to_ne_bytes());
        bytes[4..].copy_from_slice(&errno.to_ne_bytes());
        bytes
    }

    fn decode(bytes: [u8; 8]) -> Option<SetupReport> {
        let step = u32::from_ne_bytes(bytes[..4].try_into().ok()?);
        let errno = i32::from_ne_bytes(bytes[4..].try_into().ok()?);
        match step {
            0 => Some(SetupReport::Done),
            n => SetupStep::ALL
                .get(n as usize - 1)
                .map(|step| SetupReport::Failed(*step, crate::Errno::from_raw(errno))),
        }
    }
}

impl From<Result<(), (SetupStep, crate::Errno)>> for SetupReport {
    fn from(result: Result<(), (SetupStep, crate::Errno)>) -> SetupReport {
        match result {
            Ok(()) => SetupReport::Done,
            Err((step, errno)) => SetupReport::Failed(step, errno),
        }
    }
}

/// Reads the child's record; `None` if it ended first (end of file, or a garbled record).
fn read_report(fd: BorrowedFd<'_>) -> Option<SetupReport> {
    let mut bytes = [0u8; 8];
    match fs::read_full(fd, &mut bytes) {
        Ok(8) => SetupReport::decode(bytes),
        _ => None,
    }
}

/// The child's side: wait for the parent (on `ready`, which it closes then), then set up
/// each namespace; the first failure names its step.
fn set_up_inside(inside: &Inside, ready: OwnedFd) -> Result<(), (SetupStep, crate::Errno)> {
    let mut byte = [0u8; 1];
    loop {
        match fs::read(ready.as_fd(), &mut byte) {
            Ok(1) => break,
            Ok(_) => return Err((SetupStep::WaitForMaps, crate::Errno::EPIPE)),
            Err(crate::Errno::EINTR) => continue,
            Err(e) => return Err((SetupStep::WaitForMaps, e)),
        }
    }
    drop(ready);
    let at = |step: SetupStep| move |e: Error| (step, e.errno());
    if inside.become_root {
        // The maps are written: become the namespace's root, i.e. the outer ids mapped to
        // 0 (a process keeps its outer ids across clone; only setresuid moves it onto the map).
        setresgid(0, 0, 0).map_err(|e| (SetupStep::BecomeRoot, e))?;
        setresuid(0, 0, 0).map_err(|e| (SetupStep::BecomeRoot, e))?;
    }
    if let Some(name) = &inside.hostname {
        sysns::sethostname(name.as_bytes()).map_err(|e| (SetupStep::Hostname, e))?;
    }
    if let Some(name) = &inside.domainname {
        sysns::setdomainname(name.as_bytes()).map_err(|e| (SetupStep::Domainname, e))?;
    }
    if inside.empty_mounts {
        enter_tmpfs_root().map_err(at(SetupStep::EmptyRoot))?;
        if inside.mount_proc {
            mount_pid_proc().map_err(at(SetupStep::MountProc))?;
        }
    } else if inside.namespaces.contains(CloneFlags::NEWNS) {
        mount::make_private().map_err(at(SetupStep::PrivateMounts))?;
        if inside.mount_proc {
            mount::mount_proc(c"/proc").map_err(at(SetupStep::MountProc))?;
        }
    }
    if let Some((mono, boot)) = inside.time_offsets {
        enter_time_namespace(mono, boot).map_err(at(SetupStep::TimeNamespace))?;
    }
    Ok(())
}

/// In an empty mount namespace: mounts a tmpfs over the empty root and makes it the root and
/// working directory.
///
/// Looking up `/` gives the process's root itself, not what is mounted on it; `/..` at the
/// root does step onto the mount on top (as `..` always crosses into covering mounts), so
/// `chdir("/..")` then `chroot(".")` enters the tmpfs. That it did is checked: `/` must
/// then be a tmpfs.
fn enter_tmpfs_root() -> Result<(), Error> {
    mount::mount_tmpfs(c"/", Some(c"mode=755"))?;
    fs::chdir(c"/..")?;
    fs::chroot(c".")?;
    fs::chdir(c"/")?;
    let root = fs::openat(
        fs::CWD,
        c"/",
        fs::OFlags::RDONLY | fs::OFlags::DIRECTORY | fs::OFlags::CLOEXEC,
        0,
    )?;
    if fs::fstatfs_type(root.as_fd())? != u64::from(TMPFS_MAGIC) {
        // Still on the empty root's filesystem: "not the one we mounted".
        return Err(Error::Os(crate::Errno::EXDEV));
    }
    Ok(())
}

/// `tmpfs`'s `f_type` (include/uapi/linux/magic.h).
const TMPFS_MAGIC: u32 = linux_raw_sys::general::TMPFS_MAGIC;

/// Creates `/proc` and mounts a `proc` with only the processes (`subset=pid`, Linux 5.8): a
/// mount namespace owned by a user namespace may mount a full `proc` only where one is
/// already visible (`mount_too_revealing`), and an empty one has none.
fn mount_pid_proc() -> Result<(), Error> {
    mount::ensure_dir(c"/proc")?;
    let flags = sysns::MountFlags::NOSUID | sysns::MountFlags::NODEV | sysns::MountFlags::NOEXEC;
    sysns::mount(
        Some(c"proc"),
        c"/proc",
        Some(c"proc"),
        flags,
        Some(c"subset=pid"),
    )?;
    Ok(())
}

/// Creates a time namespace for children, writes its offsets while no process is in it,
/// and enters it: `unshare(CLONE_NEWTIME)`, `timens_offsets`, `setns(time_for_children)`.
fn enter_time_namespace(monotonic_secs: i64, boottime_secs: i64) -> Result<(), Error> {
    namespace::unshare(CloneFlags::NEWTIME)?;
    let mut text = PathBuf::format(format_args!(
        "monotonic {monotonic_secs} 0\nboottime {boottime_secs} 0\n"
    ))?;
    let len = text.as_c_str().to_bytes().len();
    procfs::write_once(
        c"/proc/self/timens_offsets",
        &text.as_c_str().to_bytes()[..len],
    )?;
    text = PathBuf::proc(None, "ns/time_for_children")?;
    let fd = fs::openat(
        fs::CWD,
        text.as_c_str(),
        fs::OFlags::RDONLY | fs::OFlags::CLOEXEC,
        0,
    )?;
    namespace::setns(fd.as_fd(), Namespace::Time)
}

/// A running container: its init's pid (outside), pidfd, and `wait`.
#[derive(Debug)]
pub struct ContainerChild {
    child: Child,
}

impl ContainerChild {
    /// The container init's PID as the caller sees it.
    pub fn pid(&self) -> Pid {
        self.child.pid()
    }

    /// Its pidfd.
    pub fn pidfd(&self) -> Option<&PidFd> {
        self.child.pidfd()
    }

    /// Waits for it (as [`Child::wait`]: a second call returns the cached status).
    pub fn wait(&mut self) -> crate::Result<ExitStatus, crate::Errno> {
        self.child.wait()
    }

    /// As [`Child::try_wait`]: `None` while it runs.
    pub fn try_wait(&mut self) -> crate::Result<Option<ExitStatus>, crate::Errno> {
        self.child.try_wait()
    }

    /// Kills its init with `SIGKILL`, as [`Child::kill`] (killing a PID namespace's init
    /// kills everything in it).
    pub fn kill(&mut self) -> crate::Result<(), crate::Errno> {
        self.child.kill()
    }

    /// Sends `sig` to its init, as [`Child::signal`].
    pub fn signal(&self, sig: crate::sys::signal::Signal) -> crate::Result<(), crate::Errno> {
        self.child.signal(sig)
    }

    /// The underlying child.
    pub fn into_child(self) -> Child {
        self.child
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_reports_round_trip_and_garbage_is_refused() {
        let mut reports = [SetupReport::Done; SetupStep::ALL.len() + 1];
        for (i, step) in SetupStep::ALL.iter().enumerate() {
            reports[i + 1] = SetupReport::Failed(*step, crate::Errno::EPERM);
        }
        for report in reports {
            assert_eq!(SetupReport::decode(report.encode()), Some(report));
        }
        let mut garbled = SetupReport::Done.encode();
        garbled[..4].copy_from_slice(&99u32.to_ne_bytes());
        assert_eq!(SetupReport::decode(garbled), None);
    }
}
