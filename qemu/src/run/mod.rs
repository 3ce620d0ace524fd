//! `run`: any program, in a real kernel of any of the three arches.
//!
//! ```text
//! clonekit-qemu run --arch ARCH [--kernel K | --kernel-image PATH] [--smp N] [--memory MiB]
//!     [--file SRC[:DST]]... [--env K=V]... [--timeout S] -- PROGRAM [ARGS]...
//! ```
//!
//! In the order it happens:
//! 1. [`elf_deps`], [`libs`]: PROGRAM is checked (an ELF for ARCH, or a script whose
//!    interpreter is packed) and its ELF interpreter and shared libraries are found in the
//!    target's library directories; anything missing is refused before booting;
//! 2. [`pack`]: the guest's tree: PROGRAM at its own absolute path, its loader and
//!    libraries, the `--file`s, the files `CARGO_BIN_EXE_*` name, the working directory
//!    (the caller's, empty), clonekit-init as `/init` and the launcher ([`guest`]: built
//!    into the cache on first use) and the launch [`spec`]: argv, environment and the
//!    output devices;
//! 3. [`vm`]: qemu-system with the console and the program's stdout and stderr on three
//!    sockets; the program's bytes go to this process's stdout and stderr as they come, the
//!    console to a log in the cache;
//! 4. [`outcome`]: the exit code: the program's own, or one of five for what went wrong.
//!
//! Nothing but the program's own output reaches stdout and stderr, except on first use
//! (fetching a kernel, building clonekit-init: one line each) and when the run fails
//! (a `clonekit-qemu:` message and the end of the console).

pub mod busybox;
pub mod check;
pub mod elf_deps;
pub mod guest;
pub mod libs;
pub mod outcome;
pub mod pack;
pub mod spec;
pub mod suite;
pub mod vm;

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::kernel::{self, image};
use crate::workspace;
use elf_deps::ElfInfo;
use libs::{HostFiles, SearchPath};
use outcome::{Console, Ending};

use crate::guest::verdict;
use pack::{Tree, guest_path};
use vm::{Channels, Machine};

/// `run`'s command line.
#[derive(clap::Args, Debug, Clone)]
#[command(
    about = "Run a program (or a test binary, as a cargo runner) in a real kernel of any arch",
    long_about = "Packs PROGRAM, its ELF interpreter and shared libraries, and the given files \
                  into an initramfs with clonekit-init as /init, boots it in qemu-system-ARCH \
                  (TCG), streams the program's stdout and stderr to this process's, and exits \
                  with the program's exit code (128+N for signal N).\n\n\
                  Exit codes of its own: 121 the machine went down after the program started \
                  without its status, 122 kernel panic, 123 the boot never reached the program, \
                  124 timeout, 125 refused or failed before running (see docs/runner.md).\n\n\
                  As a cargo runner (.cargo/config.toml):\n  \
                  [target.aarch64-unknown-linux-gnu]\n  \
                  runner = [\"clonekit-qemu\", \"run\", \"--arch\", \"aarch64\", \"--\"]"
)]
pub struct RunArgs {
    /// The guest architecture: x86_64, aarch64 or riscv64 (amd64, arm64, riscv64gc too)
    #[arg(long, value_parser = parse_arch)]
    pub arch: Arch,

    /// A Debian kernel: 5.10, 6.1 (x86_64, aarch64), 6.12 or latest; fetched into the cache
    #[arg(long, value_name = "K", default_value = kernel::DEFAULT)]
    pub kernel: String,

    /// Boot this kernel image instead (bzImage or PVH vmlinux for x86_64, Image for
    /// aarch64 and riscv64)
    #[arg(long, value_name = "PATH", conflicts_with = "kernel")]
    pub kernel_image: Option<PathBuf>,

    /// Virtual CPUs (1 boots fastest under TCG: with 2, aarch64's boot before its clock
    /// starts takes 0.2 s longer, and two guests at once on two cores contend)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub smp: u32,

    /// Guest memory in MiB
    #[arg(long, value_name = "MiB", default_value_t = 512, value_parser = clap::value_parser!(u32).range(128..=65536))]
    pub memory: u32,

    /// Also pack this host file or directory, at DST in the guest (default: the same path)
    #[arg(long = "file", value_name = "SRC[:DST]")]
    pub files: Vec<String>,

    /// Set this variable for the program (after the forwarded ones; repeatable)
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(OsString, OsString)>,

    /// Pack a shell and the usual commands: Debian's busybox-static, its applets in
    /// /usr/bin, and /bin, /sbin linked there (fetched into the cache on first use)
    #[arg(long)]
    pub busybox: bool,

    /// Do not forward this process's RUST_* and CARGO_* variables to the program
    #[arg(long)]
    pub no_host_env: bool,

    /// Search this root file system (DIR/lib, DIR/usr/lib/<multiarch>, ...) first for the
    /// program's interpreter and libraries
    #[arg(long = "sysroot", value_name = "DIR")]
    pub sysroots: Vec<PathBuf>,

