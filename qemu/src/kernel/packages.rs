//! How Debian packages a kernel, from the meta package a release names to the files the
//! tool keeps: the meta package (`linux-image-cloud-amd64`) depends on a versioned image
//! package (`linux-image-<abi>`), and that one either holds the kernel itself or, since
//! Debian's 7.x packages, only depends on the packages that do ([`Layout`]).
//!
//! Pure functions over apt's fields and an unpacked package tree, pinned by the tests with
//! the fields and paths of the real packages (docs/kernels.md).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The versioned kernel package a meta package depends on: the first `linux-image-*` of
/// its `Depends` (alternatives and version constraints dropped).
pub fn kernel_dependency(depends: &str) -> Option<String> {
    dependency_names(depends)
        .find(|name| name.starts_with("linux-image-"))
        .map(String::from)
}

/// The package names of a `Depends` field, alternatives included, without their version
/// constraints.
fn dependency_names(depends: &str) -> impl Iterator<Item = &str> {
    depends
        .split([',', '|'])
        .filter_map(|d| d.split_whitespace().next())
}

/// Where a versioned image package (`linux-image-<abi>`) keeps the kernel image and its
/// `.config`.
#[derive(Debug, PartialEq, Eq)]
pub enum Layout {
    /// Debian's packages up to 6.x (bullseye's 5.10, bookworm's 6.1, trixie's 6.12): the
    /// image package itself holds `/boot/vmlinu*-<abi>` and `/boot/config-<abi>`.
    Boot { image: String },
    /// Debian's 7.x packages (trixie-backports): the image package holds neither and
    /// depends on `linux-binary-<abi>`, which holds the image at
    /// `/usr/lib/modules/<abi>/vmlinuz`, and `linux-base-<abi>`, which holds the config at
    /// `/usr/lib/modules/<abi>/config`.
    Split { binary: String, base: String },
}

impl Layout {
    /// The layout of `image_package` from its own `Depends` field: split when it depends
    /// on the `linux-binary-` package of its own ABI.
    pub fn of(image_package: &str, depends: &str) -> Result<Layout> {
        let Some(abi) = image_package.strip_prefix("linux-image-") else {
            bail!("`{image_package}` is not a linux-image-<abi> package");
        };
        let binary = format!("linux-binary-{abi}");
        let base = format!("linux-base-{abi}");
        let names: Vec<&str> = dependency_names(depends).collect();
        if !names.contains(&binary.as_str()) {
            return Ok(Layout::Boot {
                image: image_package.to_string(),
            });
        }
        if !names.contains(&base.as_str()) {
            bail!(
                "{image_package} depends on {binary} but not on {base}, where Debian's 7.x \
                 packages keep the kernel's .config: the packaging changed again (its \
                 Depends: {depends}); see docs/kernels.md for the layouts this tool reads"
            );
        }
        Ok(Layout::Split { binary, base })
    }

    /// The packages to download, each with the members of its tree to extract (as the
    /// package's tar names them); only these are kept, never the modules.
    pub fn downloads(&self) -> Vec<(&str, &'static [&'static str])> {
        const BOOT: &[&str] = &["./boot"];
        const MODULES: &[&str] = &["./usr/lib/modules"];
        match self {
            Layout::Boot { image } => vec![(image, BOOT)],
            Layout::Split { binary, base } => vec![(binary, MODULES), (base, MODULES)],
        }
    }
}

/// The kernel files found in one unpacked package tree.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// `boot/vmlinu*` or `usr/lib/modules/<abi>/vmlinu*`.
    pub image: Option<PathBuf>,
    /// `boot/config-*` or `usr/lib/modules/<abi>/config`.
    pub config: Option<PathBuf>,
}

/// Looks for the image and the config where either [`Layout`] puts them under `unpacked`.
pub fn find(unpacked: &Path) -> Found {
    let mut dirs = vec![unpacked.join("boot")];
    dirs.extend(entries(&unpacked.join("usr/lib/modules")).filter(|p| p.is_dir()));
    let mut found = Found::default();
    for file in dirs.iter().flat_map(|d| entries(d)).filter(|p| p.is_file()) {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("vmlinu") && found.image.is_none() {
            found.image = Some(file);
        } else if (name == "config" || name.starts_with("config-")) && found.config.is_none() {
            found.config = Some(file);
        }
    }
    found
}

