//! Spawn costs against the strongest peers a user would pick, in one run: glibc's
//! `pthread_create`+`pthread_join` (default attributes: its stack cache in play) and std's
//! `thread::spawn` for threads, libc `fork`+`waitpid` for process children, `posix_spawn`+
//! `waitpid` and std's `Command` for exec.
//!
//! Each comparison runs in several independent rounds (alternating batches inside a round,
//! and the order of the two sides swapped every other round), once unpinned and once with the
//! whole bench pinned to one CPU (`sched_setaffinity`): where the child lands decides a lot
//! when it may land anywhere. For each, `ratio <name> <median>` (clonekit's median time over
//! the peer's, the median over rounds), then the spread over rounds and the absolute medians.
//!
//! `CLONEKIT_BENCH_QUICK=1 cargo bench` takes fewer samples (a few seconds in all).

use std::hint::black_box;
use std::time::{Duration, Instant};

use clonekit::Stack;
use clonekit::thread::Builder;

mod common;

/// How many rounds per comparison, and timed operations per side and round, in batches.
struct Plan {
    rounds: usize,
    batches: usize,
    per_batch: usize,
}

fn plan() -> Plan {
    if std::env::var_os("CLONEKIT_BENCH_QUICK").is_some() {
        Plan {
            rounds: 3,
            batches: 4,
            per_batch: 10,
        }
    } else {
        Plan {
            rounds: 7,
            batches: 10,
            per_batch: 30,
        }
    }
}

/// One round: `ours` and `peer` in alternating batches (so drift hits both alike), `peer`
/// first when `peer_first`; the median time of one operation of each.
fn round(
    plan: &Plan,
    peer_first: bool,
    ours: &mut dyn FnMut(),
    peer: &mut dyn FnMut(),
) -> (Duration, Duration) {
    let mut a = Vec::with_capacity(plan.batches * plan.per_batch);
    let mut b = Vec::with_capacity(plan.batches * plan.per_batch);
    // Warm up both (page faults, lazy binding, first mmap, glibc's stack cache).
    for _ in 0..plan.per_batch {
        ours();
        peer();
    }
    let batch = |f: &mut dyn FnMut(), into: &mut Vec<Duration>| {
        for _ in 0..plan.per_batch {
            let t = Instant::now();
            f();
            into.push(t.elapsed());
        }
    };
    for _ in 0..plan.batches {
        if peer_first {
            batch(peer, &mut b);
            batch(ours, &mut a);
        } else {
            batch(ours, &mut a);
            batch(peer, &mut b);
        }
    }
    (median(&mut a), median(&mut b))
}

fn median<T: Ord + Copy>(v: &mut [T]) -> T {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Runs `plan.rounds` rounds and prints the ratio line and its spread.
fn compare(
    plan: &Plan,
    name: &str,
    peer_name: &str,
    ours: &mut dyn FnMut(),
    peer: &mut dyn FnMut(),
) {
    let mut ratios = Vec::with_capacity(plan.rounds);
    let mut times = Vec::with_capacity(plan.rounds);
    for r in 0..plan.rounds {
        let (a, b) = round(plan, r % 2 == 1, ours, peer);
        ratios.push(a.as_secs_f64() / b.as_secs_f64());
        times.push((a, b));
    }
    let mut ours_t: Vec<Duration> = times.iter().map(|t| t.0).collect();
    let mut peer_t: Vec<Duration> = times.iter().map(|t| t.1).collect();
    common::print_ratio(
        name,
        &ratios,
        &format!(
            "medians clonekit {:?}, {peer_name} {:?}",
            median(&mut ours_t),
            median(&mut peer_t)
        ),
    );
}

/// Pins the whole bench (and what it starts) to CPU 0, or lets it run anywhere again.
fn pin(on: bool) {
    // SAFETY: a plain cpu_set_t on our stack, of the size passed; affects this thread (the
    // bench's only one between measurements) and what it creates afterwards.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if on {
            libc::CPU_SET(0, &mut set);
        } else {
            for cpu in 0..libc::CPU_SETSIZE as usize {
                libc::CPU_SET(cpu, &mut set);
            }
        }
        let ret = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(ret, 0, "sched_setaffinity");
    }
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

extern "C" fn pthread_body(_: *mut libc::c_void) -> *mut libc::c_void {
    black_box(std::ptr::null_mut())
}

