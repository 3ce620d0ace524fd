//! File descriptors: a raw number, an owning wrapper that closes on drop, and a borrow.
//!
//! # I/O safety
//! As in std, a descriptor number is a resource with one owner: no safe clonekit function
//! takes a raw number to read, write, close or replace. They take an [`OwnedFd`] (closing
//! it consumes it: [`sys::fs::close`](crate::sys::fs::close)) or a [`BorrowedFd`] that
//! cannot outlive its owner. Raw numbers enter only through `unsafe` calls with a written
//! contract: [`OwnedFd::from_raw`], [`BorrowedFd::borrow_raw`],
//! [`sys::fs::dup3`](crate::sys::fs::dup3).
//!
//! A fork-like child (no `CLONE_FILES`) has its own copy of the descriptor table, in which
//! its copies of the parent's descriptors are open; a closure that captured a number may
//! borrow it there (or take it over: its copy of the parent's owner is never dropped in a
//! clonekit child, which ends without returning into the parent's frames), in `unsafe` code
//! that says so.
//!
//! With the `std` feature (`clonekit = { version = "0.1", features = ["std"] }`) the two
//! types convert to and from `std::os::fd::{OwnedFd, BorrowedFd}` with `From`, implement std's
//! `AsFd` and `AsRawFd` (and the owner `IntoRawFd` and `FromRawFd`), and std's descriptor
//! types (a `File`, a socket, a pipe end, the standard streams) implement clonekit's [`AsFd`],
//! so they go wherever clonekit takes one. Without it, the crate is `no_std` and the same
//! traits are clonekit's own:
//!
//! ```
//! use clonekit::fd::{AsFd, OwnedFd};
//! use clonekit::sys::fs::{self, PipeFlags};
//!
//! let (reader, writer) = fs::pipe2(PipeFlags::CLOEXEC)?;
//! fs::write(&writer, b"ping")?; // a borrow: anything `AsFd`
//! let second: OwnedFd = writer.try_clone()?; // dup(2): another owner of the same pipe end
//! fs::close(writer)?; // closing consumes the owner (and reports close(2)'s error)
//! fs::write(second.as_fd(), b"!")?;
//! drop(second); // the last write end: the reader now sees end of file
//!
//! let mut buf = [0u8; 8];
//! assert_eq!(fs::read(&reader, &mut buf)?, 5);
//! assert_eq!(&buf[..5], b"ping!");
//! assert_eq!(fs::read(&reader, &mut buf)?, 0);
//! # Ok::<(), clonekit::Errno>(())
//! ```

use core::fmt;
use core::marker::PhantomData;

/// A raw file descriptor number, as the kernel sees it.
pub type RawFd = i32;

/// An open file descriptor this value owns; it is closed when dropped.
///
/// The `close(2)` error on drop is ignored (the descriptor is released by the
/// kernel either way); [`crate::sys::fs::close`] consumes the `OwnedFd` and reports it.
///
/// The same type as std's `std::os::fd::OwnedFd`, for a `no_std` crate: the `std` feature
/// converts between the two (`From` both ways) and implements std's fd traits for it.
pub struct OwnedFd {
    fd: RawFd,
}

impl OwnedFd {
    /// Takes ownership of `fd` (also [`FromRawFd::from_raw_fd`]).
    ///
    /// # Safety
    ///
    /// `fd` must be an open descriptor that nothing else owns or will close: this
    /// value closes it on drop, and a number closed twice may by then name another
    /// owner's file (for example a memory-mapped one).
    pub const unsafe fn from_raw(fd: RawFd) -> OwnedFd {
        OwnedFd { fd }
    }

    /// The descriptor number, still owned by `self` (also [`AsRawFd::as_raw_fd`]).
    pub const fn as_raw(&self) -> RawFd {
        self.fd
    }

