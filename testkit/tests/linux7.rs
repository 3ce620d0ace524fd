//! Linux 7.1's four `clone3()` flags on the host: their values against the uapi header of
//! Debian's newest `linux-libc-dev`, the validator's refusal by name on a kernel before 7.1
//! and the kernel's own `EINVAL` there, the typed API's refusals, and the one rule of Linux
//! 6.2 (`CLONE_VM` after `unshare(CLONE_NEWTIME)`) on this kernel.
//!
//! What the flags do is proven on a 7.x kernel by the guest cases
//! (`testkit/src/cases/linux7.rs`).

// The root package's test helpers, shared (this package is never published).
#[path = "../../tests/common/mod.rs"]
mod common;

use clonekit::container::Container;
use clonekit::process::{ChildBuilder, MANAGED_FLAGS, fork_with};
use clonekit::validate::{Request, validate};
use clonekit::{CloneArgs, CloneFlags, Errno, Error, ExitSignal, FlagError, KernelVersion};

/// A descriptor number that is not open: `CLONE_INTO_CGROUP` with it fails (`EBADF`) in
/// `copy_process()`, after every flag check and before any task runs, so the raw `clone3()`
/// calls below never create a child, whatever the kernel.
const NOT_OPEN: u64 = 1_000_000;

/// `clone3(args)` straight to the kernel, bypassing the validator. Only ever called with
/// `CLONE_INTO_CGROUP` and [`NOT_OPEN`] (see there), so it cannot create a task.
fn clone3_refused(args: &CloneArgs) -> Errno {
    assert!(args.flags & CloneFlags::INTO_CGROUP.bits() != 0 && args.cgroup == NOT_OPEN);
    // SAFETY: `args` is a live, initialised struct of the size passed; with the cgroup fd not
    // open the kernel refuses before any task exists (see NOT_OPEN), so nothing returns twice.
    let ret = unsafe {
        sc::syscall2(
            linux_raw_sys::general::__NR_clone3 as usize,
            args as *const CloneArgs as usize,
            clonekit::clone_args::SIZE_VER2,
        )
    };
    let ret = ret as isize;
    assert!(
        ret < 0,
        "clone3 created task {ret} although the cgroup fd was not open"
    );
    Errno::from_raw((-ret) as i32)
}

/// Each 7.1 flag with what it needs of the others (as a clone3 request on 7.1 accepts it),
/// and the exit signal it needs.
fn closest_accepted(flag: CloneFlags) -> (CloneFlags, ExitSignal) {
    match flag {
        f if f == CloneFlags::AUTOREAP => (f, ExitSignal::NONE),
        f if f == CloneFlags::PIDFD_AUTOKILL => (
            f | CloneFlags::PIDFD | CloneFlags::AUTOREAP | CloneFlags::NNP,
            ExitSignal::NONE,
        ),
        f => (f, ExitSignal::SIGCHLD),
    }
}

#[test]
fn each_7_1_flag_is_named_by_the_validator_and_refused_by_a_kernel_before_7_1() {
    if common::qemu_user() && clonekit::sys::process::clone3_probe() == Errno::ENOSYS {
        skip!("qemu-user has no clone3 (ENOSYS); this runs natively and in the guest");
    }
    let kernel = KernelVersion::cached();
    let mut pidfd: i32 = -1;
    // The control: the same arguments without a 7.1 flag get as far as the cgroup fd.
    let mut control = CloneArgs::new(CloneFlags::INTO_CGROUP, ExitSignal::SIGCHLD);
    control.cgroup = NOT_OPEN;
    assert_eq!(clone3_refused(&control), Errno::EBADF);
    for flag in CloneFlags::LINUX_7_1.iter() {
        let (flags, signal) = closest_accepted(flag);
        let mut args = CloneArgs::new(flags | CloneFlags::INTO_CGROUP, signal);
        args.cgroup = NOT_OPEN;
        args.pidfd = &raw mut pidfd as u64;
        let kernel_says = clone3_refused(&args);
        let mut request = Request::clone3(flags | CloneFlags::INTO_CGROUP, signal, kernel);
        request.clone3 = args.shape(clonekit::clone_args::SIZE_VER2);
        let validator_says = validate(&request);
        if kernel < KernelVersion::V7_1 {
            // This host (Linux 6.18 when this was written): the bit is unknown to the kernel.
            // Every 7.1 flag of the request is named (AUTOKILL comes with AUTOREAP, NNP).
            let named = FlagError::NeedsKernel {
                flags: flags & CloneFlags::LINUX_7_1,
                since: KernelVersion::V7_1,
            };
            assert_eq!(validator_says, Err(named), "{flag:?}");
            assert_eq!(named.errno(), kernel_says);
            assert_eq!(kernel_says, Errno::EINVAL, "{flag:?} on {kernel}");
        } else {
            // A 7.1 kernel knows the bit: the call gets as far as the cgroup fd, and the
            // validator, which leaves bad descriptors to the kernel, accepts the flags.
            assert_eq!(validator_says, Ok(()), "{flag:?}");
            assert_eq!(kernel_says, Errno::EBADF, "{flag:?} on {kernel}");
        }
    }
    assert_eq!(pidfd, -1, "no pidfd was ever made");
}

