//! Input generation for differential fuzzing: grammar-aware mutations of
//! valid headers (the auth-param grammar, base64url tokens, the JSON inside
//! them, `Accept-Payment` weights) and raw byte mutations. Every choice
//! comes from the seeded generator, so a seed gives the same inputs.
//!
//! The mutations aim at the places implementations are known to disagree:
//! a missing comma between auth-params, unterminated quoted strings,
//! duplicate parameters, `q=0`, padding and the standard alphabet in
//! base64url, characters a lax decoder drops silently.

use mppconf_suite::codec::base64url;
use rand::Rng;
use rand::rngs::StdRng;

/// Applies one to three mutations to `seed`.
pub fn mutate(rng: &mut StdRng, seed: &str) -> String {
    let mut text = seed.to_string();
    for _ in 0..rng.random_range(1..=3) {
        text = one(rng, &text);
    }
    text
}

fn one(rng: &mut StdRng, s: &str) -> String {
    match rng.random_range(0..20) {
        0 => drop_comma(rng, s),
        1 => unterminate_quote(rng, s),
        2 => duplicate_param(rng, s),
        3 => scheme_case(rng, s),
        4 => spaces_around(rng, s),
        5 => pad_token(rng, s),
        6 => standard_alphabet(rng, s),
        7 => junk_in_token(rng, s),
        8 => weight(rng, s),
        9 => drop_param(rng, s),
        10 => unquote_or_quote(rng, s),
        11 => escapes(rng, s),
        12 => trailing(rng, s),
        13 => param_name_case(rng, s),
        14 | 15 => json_inside_token(rng, s),
        16 => delete_span(rng, s),
        17 => duplicate_span(rng, s),
        18 => insert_byte(rng, s),
        _ => replace_char(rng, s),
    }
}

/// A random char boundary of `s` (0 and len included).
fn boundary(rng: &mut StdRng, s: &str) -> usize {
    let bounds: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect();
    bounds[rng.random_range(0..bounds.len())]
}

/// Positions of `needle` in `s`.
fn positions(s: &str, needle: &str) -> Vec<usize> {
    s.match_indices(needle).map(|(i, _)| i).collect()
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[rng.random_range(0..items.len())])
}

fn drop_comma(rng: &mut StdRng, s: &str) -> String {
    match pick(rng, &positions(s, ",")) {
        Some(i) => format!("{}{}", &s[..i], &s[i + 1..]),
        None => s.to_string(),
    }
}

/// Removes a closing quote: `a="x", b="y"` → `a="x, b="y"`.
fn unterminate_quote(rng: &mut StdRng, s: &str) -> String {
    let quotes = positions(s, "\"");
    let closing: Vec<usize> = quotes.iter().skip(1).step_by(2).copied().collect();
    match pick(rng, &closing) {
        Some(i) => format!("{}{}", &s[..i], &s[i + 1..]),
        None => format!("{s}\""),
    }
}

