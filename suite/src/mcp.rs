//! draft-payment-transport-mcp-00: payment data in JSON-RPC (MCP)
//! messages. A challenge travels in the `error.data` of a `-32042`
//! (`-32043` after a failed verification) error with its `request` as a
//! native JSON object; the credential in `_meta["org.paymentauth/credential"]`
//! (at the message's root, or inside `params` as MCP nests it); the
//! receipt in `_meta["org.paymentauth/receipt"]` (at the root, or inside
//! `result`).
//!
//! The messages are JSON, read with serde_json; what is checked here is
//! the payment members the draft defines, each rejection with a stable
//! code. The JSON-RPC exchange itself (framing, ids, transports) is the
//! MCP crate's business, not this module's.

use serde_json::{Map, Value, json};

use crate::codec::json::parse_json;
use crate::codec::{Challenge, EncodedJson, rfc3339};
use crate::error::{Error, Result};

/// §"Signaling Payment Required".
pub const PAYMENT_REQUIRED: i64 = -32042;
/// §"Payment Verification Failure".
pub const VERIFICATION_FAILED: i64 = -32043;
/// §"Error Code Mapping": malformed credential.
pub const INVALID_PARAMS: i64 = -32602;
/// §"Error Code Mapping": internal payment error.
pub const INTERNAL_ERROR: i64 = -32603;
/// §"Transmitting Payment Data".
pub const CREDENTIAL_KEY: &str = "org.paymentauth/credential";
/// §"Successful Payment Response".
pub const RECEIPT_KEY: &str = "org.paymentauth/receipt";

/// Where a `_meta` member was found (§"Metadata Placement").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// At the root of the JSON-RPC message (generic JSON-RPC).
    Root,
    /// Inside `params` (requests) or `result` (responses), as MCP does.
    Nested,
}

impl Placement {
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Root => "root",
            Placement::Nested => "nested",
        }
    }
}

fn missing(field: impl Into<String>) -> Error {
    Error::MissingField {
        field: field.into(),
    }
}

fn wrong(field: impl Into<String>, expected: &'static str) -> Error {
    Error::WrongType {
        field: field.into(),
        expected,
    }
}

fn string(map: &Map<String, Value>, key: &str, at: &str) -> Result<String> {
    match map.get(key) {
        None => Err(missing(format!("{at}.{key}"))),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(wrong(format!("{at}.{key}"), "a non-empty string")),
    }
}

fn optional_string(map: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong(format!("{at}.{key}"), "a string")),
    }
}

fn object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| wrong(at, "a JSON object"))
}

/// One challenge object of `error.data.challenges` (§"Challenge
/// Structure"): `request` a native JSON object, not base64url text.
#[derive(Debug, Clone, PartialEq)]
pub struct McpChallenge {
    pub id: String,
    pub realm: String,
    pub method: String,
    pub intent: String,
    pub request: Map<String, Value>,
    pub expires: Option<String>,
    pub description: Option<String>,
    /// Members the draft does not define (kept: a credential echoes the
    /// challenge unchanged).
    pub extra: Map<String, Value>,
}

