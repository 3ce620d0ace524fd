//! Just enough of ELF64 (little-endian: x86_64, aarch64, riscv64) to weigh a static binary:
//! its sections' names and sizes, and its symbols' names. Reference: the System V ABI's
//! "Object Files" chapter (`Elf64_Ehdr`, `Elf64_Shdr`, `Elf64_Sym`).

use anyhow::{Result, bail};

/// `SHT_SYMTAB`: the static symbol table (gone once stripped).
const SHT_SYMTAB: u32 = 2;

/// One section header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub kind: u32,
    pub offset: u64,
    pub size: u64,
    /// `sh_link`: for a symbol table, its string table's index.
    pub link: u32,
}

/// A parsed ELF64 file.
pub struct Elf<'a> {
    bytes: &'a [u8],
    pub sections: Vec<Section>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The NUL-terminated string at `at` of a string table.
fn string_at(table: &[u8], at: usize) -> String {
    let tail = table.get(at..).unwrap_or(&[]);
    let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
    String::from_utf8_lossy(&tail[..end]).into_owned()
}

impl<'a> Elf<'a> {
    /// Reads the section headers of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Elf<'a>> {
        if !bytes.starts_with(b"\x7fELF") || bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
            bail!("not a little-endian ELF64 file");
        }
        let header = || -> Option<Vec<Section>> {
            let shoff = u64_at(bytes, 0x28)? as usize;
            let shentsize = usize::from(u16_at(bytes, 0x3a)?);
            let shnum = usize::from(u16_at(bytes, 0x3c)?);
            let shstrndx = usize::from(u16_at(bytes, 0x3e)?);
            let raw = |i: usize| -> Option<(u32, u32, u64, u64, u32)> {
                let at = shoff.checked_add(i.checked_mul(shentsize)?)?;
                Some((
                    u32_at(bytes, at)?,
                    u32_at(bytes, at + 4)?,
                    u64_at(bytes, at + 0x18)?,
                    u64_at(bytes, at + 0x20)?,
                    u32_at(bytes, at + 0x28)?,
                ))
            };
            let (_, _, names_off, names_size, _) = raw(shstrndx)?;
            let names = bytes.get(names_off as usize..(names_off + names_size) as usize)?;
            (0..shnum)
                .map(|i| {
                    let (name, kind, offset, size, link) = raw(i)?;
                    Some(Section {
                        name: string_at(names, name as usize),
                        kind,
                        offset,
                        size,
                        link,
                    })
                })
                .collect()
        };
        match header() {
            Some(sections) => Ok(Elf { bytes, sections }),
            None => bail!("truncated or garbled ELF section headers"),
        }
    }

    /// The size of the section `name` (0 when there is none).
    pub fn section_size(&self, name: &str) -> u64 {
        self.sections
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.size)
            .sum()
    }

    /// The names of the symbols of `.symtab` (none in a stripped file).
    pub fn symbol_names(&self) -> Vec<String> {
        let Some(symtab) = self.sections.iter().find(|s| s.kind == SHT_SYMTAB) else {
            return Vec::new();
        };
        let Some(strtab) = self.sections.get(symtab.link as usize) else {
            return Vec::new();
        };
        let slice = |s: &Section| {
            self.bytes
                .get(s.offset as usize..(s.offset + s.size) as usize)
                .unwrap_or(&[])
        };
        let (symbols, strings) = (slice(symtab), slice(strtab));
        // Elf64_Sym: st_name u32, st_info, st_other, st_shndx u16, st_value, st_size: 24 bytes.
        symbols
            .chunks_exact(24)
            .filter_map(|sym| u32_at(sym, 0))
            .filter(|&name| name != 0)
            .map(|name| string_at(strings, name as usize))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with a `.text` of 16 bytes, a `.bss` and a symbol table naming
    /// `main` and `_ZN4core3fmt5write17h0E`.
    fn sample() -> Vec<u8> {
        let shstrtab = b"\0.text\0.bss\0.symtab\0.strtab\0.shstrtab\0";
        let strtab = b"\0main\0_ZN4core3fmt5write17h0E\0";
        let mut symtab = vec![0u8; 24]; // the null symbol
        for name in [1u32, 6] {
            let mut sym = vec![0u8; 24];
            sym[..4].copy_from_slice(&name.to_le_bytes());
            symtab.extend(sym);
        }
        let mut file = vec![0u8; 64];
        file[..6].copy_from_slice(b"\x7fELF\x02\x01");
        let text_off = file.len();
        file.extend([0x90u8; 16]);
        let symtab_off = file.len();
        file.extend(&symtab);
        let strtab_off = file.len();
        file.extend(strtab);
        let shstrtab_off = file.len();
        file.extend(shstrtab);
        let shoff = file.len();
        // (name, type, offset, size, link)
        let headers: [(u32, u32, usize, usize, u32); 6] = [
            (0, 0, 0, 0, 0),
            (1, 1, text_off, 16, 0),
            (7, 8, 0, 4096, 0), /* SHT_NOBITS */
            (12, SHT_SYMTAB, symtab_off, symtab.len(), 4),
            (20, 3, strtab_off, strtab.len(), 0),
            (28, 3, shstrtab_off, shstrtab.len(), 0),
        ];
        for (name, kind, offset, size, link) in headers {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[4..8].copy_from_slice(&kind.to_le_bytes());
            h[0x18..0x20].copy_from_slice(&(offset as u64).to_le_bytes());
            h[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            h[0x28..0x2c].copy_from_slice(&link.to_le_bytes());
            file.extend(h);
        }
        file[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        file[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        file[0x3c..0x3e].copy_from_slice(&6u16.to_le_bytes());
        file[0x3e..0x40].copy_from_slice(&5u16.to_le_bytes());
        file
    }

    #[test]
    fn sections_and_symbols_are_read_back() {
        let bytes = sample();
        let elf = Elf::parse(&bytes).unwrap();
        assert_eq!(elf.section_size(".text"), 16);
        assert_eq!(elf.section_size(".bss"), 4096);
        assert_eq!(elf.section_size(".eh_frame"), 0);
        assert_eq!(elf.symbol_names(), ["main", "_ZN4core3fmt5write17h0E"]);
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        assert!(Elf::parse(b"not an elf").is_err());
        let bytes = sample();
        // Cut before the ELF class, inside the header, inside the last section header.
        for cut in [4, 16, 64, bytes.len() - 40] {
            assert!(Elf::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong_class = bytes.clone();
        wrong_class[4] = 1;
        assert!(Elf::parse(&wrong_class).is_err());
    }
}
