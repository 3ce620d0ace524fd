//! Spawn costs, side by side with their peers in one run: each line `ratio <name> <value>` is
//! clonekit's median time over the peer's, followed by both absolute medians.
//!
//! `CLONEKIT_BENCH_QUICK=1 cargo bench` takes fewer samples (a few seconds in all).

use std::hint::black_box;
use std::time::{Duration, Instant};

use clonekit::Stack;
use clonekit::thread::Builder;

/// How many timed operations per side, in alternating batches.
struct Plan {
    batches: usize,
    per_batch: usize,
}

fn plan() -> Plan {
    if std::env::var_os("CLONEKIT_BENCH_QUICK").is_some() {
        Plan {
            batches: 10,
            per_batch: 20,
        }
    } else {
        Plan {
            batches: 40,
            per_batch: 50,
        }
    }
}

/// Runs `ours` and `peer` in alternating batches (so drift hits both alike) and returns the
/// median time of one operation of each.
fn compare(plan: &Plan, mut ours: impl FnMut(), mut peer: impl FnMut()) -> (Duration, Duration) {
    let mut a = Vec::with_capacity(plan.batches * plan.per_batch);
    let mut b = Vec::with_capacity(plan.batches * plan.per_batch);
    // Warm up both (page faults, lazy binding, first mmap).
    for _ in 0..plan.per_batch {
        ours();
        peer();
    }
    for _ in 0..plan.batches {
        for _ in 0..plan.per_batch {
            let t = Instant::now();
            ours();
            a.push(t.elapsed());
        }
        for _ in 0..plan.per_batch {
            let t = Instant::now();
            peer();
            b.push(t.elapsed());
        }
    }
    (median(&mut a), median(&mut b))
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn report(name: &str, peer: &str, (ours, theirs): (Duration, Duration)) {
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    println!("ratio {name} {ratio:.3}");
    println!("  clonekit {ours:?} median, {peer} {theirs:?} median");
}

/// The process-spawn floor: libc's `fork()` and `waitpid()`, the child exiting at once.
fn libc_fork_wait() {
    // SAFETY: the child only calls `_exit`, which is async-signal-safe.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
}

fn std_command_true() {
    let status = std::process::Command::new("/bin/true").status().unwrap();
    assert!(status.success());
}

fn std_thread() {
    std::thread::spawn(|| black_box(1)).join().unwrap();
}

fn main() {
    let plan = plan();
    let mut reused = Some(Stack::new(64 * 1024).unwrap());
    report(
        "thread_spawn_join_reused_stack",
        "std::thread::spawn",
        compare(
            &plan,
            || {
                let stack = reused.take().unwrap();
                // SAFETY: the thread only calls black_box (core): no libc, no std.
                let handle =
                    unsafe { Builder::new().stack(stack).spawn_unchecked(|| black_box(1)) }
                        .unwrap();
                let (_, stack) = handle.join_reclaim();
                reused = Some(stack);
            },
            std_thread,
        ),
    );
    report(
        "thread_spawn_join_fresh_stack",
        "std::thread::spawn",
        compare(
            &plan,
            || {
                // SAFETY: the thread only calls black_box (core): no libc, no std.
                unsafe { Builder::new().spawn_unchecked(|| black_box(1)) }
                    .unwrap()
                    .join();
            },
            std_thread,
        ),
    );
    report(
        "process_fork_wait",
        "libc fork+waitpid",
        compare(
            &plan,
            || {
                let child = clonekit::process::fork(|| 0).unwrap();
                black_box(child.wait().unwrap());
            },
            libc_fork_wait,
        ),
    );
    report(
        "process_function_child_own_stack_wait",
        "libc fork+waitpid",
        compare(
            &plan,
            || {
                let child = clonekit::process::ChildBuilder::new(clonekit::CloneFlags::empty())
                    .stack_size(64 * 1024)
                    .spawn(|| 0)
                    .unwrap();
                black_box(child.wait().unwrap());
            },
            libc_fork_wait,
        ),
    );
    report(
        "exec_spawn_wait_bin_true",
        "std::process::Command",
        compare(
            &plan,
            || {
                let child = clonekit::exec::spawn(c"/bin/true", &[c"true"], &[]).unwrap();
                assert!(child.wait().unwrap().success());
            },
            std_command_true,
        ),
    );
}