    /// The longest the whole run may take, boot included, in seconds (at least 1)
    #[arg(long, value_name = "S", default_value_t = 300, value_parser = parse_timeout)]
    pub timeout: u64,

    /// Print where the time went (packing, boot, program) and the log's path on stderr
    #[arg(short, long)]
    pub verbose: bool,

    /// Put the kernel's log in the run's log from its first line (earlycon, notice level;
    /// slower), which also times the kernel's start for -v
    #[arg(long)]
    pub kernel_log: bool,

    /// The program and its arguments (cargo appends them after the runner's `--`)
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM [ARGS]"
    )]
    pub command: Vec<OsString>,
}

fn parse_arch(s: &str) -> Result<Arch, String> {
    s.parse::<Arch>().map_err(|e| e.to_string())
}

/// `K=V`: a non-empty name without `=` or NUL, a value without NUL.
pub fn parse_env(s: &str) -> Result<(OsString, OsString), String> {
    let Some((k, v)) = s.split_once('=') else {
        return Err(format!("`{s}` is not K=V (write --env {s}=VALUE)"));
    };
    if k.is_empty() {
        return Err(format!("`{s}` has an empty variable name"));
    }
    if s.contains('\0') {
        return Err("a variable cannot hold a NUL byte".into());
    }
    Ok((k.into(), v.into()))
}

/// Seconds, at least 1: there is no "no limit" (a hung guest would hang CI).
pub fn parse_timeout(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err(
            "the timeout must be at least 1 second: it bounds the whole run, and \
                      there is no \"no limit\" (give e.g. --timeout 600)"
                .into(),
        ),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a number of seconds")),
    }
}

/// Runs and returns the exit code (errors are 125, printed).
pub fn command(args: &RunArgs) -> i32 {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("clonekit-qemu: {e:#}");
            outcome::TOOL_FAILED
        }
    }
}

/// Where the time went, for `--verbose` and the log.
#[derive(Debug, Default)]
pub struct Timings {
    /// Checking, resolving, building (first use) and writing the initramfs.
    pub prepare: Duration,
    /// QEMU start to the kernel's first line (`--kernel-log` only: its banner, `Linux
    /// version ...`).
    pub kernel_start: Option<Duration>,
    /// QEMU start to the launcher's exec line.
    pub to_exec: Option<Duration>,
    /// The kernel's uptime at that line (its own boot, firmware excluded).
    pub kernel_uptime: Option<f64>,
    /// QEMU start to clonekit-init's status line.
    pub to_status: Option<Duration>,
    /// QEMU start to QEMU's exit.
    pub qemu: Duration,
    /// This command's start to its end.
    pub total: Duration,
}

/// The result of one run.
pub struct Finished {
    pub ending: Ending,
    pub timings: Timings,
    pub log: PathBuf,
}

fn run(args: &RunArgs) -> Result<i32> {
    let finished = run_program(args)?;
    let code = finished.ending.exit_code();
    if let Some(message) = finished.ending.message(Duration::from_secs(args.timeout)) {
        eprintln!(
            "clonekit-qemu: {message}; the console is in {}",
            finished.log.display()
        );
    }
    if args.verbose {
        eprintln!("clonekit-qemu: {}", describe_timings(&finished.timings));
        eprintln!("clonekit-qemu: log {}", finished.log.display());
    }
    Ok(code)
}

/// `prepare 0.02s, kernel started at 0.15s, program started at 2.36s (kernel uptime
/// 1.70s), exit status at 2.41s, QEMU ran 2.43s, total 2.45s` (times from QEMU's start).
pub fn describe_timings(t: &Timings) -> String {
    let opt = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.2}s", d.as_secs_f64()));
    format!(
        "prepare {:.2}s, kernel started at {}, program started at {} (kernel uptime {}), exit status at {}, QEMU ran {:.2}s, total {:.2}s",
        t.prepare.as_secs_f64(),
        opt(t.kernel_start),
        opt(t.to_exec),
        t.kernel_uptime.map_or("-".into(), |u| format!("{u:.2}s")),
        opt(t.to_status),
        t.qemu.as_secs_f64(),
        t.total.as_secs_f64()
    )
}

/// A prepared run: everything checked and packed.
struct Prepared {
    kernel_image: PathBuf,
    kernel_label: String,
    channels: Channels,
    dir: RunDir,
    initramfs: PathBuf,
}

