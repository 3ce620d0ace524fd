//! Seeded, bounded random testing of the parts that take arbitrary input without syscalls:
//! the flag and exit-signal constructors, the validator (`validate`, `validate_unshare`) and
//! the KTAP writer.
//!
//! Every run uses a fixed seed unless `CLONEKIT_FUZZ_SEED` (decimal or `0x` hex) says
//! otherwise; a failure prints the seed and the iteration, so
//! `CLONEKIT_FUZZ_SEED=<seed> cargo test --test fuzz` replays it. Each test runs a fixed
//! number of iterations, and stops early at a wall-clock cap (qemu-user is slow).
//!
//! The KTAP *parser* is the host tool's (package `clonekit-qemu`); its fuzz test lives in
//! `qemu/src/guest/ktap.rs`.

use std::fmt::{self, Write};
use std::time::{Duration, Instant};

use clonekit::errno::Errno;
use clonekit::validate::{
    Caller, Clone3Shape, Request, Syscall, UNSHARE_FLAGS, validate, validate_unshare,
};
use clonekit::{CloneFlags, ExitSignal, FlagError, KernelVersion};
use clonekit_testkit::ktap::{Ktap, LINE_MAX, MAX_DEPTH, Totals, Verdict};

const DEFAULT_SEED: u64 = 0x00c1_0e4b_17f0_2025;
/// Iterations per test (Miri, a thousand times slower, runs a sample).
const ITERATIONS: u64 = if cfg!(miri) { 200 } else { 200_000 };
/// Natively every test ends well before it (0.1-0.8 s); under qemu-user, at one test at a
/// time, it bounds the binary to about 7 s.
const WALL_CLOCK_CAP: Duration = Duration::from_secs(1);

/// SplitMix64: small, fast, and the same sequence on every arch.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn seed() -> u64 {
    match std::env::var("CLONEKIT_FUZZ_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("CLONEKIT_FUZZ_SEED={s:?} is not a u64"))
        }
        Err(_) => DEFAULT_SEED,
    }
}

/// Prints how to replay the failing iteration when a check inside it panics.
struct Replay {
    test: &'static str,
    seed: u64,
    iteration: u64,
}

impl Drop for Replay {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "fuzz {}: failed at iteration {} with CLONEKIT_FUZZ_SEED={:#x} (replay with that \
                 variable set)",
                self.test, self.iteration, self.seed
            );
        }
    }
}

/// Runs `body` with a fresh generator per iteration (derived from the seed and the
/// iteration, so one iteration replays without the ones before it).
fn fuzz(test: &'static str, iterations: u64, mut body: impl FnMut(&mut Rng)) {
    let seed = seed();
    let started = Instant::now();
    let mut done = 0;
    for iteration in 0..iterations {
        if iteration % 256 == 0 && started.elapsed() > WALL_CLOCK_CAP {
            break;
        }
        let guard = Replay {
            test,
            seed,
            iteration,
        };
        let mut rng = Rng(seed ^ iteration.wrapping_mul(0xa076_1d64_78bd_642f));
        body(&mut rng);
        drop(guard);
        done += 1;
    }
    assert!(done > 0, "{test}: no iteration ran");
    // std's eprintln (captured; see it with --nocapture): clonekit's printer makes a raw
    // syscall, which Miri cannot run.
    eprintln!(
        "fuzz {test}: {done} iterations in {:.1?} (seed {seed:#x})",
        started.elapsed()
    );
}

/// Random known flags, each present with probability 1/4, sometimes all or none.
fn random_flags(rng: &mut Rng) -> CloneFlags {
    match rng.below(16) {
        0 => CloneFlags::empty(),
        1 => CloneFlags::all(),
        2 => CloneFlags::NPTL_THREAD | CloneFlags::from_bits_truncate(rng.next()),
        _ => CloneFlags::all()
            .iter()
            .filter(|_| rng.chance(4))
            .fold(CloneFlags::empty(), |a, f| a | f),
    }
}

fn random_signal(rng: &mut Rng) -> ExitSignal {
    let raw = match rng.below(4) {
        0 => 0,
        1 => 17,
        _ => rng.below(u64::from(ExitSignal::MAX) + 1) as u32,
    };
    ExitSignal::new(raw).expect("in range")
}

