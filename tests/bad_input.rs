//! Bad input at every public entry point a user can reach: each class of invalid input gets
//! its exact typed error, refused before any syscall that could act on it. Nothing here may
//! panic inside clonekit, and no call here creates a child or changes the test process (the
//! requests are all refused first).
//!
//! Runs natively and under qemu-user (`--test-threads=1`); a case qemu-user refuses (checked
//! by its errno) prints `SKIP <test>: <reason> (<ERRNO>)`.

mod common;

use core::ffi::c_void;

use clonekit::container::Container;
use clonekit::exec::{self, MAX_ARGS, SpawnError};
use clonekit::idmap::{self, IdMap, IdMapError, MAX_LINES};
use clonekit::namespace::{self, Namespace};
use clonekit::process::{ChildBuilder, MAX_SET_TID, fork_with_unchecked};
use clonekit::stack::StackError;
use clonekit::sys::fs::{CWD, PipeFlags, pipe2};
use clonekit::validate::{self, Caller, validate_unshare};
use clonekit::{
    CloneArgs, CloneFlags, Errno, Error, ExitSignal, FlagError, KernelVersion, Stack, raw, thread,
};

/// A child function that must never run: every call using it is refused first.
unsafe extern "C" fn never(_: *mut c_void) -> i32 {
    127
}

fn too_small(size: usize) -> StackError {
    StackError::TooSmall {
        size,
        min: Stack::MIN_SIZE,
    }
}

/// A leaked, 16-byte aligned buffer of `len + 32` bytes, for `Stack::from_static`.
fn leaked_aligned(len: usize) -> &'static mut [u8] {
    #[repr(C, align(16))]
    struct Chunk([u8; 16]);
    let chunks = len.div_ceil(16) + 2;
    let buf: &'static mut [Chunk] = Box::leak(
        (0..chunks)
            .map(|_| Chunk([0; 16]))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    // SAFETY: `chunks` 16-byte chunks are `chunks * 16` contiguous, initialised bytes, leaked
    // (so 'static) and borrowed only through the returned slice.
    unsafe { core::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), chunks * 16) }
}

// ---- Stacks ----

#[test]
fn stack_new_zero_tiny_and_just_below_the_minimum() {
    for size in [0, 1, 15, 4096, Stack::MIN_SIZE - 1] {
        assert_eq!(Stack::new(size).unwrap_err(), too_small(size), "{size}");
    }
}

#[test]
fn stack_new_overflowing_sizes() {
    for size in [usize::MAX, usize::MAX - 4095, usize::MAX - 64 * 1024] {
        assert!(
            matches!(Stack::new(size), Err(StackError::TooLarge(_))),
            "{size:#x}"
        );
    }
}

#[test]
fn stack_from_static_empty_and_too_small() {
    let empty: &'static mut [u8] = Box::leak(Box::new([0u8; 0]));
    assert_eq!(
        // SAFETY: refused before any child runs on it.
        unsafe { Stack::from_static(empty) }.unwrap_err(),
        too_small(0)
    );
    let buf = leaked_aligned(Stack::MIN_SIZE);
    let small = &mut buf[..Stack::MIN_SIZE - 16];
    assert_eq!(
        // SAFETY: refused before any child runs on it.
        unsafe { Stack::from_static(small) }.unwrap_err(),
        too_small(Stack::MIN_SIZE - 16)
    );
}

#[test]
fn stack_from_static_misaligned_start() {
    let buf = leaked_aligned(Stack::MIN_SIZE + 16);
    let start = buf.as_ptr() as usize;
    let shifted = &mut buf[8..8 + Stack::MIN_SIZE];
    assert_eq!(
        // SAFETY: refused before any child runs on it.
        unsafe { Stack::from_static(shifted) }.unwrap_err(),
        StackError::Misaligned {
            addr: start + 8,
            len: Stack::MIN_SIZE
        }
    );
}

#[test]
fn stack_from_static_misaligned_length() {
    let buf = leaked_aligned(Stack::MIN_SIZE + 16);
    let start = buf.as_ptr() as usize;
    let odd = &mut buf[..Stack::MIN_SIZE + 1];
    assert_eq!(
        // SAFETY: refused before any child runs on it.
        unsafe { Stack::from_static(odd) }.unwrap_err(),
        StackError::Misaligned {
            addr: start,
            len: Stack::MIN_SIZE + 1
        }
    );
}

