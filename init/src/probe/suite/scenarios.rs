//! The scenarios: exit codes, usage errors, exec failures, the `PATH` search, every
//! forwardable signal (as a subreaper, as a container's init and as the machine's PID 1),
//! the ones kept back, `-g` reaching a grandchild, and zombie storms of 1,000 orphans.

use core::ffi::{CStr, c_char};

use clonekit::Error;
use clonekit::process::reap_all_nonblocking;
use clonekit::sys::Pid;
use clonekit::sys::process::{getpid, getppid, set_child_subreaper};
use clonekit::sys::signal::{SigSet, Signal, kill};
use clonekit::sys::time::Timespec;

use super::launch::{Place, Started, Stderr, Words, start, start_on};
use super::{Fail, Outcome, Suite, fail};
use crate::orphans;
use crate::out::Text;
use crate::record::{Recorder, catchable};

/// How long a line or an exit may take (generous: the guest runs under TCG).
const LINE_MS: u64 = 10_000;
const EXIT_MS: u64 = 30_000;

/// The orphans of a zombie storm.
const STORM: &CStr = c"1000";

pub fn all(s: &mut Suite) {
    s.case("exit_codes", false, exit_codes);
    s.case("usage_errors", false, usage_errors);
    s.case("exec_failures", false, exec_failures);
    s.case("path_search", false, path_search);
    s.case("signals_forwarded_as_subreaper", false, |s| {
        signals(s, "signals_forwarded_as_subreaper", Place::Here)
    });
    s.case("signals_kept_back", false, signals_kept_back);
    s.case("libc_signals_forwarded_without_a_libc", true, libc_signals);
    s.case("group_reaches_grandchild", false, group);
    s.case("foreground_on_a_terminal", false, foreground);
    s.case("zombie_storm_as_subreaper", false, |s| {
        storm(s, "zombie_storm_as_subreaper", Place::Here)
    });
    s.case("container_init_exit_codes", false, container_exit_codes);
    s.case("signals_forwarded_as_container_init", false, |s| {
        signals(s, "signals_forwarded_as_container_init", Place::Container)
    });
    s.case("zombie_storm_as_container_init", false, |s| {
        storm(s, "zombie_storm_as_container_init", Place::Container)
    });
    s.case("machine_pid1", true, machine_pid1);
}

