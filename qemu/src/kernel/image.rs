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

/// Reads a kernel image and checks it is one QEMU boots on `arch`: not empty, the right
/// magic, and not cut short (see [`truncation`]).
pub fn check_file(arch: Arch, path: &Path) -> Result<Format> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.is_empty() {
        bail!("{} is empty", path.display());
    }
    let format = detect(arch, &bytes).with_context(|| {
        format!(
            "{} is not a {arch} kernel image (bad magic)",
            path.display()
        )
    })?;
    if let Some(why) = truncation(format, &bytes) {
        bail!("{} is truncated: {why}", path.display());
    }
    Ok(format)
}

/// Why an image with a good magic is shorter than its own headers say, if it is:
/// - an EFI-stub image (x86 bzImage, arm64 and riscv64 `Image`: `MZ` and a PE header) must
///   hold every PE section's raw data;
/// - a bzImage must hold its setup sectors and `syssize` paragraphs of protected-mode code;
/// - an ELF `vmlinux` must hold its program headers and every segment's file bytes.
///
/// A gzip image is only checked by its magic (its length is known only by inflating it).
pub fn truncation(format: Format, bytes: &[u8]) -> Option<String> {
    let len = bytes.len() as u64;
    let short = |what: &str, end: u64| {
        (end > len).then(|| format!("{what} ends at byte {end}, the file has {len}"))
    };
    if bytes.starts_with(b"MZ")
        && let Some(pe) = le32(bytes, 0x3c).map(u64::from)
        && bytes.get(pe as usize..pe as usize + 4) == Some(b"PE\0\0")
    {
        let pe = pe as usize;
        if let Some(why) = short("the PE header", (pe + 24) as u64) {
            return Some(why);
        }
        let sections = le16(bytes, pe + 6)?;
        let optional = le16(bytes, pe + 20)?;
        let table = pe + 24 + usize::from(optional);
        if let Some(why) = short(
            "the PE section table",
            (table + 40 * usize::from(sections)) as u64,
        ) {
            return Some(why);
        }
        for i in 0..usize::from(sections) {
            let at = table + 40 * i;
            let (Some(size), Some(offset)) = (le32(bytes, at + 16), le32(bytes, at + 20)) else {
                continue;
            };
            if let Some(why) = short("a PE section", u64::from(offset) + u64::from(size)) {
                return Some(why);
            }
        }
    }
    match format {
        Format::BzImage => {
            let setup_sects = match bytes[0x1f1] {
                0 => 4,
                n => u64::from(n),
            };
            let syssize = u64::from(le32(bytes, 0x1f4)?);
            short(
                "the protected-mode kernel",
                (setup_sects + 1) * 512 + syssize * 16,
            )
        }
        Format::Elf => {
            let phoff = le64(bytes, 0x20)?;
            let phentsize = u64::from(le16(bytes, 0x36)?);
            let phnum = u64::from(le16(bytes, 0x38)?);
            if let Some(why) = short(
                "the program header table",
                phoff.saturating_add(phentsize * phnum),
            ) {
                return Some(why);
            }
            (0..phnum).find_map(|i| {
                let ph = (phoff + i * phentsize) as usize;
                let offset = le64(bytes, ph + 8)?;
                let filesz = le64(bytes, ph + 32)?;
                short("a segment", offset.saturating_add(filesz))
            })
        }
        Format::Image | Format::GzipImage => None,
    }
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

    /// A bzImage header: `setup_sects` 1 (protected-mode code at 1024), `syssize`
    /// paragraphs of code after it.
    fn bzimage(len: usize, syssize: u32) -> Vec<u8> {
        let mut bz = vec![0u8; len];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        bz[0x1f1] = 1;
        bz[0x1f4..0x1f8].copy_from_slice(&syssize.to_le_bytes());
        bz
    }

    #[test]
    fn a_bzimage_shorter_than_its_syssize_is_truncated() {
        let whole = bzimage(1024 + 16 * 100, 100);
        assert_eq!(detect(Arch::X86_64, &whole), Some(Format::BzImage));
        assert_eq!(truncation(Format::BzImage, &whole), None);
        let cut = &whole[..whole.len() - 1];
        let why = truncation(Format::BzImage, cut).unwrap();
        assert!(why.contains("protected-mode kernel"), "{why}");
    }

    #[test]
    fn an_elf_cut_inside_a_segment_or_its_headers_is_truncated() {
        let mut elf = image_with(0, b"\x7fELF");
        elf[18] = 62;
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        elf[64 + 8..64 + 16].copy_from_slice(&0x200u64.to_le_bytes());
        elf[64 + 32..64 + 40].copy_from_slice(&0xe00u64.to_le_bytes());
        assert_eq!(truncation(Format::Elf, &elf), None);
        let why = truncation(Format::Elf, &elf[..0xfff]).unwrap();
        assert!(why.contains("segment"), "{why}");
        elf[0x38..0x3a].copy_from_slice(&200u16.to_le_bytes());
        let why = truncation(Format::Elf, &elf).unwrap();
        assert!(why.contains("program header table"), "{why}");
    }

    #[test]
    fn an_efi_stub_image_cut_inside_a_pe_section_is_truncated() {
        let mut arm = image_with(0x38, b"ARM\x64");
        arm[..2].copy_from_slice(b"MZ");
        arm[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        arm[0x40..0x44].copy_from_slice(b"PE\0\0");
        arm[0x46..0x48].copy_from_slice(&1u16.to_le_bytes()); // one section
        arm[0x54..0x56].copy_from_slice(&0u16.to_le_bytes()); // no optional header
        let section = 0x40 + 24;
        arm[section + 16..section + 20].copy_from_slice(&0x800u32.to_le_bytes());
        arm[section + 20..section + 24].copy_from_slice(&0x800u32.to_le_bytes());
        assert_eq!(detect(Arch::Aarch64, &arm), Some(Format::Image));
        assert_eq!(truncation(Format::Image, &arm), None);
        let why = truncation(Format::Image, &arm[..0xff0]).unwrap();
        assert!(why.contains("PE section"), "{why}");
        // A PE header pointing past the end of the file.
        arm[0x3c..0x40].copy_from_slice(&0xffcu32.to_le_bytes());
        arm[0xffc..0x1000].copy_from_slice(b"PE\0\0");
        assert!(
            truncation(Format::Image, &arm)
                .unwrap()
                .contains("PE header")
        );
    }

    #[test]
    fn check_file_names_empty_bad_magic_and_truncated_files() {
        let dir = std::env::temp_dir().join(format!("clonekit-kimage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vmlinuz");
        let cases: [(&[u8], &str); 3] = [
            (b"", "is empty"),
            (&[0x55; 0x1000], "bad magic"),
            (&bzimage(1024 + 16 * 100, 100)[..1500], "is truncated"),
        ];
        for (bytes, message) in cases {
            std::fs::write(&path, bytes).unwrap();
            let e = check_file(Arch::X86_64, &path).unwrap_err().to_string();
            assert!(e.contains(message), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The real images in this machine's kernel cache, if any, are whole: the truncation
    /// checks must never reject a good kernel.
    #[test]
    fn cached_real_kernels_are_not_truncated() {
        let Ok(kernels) = crate::workspace::cache_dir().map(|d| d.join("kernels")) else {
            return;
        };
        let Ok(dirs) = std::fs::read_dir(&kernels) else {
            return;
        };
        for dir in dirs.filter_map(|e| e.ok()).map(|e| e.path()) {
            let Ok(files) = std::fs::read_dir(&dir) else {
                continue;
            };
            for file in files.filter_map(|e| e.ok()).map(|e| e.path()) {
                let name = file.file_name().unwrap_or_default().to_string_lossy();
                if !name.starts_with("vmlinu") || name.contains(".staging") {
                    continue;
                }
                let bytes = std::fs::read(&file).unwrap();
                let format = Arch::ALL.iter().find_map(|&a| detect(a, &bytes));
                if let Some(format) = format {
                    assert_eq!(truncation(format, &bytes), None, "{}", file.display());
                    // Cut in half, every format but gzip is found out.
                    let half = &bytes[..bytes.len() / 2];
                    if format != Format::GzipImage {
                        assert!(truncation(format, half).is_some(), "{}", file.display());
                    }
                }
            }
        }
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
