//! The guest's file tree, gathered from the host (the program, its loader and libraries,
//! `--file`s, clonekit-init and the launcher), then written as a newc initramfs.
//!
//! Every path is absolute in the guest; the directories above each entry are added
//! (mode 0755); two different host files for one guest path are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::guest::newc::Archive;

/// One entry of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir(u32),
    /// A host file (read when the archive is written), with its mode.
    File(PathBuf, u32),
    /// Bytes made here (the spec), with a mode.
    Bytes(Vec<u8>, u32),
    Symlink(String),
}

/// The guest's files, by guest path (`/lib/libc.so.6`; no trailing `/`).
#[derive(Debug, Default)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

/// A guest path as the archive names it: absolute, normalised (`//`, `/./` and a trailing
/// `/` removed), UTF-8; `..` is refused.
pub fn guest_path(path: &Path) -> Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("the guest path {} is not UTF-8", path.display()))?;
    if !text.starts_with('/') {
        bail!("the guest path `{text}` is not absolute");
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => bail!("the guest path `{text}` has a `..`"),
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    fn parents(&mut self, path: &str) -> Result<()> {
        let mut at = 0;
        while let Some(slash) = path[at + 1..].find('/') {
            let dir = &path[..at + 1 + slash];
            match self.nodes.get(dir) {
                None => {
                    self.nodes.insert(dir.to_string(), Node::Dir(0o755));
                }
                Some(Node::Dir(_)) => {}
                Some(_) => bail!("{dir} is a file in the guest, so {path} cannot be put below it"),
            }
            at += 1 + slash;
        }
        Ok(())
    }

    fn insert(&mut self, path: &str, node: Node) -> Result<()> {
        self.parents(path)?;
        match self.nodes.get(path) {
            None => {
                self.nodes.insert(path.to_string(), node);
                Ok(())
            }
            Some(old) if *old == node => Ok(()),
            Some(Node::Dir(_)) if matches!(node, Node::Dir(_)) => Ok(()),
            Some(old) => bail!(
                "two things would be {path} in the guest: {} and {}",
                describe(old),
                describe(&node)
            ),
        }
    }

    /// A directory (mode: permission bits).
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        if path == "/" {
            return Ok(());
        }
        self.insert(path, Node::Dir(mode))
    }

    /// A host file at `path`, with the host file's permission bits (or `mode`).
    pub fn file(&mut self, path: &str, host: &Path, mode: Option<u32>) -> Result<()> {
        let mode = match mode {
            Some(mode) => mode,
            None => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::metadata(host)
                    .with_context(|| format!("reading {}", host.display()))?
                    .permissions()
                    .mode()
                    & 0o7777
            }
        };
        self.insert(path, Node::File(host.to_path_buf(), mode))
    }

    /// Bytes made by the tool.
    pub fn bytes(&mut self, path: &str, data: Vec<u8>, mode: u32) -> Result<()> {
        self.insert(path, Node::Bytes(data, mode))
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        self.insert(path, Node::Symlink(target.to_string()))
    }

    /// Whether anything but the directory itself is below `dir`.
    pub fn has_below(&self, dir: &str) -> bool {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        self.nodes.keys().any(|p| p.starts_with(&prefix))
    }

    /// Whether `path` names something in the guest, following symbolic links (`/bin/sh`
    /// when `/bin` links to `usr/bin` and `/usr/bin/sh` is there).
    pub fn exists(&self, path: &str) -> bool {
        let mut parts: Vec<String> = path
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let mut at = String::new();
        let mut i = 0;
        let mut hops = 0;
        while i < parts.len() {
            let next = format!("{at}/{}", parts[i]);
            match self.nodes.get(&next) {
                None => return false,
                Some(Node::Symlink(target)) => {
                    hops += 1;
                    if hops > 16 {
                        return false;
                    }
                    let base = if target.starts_with('/') {
                        String::new()
                    } else {
                        at.clone()
                    };
                    let mut resolved: Vec<String> = format!("{base}/{target}")
                        .split('/')
                        .filter(|p| !p.is_empty() && *p != ".")
                        .map(str::to_string)
                        .collect();
                    resolved.extend(parts.drain(i + 1..));
                    parts = resolved;
                    at.clear();
                    i = 0;
                }
                Some(_) => {
                    at = next;
                    i += 1;
                }
            }
        }
        true
    }

    /// Whether `path` is in the tree (as anything).
    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    /// A host file or directory tree (`--file`): a directory's files, directories and
    /// symbolic links below it, each at the same place under `guest`; symbolic links are
    /// kept as links, and a link given as `host` itself is followed.
    pub fn host_tree(&mut self, guest: &str, host: &Path) -> Result<Vec<(String, PathBuf)>> {
        let meta = std::fs::metadata(host).with_context(|| format!("--file {}", host.display()))?;
        let mut files = Vec::new();
        if meta.is_dir() {
            use std::os::unix::fs::PermissionsExt;
            self.dir(guest, meta.permissions().mode() & 0o7777)?;
            let mut entries: Vec<_> = std::fs::read_dir(host)
                .with_context(|| format!("reading {}", host.display()))?
                .collect::<std::io::Result<_>>()
                .with_context(|| format!("reading {}", host.display()))?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let name = entry.file_name();
                let name = name
                    .to_str()
                    .with_context(|| format!("{} is not UTF-8", entry.path().display()))?;
                let child_guest = format!("{}/{name}", guest.trim_end_matches('/'));
                let kind = entry.file_type()?;
                if kind.is_symlink() {
                    let target = std::fs::read_link(entry.path())?;
                    let target = target
                        .to_str()
                        .with_context(|| format!("{} is not UTF-8", target.display()))?;
                    self.symlink(&child_guest, target)?;
                } else {
                    files.extend(self.host_tree(&child_guest, &entry.path())?);
                }
            }
        } else if meta.is_file() {
            self.file(guest, host, None)?;
            files.push((guest.to_string(), host.to_path_buf()));
        } else {
            bail!(
                "--file {}: only regular files, directories and links can be packed",
                host.display()
            );
        }
        Ok(files)
    }

    /// The newc archive of the tree, directories first within each level (the sorted
    /// order puts every directory before what is below it).
    pub fn archive(&self) -> Result<Vec<u8>> {
        let mut archive = Archive::new();
        for (path, node) in &self.nodes {
            match node {
                Node::Dir(mode) => archive.dir(path, *mode),
                Node::File(host, mode) => {
                    let data = std::fs::read(host)
                        .with_context(|| format!("reading {}", host.display()))?;
                    archive.file(path, *mode, &data);
                }
                Node::Bytes(data, mode) => archive.file(path, *mode, data),
                Node::Symlink(target) => archive.symlink(path, target),
            }
        }
        Ok(archive.finish())
    }
}

