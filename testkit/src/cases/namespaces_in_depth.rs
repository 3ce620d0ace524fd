//! Every isolation a namespace flag promises, shown from both sides, plus `setns`,
//! `unshare` and the kernel's refusals. Each proof needs `CAP_SYS_ADMIN` (root, or PID 1 in
//! the guest).
//!
//! Children return 0 when every check they make passes, or the number of the first check
//! that failed; the parent reports that number as "got".

use core::ffi::CStr;
use core::sync::atomic::Ordering;

use clonekit::container::Container;
use clonekit::fd::{BorrowedFd, OwnedFd};
use clonekit::flags::{CloneFlags, ExitSignal};
use clonekit::idmap::IdMap;
use clonekit::namespace::{self, Namespace};
use clonekit::process::{ChildBuilder, fork_with};
use clonekit::procfs::{self, PathBuf};
use clonekit::raw;
use clonekit::sys::fs::{self, CWD, OFlags};
use clonekit::sys::ns as sysns;
use clonekit::sys::process::{geteuid, getpid, getppid, getuid};
use clonekit::sys::time::{ClockId, clock_gettime};
use clonekit::validate::FlagError;
use clonekit::{Errno, Error, mount};

use crate::case::{Case, Ctx, Fail, Outcome, case, child_ok, diag, eq, is_true};
use crate::gate::Gate;
use crate::observe::fs::{count_dir_entries, unlinkat};
use crate::observe::ipc;
use crate::observe::net::{IFF_LOOPBACK, IFF_UP, interface_flags, set_interface_flags};
use crate::shared::{reset_slots, slot, wait_nonzero};

/// Every namespace case, in report order.
pub const CASES: &[Case] = &[
    case!(newuts_hostname_and_domainname_isolated),
    case!(newpid_child_is_pid_1_with_ppid_0),
    case!(newpid_own_proc_lists_only_its_tree),
    case!(newpid_parent_sees_the_outer_pid),
    case!(newpid_nested_namespaces),
    case!(newpid_killing_init_kills_the_namespace),
    case!(newns_tmpfs_invisible_outside),
    case!(newns_pivot_root_gives_a_new_root),
    case!(newipc_queues_invisible_both_ways),
    case!(newnet_only_lo_down_until_brought_up),
    case!(newuser_uid_0_inside_is_the_mapped_outer_uid),
    case!(newuser_without_maps_is_the_overflow_uid),
    case!(newuser_capabilities_do_not_reach_outside),
    case!(newcgroup_root_is_the_childs_cgroup),
    case!(newtime_monotonic_offset_seen_inside_only),
    case!(setns_back_into_the_parents_uts_restores_hostname),
    case!(setns_pidfd_joins_a_childs_namespaces),
    case!(unshare_newuts_newipc_newnet_newns_stay_private),
    case!(unshare_newpid_next_child_is_pid_1),
    case!(unshare_newuser_then_overflow_uid),
    case!(refuse_newpid_with_thread_einval),
    case!(refuse_newuser_with_fs_einval),
    case!(refuse_newipc_with_sysvsem_einval),
    case!(refuse_thread_after_unshare_newpid_einval),
    case!(refuse_setns_with_the_wrong_kind_einval),
    case!(refuse_pid_nesting_past_32_enospc),
    case!(refuse_user_nesting_past_32_enospc),
];

fn newuts_hostname_and_domainname_isolated() -> Outcome {
    // `Utsname` is `Copy`: what uname said before the child ran.
    let before = sysns::uname();
    let child = Container::new()
        .namespaces(CloneFlags::NEWUTS)
        .hostname(b"my-container-host")
        .domainname(b"clonekit.test")
        .spawn(|| {
            let uts = sysns::uname();
            if uts.nodename() != b"my-container-host" {
                return 1;
            }
            if uts.domainname() != b"clonekit.test" {
                return 2;
            }
            0
        });
    child_ok(
        "child sees its own hostname and domain name",
        child.ctx("spawn")?.wait(),
    )?;
    is_true(
        "the parent's hostname is unchanged",
        sysns::uname().nodename() == before.nodename(),
    )?;
    is_true(
        "the parent's domain name is unchanged",
        sysns::uname().domainname() == before.domainname(),
    )
}

fn newpid_child_is_pid_1_with_ppid_0() -> Outcome {
    let child = ChildBuilder::new(CloneFlags::NEWPID).spawn(|| {
        if getpid() != 1 {
            return 1;
        }
        if getppid() != 0 {
            return 2;
        }
        0
    });
    child_ok(
        "getpid() == 1 and getppid() == 0 inside",
        child.ctx("spawn")?.wait(),
    )
}

/// Counts the numeric (process) entries of the `/proc` mounted at `/proc`.
fn count_proc_pids() -> Result<usize, Errno> {
    let dir = fs::openat(
        CWD,
        c"/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        0,
    )?;
    let mut buf = [0u8; 2048];
    let mut pids = 0;
    fs::for_each_dir_entry(dir.as_fd(), &mut buf, |e| {
        let name = e.name.to_bytes();
        if !name.is_empty() && name.iter().all(u8::is_ascii_digit) {
            pids += 1;
        }
    })?;
    Ok(pids)
}

