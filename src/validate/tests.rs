//! One test per rule: the refusing case, and the closest case the kernel accepts.

use super::*;

const F: fn() -> CloneFlags = CloneFlags::empty;
const LATEST: KernelVersion = KernelVersion::new(6, 12, 0);
const SIGCHLD: ExitSignal = ExitSignal::SIGCHLD;

fn legacy(flags: CloneFlags) -> Request {
    Request::legacy(flags, SIGCHLD, LATEST)
}

fn clone3(flags: CloneFlags) -> Request {
    Request::clone3(flags, SIGCHLD, LATEST)
}

/// Asserts `refused` breaks exactly `rule` with `errno`, and `accepted` passes.
#[track_caller]
fn pair(rule: FlagError, errno: Errno, refused: Request, accepted: Request) {
    assert_eq!(validate(&refused), Err(rule), "refusing case {refused:?}");
    assert_eq!(rule.errno(), errno);
    assert_eq!(validate(&accepted), Ok(()), "accepted case {accepted:?}");
}

#[test]
fn sighand_requires_vm() {
    pair(
        FlagError::SighandRequiresVm,
        Errno::EINVAL,
        legacy(CloneFlags::SIGHAND),
        legacy(CloneFlags::SIGHAND | CloneFlags::VM),
    );
}

#[test]
fn thread_requires_sighand() {
    pair(
        FlagError::ThreadRequiresSighand,
        Errno::EINVAL,
        legacy(CloneFlags::THREAD | CloneFlags::VM),
        legacy(CloneFlags::THREAD | CloneFlags::VM | CloneFlags::SIGHAND),
    );
}

#[test]
fn newns_with_fs() {
    pair(
        FlagError::NewnsWithFs,
        Errno::EINVAL,
        legacy(CloneFlags::NEWNS | CloneFlags::FS),
        legacy(CloneFlags::NEWNS | CloneFlags::FILES),
    );
}

#[test]
fn newuser_with_fs() {
    pair(
        FlagError::NewuserWithFs,
        Errno::EINVAL,
        legacy(CloneFlags::NEWUSER | CloneFlags::FS),
        legacy(CloneFlags::NEWUSER | CloneFlags::FILES),
    );
}

#[test]
fn thread_with_newuser_and_newpid() {
    let thread = CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::VM;
    pair(
        FlagError::ThreadWithNewuser,
        Errno::EINVAL,
        legacy(thread | CloneFlags::NEWUSER),
        legacy(thread | CloneFlags::NEWUTS),
    );
    pair(
        FlagError::ThreadWithNewpid,
        Errno::EINVAL,
        legacy(thread | CloneFlags::NEWPID),
        legacy((thread - CloneFlags::THREAD) | CloneFlags::NEWPID),
    );
}

#[test]
fn newipc_with_sysvsem() {
    pair(
        FlagError::NewipcWithSysvsem,
        Errno::EINVAL,
        legacy(CloneFlags::NEWIPC | CloneFlags::SYSVSEM),
        legacy(CloneFlags::NEWIPC),
    );
}

#[test]
fn pidfd_with_parent_settid() {
    pair(
        FlagError::PidfdWithParentSettid,
        Errno::EINVAL,
        legacy(CloneFlags::PIDFD | CloneFlags::PARENT_SETTID),
        // clone3 has separate slots for the two.
        clone3(CloneFlags::PIDFD | CloneFlags::PARENT_SETTID),
    );
    let mut aliased = clone3(CloneFlags::PIDFD | CloneFlags::PARENT_SETTID);
    aliased.clone3.pidfd_aliases_parent_tid = true;
    assert_eq!(validate(&aliased), Err(FlagError::PidfdWithParentSettid));
    // Both pointers NULL are one slot to the kernel (it compares the addresses): EINVAL.
    let mut args = crate::CloneArgs::new(
        CloneFlags::PIDFD | CloneFlags::PARENT_SETTID,
        crate::ExitSignal::SIGCHLD,
    );
    let mut from_args = clone3(CloneFlags::PIDFD | CloneFlags::PARENT_SETTID);
    from_args.clone3 = args.shape(crate::clone_args::SIZE_VER2);
    assert_eq!(validate(&from_args), Err(FlagError::PidfdWithParentSettid));
    // Two distinct slots pass.
    let (mut pidfd, mut ptid) = (0i32, 0i32);
    args.pidfd = &raw mut pidfd as u64;
    args.parent_tid = &raw mut ptid as u64;
    from_args.clone3 = args.shape(crate::clone_args::SIZE_VER2);
    assert_eq!(validate(&from_args), Ok(()));
}