fn describe(node: &Node) -> String {
    match node {
        Node::Dir(_) => "a directory".into(),
        Node::File(host, _) => host.display().to_string(),
        Node::Bytes(..) => "a file made by clonekit-qemu".into(),
        Node::Symlink(target) => format!("a link to {target}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::newc::parse;

    #[test]
    fn guest_paths_are_normalised_and_must_be_absolute() {
        assert_eq!(guest_path(Path::new("/a//b/./c/")).unwrap(), "/a/b/c");
        assert_eq!(guest_path(Path::new("/")).unwrap(), "/");
        assert!(guest_path(Path::new("rel/x")).is_err());
        assert!(guest_path(Path::new("/a/../etc")).is_err());
    }

    #[test]
    fn parents_come_first_and_conflicts_are_refused() {
        let mut t = Tree::new();
        t.bytes("/w/crate/x", b"data".to_vec(), 0o644).unwrap();
        t.symlink("/bin/sh", "busybox").unwrap();
        t.dir("/tmp", 0o1777).unwrap();
        // The same thing twice is fine; a different one is not.
        t.symlink("/bin/sh", "busybox").unwrap();
        assert!(t.has_below("/bin") && t.has_below("/w") && !t.has_below("/tmp"));
        assert!(t.exists("/w/crate/x") && !t.exists("/w/crate/y") && !t.exists("/bin/sh"));
        let e = t.symlink("/bin/sh", "dash").unwrap_err().to_string();
        assert!(e.contains("two things would be /bin/sh"), "{e}");
        let e = t
            .bytes("/w/crate/x/y", vec![], 0o644)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/w/crate/x is a file"), "{e}");
        let entries = parse(&t.archive().unwrap()).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["bin", "bin/sh", "tmp", "w", "w/crate", "w/crate/x"]);
        assert_eq!(entries[1].mode, 0o120777);
        assert_eq!(entries[1].data, b"busybox");
        assert_eq!(entries[2].mode, 0o041777);
        assert_eq!(entries[5].data, b"data");
    }

    #[test]
    fn links_are_followed_when_asking_what_exists() {
        let mut t = Tree::new();
        t.bytes("/usr/bin/busybox", vec![1], 0o755).unwrap();
        t.symlink("/usr/bin/sh", "busybox").unwrap();
        t.symlink("/bin", "usr/bin").unwrap();
        t.symlink("/loop", "loop").unwrap();
        t.symlink("/abs", "/usr/bin").unwrap();
        assert!(t.exists("/bin/sh") && t.exists("/usr/bin/sh") && t.exists("/abs/busybox"));
        assert!(!t.exists("/bin/bash") && !t.exists("/loop"));
    }

    #[test]
    fn a_host_directory_is_packed_with_its_links_and_modes() {
        let dir = std::env::temp_dir().join(format!("clonekit-pack-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/data.txt"), b"hello\n").unwrap();
        std::fs::write(dir.join("run.sh"), b"#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("run.sh"), std::fs::Permissions::from_mode(0o750))
            .unwrap();
        std::os::unix::fs::symlink("sub/data.txt", dir.join("link")).unwrap();
        let mut t = Tree::new();
        let files = t.host_tree("/fixtures", &dir).unwrap();
        assert_eq!(files.len(), 2);
        let entries = parse(&t.archive().unwrap()).unwrap();
        let find = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        assert_eq!(find("fixtures/sub/data.txt").data, b"hello\n");
        assert_eq!(find("fixtures/run.sh").mode, 0o100750);
        assert_eq!(find("fixtures/link").data, b"sub/data.txt");
        assert_eq!(find("fixtures/link").mode & 0o170000, 0o120000);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
