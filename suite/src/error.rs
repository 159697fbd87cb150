//! The one error type of the suite crate.
//!
//! Every rejection carries a stable [`Error::code`] (used by vectors as
//! `error_code`, and so never renamed) and maps onto one of the error types of
//! the cross-SDK adapter ABI through [`Error::abi_type`].

use std::fmt;

/// The error `type` strings of the cross-SDK adapter ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AbiErrorType {
    Parse,
    Format,
    Encoding,
    Generation,
    Http,
    Verification,
    UnsupportedOperation,
    Unknown,
}

impl AbiErrorType {
    pub const ALL: [AbiErrorType; 8] = [
        AbiErrorType::Parse,
        AbiErrorType::Format,
        AbiErrorType::Encoding,
        AbiErrorType::Generation,
        AbiErrorType::Http,
        AbiErrorType::Verification,
        AbiErrorType::UnsupportedOperation,
        AbiErrorType::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AbiErrorType::Parse => "parse_error",
            AbiErrorType::Format => "format_error",
            AbiErrorType::Encoding => "encoding_error",
            AbiErrorType::Generation => "generation_error",
            AbiErrorType::Http => "http_error",
            AbiErrorType::Verification => "verification_error",
            AbiErrorType::UnsupportedOperation => "unsupported_operation",
            AbiErrorType::Unknown => "unknown_error",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for AbiErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a base64url text deviates from `base64url-nopad` (RFC 4648 §5, no `=`).
///
/// Padding and the standard alphabet are classified rather than silently
/// accepted: the core draft forbids both on the wire, and a parser that takes
/// them is lenient, which a report should show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64Deviation {
    /// Trailing `=` padding (`core.challenge.request-no-padding`).
    Padding,
    /// `+` or `/` from the standard alphabet (RFC 4648 §4).
    StandardAlphabet,
    /// A character outside both alphabets, or an impossible length.
    InvalidCharacter,
    /// Non-zero bits after the last full byte: two texts would decode alike.
    NonCanonicalTrailingBits,
    /// No characters at all (`1*( ALPHA / DIGIT / "-" / "_" )`).
    Empty,
}

impl Base64Deviation {
    pub fn code(self) -> &'static str {
        match self {
            Base64Deviation::Padding => "base64url-padding",
            Base64Deviation::StandardAlphabet => "base64url-standard-alphabet",
            Base64Deviation::InvalidCharacter => "base64url-invalid",
            Base64Deviation::NonCanonicalTrailingBits => "base64url-non-canonical",
            Base64Deviation::Empty => "base64url-empty",
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    // Header grammar (RFC 9110 §11 auth-params, §5.6 lists).
    #[error("unterminated quoted-string starting at byte {at}")]
    UnterminatedQuote { at: usize },
    #[error("invalid quoted-pair escape at byte {at}")]
    BadEscape { at: usize },
    #[error("character {found:?} not allowed at byte {at}: {context}")]
    UnexpectedChar {
        at: usize,
        found: char,
        context: &'static str,
    },
    #[error("unexpected end of header: {context}")]
    UnexpectedEnd { context: &'static str },
    #[error("missing comma between auth-params at byte {at}")]
    MissingComma { at: usize },
    #[error("parameter {name:?} appears more than once")]
    DuplicateParam { name: String },
    #[error("the header holds no Payment challenge")]
    NoPaymentChallenge,
    #[error("scheme {found:?} is not Payment")]
    NotPaymentScheme { found: String },

    // Challenge parameters (draft-httpauth-payment-00 §"Required Parameters").
    #[error("required parameter {name:?} is missing")]
    MissingParam { name: &'static str },
    #[error("parameter \"id\" is empty after unescaping")]
    EmptyId,
    #[error("method {value:?} is not 1*LOWERALPHA")]
    InvalidMethod { value: String },
    #[error("intent {value:?} is not 1*( ALPHA / DIGIT / \"-\" )")]
    InvalidIntent { value: String },
    #[error("{field} {value:?} is not an RFC 3339 date-time")]
    InvalidTimestamp { field: &'static str, value: String },
    #[error("digest {value:?} is not an RFC 9530 Content-Digest value: {reason}")]
    InvalidDigest { value: String, reason: &'static str },
    #[error("opaque is not base64url of a flat JSON object of strings: {reason}")]
    InvalidOpaque { reason: String },
    /// draft-httpauth-payment-01 §"Credentials": "Clients MUST treat any
    /// other `header` value as an unrecognized challenge".
    #[error(
        "header {value:?} is not \"Payment-Authorization\", the only field a challenge may select"
    )]
    InvalidCredentialHeader { value: String },
    #[error("{field} is not base64url-nopad: {}", deviation.code())]
    Base64 {
        field: &'static str,
        deviation: Base64Deviation,
    },
    #[error("{field} does not decode to UTF-8 text")]
    InvalidUtf8 { field: &'static str },
    #[error("{field} is not valid JSON: {reason}")]
    InvalidJson { field: &'static str, reason: String },
    #[error("{field} is not a JSON object")]
    NotAnObject { field: &'static str },

    // Credential and receipt objects.
    #[error("field {field:?} is missing")]
    MissingField { field: String },
    #[error("field {field:?} must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("receipt status {value:?} is not \"success\"")]
    ReceiptStatus { value: String },

    // Accept-Payment.
    #[error("payment-range {value:?} is not method/intent with optional weight: {reason}")]
    InvalidPaymentRange { value: String, reason: &'static str },

    // Formatting.
    #[error("cannot format {field}: {reason}")]
    Unformattable { field: &'static str, reason: String },

    // Content-Digest verification.
    #[error("no supported digest algorithm in {value:?}")]
    UnsupportedDigestAlgorithm { value: String },

    // Request schema violations, each naming its catalogue requirement.
    #[error("request violates {requirement} at {path}: {reason}")]
    RequestSchema {
        requirement: &'static str,
        path: String,
        reason: String,
    },

    // Credential payload violations of a method's rules
    // (`vectors/methods/`), each naming its catalogue requirement.
    #[error("payload violates {requirement} at {path}: {reason}")]
    PayloadSchema {
        requirement: &'static str,
        path: String,
        reason: String,
    },

    // Session vouchers (draft-tempo-session-00 §"Voucher Signing
    // Format"), each naming its catalogue requirement.
    #[error("voucher violates {requirement}: {reason}")]
    Voucher {
        requirement: &'static str,
        reason: String,
    },

    // Discovery documents (draft-payment-discovery-00), each naming its
    // catalogue requirement.
    #[error("discovery document violates {requirement} at {path}: {reason}")]
    Discovery {
        requirement: &'static str,
        path: String,
        reason: String,
    },

    // MCP transport messages (draft-payment-transport-mcp-00).
    #[error("JSON-RPC error code {code} is not a payment challenge (-32042 or -32043)")]
    McpErrorCode { code: i64 },
    #[error("_meta[{key:?}] is both at the message root and nested: two in one message")]
    McpBothPlacements { key: String },

    // Adapter operations.
    #[error("operation {op:?} is not supported")]
    UnsupportedOperation { op: String },
    #[error("input of {op}: {reason}")]
    BadOpInput { op: String, reason: String },
}

impl Error {
    /// A stable, kebab-case code for this rejection; vectors refer to it.
    pub fn code(&self) -> String {
        let code = match self {
            Error::UnterminatedQuote { .. } => "unterminated-quote",
            Error::BadEscape { .. } => "bad-escape",
            Error::UnexpectedChar { .. } => "unexpected-character",
            Error::UnexpectedEnd { .. } => "unexpected-end",
            Error::MissingComma { .. } => "missing-comma",
            Error::DuplicateParam { .. } => "duplicate-param",
            Error::NoPaymentChallenge => "no-payment-challenge",
            Error::NotPaymentScheme { .. } => "not-payment-scheme",
            Error::MissingParam { .. } => "missing-param",
            Error::EmptyId => "empty-id",
            Error::InvalidMethod { .. } => "invalid-method",
            Error::InvalidIntent { .. } => "invalid-intent",
            Error::InvalidTimestamp { .. } => "invalid-timestamp",
            Error::InvalidDigest { .. } => "invalid-digest",
            Error::InvalidOpaque { .. } => "invalid-opaque",
            Error::InvalidCredentialHeader { .. } => "invalid-credential-header",
            Error::Base64 { deviation, .. } => deviation.code(),
            Error::InvalidUtf8 { .. } => "invalid-utf8",
            Error::InvalidJson { .. } => "invalid-json",
            Error::NotAnObject { .. } => "not-an-object",
            Error::MissingField { .. } => "missing-field",
            Error::WrongType { .. } => "wrong-type",
            Error::ReceiptStatus { .. } => "receipt-status",
            Error::InvalidPaymentRange { .. } => "invalid-payment-range",
            Error::Unformattable { .. } => "unformattable",
            Error::UnsupportedDigestAlgorithm { .. } => "unsupported-digest-algorithm",
            Error::RequestSchema { requirement, .. }
            | Error::PayloadSchema { requirement, .. }
            | Error::Voucher { requirement, .. }
            | Error::Discovery { requirement, .. } => {
                return (*requirement).to_string();
            }
            Error::McpErrorCode { .. } => "mcp-error-code",
            Error::McpBothPlacements { .. } => "mcp-both-placements",
            Error::UnsupportedOperation { .. } => "unsupported-operation",
            Error::BadOpInput { .. } => "bad-input",
        };
        code.to_string()
    }

    /// The ABI error type this error is reported as when no operation
    /// context decides otherwise (see [`crate::ops`]).
    pub fn abi_type(&self) -> AbiErrorType {
        match self {
            Error::Unformattable { .. } => AbiErrorType::Format,
            Error::RequestSchema { .. }
            | Error::PayloadSchema { .. }
            | Error::Voucher { .. }
            | Error::UnsupportedDigestAlgorithm { .. } => AbiErrorType::Verification,
            Error::UnsupportedOperation { .. } => AbiErrorType::UnsupportedOperation,
            Error::BadOpInput { .. } => AbiErrorType::Unknown,
            _ => AbiErrorType::Parse,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