#[test]
fn pidfd_with_detached() {
    pair(
        FlagError::PidfdWithDetached,
        Errno::EINVAL,
        legacy(CloneFlags::PIDFD | CloneFlags::DETACHED),
        legacy(CloneFlags::PIDFD),
    );
    // Legacy clone() ignores DETACHED on its own.
    assert_eq!(validate(&legacy(CloneFlags::DETACHED)), Ok(()));
}

#[test]
fn pidfd_with_thread_depends_on_kernel_version() {
    let flags = CloneFlags::PIDFD | CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::VM;
    let old = Request::legacy(flags, ExitSignal::NONE, KernelVersion::new(6, 8, 0));
    let new = Request::legacy(flags, ExitSignal::NONE, KernelVersion::V6_9);
    pair(FlagError::PidfdWithThreadBefore6_9, Errno::EINVAL, old, new);
}

#[test]
fn parent_from_ns_init() {
    let mut init = legacy(CloneFlags::PARENT);
    init.caller.is_ns_init = true;
    pair(
        FlagError::ParentFromNsInit,
        Errno::EINVAL,
        init,
        legacy(CloneFlags::PARENT),
    );
}

#[test]
fn clone3_size_rules() {
    let sized = |size: usize| {
        let mut r = clone3(F());
        r.clone3.size = size;
        r
    };
    pair(
        FlagError::Clone3ArgsTooSmall(63),
        Errno::EINVAL,
        sized(63),
        sized(64),
    );
    pair(
        FlagError::Clone3ArgsTooLarge(4097),
        Errno::E2BIG,
        sized(4097),
        sized(4096),
    );
    let mut trailing = sized(96);
    trailing.clone3.trailing_nonzero = true;
    pair(
        FlagError::Clone3TrailingBytes,
        Errno::E2BIG,
        trailing,
        sized(96),
    );
}

#[test]
fn clone3_set_tid_rules() {
    let with = |len: u64, given: bool| {
        let mut r = clone3(CloneFlags::NEWPID);
        r.clone3.set_tid_len = len;
        r.clone3.set_tid_given = given;
        r
    };
    pair(
        FlagError::SetTidTooLong(33),
        Errno::EINVAL,
        with(33, true),
        with(1, true),
    );
    pair(
        FlagError::SetTidMismatch,
        Errno::EINVAL,
        with(0, true),
        with(0, false),
    );
    pair(
        FlagError::SetTidMismatch,
        Errno::EINVAL,
        with(2, false),
        with(2, true),
    );
    let mut deep = with(3, true);
    deep.caller.pid_ns_level = Some(0);
    let mut fits = with(2, true);
    fits.caller.pid_ns_level = Some(0);
    pair(
        FlagError::SetTidDeeperThanNamespaces,
        Errno::EINVAL,
        deep,
        fits,
    );
    let mut unprivileged = with(1, true);
    unprivileged.caller.cap_sys_admin = false;
    unprivileged.flags = CloneFlags::empty();
    // A new user namespace grants the capability for a new PID namespace's level only.
    let mut innermost = unprivileged;
    innermost.flags = CloneFlags::NEWUSER | CloneFlags::NEWPID;
    pair(
        FlagError::SetTidNeedsPrivilege,
        Errno::EPERM,
        unprivileged,
        innermost,
    );
    let mut user_only = unprivileged;
    user_only.flags = CloneFlags::NEWUSER;
    assert_eq!(validate(&user_only), Err(FlagError::SetTidNeedsPrivilege));
    let mut outer_too = innermost;
    outer_too.clone3.set_tid_len = 2;
    assert_eq!(validate(&outer_too), Err(FlagError::SetTidNeedsPrivilege));
    // CAP_CHECKPOINT_RESTORE is enough (the CRIU case).
    let mut checkpoint = unprivileged;
    checkpoint.caller.cap_checkpoint_restore = true;
    assert_eq!(validate(&checkpoint), Ok(()));
}

