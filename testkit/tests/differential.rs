//! The validator against the real kernel, fuzz-style: 5,000 seeded random flag combinations
//! (`CLONEKIT_SEED` picks another seed), legacy clone() and clone3(), each run for real, the
//! verdicts compared. The test kit's `validator_differential_400_seeded_combos_agree_with_kernel`
//! is the same check on a 400-combination sample that fits every guest run; this one's own
//! default seed keeps the two samples apart, so no combination is tried twice natively.
//!
//! The combos run in a forked runner (a clonekit child that makes only raw syscalls), so
//! that children created with CLONE_PARENT become this test process's children and are
//! reaped here by pid. Needs root (namespaces); under qemu-user it is skipped, because
//! qemu-user refuses most of these flags itself (see docs/abi.md): there, EINVAL proves nothing.

// The root package's test helpers, shared (this package is never published).
#[path = "../../tests/common/mod.rs"]
mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicI32, Ordering};

use clonekit::fd::OwnedFd;
use clonekit::sys::fs::{CWD, OFlags, openat};
use clonekit::sys::mm::{MapFlags, ProtFlags, mmap_anonymous, munmap};
use clonekit::validate::Caller;
use clonekit::{Errno, KernelVersion};
use clonekit_testkit::differential::{
    Combo, ComboGenerator, Env, Outcome, predict, reap, try_in_kernel,
};

const COMBOS: usize = 5_000;
/// Not the kit's seed (`0x00c1_0e4b_17c0_ffee`), whose first 400 combinations the kit runs.
const DEFAULT_SEED: u64 = 0x00c1_0e4b_5000_c0de;

/// One result slot in memory shared with the runner: the errno (0 = accepted), and the
/// pid of a CLONE_PARENT child we must reap (0 if none).
#[repr(C)]
struct Slot {
    errno: AtomicI32,
    parent_pid: AtomicI32,
}

/// A cgroup2 directory to test CLONE_INTO_CGROUP with: our own cgroup (moving a child into
/// its parent's cgroup is always allowed).
fn cgroup2_dir() -> Option<std::path::PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim_start_matches('/')
        .to_owned();
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let root = mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(2) == Some(&"cgroup2")).then(|| f[1].to_owned())
    })?;
    Some(std::path::Path::new(&root).join(rel))
}

#[test]
fn validator_agrees_with_the_kernel_on_5000_combinations() {
    if let Some(reason) = common::needs_root_and_real_kernel() {
        skip!("{reason}");
    }
    let seed = std::env::var("CLONEKIT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let cgroup: Option<OwnedFd> = cgroup2_dir().and_then(|dir| {
        let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        openat(CWD, &path, flags, 0).ok()
    });
    let cgroup_fd = cgroup.as_ref().map(OwnedFd::as_fd);
    let env = Env {
        kernel: KernelVersion::cached(),
        caller: Caller {
            is_ns_init: false,
            ..Caller::PRIVILEGED
        },
        cgroup_fd,
    };
    let mut generator = ComboGenerator::new(seed, cgroup_fd.is_some());
    let combos: Vec<Combo> = (0..COMBOS).map(|_| generator.next_combo()).collect();

    let len = COMBOS * std::mem::size_of::<Slot>();
    let shared = mmap_anonymous(len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED)
        .expect("shared result memory");
    let slots: &[Slot] =
        // SAFETY: a fresh, zeroed, shared mapping of COMBOS slots; Slot is two atomics.
        unsafe { std::slice::from_raw_parts(shared.as_ptr().cast::<Slot>(), COMBOS) };

    let started = std::time::Instant::now();
    // The runner is a fork-like child: it works on a copy of our memory plus the shared
    // slots, and runs only clonekit code, never std.
    let run_all = || {
        for (combo, slot) in combos.iter().zip(slots) {
            // SAFETY: this runs in the forked runner, which is single-threaded and has no
            // signal handler but std's SIGSEGV/SIGBUS ones (for faults, which the children do
            // not make); nobody sends it signals. Its children's exit signals are none,
            // SIGCHLD and SIGURG (the generator's), ignored by default here and in this test
            // process, which reaps the runner's CLONE_PARENT children below.
            match unsafe { try_in_kernel(combo, &env) } {
                Outcome::Refused(errno) => slot.errno.store(errno.raw(), Ordering::Relaxed),
                Outcome::Reaped => {}
                Outcome::ParentMustReap(pid) => slot.parent_pid.store(pid, Ordering::Relaxed),
            }
        }
        0
    };
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let mut runner =
        unsafe { clonekit::process::fork_unchecked(run_all) }.expect("fork the runner");
    let status = runner.wait().expect("wait for the runner");
    assert!(status.success(), "the runner {status}");
    let mut reaped_for_runner = 0;
    let mut disagreements = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for (i, (combo, slot)) in combos.iter().zip(slots).enumerate() {
        let parent_pid = slot.parent_pid.load(Ordering::Relaxed);
        if parent_pid != 0 {
            reap(parent_pid);
            reaped_for_runner += 1;
        }
        let kernel = match slot.errno.load(Ordering::Relaxed) {
            0 => Ok(()),
            e => Err(Errno::from_raw(e)),
        };
        if kernel.is_ok() {
            accepted += 1
        } else {
            refused += 1
        }
        let validator = predict(combo, &env);
        if validator != kernel {
            disagreements.push(format!(
                "#{i} {:?} {:?} exit_signal {}: validator {validator:?}, kernel {kernel:?}",
                combo.syscall,
                combo.flags,
                combo.exit_signal.raw()
            ));
        }
    }
    let elapsed = started.elapsed();
    // SAFETY: the runner is gone; nothing else uses the mapping.
    unsafe { munmap(shared.as_ptr().cast(), len) }.unwrap();
    eprintln!(
        "differential: {COMBOS} combos (seed {seed:#x}, kernel {}), {accepted} accepted, \
         {refused} refused, {reaped_for_runner} CLONE_PARENT children reaped, {:.1?}",
        env.kernel, elapsed
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements (seed {seed:#x}):\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(
        accepted > COMBOS / 10 && refused > COMBOS / 10,
        "the generator covers both verdicts"
    );
}
