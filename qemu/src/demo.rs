//! `demo [--kernel K|all] [--jobs N]`: builds init-demo, boots it on every architecture
//! that has the chosen kernel (6.12 by default; `all`: the whole arch × kernel matrix),
//! several boots at a time, and shows the table of the results.

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::kernel::release::{self, Choice};
use crate::{kernel, matrix, progress, setup};

/// What `demo` boots and how many boots run at a time.
pub struct DemoOptions {
    pub kernel: Choice,
    pub jobs: usize,
}

/// Parses `[--kernel K|all] [--jobs N]`.
pub fn parse_args(args: &[String]) -> Result<DemoOptions> {
    let mut opts = DemoOptions {
        kernel: Choice::parse(kernel::DEFAULT)?,
        jobs: matrix::default_jobs(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |option: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{option} needs a value"))
        };
        match arg.as_str() {
            "--kernel" => opts.kernel = Choice::parse(&value("--kernel")?)?,
            "--jobs" => {
                let n = value("--jobs")?;
                opts.jobs = n
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("--jobs wants a number of boots, got `{n}`"))?;
            }
            other => bail!("unknown option `{other}` for demo (see cargo qemu help)"),
        }
    }
    Ok(opts)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn error(words: &[&str]) -> String {
        match parse_args(&args(words)) {
            Ok(_) => panic!("{words:?} was accepted"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn the_default_is_6_12_on_every_arch() {
        let opts = parse_args(&[]).unwrap();
        let pairs = release::pairs(&Arch::ALL, opts.kernel);
        assert_eq!(pairs.len(), 3);
        assert!(pairs.iter().all(|p| p.release.name == "6.12"));
        assert!(opts.jobs >= 1);
    }

    #[test]
    fn kernel_all_is_the_whole_matrix() {
        let opts = parse_args(&args(&["--kernel", "all", "--jobs", "3"])).unwrap();
        assert_eq!(release::pairs(&Arch::ALL, opts.kernel).len(), 10);
        assert_eq!(opts.jobs, 3);
        let opts = parse_args(&args(&["--kernel", "5.10"])).unwrap();
        assert_eq!(release::pairs(&Arch::ALL, opts.kernel).len(), 2);
    }

    #[test]
    fn bad_arguments_are_refused_by_name() {
        assert!(error(&["--kernel", "4.19"]).contains("unknown kernel `4.19`: known are 5.10"));
        assert!(error(&["--kernel"]).contains("--kernel needs a value"));
        assert!(error(&["--jobs", "0"]).contains("--jobs wants a number of boots, got `0`"));
        assert!(error(&["x86_64"]).contains("unknown option `x86_64` for demo"));
    }
}
