//! Sections C and E: the namespace flags (`CLONE_NEWUTS` in Example 3, `CLONE_NEWPID`,
//! `CLONE_NEWNS`, `CLONE_NEWIPC`, `CLONE_NEWNET`, `CLONE_NEWUSER`), all six together as a
//! container (Q4), and `unshare()` (Q6).

use core::sync::atomic::Ordering::SeqCst;

use clonekit::fd::OwnedFd;
use clonekit::process::{self, ChildBuilder};
use clonekit::sys::fs::{self, CWD, OFlags, PipeFlags};
use clonekit::sys::ns::sethostname;
use clonekit::sys::process::{getgid, getpid, getppid, getuid};
use clonekit::{CloneFlags as F, Errno, ExitSignal, mount, namespace};

use crate::case::{Case, Ctx, Fail, Outcome, case, check, child_ok, code, diag, eq, eq_bytes};
use crate::observe::fs::fcntl_getfd;
use crate::observe::ipc;
use crate::observe::ns::gethostname;
use crate::shared::{reset_slots, slot};
use crate::show::Text;
use crate::util::{contains, read_file};

pub const CASES: &[Case] = &[
    case!(newuts_child_hostname_parent_unchanged),
    case!(newpid_child_getpid_is_1),
    case!(newns_tmpfs_mounted_in_child_invisible_to_parent),
    case!(newipc_sysv_queue_created_inside_invisible_outside),
    case!(newnet_child_sees_only_lo_in_proc_net_dev),
    case!(newuser_uid_is_overflow_65534_before_maps),
    case!(six_new_namespaces_make_a_container),
    case!(unshare_files_child_close_stays_private),
    case!(unshare_newuts_child_hostname_stays_private),
];

const CONTAINER_HOST: &[u8] = b"my-container-host";

/// A copy of the host name.
fn hostname() -> ([u8; 65], usize) {
    let mut buf = [0u8; 65];
    let len = gethostname(&mut buf).map_or(0, |h| h.len());
    (buf, len)
}

/// In the child: set `name` as host name and read it back.
fn set_and_read_hostname(name: &[u8]) -> Outcome {
    sethostname(name).ctx("sethostname")?;
    let (buf, len) = hostname();
    eq_bytes("[Child] hostname", name, &buf[..len])
}

/// Example 3: `clone(child_func, stack, CLONE_NEWUTS | SIGCHLD, "my-container-host")`.
fn newuts_child_hostname_parent_unchanged() -> Outcome {
    let (before, before_len) = hostname();
    let mut child = ChildBuilder::new(F::NEWUTS)
        .spawn(|| code(set_and_read_hostname(CONTAINER_HOST)))
        .ctx("clone(NEWUTS)")?;
    child_ok("child", child.wait())?;
    let (after, after_len) = hostname();
    eq_bytes(
        "[Parent] hostname after (unchanged)",
        &before[..before_len],
        &after[..after_len],
    )?;
    diag!(
        "parent {}, child {}",
        Text(&after[..after_len]),
        Text(CONTAINER_HOST)
    );
    Ok(())
}

fn newpid_child_getpid_is_1() -> Outcome {
    reset_slots(2);
    let mut child = ChildBuilder::new(F::NEWPID)
        .spawn(|| {
            slot(0).store(i64::from(getpid()), SeqCst);
            slot(1).store(i64::from(getppid()), SeqCst);
            0
        })
        .ctx("clone(NEWPID)")?;
    let pid = child.pid();
    child_ok("child", child.wait())?;
    eq("child's getpid() in its namespace", 1, slot(0).load(SeqCst))?;
    eq(
        "child's getppid() (parent outside its namespace)",
        0,
        slot(1).load(SeqCst),
    )?;
    check(
        pid > 1,
        format_args!("clone() returned {pid} in the parent's namespace"),
    )?;
    diag!("child is PID 1 inside, PID {pid} outside");
    Ok(())
}

const NS_DIR: &core::ffi::CStr = c"/tmp/newns";
const NS_FILE: &core::ffi::CStr = c"/tmp/newns/marker";

fn mounted_at_ns_dir() -> Result<bool, Fail> {
    let mut buf = [0u8; 4096];
    let mounts = read_file(c"/proc/self/mounts", &mut buf).ctx("read /proc/self/mounts")?;
    Ok(contains(mounts, b" /tmp/newns tmpfs "))
}

