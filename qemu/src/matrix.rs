//! The kernel matrix: init-demo booted on several architecture × kernel pairs, several
//! boots at a time, and the table of their results (`demo`, and the boot step of `test`).
//!
//! Kernels are fetched and the initramfs of each architecture is built first, one after
//! another (apt and cargo take their own locks, and a failure there is named before any
//! QEMU runs); then the boots run [`default_jobs`] at a time, each reading only its own
//! kernel, its arch's initramfs and writing its own log.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::arch::Arch;
use crate::guest::BootOptions;
use crate::guest::boot::{self, Boot};
use crate::guest::initramfs::{self, Initramfs};
use crate::kernel::release::Pair;
use crate::kernel::{Kernel, linux_version};
use crate::progress;

/// How many boots run at a time unless told: one per core. Measured here (2 cores, TCG,
/// `-smp 2`, the 10 pairs, 3 rounds with other builds running; docs/qemu.md): one at a
/// time took 68-97 s, two 42-56 s, three 35-52 s. A boot alone keeps about 0.8 of a core
/// busy (firmware and timer waits), so a third boot still gains a little, but it stretches
/// every boot (longest 21 s against 16 s) and with it the windows of the timing-sensitive
/// cases; one per core takes most of the gain.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The result of one pair.
pub struct Outcome {
    pub pair: Pair,
    /// The boot, or why it could not run (the kernel could not be fetched, the initramfs
    /// not built, QEMU not started).
    pub boot: Result<Boot>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        matches!(&self.boot, Ok(b) if b.verdict.is_ok())
    }
}

/// Boots every pair, `jobs` at a time, and returns the outcomes in the order of `pairs`.
pub fn run(pairs: &[Pair], jobs: usize) -> Vec<Outcome> {
    // Kernels, then one initramfs per architecture with a kernel, one after another.
    let options: Vec<BootOptions> = pairs
        .iter()
        .map(|p| BootOptions::new(p.arch, p.release))
        .collect();
    let kernels: Vec<Result<Kernel>> = options.iter().map(boot::kernel_for).collect();
    let mut images: HashMap<Arch, Result<Initramfs, String>> = HashMap::new();
    for (pair, kernel) in pairs.iter().zip(&kernels) {
        if kernel.is_ok() && !images.contains_key(&pair.arch) {
            let built = initramfs::build(pair.arch).map_err(|e| format!("{e:#}"));
            images.insert(pair.arch, built);
        }
    }

    let jobs = jobs.clamp(1, pairs.len().max(1));
    progress::line(format_args!(
        "matrix: {} boots, {jobs} at a time",
        pairs.len()
    ));
    let indices: Vec<usize> = (0..pairs.len()).collect();
    let results = crate::jobs::map(&indices, jobs, |&i| {
        let (Some(opts), Some(kernel)) = (options.get(i), kernels.get(i)) else {
            return None;
        };
        Some(match (kernel, images.get(&opts.arch)) {
            (Err(e), _) => Err(anyhow::anyhow!("{e:#}")),
            (Ok(kernel), Some(Ok(image))) => boot::boot(opts, kernel, image),
            (Ok(_), Some(Err(why))) => Err(anyhow::anyhow!(
                "building the {} initramfs: {why}",
                opts.arch
            )),
            (Ok(_), None) => Err(anyhow::anyhow!("no initramfs was built")),
        })
    });
    pairs
        .iter()
        .zip(results)
        .map(|(pair, result)| Outcome {
            pair: *pair,
            boot: result.unwrap_or_else(|| Err(anyhow::anyhow!("the boot never ran"))),
        })
        .collect()
}

/// `Err` naming every pair that failed, for a one-line summary.
pub fn verdict(outcomes: &[Outcome]) -> Result<()> {
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| format!("{} {}", o.pair.arch, o.pair.release.name))
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "{} of {} boots failed: {} (see the table and the logs in target/qemu/)",
        failed.len(),
        outcomes.len(),
        failed.join(", ")
    ))
    .context("kernel matrix")
}

