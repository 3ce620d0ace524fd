//! Spawn+wait of a child in the six classic new namespaces (UTS, PID, mount, IPC, network,
//! user), clonekit against the raw clone floor of the same flags, a plain fork+unshare, and
//! util-linux's `unshare(1)`. Each line `ratio <name> <value>` is clonekit's median over the
//! peer's, in one run. Needs root; `CLONEKIT_BENCH_QUICK=1` takes fewer samples.

use std::hint::black_box;
use std::time::{Duration, Instant};

use clonekit::ExitSignal;
use clonekit::container::{CLASSIC_NAMESPACES, Container};
use clonekit::process::{ChildBuilder, fork_with};

fn samples() -> usize {
    if std::env::var_os("CLONEKIT_BENCH_QUICK").is_some() {
        30
    } else {
        200
    }
}

/// Alternates single runs of each contender (so drift hits all alike), rotating the order;
/// returns medians.
fn measure(n: usize, contenders: &mut [&mut dyn FnMut()]) -> Vec<Duration> {
    let mut times = vec![Vec::with_capacity(n); contenders.len()];
    for f in contenders.iter_mut() {
        f();
    }
    // Each round starts with the next contender: namespace teardown is partly asynchronous
    // (network namespaces are cleaned up by a kernel worker), so whoever runs right after
    // the heaviest contender would otherwise always pay for its cleanup.
    let k = contenders.len();
    for round in 0..n {
        for j in 0..k {
            let i = (round + j) % k;
            let t = Instant::now();
            contenders[i]();
            times[i].push(t.elapsed());
        }
    }
    times
        .into_iter()
        .map(|mut v| {
            v.sort_unstable();
            v[v.len() / 2]
        })
        .collect()
}

/// The floor: one raw `clone(flags | SIGCHLD)` whose child exits at once, and `waitpid`.
fn raw_clone_floor() {
    let flags = CLASSIC_NAMESPACES.bits() as libc::c_long | libc::SIGCHLD as libc::c_long;
    // SAFETY: a fork-like clone (no CLONE_VM, no stack); the child only calls `_exit`.
    unsafe {
        let pid = libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0);
        if pid == 0 {
            libc::_exit(0);
        }
        let mut status = 0;
        libc::waitpid(pid as libc::pid_t, &mut status, libc::__WALL);
    }
}

/// A plain fork whose child unshares the six namespaces, C-style.
fn fork_unshare() {
    // SAFETY: the child only calls `unshare` and `_exit`, both async-signal-safe.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            let ok = libc::unshare(CLASSIC_NAMESPACES.bits() as libc::c_int) == 0;
            libc::_exit(if ok { 0 } else { 1 });
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
}

fn unshare_command() {
    let status = std::process::Command::new("unshare")
        .args([
            "--uts",
            "--pid",
            "--mount",
            "--ipc",
            "--net",
            "--user",
            "--fork",
            "/bin/true",
        ])
        .status()
        .expect("unshare(1) from util-linux");
    assert!(status.success());
}

fn main() {
    // SAFETY: geteuid takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("skip namespaces bench: not root (the namespaces need CAP_SYS_ADMIN)");
        return;
    }
    let n = samples();
    // The child runs on a copy of our stack (no CLONE_VM): the same clone the floor makes,
    // plus clonekit's checks before it.
    let mut clonekit_child = || {
        let child = fork_with(CLASSIC_NAMESPACES, ExitSignal::SIGCHLD, || 0).unwrap();
        black_box(child.wait().unwrap());
    };
    // On a stack of its own, as `ChildBuilder` gives every child by default.
    let mut clonekit_own_stack = || {
        let child = ChildBuilder::new(CLASSIC_NAMESPACES)
            .stack_size(64 * 1024)
            .spawn(|| 0)
            .unwrap();
        black_box(child.wait().unwrap());
    };
    let mut container = || {
        let child = Container::new().spawn(|| 0).unwrap();
        black_box(child.wait().unwrap());
    };
    let mut floor = raw_clone_floor;
    let mut fork_then_unshare = fork_unshare;
    let mut command = unshare_command;
    let medians = measure(
        n,
        &mut [
            &mut clonekit_child,
            &mut clonekit_own_stack,
            &mut container,
            &mut floor,
            &mut fork_then_unshare,
            &mut command,
        ],
    );
    let [ours, own_stack, full, floor, plain, command] = medians[..] else {
        unreachable!()
    };
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "ratio ns6_spawn_wait_vs_raw_clone_floor {:.3}",
        ratio(ours, floor)
    );
    println!(
        "ratio ns6_own_stack_spawn_wait_vs_raw_clone_floor {:.3}",
        ratio(own_stack, floor)
    );
    println!(
        "ratio ns6_spawn_wait_vs_fork_unshare {:.3}",
        ratio(ours, plain)
    );
    println!(
        "ratio ns6_spawn_wait_vs_unshare_cmd {:.3}",
        ratio(ours, command)
    );
    println!(
        "ratio container_spawn_wait_vs_unshare_cmd {:.3}",
        ratio(full, command)
    );
    println!(
        "  medians: clonekit fork_with {ours:?}, ChildBuilder {own_stack:?}, Container (maps, /proc) {full:?}, \
         raw clone {floor:?}, fork+unshare {plain:?}, unshare(1) {command:?}"
    );
}