fn newpid_own_proc_lists_only_its_tree() -> Outcome {
    reset_slots(1);
    let mut gate = Gate::new()?;
    let side = gate.child_side();
    let mut child = Container::new()
        .namespaces(CloneFlags::NEWPID | CloneFlags::NEWNS)
        .spawn(move || {
            let code = match count_proc_pids() {
                // Only itself: PID 1 of the namespace.
                Ok(1) => 0,
                Ok(n) => 10 + n.min(100) as i32,
                Err(_) => 1,
            };
            slot(0).store(1, Ordering::SeqCst);
            // SAFETY: a clonekit child (a Container's init) made while the gate exists, with
            // its own copy of the descriptor table (no CLONE_FILES).
            let _ = unsafe { Gate::wait(side) };
            code
        })
        .ctx("spawn")?;
    wait_nonzero(0);
    // While the child runs: the parent's /proc lists the parent and the child (by its outer
    // pid), and more processes than the child's /proc showed.
    let outside = count_proc_pids().ctx("count /proc outside");
    let own = PathBuf::proc(Some(getpid()), "status").ctx("name our /proc entry")?;
    let childs = PathBuf::proc(Some(child.pid()), "status").ctx("name the child's entry")?;
    let listed = exists(own.as_c_str()) && exists(childs.as_c_str());
    gate.open();
    child_ok("its own /proc lists only itself", child.wait())?;
    is_true(
        "the parent's /proc lists itself and the child, at least 2 processes, while it runs",
        listed && outside? >= 2,
    )
}

/// The `NSpid:` line of `/proc/<pid>/status` (`/proc/self` for `None`): the pid at each PID
/// namespace level, from the level of the `/proc` mount inwards.
fn nspid(pid: Option<i32>) -> Result<([i64; 8], usize), Errno> {
    let path = PathBuf::proc(pid, "status")?;
    let mut buf = [0u8; 2048];
    let n = procfs::read(path.as_c_str(), &mut buf)?;
    let field = procfs::status_field(&buf[..n], "NSpid").ok_or(Errno::ENOENT)?;
    let mut out = ([0i64; 8], 0);
    for word in field
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        if out.1 < 8 {
            out.0[out.1] = procfs::parse_u64(word).ok_or(Errno::EINVAL)? as i64;
            out.1 += 1;
        }
    }
    Ok(out)
}

fn newpid_parent_sees_the_outer_pid() -> Outcome {
    let mut gate = Gate::new()?;
    let side = gate.child_side();
    let mut child = ChildBuilder::new(CloneFlags::NEWPID)
        .spawn(move || {
            // SAFETY: a clonekit child made while the gate exists, with its own copy of the
            // descriptor table (no CLONE_FILES).
            if unsafe { Gate::wait(side) } { 0 } else { 1 }
        })
        .ctx("spawn")?;
    let outer = child.pid();
    let levels = nspid(Some(outer));
    gate.open();
    let (ids, n) = levels.ctx("read NSpid of the child")?;
    child_ok("child", child.wait())?;
    is_true("the parent sees an outer pid other than 1", outer > 1)?;
    eq(
        "NSpid starts with the pid clone returned",
        i64::from(outer),
        ids[0],
    )?;
    eq("NSpid has two levels: ours and the child's", 2, n as i64)?;
    eq("the innermost pid is 1", 1, ids[n - 1])
}

fn newpid_nested_namespaces() -> Outcome {
    let child = ChildBuilder::new(CloneFlags::NEWPID).spawn(|| {
        if getpid() != 1 {
            return 1;
        }
        let grandchild = ChildBuilder::new(CloneFlags::NEWPID).spawn(|| {
            if getpid() != 1 {
                return 1;
            }
            // Our NSpid through the outer /proc: outer pid, 2 in the middle namespace (whose
            // init is our parent), 1 in ours.
            match nspid(None) {
                Ok((ids, n)) if n >= 3 && ids[n - 1] == 1 && ids[n - 2] == 2 => 0,
                Ok(_) => 2,
                Err(_) => 3,
            }
        });
        match grandchild.map(|mut g| g.wait()) {
            Ok(Ok(status)) if status.success() => 0,
            Ok(Ok(status)) => 10 + status.code().unwrap_or(50),
            _ => 4,
        }
    });
    child_ok(
        "a PID namespace inside a PID namespace: pid 1 at each level",
        child.ctx("spawn")?.wait(),
    )
}

fn newpid_killing_init_kills_the_namespace() -> Outcome {
    // The grandchild holds the write end of a pipe: the read end sees EOF only once every
    // process holding it is gone.
    let (read, write) = fs::pipe2(fs::PipeFlags::CLOEXEC).ctx("pipe2")?;
    let (r, w) = (read.as_raw(), write.as_raw());
    let mut gate = Gate::new()?;
    let side = gate.child_side();
    reset_slots(1);
    let mut init = ChildBuilder::new(CloneFlags::NEWPID)
        .spawn(move || {
            // SAFETY: this child has its own copy of the descriptor table (no CLONE_FILES),
            // made while `read` and `write` were open; the parent's owners of them, in its
            // copy of memory, are never dropped here (a clonekit child never returns into
            // the parent's frames): the child alone owns its copies.
            let (r, w) = unsafe { (OwnedFd::from_raw(r), OwnedFd::from_raw(w)) };
            drop(r);
            // A grandchild that would sleep forever, holding `w` (fork keeps fds, CLOEXEC only
            // matters for exec).
            let sleeper = fork_with(CloneFlags::empty(), ExitSignal::SIGCHLD, || {
                loop {
                    let _ = clonekit::sys::time::nanosleep(&clonekit::sys::time::Timespec::new(
                        3600, 0,
                    ));
                }
            });
            drop(w);
            if sleeper.is_err() {
                return 1;
            }
            core::mem::forget(sleeper);
            // Tell the parent the sleeper exists, then wait to be killed.
            slot(0).store(1, Ordering::SeqCst);
            // SAFETY: a clonekit child made while the gate exists, with its own copy of the
            // descriptor table (no CLONE_FILES).
            let _ = unsafe { Gate::wait(side) };
            loop {
                let _ =
                    clonekit::sys::time::nanosleep(&clonekit::sys::time::Timespec::new(3600, 0));
            }
        })
        .ctx("spawn the namespace init")?;
    drop(write);
    // Wait until the init has forked the sleeper (10 s at most); then kill the init alone.
    eq(
        "the namespace's init forked its sleeper",
        1,
        wait_nonzero(0),
    )?;
    init.kill().ctx("kill the namespace's init")?;
    let status = init.wait().ctx("wait for the init")?;
    eq(
        "the init died of SIGKILL",
        128 + 9,
        clonekit::init::exit_code(status),
    )?;
    let mut fds = [fs::PollFd::new(read.as_fd(), fs::PollFlags::IN)];
    let timeout = clonekit::sys::time::Timespec::new(10, 0);
    let ready = fs::poll(&mut fds, Some(&timeout)).ctx("poll the pipe")?;
    eq(
        "the pipe hit EOF within 10 s: the grandchild was killed too",
        1,
        ready as i64,
    )?;
    let mut byte = [0u8; 1];
    let n = fs::read(read.as_fd(), &mut byte).ctx("read the pipe")?;
    drop(read);
    gate.open();
    eq("read returns 0 (no writer is left alive)", 0, n as i64)
}

