//! The guest: a static init binary booted as PID 1 in qemu-system, whose KTAP report on
//! the serial console says whether clonekit works on a real kernel of each architecture.
//!
//! One boot, in the order [`boot::run`] takes it:
//! - [`initramfs`]: build init-demo (or take any `--init` binary) and pack it as `/init`
//!   of a newc archive ([`newc`]);
//! - [`qemu_args`]: the qemu-system command line for the options below;
//! - [`console`]: run QEMU, stream and save its serial console, kill it on a time limit;
//! - [`ktap`] and [`verdict`]: read the report from the console and judge it;
//! - [`boot`]: all of the above, and the printed result.

pub mod boot;
pub mod console;
pub mod initramfs;
pub mod ktap;
pub mod machine;
pub mod newc;
pub mod qemu_args;
pub mod verdict;

use std::path::PathBuf;
use std::time::Duration;

use crate::arch::Arch;
use crate::kernel::KernelRelease;

/// What to boot and how.
#[derive(Debug)]
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
