//! Kernel image formats: recognising a good image by its magic, and taking the
//! uncompressed `vmlinux` out of an x86 bzImage.
//!
//! References: Documentation/arch/x86/boot.rst (bzImage header), Documentation/arch/arm64/
//! booting.rst and Documentation/arch/riscv/boot-image-header.rst (`Image` headers).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::arch::Arch;

/// What a kernel file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// x86 boot protocol image (`HdrS` at 0x202).
    BzImage,
    /// An ELF `vmlinux` (x86_64: booted by QEMU through its PVH entry note).
    Elf,
    /// arm64 `Image` (`ARM\x64` at 0x38) or riscv64 `Image` (`RSC\x05` at 0x38).
    Image,
    /// A gzip-compressed `Image` (arm64 `vmlinuz` on some releases; QEMU accepts it).
    GzipImage,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The format of a kernel image for `arch`, or `None` if the bytes are not one QEMU can
/// boot on that architecture (empty, truncated, another arch's image, garbage).
pub fn detect(arch: Arch, bytes: &[u8]) -> Option<Format> {
    const ELF_MACHINE_X86_64: u16 = 62;
    if bytes.len() < 0x240 {
        return None;
    }
    match arch {
        Arch::X86_64 if bytes.get(0x202..0x206) == Some(b"HdrS") => Some(Format::BzImage),
        Arch::X86_64 if bytes.starts_with(b"\x7fELF") && le16(bytes, 18)? == ELF_MACHINE_X86_64 => {
            Some(Format::Elf)
        }
        Arch::Aarch64 if bytes.get(0x38..0x3c) == Some(b"ARM\x64") => Some(Format::Image),
        Arch::Aarch64 if bytes.starts_with(&[0x1f, 0x8b]) => Some(Format::GzipImage),
        Arch::Riscv64 if bytes.get(0x38..0x3c) == Some(b"RSC\x05") => Some(Format::Image),
        _ => None,
    }
}

/// The compressed kernel inside a bzImage (boot protocol 2.08+: `payload_offset` and
/// `payload_length`, counted from the start of the protected-mode code).
pub fn bzimage_payload(bz: &[u8]) -> Result<&[u8]> {
    let version = le16(bz, 0x206).context("bzImage too short")?;
    if bz.get(0x202..0x206) != Some(b"HdrS") || version < 0x208 {
        bail!("not a bzImage of boot protocol 2.08 or later");
    }
    let setup_sects = match bz[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let pm_start = (setup_sects + 1) * 512;
    let offset = pm_start + le32(bz, 0x248).context("no payload_offset")? as usize;
    let length = le32(bz, 0x24c).context("no payload_length")? as usize;
    bz.get(offset..offset + length)
        .context("bzImage payload lies outside the file")
}

/// Decompresses a bzImage's payload into the ELF `vmlinux` it holds, with the system's
/// `xz`, `zstd`, `gzip` or `lz4`.
pub fn extract_vmlinux(bz: &[u8]) -> Result<Vec<u8>> {
    let payload = bzimage_payload(bz)?;
    // The kernel's build appends the decompressed size (4 bytes) after the stream.
    let stream = &payload[..payload.len().saturating_sub(4)];
    let (tool, args): (&str, &[&str]) = if stream.starts_with(b"\xfd7zXZ\0") {
        ("xz", &["-dc", "--single-stream"])
    } else if stream.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ("zstd", &["-dc"])
    } else if stream.starts_with(&[0x1f, 0x8b]) {
        ("gzip", &["-dc"])
    } else if stream.starts_with(&[0x02, 0x21, 0x4c, 0x18]) {
        ("lz4", &["-dc"]) // the legacy lz4 frame of `lz4 -l`
    } else {
        bail!("bzImage payload is in a compression this tool does not handle");
    };
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("running {tool}"))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    let input = stream.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    // A broken pipe here only means the tool stopped early; its output decides.
    let _ = writer.join();
    let elf = out.stdout;
    if !elf.starts_with(b"\x7fELF") {
        bail!("{tool} did not produce an ELF vmlinux ({})", out.status);
    }
    Ok(elf)
}