/// Prepares, boots and judges one run.
pub fn run_program(args: &RunArgs) -> Result<Finished> {
    let started = Instant::now();
    let prepared = prepare(args)?;
    let prepare_time = started.elapsed();
    let mut finished = boot(args, &prepared)?;
    if crashed_before_program(&finished) {
        // An x86_64 kernel under TCG on a busy host occasionally oopses while it patches its
        // own code, long before init (see docs/qemu.md); the program has not run, nothing of
        // it was written: boot once more, as the boot matrix does, and say so in both logs.
        let first = finished.log.clone();
        finished = boot(args, &prepared)?;
        append_log(
            &first,
            &format!(
                "the kernel crashed before the program ran: booted again, see {}\n",
                finished.log.display()
            ),
        );
        append_log(
            &finished.log,
            &format!(
                "second boot: the first crashed before the program ran ({})\n",
                first.display()
            ),
        );
    }
    finished.timings.prepare = prepare_time;
    finished.timings.total = started.elapsed();
    append_log(
        &finished.log,
        &format!("timings: {}\n", describe_timings(&finished.timings)),
    );
    Ok(finished)
}

/// Whether the kernel crashed before the program was started (then nothing of it ran): a
/// panic the boot matrix would boot again for too (not the init's own death).
fn crashed_before_program(finished: &Finished) -> bool {
    finished.timings.to_exec.is_none()
        && matches!(&finished.ending, Ending::KernelPanic(line)
            if verdict::panic_reason(line).is_some_and(verdict::worth_a_second_boot))
}

/// The program as the host has it: its file and its absolute path (the guest path too).
fn locate_program(word: &OsStr) -> Result<(PathBuf, String)> {
    let as_path = Path::new(word);
    let host = if word.as_bytes().contains(&b'/') {
        as_path.to_path_buf()
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(as_path))
            .find(|p| p.is_file())
            .with_context(|| {
                format!(
                    "PROGRAM `{}` has no `/` and is not in PATH: give its path",
                    as_path.display()
                )
            })?
    };
    let meta = std::fs::metadata(&host).with_context(|| format!("PROGRAM {}", host.display()))?;
    if !meta.is_file() {
        bail!("PROGRAM {} is not a file", host.display());
    }
    // The directory resolved (no `..`, no linked directory), the name kept.
    let name = host
        .file_name()
        .with_context(|| format!("PROGRAM {} has no file name", host.display()))?;
    let parent = match host.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::fs::canonicalize(&parent)
        .with_context(|| format!("resolving {}", parent.display()))?;
    let guest = guest_path(&dir.join(name))?;
    Ok((host, guest))
}

/// The first line of a script: its interpreter (`#!/bin/sh -e` gives `/bin/sh`).
pub fn script_interpreter(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim();
    line.split_whitespace().next().map(str::to_string)
}

/// The program's environment: defaults, this process's `RUST_*` and `CARGO_*` (unless
/// `--no-host-env`), then `--env`; a later value replaces an earlier one in place.
pub fn guest_env(
    host: impl IntoIterator<Item = (OsString, OsString)>,
    forward: bool,
    extra: &[(OsString, OsString)],
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![
        (
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ),
        ("HOME".into(), "/root".into()),
    ];
    let mut set = |k: OsString, v: OsString| match env.iter_mut().find(|(name, _)| *name == k) {
        Some(slot) => slot.1 = v,
        None => env.push((k, v)),
    };
    if forward {
        let mut forwarded: Vec<(OsString, OsString)> = host
            .into_iter()
            .filter(|(k, _)| {
                let k = k.as_bytes();
                k.starts_with(b"RUST_") || k.starts_with(b"CARGO_")
            })
            .collect();
        forwarded.sort();
        for (k, v) in forwarded {
            set(k, v);
        }
    }
    for (k, v) in extra {
        set(k.clone(), v.clone());
    }
    env
}

/// What rustdoc's merged doctests (edition 2024) need to run as they do natively.
///
/// Such a program holds every doctest of a crate. When `RUSTDOC_DOCTEST_BIN_PATH` names it,
/// it runs each doctest as a process of its own (it starts itself again with
/// `RUSTDOC_DOCTEST_RUN_NB_TEST=N`); without it, each doctest runs on a thread of the test
/// harness, where nothing is single-threaded. rustdoc sets the variable when it runs the
/// program itself, but not when it hands it to a runner (`--test-runtool`, which cargo
/// passes for a target's `runner`), so the runner sets it as rustdoc would have. Recognised
/// as an ELF file holding the strings of rustdoc's generated `main`: both variables' names
/// and its warning for a run without them (as rustdoc 1.95 writes it).
pub fn doctest_bundle_env(program: &[u8], program_guest: &str) -> Option<(OsString, OsString)> {
    const MARKS: [&[u8]; 3] = [
        b"RUSTDOC_DOCTEST_BIN_PATH",
        b"RUSTDOC_DOCTEST_RUN_NB_TEST",
        b"No rustdoc doctest environment variable provided",
    ];
    let holds = |needle: &[u8]| program.windows(needle.len()).any(|w| w == needle);
    (program.starts_with(b"\x7fELF") && MARKS.iter().all(|m| holds(m))).then(|| {
        (
            OsString::from("RUSTDOC_DOCTEST_BIN_PATH"),
            OsString::from(program_guest),
        )
    })
}

