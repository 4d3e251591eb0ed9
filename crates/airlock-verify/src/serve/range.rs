//! The `Range` header of a blob request (RFC 9110 section 14), narrowed to what a
//! registry client needs: one byte range. Resuming a layer download sends
//! `bytes=N-`; nothing pulls several ranges at once, so a multi-range request, another
//! unit or a malformed header is answered `416` rather than guessed at.

/// How to answer a blob request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// No `Range`: the whole blob, `200`.
    Full,
    /// `206` with bytes `start..=end` (inclusive, as in `Content-Range`).
    Partial {
        /// First byte.
        start: u64,
        /// Last byte.
        end: u64,
    },
    /// `416` with `Content-Range: bytes */SIZE`.
    Unsatisfiable,
}

/// Longest `Range` value looked at.
const MAX_HEADER: usize = 128;

/// Decide the answer for a `Range` header value (`None` when absent) on a blob of `size`
/// bytes.
pub fn answer(header: Option<&[u8]>, size: u64) -> Answer {
    let Some(raw) = header else {
        return Answer::Full;
    };
    match parse(raw, size) {
        Some((start, end)) => Answer::Partial { start, end },
        None => Answer::Unsatisfiable,
    }
}

fn parse(raw: &[u8], size: u64) -> Option<(u64, u64)> {
    if raw.len() > MAX_HEADER {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?.trim();
    let (unit, spec) = text.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if size == 0 {
        // No byte range of an empty representation can be satisfied.
        return None;
    }
    if first.is_empty() {
        // `-N`: the last N bytes.
        let n = number(last)?;
        if n == 0 {
            return None;
        }
        return Some((size - n.min(size), size - 1));
    }
    let start = number(first)?;
    if start >= size {
        return None;
    }
    let end = if last.is_empty() {
        size - 1
    } else {
        let end = number(last)?;
        if end < start {
            return None;
        }
        end.min(size - 1)
    };
    Some((start, end))
}

/// Decimal digits only (no sign, no spaces inside), fitting in a u64.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(h: &str, size: u64) -> Answer {
        answer(Some(h.as_bytes()), size)
    }

    #[test]
    fn single_ranges() {
        assert_eq!(answer(None, 10), Answer::Full);
        assert_eq!(a("bytes=0-0", 10), Answer::Partial { start: 0, end: 0 });
        assert_eq!(a("bytes=2-5", 10), Answer::Partial { start: 2, end: 5 });
        assert_eq!(a("bytes=4-", 10), Answer::Partial { start: 4, end: 9 });
        assert_eq!(a("bytes=-3", 10), Answer::Partial { start: 7, end: 9 });
        assert_eq!(a("bytes=-30", 10), Answer::Partial { start: 0, end: 9 });
        // A last byte past the end is cut to the end (RFC 9110 14.1.2).
        assert_eq!(a("bytes=5-999", 10), Answer::Partial { start: 5, end: 9 });
        assert_eq!(a("Bytes = 1-2", 10), Answer::Partial { start: 1, end: 2 });
    }

    #[test]
    fn unsatisfiable_or_unsupported() {
        for h in [
            "bytes=10-",
            "bytes=10-20",
            "bytes=5-4",
            "bytes=-0",
            "bytes=0-1,4-5",
            "bytes=0-1, 4-5",
            "items=0-1",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1 -2 3",
            "bytes=99999999999999999999-",
            "0-1",
        ] {
            assert_eq!(a(h, 10), Answer::Unsatisfiable, "{h}");
        }
        assert_eq!(a("bytes=0-0", 0), Answer::Unsatisfiable);
        assert_eq!(
            a(&format!("bytes=0-{}", "9".repeat(200)), 10),
            Answer::Unsatisfiable
        );
        assert_eq!(answer(Some(&[0xff, 0xfe]), 10), Answer::Unsatisfiable);
    }

    proptest::proptest! {
        #[test]
        fn partial_answers_stay_inside_the_blob(
            h in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            size in 0u64..1000,
        ) {
            if let Answer::Partial { start, end } = answer(Some(&h), size) {
                proptest::prop_assert!(start <= end && end < size);
            }
        }

        #[test]
        fn well_formed_ranges_are_answered(start in 0u64..2000, len in 0u64..2000, size in 1u64..1000) {
            let h = format!("bytes={start}-{}", start + len);
            match answer(Some(h.as_bytes()), size) {
                Answer::Partial { start: s, end } => {
                    proptest::prop_assert_eq!(s, start);
                    proptest::prop_assert_eq!(end, (start + len).min(size - 1));
                }
                Answer::Unsatisfiable => proptest::prop_assert!(start >= size),
                Answer::Full => proptest::prop_assert!(false),
            }
        }
    }
}
