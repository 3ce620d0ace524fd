//! Messages without `core::fmt`: a line built in a fixed buffer from text, decimal numbers,
//! signal names and errno numbers, written with one `write(2)` (so lines from concurrent writers do
//! not interleave). `core::fmt` would cost several kilobytes of the 12 KiB.

use clonekit::Errno;
use clonekit::console::StdStream;
use clonekit::sys::fs::write_all;
use clonekit::sys::signal::Signal;

/// The longest line; the rest of a longer one is cut off.
const LINE_MAX: usize = 256;

/// The prefix of every line clonekit-init prints.
const PREFIX: &[u8] = b"clonekit-init: ";

/// A line being built.
pub struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl Line {
    /// A line that starts with `clonekit-init: `.
    pub fn new() -> Line {
        let mut line = Line {
            buf: [0; LINE_MAX],
            len: 0,
        };
        line.text(PREFIX);
        line
    }

    /// Appends bytes (what does not fit is dropped).
    pub fn text(&mut self, bytes: &[u8]) -> &mut Line {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        self
    }

    /// Appends `n` in decimal.
    pub fn num(&mut self, mut n: u64) -> &mut Line {
        let mut digits = [0u8; 20];
        let mut count = 0;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let start = digits.len() - count;
        self.text(digits.get(start..).unwrap_or(&[]))
    }

    /// Appends a signal's name: `SIGTERM`, or `SIGRTMIN+n` for a real-time one.
    pub fn signal(&mut self, sig: Signal) -> &mut Line {
        if sig.is_realtime() {
            self.text(b"SIGRTMIN+")
                .num((sig.raw() - Signal::RTMIN) as u64)
        } else {
            self.text(sig.name().as_bytes())
        }
    }

    /// Appends an errno as `errno 2`: the number, not the name, whose table
    /// ([`Errno::name`]) would cost 2.5 KB of the 12 KiB (`errno -l` or errno(3) name it).
    pub fn errno(&mut self, errno: Errno) -> &mut Line {
        self.text(b"errno ").num(errno.raw() as u64)
    }

    /// Ends the line and writes it to standard error.
    pub fn write_err(&mut self) {
        self.write(StdStream::Stderr);
    }

    /// Ends the line and writes it to standard output.
    pub fn write_out(&mut self) {
        self.write(StdStream::Stdout);
    }

    fn write(&mut self, stream: StdStream) {
        self.text(b"\n");
        // The newline is kept even in a full line.
        if let Some(last) = self.buf.get_mut(LINE_MAX - 1)
            && self.len == LINE_MAX
        {
            *last = b'\n';
        }
        let _ = write_all(stream.fd(), self.buf.get(..self.len).unwrap_or(&[]));
    }
}
