//! The soundness promises of `clonekit::program`, checked in an ordinary std program:
//! safe calls either work with std code in the child, or are refused with a typed error.
//!
//! `harness = false`: libtest runs every test on a thread of its own, so its programs are
//! never single-threaded, and a single-threaded std program is what a fork-like child must
//! be shown to work in. `main` runs the cases one after another and exits non-zero if one
//! failed. Runs natively and under qemu-user (aarch64, riscv64); a case the emulator cannot
//! answer prints `SKIP <case>: <reason>` and runs natively and under the other QEMU.

use std::path::PathBuf;
use std::sync::mpsc;

use clonekit::container::{Container, SetupStep};
use clonekit::process::{ChildBuilder, ExitStatus, fork, fork_with};
use clonekit::sys::signal::{SigSet, SigmaskHow, Signal, rt_sigprocmask};
use clonekit::{CloneFlags, Errno, Error, ExitSignal, thread};

/// What one case found.
enum Verdict {
    Pass,
    Skip(String),
}

type Case = fn() -> Result<Verdict, String>;

fn main() {
    let cases: &[(&str, Case)] = &[
        (
            "a fork child allocates, prints and reads its thread-locals",
            fork_child_uses_std,
        ),
        (
            "a ChildBuilder child without CLONE_VM allocates, prints and reads its thread-locals",
            own_stack_child_uses_std,
        ),
        (
            "threads and CLONE_VM children are refused where a libc owns the thread pointer",
            libc_thread_pointer_is_not_replaced,
        ),
        (
            "fork-like children are refused while another thread runs, allowed after",
            multithreaded_callers_are_refused,
        ),
        (
            "CLONE_FILES without CLONE_VM is refused",
            shared_fd_table_with_copied_memory_is_refused,
        ),
        (
            "unshare(CLONE_FILES) is refused while another thread shares the memory",
            split_fd_table_with_shared_memory_is_refused,
        ),
        (
            "unshare(CLONE_FILES) is refused beside a thread where unshare(CLONE_VM) is filtered",
            split_fd_table_is_refused_where_the_kernel_cannot_be_asked,
        ),
        (
            "fork-like children are refused while a CLONE_VM child shares the memory",
            vm_sharer_makes_fork_refused,
        ),
        (
            "a stand-in /proc cannot make a multithreaded process look single-threaded",
            fake_proc_is_not_believed,
        ),
        (
            "a program exec'd by a ChildBuilder child has the caller's signal mask",
            exec_from_a_child_keeps_the_callers_mask,
        ),
        (
            "a program exec'd by a Container child has the caller's signal mask",
            exec_from_a_container_keeps_the_callers_mask,
        ),
        (
            "a Container set-up failure names its step and errno",
            container_setup_failure_is_named,
        ),
        (
            "exec::Command inherits the environment as std::env::set_var left it",
            command_inherits_what_set_var_set,
        ),
    ];
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, case) in cases {
        match case() {
            Ok(Verdict::Pass) => {
                passed += 1;
                println!("ok {name}");
            }
            Ok(Verdict::Skip(reason)) => {
                skipped += 1;
                println!("SKIP {name}: {reason}");
            }
            Err(why) => {
                failed += 1;
                println!("not ok {name}: {why}");
            }
        }
    }
    println!("soundness: {passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        std::process::exit(1);
    }
}

