//! The guest's two programs, clonekit-init (`/init`) and clonekit-launch, for one arch:
//! built on first use into the cache from the sources bundled into this binary (qemu/
//! build.rs), and found there afterwards.
//!
//! Why build, and from a bundled copy: clonekit-init is a static `no_std` program of this
//! workspace, not published anywhere to fetch, and an installed `clonekit-qemu` must work
//! without a checkout (and with no path of one compiled in). The bundle is the exact
//! sources the tool was built with (about 1 MB), so the guest side always matches the
//! host side; it builds in seconds with what a user of the runner has anyway: the Rust
//! target of the arch, and its C compiler driver (`cc`, or the cross `gcc` that links the
//! user's own test binaries), through which init/build.rs links with Rust's own `rust-lld`.
//!
//! Cache layout (`$XDG_CACHE_HOME/clonekit/guest/`):
//! - `<hash>/src/`: the bundle, written out (the root manifest's workspace narrowed to the
//!   root package and `init/`, see [`workspace_manifest`]), built in the release profile;
//! - `<hash>/<arch>/clonekit-init`, `clonekit-launch`: the stripped binaries;
//! - `target/`: cargo's build directory, shared by every hash (incremental);
//! - `lock`: held while building, so concurrent runs build once.
//!
//! After a build, only the newest few `<hash>` directories are kept ([`BUNDLES_KEPT`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::run::elf_deps::{ElfInfo, machine_of};
use crate::{progress, workspace};

mod bundle {
    include!(concat!(env!("OUT_DIR"), "/bundle.rs"));
}

/// The package and its two binaries.
const PACKAGE: &str = "clonekit-init";
pub const INIT: &str = "clonekit-init";
pub const LAUNCHER: &str = "clonekit-launch";

/// The profile: the root `Cargo.toml`'s `release` is the one clonekit-init is built with
/// (`cargo build -p clonekit-init --release`: panic = "abort", LTO, `opt-level = "z"`,
/// stripped; see init/README.md). Its output directory has the profile's name.
const PROFILE: &str = "release";

/// The two binaries of one arch.
#[derive(Debug, Clone)]
pub struct GuestPrograms {
    pub init: PathBuf,
    pub launcher: PathBuf,
}

/// The binaries for `arch`, built into the cache if they are not there.
pub fn get(arch: Arch) -> Result<GuestPrograms> {
    if bundle::FILES.is_empty() {
        bail!(
            "this clonekit-qemu was built without clonekit's sources (no workspace around \
             qemu/), so it cannot build clonekit-init: install it from a clonekit checkout \
             with `cargo install --path qemu`"
        );
    }
    let root = workspace::cache_dir()?.join("guest");
    let dir = root.join(bundle::HASH);
    let programs = GuestPrograms {
        init: dir.join(arch.name()).join(INIT),
        launcher: dir.join(arch.name()).join(LAUNCHER),
    };
    if usable(&programs, arch) {
        return Ok(programs);
    }
    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let _lock = Lock::acquire(&root.join("lock"))?;
    // Another run may have built them while this one waited.
    if usable(&programs, arch) {
        return Ok(programs);
    }
    let src = write_sources(&dir)?;
    build(arch, &src, &root.join("target"), &programs)?;
    prune(&root, bundle::HASH);
    Ok(programs)
}

fn usable(programs: &GuestPrograms, arch: Arch) -> bool {
    [&programs.init, &programs.launcher].iter().all(|p| {
        fs::read(p).is_ok_and(|bytes| {
            ElfInfo::parse(&bytes).is_ok_and(|i| i.machine == machine_of(arch) && i.is_static())
        })
    })
}

