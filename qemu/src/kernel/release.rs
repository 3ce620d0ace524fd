//! Which kernels exist: the Debian releases whose kernels the guests boot, their names on
//! the command line (`--kernel 5.10|6.1|6.12|latest`), and the matrix of architecture ×
//! kernel pairs they make.
//!
//! The releases and their packages are pinned here and nowhere else. `latest` is the
//! newest kernel Debian builds for the arch, from the current stable's backports or from
//! unstable, whichever has the newer one when it is fetched (2026-11-30: trixie-backports'
//! 7.3.4 on x86_64 and aarch64, sid's 7.2.13 on riscv64; docs/kernels.md); the version is
//! shown wherever a boot of it is reported.

use anyhow::{Result, bail};

use crate::arch::Arch;

/// A Debian release whose kernels the guests boot.
#[derive(Debug)]
pub struct KernelRelease {
    /// The name used on the command line (`--kernel 6.12`).
    pub name: &'static str,
    /// The Debian suites the packages come from: one for a fixed release; for `latest`
    /// every suite that carries Debian's newest kernels, of which the one with the newest
    /// version wins when the kernel is fetched.
    pub suites: &'static [&'static str],
    /// The package per architecture: meta packages that depend on the current versioned
    /// `linux-image-<abi>-<flavour>`. The cloud flavour where Debian builds one (serial
    /// console and virtio built in, a smaller package); riscv64 has only the generic one.
    pub packages: &'static [(Arch, &'static str)],
}

const CLOUD_AMD64: (Arch, &str) = (Arch::X86_64, "linux-image-cloud-amd64");
const CLOUD_ARM64: (Arch, &str) = (Arch::Aarch64, "linux-image-cloud-arm64");
const RISCV64: (Arch, &str) = (Arch::Riscv64, "linux-image-riscv64");

/// Every kernel the tool knows, oldest first (the order of the matrix's rows).
///
/// Debian serves no kernel older than bullseye's 5.10 any more (buster and stretch answer
/// 404), and no riscv64 kernel before trixie (riscv64 became a release architecture there).
pub const RELEASES: &[KernelRelease] = &[
    KernelRelease {
        name: "5.10",
        suites: &["bullseye"],
        packages: &[CLOUD_AMD64, CLOUD_ARM64],
    },
    KernelRelease {
        name: "6.1",
        suites: &["bookworm"],
        packages: &[CLOUD_AMD64, CLOUD_ARM64],
    },
    KernelRelease {
        name: "6.12",
        suites: &["trixie"],
        packages: &[CLOUD_AMD64, CLOUD_ARM64, RISCV64],
    },
    KernelRelease {
        name: "latest",
        // Backports first: when both have the same version, the stable-based build wins.
        suites: &["trixie-backports", "sid"],
        packages: &[CLOUD_AMD64, CLOUD_ARM64, RISCV64],
    },
];

/// The kernel used when none is named.
pub const DEFAULT: &str = "6.12";

/// The word that chooses every kernel (`demo --kernel all`, `kernel --kernel all`).
pub const ALL: &str = "all";

impl KernelRelease {
    /// The meta package for `arch`, or an error naming the kernels that `arch` has.
    pub fn package(&self, arch: Arch) -> Result<&'static str> {
        match self.packages.iter().find(|(a, _)| *a == arch) {
            Some((_, package)) => Ok(package),
            None => bail!(
                "{} (kernel {}) has no {arch} kernel; for {arch} there are: {}",
                self.source(),
                self.name,
                names_for(arch)
            ),
        }
    }

    /// Where the kernel comes from, for messages: `Debian bullseye`, `Debian
    /// trixie-backports or sid`.
    pub fn source(&self) -> String {
        format!("Debian {}", self.suites.join(" or "))
    }

    /// Whether this release has a kernel for `arch`.
    pub fn has(&self, arch: Arch) -> bool {
        self.packages.iter().any(|(a, _)| *a == arch)
    }

    /// The architectures this release has a kernel for, in [`Arch::ALL`]'s order.
    pub fn arches(&self) -> Vec<Arch> {
        Arch::ALL.into_iter().filter(|a| self.has(*a)).collect()
    }
}

/// Finds a release by its name, whatever the architecture; an unknown name is refused with
/// every name and the architectures each has.
pub fn release(name: &str) -> Result<&'static KernelRelease> {
    match RELEASES.iter().find(|r| r.name == name) {
        Some(release) => Ok(release),
        None => {
            let known: Vec<String> = RELEASES
                .iter()
                .map(|r| {
                    let arches: Vec<&str> = r.arches().iter().map(|a| a.name()).collect();
                    format!("{} ({})", r.name, arches.join(", "))
                })
                .collect();
            bail!("unknown kernel `{name}`: known are {}", known.join("; "))
        }
    }
}

/// The release `name` names for `arch`: refused, with the kernels `arch` has, when the
/// name is unknown or the release has no kernel for `arch`.
pub fn release_for(name: &str, arch: Arch) -> Result<&'static KernelRelease> {
    let Some(release) = RELEASES.iter().find(|r| r.name == name) else {
        bail!(
            "unknown kernel `{name}` for {arch}: for {arch} there are: {}",
            names_for(arch)
        );
    };
    release.package(arch)?;
    Ok(release)
}

/// `5.10 (Debian bullseye), 6.1 (Debian bookworm), ...`: what `--kernel` takes for `arch`.
fn names_for(arch: Arch) -> String {
    let names: Vec<String> = RELEASES
        .iter()
        .filter(|r| r.has(arch))
        .map(|r| format!("{} ({})", r.name, r.source()))
        .collect();
    names.join(", ")
}