fn unique_dir(prefix: &str) -> Result<PathBuf, Fail> {
    let path = PathBuf::format(format_args!("/tmp/clonekit-{prefix}-{}", getpid()))
        .ctx("name a directory")?;
    mount::ensure_dir(path.as_c_str()).ctx("mkdir under /tmp")?;
    Ok(path)
}

fn exists(path: &CStr) -> bool {
    fs::openat(CWD, path, OFlags::RDONLY | OFlags::CLOEXEC, 0).is_ok()
}

fn newns_tmpfs_invisible_outside() -> Outcome {
    let dir = unique_dir("mnt")?;
    let file = PathBuf::format(format_args!("{}/inside", dir_str(&dir))).ctx("name a file")?;
    let (d, f) = (dir, file);
    let child = ChildBuilder::new(CloneFlags::NEWNS).spawn(move || {
        if mount::make_private().is_err() {
            return 1;
        }
        if mount::mount_tmpfs(d.as_c_str(), None).is_err() {
            return 2;
        }
        let created = fs::openat(
            CWD,
            f.as_c_str(),
            OFlags::WRONLY | OFlags::CREAT | OFlags::CLOEXEC,
            0o644,
        );
        if created.is_err() {
            return 3;
        }
        if !exists(f.as_c_str()) {
            return 4;
        }
        0
    });
    child_ok(
        "the child mounts a tmpfs and writes in it",
        child.ctx("spawn")?.wait(),
    )?;
    let visible = exists(file.as_c_str());
    let _ = unlinkat(CWD, dir.as_c_str(), true);
    is_true(
        "the file in the child's tmpfs is not visible outside",
        !visible,
    )
}

fn newns_pivot_root_gives_a_new_root() -> Outcome {
    let dir = unique_dir("root")?;
    let d = dir;
    let child = ChildBuilder::new(CloneFlags::NEWNS).spawn(move || {
        if mount::make_private().is_err() {
            return 1;
        }
        let target = if mount::root_is_rootfs() {
            // An initramfs root (the QEMU guest): the kernel refuses pivot_root from rootfs,
            // so leave it the switch_root way first, into a tmpfs holding the target.
            if mount::mount_tmpfs(d.as_c_str(), None).is_err()
                || mount::switch_root(d.as_c_str()).is_err()
            {
                return 6;
            }
            if mount::ensure_dir(c"/new-root").is_err() {
                return 7;
            }
            c"/new-root"
        } else {
            d.as_c_str()
        };
        if mount::pivot_into_tmpfs(target).is_err() {
            return 2;
        }
        // The old tree is gone: no /proc, no /tmp, and "/" is an empty tmpfs.
        if exists(c"/proc/self") || exists(c"/tmp") {
            return 3;
        }
        let root = fs::openat(
            CWD,
            c"/",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            0,
        );
        let mut buf = [0u8; 512];
        match root.map(|r| count_dir_entries(r.as_fd(), &mut buf)) {
            Ok(Ok(0)) => {}
            _ => return 4,
        }
        if fs::mkdirat(CWD, c"/made-in-new-root", 0o755).is_err() || !exists(c"/made-in-new-root") {
            return 5;
        }
        0
    });
    child_ok(
        "pivot_root into a tmpfs: an empty new root",
        child.ctx("spawn")?.wait(),
    )?;
    is_true(
        "the parent's root is untouched",
        exists(c"/proc/self") && !exists(c"/made-in-new-root"),
    )?;
    let _ = unlinkat(CWD, dir.as_c_str(), true);
    Ok(())
}

fn newipc_queues_invisible_both_ways() -> Outcome {
    let outside_key = 0x0c10_0000 + getpid();
    let inside_key = 0x0c20_0000 + getpid();
    let outside = ipc::msgget(outside_key, ipc::IPC_CREAT | 0o600).ctx("msgget outside")?;
    let child = ChildBuilder::new(CloneFlags::NEWIPC).spawn(move || {
        if ipc::msgget(outside_key, 0) != Err(Errno::ENOENT) {
            return 1;
        }
        if ipc::msgget(inside_key, ipc::IPC_CREAT | 0o600).is_err() {
            return 2;
        }
        0
    });
    let passed = child_ok(
        "the parent's queue is invisible inside",
        child.ctx("spawn")?.wait(),
    );
    let seen = ipc::msgget(inside_key, 0);
    let _ = ipc::msgctl_rmid(outside);
    passed?;
    eq(
        "the child's queue is invisible outside (ENOENT)",
        -i64::from(Errno::ENOENT.raw()),
        match seen {
            Ok(_) => 0,
            Err(e) => -i64::from(e.raw()),
        },
    )
}