/// The entries of a directory, sorted (none when it does not exist).
fn entries(dir: &Path) -> impl Iterator<Item = PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.sort();
    paths.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `Depends` fields of the real packages (apt-cache show, 2026-11-30).
    const META_7_3_AMD64: &str = "linux-base-cloud-amd64 (= 7.3.4-1~bpo13+1), \
        linux-image-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), \
        linux-modules-cloud-amd64 (= 7.3.4-1~bpo13+1)";
    const IMAGE_7_3_AMD64: &str = "dracut | initramfs-tools (>= 0.120+deb8u2) | \
        linux-initramfs-tool, linux-base-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), \
        linux-binary-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), \
        linux-modules-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)";
    const IMAGE_5_10_ARM64: &str =
        "kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool";
    const IMAGE_6_12_RISCV64: &str =
        "kmod, initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool";

    #[test]
    fn meta_packages_resolve_to_their_versioned_image() {
        assert_eq!(
            kernel_dependency("linux-image-6.12.57+deb13-cloud-amd64 (= 6.12.57-1)").as_deref(),
            Some("linux-image-6.12.57+deb13-cloud-amd64")
        );
        let several =
            "initramfs-tools | linux-initramfs-tool, linux-image-6.1.0-56-arm64 (= 6.1.192-1)";
        assert_eq!(
            kernel_dependency(several).as_deref(),
            Some("linux-image-6.1.0-56-arm64")
        );
        // 7.x meta packages name linux-base-<flavour> first: the image is still found.
        assert_eq!(
            kernel_dependency(META_7_3_AMD64).as_deref(),
            Some("linux-image-7.3.4+deb13-cloud-amd64")
        );
        assert_eq!(kernel_dependency("libc6 (>= 2.36)"), None);
    }

    #[test]
    fn a_7x_image_package_is_split_into_binary_and_base() {
        let layout = Layout::of("linux-image-7.3.4+deb13-cloud-amd64", IMAGE_7_3_AMD64).unwrap();
        assert_eq!(
            layout,
            Layout::Split {
                binary: "linux-binary-7.3.4+deb13-cloud-amd64".into(),
                base: "linux-base-7.3.4+deb13-cloud-amd64".into(),
            }
        );
        assert_eq!(
            layout.downloads(),
            [
                (
                    "linux-binary-7.3.4+deb13-cloud-amd64",
                    &["./usr/lib/modules"][..]
                ),
                (
                    "linux-base-7.3.4+deb13-cloud-amd64",
                    &["./usr/lib/modules"][..]
                ),
            ]
        );
        let riscv = "linux-base-7.2.11+deb13-riscv64 (= 7.2.11-1~bpo13+1), \
                     linux-binary-7.2.11+deb13-riscv64 (= 7.2.11-1~bpo13+1)";
        assert!(matches!(
            Layout::of("linux-image-7.2.11+deb13-riscv64", riscv).unwrap(),
            Layout::Split { binary, .. } if binary == "linux-binary-7.2.11+deb13-riscv64"
        ));
    }

    #[test]
    fn old_image_packages_hold_boot_themselves() {
        // 5.10 depends on the unversioned `linux-base` tool package: not the 7.x split.
        for (package, depends) in [
            ("linux-image-5.10.0-32-cloud-arm64", IMAGE_5_10_ARM64),
            ("linux-image-6.12.117+deb13-riscv64", IMAGE_6_12_RISCV64),
        ] {
            let layout = Layout::of(package, depends).unwrap();
            assert_eq!(
                layout,
                Layout::Boot {
                    image: package.into()
                }
            );
            assert_eq!(layout.downloads(), [(package, &["./boot"][..])]);
        }
    }

    #[test]
    fn another_abis_binary_package_does_not_make_a_split() {
        let depends = "linux-binary-7.3.4+deb13-cloud-arm64, linux-base-7.3.4+deb13-cloud-arm64";
        assert!(matches!(
            Layout::of("linux-image-7.3.4+deb13-cloud-amd64", depends).unwrap(),
            Layout::Boot { .. }
        ));
    }

    #[test]
    fn a_split_without_its_base_package_is_refused_by_name() {
        let depends = "linux-binary-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)";
        let e = Layout::of("linux-image-7.3.4+deb13-cloud-amd64", depends)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not on linux-base-7.3.4+deb13-cloud-amd64"),
            "{e}"
        );
        assert!(Layout::of("linux-headers-7.3.4", "").is_err());
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "clonekit-packages-test-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x").unwrap();
    }

    #[test]
    fn files_are_found_in_the_old_boot_layout() {
        let dir = scratch("boot");
        touch(&dir.join("boot/System.map-5.10.0-32-cloud-amd64"));
        touch(&dir.join("boot/config-5.10.0-32-cloud-amd64"));
        touch(&dir.join("boot/vmlinuz-5.10.0-32-cloud-amd64"));
        assert_eq!(
            find(&dir),
            Found {
                image: Some(dir.join("boot/vmlinuz-5.10.0-32-cloud-amd64")),
                config: Some(dir.join("boot/config-5.10.0-32-cloud-amd64")),
            }
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_are_found_in_the_split_layout_one_package_at_a_time() {
        let modules = "usr/lib/modules/7.3.4+deb13-cloud-amd64";
        let binary = scratch("binary");
        touch(&binary.join(modules).join("vmlinuz"));
        assert_eq!(
            find(&binary),
            Found {
                image: Some(binary.join(modules).join("vmlinuz")),
                config: None,
            }
        );
        let base = scratch("base");
        for file in ["System.map", "config", "modules.builtin", "modules.order"] {
            touch(&base.join(modules).join(file));
        }
        assert_eq!(
            find(&base),
            Found {
                image: None,
                config: Some(base.join(modules).join("config")),
            }
        );
        assert_eq!(find(&scratch("empty")), Found::default());
        for dir in [binary, base, scratch("empty")] {
            fs::remove_dir_all(dir).unwrap();
        }
    }
}