/// `SRC[:DST]`: DST starts at the first `:/`, so a SRC may hold a `:` not followed by `/`.
pub fn parse_file_arg(arg: &str) -> Result<(PathBuf, String)> {
    let (src, dst) = match arg.find(":/") {
        Some(at) => (&arg[..at], Some(&arg[at + 1..])),
        None => (arg, None),
    };
    if src.is_empty() {
        bail!("--file `{arg}` names no host file");
    }
    let host = PathBuf::from(src);
    let guest = match dst {
        Some(dst) => guest_path(Path::new(dst))?,
        None => guest_path(&std::path::absolute(&host).with_context(|| format!("--file {src}"))?)
            .with_context(|| format!("--file {src}: give a guest path, --file {src}:/DST"))?,
    };
    Ok((host, guest))
}

/// Adds an ELF file's loader and libraries (when it is a dynamic program of this arch).
fn add_closure(tree: &mut Tree, host: &Path, bytes: &[u8], search: &SearchPath) -> Result<()> {
    let Ok(info) = ElfInfo::parse(bytes) else {
        return Ok(());
    };
    if info.machine != elf_deps::machine_of(search.arch) || info.is_static() {
        return Ok(());
    }
    let closure = libs::closure(host, &info, search, &HostFiles)?;
    for file in closure.interpreter.iter().chain(&closure.libraries) {
        tree.file(&file.guest, &file.host, Some(0o755))?;
    }
    Ok(())
}

/// A `--kernel-image`'s `.config`, when one lies beside it (`config-<version>` next to
/// `vmlinuz-<version>`, as in `/boot`, or `config`).
fn config_beside(image: &Path) -> Option<String> {
    let dir = image.parent()?;
    let name = image.file_name()?.to_str()?;
    let version = name
        .strip_prefix("vmlinuz-")
        .or_else(|| name.strip_prefix("vmlinux-"));
    let mut candidates = Vec::new();
    if let Some(v) = version {
        candidates.push(dir.join(format!("config-{v}")));
    }
    candidates.push(dir.join("config"));
    candidates
        .into_iter()
        .find_map(|c| std::fs::read_to_string(c).ok())
}

/// The kernel to boot, its label, and its `.config` if known.
fn choose_kernel(args: &RunArgs) -> Result<(PathBuf, String, Option<String>)> {
    let arch = args.arch;
    if let Some(path) = &args.kernel_image {
        let format = image::check_file(arch, path).with_context(|| {
            format!(
                "--kernel-image {} is not a kernel QEMU can boot on {arch}",
                path.display()
            )
        })?;
        if format == image::Format::Elf
            && !image::has_pvh_entry(&std::fs::read(path).unwrap_or_default())
        {
            bail!(
                "--kernel-image {} is an ELF vmlinux without a PVH entry point \
                 (CONFIG_PVH), which QEMU cannot boot: give the bzImage (vmlinuz) instead",
                path.display()
            );
        }
        return Ok((
            path.clone(),
            path.display().to_string(),
            config_beside(path),
        ));
    }
    let release = kernel::release_for(&args.kernel, arch)?;
    let k = kernel::get(release, arch)
        .with_context(|| format!("the {arch} kernel {} could not be fetched", release.name))?;
    for needed in ["CONFIG_BLK_DEV_INITRD", "CONFIG_DEVTMPFS"] {
        if k.missing_config.contains(&needed) {
            bail!("{} lacks {needed}=y, which run needs", k.package);
        }
    }
    let config = k
        .image
        .parent()
        .and_then(|d| std::fs::read_to_string(d.join("config")).ok());
    Ok((
        k.image.clone(),
        format!(
            "{} {} (Linux {})",
            k.package,
            k.version,
            kernel::linux_version(&k.version)
        ),
        config,
    ))
}

