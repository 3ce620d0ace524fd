//! Finds the Debian mirror this machine's apt already uses, so kernel packages come from
//! the same place as every other package (no mirror address is written in this repository).
//!
//! Reads `/etc/apt/sources.list` (one-line format) and `/etc/apt/sources.list.d/*.list` /
//! `*.sources` (deb822 format); see sources.list(5).

use std::path::Path;

use anyhow::{Result, bail};

/// The apt configuration directory.
const APT_ETC: &str = "/etc/apt";

/// The first Debian archive URI configured on this machine (`http://.../debian`).
pub fn debian_mirror() -> Result<String> {
    let etc = Path::new(APT_ETC);
    let mut files = vec![etc.join("sources.list")];
    if let Ok(dir) = std::fs::read_dir(etc.join("sources.list.d")) {
        let mut parts: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        parts.sort();
        files.extend(parts);
    }
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let name = file.to_string_lossy();
        let uris = if name.ends_with(".sources") {
            deb822_uris(&text)
        } else if name.ends_with(".list") {
            one_line_uris(&text)
        } else {
            continue; // e.g. `*.list.disabled`: apt ignores these too
        };
        if let Some(uri) = uris.into_iter().find(|u| is_debian_archive(u)) {
            return Ok(uri.trim_end_matches('/').to_string());
        }
    }
    bail!(
        "no Debian archive (a `deb` source whose URI ends in /debian) in {APT_ETC}/sources.list or \
         {APT_ETC}/sources.list.d/; the kernels are fetched from the mirror apt is configured with"
    )
}

/// Whether a URI is a Debian main archive (`.../debian`), not the security archive,
/// debian-ports or a third-party repository.
pub fn is_debian_archive(uri: &str) -> bool {
    let path = uri.trim_end_matches('/');
    (path.starts_with("http://") || path.starts_with("https://"))
        && path.rsplit('/').next() == Some("debian")
}

/// URIs of the `deb` lines of a one-line-style list: `deb [opts] URI suite comp...`.
pub fn one_line_uris(text: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue; // deb-src, comments, blank lines
        };
        let mut rest = rest.trim_start();
        if rest.starts_with('[') {
            match rest.find(']') {
                Some(end) => rest = rest[end + 1..].trim_start(),
                None => continue,
            }
        }
        if let Some(uri) = rest.split_whitespace().next() {
            uris.push(uri.to_string());
        }
    }
    uris
}

/// URIs of the enabled `Types: deb` stanzas of a deb822-style `.sources` file.
pub fn deb822_uris(text: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for stanza in text.split("\n\n") {
        let mut types = Vec::new();
        let mut stanza_uris = Vec::new();
        let mut enabled = true;
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue; // continuation lines (of Signed-By keys) and the like
            };
            if key.starts_with(' ') || key.starts_with('\t') {
                continue;
            }
            let words = value.split_whitespace().map(String::from);
            match key.trim().to_ascii_lowercase().as_str() {
                "types" => types.extend(words),
                "uris" => stanza_uris.extend(words),
                "enabled" => enabled = value.trim() != "no",
                _ => {}
            }
        }
        if enabled && types.iter().any(|t| t == "deb") {
            uris.extend(stanza_uris);
        }
    }
    uris
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
";

    #[test]
    fn deb822_stanzas_give_their_uris_in_order() {
        assert_eq!(
            deb822_uris(DEB822),
            [
                "http://mirror.example/debian",
                "http://mirror.example/debian-security"
            ]
        );
    }

    #[test]
    fn deb822_skips_disabled_and_source_only_stanzas() {
        let text = "Types: deb-src\nURIs: http://a.example/debian\n\nTypes: deb\nEnabled: no\nURIs: http://b.example/debian\n\nTypes: deb deb-src\nURIs: http://c.example/debian/\n";
        assert_eq!(deb822_uris(text), ["http://c.example/debian/"]);
    }

    #[test]
    fn one_line_format_skips_options_comments_and_deb_src() {
        let text = "# deb http://old.example/debian bullseye main\n\
                    deb-src http://src.example/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/k.gpg] https://packages.example/apt stable main\n\
                    deb http://mirror.example/debian/ bookworm main # trailing\n";
        assert_eq!(
            one_line_uris(text),
            [
                "https://packages.example/apt",
                "http://mirror.example/debian/"
            ]
        );
    }

    #[test]
    fn only_main_debian_archives_qualify() {
        assert!(is_debian_archive("http://mirror.example/debian"));
        assert!(is_debian_archive("https://mirror.example/pub/debian/"));
        assert!(!is_debian_archive("http://mirror.example/debian-security"));
        assert!(!is_debian_archive("https://packages.example/apt"));
        assert!(!is_debian_archive("file:/srv/debian"));
    }
}