/// Interface names in `/proc/self/net/dev` (this process's network namespace).
fn interfaces(names: &mut [[u8; 16]; 8]) -> Result<usize, Errno> {
    let mut buf = [0u8; 4096];
    let n = procfs::read(c"/proc/self/net/dev", &mut buf)?;
    let mut count = 0;
    for line in buf[..n].split(|&b| b == b'\n').skip(2) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if count < names.len() && name.len() <= 16 {
            names[count][..name.len()].copy_from_slice(name);
            count += 1;
        }
    }
    Ok(count)
}

fn newnet_only_lo_down_until_brought_up() -> Outcome {
    let mut outside = [[0u8; 16]; 8];
    let outside_count = interfaces(&mut outside).ctx("read /proc/self/net/dev")?;
    let lo_before = interface_flags(b"lo").ctx("the parent's lo flags")?;
    let own_ns = ns_inode(Namespace::Net).ctx("our network namespace")?;
    reset_slots(1);
    let child = ChildBuilder::new(CloneFlags::NEWNET).spawn(move || {
        if let Ok(inode) = ns_inode(Namespace::Net) {
            slot(0).store(inode, Ordering::SeqCst);
        }
        let mut names = [[0u8; 16]; 8];
        match interfaces(&mut names) {
            Ok(1) if names[0].starts_with(b"lo\0") => {}
            Ok(_) => return 1,
            Err(_) => return 2,
        }
        // A new network namespace's loopback starts down ...
        match interface_flags(b"lo") {
            Ok(f) if f & IFF_LOOPBACK != 0 && f & IFF_UP == 0 => {}
            _ => return 3,
        }
        // ... and comes up when brought up.
        if set_interface_flags(b"lo", IFF_LOOPBACK | IFF_UP).is_err() {
            return 4;
        }
        match interface_flags(b"lo") {
            Ok(f) if f & IFF_UP != 0 => 0,
            _ => 5,
        }
    });
    child_ok(
        "only lo inside, down until brought up",
        child.ctx("spawn")?.wait(),
    )?;
    is_true(
        "the parent still has its loopback",
        outside[..outside_count]
            .iter()
            .any(|n| n.starts_with(b"lo\0")),
    )?;
    is_true(
        "the child's network namespace is another one",
        slot(0).load(Ordering::SeqCst) != own_ns && own_ns != 0,
    )?;
    let lo_after = interface_flags(b"lo").ctx("the parent's lo flags")?;
    eq(
        "the parent's lo is untouched by the child bringing its own up",
        i64::from(lo_before),
        i64::from(lo_after),
    )
}

/// The identity (inode) of this process's namespace of `kind`, as a slot value.
fn ns_inode(kind: Namespace) -> Result<i64, Error> {
    namespace::id(None, kind).map(|id| id as i64)
}

/// The effective uid in `/proc/<pid>/status` as the reader's user namespace sees it.
fn status_uid(pid: i32) -> Result<i64, Errno> {
    let path = PathBuf::proc(Some(pid), "status")?;
    let mut buf = [0u8; 2048];
    let n = procfs::read(path.as_c_str(), &mut buf)?;
    let uid = procfs::status_field(&buf[..n], "Uid").ok_or(Errno::ENOENT)?;
    let real = uid
        .split(|b| b.is_ascii_whitespace())
        .next()
        .ok_or(Errno::EINVAL)?;
    procfs::parse_u64(real)
        .map(|u| u as i64)
        .ok_or(Errno::EINVAL)
}

const OUTER_UID: u32 = 12345;

fn newuser_uid_0_inside_is_the_mapped_outer_uid() -> Outcome {
    let mut gate = Gate::new()?;
    let side = gate.child_side();
    reset_slots(1);
    let mut child = Container::new()
        .namespaces(CloneFlags::NEWUSER)
        .uid_map(IdMap::single(0, OUTER_UID))
        .gid_map(IdMap::single(0, OUTER_UID))
        .spawn(move || {
            if getuid() != 0 || geteuid() != 0 {
                return 1;
            }
            slot(0).store(1, Ordering::SeqCst);
            // SAFETY: a clonekit child (a Container's init) made while the gate exists,
            // with its own copy of the descriptor table (no CLONE_FILES).
            if unsafe { Gate::wait(side) } { 0 } else { 2 }
        })
        .ctx("spawn")?;
    // Read the child's uid from outside once it runs as root inside.
    wait_nonzero(0);
    let outer = status_uid(child.pid());
    gate.open();
    child_ok("uid 0 inside", child.wait())?;
    eq(
        "the parent sees the child's uid as the mapped outer uid",
        i64::from(OUTER_UID),
        outer.ctx("read the child's status")?,
    )
}

fn newuser_without_maps_is_the_overflow_uid() -> Outcome {
    let child =
        ChildBuilder::new(CloneFlags::NEWUSER).spawn(|| if getuid() == 65534 { 0 } else { 1 });
    child_ok(
        "without maps the child is the overflow uid 65534",
        child.ctx("spawn")?.wait(),
    )
}