/// Writes the bundle under `dir/src` (once: a `.complete` marker says it is whole).
fn write_sources(dir: &Path) -> Result<PathBuf> {
    let src = dir.join("src");
    if src.join(".complete").exists() {
        return Ok(src);
    }
    if src.exists() {
        fs::remove_dir_all(&src).with_context(|| format!("removing {}", src.display()))?;
    }
    for (path, bytes) in bundle::FILES {
        let target = src.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let data: Vec<u8> = if *path == "Cargo.toml" {
            workspace_manifest(std::str::from_utf8(bytes).context("Cargo.toml is not UTF-8")?)?
                .into_bytes()
        } else {
            bytes.to_vec()
        };
        fs::write(&target, data).with_context(|| format!("writing {}", target.display()))?;
    }
    fs::write(src.join(".complete"), bundle::HASH)?;
    Ok(src)
}

/// The root manifest with its workspace narrowed to what is bundled: `members = [".",
/// "init"]`, no `default-members` (the other members' directories are not there, and
/// cargo refuses a workspace with a missing member).
pub fn workspace_manifest(manifest: &str) -> Result<String> {
    let Some(workspace) = manifest.find("\n[workspace]\n") else {
        bail!("the bundled Cargo.toml has no [workspace] table");
    };
    let mut out = manifest.to_string();
    for (key, replacement) in [
        ("default-members", ""),
        ("members", "members = [\".\", \"init\"]\n"),
    ] {
        let section_end = out[workspace + 1..]
            .find("\n[")
            .map_or(out.len(), |i| workspace + 1 + i);
        let needle = format!("\n{key} = [");
        let Some(start) = out[workspace..section_end].find(&needle) else {
            if key == "members" {
                bail!("the bundled Cargo.toml's [workspace] has no members list");
            }
            continue;
        };
        let start = workspace + start + 1;
        let Some(close) = out[start..].find(']') else {
            bail!("the bundled Cargo.toml's {key} list is not closed");
        };
        let mut end = start + close + 1;
        if out[end..].starts_with('\n') {
            end += 1;
        }
        out.replace_range(start..end, replacement);
    }
    Ok(out)
}

/// Environment variables of the caller that must not reach the nested cargo: what cargo
/// sets for the program it runs (this tool is often a cargo runner), and flags meant for
/// the caller's own build.
pub fn removed_from_build_env(name: &str) -> bool {
    let kept_cargo = name == "CARGO_HOME"
        || [
            "CARGO_NET_",
            "CARGO_HTTP_",
            "CARGO_REGISTRIES_",
            "CARGO_REGISTRY_",
        ]
        .iter()
        .any(|p| name.starts_with(p));
    (name.starts_with("CARGO_") && !kept_cargo)
        || matches!(
            name,
            "CARGO" | "RUSTFLAGS" | "RUSTDOCFLAGS" | "RUSTC_WORKSPACE_WRAPPER" | "MAKEFLAGS"
        )
}

/// The cargo command that builds both binaries for `arch`.
pub fn build_command(arch: Arch, src: &Path, target_dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(src.join("Cargo.toml"))
        .args(["-p", PACKAGE, "--bin", INIT, "--bin", LAUNCHER])
        .args(["--profile", PROFILE, "--target", arch.triple()]);
    for (name, _) in std::env::vars_os() {
        if let Some(name) = name.to_str()
            && removed_from_build_env(name)
        {
            cmd.env_remove(name);
        }
    }
    cmd.env("CARGO_TARGET_DIR", target_dir).current_dir(src);
    if Some(arch) != Arch::host()
        && let Some(gcc) = arch.cross_gcc()
    {
        cmd.env(arch.cargo_target_env("LINKER"), gcc);
    }
    cmd
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Refuses early, naming the fix, when the toolchain cannot build for `arch`.
fn check_toolchain(arch: Arch) -> Result<()> {
    let out = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", arch.triple()])
        .output()
        .context("running rustc (building clonekit-init needs a Rust toolchain)")?;
    let libdir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let has_core = fs::read_dir(&libdir).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
    });
    if !out.status.success() || !has_core {
        bail!(
            "building clonekit-init for {arch} needs the Rust target {}: `rustup target add {}`",
            arch.triple(),
            arch.triple()
        );
    }
    let driver = match arch.cross_gcc() {
        Some(gcc) if Some(arch) != Arch::host() => gcc,
        _ => "cc".to_string(),
    };
    if !in_path(&driver) {
        bail!(
            "building clonekit-init for {arch} needs the C compiler driver `{driver}` (it \
             links the static binary with Rust's rust-lld): `apt-get install {}`",
            arch.cross_compiler_package().unwrap_or("gcc")
        );
    }
    Ok(())
}

