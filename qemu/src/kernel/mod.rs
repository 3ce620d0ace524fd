//! Guest kernels: real Debian kernel packages, fetched with apt into a private apt
//! directory and cached outside the checkout, keyed by package version.
//!
//! The cache (`$XDG_CACHE_HOME/clonekit` or `~/.cache/clonekit`):
//! - `apt/<suite>-<arch>/`: the private apt state ([`crate::apt`]);
//! - `kernels/<package>_<version>/`: the package's `/boot/vmlinu*` and `config`, plus
//!   `vmlinux.elf` for amd64 (the uncompressed kernel from the bzImage, which QEMU boots
//!   directly in about half the time);
//! - `kernels/<release>-<meta package>.resolved`: which `<package>_<version>` the meta
//!   package resolved to, so a second run finds the kernel without any network.
//!
//! A cached kernel that is missing, empty, truncated or has a bad magic is fetched again;
//! what a good image of each architecture looks like is [`image`]'s business.

pub mod image;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::apt::{PrivateApt, clear_dir, file_safe};
use crate::arch::Arch;
use crate::kernel::image::Format;
use crate::{progress, workspace};

/// A Debian release whose kernels the guests boot.
pub struct KernelRelease {
    /// The name used on the command line (`--kernel 6.12`).
    pub name: &'static str,
    /// The Debian suite the packages come from.
    pub suite: &'static str,
    /// The package per architecture: meta packages that depend on the current versioned
    /// `linux-image-<abi>-<flavour>`.
    pub packages: &'static [(Arch, &'static str)],
}

/// Every kernel the tool knows: the names are pinned here and nowhere else.
pub const RELEASES: &[KernelRelease] = &[
    KernelRelease {
        name: "6.12",
        suite: "trixie",
        packages: &[
            (Arch::X86_64, "linux-image-cloud-amd64"),
            (Arch::Aarch64, "linux-image-cloud-arm64"),
            (Arch::Riscv64, "linux-image-riscv64"),
        ],
    },
    KernelRelease {
        name: "6.1",
        suite: "bookworm",
        packages: &[
            (Arch::X86_64, "linux-image-cloud-amd64"),
            (Arch::Aarch64, "linux-image-cloud-arm64"),
        ],
    },
];

/// The kernel used when none is named.
pub const DEFAULT: &str = "6.12";

/// Kernel config options the guest tests rely on: the initramfs, devtmpfs and every
/// namespace a clone flag can create.
pub const REQUIRED_CONFIG: &[&str] = &[
    "CONFIG_BLK_DEV_INITRD",
    "CONFIG_DEVTMPFS",
    "CONFIG_UTS_NS",
    "CONFIG_IPC_NS",
    "CONFIG_USER_NS",
    "CONFIG_PID_NS",
    "CONFIG_NET_NS",
    "CONFIG_CGROUPS",
    "CONFIG_TIME_NS",
];

/// A kernel in the cache, ready to boot.
#[derive(Debug)]
pub struct Kernel {
    /// `linux-image-6.12.57+deb13-cloud-amd64` and the like.
    pub package: String,
    pub version: String,
    /// The file given to `qemu -kernel`.
    pub image: PathBuf,
    pub format: Format,
    /// Options of [`REQUIRED_CONFIG`] (and the console) the kernel lacks.
    pub missing_config: Vec<&'static str>,
}

/// Finds a release by its name.
pub fn release(name: &str) -> Result<&'static KernelRelease> {
    RELEASES.iter().find(|r| r.name == name).with_context(|| {
        let names: Vec<&str> = RELEASES.iter().map(|r| r.name).collect();
        format!("unknown kernel `{name}`: known are {}", names.join(", "))
    })
}