fn newuser_capabilities_do_not_reach_outside() -> Outcome {
    let child = ChildBuilder::new(CloneFlags::NEWUSER).spawn(|| {
        // Full capabilities inside its own user namespace ...
        let caps = clonekit::sys::process::capget(0);
        if !caps.is_ok_and(|c| c.has_effective(clonekit::sys::process::CAP_SYS_ADMIN)) {
            return 1;
        }
        // ... but the UTS namespace it shares with the parent belongs to the parent's user
        // namespace: changing its hostname is refused.
        match sysns::sethostname(b"should-not-happen") {
            Err(Errno::EPERM) => 0,
            Ok(()) => 2,
            Err(_) => 3,
        }
    });
    child_ok(
        "CAP_SYS_ADMIN inside, EPERM on the parent's hostname",
        child.ctx("spawn")?.wait(),
    )
}

/// Where cgroup2 is mounted, from `/proc/self/mounts`.
pub(super) fn cgroup2_mount(out: &mut [u8; 64]) -> Option<usize> {
    let mut buf = [0u8; 8192];
    let n = procfs::read(c"/proc/self/mounts", &mut buf).ok()?;
    // The last cgroup2 line is the topmost mount: one listed earlier may be hidden under a
    // later mount (a runner that mounts a fresh sysfs over the host's /sys still lists the
    // host's /sys/fs/cgroup/unified, now unreachable).
    buf[..n].split(|&b| b == b'\n').rev().find_map(|line| {
        let mut words = line.split(|&b| b == b' ');
        let (_, dir, kind) = (words.next()?, words.next()?, words.next()?);
        (kind == b"cgroup2" && dir.len() < out.len()).then(|| {
            out[..dir.len()].copy_from_slice(dir);
            dir.len()
        })
    })
}

fn newcgroup_root_is_the_childs_cgroup() -> Outcome {
    let mut mnt = [0u8; 64];
    let Some(len) = cgroup2_mount(&mut mnt) else {
        diag!("no cgroup2 mount in /proc/self/mountinfo");
        return Err(Fail::Failed);
    };
    let mnt = core::str::from_utf8(&mnt[..len]).unwrap_or("/sys/fs/cgroup");
    let dir = PathBuf::format(format_args!("{mnt}/clonekit-{}", getpid())).ctx("name a cgroup")?;
    mount::ensure_dir(dir.as_c_str()).ctx("mkdir the cgroup")?;
    let fd = fs::openat(
        CWD,
        dir.as_c_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        0,
    )
    .ctx("open the cgroup")?;
    let mut gate = Gate::new()?;
    let side = gate.child_side();
    let child = ChildBuilder::new(CloneFlags::NEWCGROUP)
        .cgroup(fd.as_fd())
        .spawn(move || {
            let mut buf = [0u8; 256];
            let ok = procfs::read(c"/proc/self/cgroup", &mut buf)
                .is_ok_and(|n| buf[..n].split(|&b| b == b'\n').any(|l| l == b"0::/"));
            // SAFETY: a clonekit child made while the gate exists, with its own copy of the
            // descriptor table (no CLONE_FILES).
            let opened = unsafe { Gate::wait(side) };
            if !ok {
                1
            } else if opened {
                0
            } else {
                2
            }
        });
    let mut child = child.ctx("spawn into the cgroup with CLONE_INTO_CGROUP")?;
    let mut buf = [0u8; 256];
    let path = PathBuf::proc(Some(child.pid()), "cgroup").ctx("name")?;
    let outside = procfs::read(path.as_c_str(), &mut buf);
    gate.open();
    let passed = child_ok("the child sees its cgroup as the root 0::/", child.wait());
    drop(fd);
    let _ = unlinkat(CWD, dir.as_c_str(), true);
    passed?;
    let n = outside.ctx("read the child's cgroup from outside")?;
    let want = PathBuf::format(format_args!("/clonekit-{}", getpid())).ctx("name the cgroup")?;
    let line_ends_with_dir = buf[..n]
        .split(|&b| b == b'\n')
        .any(|l| l.starts_with(b"0::") && l.ends_with(want.as_c_str().to_bytes()));
    is_true(
        "the parent sees the child in clonekit-<pid>",
        line_ends_with_dir,
    )
}

const TIME_OFFSET_SECS: i64 = 100_000;

fn newtime_monotonic_offset_seen_inside_only() -> Outcome {
    reset_slots(1);
    let before = clock_gettime(ClockId::Monotonic).ctx("clock_gettime outside")?;
    let child = Container::new()
        .namespaces(CloneFlags::empty())
        .time_offsets(TIME_OFFSET_SECS, TIME_OFFSET_SECS)
        .spawn(move || match clock_gettime(ClockId::Monotonic) {
            Ok(t) => {
                slot(0).store(t.tv_sec, Ordering::SeqCst);
                0
            }
            Err(_) => 1,
        });
    child_ok("the child reads its clock", child.ctx("spawn")?.wait())?;
    let after = clock_gettime(ClockId::Monotonic).ctx("clock_gettime outside")?;
    let inside = slot(0).load(Ordering::SeqCst);
    is_true(
        "CLOCK_MONOTONIC inside is ahead by the offset",
        inside >= before.tv_sec + TIME_OFFSET_SECS && inside <= after.tv_sec + TIME_OFFSET_SECS,
    )?;
    is_true(
        "the parent's clock has no offset",
        after.tv_sec < before.tv_sec + TIME_OFFSET_SECS,
    )
}