/// The minimal `/etc` every guest gets (unless `--file` packs its own): root's account
/// and group, and `localhost` (the launcher brings `lo` up).
const ETC: [(&str, &str); 3] = [
    ("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
    ("/etc/group", "root:x:0:\n"),
    ("/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"),
];

/// A directory of this run's own (sockets, initramfs), removed at the end.
struct RunDir(PathBuf);

impl RunDir {
    fn create() -> Result<RunDir> {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Socket paths must stay under 108 bytes: the temporary directory, not the cache.
        let tmp = std::env::temp_dir();
        remove_stale_run_dirs(&tmp);
        let dir = tmp.join(format!("clonekit-run-{}-{n}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(RunDir(dir))
    }
}

/// Removes `clonekit-run-<pid>-<n>` directories of processes that are gone (a run killed
/// by Ctrl-C leaves its own).
fn remove_stale_run_dirs(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("clonekit-run-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn prepare(args: &RunArgs) -> Result<Prepared> {
    let arch = args.arch;
    let (program_word, program_args) = args.command.split_first().context("no PROGRAM given")?;
    let (program_host, program_guest) = locate_program(program_word)?;
    let bytes = std::fs::read(&program_host)
        .with_context(|| format!("reading {}", program_host.display()))?;
    let search = SearchPath {
        arch,
        ld_library_path: std::env::var_os("LD_LIBRARY_PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .filter(|d| d.is_absolute())
                    .collect()
            })
            .unwrap_or_default(),
        sysroots: args.sysroots.clone(),
    };
    let mut tree = Tree::new();
    for (dir, mode) in [
        ("/dev", 0o755),
        ("/proc", 0o555),
        ("/sys", 0o555),
        ("/tmp", 0o1777),
        ("/root", 0o700),
        ("/.clonekit", 0o755),
    ] {
        tree.dir(dir, mode)?;
    }
    let what = format!("PROGRAM {}", program_host.display());
    let interpreter = script_interpreter(&bytes);
    if interpreter.is_none() {
        let info = ElfInfo::parse(&bytes)
            .with_context(|| format!("{what} is neither an ELF program nor a `#!` script"))?;
        info.check_arch(arch, &what)?;
        if !info.is_executable_kind() {
            bail!(
                "{what} is an ELF file but not a program (e_type {})",
                info.kind
            );
        }
    }
    tree.file(&program_guest, &program_host, None)?;
    add_closure(&mut tree, &program_host, &bytes, &search)?;

    let mut env = guest_env(std::env::vars_os(), !args.no_host_env, &args.env);
    if let Some(var) = doctest_bundle_env(&bytes, &program_guest)
        && !env.iter().any(|(k, _)| *k == var.0)
    {
        env.push(var);
    }
    // Files the environment names: the package's binaries (integration tests run them) and
    // the directories cargo gives tests.
    for (k, v) in &env {
        let k = k.to_string_lossy();
        let path = Path::new(v);
        if k.starts_with("CARGO_BIN_EXE_") && path.is_absolute() && path.is_file() {
            let guest = guest_path(path)?;
            tree.file(&guest, path, None)?;
            add_closure(&mut tree, path, &std::fs::read(path)?, &search)?;
        } else if matches!(k.as_ref(), "CARGO_TARGET_TMPDIR" | "CARGO_MANIFEST_DIR")
            && path.is_absolute()
            && let Ok(guest) = guest_path(path)
            && !tree.contains(&guest)
        {
            tree.dir(&guest, 0o755)?;
        }
    }
    for arg in &args.files {
        let (host, guest) = parse_file_arg(arg)?;
        for (file_guest, file_host) in tree.host_tree(&guest, &host)? {
            let data = std::fs::read(&file_host)?;
            add_closure(&mut tree, &file_host, &data, &search)
                .with_context(|| format!("--file {arg}: {file_guest}"))?;
        }
    }
    if args.busybox {
        busybox::pack(&mut tree, &busybox::get(arch)?)?;
    }
    for (path, content) in ETC {
        if !tree.exists(path) {
            tree.bytes(path, content.as_bytes().to_vec(), 0o644)?;
        }
    }
    if let Some(interp) = &interpreter
        && !tree.exists(interp)
    {
        bail!(
            "{what} is a script for {interp}, which is not in the guest: add --busybox (a \
             static shell and the usual commands), or pack one with --file HOST:{interp}"
        );
    }
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|d| guest_path(&d).ok())
        .unwrap_or_else(|| "/".into());
    if !tree.contains(&cwd) {
        tree.dir(&cwd, 0o755)?;
    }

    let (kernel_image, kernel_label, config) = choose_kernel(args)?;
    let channels = Channels::for_kernel(arch, config.as_deref())?;
    let (stdout_device, stderr_device) = channels.devices(arch);
    let programs = guest::get(arch)?;
    tree.file("/init", &programs.init, Some(0o755))?;
    tree.file(spec::LAUNCHER, &programs.launcher, Some(0o755))?;
    let packed_tmp = tree.has_below("/tmp");
    let mut argv = vec![program_word.clone()];
    argv.extend(program_args.iter().cloned());
    let spec = spec::Spec {
        stdout_device: stdout_device.into(),
        stderr_device: stderr_device.into(),
        cwd: cwd.into(),
        packed_tmp,
        program: program_guest.into(),
        argv,
        env: env
            .iter()
            .map(|(k, v)| {
                let mut kv = k.clone();
                kv.push("=");
                kv.push(v);
                kv
            })
            .collect(),
    };
    tree.bytes(spec::PATH, spec.encode()?, 0o644)?;

    let archive = tree.archive()?;
    let mib = archive.len().div_ceil(1 << 20) as u32;
    let needed = 2 * mib + 128;
    if args.memory < needed {
        bail!(
            "the initramfs is {mib} MiB, which the guest holds twice while unpacking it: \
             give --memory {needed} or more"
        );
    }
    let dir = RunDir::create()?;
    let initramfs = dir.0.join("initramfs.cpio");
    std::fs::write(&initramfs, archive)
        .with_context(|| format!("writing {}", initramfs.display()))?;
    Ok(Prepared {
        kernel_image,
        kernel_label,
        channels,
        dir,
        initramfs,
    })
}

/// The log of a run: `$XDG_CACHE_HOME/clonekit/logs/run-<unix time>-<pid>-<arch>.log`;
/// only the newest [`LOGS_KEPT`] are kept.
fn new_log(arch: Arch) -> Result<PathBuf> {
    let dir = workspace::cache_dir()?.join("logs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    prune_logs(&dir);
    Ok(dir.join(format!("run-{now}-{}-{arch}.log", std::process::id())))
}

/// How many run logs the cache keeps.
const LOGS_KEPT: usize = 200;

fn prune_logs(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut logs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("run-"))
        })
        .collect();
    if logs.len() < LOGS_KEPT {
        return;
    }
    logs.sort();
    for old in &logs[..logs.len() + 1 - LOGS_KEPT] {
        let _ = std::fs::remove_file(old);
    }
}