/// `name="value"` spans of the header.
fn params(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 1 < bytes.len() && bytes[i + 1] == b'"' {
            let mut start = i;
            while start > 0
                && (bytes[start - 1].is_ascii_alphanumeric()
                    || bytes[start - 1] == b'-'
                    || bytes[start - 1] == b'_')
            {
                start -= 1;
            }
            let mut end = i + 2;
            while end < bytes.len() && bytes[end] != b'"' {
                if bytes[end] == b'\\' {
                    end += 1;
                }
                end += 1;
            }
            let end = (end + 1).min(bytes.len());
            if start < i && s.is_char_boundary(start) && s.is_char_boundary(end) {
                out.push((start, end));
            }
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn duplicate_param(rng: &mut StdRng, s: &str) -> String {
    match pick(rng, &params(s)) {
        Some((a, b)) => format!("{s}, {}", &s[a..b]),
        None => s.to_string(),
    }
}

fn drop_param(rng: &mut StdRng, s: &str) -> String {
    match pick(rng, &params(s)) {
        Some((a, b)) => {
            let end = if s[b..].starts_with(", ") { b + 2 } else { b };
            format!("{}{}", &s[..a], &s[end..])
        }
        None => s.to_string(),
    }
}

fn scheme_case(rng: &mut StdRng, s: &str) -> String {
    let replacement = pick(
        rng,
        &[
            "payment",
            "PAYMENT",
            "Payment  ",
            "Payment\t",
            "Paymen",
            "Payments",
        ],
    )
    .unwrap_or("payment");
    s.replacen("Payment ", &format!("{replacement} "), 1)
        .replacen("Payment  ", replacement, 0)
}

fn spaces_around(rng: &mut StdRng, s: &str) -> String {
    let marks: Vec<usize> = s
        .char_indices()
        .filter(|(_, c)| *c == '=' || *c == ',' || *c == ';')
        .map(|(i, _)| i)
        .collect();
    let ws = pick(rng, &[" ", "  ", "\t", " \t "]).unwrap_or(" ");
    match pick(rng, &marks) {
        Some(i) if rng.random_bool(0.5) => format!("{}{ws}{}", &s[..i], &s[i..]),
        Some(i) => format!("{}{ws}{}", &s[..=i], &s[i + 1..]),
        None => format!("{ws}{s}{ws}"),
    }
}

/// The longest run of base64url characters (the token or `request`).
fn longest_token(s: &str) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let mut start = None;
    for (i, c) in s.char_indices().chain(std::iter::once((s.len(), ' '))) {
        let b64 = c.is_ascii_alphanumeric() || c == '-' || c == '_';
        match (b64, start) {
            (true, None) => start = Some(i),
            (false, Some(st)) => {
                if best.is_none_or(|(a, b)| i - st > b - a) {
                    best = Some((st, i));
                }
                start = None;
            }
            _ => {}
        }
    }
    best.filter(|(a, b)| b - a >= 8)
}

fn pad_token(rng: &mut StdRng, s: &str) -> String {
    match longest_token(s) {
        Some((_, b)) => {
            let pad = "=".repeat(rng.random_range(1..=3));
            format!("{}{pad}{}", &s[..b], &s[b..])
        }
        None => format!("{s}="),
    }
}

fn standard_alphabet(rng: &mut StdRng, s: &str) -> String {
    let (a, b) = longest_token(s).unwrap_or((0, s.len()));
    let token: String = s[a..b]
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            _ if rng.random_bool(0.02) => {
                if rng.random_bool(0.5) {
                    '+'
                } else {
                    '/'
                }
            }
            c => c,
        })
        .collect();
    format!("{}{token}{}", &s[..a], &s[b..])
}

/// Characters a lax base64 decoder drops silently.
fn junk_in_token(rng: &mut StdRng, s: &str) -> String {
    match longest_token(s) {
        Some((a, b)) => {
            let at = rng.random_range(a..b);
            let junk = pick(rng, &[".", "!", " ", "\n", "*", "%", "~", "\u{0}"]).unwrap_or(".");
            format!("{}{junk}{}", &s[..at], &s[at..])
        }
        None => s.to_string(),
    }
}

fn weight(rng: &mut StdRng, s: &str) -> String {
    let w = pick(
        rng,
        &[
            ";q=0",
            ";q=0.0",
            ";q=1.5",
            ";q=-1",
            ";q=0.0001",
            ";Q=0.5",
            ";q=",
            ";q=abc",
            "; q=0.5",
        ],
    )
    .unwrap_or(";q=0");
    match pick(rng, &positions(s, ",")) {
        Some(i) => format!("{}{w}{}", &s[..i], &s[i..]),
        None => format!("{s}{w}"),
    }
}

fn unquote_or_quote(rng: &mut StdRng, s: &str) -> String {
    match pick(rng, &params(s)) {
        Some((a, b)) => {
            let param = &s[a..b];
            let Some(eq) = param.find("=\"") else {
                return s.to_string();
            };
            let value = param[eq + 2..].trim_end_matches('"');
            format!("{}{}={}{}", &s[..a], &param[..eq], value, &s[b..])
        }
        None => s.to_string(),
    }
}

fn escapes(rng: &mut StdRng, s: &str) -> String {
    match pick(rng, &params(s)) {
        Some((_, b)) if b >= 1 => {
            let esc = pick(rng, &["\\\"", "\\\\", "\\a", "é", "\u{7f}", "\\"]).unwrap_or("\\\"");
            format!("{}{esc}{}", &s[..b - 1], &s[b - 1..])
        }
        _ => s.to_string(),
    }
}

fn trailing(rng: &mut StdRng, s: &str) -> String {
    match rng.random_range(0..5) {
        0 => format!("{s},"),
        1 => format!(", {s}"),
        2 => format!("{s}, x"),
        3 => format!("{s} garbage"),
        _ => format!("{s}, Basic realm=\"x\""),
    }
}

