//! The test command's checks of clonekit-init (init/):
//! - [`sizes`]: built for the three arches, stripped, weighed section by section next to
//!   Debian's tini, tini-static and dumb-init ([`crate::peers`]); fails over 12 KiB, or if
//!   a `core::fmt` or panic symbol is linked in;
//! - [`versus_tini_plan`]: the scenario test natively, against clonekit-init and against
//!   Debian's tini (`CLONEKIT_TINI`): the same exit codes, signals and zombie counts;
//! - [`boots`]: clonekit-init as the machine's PID 1 on each arch (Linux 6.12), the
//!   scenario suite as its program ([`crate::guest::machine`]), two boots at a time.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::cargo::{self, Outer, Plan, Toolchain};
use crate::cli::InitCheck;
use crate::elf::Elf;
use crate::guest::machine::{self, MachineBoot};
use crate::guest::{BootOptions, boot};
use crate::init_build::{self, Built, SIZE_GOAL};
use crate::kernel::release;
use crate::{peers, progress};

/// The weight of one clonekit-init binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weight {
    /// The stripped file.
    pub file: u64,
    pub text: u64,
    pub rodata: u64,
    pub eh_frame: u64,
    /// Symbols of `core::fmt` or of the panic machinery found in the unstripped binary.
    pub formatting: Vec<String>,
}

/// Whether a (mangled) symbol name is `core::fmt`'s or the panic machinery's: what a
/// 12 KiB init must not link (`_ZN4core3fmt...`, `_ZN4core9panicking...`, v0 manglings,
/// `rust_begin_unwind`).
pub fn is_formatting(symbol: &str) -> bool {
    [
        "3fmt",
        "fmt..",
        "panicking",
        "panic_fmt",
        "rust_begin_unwind",
    ]
    .iter()
    .any(|needle| symbol.contains(needle))
}

/// Weighs a build: the stripped file's size and sections, the unstripped one's symbols.
pub fn weigh(built: &Built) -> Result<Weight> {
    let read =
        |p: &std::path::Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let stripped = read(&built.init)?;
    let unstripped = read(&built.unstripped)?;
    let elf = Elf::parse(&stripped)?;
    let symbols = Elf::parse(&unstripped)?.symbol_names();
    if symbols.is_empty() {
        bail!(
            "{} has no symbol table to check",
            built.unstripped.display()
        );
    }
    Ok(Weight {
        file: stripped.len() as u64,
        text: elf.section_size(".text"),
        rodata: elf.section_size(".rodata"),
        eh_frame: elf.section_size(".eh_frame"),
        formatting: symbols.into_iter().filter(|s| is_formatting(s)).collect(),
    })
}

/// One row of the size table.
struct Row {
    arch: Arch,
    weight: Weight,
    /// tini, tini-static, dumb-init: their sizes, or why there are none.
    peers: Result<[u64; 3], String>,
}

/// The table: clonekit-init's sections per arch and its peers' sizes, in bytes.
fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:>13} {:>6} {:>7} {:>9} | {:>10} {:>11} {:>10}  peers from",
        "arch",
        "clonekit-init",
        ".text",
        ".rodata",
        ".eh_frame",
        "tini",
        "tini-static",
        "dumb-init"
    );
    for row in rows {
        let w = &row.weight;
        let _ = write!(
            out,
            "{:<8} {:>13} {:>6} {:>7} {:>9} | ",
            row.arch.name(),
            w.file,
            w.text,
            w.rodata,
            w.eh_frame
        );
        let _ = match &row.peers {
            Ok([tini, tini_static, dumb_init]) => writeln!(
                out,
                "{tini:>10} {tini_static:>11} {dumb_init:>10}  Debian {} {}",
                peers::suite(row.arch),
                row.arch.debian()
            ),
            Err(why) => writeln!(out, "(no peers: {why})"),
        };
    }
    let _ = writeln!(
        out,
        "bytes, stripped; clonekit-init static, tini and dumb-init dynamic (glibc not counted), tini-static static"
    );
    out
}

