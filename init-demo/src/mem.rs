//! `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp`, `strlen` (and aarch64 `getauxval`) for a static binary without a libc.
//!
//! On `*-linux-gnu` targets `compiler_builtins` leaves these to the libc, and rustc emits
//! calls to them for struct copies and zeroing. The loops use volatile accesses so that
//! LLVM cannot recognise them as the very functions they implement (and call themselves).
//! The demo copies little memory; simple beats fast here.

/// # Safety
/// `dest` and `src` are valid for `n` bytes and do not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: both ranges are valid for `n` bytes (the caller's contract).
        unsafe { dest.add(i).write_volatile(src.add(i).read_volatile()) };
    }
    dest
}

/// # Safety
/// `dest` and `src` are valid for `n` bytes; they may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize) <= (src as usize) {
        for i in 0..n {
            // SAFETY: as in memcpy; copying forwards is safe when dest is below src.
            unsafe { dest.add(i).write_volatile(src.add(i).read_volatile()) };
        }
    } else {
        for i in (0..n).rev() {
            // SAFETY: as in memcpy; copying backwards is safe when dest is above src.
            unsafe { dest.add(i).write_volatile(src.add(i).read_volatile()) };
        }
    }
    dest
}

/// # Safety
/// `dest` is valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: `dest` is valid for `n` bytes (the caller's contract).
        unsafe { dest.add(i).write_volatile(c as u8) };
    }
    dest
}

/// # Safety
/// `a` and `b` are valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: both are valid for `n` bytes (the caller's contract).
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// # Safety
/// `a` and `b` are valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// # Safety
/// `s` points at a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the string is NUL-terminated, so every byte up to the NUL is readable.
    while unsafe { s.add(n).read_volatile() } != 0 {
        n += 1;
    }
    n
}

/// `getauxval(type)`: `compiler_builtins`' aarch64 outline atomics ask it for `AT_HWCAP` to
/// choose LSE instructions, from a constructor that a libc-less binary never runs anyway.
/// Answering 0 keeps the load/store-exclusive fallback, correct on every aarch64 CPU.
#[cfg(target_arch = "aarch64")]
#[unsafe(no_mangle)]
pub extern "C" fn getauxval(_type: core::ffi::c_ulong) -> core::ffi::c_ulong {
    0
}