fn random_kernel(rng: &mut Rng) -> KernelVersion {
    match rng.below(4) {
        0 => KernelVersion::new(rng.next() as u16, rng.next() as u16, rng.next() as u16),
        _ => KernelVersion::new(
            rng.pick(&[2, 3, 4, 5, 6, 7]),
            rng.below(20) as u16,
            rng.pick(&[0, 1, 20, 103, 175, 500]),
        ),
    }
}

/// A namespace depth. `wide` adds `u32::MAX`, which trips the overflow bug documented on
/// `validator_with_extreme_nesting_levels`.
fn random_level(rng: &mut Rng, wide: bool) -> Option<u32> {
    match rng.below(8) {
        0 => None,
        1 => Some(rng.pick(&[31, 32, 33, 1000, u32::MAX - 1])),
        2 if wide => Some(u32::MAX),
        _ => Some(rng.below(40) as u32),
    }
}

fn random_caller(rng: &mut Rng, wide: bool) -> Caller {
    Caller {
        is_ns_init: rng.chance(4),
        cap_sys_admin: rng.chance(2),
        pid_ns_level: random_level(rng, wide),
        user_ns_level: random_level(rng, wide),
        cap_checkpoint_restore: rng.chance(4),
        pid_ns_for_children_differs: rng.chance(8),
        time_ns_for_children_differs: rng.chance(8),
        autoreaped: rng.chance(8),
    }
}

fn random_shape(rng: &mut Rng) -> Clone3Shape {
    let page_size = rng.pick(&[4096, 16384, 65536]);
    Clone3Shape {
        size: match rng.below(4) {
            0 => rng.pick(&[
                0,
                1,
                63,
                64,
                72,
                80,
                87,
                88,
                96,
                4096,
                4097,
                65537,
                usize::MAX,
            ]),
            1 => rng.below(100_000) as usize,
            _ => 88,
        },
        trailing_nonzero: rng.chance(8),
        stack_size: if rng.chance(2) {
            0
        } else {
            rng.next() >> rng.below(64)
        },
        set_tid_len: match rng.below(4) {
            0 => rng.pick(&[1, 32, 33, u64::MAX]),
            1 => rng.below(40),
            _ => 0,
        },
        set_tid_given: rng.chance(4),
        cgroup: match rng.below(4) {
            0 => rng.pick(&[i32::MAX as u64, i32::MAX as u64 + 1, u64::MAX]),
            _ => rng.below(1024),
        },
        pidfd_aliases_parent_tid: rng.chance(4),
        page_size,
    }
}

fn random_request(rng: &mut Rng, wide: bool) -> Request {
    Request {
        syscall: if rng.chance(2) {
            Syscall::Clone
        } else {
            Syscall::Clone3
        },
        flags: random_flags(rng),
        exit_signal: random_signal(rng),
        stack_given: rng.chance(2),
        clone3: random_shape(rng),
        caller: random_caller(rng, wide),
        kernel: random_kernel(rng),
    }
}

const KERNEL_ERRNOS: [Errno; 5] = [
    Errno::EINVAL,
    Errno::E2BIG,
    Errno::EPERM,
    Errno::ENOSPC,
    Errno::ENOSYS,
];

/// Flags no rule of `clone()`/`clone3()` looks at: adding them never changes the outcome.
const UNCHECKED: [CloneFlags; 8] = [
    CloneFlags::FILES,
    CloneFlags::IO,
    CloneFlags::PTRACE,
    CloneFlags::UNTRACED,
    CloneFlags::VFORK,
    CloneFlags::SETTLS,
    CloneFlags::CHILD_SETTID,
    CloneFlags::CHILD_CLEARTID,
];

