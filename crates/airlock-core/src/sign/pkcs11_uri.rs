//! `pkcs11:` URIs (RFC 7512) naming a signing key on a token: which token, which object,
//! which module to load and where the PIN is. Parsed without the token (always built, so
//! the fuzz target and the CLI's checks need no module); [`super::pkcs11`] uses the result.

use std::fmt;
use std::path::PathBuf;

use crate::trust::TrustError;

/// The environment variable naming the PKCS#11 module when the URI has no `module-path`.
pub const PKCS11_MODULE_ENV: &str = "AIRLOCK_PKCS11_MODULE";
/// The environment variable read for a token PIN (automation; prefer a file).
pub const PKCS11_PIN_ENV: &str = "AIRLOCK_PKCS11_PIN";
/// Longest URI accepted (RFC 7512 sets none; real ones are well under 1 KiB).
const MAX_URI: usize = 4096;

/// A parsed `pkcs11:` URI. Path attributes select the key (each matched exactly, after
/// percent-decoding); query attributes say how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `serial=`: the token serial number.
    pub serial: Option<String>,
    /// `object=`: the key's `CKA_LABEL`.
    pub object: Option<String>,
    /// `id=`: the key's `CKA_ID` (bytes, usually percent-encoded).
    pub id: Option<Vec<u8>>,
    /// `?module-path=`: the PKCS#11 module (an absolute path).
    pub module_path: Option<PathBuf>,
    /// `?pin-source=`: a file holding the PIN (a path or a `file:` URI).
    pub pin_source: Option<PathBuf>,
    text: String,
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Pkcs11Uri {
    /// Parses `text`. Refuses a `pin-value` (a PIN on a command line shows in `ps`), a
    /// `type` other than `private`, an attribute given twice, and attributes airlock does
    /// not match on (a silently ignored one would widen the match).
    pub fn parse(text: &str) -> Result<Self, TrustError> {
        let shown = redacted(text);
        let err = |reason: String| TrustError::TokenUri {
            uri: shown.clone(),
            reason,
        };
        if text.len() > MAX_URI {
            return Err(err(format!("longer than {MAX_URI} bytes")));
        }
        let rest = text
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("pkcs11:"))
            .map(|_| &text[7..])
            .ok_or_else(|| err("does not start with pkcs11:".into()))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri {
            token: None,
            serial: None,
            object: None,
            id: None,
            module_path: None,
            pin_source: None,
            text: shown.clone(),
        };
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            uri.path_attribute(attr).map_err(&err)?;
        }
        for attr in query.into_iter().flat_map(|q| q.split('&')) {
            if !attr.is_empty() {
                uri.query_attribute(attr).map_err(&err)?;
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(err("names no key: give object=LABEL or id=%XX...".into()));
        }
        Ok(uri)
    }

    fn path_attribute(&mut self, attr: &str) -> Result<(), String> {
        let (name, raw) = attr
            .split_once('=')
            .ok_or_else(|| format!("path attribute {attr:?} has no '='"))?;
        let value = decode(raw, false)?;
        let text = || text_value(name, &value);
        match name {
            "token" => set(&mut self.token, name, text()?),
            "serial" => set(&mut self.serial, name, text()?),
            "object" => set(&mut self.object, name, text()?),
            "id" => set(&mut self.id, name, value),
            "type" if value == b"private" => Ok(()),
            "type" => Err(format!(
                "type={} names no signing key (only type=private)",
                String::from_utf8_lossy(&value)
            )),
            "manufacturer"
            | "model"
            | "library-manufacturer"
            | "library-description"
            | "library-version"
            | "slot-description"
            | "slot-manufacturer"
            | "slot-id" => Err(format!(
                "attribute {name} is not matched by airlock; name the token by token= or serial="
            )),
            _ => Err(format!("unknown path attribute {name:?}")),
        }
    }

    fn query_attribute(&mut self, attr: &str) -> Result<(), String> {
        let (name, raw) = attr
            .split_once('=')
            .ok_or_else(|| format!("query attribute {attr:?} has no '='"))?;
        match name {
            "pin-value" => Err(
                "pin-value is refused (a PIN on a command line shows in ps); \
                 use pin-source=FILE, --pin-file, AIRLOCK_PKCS11_PIN or the prompt"
                    .into(),
            ),
            "module-path" => {
                let path = PathBuf::from(text_value(name, &decode(raw, true)?)?);
                if !path.is_absolute() {
                    return Err(format!(
                        "module-path {} is not absolute (a relative module would be looked \
                         up by the loader)",
                        path.display()
                    ));
                }
                set(&mut self.module_path, name, path)
            }
            "pin-source" => {
                let text = text_value(name, &decode(raw, true)?)?;
                let path = PathBuf::from(text.strip_prefix("file:").unwrap_or(&text));
                set(&mut self.pin_source, name, path)
            }
            "module-name" => Err("module-name is not supported; give module-path or set \
                 AIRLOCK_PKCS11_MODULE"
                .into()),
            _ => Err(format!("unknown query attribute {name:?}")),
        }
    }
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("attribute {name} given twice"));
    }
    *slot = Some(value);
    Ok(())
}

