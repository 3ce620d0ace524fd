//! Mount-namespace chores: keeping mounts from propagating back, `/proc` for a new PID
//! namespace, a tmpfs, and `pivot_root` into a fresh root.
//!
//! A child in new mount and PID namespaces mounts a `/proc` that shows its own PID namespace;
//! nothing it mounts reaches the parent:
//!
//! ```
//! use clonekit::CloneFlags;
//! use clonekit::mount;
//! use clonekit::process::ChildBuilder;
//! # if clonekit::program::emulated() {
//! #     return Ok(()); // qemu-user refuses new namespaces in clone (see program::emulated)
//! # }
//!
//! let mut child = ChildBuilder::new(CloneFlags::NEWNS | CloneFlags::NEWPID).spawn(|| {
//!     mount::make_private().unwrap(); // no propagation back to the parent's mounts
//!     mount::mount_proc(c"/proc").unwrap();
//!     let me = std::fs::read_link("/proc/self").unwrap();
//!     if me.as_os_str() == "1" { 0 } else { 1 }
//! })?;
//! assert!(child.wait()?.success());
//! let me = std::fs::read_link("/proc/self")?; // the parent's /proc is untouched
//! assert_eq!(me.to_str(), Some(std::process::id().to_string().as_str()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::ffi::CStr;

use crate::error::Error;
use crate::sys::fs::{self, CWD};
use crate::sys::ns::{self as sysns, MountFlags, UnmountFlags};

/// Makes every mount private, recursively (`mount(NULL, "/", NULL, MS_REC|MS_PRIVATE)`), so
/// mounts made in this mount namespace do not propagate back to the parent's (where `/` is
/// usually shared, as systemd sets it up).
pub fn make_private() -> Result<(), Error> {
    sysns::mount(
        None,
        c"/",
        None,
        MountFlags::REC | MountFlags::PRIVATE,
        None,
    )?;
    Ok(())
}

/// Mounts a fresh `proc` at `target`: in a new PID namespace it shows only that namespace's
/// processes (mount it from a process in that namespace).
pub fn mount_proc(target: &CStr) -> Result<(), Error> {
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    sysns::mount(Some(c"proc"), target, Some(c"proc"), flags, None)?;
    Ok(())
}

/// Mounts a tmpfs at `target` with `options` (e.g. `c"size=4m,mode=755"`).
pub fn mount_tmpfs(target: &CStr, options: Option<&CStr>) -> Result<(), Error> {
    sysns::mount(
        Some(c"tmpfs"),
        target,
        Some(c"tmpfs"),
        MountFlags::NOSUID,
        options,
    )?;
    Ok(())
}

/// Makes `new_root` (an existing directory) the root of this mount namespace: mounts a tmpfs
/// on it, `pivot_root`s into it, and detaches the old root, so nothing of the old tree is
/// reachable. Call it in a new mount namespace after [`make_private`]. `/proc` and other
/// mounts must be made afresh afterwards. The kernel refuses it (`EINVAL`) while the root is
/// an initramfs: [`switch_root`] out of it first.
pub fn pivot_into_tmpfs(new_root: &CStr) -> Result<(), Error> {
    mount_tmpfs(new_root, Some(c"mode=755"))?;
    fs::chdir(new_root)?;
    // pivot_root(".", ".") stacks the old root on top of the new one, so no directory for it
    // is needed (pivot_root(2), "NOTES"); unmounting "." afterwards detaches it.
    sysns::pivot_root(c".", c".")?;
    sysns::umount2(c".", UnmountFlags::DETACH)?;
    fs::chdir(c"/")?;
    Ok(())
}

/// Makes the mount at `new_root` the root the way `switch_root` does: moves it onto `/` and
/// `chroot`s into it. This is the way out of an initramfs, whose root (`rootfs`) the kernel
/// will not `pivot_root` away from; the old root stays underneath, unreachable.
pub fn switch_root(new_root: &CStr) -> Result<(), Error> {
    fs::chdir(new_root)?;
    sysns::mount(Some(c"."), c"/", None, MountFlags::MOVE, None)?;
    fs::chroot(c".")?;
    fs::chdir(c"/")?;
    Ok(())
}

/// Whether the root is the initramfs `rootfs` (which `pivot_root` refuses), from
/// `/proc/self/mounts`.
pub fn root_is_rootfs() -> bool {
    let mut buf = [0u8; 16384];
    let Ok(n) = crate::procfs::read(c"/proc/self/mounts", &mut buf) else {
        return false;
    };
    // The last mount on "/" is the one in effect.
    let mut fs_type: &[u8] = b"";
    for line in buf[..n].split(|&b| b == b'\n') {
        let mut words = line.split(|&b| b == b' ');
        if let (Some(_), Some(b"/"), Some(kind)) = (words.next(), words.next(), words.next()) {
            fs_type = kind;
        }
    }
    fs_type == b"rootfs"
}

/// Creates a directory (mode 0755), succeeding if it already exists.
pub fn ensure_dir(path: &CStr) -> Result<(), Error> {
    match fs::mkdirat(CWD, path, 0o755) {
        Ok(()) | Err(crate::Errno::EEXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
