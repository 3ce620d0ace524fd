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
        CloneFlags::try_from_bits(1 << 34),
        Err(FlagError::UnknownBits(1 << 34))
    );
    assert_eq!(FlagError::UnknownBits(1 << 34).errno(), Errno::EINVAL);
    assert!(CloneFlags::try_from_bits(1 << 33).is_ok());
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
