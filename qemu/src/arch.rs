//! The three guest architectures and the names each tool knows them by.

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

    /// The name used on the command line and in file names (`x86_64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The Rust target triple the crate and the init binary are built for.
    pub fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
            Arch::Riscv64 => "riscv64gc-unknown-linux-gnu",
        }
    }

    /// Debian's architecture name (`dpkg --print-architecture`).
    pub fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// Where the cross libc of this architecture lives (Debian's `libc6-dev-<arch>-cross`):
    /// qemu-user's `-L` prefix for dynamically linked test binaries.
    pub fn cross_sysroot(self) -> &'static str {
        match self {
            Arch::X86_64 => "/usr/x86_64-linux-gnu",
            Arch::Aarch64 => "/usr/aarch64-linux-gnu",
            Arch::Riscv64 => "/usr/riscv64-linux-gnu",
        }
    }

    /// The binutils `strip` that understands this architecture's ELF files.
    pub fn strip_tool(self) -> &'static str {
        match self {
            Arch::X86_64 => "strip",
            Arch::Aarch64 => "aarch64-linux-gnu-strip",
            Arch::Riscv64 => "riscv64-linux-gnu-strip",
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
}
