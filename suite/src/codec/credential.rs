//! The `Authorization: Payment` credential
//! (draft-httpauth-payment-00 §"Credentials (Authorization)").
//!
//! ```abnf
//! credentials     = "Payment" 1*SP base64url-nopad
//! ```

use serde_json::{Map, Value};

use super::challenge::decode_opaque;
use super::json::{self, EncodedJson, optional_str, required_str};
use super::{base64url, challenge::Challenge};
use crate::drafts::CoreDraft;
use crate::error::{Error, Result};

/// The challenge as the client echoed it: the exact strings it sent, so a
/// server can compare them byte for byte with what it issued.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoedChallenge {
    pub id: String,
    pub realm: String,
    pub method: String,
    pub intent: String,
    pub request: EncodedJson,
    pub description: Option<String>,
    pub opaque: Option<EncodedJson>,
    pub digest: Option<String>,
    pub expires: Option<String>,
    /// Members this draft does not define (ignored, kept for formatting).
    pub unknown: Map<String, Value>,
}

/// A decoded Payment credential.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub challenge: EchoedChallenge,
    pub payload: Map<String, Value>,
    pub source: Option<String>,
    /// Top-level members this draft does not define (ignored; §"Versioning").
    pub unknown: Map<String, Value>,
}

const ECHO_FIELDS: [&str; 9] = [
    "id",
    "realm",
    "method",
    "intent",
    "request",
    "description",
    "opaque",
    "digest",
    "expires",
];

impl EchoedChallenge {
    /// What a conformant client echoes for an issued challenge.
    pub fn echo_of(c: &Challenge) -> Self {
        Self {
            id: c.id.clone(),
            realm: c.realm.clone(),
            method: c.method.clone(),
            intent: c.intent.clone(),
            request: c.request.clone(),
            description: c.description.clone(),
            opaque: c.opaque.clone(),
            digest: c.digest.clone(),
            expires: c.expires.clone(),
            // -01: "Clients MUST echo it unchanged"; a -00 server ignores
            // the member as unknown (§"Versioning"), so echoing is safe
            // under both.
            unknown: c
                .header()
                .map(|h| Map::from_iter([("header".to_string(), Value::from(h))]))
                .unwrap_or_default(),
        }
    }

    /// The echoed `header` (draft-httpauth-payment-01 §"Credentials": echoed
    /// only when the challenge had it); an unknown member under -00.
    pub fn header(&self) -> Option<&str> {
        self.unknown.get("header").and_then(Value::as_str)
    }

    fn from_json(map: &Map<String, Value>) -> Result<Self> {
        const P: &str = "challenge.";
        let id = required_str(map, "id", P)?;
        if id.is_empty() {
            return Err(Error::EmptyId);
        }
        let request = EncodedJson::decode_object("request", required_str(map, "request", P)?)?;
        let opaque = optional_str(map, "opaque", P)?
            .map(decode_opaque)
            .transpose()?;
        Ok(Self {
            id: id.to_string(),
            realm: required_str(map, "realm", P)?.to_string(),
            method: required_str(map, "method", P)?.to_string(),
            intent: required_str(map, "intent", P)?.to_string(),
            request,
            description: optional_str(map, "description", P)?.map(str::to_string),
            opaque,
            digest: optional_str(map, "digest", P)?.map(str::to_string),
            expires: optional_str(map, "expires", P)?.map(str::to_string),
            unknown: unknown_members(map, &ECHO_FIELDS),
        })
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("realm".into(), self.realm.clone().into());
        m.insert("method".into(), self.method.clone().into());
        m.insert("intent".into(), self.intent.clone().into());
        m.insert("request".into(), self.request.wire.clone().into());
        let opt = [
            ("description", &self.description),
            ("digest", &self.digest),
            ("expires", &self.expires),
        ];
        for (k, v) in opt {
            if let Some(v) = v {
                m.insert(k.into(), v.clone().into());
            }
        }
        if let Some(o) = &self.opaque {
            m.insert("opaque".into(), o.wire.clone().into());
        }
        m.extend(self.unknown.clone());
        Value::Object(m)
    }

    fn to_abi(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        m.insert("realm".into(), self.realm.clone().into());
        m.insert("method".into(), self.method.clone().into());
        m.insert("intent".into(), self.intent.clone().into());
        m.insert("request".into(), self.request.value.clone());
        for (k, v) in [
            ("description", &self.description),
            ("digest", &self.digest),
            ("expires", &self.expires),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.clone().into());
            }
        }
        if let Some(o) = &self.opaque {
            m.insert("opaque".into(), o.wire.clone().into());
        }
        Value::Object(m)
    }
}

impl Credential {
    /// Parses an `Authorization` field value.
    pub fn parse(field: &str) -> Result<Self> {
        let field = field.trim_matches([' ', '\t']);
        let scheme_len = field
            .bytes()
            .take_while(|b| super::auth_params::is_tchar(*b))
            .count();
        let (scheme, rest) = field.split_at(scheme_len);
        if !scheme.eq_ignore_ascii_case("payment") {
            return Err(Error::NotPaymentScheme {
                found: scheme.to_string(),
            });
        }
        let token = rest.trim_start_matches(' ');
        if token.len() == rest.len() {
            return Err(Error::UnexpectedEnd {
                context: "expected 1*SP and base64url-nopad after \"Payment\"",
            });
        }
        let text = base64url::decode_text("credential", token)?;
        Self::from_json_text(&text)
    }

