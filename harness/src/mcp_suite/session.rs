//! Talking to an MCP server over either of its transports, as the checks
//! need to: Streamable HTTP (POST; answers as one JSON body or as
//! server-sent events; `Mcp-Session-Id` kept) or stdio (a child process,
//! one JSON-RPC message per line each way, answers matched to requests by
//! id so that concurrent requests stay concurrent). JSON-RPC messages are
//! built by hand (a check puts a credential where it likes, at the root
//! or in `params`, or breaks it); every exchange is kept as evidence with
//! credential payloads redacted.
//!
//! No MCP crate frames these messages: the checks must send what a
//! conformant client never would (a root-level `_meta`, a credential
//! without payload) and read answers as they come (an error code a typed
//! client would map away, a tool error result), which a typed MCP client
//! (rmcp's) does not let them do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use serde_json::{Value, json};

use crate::server_suite::Exchange;

/// The MCP revision the harness asks for (the newest the SDKs we target
/// all speak without extra headers).
pub const PROTOCOL_VERSION: &str = "2025-06-18";
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// How an error starts when a server on stdio, alive, left a request
/// unanswered.
pub const NO_ANSWER: &str =
    "the server, still running, wrote no answer to the request on its stdout within";
const BODY_LIMIT: usize = 1 << 20;

/// One MCP server, and what the harness keeps of talking to it.
pub struct Session {
    wire: Wire,
    next_id: AtomicI64,
    evidence: Mutex<Vec<Exchange>>,
}

enum Wire {
    Http {
        endpoint: String,
        http: reqwest::Client,
        /// `Mcp-Session-Id`, once the server gave one.
        session_id: Mutex<Option<String>>,
    },
    Stdio(Box<Stdio>),
}

