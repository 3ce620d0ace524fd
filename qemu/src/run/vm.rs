//! The machine `run` boots: qemu-system's command line with three character devices, each
//! a Unix socket the tool listens on: the kernel's console (`con`: kernel messages, the
//! launcher's and clonekit-init's status lines; kept in the log), the program's stdout
//! (`out`) and its stderr (`err`), streamed to the tool's own stdout and stderr.
//!
//! How the program's two streams reach the host ([`Channels`]):
//! - **virtio-serial** when the kernel has `CONFIG_VIRTIO_CONSOLE=y` and
//!   `CONFIG_VIRTIO_PCI=y` (Debian's 6.12 and newer on all three arches): two
//!   `virtserialport`s, `/dev/vport0p1` and `/dev/vport0p2` in the guest. Not terminals
//!   (`isatty` is false, as for a pipe), and a write returns only once QEMU has taken the
//!   bytes, so nothing is lost when the machine powers off.
//! - **8250 serial ports** otherwise (Debian's 5.10 and 6.1 build virtio-console as a
//!   module): x86_64's second and third ISA ports (`/dev/ttyS1`, `/dev/ttyS2`), aarch64's
//!   two ports of a `pci-serial-2x` card (`/dev/ttyS0`, `/dev/ttyS1`; its console is the
//!   PL011 `ttyAMA0`). The launcher makes them raw terminals: bytes pass unchanged, but
//!   `isatty` is true. Every Debian riscv64 kernel has virtio-console, so riscv64 has no
//!   serial fallback.

use std::path::Path;

use anyhow::{Result, bail};

use crate::arch::Arch;
use crate::run::spec;

/// How the program's stdout and stderr leave the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    Virtio,
    Serial,
}

impl Channels {
    /// The channels a kernel with this `.config` supports (`None`: not known, as for a
    /// `--kernel-image` without a config beside it: virtio is assumed).
    pub fn for_kernel(arch: Arch, config: Option<&str>) -> Result<Channels> {
        let Some(config) = config else {
            return Ok(Channels::Virtio);
        };
        let set = |opt: &str| config.lines().any(|l| l == format!("{opt}=y"));
        if set("CONFIG_VIRTIO_CONSOLE") && set("CONFIG_VIRTIO_PCI") {
            return Ok(Channels::Virtio);
        }
        let serial = match arch {
            Arch::X86_64 => set("CONFIG_SERIAL_8250"),
            Arch::Aarch64 => set("CONFIG_SERIAL_8250") && set("CONFIG_SERIAL_8250_PCI"),
            Arch::Riscv64 => false,
        };
        if serial {
            Ok(Channels::Serial)
        } else {
            bail!(
                "the kernel has neither CONFIG_VIRTIO_CONSOLE=y with CONFIG_VIRTIO_PCI=y nor {} \
                 built in, so the program's stdout and stderr would have no way out: use a \
                 kernel that has them (Debian's 6.12 and newer have virtio-console on every arch)",
                match arch {
                    Arch::Aarch64 => "CONFIG_SERIAL_8250=y with CONFIG_SERIAL_8250_PCI=y",
                    _ => "CONFIG_SERIAL_8250=y",
                }
            )
        }
    }

    /// The guest devices of stdout and stderr.
    pub fn devices(self, arch: Arch) -> (&'static str, &'static str) {
        match (self, arch) {
            (Channels::Virtio, _) => ("/dev/vport0p1", "/dev/vport0p2"),
            (Channels::Serial, Arch::X86_64) => ("/dev/ttyS1", "/dev/ttyS2"),
            (Channels::Serial, _) => ("/dev/ttyS0", "/dev/ttyS1"),
        }
    }

