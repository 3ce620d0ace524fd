//! What `run` needs to know about a program before it boots anything: which machine its
//! ELF file is for, whether it is static, its ELF interpreter (`PT_INTERP`), and the shared
//! libraries it names (`DT_NEEDED`, with `DT_RPATH` / `DT_RUNPATH`).
//!
//! Read from the program headers (which every loadable ELF file keeps, stripped or not),
//! not the section headers: `PT_INTERP` holds the interpreter's path, `PT_DYNAMIC` the
//! dynamic entries, whose string table (`DT_STRTAB`, a virtual address) is found through
//! the `PT_LOAD` segment that maps it. Reference: the System V ABI ("Program Header",
//! "Dynamic Section"), elf(5).

use anyhow::{Result, bail};

use crate::arch::Arch;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;

const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// `e_type`.
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;

/// What an ELF file says about running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// `e_machine`.
    pub machine: u16,
    /// ELFCLASS64 (else 32-bit).
    pub class64: bool,
    pub little_endian: bool,
    /// `e_type`: executable (`ET_EXEC`) or position-independent / shared (`ET_DYN`).
    pub kind: u16,
    /// `PT_INTERP`: the dynamic loader the kernel starts (`/lib/ld-linux-aarch64.so.1`).
    pub interpreter: Option<String>,
    /// `DT_NEEDED`, in order.
    pub needed: Vec<String>,
    /// `DT_SONAME`.
    pub soname: Option<String>,
    /// `DT_RPATH` and `DT_RUNPATH`, split at `:`.
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
}

/// The `e_machine` of each architecture.
pub const fn machine_of(arch: Arch) -> u16 {
    match arch {
        Arch::X86_64 => 62,
        Arch::Aarch64 => 183,
        Arch::Riscv64 => 243,
    }
}

/// A machine number's name, for messages.
pub fn machine_name(machine: u16) -> String {
    let name = match machine {
        2 => "SPARC",
        3 => "i386",
        8 => "MIPS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "s390",
        40 => "ARM (32-bit)",
        62 => "x86_64",
        183 => "aarch64",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => return format!("ELF machine {machine}"),
    };
    name.to_string()
}