// ---- Flags and exit signals ----

#[test]
fn unknown_flag_bits_are_named() {
    let sigchld = u64::from(ExitSignal::SIGCHLD.raw());
    for (bits, unknown) in [
        (1 << 40, 1 << 40),
        (u64::MAX, !CloneFlags::all().bits()),
        (sigchld, sigchld),
        (CloneFlags::VM.bits() | 1 << 63, 1 << 63),
        (CloneFlags::NPTL_THREAD.bits() | 0x1, 0x1),
    ] {
        assert_eq!(
            CloneFlags::try_from_bits(bits),
            Err(FlagError::UnknownBits(unknown)),
            "{bits:#x}"
        );
    }
}

#[test]
fn exit_signal_out_of_range() {
    for sig in [ExitSignal::MAX + 1, 128, 255, 256, u32::MAX] {
        assert_eq!(
            ExitSignal::new(sig),
            Err(FlagError::ExitSignalOutOfRange(sig))
        );
    }
    assert_eq!(
        ExitSignal::new(ExitSignal::MAX).map(ExitSignal::raw),
        Ok(64)
    );
}

// ---- Threads ----

#[test]
fn thread_with_a_zero_or_tiny_stack() {
    for size in [0, 1, Stack::MIN_SIZE - 1] {
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        let r = unsafe {
            thread::Builder::new()
                .stack_size(size)
                .spawn_unchecked(|| 0)
        };
        assert_eq!(r.unwrap_err(), Error::Stack(too_small(size)), "{size}");
    }
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        thread::Builder::new()
            .stack_size(usize::MAX)
            .spawn_unchecked(|| 0)
    };
    assert!(
        matches!(r, Err(Error::Stack(StackError::TooLarge(_)))),
        "{r:?}"
    );
}

#[test]
fn thread_closure_larger_than_its_stack() {
    let big = [1u8; 64 * 1024];
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        thread::Builder::new()
            .stack(Stack::new(Stack::MIN_SIZE).unwrap())
            .spawn_unchecked(move || i32::from(big[0]))
    };
    match r {
        Err(Error::Stack(StackError::TooSmall { size, min })) => {
            assert_eq!(size, Stack::MIN_SIZE);
            assert!(min > size, "{min} needed, {size} given");
        }
        other => panic!("{other:?}"),
    }
}

// ---- Process children ----

#[test]
fn child_with_a_zero_stack() {
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .stack_size(0)
            .spawn_unchecked(|| 0)
    };
    assert_eq!(r.unwrap_err(), Error::Stack(too_small(0)));
}

#[test]
fn child_closure_larger_than_its_stack() {
    let big = [1u8; 64 * 1024];
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .stack(Stack::new(Stack::MIN_SIZE).unwrap())
            .spawn_unchecked(move || i32::from(big[0]))
    };
    assert!(
        matches!(r, Err(Error::Stack(StackError::TooSmall { .. }))),
        "{r:?}"
    );
}

#[test]
fn child_managed_flags() {
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        ChildBuilder::new(CloneFlags::SETTLS | CloneFlags::CHILD_SETTID).spawn_unchecked(|| 0)
    };
    assert_eq!(
        r.unwrap_err(),
        Error::ManagedFlags(CloneFlags::SETTLS | CloneFlags::CHILD_SETTID)
    );
    // Managed flags are refused before the set_tid length and the stack are looked at.
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        ChildBuilder::new(CloneFlags::PIDFD)
            .set_tid(&[1; MAX_SET_TID + 1])
            .stack_size(0)
            .spawn_unchecked(|| 0)
    };
    assert_eq!(r.unwrap_err(), Error::ManagedFlags(CloneFlags::PIDFD));
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe { fork_with_unchecked(CloneFlags::INTO_CGROUP, ExitSignal::SIGCHLD, || 0) };
    assert_eq!(r.unwrap_err(), Error::ManagedFlags(CloneFlags::INTO_CGROUP));
}

#[test]
fn fork_with_vm_needs_a_stack() {
    for flags in [CloneFlags::VM, CloneFlags::VM | CloneFlags::SIGHAND] {
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        let r = unsafe { fork_with_unchecked(flags, ExitSignal::SIGCHLD, || 0) };
        assert_eq!(r.unwrap_err(), Error::StackRequired, "{flags:?}");
    }
}

