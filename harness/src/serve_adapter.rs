//! `mppconf adapter`: the reference codec behind the adapter ABI.
//!
//! It answers every JSON request it reads on stdin with one response line
//! on stdout, flushing after each, until stdin closes. A one-shot caller
//! (the official runner: one request, then EOF) and a persistent caller
//! (one request per line) are served by the same loop. A request may span
//! several lines; a line that cannot start or continue a JSON value gets
//! an `unknown_error` answer, so a caller is never left waiting.

use std::io::{BufRead, Write};

use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::ops::{self, AbiError, AbiRequest, AbiResponse};
use serde_json::Value;

use crate::error::{Error, Result};

/// Serves the reference codec under `draft` (`mppconf adapter --core`).
pub fn serve(draft: CoreDraft) -> Result<()> {
    let mut input = std::io::BufReader::with_capacity(1 << 16, std::io::stdin().lock());
    // Block-buffered: flushed whenever no further request is already
    // waiting, so a pipelining caller gets answers in few writes and a
    // one-at-a-time caller gets each answer at once.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut pending = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input
            .read_line(&mut line)
            .map_err(|e| Error::io("<stdin>", e))?
            == 0
        {
            break;
        }
        if pending.is_empty() && line.trim().is_empty() {
            continue;
        }
        pending.push_str(&line);
        if !line.ends_with('\n') {
            pending.push('\n');
        }
        let response = match serde_json::from_str::<Value>(&pending) {
            Err(e) if e.is_eof() => continue,
            Err(e) => malformed(format!("request is not JSON: {e}")),
            Ok(value) => match serde_json::from_value::<AbiRequest>(value) {
                Ok(request) => ops::answer(&request, draft),
                Err(e) => malformed(format!("request is not {{schema, op, input}}: {e}")),
            },
        };
        pending.clear();
        writeln!(out, "{}", response.to_json()).map_err(|e| Error::io("<stdout>", e))?;
        if input.buffer().is_empty() {
            out.flush().map_err(|e| Error::io("<stdout>", e))?;
        }
    }
    if !pending.trim().is_empty() {
        let response = malformed("request ended before its JSON value did".into());
        writeln!(out, "{}", response.to_json()).map_err(|e| Error::io("<stdout>", e))?;
    }
    out.flush().map_err(|e| Error::io("<stdout>", e))
}

fn malformed(message: String) -> AbiResponse {
    AbiResponse::Err(AbiError {
        error_type: "unknown_error".into(),
        message,
        code: Some("bad-input".into()),
    })
}