#[test]
fn threads_after_the_namespaces_for_children_changed() {
    let thread = CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::VM;
    let mut after_newpid = Request::legacy(thread, ExitSignal::NONE, LATEST);
    after_newpid.caller.pid_ns_for_children_differs = true;
    let mut process = after_newpid;
    process.flags = CloneFlags::VM | CloneFlags::SIGHAND;
    pair(
        FlagError::ThreadAfterPidNamespaceChange,
        Errno::EINVAL,
        after_newpid,
        process,
    );
}

#[test]
fn clone3_into_cgroup_rules() {
    let mut v1 = clone3(CloneFlags::INTO_CGROUP);
    v1.clone3.size = 80;
    pair(
        FlagError::IntoCgroupNeedsVer2,
        Errno::EINVAL,
        v1,
        clone3(CloneFlags::INTO_CGROUP),
    );
    let mut bad_fd = clone3(CloneFlags::INTO_CGROUP);
    bad_fd.clone3.cgroup = 1 << 31;
    let mut good_fd = bad_fd;
    good_fd.clone3.cgroup = (1 << 31) - 1;
    pair(
        FlagError::IntoCgroupBadFd(1 << 31),
        Errno::EINVAL,
        bad_fd,
        good_fd,
    );
}

#[test]
fn clone3_refuses_detached() {
    pair(
        FlagError::Clone3Detached,
        Errno::EINVAL,
        clone3(CloneFlags::DETACHED),
        legacy(CloneFlags::DETACHED),
    );
}

#[test]
fn clone3_newtime_from_6_3_and_the_stable_backports() {
    let old = Request::clone3(CloneFlags::NEWTIME, SIGCHLD, KernelVersion::new(6, 0, 19));
    let new = Request::clone3(CloneFlags::NEWTIME, SIGCHLD, KernelVersion::V6_3);
    pair(
        FlagError::NewtimeInClone3Unsupported,
        Errno::EINVAL,
        old,
        new,
    );
    let debian12 = Request::clone3(CloneFlags::NEWTIME, SIGCHLD, KernelVersion::new(6, 1, 176));
    assert_eq!(validate(&debian12), Ok(()));
}

#[test]
fn clear_sighand_with_sighand() {
    pair(
        FlagError::ClearSighandWithSighand,
        Errno::EINVAL,
        clone3(CloneFlags::CLEAR_SIGHAND | CloneFlags::SIGHAND | CloneFlags::VM),
        clone3(CloneFlags::CLEAR_SIGHAND | CloneFlags::VM),
    );
}

#[test]
fn clone3_exit_signal_with_thread_or_parent() {
    let thread = CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::VM;
    pair(
        FlagError::ExitSignalWithThreadOrParent,
        Errno::EINVAL,
        clone3(thread),
        Request::clone3(thread, ExitSignal::NONE, LATEST),
    );
    pair(
        FlagError::ExitSignalWithThreadOrParent,
        Errno::EINVAL,
        clone3(CloneFlags::PARENT),
        Request::clone3(CloneFlags::PARENT, ExitSignal::NONE, LATEST),
    );
    // Legacy clone() has no such rule.
    assert_eq!(validate(&legacy(CloneFlags::PARENT)), Ok(()));
}

#[test]
fn clone3_stack_rules() {
    let stack = |given: bool, size: u64| {
        let mut r = clone3(F());
        r.stack_given = given;
        r.clone3.stack_size = size;
        r
    };
    pair(
        FlagError::StackSizeWithoutStack,
        Errno::EINVAL,
        stack(false, 4096),
        stack(true, 4096),
    );
    pair(
        FlagError::StackWithoutSize,
        Errno::EINVAL,
        stack(true, 0),
        stack(false, 0),
    );
}

#[test]
fn exit_signal_out_of_range() {
    assert_eq!(
        ExitSignal::new(65),
        Err(FlagError::ExitSignalOutOfRange(65))
    );
    assert_eq!(FlagError::ExitSignalOutOfRange(65).errno(), Errno::EINVAL);
    assert!(ExitSignal::new(64).is_ok());
}

#[test]
fn unknown_bits() {
    assert_eq!(
        CloneFlags::try_from_bits(1 << 38),
        Err(FlagError::UnknownBits(1 << 38))
    );
    assert_eq!(FlagError::UnknownBits(1 << 38).errno(), Errno::EINVAL);
    assert!(CloneFlags::try_from_bits(1 << 37).is_ok());
}

