//! Spawn+wait of a child in the six classic new namespaces (UTS, PID, mount, IPC, network,
//! user), clonekit against the raw clone floor of the same flags, a plain fork+unshare, and
//! util-linux's `unshare(1)`. Each line `ratio <name> <value>` is clonekit's median over the
//! peer's: the median over several independent rounds, its spread on the next line. Needs
//! root; `CLONEKIT_BENCH_QUICK=1` takes fewer samples.

use std::hint::black_box;
use std::time::{Duration, Instant};

use clonekit::ExitSignal;
use clonekit::container::{CLASSIC_NAMESPACES, Container};
use clonekit::process::{ChildBuilder, fork_with};

mod common;

/// Samples per contender and round, and rounds.
fn samples() -> (usize, usize) {
    if std::env::var_os("CLONEKIT_BENCH_QUICK").is_some() {
        (15, 3)
    } else {
        (60, 5)
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
    let (n, rounds) = samples();
    // The child runs on a copy of our stack (no CLONE_VM): the same clone the floor makes,
    // plus clonekit's checks before it.
    let mut clonekit_child = || {
        let mut child = fork_with(CLASSIC_NAMESPACES, ExitSignal::SIGCHLD, || 0).unwrap();
        black_box(child.wait().unwrap());
    };
    // On a stack of its own, as `ChildBuilder` gives every child by default.
    let mut clonekit_own_stack = || {
        let mut child = ChildBuilder::new(CLASSIC_NAMESPACES)
            .stack_size(64 * 1024)
            .spawn(|| 0)
            .unwrap();
        black_box(child.wait().unwrap());
    };
    let mut container = || {
        let mut child = Container::new().spawn(|| 0).unwrap();
        black_box(child.wait().unwrap());
    };
    let mut floor = raw_clone_floor;
    let mut fork_then_unshare = fork_unshare;
    let mut command = unshare_command;
    let mut per_round = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        per_round.push(measure(
            n,
            &mut [
                &mut clonekit_child,
                &mut clonekit_own_stack,
                &mut container,
                &mut floor,
                &mut fork_then_unshare,
                &mut command,
            ],
        ));
    }
    // Contender indices, as passed above.
    let (ours, own_stack, full, floor, plain, command) = (0, 1, 2, 3, 4, 5);
    let ratios = |a: usize, b: usize| -> Vec<f64> {
        per_round
            .iter()
            .map(|m| m[a].as_secs_f64() / m[b].as_secs_f64())
            .collect()
    };
    let medians = |i: usize| {
        let mut v: Vec<Duration> = per_round.iter().map(|m| m[i]).collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let detail = |a: usize, b: usize| format!("medians {:?} vs {:?}", medians(a), medians(b));
    for (name, a, b) in [
        ("ns6_spawn_wait_vs_raw_clone_floor", ours, floor),
        (
            "ns6_own_stack_spawn_wait_vs_raw_clone_floor",
            own_stack,
            floor,
        ),
        ("ns6_spawn_wait_vs_fork_unshare", ours, plain),
        ("ns6_spawn_wait_vs_unshare_cmd", ours, command),
        ("container_spawn_wait_vs_unshare_cmd", full, command),
    ] {
        common::print_ratio(name, &ratios(a, b), &detail(a, b));
    }
    println!(
        "  medians: clonekit fork_with {:?}, ChildBuilder {:?}, Container (maps, /proc) {:?}, \
         raw clone {:?}, fork+unshare {:?}, unshare(1) {:?}",
        medians(ours),
        medians(own_stack),
        medians(full),
        medians(floor),
        medians(plain),
        medians(command)
    );
}