fn param_name_case(rng: &mut StdRng, s: &str) -> String {
    match pick(rng, &params(s)) {
        Some((a, b)) => {
            let param = &s[a..b];
            let eq = param.find('=').unwrap_or(0);
            format!(
                "{}{}{}{}",
                &s[..a],
                param[..eq].to_uppercase(),
                &param[eq..],
                &s[b..]
            )
        }
        None => s.to_string(),
    }
}

/// Decodes the longest base64url token, mutates the JSON inside, and puts
/// it back re-encoded: duplicate members, odd types, unknown members.
fn json_inside_token(rng: &mut StdRng, s: &str) -> String {
    let Some((a, b)) = longest_token(s) else {
        return s.to_string();
    };
    let Ok(bytes) = base64url::decode("token", &s[a..b]) else {
        return s.to_string();
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return s.to_string();
    };
    if !text.trim_start().starts_with('{') {
        return s.to_string();
    }
    let inner = &text[text.find('{').map(|i| i + 1).unwrap_or(0)..];
    let mutated = match rng.random_range(0..6) {
        0 => {
            // Duplicate the first member.
            let first = inner
                .split(',')
                .next()
                .unwrap_or_default()
                .trim_end_matches('}');
            format!("{{{first},{inner}")
        }
        1 => format!("{{\"mppconf\":{{\"deep\":[1,2,{{}}]}},{inner}"),
        2 => text.replacen(":\"", ":", 1).replacen("\",", ",", 1),
        3 => text.replacen('"', "'", 2),
        4 => format!("{text} "),
        _ => text.replacen(':', ":null,\"x\":", 1),
    };
    format!(
        "{}{}{}",
        &s[..a],
        base64url::encode(mutated.as_bytes()),
        &s[b..]
    )
}

fn delete_span(rng: &mut StdRng, s: &str) -> String {
    let a = boundary(rng, s);
    let b = boundary(rng, s);
    let (a, b) = (a.min(b), a.max(b));
    let b = if b - a > 16 {
        a + s[a..]
            .char_indices()
            .nth(16)
            .map(|(i, _)| i)
            .unwrap_or(b - a)
    } else {
        b
    };
    format!("{}{}", &s[..a], &s[b..])
}

fn duplicate_span(rng: &mut StdRng, s: &str) -> String {
    let a = boundary(rng, s);
    let b = boundary(rng, s);
    let (a, b) = (a.min(b), a.max(b));
    format!("{}{}", &s[..b], &s[a..])
}

fn insert_byte(rng: &mut StdRng, s: &str) -> String {
    let at = boundary(rng, s);
    let c = pick(
        rng,
        &[
            '"', ',', '=', ';', '/', '*', ' ', '\t', '\\', '{', '}', 'A', '0', '\u{80}', '\u{ff}',
        ],
    )
    .unwrap_or(',');
    format!("{}{c}{}", &s[..at], &s[at..])
}

fn replace_char(rng: &mut StdRng, s: &str) -> String {
    if s.is_empty() {
        return "=".into();
    }
    let at = boundary(rng, s);
    let Some(old) = s[at..].chars().next() else {
        return s.to_string();
    };
    let c = pick(rng, &['"', ',', '=', ';', ' ', 'x', '-', '_', '+', '/']).unwrap_or('x');
    format!("{}{c}{}", &s[..at], &s[at + old.len_utf8()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const SEED: &str = "Payment id=\"abc\", realm=\"api\", method=\"tempo\", intent=\"charge\", request=\"eyJhbW91bnQiOiIxIn0\"";

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..200).map(|_| mutate(&mut rng, SEED)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn mutations_never_panic_and_reach_the_known_trouble_spots() {
        let mut rng = StdRng::seed_from_u64(1);
        let inputs: Vec<String> = (0..5000).map(|_| mutate(&mut rng, SEED)).collect();
        assert!(
            inputs.iter().any(|i| i.contains("\"api\" method")),
            "a missing comma"
        );
        assert!(
            inputs
                .iter()
                .any(|i| i.contains("=\"") && i.matches('"').count() % 2 == 1),
            "an unterminated quote"
        );
        assert!(
            inputs.iter().any(|i| i.matches("realm=").count() == 2),
            "a duplicate parameter"
        );
        assert!(inputs.iter().any(|i| i.contains("n0=")), "padding");
        for weird in ["", "\"", "=", "Payment", "é", ",,,"] {
            for _ in 0..50 {
                mutate(&mut rng, weird);
            }
        }
    }
}