fn u16_at(b: &[u8], at: u64) -> Option<u16> {
    let at = usize::try_from(at).ok()?;
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: u64) -> Option<u32> {
    let at = usize::try_from(at).ok()?;
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: u64) -> Option<u64> {
    let at = usize::try_from(at).ok()?;
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn c_string(b: &[u8], at: u64) -> Option<String> {
    let tail = b.get(usize::try_from(at).ok()?..)?;
    let end = tail.iter().position(|&c| c == 0)?;
    Some(String::from_utf8_lossy(&tail[..end]).into_owned())
}

/// One program header.
#[derive(Clone, Copy)]
struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

impl ElfInfo {
    /// Whether `bytes` starts like an ELF file.
    pub fn is_elf(bytes: &[u8]) -> bool {
        bytes.starts_with(b"\x7fELF")
    }

    /// Reads an ELF file's header, interpreter and dynamic entries. A 32-bit or
    /// big-endian file is read only as far as its machine (enough to refuse it).
    pub fn parse(bytes: &[u8]) -> Result<ElfInfo> {
        if !Self::is_elf(bytes) {
            bail!("not an ELF file");
        }
        let (Some(&class), Some(&data)) = (bytes.get(4), bytes.get(5)) else {
            bail!("truncated ELF header");
        };
        let class64 = class == 2;
        let little_endian = data == 1;
        let Some(raw_machine) = bytes.get(18..20) else {
            bail!("truncated ELF header");
        };
        let machine = if little_endian {
            u16::from_le_bytes([raw_machine[0], raw_machine[1]])
        } else {
            u16::from_be_bytes([raw_machine[0], raw_machine[1]])
        };
        let mut info = ElfInfo {
            machine,
            class64,
            little_endian,
            kind: 0,
            interpreter: None,
            needed: Vec::new(),
            soname: None,
            rpath: Vec::new(),
            runpath: Vec::new(),
        };
        if !class64 || !little_endian {
            return Ok(info);
        }
        match Self::parse64(bytes, &mut info) {
            Some(()) => Ok(info),
            None => bail!("truncated or garbled ELF program headers"),
        }
    }

    fn parse64(b: &[u8], info: &mut ElfInfo) -> Option<()> {
        info.kind = u16_at(b, 16)?;
        let phoff = u64_at(b, 32)?;
        let phentsize = u64::from(u16_at(b, 54)?);
        let phnum = u64::from(u16_at(b, 56)?);
        let mut segments = Vec::new();
        for i in 0..phnum {
            let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
            segments.push(Segment {
                kind: u32_at(b, at)?,
                offset: u64_at(b, at + 8)?,
                vaddr: u64_at(b, at + 16)?,
                filesz: u64_at(b, at + 32)?,
            });
        }
        if let Some(interp) = segments.iter().find(|s| s.kind == PT_INTERP) {
            let end = interp.offset.checked_add(interp.filesz)?;
            let raw = b.get(usize::try_from(interp.offset).ok()?..usize::try_from(end).ok()?)?;
            let path = raw.split(|&c| c == 0).next().unwrap_or(&[]);
            info.interpreter = Some(String::from_utf8_lossy(path).into_owned());
        }
        let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
            return Some(());
        };
        let mut entries = Vec::new();
        let mut at = dynamic.offset;
        let end = dynamic.offset.checked_add(dynamic.filesz)?;
        while at + 16 <= end {
            let tag = u64_at(b, at)?;
            if tag == DT_NULL {
                break;
            }
            entries.push((tag, u64_at(b, at + 8)?));
            at += 16;
        }
        let value = |tag: u64| entries.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v);
        let (Some(strtab), strsz) = (value(DT_STRTAB), value(DT_STRSZ)) else {
            return Some(());
        };
        // DT_STRTAB is an address: the file offset is where the PT_LOAD that maps it starts.
        let load = segments
            .iter()
            .find(|s| s.kind == PT_LOAD && s.vaddr <= strtab && strtab < s.vaddr + s.filesz)?;
        let table_start = load.offset + (strtab - load.vaddr);
        let table_end = strsz.map_or(b.len() as u64, |n| table_start.saturating_add(n));
        let table = b.get(usize::try_from(table_start).ok()?..usize::try_from(table_end).ok()?)?;
        let string = |offset: u64| c_string(table, offset);
        for &(tag, val) in &entries {
            match tag {
                DT_NEEDED => info.needed.push(string(val)?),
                DT_SONAME => info.soname = Some(string(val)?),
                DT_RPATH => info.rpath = split_path(&string(val)?),
                DT_RUNPATH => info.runpath = split_path(&string(val)?),
                _ => {}
            }
        }
        Some(())
    }

    /// Whether the kernel can start it without a loader: no interpreter and no library.
    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.needed.is_empty()
    }

    /// Whether it is a program (`ET_EXEC`, or `ET_DYN` for a PIE), as opposed to a
    /// relocatable object or a core file.
    pub fn is_executable_kind(&self) -> bool {
        matches!(self.kind, ET_EXEC | ET_DYN)
    }

    /// Refuses a file that `arch`'s kernel cannot run natively, naming what it is for.
    pub fn check_arch(&self, arch: Arch, what: &str) -> Result<()> {
        if self.machine != machine_of(arch) {
            bail!(
                "{what} is an ELF for {}, not {arch}: build it for {} (or run it with --arch {})",
                machine_name(self.machine),
                arch.triple(),
                arch_of_machine(self.machine).map_or("<its arch>", Arch::name)
            );
        }
        if !self.class64 || !self.little_endian {
            bail!(
                "{what} is a {} {} ELF; the {arch} guest runs 64-bit little-endian programs only",
                if self.class64 { "64-bit" } else { "32-bit" },
                if self.little_endian {
                    "little-endian"
                } else {
                    "big-endian"
                },
            );
        }
        Ok(())
    }
}

