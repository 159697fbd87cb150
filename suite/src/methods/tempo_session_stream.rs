//! draft-tempo-session-00 §"Insufficient Balance During Streaming": the
//! server-sent events of a metered session stream, read the same way by
//! the server suite (judging a server's stream) and the reference client
//! (paying one). A client pays on what `payment-need-voucher` says, so
//! this parser is fuzzed (`fuzz/fuzz_targets/session_event.rs`).

use alloy_primitives::{B256, U256};
use serde_json::Value;

/// One server-sent event (WHATWG HTML §"Server-sent events"): its `event`
/// name (empty for a plain message) and its `data` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

impl Event {
    /// A unit of metered content: any event the draft does not name
    /// (`payment-need-voucher`, `payment-receipt`).
    pub fn is_content(&self) -> bool {
        !self.name.starts_with("payment-")
    }
}

/// Takes every complete event (ended by a blank line) off the front of
/// `buffer`, leaving a partial one for the next chunk. Comment lines
/// (`:`) and other fields (`id`, `retry`) are ignored; a block of nothing
/// but those is no event.
pub fn take_events(buffer: &mut String) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        let text = normalize_line_ends(buffer);
        let Some(end) = text.find("\n\n") else {
            *buffer = text;
            return events;
        };
        let block = &text[..end];
        let (mut name, mut data, mut any) = (String::new(), Vec::<&str>::new(), false);
        for line in block.split('\n') {
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => {
                    name = value.to_string();
                    any = true;
                }
                "data" => {
                    data.push(value);
                    any = true;
                }
                _ => {}
            }
        }
        if any {
            events.push(Event {
                name,
                data: data.join("\n"),
            });
        }
        *buffer = text[end + 2..].to_string();
    }
}

/// CRLF, LF and CR all end a line (WHATWG HTML §"Parsing an event
/// stream"); a trailing CR waits, since the LF that may follow it is in the
/// next chunk.
fn normalize_line_ends(text: &str) -> String {
    let (body, tail) = match text.strip_suffix('\r') {
        Some(body) => (body, "\r"),
        None => (text, ""),
    };
    let mut out = body.replace("\r\n", "\n").replace('\r', "\n");
    out.push_str(tail);
    out
}

/// Events one at a time from a stream's chunks, in order.
#[derive(Debug, Default)]
pub struct EventReader {
    partial: String,
    ready: std::collections::VecDeque<Event>,
}

impl EventReader {
    pub fn push(&mut self, chunk: &[u8]) {
        self.partial.push_str(&String::from_utf8_lossy(chunk));
        self.ready.extend(take_events(&mut self.partial));
    }

    /// The next complete event, if one has arrived.
    pub fn next_event(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }
}

/// The data of a `payment-need-voucher` event: every field REQUIRED, the
/// amounts decimal strings, the channel a bytes32 hex string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedVoucher {
    pub channel_id: B256,
    pub required_cumulative: U256,
    pub accepted_cumulative: U256,
    pub deposit: U256,
}

impl NeedVoucher {
    /// Parses the event's data; the error names the field and what is
    /// wrong with it.
    pub fn parse(data: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(data)
            .map_err(|e| format!("payment-need-voucher data is not JSON: {e}"))?;
        let object = value
            .as_object()
            .ok_or("payment-need-voucher data is not a JSON object")?;
        let text = |k: &str| {
            object
                .get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("payment-need-voucher has no string {k}"))
        };
        let amount = |k: &str| {
            let t = text(k)?;
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "payment-need-voucher {k} {t:?} is not a decimal string"
                ));
            }
            U256::from_str_radix(t, 10)
                .map_err(|_| format!("payment-need-voucher {k} {t:?} does not fit 256 bits"))
        };
        let channel = text("channelId")?;
        let channel_id = match channel.strip_prefix("0x") {
            Some(hex) if hex.len() == 64 => channel.parse::<B256>().ok(),
            _ => None,
        }
        .ok_or_else(|| format!("payment-need-voucher channelId {channel:?} is not bytes32 hex"))?;
        Ok(Self {
            channel_id,
            required_cumulative: amount("requiredCumulative")?,
            accepted_cumulative: amount("acceptedCumulative")?,
            deposit: amount("deposit")?,
        })
    }

    /// §"Insufficient Balance During Streaming": "When
    /// `requiredCumulative` exceeds `deposit`, the client MUST submit
    /// `action="topUp"`" before a new voucher.
    pub fn needs_top_up(&self) -> bool {
        self.required_cumulative > self.deposit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_taken_whole_and_a_partial_one_waits() {
        let mut buffer = String::from(
            "data: {\"unit\":1}\n\n: comment\n\nevent: payment-need-voucher\r\ndata: a\r\ndata: b\r\n\r\nevent: pay",
        );
        let events = take_events(&mut buffer);
        assert_eq!(
            events,
            vec![
                Event {
                    name: String::new(),
                    data: "{\"unit\":1}".into()
                },
                Event {
                    name: "payment-need-voucher".into(),
                    data: "a\nb".into()
                },
            ]
        );
        assert!(events[0].is_content() && !events[1].is_content());
        assert_eq!(buffer, "event: pay");
        // A CR at the end of a chunk and the LF starting the next are one
        // line end; a lone CR is one too.
        let mut split = String::from("data: x\r\n\r");
        assert!(take_events(&mut split).is_empty());
        split.push_str("\ndata: y\r\rrest");
        let events = take_events(&mut split);
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(split, "rest");
    }

    #[test]
    fn need_voucher_fields_are_checked() {
        let id = format!("0x{}", "ab".repeat(32));
        let good = format!(
            r#"{{"channelId":"{id}","requiredCumulative":"3000","acceptedCumulative":"2000","deposit":"2500"}}"#
        );
        let need = NeedVoucher::parse(&good).unwrap();
        assert_eq!(need.required_cumulative, U256::from(3000u32));
        assert!(need.needs_top_up());
        let numeric = good.replace("\"3000\"", "3000");
        assert!(
            NeedVoucher::parse(&numeric)
                .unwrap_err()
                .contains("requiredCumulative")
        );
        let signed = good.replace("\"2500\"", "\"-1\"");
        assert!(NeedVoucher::parse(&signed).unwrap_err().contains("deposit"));
        let short = good.replace(&id, "0xabcd");
        assert!(
            NeedVoucher::parse(&short)
                .unwrap_err()
                .contains("channelId")
        );
        assert!(NeedVoucher::parse("[]").is_err());
    }
}