fn append_log(log: &Path, text: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
        let _ = f.write_all(text.as_bytes());
    }
}

/// Accepts QEMU's connection on `listener`, unless QEMU ends first.
fn accept(listener: &UnixListener, qemu_done: &AtomicBool) -> Option<UnixStream> {
    listener.set_nonblocking(true).ok()?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                return Some(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if qemu_done.load(Ordering::Acquire) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => return None,
        }
    }
}

/// Copies a stream to `out` as the bytes come (flushing each time); write errors (a
/// closed pipe) stop the writing but not the reading, so QEMU never blocks.
fn relay(mut from: UnixStream, out: &mut dyn Write) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    let mut writing = true;
    loop {
        match from.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => {
                total += n as u64;
                if writing && (out.write_all(&buf[..n]).is_err() || out.flush().is_err()) {
                    writing = false;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return total,
        }
    }
}

fn boot(args: &RunArgs, p: &Prepared) -> Result<Finished> {
    let arch = args.arch;
    let log = new_log(arch)?;
    let listeners: Vec<UnixListener> = ["con", "out", "err"]
        .iter()
        .map(|name| {
            let path = p.dir.0.join(name);
            UnixListener::bind(&path).with_context(|| format!("listening on {}", path.display()))
        })
        .collect::<Result<_>>()?;
    let qemu_args = vm::qemu_args(&Machine {
        arch,
        kernel: &p.kernel_image,
        initramfs: &p.initramfs,
        smp: args.smp,
        memory_mib: args.memory,
        channels: p.channels,
        sockets: &p.dir.0,
        kernel_log: args.kernel_log,
    });
    let binary = arch.qemu_system_binary();
    std::fs::write(
        &log,
        format!(
            "clonekit-qemu run: {}\nkernel: {}\nchannels: {:?}\n{binary} {}\n--- console ---\n",
            args.command
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            p.kernel_label,
            p.channels,
            crate::guest::qemu_args::shell_words(&qemu_args)
        ),
    )
    .with_context(|| format!("writing {}", log.display()))?;

    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(&qemu_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "{binary} is not installed: `apt-get install {}`{}",
                arch.qemu_system_package(),
                arch.firmware_package()
                    .map_or(String::new(), |f| format!(" {f}"))
            ),
            _ => anyhow::Error::new(e).context(format!("starting {binary}")),
        })?;
    let done = Arc::new(AtomicBool::new(false));
    let qemu_stderr = child.stderr.take().context("no stderr")?;
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(qemu_stderr).read_to_string(&mut text);
        text
    });
    let [con, out, err]: [UnixListener; 3] = listeners
        .try_into()
        .map_err(|_| anyhow::anyhow!("three listeners"))?;
    let console_log = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .with_context(|| format!("opening {}", log.display()))?;
    let d = done.clone();
    let console = std::thread::spawn(move || {
        let mut lines: Vec<(Duration, String)> = Vec::new();
        let Some(stream) = accept(&con, &d) else {
            return lines;
        };
        let mut log = console_log;
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            let _ = log.write_all(&buf);
            lines.push((
                started.elapsed(),
                String::from_utf8_lossy(&buf).into_owned(),
            ));
            buf.clear();
        }
        lines
    });
    let d = done.clone();
    let stdout_relay = std::thread::spawn(move || {
        accept(&out, &d).map_or(0, |s| relay(s, &mut std::io::stdout()))
    });
    let d = done.clone();
    let stderr_relay = std::thread::spawn(move || {
        accept(&err, &d).map_or(0, |s| relay(s, &mut std::io::stderr()))
    });

    let limit = Duration::from_secs(args.timeout);
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            break (Some(status), false);
        }
        if started.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let qemu_time = started.elapsed();
    done.store(true, Ordering::Release);
    let lines = console.join().unwrap_or_default();
    let out_bytes = stdout_relay.join().unwrap_or(0);
    let err_bytes = stderr_relay.join().unwrap_or(0);
    let qemu_stderr = stderr_reader.join().unwrap_or_default();

    let console = Console::read(lines.iter().map(|(t, l)| (*t, l.as_str())));
    let mut ending = Ending::judge(&console, timed_out);
    append_log(
        &log,
        &format!(
            "--- end of console ---\nQEMU: {}; {out_bytes} bytes of stdout, {err_bytes} of stderr\n{}",
            status.map_or("killed at the time limit".to_string(), |s| s.to_string()),
            if qemu_stderr.is_empty() {
                String::new()
            } else {
                format!("--- QEMU's stderr ---\n{qemu_stderr}")
            }
        ),
    );
    // QEMU refusing its arguments or the kernel is this tool's failure, not the guest's.
    if console.exec.is_none() && lines.is_empty() && status.is_some_and(|s| !s.success()) {
        bail!(
            "{binary} failed ({}): {}; the command is in {}",
            status.map_or(String::new(), |s| s.to_string()),
            qemu_stderr.trim(),
            log.display()
        );
    }
    if !matches!(ending, Ending::Program(_)) {
        show_tail(&lines, &qemu_stderr);
        if let Ending::NeverReached(why) = &mut ending
            && !qemu_stderr.trim().is_empty()
        {
            why.push_str(&format!(" (QEMU said: {})", qemu_stderr.trim()));
        }
    }
    Ok(Finished {
        ending,
        timings: Timings {
            kernel_start: console.kernel_start,
            to_exec: console.exec.map(|(t, _)| t),
            kernel_uptime: console.exec.and_then(|(_, u)| u),
            to_status: console.status.map(|(t, _)| t),
            qemu: qemu_time,
            ..Timings::default()
        },
        log,
    })
}

