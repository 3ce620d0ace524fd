//! The qemu-system command line of a boot: the machine, firmware and console of the
//! architecture (facts of [`Arch`]), what every boot shares, and the kernel command line.
//! Pure functions, pinned by the tests.

use std::path::Path;

use crate::arch::Arch;
use crate::guest::BootOptions;

/// Guest memory: 128M works on all three; 64M hangs x86_64 and riscv64.
const MEMORY: &str = "256M";

/// The kernel command line: the console, `panic=-1` so a crash ends QEMU (with
/// `-no-reboot`), and `loglevel=1` so kernel chatter stays out of the report but
/// "Attempted to kill init" still shows.
fn kernel_cmdline(arch: Arch, extra: Option<&str>) -> String {
    let mut cmdline = format!("console={} panic=-1 loglevel=1", arch.console_device());
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
fn common_args(smp: u32) -> Vec<String> {
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
fn kernel_args(arch: Arch, kernel: &Path, initramfs: &Path, extra: Option<&str>) -> Vec<String> {
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
        strings(arch.machine_args(opts.kvm)),
        strings(arch.firmware_args()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel;

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
}
