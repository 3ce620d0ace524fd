//! Debian package versions of kernels: which of two is newer (the order dpkg gives them,
//! deb-version(7)), and the upstream Linux version inside one.
//!
//! `latest` resolves in several suites and keeps the newest, so the comparison must be
//! dpkg's own: `7.2.11-1~bpo13+1` (a backport) is older than `7.2.11-1`, and `6.12.117`
//! is newer than `6.12.57`.

use std::cmp::Ordering;

/// Compares two Debian versions as `dpkg --compare-versions` does: the epoch numerically,
/// then the upstream version, then the Debian revision.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (epoch_a, upstream_a, revision_a) = parts(a);
    let (epoch_b, upstream_b, revision_b) = parts(b);
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| compare_part(upstream_a, upstream_b))
        .then_with(|| compare_part(revision_a, revision_b))
}

/// `[epoch:]upstream[-revision]`: the revision follows the last hyphen.
fn parts(version: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) => (epoch.parse().unwrap_or(0), rest),
        None => (0, version),
    };
    let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
    (epoch, upstream, revision)
}

/// How a non-digit character sorts (dpkg's `order()`): `~` before everything, even the
/// end of the string, then the end, then letters, then every other character.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating runs of non-digits (compared by [`weight`]) and digits
/// (compared as numbers).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_difference == Ordering::Equal {
                first_difference = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        // The longer run of digits is the larger number.
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

/// The upstream Linux version of a Debian kernel package version: `7.3.4-1~bpo13+1` ->
/// `7.3.4`, `6.12.117-1` -> `6.12.117` (an epoch, if any, dropped).
pub fn linux_version(debian_version: &str) -> &str {
    parts(debian_version).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_kernels_compare_greater() {
        let ordered = [
            "5.10.223-1",
            "6.1.176-1",
            "6.12.57-1",
            "6.12.117-1",
            "7.2.11-1~bpo13+1",
            "7.2.11-1",
            "7.2.13-1",
            "7.3.4-1~bpo13+1",
        ];
        for (i, older) in ordered.iter().enumerate() {
            assert_eq!(compare(older, older), Ordering::Equal, "{older}");
            for newer in &ordered[i + 1..] {
                assert_eq!(compare(older, newer), Ordering::Less, "{older} < {newer}");
                assert_eq!(
                    compare(newer, older),
                    Ordering::Greater,
                    "{newer} > {older}"
                );
            }
        }
    }

    #[test]
    fn tilde_letters_epochs_and_leading_zeros_follow_dpkg() {
        assert_eq!(compare("1.0~rc1-1", "1.0-1"), Ordering::Less);
        assert_eq!(compare("1.0~~", "1.0~"), Ordering::Less);
        assert_eq!(compare("1.0a", "1.0"), Ordering::Greater);
        assert_eq!(
            compare("1.0+b1", "1.0a"),
            Ordering::Greater,
            "letters before +"
        );
        assert_eq!(compare("1:1.0", "2.0"), Ordering::Greater);
        assert_eq!(compare("1.007", "1.7"), Ordering::Equal);
        assert_eq!(compare("1.0-1+deb13u1", "1.0-1"), Ordering::Greater);
    }

    #[test]
    fn debian_versions_give_the_upstream_linux_version() {
        assert_eq!(linux_version("7.3.4-1~bpo13+1"), "7.3.4");
        assert_eq!(linux_version("6.12.117-1"), "6.12.117");
        assert_eq!(linux_version("5.10.223-1"), "5.10.223");
        assert_eq!(linux_version("1:7.2.11-1~bpo13+1"), "7.2.11");
        assert_eq!(linux_version("6.1"), "6.1");
    }
}
