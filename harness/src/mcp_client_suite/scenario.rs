//! The MCP scenario server: per scenario a fresh Streamable HTTP endpoint
//! (`POST /mcp`) in front of the run's reference MCP endpoint, which
//! issues the challenges and verifies and settles on the chain. The
//! scenario records every message the client sends and what answered it,
//! and bends the answers as its script says (an offer the client cannot
//! pay first, an expired or malformed challenge, a scripted `-32043`, no
//! capability).
//!
//! A credential found in any `_meta` (at the root, in `params`, under any
//! key) is handed on where the reference endpoint reads it, once: where
//! the client put it is the placement checks' business, so a misplaced
//! credential fails them and not the payment as well.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mppconf_suite::mcp::{CREDENTIAL_KEY, PAYMENT_REQUIRED, VERIFICATION_FAILED};
use serde::Serialize;
use serde_json::{Value, json};

use crate::background::Background;
use crate::error::{Error, Result};

/// How a scenario bends the reference endpoint's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// As they come.
    AsIs,
    /// An offer of a method no client has (`mppconf-unpayable`) before
    /// the payable one.
    UnpayableFirst,
    /// Every challenge's `expires` a minute in the past.
    Expired,
    /// Challenges without `realm` (a required member).
    NoRealm,
    /// The first credential answered `-32043` with a fresh challenge,
    /// without reaching the reference endpoint.
    FailFirstCredential,
    /// No payment capability in the `InitializeResult`.
    NoCapability,
}

/// The method of the offer nobody can pay.
pub const UNPAYABLE_METHOD: &str = "mppconf-unpayable";

/// One message the client sent, and the answer it got.
#[derive(Debug, Clone, Serialize)]
pub struct SeenMessage {
    /// The HTTP method it came with (a GET or DELETE has no message).
    pub http: String,
    pub message: Value,
    /// `None`: no JSON-RPC answer (a notification, a GET).
    pub answer: Option<Value>,
    /// The answer was the script's `-32043`, not the reference endpoint's.
    pub scripted_refusal: bool,
}