/// glibc's thread with default attributes (its cached stacks are reused).
fn pthread_spawn_join() {
    // SAFETY: a default-attribute thread running a function that returns at once, joined.
    unsafe {
        let mut thread: libc::pthread_t = 0;
        let ret = libc::pthread_create(
            &mut thread,
            std::ptr::null(),
            pthread_body,
            std::ptr::null_mut(),
        );
        assert_eq!(ret, 0);
        libc::pthread_join(thread, std::ptr::null_mut());
    }
}

/// glibc's `posix_spawn` of `/bin/true` (vfork-style, the exec error through shared memory)
/// and `waitpid`.
fn posix_spawn_true() {
    let argv = [c"true".as_ptr() as *mut libc::c_char, std::ptr::null_mut()];
    let envp = [std::ptr::null_mut()];
    // SAFETY: NUL-terminated strings and NULL-terminated arrays alive across the call; no
    // file actions or attributes.
    unsafe {
        let mut pid = 0;
        let ret = libc::posix_spawn(
            &mut pid,
            c"/bin/true".as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            argv.as_ptr(),
            envp.as_ptr(),
        );
        assert_eq!(ret, 0);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
}

fn main() {
    let plan = plan();
    let mut reused = Some(Stack::new(64 * 1024).unwrap());
    let mut thread_reused = move || {
        let stack = reused.take().unwrap();
        // SAFETY: the thread only calls black_box (core): no libc, no std.
        let handle =
            unsafe { Builder::new().stack(stack).spawn_unchecked(|| black_box(1)) }.unwrap();
        let (_, stack) = handle.join_reclaim();
        reused = Some(stack);
    };
    let mut thread_fresh = || {
        // SAFETY: the thread only calls black_box (core): no libc, no std.
        unsafe { Builder::new().spawn_unchecked(|| black_box(1)) }
            .unwrap()
            .join()
            .unwrap();
    };
    let mut fork_wait = || {
        let mut child = clonekit::process::fork(|| 0).unwrap();
        black_box(child.wait().unwrap());
    };
    let mut own_stack_wait = || {
        let mut child = clonekit::process::ChildBuilder::new(clonekit::CloneFlags::empty())
            .stack_size(64 * 1024)
            .spawn(|| 0)
            .unwrap();
        black_box(child.wait().unwrap());
    };
    let mut exec_wait = || {
        let mut child = clonekit::exec::spawn(c"/bin/true", &[c"true"], &[]).unwrap();
        assert!(child.wait().unwrap().success());
    };
    for pinned in [false, true] {
        pin(pinned);
        let suffix = if pinned { "_pinned" } else { "" };
        let name = |row: &str| format!("{row}{suffix}");
        println!(
            "{}",
            if pinned {
                "pinned to CPU 0:"
            } else {
                "unpinned:"
            }
        );
        compare(
            &plan,
            &name("thread_spawn_join_reused_stack_vs_pthread"),
            "pthread_create+join",
            &mut thread_reused,
            &mut pthread_spawn_join,
        );
        compare(
            &plan,
            &name("thread_spawn_join_fresh_stack_vs_pthread"),
            "pthread_create+join",
            &mut thread_fresh,
            &mut pthread_spawn_join,
        );
        compare(
            &plan,
            &name("thread_spawn_join_reused_stack_vs_std"),
            "std::thread::spawn",
            &mut thread_reused,
            &mut std_thread,
        );
        compare(
            &plan,
            &name("thread_spawn_join_fresh_stack_vs_std"),
            "std::thread::spawn",
            &mut thread_fresh,
            &mut std_thread,
        );
        compare(
            &plan,
            &name("process_fork_wait_vs_libc_fork"),
            "libc fork+waitpid",
            &mut fork_wait,
            &mut libc_fork_wait,
        );
        compare(
            &plan,
            &name("process_own_stack_wait_vs_libc_fork"),
            "libc fork+waitpid",
            &mut own_stack_wait,
            &mut libc_fork_wait,
        );
        compare(
            &plan,
            &name("exec_spawn_wait_bin_true_vs_posix_spawn"),
            "posix_spawn+waitpid",
            &mut exec_wait,
            &mut posix_spawn_true,
        );
        compare(
            &plan,
            &name("exec_spawn_wait_bin_true_vs_command"),
            "std::process::Command",
            &mut exec_wait,
            &mut std_command_true,
        );
    }
    pin(false);
}