impl Suite {
    /// `INIT <options...>`.
    fn init_with(&self, options: &[&'static CStr]) -> Words {
        let mut all = [c""; 12];
        all[0] = self.init;
        let n = options.len().min(11);
        all[1..=n].copy_from_slice(&options[..n]);
        Words::new(&all[..=n])
    }

    /// `INIT <options...> PROBE <mode...>`.
    fn probe_under(&self, options: &[&'static CStr], mode: &[&'static CStr]) -> Words {
        let mut all = [c""; 12];
        let mut n = 0;
        for word in core::iter::once(self.init)
            .chain(options.iter().copied())
            .chain(core::iter::once(self.probe))
            .chain(mode.iter().copied())
            .take(12)
        {
            all[n] = word;
            n += 1;
        }
        Words::new(&all[..n])
    }

    fn start(&self, words: Words, place: Place, stderr: Stderr) -> Result<Started, Fail> {
        start(words, self.env, place, stderr).map_err(|e| match e {
            // A container needs privilege (root natively, PID 1 in the guest).
            Error::Os(clonekit::Errno::EPERM) | Error::ContainerSetup { .. }
                if place == Place::Container =>
            {
                Fail::Skip(Text::of(format_args!(
                    "no container here ({e}); runs natively as root and in the guest"
                )))
            }
            e => fail!("starting {}: {e}", words.show()),
        })
    }

    /// Runs `words` to its end and returns the exit code.
    fn exit_code(&self, words: Words, place: Place, stderr: Stderr) -> Result<i32, Fail> {
        let started = self.start(words, place, stderr)?;
        let code = started
            .finish(EXIT_MS)
            .ok_or_else(|| fail!("{} did not exit in {EXIT_MS} ms", words.show()))?;
        if code == 120 {
            return Err(fail!("{}: the init could not be run", words.show()));
        }
        Ok(code)
    }
}

/// Runs each `(words, expected code)`, observes the codes in order.
fn codes(s: &Suite, name: &str, cases: &[(Words, i32)], place: Place, stderr: Stderr) -> Outcome {
    let mut seen = Text::new();
    let mut wrong = None;
    for (words, want) in cases {
        let got = s.exit_code(*words, place, stderr)?;
        let _ = core::fmt::Write::write_fmt(&mut seen, format_args!("{got} "));
        if got != *want && wrong.is_none() {
            wrong = Some(fail!("{}: exit code {got}, expected {want}", words.show()));
        }
    }
    s.observe(name, format_args!("codes {seen}"));
    wrong.map_or(Ok(()), Err)
}

fn exit_codes(s: &mut Suite) -> Outcome {
    let sub = [c"-s", c"--"];
    let cases = [
        (s.probe_under(&sub, &[c"exit", c"0"]), 0),
        (s.probe_under(&sub, &[c"exit", c"3"]), 3),
        (s.probe_under(&sub, &[c"exit", c"255"]), 255),
        (s.probe_under(&sub, &[c"kill", c"15"]), 128 + 15),
        (s.probe_under(&sub, &[c"kill", c"9"]), 128 + 9),
        (s.probe_under(&sub, &[c"kill", c"10"]), 128 + 10),
        (
            s.probe_under(&[c"-s", c"-e", c"3", c"--"], &[c"exit", c"3"]),
            0,
        ),
        (
            s.probe_under(&[c"-s", c"-e", c"143", c"--"], &[c"kill", c"15"]),
            0,
        ),
        (
            s.probe_under(&[c"-s", c"-e", c"3", c"-e", c"4", c"--"], &[c"exit", c"4"]),
            0,
        ),
        (
            s.probe_under(&[c"-s", c"-e", c"3", c"--"], &[c"exit", c"5"]),
            5,
        ),
        (s.probe_under(&[c"-se3", c"--"], &[c"exit", c"3"]), 0),
        (
            s.probe_under(&[c"-s", c"-p", c"SIGKILL", c"--"], &[c"exit", c"6"]),
            6,
        ),
        // Without `--`: PROGRAM's arguments are not options.
        (s.probe_under(&[c"-s"], &[c"exit", c"7"]), 7),
    ];
    codes(s, "exit_codes", &cases, Place::Here, Stderr::Shown)
}

fn usage_errors(s: &mut Suite) -> Outcome {
    let probe = |options: &[&'static CStr]| s.probe_under(options, &[c"exit", c"0"]);
    let cases = [
        (s.init_with(&[]), 1),
        (s.init_with(&[c"-s"]), 1),
        (s.init_with(&[c"-s", c"--"]), 1),
        (probe(&[c"-x", c"--"]), 1),
        (s.init_with(&[c"-s", c"-e"]), 1),
        (probe(&[c"-s", c"-e", c"256", c"--"]), 1),
        (probe(&[c"-s", c"-e", c"abc", c"--"]), 1),
        (probe(&[c"-s", c"-p", c"SIGFOO", c"--"]), 1),
        (s.init_with(&[c"-s", c"-p"]), 1),
        (s.init_with(&[c"-h"]), 0),
        (s.init_with(&[c"--version"]), 0),
    ];
    codes(s, "usage_errors", &cases, Place::Here, Stderr::Hidden)
}

fn exec_failures(s: &mut Suite) -> Outcome {
    let cases = [
        (s.init_with(&[c"-s", c"--", c"/nonexistent/program"]), 127),
        // Found in no directory of PATH.
        (
            s.init_with(&[c"-s", c"--", c"clonekit-no-such-program"]),
            127,
        ),
        // A directory and a device cannot be executed (EACCES).
        (s.init_with(&[c"-s", c"--", c"/"]), 126),
        (s.init_with(&[c"-s", c"--", c"/dev/null"]), 126),
    ];
    codes(s, "exec_failures", &cases, Place::Here, Stderr::Hidden)
}

/// The probe found by name in `PATH` (its own directory, after one that does not exist).
fn path_search(s: &mut Suite) -> Outcome {
    let path = s.probe.to_bytes();
    let Some(slash) = path.iter().rposition(|&b| b == b'/') else {
        return Err(fail!("the probe's path {:?} has no directory", s.probe));
    };
    let name = CStr::from_bytes_with_nul(&s.probe.to_bytes_with_nul()[slash + 1..])
        .map_err(|_| fail!("the probe's name"))?;
    let mut variable = [0u8; 512];
    let value = [b"PATH=/nonexistent:".as_slice(), &path[..slash], b"\0"];
    let mut len = 0;
    for part in value {
        if len + part.len() > variable.len() {
            return Err(fail!("the probe's directory is too long"));
        }
        variable[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    let env: [*const c_char; 2] = [variable.as_ptr().cast(), core::ptr::null()];
    let words = Words::new(&[s.init, c"-s", c"--", name, c"exit", c"9"]);
    // The environment lives in this frame; the forked child reads its own copy of it.
    let started = start(words, env.as_ptr(), Place::Here, Stderr::Shown)
        .map_err(|e| fail!("starting {}: {e}", words.show()))?;
    let code = started.finish(EXIT_MS);
    s.observe("path_search", format_args!("code {code:?}"));
    match code {
        Some(9) => Ok(()),
        other => Err(fail!(
            "{} with PATH=/nonexistent:<probe's directory>: {other:?}, expected 9",
            words.show()
        )),
    }
}

/// The 50 signals tini forwards (it cannot see 32 and 33, which glibc keeps): 1 to 31
/// but `SIGKILL`, `SIGSTOP`, `SIGCHLD`, the seven faults, `SIGTTIN`, `SIGTTOU`, and 34 to
/// 64.
fn forwardable() -> impl Iterator<Item = Signal> {
    (1..=Signal::MAX)
        .filter_map(Signal::from_raw)
        .filter(|sig| clonekit::init::FORWARDED.contains(*sig))
        .filter(|sig| !matches!(sig.raw(), 32 | 33))
}

/// The numbers of a `ready` line.
#[derive(Clone, Copy)]
struct Ready {
    pid: Pid,
    pgid: Pid,
    ppid: Pid,
    /// The foreground group of the controlling terminal (-1: none).
    tpgid: Pid,
}

/// Waits for the `ready` line of `role`.
fn ready(started: &mut Started, role: &str) -> Result<Ready, Fail> {
    let line = started
        .line(LINE_MS)
        .ok_or_else(|| fail!("no ready line from the {role}"))?;
    parse_ready(line.as_str(), role).ok_or_else(|| fail!("expected ready {role}, read {line}"))
}

fn parse_ready(line: &str, role: &str) -> Option<Ready> {
    let rest = line.strip_prefix("ready ")?.strip_prefix(role)?;
    let mut numbers = rest
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| w.split_once('=').and_then(|(_, v)| v.parse::<Pid>().ok()));
    Some(Ready {
        pid: numbers.next()??,
        pgid: numbers.next()??,
        ppid: numbers.next()??,
        tpgid: numbers.next()??,
    })
}

/// Sends `sig` to the init and expects the probe's `got <sig> <role>` next.
fn expect_forwarded(started: &mut Started, sig: Signal, role: &str) -> Outcome {
    started
        .signal(sig)
        .map_err(|e| fail!("kill(init, {sig}): {e}"))?;
    expect_line(started, sig, role)
}

fn expect_line(started: &mut Started, sig: Signal, role: &str) -> Outcome {
    let want = Text::of(format_args!("got {} {role}", sig.raw()));
    match started.line(LINE_MS) {
        Some(line) if line.as_bytes() == want.as_bytes() => Ok(()),
        Some(line) => Err(fail!("sent {sig}: expected `{want}`, read `{line}`")),
        None => Err(fail!(
            "sent {sig}: expected `{want}`, read nothing in {LINE_MS} ms"
        )),
    }
}

/// Every forwardable signal, sent to the init one by one, reaches the recording probe.
fn signals(s: &mut Suite, name: &str, place: Place) -> Outcome {
    let options: &[&'static CStr] = match place {
        Place::Here => &[c"-s", c"--"],
        Place::Container => &[c"--"],
    };
    let mut started = s.start(s.probe_under(options, &[c"record"]), place, Stderr::Shown)?;
    let ppid = ready(&mut started, "child")?.ppid;
    let init_pid = if place == Place::Container {
        1
    } else {
        started.pid
    };
    if ppid != init_pid {
        return Err(fail!(
            "the probe's parent is {ppid}, not the init ({init_pid})"
        ));
    }
    let mut seen = Text::new();
    for sig in forwardable() {
        expect_forwarded(&mut started, sig, "child")?;
        let _ = core::fmt::Write::write_fmt(&mut seen, format_args!("{} ", sig.raw()));
    }
    let code = started.finish(EXIT_MS);
    s.observe(name, format_args!("forwarded {seen}exit {code:?}"));
    if code != Some(0) {
        return Err(fail!("exit code {code:?} after end of input, expected 0"));
    }
    Ok(())
}

/// `SIGCHLD`, `SIGTTIN` and `SIGTTOU` sent to the init do not reach the program: after
/// each, a `SIGUSR2` does, first.
fn signals_kept_back(s: &mut Suite) -> Outcome {
    let mut started = s.start(
        s.probe_under(&[c"-s", c"--"], &[c"record"]),
        Place::Here,
        Stderr::Shown,
    )?;
    ready(&mut started, "child")?;
    for sig in [Signal::SIGCHLD, Signal::SIGTTIN, Signal::SIGTTOU] {
        started
            .signal(sig)
            .map_err(|e| fail!("kill(init, {sig}): {e}"))?;
        expect_forwarded(&mut started, Signal::SIGUSR2, "child")
            .map_err(|_| fail!("{sig} was forwarded (or the SIGUSR2 after it was not)"))?;
    }
    let code = started.finish(EXIT_MS);
    s.observe(
        "signals_kept_back",
        format_args!("17 21 22 kept, exit {code:?}"),
    );
    (code == Some(0))
        .then_some(())
        .ok_or_else(|| fail!("exit code {code:?}, expected 0"))
}

/// 32 and 33, glibc's own signals, are forwarded by clonekit-init, which has no libc.
fn libc_signals(s: &mut Suite) -> Outcome {
    let mut started = s.start(
        s.probe_under(&[c"-s", c"--"], &[c"record"]),
        Place::Here,
        Stderr::Shown,
    )?;
    ready(&mut started, "child")?;
    for n in [0, 1] {
        let sig = Signal::rt(n).ok_or_else(|| fail!("SIGRTMIN+{n}"))?;
        expect_forwarded(&mut started, sig, "child")?;
    }
    let code = started.finish(EXIT_MS);
    (code == Some(0))
        .then_some(())
        .ok_or_else(|| fail!("exit code {code:?}, expected 0"))
}

/// With `-g` a signal reaches the program and a grandchild in its process group; without,
/// the program only. The program leads a group of its own either way.
fn group(s: &mut Suite) -> Outcome {
    let mut observed = Text::new();
    for with_g in [true, false] {
        let options: &[&'static CStr] = if with_g {
            &[c"-s", c"-g", c"--"]
        } else {
            &[c"-s", c"--"]
        };
        let mut started = s.start(
            s.probe_under(options, &[c"tree"]),
            Place::Here,
            Stderr::Shown,
        )?;
        let mut child = None;
        let mut grandchild = None;
        for _ in 0..2 {
            let line = started
                .line(LINE_MS)
                .ok_or_else(|| fail!("no ready line from the tree"))?;
            if let Some(ids) = parse_ready(line.as_str(), "child") {
                child = Some(ids);
            } else if let Some(ids) = parse_ready(line.as_str(), "grandchild") {
                grandchild = Some(ids);
            } else {
                return Err(fail!("expected a ready line, read {line}"));
            }
        }
        let (
            Some(Ready {
                pid: child_pid,
                pgid: child_pgid,
                ..
            }),
            Some(Ready {
                pid: grandchild_pid,
                pgid: grandchild_pgid,
                ..
            }),
        ) = (child, grandchild)
        else {
            return Err(fail!("ready lines from the child and the grandchild"));
        };
        if child_pgid != child_pid || grandchild_pgid != child_pid {
            return Err(fail!(
                "process groups: child {child_pid} in {child_pgid}, grandchild in {grandchild_pgid}"
            ));
        }
        started
            .signal(Signal::SIGUSR1)
            .map_err(|e| fail!("kill(init, SIGUSR1): {e}"))?;
        let mut roles = Text::new();
        if with_g {
            for _ in 0..2 {
                let line = started
                    .line(LINE_MS)
                    .ok_or_else(|| fail!("-g: only {roles}"))?;
                let role = line
                    .as_str()
                    .strip_prefix("got 10 ")
                    .ok_or_else(|| fail!("-g: read {line}"))?;
                let _ = core::fmt::Write::write_fmt(&mut roles, format_args!("{role} "));
            }
            if !(roles.as_str().contains("child ") && roles.as_str().contains("grandchild ")) {
                return Err(fail!("-g: SIGUSR1 reached {roles}"));
            }
            roles = Text::of(format_args!("child grandchild"));
        } else {
            expect_line(&mut started, Signal::SIGUSR1, "child")?;
            // The grandchild must not have it: a SIGUSR2 sent to it directly comes first.
            kill(grandchild_pid, Signal::SIGUSR2).map_err(|e| fail!("kill(grandchild): {e}"))?;
            expect_line(&mut started, Signal::SIGUSR2, "grandchild")
                .map_err(|_| fail!("without -g, SIGUSR1 reached the grandchild too"))?;
            roles = Text::of(format_args!("child"));
        }
        let code = started.finish(EXIT_MS);
        let _ = core::fmt::Write::write_fmt(
            &mut observed,
            format_args!(
                "{}: {roles}, exit {code:?}; ",
                if with_g { "-g" } else { "no -g" }
            ),
        );
        if code != Some(0) {
            return Err(fail!("exit code {code:?}, expected 0"));
        }
    }
    s.observe(
        "group_reaches_grandchild",
        format_args!("{observed}the child leads its group"),
    );
    Ok(())
}

/// With a terminal as its standard input, the init makes the program's group (a new one,
/// led by the program) the terminal's foreground group (tini's `isolate_child`).
fn foreground(s: &mut Suite) -> Outcome {
    let (master, slave) = crate::terminal::open().map_err(|e| fail!("a pseudo-terminal: {e}"))?;
    let words = s.probe_under(&[c"-s", c"--"], &[c"foreground"]);
    let mut started = start_on(
        words,
        s.env,
        Place::Here,
        Stderr::Shown,
        Some(slave.as_fd()),
    )
    .map_err(|e| fail!("starting {}: {e}", words.show()))?;
    drop(slave);
    let seen = ready(&mut started, "child")?;
    let code = started.finish(EXIT_MS);
    // The master stays open until the init is gone (closing it hangs the session up).
    drop(master);
    let own_group = seen.pgid == seen.pid;
    let foreground = seen.tpgid == seen.pgid;
    s.observe(
        "foreground_on_a_terminal",
        format_args!(
            "own group {own_group}, the terminal's foreground {foreground}, exit {code:?}"
        ),
    );
    if !own_group || !foreground || code != Some(0) {
        return Err(fail!(
            "pid {} pgid {} tpgid {}, exit {code:?}: expected its own group in the foreground",
            seen.pid,
            seen.pgid,
            seen.tpgid
        ));
    }
    Ok(())
}

/// 1,000 orphans re-parented to the init: none left, in bounded time, none strayed to the
/// suite.
fn storm(s: &mut Suite, name: &str, place: Place) -> Outcome {
    let options: &[&'static CStr] = match place {
        Place::Here => &[c"-s", c"--"],
        Place::Container => &[c"--"],
    };
    let mut started = s.start(
        s.probe_under(options, &[c"orphans", STORM]),
        place,
        Stderr::Shown,
    )?;
    let line = started
        .line(orphans::BOUND_MS + LINE_MS)
        .ok_or_else(|| fail!("no line from the storm"))?;
    let code = started.finish(EXIT_MS);
    let strays = reap_all_nonblocking();
    let left = line
        .as_str()
        .split(' ')
        .find_map(|w| w.strip_prefix("left="))
        .unwrap_or("?");
    s.observe(
        name,
        format_args!(
            "orphans {} left {left} strays {strays} exit {code:?}",
            STORM.to_str().unwrap_or("?")
        ),
    );
    if left != "0" || code != Some(0) || strays != 0 {
        return Err(fail!(
            "{line}; exit code {code:?}; {strays} orphans came to the suite"
        ));
    }
    say_detail(&line);
    Ok(())
}

fn say_detail(line: &Text) {
    crate::out::say!("# {line}");
}

fn container_exit_codes(s: &mut Suite) -> Outcome {
    let cases = [
        (s.probe_under(&[c"--"], &[c"exit", c"5"]), 5),
        (s.probe_under(&[c"--"], &[c"kill", c"15"]), 128 + 15),
        (s.probe_under(&[c"-e", c"5", c"--"], &[c"exit", c"5"]), 0),
    ];
    codes(
        s,
        "container_init_exit_codes",
        &cases,
        Place::Container,
        Stderr::Shown,
    )
}

/// As the program of a machine-mode PID 1 (the guest): the four mounts are there, every
/// signal sent to PID 1 (32 and 33 too) reaches this program, and 1,000 orphans
/// re-parented to PID 1 are reaped.
fn machine_pid1(_s: &mut Suite) -> Outcome {
    if getppid() != 1 || getpid() == 1 {
        return Err(Fail::Skip(Text::of(format_args!(
            "not the program of a machine-mode PID 1 (runs in the guest)"
        ))));
    }
    let mut mounts = [0u8; 8192];
    let n = clonekit::procfs::read(c"/proc/self/mounts", &mut mounts)
        .map_err(|e| fail!("reading /proc/self/mounts: {e}"))?;
    let mounts = &mounts[..n];
    for want in [
        " /proc proc ",
        " /sys sysfs ",
        " /dev devtmpfs ",
        " /tmp tmpfs ",
    ] {
        if !mounts.windows(want.len()).any(|w| w == want.as_bytes()) {
            return Err(fail!("no mount `{want}` in /proc/self/mounts"));
        }
    }
    let mut set = catchable();
    set.remove(Signal::SIGCHLD);
    let mut recorder = Recorder::install(set).map_err(|e| fail!("handlers: {e}"))?;
    let result = (|| {
        let all = (1..=Signal::MAX)
            .filter_map(Signal::from_raw)
            .filter(|sig| clonekit::init::FORWARDED.contains(*sig));
        let mut count = 0;
        for sig in all {
            kill(1, sig).map_err(|e| fail!("kill(1, {sig}): {e}"))?;
            let mut got = SigSet::empty();
            let mut waited = 0;
            while !got.contains(sig) && waited < LINE_MS {
                recorder
                    .wait(None, Some(&Timespec::from_millis(100)), |s| got.add(s))
                    .map_err(|e| fail!("waiting: {e}"))?;
                waited += 100;
            }
            if !got.contains(sig) {
                return Err(fail!("{sig} sent to PID 1 did not reach its program"));
            }
            count += 1;
        }
        crate::out::say!("# {count} signals sent to PID 1 reached its program");
        Ok(())
    })();
    recorder.uninstall();
    result?;
    // The orphans must go to PID 1, not to this process.
    let _ = set_child_subreaper(false);
    let storm = orphans::storm(1000, 1);
    let _ = set_child_subreaper(true);
    let storm = storm.map_err(|why| fail!("storm: {why}"))?;
    crate::out::say!(
        "# 1000 orphans of PID 1: {} left after {} ms",
        storm.left,
        storm.ms
    );
    if storm.left != 0 {
        return Err(fail!(
            "{} of 1000 orphans left ({} zombies)",
            storm.left,
            storm.zombies
        ));
    }
    Ok(())
}
