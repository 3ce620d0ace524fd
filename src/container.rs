//! A container-style child in one call: new namespaces (UTS, PID, mount, IPC, network, user,
//! and optionally cgroup and time), a hostname, id maps, a private `/proc`: the seed's
//! "Container Isolation Model" as an init system wants it.
//!
//! ```no_run
//! use clonekit::container::Container;
//! use clonekit::idmap::IdMap;
//!
//! let child = Container::new()
//!     .hostname(b"webapp-container")
//!     .uid_map(IdMap::single(0, 1000))
//!     .gid_map(IdMap::single(0, 1000))
//!     .spawn(|| {
//!         // PID 1 of its own PID namespace, root inside, only `lo`, its own /proc.
//!         if clonekit::sys::process::getpid() == 1 { 0 } else { 1 }
//!     })
//!     .unwrap();
//! assert!(child.wait().unwrap().success());
//! ```

use crate::error::Error;
use crate::fd::RawFd;
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

/// The six namespaces of the seed's container model.
pub const CLASSIC_NAMESPACES: CloneFlags = CloneFlags::NEWUTS
    .union(CloneFlags::NEWPID)
    .union(CloneFlags::NEWNS)
    .union(CloneFlags::NEWIPC)
    .union(CloneFlags::NEWNET)
    .union(CloneFlags::NEWUSER);

/// Exit status of a container child whose set-up failed before `f` ran (like `env`'s 125).
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
}

/// Builder of a container-style child. Start from [`Container::new`].
#[derive(Debug, Clone)]
pub struct Container {
    inside: Inside,
    uid_map: Option<IdMap>,
    gid_map: Option<IdMap>,
    deny_setgroups: bool,
    stack_size: Option<usize>,
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
            },
            uid_map: None,
            gid_map: None,
            deny_setgroups: true,
            stack_size: None,
            error: None,
        }
    }

    /// Exactly these namespaces (`CLONE_NEW*` flags only; `CLONE_NEWCGROUP` and
    /// `CLONE_NEWTIME` are welcome).
    pub fn namespaces(mut self, flags: CloneFlags) -> Container {
        let stray = flags - CloneFlags::ALL_NAMESPACES;
        if !stray.is_empty() {
            self.error = Some(FlagError::UnshareUnsupported(stray).into());
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

    /// The child's stack size (default [`Stack::DEFAULT_SIZE`](crate::Stack::DEFAULT_SIZE)).
    pub fn stack_size(mut self, size: usize) -> Container {
        self.stack_size = Some(size);
        self
    }

    /// Starts `f` in the container and returns once it runs with its maps written.
    ///
    /// The child waits on a pipe until the parent has written its id maps (user
    /// namespaces need the parent to do it), becomes uid and gid 0 inside when both maps map
    /// 0 (so uid 0 inside is the chosen outer uid), then sets the hostname, makes mounts private,
    /// mounts `/proc`, enters the time namespace, and runs `f`; a set-up failure exits with
    /// [`SETUP_FAILED`]. In a program with a libc, `f` must not call into libc or std.
    pub fn spawn<F>(self, f: F) -> Result<ContainerChild, Error>
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
        let (ready_r, ready_w) = fs::pipe2(PipeFlags::CLOEXEC)?;
        let (r, w) = (ready_r.as_raw(), ready_w.as_raw());
        // NEWTIME is entered from inside (see `enter_time_namespace`), not by clone.
        let clone_flags = inside.namespaces - CloneFlags::NEWTIME;
        let mut builder = ChildBuilder::new(clone_flags)
            .exit_signal(ExitSignal::SIGCHLD)
            .pidfd(true);
        if let Some(size) = self.stack_size {
            builder = builder.stack_size(size);
        }
        let child = builder.spawn(move || {
            let _ = fs::close(w);
            match set_up_inside(&inside, r) {
                Ok(()) => f(),
                Err(_) => SETUP_FAILED,
            }
        })?;
        drop(ready_r);
        let pid = child.pid();
        let maps = if user_ns {
            self.write_maps(pid)
        } else {
            Ok(())
        };
        let released = maps.and_then(|()| write_byte(ready_w.as_raw()));
        if let Err(e) = released {
            // Closing the pipe unwritten tells the child to give up; reap it, leaving no
            // zombie behind.
            drop(ready_w);
            let _ = child.wait();
            return Err(e);
        }
        Ok(ContainerChild { child })
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

fn write_byte(fd: RawFd) -> Result<(), Error> {
    loop {
        match fs::write(fd, b"1") {
            Ok(_) => return Ok(()),
            Err(crate::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The child's side: wait for the parent, then set up each namespace.
fn set_up_inside(inside: &Inside, ready: RawFd) -> Result<(), Error> {
    let mut byte = [0u8; 1];
    loop {
        match fs::read(ready, &mut byte) {
            Ok(1) => break,
            Ok(_) => return Err(Error::Os(crate::Errno::EPIPE)),
            Err(crate::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let _ = fs::close(ready);
    if inside.become_root {
        // The maps are written: become the namespace's root, i.e. the outer ids mapped to
        // 0 (a process keeps its outer ids across clone; only setresuid moves it onto the map).
        setresgid(0, 0, 0)?;
        setresuid(0, 0, 0)?;
    }
    if let Some(name) = &inside.hostname {
        sysns::sethostname(name.as_bytes())?;
    }
    if let Some(name) = &inside.domainname {
        sysns::setdomainname(name.as_bytes())?;
    }
    if inside.namespaces.contains(CloneFlags::NEWNS) {
        mount::make_private()?;
        if inside.mount_proc {
            mount::mount_proc(c"/proc")?;
        }
    }
    if let Some((mono, boot)) = inside.time_offsets {
        enter_time_namespace(mono, boot)?;
    }
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
        fs::AT_FDCWD,
        text.as_c_str(),
        fs::OFlags::RDONLY | fs::OFlags::CLOEXEC,
        0,
    )?;
    namespace::setns(fd.as_raw(), Namespace::Time)
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

    /// Waits for it (killing a PID namespace's init kills everything in it).
    pub fn wait(self) -> crate::Result<ExitStatus> {
        self.child.wait()
    }

    /// The underlying child.
    pub fn into_child(self) -> Child {
        self.child
    }
}