/// The size check on every arch.
pub fn sizes() -> Result<()> {
    let mut rows = Vec::new();
    for arch in Arch::ALL {
        let built = init_build::build(arch)?;
        let weight = weigh(&built)?;
        let peers = peers::get(arch)
            .and_then(|dir| {
                let size =
                    |name: &str| -> Result<u64> { Ok(std::fs::metadata(dir.join(name))?.len()) };
                Ok([size("tini")?, size("tini-static")?, size("dumb-init")?])
            })
            .map_err(|e| format!("{e:#}"));
        rows.push(Row {
            arch,
            weight,
            peers,
        });
    }
    println!();
    print!("{}", table(&rows));
    let mut wrong = Vec::new();
    for row in &rows {
        if row.weight.file > SIZE_GOAL {
            wrong.push(format!(
                "{}: {} bytes, over the goal of {SIZE_GOAL}",
                row.arch, row.weight.file
            ));
        }
        if !row.weight.formatting.is_empty() {
            wrong.push(format!(
                "{}: formatting or panic code linked in: {}",
                row.arch,
                row.weight.formatting.join(", ")
            ));
        }
        if let Err(why) = &row.peers {
            wrong.push(format!("{}: Debian's tini and dumb-init: {why}", row.arch));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        bail!("{}", wrong.join("; "))
    }
}

/// The test command's description of [`sizes`].
pub fn describe_sizes() -> String {
    format!(
        "cargo build -p {} --profile {} --target <each arch>; strip; Debian's tini and \
         dumb-init from the cache",
        init_build::PACKAGE,
        init_build::PROFILE
    )
}

/// The environment variable naming the tini the scenario test compares with.
pub const TINI_ENV: &str = "CLONEKIT_TINI";

/// The scenario test's arguments.
pub const SCENARIO_ARGS: &[&str] = &["test", "-p", "clonekit-init", "--test", "scenarios"];

/// `CLONEKIT_TINI=<Debian's x86_64 tini> cargo test -p clonekit-init --test scenarios`.
pub fn versus_tini_plan() -> Result<Plan> {
    let dir = peers::get(Arch::X86_64)?;
    let tini = dir.join("tini");
    let tini = tini
        .to_str()
        .with_context(|| format!("{} is not UTF-8", tini.display()))?;
    Ok(cargo::plan(
        Toolchain::Current,
        SCENARIO_ARGS,
        &[(TINI_ENV, tini)],
        &Outer::here(),
    ))
}

/// How many machine boots run at a time (TCG, 2 cores: the matrix measured 2 as best).
const JOBS: usize = 2;

/// clonekit-init as PID 1 of each arch's 6.12 guest.
pub fn boots() -> Result<()> {
    let kernel_release = release::release(release::DEFAULT)?;
    // Kernels and builds first, one after another (apt and cargo take locks).
    let mut prepared = Vec::new();
    for arch in Arch::ALL {
        let opts = BootOptions::new(arch, kernel_release);
        let kernel = boot::kernel_for(&opts)?;
        let built = init_build::build(arch)?;
        prepared.push((opts, kernel, built));
    }
    let results: Vec<Result<MachineBoot>> =
        crate::jobs::map(&prepared, JOBS, |(opts, kernel, built)| {
            machine::boot(opts, kernel, built)
        });
    println!();
    println!("{:<8} {:>9} {:>8}  suite", "arch", "exit code", "time");
    let mut wrong = Vec::new();
    for ((opts, _, _), result) in prepared.iter().zip(&results) {
        match result {
            Ok(b) => {
                println!(
                    "{:<8} {:>9} {:>8}  {}",
                    opts.arch.name(),
                    b.exit_code.map_or("none".into(), |c| c.to_string()),
                    progress::human(b.total),
                    b.summary.as_deref().unwrap_or("-")
                );
                if !b.passed() {
                    wrong.push(format!(
                        "{}: exit code {:?} (log {})",
                        opts.arch,
                        b.exit_code,
                        b.log.display()
                    ));
                }
            }
            Err(e) => {
                println!("{:<8} {:>9} {:>8}  {e:#}", opts.arch.name(), "-", "-");
                wrong.push(format!("{}: {e:#}", opts.arch));
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        bail!("{}", wrong.join("; "))
    }
}

/// The test command's description of [`boots`].
pub fn describe_boots() -> String {
    format!(
        "boot clonekit-init as /init on {} (Linux {}), `{}`, {JOBS} at a time",
        Arch::ALL.map(Arch::name).join(", "),
        release::DEFAULT,
        machine::program_words()
    )
}

/// `init [sizes|scenarios|boots]`: the checks of `cargo qemu test`, the ones given (all
/// when none is).
pub fn command(checks: &[InitCheck]) -> Result<()> {
    let wanted = |check: InitCheck| checks.is_empty() || checks.contains(&check);
    if wanted(InitCheck::Sizes) {
        sizes()?;
    }
    if wanted(InitCheck::Scenarios) {
        let plan = versus_tini_plan()?;
        progress::line(format_args!("running {}", plan.display()));
        let status = plan
            .command()
            .current_dir(crate::workspace::root())
            .status()
            .context("running cargo test")?;
        if !status.success() {
            bail!("the scenarios failed ({status})");
        }
    }
    if wanted(InitCheck::Boots) {
        boots()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_and_panic_symbols_are_recognised_in_both_manglings() {
        for symbol in [
            "_ZN4core3fmt5write17h0123456789abcdefE",
            "_ZN4core9panicking9panic_fmt17h0123456789abcdefE",
            "_RNvNtCs1234_4core3fmt5write",
            "rust_begin_unwind",
            "_ZN60_$LT$core..fmt..Error$u20$as$u20$core..fmt..Debug$GT$3fmt17hE",
        ] {
            assert!(is_formatting(symbol), "{symbol}");
        }
        for symbol in [
            "_start",
            "memcpy",
            "_ZN8clonekit4init10supervisor10Supervisor3run17h0123456789abcdefE",
            "_ZN13clonekit_init3say4Line3num17h0123456789abcdefE",
        ] {
            assert!(!is_formatting(symbol), "{symbol}");
        }
    }

    #[test]
    fn the_table_puts_each_arch_next_to_its_peers() {
        let weight = Weight {
            file: 10624,
            text: 7602,
            rodata: 1903,
            eh_frame: 0,
            formatting: Vec::new(),
        };
        let rows = [
            Row {
                arch: Arch::X86_64,
                weight: weight.clone(),
                peers: Ok([27792, 708080, 18552]),
            },
            Row {
                arch: Arch::Riscv64,
                weight,
                peers: Err("offline".into()),
            },
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("x86_64") && lines[1].contains("10624"));
        assert!(lines[1].contains("27792") && lines[1].contains("708080"));
        assert!(lines[1].contains("Debian bookworm amd64"));
        assert!(lines[2].contains("(no peers: offline)"));
    }
}
