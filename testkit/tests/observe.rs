//! The test kit's observers (`clonekit_testkit::observe`) whose results no kit case asserts
//! on, against the kernel: `unlinkat` (the cases only clean up with it) and `futex_wake`.
//! The other observers are proven by the cases that read through them (`testkit/tests/cases.rs`
//! and the QEMU guest). These run natively and under qemu-user.

use std::ffi::CString;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use clonekit::Errno;
use clonekit::sys::fs::{CWD, OFlags, mkdirat, openat};
use clonekit::sys::futex::futex_wait;
use clonekit::sys::time::Timespec;
use clonekit_testkit::observe::fs::unlinkat;
use clonekit_testkit::observe::futex::futex_wake;

/// Creates the empty file `path`.
fn create(path: &CString) {
    let flags = OFlags::CREAT | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC;
    drop(openat(CWD, path, flags, 0o600).unwrap());
}

#[test]
fn unlinkat_removes_files_and_with_remove_dir_empty_directories() {
    let dir = format!("/tmp/clonekit-unlinkat-{}", std::process::id());
    let file = format!("{dir}/file");
    let (cdir, cfile) = (
        CString::new(dir.as_str()).unwrap(),
        CString::new(file.as_str()).unwrap(),
    );
    mkdirat(CWD, &cdir, 0o700).unwrap();
    create(&cfile);
    assert_eq!(unlinkat(CWD, &cdir, false), Err(Errno::EISDIR));
    assert_eq!(unlinkat(CWD, &cdir, true), Err(Errno::ENOTEMPTY));
    assert_eq!(unlinkat(CWD, &cfile, true), Err(Errno::ENOTDIR));
    assert!(std::fs::metadata(&file).is_ok(), "refused: nothing removed");
    unlinkat(CWD, &cfile, false).unwrap();
    assert!(std::fs::metadata(&file).is_err());
    assert_eq!(unlinkat(CWD, &cfile, false), Err(Errno::ENOENT));

    // A relative path resolves against the directory descriptor, not the working directory.
    create(&cfile);
    let fd = openat(CWD, &cdir, OFlags::DIRECTORY | OFlags::CLOEXEC, 0).unwrap();
    unlinkat(fd.as_fd(), c"file", false).unwrap();
    assert!(std::fs::metadata(&file).is_err());
    drop(fd);

    unlinkat(CWD, &cdir, true).unwrap();
    assert!(std::fs::metadata(&dir).is_err());
    assert_eq!(unlinkat(CWD, &cdir, true), Err(Errno::ENOENT));
}

#[test]
fn futex_wake_without_a_waiter_wakes_none() {
    let w = AtomicU32::new(5);
    assert_eq!(futex_wake(&w, 1, true), Ok(0));
    assert_eq!(futex_wake(&w, u32::MAX, false), Ok(0));
}

#[test]
fn futex_wake_wakes_a_waiting_thread() {
    for private in [true, false] {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || {
            // Sleeps until woken (a wake before the word is 1, or a spurious return, sleeps
            // again); gives up after 30 s, which fails the test below.
            let limit = Timespec::new(30, 0);
            loop {
                match futex_wait(&w2, 0, Some(&limit), private) {
                    Err(Errno::EINTR) => continue,
                    Ok(()) if w2.load(Ordering::Acquire) == 0 => continue,
                    Ok(()) | Err(Errno::EAGAIN) => return true,
                    Err(Errno::ETIMEDOUT) => return false,
                    Err(e) => panic!("futex_wait: {e}"),
                }
            }
        });
        // Wake until a wake reports that it found the sleeping waiter.
        let mut woken = 0;
        for _ in 0..10_000 {
            woken = futex_wake(&w, 1, private).unwrap();
            if woken == 1 {
                break;
            }
            assert!(!t.is_finished(), "the waiter left without a wake");
            std::thread::sleep(Duration::from_millis(1));
        }
        w.store(1, Ordering::Release);
        // The waiter may have gone back to sleep after a spurious return: wake it for good.
        while !t.is_finished() {
            let _ = futex_wake(&w, 1, private);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(t.join().unwrap(), "the waiter timed out");
        assert_eq!(
            woken, 1,
            "futex_wake (private: {private}) never found the waiter"
        );
    }
}