impl KernelRelease {
    /// The package for `arch`, or an error naming the architectures this release has.
    pub fn package(&self, arch: Arch) -> Result<&'static str> {
        self.packages
            .iter()
            .find(|(a, _)| *a == arch)
            .map(|(_, p)| *p)
            .with_context(|| {
                let have: Vec<&str> = self.packages.iter().map(|(a, _)| a.name()).collect();
                format!(
                    "Debian {} (kernel {}) has no {arch} kernel; it has {}",
                    self.suite,
                    self.name,
                    have.join(", ")
                )
            })
    }
}

/// The file that records which versioned package a meta package resolved to.
fn pointer_file(release: &KernelRelease, arch: Arch) -> Result<PathBuf> {
    let meta = release.package(arch)?;
    Ok(workspace::cache_dir()?
        .join("kernels")
        .join(format!("{}-{meta}.resolved", release.suite)))
}

/// Forgets what the meta package resolved to, so the next [`get`] asks apt again (and
/// picks up a newer kernel if the release has one).
pub fn forget(release: &KernelRelease, arch: Arch) -> Result<()> {
    let pointer = pointer_file(release, arch)?;
    match fs::remove_file(&pointer) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", pointer.display()))
        }
        _ => Ok(()),
    }
}

/// The kernel of `release` for `arch`: from the cache, else fetched.
pub fn get(release: &KernelRelease, arch: Arch) -> Result<Kernel> {
    let meta = release.package(arch)?;
    let kernels = workspace::cache_dir()?.join("kernels");
    let pointer = pointer_file(release, arch)?;
    match cached(arch, &kernels, &pointer) {
        Cached::Use(kernel) => return Ok(kernel),
        Cached::Fetch(Some(why)) => {
            progress::line(format_args!("kernel: {why}; fetching it again"))
        }
        Cached::Fetch(None) => {}
    }
    let kernel = fetch(release, arch, meta, &kernels)?;
    let key = format!("{}_{}", kernel.package, file_safe(&kernel.version));
    fs::write(&pointer, key).with_context(|| format!("writing {}", pointer.display()))?;
    Ok(kernel)
}

/// What [`get`] does with the cache for one kernel.
#[derive(Debug)]
pub enum Cached {
    /// A good kernel is cached: boot it.
    Use(Kernel),
    /// Fetch it: with the reason when a cache entry exists but is unusable (a garbled
    /// pointer file, a missing directory, an empty, foreign or truncated image), `None`
    /// when nothing was cached yet.
    Fetch(Option<String>),
}

/// Decides whether the kernel `pointer` names under `kernels` can be used as is, checking
/// the image as [`load`] does.
pub fn cached(arch: Arch, kernels: &Path, pointer: &Path) -> Cached {
    let key = match workspace::cache_pointer(pointer) {
        Ok(Some(key)) => key,
        Ok(None) => return Cached::Fetch(None),
        Err(why) => return Cached::Fetch(Some(why)),
    };
    let dir = kernels.join(key);
    match load(arch, &dir) {
        Ok(kernel) => Cached::Use(kernel),
        Err(e) => Cached::Fetch(Some(format!(
            "cached {} is unusable ({e:#})",
            dir.display()
        ))),
    }
}

/// Reads a cached kernel directory and checks it (see [`validate`]).
pub fn load(arch: Arch, dir: &Path) -> Result<Kernel> {
    let meta = fs::read_to_string(dir.join("package"))
        .with_context(|| format!("{} has no package file", dir.display()))?;
    let (package, version) = meta
        .trim()
        .split_once(' ')
        .context("package file is not `<name> <version>`")?;
    let (image, format) = validate(arch, dir)?;
    let config = fs::read_to_string(dir.join("config")).unwrap_or_default();
    Ok(Kernel {
        package: package.to_string(),
        version: version.to_string(),
        image,
        format,
        missing_config: missing_config(arch, &config),
    })
}