#[test]
fn clone3_needs_5_3() {
    let old = Request::clone3(F(), SIGCHLD, KernelVersion::new(5, 2, 0));
    let new = Request::clone3(F(), SIGCHLD, KernelVersion::V5_3);
    pair(FlagError::Clone3Unsupported, Errno::ENOSYS, old, new);
}

#[test]
fn flags_newer_than_the_kernel() {
    let old = Request::clone3(
        CloneFlags::INTO_CGROUP,
        SIGCHLD,
        KernelVersion::new(5, 6, 0),
    );
    let new = Request::clone3(CloneFlags::INTO_CGROUP, SIGCHLD, KernelVersion::V5_7);
    let rule = FlagError::NeedsKernel {
        flags: CloneFlags::INTO_CGROUP,
        since: KernelVersion::V5_7,
    };
    pair(rule, Errno::EINVAL, old, new);
    let old = Request::legacy(CloneFlags::PIDFD, SIGCHLD, KernelVersion::new(5, 1, 0));
    let new = Request::legacy(CloneFlags::PIDFD, SIGCHLD, KernelVersion::V5_2);
    let rule = FlagError::NeedsKernel {
        flags: CloneFlags::PIDFD,
        since: KernelVersion::V5_2,
    };
    pair(rule, Errno::EINVAL, old, new);
}

#[test]
fn clone3_only_flags_in_legacy_clone() {
    for flag in [
        CloneFlags::NEWTIME,
        CloneFlags::CLEAR_SIGHAND,
        CloneFlags::INTO_CGROUP,
    ] {
        pair(
            FlagError::Clone3OnlyFlags(flag),
            Errno::EINVAL,
            legacy(flag),
            clone3(flag),
        );
    }
}

#[test]
fn namespaces_need_cap_sys_admin_unless_a_user_namespace_comes_too() {
    let mut plain = legacy(CloneFlags::NEWUTS | CloneFlags::NEWNET);
    plain.caller.cap_sys_admin = false;
    let mut with_user = plain;
    with_user.flags |= CloneFlags::NEWUSER;
    pair(
        FlagError::NamespaceNeedsCapSysAdmin(CloneFlags::NEWUTS | CloneFlags::NEWNET),
        Errno::EPERM,
        plain,
        with_user,
    );
    let mut user_only = legacy(CloneFlags::NEWUSER);
    user_only.caller.cap_sys_admin = false;
    assert_eq!(validate(&user_only), Ok(()));
}

#[test]
fn namespace_nesting_limits() {
    let mut deep_pid = legacy(CloneFlags::NEWPID);
    deep_pid.caller.pid_ns_level = Some(32);
    let mut ok_pid = deep_pid;
    ok_pid.caller.pid_ns_level = Some(31);
    pair(
        FlagError::PidNestingTooDeep,
        Errno::ENOSPC,
        deep_pid,
        ok_pid,
    );
    let mut deep_user = legacy(CloneFlags::NEWUSER);
    deep_user.caller.user_ns_level = Some(33);
    let mut ok_user = deep_user;
    ok_user.caller.user_ns_level = Some(32);
    pair(
        FlagError::UserNestingTooDeep,
        Errno::ENOSPC,
        deep_user,
        ok_user,
    );
}

#[test]
fn the_kernels_order_decides_which_rule_is_named() {
    // copy_process() checks NEWNS|FS before SIGHAND without VM.
    let r = legacy(CloneFlags::NEWNS | CloneFlags::FS | CloneFlags::SIGHAND);
    assert_eq!(validate(&r), Err(FlagError::NewnsWithFs));
    // clone3_args_valid() runs before copy_process().
    let r = clone3(CloneFlags::DETACHED | CloneFlags::SIGHAND);
    assert_eq!(validate(&r), Err(FlagError::Clone3Detached));
}

#[test]
fn every_rule_has_a_message_in_the_seeds_words() {
    use core::fmt::Write;
    struct Buf([u8; 256], usize);
    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self.1 + s.len();
            self.0
                .get_mut(self.1..end)
                .ok_or(core::fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }
    let mut buf = Buf([0; 256], 0);
    write!(buf, "{}", FlagError::SighandRequiresVm).unwrap();
    let text = core::str::from_utf8(&buf.0[..buf.1]).unwrap();
    assert!(
        text.starts_with("CLONE_SIGHAND requires CLONE_VM"),
        "{text}"
    );
}

