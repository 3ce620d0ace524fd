//! clonekit-launch: the guest side of `clonekit-qemu run`, the program clonekit-init (in
//! machine mode, the kernel's `/init`) runs as its child.
//!
//! The kernel command line cannot carry a program's whole command line and environment
//! (at most 32 arguments and 32 variables reach init, no `--`, no quotes inside a word,
//! about 2 KB in all), and the console it gives init carries the kernel's messages too.
//! So the host packs a *spec* file into the initramfs, and this program, started as
//! `/init -- /.clonekit/launch`:
//!
//! 1. reads [`SPEC`]: NUL-terminated fields, in this order: the magic `clonekit-launch 1`,
//!    the stdout device, the stderr device, the working directory, what `/tmp` is
//!    (`tmpfs`: clonekit-init's empty tmpfs; `packed`: the initramfs's own `/tmp`, which
//!    holds packed files, so the tmpfs over it is unmounted), the program's path,
//!    the number of arguments (decimal), the arguments (`argv[0]` first), then every
//!    environment entry (`K=V`) to the end of the file;
//! 2. opens the two devices (waiting up to [`DEVICE_WAIT_MS`] for them to appear: the
//!    kernel adds virtio-serial ports from a work queue, possibly after init started),
//!    switches a terminal (an 8250 serial port) to raw mode so that bytes pass unchanged,
//!    and makes them descriptors 1 and 2, with `/dev/null` as 0;
//! 3. brings the loopback interface up (as any distribution's init does; a kernel
//!    without networking is no failure), unmounts the tmpfs on `/tmp` when asked (the initramfs's root, itself a tmpfs, is
//!    writable), and changes to the working directory;
//! 4. prints `clonekit-launch: exec uptime=<seconds>` on the console (its own stdout
//!    before the switch; the kernel's uptime, from `/proc/uptime`), which tells the host
//!    the program was reached and how long the kernel took to get there;
//! 5. `execve`s the program with exactly the spec's arguments and environment, keeping its
//!    own PID: the program is clonekit-init's child, whose exit code (128 + N for signal
//!    N) clonekit-init prints as `clonekit-init: exit-code=N` before powering off.
//!
//! A failure before the exec is reported on the console (`clonekit-launch: ...`) and ends
//! the program with [`SETUP_FAILED`]; the host, having seen no `exec` line, reports a boot
//! that never reached the program. An `execve` failure is reported on the program's
//! stderr, with clonekit-init's codes: 127 (`ENOENT`), 126 (`EACCES`), else 1.
#![no_std]
#![no_main]

use core::ffi::{CStr, c_char};
use core::fmt::Write as _;

use clonekit::Errno;
use clonekit::errno::from_syscall;
use clonekit::fd::{BorrowedFd, OwnedFd};
use clonekit::rt::Args;
use clonekit::sys::fs::{self, CWD, FdFlags, OFlags};
use clonekit::sys::mm::{MapFlags, ProtFlags, mmap_anonymous};
use clonekit::sys::ns::{UnmountFlags, umount2};
use clonekit::sys::process::{execve, exit_group};
use clonekit::sys::time::{Timespec, nanosleep};
use linux_raw_sys::general as g;
use linux_raw_sys::ioctl as io;

clonekit::entry!(main);

/// Where the host puts the spec.
const SPEC: &CStr = c"/.clonekit/spec";

/// The spec's first field: the format and its version.
const MAGIC: &[u8] = b"clonekit-launch 1";

/// The largest spec read: Linux's own limit on arguments and environment together is a
/// quarter of the stack limit (2 MiB by default), so 8 MiB holds any command line.
const SPEC_MAX: usize = 8 << 20;

/// How long to wait for a device to appear.
const DEVICE_WAIT_MS: u64 = 10_000;

/// The exit code of a failure before the exec (the host reads the console, not this).
const SETUP_FAILED: i32 = 125;

fn main(_: &Args) -> i32 {
    match launch() {
        Ok(never) => match never {},
        Err(failure) if failure.reported => failure.code,
        Err(failure) => {
            let mut line = Line::new();
            let _ = write!(line, "clonekit-launch: {}", failure.what);
            if let Some(errno) = failure.errno {
                let _ = write!(line, ": {} ({})", errno.name(), errno.message());
            }
            line.send(console());
            failure.code
        }
    }
}