/// Pairs of flags the kernel never takes together (whatever else is set), and clone3-only
/// refusals.
const NEVER_TOGETHER: [(CloneFlags, Syscall); 9] = [
    (CloneFlags::NEWNS.union(CloneFlags::FS), Syscall::Clone),
    (CloneFlags::NEWUSER.union(CloneFlags::FS), Syscall::Clone),
    (
        CloneFlags::THREAD.union(CloneFlags::NEWUSER),
        Syscall::Clone,
    ),
    (CloneFlags::THREAD.union(CloneFlags::NEWPID), Syscall::Clone),
    (
        CloneFlags::NEWIPC.union(CloneFlags::SYSVSEM),
        Syscall::Clone,
    ),
    (
        CloneFlags::PIDFD.union(CloneFlags::DETACHED),
        Syscall::Clone,
    ),
    (
        CloneFlags::PIDFD.union(CloneFlags::PARENT_SETTID),
        Syscall::Clone,
    ),
    (CloneFlags::DETACHED, Syscall::Clone3),
    (
        CloneFlags::SIGHAND.union(CloneFlags::CLEAR_SIGHAND),
        Syscall::Clone3,
    ),
];

/// The checks every validator outcome must pass.
fn check_request(request: &Request) {
    let outcome = validate(request);
    let flags = request.flags;
    if let Err(rule) = outcome {
        assert!(
            KERNEL_ERRNOS.contains(&rule.errno()),
            "{rule:?} has errno {:?}",
            rule.errno()
        );
        // Every refusal can be shown to a user without panicking.
        assert!(!format!("{rule}").is_empty());
        assert!(!format!("{}", clonekit::Error::Flags(rule)).is_empty());
    }
    if outcome.is_ok() {
        if request.syscall == Syscall::Clone {
            assert!(
                !flags.intersects(CloneFlags::CLONE3_ONLY),
                "legacy clone accepted {flags:?}"
            );
        } else {
            let s = &request.clone3;
            assert!(request.kernel >= KernelVersion::V5_3);
            assert!((64..=s.page_size).contains(&s.size), "size {}", s.size);
            assert!(!s.trailing_nonzero && s.set_tid_len <= 32);
            assert_eq!(s.set_tid_given, s.set_tid_len > 0);
            if flags.intersects(CloneFlags::THREAD | CloneFlags::PARENT) {
                assert_eq!(request.exit_signal, ExitSignal::NONE);
            }
        }
        for (flag, since) in [
            (CloneFlags::NEWCGROUP, KernelVersion::V4_6),
            (CloneFlags::PIDFD, KernelVersion::V5_2),
            (CloneFlags::CLEAR_SIGHAND, KernelVersion::V5_5),
            (CloneFlags::NEWTIME, KernelVersion::V5_6),
            (CloneFlags::INTO_CGROUP, KernelVersion::V5_7),
            (CloneFlags::AUTOREAP, KernelVersion::V7_1),
            (CloneFlags::NNP, KernelVersion::V7_1),
            (CloneFlags::PIDFD_AUTOKILL, KernelVersion::V7_1),
            (CloneFlags::EMPTY_MNTNS, KernelVersion::V7_1),
        ] {
            assert!(
                !flags.contains(flag) || request.kernel >= since,
                "{flag:?} accepted on {}",
                request.kernel
            );
        }
        if request.caller.is_ns_init {
            assert!(!flags.contains(CloneFlags::PARENT));
        }
    }
    // The dependency rules hold on both syscalls, whatever else the request says.
    if flags.contains(CloneFlags::SIGHAND) && !flags.contains(CloneFlags::VM) {
        assert!(outcome.is_err(), "SIGHAND without VM accepted: {request:?}");
    }
    if flags.contains(CloneFlags::THREAD) && !flags.contains(CloneFlags::SIGHAND) {
        assert!(
            outcome.is_err(),
            "THREAD without SIGHAND accepted: {request:?}"
        );
    }
    for (pair, syscall) in NEVER_TOGETHER {
        if flags.contains(pair) && (syscall == Syscall::Clone || request.syscall == syscall) {
            let legacy_pidfd_slot = pair == CloneFlags::PIDFD | CloneFlags::PARENT_SETTID;
            let shared =
                request.syscall == Syscall::Clone || request.clone3.pidfd_aliases_parent_tid;
            if !legacy_pidfd_slot || shared {
                assert!(outcome.is_err(), "{pair:?} accepted: {request:?}");
            }
        }
    }
    // Flags no rule reads change nothing, refusal or acceptance, and the rule named.
    for extra in UNCHECKED {
        let mut more = *request;
        more.flags |= extra;
        assert_eq!(validate(&more), outcome, "adding {extra:?} to {request:?}");
    }
    // Privilege only ever helps.
    if outcome.is_ok() {
        let mut privileged = *request;
        privileged.caller.cap_sys_admin = true;
        assert_eq!(
            validate(&privileged),
            Ok(()),
            "CAP_SYS_ADMIN refused {request:?}"
        );
        // No rule refuses a newer kernel what an older one takes.
        let mut newest = *request;
        newest.kernel = KernelVersion::new(u16::MAX, u16::MAX, u16::MAX);
        assert_eq!(
            validate(&newest),
            Ok(()),
            "a newer kernel refused {request:?}"
        );
    }
    // Legacy clone() has no clone_args: the shape cannot matter.
    if request.syscall == Syscall::Clone {
        let mut plain = *request;
        plain.clone3 = Clone3Shape::DEFAULT;
        assert_eq!(
            validate(&plain),
            outcome,
            "shape changed legacy {request:?}"
        );
    }
}

