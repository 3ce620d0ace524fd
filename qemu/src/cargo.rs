//! How the tool runs cargo: with the toolchain it was started with, or with another one
//! named explicitly (Miri's nightly), and never with what the outer `cargo run` put into
//! this process's environment.
//!
//! `cargo qemu` runs under `cargo run`, which sets `CARGO` (the *toolchain's* cargo binary,
//! not rustup's proxy), `RUSTUP_TOOLCHAIN`, the package variables and an
//! `LD_LIBRARY_PATH` naming the toolchain's libraries. A nested cargo for another
//! toolchain that inherits them runs the wrong cargo: cargo-miri builds its sysroot with
//! the cargo named by `$CARGO`, and a stable cargo refuses its `-Z` flags (the first run
//! on a machine without a Miri sysroot failed exactly so). So a named toolchain goes
//! through `rustup run <toolchain> cargo`, with the outer cargo's variables removed, and
//! [`plan`] is a pure function that the tests pin.

use std::ffi::OsString;
use std::process::Command;

/// Which toolchain a nested cargo belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toolchain {
    /// The toolchain `cargo qemu` itself was started with (`$CARGO`).
    Current,
    /// Another rustup toolchain, by name (`nightly` for Miri).
    Named(&'static str),
}

/// A nested cargo, fully described: what to run, and how its environment differs from
/// this process's.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub program: String,
    pub args: Vec<String>,
    /// Variables to remove from the inherited environment.
    pub remove: Vec<String>,
    /// Variables to set (after the removals).
    pub set: Vec<(String, String)>,
}

/// Variables cargo sets for the program it runs (`cargo run`); none of them describes the
/// nested cargo's package.
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || matches!(
            name,
            "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
        )
}

/// Variables that name the outer toolchain's programs: wrong for another toolchain.
const OUTER_TOOLCHAIN: &[&str] = &[
    "CARGO",
    "RUSTC",
    "RUSTDOC",
    "RUSTUP_TOOLCHAIN",
    "RUSTUP_TOOLCHAIN_SOURCE",
];

/// What the nested cargo would inherit: this process's environment, and the directory of
/// this tool's binary (which `cargo run` adds to `LD_LIBRARY_PATH`, with its `deps/`).
pub struct Outer {
    pub vars: Vec<(String, String)>,
    pub exe_dir: Option<String>,
}

impl Outer {
    /// This process's (non-UTF-8 entries are left out: they are never cargo's).
    pub fn here() -> Outer {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((into_string(k)?, into_string(v)?)))
            .collect();
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.to_str()?.to_string()));
        Outer { vars, exe_dir }
    }
}

/// The cargo to run for `toolchain` with `args` and the step's own `env`, given what it
/// would inherit.
pub fn plan(toolchain: Toolchain, args: &[&str], env: &[(&str, &str)], outer: &Outer) -> Plan {
    let outer_value = |name: &str| {
        outer
            .vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut remove: Vec<String> = outer
        .vars
        .iter()
        .map(|(k, _)| k)
        .filter(|k| set_by_cargo_run(k))
        .cloned()
        .collect();
    let mut set: Vec<(String, String)> = Vec::new();
    // `cargo run` puts the outer toolchain's library directory (and the tool's own target
    // directory) in front of the user's LD_LIBRARY_PATH; keep only the user's entries.
    if let Some(paths) = outer_value("LD_LIBRARY_PATH") {
        let rustup_home = outer_value("RUSTUP_HOME");
        let kept: Vec<&str> = paths
            .split(':')
            .filter(|p| !p.is_empty() && !added_by_cargo(p, rustup_home, outer.exe_dir.as_deref()))
            .collect();
        if kept.is_empty() {
            remove.push("LD_LIBRARY_PATH".into());
        } else {
            set.push(("LD_LIBRARY_PATH".into(), kept.join(":")));
        }
    }
    let (program, mut full_args) = match toolchain {
        Toolchain::Current => (
            outer_value("CARGO").unwrap_or("cargo").to_string(),
            Vec::new(),
        ),
        Toolchain::Named(name) => {
            remove.extend(
                OUTER_TOOLCHAIN
                    .iter()
                    .filter(|k| outer_value(k).is_some())
                    .map(|k| k.to_string()),
            );
            (
                "rustup".to_string(),
                vec!["run".to_string(), name.to_string(), "cargo".to_string()],
            )
        }
    };
    full_args.extend(args.iter().map(|a| a.to_string()));
    set.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    remove.sort();
    remove.dedup();
    Plan {
        program,
        args: full_args,
        remove,
        set,
    }
}

/// Whether an `LD_LIBRARY_PATH` entry is one `cargo run` added: a directory of a rustup
/// toolchain, or this tool's own target directory (`target/release`, `target/release/deps`).
fn added_by_cargo(path: &str, rustup_home: Option<&str>, exe_dir: Option<&str>) -> bool {
    let path = path.trim_end_matches('/');
    let toolchains = rustup_home.map(|h| format!("{}/toolchains/", h.trim_end_matches('/')));
    toolchains.is_some_and(|t| path.starts_with(&t))
        || exe_dir.is_some_and(|d| path == d || path.strip_suffix("/deps") == Some(d))
}

/// A [`Command`] for the current toolchain's cargo with `args` (see [`plan`]).
pub fn current(args: &[&str]) -> Command {
    plan(Toolchain::Current, args, &[], &Outer::here()).command()
}

impl Plan {
    /// The [`Command`] of this plan (environment inherited, then changed as planned).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        for k in &self.remove {
            cmd.env_remove(k);
        }
        cmd.envs(self.set.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// The program's file name (`cargo`, `rustup`), for short messages.
    pub fn program_name(&self) -> &str {
        self.program.rsplit('/').next().unwrap_or(&self.program)
    }

    /// The command as a user would type it.
    pub fn display(&self) -> String {
        let env: String = self
            .set
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\" "))
            .collect();
        format!("{env}{} {}", self.program, self.args.join(" "))
    }
}

