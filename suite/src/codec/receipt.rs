//! The `Payment-Receipt` header (draft-httpauth-payment-00
//! §"Payment-Receipt Header", §"Receipt Status Semantics").
//!
//! ```abnf
//! Payment-Receipt = base64url-nopad
//! ```

use serde_json::{Map, Value};

use super::json::{self, required_str};
use super::{base64url, rfc3339};
use crate::error::{Error, Result};

/// A decoded receipt. Method specifications may add fields ("Payment method
/// specifications MAY define additional fields for receipts"), so every
/// other member is kept in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub status: String,
    pub method: String,
    pub timestamp: String,
    pub reference: String,
    pub extra: Map<String, Value>,
}

const FIELDS: [&str; 4] = ["status", "method", "timestamp", "reference"];

impl Receipt {
    /// Parses a `Payment-Receipt` field value.
    pub fn parse(field: &str) -> Result<Self> {
        let text = base64url::decode_text("receipt", field.trim_matches([' ', '\t']))?;
        let value = json::parse_json("receipt", &text)?;
        Self::from_abi(&value)
    }

    /// Validates a receipt object: the four fields are strings, `status` is
    /// exactly "success" and `timestamp` is RFC 3339.
    pub fn from_abi(value: &Value) -> Result<Self> {
        let map = value
            .as_object()
            .ok_or(Error::NotAnObject { field: "receipt" })?;
        let [status, method, timestamp, reference] =
            FIELDS.map(|f| required_str(map, f, "").map(str::to_string));
        let (status, method, timestamp, reference) = (status?, method?, timestamp?, reference?);
        if status != "success" {
            return Err(Error::ReceiptStatus { value: status });
        }
        rfc3339::parse("timestamp", &timestamp)?;
        Ok(Self {
            status,
            method,
            timestamp,
            reference,
            extra: map
                .iter()
                .filter(|(k, _)| !FIELDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// The receipt object, extra fields after the four defined ones.
    pub fn to_abi(&self) -> Value {
        let mut m = Map::new();
        m.insert("status".into(), self.status.clone().into());
        m.insert("method".into(), self.method.clone().into());
        m.insert("timestamp".into(), self.timestamp.clone().into());
        m.insert("reference".into(), self.reference.clone().into());
        m.extend(self.extra.clone());
        Value::Object(m)
    }

    /// Formats the field value: base64url-nopad of the JSON object.
    pub fn to_header(&self) -> String {
        base64url::encode(serde_json::to_string(&self.to_abi()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_example_receipt_parses() {
        // draft-httpauth-payment-00 §"One-Time Charge", Success.
        let r = Receipt::parse("eyJzdGF0dXMiOiJzdWNjZXNzIiwibWV0aG9kIjoiaW52b2ljZSIsInRpbWVzdGFtcCI6IjIwMjUtMDEtMTVUMTI6MDA6MDBaIiwicmVmZXJlbmNlIjoiaW52XzEyMzQ1In0").unwrap();
        assert_eq!(r.reference, "inv_12345");
        assert_eq!(Receipt::parse(&r.to_header()).unwrap(), r);
    }

    #[test]
    fn status_must_be_success() {
        let v = json!({"status": "failed", "method": "tempo", "timestamp": "2025-01-15T12:00:00Z", "reference": "0x1"});
        assert!(matches!(
            Receipt::from_abi(&v),
            Err(Error::ReceiptStatus { .. })
        ));
    }
}