#[test]
fn child_set_tid_too_long() {
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .set_tid(&[1; 1000])
            .spawn_unchecked(|| 0)
    };
    assert_eq!(r.unwrap_err(), Error::Flags(FlagError::SetTidTooLong(1000)));
}

#[test]
fn contradictory_flags_name_the_rule() {
    let cases = [
        (CloneFlags::NEWNS | CloneFlags::FS, FlagError::NewnsWithFs),
        (
            CloneFlags::NEWUSER | CloneFlags::FS,
            FlagError::NewuserWithFs,
        ),
        (CloneFlags::SIGHAND, FlagError::SighandRequiresVm),
        (
            CloneFlags::NEWUSER | CloneFlags::NEWIPC | CloneFlags::SYSVSEM,
            FlagError::NewipcWithSysvsem,
        ),
        (
            CloneFlags::PIDFD.union(CloneFlags::DETACHED),
            FlagError::PidfdWithDetached,
        ),
    ];
    for (flags, rule) in cases {
        if flags.contains(CloneFlags::PIDFD) {
            // PIDFD is managed by the safe API: the raw entry point checks this rule.
            let stack = Stack::new(Stack::MIN_SIZE).unwrap();
            let mut slot = -1;
            // SAFETY: refused by the validator before any syscall; no child is created.
            let r = unsafe {
                raw::clone(
                    flags,
                    ExitSignal::SIGCHLD,
                    stack.top(),
                    &mut slot,
                    core::ptr::null_mut(),
                    0,
                    never,
                    core::ptr::null_mut(),
                )
            };
            assert_eq!(r, Err(Error::Flags(rule)), "{flags:?}");
            continue;
        }
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        let r = unsafe { fork_with_unchecked(flags, ExitSignal::SIGCHLD, || 0) };
        assert_eq!(r.unwrap_err(), Error::Flags(rule), "fork_with {flags:?}");
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        let r = unsafe { ChildBuilder::new(flags).spawn_unchecked(|| 0) };
        assert_eq!(r.unwrap_err(), Error::Flags(rule), "ChildBuilder {flags:?}");
    }
}

#[test]
fn clone3_only_contradictions_name_the_rule() {
    // CLEAR_SIGHAND resets handlers, SIGHAND shares them: refused before clone3 is tried,
    // so this holds under qemu-user (no clone3) too.
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        ChildBuilder::new(CloneFlags::CLEAR_SIGHAND | CloneFlags::SIGHAND | CloneFlags::VM)
            .spawn_unchecked(|| 0)
    };
    assert_eq!(
        r.unwrap_err(),
        Error::Flags(FlagError::ClearSighandWithSighand)
    );
}

// ---- The raw entry points ----

fn clone3_refusal(args: CloneArgs) -> Result<clonekit::sys::Pid, Error> {
    let mut args = args;
    // SAFETY: every `args` given here is refused by the validator before the syscall: no
    // child is created, `never` never runs, no pointer in `args` is dereferenced.
    unsafe { raw::clone3(&mut args, never, core::ptr::null_mut()) }
}

#[test]
fn raw_clone3_garbage_flags() {
    let mut args = CloneArgs::new(CloneFlags::empty(), ExitSignal::SIGCHLD);
    // 1 << 38: the first bit past Linux 7.1's flags (34 to 37).
    for bits in [1 << 40, u64::MAX, 0x11, CloneFlags::VM.bits() | 1 << 38] {
        args.flags = bits;
        assert_eq!(
            clone3_refusal(args),
            Err(Error::Flags(FlagError::UnknownBits(
                bits & !CloneFlags::all().bits()
            ))),
            "{bits:#x}"
        );
    }
}

#[test]
fn raw_clone3_garbage_exit_signal() {
    let mut args = CloneArgs::new(CloneFlags::empty(), ExitSignal::SIGCHLD);
    for (raw_sig, reported) in [
        (65, 65),
        (255, 255),
        (u64::from(u32::MAX), u32::MAX),
        (1 << 40, u32::MAX),
        (u64::MAX, u32::MAX),
    ] {
        args.exit_signal = raw_sig;
        assert_eq!(
            clone3_refusal(args),
            Err(Error::Flags(FlagError::ExitSignalOutOfRange(reported))),
            "{raw_sig:#x}"
        );
    }
}

