//! `boot <arch>`: one boot from start to verdict. Gets the kernel, builds (or packs) the
//! initramfs, runs qemu-system with the console captured, judges the KTAP report, and
//! prints the result (with every skipped case and its reason).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::guest::console::{self, Console, printable};
use crate::guest::initramfs::{self, Initramfs};
use crate::guest::ktap::Report;
use crate::guest::qemu_args::{qemu_args, shell_words};
use crate::guest::{BootOptions, verdict};
use crate::kernel::{self, Kernel, linux_version};
use crate::{progress, workspace};

/// How many lines of console output to show when a boot fails.
const TAIL_LINES: usize = 20;

/// The result of one boot.
pub struct Boot {
    /// The Debian version of the kernel booted (`7.3.4-1~bpo13+1`).
    pub kernel_version: String,
    pub report: Report,
    /// From starting QEMU to the line that completed the report.
    pub to_end_of_report: Option<Duration>,
    /// From starting QEMU to QEMU's exit.
    pub total: Duration,
    pub log: PathBuf,
    /// `Ok` if the boot passed; otherwise why not.
    pub verdict: Result<(), String>,
    /// Why the first attempt was not used, when the kernel crashed before the init ran
    /// and the boot was run a second time (see [`verdict::crashed_before_init`]).
    pub retried: Option<String>,
}

/// Gets the kernel, builds (or packs) the initramfs, boots, and judges the report.
pub fn run(opts: &BootOptions) -> Result<Boot> {
    check_kvm(opts)?;
    let kernel = kernel_for(opts)?;
    let initramfs = match &opts.init {
        Some(init) => initramfs::pack_custom(opts.arch, init)?,
        None => initramfs::build(opts.arch)?,
    };
    boot(opts, &kernel, &initramfs)
}

/// Refuses `--kvm` where it cannot work.
pub fn check_kvm(opts: &BootOptions) -> Result<()> {
    let arch = opts.arch;
    if opts.kvm {
        if arch != Arch::NATIVE {
            bail!(
                "--kvm runs only the host's architecture ({}), not {arch}",
                Arch::NATIVE
            );
        }
        if !Path::new("/dev/kvm").exists() {
            bail!("--kvm: this machine has no /dev/kvm");
        }
    }
    Ok(())
}

/// The kernel `opts` names, from the cache or fetched, if it can boot an initramfs.
pub fn kernel_for(opts: &BootOptions) -> Result<Kernel> {
    let arch = opts.arch;
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
    Ok(kernel)
}

/// Boots `kernel` with `initramfs` (both at hand: a matrix prepares them all first, then
/// boots several at a time) and judges the report. A kernel crash before the init ran
/// (not the init's fault, see [`verdict::crashed_before_init`]) gets one more boot; the
/// first attempt's console is kept as `<arch>-<kernel>.attempt1.log` and the result says
/// so.
pub fn boot(opts: &BootOptions, kernel: &Kernel, initramfs: &Initramfs) -> Result<Boot> {
    let label = format!("{} {}", opts.arch, opts.kernel.name);
    let log = workspace::qemu_dir().join(format!("{}-{}.log", opts.arch, opts.kernel.name));
    let kept = log.with_extension("attempt1.log");
    // An earlier run's first attempt would pass for this run's.
    let _ = fs::remove_file(&kept);
    let (mut boot, mut console) = attempt(opts, kernel, initramfs, &label, &log)?;
    if let Some(why) = verdict::crashed_before_init(&boot.report, &console) {
        fs::rename(&log, &kept).with_context(|| format!("keeping {}", log.display()))?;
        progress::line(format_args!(
            "boot: {label}: the boot ended before the init's report began ({why}; console in \
             {}); booting it once more",
            kept.display()
        ));
        (boot, console) = attempt(opts, kernel, initramfs, &label, &log)?;
        boot.retried = Some(format!(
            "the first boot ended before the init's report began: {why}"
        ));
    }
    print_result(&label, &boot, &console);
    Ok(boot)
}

/// One run of QEMU and the verdict on its console.
fn attempt(
    opts: &BootOptions,
    kernel: &Kernel,
    initramfs: &Initramfs,
    label: &str,
    log: &Path,
) -> Result<(Boot, Console)> {
    let arch = opts.arch;
    let args = qemu_args(opts, &kernel.image, &initramfs.path);
    progress::line(format_args!(
        "boot: {label} with {} {} ({}), timeout {} s: {} {}",
        kernel.package,
        kernel.version,
        if opts.kvm { "KVM" } else { "TCG" },
        opts.timeout.as_secs(),
        arch.qemu_system_binary(),
        shell_words(&args)
    ));
    let console = console::capture(arch, label, &args, opts.timeout, log)?;
    let report = verdict::report(&console);
    let to_end_of_report = report
        .end_line
        .and_then(|i| console.lines.get(i))
        .map(|(t, _)| *t);
    let verdict = verdict::judge(&report, opts.allow_skip, &console);
    let boot = Boot {
        kernel_version: kernel.version.clone(),
        report,
        to_end_of_report,
        total: console.total,
        log: log.to_path_buf(),
        verdict,
        retried: None,
    };
    Ok((boot, console))
}

fn print_result(label: &str, boot: &Boot, console: &Console) {
    let counts = boot.report.counts();
    let to_end = boot
        .to_end_of_report
        .map(progress::human)
        .unwrap_or_else(|| "-".into());
    progress::line(format_args!(
        "boot: {label} (Linux {}): {} ok, {} not ok, {} skip; report done at {to_end}, QEMU ran {}; log {}",
        linux_version(&boot.kernel_version),
        counts.ok,
        counts.not_ok,
        counts.skip,
        progress::human(boot.total),
        boot.log.display()
    ));
    for (path, reason) in verdict::skips(&boot.report) {
        eprintln!(
            "    skip: {path}: {}",
            reason.unwrap_or("(no reason given)")
        );
    }
    for (path, t) in boot.report.failures(true) {
        for d in &t.diagnostics {
            eprintln!("    # {d}");
        }
        eprintln!("    not ok: {path}");
    }
    if let Some(why) = &boot.retried {
        eprintln!("    retried: {why}");
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
                eprintln!("{label}| {}", printable(line));
            }
            eprintln!("---");
        }
        progress::line(format_args!("boot: {label} FAILED: {why}"));
    } else {
        progress::line(format_args!("boot: {label} passed"));
    }
}
