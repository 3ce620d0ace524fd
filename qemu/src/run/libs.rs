//! A dynamically linked program's closure: its ELF interpreter and every shared library
//! it needs, found the way the dynamic loader finds them (ld.so(8)), but in the *target's*
//! library directories, and where the guest's loader will look for them.
//!
//! For each `DT_NEEDED` name of an object, in ld.so's order: the object's `DT_RPATH` (only
//! when it has no `DT_RUNPATH`; the executable's too), `LD_LIBRARY_PATH`, the object's
//! `DT_RUNPATH`, then the default directories ([`default_dirs`]): the cross sysroot
//! (`/usr/aarch64-linux-gnu/lib`, what the cross gcc links against) and the multiarch
//! directories for a foreign arch, the host's own library directories for its own arch.
//! `$ORIGIN` is the object's directory. A candidate of another machine or class is skipped,
//! as ld.so skips it. Names are resolved once (breadth first), as ld.so loads each once.
//!
//! In the guest every library goes to `/lib/<name>` (a directory the glibc loader of all
//! three arches searches by default) and the interpreter to its `PT_INTERP` path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::arch::Arch;
use crate::run::elf_deps::{ElfInfo, machine_of};

/// Reads files: the real file system, or a map in the tests.
pub trait Files {
    /// The file's bytes, `None` when it does not exist or is not a readable file.
    fn read(&self, path: &Path) -> Option<Vec<u8>>;
}

/// The host's file system.
pub struct HostFiles;

impl Files for HostFiles {
    fn read(&self, path: &Path) -> Option<Vec<u8>> {
        if !path.is_file() {
            return None;
        }
        std::fs::read(path).ok()
    }
}

/// Where to look.
#[derive(Debug, Clone)]
pub struct SearchPath {
    pub arch: Arch,
    /// `LD_LIBRARY_PATH` as the host has it (entries of another arch are skipped file by
    /// file, as ld.so does).
    pub ld_library_path: Vec<PathBuf>,
    /// Extra root file systems given with `--sysroot`, searched before the defaults.
    pub sysroots: Vec<PathBuf>,
}

/// The default library directories of `arch` on this (Debian) host: the target's sysroot
/// for a foreign arch (the cross libc's `/usr/<multiarch>/lib`, then the multiarch
/// directories `apt-get install libfoo:<arch>` fills), the host's own ones for its arch.
pub fn default_dirs(arch: Arch) -> Vec<PathBuf> {
    let m = arch.multiarch();
    let dirs: Vec<String> = if Some(arch) == Arch::host() {
        vec![
            format!("/usr/local/lib/{m}"),
            "/usr/local/lib".into(),
            format!("/lib/{m}"),
            format!("/usr/lib/{m}"),
            "/lib64".into(),
            "/usr/lib64".into(),
            "/lib".into(),
            "/usr/lib".into(),
        ]
    } else {
        vec![
            format!("/usr/{m}/lib"),
            format!("/usr/{m}/lib64"),
            format!("/lib/{m}"),
            format!("/usr/lib/{m}"),
        ]
    };
    dirs.into_iter().map(PathBuf::from).collect()
}

/// One file to put in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFile {
    pub host: PathBuf,
    pub guest: String,
}

/// What a program needs besides itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Closure {
    pub interpreter: Option<GuestFile>,
    pub libraries: Vec<GuestFile>,
}

impl SearchPath {
    /// `--sysroot` roots, then the defaults.
    fn dirs(&self) -> Vec<PathBuf> {
        let m = self.arch.multiarch();
        let mut dirs = Vec::new();
        for root in &self.sysroots {
            for sub in [
                format!("lib/{m}"),
                format!("usr/lib/{m}"),
                "lib64".into(),
                "usr/lib64".into(),
                "lib".into(),
                "usr/lib".into(),
            ] {
                dirs.push(root.join(sub));
            }
        }
        dirs.extend(default_dirs(self.arch));
        dirs
    }

    /// Whether `bytes` are an ELF object this arch's loader would take.
    fn fits(&self, bytes: &[u8]) -> Option<ElfInfo> {
        let info = ElfInfo::parse(bytes).ok()?;
        (info.machine == machine_of(self.arch) && info.class64 && info.little_endian)
            .then_some(info)
    }