fn check_unshare(flags: CloneFlags, caller: &Caller, threads: Option<u64>, k: KernelVersion) {
    let outcome = validate_unshare(flags, caller, threads, k);
    if let Err(rule) = outcome {
        assert!(KERNEL_ERRNOS.contains(&rule.errno()), "{rule:?}");
        assert!(!format!("{rule}").is_empty());
    }
    let unsupported = flags - UNSHARE_FLAGS;
    if !unsupported.is_empty() {
        assert_eq!(outcome, Err(FlagError::UnshareUnsupported(unsupported)));
    }
    if outcome.is_ok() {
        assert!(UNSHARE_FLAGS.contains(flags));
        if threads.is_some_and(|n| n > 1) {
            assert!(!flags.intersects(
                CloneFlags::NEWUSER | CloneFlags::VM | CloneFlags::SIGHAND | CloneFlags::THREAD
            ));
        }
    }
    // FILES, FS and SYSVSEM are taken and never checked further.
    for extra in [CloneFlags::FILES, CloneFlags::FS, CloneFlags::SYSVSEM] {
        assert_eq!(validate_unshare(flags | extra, caller, threads, k), outcome);
    }
}

#[test]
fn random_flag_words_through_try_from_bits() {
    fuzz("try_from_bits", ITERATIONS, |rng| {
        let bits = match rng.below(3) {
            0 => rng.next(),
            1 => rng.next() & CloneFlags::all().bits(),
            _ => rng.next() & (CloneFlags::all().bits() | 0xff | 1 << rng.below(64)),
        };
        let unknown = bits & !CloneFlags::all().bits();
        match CloneFlags::try_from_bits(bits) {
            Ok(flags) => {
                assert_eq!(unknown, 0);
                assert_eq!(flags.bits(), bits);
            }
            Err(e) => {
                assert_eq!(e, FlagError::UnknownBits(unknown));
                assert_ne!(unknown, 0);
                assert_eq!(e.errno(), Errno::EINVAL);
            }
        }
    });
}

#[test]
fn random_exit_signals_through_new() {
    fuzz("exit_signal", ITERATIONS, |rng| {
        let raw = match rng.below(3) {
            0 => rng.next() as u32,
            _ => rng.below(300) as u32,
        };
        match ExitSignal::new(raw) {
            Ok(sig) => {
                assert!(raw <= ExitSignal::MAX);
                assert_eq!(sig.raw(), raw);
            }
            Err(e) => {
                assert!(raw > ExitSignal::MAX);
                assert_eq!(e, FlagError::ExitSignalOutOfRange(raw));
            }
        }
    });
}

#[test]
fn random_requests_through_validate() {
    fuzz("validate", ITERATIONS / 4, |rng| {
        check_request(&random_request(rng, false));
    });
}