/// The console's last lines on stderr, for a run that went wrong.
fn show_tail(lines: &[(Duration, String)], qemu_stderr: &str) {
    const TAIL: usize = 20;
    eprintln!("clonekit-qemu: --- the console's last {TAIL} lines ---");
    for (_, line) in &lines[lines.len().saturating_sub(TAIL)..] {
        eprintln!(
            "| {}",
            crate::guest::console::printable(line.trim_end_matches(['\n', '\r']))
        );
    }
    if !qemu_stderr.trim().is_empty() {
        eprintln!("clonekit-qemu: QEMU said: {}", qemu_stderr.trim());
    }
    eprintln!("clonekit-qemu: ---");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_panic_before_the_program_started_is_booted_again() {
        let finished = |ending, started: bool| Finished {
            ending,
            timings: Timings {
                to_exec: started.then(|| Duration::from_secs(1)),
                ..Timings::default()
            },
            log: PathBuf::from("/x.log"),
        };
        let oops = || {
            Ending::KernelPanic("Kernel panic - not syncing: Fatal exception in interrupt".into())
        };
        assert!(crashed_before_program(&finished(oops(), false)));
        // The init's own death would happen again: no second boot.
        let init_died = Ending::KernelPanic(
            "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100".into(),
        );
        assert!(!crashed_before_program(&finished(init_died, false)));
        // Once the program ran, its output may be out: no second run of it.
        assert!(!crashed_before_program(&finished(oops(), true)));
        assert!(!crashed_before_program(&finished(
            Ending::Program(0),
            false
        )));
        assert!(!crashed_before_program(&finished(Ending::Timeout, true)));
    }
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(words: &[&str]) -> Result<RunArgs, String> {
        Cli::try_parse_from(std::iter::once("run").chain(words.iter().copied()))
            .map(|c| c.run)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_runner_line_and_everything_after_it_parse() {
        let a = parse(&[
            "--arch",
            "arm64",
            "--",
            "/t/deps/x-123",
            "--test-threads=1",
            "--exact",
            "--",
            "a b",
        ])
        .unwrap();
        assert_eq!(a.arch, Arch::Aarch64);
        assert_eq!(
            a.command,
            ["/t/deps/x-123", "--test-threads=1", "--exact", "--", "a b"]
        );
        assert_eq!(
            (a.kernel.as_str(), a.smp, a.memory, a.timeout),
            ("6.12", 1, 512, 300)
        );
        // Without `--`, the program's own options still go to the program.
        let a = parse(&["--arch", "x86_64", "/bin/true", "--version", "-v"]).unwrap();
        assert_eq!(a.command, ["/bin/true", "--version", "-v"]);
        assert!(!a.verbose);
        let a = parse(&[
            "--arch",
            "riscv64",
            "--kernel",
            "latest",
            "--smp",
            "1",
            "--memory",
            "1024",
            "--env",
            "A=b=c",
            "--env",
            "EMPTY=",
            "--file",
            "data:/srv/data",
            "--timeout",
            "60",
            "-v",
            "prog",
        ])
        .unwrap();
        assert_eq!(
            a.env,
            [("A".into(), "b=c".into()), ("EMPTY".into(), "".into())]
        );
        assert_eq!((a.smp, a.memory, a.timeout, a.verbose), (1, 1024, 60, true));
        assert_eq!(a.files, ["data:/srv/data"]);
    }

    #[test]
    fn bad_values_are_refused_naming_the_fix() {
        let e = parse(&["--arch", "x86_64", "--timeout", "0", "p"]).unwrap_err();
        assert!(
            e.contains("at least 1 second") && e.contains("--timeout 600"),
            "{e}"
        );
        let e = parse(&["--arch", "mips", "p"]).unwrap_err();
        assert!(e.contains("unknown architecture `mips`"), "{e}");
        let e = parse(&["--arch", "x86_64", "--env", "NOVALUE", "p"]).unwrap_err();
        assert!(e.contains("is not K=V"), "{e}");
        let e = parse(&["--arch", "x86_64", "--env", "=v", "p"]).unwrap_err();
        assert!(e.contains("empty variable name"), "{e}");
        let e = parse(&["--arch", "x86_64", "--smp", "0", "p"]).unwrap_err();
        assert!(e.contains("--smp"), "{e}");
        let e = parse(&["--arch", "x86_64", "--memory", "64", "p"]).unwrap_err();
        assert!(e.contains("--memory"), "{e}");
        let e = parse(&["--arch", "x86_64"]).unwrap_err();
        assert!(e.contains("PROGRAM"), "{e}");
        let e = parse(&["p"]).unwrap_err();
        assert!(e.contains("--arch"), "{e}");
        let e = parse(&[
            "--arch",
            "x86_64",
            "--kernel",
            "6.1",
            "--kernel-image",
            "/k",
            "p",
        ])
        .unwrap_err();
        assert!(e.contains("cannot be used with"), "{e}");
    }

    #[test]
    fn the_environment_is_defaults_then_rust_and_cargo_then_env() {
        let host = [
            ("HOME", "/home/u"),
            ("PATH", "/host/bin"),
            ("RUST_BACKTRACE", "1"),
            ("CARGO_PKG_NAME", "t"),
            ("RUSTFLAGS", "-Cx"),
            ("RUSTUP_TOOLCHAIN", "stable"),
            ("TERM", "xterm"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let env = guest_env(host.clone(), true, &[("HOME".into(), "/tmp".into())]);
        let names: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect();
        assert_eq!(
            names,
            [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/tmp",
                "CARGO_PKG_NAME=t",
                "RUST_BACKTRACE=1"
            ]
        );
        let env = guest_env(host, false, &[]);
        assert_eq!(env.len(), 2);
    }

    #[test]
    fn file_arguments_split_at_the_guest_path() {
        assert_eq!(
            parse_file_arg("a:b:/x/y").unwrap(),
            (PathBuf::from("a:b"), "/x/y".to_string())
        );
        let (host, guest) = parse_file_arg("/etc/hostname").unwrap();
        assert_eq!(
            (host.to_str().unwrap(), guest.as_str()),
            ("/etc/hostname", "/etc/hostname")
        );
        let (_, guest) = parse_file_arg("rel/f").unwrap();
        assert!(guest.ends_with("/rel/f") && guest.starts_with('/'));
        assert!(parse_file_arg(":/x").is_err());
        assert!(parse_file_arg("a:/x/../y").is_err());
    }

    #[test]
    fn a_merged_doctest_program_is_given_its_own_path_as_rustdoc_would() {
        let bundle = b"\x7fELF...RUSTDOC_DOCTEST_BIN_PATH\0...RUSTDOC_DOCTEST_RUN_NB_TEST\0\
            WARNING: No rustdoc doctest environment variable provided so doctests will be run";
        assert_eq!(
            doctest_bundle_env(bundle, "/t/rustdoctest/rust_out"),
            Some((
                "RUSTDOC_DOCTEST_BIN_PATH".into(),
                "/t/rustdoctest/rust_out".into()
            ))
        );
        // A test binary (or any other program) is left alone, even one naming one variable.
        assert_eq!(
            doctest_bundle_env(b"\x7fELF...RUSTDOC_DOCTEST_BIN_PATH", "/p"),
            None
        );
        assert_eq!(doctest_bundle_env(b"\x7fELF test harness", "/p"), None);
        // A script that names them is no doctest program.
        let script = [&b"#!/bin/sh\n"[..], &bundle[4..]].concat();
        assert_eq!(doctest_bundle_env(&script, "/p"), None);
    }

    #[test]
    fn scripts_name_their_interpreter() {
        assert_eq!(
            script_interpreter(b"#!/bin/sh -e\necho\n").as_deref(),
            Some("/bin/sh")
        );
        assert_eq!(
            script_interpreter(b"#! /usr/bin/env python3\n").as_deref(),
            Some("/usr/bin/env")
        );
        assert_eq!(script_interpreter(b"\x7fELF"), None);
    }

    #[test]
    fn a_program_is_found_in_path_and_refused_when_it_is_nowhere() {
        let (host, guest) = locate_program(OsStr::new("sh")).unwrap();
        assert!(host.is_absolute() && guest.ends_with("/sh"), "{guest}");
        let e = locate_program(OsStr::new("clonekit-no-such-program"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not in PATH"), "{e}");
        let e = locate_program(OsStr::new("/nonexistent/p")).unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/p"));
    }
}
