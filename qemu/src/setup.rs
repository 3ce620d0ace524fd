//! `setup`: installs what the checks and the guest boots need, and only what is missing.
//!
//! Everything is checked first with fast local queries (`dpkg-query`, `rustup ... list
//! --installed`); a run with everything present starts no installer and touches no network.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::arch::Arch;
use crate::progress;

/// Debian packages: qemu-user and the cross linkers and libcs for the cross `cargo test`,
/// cpio to check archives, each arch's qemu-system and firmware for the guest boots.
fn debian_packages() -> Vec<&'static str> {
    let mut packages = vec!["qemu-user-static"];
    packages.extend(Arch::ALL.iter().filter_map(|a| a.cross_compiler_package()));
    packages.extend(Arch::ALL.iter().filter_map(|a| a.cross_libc_package()));
    packages.push("cpio");
    // Debian's tini: clonekit-init's scenarios run against it too (`/usr/bin/tini`).
    packages.push("tini");
    packages.extend(Arch::ALL.map(Arch::qemu_system_package));
    packages.extend(Arch::ALL.iter().filter_map(|a| a.firmware_package()));
    packages
}

/// Rust targets: the host and the two cross targets.
fn rust_targets() -> [&'static str; 3] {
    Arch::ALL.map(Arch::triple)
}

/// Rust components used by the `test` steps.
pub const RUST_COMPONENTS: &[&str] = &["clippy", "rustfmt"];

/// How long to wait for another apt/dpkg process to release its lock.
const LOCK_WAIT: Duration = Duration::from_secs(20 * 60);

/// Installs every missing package, target and component; prints what it does.
pub fn run() -> Result<()> {
    let started = Instant::now();
    let packages = debian_packages();
    let missing = missing_debian_packages(&packages)?;
    if missing.is_empty() {
        println!("setup: Debian packages present ({})", packages.len());
    } else {
        install_debian_packages(&missing)?;
    }
    ensure_rust_targets()?;
    ensure_rust_components()?;
    ensure_miri()?;
    ensure_msrv()?;
    progress::line(format_args!(
        "setup: done in {}",
        progress::human(started.elapsed())
    ));
    Ok(())
}

/// The packages of `wanted` that dpkg does not list as `install ok installed`.
pub fn missing_debian_packages(wanted: &[&str]) -> Result<Vec<String>> {
    // One query for all of them; unknown names go to stderr (and make the exit status 1),
    // which simply means "not installed".
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${Status}\\n"])
        .args(wanted)
        .stderr(Stdio::null())
        .output()
        .context("running dpkg-query (is this a Debian system?)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(wanted
        .iter()
        .filter(|name| !is_installed(&text, name))
        .map(|name| name.to_string())
        .collect())
}

/// Whether `dpkg-query -W -f='${Package} ${Status}\n'` output lists `name` as installed.
fn is_installed(dpkg_query_output: &str, name: &str) -> bool {
    dpkg_query_output
        .lines()
        .any(|line| line.split_once(' ') == Some((name, "install ok installed")))
}

/// The installed version of a package, if any.
fn installed_version(name: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}|${Version}", name])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (status, version) = text.split_once('|')?;
    (status == "install ok installed").then(|| version.to_string())
}

/// The version apt would install (`Candidate:` of `apt-cache policy`).
fn candidate_version(name: &str) -> Result<Option<String>> {
    let out = Command::new("apt-cache")
        .args(["policy", name])
        .output()
        .context("running apt-cache policy")?;
    Ok(parse_candidate(&String::from_utf8_lossy(&out.stdout)))
}

/// `Candidate: 1:7.2+dfsg-7+deb12u18+b3` -> that version; `(none)` -> None.
fn parse_candidate(policy: &str) -> Option<String> {
    policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "(none)")
        .map(String::from)
}

/// `dpkg --compare-versions a gt b`.
fn version_newer(a: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, "gt", b])
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    // The real uid is the second field of `Uid:`; the effective one is what apt checks.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn install_debian_packages(missing: &[String]) -> Result<()> {
    let names = missing.join(" ");
    let command = format!("apt-get update && apt-get install -y {names}");
    println!("setup: missing Debian packages: {names}");
    if !is_root() {
        bail!(
            "missing Debian packages: {names}\n  install them as root with:\n    sudo sh -c '{command}'"
        );
    }
    println!("setup: apt-get update");
    run_apt(&["update"]).with_context(|| {
        format!("apt-get update failed; missing Debian packages: {names}\n  install them with: {command}")
    })?;

    let mut args: Vec<String> = vec![
        "install".into(),
        "-y".into(),
        "--no-install-recommends".into(),
    ];
    args.extend(missing.iter().cloned());
    if missing.iter().any(|p| p.starts_with("qemu-system-")) {
        args.extend(qemu_utils_downgrade()?);
    }
    println!("setup: apt-get {}", args.join(" "));
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_apt(&arg_refs).with_context(|| {
        format!(
            "apt-get install failed; missing Debian packages: {names}\n  install them with: apt-get update && apt-get {}",
            args.join(" ")
        )
    })?;
    let still = missing_debian_packages(&debian_packages())?;
    if !still.is_empty() {
        bail!(
            "still missing after apt-get install: {}\n  install them with: {command}",
            still.join(" ")
        );
    }
    Ok(())
}

