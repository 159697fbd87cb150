//! What a check sends and sees: the target resource, one exchange with
//! it as kept for evidence, the answer (bounded in time and size) with
//! its challenges and problem details, and the outcome a check concludes.

use mppconf_suite::codec::{Challenge, ProblemDetails};
use mppconf_suite::vectors::Verdict;
use serde::Serialize;

/// One protected resource of a server.
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: String,
    pub path: String,
    pub method: String,
    pub body: Option<Vec<u8>>,
    /// The chain the server settles on.
    pub rpc_url: String,
    /// The authority that signed the server's TLS certificate, when it is
    /// not one the system trusts (`--ca-cert`, the harness's own).
    pub ca: Option<reqwest::Certificate>,
}

impl Target {
    pub fn url(&self) -> String {
        format!("{}{}", self.base_url, self.path)
    }
}

/// One HTTP exchange, as evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub request: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// From sending the request to the end of the answer (or of waiting
    /// for it): time spent in the target, not in the harness.
    pub millis: f64,
    /// Why the exchange gave no usable answer (the target hung, dropped
    /// the connection, answered something that is not HTTP, or an error
    /// body over the limit); `status` is then 0 unless a status line came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A response as the checks read it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `WWW-Authenticate` field value, read as UTF-8 (RFC 9110
    /// obs-text, e.g. a non-ASCII realm, is kept for the checks to judge,
    /// not dropped with its field).
    pub fn challenge_fields(&self) -> Vec<String> {
        self.headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The Payment challenges, each parsed or refused.
    pub fn challenges(&self) -> Vec<Result<Challenge, String>> {
        match mppconf_suite::codec::challenge::parse_all(&self.challenge_fields()) {
            Ok(all) => all
                .into_iter()
                .map(|c| c.map_err(|e| e.to_string()))
                .collect(),
            Err(e) => vec![Err(e.to_string())],
        }
    }

    pub fn problem(&self) -> Option<ProblemDetails> {
        ProblemDetails::parse(&self.body).ok()
    }
}

/// What one check concluded.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub detail: String,
}

impl Outcome {
    pub fn pass(detail: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Pass,
            detail: detail.into(),
        }
    }

    pub fn fail(expected: impl std::fmt::Display, actual: impl std::fmt::Display) -> Self {
        Self {
            verdict: Verdict::Fail,
            detail: format!("Expected: {expected}\nActual: {actual}"),
        }
    }

    pub fn error(why: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Error,
            detail: why.into(),
        }
    }

    /// A SHOULD is not met.
    pub fn warn(detail: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Warn,
            detail: detail.into(),
        }
    }

    pub fn skip(why: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Skip,
            detail: why.into(),
        }
    }

    /// Not judged: what the check reads did not happen (another check
    /// says why).
    pub fn blocked(why: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Blocked,
            detail: why.into(),
        }
    }
}

/// Headers worth keeping as evidence, credentials redacted.
pub(super) fn redact(name: &str, value: &str) -> String {
    let credential_field = name.eq_ignore_ascii_case("authorization")
        || name.eq_ignore_ascii_case("payment-authorization");
    if credential_field && value.len() > 24 {
        format!(
            "{}… ({} bytes, redacted)",
            &value[..16.min(value.len())],
            value.len()
        )
    } else {
        value.to_string()
    }
}

/// A reqwest error with its causes ("error sending request" alone does
/// not say that the connection was reset or the status line was garbage).
pub(super) fn describe(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Whether a transport failure is a pooled connection the target reset or
/// closed under the request: worth one more try on a fresh connection.
pub(super) fn stale_connection(failure: &str) -> bool {
    failure.contains("connection closed before message completed")
        || failure.contains("Connection reset by peer")
        || failure.contains("broken pipe")
}