/// The image to boot from a cache directory: `vmlinux.elf` when present and good (x86_64),
/// else the package's own `vmlinu*`. Errors if none is a good image for `arch`.
pub fn validate(arch: Arch, dir: &Path) -> Result<(PathBuf, Format)> {
    let elf = dir.join("vmlinux.elf");
    if elf.exists()
        && let Ok(format) = image::check_file(arch, &elf)
    {
        return Ok((elf, format));
    }
    let original = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("vmlinu") && name != "vmlinux.elf"
        })
        .with_context(|| format!("no vmlinu* in {}", dir.display()))?;
    let format = image::check_file(arch, &original)?;
    Ok((original, format))
}

/// The options of [`REQUIRED_CONFIG`] and the console driver not set to `y` in a kernel
/// `.config`.
pub fn missing_config(arch: Arch, config: &str) -> Vec<&'static str> {
    REQUIRED_CONFIG
        .iter()
        .copied()
        .chain([arch.console_config()])
        .filter(|opt| !config.lines().any(|l| l == format!("{opt}=y")))
        .collect()
}

/// The versioned kernel package a meta package depends on: the first `linux-image-*` of
/// its `Depends` (alternatives and version constraints dropped).
pub fn kernel_dependency(depends: &str) -> Option<String> {
    depends
        .split([',', '|'])
        .map(|d| d.split_whitespace().next().unwrap_or(""))
        .find(|name| name.starts_with("linux-image-"))
        .map(String::from)
}

fn fetch(release: &KernelRelease, arch: Arch, meta: &str, kernels: &Path) -> Result<Kernel> {
    progress::line(format_args!(
        "kernel: resolving {meta} ({} {}) with a private apt",
        release.suite,
        arch.debian()
    ));
    let apt = PrivateApt::new(release.suite, arch)?;
    apt.update()?;
    let depends = apt.field(meta, "Depends")?;
    let package = kernel_dependency(&depends)
        .with_context(|| format!("{meta} depends on no linux-image-*: {depends}"))?;
    let version = apt.field(&package, "Version")?;
    let dir = kernels.join(format!("{package}_{}", file_safe(&version)));
    if let Ok(kernel) = load(arch, &dir) {
        return Ok(kernel); // resolved to a version already cached
    }
    progress::line(format_args!(
        "kernel: downloading {package} {version} (only /boot is kept)"
    ));
    // Only /boot, not the modules.
    let unpacked = apt.download_and_extract(&package, &["./boot"])?;

    let staging = kernels.join(format!(".staging-{package}"));
    clear_dir(&staging)?;
    for entry in fs::read_dir(unpacked.join("boot")).context("package has no /boot")? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with("vmlinu") {
            fs::rename(&path, staging.join(&name))?;
        } else if name.starts_with("config-") {
            fs::rename(&path, staging.join("config"))?;
        }
    }
    let _ = fs::remove_dir_all(&unpacked);
    fs::write(staging.join("package"), format!("{package} {version}\n"))?;
    let (original, format) = validate(arch, &staging)?;
    if format == Format::BzImage {
        unpack_vmlinux(&original, &staging.join("vmlinux.elf"));
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::rename(&staging, &dir)?;
    let kernel = load(arch, &dir)?;
    progress::line(format_args!(
        "kernel: cached {} ({:?})",
        kernel.image.display(),
        kernel.format
    ));
    Ok(kernel)
}