#[test]
fn the_nptl_flag_set_is_valid_for_a_thread() {
    assert_eq!(
        validate(&Request::legacy(
            CloneFlags::NPTL_THREAD,
            ExitSignal::NONE,
            LATEST
        )),
        Ok(())
    );
}

#[test]
fn unshare_rules() {
    let caller = Caller::PRIVILEGED;
    let ok = |f: CloneFlags, threads: u64| validate_unshare(f, &caller, Some(threads), LATEST);
    assert_eq!(
        ok(CloneFlags::SETTLS | CloneFlags::NEWUTS, 1),
        Err(FlagError::UnshareUnsupported(CloneFlags::SETTLS))
    );
    assert_eq!(ok(CloneFlags::NEWUTS | CloneFlags::FILES, 1), Ok(()));
    assert_eq!(
        ok(CloneFlags::NEWUSER, 2),
        Err(FlagError::UnshareNeedsSingleThread(CloneFlags::NEWUSER))
    );
    assert_eq!(
        FlagError::UnshareNeedsSingleThread(CloneFlags::NEWUSER).errno(),
        Errno::EINVAL
    );
    assert_eq!(ok(CloneFlags::NEWUSER, 1), Ok(()));
    // Namespaces other than the user namespace can be unshared by a threaded process.
    assert_eq!(ok(CloneFlags::NEWNET | CloneFlags::NEWUTS, 4), Ok(()));
    let unprivileged = Caller {
        cap_sys_admin: false,
        ..Caller::PRIVILEGED
    };
    assert_eq!(
        validate_unshare(CloneFlags::NEWUTS, &unprivileged, Some(1), LATEST),
        Err(FlagError::NamespaceNeedsCapSysAdmin(CloneFlags::NEWUTS))
    );
    assert_eq!(
        validate_unshare(
            CloneFlags::NEWUTS | CloneFlags::NEWUSER,
            &unprivileged,
            Some(1),
            LATEST
        ),
        Ok(())
    );
    assert_eq!(
        validate_unshare(
            CloneFlags::NEWTIME,
            &caller,
            Some(1),
            KernelVersion::new(5, 5, 0)
        ),
        Err(FlagError::NeedsKernel {
            flags: CloneFlags::NEWTIME,
            since: KernelVersion::V5_6
        })
    );
}

// --- Linux 6.2: CLONE_VM / CLONE_THREAD after unshare(CLONE_NEWTIME) ---

#[test]
fn vm_or_thread_after_a_time_namespace_change_needs_6_2() {
    let vm = CloneFlags::VM | CloneFlags::FILES;
    let thread = CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::VM;
    let after_newtime = |flags: CloneFlags, kernel: KernelVersion| {
        let mut r = Request::legacy(flags, ExitSignal::NONE, kernel);
        r.caller.time_ns_for_children_differs = true;
        r
    };
    let last_refusing = KernelVersion::new(6, 1, 176);
    for flags in [vm, thread] {
        pair(
            FlagError::VmOrThreadAfterTimeNamespaceChangeBefore6_2,
            Errno::EINVAL,
            after_newtime(flags, last_refusing),
            after_newtime(flags, KernelVersion::V6_2),
        );
    }
    // A fork-like child on the same kernel is moved into the new time namespace: accepted.
    assert_eq!(
        validate(&after_newtime(CloneFlags::empty(), last_refusing)),
        Ok(())
    );
    // Without the change, the old kernel takes the thread.
    let mut unchanged = after_newtime(thread, last_refusing);
    unchanged.caller.time_ns_for_children_differs = false;
    assert_eq!(validate(&unchanged), Ok(()));
    // The PID namespace rule comes first in copy_process().
    let mut both = after_newtime(thread, last_refusing);
    both.caller.pid_ns_for_children_differs = true;
    assert_eq!(
        validate(&both),
        Err(FlagError::ThreadAfterPidNamespaceChange)
    );
}

// --- Linux 7.1: CLONE_AUTOREAP, CLONE_NNP, CLONE_PIDFD_AUTOKILL, CLONE_EMPTY_MNTNS ---

const V7_1: KernelVersion = KernelVersion::V7_1;
const NO_SIGNAL: ExitSignal = ExitSignal::NONE;

fn clone3_7_1(flags: CloneFlags) -> Request {
    Request::clone3(flags, NO_SIGNAL, V7_1)
}

