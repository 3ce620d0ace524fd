//! clonekit-init in machine mode: booted as `/init`, it runs the program named on the
//! kernel command line after `--`, prints `clonekit-init: exit-code=N` on the console when
//! that program has ended, syncs and powers off; the exit code comes back from that line.
//!
//! The check boots it with its scenario probe as the program (`/bin/clonekit-init-probe
//! suite /init`): the suite runs every scenario against nested clonekit-inits (as a
//! subreaper, as a container's init) and, as the main program of PID 1, against PID 1
//! itself (mounts, every signal, 1,000 orphans); its exit code is its number of failed
//! cases, so the boot passes when the status line says 0.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::guest::BootOptions;
use crate::guest::console::{self, Console, printable};
use crate::guest::newc::{Archive, INIT_DIRS};
use crate::guest::qemu_args::{qemu_args, shell_words};
use crate::init_build::{Built, PROBE};
use crate::kernel::Kernel;
use crate::{progress, workspace};

/// What clonekit-init prints when its program has ended (init/src/machine.rs).
pub const STATUS: &str = "clonekit-init: exit-code=";

/// Where the probe is in the initramfs, and the program the kernel hands `/init`.
pub const PROBE_PATH: &str = "/bin/clonekit-init-probe";

/// The kernel command line's tail: `/init`'s arguments.
pub fn program_words() -> String {
    format!("-- {PROBE_PATH} suite /init")
}

/// How long one boot may take (TCG; the suite itself takes seconds).
const TIMEOUT: Duration = Duration::from_secs(240);

/// How many console lines to show when a boot fails.
const TAIL_LINES: usize = 25;

/// One machine-mode boot.
pub struct MachineBoot {
    /// The exit code of the status line; `None` when there was none.
    pub exit_code: Option<i32>,
    /// The suite's `suite: N passed, ...` line.
    pub summary: Option<String>,
    /// The suite's `not ok` lines.
    pub failures: Vec<String>,
    pub total: Duration,
    pub log: PathBuf,
}

impl MachineBoot {
    /// Passed: the status line says 0 (no failed case).
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// The exit code of the last status line among `lines` (a program may print after an
/// earlier one only if something is badly wrong, so the last one counts).
pub fn exit_code<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<i32> {
    lines
        .into_iter()
        .filter_map(|line| {
            let at = line.find(STATUS)?;
            line[at + STATUS.len()..].trim().parse().ok()
        })
        .last()
}

/// `/init` = clonekit-init, the probe at [`PROBE_PATH`], the mount points; written to
/// `target/qemu/<arch>/initramfs-clonekit-init.cpio`.
pub fn initramfs(built: &Built) -> Result<PathBuf> {
    let read =
        |path: &PathBuf| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let mut archive = Archive::new();
    for dir in INIT_DIRS.iter().chain(&["bin"]) {
        archive.dir(dir, if *dir == "tmp" { 0o1777 } else { 0o755 });
    }
    archive.file("init", 0o755, &read(&built.init)?);
    archive.file(&format!("bin/{PROBE}"), 0o755, &read(&built.probe)?);
    let path = workspace::qemu_dir()
        .join(built.arch.name())
        .join("initramfs-clonekit-init.cpio");
    std::fs::write(&path, archive.finish())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Boots `kernel` with clonekit-init as `/init` and the suite as its program.
pub fn boot(opts: &BootOptions, kernel: &Kernel, built: &Built) -> Result<MachineBoot> {
    let arch = opts.arch;
    let image = initramfs(built)?;
    let mut opts = BootOptions::new(arch, opts.kernel);
    opts.timeout = TIMEOUT;
    opts.append = Some(program_words());
    let label = format!("{arch} {} clonekit-init", opts.kernel.name);
    let log = workspace::qemu_dir().join(format!("{arch}-{}-clonekit-init.log", opts.kernel.name));
    let args = qemu_args(&opts, &kernel.image, &image);
    progress::line(format_args!(
        "boot: {label} with {} {}: {} {}",
        kernel.package,
        kernel.version,
        arch.qemu_system_binary(),
        shell_words(&args)
    ));
    let console = console::capture(arch, &label, &args, opts.timeout, &log)?;
    let lines = || console.lines.iter().map(|(_, l)| l.as_str());
    let result = MachineBoot {
        exit_code: exit_code(lines()),
        summary: lines()
            .rev()
            .find_map(|l| l.find("suite: ").map(|at| l[at..].to_string())),
        failures: lines()
            .filter(|l| l.contains("not ok "))
            .map(printable)
            .collect(),
        total: console.total,
        log,
    };
    report(&label, &result, &console);
    Ok(result)
}

fn report(label: &str, boot: &MachineBoot, console: &Console) {
    progress::line(format_args!(
        "boot: {label}: exit code {}, {}; QEMU ran {}; log {}",
        boot.exit_code
            .map_or("(no status line)".to_string(), |c| c.to_string()),
        boot.summary.as_deref().unwrap_or("no suite summary"),
        progress::human(boot.total),
        boot.log.display()
    ));
    for failure in &boot.failures {
        eprintln!("    {failure}");
    }
    if boot.exit_code.is_none() {
        eprintln!("--- last {TAIL_LINES} lines of the console ---");
        let skip = console.lines.len().saturating_sub(TAIL_LINES);
        for (_, line) in &console.lines[skip..] {
            eprintln!("{label}| {}", printable(line));
        }
        eprintln!("---");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_comes_from_the_last_status_line() {
        let console = [
            "OpenSBI v1.5",
            "ok 1 exit_codes",
            "clonekit-init: exit-code=3",
            "\u{1b}[0mclonekit-init: exit-code=0\r",
            "[    4.2] reboot: Power down",
        ];
        assert_eq!(exit_code(console), Some(0));
        assert_eq!(exit_code(["clonekit-init: exit-code=143"]), Some(143));
        assert_eq!(exit_code(["no status here", "exit-code=5"]), None);
        assert_eq!(
            exit_code(["clonekit-init: exit-code=", "clonekit-init: exit-code=x"]),
            None
        );
    }
}
