//! Talking to an MCP server over its Streamable HTTP transport, as the
//! checks need to: JSON-RPC messages built by hand (a check puts a
//! credential where it likes, at the root or in `params`, or breaks it),
//! answers read as JSON whether they come as one JSON body or as a
//! server-sent event, every exchange kept as evidence with credential
//! payloads redacted.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use mppconf_suite::mcp::CREDENTIAL_KEY;
use serde_json::{Value, json};

use crate::server_suite::Exchange;

/// The MCP revision the harness asks for (the newest the SDKs we target
/// all speak without extra headers).
pub const PROTOCOL_VERSION: &str = "2025-06-18";
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
const BODY_LIMIT: usize = 1 << 20;

/// One MCP endpoint, and what the harness keeps of talking to it.
pub struct Session {
    endpoint: String,
    http: reqwest::Client,
    /// `Mcp-Session-Id`, once the server gave one.
    session_id: Mutex<Option<String>>,
    next_id: AtomicI64,
    evidence: Mutex<Vec<Exchange>>,
}

impl Session {
    pub fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_string(),
            http: reqwest::Client::builder()
                .timeout(ANSWER_TIMEOUT)
                .build()
                .unwrap_or_default(),
            session_id: Mutex::new(None),
            next_id: AtomicI64::new(1),
            evidence: Mutex::new(Vec::new()),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The exchanges since the last call.
    pub fn take_evidence(&self) -> Vec<Exchange> {
        self.evidence
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }

    /// `initialize` and `notifications/initialized`: the server's
    /// `InitializeResult`. A session id it gives is kept for what follows.
    pub async fn initialize(&self) -> Result<Value, String> {
        let answer = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "mppconf", "version": env!("CARGO_PKG_VERSION")},
                }),
            )
            .await?;
        let result = answer
            .get("result")
            .cloned()
            .ok_or_else(|| format!("initialize was not answered with a result: {answer}"))?;
        self.notify(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(result)
    }

    /// A request of `method` with `params`: the answer message.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, String> {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await
    }

    /// Sends a request message (its `id` set here): the answer message.
    pub async fn send(&self, mut message: Value) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        message["id"] = id.into();
        let (status, body) = self.post(&message).await?;
        // A JSON-RPC error under a 4xx (an SDK refusing the message
        // itself) is an answer the checks judge; anything else is not.
        match answer_of(&body, id) {
            Ok(answer) if (200..300).contains(&status) || answer.get("jsonrpc").is_some() => {
                Ok(answer)
            }
            _ => Err(format!("HTTP {status} to a JSON-RPC request: {body}")),
        }
    }

    /// Sends a notification (no id, no answer expected).
    pub async fn notify(&self, message: Value) -> Result<(), String> {
        let (status, body) = self.post(&message).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("HTTP {status} to a notification: {body}"))
        }
    }

    async fn post(&self, message: &Value) -> Result<(u16, String), String> {
        let mut rb = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .body(message.to_string());
        let session = self.session_id.lock().ok().and_then(|s| s.clone());
        if let Some(s) = &session {
            rb = rb.header("mcp-session-id", s);
        }
        let start = Instant::now();
        let mut exchange = Exchange {
            request: format!("POST {}\n{}", self.endpoint, redacted(message)),
            status: 0,
            headers: Vec::new(),
            body: String::new(),
            millis: 0.0,
            error: None,
        };
        let outcome = async {
            let response = rb.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let bytes = response.bytes().await.map_err(|e| e.to_string())?;
            if bytes.len() > BODY_LIMIT {
                return Err(format!("an answer over {BODY_LIMIT} bytes"));
            }
            Ok((
                status,
                headers,
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        }
        .await;
        exchange.millis = crate::server_suite::millis(start.elapsed());
        let result = match outcome {
            Ok((status, headers, body)) => {
                if let Some((_, id)) = headers.iter().find(|(k, _)| k == "mcp-session-id")
                    && let Ok(mut s) = self.session_id.lock()
                {
                    *s = Some(id.clone());
                }
                exchange.status = status;
                exchange.headers = headers;
                exchange.body = body.clone();
                Ok((status, body))
            }
            Err(e) => {
                exchange.error = Some(e.clone());
                Err(e)
            }
        };
        if let Ok(mut ev) = self.evidence.lock() {
            ev.push(exchange);
        }
        result
    }
}

/// The answer to request `id` in a body: one JSON message, or the
/// `data` of the server-sent events of a `text/event-stream`.
fn answer_of(body: &str, id: i64) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return Ok(v);
    }
    let mut data = String::new();
    let mut events = Vec::new();
    for line in body.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if !data.is_empty() {
                events.push(std::mem::take(&mut data));
            }
        } else if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .find(|m| m.get("id") == Some(&json!(id)))
        .ok_or_else(|| {
            format!(
                "no JSON-RPC answer to request {id} in the body: {}",
                body.chars().take(300).collect::<String>()
            )
        })
}

/// The message as evidence: a credential's payload (what pays) replaced
/// by its size.
fn redacted(message: &Value) -> String {
    let mut m = message.clone();
    if let Some(meta) = m.get_mut("_meta") {
        redact_in(meta);
    }
    if let Some(meta) = m.get_mut("params").and_then(|p| p.get_mut("_meta")) {
        redact_in(meta);
    }
    m.to_string()
}

fn redact_in(meta: &mut Value) {
    if let Some(payload) = meta
        .get_mut(CREDENTIAL_KEY)
        .and_then(|c| c.get_mut("payload"))
    {
        let size = payload.to_string().len();
        *payload = format!("(redacted, {size} bytes)").into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_come_as_json_or_as_events() {
        let json = r#"{"jsonrpc":"2.0","id":3,"result":{}}"#;
        assert_eq!(answer_of(json, 3).unwrap()["id"], 3);
        let sse = format!("event: message\ndata: {{}}\n\nevent: message\ndata: {json}\n\n");
        assert_eq!(answer_of(&sse, 3).unwrap()["result"], json!({}));
        assert!(answer_of(&sse, 4).is_err());
    }

    #[test]
    fn credential_payloads_are_redacted_in_both_placements() {
        let cred = json!({"challenge": {}, "payload": {"signature": "0xsecret"}});
        let m =
            json!({"_meta": {CREDENTIAL_KEY: cred}, "params": {"_meta": {CREDENTIAL_KEY: cred}}});
        let text = redacted(&m);
        assert!(!text.contains("0xsecret"), "{text}");
        assert_eq!(text.matches("redacted").count(), 2);
    }
}
