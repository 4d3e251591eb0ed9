//! The trusted comments airlock writes into signatures, and reading them back.
//!
//! A trusted comment is covered by minisign's global signature, so what it says (who
//! signed, in which role, when, what) is authenticated and visible offline with
//! `minisign -V` alone. The grammar is one line of `key=value` fields after a kind word;
//! values with spaces or quotes are double-quoted with `\"` and `\\` escapes. The last
//! field is always `payload_sha256=<hex>` (or `policy_sha256=` for policies), which the
//! manual procedure in docs/manual-verify.md matches at the end of the line.

use std::collections::BTreeMap;

/// What a signature approves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentKind {
    /// A bundle's build signature (`airlock build`).
    Bundle,
    /// An approver's signature added to a bundle (`airlock sign`).
    Approval,
    /// A signature of a trust policy (a policy update).
    Policy,
    /// An enclave receipt.
    Receipt,
}

impl CommentKind {
    /// The kind word the comment starts with.
    pub fn word(self) -> &'static str {
        match self {
            CommentKind::Bundle => "airlock-bundle",
            CommentKind::Approval => "airlock-approval",
            CommentKind::Policy => "airlock-policy",
            CommentKind::Receipt => "airlock-receipt",
        }
    }

    fn from_word(w: &str) -> Option<Self> {
        [
            CommentKind::Bundle,
            CommentKind::Approval,
            CommentKind::Policy,
            CommentKind::Receipt,
        ]
        .into_iter()
        .find(|k| k.word() == w)
    }
}

/// A parsed trusted comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// What kind of signature it is.
    pub kind: CommentKind,
    /// Its fields.
    pub fields: BTreeMap<String, String>,
}

impl Comment {
    /// A field's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
}

/// Render a comment: the kind word, then the fields in the order given.
pub fn render(kind: CommentKind, fields: &[(&str, &str)]) -> String {
    let mut out = kind.word().to_string();
    for (k, v) in fields {
        out.push(' ');
        out.push_str(k);
        out.push('=');
        if !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            out.push_str(v);
        } else {
            out.push('"');
            for c in v.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    // One line: minisign reads the comment as a C string line.
                    c if c.is_control() => out.push(' '),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
    }
    out
}

/// Parse a trusted comment; `None` if it is not one airlock wrote.
pub fn parse(text: &str) -> Option<Comment> {
    let (word, mut rest) = text.split_once(' ').unwrap_or((text, ""));
    let kind = CommentKind::from_word(word)?;
    let mut fields = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        let (key, after) = rest.split_once('=')?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => v.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            (v, &q[end?..])
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        if fields.insert(key.to_string(), value).is_some() {
            return None; // a field given twice is ambiguous
        }
        rest = tail;
    }
    Some(Comment { kind, fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_quotes() {
        let c = render(
            CommentKind::Approval,
            &[
                ("role", "change-board"),
                ("signer", "Alice \"A\" Smith"),
                ("comment", "ok\\fine"),
                ("payload_sha256", "abc"),
            ],
        );
        assert!(c.ends_with(" payload_sha256=abc"), "{c}");
        let p = parse(&c).unwrap();
        assert_eq!(p.kind, CommentKind::Approval);
        assert_eq!(p.get("signer"), Some("Alice \"A\" Smith"));
        assert_eq!(p.get("comment"), Some("ok\\fine"));
        assert_eq!(p.get("role"), Some("change-board"));
    }

    #[test]
    fn refuses_foreign_and_ambiguous() {
        assert!(parse("signed by someone").is_none());
        assert!(parse("airlock-approval role=a role=b").is_none());
        assert!(parse("airlock-approval role=\"open").is_none());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn render_parse_round_trip(v in "[^\\x00-\\x1f\\x7f-\\u{9f}]{0,40}") {
            let c = render(CommentKind::Approval, &[("signer", &v), ("role", "x")]);
            let p = parse(&c).unwrap();
            proptest::prop_assert_eq!(p.get("signer"), Some(v.as_str()));
        }
    }
}
