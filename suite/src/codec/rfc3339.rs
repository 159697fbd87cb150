//! RFC 3339 `date-time` (§5.6), checked against the grammar itself.
//!
//! Lenient parsers (chrono's included) take a space for `T` or a missing
//! seconds field; `expires` and receipt timestamps are compared across
//! implementations, so the grammar is enforced first and chrono only
//! computes the instant.

use chrono::{DateTime, FixedOffset};

use crate::error::{Error, Result};

/// Parses an RFC 3339 date-time; `field` names the value in the error.
pub fn parse(field: &'static str, text: &str) -> Result<DateTime<FixedOffset>> {
    let invalid = || Error::InvalidTimestamp {
        field,
        value: text.to_string(),
    };
    if !matches_grammar(text.as_bytes()) {
        return Err(invalid());
    }
    // chrono rejects impossible dates (Feb 30) and ranges; it accepts a
    // leap second only as :60 on a real minute boundary, which the grammar
    // allows and we pass through.
    let parsed = if text.contains(['t', 'z']) {
        DateTime::parse_from_rfc3339(&text.replace('t', "T").replace('z', "Z"))
    } else {
        DateTime::parse_from_rfc3339(text)
    };
    parsed.map_err(|_| invalid())
}

/// ```abnf
/// date-time = full-date ("T" / "t") full-time            ; §5.6 and its note
/// full-date = 4DIGIT "-" 2DIGIT "-" 2DIGIT
/// full-time = 2DIGIT ":" 2DIGIT ":" 2DIGIT ["." 1*DIGIT] time-offset
/// time-offset = "Z" / "z" / ("+" / "-") 2DIGIT ":" 2DIGIT
/// ```
fn matches_grammar(s: &[u8]) -> bool {
    let digits = |from: usize, n: usize| {
        s.get(from..from + n)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, c: u8| s.get(i) == Some(&c);
    if !(digits(0, 4) && at(4, b'-') && digits(5, 2) && at(7, b'-') && digits(8, 2)) {
        return false;
    }
    if !matches!(s.get(10), Some(b'T' | b't')) {
        return false;
    }
    if !(digits(11, 2) && at(13, b':') && digits(14, 2) && at(16, b':') && digits(17, 2)) {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        i += 1;
        let start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match s.get(i) {
        Some(b'Z' | b'z') => i + 1 == s.len(),
        Some(b'+' | b'-') => {
            digits(i + 1, 2) && at(i + 3, b':') && digits(i + 4, 2) && i + 6 == s.len()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        for ok in [
            "2025-01-15T12:05:00Z",
            "2025-01-15t12:05:00z",
            "2025-01-15T12:05:00.123456789Z",
            "2025-01-15T12:05:00+05:30",
            "2025-01-15T12:05:00-00:00",
        ] {
            assert!(parse("expires", ok).is_ok(), "{ok}");
        }
        for bad in [
            "2025-01-15 12:05:00Z",
            "2025-01-15T12:05Z",
            "2025-01-15T12:05:00",
            "2025-01-15T12:05:00.Z",
            "2025-02-30T12:05:00Z",
            "2025-01-15T25:05:00Z",
            "2025-01-15T12:05:00+0530",
            "Jan 29 2026 12:00",
            "1736942700",
            "",
        ] {
            assert!(parse("expires", bad).is_err(), "{bad}");
        }
    }
}