impl McpChallenge {
    pub fn from_value(value: &Value, at: &str) -> Result<Self> {
        let map = object(value, at)?;
        let request = match map.get("request") {
            None => return Err(missing(format!("{at}.request"))),
            Some(Value::Object(r)) => r.clone(),
            // "Servers MUST NOT base64url-encode the request when using
            // JSON-RPC transport."
            Some(Value::String(_)) => {
                return Err(wrong(
                    format!("{at}.request"),
                    "a native JSON object (not base64url text)",
                ));
            }
            Some(_) => return Err(wrong(format!("{at}.request"), "a JSON object")),
        };
        let expires = optional_string(map, "expires", at)?;
        if let Some(e) = &expires {
            rfc3339::parse("expires", e)?;
        }
        const KNOWN: [&str; 7] = [
            "id",
            "realm",
            "method",
            "intent",
            "request",
            "expires",
            "description",
        ];
        Ok(Self {
            id: string(map, "id", at)?,
            realm: string(map, "realm", at)?,
            method: string(map, "method", at)?,
            intent: string(map, "intent", at)?,
            request,
            expires,
            description: optional_string(map, "description", at)?,
            extra: map
                .iter()
                .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// The same challenge in the HTTP form, `request` as base64url of its
    /// JCS text, for binding its id (§"Challenge Structure": "both parties
    /// MUST canonicalize `request` using JCS"). The draft defines no
    /// `opaque` or `digest` member; a server that binds one (the reference
    /// server's nonce and operation, in core's wire form) sends it as an
    /// extra string member, kept here so that its binding can be
    /// recomputed (ambiguity.mcp-binding-input). An `opaque` that is no
    /// base64url JSON object is left out: the id then does not verify.
    pub fn to_http(&self) -> Challenge {
        let text = |key: &str| self.extra.get(key).and_then(Value::as_str);
        Challenge {
            id: self.id.clone(),
            realm: self.realm.clone(),
            method: self.method.clone(),
            intent: self.intent.clone(),
            request: EncodedJson::canonical(Value::Object(self.request.clone())),
            expires: self.expires.clone(),
            digest: text("digest").map(str::to_string),
            description: self.description.clone(),
            opaque: text("opaque").and_then(|o| crate::codec::challenge::decode_opaque(o).ok()),
            unknown_params: Vec::new(),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut m = self.extra.clone();
        m.insert("id".into(), self.id.clone().into());
        m.insert("realm".into(), self.realm.clone().into());
        m.insert("method".into(), self.method.clone().into());
        m.insert("intent".into(), self.intent.clone().into());
        m.insert("request".into(), Value::Object(self.request.clone()));
        if let Some(e) = &self.expires {
            m.insert("expires".into(), e.clone().into());
        }
        if let Some(d) = &self.description {
            m.insert("description".into(), d.clone().into());
        }
        Value::Object(m)
    }
}

/// A `-32042` or `-32043` error (§"Signaling Payment Required",
/// §"Payment Verification Failure").
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRequired {
    pub code: i64,
    pub challenges: Vec<McpChallenge>,
    /// `error.data.httpStatus` (SHOULD be 402).
    pub http_status: Option<Value>,
    pub problem: Option<Value>,
    pub failure: Option<Value>,
}

impl PaymentRequired {
    /// Reads the `error` of a JSON-RPC response message.
    pub fn from_message(message: &Value) -> Result<Self> {
        let root = object(message, "message")?;
        let error = root.get("error").ok_or_else(|| missing("error"))?;
        let error = object(error, "error")?;
        let code = error
            .get("code")
            .and_then(Value::as_i64)
            .ok_or_else(|| wrong("error.code", "an integer"))?;
        if code != PAYMENT_REQUIRED && code != VERIFICATION_FAILED {
            return Err(Error::McpErrorCode { code });
        }
        let data = object(
            error.get("data").ok_or_else(|| missing("error.data"))?,
            "error.data",
        )?;
        let list = match data.get("challenges") {
            None => return Err(missing("error.data.challenges")),
            Some(Value::Array(list)) if !list.is_empty() => list,
            Some(_) => {
                return Err(wrong(
                    "error.data.challenges",
                    "an array of one or more challenge objects",
                ));
            }
        };
        let challenges = list
            .iter()
            .enumerate()
            .map(|(i, c)| McpChallenge::from_value(c, &format!("error.data.challenges[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let problem = data.get("problem").cloned();
        if let Some(p) = &problem {
            object(p, "error.data.problem")?;
        }
        Ok(Self {
            code,
            challenges,
            http_status: data.get("httpStatus").cloned(),
            problem,
            failure: data.get("failure").cloned(),
        })
    }

    pub fn parse(text: &str) -> Result<Self> {
        Self::from_message(&parse_json("message", text)?)
    }

    pub fn to_abi(&self) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), self.code.into());
        m.insert(
            "challenges".into(),
            self.challenges.iter().map(McpChallenge::to_json).collect(),
        );
        for (k, v) in [
            ("httpStatus", &self.http_status),
            ("problem", &self.problem),
            ("failure", &self.failure),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.clone());
            }
        }
        Value::Object(m)
    }
}

/// `_meta[key]` of a message, at its root or inside `nest` (`params` or
/// `result`). Both present is refused: two credentials (or receipts) in
/// one message, and which counts the draft does not say.
fn meta<'a>(message: &'a Value, nest: &str, key: &str) -> Result<Option<(&'a Value, Placement)>> {
    let root = message.get("_meta").and_then(|m| m.get(key));
    let nested = message
        .get(nest)
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(key));
    match (root, nested) {
        (Some(_), Some(_)) => Err(Error::McpBothPlacements { key: key.into() }),
        (Some(v), None) => Ok(Some((v, Placement::Root))),
        (None, Some(v)) => Ok(Some((v, Placement::Nested))),
        (None, None) => Ok(None),
    }
}

/// `org.paymentauth/credential` (§"Credential Structure").
#[derive(Debug, Clone, PartialEq)]
pub struct McpCredential {
    pub placement: Placement,
    pub challenge: McpChallenge,
    pub payload: Map<String, Value>,
    pub source: Option<String>,
}

impl McpCredential {
    /// The credential of a request message, if it carries one.
    pub fn of_request(message: &Value) -> Result<Option<Self>> {
        object(message, "message")?;
        let Some((value, placement)) = meta(message, "params", CREDENTIAL_KEY)? else {
            return Ok(None);
        };
        let at = CREDENTIAL_KEY;
        let map = object(value, at)?;
        let challenge = McpChallenge::from_value(
            map.get("challenge")
                .ok_or_else(|| missing(format!("{at}.challenge")))?,
            &format!("{at}.challenge"),
        )?;
        let payload = match map.get("payload") {
            None => return Err(missing(format!("{at}.payload"))),
            Some(Value::Object(p)) => p.clone(),
            Some(_) => return Err(wrong(format!("{at}.payload"), "a JSON object")),
        };
        Ok(Some(Self {
            placement,
            challenge,
            payload,
            source: optional_string(map, "source", at)?,
        }))
    }

    pub fn parse(text: &str) -> Result<Option<Self>> {
        Self::of_request(&parse_json("message", text)?)
    }