    /// A borrow of the descriptor that cannot outlive `self` (also [`AsFd::as_fd`]).
    ///
    /// ```compile_fail,E0505
    /// use clonekit::sys::fs::{PipeFlags, pipe2, write};
    /// let (_r, w) = pipe2(PipeFlags::CLOEXEC)?;
    /// let borrowed = w.as_fd();
    /// drop(w); // closes the descriptor: the borrow must be over by now
    /// write(borrowed, b"x")?;
    /// # Ok::<(), clonekit::Errno>(())
    /// ```
    pub const fn as_fd(&self) -> BorrowedFd<'_> {
        BorrowedFd {
            fd: self.fd,
            _owner: PhantomData,
        }
    }

    /// Gives up ownership: the caller owns the returned number (to close it, or to hand
    /// it on with [`OwnedFd::from_raw`]). Also [`IntoRawFd::into_raw_fd`].
    pub fn into_raw(self) -> RawFd {
        let fd = self.fd;
        core::mem::forget(self);
        fd
    }

    /// A second owned descriptor for the same open file (`fcntl(F_DUPFD_CLOEXEC, 3)`, as
    /// std's `try_clone`: the lowest free number from 3 up, close-on-exec).
    pub fn try_clone(&self) -> Result<OwnedFd, crate::Errno> {
        self.as_fd().try_clone_to_owned()
    }
}

impl Drop for OwnedFd {
    fn drop(&mut self) {
        // SAFETY: `self` owns the descriptor (`from_raw`'s contract) and is dropped once.
        let _ = unsafe { close_raw(self.fd) };
    }
}

impl fmt::Debug for OwnedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedFd").field(&self.fd).finish()
    }
}

/// A descriptor borrowed from an [`OwnedFd`] (or from something else that keeps it
/// open) for the lifetime `'a`.
///
/// Its number is an open descriptor for all of `'a`, or the one special value `AT_FDCWD`
/// (-100, [`sys::fs::CWD`](crate::sys::fs::CWD)): not a descriptor, never closed, which the
/// `*at` calls read as "the working directory" and every other call refuses with `EBADF`
/// (rustix's `CWD` is the same value in std's `BorrowedFd`). It is never -1.
///
/// The same type as std's `std::os::fd::BorrowedFd`, for a `no_std` crate: the `std`
/// feature converts between the two (`From` both ways), keeping the lifetime:
#[cfg_attr(
    feature = "std",
    doc = r#"
```compile_fail,E0505
use clonekit::sys::fs::{PipeFlags, pipe2};
let (r, _w) = pipe2(PipeFlags::CLOEXEC)?;
let borrowed: std::os::fd::BorrowedFd<'_> = r.as_fd().into();
drop(r);
let _ = borrowed.try_clone_to_owned();
# Ok::<(), clonekit::Errno>(())
```
"#
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BorrowedFd<'a> {
    fd: RawFd,
    _owner: PhantomData<&'a OwnedFd>,
}

impl<'a> BorrowedFd<'a> {
    /// Borrows a descriptor that the caller keeps open for the chosen lifetime
    /// (e.g. `0`, `1`, `2` for a whole program, which by convention are always open).
    ///
    /// # Safety
    ///
    /// `fd` must stay open, and not be closed or replaced by anyone, for the lifetime `'a`
    /// (or be `AT_FDCWD`, see [`BorrowedFd`]). It must not be -1.
    pub const unsafe fn borrow_raw(fd: RawFd) -> BorrowedFd<'a> {
        BorrowedFd {
            fd,
            _owner: PhantomData,
        }
    }

    /// The descriptor number (also [`AsRawFd::as_raw_fd`]).
    pub const fn as_raw(&self) -> RawFd {
        self.fd
    }

    /// A new owned descriptor for the same open file (`fcntl(F_DUPFD_CLOEXEC, 3)`, as
    /// std's: the lowest free number from 3 up, close-on-exec). `EBADF` for
    /// [`CWD`](crate::sys::fs::CWD).
    pub fn try_clone_to_owned(&self) -> Result<OwnedFd, crate::Errno> {
        // SAFETY: F_DUPFD_CLOEXEC takes an integer and neither closes nor replaces a
        // descriptor; the borrowed one is open for the call.
        let new = crate::errno::from_syscall(unsafe {
            sc::syscall3(
                linux_raw_sys::general::__NR_fcntl as usize,
                self.fd as usize,
                linux_raw_sys::general::F_DUPFD_CLOEXEC as usize,
                3,
            )
        })?;
        // SAFETY: a successful F_DUPFD_CLOEXEC returns a new descriptor nobody else owns.
        Ok(unsafe { OwnedFd::from_raw(new as RawFd) })
    }
}

