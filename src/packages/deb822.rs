//! Debian control-file paragraphs (deb822), as `Release` and `Packages` are written:
//! `Field: value` lines, continuation lines starting with a space or tab, paragraphs
//! separated by blank lines. Read as a stream, one paragraph at a time, with limits, so a
//! large or hostile `Packages` file never grows memory beyond one paragraph.

use std::io::BufRead;

/// Longest line accepted.
pub const MAX_LINE: usize = 1024 * 1024;
/// Largest paragraph accepted.
pub const MAX_PARAGRAPH: usize = 4 * 1024 * 1024;

/// One paragraph: fields in order. Names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of a field (for a multi-line field, the lines after the first are joined
    /// with `\n`, each without its leading space).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when it has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Reads paragraphs from a stream.
pub struct Reader<R> {
    inner: R,
    line: Vec<u8>,
    line_no: u64,
}

impl<R: BufRead> Reader<R> {
    /// Wrap a buffered reader.
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            line: Vec::new(),
            line_no: 0,
        }
    }

    /// Read one line (without its `\n`) into `self.line`; false at the end.
    fn next_line(&mut self) -> Result<bool, String> {
        self.line.clear();
        let mut limited = std::io::Read::take(&mut self.inner, MAX_LINE as u64 + 1);
        let n = limited
            .read_until(b'\n', &mut self.line)
            .map_err(|e| format!("read error: {e}"))?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        } else if self.line.len() > MAX_LINE {
            return Err(format!(
                "line {} is longer than {MAX_LINE} bytes",
                self.line_no
            ));
        }
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Ok(true)
    }

    /// The next paragraph, `None` at the end.
    pub fn next_paragraph(&mut self) -> Result<Option<Paragraph>, String> {
        let mut p = Paragraph::default();
        let mut size = 0usize;
        loop {
            if !self.next_line()? {
                return Ok((!p.is_empty()).then_some(p));
            }
            let text = std::str::from_utf8(&self.line)
                .map_err(|_| format!("line {} is not UTF-8", self.line_no))?;
            if text.trim().is_empty() {
                if p.is_empty() {
                    continue;
                }
                return Ok(Some(p));
            }
            size += text.len() + 1;
            if size > MAX_PARAGRAPH {
                return Err(format!(
                    "paragraph ending at line {} is larger than {MAX_PARAGRAPH} bytes",
                    self.line_no
                ));
            }
            if text.starts_with(' ') || text.starts_with('\t') {
                let Some((_, value)) = p.fields.last_mut() else {
                    return Err(format!(
                        "line {}: continuation line before any field",
                        self.line_no
                    ));
                };
                let cont = &text[1..];
                if !value.is_empty() {
                    value.push('\n');
                }
                value.push_str(if cont.trim() == "." { "" } else { cont });
                continue;
            }
            if text.starts_with('#') {
                continue;
            }
            let Some((name, value)) = text.split_once(':') else {
                return Err(format!("line {}: expected `Field: value`", self.line_no));
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err(format!("line {}: bad field name", self.line_no));
            }
            if p.get(name).is_some() {
                return Err(format!(
                    "line {}: field {name} is given twice",
                    self.line_no
                ));
            }
            p.fields.push((name.to_string(), value.trim().to_string()));
        }
    }
}

/// Parse text holding exactly one paragraph (a `Release` file).
pub fn parse_one(text: &str) -> Result<Paragraph, String> {
    let mut r = Reader::new(text.as_bytes());
    let p = r.next_paragraph()?.ok_or_else(|| "is empty".to_string())?;
    if r.next_paragraph()?.is_some() {
        return Err("holds more than one paragraph".into());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_continuations_and_paragraphs() {
        let text = "Origin: x\nSHA256:\n abc 1 Packages\n def 2 Packages.gz\n\n\nPackage: a\nDescription: one\n two\n .\n three\n";
        let mut r = Reader::new(text.as_bytes());
        let p = r.next_paragraph().unwrap().unwrap();
        assert_eq!(p.get("origin"), Some("x"));
        assert_eq!(p.get("SHA256"), Some("abc 1 Packages\ndef 2 Packages.gz"));
        let q = r.next_paragraph().unwrap().unwrap();
        assert_eq!(q.get("Package"), Some("a"));
        assert_eq!(q.get("Description"), Some("one\ntwo\n\nthree"));
        assert!(r.next_paragraph().unwrap().is_none());
        assert!(parse_one("A: 1\n\nB: 2\n").is_err());
        assert!(parse_one("no colon\n").is_err());
        assert!(parse_one(" cont\n").is_err());
        assert!(parse_one("A: 1\nA: 2\n").is_err());
        assert!(parse_one("").is_err());
    }

    #[test]
    fn long_lines_are_refused() {
        let text = format!("A: {}\n", "x".repeat(MAX_LINE + 10));
        assert!(parse_one(&text).unwrap_err().contains("longer"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let mut r = Reader::new(s.as_bytes());
            for _ in 0..100 {
                match r.next_paragraph() {
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }

        #[test]
        fn fields_round_trip(names in proptest::collection::btree_set("[A-Za-z][A-Za-z0-9-]{0,10}", 1..6),
                             value in "[ -~]{0,40}") {
            let mut text = String::new();
            let mut seen = std::collections::BTreeSet::new();
            for n in &names {
                if seen.insert(n.to_ascii_lowercase()) {
                    text.push_str(&format!("{n}: {value}\n"));
                }
            }
            let p = parse_one(&text).unwrap();
            for n in &names {
                proptest::prop_assert_eq!(p.get(n), Some(value.trim()));
            }
        }
    }
}