    /// The QEMU devices behind [`devices`](Self::devices), fed by the `out` and `err`
    /// character devices.
    fn qemu_args(self, arch: Arch) -> Vec<String> {
        let args: &[&str] = match (self, arch) {
            (Channels::Virtio, _) => &[
                "-device",
                "virtio-serial-pci,id=vser",
                "-device",
                "virtserialport,bus=vser.0,nr=1,chardev=out,name=clonekit.stdout",
                "-device",
                "virtserialport,bus=vser.0,nr=2,chardev=err,name=clonekit.stderr",
            ],
            (Channels::Serial, Arch::X86_64) => {
                &["-serial", "chardev:out", "-serial", "chardev:err"]
            }
            (Channels::Serial, _) => &["-device", "pci-serial-2x,chardev1=out,chardev2=err"],
        };
        args.iter().map(|s| s.to_string()).collect()
    }
}

/// What to boot and how.
pub struct Machine<'a> {
    pub arch: Arch,
    pub kernel: &'a Path,
    pub initramfs: &'a Path,
    pub smp: u32,
    pub memory_mib: u32,
    pub channels: Channels,
    /// The directory of the three sockets (`con`, `out`, `err`).
    pub sockets: &'a Path,
    /// The kernel's log on the console from its first line (see [`kernel_cmdline`]).
    pub kernel_log: bool,
}