#[test]
fn raw_clone3_bad_shapes() {
    let base = CloneArgs::new(CloneFlags::empty(), ExitSignal::SIGCHLD);
    let mut a = base;
    a.set_tid_size = 33;
    a.set_tid = 8;
    assert_eq!(
        clone3_refusal(a),
        Err(Error::Flags(FlagError::SetTidTooLong(33)))
    );
    let mut a = base;
    a.set_tid = 8;
    assert_eq!(
        clone3_refusal(a),
        Err(Error::Flags(FlagError::SetTidMismatch))
    );
    let mut a = base;
    a.stack = 4096;
    assert_eq!(
        clone3_refusal(a),
        Err(Error::Flags(FlagError::StackWithoutSize))
    );
    let mut a = base;
    a.stack_size = 4096;
    assert_eq!(
        clone3_refusal(a),
        Err(Error::Flags(FlagError::StackSizeWithoutStack))
    );
    let mut a = base;
    a.flags = CloneFlags::DETACHED.bits();
    assert_eq!(
        clone3_refusal(a),
        Err(Error::Flags(FlagError::Clone3Detached))
    );
    let mut a = base;
    a.flags = (CloneFlags::NPTL_THREAD - CloneFlags::SETTLS).bits();
    assert_eq!(
        clone3_refusal(a),
        Err(Error::Flags(FlagError::ExitSignalWithThreadOrParent))
    );
    if KernelVersion::cached() >= KernelVersion::V5_7 {
        let mut a = base;
        a.flags = CloneFlags::INTO_CGROUP.bits();
        a.cgroup = u64::MAX;
        assert_eq!(
            clone3_refusal(a),
            Err(Error::Flags(FlagError::IntoCgroupBadFd(u64::MAX)))
        );
    }
}

#[test]
fn raw_clone_legacy_cannot_carry_clone3_flags() {
    let stack = Stack::new(Stack::MIN_SIZE).unwrap();
    // SAFETY: refused by the validator before any syscall; no child is created.
    let r = unsafe {
        raw::clone(
            CloneFlags::CLEAR_SIGHAND,
            ExitSignal::SIGCHLD,
            stack.top(),
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            0,
            never,
            core::ptr::null_mut(),
        )
    };
    match r {
        // On a kernel before 5.5 the version rule comes first.
        Err(Error::Flags(FlagError::Clone3OnlyFlags(f))) => {
            assert_eq!(f, CloneFlags::CLEAR_SIGHAND)
        }
        Err(Error::Flags(FlagError::NeedsKernel { .. })) => {}
        other => panic!("{other:?}"),
    }
}

// ---- Namespaces ----

/// Why the `setns` checks cannot run under qemu-user: `namespace::setns` asks the fd's
/// kind with the NS_GET_NSTYPE ioctl first, which qemu-user does not pass through: QEMU
/// 7.2 gives ENOSYS, QEMU 10 ENOTTY for any fd, which `setns` reports as EINVAL ("not a
/// namespace file"). So EINVAL counts as the refusal only where the kernel would give
/// something else (a pipe's EINVAL comes from that same ENOTTY natively).
const NO_NSTYPE_IOCTL: &str = "qemu-user does not pass the NS_GET_NSTYPE ioctl through";

#[test]
fn setns_with_a_pipe() {
    let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    for fd in [r.as_fd(), w.as_fd()] {
        let r = namespace::setns(fd, Namespace::Net);
        if let Err(e) = &r {
            skip_if_emulator_refused!(e, Errno::ENOSYS, "{NO_NSTYPE_IOCTL}");
        }
        assert_eq!(r, Err(Error::Os(Errno::EINVAL)));
    }
}

