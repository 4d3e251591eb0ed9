//! Showing untrusted text to a person.
//!
//! Names from a bundle (tar entry names, manifest fields, signature comments) reach the
//! terminal and the install log. Printed raw, an ANSI escape sequence in a name can clear
//! the screen and draw a fake "OK: verified", and a right-to-left override or a look-alike
//! character can make one name read as another. So every such string is shown through
//! [`Untrusted`]: printable ASCII stays as it is; everything else (control characters,
//! escape sequences, every non-ASCII character, and the backslash itself, so that the
//! output is unambiguous) is written as `\u{XXXX}`.

use std::fmt;

/// Displays a string with everything but printable ASCII escaped.
#[derive(Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if (' '..='~').contains(&c) && c != '\\' {
                f.write_fmt(format_args!("{c}"))?;
            } else {
                write!(f, "\\u{{{:x}}}", c as u32)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Escape bytes that may not be UTF-8 (a tar entry name): valid UTF-8 is shown through
/// [`Untrusted`], each invalid byte as `\x{NN}`.
pub fn bytes(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.utf8_chunks() {
        out.push_str(&Untrusted(chunk.valid()).to_string());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{{{byte:02x}}}"));
        }
    }
    out
}

/// Displays a path given by the operator: letters of any script stay readable, but
/// control characters (an ANSI escape in a directory name on a transfer medium can rewrite
/// the terminal line) and bidirectional overrides are written as `\u{XXXX}`, and bytes
/// that are not UTF-8 as `\x{NN}`.
#[derive(Clone, Copy)]
pub struct ShownPath<'a>(pub &'a std::path::Path);

impl fmt::Display for ShownPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::os::unix::ffi::OsStrExt as _;
        for chunk in self.0.as_os_str().as_bytes().utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() || is_bidi_control(c) {
                    write!(f, "\\u{{{:x}}}", c as u32)?;
                } else {
                    f.write_fmt(format_args!("{c}"))?;
                }
            }
            for byte in chunk.invalid() {
                write!(f, "\\x{{{byte:02x}}}")?;
            }
        }
        Ok(())
    }
}

/// The characters that reorder text around them (Unicode's bidirectional formatting
/// characters): shown raw, they can make a name read as another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_paths_keep_letters_and_lose_controls() {
        use std::os::unix::ffi::OsStrExt as _;
        let p = std::path::Path::new("/media/données/\u{1b}[2K\rOK\u{202e}");
        assert_eq!(
            ShownPath(p).to_string(),
            "/media/données/\\u{1b}[2K\\u{d}OK\\u{202e}"
        );
        let raw = std::path::Path::new(std::ffi::OsStr::from_bytes(b"b\xff"));
        assert_eq!(ShownPath(raw).to_string(), "b\\x{ff}");
    }

    #[test]
    fn printable_ascii_is_unchanged() {
        let s = "blobs/sha256/ab OK: verified";
        assert_eq!(Untrusted(s).to_string(), s);
    }

    #[test]
    fn escapes_controls_non_ascii_and_backslash() {
        assert_eq!(
            Untrusted("\u{1b}[2J\u{202e}a\\b").to_string(),
            "\\u{1b}[2J\\u{202e}a\\u{5c}b"
        );
        assert_eq!(bytes(b"a\xffb\n"), "a\\x{ff}b\\u{a}");
    }

    proptest::proptest! {
        #[test]
        fn output_is_printable_ascii(s in "\\PC*|.*") {
            let out = Untrusted(&s).to_string();
            proptest::prop_assert!(out.bytes().all(|b| (0x20..0x7f).contains(&b)));
        }
    }
}
