//! `boot <arch>`: boots a kernel with the init's initramfs in qemu-system, streams and
//! saves the serial console, and judges the KTAP report the init prints.
//!
//! The QEMU command line is built by one small function per concern (machine, firmware,
//! console, kernel command line, ...), each with its per-arch differences side by side.
//! A clean power-off, a reboot and a kernel panic all end QEMU with status 0, so the
//! verdict comes from the report alone: complete, and every case ok (or skipped, when
//! allowed).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::kernel::{self, KernelRelease};
use crate::ktap::{self, Report};
use crate::{initbuild, progress, workspace};

/// Guest memory: 128M works on all three; 64M hangs x86_64 and riscv64.
const MEMORY: &str = "256M";

/// How many lines of console output to show when a boot fails.
const TAIL_LINES: usize = 20;

/// What to boot and how.
pub struct BootOptions {
    pub arch: Arch,
    pub kernel: &'static KernelRelease,
    pub timeout: Duration,
    pub kvm: bool,
    /// Treat `# SKIP` cases as passing.
    pub allow_skip: bool,
    /// Boot this init binary instead of building init-demo.
    pub init: Option<PathBuf>,
    pub smp: u32,
    /// Extra kernel command line words (`k=v` reaches init's environment, bare words
    /// its argv).
    pub append: Option<String>,
}

impl BootOptions {
    pub fn new(arch: Arch, kernel: &'static KernelRelease) -> BootOptions {
        BootOptions {
            arch,
            kernel,
            timeout: Duration::from_secs(120),
            kvm: false,
            allow_skip: false,
            init: None,
            smp: 2,
            append: None,
        }
    }
}

/// The result of one boot.
pub struct Boot {
    pub report: Report,
    /// From starting QEMU to the line that completed the report.
    pub to_end_of_report: Option<Duration>,
    /// From starting QEMU to QEMU's exit.
    pub total: Duration,
    pub init_size: u64,
    pub log: PathBuf,
    /// `Ok` if the boot passed; otherwise why not.
    pub verdict: Result<(), String>,
}

/// The qemu-system binary for an architecture.
pub fn qemu_binary(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "qemu-system-x86_64",
        Arch::Aarch64 => "qemu-system-aarch64",
        Arch::Riscv64 => "qemu-system-riscv64",
    }
}

/// The Debian package that ships [`qemu_binary`].
pub fn qemu_package(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "qemu-system-x86",
        Arch::Aarch64 => "qemu-system-arm",
        Arch::Riscv64 => "qemu-system-misc",
    }
}

/// Machine and CPU. aarch64: `cortex-a57`, since `-cpu max` spends seconds on pointer
/// authentication under TCG. `-M microvm` hangs under TCG, so x86 uses `pc`.
pub fn machine_args(arch: Arch, kvm: bool) -> Vec<String> {
    let args: &[&str] = match (arch, kvm) {
        (Arch::X86_64, false) => &["-M", "pc"],
        (Arch::X86_64, true) => &["-M", "pc", "-enable-kvm", "-cpu", "host"],
        (Arch::Aarch64, _) => &["-M", "virt", "-cpu", "cortex-a57"],
        (Arch::Riscv64, _) => &["-M", "virt"],
    };
    strings(args)
}

/// Firmware. riscv64 needs OpenSBI (`-bios none` hangs silently); x86 uses the built-in
/// SeaBIOS, aarch64 boots the kernel directly.
pub fn firmware_args(arch: Arch) -> Vec<String> {
    match arch {
        Arch::Riscv64 => strings(&["-bios", "default"]),
        Arch::X86_64 | Arch::Aarch64 => Vec::new(),
    }
}

/// The serial console device the kernel writes to.
pub fn console_device(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 | Arch::Riscv64 => "ttyS0",
        Arch::Aarch64 => "ttyAMA0",
    }
}

/// The kernel command line: the console, `panic=-1` so a crash ends QEMU (with
/// `-no-reboot`), and `loglevel=1` so kernel chatter stays out of the report but
/// "Attempted to kill init" still shows.
pub fn kernel_cmdline(arch: Arch, extra: Option<&str>) -> String {
    let mut cmdline = format!("console={} panic=-1 loglevel=1", console_device(arch));
    if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
        cmdline.push(' ');
        cmdline.push_str(extra.trim());
    }
    cmdline
}

/// What every machine shares: no default devices, the serial port on stdio, no monitor,
/// exit instead of rebooting. `-smp 2` gives thread tests real parallelism; measured
/// here (TCG, tiny init, 3 runs) it costs nothing noticeable: boot to end of report
/// x86_64 2.2-2.3 s (-smp 1) vs 1.9-2.8 s (-smp 2), aarch64 1.7-1.9 vs 1.7-2.6 s,
/// riscv64 1.7-2.0 vs 1.6-1.7 s.
pub fn common_args(smp: u32) -> Vec<String> {
    let mut args = strings(&[
        "-nodefaults",
        "-nographic",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-no-reboot",
        "-m",
        MEMORY,
    ]);
    args.extend(["-smp".to_string(), smp.to_string()]);
    args
}

