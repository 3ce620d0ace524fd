//! `demo`: builds init-demo, boots it on every architecture with the default kernel, and
//! shows a table of the results.

use anyhow::{Result, bail};

use crate::arch::Arch;
use crate::guest::BootOptions;
use crate::guest::boot::{self, Boot};
use crate::{kernel, progress, setup};

/// Runs the demo; fails if any boot failed.
pub fn run() -> Result<()> {
    setup::run()?;
    let release = kernel::release(kernel::DEFAULT)?;
    let mut rows = Vec::new();
    for arch in Arch::ALL {
        progress::line(format_args!("demo: {arch} (kernel {})", release.name));
        let result = boot::run(&BootOptions::new(arch, release));
        rows.push((arch, result));
    }
    print_table(release.name, &rows);
    let failed = rows
        .iter()
        .filter(|(_, r)| !matches!(r, Ok(b) if b.verdict.is_ok()))
        .count();
    if failed > 0 {
        bail!("demo: {failed} of {} boots failed", rows.len());
    }
    Ok(())
}

fn print_table(kernel: &str, rows: &[(Arch, Result<Boot>)]) {
    println!();
    println!(
        "{:<8} {:<6} {:>4} {:>7} {:>5} {:>13} {:>10}  result",
        "arch", "kernel", "ok", "not ok", "skip", "report done", "init size"
    );
    for (arch, result) in rows {
        match result {
            Ok(b) => {
                let c = b.report.counts();
                let done = b.to_end_of_report.map(progress::human);
                println!(
                    "{:<8} {:<6} {:>4} {:>7} {:>5} {:>13} {:>10}  {}",
                    arch.name(),
                    kernel,
                    c.ok,
                    c.not_ok,
                    c.skip,
                    done.as_deref().unwrap_or("-"),
                    format!("{} B", b.init_size),
                    match &b.verdict {
                        Ok(()) => "passed".to_string(),
                        Err(why) => format!("FAILED: {why}"),
                    }
                );
            }
            Err(e) => println!(
                "{:<8} {:<6} {:>4} {:>7} {:>5} {:>13} {:>10}  FAILED: {e:#}",
                arch.name(),
                kernel,
                "-",
                "-",
                "-",
                "-",
                "-"
            ),
        }
    }
}