fn newns_tmpfs_mounted_in_child_invisible_to_parent() -> Outcome {
    mount::ensure_dir(NS_DIR).ctx("mkdir /tmp/newns")?;
    let mut child = ChildBuilder::new(F::NEWNS)
        .spawn(|| {
            code((|| {
                mount::make_private().ctx("make / private")?;
                mount::mount_tmpfs(NS_DIR, None).ctx("mount tmpfs")?;
                let flags = OFlags::WRONLY | OFlags::CREAT | OFlags::CLOEXEC;
                fs::openat(CWD, NS_FILE, flags, 0o600).ctx("create the marker")?;
                check(
                    mounted_at_ns_dir()?,
                    format_args!("[Child] no tmpfs at /tmp/newns"),
                )
            })())
        })
        .ctx("clone(NEWNS)")?;
    child_ok("child", child.wait())?;
    check(
        !mounted_at_ns_dir()?,
        format_args!("the child's tmpfs is in the parent's /proc/self/mounts"),
    )?;
    let marker = fs::openat(CWD, NS_FILE, OFlags::RDONLY | OFlags::CLOEXEC, 0);
    eq(
        "opening the child's file from the parent",
        Err(Errno::ENOENT),
        marker.map(drop),
    )
}

const KEY_INSIDE: ipc::Key = 0x5eed_0001;
const KEY_OUTSIDE: ipc::Key = 0x5eed_0002;

fn newipc_sysv_queue_created_inside_invisible_outside() -> Outcome {
    let create = ipc::IPC_CREAT | ipc::IPC_EXCL | 0o600;
    let outside = ipc::msgget(KEY_OUTSIDE, create).ctx("msgget outside")?;
    let outcome = (|| {
        let mut child = ChildBuilder::new(F::NEWIPC)
            .spawn(move || {
                code((|| {
                    let q = ipc::msgget(KEY_INSIDE, create).ctx("[Child] msgget create")?;
                    eq("[Child] msgget again", Ok(q), ipc::msgget(KEY_INSIDE, 0))?;
                    eq(
                        "[Child] the parent's queue",
                        Err(Errno::ENOENT),
                        ipc::msgget(KEY_OUTSIDE, 0),
                    )
                })())
            })
            .ctx("clone(NEWIPC)")?;
        child_ok("child", child.wait())?;
        eq(
            "[Parent] the child's queue",
            Err(Errno::ENOENT),
            ipc::msgget(KEY_INSIDE, 0),
        )
    })();
    let _ = ipc::msgctl_rmid(outside);
    outcome
}

/// The interface names in a `/proc/net/dev` text, joined with spaces, into `out`.
fn interfaces<'a>(dev: &[u8], out: &'a mut [u8; 128]) -> &'a [u8] {
    let mut len = 0;
    for line in dev.split(|&b| b == b'\n').skip(2) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if len + name.len() + 1 > out.len() {
            break;
        }
        if len > 0 {
            out[len] = b' ';
            len += 1;
        }
        out[len..len + name.len()].copy_from_slice(name);
        len += name.len();
    }
    &out[..len]
}

fn newnet_child_sees_only_lo_in_proc_net_dev() -> Outcome {
    use clonekit::namespace::Namespace;
    let parent_ns = namespace::id(None, Namespace::Net).ctx("our network namespace")?;
    let mut child = ChildBuilder::new(F::NEWNET)
        .spawn(move || {
            code((|| {
                let mut buf = [0u8; 2048];
                let dev = read_file(c"/proc/net/dev", &mut buf).ctx("read /proc/net/dev")?;
                let mut names = [0u8; 128];
                eq_bytes("[Child] interfaces", b"lo", interfaces(dev, &mut names))?;
                let mine = namespace::id(None, Namespace::Net).ctx("[Child] namespace id")?;
                check(
                    mine != parent_ns,
                    format_args!("[Child] same network namespace as the parent: {mine}"),
                )
            })())
        })
        .ctx("clone(NEWNET)")?;
    child_ok("child", child.wait())?;
    let mut buf = [0u8; 2048];
    let dev = read_file(c"/proc/net/dev", &mut buf).ctx("read /proc/net/dev")?;
    let mut names = [0u8; 128];
    diag!(
        "parent's interfaces {} in net:[{parent_ns}]",
        Text(interfaces(dev, &mut names))
    );
    Ok(())
}