/// Kernel, initramfs and command line.
pub fn kernel_args(
    arch: Arch,
    kernel: &Path,
    initramfs: &Path,
    extra: Option<&str>,
) -> Vec<String> {
    vec![
        "-kernel".into(),
        kernel.display().to_string(),
        "-initrd".into(),
        initramfs.display().to_string(),
        "-append".into(),
        kernel_cmdline(arch, extra),
    ]
}

/// The whole QEMU argument list.
pub fn qemu_args(opts: &BootOptions, kernel: &Path, initramfs: &Path) -> Vec<String> {
    let arch = opts.arch;
    [
        machine_args(arch, opts.kvm),
        firmware_args(arch),
        common_args(opts.smp),
        kernel_args(arch, kernel, initramfs, opts.append.as_deref()),
    ]
    .concat()
}

/// An argument list as a shell command line, quoting what needs it.
pub fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Gets the kernel, builds (or packs) the initramfs, boots, and judges the report.
pub fn run(opts: &BootOptions) -> Result<Boot> {
    let arch = opts.arch;
    if opts.kvm {
        if arch != Arch::X86_64 {
            bail!("--kvm runs only the host's architecture (x86_64), not {arch}");
        }
        if !Path::new("/dev/kvm").exists() {
            bail!("--kvm: this machine has no /dev/kvm");
        }
    }
    let kernel = kernel::get(opts.kernel, arch).with_context(|| {
        format!(
            "the {arch} kernel {} is not cached and could not be fetched",
            opts.kernel.name
        )
    })?;
    if kernel.missing_config.contains(&"CONFIG_BLK_DEV_INITRD") {
        bail!(
            "{} cannot boot an initramfs (no CONFIG_BLK_DEV_INITRD)",
            kernel.package
        );
    }
    let initramfs = match &opts.init {
        Some(init) => initbuild::pack_custom(arch, init)?,
        None => initbuild::build(arch)?,
    };
    let log = workspace::qemu_dir().join(format!("{arch}-{}.log", opts.kernel.name));
    let args = qemu_args(opts, &kernel.image, &initramfs.path);
    progress::line(format_args!(
        "boot: {arch} with {} {} ({}), timeout {} s: {} {}",
        kernel.package,
        kernel.version,
        if opts.kvm { "KVM" } else { "TCG" },
        opts.timeout.as_secs(),
        qemu_binary(arch),
        shell_words(&args)
    ));
    let console = run_qemu(arch, &args, opts.timeout, &log)?;
    let report = ktap::parse(&console_text(&console.lines, console.cut_mid_line));
    let to_end_of_report = report
        .end_line
        .and_then(|i| console.lines.get(i))
        .map(|(t, _)| *t);
    let verdict = judge(&report, opts.allow_skip, &console);
    let boot = Boot {
        report,
        to_end_of_report,
        total: console.total,
        init_size: initramfs.init_size,
        log,
        verdict,
    };
    print_result(arch, opts.kernel.name, &boot, &console);
    Ok(boot)
}

/// The console of one QEMU run.
struct Console {
    /// Each line with the time since QEMU started.
    lines: Vec<(Duration, String)>,
    total: Duration,
    timed_out: bool,
    status: Option<std::process::ExitStatus>,
    /// The last line had no newline: QEMU stopped (or was killed) in the middle of it.
    cut_mid_line: bool,
}

/// The console's lines as the parser reads them: each ended by a newline, except a last
/// line the console cut short, which the parser must see as unfinished.
fn console_text(lines: &[(Duration, String)], cut_mid_line: bool) -> String {
    let mut text: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    if cut_mid_line {
        text.pop();
    }
    text
}

/// Runs QEMU, streaming its serial output (prefixed with the arch) to the terminal and
/// saving it raw to `log`; kills it after `timeout`.
fn run_qemu(arch: Arch, args: &[String], timeout: Duration, log: &Path) -> Result<Console> {
    let binary = qemu_binary(arch);
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "{binary} is not installed: it is in the Debian package {} (`cargo qemu setup` installs it)",
                qemu_package(arch)
            ),
            _ => anyhow::Error::new(e).context(format!("starting {binary}")),
        })?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel::<(Duration, String)>();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        let mut cut_mid_line = false;
        while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            cut_mid_line = !buf.ends_with(b"\n");
            let _ = log_file.write_all(&buf);
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .replace('\r', "");
            println!("{arch}| {}", printable(&line));
            if tx.send((started.elapsed(), line)).is_err() {
                break;
            }
            buf.clear();
        }
        cut_mid_line
    });
    let (status, timed_out) = wait_or_kill(&mut child, timeout)?;
    let total = started.elapsed();
    let cut_mid_line = reader.join().unwrap_or(false);
    Ok(Console {
        lines: rx.try_iter().collect(),
        total,
        timed_out,
        status,
        cut_mid_line,
    })
}