/// Why the launch stopped, and the exit code that says so.
struct Failure {
    what: &'static str,
    errno: Option<Errno>,
    code: i32,
    /// Already said on the program's stderr (the exec failure): not again on descriptor
    /// 1, which is the program's stdout by then.
    reported: bool,
}

fn setup(what: &'static str) -> impl FnOnce(Errno) -> Failure {
    move |errno| Failure {
        what,
        errno: Some(errno),
        code: SETUP_FAILED,
        reported: false,
    }
}

/// Everything up to the exec; returns only on failure.
fn launch() -> Result<core::convert::Infallible, Failure> {
    let spec = read_spec()?;
    let mut fields = Fields(spec);
    let field = |f: &mut Fields, what: &'static str| {
        f.next().ok_or(Failure {
            what,
            errno: None,
            code: SETUP_FAILED,
            reported: false,
        })
    };
    if field(&mut fields, "the spec is empty")?.to_bytes() != MAGIC {
        return Err(Failure {
            what: "the spec is not `clonekit-launch 1` (a newer clonekit-qemu?)",
            errno: None,
            code: SETUP_FAILED,
            reported: false,
        });
    }
    let stdout_device = field(&mut fields, "the spec has no stdout device")?;
    let stderr_device = field(&mut fields, "the spec has no stderr device")?;
    let cwd = field(&mut fields, "the spec has no working directory")?;
    let tmp = field(&mut fields, "the spec does not say what /tmp is")?;
    let program = field(&mut fields, "the spec has no program")?;
    let argc = parse_usize(field(&mut fields, "the spec has no argument count")?.to_bytes())
        .ok_or(Failure {
            what: "the spec's argument count is not a number",
            errno: None,
            code: SETUP_FAILED,
            reported: false,
        })?;
    let argv = pointers(&mut fields, Some(argc))?;
    let envp = pointers(&mut fields, None)?;

    let null = fs::openat(CWD, c"/dev/null", OFlags::RDWR | OFlags::CLOEXEC, 0)
        .map_err(setup("opening /dev/null"))?;
    let out = open_device(stdout_device).map_err(setup("opening the stdout device"))?;
    let err = open_device(stderr_device).map_err(setup("opening the stderr device"))?;
    loopback_up();
    if tmp.to_bytes() == b"packed" {
        umount2(c"/tmp", UnmountFlags::DETACH).map_err(setup("unmounting the tmpfs on /tmp"))?;
    }
    fs::chdir(cwd).map_err(setup("changing to the working directory"))?;

    let mut line = Line::new();
    let _ = line.write_str("clonekit-launch: exec uptime=");
    line.bytes(uptime().as_ref().map_or(&b"?"[..], |u| u.as_slice()));
    line.send(console());

    for (fd, target) in [(&null, 0), (&out, 1), (&err, 2)] {
        // SAFETY: 0, 1 and 2 are this program's standard streams, which it hands to the
        // program it is about to become; nothing here uses them as the console again.
        unsafe { fs::dup3(fd, target, FdFlags::empty()) }
            .map_err(setup("redirecting the standard streams"))?;
    }
    // SAFETY: `argv` and `envp` are NULL-terminated arrays of pointers into the spec's
    // NUL-terminated fields, all alive (mapped, never unmapped) until the exec.
    let errno = unsafe { execve(program, argv, envp) };
    let mut line = Line::new();
    let _ = write!(
        line,
        "clonekit-launch: exec {} failed: {} ({})",
        program.to_str().unwrap_or("(the program)"),
        errno.name(),
        errno.message()
    );
    // SAFETY: descriptor 2 is now the program's stderr, open until this program exits.
    line.send(unsafe { BorrowedFd::borrow_raw(2) });
    Err(Failure {
        what: "exec failed",
        errno: Some(errno),
        code: match errno {
            Errno::ENOENT => 127,
            Errno::EACCES => 126,
            _ => 1,
        },
        reported: true,
    })
}

/// The console: this program's stdout, as clonekit-init's (the kernel's `/dev/console`).
fn console() -> BorrowedFd<'static> {
    clonekit::console::StdStream::Stdout.fd()
}