/// Writes the uncompressed kernel of a bzImage to `elf` if it can be booted directly
/// (has a PVH entry); otherwise the bzImage is used and this only says so.
fn unpack_vmlinux(bz_path: &Path, elf: &Path) {
    let result = fs::read(bz_path)
        .map_err(anyhow::Error::from)
        .and_then(|bz| image::extract_vmlinux(&bz));
    match result {
        Ok(vmlinux) if image::has_pvh_entry(&vmlinux) => {
            if let Err(e) = fs::write(elf, vmlinux) {
                progress::line(format_args!(
                    "kernel: could not write {}: {e}",
                    elf.display()
                ));
            }
        }
        Ok(_) => progress::line("kernel: vmlinux has no PVH entry; booting the bzImage"),
        Err(e) => progress::line(format_args!(
            "kernel: could not extract vmlinux ({e:#}); booting the bzImage"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_release_names_known_packages_and_the_default_exists() {
        assert!(release(DEFAULT).is_ok());
        let default = release(DEFAULT).unwrap();
        for arch in Arch::ALL {
            assert!(default.package(arch).is_ok(), "default kernel lacks {arch}");
        }
        assert!(release("6.1").unwrap().package(Arch::Riscv64).is_err());
        assert!(release("5.10").is_err());
    }

    #[test]
    fn meta_package_resolves_to_its_versioned_image() {
        let depends = "linux-image-6.12.57+deb13-cloud-amd64 (= 6.12.57-1)";
        assert_eq!(
            kernel_dependency(depends).as_deref(),
            Some("linux-image-6.12.57+deb13-cloud-amd64")
        );
        let several =
            "initramfs-tools | linux-initramfs-tool, linux-image-6.1.0-56-arm64 (= 6.1.192-1)";
        assert_eq!(
            kernel_dependency(several).as_deref(),
            Some("linux-image-6.1.0-56-arm64")
        );
        assert_eq!(kernel_dependency("libc6 (>= 2.36)"), None);
    }

    #[test]
    fn config_check_names_what_is_missing() {
        let mut config: String = REQUIRED_CONFIG.iter().map(|o| format!("{o}=y\n")).collect();
        config.push_str("CONFIG_SERIAL_8250_CONSOLE=y\n");
        assert!(missing_config(Arch::X86_64, &config).is_empty());
        assert_eq!(
            missing_config(Arch::Aarch64, &config),
            ["CONFIG_SERIAL_AMBA_PL011_CONSOLE"]
        );
        let modular = config.replace("CONFIG_DEVTMPFS=y", "CONFIG_DEVTMPFS=m");
        assert_eq!(missing_config(Arch::X86_64, &modular), ["CONFIG_DEVTMPFS"]);
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "clonekit-kernel-test-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn cache_validation_rejects_missing_empty_and_bad_magic_images() {
        let dir = scratch("cache");
        fs::write(dir.join("package"), "linux-image-x 1.0\n").unwrap();
        assert!(load(Arch::Aarch64, &dir).is_err(), "no image at all");
        fs::write(dir.join("vmlinuz-1.0-arm64"), b"").unwrap();
        assert!(load(Arch::Aarch64, &dir).is_err(), "empty image");
        fs::write(dir.join("vmlinuz-1.0-arm64"), vec![0x55u8; 0x1000]).unwrap();
        assert!(load(Arch::Aarch64, &dir).is_err(), "bad magic");
        let mut image = vec![0u8; 0x1000];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        fs::write(dir.join("vmlinuz-1.0-arm64"), &image).unwrap();
        let kernel = load(Arch::Aarch64, &dir).unwrap();
        assert_eq!(
            (kernel.package.as_str(), kernel.version.as_str()),
            ("linux-image-x", "1.0")
        );
        assert_eq!(kernel.format, Format::Image);
        assert!(load(Arch::Riscv64, &dir).is_err(), "another arch's image");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// An arm64 `Image` header QEMU boots: the magic at 0x38, no EFI stub.
    fn arm64_image() -> Vec<u8> {
        let mut image = vec![0u8; 0x1000];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        image
    }

    /// A cache with one kernel directory `key` holding `image`, and a pointer to `key`.
    fn cache_with(name: &str, key: &str, image: &[u8]) -> (PathBuf, PathBuf) {
        let kernels = scratch(name);
        let dir = kernels.join(key);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("package"), "linux-image-z 3.0\n").unwrap();
        fs::write(dir.join("vmlinuz-3.0-arm64"), image).unwrap();
        let pointer = kernels.join("trixie-linux-image-cloud-arm64.resolved");
        fs::write(&pointer, format!("{key}\n")).unwrap();
        (kernels, pointer)
    }

    fn fetch_reason(decision: Cached) -> Option<String> {
        match decision {
            Cached::Use(k) => panic!("a broken cache was used: {k:?}"),
            Cached::Fetch(why) => why,
        }
    }

    #[test]
    fn a_good_cached_kernel_is_used() {
        let (kernels, pointer) = cache_with("good", "linux-image-z_3.0", &arm64_image());
        match cached(Arch::Aarch64, &kernels, &pointer) {
            Cached::Use(k) => assert_eq!(k.version, "3.0"),
            Cached::Fetch(why) => panic!("refetched a good kernel: {why:?}"),
        }
        fs::remove_dir_all(&kernels).unwrap();
    }

    #[test]
    fn nothing_cached_is_fetched_without_a_complaint() {
        let kernels = scratch("nothing");
        let pointer = kernels.join("absent.resolved");
        assert_eq!(fetch_reason(cached(Arch::X86_64, &kernels, &pointer)), None);
        fs::remove_dir_all(&kernels).unwrap();
    }

    #[test]
    fn a_corrupt_cached_image_is_fetched_again_with_the_reason() {
        let mut truncated = arm64_image();
        truncated[..2].copy_from_slice(b"MZ");
        truncated[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        truncated[0x40..0x44].copy_from_slice(b"PE\0\0");
        truncated[0x46..0x48].copy_from_slice(&1u16.to_le_bytes());
        truncated[0x40 + 24 + 16..0x40 + 24 + 20].copy_from_slice(&0x10_0000u32.to_le_bytes());
        let cases: [(&str, &[u8], &str); 4] = [
            ("empty", b"", "is empty"),
            ("magic", &[0x55; 0x1000], "bad magic"),
            ("short", &arm64_image()[..0x100], "bad magic"),
            ("truncated", &truncated, "is truncated"),
        ];
        for (name, image, message) in cases {
            let (kernels, pointer) = cache_with(name, "linux-image-z_3.0", image);
            let why = fetch_reason(cached(Arch::Aarch64, &kernels, &pointer)).unwrap();
            assert!(
                why.contains("is unusable") && why.contains(message),
                "{name}: {why}"
            );
            fs::remove_dir_all(&kernels).unwrap();
        }
    }

    #[test]
    fn a_garbled_cache_pointer_or_package_file_is_fetched_again() {
        let (kernels, pointer) = cache_with("pointer", "linux-image-z_3.0", &arm64_image());
        for garbage in [
            &b""[..],
            b"\n",
            b"../../etc",
            b".staging-x",
            b"\xff\xfe\x00junk",
        ] {
            fs::write(&pointer, garbage).unwrap();
            let why = fetch_reason(cached(Arch::Aarch64, &kernels, &pointer)).unwrap();
            assert!(why.contains("garbled"), "{garbage:?}: {why}");
        }
        fs::write(&pointer, "linux-image-z_9.9").unwrap();
        let why = fetch_reason(cached(Arch::Aarch64, &kernels, &pointer)).unwrap();
        assert!(why.contains("no package file"), "{why}");
        fs::write(&pointer, "linux-image-z_3.0").unwrap();
        fs::write(kernels.join("linux-image-z_3.0/package"), "garbage").unwrap();
        let why = fetch_reason(cached(Arch::Aarch64, &kernels, &pointer)).unwrap();
        assert!(why.contains("package file is not"), "{why}");
        fs::remove_dir_all(&kernels).unwrap();
    }

    #[test]
    fn a_broken_extracted_vmlinux_falls_back_to_the_bzimage() {
        let dir = scratch("elf");
        fs::write(dir.join("package"), "linux-image-y 2.0\n").unwrap();
        let mut bz = vec![0u8; 0x1000];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        fs::write(dir.join("vmlinuz-2.0-amd64"), &bz).unwrap();
        fs::write(dir.join("vmlinux.elf"), b"").unwrap();
        let kernel = load(Arch::X86_64, &dir).unwrap();
        assert_eq!(kernel.format, Format::BzImage);
        fs::remove_dir_all(&dir).unwrap();
    }
}