fn setns_back_into_the_parents_uts_restores_hostname() -> Outcome {
    let before = sysns::uname();
    let parent_uts = namespace::open(None, Namespace::Uts).ctx("open our uts namespace")?;
    let fd = parent_uts.as_raw();
    let child = ChildBuilder::new(CloneFlags::NEWUTS).spawn(move || {
        // SAFETY: this child has its own copy of the descriptor table (no CLONE_FILES), made
        // while `parent_uts` was open, and nothing closes it there.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        if sysns::sethostname(b"inner-host").is_err() || sysns::uname().nodename() != b"inner-host"
        {
            return 1;
        }
        if namespace::setns(fd, Namespace::Uts).is_err() {
            return 2;
        }
        if sysns::uname().nodename() != before.nodename() {
            3
        } else {
            0
        }
    });
    child_ok(
        "after setns the parent's hostname is back",
        child.ctx("spawn")?.wait(),
    )
}

fn setns_pidfd_joins_a_childs_namespaces() -> Outcome {
    let mut gate = Gate::new()?;
    let side = gate.child_side();
    let mut target = ChildBuilder::new(CloneFlags::NEWUTS | CloneFlags::NEWIPC)
        .pidfd(true)
        .spawn(move || {
            // A message queue only its IPC namespace has, then the hostname.
            if ipc::msgget(0x0c40_0000, ipc::IPC_CREAT | 0o600).is_err() {
                return 3;
            }
            if sysns::sethostname(b"target-host").is_err() {
                return 1;
            }
            // SAFETY: a clonekit child made while the gate exists, with its own copy of
            // the descriptor table (no CLONE_FILES).
            if unsafe { Gate::wait(side) } { 0 } else { 2 }
        })
        .ctx("spawn a target in new UTS and IPC namespaces")?;
    // Wait until the target has set its hostname: poll its /proc/<pid>/ns link change is
    // not observable cheaply, so retry the join until the name shows.
    let pidfd = target.pidfd().map(|p| p.as_raw());
    let joiner = ChildBuilder::new(CloneFlags::empty()).spawn(move || {
        let Some(pidfd) = pidfd else {
            return 4;
        };
        // SAFETY: this child has its own copy of the descriptor table (no CLONE_FILES), made
        // while `target` held its pidfd open, and nothing closes it there.
        let pidfd = unsafe { BorrowedFd::borrow_raw(pidfd) };
        for _ in 0..1000 {
            if namespace::setns_pidfd(pidfd, CloneFlags::NEWUTS | CloneFlags::NEWIPC).is_err() {
                return 1;
            }
            if sysns::uname().nodename() == b"target-host" {
                // Joined both: the target's queue is visible here too.
                return if ipc::msgget(0x0c40_0000, 0).is_ok() {
                    0
                } else {
                    3
                };
            }
            let _ = clonekit::sys::time::nanosleep(&clonekit::sys::time::Timespec::from_millis(5));
        }
        2
    });
    let joined = child_ok(
        "setns(pidfd, NEWUTS|NEWIPC) shows the target's hostname",
        joiner.ctx("spawn")?.wait(),
    );
    gate.open();
    child_ok("target", target.wait())?;
    joined
}

fn unshare_newuts_newipc_newnet_newns_stay_private() -> Outcome {
    let before = sysns::uname();
    let key = 0x0c30_0000 + getpid();
    // A file in /tmp that the child's tmpfs on /tmp would hide, were its mount not private.
    let marker =
        PathBuf::format(format_args!("/tmp/clonekit-marker-{}", getpid())).ctx("name a marker")?;
    let flags = OFlags::WRONLY | OFlags::CREAT | OFlags::CLOEXEC;
    drop(fs::openat(CWD, marker.as_c_str(), flags, 0o644).ctx("create the marker")?);
    let own_net = ns_inode(Namespace::Net).ctx("our network namespace")?;
    reset_slots(1);
    let child = fork_with(CloneFlags::empty(), ExitSignal::SIGCHLD, move || {
        let flags =
            CloneFlags::NEWUTS | CloneFlags::NEWIPC | CloneFlags::NEWNET | CloneFlags::NEWNS;
        if namespace::unshare(flags).is_err() {
            return 1;
        }
        if sysns::sethostname(b"unshared-host").is_err() {
            return 2;
        }
        if ipc::msgget(key, ipc::IPC_CREAT | 0o600).is_err() {
            return 3;
        }
        let mut names = [[0u8; 16]; 8];
        if interfaces(&mut names) != Ok(1) {
            return 4;
        }
        slot(0).store(ns_inode(Namespace::Net).unwrap_or(0), Ordering::SeqCst);
        if mount::make_private().is_err() || mount::mount_tmpfs(c"/tmp", None).is_err() {
            return 5;
        }
        if exists(marker.as_c_str()) {
            return 6;
        }
        0
    });
    let passed = child_ok(
        "unshare of UTS, IPC, NET and NS in a child",
        child.ctx("spawn")?.wait(),
    );
    let marker_seen = exists(marker.as_c_str());
    let _ = unlinkat(CWD, marker.as_c_str(), false);
    passed?;
    is_true(
        "the child's tmpfs on /tmp is not over the parent's /tmp",
        marker_seen,
    )?;
    let child_net = slot(0).load(Ordering::SeqCst);
    is_true(
        "the child's network namespace is another one",
        child_net != 0 && child_net != own_net,
    )?;
    is_true(
        "the parent's hostname is unchanged",
        sysns::uname().nodename() == before.nodename(),
    )?;
    eq(
        "the child's queue is invisible outside (ENOENT)",
        1,
        i64::from(ipc::msgget(key, 0) == Err(Errno::ENOENT)),
    )
}