#[test]
fn random_combinations_with_7_1_flags_agree_with_a_kernel_before_7_1() {
    use clonekit_testkit::differential::{ComboGenerator, Env, predict, try_in_kernel};
    if common::qemu_user() && clonekit::sys::process::clone3_probe() == Errno::ENOSYS {
        skip!("qemu-user has no clone3 (ENOSYS); this runs natively and in the guest");
    }
    let kernel = KernelVersion::cached();
    if kernel >= KernelVersion::V7_1 {
        skip!("Linux {kernel} has the 7.1 flags: the guest's differential check covers them");
    }
    let env = Env {
        kernel,
        caller: clonekit::validate::Caller::PRIVILEGED,
        cgroup_fd: None,
    };
    let mut generator = ComboGenerator::new(0x7_1, false).with_linux_7_1(true);
    let mut tried = 0;
    while tried < 2000 {
        let combo = generator.next_combo();
        if !combo.flags.intersects(CloneFlags::LINUX_7_1) {
            continue; // the host's own differential test covers the rest
        }
        tried += 1;
        let predicted = predict(&combo, &env);
        assert_eq!(predicted, Err(Errno::EINVAL), "{combo:?}");
        // SAFETY: before 7.1 clone3_args_valid() refuses every one of these (unknown bits)
        // before any task exists, so no child runs and no exit signal is sent; this process
        // installs no signal handler a child could run.
        let outcome = unsafe { try_in_kernel(&combo, &env) };
        assert_eq!(outcome.verdict(), predicted, "{combo:?}");
    }
}

#[test]
fn the_typed_api_is_refused_by_name_before_7_1() {
    let kernel = KernelVersion::cached();
    if kernel >= KernelVersion::V7_1 {
        skip!("Linux {kernel} has the 7.1 flags: the guest cases (linux7) prove them");
    }
    let needs = |flags: CloneFlags| {
        Err::<(), _>(Error::Flags(FlagError::NeedsKernel {
            flags,
            since: KernelVersion::V7_1,
        }))
    };
    // The children would only return 0 (core only), which the unchecked spawners' contract
    // allows in this multithreaded test process; the validator refuses before any clone on
    // this kernel anyway.
    // SAFETY: as just said.
    let autoreap = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .autoreap()
            .spawn_unchecked(|| 0)
    };
    assert_eq!(autoreap.map(drop), needs(CloneFlags::AUTOREAP));
    // SAFETY: as above.
    let autokill = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .no_new_privs(true)
            .autoreap()
            .kill_on_drop()
            .spawn_unchecked(|| 0)
    };
    assert_eq!(
        autokill.map(drop),
        needs(CloneFlags::AUTOREAP | CloneFlags::NNP | CloneFlags::PIDFD_AUTOKILL)
    );
    // SAFETY: as above.
    let nnp = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .no_new_privs(true)
            .spawn_unchecked(|| 0)
    };
    assert_eq!(nnp.map(drop), needs(CloneFlags::NNP));
    // SAFETY: as above (the container's set-up would make clonekit calls only).
    let empty = unsafe { Container::new().empty_mounts().spawn_unchecked(|| 0) };
    assert_eq!(empty.map(drop), needs(CloneFlags::EMPTY_MNTNS));
    // SAFETY: as above.
    let nnp_container = unsafe { Container::new().no_new_privs(true).spawn_unchecked(|| 0) };
    assert_eq!(nnp_container.map(drop), needs(CloneFlags::NNP));
}

#[test]
fn autoreap_and_autokill_come_only_through_their_builders() {
    // A plain `Child` would offer a `wait` that can only fail: the flags are the API's own.
    assert!(MANAGED_FLAGS.contains(CloneFlags::AUTOREAP | CloneFlags::PIDFD_AUTOKILL));
    for flag in [CloneFlags::AUTOREAP, CloneFlags::PIDFD_AUTOKILL] {
        // SAFETY: refused before any clone (the flag is the API's own).
        let spawned = unsafe { ChildBuilder::new(flag).spawn_unchecked(|| 0) };
        assert_eq!(spawned.map(drop), Err(Error::ManagedFlags(flag)));
        let forked = fork_with(flag, ExitSignal::NONE, || 0);
        assert_eq!(forked.map(drop), Err(Error::ManagedFlags(flag)));
    }
    // NNP and EMPTY_MNTNS change no handle: plain flags are fine (the kernel decides).
    assert!(!MANAGED_FLAGS.intersects(CloneFlags::NNP | CloneFlags::EMPTY_MNTNS));
}