#[test]
fn linux_7_1_flags_need_7_1_and_are_named() {
    let before = KernelVersion::new(6, 18, 44);
    for flag in CloneFlags::LINUX_7_1.iter() {
        // The closest accepted combination of each on 7.1.
        let accepted = match flag {
            f if f == CloneFlags::PIDFD_AUTOKILL => {
                f | CloneFlags::PIDFD | CloneFlags::AUTOREAP | CloneFlags::NNP
            }
            f => f,
        };
        let rule = FlagError::NeedsKernel {
            flags: flag,
            since: KernelVersion::V7_1,
        };
        let mut old = clone3_7_1(flag);
        old.kernel = before;
        pair(rule, Errno::EINVAL, old, clone3_7_1(accepted));
    }
    // Every 7.1 flag asked for is named, and nothing else.
    let mut several = clone3_7_1(CloneFlags::NNP | CloneFlags::EMPTY_MNTNS | CloneFlags::NEWUTS);
    several.kernel = before;
    assert_eq!(
        validate(&several),
        Err(FlagError::NeedsKernel {
            flags: CloneFlags::NNP | CloneFlags::EMPTY_MNTNS,
            since: KernelVersion::V7_1
        })
    );
    // Legacy clone() cannot carry them, on any kernel.
    for flag in CloneFlags::LINUX_7_1.iter() {
        let legacy = Request::legacy(flag, NO_SIGNAL, V7_1);
        assert_eq!(validate(&legacy), Err(FlagError::Clone3OnlyFlags(flag)));
    }
}

#[test]
fn autoreap_with_thread() {
    let thread = CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::VM;
    pair(
        FlagError::AutoreapWithThread,
        Errno::EINVAL,
        clone3_7_1(thread | CloneFlags::AUTOREAP),
        // A CLONE_VM process child (no thread group) may be autoreaped.
        clone3_7_1((thread - CloneFlags::THREAD) | CloneFlags::AUTOREAP),
    );
}

#[test]
fn autoreap_with_parent() {
    pair(
        FlagError::AutoreapWithParent,
        Errno::EINVAL,
        clone3_7_1(CloneFlags::PARENT | CloneFlags::AUTOREAP),
        clone3_7_1(CloneFlags::AUTOREAP),
    );
}

#[test]
fn autoreap_with_an_exit_signal() {
    pair(
        FlagError::AutoreapWithExitSignal,
        Errno::EINVAL,
        Request::clone3(CloneFlags::AUTOREAP, SIGCHLD, V7_1),
        clone3_7_1(CloneFlags::AUTOREAP),
    );
    // clone3_args_valid() refuses an exit signal with CLONE_PARENT before copy_process().
    let parent = Request::clone3(CloneFlags::AUTOREAP | CloneFlags::PARENT, SIGCHLD, V7_1);
    assert_eq!(
        validate(&parent),
        Err(FlagError::ExitSignalWithThreadOrParent)
    );
}

#[test]
fn parent_from_an_autoreaped_process() {
    let mut autoreaped = clone3_7_1(CloneFlags::PARENT);
    autoreaped.caller.autoreaped = true;
    let mut child_of_its_own = autoreaped;
    child_of_its_own.flags = CloneFlags::empty();
    pair(
        FlagError::ParentFromAutoreaped,
        Errno::EINVAL,
        autoreaped,
        child_of_its_own,
    );
    // The init rule comes first.
    let mut init = autoreaped;
    init.caller.is_ns_init = true;
    assert_eq!(validate(&init), Err(FlagError::ParentFromNsInit));
}

#[test]
fn nnp_with_thread() {
    let thread = CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::VM;
    pair(
        FlagError::NnpWithThread,
        Errno::EINVAL,
        clone3_7_1(thread | CloneFlags::NNP),
        clone3_7_1((thread - CloneFlags::THREAD) | CloneFlags::NNP),
    );
}

#[test]
fn autokill_needs_a_pidfd() {
    let reaped = CloneFlags::AUTOREAP | CloneFlags::NNP;
    pair(
        FlagError::AutokillWithoutPidfd,
        Errno::EINVAL,
        clone3_7_1(reaped | CloneFlags::PIDFD_AUTOKILL),
        clone3_7_1(reaped | CloneFlags::PIDFD_AUTOKILL | CloneFlags::PIDFD),
    );
}