#[test]
fn setns_with_the_wrong_kind() {
    let fd = match namespace::open(None, Namespace::Uts) {
        Ok(fd) => fd,
        Err(e) => skip!("cannot open /proc/self/ns/uts: {e}"),
    };
    for kind in [Namespace::Net, Namespace::Mount, Namespace::User] {
        let r = namespace::setns(fd.as_fd(), kind);
        if let Err(e) = &r {
            skip_if_emulator_refused!(e, Errno::ENOSYS | Errno::EINVAL, "{NO_NSTYPE_IOCTL}");
        }
        assert_eq!(
            r,
            Err(Error::Flags(FlagError::SetnsKindMismatch {
                expected: kind.flag(),
                actual: CloneFlags::NEWUTS,
            }))
        );
    }
}

#[test]
fn setns_pidfd_with_non_namespace_flags() {
    for kinds in [
        CloneFlags::VM,
        CloneFlags::NEWNET | CloneFlags::FILES,
        CloneFlags::empty(),
    ] {
        let stray = kinds - CloneFlags::ALL_NAMESPACES;
        assert_eq!(
            namespace::setns_pidfd(CWD, kinds),
            Err(Error::Flags(FlagError::NamespaceFlagsOnly(stray))),
            "{kinds:?}"
        );
        // Named as what it is: nothing about unshare().
        let message = FlagError::NamespaceFlagsOnly(stray).to_string();
        assert!(
            !message.contains("unshare") && message.contains("CLONE_NEW"),
            "{message}"
        );
    }
}

#[test]
fn unshare_of_flags_it_does_not_take() {
    for flags in [
        CloneFlags::PIDFD,
        CloneFlags::SETTLS | CloneFlags::NEWUTS,
        CloneFlags::VFORK | CloneFlags::PARENT,
        CloneFlags::CLEAR_SIGHAND,
    ] {
        let unsupported = flags - validate::UNSHARE_FLAGS;
        assert_eq!(
            namespace::unshare(flags),
            Err(Error::Flags(FlagError::UnshareUnsupported(unsupported))),
            "{flags:?}"
        );
    }
}

#[test]
fn unshare_validator_single_thread_and_privilege_rules() {
    let unprivileged = Caller {
        cap_sys_admin: false,
        ..Caller::PRIVILEGED
    };
    let k = KernelVersion::V6_9;
    assert_eq!(
        validate_unshare(CloneFlags::NEWUSER, &unprivileged, Some(4), k),
        Err(FlagError::UnshareNeedsSingleThread(CloneFlags::NEWUSER))
    );
    assert_eq!(
        validate_unshare(CloneFlags::NEWNET, &unprivileged, Some(1), k),
        Err(FlagError::NamespaceNeedsCapSysAdmin(CloneFlags::NEWNET))
    );
    assert_eq!(
        validate_unshare(
            CloneFlags::NEWTIME,
            &unprivileged,
            None,
            KernelVersion::V5_5
        ),
        Err(FlagError::NeedsKernel {
            flags: CloneFlags::NEWTIME,
            since: KernelVersion::V5_6
        })
    );
}

// ---- Id maps ----

#[test]
fn idmap_parse_garbage() {
    for line in [
        "",
        "   ",
        "abc",
        "0 1000",
        "0 1000 1 2",
        "a b c",
        "-1 0 1",
        "0 -1 1",
        "0 0 -1",
        "4294967296 0 1",
        "99999999999999999999 0 1",
        "0x10 0 1",
        "1.5 0 1",
        "0,0,1",
        "0 0 1\n0 0 1",
        "\0 \u{ff} \u{1F600}",
        "+",
    ] {
        assert_eq!(IdMap::parse(line), Err(IdMapError::Malformed), "{line:?}");
    }
}

#[test]
fn idmap_parse_bad_ranges() {
    for line in [
        "0 0 0",
        "4294967295 0 2",
        "0 4294967295 2",
        "1 1 4294967295",
    ] {
        assert_eq!(IdMap::parse(line), Err(IdMapError::BadRange), "{line:?}");
    }
}