#[test]
fn random_unshares_through_validate_unshare() {
    fuzz("validate_unshare", ITERATIONS, |rng| {
        let flags = if rng.chance(2) {
            random_flags(rng) & UNSHARE_FLAGS
        } else {
            random_flags(rng)
        };
        let caller = random_caller(rng, false);
        let threads = match rng.below(3) {
            0 => None,
            1 => Some(1),
            _ => Some(rng.below(64)),
        };
        check_unshare(flags, &caller, threads, random_kernel(rng));
    });
}

/// The whole validator fuzz again with namespace depths up to `u32::MAX`, which a user can
/// put in the public `Caller` fields.
#[test]
fn validator_with_extreme_nesting_levels() {
    fuzz("validate_wide", ITERATIONS / 4, |rng| {
        check_request(&random_request(rng, true));
        let caller = random_caller(rng, true);
        check_unshare(random_flags(rng), &caller, Some(1), random_kernel(rng));
    });
    let caller = Caller {
        pid_ns_level: Some(u32::MAX),
        ..Caller::PRIVILEGED
    };
    let request = Request {
        caller,
        ..Request::legacy(CloneFlags::NEWPID, ExitSignal::SIGCHLD, KernelVersion::V6_9)
    };
    assert_eq!(validate(&request), Err(FlagError::PidNestingTooDeep));
    assert_eq!(
        validate_unshare(CloneFlags::NEWPID, &caller, Some(1), KernelVersion::V6_9),
        Err(FlagError::PidNestingTooDeep)
    );
}

// ---- The KTAP writer ----

/// Records every `write_str` call, so line atomicity can be checked.
#[derive(Default)]
struct Calls(Vec<String>);

impl Write for Calls {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.push(s.to_string());
        Ok(())
    }
}

/// A random name: mostly plain words, sometimes anything (spaces, `#`, newlines, non-ASCII,
/// very long) to make the writer deal with it.
fn random_name(rng: &mut Rng) -> String {
    const PLAIN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
    const WILD: &[char] = &[
        'a',
        ' ',
        '#',
        '\n',
        '\r',
        '\t',
        'é',
        '字',
        '\u{1F600}',
        '\0',
        '\u{7f}',
        '-',
        '.',
    ];
    let len = match rng.below(8) {
        0 => 0,
        1 => rng.below(600) as usize,
        _ => 1 + rng.below(24) as usize,
    };
    if rng.chance(4) {
        (0..len).map(|_| rng.pick(WILD)).collect()
    } else {
        (0..len.max(1))
            .map(|_| char::from(rng.pick(PLAIN)))
            .collect()
    }
}