/// The architecture an `e_machine` belongs to, if it is one of the three.
pub fn arch_of_machine(machine: u16) -> Option<Arch> {
    Arch::ALL.into_iter().find(|a| machine_of(*a) == machine)
}

fn split_path(list: &str) -> Vec<String> {
    list.split(':')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// A synthetic ELF64 for tests: the given machine and type, an optional interpreter, and
/// dynamic entries naming the libraries (and a run path), laid out as a linker would
/// (a `PT_LOAD` mapping the string table at a virtual address different from its offset).
#[cfg(test)]
pub fn synthetic(
    machine: u16,
    interpreter: Option<&str>,
    needed: &[&str],
    soname: Option<&str>,
    runpath: Option<&str>,
) -> Vec<u8> {
    const VADDR_BIAS: u64 = 0x40_0000;
    let mut strtab = vec![0u8];
    let mut add = |s: &str| {
        let at = strtab.len() as u64;
        strtab.extend_from_slice(s.as_bytes());
        strtab.push(0);
        at
    };
    let mut dynamic: Vec<(u64, u64)> = needed.iter().map(|n| (DT_NEEDED, add(n))).collect();
    if let Some(s) = soname {
        dynamic.push((DT_SONAME, add(s)));
    }
    if let Some(r) = runpath {
        dynamic.push((DT_RUNPATH, add(r)));
    }
    let interp_bytes = interpreter.map(|i| {
        let mut v = i.as_bytes().to_vec();
        v.push(0);
        v
    });
    let has_dynamic = !needed.is_empty() || soname.is_some() || runpath.is_some();
    let phnum = 1 + usize::from(interp_bytes.is_some()) + usize::from(has_dynamic);
    let phoff = 64u64;
    let mut file = vec![0u8; 64 + 56 * phnum];
    let strtab_off = file.len() as u64;
    file.extend(&strtab);
    let interp_off = file.len() as u64;
    if let Some(i) = &interp_bytes {
        file.extend(i);
    }
    while !file.len().is_multiple_of(8) {
        file.push(0);
    }
    let dyn_off = file.len() as u64;
    dynamic.push((DT_STRTAB, VADDR_BIAS + strtab_off));
    dynamic.push((DT_STRSZ, strtab.len() as u64));
    dynamic.push((DT_NULL, 0));
    if has_dynamic {
        for (tag, val) in &dynamic {
            file.extend(tag.to_le_bytes());
            file.extend(val.to_le_bytes());
        }
    }
    let total = file.len() as u64;
    file[..4].copy_from_slice(b"\x7fELF");
    file[4] = 2;
    file[5] = 1;
    file[6] = 1;
    let kind = if interpreter.is_some() || soname.is_some() {
        ET_DYN
    } else {
        ET_EXEC
    };
    file[16..18].copy_from_slice(&kind.to_le_bytes());
    file[18..20].copy_from_slice(&machine.to_le_bytes());
    file[32..40].copy_from_slice(&phoff.to_le_bytes());
    file[54..56].copy_from_slice(&56u16.to_le_bytes());
    file[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
    let mut headers: Vec<(u32, u64, u64, u64)> = vec![(PT_LOAD, 0, VADDR_BIAS, total)];
    if let Some(i) = &interp_bytes {
        headers.push((
            PT_INTERP,
            interp_off,
            VADDR_BIAS + interp_off,
            i.len() as u64,
        ));
    }
    if has_dynamic {
        headers.push((
            PT_DYNAMIC,
            dyn_off,
            VADDR_BIAS + dyn_off,
            16 * dynamic.len() as u64,
        ));
    }
    for (i, (kind, offset, vaddr, size)) in headers.into_iter().enumerate() {
        let at = 64 + 56 * i;
        file[at..at + 4].copy_from_slice(&kind.to_le_bytes());
        file[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
        file[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
        file[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
        file[at + 40..at + 48].copy_from_slice(&size.to_le_bytes());
    }
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_program_names_its_interpreter_libraries_and_run_path() {
        let bytes = synthetic(
            183,
            Some("/lib/ld-linux-aarch64.so.1"),
            &["libm.so.6", "libc.so.6"],
            None,
            Some("$ORIGIN/../lib:/opt/x"),
        );
        let info = ElfInfo::parse(&bytes).unwrap();
        assert_eq!(info.machine, 183);
        assert!(info.class64 && info.little_endian && info.is_executable_kind());
        assert_eq!(
            info.interpreter.as_deref(),
            Some("/lib/ld-linux-aarch64.so.1")
        );
        assert_eq!(info.needed, ["libm.so.6", "libc.so.6"]);
        assert_eq!(info.runpath, ["$ORIGIN/../lib", "/opt/x"]);
        assert!(info.rpath.is_empty() && !info.is_static());
        info.check_arch(Arch::Aarch64, "prog").unwrap();
    }

    #[test]
    fn a_static_program_has_neither_interpreter_nor_libraries() {
        let info = ElfInfo::parse(&synthetic(243, None, &[], None, None)).unwrap();
        assert!(info.is_static());
        assert_eq!(info.kind, ET_EXEC);
        info.check_arch(Arch::Riscv64, "prog").unwrap();
    }

    #[test]
    fn a_library_has_its_soname() {
        let info = ElfInfo::parse(&synthetic(
            62,
            None,
            &["libc.so.6"],
            Some("libz.so.1"),
            None,
        ))
        .unwrap();
        assert_eq!(info.soname.as_deref(), Some("libz.so.1"));
        assert_eq!(info.needed, ["libc.so.6"]);
    }

    #[test]
    fn another_arch_is_refused_naming_both_and_the_fix() {
        let info = ElfInfo::parse(&synthetic(62, None, &[], None, None)).unwrap();
        let e = info
            .check_arch(Arch::Aarch64, "./a.out")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("./a.out is an ELF for x86_64, not aarch64")
                && e.contains("aarch64-unknown-linux-gnu")
                && e.contains("--arch x86_64"),
            "{e}"
        );
        let mut arm32 = synthetic(40, None, &[], None, None);
        arm32[4] = 1; // ELFCLASS32
        let info = ElfInfo::parse(&arm32).unwrap();
        let e = info.check_arch(Arch::Aarch64, "p").unwrap_err().to_string();
        assert!(e.contains("ELF for ARM (32-bit)"), "{e}");
        let mut i386 = synthetic(62, None, &[], None, None);
        i386[4] = 1;
        let e = ElfInfo::parse(&i386)
            .unwrap()
            .check_arch(Arch::X86_64, "p")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("32-bit") && e.contains("64-bit little-endian"),
            "{e}"
        );
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        assert!(ElfInfo::parse(b"#!/bin/sh\n").is_err());
        assert!(ElfInfo::parse(b"\x7fEL").is_err());
        let bytes = synthetic(183, Some("/lib/ld.so"), &["libc.so.6"], None, None);
        for cut in [6, 20, 63, 100, bytes.len() - 20] {
            // Either an error or a partial reading: never a panic.
            let _ = ElfInfo::parse(&bytes[..cut]);
        }
        assert!(ElfInfo::parse(&bytes[..100]).is_err());
    }

    #[test]
    fn every_arch_round_trips_through_its_machine_number() {
        for arch in Arch::ALL {
            assert_eq!(arch_of_machine(machine_of(arch)), Some(arch));
            assert_eq!(
                machine_name(machine_of(arch)),
                arch.name().replace("riscv64", "RISC-V")
            );
        }
        assert_eq!(arch_of_machine(3), None);
    }
}
