//! `mppconf adapter`: the reference codec behind the adapter ABI.
//!
//! It answers every JSON request it reads on stdin with one response line
//! on stdout, flushing after each, until stdin closes. A one-shot caller
//! (the official runner: one request, then EOF) and a persistent caller
//! (one request per line) are served by the same loop. A request may span
//! several lines; a line that cannot start or continue a JSON value gets
//! an `unknown_error` answer, so a caller is never left waiting.

use std::io::{BufRead, Write};

use mppconf_suite::ops::{self, AbiError, AbiRequest, AbiResponse};
use serde_json::Value;

use crate::error::{Error, Result};

pub fn serve() -> Result<()> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut pending = String::new();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| Error::io("<stdin>", e))?;
        if pending.is_empty() && line.trim().is_empty() {
            continue;
        }
        pending.push_str(&line);
        pending.push('\n');
        let response = match serde_json::from_str::<Value>(&pending) {
            Err(e) if e.is_eof() => continue,
            Err(e) => malformed(format!("request is not JSON: {e}")),
            Ok(value) => match serde_json::from_value::<AbiRequest>(value) {
                Ok(request) => ops::answer(&request),
                Err(e) => malformed(format!("request is not {{schema, op, input}}: {e}")),
            },
        };
        pending.clear();
        let write = writeln!(out, "{}", response.to_json()).and_then(|_| out.flush());
        write.map_err(|e| Error::io("<stdout>", e))?;
    }
    if !pending.trim().is_empty() {
        let response = malformed("request ended before its JSON value did".into());
        writeln!(out, "{}", response.to_json()).map_err(|e| Error::io("<stdout>", e))?;
    }
    Ok(())
}

fn malformed(message: String) -> AbiResponse {
    AbiResponse::Err(AbiError {
        error_type: "unknown_error".into(),
        message,
        code: Some("bad-input".into()),
    })
}