    /// The host file of the interpreter `path` (`PT_INTERP`): in a `--sysroot`, at the
    /// path itself for the host's arch, else by its name in the library directories.
    fn find_interpreter(&self, path: &str, files: &impl Files) -> Option<PathBuf> {
        let relative = path.trim_start_matches('/');
        let name = Path::new(path).file_name()?;
        let mut candidates: Vec<PathBuf> = self.sysroots.iter().map(|r| r.join(relative)).collect();
        if Some(self.arch) == Arch::host() {
            candidates.push(PathBuf::from(path));
        }
        candidates.extend(self.dirs().into_iter().map(|d| d.join(name)));
        candidates
            .into_iter()
            .find(|c| files.read(c).is_some_and(|b| self.fits(&b).is_some()))
    }
}

/// Expands `$ORIGIN` / `${ORIGIN}` (the object's directory) in a run path entry.
fn expand_origin(entry: &str, object: &Path) -> PathBuf {
    let origin = object
        .parent()
        .unwrap_or(Path::new("/"))
        .display()
        .to_string();
    PathBuf::from(
        entry
            .replace("${ORIGIN}", &origin)
            .replace("$ORIGIN", &origin),
    )
}

/// The interpreter and libraries `program` (already read: `info`) needs, each as a host
/// file and its guest path. Errors name the missing file, who needs it, where it was
/// looked for, and how to provide it.
pub fn closure(
    program: &Path,
    info: &ElfInfo,
    search: &SearchPath,
    files: &impl Files,
) -> Result<Closure> {
    let mut closure = Closure::default();
    let interpreter_name = info.interpreter.as_deref().and_then(|i| {
        Path::new(i)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    });
    if let Some(interp) = &info.interpreter {
        let Some(host) = search.find_interpreter(interp, files) else {
            bail!(
                "{} needs the ELF interpreter {interp}, which is not in {}: {}",
                program.display(),
                search_list(&search.dirs()),
                install_hint(search.arch)
            );
        };
        closure.interpreter = Some(GuestFile {
            host,
            guest: interp.clone(),
        });
    }
    // name -> host file, in the order found.
    let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut queue: Vec<(PathBuf, ElfInfo)> = vec![(program.to_path_buf(), info.clone())];
    let program_rpath = if info.runpath.is_empty() {
        info.rpath.clone()
    } else {
        Vec::new()
    };
    while let Some((object, object_info)) = queue.pop() {
        for name in &object_info.needed {
            if found.contains_key(name) || interpreter_name.as_deref() == Some(name.as_str()) {
                continue;
            }
            let mut dirs: Vec<PathBuf> = Vec::new();
            if object_info.runpath.is_empty() {
                dirs.extend(object_info.rpath.iter().map(|e| expand_origin(e, &object)));
                if object != program {
                    dirs.extend(program_rpath.iter().map(|e| expand_origin(e, program)));
                }
            }
            dirs.extend(search.ld_library_path.iter().cloned());
            dirs.extend(
                object_info
                    .runpath
                    .iter()
                    .map(|e| expand_origin(e, &object)),
            );
            dirs.extend(search.dirs());
            let candidates: Vec<PathBuf> = if name.contains('/') {
                vec![PathBuf::from(name)]
            } else {
                dirs.iter().map(|d| d.join(name)).collect()
            };
            let hit = candidates.into_iter().find_map(|c| {
                let bytes = files.read(&c)?;
                Some((c, search.fits(&bytes)?))
            });
            let Some((host, lib_info)) = hit else {
                bail!(
                    "{} (needed by {}) is not in {}: {}",
                    name,
                    object.display(),
                    search_list(&dirs),
                    install_hint(search.arch)
                );
            };
            found.insert(name.clone(), host.clone());
            closure.libraries.push(GuestFile {
                host: host.clone(),
                guest: format!(
                    "/lib/{}",
                    Path::new(name)
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                ),
            });
            queue.insert(0, (host, lib_info));
        }
    }
    Ok(closure)
}

fn search_list(dirs: &[PathBuf]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for d in dirs {
        let d = d.display().to_string();
        if !seen.contains(&d) {
            seen.push(d);
        }
    }
    seen.join(", ")
}