    pub fn to_abi(&self) -> Value {
        json!({
            "placement": self.placement.as_str(),
            "challenge": self.challenge.to_json(),
            "payload": self.payload,
            "source": self.source,
        })
    }
}

/// `org.paymentauth/receipt` (§"Receipt Structure").
#[derive(Debug, Clone, PartialEq)]
pub struct McpReceipt {
    pub placement: Placement,
    pub status: String,
    pub method: String,
    pub timestamp: String,
    pub challenge_id: String,
    pub reference: Option<String>,
}

impl McpReceipt {
    /// The receipt of a response message, if it carries one.
    pub fn of_response(message: &Value) -> Result<Option<Self>> {
        object(message, "message")?;
        let Some((value, placement)) = meta(message, "result", RECEIPT_KEY)? else {
            return Ok(None);
        };
        let at = RECEIPT_KEY;
        let map = object(value, at)?;
        let status = string(map, "status", at)?;
        if status != "success" {
            return Err(Error::ReceiptStatus { value: status });
        }
        let timestamp = string(map, "timestamp", at)?;
        rfc3339::parse("timestamp", &timestamp)?;
        Ok(Some(Self {
            placement,
            status,
            method: string(map, "method", at)?,
            timestamp,
            challenge_id: string(map, "challengeId", at)?,
            reference: optional_string(map, "reference", at)?,
        }))
    }

    pub fn parse(text: &str) -> Result<Option<Self>> {
        Self::of_response(&parse_json("message", text)?)
    }

    pub fn to_abi(&self) -> Value {
        let mut m = Map::new();
        m.insert("placement".into(), self.placement.as_str().into());
        m.insert("status".into(), self.status.clone().into());
        m.insert("method".into(), self.method.clone().into());
        m.insert("timestamp".into(), self.timestamp.clone().into());
        m.insert("challengeId".into(), self.challenge_id.clone().into());
        if let Some(r) = &self.reference {
            m.insert("reference".into(), r.clone().into());
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ERROR: &str = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32042,"message":"Payment Required","data":{"httpStatus":402,"challenges":[{"id":"qB3wErTyU7iOpAsD9fGhJk","realm":"api.example.com","method":"tempo","intent":"charge","request":{"amount":"1000","currency":"usd"},"expires":"2025-01-15T12:05:00Z"}]}}}"#;

    #[test]
    fn the_drafts_example_error_reads() {
        let p = PaymentRequired::parse(ERROR).unwrap();
        assert_eq!(p.code, PAYMENT_REQUIRED);
        assert_eq!(p.challenges[0].request["amount"], "1000");
        assert_eq!(p.http_status, Some(json!(402)));
        // The binding form: request as base64url(JCS).
        assert!(p.challenges[0].to_http().request.is_canonical());
    }

    #[test]
    fn a_base64url_request_is_refused() {
        let text = ERROR.replace(
            r#"{"amount":"1000","currency":"usd"}"#,
            r#""eyJhbW91bnQiOiIxMDAwIn0""#,
        );
        assert_eq!(
            PaymentRequired::parse(&text).unwrap_err().code(),
            "wrong-type"
        );
        let other = ERROR.replace("-32042", "-32000");
        assert_eq!(
            PaymentRequired::parse(&other).unwrap_err().code(),
            "mcp-error-code"
        );
    }

    #[test]
    fn credentials_are_found_in_both_placements_but_not_twice() {
        let cred = json!({"challenge": {"id":"x","realm":"r","method":"tempo","intent":"charge","request":{}}, "payload": {"signature":"0x1"}});
        let nested = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t","_meta":{CREDENTIAL_KEY: cred}}});
        let root =
            json!({"jsonrpc":"2.0","id":2,"method":"m","params":[],"_meta":{CREDENTIAL_KEY: cred}});
        assert_eq!(
            McpCredential::of_request(&nested)
                .unwrap()
                .unwrap()
                .placement,
            Placement::Nested
        );
        assert_eq!(
            McpCredential::of_request(&root).unwrap().unwrap().placement,
            Placement::Root
        );
        let mut both = nested.clone();
        both["_meta"] = json!({CREDENTIAL_KEY: cred});
        assert_eq!(
            McpCredential::of_request(&both).unwrap_err().code(),
            "mcp-both-placements"
        );
        assert!(
            McpCredential::of_request(&json!({"method":"tools/list"}))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn receipts_need_success_and_a_challenge_id() {
        let ok = json!({"jsonrpc":"2.0","id":2,"result":{"content":[],"_meta":{RECEIPT_KEY:{"status":"success","method":"tempo","timestamp":"2025-01-15T12:00:30Z","challengeId":"x"}}}});
        assert_eq!(
            McpReceipt::of_response(&ok).unwrap().unwrap().placement,
            Placement::Nested
        );
        let mut no_id = ok.clone();
        no_id["result"]["_meta"][RECEIPT_KEY]
            .as_object_mut()
            .unwrap()
            .remove("challengeId");
        assert_eq!(
            McpReceipt::of_response(&no_id).unwrap_err().code(),
            "missing-field"
        );
    }
}