impl SeenMessage {
    /// The challenges its answer carried.
    pub fn challenges(&self) -> Vec<Value> {
        self.answer
            .as_ref()
            .and_then(|a| a.pointer("/error/data/challenges"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
}

/// Every object in a message's `_meta` (root or `params`) that is a
/// credential: under the draft's key, or any object with a `challenge`
/// or `payload` member; with where it was (`_meta` or `params._meta`, and
/// the key).
pub fn credentials_in(message: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (at, meta) in [
        ("_meta", message.get("_meta")),
        ("params._meta", message.pointer("/params/_meta")),
    ] {
        let Some(meta) = meta.and_then(Value::as_object) else {
            continue;
        };
        for (key, value) in meta {
            if is_credential(key, value) {
                found.push((format!("{at}[{key:?}]"), value.clone()));
            }
        }
    }
    found
}

/// A `_meta` member that is a credential: under the draft's key, or an
/// object with a `challenge` or `payload` member.
fn is_credential(key: &str, value: &Value) -> bool {
    key == CREDENTIAL_KEY
        || value
            .as_object()
            .is_some_and(|o| o.contains_key("challenge") || o.contains_key("payload"))
}

struct State {
    script: Script,
    /// The reference MCP endpoint.
    upstream: String,
    seen: Arc<Mutex<Vec<SeenMessage>>>,
    failed_once: AtomicBool,
    http: reqwest::Client,
}

/// A running scenario; stops when dropped.
pub struct McpScenario {
    server: Background,
    seen: Arc<Mutex<Vec<SeenMessage>>>,
}

impl McpScenario {
    pub async fn start(script: Script, upstream: &str) -> Result<Self> {
        let seen: Arc<Mutex<Vec<SeenMessage>>> = Arc::default();
        let state = Arc::new(State {
            script,
            upstream: upstream.to_string(),
            seen: seen.clone(),
            failed_once: AtomicBool::new(false),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(|e| Error::Setup(e.to_string()))?,
        });
        let app = axum::Router::new().route(
            crate::reference::server::mcp::PATH,
            axum::routing::any(move |method: Method, body: Bytes| {
                let state = state.clone();
                async move { answer(&state, method, body).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Setup(format!("MCP scenario server: cannot listen: {e}")))?;
        Ok(Self {
            server: Background::serve(listener, app)?,
            seen,
        })
    }

    /// The endpoint the client is given.
    pub fn endpoint(&self) -> String {
        format!(
            "{}{}",
            self.server.url(),
            crate::reference::server::mcp::PATH
        )
    }

    pub fn seen(&self) -> Vec<SeenMessage> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn answer(state: &State, method: Method, body: Bytes) -> Response {
    let record = |s: SeenMessage| {
        if let Ok(mut seen) = state.seen.lock() {
            seen.push(s);
        }
    };
    if method != Method::POST {
        // No server-initiated stream and no session to end: 405, as
        // Streamable HTTP allows.
        record(SeenMessage {
            http: method.to_string(),
            message: Value::Null,
            answer: None,
            scripted_refusal: false,
        });
        let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let message: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let credentials = credentials_in(&message);
    let mut scripted_refusal = false;
    let forwarded = normalized(&message, credentials.first().map(|(_, c)| c.clone()));
    let mut answer = if state.script == Script::FailFirstCredential
        && !credentials.is_empty()
        && !state.failed_once.swap(true, Ordering::SeqCst)
    {
        // A fresh challenge for the same call, as a verification failure.
        scripted_refusal = true;
        forward(state, &normalized(&message, None))
            .await
            .map(|a| a.map(refusal))
    } else {
        forward(state, &forwarded).await
    };
    if let Ok(Some(a)) = &mut answer {
        bend(state.script, &message, a);
    }
    match answer {
        Ok(answer) => {
            record(SeenMessage {
                http: "POST".into(),
                message,
                answer: answer.clone(),
                scripted_refusal,
            });
            match answer {
                Some(a) => {
                    let mut r = (StatusCode::OK, a.to_string()).into_response();
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    r
                }
                None => StatusCode::ACCEPTED.into_response(),
            }
        }
        Err(why) => {
            record(SeenMessage {
                http: "POST".into(),
                message,
                answer: Some(json!({"harness error": why})),
                scripted_refusal,
            });
            (StatusCode::BAD_GATEWAY, why).into_response()
        }
    }
}

/// The message as the reference endpoint reads it: every credential
/// removed, `credential` (if any) at `params._meta[CREDENTIAL_KEY]`.
fn normalized(message: &Value, credential: Option<Value>) -> Value {
    let mut m = message.clone();
    for at in ["/_meta", "/params/_meta"] {
        if let Some(meta) = m.pointer_mut(at).and_then(Value::as_object_mut) {
            meta.retain(|k, v| !is_credential(k, v));
        }
    }
    if let Some(c) = credential
        && m.get("params").is_some_and(Value::is_object)
    {
        if !m["params"]["_meta"].is_object() {
            m["params"]["_meta"] = json!({});
        }
        m["params"]["_meta"][CREDENTIAL_KEY] = c;
    }
    m
}

/// Posts a message to the reference endpoint: its answer, `None` for
/// none (a notification's 202).
async fn forward(state: &State, message: &Value) -> std::result::Result<Option<Value>, String> {
    let response = state
        .http
        .post(&state.upstream)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(message.to_string())
        .send()
        .await
        .map_err(|e| format!("the reference MCP endpoint: {e}"))?;
    let text = response
        .text()
        .await
        .map_err(|e| format!("the reference MCP endpoint: {e}"))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("the reference MCP endpoint answered no JSON ({e}): {text}"))
}

/// A `-32042` turned into the script's `-32043`.
fn refusal(mut answer: Value) -> Value {
    if answer.pointer("/error/code").and_then(Value::as_i64) == Some(PAYMENT_REQUIRED) {
        answer["error"]["code"] = VERIFICATION_FAILED.into();
        answer["error"]["message"] = "Payment Verification Failed".into();
        answer["error"]["data"]["failure"] = json!({
            "reason": "verification-failed",
            "detail": "mppconf's scenario refuses the first credential it is sent",
        });
    }
    answer
}

/// Applies the script to an answer.
fn bend(script: Script, message: &Value, answer: &mut Value) {
    if message["method"] == "initialize" && script == Script::NoCapability {
        if let Some(e) = answer
            .pointer_mut("/result/capabilities/experimental")
            .and_then(Value::as_object_mut)
        {
            e.remove("payment");
        }
        return;
    }
    let Some(challenges) = answer
        .pointer_mut("/error/data/challenges")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for c in challenges.iter_mut() {
        // What the echo checks compare: a member the binding leaves out.
        if c.get("description").is_none() {
            c["description"] = "mppconf scenario: one paid call".into();
        }
        match script {
            Script::Expired => c["expires"] = super::rfc3339_in(-60).into(),
            Script::NoRealm => {
                if let Some(o) = c.as_object_mut() {
                    o.remove("realm");
                }
            }
            _ => {}
        }
    }
    if script == Script::UnpayableFirst
        && let Some(first) = challenges.first().cloned()
    {
        let mut other = first;
        other["id"] = alloy::primitives::B128::random().to_string().into();
        other["method"] = UNPAYABLE_METHOD.into();
        challenges.insert(0, other);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_anywhere_and_handed_on_once() {
        let c = json!({"challenge": {"id": "x"}, "payload": {}});
        let m = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "_meta": {CREDENTIAL_KEY: c},
            "params": {"name": "t", "_meta": {"paymentauth/credential": c, "trace": 1}}});
        let found = credentials_in(&m);
        assert_eq!(found.len(), 2, "{found:?}");
        let n = normalized(&m, Some(c.clone()));
        assert!(n.get("_meta").unwrap().as_object().unwrap().is_empty());
        assert_eq!(n["params"]["_meta"][CREDENTIAL_KEY], c);
        assert_eq!(n["params"]["_meta"]["trace"], 1);
        assert_eq!(credentials_in(&n).len(), 1);
    }

    #[test]
    fn scripts_bend_challenges() {
        let answer = json!({"error": {"code": PAYMENT_REQUIRED, "data": {"challenges": [
            {"id": "a", "realm": "r", "method": "tempo", "intent": "charge", "request": {}}]}}});
        let call = json!({"method": "tools/call"});
        let mut two = answer.clone();
        bend(Script::UnpayableFirst, &call, &mut two);
        let offered = two["error"]["data"]["challenges"].as_array().unwrap();
        assert_eq!(offered[0]["method"], UNPAYABLE_METHOD);
        assert_ne!(offered[0]["id"], offered[1]["id"]);
        let mut no_realm = answer.clone();
        bend(Script::NoRealm, &call, &mut no_realm);
        assert!(
            no_realm["error"]["data"]["challenges"][0]
                .get("realm")
                .is_none()
        );
        let failed = refusal(answer);
        assert_eq!(failed["error"]["code"], VERIFICATION_FAILED);
        assert!(failed["error"]["data"]["failure"]["reason"].is_string());
    }
}
