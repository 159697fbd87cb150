//! RFC 9110 `WWW-Authenticate` field grammar, for any scheme.
//!
//! ```abnf
//! WWW-Authenticate = #challenge                                ; RFC 9110 §11.6.1
//! challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]  ; §11.3
//! auth-param  = token BWS "=" BWS ( token / quoted-string )      ; §11.2
//! ```
//!
//! A field may hold several challenges of several schemes, and the list
//! separator is the same comma that separates auth-params, so a comma is
//! followed either by another auth-param (`token BWS "="`) or by a new
//! challenge (`token 1*SP ...`, or a bare `token`). No crate on crates.io
//! parses this strictly with positions, so this module does, in one pass
//! without backtracking over more than one token.

use std::borrow::Cow;

use crate::error::{Error, Result};

/// One challenge of any scheme, before scheme-specific validation. It
/// borrows from the field: a challenge whose names are lowercase and
/// whose values have no escape is read without an allocation per
/// parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawChallenge<'a> {
    pub scheme: &'a str,
    pub token68: Option<&'a str>,
    pub params: Vec<RawParam<'a>>,
}

/// One auth-param with its name lowercased (names are case-insensitive,
/// RFC 9110 §11.2) and its value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawParam<'a> {
    pub name: Cow<'a, str>,
    pub value: Cow<'a, str>,
    pub quoted: bool,
}

/// Parses one `WWW-Authenticate` field value into its challenges.
pub fn parse_field(field: &str) -> Result<Vec<RawChallenge<'_>>> {
    Parser {
        text: field,
        s: field.as_bytes(),
        pos: 0,
    }
    .challenges()
}

/// `tchar` of RFC 9110 §5.6.2.
pub fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// [`is_tchar`] as a table: tokens are most of a header's bytes.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

/// The length of the run of `qdtext` (RFC 9110 §5.6.4: `HTAB / SP / %x21
/// / %x23-5B / %x5D-7E / obs-text`) but for the backslash, which starts a
/// quoted-pair, at the start of `s`. Short values (ids, realms) are
/// scanned with a table; the request parameter's base64, most of a
/// challenge, has its end found with `memchr` and is checked for control
/// characters in one branch-free pass.
fn plain_qdtext_len(s: &[u8]) -> usize {
    const SHORT: usize = 16;
    let head = &s[..s.len().min(SHORT)];
    if let Some(end) = head.iter().position(|b| !PLAIN_QDTEXT[usize::from(*b)]) {
        return end;
    }
    let end = memchr::memchr2(b'"', b'\\', s).unwrap_or(s.len());
    let control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    if s[..end].iter().fold(false, |seen, b| seen | control(*b)) {
        s[..end].iter().position(|b| control(*b)).unwrap_or(end)
    } else {
        end
    }
}

/// `qdtext` but for the backslash, as a table.
const PLAIN_QDTEXT: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b, 0x09 | 0x20 | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff);
        b += 1;
    }
    table
};

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