fn is_plain(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What one random report should come out as, checked against the writer's text.
struct Expect {
    lines: Vec<String>,
    totals: Totals,
}

/// Writes a random report of up to `depth` nested levels through `k`, and the lines a
/// plain-named report must produce into `expect` (only when every name is plain).
fn write_level(
    rng: &mut Rng,
    k: &mut Ktap<Calls>,
    depth: usize,
    expect: &mut Expect,
    plain: &mut bool,
) -> (usize, Totals) {
    let cases = rng.below(6) as usize;
    let mut counts = Totals::default();
    for n in 1..=cases {
        let name = random_name(rng);
        *plain &= is_plain(&name);
        let indent = " ".repeat(2 * depth);
        if depth < MAX_DEPTH && rng.chance(3) {
            let plan = rng.below(6) as usize;
            k.begin_subtest(&name, plan);
            let inner = " ".repeat(2 * (depth + 1));
            expect.lines.push(format!("{inner}KTAP version 1"));
            expect.lines.push(format!("{inner}# Subtest: {name}"));
            expect.lines.push(format!("{inner}1..{plan}"));
            let (_, sub) = write_level(rng, k, depth + 1, expect, plain);
            let verdict = k.end_subtest(&name);
            let want = if sub.fail > 0 {
                Verdict::Fail
            } else if sub.pass == 0 {
                Verdict::Skip("no case ran")
            } else {
                Verdict::Pass
            };
            assert_eq!(verdict, want, "subtest {name:?} with {sub:?}");
            expect.lines.push(result_line(&indent, n, &name, verdict));
            counts.pass += sub.pass;
            counts.fail += sub.fail;
            counts.skip += sub.skip;
        } else {
            let reason = random_name(rng);
            let verdict = match rng.below(3) {
                0 => Verdict::Pass,
                1 => Verdict::Fail,
                _ => Verdict::Skip(&reason),
            };
            if let Verdict::Skip(r) = verdict {
                *plain &= is_plain(r);
            }
            if rng.chance(4) {
                let text = random_name(rng);
                *plain &= is_plain(&text);
                k.diag(format_args!("{text}"));
                expect.lines.push(format!("{indent}# {text}"));
            }
            k.result(&name, verdict);
            expect.lines.push(result_line(&indent, n, &name, verdict));
            match verdict {
                Verdict::Pass => counts.pass += 1,
                Verdict::Fail => counts.fail += 1,
                Verdict::Skip(_) => counts.skip += 1,
            }
        }
    }
    (cases, counts)
}

fn result_line(indent: &str, n: usize, name: &str, verdict: Verdict<'_>) -> String {
    match verdict {
        Verdict::Pass => format!("{indent}ok {n} {name}"),
        Verdict::Fail => format!("{indent}not ok {n} {name}"),
        Verdict::Skip(reason) => format!("{indent}ok {n} {name} # SKIP {reason}"),
    }
}

#[test]
fn random_reports_through_the_ktap_writer() {
    let mut compared = 0;
    fuzz("ktap_writer", ITERATIONS / 20, |rng| {
        let mut k = Ktap::new(Calls::default());
        let plan = rng.below(6) as usize;
        k.start(plan, false);
        let mut expect = Expect {
            lines: vec!["KTAP version 1".into(), format!("1..{plan}")],
            totals: Totals::default(),
        };
        let mut plain = true;
        let (_, totals) = write_level(rng, &mut k, 0, &mut expect, &mut plain);
        expect.totals = totals;
        k.summary();
        assert_eq!(k.totals(), expect.totals);
        assert_eq!(k.depth(), 0);
        let calls = &k.get_mut().0;
        let text = calls.concat();
        assert!(text.ends_with('\n'));
        if plain {
            let t = expect.totals;
            expect.lines.push(format!(
                "# Totals: pass:{} fail:{} skip:{} total:{}",
                t.pass,
                t.fail,
                t.skip,
                t.total()
            ));
            compared += 1;
            let want: String = expect.lines.iter().map(|l| format!("{l}\n")).collect();
            assert_eq!(text, want);
            // A line that fits LINE_MAX goes out in one write, so it cannot be torn.
            for line in &expect.lines {
                let whole = format!("{line}\n");
                if whole.len() <= LINE_MAX {
                    assert!(calls.contains(&whole), "{line:?} was split");
                }
            }
        }
    });
    // Plain-named reports are compared line by line; most are plain.
    assert!(
        compared > 0,
        "no report was compared with its expected text"
    );
}

#[test]
fn random_calls_in_any_order_never_panic_the_writer() {
    fuzz("ktap_writer_any_order", ITERATIONS / 20, |rng| {
        let depth = rng.below(MAX_DEPTH as u64 + 4) as usize;
        let mut k = Ktap::nested(Calls::default(), depth, rng.below(1000) as usize);
        assert!(k.depth() <= MAX_DEPTH);
        let mut results = 0;
        for _ in 0..rng.below(40) {
            let name = random_name(rng);
            let op = rng.below(9);
            results += usize::from((3..=5).contains(&op));
            match op {
                0 => k.start(rng.next() as usize, rng.chance(2)),
                1 => k.begin_subtest(&name, rng.next() as usize),
                2 => {
                    let _ = k.end_subtest(&name);
                }
                3 => k.ok(&name),
                4 => k.not_ok(&name),
                5 => k.skip(&name, &random_name(rng)),
                6 => k.diag(format_args!("{name}{}", random_name(rng))),
                7 => k.bail_out(format_args!("{name}")),
                _ => k.summary(),
            }
            assert!(k.depth() <= MAX_DEPTH);
        }
        // Totals count the leaf results only, whatever the nesting did.
        assert_eq!(k.totals().total(), results);
    });
}
