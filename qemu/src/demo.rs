//! `demo [--kernel K|all] [--jobs N]`: builds init-demo, boots it on every architecture
//! that has the chosen kernel (6.12 by default; `all`: the whole arch × kernel matrix),
//! several boots at a time, and shows the table of the results.

use anyhow::Result;

use crate::arch::Arch;
use crate::kernel::release::{self, Choice};
use crate::{matrix, progress, setup};

/// What `demo` boots and how many boots run at a time.
pub struct DemoOptions {
    pub kernel: Choice,
    pub jobs: usize,
}

/// Runs the demo; fails if any boot failed.
pub fn run(opts: &DemoOptions) -> Result<()> {
    setup::run()?;
    if let Choice::One(one) = opts.kernel {
        for arch in Arch::ALL.into_iter().filter(|a| !one.has(*a)) {
            progress::line(format_args!(
                "demo: no {arch} boot: {} (kernel {}) has no {arch} kernel",
                one.source(),
                one.name
            ));
        }
    }
    let pairs = release::pairs(&Arch::ALL, opts.kernel);
    let outcomes = matrix::run(&pairs, opts.jobs);
    println!();
    print!("{}", matrix::table(&outcomes));
    progress::line(format_args!(
        "demo: {} boots, QEMU ran {} in all",
        outcomes.len(),
        progress::human(matrix::boot_time(&outcomes))
    ));
    matrix::verdict(&outcomes)
}