/// Whether an x86_64 ELF vmlinux has the PVH entry point QEMU needs to boot it directly
/// (`XEN_ELFNOTE_PHYS32_ENTRY`, a note named "Xen" of type 18, from CONFIG_PVH).
pub fn has_pvh_entry(elf: &[u8]) -> bool {
    const PT_NOTE: u32 = 4;
    const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
    let (Some(phoff), Some(phentsize), Some(phnum)) =
        (le64(elf, 0x20), le16(elf, 0x36), le16(elf, 0x38))
    else {
        return false;
    };
    (0..usize::from(phnum)).any(|i| {
        let ph = phoff as usize + i * usize::from(phentsize);
        if le32(elf, ph) != Some(PT_NOTE) {
            return false;
        }
        let (Some(off), Some(size)) = (le64(elf, ph + 8), le64(elf, ph + 32)) else {
            return false;
        };
        let Some(notes) = elf.get(off as usize..(off + size) as usize) else {
            return false;
        };
        let mut at = 0;
        let align4 = |n: usize| (n + 3) & !3;
        while let (Some(namesz), Some(descsz), Some(kind)) =
            (le32(notes, at), le32(notes, at + 4), le32(notes, at + 8))
        {
            let name = notes.get(at + 12..at + 12 + namesz as usize).unwrap_or(b"");
            if kind == XEN_ELFNOTE_PHYS32_ENTRY && name == b"Xen\0" {
                return true;
            }
            at += 12 + align4(namesz as usize) + align4(descsz as usize);
        }
        false
    })
}

/// Reads a kernel image and checks it is one QEMU boots on `arch`.
pub fn check_file(arch: Arch, path: &Path) -> Result<Format> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.is_empty() {
        bail!("{} is empty", path.display());
    }
    detect(arch, &bytes).with_context(|| {
        format!(
            "{} is not a {arch} kernel image (bad magic)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with(at: usize, magic: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 0x1000];
        b[at..at + magic.len()].copy_from_slice(magic);
        b
    }

    #[test]
    fn magic_identifies_each_arch_and_rejects_the_others() {
        let bz = image_with(0x202, b"HdrS");
        let arm = image_with(0x38, b"ARM\x64");
        let rv = image_with(0x38, b"RSC\x05");
        assert_eq!(detect(Arch::X86_64, &bz), Some(Format::BzImage));
        assert_eq!(detect(Arch::Aarch64, &arm), Some(Format::Image));
        assert_eq!(detect(Arch::Riscv64, &rv), Some(Format::Image));
        assert_eq!(detect(Arch::Aarch64, &bz), None);
        assert_eq!(detect(Arch::Riscv64, &arm), None);
        assert_eq!(detect(Arch::X86_64, &rv), None);
    }

    #[test]
    fn empty_truncated_or_zeroed_images_are_rejected() {
        assert_eq!(detect(Arch::X86_64, &[]), None);
        assert_eq!(detect(Arch::Aarch64, b"ARM"), None);
        assert_eq!(detect(Arch::Riscv64, &[0u8; 0x1000]), None);
    }

    #[test]
    fn elf_must_be_x86_64() {
        let mut elf = image_with(0, b"\x7fELF");
        elf[18] = 62;
        assert_eq!(detect(Arch::X86_64, &elf), Some(Format::Elf));
        elf[18] = 183; // EM_AARCH64
        assert_eq!(detect(Arch::X86_64, &elf), None);
    }

    #[test]
    fn bzimage_payload_is_found_from_the_header() {
        let mut bz = image_with(0x202, b"HdrS");
        bz[0x1f1] = 1; // one setup sector: protected-mode code at 1024
        bz[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        bz[0x248..0x24c].copy_from_slice(&16u32.to_le_bytes());
        bz[0x24c..0x250].copy_from_slice(&6u32.to_le_bytes());
        bz[1040..1046].copy_from_slice(b"\xfd7zXZ\0");
        assert_eq!(bzimage_payload(&bz).unwrap(), b"\xfd7zXZ\0");
        bz[0x24c..0x250].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(bzimage_payload(&bz).is_err());
    }

    #[test]
    fn pvh_note_is_found_in_a_pt_note_segment() {
        // ELF header (64 bytes) + one program header (56 bytes) + one note.
        let mut elf = vec![0u8; 0x200];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        elf[ph..ph + 4].copy_from_slice(&4u32.to_le_bytes());
        elf[ph + 8..ph + 16].copy_from_slice(&0x100u64.to_le_bytes());
        elf[ph + 32..ph + 40].copy_from_slice(&20u64.to_le_bytes());
        let note = 0x100;
        elf[note..note + 4].copy_from_slice(&4u32.to_le_bytes());
        elf[note + 4..note + 8].copy_from_slice(&4u32.to_le_bytes());
        elf[note + 8..note + 12].copy_from_slice(&18u32.to_le_bytes());
        elf[note + 12..note + 16].copy_from_slice(b"Xen\0");
        assert!(has_pvh_entry(&elf));
        elf[note + 8] = 17;
        assert!(!has_pvh_entry(&elf));
    }
}