fn newuser_uid_is_overflow_65534_before_maps() -> Outcome {
    reset_slots(2);
    let mut child = ChildBuilder::new(F::NEWUSER)
        .spawn(|| {
            slot(0).store(i64::from(getuid()), SeqCst);
            slot(1).store(i64::from(getgid()), SeqCst);
            0
        })
        .ctx("clone(NEWUSER)")?;
    child_ok("child", child.wait())?;
    eq("[Parent] uid", 0, getuid())?;
    eq(
        "[Child] uid before uid_map is written",
        65534,
        slot(0).load(SeqCst),
    )?;
    eq(
        "[Child] gid before gid_map is written",
        65534,
        slot(1).load(SeqCst),
    )
}

/// All six classic namespaces at once: a container (TLPI 28.2.1, question 4).
fn six_new_namespaces_make_a_container() -> Outcome {
    use clonekit::namespace::Namespace;
    // Each namespace the child has, by identity: net, mnt, ipc (then uts, pid, user).
    const KINDS: [Namespace; 3] = [Namespace::Net, Namespace::Mount, Namespace::Ipc];
    reset_slots(5);
    let (before, before_len) = hostname();
    let flags = F::NEWPID | F::NEWNET | F::NEWUTS | F::NEWNS | F::NEWIPC | F::NEWUSER;
    let mut child = ChildBuilder::new(flags)
        .spawn(|| {
            slot(0).store(i64::from(getpid()), SeqCst);
            slot(1).store(i64::from(getuid()), SeqCst);
            for (i, kind) in KINDS.into_iter().enumerate() {
                let id = namespace::id(None, kind).map_or(0, |id| id as i64);
                slot(2 + i).store(id, SeqCst);
            }
            code(set_and_read_hostname(b"webapp-container"))
        })
        .ctx("clone(all six CLONE_NEW*)")?;
    child_ok("container init", child.wait())?;
    eq("container init's getpid()", 1, slot(0).load(SeqCst))?;
    eq("container init's uid", 65534, slot(1).load(SeqCst))?;
    for (i, kind) in KINDS.into_iter().enumerate() {
        let own = namespace::id(None, kind).ctx("our namespace id")? as i64;
        let child_id = slot(2 + i).load(SeqCst);
        crate::case::check(
            child_id != 0 && child_id != own,
            format_args!(
                "the child's {} namespace is not ours ({child_id} vs {own})",
                kind.proc_name()
            ),
        )?;
    }
    let (after, after_len) = hostname();
    eq_bytes(
        "host's hostname",
        &before[..before_len],
        &after[..after_len],
    )
}

/// `unshare` (TLPI 28.2.1, question 6): a child created with `CLONE_FILES` unshares its fd table, then closes an
/// fd: the parent's stays open.
fn unshare_files_child_close_stays_private() -> Outcome {
    let (r, _w) = fs::pipe2(PipeFlags::CLOEXEC).ctx("pipe2")?;
    let fd = r.as_raw();
    // SAFETY: the child closes a descriptor only after unsharing the table: its close
    // touches its private copy (made while `r` was open, and owned by the child alone: its
    // copy of `r` is never dropped), never the parent's `r`.
    let mut child = unsafe {
        process::fork_with_unchecked(F::FILES, ExitSignal::SIGCHLD, move || {
            code((|| {
                namespace::unshare(F::FILES).ctx("unshare(CLONE_FILES)")?;
                fs::close(OwnedFd::from_raw(fd)).ctx("close")
            })())
        })
    }
    .ctx("clone(FILES)")?;
    child_ok("child", child.wait())?;
    eq(
        "the parent's fd after the child unshared and closed it",
        Ok(()),
        fcntl_getfd(r.as_fd()).map(drop),
    )
}

fn unshare_newuts_child_hostname_stays_private() -> Outcome {
    let (before, before_len) = hostname();
    let mut child = process::fork(|| {
        code((|| {
            namespace::unshare(F::NEWUTS).ctx("unshare(CLONE_NEWUTS)")?;
            set_and_read_hostname(b"unshared-host")
        })())
    })
    .ctx("fork")?;
    child_ok("child", child.wait())?;
    let (after, after_len) = hostname();
    eq_bytes(
        "[Parent] hostname after",
        &before[..before_len],
        &after[..after_len],
    )
}
