//! JSON carried inside headers: base64url-nopad of JCS (RFC 8785) text.
//!
//! `request` and `opaque` (draft-httpauth-payment-00 §"Required Parameters",
//! §"Optional Parameters") and the credential and receipt bodies all travel
//! this way. [`EncodedJson`] keeps the exact wire text next to the decoded
//! value, because the challenge binding hashes the wire text: re-encoding a
//! decoded value is not the same thing.

use serde_json::{Map, Value};

use super::base64url;
use crate::error::{Error, Result};

/// A JSON value together with the base64url text it arrived as.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedJson {
    pub wire: String,
    pub value: Value,
}

impl EncodedJson {
    /// Encodes a value the way the spec requires: JCS, then base64url-nopad.
    pub fn canonical(value: Value) -> Self {
        Self {
            wire: base64url::encode(canonicalize(&value)),
            value,
        }
    }

    /// Strictly decodes wire text; the JSON need not be canonical (see
    /// [`EncodedJson::is_canonical`]) but must be an object.
    pub fn decode_object(field: &'static str, wire: &str) -> Result<Self> {
        let text = base64url::decode_text(field, wire)?;
        let value = parse_json(field, &text)?;
        if !value.is_object() {
            return Err(Error::NotAnObject { field });
        }
        Ok(Self {
            wire: wire.to_string(),
            value,
        })
    }

    /// Whether the wire text is exactly base64url(JCS(value)).
    pub fn is_canonical(&self) -> bool {
        self.wire == base64url::encode(canonicalize(&self.value))
    }
}

/// Parses JSON text, rejecting duplicate member names: RFC 8785 requires
/// I-JSON (RFC 7493 §2.3), and a duplicate would let two parties read two
/// different requests out of one signed text.
pub fn parse_json(field: &'static str, text: &str) -> Result<Value> {
    let value: Value = serde_json::from_str(text).map_err(|e| Error::InvalidJson {
        field,
        reason: e.to_string(),
    })?;
    if has_duplicate_names(text) {
        return Err(Error::InvalidJson {
            field,
            reason: "duplicate member name".to_string(),
        });
    }
    Ok(value)
}

/// Serializes a value as JCS (RFC 8785) text.
pub fn canonicalize(value: &Value) -> String {
    // Serializing a serde_json::Value cannot fail: its keys are strings and
    // its numbers are finite.
    serde_json_canonicalizer::to_string(value).unwrap_or_default()
}

/// Canonicalizes JSON text (the `jcs.canonicalize` operation).
pub fn canonicalize_text(text: &str) -> Result<String> {
    Ok(canonicalize(&parse_json("json", text)?))
}

/// Requires an object whose values are all strings (the `opaque` shape).
pub fn require_flat_string_map(value: &Value) -> std::result::Result<(), String> {
    let Some(map) = value.as_object() else {
        return Err("not a JSON object".to_string());
    };
    match map.iter().find(|(_, v)| !v.is_string()) {
        Some((k, _)) => Err(format!("member {k:?} is not a string")),
        None => Ok(()),
    }
}

/// Reads a required string member of an object.
pub fn required_str<'a>(map: &'a Map<String, Value>, field: &str, path: &str) -> Result<&'a str> {
    match map.get(field) {
        None => Err(Error::MissingField {
            field: format!("{path}{field}"),
        }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::WrongType {
            field: format!("{path}{field}"),
            expected: "a string",
        }),
    }
}

/// Reads an optional string member of an object (present but not a string
/// is an error, including `null`).
pub fn optional_str<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<Option<&'a str>> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::WrongType {
            field: format!("{path}{field}"),
            expected: "a string",
        }),
    }
}

fn has_duplicate_names(text: &str) -> bool {
    // serde_json keeps the last duplicate silently; a second pass with a
    // visitor that records names per object finds them.
    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::collections::HashSet;

    struct Check;
    impl<'de> Visitor<'de> for Check {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen = HashSet::new();
            let mut dup = false;
            while let Some(key) = map.next_key::<String>()? {
                dup |= !seen.insert(key);
                dup |= map.next_value_seed(CheckSeed)?;
            }
            Ok(dup)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            let mut dup = false;
            while let Some(d) = seq.next_element_seed(CheckSeed)? {
                dup |= d;
            }
            Ok(dup)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    struct CheckSeed;
    impl<'de> de::DeserializeSeed<'de> for CheckSeed {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(Check)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_any(Check).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_keys_by_code_point() {
        let e = EncodedJson::canonical(json!({"b": 1, "B": 2, "a": {"z": 1, "y": 2}}));
        assert_eq!(
            base64url::decode_text("t", &e.wire).unwrap(),
            r#"{"B":2,"a":{"y":2,"z":1},"b":1}"#
        );
        assert!(e.is_canonical());
    }

    #[test]
    fn duplicate_member_names_are_rejected() {
        assert!(parse_json("t", r#"{"a":1,"a":2}"#).is_err());
        assert!(parse_json("t", r#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(parse_json("t", r#"[{"a":1},{"a":1}]"#).is_ok());
    }

    #[test]
    fn non_canonical_wire_is_detected() {
        let wire = base64url::encode(r#"{"b":1,"a":2}"#);
        let e = EncodedJson::decode_object("request", &wire).unwrap();
        assert!(!e.is_canonical());
    }
}
