//! `boot <arch>`: one boot from start to verdict. Gets the kernel, builds (or packs) the
//! initramfs, runs qemu-system with the console captured, judges the KTAP report, and
//! prints the result.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::guest::console::{self, Console, printable};
use crate::guest::ktap::Report;
use crate::guest::qemu_args::{qemu_args, shell_words};
use crate::guest::{BootOptions, initramfs, verdict};
use crate::{kernel, progress, workspace};

/// How many lines of console output to show when a boot fails.
const TAIL_LINES: usize = 20;

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

/// Gets the kernel, builds (or packs) the initramfs, boots, and judges the report.
pub fn run(opts: &BootOptions) -> Result<Boot> {
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
        Some(init) => initramfs::pack_custom(arch, init)?,
        None => initramfs::build(arch)?,
    };
    let log = workspace::qemu_dir().join(format!("{arch}-{}.log", opts.kernel.name));
    let args = qemu_args(opts, &kernel.image, &initramfs.path);
    progress::line(format_args!(
        "boot: {arch} with {} {} ({}), timeout {} s: {} {}",
        kernel.package,
        kernel.version,
        if opts.kvm { "KVM" } else { "TCG" },
        opts.timeout.as_secs(),
        arch.qemu_system_binary(),
        shell_words(&args)
    ));
    let console = console::capture(arch, &args, opts.timeout, &log)?;
    let report = verdict::report(&console);
    let to_end_of_report = report
        .end_line
        .and_then(|i| console.lines.get(i))
        .map(|(t, _)| *t);
    let verdict = verdict::judge(&report, opts.allow_skip, &console);
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