impl fmt::Debug for BorrowedFd<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BorrowedFd").field(&self.fd).finish()
    }
}

/// Borrows a descriptor from what owns (or borrows) it: what clonekit's functions that
/// take a descriptor accept (`impl AsFd`), as std's and rustix's `AsFd`.
///
/// clonekit's own trait, so that it works without std; with the `std` feature it is also
/// implemented for std's descriptor types (`File`, sockets, pipes, the standard streams,
/// `std::os::fd::{OwnedFd, BorrowedFd}`), and clonekit's types implement std's `AsFd`.
///
/// ```
/// use clonekit::fd::AsFd;
/// use clonekit::sys::fs::{PipeFlags, pipe2, read, write};
/// let (r, w) = pipe2(PipeFlags::CLOEXEC)?;
/// write(&w, b"by reference")?; // &OwnedFd
/// let mut buf = [0u8; 12];
/// read(r.as_fd(), &mut buf)?; // BorrowedFd<'_>
/// assert_eq!(&buf, b"by reference");
/// # Ok::<(), clonekit::Errno>(())
/// ```
pub trait AsFd {
    /// Borrows the descriptor, for as long as `self` is borrowed.
    fn as_fd(&self) -> BorrowedFd<'_>;
}

/// The descriptor number of a value that has one, as std's `AsRawFd`: a number says
/// nothing of who owns it, so nothing safe in clonekit takes one back.
pub trait AsRawFd {
    /// The number, still owned (or borrowed) by `self`.
    fn as_raw_fd(&self) -> RawFd;
}

/// Gives up ownership of a descriptor as a number, as std's `IntoRawFd`.
pub trait IntoRawFd {
    /// The number, now the caller's to close.
    fn into_raw_fd(self) -> RawFd;
}

/// Takes ownership of a descriptor number, as std's `FromRawFd`.
pub trait FromRawFd: Sized {
    /// Takes ownership of `fd`.
    ///
    /// # Safety
    /// As for [`OwnedFd::from_raw`]: `fd` is an open descriptor nothing else owns or will
    /// close.
    unsafe fn from_raw_fd(fd: RawFd) -> Self;
}

impl AsFd for OwnedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        OwnedFd::as_fd(self)
    }
}

impl AsFd for BorrowedFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        *self
    }
}

impl<T: AsFd + ?Sized> AsFd for &T {
    fn as_fd(&self) -> BorrowedFd<'_> {
        T::as_fd(self)
    }
}

impl<T: AsFd + ?Sized> AsFd for &mut T {
    fn as_fd(&self) -> BorrowedFd<'_> {
        T::as_fd(self)
    }
}

impl AsRawFd for OwnedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl AsRawFd for BorrowedFd<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl IntoRawFd for OwnedFd {
    fn into_raw_fd(self) -> RawFd {
        self.into_raw()
    }
}

impl FromRawFd for OwnedFd {
    unsafe fn from_raw_fd(fd: RawFd) -> OwnedFd {
        // SAFETY: the caller's contract is from_raw's.
        unsafe { OwnedFd::from_raw(fd) }
    }
}

/// `close(fd)` on a number: what [`sys::fs::close`](crate::sys::fs::close) and `OwnedFd`'s
/// drop make. Here, beside the owner, so that the descriptor types depend on nothing else.
///
/// # Safety
/// The caller owns `fd` and nothing uses the number afterwards as the descriptor it was.
pub(crate) unsafe fn close_raw(fd: RawFd) -> Result<(), crate::Errno> {
    // SAFETY: close takes no pointers; the caller owns `fd`.
    crate::errno::from_syscall(unsafe {
        sc::syscall1(linux_raw_sys::general::__NR_close as usize, fd as usize)
    })
    .map(drop)
}

/// With the `std` feature, std's `AsFd` and `AsRawFd` for clonekit types that implement
/// clonekit's [`AsFd`], through it: used beside each such type.
macro_rules! std_fd_traits {
    ($($ty:ty),* $(,)?) => {$(
        #[cfg(feature = "std")]
        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                $crate::fd::AsFd::as_fd(self).into()
            }
        }

        #[cfg(feature = "std")]
        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                $crate::fd::AsFd::as_fd(self).as_raw()
            }
        }
    )*};
}
pub(crate) use std_fd_traits;