/// Waits for QEMU, killing it (this child only) when the time limit passes.
fn wait_or_kill(
    child: &mut Child,
    timeout: Duration,
) -> Result<(Option<std::process::ExitStatus>, bool)> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((Some(status), false));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok((None, true));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A console line without terminal escape sequences (SeaBIOS clears the screen) and
/// other control characters, for echoing to the user's terminal.
pub fn printable(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e); other escapes: one char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out
}

/// Passed, or the reason it did not.
fn judge(report: &Report, allow_skip: bool, console: &Console) -> Result<(), String> {
    if console.timed_out {
        let mut why = format!(
            "timed out: QEMU was killed after {} s",
            console.total.as_secs()
        );
        if !report.is_complete() {
            why.push_str(&format!(" ({})", report.problems[0]));
        }
        return Err(why);
    }
    if let Some(status) = console.status
        && !status.success()
    {
        return Err(format!("QEMU exited with {status}"));
    }
    if !report.is_complete() {
        let problems: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        let mut why = problems.join("; ");
        if let Some(panic) = kernel_panic(&console.lines) {
            why.push_str(&format!("; the kernel panicked: {panic}"));
        }
        return Err(why);
    }
    // A complete report does not excuse a panic (PID 1 exiting after its last line, an oops):
    // QEMU exits 0 either way.
    if let Some(panic) = kernel_panic(&console.lines) {
        return Err(format!("the kernel panicked after the report: {panic}"));
    }
    let counts = report.counts();
    if counts.ok + counts.not_ok + counts.skip == 0 {
        return Err("the report has no cases: nothing was tested".into());
    }
    let failures = report.failures(allow_skip);
    if !failures.is_empty() {
        let names: Vec<String> = failures
            .iter()
            .map(|(path, t)| match t.status {
                ktap::Status::Skip => format!("{path} skipped"),
                _ => format!("{path} not ok"),
            })
            .collect();
        let hint = if failures.iter().any(|(_, t)| t.status == ktap::Status::Skip) {
            " (skips fail unless --allow-skip)"
        } else {
            ""
        };
        return Err(format!("{}{hint}", names.join(", ")));
    }
    Ok(())
}

/// The reason of a kernel panic on the console (`Kernel panic - not syncing: <reason>`),
/// often "Attempted to kill init!" when the init exited or crashed.
fn kernel_panic(lines: &[(Duration, String)]) -> Option<&str> {
    lines.iter().find_map(|(_, l)| {
        l.split_once("Kernel panic - not syncing: ")
            .map(|(_, reason)| reason.trim())
    })
}