fn into_string(s: OsString) -> Option<String> {
    s.into_string().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `cargo run` (through rustup's proxy, stable toolchain) puts in the environment
    /// of `cargo qemu`, as measured on this machine kind.
    fn under_cargo_run() -> Outer {
        let vars = [
            ("PATH", "/root/.cargo/bin:/usr/bin"),
            ("HOME", "/root"),
            ("XDG_CACHE_HOME", "/tmp/fresh"),
            (
                "CARGO",
                "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo",
            ),
            ("CARGO_HOME", "/root/.cargo"),
            ("CARGO_MANIFEST_DIR", "/work/main/qemu"),
            ("CARGO_MANIFEST_PATH", "/work/main/qemu/Cargo.toml"),
            ("CARGO_PKG_NAME", "clonekit-qemu"),
            ("CARGO_PKG_VERSION", "0.1.0"),
            (
                "LD_LIBRARY_PATH",
                "/work/main/target/release/deps:/work/main/target/release:\
                 /root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/x86_64-unknown-linux-gnu/lib:\
                 /root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib:/opt/user/lib",
            ),
            ("RUSTUP_HOME", "/root/.rustup"),
            ("RUSTUP_TOOLCHAIN", "stable-x86_64-unknown-linux-gnu"),
            ("RUSTUP_TOOLCHAIN_SOURCE", "default"),
            ("RUST_RECURSION_COUNT", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Outer {
            vars,
            exe_dir: Some("/work/main/target/release".into()),
        }
    }

    #[test]
    fn a_named_toolchain_runs_through_rustup_without_the_outer_cargo() {
        let plan = plan(
            Toolchain::Named("nightly"),
            &["miri", "test", "-p", "clonekit"],
            &[],
            &under_cargo_run(),
        );
        assert_eq!(plan.program, "rustup");
        assert_eq!(
            plan.args,
            ["run", "nightly", "cargo", "miri", "test", "-p", "clonekit"]
        );
        assert_eq!(
            plan.remove,
            [
                "CARGO",
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_PKG_NAME",
                "CARGO_PKG_VERSION",
                "RUSTUP_TOOLCHAIN",
                "RUSTUP_TOOLCHAIN_SOURCE",
            ]
        );
        // The user's own library directory stays; the stable toolchain's and the tool's
        // target directories go.
        assert_eq!(
            plan.set,
            [("LD_LIBRARY_PATH".to_string(), "/opt/user/lib".to_string())]
        );
        // What the user and rustup own is left alone: the cache location above all (Miri
        // keeps its sysroot under $XDG_CACHE_HOME/miri).
        for kept in [
            "XDG_CACHE_HOME",
            "HOME",
            "PATH",
            "CARGO_HOME",
            "RUSTUP_HOME",
        ] {
            assert!(!plan.remove.iter().any(|k| k == kept), "{kept} removed");
        }
    }

    #[test]
    fn the_current_toolchain_is_the_outer_cargo_without_its_package_variables() {
        let plan = plan(
            Toolchain::Current,
            &["test", "--workspace"],
            &[("RUSTDOCFLAGS", "-D warnings")],
            &under_cargo_run(),
        );
        assert_eq!(
            plan.program,
            "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo"
        );
        assert_eq!(plan.args, ["test", "--workspace"]);
        assert_eq!(
            plan.remove,
            [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_PKG_NAME",
                "CARGO_PKG_VERSION",
            ]
        );
        assert_eq!(
            plan.set,
            [
                ("LD_LIBRARY_PATH".to_string(), "/opt/user/lib".to_string()),
                ("RUSTDOCFLAGS".to_string(), "-D warnings".to_string()),
            ]
        );
    }

    #[test]
    fn without_cargo_run_nothing_is_removed_and_cargo_comes_from_path() {
        let plain = Outer {
            vars: vec![("PATH".to_string(), "/usr/bin".to_string())],
            exe_dir: Some("/w/target/debug".into()),
        };
        let plan = plan(Toolchain::Current, &["build"], &[], &plain);
        assert_eq!(plan.program, "cargo");
        assert!(plan.remove.is_empty() && plan.set.is_empty());
        let only_cargo_dirs = Outer {
            vars: vec![(
                "LD_LIBRARY_PATH".to_string(),
                "/w/target/debug/deps:/w/target/debug".to_string(),
            )],
            exe_dir: Some("/w/target/debug".into()),
        };
        let plan = super::plan(
            Toolchain::Named("nightly"),
            &["miri"],
            &[],
            &only_cargo_dirs,
        );
        assert_eq!(plan.remove, ["LD_LIBRARY_PATH"]);
    }

    #[test]
    fn library_paths_of_toolchains_and_target_directories_are_cargos() {
        let (home, exe) = (Some("/opt/rustup"), Some("/w/target/release"));
        assert!(added_by_cargo("/opt/rustup/toolchains/x/lib", home, exe));
        assert!(added_by_cargo("/w/target/release/deps", home, exe));
        assert!(added_by_cargo("/w/target/release/", home, exe));
        assert!(!added_by_cargo("/w/target/debug", home, exe));
        assert!(!added_by_cargo("/usr/lib/x86_64-linux-gnu", home, exe));
        assert!(!added_by_cargo("/root/.rustup/toolchains/x/lib", None, exe));
    }
}