#[test]
fn idmap_check_overlaps_lengths_and_ranges() {
    let m = |inside, outside, count| IdMap {
        inside,
        outside,
        count,
    };
    assert_eq!(idmap::check(&[]), Err(IdMapError::BadLength(0)));
    assert_eq!(
        idmap::check(&[IdMap::single(0, 0); MAX_LINES + 1]),
        Err(IdMapError::BadLength(MAX_LINES + 1))
    );
    // Inside ranges overlap, outside ranges overlap, identical lines, a range inside another.
    for pair in [
        [m(0, 1000, 10), m(9, 5000, 1)],
        [m(0, 1000, 10), m(100, 1005, 10)],
        [IdMap::single(0, 0), IdMap::single(0, 0)],
        [m(0, 0, u32::MAX), m(7, 7, 1)],
    ] {
        assert_eq!(idmap::check(&pair), Err(IdMapError::Overlap), "{pair:?}");
    }
    // Ranges that touch without overlapping pass; ranges ending at 2^32 do not overflow.
    assert_eq!(idmap::check(&[m(0, 0, 10), m(10, 10, 10)]), Ok(()));
    assert_eq!(
        idmap::check(&[m(u32::MAX - 1, u32::MAX - 1, 1), m(0, 0, 1)]),
        Ok(())
    );
    assert_eq!(
        idmap::check(&[m(0, 0, 1), m(5, 5, 0)]),
        Err(IdMapError::BadRange)
    );
    assert_eq!(
        idmap::check(&[m(u32::MAX, 0, 2)]),
        Err(IdMapError::BadRange)
    );
}

#[test]
fn idmap_write_refuses_a_bad_map_before_touching_proc() {
    let pid = clonekit::sys::process::getpid();
    assert_eq!(
        idmap::write_uid_map(pid, &[]),
        Err(Error::Os(Errno::EINVAL))
    );
    let overlapping = [IdMap::single(0, 0), IdMap::single(0, 1)];
    assert_eq!(
        idmap::write_gid_map(pid, &overlapping),
        Err(Error::Os(Errno::EINVAL))
    );
}

// ---- Containers ----

#[test]
fn container_hostname_and_domainname_of_65_bytes() {
    let long = [b'h'; 65];
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe { Container::new().hostname(&long).spawn_unchecked(|| 0) };
    assert_eq!(r.unwrap_err(), Error::Os(Errno::EINVAL));
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        Container::new()
            .domainname(&[b'd'; 4096])
            .spawn_unchecked(|| 0)
    };
    assert_eq!(r.unwrap_err(), Error::Os(Errno::EINVAL));
}

#[test]
fn container_namespaces_with_non_namespace_flags() {
    for flags in [
        CloneFlags::VM | CloneFlags::NEWUTS,
        CloneFlags::THREAD,
        CloneFlags::NEWPID | CloneFlags::PIDFD | CloneFlags::INTO_CGROUP,
    ] {
        let stray = flags - CloneFlags::ALL_NAMESPACES;
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        let r = unsafe { Container::new().namespaces(flags).spawn_unchecked(|| 0) };
        assert_eq!(
            r.unwrap_err(),
            Error::Flags(FlagError::NamespaceFlagsOnly(stray)),
            "{flags:?}"
        );
    }
}

#[test]
fn container_with_a_tiny_stack() {
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        Container::new()
            .namespaces(CloneFlags::NEWUSER)
            .stack_size(1)
            .spawn_unchecked(|| 0)
    };
    assert_eq!(r.unwrap_err(), Error::Stack(too_small(1)));
}

// ---- exec ----

#[test]
fn exec_spawn_with_too_many_args_or_env() {
    let arg = c"x";
    let many = vec![arg; MAX_ARGS + 1];
    let r = exec::spawn(c"/bin/true", &many, &[]);
    assert_eq!(
        r.unwrap_err(),
        SpawnError::TooManyArgs {
            argv: MAX_ARGS + 1,
            envp: 0,
            max: MAX_ARGS
        }
    );
    let r = exec::spawn(c"/bin/true", &[arg], &many);
    assert_eq!(
        r.unwrap_err(),
        SpawnError::TooManyArgs {
            argv: 1,
            envp: MAX_ARGS + 1,
            max: MAX_ARGS
        }
    );
}

