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
    /// `wire` is moved in when it is a `String`.
    pub fn decode_object(
        field: &'static str,
        wire: impl AsRef<str> + Into<String>,
    ) -> Result<Self> {
        let text = base64url::decode_text(field, wire.as_ref())?;
        let value = parse_json(field, &text)?;
        if !value.is_object() {
            return Err(Error::NotAnObject { field });
        }
        Ok(Self {
            wire: wire.into(),
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
    let mut duplicate = false;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde::de::DeserializeSeed::deserialize(
        NoDuplicates {
            duplicate: &mut duplicate,
        },
        &mut de,
    )
    .and_then(|value| de.end().map(|()| value))
    .map_err(|e| Error::InvalidJson {
        field,
        reason: e.to_string(),
    })?;
    // After the syntax, as serde_json reads the whole text first.
    if duplicate {
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

/// Builds the [`Value`] serde_json would, in the same single pass, and
/// notes a member name seen twice in one object: serde_json keeps the last
/// duplicate silently.
struct NoDuplicates<'f> {
    duplicate: &'f mut bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for NoDuplicates<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicates<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(n.into())
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(n.into())
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        // serde_json reads finite numbers only; a non-finite one would be
        // null, as serde_json's own Value makes it.
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(NoDuplicates {
            duplicate: &mut *self.duplicate,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::with_capacity(map.size_hint().unwrap_or(4));
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(NoDuplicates {
                duplicate: &mut *self.duplicate,
            })?;
            if out.insert(key, value).is_some() {
                *self.duplicate = true;
            }
        }
        Ok(Value::Object(out))
    }
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
