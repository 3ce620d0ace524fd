//! The three guest architectures and every fact that differs between them: the names each
//! tool knows them by (Rust, Debian, QEMU), the qemu-system machine that boots them, the
//! console and its kernel driver, the firmware, and the cross toolchain that builds and
//! runs their binaries on the x86_64 machine the tool is set up for.
//!
//! Everything else in the tool asks [`Arch`] rather than matching on it, so adding an
//! architecture (or changing a machine) is an edit of this file.

use std::fmt;
use std::str::FromStr;

/// A guest architecture clonekit supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
    Riscv64,
}

impl Arch {
    /// Every architecture, in the order reports list them.
    pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::Aarch64, Arch::Riscv64];

    /// The architecture `setup` installs for as the native one: its tests run natively and
    /// it is the only one KVM can run; the other two are cross-built and tested under
    /// qemu-user.
    pub const NATIVE: Arch = Arch::X86_64;

    /// The architecture this tool runs on, if it is one of the three.
    pub fn host() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else if cfg!(target_arch = "riscv64") {
            Some(Arch::Riscv64)
        } else {
            None
        }
    }

    /// Whether this is not [`Arch::NATIVE`]: built with a cross toolchain, tested under
    /// qemu-user.
    pub const fn is_cross(self) -> bool {
        !matches!(self, Arch::NATIVE)
    }

    /// The name used on the command line and in file names (`x86_64`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The Rust target triple the crate and the init binary are built for.
    pub const fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
            Arch::Riscv64 => "riscv64gc-unknown-linux-gnu",
        }
    }

    /// Debian's architecture name (`dpkg --print-architecture`).
    pub const fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
            Arch::Riscv64 => "riscv64",
        }
    }

    // --- The cross toolchain (cross arches only) ---

    /// The Debian package of the cross C compiler: the linker of the cross test binaries
    /// (`.cargo/config.toml`) and, through its binutils, the [`strip_tool`](Self::strip_tool).
    pub const fn cross_compiler_package(self) -> Option<&'static str> {
        match self {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some("gcc-aarch64-linux-gnu"),
            Arch::Riscv64 => Some("gcc-riscv64-linux-gnu"),
        }
    }

    /// The Debian package of the cross libc, installed under [`cross_sysroot`](Self::cross_sysroot).
    pub const fn cross_libc_package(self) -> Option<&'static str> {
        match self {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some("libc6-dev-arm64-cross"),
            Arch::Riscv64 => Some("libc6-dev-riscv64-cross"),
        }
    }

    /// Where the cross libc of this architecture lives (Debian's `libc6-dev-<arch>-cross`):
    /// qemu-user's `-L` prefix for dynamically linked test binaries.
    pub const fn cross_sysroot(self) -> &'static str {
        match self {
            Arch::X86_64 => "/usr/x86_64-linux-gnu",
            Arch::Aarch64 => "/usr/aarch64-linux-gnu",
            Arch::Riscv64 => "/usr/riscv64-linux-gnu",
        }
    }

    /// Debian's multiarch tuple (`aarch64-linux-gnu`): the cross toolchain's prefix and
    /// sysroot name (`/usr/<tuple>/lib`) and the library directories' name
    /// (`/usr/lib/<tuple>`).
    pub const fn multiarch(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-linux-gnu",
            Arch::Aarch64 => "aarch64-linux-gnu",
            Arch::Riscv64 => "riscv64-linux-gnu",
        }
    }

    /// The cross C compiler driver (`aarch64-linux-gnu-gcc`): what `.cargo/config.toml`
    /// names as the cross linker, and what `init/build.rs` links through.
    pub fn cross_gcc(self) -> Option<String> {
        self.cross_compiler_package()
            .map(|_| format!("{}-gcc", self.multiarch()))
    }

    /// Cargo's per-target variable `CARGO_TARGET_<TRIPLE>_<key>` for this arch's triple
    /// (`LINKER`, `RUSTFLAGS`, `RUNNER`).
    pub fn cargo_target_env(self, key: &str) -> String {
        format!(
            "CARGO_TARGET_{}_{key}",
            self.triple().to_ascii_uppercase().replace(['-', '.'], "_")
        )
    }

    /// The binutils `strip` that understands this architecture's ELF files.
    pub const fn strip_tool(self) -> &'static str {
        match self {
            Arch::X86_64 => "strip",
            Arch::Aarch64 => "aarch64-linux-gnu-strip",
            Arch::Riscv64 => "riscv64-linux-gnu-strip",
        }
    }

    /// The qemu-user emulator's binary (`qemu-aarch64`); Debian's `qemu-user-static` appends
    /// `-static`.
    pub const fn qemu_user_binary(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-x86_64",
            Arch::Aarch64 => "qemu-aarch64",
            Arch::Riscv64 => "qemu-riscv64",
        }
    }

    // --- The qemu-system machine that boots the guest ---

    /// The qemu-system binary.
    pub const fn qemu_system_binary(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
            Arch::Riscv64 => "qemu-system-riscv64",
        }
    }

    /// The Debian package that ships [`qemu_system_binary`](Self::qemu_system_binary).
    pub const fn qemu_system_package(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86",
            Arch::Aarch64 => "qemu-system-arm",
            Arch::Riscv64 => "qemu-system-misc",
        }
    }

    /// Machine and CPU. aarch64: `cortex-a57`, since `-cpu max` spends seconds on pointer
    /// authentication under TCG. `-M microvm` hangs under TCG, so x86 uses `pc`. KVM
    /// (x86_64 only) runs the host's CPU.
    pub const fn machine_args(self, kvm: bool) -> &'static [&'static str] {
        match (self, kvm) {
            (Arch::X86_64, false) => &["-M", "pc"],
            (Arch::X86_64, true) => &["-M", "pc", "-enable-kvm", "-cpu", "host"],
            (Arch::Aarch64, _) => &["-M", "virt", "-cpu", "cortex-a57"],
            (Arch::Riscv64, _) => &["-M", "virt"],
        }
    }

    /// Firmware. riscv64 needs OpenSBI (`-bios none` hangs silently); x86 uses the
    /// built-in SeaBIOS, aarch64 boots the kernel directly.
    pub const fn firmware_args(self) -> &'static [&'static str] {
        match self {
            Arch::Riscv64 => &["-bios", "default"],
            Arch::X86_64 | Arch::Aarch64 => &[],
        }
    }

    /// The Debian package of the firmware [`firmware_args`](Self::firmware_args) loads, if
    /// the qemu-system package does not bring its own.
    pub const fn firmware_package(self) -> Option<&'static str> {
        match self {
            Arch::Riscv64 => Some("opensbi"),
            Arch::X86_64 | Arch::Aarch64 => None,
        }
    }

    /// The serial console device the kernel writes to (`console=` on its command line).
    pub const fn console_device(self) -> &'static str {
        match self {
            Arch::X86_64 | Arch::Riscv64 => "ttyS0",
            Arch::Aarch64 => "ttyAMA0",
        }
    }

    /// The kernel's `earlycon=` for the first serial port of QEMU's machine: its log from
    /// the first line, before the console driver is up (the 16550 at I/O port 0x3f8, the
    /// virt machines' PL011 and 16550 at their MMIO addresses).
    pub const fn earlycon(self) -> &'static str {
        match self {
            Arch::X86_64 => "earlycon=uart8250,io,0x3f8",
            Arch::Aarch64 => "earlycon=pl011,0x9000000",
            Arch::Riscv64 => "earlycon=uart8250,mmio,0x10000000",
        }
    }

    /// The kernel config option of the built-in driver behind
    /// [`console_device`](Self::console_device).
    pub const fn console_config(self) -> &'static str {
        match self {
            Arch::X86_64 | Arch::Riscv64 => "CONFIG_SERIAL_8250_CONSOLE",
            Arch::Aarch64 => "CONFIG_SERIAL_AMBA_PL011_CONSOLE",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Arch> {
        match s {
            "x86_64" | "x86-64" | "amd64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            "riscv64" | "riscv64gc" => Ok(Arch::Riscv64),
            _ => anyhow::bail!("unknown architecture `{s}`: expected x86_64, aarch64 or riscv64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str() {
        for arch in Arch::ALL {
            assert_eq!(arch.name().parse::<Arch>().unwrap(), arch);
            assert_eq!(arch.debian().parse::<Arch>().unwrap(), arch);
        }
        assert!("mips".parse::<Arch>().is_err());
    }

    #[test]
    fn exactly_the_cross_arches_have_a_cross_toolchain() {
        for arch in Arch::ALL {
            assert_eq!(arch.cross_compiler_package().is_some(), arch.is_cross());
            assert_eq!(arch.cross_libc_package().is_some(), arch.is_cross());
        }
        assert!(!Arch::X86_64.is_cross());
    }
}
