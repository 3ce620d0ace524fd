//! Guest kernels: real Debian kernel packages, fetched with apt into a private apt
//! directory and cached outside the checkout, keyed by package version.
//!
//! - [`release`]: which kernels exist (`--kernel 5.10|6.1|6.12|latest`) and the matrix of
//!   architecture × kernel pairs;
//! - [`packages`]: how Debian packages a kernel (the 7.x packages split it in two);
//! - [`debian_version`]: which of two package versions is newer (`latest` keeps the newest
//!   of several suites);
//! - [`image`]: what a good image of each architecture looks like;
//! - this module: the cache, and fetching into it.
//!
//! The cache (`$XDG_CACHE_HOME/clonekit` or `~/.cache/clonekit`):
//! - `apt/<suite>-<arch>/`: the private apt state ([`crate::apt`]);
//! - `kernels/<package>_<version>/`: the kernel image (`vmlinu*`, as the package names it)
//!   and `config`, plus `vmlinux.elf` for amd64 (the uncompressed kernel from the bzImage,
//!   which QEMU boots directly in about half the time), and `package` (`<name> <version>`);
//! - `kernels/<release>-<meta package>.resolved` (`6.12-linux-image-cloud-amd64.resolved`):
//!   which `<package>_<version>` the meta package resolved to, so a second run finds the
//!   kernel without any network.
//!
//! A cached kernel that is missing, empty, truncated or has a bad magic is fetched again.

pub mod debian_version;
pub mod image;
pub mod packages;
pub mod release;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::apt::{PrivateApt, clear_dir, file_safe};
use crate::arch::Arch;
pub use crate::kernel::debian_version::linux_version;
use crate::kernel::image::Format;
use crate::kernel::packages::Layout;
pub use crate::kernel::release::{DEFAULT, KernelRelease, release_for};
// Other modules' tests name a release without an architecture.
#[cfg(test)]
pub use crate::kernel::release::release;
use crate::{progress, workspace};

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
    /// The Debian package version (`7.3.4-1~bpo13+1`); [`linux_version`] gives Linux's.
    pub version: String,
    /// The file given to `qemu -kernel`.
    pub image: PathBuf,
    pub format: Format,
    /// Options of [`REQUIRED_CONFIG`] (and the console) the kernel lacks.
    pub missing_config: Vec<&'static str>,
}

/// The file that records which versioned package a meta package resolved to.
fn pointer_file(release: &KernelRelease, arch: Arch) -> Result<PathBuf> {
    let meta = release.package(arch)?;
    Ok(workspace::cache_dir()?
        .join("kernels")
        .join(format!("{}-{meta}.resolved", release.name)))
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

/// One suite's answer to "which kernel does the meta package stand for".
struct Candidate {
    suite: &'static str,
    apt: PrivateApt,
    /// The versioned image package (`linux-image-<abi>`) and its Debian version.
    package: String,
    version: String,
}

/// Resolves `meta` in `suite`: updates the private apt lists, then follows the meta
/// package to its versioned image package.
fn resolve_in(suite: &'static str, arch: Arch, meta: &str) -> Result<Candidate> {
    progress::line(format_args!(
        "kernel: resolving {meta} ({suite} {}) with a private apt",
        arch.debian()
    ));
    let apt = PrivateApt::new(suite, arch)?;
    apt.update()?;
    let depends = apt.field(meta, "Depends")?;
    let package = packages::kernel_dependency(&depends)
        .with_context(|| format!("{meta} depends on no linux-image-*: {depends}"))?;
    let version = apt.field(&package, "Version")?;
    Ok(Candidate {
        suite,
        apt,
        package,
        version,
    })
}

/// Resolves `meta` in every suite of `release` and keeps the newest version (the first
/// suite's on a tie). A suite that cannot be read (a mirror caught mid-sync answers with
/// index files of the wrong size) is passed over with its reason when another suite
/// answers; with one suite, or none answering, its error is the error.
fn resolve(release: &KernelRelease, arch: Arch, meta: &str) -> Result<Candidate> {
    let mut candidates = Vec::new();
    let mut failures = Vec::new();
    for &suite in release.suites {
        match resolve_in(suite, arch, meta) {
            Ok(candidate) => candidates.push(candidate),
            Err(e) if release.suites.len() == 1 => return Err(e),
            Err(e) => failures.push(format!("{suite}: {}", first_error_line(&e))),
        }
    }
    let versions: Vec<&str> = candidates.iter().map(|c| c.version.as_str()).collect();
    let Some(newest) = newest(&versions) else {
        bail!(
            "no suite of {} answered for {arch}: {}",
            release.source(),
            failures.join("; ")
        );
    };
    let chosen = candidates.swap_remove(newest);
    if release.suites.len() > 1 {
        let mut seen: Vec<String> = candidates
            .iter()
            .map(|c| format!("{} has {}", c.suite, c.version))
            .collect();
        seen.extend(failures.iter().map(|f| format!("{f} (passed over)")));
        progress::line(format_args!(
            "kernel: {} for {arch} is {} {} from {}{}",
            release.name,
            chosen.package,
            chosen.version,
            chosen.suite,
            if seen.is_empty() {
                String::new()
            } else {
                format!("; {}", seen.join("; "))
            }
        ));
    }
    Ok(chosen)
}

/// The index of the newest of `versions` (the first of equals), `None` when empty.
fn newest(versions: &[&str]) -> Option<usize> {
    (0..versions.len()).reduce(|best, i| {
        if debian_version::compare(versions[i], versions[best]).is_gt() {
            i
        } else {
            best
        }
    })
}

/// The line of an apt error that says what went wrong (`E: Failed to fetch ...`), or the
/// error's first line.
fn first_error_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    text.lines()
        .find(|l| l.starts_with("E: "))
        .or_else(|| text.lines().next())
        .unwrap_or_default()
        .to_string()
}