/// The spec's bytes, in memory that is never unmapped (the exec replaces it all).
fn read_spec() -> Result<&'static [u8], Failure> {
    let file = fs::openat(CWD, SPEC, OFlags::RDONLY | OFlags::CLOEXEC, 0)
        .map_err(setup("opening /.clonekit/spec"))?;
    let memory = mmap_anonymous(
        SPEC_MAX,
        ProtFlags::READ | ProtFlags::WRITE,
        MapFlags::NORESERVE,
    )
    .map_err(setup("mapping memory for the spec"))?;
    // SAFETY: a fresh private mapping of SPEC_MAX bytes that nothing else refers to, and
    // that stays mapped for the rest of the program.
    let buf: &'static mut [u8] =
        unsafe { core::slice::from_raw_parts_mut(memory.as_ptr(), SPEC_MAX) };
    let len = fs::read_full(&file, buf).map_err(setup("reading /.clonekit/spec"))?;
    if len == SPEC_MAX {
        return Err(Failure {
            what: "the spec is larger than 8 MiB",
            errno: None,
            code: SETUP_FAILED,
            reported: false,
        });
    }
    let spec = buf.get(..len).unwrap_or(&[]);
    if spec.last() != Some(&0) {
        return Err(Failure {
            what: "the spec does not end with a NUL",
            errno: None,
            code: SETUP_FAILED,
            reported: false,
        });
    }
    Ok(spec)
}

/// The spec's NUL-terminated fields, in order.
struct Fields(&'static [u8]);

impl Iterator for Fields {
    type Item = &'static CStr;

    fn next(&mut self) -> Option<&'static CStr> {
        let field = CStr::from_bytes_until_nul(self.0).ok()?;
        self.0 = self.0.get(field.to_bytes_with_nul().len()..).unwrap_or(&[]);
        Some(field)
    }
}

/// A NULL-terminated array of pointers to the next `count` fields (every remaining field
/// when `None`), in memory that is never unmapped.
fn pointers(fields: &mut Fields, count: Option<usize>) -> Result<*const *const c_char, Failure> {
    let n = count.unwrap_or_else(|| Fields(fields.0).count());
    let bytes = (n + 1) * core::mem::size_of::<*const c_char>();
    let memory = mmap_anonymous(bytes, ProtFlags::READ | ProtFlags::WRITE, MapFlags::empty())
        .map_err(setup("mapping memory for the arguments"))?;
    let array = memory.as_ptr().cast::<*const c_char>();
    for i in 0..n {
        let field = fields.next().ok_or(Failure {
            what: "the spec has fewer arguments than its count",
            errno: None,
            code: SETUP_FAILED,
            reported: false,
        })?;
        // SAFETY: `array` has room for n + 1 pointers (zero-filled: the last stays NULL).
        unsafe { array.add(i).write(field.as_ptr()) };
    }
    Ok(array.cast_const())
}

fn parse_usize(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    digits.iter().try_fold(0usize, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0'))
    })
}

/// Opens a device for writing, waiting for it to appear; a terminal is made raw.
fn open_device(path: &CStr) -> Result<OwnedFd, Errno> {
    let flags = OFlags::WRONLY | OFlags::NOCTTY | OFlags::CLOEXEC;
    let mut waited = 0;
    let fd = loop {
        match fs::openat(CWD, path, flags, 0) {
            Ok(fd) => break fd,
            Err(Errno::ENOENT | Errno::ENXIO | Errno::ENODEV) if waited < DEVICE_WAIT_MS => {
                nanosleep(&Timespec::new(0, 5_000_000))?;
                waited += 5;
            }
            Err(errno) => return Err(errno),
        }
    };
    make_raw(&fd)?;
    Ok(fd)
}