#[test]
fn autokill_needs_autoreap() {
    let owned = CloneFlags::PIDFD | CloneFlags::NNP | CloneFlags::PIDFD_AUTOKILL;
    pair(
        FlagError::AutokillWithoutAutoreap,
        Errno::EINVAL,
        clone3_7_1(owned),
        clone3_7_1(owned | CloneFlags::AUTOREAP),
    );
    // With CLONE_THREAD, CLONE_AUTOREAP's own rule is the one the kernel trips.
    let thread = CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::VM;
    let r = clone3_7_1(owned | CloneFlags::AUTOREAP | thread);
    assert_eq!(validate(&r), Err(FlagError::AutoreapWithThread));
}

#[test]
fn autokill_needs_nnp_or_cap_sys_admin() {
    let autokill = CloneFlags::PIDFD | CloneFlags::AUTOREAP | CloneFlags::PIDFD_AUTOKILL;
    let mut unprivileged = clone3_7_1(autokill);
    unprivileged.caller.cap_sys_admin = false;
    let mut with_nnp = unprivileged;
    with_nnp.flags |= CloneFlags::NNP;
    pair(
        FlagError::AutokillNeedsNnpOrCapSysAdmin,
        Errno::EPERM,
        unprivileged,
        with_nnp,
    );
    // CAP_SYS_ADMIN is enough without CLONE_NNP.
    assert_eq!(validate(&clone3_7_1(autokill)), Ok(()));
}

#[test]
fn empty_mntns_is_a_new_mount_namespace_for_the_rules() {
    // kernel_clone() adds CLONE_NEWNS, so CLONE_FS is refused as with CLONE_NEWNS.
    pair(
        FlagError::NewnsWithFs,
        Errno::EINVAL,
        clone3_7_1(CloneFlags::EMPTY_MNTNS | CloneFlags::FS),
        clone3_7_1(CloneFlags::EMPTY_MNTNS | CloneFlags::FILES),
    );
    // And it needs CAP_SYS_ADMIN unless a user namespace comes with it.
    let mut unprivileged = clone3_7_1(CloneFlags::EMPTY_MNTNS);
    unprivileged.caller.cap_sys_admin = false;
    let mut with_user = unprivileged;
    with_user.flags |= CloneFlags::NEWUSER;
    pair(
        FlagError::NamespaceNeedsCapSysAdmin(CloneFlags::NEWNS | CloneFlags::EMPTY_MNTNS),
        Errno::EPERM,
        unprivileged,
        with_user,
    );
    // Redundant CLONE_NEWNS is fine.
    assert_eq!(
        validate(&clone3_7_1(CloneFlags::EMPTY_MNTNS | CloneFlags::NEWNS)),
        Ok(())
    );
}

#[test]
fn linux_7_1_rules_in_the_kernels_order() {
    // copy_process() checks NEWNS|FS (from EMPTY_MNTNS) before any 7.1 rule.
    let thread = CloneFlags::THREAD | CloneFlags::SIGHAND | CloneFlags::VM;
    let r = clone3_7_1(CloneFlags::EMPTY_MNTNS | CloneFlags::FS | CloneFlags::AUTOREAP | thread);
    assert_eq!(validate(&r), Err(FlagError::NewnsWithFs));
    // CLONE_PIDFD|CLONE_DETACHED is refused by clone3_args_valid() (DETACHED) first.
    let r = clone3_7_1(CloneFlags::PIDFD | CloneFlags::DETACHED | CloneFlags::AUTOREAP);
    assert_eq!(validate(&r), Err(FlagError::Clone3Detached));
    // AUTOREAP's rules come before NNP's.
    let r = clone3_7_1(CloneFlags::AUTOREAP | CloneFlags::NNP | thread);
    assert_eq!(validate(&r), Err(FlagError::AutoreapWithThread));
    // The namespace capability (copy_namespaces()) comes after the 7.1 rules.
    let mut r = clone3_7_1(CloneFlags::EMPTY_MNTNS | CloneFlags::PIDFD_AUTOKILL);
    r.caller.cap_sys_admin = false;
    assert_eq!(validate(&r), Err(FlagError::AutokillWithoutPidfd));
    // All four together, as a kill-on-drop child in an empty mount namespace: accepted.
    let all = CloneFlags::LINUX_7_1 | CloneFlags::PIDFD;
    assert_eq!(validate(&clone3_7_1(all)), Ok(()));
}