/// A server on stdio: its input, and the answers its output brought, by
/// request id.
struct Stdio {
    /// The command line, for evidence.
    command: String,
    stdin: tokio::sync::Mutex<tokio::process::ChildStdin>,
    waiting: Arc<Mutex<HashMap<i64, tokio::sync::oneshot::Sender<String>>>>,
    /// Why its output ended, once it did.
    ended: Arc<Mutex<Option<String>>>,
    /// Answers no request waited for (an answer to a notification).
    stray: Arc<Mutex<Vec<String>>>,
    _child: tokio::process::Child,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Stdio {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Session {
    /// A server at a Streamable HTTP endpoint.
    pub fn new(endpoint: &str) -> Self {
        Self::on(Wire::Http {
            endpoint: endpoint.to_string(),
            http: reqwest::Client::builder()
                .timeout(ANSWER_TIMEOUT)
                .build()
                .unwrap_or_default(),
            session_id: Mutex::new(None),
        })
    }

    /// A server started here, speaking MCP on its stdin and stdout (its
    /// stderr goes to `log`). It stops when the session is dropped, and
    /// with mppconf.
    pub fn stdio(argv: &[String], log: &std::path::Path) -> Result<Self, String> {
        let Some((program, args)) = argv.split_first() else {
            return Err("an empty command".into());
        };
        let mut cmd = std::process::Command::new(program);
        cmd.args(args);
        Self::stdio_command(cmd, &argv.join(" "), log)
    }

    /// [`Session::stdio`] of a prepared command (its folder and
    /// environment set), named `label` in evidence.
    pub fn stdio_command(
        mut cmd: std::process::Command,
        label: &str,
        log: &std::path::Path,
    ) -> Result<Self, String> {
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(
                std::fs::File::create(log)
                    .map(std::process::Stdio::from)
                    .unwrap_or_else(|_| std::process::Stdio::null()),
            );
        crate::process::die_with_parent(&mut cmd);
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {label}: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(format!("{label}: no pipes to its stdin and stdout"));
        };
        let waiting: Arc<Mutex<HashMap<i64, tokio::sync::oneshot::Sender<String>>>> =
            Arc::default();
        let ended: Arc<Mutex<Option<String>>> = Arc::default();
        let stray: Arc<Mutex<Vec<String>>> = Arc::default();
        let reader = tokio::spawn(read_answers(
            stdout,
            waiting.clone(),
            ended.clone(),
            stray.clone(),
        ));
        Ok(Self::on(Wire::Stdio(Box::new(Stdio {
            command: label.to_string(),
            stdin: tokio::sync::Mutex::new(stdin),
            waiting,
            ended,
            stray,
            _child: child,
            reader,
        }))))
    }

    fn on(wire: Wire) -> Self {
        Self {
            wire,
            next_id: AtomicI64::new(1),
            evidence: Mutex::new(Vec::new()),
        }
    }

    /// Where the server is: its URL, or `stdio: COMMAND`.
    pub fn endpoint(&self) -> String {
        match &self.wire {
            Wire::Http { endpoint, .. } => endpoint.clone(),
            Wire::Stdio(s) => format!("stdio: {}", s.command),
        }
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
        self.initialize_with(json!({})).await
    }

    /// [`Session::initialize`] announcing `capabilities` (a client's
    /// payment capability, §"MCP Capability Advertisement").
    pub async fn initialize_with(&self, capabilities: Value) -> Result<Value, String> {
        let answer = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": capabilities,
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
        if let Wire::Stdio(stdio) = &self.wire {
            let body = self.exchange_stdio(stdio, &message, Some(id)).await?;
            return serde_json::from_str(&body)
                .map_err(|e| format!("an answer that is not JSON ({e}): {body}"));
        }
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
        if let Wire::Stdio(stdio) = &self.wire {
            return self.exchange_stdio(stdio, &message, None).await.map(|_| ());
        }
        let (status, body) = self.post(&message).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("HTTP {status} to a notification: {body}"))
        }
    }

    /// Sends a notification and reports the JSON-RPC answer it got, if
    /// any (§"Notifications": a server SHOULD drop a payment-gated one
    /// silently): over HTTP the body, on stdio an answer line that no
    /// request waits for within half a second.
    pub async fn notification(&self, message: Value) -> Result<Option<String>, String> {
        if let Wire::Stdio(stdio) = &self.wire {
            let before = stdio.stray.lock().map(|s| s.len()).unwrap_or(0);
            self.exchange_stdio(stdio, &message, None).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            return Ok(stdio.stray.lock().ok().and_then(|s| s.get(before).cloned()));
        }
        let (_, body) = self.post(&message).await?;
        let answered = body
            .lines()
            .any(|l| is_answer(l.trim_start_matches("data:").trim()));
        Ok(answered.then_some(body))
    }

    /// One line to the server and, for a request (`id`), the line that
    /// answers it; kept as evidence.
    async fn exchange_stdio(
        &self,
        stdio: &Stdio,
        message: &Value,
        id: Option<i64>,
    ) -> Result<String, String> {
        let start = Instant::now();
        let answer = id.map(|id| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if let Ok(mut w) = stdio.waiting.lock() {
                w.insert(id, tx);
            }
            rx
        });
        let outcome = async {
            {
                let mut stdin = stdio.stdin.lock().await;
                let mut line = message.to_string();
                line.push('\n');
                stdin
                    .write_all(line.as_bytes())
                    .await
                    .map_err(|e| format!("writing to its stdin: {e}"))?;
                stdin
                    .flush()
                    .await
                    .map_err(|e| format!("writing to its stdin: {e}"))?;
            }
            let Some(rx) = answer else {
                return Ok(String::new());
            };
            match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
                Ok(Ok(line)) => Ok(line),
                Ok(Err(_)) => Err(stdio
                    .ended
                    .lock()
                    .ok()
                    .and_then(|e| e.clone())
                    .unwrap_or_else(|| "its stdout closed".into())),
                Err(_) => Err(format!("{NO_ANSWER} {} s", ANSWER_TIMEOUT.as_secs())),
            }
        }
        .await;
        if let (Some(id), Ok(mut w)) = (id, stdio.waiting.lock()) {
            w.remove(&id);
        }
        let exchange = Exchange {
            request: format!("stdio {}\n{}", stdio.command, redacted(message)),
            status: 0,
            headers: Vec::new(),
            body: outcome.as_ref().cloned().unwrap_or_default(),
            millis: crate::server_suite::millis(start.elapsed()),
            error: outcome.as_ref().err().cloned(),
        };
        if let Ok(mut ev) = self.evidence.lock() {
            ev.push(exchange);
        }
        outcome
    }

    async fn post(&self, message: &Value) -> Result<(u16, String), String> {
        let Wire::Http {
            endpoint,
            http,
            session_id,
        } = &self.wire
        else {
            return Err("not an HTTP endpoint".into());
        };
        let mut rb = http
            .post(endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .body(message.to_string());
        let session = session_id.lock().ok().and_then(|s| s.clone());
        if let Some(s) = &session {
            rb = rb.header("mcp-session-id", s);
        }
        let start = Instant::now();
        let mut exchange = Exchange {
            request: format!("POST {endpoint}\n{}", redacted(message)),
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
                    && let Ok(mut s) = session_id.lock()
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

/// Reads the server's stdout: each line that answers a request goes to
/// whoever waits for it; server notifications and requests are let be.
async fn read_answers(
    stdout: tokio::process::ChildStdout,
    waiting: Arc<Mutex<HashMap<i64, tokio::sync::oneshot::Sender<String>>>>,
    ended: Arc<Mutex<Option<String>>>,
    stray: Arc<Mutex<Vec<String>>>,
) {
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let why = loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                let id = serde_json::from_str::<Value>(&line)
                    .ok()
                    .filter(|m| m.get("result").is_some() || m.get("error").is_some())
                    .and_then(|m| m.get("id").and_then(Value::as_i64));
                let waiter = id.and_then(|id| waiting.lock().ok()?.remove(&id));
                match waiter {
                    Some(tx) => {
                        let _ = tx.send(line);
                    }
                    None if is_answer(&line) => {
                        if let Ok(mut s) = stray.lock() {
                            s.push(line);
                        }
                    }
                    None => {}
                }
            }
            Ok(None) => break "the server closed its stdout (it exited?)".to_string(),
            Err(e) => break format!("reading its stdout: {e}"),
        }
    };
    if let Ok(mut e) = ended.lock() {
        *e = Some(why);
    }
    // Whoever still waits learns that no answer will come.
    if let Ok(mut w) = waiting.lock() {
        w.clear();
    }
}

/// A JSON-RPC response message (a `result` or an `error`).
fn is_answer(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .is_ok_and(|m| m.get("result").is_some() || m.get("error").is_some())
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
    redact_payloads(&mut m);
    m.to_string()
}

/// Replaces the `payload` of every credential in the message's `_meta`
/// (root or `params`, under any key) by its size.
pub fn redact_payloads(message: &mut Value) {
    for at in ["/_meta", "/params/_meta"] {
        let Some(meta) = message.pointer_mut(at).and_then(Value::as_object_mut) else {
            continue;
        };
        for payload in meta.values_mut().filter_map(|c| c.get_mut("payload")) {
            let size = payload.to_string().len();
            *payload = format!("(redacted, {size} bytes)").into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mppconf_suite::mcp::CREDENTIAL_KEY;

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
