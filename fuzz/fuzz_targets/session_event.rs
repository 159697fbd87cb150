//! draft-tempo-session-00 §"Insufficient Balance During Streaming": the
//! SSE reader and the `payment-need-voucher` parser never panic, however
//! the stream is cut into chunks; taking events leaves no complete event
//! behind; an accepted need-voucher re-serializes to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::methods::tempo_session_stream::{NeedVoucher, take_events};

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
});