/// The extra apt arguments that let the qemu-system packages install next to a newer
/// qemu-utils.
///
/// Some machines come with qemu-utils from bookworm-backports (10.x) but no apt source for
/// it. That qemu-utils `Breaks: qemu-system-common (< 8.0)`, so installing bookworm's
/// qemu-system 7.2 fails in apt's problem resolver. Asking for qemu-utils at the
/// qemu-system version (with `--allow-downgrades`) gives apt a consistent set.
fn qemu_utils_downgrade() -> Result<Vec<String>> {
    let Some(installed) = installed_version("qemu-utils") else {
        return Ok(vec![]);
    };
    let Some(candidate) = candidate_version("qemu-system-common")? else {
        return Ok(vec![]);
    };
    if !version_newer(&installed, &candidate) {
        return Ok(vec![]);
    }
    println!(
        "setup: installed qemu-utils {installed} is newer than qemu-system {candidate} and breaks it \
         (Breaks: qemu-system-common (< 8.0)); installing qemu-utils={candidate} with --allow-downgrades"
    );
    Ok(vec![
        "--allow-downgrades".into(),
        format!("qemu-utils={candidate}"),
    ])
}

/// Runs `apt-get <args>` non-interactively, with output passed through; waits (up to
/// [`LOCK_WAIT`]) while another apt or dpkg holds its lock instead of failing.
fn run_apt(args: &[&str]) -> Result<()> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let mut child = Command::new("apt-get")
            .args([
                "-o",
                &format!("DPkg::Lock::Timeout={}", LOCK_WAIT.as_secs()),
            ])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running apt-get")?;
        // Pass stderr through while looking for apt's lock message.
        let mut lock_held = false;
        if let Some(stderr) = child.stderr.take() {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                eprintln!("{line}");
                lock_held |= line.contains("Could not get lock") || line.contains("Unable to lock");
            }
        }
        let status = child.wait().context("waiting for apt-get")?;
        if status.success() {
            return Ok(());
        }
        if lock_held && Instant::now() < deadline {
            println!("setup: another apt/dpkg process holds the lock; waiting for it");
            std::thread::sleep(Duration::from_secs(5));
            continue;
        }
        bail!("apt-get {} exited with {status}", args.join(" "));
    }
}