/// What `--kernel` chose: one release, or every one ([`ALL`]).
#[derive(Clone, Copy, Debug)]
pub enum Choice {
    One(&'static KernelRelease),
    All,
}

impl Choice {
    /// Parses a `--kernel` value that may be [`ALL`].
    pub fn parse(name: &str) -> Result<Choice> {
        if name == ALL {
            Ok(Choice::All)
        } else {
            release(name).map(Choice::One)
        }
    }

    /// The releases chosen.
    pub fn releases(self) -> Vec<&'static KernelRelease> {
        match self {
            Choice::One(release) => vec![release],
            Choice::All => RELEASES.iter().collect(),
        }
    }
}

/// One architecture booted with one kernel.
#[derive(Clone, Copy, Debug)]
pub struct Pair {
    pub arch: Arch,
    pub release: &'static KernelRelease,
}

/// Every pair of one of `arches` and one of the `choice`n kernels that Debian has, by
/// architecture (in [`Arch::ALL`]'s order) then kernel (oldest first): the rows of the
/// matrix table.
pub fn pairs(arches: &[Arch], choice: Choice) -> Vec<Pair> {
    let releases = choice.releases();
    Arch::ALL
        .into_iter()
        .filter(|arch| arches.contains(arch))
        .flat_map(|arch| {
            releases
                .iter()
                .filter(move |r| r.has(arch))
                .map(move |release| Pair { arch, release })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error<T>(result: Result<T>) -> String {
        match result {
            Ok(_) => panic!("accepted"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn the_default_kernel_exists_on_every_arch() {
        let default = release(DEFAULT).unwrap();
        assert_eq!(default.arches(), Arch::ALL);
    }

    #[test]
    fn latest_is_the_newest_of_backports_and_unstable_on_every_arch() {
        for arch in Arch::ALL {
            let latest = release_for("latest", arch).unwrap();
            assert_eq!(latest.suites, ["trixie-backports", "sid"]);
        }
        assert_eq!(
            release_for("latest", Arch::Riscv64)
                .unwrap()
                .package(Arch::Riscv64)
                .unwrap(),
            "linux-image-riscv64",
            "riscv64 has no cloud flavour"
        );
        assert_eq!(
            release_for("latest", Arch::X86_64)
                .unwrap()
                .package(Arch::X86_64)
                .unwrap(),
            "linux-image-cloud-amd64"
        );
    }

    #[test]
    fn an_unknown_kernel_is_refused_listing_what_the_arch_has() {
        let e = error(release_for("4.19", Arch::Riscv64));
        assert!(e.contains("unknown kernel `4.19` for riscv64"), "{e}");
        assert!(
            e.contains("6.12 (Debian trixie), latest (Debian trixie-backports or sid)"),
            "{e}"
        );
        assert!(!e.contains("5.10") && !e.contains("6.1 "), "{e}");
        let e = error(release_for("7.3", Arch::X86_64));
        assert!(
            e.contains(
                "5.10 (Debian bullseye), 6.1 (Debian bookworm), 6.12 (Debian trixie), latest"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_kernel_the_arch_lacks_is_refused_listing_what_it_has() {
        for name in ["5.10", "6.1"] {
            let e = error(release_for(name, Arch::Riscv64));
            assert!(e.contains("has no riscv64 kernel"), "{e}");
            assert!(e.contains("for riscv64 there are: 6.12"), "{e}");
        }
        assert_eq!(
            release_for("5.10", Arch::Aarch64).unwrap().suites,
            ["bullseye"]
        );
        let e = error(release_for("6.1", Arch::Riscv64));
        assert!(
            e.starts_with("Debian bookworm (kernel 6.1) has no riscv64"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_name_without_an_arch_lists_every_kernel_with_its_arches() {
        let e = error(release("2.6"));
        assert!(e.contains("unknown kernel `2.6`"), "{e}");
        assert!(e.contains("5.10 (x86_64, aarch64)"), "{e}");
        assert!(e.contains("latest (x86_64, aarch64, riscv64)"), "{e}");
        assert!(error(Choice::parse("every")).contains("unknown kernel `every`"));
    }

    #[test]
    fn the_whole_matrix_is_ten_pairs() {
        let matrix = pairs(&Arch::ALL, Choice::parse(ALL).unwrap());
        let names: Vec<String> = matrix
            .iter()
            .map(|p| format!("{} {}", p.arch, p.release.name))
            .collect();
        assert_eq!(
            names,
            [
                "x86_64 5.10",
                "x86_64 6.1",
                "x86_64 6.12",
                "x86_64 latest",
                "aarch64 5.10",
                "aarch64 6.1",
                "aarch64 6.12",
                "aarch64 latest",
                "riscv64 6.12",
                "riscv64 latest",
            ]
        );
    }

    #[test]
    fn one_kernel_gives_the_arches_that_have_it() {
        let only_6_1 = pairs(&Arch::ALL, Choice::parse("6.1").unwrap());
        let arches: Vec<Arch> = only_6_1.iter().map(|p| p.arch).collect();
        assert_eq!(arches, [Arch::X86_64, Arch::Aarch64]);
        let riscv = pairs(&[Arch::Riscv64], Choice::All);
        let names: Vec<&str> = riscv.iter().map(|p| p.release.name).collect();
        assert_eq!(names, ["6.12", "latest"]);
    }
}