fn text_value(name: &str, value: &[u8]) -> Result<String, String> {
    let s = std::str::from_utf8(value).map_err(|_| format!("{name} is not UTF-8"))?;
    if s.chars().any(char::is_control) {
        return Err(format!("{name} holds a control character"));
    }
    Ok(s.to_owned())
}

/// RFC 7512's characters left as they are in a path (`pk11-pchar`) or query
/// (`pk11-qchar`) value; everything else must be percent-encoded.
fn allowed(c: u8, query: bool) -> bool {
    let unreserved = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
    let res_avail = matches!(
        c,
        b':' | b'[' | b']' | b'@' | b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'='
    );
    let extra = if query {
        matches!(c, b'/' | b'?' | b'|')
    } else {
        c == b'&'
    };
    unreserved || res_avail || extra
}

fn decode(raw: &str, query: bool) -> Result<Vec<u8>, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding at byte {i} of {raw:?}"))?;
            out.push(hex);
            i += 3;
        } else if allowed(c, query) {
            out.push(c);
            i += 1;
        } else {
            return Err(format!(
                "character {:?} must be percent-encoded (RFC 7512), e.g. a space as %20",
                char::from(c)
            ));
        }
    }
    Ok(out)
}

/// `text` as it may appear in a message: the value of any `pin-value` replaced, so a
/// refused URI never prints its PIN.
pub(crate) fn redacted(text: &str) -> String {
    let text: String = text.chars().take(MAX_URI.min(512)).collect();
    let Some((head, query)) = text.split_once('?') else {
        return text;
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|a| match a.split_once('=') {
            Some((n, _)) if n.eq_ignore_ascii_case("pin-value") => format!("{n}=(hidden)"),
            _ => a.to_owned(),
        })
        .collect();
    format!("{head}?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        match Pkcs11Uri::parse(text) {
            Err(TrustError::TokenUri { reason, .. }) => reason,
            other => panic!("{text}: expected TokenUri, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_attributes_airlock_matches() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=airlock%20test;serial=0a1b;object=build;id=%01%ff;type=private\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("airlock test"));
        assert_eq!(u.serial.as_deref(), Some("0a1b"));
        assert_eq!(u.object.as_deref(), Some("build"));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 0xff][..]));
        assert_eq!(
            u.module_path.as_deref(),
            Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(
            u.pin_source.as_deref(),
            Some(std::path::Path::new("/run/pin"))
        );
        let only_id = Pkcs11Uri::parse("PKCS11:id=%02").unwrap();
        assert_eq!(only_id.id, Some(vec![2]));
        assert_eq!(only_id.token, None);
    }

    #[test]
    fn refuses_what_it_cannot_use_by_name() {
        assert!(reason("pkcs11:object=a?pin-value=1234").contains("pin-value is refused"));
        assert!(reason("pkcs11:object=a;type=public").contains("type=public"));
        assert!(reason("pkcs11:object=a;object=b").contains("object given twice"));
        assert!(reason("pkcs11:token=t").contains("names no key"));
        assert!(reason("pkcs11:object=a?module-path=lib.so").contains("not absolute"));
        assert!(reason("pkcs11:object=a b").contains("percent-encoded"));
        assert!(reason("pkcs11:object=%4").contains("bad percent-encoding"));
        assert!(reason("pkcs11:object=%00").contains("control character"));
        assert!(reason("pkcs11:slot-id=1;object=a").contains("not matched"));
        assert!(reason("pkcs11:object=a?module-name=softhsm2").contains("module-name"));
        assert!(reason("pkcs11:object").contains("has no '='"));
        assert!(reason("file:object=a").contains("pkcs11:"));
    }

    #[test]
    fn a_refused_pin_value_is_never_shown() {
        let err = Pkcs11Uri::parse("pkcs11:object=a?pin-value=s3cret&module-path=/m.so")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(err.contains("pin-value=(hidden)"), "{err}");
    }

    proptest::proptest! {
        /// Any label survives percent-encoding and parsing; the parser never panics.
        #[test]
        fn every_label_round_trips(label in "\\PC{1,40}", junk in "\\PC{0,60}") {
            let encoded: String = label
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
                .collect();
            let u = Pkcs11Uri::parse(&format!("pkcs11:object={encoded}")).unwrap();
            proptest::prop_assert_eq!(u.object.as_deref(), Some(label.as_str()));
            let _ = Pkcs11Uri::parse(&format!("pkcs11:{junk}"));
        }
    }
}