fn unshare_newpid_next_child_is_pid_1() -> Outcome {
    let child = fork_with(CloneFlags::empty(), ExitSignal::SIGCHLD, || {
        if namespace::unshare(CloneFlags::NEWPID).is_err() {
            return 1;
        }
        // The caller stays where it was; its next child is PID 1 of the new namespace.
        let own = getpid();
        let next = fork_with(CloneFlags::empty(), ExitSignal::SIGCHLD, || {
            if getpid() == 1 { 0 } else { 1 }
        });
        match next.map(|mut c| c.wait()) {
            Ok(Ok(s)) if s.success() && own != 1 => 0,
            _ => 2,
        }
    });
    child_ok(
        "after unshare(NEWPID) the next child is PID 1",
        child.ctx("spawn")?.wait(),
    )
}

fn unshare_newuser_then_overflow_uid() -> Outcome {
    let child = fork_with(CloneFlags::empty(), ExitSignal::SIGCHLD, || {
        if namespace::unshare(CloneFlags::NEWUSER).is_err() {
            return 1;
        }
        if getuid() == 65534 { 0 } else { 2 }
    });
    child_ok(
        "unshare(NEWUSER) in a single-threaded child",
        child.ctx("spawn")?.wait(),
    )
}

/// Asks the kernel itself, with no validator in the way, whether it takes `flags` (a legacy
/// clone whose child would exit at once on a stack of its own, and is reaped if created).
fn ask_kernel(flags: CloneFlags) -> Result<(), Errno> {
    unsafe extern "C" fn exit_at_once(_: *mut core::ffi::c_void) -> i32 {
        0
    }
    let stack = clonekit::Stack::new(clonekit::Stack::MIN_SIZE).map_err(|_| Errno::ENOMEM)?;
    // SAFETY: the child, if the kernel creates one, runs `exit_at_once` on `stack`, which
    // lives until it is reaped below (or, a thread, until this process ends).
    let created = unsafe {
        raw::clone_unchecked(
            flags,
            ExitSignal::NONE,
            stack.top(),
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            0,
            exit_at_once,
            core::ptr::null_mut(),
        )
    };
    match created {
        Ok(pid) => {
            let _ = clonekit::process::wait_pid(pid);
            core::mem::forget(stack);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Asks the kernel itself (no validator) and the validator about `flags`, expecting EINVAL
/// from both and `rule` from the validator.
fn refused(flags: CloneFlags, rule: FlagError) -> Outcome {
    let got = match ask_kernel(flags) {
        Ok(()) => 0,
        Err(e) => -i64::from(e.raw()),
    };
    eq(
        "the kernel refuses with EINVAL",
        -i64::from(Errno::EINVAL.raw()),
        got,
    )?;
    let request = clonekit::validate::Request::legacy(
        flags,
        ExitSignal::NONE,
        clonekit::KernelVersion::cached(),
    );
    is_true(
        "the validator names the same rule",
        clonekit::validate(&request) == Err(rule),
    )
}

fn refuse_newpid_with_thread_einval() -> Outcome {
    refused(
        CloneFlags::NEWPID | CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::VM,
        FlagError::ThreadWithNewpid,
    )
}

fn refuse_newuser_with_fs_einval() -> Outcome {
    refused(
        CloneFlags::NEWUSER | CloneFlags::FS,
        FlagError::NewuserWithFs,
    )
}

fn refuse_newipc_with_sysvsem_einval() -> Outcome {
    refused(
        CloneFlags::NEWIPC | CloneFlags::SYSVSEM,
        FlagError::NewipcWithSysvsem,
    )
}

/// In a child: unshares `kind`, then asks the validator (through `flags` as a thread or a
/// VM process child) and the kernel itself; both must refuse, the validator with `rule`.
fn refused_after_unshare(kind: CloneFlags, flags: CloneFlags, rule: FlagError) -> Outcome {
    let child = fork_with(CloneFlags::empty(), ExitSignal::SIGCHLD, move || {
        if namespace::unshare(kind).is_err() {
            return 1;
        }
        // The unchecked spawners: this child may run in a std program (natively), where the
        // safe ones refuse a clonekit thread pointer before the validator is even asked. The
        // thread first: no process exists in a new PID namespace yet (its link reads
        // ENOENT until one does), which must not hide the rule.
        // SAFETY: the would-be thread runs `|| 0`: no libc, no std.
        let via_thread = unsafe { clonekit::thread::Builder::new().spawn_unchecked(|| 0) };
        // SAFETY: as above.
        let checked =
            unsafe { ChildBuilder::new(flags - CloneFlags::THREAD).spawn_unchecked(|| 0) };
        let named = if flags.contains(CloneFlags::THREAD) {
            matches!(via_thread, Err(Error::Flags(r)) if r == rule)
        } else {
            matches!(checked, Err(Error::Flags(r)) if r == rule)
        };
        if !named {
            return 2;
        }
        match ask_kernel(flags) {
            Err(Errno::EINVAL) => 0,
            Ok(()) => 4,
            Err(_) => 5,
        }
    });
    child_ok(
        "the validator names the rule and the kernel says EINVAL",
        child.ctx("spawn")?.wait(),
    )
}

fn refuse_thread_after_unshare_newpid_einval() -> Outcome {
    refused_after_unshare(
        CloneFlags::NEWPID,
        CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::VM,
        FlagError::ThreadAfterPidNamespaceChange,
    )
}

fn refuse_setns_with_the_wrong_kind_einval() -> Outcome {
    let uts = namespace::open(None, Namespace::Uts).ctx("open our uts namespace")?;
    // The kernel's own answer, without clonekit's check.
    let kernel = sysns::setns(uts.as_fd(), CloneFlags::NEWNET.bits() as u32);
    eq(
        "the kernel refuses a UTS fd as a network namespace",
        -i64::from(Errno::EINVAL.raw()),
        match kernel {
            Ok(()) => 0,
            Err(e) => -i64::from(e.raw()),
        },
    )?;
    let checked = namespace::setns(uts.as_fd(), Namespace::Net);
    let rule = FlagError::SetnsKindMismatch {
        expected: CloneFlags::NEWNET,
        actual: CloneFlags::NEWUTS,
    };
    is_true(
        "clonekit names the mismatch first",
        checked == Err(Error::Flags(rule)),
    )?;
    // A descriptor of the right file that cannot be used (O_PATH), and AT_FDCWD, which is
    // no descriptor: the kernel's EBADF, passed through.
    let path_only = fs::openat(CWD, c"/proc/self/ns/uts", OFlags::PATH | OFlags::CLOEXEC, 0)
        .ctx("open our uts namespace O_PATH")?;
    is_true(
        "an O_PATH fd is EBADF",
        namespace::setns(path_only.as_fd(), Namespace::Uts) == Err(Error::Os(Errno::EBADF)),
    )?;
    is_true(
        "AT_FDCWD is EBADF",
        namespace::setns(CWD, Namespace::Uts) == Err(Error::Os(Errno::EBADF)),
    )
}

/// From a fresh child: unshare(NEWPID) and fork again, level after level, until the kernel
/// says no. Returns the level reached as the child's exit code (the ENOSPC check is inside).
fn refuse_pid_nesting_past_32_enospc() -> Outcome {
    fn descend() -> i32 {
        let level = procfs::pid_ns_level().unwrap_or(0) as i32;
        let predicted = clonekit::validate::validate_unshare(
            CloneFlags::NEWPID,
            &namespace::caller(),
            Some(1),
            clonekit::KernelVersion::cached(),
        );
        match namespace::unshare(CloneFlags::NEWPID) {
            Ok(()) => {
                if predicted.is_err() {
                    return 100;
                }
                match fork_with(CloneFlags::empty(), ExitSignal::SIGCHLD, descend)
                    .map(|mut c| c.wait())
                {
                    Ok(Ok(s)) => s.code().unwrap_or(101),
                    _ => 102,
                }
            }
            Err(Error::Flags(FlagError::PidNestingTooDeep)) => {
                // The validator refused: ask the kernel too.
                // SAFETY: a namespace flag only: no descriptor table is split.
                match unsafe { sysns::unshare(CloneFlags::NEWPID.bits() as u32) } {
                    Err(Errno::ENOSPC) => level,
                    _ => 103,
                }
            }
            Err(_) => 104,
        }
    }
    if crate::pid1::proc_hides_pid_levels() > 0 {
        // The validator reads the depth from /proc, which counts from the /proc mount's
        // namespace: here a nested one, so the depth it sees is short of the kernel's.
        return Err(Fail::Skip(
            "this /proc is a nested PID namespace's: depths read from it are relative; runs in the guest",
        ));
    }
    let mut child = fork_with(CloneFlags::empty(), ExitSignal::SIGCHLD, descend).ctx("spawn")?;
    let status = child.wait().ctx("wait")?;
    eq(
        "PID namespaces nest 32 deep, then ENOSPC (validator and kernel agree)",
        32,
        clonekit::init::exit_code(status),
    )
}

fn refuse_user_nesting_past_32_enospc() -> Outcome {
    // From inside a nested user namespace its depth cannot be read back (the kernel hides
    // the ancestors), so the depth is counted here, from the known start.
    let child = fork_with(CloneFlags::empty(), ExitSignal::SIGCHLD, || {
        let Some(start) = namespace::user_ns_level() else {
            return 100;
        };
        let mut caller = namespace::caller();
        for depth in start..start + 40 {
            caller.user_ns_level = Some(depth);
            let kernel_version = clonekit::KernelVersion::cached();
            let predicted = clonekit::validate::validate_unshare(
                CloneFlags::NEWUSER,
                &caller,
                Some(1),
                kernel_version,
            );
            // SAFETY: a namespace flag only: no descriptor table is split.
            let kernel = unsafe { sysns::unshare(CloneFlags::NEWUSER.bits() as u32) };
            match (predicted, kernel) {
                (Ok(()), Ok(())) => {
                    // A nested user namespace can only be created by an id mapped in its
                    // parent: map ourselves (uid and gid 0 of the level above) as root.
                    let me = getpid();
                    let mapped = clonekit::idmap::deny_setgroups(me)
                        .and_then(|()| clonekit::idmap::write_gid_map(me, &[IdMap::single(0, 0)]))
                        .and_then(|()| clonekit::idmap::write_uid_map(me, &[IdMap::single(0, 0)]));
                    if mapped.is_err() {
                        return 103;
                    }
                }
                (Err(FlagError::UserNestingTooDeep), Err(Errno::ENOSPC)) => {
                    return (depth - start) as i32;
                }
                // The kernel refused what the validator allowed, or the other way round.
                (Ok(()), Err(_)) => return 101,
                (Err(_), _) => return 102,
            }
        }
        104
    });
    let status = child.ctx("spawn")?.wait().ctx("wait")?;
    eq(
        "user namespaces nest 33 levels below the initial one, then ENOSPC",
        33,
        clonekit::init::exit_code(status),
    )
}

fn dir_str(p: &PathBuf) -> &str {
    core::str::from_utf8(p.as_c_str().to_bytes()).unwrap_or("")
}