fn print_result(arch: Arch, kernel: &str, boot: &Boot, console: &Console) {
    let counts = boot.report.counts();
    let to_end = boot
        .to_end_of_report
        .map(progress::human)
        .unwrap_or_else(|| "-".into());
    progress::line(format_args!(
        "boot: {arch} {kernel}: {} ok, {} not ok, {} skip; report done at {to_end}, QEMU ran {}; log {}",
        counts.ok,
        counts.not_ok,
        counts.skip,
        progress::human(boot.total),
        boot.log.display()
    ));
    for (path, t) in boot.report.failures(true) {
        for d in &t.diagnostics {
            eprintln!("    # {d}");
        }
        eprintln!("    not ok: {path}");
    }
    if let Err(why) = &boot.verdict {
        let incomplete = !boot.report.is_complete() || console.timed_out;
        if incomplete {
            eprintln!(
                "--- last {TAIL_LINES} lines of the console ({}) ---",
                boot.log.display()
            );
            let skip = console.lines.len().saturating_sub(TAIL_LINES);
            for (_, line) in &console.lines[skip..] {
                eprintln!("{arch}| {}", printable(line));
            }
            eprintln!("---");
        }
        progress::line(format_args!("boot: {arch} {kernel} FAILED: {why}"));
    } else {
        progress::line(format_args!("boot: {arch} {kernel} passed"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(arch: Arch) -> Vec<String> {
        let opts = BootOptions::new(arch, kernel::release(kernel::DEFAULT).unwrap());
        qemu_args(
            &opts,
            Path::new("/k/vmlinux"),
            Path::new("/i/initramfs.cpio"),
        )
    }

    fn after<'a>(args: &'a [String], flag: &str) -> &'a str {
        let i = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("no {flag}"));
        &args[i + 1]
    }

    #[test]
    fn each_arch_gets_its_machine_console_and_firmware() {
        let x86 = args(Arch::X86_64);
        assert_eq!(after(&x86, "-M"), "pc");
        assert!(after(&x86, "-append").contains("console=ttyS0"));
        assert!(!x86.contains(&"-bios".to_string()));

        let arm = args(Arch::Aarch64);
        assert_eq!(after(&arm, "-M"), "virt");
        assert_eq!(after(&arm, "-cpu"), "cortex-a57");
        assert!(after(&arm, "-append").contains("console=ttyAMA0"));

        let rv = args(Arch::Riscv64);
        assert_eq!(after(&rv, "-M"), "virt");
        assert_eq!(after(&rv, "-bios"), "default");
        assert!(after(&rv, "-append").contains("console=ttyS0"));
    }

    #[test]
    fn every_boot_ends_qemu_on_panic_and_never_reboots() {
        for arch in Arch::ALL {
            let a = args(arch);
            for flag in ["-nodefaults", "-nographic", "-no-reboot"] {
                assert!(a.contains(&flag.to_string()), "{arch} lacks {flag}");
            }
            assert_eq!(after(&a, "-serial"), "stdio");
            assert_eq!(after(&a, "-monitor"), "none");
            assert_eq!(after(&a, "-m"), MEMORY);
            assert_eq!(after(&a, "-smp"), "2");
            assert_eq!(after(&a, "-kernel"), "/k/vmlinux");
            assert_eq!(after(&a, "-initrd"), "/i/initramfs.cpio");
            let cmdline = after(&a, "-append");
            assert!(cmdline.contains("panic=-1") && cmdline.contains("loglevel=1"));
            assert!(!a.contains(&"-enable-kvm".to_string()), "TCG by default");
        }
    }

    #[test]
    fn kvm_is_only_requested_when_asked() {
        let mut opts = BootOptions::new(Arch::X86_64, kernel::release("6.1").unwrap());
        opts.kvm = true;
        opts.smp = 1;
        let a = qemu_args(&opts, Path::new("k"), Path::new("i"));
        assert!(a.contains(&"-enable-kvm".to_string()));
        assert_eq!(after(&a, "-cpu"), "host");
        assert_eq!(after(&a, "-smp"), "1");
    }

    #[test]
    fn extra_kernel_words_follow_the_fixed_ones() {
        assert_eq!(
            kernel_cmdline(Arch::Aarch64, Some(" testinit=skip ")),
            "console=ttyAMA0 panic=-1 loglevel=1 testinit=skip"
        );
        assert_eq!(
            kernel_cmdline(Arch::Riscv64, Some("")),
            kernel_cmdline(Arch::Riscv64, None)
        );
    }

    #[test]
    fn shell_words_quote_only_what_needs_it() {
        let a = strings(&["-append", "console=ttyS0 panic=-1", "it's"]);
        assert_eq!(
            shell_words(&a),
            "-append 'console=ttyS0 panic=-1' 'it'\\''s'"
        );
    }

    #[test]
    fn panic_reason_is_found_among_kernel_log_lines() {
        let lines =
            vec![
            (Duration::ZERO, "[    1.5] Run /init as init process".to_string()),
            (
                Duration::ZERO,
                "[    1.6] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000"
                    .to_string(),
            ),
        ];
        assert_eq!(
            kernel_panic(&lines),
            Some("Attempted to kill init! exitcode=0x00000000")
        );
        assert_eq!(kernel_panic(&lines[..1]), None);
    }

    #[test]
    fn a_console_cut_mid_line_reaches_the_parser_unfinished() {
        let lines: Vec<(Duration, String)> = ["KTAP version 1", "1..2", "ok 1 a", "ok 2 b # SK"]
            .iter()
            .map(|l| (Duration::ZERO, l.to_string()))
            .collect();
        let whole = ktap::parse(&console_text(&lines, false));
        assert!(whole.is_complete(), "{:?}", whole.problems);
        let cut = ktap::parse(&console_text(&lines, true));
        assert!(!cut.is_complete());
        let why = cut
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        assert!(why.contains("ends mid-line: `ok 2 b # SK`"), "{why}");
        assert!(why.contains("1 of 2 results"), "{why}");
    }

    #[test]
    fn printable_drops_escape_sequences_and_control_characters() {
        assert_eq!(
            printable("\x1b[2J\x1b[01;01HSeaBIOS\x1bc ok\x07"),
            "SeaBIOS ok"
        );
        assert_eq!(printable("KTAP version 1"), "KTAP version 1");
    }
}