#[test]
fn exec_command_past_its_capacity_or_with_a_bad_variable_name() {
    use clonekit::exec::{Capacity, Command, MAX_COMMAND_ARGS, MAX_ENV_CHANGES};
    // Every refusal comes before any child exists (at capacity, a Command runs: exec.rs).
    let missing = c"/nonexistent/clonekit";
    let mut command = Command::new(missing);
    command.args(vec![c"x"; MAX_COMMAND_ARGS]);
    command.arg(c"one too many");
    assert_eq!(
        command.spawn().unwrap_err(),
        SpawnError::Capacity {
            what: Capacity::Args,
            given: MAX_COMMAND_ARGS + 1,
            max: MAX_COMMAND_ARGS
        }
    );
    let mut command = Command::new(missing);
    for _ in 0..=MAX_ENV_CHANGES {
        command.env(c"A", c"1");
    }
    assert_eq!(
        command.spawn().unwrap_err(),
        SpawnError::Capacity {
            what: Capacity::EnvChanges,
            given: MAX_ENV_CHANGES + 1,
            max: MAX_ENV_CHANGES
        }
    );
    // A name that is empty or holds '=', named by its position.
    for (name, index) in [(c"", 1), (c"A=B", 1), (c"=", 1)] {
        let r = Command::new(missing)
            .env(c"GOOD", c"1")
            .env(name, c"x")
            .spawn();
        assert_eq!(r.unwrap_err(), SpawnError::BadEnvName { index }, "{name:?}");
        let r = Command::new(missing)
            .env(c"GOOD", c"1")
            .env_remove(name)
            .spawn();
        assert_eq!(r.unwrap_err(), SpawnError::BadEnvName { index }, "{name:?}");
    }
}

// ---- Kernel versions ----

#[test]
fn kernel_version_parse_garbage() {
    for release in [
        &b""[..],
        b"6",
        b"x.y.z",
        b".6.1",
        b"6.",
        b"65536.1",
        b"123456.1.1",
        b"\xff\xfe",
    ] {
        assert_eq!(KernelVersion::parse(release), None, "{release:?}");
    }
    assert_eq!(
        KernelVersion::parse(b"6.1.99999999"),
        Some(KernelVersion::new(6, 1, 0))
    );
}

#[test]
fn container_names_without_a_uts_namespace_are_refused() {
    use clonekit::container::Container;
    // Without CLONE_NEWUTS the child would rename the host: refused before any clone.
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        Container::new()
            .namespaces(CloneFlags::NEWNS)
            .hostname(b"renamed")
            .spawn_unchecked(|| 0)
    };
    assert_eq!(r.err(), Some(Error::NeedsNamespace(CloneFlags::NEWUTS)));
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let r = unsafe {
        Container::new()
            .namespaces(CloneFlags::NEWPID)
            .domainname(b"x")
            .spawn_unchecked(|| 0)
    };
    assert_eq!(r.err(), Some(Error::NeedsNamespace(CloneFlags::NEWUTS)));
}

// ---- Error types ----

/// Every error type clonekit returns is a `core::error::Error` (`std::error::Error`), `Send`,
/// `Sync` and `'static`: each goes into a `Box<dyn Error>` through `?`, and says what was
/// wrong in its `Display`.
#[test]
fn every_error_type_is_a_core_error() {
    fn boxed<E: core::error::Error + Send + Sync + 'static>(
        e: E,
    ) -> Box<dyn std::error::Error + Send + Sync> {
        let r: Result<(), Box<dyn std::error::Error + Send + Sync>> = (|| Err(e)?)();
        r.unwrap_err()
    }
    let errors = [
        boxed(Errno::EINVAL),
        boxed(Stack::new(0).unwrap_err()),
        boxed(IdMap::parse("0 1").unwrap_err()),
        boxed(FlagError::SighandRequiresVm),
        boxed(Error::StackRequired),
        boxed(exec::spawn(c"/bin/true", &vec![c"x"; MAX_ARGS + 1], &[]).unwrap_err()),
        boxed(thread::JoinError::Exited),
        boxed(clonekit::init::SpawnFailure {
            step: clonekit::init::SpawnStep::Exec,
            errno: Errno::ENOENT,
        }),
    ];
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        [
            "EINVAL: invalid argument",
            "0 bytes is below the minimum stack size of 16384",
            "an id map line is three numbers: inside outside count",
            shown[3].as_str(),
            "CLONE_VM without a child stack would share the parent's stack",
            "1025 arguments and 0 environment entries: at most 1024 of each",
            "the thread ended without returning from its closure (it called exit): there is no \
             value to join",
            "the main program did not start: execve failed: ENOENT: no such file or directory",
        ]
    );
    assert!(shown[3].contains("CLONE_SIGHAND"), "{}", shown[3]);
}
