//! Network interfaces, just enough to prove network-namespace isolation: read and set an
//! interface's flags (`SIOCGIFFLAGS`/`SIOCSIFFLAGS` on a datagram socket).

use clonekit::Errno;
use clonekit::errno::from_syscall;
use clonekit::fd::OwnedFd;
use linux_raw_sys::general as g;
use sc::syscall3;

/// `AF_INET`.
const AF_INET: usize = 2;
/// `SOCK_DGRAM` (the same on every arch clonekit supports).
const SOCK_DGRAM: usize = 2;
/// `SIOCGIFFLAGS`.
const SIOCGIFFLAGS: usize = 0x8913;
/// `SIOCSIFFLAGS`.
const SIOCSIFFLAGS: usize = 0x8914;

/// `IFF_UP`: the interface is administratively up.
pub const IFF_UP: u16 = 0x1;
/// `IFF_LOOPBACK`: a loopback interface.
pub const IFF_LOOPBACK: u16 = 0x8;
/// `IFF_RUNNING`: the interface is operational.
pub const IFF_RUNNING: u16 = 0x40;

/// `struct ifreq` with the flags member of its union (40 bytes on 64-bit Linux).
#[repr(C)]
struct IfreqFlags {
    name: [u8; 16],
    flags: i16,
    _pad: [u8; 22],
}

const _: () = assert!(core::mem::size_of::<IfreqFlags>() == 40);

fn request(name: &[u8]) -> Result<IfreqFlags, Errno> {
    if name.is_empty() || name.len() > 15 || name.contains(&0) {
        return Err(Errno::EINVAL);
    }
    let mut req = IfreqFlags {
        name: [0; 16],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name);
    Ok(req)
}

fn socket() -> Result<OwnedFd, Errno> {
    // SAFETY: integer arguments only.
    let fd = from_syscall(unsafe {
        syscall3(
            g::__NR_socket as usize,
            AF_INET,
            SOCK_DGRAM | g::O_CLOEXEC as usize,
            0,
        )
    })?;
    // SAFETY: the kernel just gave us this fd.
    Ok(unsafe { OwnedFd::from_raw(fd as i32) })
}

/// The flags (`IFF_*`) of interface `name` in the caller's network namespace; `ENODEV` if
/// there is no such interface.
///
/// # References
/// netdevice(7)
pub fn interface_flags(name: &[u8]) -> Result<u16, Errno> {
    let mut req = request(name)?;
    let sock = socket()?;
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into `req`, a complete
    // `struct ifreq`.
    from_syscall(unsafe {
        syscall3(
            g::__NR_ioctl as usize,
            sock.as_raw() as usize,
            SIOCGIFFLAGS,
            &mut req as *mut IfreqFlags as usize,
        )
    })?;
    Ok(req.flags as u16)
}

/// Sets the flags of interface `name` (needs `CAP_NET_ADMIN` in its network namespace).
///
/// # References
/// netdevice(7)
pub fn set_interface_flags(name: &[u8], flags: u16) -> Result<(), Errno> {
    let mut req = request(name)?;
    req.flags = flags as i16;
    let sock = socket()?;
    // SAFETY: SIOCSIFFLAGS reads a complete `struct ifreq`.
    from_syscall(unsafe {
        syscall3(
            g::__NR_ioctl as usize,
            sock.as_raw() as usize,
            SIOCSIFFLAGS,
            &mut req as *mut IfreqFlags as usize,
        )
    })
    .map(drop)
}