/// With the `std` feature, std's `IntoRawFd`, `FromRawFd` and `From<_> for
/// std::os::fd::OwnedFd` for clonekit types that own a descriptor (and implement clonekit's
/// [`IntoRawFd`], [`FromRawFd`] and `Into<OwnedFd>`).
macro_rules! std_owner_fd_traits {
    ($($ty:ty),* $(,)?) => {$(
        #[cfg(feature = "std")]
        impl ::std::os::fd::IntoRawFd for $ty {
            fn into_raw_fd(self) -> ::std::os::fd::RawFd {
                $crate::fd::IntoRawFd::into_raw_fd(self)
            }
        }

        #[cfg(feature = "std")]
        impl ::std::os::fd::FromRawFd for $ty {
            unsafe fn from_raw_fd(fd: ::std::os::fd::RawFd) -> $ty {
                // SAFETY: std's contract for `fd` is clonekit's.
                unsafe { $crate::fd::FromRawFd::from_raw_fd(fd) }
            }
        }
    )*};
}
pub(crate) use std_owner_fd_traits;

/// With the `std` feature: conversions to and from std's descriptor types, std's fd traits
/// for clonekit's types, and clonekit's [`AsFd`] for std's.
#[cfg(feature = "std")]
mod with_std {
    use super::{AsFd, BorrowedFd, OwnedFd};
    use std::os::fd as sfd;
    use std::os::fd::{AsRawFd as _, FromRawFd as _, IntoRawFd as _};

    impl From<OwnedFd> for sfd::OwnedFd {
        fn from(fd: OwnedFd) -> sfd::OwnedFd {
            // SAFETY: the number was `fd`'s alone (never -1: it is open), and `fd` gave it up.
            unsafe { sfd::OwnedFd::from_raw_fd(fd.into_raw()) }
        }
    }

    impl From<sfd::OwnedFd> for OwnedFd {
        fn from(fd: sfd::OwnedFd) -> OwnedFd {
            // SAFETY: as above, from std's owner.
            unsafe { OwnedFd::from_raw(fd.into_raw_fd()) }
        }
    }

    impl<'a> From<BorrowedFd<'a>> for sfd::BorrowedFd<'a> {
        fn from(fd: BorrowedFd<'a>) -> sfd::BorrowedFd<'a> {
            // SAFETY: open for 'a (or AT_FDCWD, as in rustix's CWD), never -1: the contract
            // every clonekit BorrowedFd was made under.
            unsafe { sfd::BorrowedFd::borrow_raw(fd.as_raw()) }
        }
    }

