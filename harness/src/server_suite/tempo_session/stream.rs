//! draft-tempo-session-00 §"Insufficient Balance During Streaming": the
//! metered SSE check, reading the answer as it streams.

use alloy::primitives::U256;
use mppconf_suite::methods::tempo_session_stream::{Event, EventReader};
use serde_json::Value;

use super::{Session, Step, price};
use crate::server_suite::check::transport;
use crate::server_suite::{Ctx, Outcome};

/// Reads SSE events from a streaming answer until `stop` says so, the
/// stream ends, or `wait` passes without a new event.
async fn read_events<B: AsRef<[u8]>>(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<B>> + Unpin),
    reader: &mut EventReader,
    wait: std::time::Duration,
    stop: impl Fn(&Event) -> bool,
) -> (Vec<Event>, bool) {
    use futures::StreamExt;
    let mut events = Vec::new();
    loop {
        while let Some(event) = reader.next_event() {
            let done = stop(&event);
            events.push(event);
            if done {
                return (events, false);
            }
        }
        match tokio::time::timeout(wait, stream.next()).await {
            Ok(Some(Ok(chunk))) => reader.push(chunk.as_ref()),
            Ok(_) => return (events, true),
            Err(_) => return (events, false),
        }
    }
}

/// A metered stream on a balance of exactly one unit (the request's
/// own): the server must stop, emit `payment-need-voucher` with the
/// session's numbers, and resume by no more than a voucher on another
/// request pays for.
pub(super) async fn stream(ctx: &Ctx) -> Step {
    let mut s = Session::open(ctx, 20).await?;
    let p = price(&s.payer);
    let one = s.next(1);
    // Units the voucher leaves available (the request's own included).
    let allowed = (one.saturating_sub(s.spent) / p).saturating_to::<usize>();
    let header = s
        .payer
        .credential(&s.challenge, s.payer.voucher_payload("voucher", one))
        .to_header();
    let response = ctx
        .http()
        .get(ctx.target.url())
        .header(ctx.credential_field, header)
        .header("accept", "text/event-stream")
        .send()
        .await
        .map_err(|e| transport(e.to_string()))?;
    let streams = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if !response.status().is_success() || !streams {
        return Ok(Outcome::skip(format!(
            "the resource does not stream: {} {} to Accept: text/event-stream",
            response.status().as_u16(),
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(no content type)")
        )));
    }
    let mut body = Box::pin(response.bytes_stream());
    let mut reader = EventReader::default();
    let wait = std::time::Duration::from_secs(3);
    let (events, ended) = read_events(&mut body, &mut reader, wait, |e| {
        e.name == "payment-need-voucher"
    })
    .await;
    let units = |evs: &[Event]| evs.iter().filter(|e| e.is_content()).count();
    let delivered = units(&events);
    let Some(need) = events.iter().find(|e| e.name == "payment-need-voucher") else {
        if delivered > allowed {
            return Ok(Outcome::fail(
                format!(
                    "the stream stops after the {allowed} unit(s) its balance pays for, with payment-need-voucher"
                ),
                format!("{delivered} units and no payment-need-voucher (ended: {ended})"),
            ));
        }
        return Ok(Outcome::skip(format!(
            "the stream delivered {delivered} unit(s) and {}: it never ran out of balance",
            if ended { "ended" } else { "went quiet" }
        )));
    };
    if delivered > allowed {
        return Ok(Outcome::fail(
            format!(
                "at most {allowed} unit(s) before payment-need-voucher (what the voucher left available)"
            ),
            format!("{delivered} units"),
        ));
    }
    let data: Value = match serde_json::from_str(&need.data) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Ok(Outcome::fail(
                "payment-need-voucher data is a JSON object",
                &need.data,
            ));
        }
    };
    let field = |k: &str| data.get(k).and_then(Value::as_str);
    let number = |k: &str| field(k).and_then(|v| U256::from_str_radix(v, 10).ok());
    let channel = s.payer.channel_id().to_string();
    let problems: Vec<String> = [
        (!field("channelId").is_some_and(|c| c.eq_ignore_ascii_case(&channel)))
            .then(|| format!("channelId {:?}, not {channel}", field("channelId"))),
        (number("acceptedCumulative") != Some(one)).then(|| {
            format!(
                "acceptedCumulative {:?}, not {one}",
                field("acceptedCumulative")
            )
        }),
        (number("deposit") != Some(p * U256::from(20u8))).then(|| {
            format!(
                "deposit {:?}, not the {} on chain",
                field("deposit"),
                p * U256::from(20u8)
            )
        }),
        number("requiredCumulative")
            .is_none_or(|r| r <= one)
            .then(|| {
                format!(
                    "requiredCumulative {:?}, not above {one}",
                    field("requiredCumulative")
                )
            }),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !problems.is_empty() {
        return Ok(Outcome::fail(
            "payment-need-voucher with string channelId, acceptedCumulative, deposit and requiredCumulative of this session",
            problems.join("; "),
        ));
    }
    // A voucher two units up on another request: that request takes one,
    // the paused stream may take the other.
    let two_more = one + p * U256::from(2u8);
    let answer = s.voucher("voucher", two_more).await?;
    let (after, _) = read_events(&mut body, &mut reader, wait, |e| {
        e.name.starts_with("payment-")
    })
    .await;
    let resumed = units(&after);
    let served_other = usize::from((200..300).contains(&answer.status));
    if 1 + resumed + served_other > 3 {
        return Ok(Outcome::fail(
            format!("at most 3 units in all for vouchers up to {two_more} (price {p})"),
            format!(
                "1 streamed, {served_other} served on the voucher's own request, {resumed} streamed after it"
            ),
        ));
    }
    Ok(Outcome::pass(format!(
        "the stream stopped after 1 unit with payment-need-voucher {}, and resumed with {resumed} unit(s) after a voucher on another request",
        need.data
    )))
}