fn build(arch: Arch, src: &Path, target_dir: &Path, programs: &GuestPrograms) -> Result<()> {
    check_toolchain(arch)?;
    progress::line(format_args!(
        "clonekit-qemu: building clonekit-init and clonekit-launch for {arch} (first use of \
         this clonekit-qemu build; cached in {})",
        src.parent().unwrap_or(src).display()
    ));
    let mut cmd = build_command(arch, src, target_dir);
    let out = cmd.output().context("running cargo build")?;
    if !out.status.success() {
        bail!(
            "cargo build of clonekit-init for {arch} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let built = target_dir.join(arch.triple()).join(PROFILE);
    let dest = programs.init.parent().context("no parent")?;
    fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    for (name, to) in [(INIT, &programs.init), (LAUNCHER, &programs.launcher)] {
        let staging = to.with_extension("new");
        fs::copy(built.join(name), &staging)
            .with_context(|| format!("copying {}", built.join(name).display()))?;
        fs::rename(&staging, to)?;
    }
    if !usable(programs, arch) {
        bail!(
            "the built {} is not a static {arch} program",
            programs.init.display()
        );
    }
    Ok(())
}

/// A lock file holding its owner's PID, created exclusively; removed when dropped. One
/// left by a process that no longer runs is taken over. (`File::lock` would do, but the
/// workspace's minimum Rust, 1.88, predates it.)
pub struct Lock(PathBuf);

impl Lock {
    /// Waits (up to half an hour: a first build takes a minute) until the lock is free.
    pub fn acquire(path: &Path) -> Result<Lock> {
        let started = std::time::Instant::now();
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut file) => {
                    use std::io::Write as _;
                    write!(file, "{}", std::process::id())
                        .with_context(|| format!("writing {}", path.display()))?;
                    return Ok(Lock(path.to_path_buf()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(path).unwrap_or_default();
                    let alive = owner
                        .trim()
                        .parse::<u32>()
                        .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                    // An empty file is one being written right now: wait for it.
                    if !alive && !owner.trim().is_empty() {
                        let _ = fs::remove_file(path);
                        continue;
                    }
                    if started.elapsed() > std::time::Duration::from_secs(1800) {
                        bail!(
                            "{} is held by process {owner} for half an hour",
                            path.display()
                        );
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// How many bundles' builds the cache keeps: several builds of this tool may be in use at
/// once (an installed one, the checkout's `cargo qemu`), and each removing the other's
/// would make them rebuild in turn.
const BUNDLES_KEPT: usize = 4;

/// Removes the directories of older bundles (builds of this tool), keeping the newest
/// [`BUNDLES_KEPT`] and always `keep`.
fn prune(root: &Path, keep: &str) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let mut bundles: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.len() == 16 && name.chars().all(|c| c.is_ascii_hexdigit()) && name != keep
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    bundles.sort();
    let old = bundles.len().saturating_sub(BUNDLES_KEPT - 1);
    for (_, dir) in &bundles[..old] {
        let _ = fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_holds_what_cargo_needs_to_build_clonekit_init() {
        let names: Vec<&str> = bundle::FILES.iter().map(|(p, _)| *p).collect();
        for needed in [
            "Cargo.toml",
            "Cargo.lock",
            "build.rs",
            "src/lib.rs",
            "init/Cargo.toml",
            "init/build.rs",
            "init/src/main.rs",
            "init/src/launch/main.rs",
        ] {
            assert!(names.contains(&needed), "{needed} is not bundled");
        }
        assert!(
            !names
                .iter()
                .any(|n| n.contains("target/") || n.starts_with('.'))
        );
        assert_eq!(bundle::HASH.len(), 16);
    }

    #[test]
    fn the_workspace_is_narrowed_to_the_bundled_packages() {
        let (_, root) = bundle::FILES
            .iter()
            .find(|(p, _)| *p == "Cargo.toml")
            .unwrap();
        let root = std::str::from_utf8(root).unwrap();
        let narrowed = workspace_manifest(root).unwrap();
        assert!(
            narrowed.contains("\n[workspace]\nmembers = [\".\", \"init\"]\n"),
            "{narrowed}"
        );
        assert!(!narrowed.contains("default-members"));
        assert!(!narrowed.contains("\"qemu\""));
        // Everything else is kept: the profiles the build uses, above all.
        assert!(narrowed.contains("[profile.release]"));
        assert_eq!(
            narrowed.lines().filter(|l| l.starts_with('[')).count(),
            root.lines().filter(|l| l.starts_with('[')).count()
        );
        let multi = "[package]\nname = \"x\"\n\n[workspace]\nmembers = [\n    \".\",\n    \"a\",\n]\nresolver = \"2\"\n\n[profile.x]\n";
        assert_eq!(
            workspace_manifest(multi).unwrap(),
            "[package]\nname = \"x\"\n\n[workspace]\nmembers = [\".\", \"init\"]\nresolver = \"2\"\n\n[profile.x]\n"
        );
        assert!(workspace_manifest("[package]\n").is_err());
    }

    #[test]
    fn the_callers_cargo_variables_do_not_reach_the_nested_build() {
        for name in [
            "CARGO",
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER",
            "RUSTFLAGS",
            "CARGO_MAKEFLAGS",
        ] {
            assert!(removed_from_build_env(name), "{name} kept");
        }
        for name in [
            "CARGO_HOME",
            "CARGO_NET_OFFLINE",
            "CARGO_HTTP_TIMEOUT",
            "PATH",
            "RUSTUP_TOOLCHAIN",
            "RUST_BACKTRACE",
        ] {
            assert!(!removed_from_build_env(name), "{name} removed");
        }
    }

    #[test]
    fn the_lock_is_exclusive_and_a_dead_owners_lock_is_taken_over() {
        let path = std::env::temp_dir().join(format!("clonekit-lock-test-{}", std::process::id()));
        let _ = fs::remove_file(&path);
        let lock = Lock::acquire(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            std::process::id().to_string()
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            let second = Lock::acquire(&p).unwrap();
            tx.send(()).unwrap();
            drop(second);
        });
        // Held: the second acquire waits.
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(500))
                .is_err()
        );
        drop(lock);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();
        // A lock whose owner is gone (no such PID) is taken over at once.
        fs::write(&path, "999999999").unwrap();
        let taken = Lock::acquire(&path).unwrap();
        drop(taken);
        assert!(!path.exists());
    }

    #[test]
    fn old_bundles_are_pruned_but_the_newest_and_the_current_stay() {
        let root = std::env::temp_dir().join(format!("clonekit-prune-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let names: Vec<String> = (0..7).map(|i| format!("{i:016x}")).collect();
        for name in &names {
            fs::create_dir_all(root.join(name)).unwrap();
            // Distinct modification times, oldest first.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        fs::create_dir_all(root.join("target")).unwrap();
        prune(&root, &names[0]);
        let mut left: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [&names[0], &names[4], &names[5], &names[6], "target"]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_cross_build_links_through_the_cross_gcc() {
        let cmd = build_command(Arch::Riscv64, Path::new("/c/src"), Path::new("/c/target"));
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "build",
                "--manifest-path",
                "/c/src/Cargo.toml",
                "-p",
                "clonekit-init",
                "--bin",
                "clonekit-init",
                "--bin",
                "clonekit-launch",
                "--profile",
                "release",
                "--target",
                "riscv64gc-unknown-linux-gnu"
            ]
        );
        let env = |key: &str| {
            cmd.get_envs()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
        };
        assert_eq!(
            env("CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_LINKER").as_deref(),
            Some("riscv64-linux-gnu-gcc")
        );
        assert_eq!(env("CARGO_TARGET_DIR").as_deref(), Some("/c/target"));
    }
}
