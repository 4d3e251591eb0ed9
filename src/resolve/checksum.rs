//! Upstream checksum files: a bare hex digest (dl.k8s.io `.sha256`) or `sha256sum` lines
//! (GitHub release assets).

use crate::catalog::ChecksumFormat;
use crate::digest::Sha256Digest;

/// Parse an upstream checksum file. `file_name` is the last path segment of the file's URL
/// (used to pick the line of a `sha256sum` file).
pub fn parse_checksum(
    text: &str,
    format: ChecksumFormat,
    file_name: &str,
) -> std::result::Result<Sha256Digest, String> {
    let digest = |hex: &str| {
        Sha256Digest::from_hex(&hex.to_ascii_lowercase())
            .map_err(|_| format!("{:?} is not a sha256 hex digest", truncate(hex)))
    };
    match format {
        ChecksumFormat::Hex => {
            let mut words = text.split_whitespace();
            let first = words
                .next()
                .ok_or_else(|| "the checksum file is empty".to_string())?;
            if words.next().is_some() {
                return Err(
                    "expected only a hex digest (format hex), found more than one word".into(),
                );
            }
            digest(first)
        }
        ChecksumFormat::Sha256sum => {
            let mut found: Option<Sha256Digest> = None;
            for line in text.lines() {
                let line = line.trim_end_matches('\r');
                if line.trim().is_empty() {
                    continue;
                }
                let (hash, rest) = line
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| format!("line {:?} is not `HASH  FILENAME`", truncate(line)))?;
                let name = rest.trim_start().trim_start_matches('*').trim_end();
                let base = name.rsplit('/').next().unwrap_or(name);
                if base == file_name {
                    let d = digest(hash)?;
                    if found.is_some_and(|f| f != d) {
                        return Err(format!("two different digests for {file_name}"));
                    }
                    found = Some(d);
                } else if name.is_empty() {
                    return Err(format!("line {:?} has no file name", truncate(line)));
                }
            }
            found.ok_or_else(|| format!("no line for {file_name}"))
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn checksum_parsing() {
        let d = Sha256Digest::from_hex(H).unwrap();
        assert_eq!(
            parse_checksum(&format!("{H}\n"), ChecksumFormat::Hex, "x").unwrap(),
            d
        );
        assert_eq!(
            parse_checksum(
                &format!("  {}  ", H.to_uppercase()),
                ChecksumFormat::Hex,
                "x"
            )
            .unwrap(),
            d
        );
        assert!(parse_checksum("", ChecksumFormat::Hex, "x").is_err());
        assert!(parse_checksum(&format!("{H}  file"), ChecksumFormat::Hex, "x").is_err());
        assert!(parse_checksum("abc", ChecksumFormat::Hex, "x").is_err());
        let other = "0".repeat(64);
        let text = format!("{other}  a.tgz\n{H}  cni-plugins-linux-amd64-v1.4.0.tgz\n");
        assert_eq!(
            parse_checksum(
                &text,
                ChecksumFormat::Sha256sum,
                "cni-plugins-linux-amd64-v1.4.0.tgz"
            )
            .unwrap(),
            d
        );
        assert_eq!(
            parse_checksum(
                &format!("{H} *dir/f.tgz\r\n"),
                ChecksumFormat::Sha256sum,
                "f.tgz"
            )
            .unwrap(),
            d
        );
        let e = parse_checksum(&text, ChecksumFormat::Sha256sum, "b.tgz").unwrap_err();
        assert!(e.contains("no line for b.tgz"), "{e}");
        assert!(parse_checksum(&format!("{H}\n"), ChecksumFormat::Sha256sum, "f").is_err());
        assert!(
            parse_checksum(
                &format!("{H}  f\n{other}  f\n"),
                ChecksumFormat::Sha256sum,
                "f"
            )
            .is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn checksum_parsers_never_panic(s in "\\PC{0,200}", name in "[a-z.]{0,10}") {
            let _ = parse_checksum(&s, ChecksumFormat::Hex, &name);
            let _ = parse_checksum(&s, ChecksumFormat::Sha256sum, &name);
        }

    }
}