/// A terminal passes bytes as they are written: no `\n` to `\r\n`, no echo, 8 bits
/// (cfmakeraw(3)). Anything else (a virtio-serial port) is left alone.
fn make_raw(fd: &OwnedFd) -> Result<(), Errno> {
    let mut t = core::mem::MaybeUninit::<g::termios>::zeroed();
    // SAFETY: TCGETS writes one `struct termios` into `t`.
    match unsafe { ioctl(fd, io::TCGETS, t.as_mut_ptr() as usize) } {
        Err(Errno::ENOTTY | Errno::EINVAL) => return Ok(()),
        Err(errno) => return Err(errno),
        Ok(_) => {}
    }
    // SAFETY: TCGETS succeeded and filled it.
    let mut t = unsafe { t.assume_init() };
    t.c_iflag &=
        !(g::IGNBRK | g::BRKINT | g::PARMRK | g::ISTRIP | g::INLCR | g::IGNCR | g::ICRNL | g::IXON);
    t.c_oflag &= !g::OPOST;
    t.c_lflag &= !(g::ECHO | g::ECHONL | g::ICANON | g::ISIG | g::IEXTEN);
    t.c_cflag &= !(g::CSIZE | g::PARENB);
    t.c_cflag |= g::CS8;
    // SAFETY: TCSETS reads one `struct termios` from `t`.
    unsafe { ioctl(fd, io::TCSETS, &t as *const g::termios as usize) }.map(drop)
}

/// `ip link set lo up`: `SIOCGIFFLAGS` and `SIOCSIFFLAGS` with `IFF_UP` on a datagram
/// socket, errors ignored (a kernel without `CONFIG_NET` has no `lo`).
fn loopback_up() {
    // <linux/socket.h>, <linux/net.h>, <linux/if.h>: the same on all three arches
    // (linux-raw-sys has them in its `net` module, which this crate does not enable).
    const AF_INET: usize = 2;
    const SOCK_DGRAM: usize = 2;
    const IFF_UP: u16 = 1;
    // SAFETY: socket(2) takes integers and returns a new descriptor or an error.
    let Ok(raw) = from_syscall(unsafe {
        sc::syscall3(
            g::__NR_socket as usize,
            AF_INET,
            SOCK_DGRAM | g::O_CLOEXEC as usize,
            0,
        )
    }) else {
        return;
    };
    // SAFETY: a new descriptor from the kernel, owned by no one else.
    let sock = unsafe { OwnedFd::from_raw(raw as i32) };
    // struct ifreq: the name (16 bytes), then a union whose first member is the flags.
    let mut ifreq = [0u8; 40];
    ifreq[..2].copy_from_slice(b"lo");
    // SAFETY: both requests read and write one `struct ifreq` (40 bytes) at `ifreq`.
    unsafe {
        if ioctl(&sock, io::SIOCGIFFLAGS, ifreq.as_mut_ptr() as usize).is_err() {
            return;
        }
        let flags = u16::from_ne_bytes([ifreq[16], ifreq[17]]) | IFF_UP;
        ifreq[16..18].copy_from_slice(&flags.to_ne_bytes());
        let _ = ioctl(&sock, io::SIOCSIFFLAGS, ifreq.as_mut_ptr() as usize);
    }
}

/// `ioctl(fd, request, arg)`.
///
/// # Safety
/// `arg` is what `request` expects: here a pointer valid for what the kernel reads or
/// writes through it.
unsafe fn ioctl(fd: &OwnedFd, request: u32, arg: usize) -> Result<usize, Errno> {
    // SAFETY: the caller's contract covers `arg`; `fd` is open for the borrow.
    from_syscall(unsafe {
        sc::syscall3(
            g::__NR_ioctl as usize,
            fd.as_raw() as usize,
            request as usize,
            arg,
        )
    })
}

/// The first field of `/proc/uptime` (`12.34`): seconds since the kernel started.
fn uptime() -> Option<Uptime> {
    let file = fs::openat(CWD, c"/proc/uptime", OFlags::RDONLY | OFlags::CLOEXEC, 0).ok()?;
    let mut u = Uptime {
        buf: [0; 32],
        len: 0,
    };
    let n = fs::read(&file, &mut u.buf).ok()?;
    u.len = u.buf.get(..n)?.iter().position(|&b| b == b' ')?;
    Some(u)
}

struct Uptime {
    buf: [u8; 32],
    len: usize,
}

impl Uptime {
    fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// A message line built in a buffer and written with one `write(2)`, so the kernel's
/// messages cannot land inside it.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line {
            buf: [0; 512],
            len: 0,
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // The last byte is kept for the newline.
            if self.len < self.buf.len() - 1 {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }

    fn send(mut self, fd: BorrowedFd<'_>) {
        self.buf[self.len] = b'\n';
        let _ = fs::write_all(fd, &self.buf[..=self.len]);
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    exit_group(SETUP_FAILED)
}