#[test]
fn a_vm_child_after_unshare_newtime_is_the_kernels_since_6_2() {
    if let Some(reason) = common::needs_root_and_real_kernel() {
        skip!("{reason}");
    }
    let kernel = KernelVersion::cached();
    // In a forked child (the time namespace for children changes for it alone): after
    // unshare(CLONE_NEWTIME) the caller state says so, and a CLONE_VM child is accepted by
    // a kernel from 6.2 and refused, by name, before.
    let run = move || {
        if clonekit::namespace::unshare(CloneFlags::NEWTIME).is_err() {
            return 10;
        }
        if !clonekit::namespace::caller().time_ns_for_children_differs {
            return 11;
        }
        let vm = ChildBuilder::new(CloneFlags::VM | CloneFlags::FILES);
        // SAFETY: the CLONE_VM child touches nothing but returns 0 (core only).
        match unsafe { vm.spawn_unchecked(|| 0) } {
            Ok(mut child) if kernel >= KernelVersion::V6_2 => match child.wait() {
                Ok(status) if status.success() => 0,
                _ => 12,
            },
            Err(Error::Flags(FlagError::VmOrThreadAfterTimeNamespaceChangeBefore6_2))
                if kernel < KernelVersion::V6_2 =>
            {
                0
            }
            Ok(_) => 13,
            Err(_) => 14,
        }
    };
    // SAFETY: the child makes clonekit calls only (no allocation, no std).
    let mut child = unsafe { clonekit::process::fork_unchecked(run) }.expect("fork");
    assert_eq!(
        child.wait().expect("wait").code(),
        Some(0),
        "on Linux {kernel}"
    );
}

// ---- The values against the uapi header ----

/// The `CLONE_*` defines of a uapi `linux/sched.h`: `(name, value)` for every
/// `#define CLONE_<NAME> <value>` whose value is a number or `(1ULL << n)`.
fn clone_defines(header: &str) -> Vec<(String, u64)> {
    header
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("#define")?;
            let mut words = rest.split_whitespace();
            let name = words.next()?.strip_prefix("CLONE_")?;
            let value: String = words.take_while(|w| !w.starts_with("/*")).collect();
            Some((name.to_string(), uapi_value(&value)?))
        })
        .collect()
}

/// `0x00000100`, `0x100000000ULL`, `88`, `(1ULL << 34)`.
fn uapi_value(text: &str) -> Option<u64> {
    let text = text.trim_start_matches('(').trim_end_matches(')');
    if let Some((base, shift)) = text.split_once("<<") {
        return uapi_value(base)?.checked_shl(uapi_value(shift)? as u32);
    }
    let digits = text.trim_end_matches(['U', 'L', 'u', 'l']);
    match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => digits.parse().ok(),
    }
}

#[test]
fn the_uapi_parser_reads_the_forms_the_header_uses() {
    let header = "#define CSIGNAL\t\t0x000000ff\t/* signal */\n\
                  #define CLONE_VM\t0x00000100\t/* set if VM shared */\n\
                  #define CLONE_CLEAR_SIGHAND 0x100000000ULL\n\
                  #define CLONE_AUTOREAP\t\t(1ULL << 34) /* Auto-reap child on exit. */\n\
                  #define CLONE_ARGS_SIZE_VER2 88 /* sizeof third published struct */\n\
                  #define UNSHARE_EMPTY_MNTNS 0x00100000\n";
    assert_eq!(
        clone_defines(header),
        [
            ("VM".to_string(), 0x100),
            ("CLEAR_SIGHAND".to_string(), 1 << 32),
            ("AUTOREAP".to_string(), 1 << 34),
            ("ARGS_SIZE_VER2".to_string(), 88),
        ]
    );
}

/// `CLONEKIT_UAPI_SCHED_H`: the path of `include/linux/sched.h` from Debian's newest
/// `linux-libc-dev`, which `cargo qemu test` (its "uapi header" step) fetches into the cache
/// and passes here; `cargo qemu uapi` does the same alone.
#[test]
fn every_flag_matches_debians_newest_uapi_header() {
    let Some(path) = std::env::var_os("CLONEKIT_UAPI_SCHED_H") else {
        skip!(
            "CLONEKIT_UAPI_SCHED_H is not set (`cargo qemu uapi` fetches the header and sets it)"
        );
    };
    let header = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.to_string_lossy()));
    let defines = clone_defines(&header);
    let mut flags_seen = CloneFlags::empty();
    let mut largest_args = 0;
    for (name, value) in &defines {
        if let Some(version) = name.strip_prefix("ARGS_SIZE_VER") {
            assert!(version.parse::<u32>().is_ok(), "CLONE_{name}");
            largest_args = largest_args.max(*value);
            continue;
        }
        let flag = CloneFlags::from_name(name).unwrap_or_else(|| {
            panic!("the header's CLONE_{name} ({value:#x}) is not in CloneFlags")
        });
        assert_eq!(flag.bits(), *value, "CLONE_{name}");
        flags_seen |= flag;
    }
    assert_eq!(
        flags_seen,
        CloneFlags::all(),
        "flags of CloneFlags missing from the header: {:?}",
        CloneFlags::all() - flags_seen
    );
    assert!(flags_seen.contains(CloneFlags::LINUX_7_1));
    // struct clone_args has not grown past the version clonekit passes.
    assert_eq!(largest_args, clonekit::clone_args::SIZE_VER2 as u64);
    clonekit::eprintln!(
        "uapi: {} CLONE_* flags in {} agree with CloneFlags",
        flags_seen.iter().count(),
        path.to_string_lossy()
    );
}