/// Resolves the meta package to its versioned image package (in the newest suite, for
/// `latest`), downloads the package(s) holding the image and the config (one or two, by
/// [`Layout`]) and caches the kernel.
fn fetch(release: &KernelRelease, arch: Arch, meta: &str, kernels: &Path) -> Result<Kernel> {
    let started = Instant::now();
    let Candidate {
        apt,
        package,
        version,
        ..
    } = resolve(release, arch, meta)?;
    let dir = kernels.join(format!("{package}_{}", file_safe(&version)));
    if let Ok(kernel) = load(arch, &dir) {
        return Ok(kernel); // resolved to a version already cached
    }
    let layout = Layout::of(
        &package,
        &apt.field(&package, "Depends").unwrap_or_default(),
    )?;

    let staging = kernels.join(format!(".staging-{package}"));
    clear_dir(&staging)?;
    let mut bytes = 0u64;
    for (download, members) in layout.downloads() {
        let size: u64 = apt.field(download, "Size")?.parse().unwrap_or(0);
        bytes += size;
        progress::line(format_args!(
            "kernel: downloading {download} {version} ({:.1} MB; only {} is kept)",
            megabytes(size),
            members.join(" ")
        ));
        let unpacked = apt.download_and_extract(download, members)?;
        let found = packages::find(&unpacked);
        if let Some(image) = found.image {
            let name = image.file_name().context("an image without a name")?;
            fs::rename(&image, staging.join(name))?;
        }
        if let Some(config) = found.config {
            fs::rename(&config, staging.join("config"))?;
        }
        let _ = fs::remove_dir_all(&unpacked);
    }
    if !staging.join("config").exists() {
        bail!(
            "no kernel .config in {} (looked in /boot/config-* and \
             /usr/lib/modules/<abi>/config): without it the kernel's options cannot be checked",
            names(&layout)
        );
    }
    fs::write(staging.join("package"), format!("{package} {version}\n"))?;
    let (original, format) = validate(arch, &staging).with_context(|| {
        format!(
            "no bootable image in {} (looked for /boot/vmlinu* and \
             /usr/lib/modules/<abi>/vmlinu*)",
            names(&layout)
        )
    })?;
    if format == Format::BzImage {
        unpack_vmlinux(&original, &staging.join("vmlinux.elf"));
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::rename(&staging, &dir)?;
    let kernel = load(arch, &dir)?;
    progress::line(format_args!(
        "kernel: cached {} ({:?}): {:.1} MB fetched and unpacked in {}",
        kernel.image.display(),
        kernel.format,
        megabytes(bytes),
        progress::human(started.elapsed())
    ));
    Ok(kernel)
}

/// The packages a layout downloads, for messages.
fn names(layout: &Layout) -> String {
    let names: Vec<&str> = layout.downloads().iter().map(|(p, _)| *p).collect();
    names.join(" and ")
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
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
    fn the_newest_version_wins_and_the_first_of_equals() {
        // latest on riscv64, 2026-11-30: trixie-backports 7.2.11, sid 7.2.13.
        assert_eq!(newest(&["7.2.11-1~bpo13+1", "7.2.13-1"]), Some(1));
        // latest on x86_64: trixie-backports 7.3.4, sid 7.2.13.
        assert_eq!(newest(&["7.3.4-1~bpo13+1", "7.2.13-1"]), Some(0));
        assert_eq!(newest(&["7.3.4-1", "7.3.4-1"]), Some(0));
        assert_eq!(newest(&["7.3.4-1"]), Some(0));
        assert_eq!(newest(&[]), None);
    }

    #[test]
    fn an_apt_error_is_summed_up_by_its_e_line() {
        let e = anyhow::anyhow!(
            "apt-get -q update failed (exit status: 100):\nE: Failed to fetch http://m/debian/dists/trixie-backports/main/binary-riscv64/Packages.xz  File has unexpected size (248120 != 255660). Mirror sync in progress?\n   Hashes of expected file:"
        )
        .context("private apt-get update");
        let line = first_error_line(&e);
        assert!(line.starts_with("E: Failed to fetch"), "{line}");
        assert!(line.ends_with("Mirror sync in progress?"), "{line}");
        assert_eq!(
            first_error_line(&anyhow::anyhow!("no network")),
            "no network"
        );
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
