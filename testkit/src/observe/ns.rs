//! The host name of the caller's UTS namespace: what shows that `CLONE_NEWUTS` gives a child
//! a host name of its own.

use clonekit::Errno;
use clonekit::sys::ns::uname;

/// The host name (`uname().nodename`, per UTS namespace), copied into `buf` without its NUL.
///
/// `ENAMETOOLONG` if `buf` is too small.
///
/// # References
/// gethostname(2), uname(2)
pub fn gethostname(buf: &mut [u8]) -> Result<&[u8], Errno> {
    let u = uname();
    let name = u.nodename();
    let out = buf.get_mut(..name.len()).ok_or(Errno::ENAMETOOLONG)?;
    out.copy_from_slice(name);
    Ok(out)
}
