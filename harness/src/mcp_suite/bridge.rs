//! `mppconf mcp-bridge`: an MCP server on stdio that relays every line to
//! a Streamable HTTP endpoint and writes its answers back, one per line.
//! It is how the reference MCP endpoint is judged over stdio (the same
//! endpoint, the other transport), and lets any HTTP MCP server be driven
//! by a stdio client.

use std::io::{BufRead, Write};

use serde_json::Value;

use crate::error::{Error, Result};

/// Relays stdin to `url` until stdin ends; exit code 0.
pub async fn bridge(url: &str) -> Result<u8> {
    crate::preflight::http_url("--url", url)?;
    let http = reqwest::Client::new();
    let mut session: Option<String> = None;
    // Stdin is read on a thread of its own (it blocks), line by line.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<std::io::Result<String>>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdout = std::io::stdout();
    while let Some(line) = lines.recv().await {
        let line = line.map_err(|e| Error::Setup(format!("reading stdin: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut rb = http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(line.clone());
        if let Some(s) = &session {
            rb = rb.header("mcp-session-id", s);
        }
        let answers = match rb.send().await {
            Ok(response) => {
                if let Some(s) = response
                    .headers()
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                {
                    session = Some(s.to_string());
                }
                messages(&response.text().await.unwrap_or_default())
            }
            // The endpoint is gone: say so to a request, as JSON-RPC.
            Err(e) => serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|m| m.get("id").cloned())
                .map(|id| {
                    vec![serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": format!("mcp-bridge: {url}: {e}")}})]
                })
                .unwrap_or_default(),
        };
        for answer in answers {
            let mut text = answer.to_string();
            text.push('\n');
            stdout
                .write_all(text.as_bytes())
                .map_err(|e| Error::Setup(format!("writing stdout: {e}")))?;
        }
        stdout
            .flush()
            .map_err(|e| Error::Setup(format!("writing stdout: {e}")))?;
    }
    Ok(0)
}

/// The JSON-RPC messages of an HTTP answer: one JSON body, or the `data`
/// of each server-sent event; nothing for an empty (202) answer.
fn messages(body: &str) -> Vec<Value> {
    if body.trim().is_empty() {
        return Vec::new();
    }
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return vec![v];
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_from_json_and_from_events() {
        assert!(messages("").is_empty());
        assert_eq!(messages(r#"{"id":1}"#).len(), 1);
        assert_eq!(
            messages("event: message\ndata: {\"id\":1}\n\ndata: {\"id\":2}\n\n").len(),
            2
        );
    }
}
