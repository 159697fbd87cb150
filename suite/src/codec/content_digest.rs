//! RFC 9530 `Content-Digest` values, as carried by the challenge `digest`
//! parameter (draft-httpauth-payment-00 §"Request Body Digest Binding").
//!
//! The value is an RFC 8941 Dictionary whose members are byte sequences
//! (`sha-256=:<base64>:`). Only `sha-256` and `sha-512` are "Active" in the
//! RFC 9530 registry; others are kept but not verified.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256, Sha512};

use crate::error::{Error, Result};

/// One dictionary member: algorithm key and digest bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestMember {
    pub algorithm: String,
    pub digest: Vec<u8>,
}

/// Computes the `sha-256` Content-Digest of a body.
pub fn compute_sha256(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
}

/// Parses a Content-Digest dictionary strictly.
pub fn parse(value: &str) -> Result<Vec<DigestMember>> {
    let invalid = |reason| Error::InvalidDigest {
        value: value.to_string(),
        reason,
    };
    let mut members = Vec::new();
    for raw in value.split(',') {
        let member = raw.trim_matches([' ', '\t']);
        let (key, rest) = member
            .split_once('=')
            .ok_or_else(|| invalid("member without \"=\""))?;
        // sf key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
        let key_ok = key.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase()
                || b == b'*'
                || (i > 0 && (b.is_ascii_digit() || b"_-.".contains(&b)))
        });
        if key.is_empty() || !key_ok {
            return Err(invalid("member key is not an RFC 8941 key"));
        }
        let b64 = rest
            .strip_prefix(':')
            .and_then(|r| r.strip_suffix(':'))
            .ok_or_else(|| invalid("member value is not a byte sequence :...:"))?;
        let digest = STANDARD
            .decode(b64)
            .map_err(|_| invalid("byte sequence is not base64"))?;
        let expected_len = match key {
            "sha-256" => Some(32),
            "sha-512" => Some(64),
            _ => None,
        };
        if expected_len.is_some_and(|n| n != digest.len()) {
            return Err(invalid("digest length does not fit the algorithm"));
        }
        members.push(DigestMember {
            algorithm: key.to_string(),
            digest,
        });
    }
    Ok(members)
}

/// Whether `body` matches every supported member of `value`.
///
/// Errors when the value is malformed or names no supported algorithm: a
/// server cannot verify such a binding and must not treat it as a match.
pub fn verify(value: &str, body: &[u8]) -> Result<bool> {
    let members = parse(value)?;
    let mut checked = 0;
    for m in &members {
        let actual = match m.algorithm.as_str() {
            "sha-256" => Sha256::digest(body).to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        checked += 1;
        if actual != m.digest {
            return Ok(false);
        }
    }
    if checked == 0 {
        return Err(Error::UnsupportedDigestAlgorithm {
            value: value.to_string(),
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9530_example() {
        // RFC 9530 §2 example: {"hello": "world"} followed by a newline.
        let body = b"{\"hello\": \"world\"}\n";
        let d = compute_sha256(body);
        assert_eq!(d, "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:");
        assert!(verify(&d, body).unwrap());
        assert!(!verify(&d, b"other").unwrap());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "sha-256",
            "sha-256=abc",
            "SHA-256=:AA==:",
            "sha-256=:AA==:",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            verify("md5=:AAAA:", b""),
            Err(Error::UnsupportedDigestAlgorithm { .. })
        ));
    }
}