fn rustup_list(what: &[&str]) -> Result<String> {
    let out = Command::new("rustup")
        .args(what)
        .output()
        .context("running rustup (install it from https://rustup.rs)")?;
    if !out.status.success() {
        bail!(
            "rustup {} failed: {}",
            what.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ensure_rust_targets() -> Result<()> {
    let installed = rustup_list(&["target", "list", "--installed"])?;
    let targets = rust_targets();
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        println!("setup: Rust targets present ({})", targets.join(", "));
        return Ok(());
    }
    run_rustup(&[&["target", "add"], missing.as_slice()].concat())
}

fn ensure_rust_components() -> Result<()> {
    let installed = rustup_list(&["component", "list", "--installed"])?;
    let missing: Vec<&str> = RUST_COMPONENTS
        .iter()
        .copied()
        .filter(|c| !has_component(&installed, c))
        .collect();
    if missing.is_empty() {
        println!(
            "setup: Rust components present ({})",
            RUST_COMPONENTS.join(", ")
        );
        return Ok(());
    }
    run_rustup(&[&["component", "add"], missing.as_slice()].concat())
}

/// The oldest Rust the workspace declares (`rust-version` in the root `Cargo.toml`'s
/// `[workspace.package]`), installed so that a step checks the workspace builds with it.
pub const MSRV_TOOLCHAIN: &str = "1.88.0";

/// The MSRV toolchain (minimal profile: `cargo check` needs nothing more).
fn ensure_msrv() -> Result<()> {
    let toolchains = rustup_list(&["toolchain", "list"])?;
    if toolchains
        .lines()
        .any(|l| l.trim_start().starts_with(MSRV_TOOLCHAIN))
    {
        println!("setup: Rust {MSRV_TOOLCHAIN} present (the declared MSRV)");
        return Ok(());
    }
    run_rustup(&[
        "toolchain",
        "install",
        MSRV_TOOLCHAIN,
        "--profile",
        "minimal",
    ])
}

/// The toolchain Miri comes with, and the components the Miri steps need from it.
pub const MIRI_TOOLCHAIN: &str = "nightly";
const MIRI_COMPONENTS: &[&str] = &["miri", "rust-src"];

/// Miri for the steps that check the syscall-free code: the nightly toolchain (this machine
/// kind ships one next to stable) with the `miri` and `rust-src` components.
fn ensure_miri() -> Result<()> {
    let toolchains = rustup_list(&["toolchain", "list"])?;
    let has_nightly = toolchains
        .lines()
        .any(|l| l.trim_start().starts_with(MIRI_TOOLCHAIN));
    if !has_nightly {
        return run_rustup(&[
            "toolchain",
            "install",
            MIRI_TOOLCHAIN,
            "--profile",
            "minimal",
            "--component",
            "miri,rust-src",
        ]);
    }
    let installed = rustup_list(&[
        "component",
        "list",
        "--installed",
        "--toolchain",
        MIRI_TOOLCHAIN,
    ])?;
    let missing: Vec<&str> = MIRI_COMPONENTS
        .iter()
        .copied()
        .filter(|c| !has_component(&installed, c))
        .collect();
    if missing.is_empty() {
        println!("setup: Miri present ({MIRI_TOOLCHAIN}: miri, rust-src)");
        return Ok(());
    }
    run_rustup(
        &[
            &["component", "add", "--toolchain", MIRI_TOOLCHAIN],
            missing.as_slice(),
        ]
        .concat(),
    )
}

/// `rustup component list --installed` prints `clippy-x86_64-unknown-linux-gnu`: match the
/// component name up to the host triple.
fn has_component(installed: &str, component: &str) -> bool {
    installed.lines().any(|l| {
        let l = l.trim();
        l == component
            || l.strip_prefix(component)
                .is_some_and(|rest| rest.starts_with('-') && rest[1..].contains("-linux-"))
    })
}

fn run_rustup(args: &[&str]) -> Result<()> {
    let command = format!("rustup {}", args.join(" "));
    println!("setup: {command}");
    let status = Command::new("rustup")
        .args(args)
        .status()
        .with_context(|| format!("running {command}"))?;
    if !status.success() {
        bail!("`{command}` failed ({status}); run it by hand once the network is reachable");
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_msrv_toolchain_is_the_workspace_rust_version() {
        let manifest =
            std::fs::read_to_string(crate::workspace::root().join("Cargo.toml")).unwrap();
        let declared = manifest
            .lines()
            .find_map(|l| l.strip_prefix("rust-version = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .expect("rust-version in [workspace.package]");
        assert!(
            MSRV_TOOLCHAIN == declared || MSRV_TOOLCHAIN.starts_with(&format!("{declared}.")),
            "setup installs {MSRV_TOOLCHAIN}, the workspace declares {declared}"
        );
    }

    use super::*;

    #[test]
    fn dpkg_query_output_counts_only_fully_installed_packages() {
        let out = "cpio install ok installed\nopensbi deinstall ok config-files\nqemu-system-x86 unknown ok not-installed\n";
        assert!(is_installed(out, "cpio"));
        assert!(!is_installed(out, "opensbi"));
        assert!(!is_installed(out, "qemu-system-x86"));
        assert!(!is_installed(out, "qemu-system-arm"));
        // A name that is a prefix of an installed one is not installed.
        assert!(!is_installed(out, "cpi"));
    }

    #[test]
    fn the_package_and_target_lists_name_every_arch_in_order() {
        assert_eq!(
            debian_packages(),
            [
                "qemu-user-static",
                "gcc-aarch64-linux-gnu",
                "gcc-riscv64-linux-gnu",
                "libc6-dev-arm64-cross",
                "libc6-dev-riscv64-cross",
                "cpio",
                "tini",
                "qemu-system-x86",
                "qemu-system-arm",
                "qemu-system-misc",
                "opensbi",
            ]
        );
        assert_eq!(
            rust_targets(),
            [
                "x86_64-unknown-linux-gnu",
                "aarch64-unknown-linux-gnu",
                "riscv64gc-unknown-linux-gnu",
            ]
        );
    }

    #[test]
    fn candidate_is_read_from_apt_cache_policy() {
        let policy = "qemu-system-common:\n  Installed: (none)\n  Candidate: 1:7.2+dfsg-7+deb12u18+b3\n  Version table:\n";
        assert_eq!(
            parse_candidate(policy).as_deref(),
            Some("1:7.2+dfsg-7+deb12u18+b3")
        );
        assert_eq!(
            parse_candidate("x:\n  Installed: (none)\n  Candidate: (none)\n"),
            None
        );
        assert_eq!(parse_candidate(""), None);
    }

    #[test]
    fn components_match_with_or_without_the_host_triple() {
        let installed =
            "cargo-x86_64-unknown-linux-gnu\nclippy-x86_64-unknown-linux-gnu\nrustfmt\n";
        assert!(has_component(installed, "clippy"));
        assert!(has_component(installed, "rustfmt"));
        assert!(!has_component(installed, "rust-src"));
        assert!(!has_component(
            "clippy-preview-x86_64-unknown-linux-gnu\n",
            "clippy-pre"
        ));
    }
}
