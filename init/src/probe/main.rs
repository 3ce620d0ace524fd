//! clonekit-init-probe: the program the scenarios run under an init (natively and in the
//! guest, where there is no shell), and the scenario suite itself.
//!
//! | mode | what it does |
//! |---|---|
//! | `exit N` | exits with N |
//! | `kill N` | kills itself with signal N |
//! | `record` | a handler for every catchable signal; prints `ready child pid=P pgid=G ppid=Q`, then `got N child` per signal received, and exits 0 at end of file on standard input |
//! | `foreground` | prints the `ready` line (with the terminal's foreground group, `tpgid=`) and exits 0 |
//! | `tree` | `record`, with a grandchild in its process group recording too (`ready grandchild ...`, `got N grandchild`) |
//! | `orphans N` | a zombie storm of N orphans for its parent (the init): prints `storm orphans=N left=L zombies=Z ms=T` and exits 0 when none was left within 10 s |
//! | `suite INIT [--reference]` | every scenario against the init INIT ([`suite`]) |
#![no_std]
#![no_main]
// A failed case's message lives in its error value (no allocator to box it in): a few
// hundred bytes on the stack of a test program, which no hot path returns.
#![allow(clippy::result_large_err)]

mod orphans;
mod out;
mod procstat;
mod record;
mod suite;
mod terminal;

use clonekit::procfs::parse_u64;
use clonekit::rt::Args;
use clonekit::sys::process::{exit_group, getpid, getppid};
use clonekit::sys::signal::{Signal, kill};
use clonekit::sys::time::{Timespec, nanosleep};

use out::say;

clonekit::entry!(main);

fn main(args: &Args) -> i32 {
    let word = |i: usize| args.get(i).map_or(&b""[..], |w| w.to_bytes());
    let number = |i: usize| parse_u64(word(i));
    match word(1) {
        b"exit" => number(2).map_or(99, |n| n as i32),
        b"kill" => {
            let Some(sig) = number(2).and_then(|n| Signal::from_raw(n as i32)) else {
                return 99;
            };
            let _ = kill(getpid(), sig);
            // Dies of it; if the signal was ignored after all, say so with 98.
            let _ = nanosleep(&Timespec::from_millis(2000));
            98
        }
        b"record" => record::record(false),
        b"foreground" => {
            record::say_ready("child");
            0
        }
        b"tree" => record::record(true),
        b"orphans" => {
            let Some(n) = number(2) else { return 99 };
            match orphans::storm(n as u32, getppid()) {
                Ok(storm) => {
                    say!(
                        "storm orphans={n} left={} zombies={} ms={}",
                        storm.left,
                        storm.zombies,
                        storm.ms
                    );
                    i32::from(storm.left != 0)
                }
                Err(why) => {
                    say!("storm failed: {why}");
                    2
                }
            }
        }
        b"suite" => suite::run(args),
        _ => {
            say!(
                "usage: clonekit-init-probe exit N | kill N | record | tree | orphans N | suite INIT [--reference]"
            );
            99
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    say!("probe {} panicked: {info}", getpid());
    exit_group(101)
}
