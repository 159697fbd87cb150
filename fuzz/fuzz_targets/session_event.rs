//! draft-tempo-session-00 §"Insufficient Balance During Streaming": the
//! SSE reader and the `payment-need-voucher` parser never panic, however
//! the stream is cut into chunks; taking events leaves no complete event
//! behind; an accepted need-voucher re-serializes to the same values.
//! draft-lightning-session-00's events (`lightning.session.events.parse`)
//! from the same stream: never a panic, and every accepted balance event
//! names a session id and whole-number balances.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::methods::tempo_session_stream::{NeedVoucher, take_events};
use mppconf_suite::ops;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The same bytes whole and in two chunks give the same events.
    let mut whole = text.to_string();
    let all = take_events(&mut whole);
    // (A CR at the very end waits for a possible LF.)
    let rest = whole.strip_suffix('\r').unwrap_or(&whole);
    let rest = rest.replace("\r\n", "\n").replace('\r', "\n");
    assert!(!rest.contains("\n\n"), "{rest:?}");
    let cut = text
        .char_indices()
        .map(|(i, _)| i)
        .nth(text.chars().count() / 2)
        .unwrap_or(0);
    let mut chunked = text[..cut].to_string();
    let mut events = take_events(&mut chunked);
    chunked.push_str(&text[cut..]);
    events.extend(take_events(&mut chunked));
    assert_eq!(all, events);
    for event in all.iter().chain(std::iter::once(
        &mppconf_suite::methods::tempo_session_stream::Event {
            name: "payment-need-voucher".into(),
            data: text.to_string(),
        },
    )) {
        if let Ok(need) = NeedVoucher::parse(&event.data) {
            let again = format!(
                r#"{{"channelId":"{}","requiredCumulative":"{}","acceptedCumulative":"{}","deposit":"{}"}}"#,
                need.channel_id, need.required_cumulative, need.accepted_cumulative, need.deposit
            );
            assert_eq!(NeedVoucher::parse(&again), Ok(need));
        }
    }
    let input = serde_json::json!({ "text": text });
    if let Ok(read) = ops::execute("lightning.session.events.parse", &input, CoreDraft::Draft00) {
        let read = read["events"].as_array().unwrap();
        assert_eq!(read.len(), all.len());
        for event in read {
            if matches!(
                event["event"].as_str(),
                Some("payment-need-topup" | "session-timeout")
            ) {
                assert_eq!(event["data"]["sessionId"].as_str().unwrap().len(), 64);
                assert!(event["data"]["balanceSpent"].is_u64());
                assert!(event["data"]["balanceRequired"].is_u64());
            }
        }
    }
});