/// A path as QEMU's option syntax wants it (a comma doubled).
fn option_path(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// The kernel command line: the console, a crash ends QEMU, only emergencies on the
/// console (a panic still shows all), and clonekit-init's program: the launcher.
///
/// `kernel_log` (`run --kernel-log`): the log from its first line (`earlycon`) at notice level, so
/// that the kernel's banner times its start. The kernel's clock starts only in
/// `time_init()`, after work that takes 0.15-0.45 s under TCG (ftrace patches some 40,000
/// call sites first), so its uptime alone misses part of its boot.
pub fn kernel_cmdline(arch: Arch, kernel_log: bool) -> String {
    let log = if kernel_log {
        format!("{} loglevel=6", arch.earlycon())
    } else {
        "loglevel=1".to_string()
    };
    format!(
        "console={} panic=-1 {log} -- {}",
        arch.console_device(),
        spec::LAUNCHER
    )
}

/// The whole qemu-system argument list.
pub fn qemu_args(m: &Machine<'_>) -> Vec<String> {
    let mut args: Vec<String> = m
        .arch
        .machine_args(false)
        .iter()
        .chain(m.arch.firmware_args())
        .map(|s| s.to_string())
        .collect();
    for a in [
        "-nodefaults",
        "-display",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
    ] {
        args.push(a.into());
    }
    args.extend(["-m".into(), format!("{}M", m.memory_mib)]);
    args.extend(["-smp".into(), m.smp.to_string()]);
    for name in ["con", "out", "err"] {
        args.push("-chardev".into());
        args.push(format!(
            "socket,id={name},path={}",
            option_path(&m.sockets.join(name))
        ));
    }
    args.extend(["-serial".into(), "chardev:con".into()]);
    args.extend(m.channels.qemu_args(m.arch));
    args.extend([
        "-kernel".into(),
        m.kernel.display().to_string(),
        "-initrd".into(),
        m.initramfs.display().to_string(),
        "-append".into(),
        kernel_cmdline(m.arch, m.kernel_log),
    ]);
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(arch: Arch, channels: Channels) -> Vec<String> {
        qemu_args(&Machine {
            arch,
            kernel: Path::new("/k/vmlinux"),
            initramfs: Path::new("/r/initramfs.cpio"),
            smp: 2,
            memory_mib: 512,
            channels,
            sockets: Path::new("/tmp/s,x"),
            kernel_log: false,
        })
    }

    fn after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn the_console_and_both_streams_are_sockets_and_the_launcher_is_inits_program() {
        for arch in Arch::ALL {
            let a = machine(arch, Channels::Virtio);
            assert_eq!(
                after(&a, "-chardev"),
                [
                    "socket,id=con,path=/tmp/s,,x/con",
                    "socket,id=out,path=/tmp/s,,x/out",
                    "socket,id=err,path=/tmp/s,,x/err"
                ]
            );
            assert_eq!(after(&a, "-serial"), ["chardev:con"]);
            assert_eq!(after(&a, "-m"), ["512M"]);
            let cmdline = after(&a, "-append")[0];
            assert!(cmdline.starts_with(&format!("console={} ", arch.console_device())));
            assert!(cmdline.ends_with(" -- /.clonekit/launch"), "{cmdline}");
            assert!(cmdline.contains("panic=-1"));
            for flag in ["-nodefaults", "-no-reboot"] {
                assert!(a.iter().any(|x| x == flag));
            }
            assert!(after(&a, "-device").contains(&"virtio-serial-pci,id=vser"));
        }
    }

    #[test]
    fn the_kernel_log_is_asked_for_from_its_first_line_only_when_timed() {
        for arch in Arch::ALL {
            let quiet = kernel_cmdline(arch, false);
            assert!(
                quiet.contains(" loglevel=1 ") && !quiet.contains("earlycon"),
                "{quiet}"
            );
            let timed = kernel_cmdline(arch, true);
            assert!(timed.contains(arch.earlycon()) && timed.contains(" loglevel=6 "));
            assert!(timed.ends_with(" -- /.clonekit/launch"), "{timed}");
        }
    }

    #[test]
    fn the_serial_fallback_uses_isa_ports_on_x86_and_a_pci_card_on_aarch64() {
        let x86 = machine(Arch::X86_64, Channels::Serial);
        assert_eq!(
            after(&x86, "-serial"),
            ["chardev:con", "chardev:out", "chardev:err"]
        );
        assert_eq!(
            Channels::Serial.devices(Arch::X86_64),
            ("/dev/ttyS1", "/dev/ttyS2")
        );
        let arm = machine(Arch::Aarch64, Channels::Serial);
        assert_eq!(
            after(&arm, "-device"),
            ["pci-serial-2x,chardev1=out,chardev2=err"]
        );
        assert_eq!(
            Channels::Serial.devices(Arch::Aarch64),
            ("/dev/ttyS0", "/dev/ttyS1")
        );
    }

    #[test]
    fn channels_follow_the_kernel_config() {
        let virtio = "CONFIG_VIRTIO_CONSOLE=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_SERIAL_8250=y\n";
        let module = "CONFIG_VIRTIO_CONSOLE=m\nCONFIG_VIRTIO_PCI=m\nCONFIG_SERIAL_8250=y\nCONFIG_SERIAL_8250_PCI=y\n";
        for arch in Arch::ALL {
            assert_eq!(
                Channels::for_kernel(arch, Some(virtio)).unwrap(),
                Channels::Virtio
            );
            assert_eq!(Channels::for_kernel(arch, None).unwrap(), Channels::Virtio);
        }
        assert_eq!(
            Channels::for_kernel(Arch::X86_64, Some(module)).unwrap(),
            Channels::Serial
        );
        assert_eq!(
            Channels::for_kernel(Arch::Aarch64, Some(module)).unwrap(),
            Channels::Serial
        );
        let e = Channels::for_kernel(Arch::Riscv64, Some(module))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CONFIG_VIRTIO_CONSOLE=y"), "{e}");
        let e = Channels::for_kernel(Arch::Aarch64, Some("CONFIG_SERIAL_8250=y\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CONFIG_SERIAL_8250_PCI=y"), "{e}");
    }

    #[test]
    fn the_real_debian_kernels_choose_as_measured() {
        // Debian's configs as cached: 6.12 and latest have virtio-console built in, 5.10
        // and 6.1 only as a module.
        let Ok(dir) = crate::workspace::cache_dir().map(|d| d.join("kernels")) else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            eprintln!("no cached kernels; skipped");
            return;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(config) = std::fs::read_to_string(entry.path().join("config")) else {
                continue;
            };
            let arch = if name.contains("amd64") {
                Arch::X86_64
            } else if name.contains("arm64") {
                Arch::Aarch64
            } else {
                Arch::Riscv64
            };
            let expected = if name.contains("-5.10.") || name.contains("-6.1.") {
                Channels::Serial
            } else {
                Channels::Virtio
            };
            assert_eq!(
                Channels::for_kernel(arch, Some(&config)).unwrap(),
                expected,
                "{name}"
            );
        }
    }
}