    /// Parses the decoded JSON text of a credential.
    pub fn from_json_text(text: &str) -> Result<Self> {
        let value = json::parse_json("credential", text)?;
        let map = value.as_object().ok_or(Error::NotAnObject {
            field: "credential",
        })?;
        let challenge = match map.get("challenge") {
            None => {
                return Err(Error::MissingField {
                    field: "challenge".into(),
                });
            }
            Some(Value::Object(c)) => EchoedChallenge::from_json(c)?,
            Some(_) => {
                return Err(Error::WrongType {
                    field: "challenge".into(),
                    expected: "a JSON object",
                });
            }
        };
        let payload = match map.get("payload") {
            None => {
                return Err(Error::MissingField {
                    field: "payload".into(),
                });
            }
            Some(Value::Object(p)) => p.clone(),
            Some(_) => {
                return Err(Error::WrongType {
                    field: "payload".into(),
                    expected: "a JSON object",
                });
            }
        };
        Ok(Self {
            challenge,
            payload,
            source: optional_str(map, "source", "")?.map(str::to_string),
            unknown: unknown_members(map, &["challenge", "payload", "source"]),
        })
    }

    /// The credential JSON as sent (echo strings kept verbatim).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("challenge".into(), self.challenge.to_json());
        m.insert("payload".into(), Value::Object(self.payload.clone()));
        if let Some(s) = &self.source {
            m.insert("source".into(), s.clone().into());
        }
        m.extend(self.unknown.clone());
        Value::Object(m)
    }

    /// Formats the `Authorization` field value.
    pub fn to_header(&self) -> String {
        let text = serde_json::to_string(&self.to_json()).unwrap_or_default();
        format!("Payment {}", base64url::encode(text))
    }

    /// The ABI object: echoed `request` decoded, `opaque` as sent, `source`
    /// null when absent.
    pub fn to_abi(&self) -> Value {
        let mut m = Map::new();
        m.insert("challenge".into(), self.challenge.to_abi());
        m.insert("payload".into(), Value::Object(self.payload.clone()));
        m.insert(
            "source".into(),
            self.source
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null),
        );
        Value::Object(m)
    }

    /// [`Credential::to_abi`] under `draft`: -01 adds the echoed `header`.
    pub fn to_abi_for(&self, draft: CoreDraft) -> Value {
        let mut v = self.to_abi();
        if let (Some(h), Some(Value::Object(c))) = (
            self.challenge.header().filter(|_| draft.has_header_param()),
            v.get_mut("challenge"),
        ) {
            c.insert("header".into(), h.into());
        }
        v
    }

    /// Builds a credential from the ABI object (canonical encodings).
    pub fn from_abi(value: &Value) -> Result<Self> {
        let map = value.as_object().ok_or(Error::NotAnObject {
            field: "credential",
        })?;
        let challenge = Challenge::from_abi(map.get("challenge").ok_or(Error::MissingField {
            field: "challenge".into(),
        })?)?;
        let payload = match map.get("payload") {
            Some(Value::Object(p)) => p.clone(),
            Some(_) => {
                return Err(Error::WrongType {
                    field: "payload".into(),
                    expected: "a JSON object",
                });
            }
            None => {
                return Err(Error::MissingField {
                    field: "payload".into(),
                });
            }
        };
        let source = match map.get("source") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(Error::WrongType {
                    field: "source".into(),
                    expected: "a string or null",
                });
            }
        };
        if challenge.id.is_empty() {
            return Err(Error::Unformattable {
                field: "challenge.id",
                reason: "clients MUST include the non-empty challenge id unchanged".into(),
            });
        }
        Ok(Self {
            challenge: EchoedChallenge::echo_of(&challenge),
            payload,
            source,
            unknown: Map::new(),
        })
    }
}

fn unknown_members(map: &Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header_of(v: Value) -> String {
        format!("Payment {}", base64url::encode(v.to_string()))
    }

    #[test]
    fn parses_keeps_echo_and_roundtrips() {
        let h = header_of(json!({
            "challenge": {"id": "x", "realm": "r", "method": "tempo", "intent": "charge",
                          "request": "eyJhbW91bnQiOiIxIn0", "future": 1},
            "payload": {"type": "hash"},
            "unknown": true
        }));
        let c = Credential::parse(&h).unwrap();
        assert_eq!(c.challenge.request.wire, "eyJhbW91bnQiOiIxIn0");
        assert_eq!(c.to_abi()["source"], Value::Null);
        assert_eq!(Credential::parse(&c.to_header()).unwrap(), c);
    }

    #[test]
    fn rejects_wrong_shapes() {
        assert!(matches!(
            Credential::parse("Payment W10"),
            Err(Error::NotAnObject { .. })
        ));
        assert!(matches!(
            Credential::parse(&header_of(json!({"payload": {}}))),
            Err(Error::MissingField { .. })
        ));
        assert!(matches!(
            Credential::parse("Bearer abc"),
            Err(Error::NotPaymentScheme { .. })
        ));
        assert!(matches!(
            Credential::parse("Payment eyJhIjoxfQ=="),
            Err(Error::Base64 { .. })
        ));
    }
}