/// The table of the outcomes: one row per pair, with the Linux version booted, the case
/// counts, the time from QEMU's start to the end of the report, and the verdict.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut out = format!(
        "{:<8} {:<6} {:<9} {:>4} {:>6} {:>4} {:>11}  result\n",
        "arch", "kernel", "linux", "ok", "not ok", "skip", "report done"
    );
    for o in outcomes {
        let (arch, name) = (o.pair.arch.name(), o.pair.release.name);
        let row = match &o.boot {
            Ok(b) => {
                let c = b.report.counts();
                format!(
                    "{arch:<8} {name:<6} {:<9} {:>4} {:>6} {:>4} {:>11}  {}",
                    linux_version(&b.kernel_version),
                    c.ok,
                    c.not_ok,
                    c.skip,
                    b.to_end_of_report
                        .map(progress::human)
                        .unwrap_or_else(|| "-".into()),
                    match (&b.verdict, &b.retried) {
                        (Ok(()), None) => "passed".to_string(),
                        (Ok(()), Some(_)) => "passed at the second boot (see above)".to_string(),
                        (Err(why), _) => format!("FAILED: {why}"),
                    }
                )
            }
            Err(e) => format!(
                "{arch:<8} {name:<6} {:<9} {:>4} {:>6} {:>4} {:>11}  FAILED: {e:#}",
                "-", "-", "-", "-", "-"
            ),
        };
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

/// The sum of the boots' QEMU run times, to compare with the wall time the matrix took.
pub fn boot_time(outcomes: &[Outcome]) -> Duration {
    outcomes
        .iter()
        .filter_map(|o| o.boot.as_ref().ok())
        .map(|b| b.total)
        .sum()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::guest::ktap;
    use crate::kernel::release::{self, Choice};

    fn pair(arch: Arch, name: &str) -> Pair {
        Pair {
            arch,
            release: release::release_for(name, arch).unwrap(),
        }
    }

    fn boot(version: &str, ktap_text: &str, verdict: Result<(), String>) -> Boot {
        Boot {
            kernel_version: version.into(),
            report: ktap::parse(ktap_text),
            to_end_of_report: Some(Duration::from_millis(4_400)),
            total: Duration::from_secs(5),
            log: PathBuf::from("/tmp/log"),
            verdict,
            retried: None,
        }
    }

    const TWO_OK_ONE_SKIP: &str =
        "KTAP version 1\n1..3\nok 1 a\nok 2 b\nok 3 c # SKIP needs Linux 7.1\n";

    #[test]
    fn the_table_shows_each_pairs_linux_version_counts_and_time() {
        let outcomes = [
            Outcome {
                pair: pair(Arch::X86_64, "5.10"),
                boot: Ok(boot("5.10.223-1", TWO_OK_ONE_SKIP, Ok(()))),
            },
            Outcome {
                pair: pair(Arch::Riscv64, "latest"),
                boot: Ok(boot(
                    "7.2.11-1~bpo13+1",
                    "KTAP version 1\n1..1\nnot ok 1 a\n",
                    Err("a not ok".into()),
                )),
            },
            Outcome {
                pair: pair(Arch::Aarch64, "6.1"),
                boot: Err(anyhow::anyhow!("no network")),
            },
        ];
        let table = table(&outcomes);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "arch     kernel linux       ok not ok skip report done  result"
        );
        assert_eq!(
            lines[1],
            "x86_64   5.10   5.10.223     2      0    1        4.4s  passed"
        );
        assert_eq!(
            lines[2],
            "riscv64  latest 7.2.11       0      1    0        4.4s  FAILED: a not ok"
        );
        assert_eq!(
            lines[3],
            "aarch64  6.1    -            -      -    -           -  FAILED: no network"
        );
        let e = format!("{:#}", verdict(&outcomes).unwrap_err());
        assert!(
            e.contains("2 of 3 boots failed: riscv64 latest, aarch64 6.1"),
            "{e}"
        );
        assert_eq!(boot_time(&outcomes), Duration::from_secs(10));
    }

    #[test]
    fn a_matrix_that_all_passed_has_no_failures() {
        let outcomes: Vec<Outcome> = release::pairs(&Arch::ALL, Choice::All)
            .into_iter()
            .map(|pair| Outcome {
                pair,
                boot: Ok(boot("6.12.117-1", TWO_OK_ONE_SKIP, Ok(()))),
            })
            .collect();
        assert_eq!(outcomes.len(), 10);
        assert!(verdict(&outcomes).is_ok());
    }

    #[test]
    fn pairs_that_could_not_be_prepared_fail_without_booting() {
        // A pair with no kernel for its arch fails in preparation, never reaching QEMU.
        let impossible = Pair {
            arch: Arch::Riscv64,
            release: release::release("5.10").unwrap(),
        };
        let outcomes = run(&[impossible], 2);
        assert_eq!(outcomes.len(), 1);
        let e = format!("{:#}", outcomes[0].boot.as_ref().err().unwrap());
        assert!(e.contains("has no riscv64 kernel"), "{e}");
    }
}