    impl<'a> From<sfd::BorrowedFd<'a>> for BorrowedFd<'a> {
        fn from(fd: sfd::BorrowedFd<'a>) -> BorrowedFd<'a> {
            // SAFETY: std's borrow keeps the descriptor open for 'a.
            unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) }
        }
    }

    super::std_fd_traits!(OwnedFd, BorrowedFd<'_>);
    super::std_owner_fd_traits!(OwnedFd);

    /// clonekit's `AsFd` for std's types, through std's.
    macro_rules! clonekit_as_fd {
        ($($ty:ty),* $(,)?) => {$(
            impl AsFd for $ty {
                fn as_fd(&self) -> BorrowedFd<'_> {
                    sfd::AsFd::as_fd(self).into()
                }
            }
        )*};
    }
    clonekit_as_fd!(
        sfd::OwnedFd,
        sfd::BorrowedFd<'_>,
        std::fs::File,
        std::io::Stdin,
        std::io::Stdout,
        std::io::Stderr,
        std::io::StdinLock<'_>,
        std::io::StdoutLock<'_>,
        std::io::StderrLock<'_>,
        std::io::PipeReader,
        std::io::PipeWriter,
        std::net::TcpStream,
        std::net::TcpListener,
        std::net::UdpSocket,
        std::os::unix::net::UnixStream,
        std::os::unix::net::UnixListener,
        std::os::unix::net::UnixDatagram,
        std::process::ChildStdin,
        std::process::ChildStdout,
        std::process::ChildStderr,
    );
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::Errno;
    use crate::sys::fs::{CWD, FdFlags, OFlags, PipeFlags, openat, pipe2, read, readlinkat, write};
    use std::format;

    /// The descriptor flags of the number `fd` (`EBADF` once it is closed).
    fn fd_flags(fd: RawFd) -> Result<FdFlags, Errno> {
        crate::sys::fs::fcntl(fd, linux_raw_sys::general::F_GETFD, 0)
            .map(|v| FdFlags::from_bits_retain(v as u32))
    }

    /// What `/proc/self/fd/<fd>` names (`ENOENT`: the number is not open).
    fn try_target(fd: RawFd) -> Result<std::string::String, Errno> {
        let path = format!("/proc/self/fd/{fd}\0");
        let path = core::ffi::CStr::from_bytes_with_nul(path.as_bytes()).unwrap();
        let mut buf = [0u8; 128];
        let link = readlinkat(CWD, path, &mut buf)?;
        Ok(std::string::String::from_utf8_lossy(link).into_owned())
    }

    /// What `/proc/self/fd/<fd>` names, `fd` being open.
    fn target(fd: RawFd) -> std::string::String {
        try_target(fd).unwrap()
    }

    /// Whether `fd` no longer names what `/proc/self/fd/<fd>` named before (`was`): closed,
    /// or its number taken since by another test's descriptor (tests run side by side in this
    /// process, so a closed number may be reused at once; `EBADF` alone would flake).
    fn no_longer_names(fd: RawFd, was: &str) -> bool {
        match try_target(fd) {
            Err(e) => e == Errno::ENOENT,
            Ok(link) => link != was,
        }
    }

    /// Takes any clonekit `AsFd`, as the library's functions do.
    fn number(fd: impl AsFd) -> RawFd {
        fd.as_fd().as_raw()
    }

    #[test]
    fn as_fd_is_implemented_by_owners_borrows_and_references() {
        let (r, mut w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        let pidfd = crate::pidfd::PidFd::open(crate::sys::process::getpid());
        assert_eq!(number(&r), r.as_raw());
        assert_eq!(number(r.as_fd()), r.as_raw());
        assert_eq!(number(&mut w), w.as_raw());
        assert_eq!(number(crate::console::StdStream::Stderr), 2);
        assert_eq!(number(crate::console::Console::stdout()), 1);
        assert_eq!(AsRawFd::as_raw_fd(&r), r.as_raw());
        assert_eq!(AsRawFd::as_raw_fd(&CWD), crate::sys::fs::AT_FDCWD);
        // Writing through `&w` and reading through a borrow: the same pipe, as /proc shows.
        assert_eq!(target(r.as_raw())[..6], target(w.as_raw())[..6], "pipe:[…]");
        write(&w, b"ab").unwrap();
        assert_eq!(read(r.as_fd(), &mut [0u8; 4]), Ok(2));
        if let Ok(pidfd) = pidfd {
            assert_eq!(number(&pidfd), pidfd.as_raw());
            // anon_inode:[pidfd] before Linux 6.9, pidfd:[<inode>] on pidfs since.
            assert!(target(pidfd.as_raw_fd()).contains("pidfd"));
            let was = target(pidfd.as_raw_fd());
            let raw = pidfd.into_raw_fd();
            assert!(fd_flags(raw).is_ok(), "given up, not closed");
            // SAFETY: the number was given up just above and nothing else owns it.
            let back = unsafe { crate::pidfd::PidFd::from_raw_fd(raw) };
            drop(OwnedFd::from(back));
            assert!(no_longer_names(raw, &was), "closed by the owner's drop");
        }
    }

    #[test]
    fn into_and_from_raw_fd_hand_ownership_over() {
        let (r, _w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        let was = target(r.as_raw());
        let raw = r.into_raw_fd();
        assert!(fd_flags(raw).is_ok(), "into_raw_fd does not close");
        // SAFETY: `raw` was given up by its owner just above.
        let owner = unsafe { OwnedFd::from_raw_fd(raw) };
        assert_eq!(owner.as_raw(), raw);
        drop(owner);
        assert!(no_longer_names(raw, &was), "the new owner closed it");
    }

    #[test]
    fn try_clone_is_a_close_on_exec_duplicate_from_3_up() {
        let file = openat(CWD, c"/proc/self/stat", OFlags::RDONLY, 0).unwrap();
        assert!(!fd_flags(file.as_raw()).unwrap().contains(FdFlags::CLOEXEC));
        let copy = file.try_clone().unwrap();
        assert!(copy.as_raw() >= 3 && copy.as_raw() != file.as_raw());
        assert!(fd_flags(copy.as_raw()).unwrap().contains(FdFlags::CLOEXEC));
        assert_eq!(target(copy.as_raw()), target(file.as_raw()));
        let from_borrow = file.as_fd().try_clone_to_owned().unwrap();
        assert_eq!(target(from_borrow.as_raw()), target(file.as_raw()));
        // One open file: the offset moves for both.
        let mut buf = [0u8; 4];
        assert_eq!(read(&copy, &mut buf), Ok(4));
        let mut rest = [0u8; 4096];
        let n = read(&file, &mut rest).unwrap();
        let pid = format!("{} ", std::process::id());
        assert!(
            !rest[..n].starts_with(pid.as_bytes()),
            "read on from the copy's offset"
        );
        let (number, was) = (copy.as_raw(), target(copy.as_raw()));
        drop(copy);
        assert!(no_longer_names(number, &was));
        assert!(fd_flags(file.as_raw()).is_ok(), "the original stays open");
        assert_eq!(CWD.try_clone_to_owned().unwrap_err(), Errno::EBADF);
    }

    /// With the `std` feature: clonekit's and std's descriptor types convert both ways,
    /// keeping the number and its ownership, and each side's traits take the other's types.
    #[cfg(feature = "std")]
    #[test]
    fn std_conversions_keep_the_number_and_its_owner() {
        use std::io::{Read, Write};
        use std::os::fd::AsRawFd as _;
        let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        let (r_raw, w_raw) = (r.as_raw(), w.as_raw());
        let borrowed: std::os::fd::BorrowedFd<'_> = r.as_fd().into();
        assert_eq!(borrowed.as_raw_fd(), r_raw);
        let back: BorrowedFd<'_> = borrowed.into();
        assert_eq!(back, r.as_fd());
        // std's traits on clonekit's types.
        assert_eq!(std::os::fd::AsFd::as_fd(&w).as_raw_fd(), w_raw);
        assert_eq!(std::os::fd::AsRawFd::as_raw_fd(&w), w_raw);
        // An owner handed to std is std's File, which reads and writes the same pipe.
        let mut writer = std::fs::File::from(std::os::fd::OwnedFd::from(w));
        let mut reader = std::fs::File::from(std::os::fd::OwnedFd::from(r));
        assert_eq!(writer.as_raw_fd(), w_raw);
        writer.write_all(b"to std").unwrap();
        // clonekit's functions take std's types (`impl AsFd`).
        let mut buf = [0u8; 3];
        assert_eq!(read(&reader, &mut buf), Ok(3));
        assert_eq!(&buf, b"to ");
        let mut rest = [0u8; 3];
        reader.read_exact(&mut rest).unwrap();
        assert_eq!(&rest, b"std");
        // And back: std's owner becomes clonekit's, which closes it on drop.
        let owned = OwnedFd::from(std::os::fd::OwnedFd::from(writer));
        assert_eq!(owned.as_raw(), w_raw);
        let was = target(w_raw);
        drop(owned);
        assert!(no_longer_names(w_raw, &was));
        assert_eq!(
            read(&reader, &mut buf),
            Ok(0),
            "end of file: the writer is closed"
        );
        assert_eq!(number(std::io::stderr()), 2);
        assert_eq!(number(std::io::stdin().lock()), 0);
        let pidfd = crate::pidfd::PidFd::open(crate::sys::process::getpid());
        if let Ok(pidfd) = pidfd {
            let raw = pidfd.as_raw();
            assert_eq!(std::os::fd::AsFd::as_fd(&pidfd).as_raw_fd(), raw);
            let std_owned = std::os::fd::OwnedFd::from(pidfd);
            assert_eq!(std_owned.as_raw_fd(), raw);
        }
    }
}