thread_local! {
    static MARK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A file the child writes and the parent reads, unique to this process and case.
fn scratch(case: &str) -> PathBuf {
    std::env::temp_dir().join(format!("clonekit-soundness-{}-{case}", std::process::id()))
}

/// Whether a refusal comes from not knowing the thread count under an emulator (qemu-user
/// 7.2 writes 0 threads in `/proc/self/stat`), the one reason the safe fork may not run.
fn unknown_count_under_emulation(e: &Error) -> Option<Verdict> {
    matches!(e, Error::ThreadCountUnknown(Errno::EINVAL)).then(|| {
        Verdict::Skip(format!(
            "{e} (the case runs natively and under QEMU 10, which reports the count)"
        ))
    })
}

/// What the std code in a child wrote: allocation, formatting, a thread-local read.
fn std_work(path: &PathBuf) -> i32 {
    let words: Vec<String> = ["allocated", "and", "formatted"]
        .iter()
        .map(|w| w.to_string())
        .collect();
    let text = format!("{} {}", words.join(" "), MARK.with(|m| m.get()));
    println!("child {}: {text}", std::process::id());
    match std::fs::write(path, text) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn check_std_work(path: &PathBuf, status: Result<ExitStatus, Errno>) -> Result<Verdict, String> {
    let written = std::fs::read_to_string(path);
    let _ = std::fs::remove_file(path);
    if status != Ok(ExitStatus::Exited(0)) {
        return Err(format!("the child ended with {status:?}"));
    }
    match written {
        Ok(text) if text == "allocated and formatted 9" => Ok(Verdict::Pass),
        other => Err(format!("the child wrote {other:?}")),
    }
}

fn fork_child_uses_std() -> Result<Verdict, String> {
    MARK.with(|m| m.set(9));
    let path = scratch("fork");
    let mut child = match fork(|| std_work(&path)) {
        Ok(child) => child,
        Err(e) => return unknown_count_under_emulation(&e).ok_or(format!("fork: {e}")),
    };
    check_std_work(&path, child.wait())
}

fn own_stack_child_uses_std() -> Result<Verdict, String> {
    MARK.with(|m| m.set(9));
    let path = scratch("builder");
    let in_child = path.clone();
    let spawned = ChildBuilder::new(CloneFlags::empty()).spawn(move || std_work(&in_child));
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return unknown_count_under_emulation(&e).ok_or(format!("spawn: {e}")),
    };
    check_std_work(&path, child.wait())
}

fn libc_thread_pointer_is_not_replaced() -> Result<Verdict, String> {
    let thread = thread::spawn(|| String::from("x").len() as i32);
    if !matches!(thread, Err(Error::LibcOwnsThreadPointer)) {
        return Err(format!("thread::spawn gave {thread:?}"));
    }
    let builder = thread::Builder::new().stack_size(64 * 1024).spawn(|| 0);
    if !matches!(builder, Err(Error::LibcOwnsThreadPointer)) {
        return Err(format!("Builder::spawn gave {builder:?}"));
    }
    let vm = ChildBuilder::new(CloneFlags::VM | CloneFlags::VFORK).spawn(|| {
        println!("{}", String::from("on clonekit's thread pointer"));
        0
    });
    if !matches!(vm, Err(Error::LibcOwnsThreadPointer)) {
        return Err(format!("a CLONE_VM ChildBuilder gave {vm:?}"));
    }
    Ok(Verdict::Pass)
}

fn multithreaded_callers_are_refused() -> Result<Verdict, String> {
    let (stop, wait) = mpsc::channel::<()>();
    let other = std::thread::spawn(move || wait.recv());
    let refusals = [
        ("fork", fork(|| 0).err()),
        (
            "ChildBuilder",
            ChildBuilder::new(CloneFlags::empty()).spawn(|| 0).err(),
        ),
        ("Container", Container::new().spawn(|| 0).err()),
    ];
    stop.send(()).map_err(|e| e.to_string())?;
    other
        .join()
        .map_err(|_| "the other thread panicked".to_string())?
        .map_err(|e| e.to_string())?;
    for (what, refusal) in refusals {
        match refusal {
            Some(Error::MultiThreaded { threads: 2 }) => {}
            Some(e) if unknown_count_under_emulation(&e).is_some() => {
                return Ok(unknown_count_under_emulation(&e).unwrap());
            }
            other => return Err(format!("{what} with two threads gave {other:?}")),
        }
    }
    // The other thread is joined: one thread again, and the same call works.
    let mut child = fork(|| 5).map_err(|e| format!("fork after the join: {e}"))?;
    match child.wait() {
        Ok(ExitStatus::Exited(5)) => Ok(Verdict::Pass),
        other => Err(format!("the child after the join ended with {other:?}")),
    }
}

fn shared_fd_table_with_copied_memory_is_refused() -> Result<Verdict, String> {
    let forked = fork_with(CloneFlags::FILES, ExitSignal::SIGCHLD, || 0);
    if !matches!(forked, Err(Error::FilesWithoutVm)) {
        return Err(format!("fork_with(CLONE_FILES) gave {forked:?}"));
    }
    let built = ChildBuilder::new(CloneFlags::FILES).spawn(|| 0);
    if !matches!(built, Err(Error::FilesWithoutVm)) {
        return Err(format!("ChildBuilder(CLONE_FILES) gave {built:?}"));
    }
    Ok(Verdict::Pass)
}

fn split_fd_table_with_shared_memory_is_refused() -> Result<Verdict, String> {
    let (stop, wait) = mpsc::channel::<()>();
    let other = std::thread::spawn(move || wait.recv());
    let refused = clonekit::namespace::unshare(CloneFlags::FILES);
    stop.send(()).map_err(|e| e.to_string())?;
    let _ = other.join();
    match refused {
        Err(Error::VmWithoutFiles) => Ok(Verdict::Pass),
        Ok(()) if clonekit::program::emulated() => Ok(Verdict::Skip(
            "qemu-user's own threads make every task look shared; runs natively".into(),
        )),
        other => Err(format!(
            "unshare(CLONE_FILES) with two threads gave {other:?}"
        )),
    }
}

/// A seccomp filter that makes `unshare` with `CLONE_VM` in its flags fail with `EPERM` (as
/// a container's policy may), so the kernel cannot be asked whether the caller is alone in
/// its address space; everything else is allowed.
fn filter_unshare_vm() -> std::io::Result<()> {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let filter = [
        op(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        op(JEQ_K, 0, 3, libc::SYS_unshare as u32),
        op(LD_W_ABS, 0, 0, 16), // the low half of args[0] (little-endian)
        op(JSET_K, 0, 1, CloneFlags::VM.bits() as u32),
        op(RET_K, 0, 0, RET_EPERM),
        op(RET_K, 0, 0, RET_ALLOW),
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `program` points at `filter`, both alive for the call (the kernel copies it);
    // 1 is SECCOMP_SET_MODE_FILTER, with no flags.
    if unsafe { libc::syscall(libc::SYS_seccomp, 1, 0, &program) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Where `unshare(CLONE_VM)` cannot ask the kernel (filtered), `unshare(CLONE_FILES)` beside
/// a thread is still refused: the thread count answers. In a forked child, whose filter
/// dies with it.
fn split_fd_table_is_refused_where_the_kernel_cannot_be_asked() -> Result<Verdict, String> {
    if clonekit::program::emulated() {
        return Ok(Verdict::Skip(
            "qemu-user does not pass seccomp filters through; runs natively and in the guest"
                .into(),
        ));
    }
    const NO_FILTER: i32 = 77;
    const NOT_FILTERED: i32 = 78;
    const ALLOWED: i32 = 79;
    let child = fork(|| {
        if filter_unshare_vm().is_err() {
            return NO_FILTER;
        }
        if clonekit::program::address_space_private() != Err(Errno::EPERM) {
            return NOT_FILTERED;
        }
        let (stop, wait) = mpsc::channel::<()>();
        let other = std::thread::spawn(move || wait.recv());
        let refused = clonekit::namespace::unshare(CloneFlags::FILES);
        let _ = stop.send(());
        let _ = other.join();
        match refused {
            Err(Error::VmWithoutFiles) => 0,
            _ => ALLOWED,
        }
    });
    let mut child = child.map_err(|e| format!("fork: {e}"))?;
    match child.wait() {
        Ok(ExitStatus::Exited(0)) => Ok(Verdict::Pass),
        Ok(ExitStatus::Exited(NO_FILTER)) => Ok(Verdict::Skip(
            "this kernel took no seccomp filter (no CONFIG_SECCOMP_FILTER?)".into(),
        )),
        Ok(ExitStatus::Exited(NOT_FILTERED)) => {
            Err("the filter did not make unshare(CLONE_VM) fail with EPERM".into())
        }
        Ok(ExitStatus::Exited(ALLOWED)) => {
            Err("unshare(CLONE_FILES) beside a thread was allowed".into())
        }
        other => Err(format!("the child ended with {other:?}")),
    }
}

fn vm_sharer_makes_fork_refused() -> Result<Verdict, String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static STOP: AtomicBool = AtomicBool::new(false);
    STOP.store(false, Ordering::SeqCst);
    // SAFETY: the child only reads an atomic and yields: no libc, no std; it shares the
    // descriptor table with the memory.
    let sharer = unsafe {
        ChildBuilder::new(CloneFlags::VM | CloneFlags::FILES).spawn_unchecked(|| {
            while !STOP.load(Ordering::SeqCst) {
                clonekit::sys::process::sched_yield();
            }
            0
        })
    };
    let mut sharer = match sharer {
        Ok(child) => child,
        Err(Error::Os(Errno::EINVAL)) if clonekit::program::emulated() => {
            return Ok(Verdict::Skip(
                "qemu-user refuses CLONE_VM without the thread flags (EINVAL)".into(),
            ));
        }
        Err(e) => return Err(format!("the CLONE_VM child: {e}")),
    };
    let refused = fork(|| 0).err();
    STOP.store(true, Ordering::SeqCst);
    let ended = sharer.wait();
    if ended != Ok(ExitStatus::Exited(0)) {
        return Err(format!("the CLONE_VM child ended with {ended:?}"));
    }
    match refused {
        Some(Error::AddressSpaceShared) => Ok(Verdict::Pass),
        other => Err(format!("fork beside a CLONE_VM child gave {other:?}")),
    }
}

fn fake_proc_is_not_believed() -> Result<Verdict, String> {
    if clonekit::program::emulated() {
        return Ok(Verdict::Skip(
            "under qemu-user /proc/self/stat is the emulator's own stand-in, taken as it is; \
             runs natively"
                .into(),
        ));
    }
    if clonekit::sys::process::geteuid() != 0 {
        return Ok(Verdict::Skip(
            "not root: chroot needs CAP_SYS_CHROOT".into(),
        ));
    }
    // In a child of our own (it chroots): a directory with a `proc/self/stat` that claims
    // one thread, while a second thread runs.
    let root = scratch("fakeproc");
    let mut child = fork(move || {
        let stat = root.join("proc/self");
        if std::fs::create_dir_all(&stat).is_err()
            || std::fs::write(
                stat.join("stat"),
                format!(
                    "{} (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 1 1",
                    std::process::id()
                ),
            )
            .is_err()
        {
            return 2;
        }
        if std::os::unix::fs::chroot(&root).is_err() {
            return 3;
        }
        let (stop, wait) = mpsc::channel::<()>();
        let other = std::thread::spawn(move || wait.recv());
        let count = clonekit::procfs::thread_count();
        let single = clonekit::program::require_single_threaded();
        let _ = stop.send(());
        let _ = other.join();
        match (count, single) {
            (Err(Errno::EXDEV), Err(_)) => 0,
            (Ok(_), _) => 4,
            (_, Ok(())) => 5,
            _ => 6,
        }
    })
    .map_err(|e| format!("fork: {e}"))?;
    let status = child.wait();
    let _ = std::fs::remove_dir_all(scratch("fakeproc"));
    match status {
        Ok(ExitStatus::Exited(0)) => Ok(Verdict::Pass),
        other => Err(format!(
            "the child ended with {other:?} (4: the stand-in was read, 5: taken as single)"
        )),
    }
}

/// `SigBlk:` of `/proc/self/status` (this program is single-threaded here).
fn own_sigblk() -> Result<String, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    sigblk(&status).ok_or_else(|| "no SigBlk line".to_string())
}

fn sigblk(status: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .map(|v| v.trim().to_string())
}

/// In a child: execs `/bin/cat /proc/self/status` with its output in `path`, with
/// clonekit's raw `execve` (std's `Command` would reset the mask itself and hide the bug, and
/// so would a shell).
fn exec_status_dump(path: &PathBuf) -> i32 {
    use std::os::fd::AsRawFd;
    let Ok(out) = std::fs::File::create(path) else {
        return 2;
    };
    // SAFETY: `out` is open for this statement, so it may be borrowed for it; descriptor 1 is
    // this child's standard output, which it redirects right before the exec (the standard
    // streams' exception in dup3's contract).
    let redirected = unsafe {
        clonekit::sys::fs::dup3(
            clonekit::fd::BorrowedFd::borrow_raw(out.as_raw_fd()),
            1,
            clonekit::sys::fs::FdFlags::empty(),
        )
    };
    if redirected.is_err() {
        return 3;
    }
    let argv = [
        c"cat".as_ptr(),
        c"/proc/self/status".as_ptr(),
        std::ptr::null(),
    ];
    let envp = [std::ptr::null()];
    // SAFETY: NUL-terminated strings and NULL-terminated arrays, alive across the call.
    let errno =
        unsafe { clonekit::sys::process::execve(c"/bin/cat", argv.as_ptr(), envp.as_ptr()) };
    100 + errno.raw()
}

/// Runs `spawn` (which starts a child that runs [`exec_status_dump`]) with SIGUSR1 and
/// SIGWINCH blocked, and compares the exec'd program's `SigBlk` with ours.
fn exec_keeps_mask(
    case: &str,
    spawn: impl FnOnce(PathBuf) -> Result<Result<ExitStatus, Errno>, Error>,
) -> Result<Verdict, String> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGUSR1);
    set.add(Signal::SIGWINCH);
    let old = rt_sigprocmask(SigmaskHow::Block, Some(&set)).map_err(|e| e.to_string())?;
    let ours = own_sigblk();
    let path = scratch(case);
    let outcome = spawn(path.clone());
    let _ = rt_sigprocmask(SigmaskHow::SetMask, Some(&old));
    let theirs = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    let status = match outcome {
        Ok(status) => status,
        Err(e) => {
            return unknown_count_under_emulation(&e).ok_or(format!("spawn: {e}"));
        }
    };
    if status != Ok(ExitStatus::Exited(0)) {
        return Err(format!("the exec'd cat ended with {status:?}"));
    }
    let ours = ours?;
    let theirs = theirs
        .map_err(|e| e.to_string())
        .and_then(|t| sigblk(&t).ok_or_else(|| "no SigBlk line".to_string()))?;
    if theirs == ours {
        Ok(Verdict::Pass)
    } else {
        Err(format!(
            "the exec'd program has SigBlk {theirs}, the caller {ours}"
        ))
    }
}

fn exec_from_a_child_keeps_the_callers_mask() -> Result<Verdict, String> {
    exec_keeps_mask("exec-builder", |path| {
        let mut child =
            ChildBuilder::new(CloneFlags::empty()).spawn(move || exec_status_dump(&path))?;
        Ok(child.wait())
    })
}

/// Why a container cannot be started here, if it cannot.
fn no_containers_here() -> Option<String> {
    if clonekit::program::emulated() {
        return Some("qemu-user refuses namespace flags; runs natively and in the guest".into());
    }
    if clonekit::sys::process::geteuid() != 0 {
        return Some("not root: namespaces need CAP_SYS_ADMIN".into());
    }
    None
}

fn exec_from_a_container_keeps_the_callers_mask() -> Result<Verdict, String> {
    if let Some(reason) = no_containers_here() {
        return Ok(Verdict::Skip(reason));
    }
    exec_keeps_mask("exec-container", |path| {
        // No new mount namespace: the shell must write where the parent reads.
        let mut container = Container::new()
            .namespaces(CloneFlags::NEWUTS | CloneFlags::NEWIPC)
            .spawn(move || exec_status_dump(&path))?;
        Ok(container.wait())
    })
}

fn container_setup_failure_is_named() -> Result<Verdict, String> {
    // An offset far past what the kernel takes: the child's write of timens_offsets fails.
    let asked = Container::new()
        .namespaces(
            CloneFlags::NEWUTS
                | CloneFlags::NEWUSER
                | CloneFlags::NEWNS
                | CloneFlags::NEWPID
                | CloneFlags::NEWTIME,
        )
        .time_offsets(i64::MAX, 0)
        .spawn(|| 0);
    if clonekit::program::emulated() {
        return match asked {
            Err(Error::EmulatorRefused(flags)) if flags.contains(CloneFlags::NEWUSER) => {
                Ok(Verdict::Pass)
            }
            Err(e) if unknown_count_under_emulation(&e).is_some() => {
                Ok(unknown_count_under_emulation(&e).unwrap())
            }
            other => Err(format!("under an emulator: {other:?}")),
        };
    }
    if clonekit::sys::process::geteuid() != 0 {
        return Ok(Verdict::Skip(
            "not root: namespaces need CAP_SYS_ADMIN".into(),
        ));
    }
    match asked {
        Err(Error::ContainerSetup {
            step: SetupStep::TimeNamespace,
            errno,
        }) => {
            println!("  (the time-namespace step failed with {errno})");
            Ok(Verdict::Pass)
        }
        other => Err(format!(
            "a time offset the kernel refuses gave {other:?}, not the time-namespace step"
        )),
    }
}

/// The environment `env` shows when started by an `exec::Command` that changes nothing.
fn inherited_environment() -> Result<Vec<String>, String> {
    use clonekit::exec::{Command, Stdio};
    use clonekit::sys::fs::{PipeFlags, pipe2, read_full};
    let (r, w) = pipe2(PipeFlags::CLOEXEC).map_err(|e| format!("pipe2: {e}"))?;
    let mut child = Command::new(c"env")
        .stdout(Stdio::Fd(w.as_fd()))
        .spawn()
        .map_err(|e| format!("spawn env: {e}"))?;
    drop(w);
    let mut buf = vec![0u8; 1 << 20];
    let n = read_full(&r, &mut buf).map_err(|e| format!("read: {e}"))?;
    match child.wait() {
        Ok(status) if status.success() => {}
        other => return Err(format!("env: {other:?}")),
    }
    Ok(String::from_utf8_lossy(&buf[..n])
        .lines()
        .map(str::to_owned)
        .collect())
}

/// What the program gets is the libc's environment now (its `environ`, which `set_var`
/// changes), not the one the kernel gave the process at its start.
fn command_inherits_what_set_var_set() -> Result<Verdict, String> {
    const VAR: &str = "CLONEKIT_SET_AFTER_START";
    // SAFETY: this program is single-threaded: no other thread reads the environment.
    unsafe { std::env::set_var(VAR, "yes") };
    let with = inherited_environment()?;
    // SAFETY: as above.
    unsafe { std::env::remove_var(VAR) };
    let without = inherited_environment()?;
    let line = format!("{VAR}=yes");
    if !with.contains(&line) {
        return Err(format!("{line} missing after set_var: {with:?}"));
    }
    if without.iter().any(|e| e.starts_with(VAR)) {
        return Err(format!("{VAR} still there after remove_var: {without:?}"));
    }
    Ok(Verdict::Pass)
}