/// How to get a missing library of `arch`.
fn install_hint(arch: Arch) -> String {
    if Some(arch) == Arch::host() {
        "install the package that ships it, or name its directory in LD_LIBRARY_PATH, or \
         pack it with --file HOST:/lib/NAME"
            .to_string()
    } else {
        format!(
            "install the {arch} package that ships it ({} for the C library; \
             `dpkg --add-architecture {}` and `apt-get install <package>:{}` for others), \
             or give a root file system holding it with --sysroot DIR, or name its directory \
             in LD_LIBRARY_PATH",
            arch.cross_libc_package().unwrap_or("libc6-dev"),
            arch.debian(),
            arch.debian()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::elf_deps::synthetic;
    use std::collections::HashMap;

    struct Fake(HashMap<PathBuf, Vec<u8>>);

    impl Files for Fake {
        fn read(&self, path: &Path) -> Option<Vec<u8>> {
            self.0.get(path).cloned()
        }
    }

    fn fake(entries: &[(&str, Vec<u8>)]) -> Fake {
        Fake(
            entries
                .iter()
                .map(|(p, b)| (PathBuf::from(p), b.clone()))
                .collect(),
        )
    }

    fn search(arch: Arch) -> SearchPath {
        SearchPath {
            arch,
            ld_library_path: Vec::new(),
            sysroots: Vec::new(),
        }
    }

    const ARM: u16 = 183;
    const LD: &str = "/lib/ld-linux-aarch64.so.1";

    #[test]
    fn a_cross_program_gets_its_interpreter_and_libraries_from_the_sysroot_recursively() {
        let files = fake(&[
            (
                "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1",
                synthetic(ARM, None, &[], Some("ld-linux-aarch64.so.1"), None),
            ),
            (
                "/usr/aarch64-linux-gnu/lib/libc.so.6",
                synthetic(
                    ARM,
                    None,
                    &["ld-linux-aarch64.so.1"],
                    Some("libc.so.6"),
                    None,
                ),
            ),
            (
                "/usr/aarch64-linux-gnu/lib/libm.so.6",
                synthetic(ARM, None, &["libc.so.6"], Some("libm.so.6"), None),
            ),
            // Found through the multiarch directory, needing a library of its own.
            (
                "/usr/lib/aarch64-linux-gnu/libz.so.1",
                synthetic(ARM, None, &["libm.so.6", "libextra.so.2"], None, None),
            ),
            (
                "/usr/lib/aarch64-linux-gnu/libextra.so.2",
                synthetic(ARM, None, &["libc.so.6"], None, None),
            ),
        ]);
        let program = synthetic(ARM, Some(LD), &["libz.so.1", "libc.so.6"], None, None);
        let info = ElfInfo::parse(&program).unwrap();
        let c = closure(Path::new("/w/prog"), &info, &search(Arch::Aarch64), &files).unwrap();
        assert_eq!(
            c.interpreter,
            Some(GuestFile {
                host: "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1".into(),
                guest: LD.into()
            })
        );
        let mut guest: Vec<&str> = c.libraries.iter().map(|l| l.guest.as_str()).collect();
        guest.sort_unstable();
        // The interpreter, needed by libc by name, is not packed twice.
        assert_eq!(
            guest,
            [
                "/lib/libc.so.6",
                "/lib/libextra.so.2",
                "/lib/libm.so.6",
                "/lib/libz.so.1"
            ]
        );
        let z = c
            .libraries
            .iter()
            .find(|l| l.guest == "/lib/libz.so.1")
            .unwrap();
        assert_eq!(
            z.host,
            PathBuf::from("/usr/lib/aarch64-linux-gnu/libz.so.1")
        );
    }

    #[test]
    fn a_library_of_another_arch_is_skipped_as_ld_so_skips_it() {
        let files = fake(&[
            ("/opt/mixed/libq.so", synthetic(62, None, &[], None, None)),
            (
                "/usr/aarch64-linux-gnu/lib/libq.so",
                synthetic(ARM, None, &[], None, None),
            ),
            (
                "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1",
                synthetic(ARM, None, &[], None, None),
            ),
        ]);
        let mut s = search(Arch::Aarch64);
        s.ld_library_path = vec!["/opt/mixed".into()];
        let info = ElfInfo::parse(&synthetic(ARM, Some(LD), &["libq.so"], None, None)).unwrap();
        let c = closure(Path::new("/p"), &info, &s, &files).unwrap();
        assert_eq!(
            c.libraries[0].host,
            PathBuf::from("/usr/aarch64-linux-gnu/lib/libq.so")
        );
    }

    #[test]
    fn rpath_origin_and_ld_library_path_come_before_the_defaults() {
        let files = fake(&[
            (
                "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1",
                synthetic(ARM, None, &[], None, None),
            ),
            (
                "/usr/aarch64-linux-gnu/lib/liba.so",
                synthetic(ARM, None, &[], None, None),
            ),
            (
                "/w/bin/../lib/liba.so",
                synthetic(ARM, None, &[], None, None),
            ),
            (
                "/usr/aarch64-linux-gnu/lib/libb.so",
                synthetic(ARM, None, &[], None, None),
            ),
            ("/env/libb.so", synthetic(ARM, None, &[], None, None)),
        ]);
        let mut s = search(Arch::Aarch64);
        s.ld_library_path = vec!["/env".into()];
        let info = ElfInfo::parse(&synthetic(
            ARM,
            Some(LD),
            &["liba.so", "libb.so"],
            None,
            Some("$ORIGIN/../lib"),
        ))
        .unwrap();
        let c = closure(Path::new("/w/bin/prog"), &info, &s, &files).unwrap();
        let host = |name: &str| {
            c.libraries
                .iter()
                .find(|l| l.guest == format!("/lib/{name}"))
                .map(|l| l.host.clone())
                .unwrap()
        };
        // DT_RUNPATH comes after LD_LIBRARY_PATH, before the defaults.
        assert_eq!(host("liba.so"), PathBuf::from("/w/bin/../lib/liba.so"));
        assert_eq!(host("libb.so"), PathBuf::from("/env/libb.so"));
    }

    #[test]
    fn a_missing_library_or_interpreter_is_refused_naming_who_needs_it_and_the_fix() {
        let files = fake(&[(
            "/usr/riscv64-linux-gnu/lib/ld-linux-riscv64-lp64d.so.1",
            synthetic(243, None, &[], None, None),
        )]);
        let info = ElfInfo::parse(&synthetic(
            243,
            Some("/lib/ld-linux-riscv64-lp64d.so.1"),
            &["libssl.so.3"],
            None,
            None,
        ))
        .unwrap();
        let e = closure(Path::new("/t/prog"), &info, &search(Arch::Riscv64), &files)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("libssl.so.3 (needed by /t/prog) is not in /usr/riscv64-linux-gnu/lib")
                && e.contains("apt-get install <package>:riscv64")
                && e.contains("--sysroot"),
            "{e}"
        );
        let e = closure(
            Path::new("/t/prog"),
            &info,
            &search(Arch::Riscv64),
            &fake(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("needs the ELF interpreter /lib/ld-linux-riscv64-lp64d.so.1")
                && e.contains("libc6-dev-riscv64-cross"),
            "{e}"
        );
    }

    #[test]
    fn a_sysroot_is_searched_first_for_libraries_and_the_interpreter() {
        let files = fake(&[
            (
                "/sr/lib/ld-linux-aarch64.so.1",
                synthetic(ARM, None, &[], None, None),
            ),
            (
                "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1",
                synthetic(ARM, None, &[], None, None),
            ),
            (
                "/sr/usr/lib/aarch64-linux-gnu/libc.so.6",
                synthetic(ARM, None, &[], None, None),
            ),
            (
                "/usr/aarch64-linux-gnu/lib/libc.so.6",
                synthetic(ARM, None, &[], None, None),
            ),
        ]);
        let mut s = search(Arch::Aarch64);
        s.sysroots = vec!["/sr".into()];
        let info = ElfInfo::parse(&synthetic(ARM, Some(LD), &["libc.so.6"], None, None)).unwrap();
        let c = closure(Path::new("/p"), &info, &s, &files).unwrap();
        assert_eq!(
            c.interpreter.unwrap().host,
            PathBuf::from("/sr/lib/ld-linux-aarch64.so.1")
        );
        assert_eq!(
            c.libraries[0].host,
            PathBuf::from("/sr/usr/lib/aarch64-linux-gnu/libc.so.6")
        );
    }

    #[test]
    fn the_real_cross_libc_resolves_when_installed() {
        // The cross C library that `cargo qemu setup` installs: libc.so.6 and its loader.
        for arch in [Arch::Aarch64, Arch::Riscv64] {
            let dir = PathBuf::from(format!("/usr/{}/lib", arch.multiarch()));
            let Ok(libc) = std::fs::read(dir.join("libc.so.6")) else {
                eprintln!("{} not installed; skipped", dir.display());
                continue;
            };
            let libc_info = ElfInfo::parse(&libc).unwrap();
            assert_eq!(libc_info.machine, machine_of(arch));
            assert_eq!(libc_info.soname.as_deref(), Some("libc.so.6"));
            let interp = libc_info
                .needed
                .iter()
                .find(|n| n.starts_with("ld-linux"))
                .unwrap();
            let program = synthetic(
                machine_of(arch),
                Some(&format!("/lib/{interp}")),
                &["libm.so.6", "libc.so.6"],
                None,
                None,
            );
            let info = ElfInfo::parse(&program).unwrap();
            let c = closure(Path::new("/p"), &info, &search(arch), &HostFiles).unwrap();
            assert_eq!(c.interpreter.unwrap().host, dir.join(interp));
            let hosts: Vec<PathBuf> = c.libraries.iter().map(|l| l.host.clone()).collect();
            assert_eq!(hosts, [dir.join("libm.so.6"), dir.join("libc.so.6")]);
        }
    }
}