struct Parser<'a> {
    text: &'a str,
    /// `text`'s bytes.
    s: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    /// The text between two positions, which fall on character boundaries
    /// (each is next to an ASCII delimiter).
    fn slice(&self, from: usize, to: usize) -> &'a str {
        self.text.get(from..to).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn peek_at(&self, at: usize) -> Option<u8> {
        self.s.get(at).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn ows_end(&self, mut at: usize) -> usize {
        while matches!(self.peek_at(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        at
    }

    fn unexpected(&self, context: &'static str) -> Error {
        match self
            .text
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
        {
            Some(found) => Error::UnexpectedChar {
                at: self.pos,
                found,
                context,
            },
            None => Error::UnexpectedEnd { context },
        }
    }

    /// Length of the token starting at `at` (0 if none).
    fn token_len(&self, at: usize) -> usize {
        self.s[at.min(self.s.len())..]
            .iter()
            .take_while(|b| is_tchar(**b))
            .count()
    }

    fn token(&mut self, context: &'static str) -> Result<&'a str> {
        let len = self.token_len(self.pos);
        if len == 0 {
            return Err(self.unexpected(context));
        }
        let t = self.slice(self.pos, self.pos + len);
        self.pos += len;
        Ok(t)
    }

    /// Skips `OWS "," OWS` repeatedly (empty list elements, RFC 9110 §5.6.1.2).
    fn skip_list_separators(&mut self) {
        loop {
            self.skip_ows();
            if self.peek() == Some(b',') {
                self.pos += 1;
            } else {
                return;
            }
        }
    }

    fn challenges(mut self) -> Result<Vec<RawChallenge<'a>>> {
        let mut out = Vec::new();
        self.skip_list_separators();
        while !self.at_end() {
            out.push(self.challenge()?);
            self.skip_list_separators();
        }
        Ok(out)
    }

    fn challenge(&mut self) -> Result<RawChallenge<'a>> {
        let scheme = self.token("expected an auth-scheme")?;
        let mut challenge = RawChallenge {
            scheme,
            token68: None,
            // A Payment challenge has up to nine parameters.
            params: Vec::with_capacity(9),
        };
        // `1*SP` separates the scheme from its parameters; anything else
        // must end the list element.
        let after_sp = {
            let mut at = self.pos;
            while self.peek_at(at) == Some(b' ') {
                at += 1;
            }
            at
        };
        if after_sp == self.pos {
            return self.end_of_element(challenge);
        }
        self.pos = after_sp;
        if self.at_end() || self.peek() == Some(b',') {
            return Ok(challenge);
        }
        if self.looks_like_auth_param(self.pos) {
            self.auth_params(&mut challenge)?;
            Ok(challenge)
        } else {
            challenge.token68 = Some(self.token68()?);
            self.end_of_element(challenge)
        }
    }

    fn end_of_element(&mut self, challenge: RawChallenge<'a>) -> Result<RawChallenge<'a>> {
        self.skip_ows();
        match self.peek() {
            None | Some(b',') => Ok(challenge),
            Some(_) => Err(self.unexpected("expected \",\" or the end after a challenge")),
        }
    }

    /// `token BWS "=" BWS` followed by a value, and not a token68 that ends
    /// in `=` padding.
    fn looks_like_auth_param(&self, at: usize) -> bool {
        let len = self.token_len(at);
        if len == 0 {
            return false;
        }
        let eq = self.ows_end(at + len);
        if self.peek_at(eq) != Some(b'=') {
            return false;
        }
        let mut after = eq;
        while self.peek_at(after) == Some(b'=') {
            after += 1;
        }
        let after = self.ows_end(after);
        // `abc==` or `abc=` then end / comma is a token68 (e.g. `Basic YQ==`).
        !(after >= self.s.len() || self.peek_at(after) == Some(b','))
    }

    fn token68(&mut self) -> Result<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(is_token68_char) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.unexpected("expected token68 or auth-params"));
        }
        while self.peek() == Some(b'=') {
            self.pos += 1;
        }
        Ok(self.slice(start, self.pos))
    }

    fn auth_params(&mut self, challenge: &mut RawChallenge<'a>) -> Result<()> {
        loop {
            let param = self.auth_param()?;
            // RFC 9110 §11.2: "Each parameter name MUST only occur once per challenge."
            if challenge.params.iter().any(|p| p.name == param.name) {
                return Err(Error::DuplicateParam {
                    name: param.name.into_owned(),
                });
            }
            challenge.params.push(param);
            self.skip_ows();
            match self.peek() {
                None => return Ok(()),
                Some(b',') => {}
                Some(_) => return Err(Error::MissingComma { at: self.pos }),
            }
            // Decide, past the comma(s), whether a parameter or a new
            // challenge follows; leave the commas for the caller if the
            // latter.
            let resume = self.pos;
            self.skip_list_separators();
            if self.at_end() || !self.looks_like_auth_param(self.pos) {
                self.pos = resume;
                return Ok(());
            }
        }
    }

    fn auth_param(&mut self) -> Result<RawParam<'a>> {
        let written = self.token("expected an auth-param name")?;
        let name = if written.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(written.to_ascii_lowercase())
        } else {
            Cow::Borrowed(written)
        };
        self.skip_ows();
        if self.peek() != Some(b'=') {
            return Err(self.unexpected("expected \"=\" after an auth-param name"));
        }
        self.pos += 1;
        self.skip_ows();
        let (value, quoted) = match self.peek() {
            Some(b'"') => (self.quoted_string()?, true),
            _ => (
                Cow::Borrowed(self.token("expected a token or quoted-string value")?),
                false,
            ),
        };
        Ok(RawParam {
            name,
            value,
            quoted,
        })
    }

    /// `quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE` (§5.6.4).
    fn quoted_string(&mut self) -> Result<Cow<'a, str>> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            // Runs of plain text are copied whole.
            let run = plain_qdtext_len(&self.s[self.pos..]);
            let from = self.pos;
            self.pos += run;
            let Some(b) = self.peek() else {
                return Err(Error::UnterminatedQuote { at: start });
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    // The input is a str and whole UTF-8 sequences are
                    // copied; most values have no escape and are copied once.
                    if out.is_empty() {
                        return Ok(Cow::Borrowed(self.slice(from, self.pos - 1)));
                    }
                    out.extend_from_slice(&self.s[from..self.pos - 1]);
                    return Ok(Cow::Owned(String::from_utf8(out).unwrap_or_default()));
                }
                b'\\' => {
                    let Some(escaped) = self.peek_at(self.pos + 1) else {
                        return Err(Error::UnterminatedQuote { at: start });
                    };
                    // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                    if !(escaped == b'\t' || escaped == b' ' || (0x21..=0x7e).contains(&escaped))
                        && escaped < 0x80
                    {
                        return Err(Error::BadEscape { at: self.pos });
                    }
                    out.extend_from_slice(&self.s[from..self.pos]);
                    out.push(escaped);
                    self.pos += 2;
                }
                _ => return Err(self.unexpected("control character inside a quoted-string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params<'a>(c: &'a RawChallenge<'a>) -> Vec<(&'a str, &'a str)> {
        c.params
            .iter()
            .map(|p| (p.name.as_ref(), p.value.as_ref()))
            .collect()
    }

    #[test]
    fn mixed_schemes_in_one_field() {
        let cs = parse_field(
            r#"Bearer realm="a", Payment id="x, Payment y=1", method=tempo, Basic YQ=="#,
        )
        .unwrap();
        assert_eq!(cs.len(), 3);
        assert_eq!(cs[0].scheme, "Bearer");
        assert_eq!(params(&cs[0]), vec![("realm", "a")]);
        assert_eq!(
            params(&cs[1]),
            vec![("id", "x, Payment y=1"), ("method", "tempo")]
        );
        assert_eq!(cs[2].token68, Some("YQ=="));
    }

    #[test]
    fn bws_and_ows_and_empty_elements() {
        let cs = parse_field(" , Payment id \t= \"a\" ,, realm=b ,").unwrap();
        assert_eq!(params(&cs[0]), vec![("id", "a"), ("realm", "b")]);
    }

    #[test]
    fn rejects_the_hostile_shapes() {
        assert!(matches!(
            parse_field(r#"Payment id="a", id="b""#),
            Err(Error::DuplicateParam { .. })
        ));
        assert!(matches!(
            parse_field(r#"Payment id="a"#),
            Err(Error::UnterminatedQuote { .. })
        ));
        assert!(matches!(
            parse_field(r#"Payment id="a" realm="b""#),
            Err(Error::MissingComma { .. })
        ));
        assert!(matches!(
            parse_field("Payment id=\"a\\\u{1}\""),
            Err(Error::BadEscape { .. })
        ));
        assert!(matches!(
            parse_field("Payment id=\"a\nb\""),
            Err(Error::UnexpectedChar { .. })
        ));
    }

    #[test]
    fn long_values_names_in_capitals_and_escaped_utf8() {
        // Past the short scan: a control character deep in a long value,
        // and a long value that ends the field unterminated.
        let long = "x".repeat(100);
        assert!(matches!(
            parse_field(&format!("Payment request=\"{long}\u{7f}\"")),
            Err(Error::UnexpectedChar { at: 117, .. })
        ));
        assert!(matches!(
            parse_field(&format!("Payment request=\"{long}")),
            Err(Error::UnterminatedQuote { at: 16 })
        ));
        let field = format!("Payment ID=\"{long}\\\"{long}\"");
        let cs = parse_field(&field).unwrap();
        assert_eq!(cs[0].params[0].name, "id");
        assert_eq!(cs[0].params[0].value, format!("{long}\"{long}"));
        // A quoted-pair may escape the first byte of a UTF-8 sequence.
        let cs = parse_field("Payment description=\"\\é!\"").unwrap();
        assert_eq!(cs[0].params[0].value, "é!");
    }

    #[test]
    fn escapes_are_unescaped() {
        let cs = parse_field(r#"Payment description="say \"hi\" \\ o/""#).unwrap();
        assert_eq!(cs[0].params[0].value, r#"say "hi" \ o/"#);
    }
}
