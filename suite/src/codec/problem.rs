//! RFC 9457 problem details with the MPP problem types
//! (draft-httpauth-payment-00 §"Error Response Format", §"Error Codes").

use serde_json::{Map, Value, json};

use super::json::parse_json;
use crate::error::{Error, Result};

/// The canonical base URI of MPP problem types.
pub const PROBLEM_BASE: &str = "https://paymentauth.org/problems/";

/// The problem types of the core draft's error code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    PaymentRequired,
    PaymentInsufficient,
    PaymentExpired,
    VerificationFailed,
    MethodUnsupported,
    MalformedCredential,
    InvalidChallenge,
}

impl ProblemType {
    pub const ALL: [ProblemType; 7] = [
        ProblemType::PaymentRequired,
        ProblemType::PaymentInsufficient,
        ProblemType::PaymentExpired,
        ProblemType::VerificationFailed,
        ProblemType::MethodUnsupported,
        ProblemType::MalformedCredential,
        ProblemType::InvalidChallenge,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ProblemType::PaymentRequired => "payment-required",
            ProblemType::PaymentInsufficient => "payment-insufficient",
            ProblemType::PaymentExpired => "payment-expired",
            ProblemType::VerificationFailed => "verification-failed",
            ProblemType::MethodUnsupported => "method-unsupported",
            ProblemType::MalformedCredential => "malformed-credential",
            ProblemType::InvalidChallenge => "invalid-challenge",
        }
    }

    /// The HTTP status of the error code table.
    pub fn status(self) -> u16 {
        match self {
            ProblemType::MethodUnsupported => 400,
            _ => 402,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemType::PaymentRequired => "Payment Required",
            ProblemType::PaymentInsufficient => "Payment Insufficient",
            ProblemType::PaymentExpired => "Payment Expired",
            ProblemType::VerificationFailed => "Payment Verification Failed",
            ProblemType::MethodUnsupported => "Method Unsupported",
            ProblemType::MalformedCredential => "Malformed Credential",
            ProblemType::InvalidChallenge => "Invalid Challenge",
        }
    }

    pub fn uri(self) -> String {
        format!("{PROBLEM_BASE}{}", self.code())
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        let code = uri.strip_prefix(PROBLEM_BASE)?;
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// A problem+json body of this type.
    pub fn body(self, detail: &str) -> Value {
        json!({ "type": self.uri(), "title": self.title(), "status": self.status(), "detail": detail })
    }
}

/// A problem details object (RFC 9457 §3).
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemDetails {
    /// `type`, "about:blank" when absent (RFC 9457 §3.1.1).
    pub type_uri: String,
    pub status: Option<u16>,
    pub title: Option<String>,
    pub detail: Option<String>,
    pub extensions: Map<String, Value>,
}

impl ProblemDetails {
    pub fn parse(body: &str) -> Result<Self> {
        let value = parse_json("problem", body)?;
        let map = value
            .as_object()
            .ok_or(Error::NotAnObject { field: "problem" })?;
        // RFC 9457 §3.1: "If a member's value type does not match the
        // specified type, the member MUST be ignored".
        let text = |f: &str| map.get(f).and_then(Value::as_str).map(str::to_string);
        let status = map
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (100..=599).contains(s));
        Ok(Self {
            type_uri: text("type").unwrap_or_else(|| "about:blank".into()),
            status,
            title: text("title"),
            detail: text("detail"),
            extensions: map
                .iter()
                .filter(|(k, _)| !["type", "status", "title", "detail"].contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    pub fn problem_type(&self) -> Option<ProblemType> {
        ProblemType::from_uri(&self.type_uri)
    }

    pub fn to_abi(&self) -> Value {
        json!({
            "type": self.type_uri,
            "status": self.status,
            "title": self.title,
            "detail": self.detail,
            "code": self.problem_type().map(ProblemType::code),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_mpp_types() {
        let p =
            ProblemDetails::parse(&ProblemType::InvalidChallenge.body("x").to_string()).unwrap();
        assert_eq!(p.problem_type(), Some(ProblemType::InvalidChallenge));
        assert_eq!(p.status, Some(402));
        let blank = ProblemDetails::parse("{}").unwrap();
        assert_eq!(blank.type_uri, "about:blank");
        assert_eq!(blank.problem_type(), None);
    }
}
