//! draft-tempo-session-00 §"Verification Procedure" to §"Receipt
//! Generation": the Tempo session server checks (`sessionProtocol: "v1"`).
//!
//! Each check opens its own channel on the challenge's escrow with a
//! fresh payer, then pays with vouchers the way an attacker would: below
//! or equal to what was accepted, above the deposit, signed by the wrong
//! key or for another escrow or chain, with the high-s twin of a good
//! signature, many at once on one balance; opens a channel to another
//! payee or under another id; closes and keeps paying. The money
//! invariant is read from the receipts and from the escrow on chain: the
//! service a server delivers never exceeds what vouchers paid for, and
//! what it settles is what its receipts say was spent. v2 challenges are
//! `blocked` until a chain has the TIP-1034 precompile.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use mppconf_suite::vectors::Verdict;
use serde_json::Value;

use super::check::blocked;
use super::{Check, Ctx, Outcome};
use crate::chain::escrow::EscrowEvent;
use crate::methods::tempo_session::OpenFlaw;
use crate::server_check as check;

mod forced_close;
mod head;
mod idempotency;
mod restart;
mod session;
mod sponsored;
mod stream;

use head::head_voucher;
use idempotency::idempotent_retry;
use restart::restart;
use session::{Session, amount_in, price, receipt_of, refused};
use stream::stream;

type Step = Result<Outcome, Outcome>;

/// Every Tempo session check, in run order.
pub const CHECKS: &[Check] = &[
    check!(
        "session.open-and-vouchers-paid",
        [
            "tempo-session.verify.open",
            "tempo-session.verify.voucher",
            "tempo-session.processing.procedure",
            "tempo-session.accounting.per-session",
            "tempo-session.receipt.every-request",
            "tempo-session.receipt.fields",
            "tempo-session.receipt.reference-channel"
        ],
        false,
        |ctx| open_and_vouchers(ctx)
    ),
    check!(
        "session.stale-voucher-pays-nothing",
        [
            "tempo-session.idempotency.lower-rejected",
            "tempo-session.idempotency.same-amount",
            "tempo-session.processing.procedure"
        ],
        false,
        |ctx| stale_voucher(ctx)
    ),
    check!(
        "session.voucher-above-deposit-refused",
        [
            "tempo-session.verify.voucher",
            "tempo-session.errors.protected-resource-402"
        ],
        false,
        |ctx| above_deposit(ctx)
    ),
    check!(
        "session.foreign-signature-refused",
        [
            "tempo-session.verify.voucher-signer",
            "tempo-session.verify.signer-from-chain",
            "tempo-session.eip712.reconstruct"
        ],
        false,
        |ctx| foreign_signatures(ctx)
    ),
    check!(
        "session.high-s-refused",
        [
            "tempo-session.malleability.server-reject",
            "tempo-session.malleability.enforce"
        ],
        false,
        |ctx| high_s(ctx)
    ),
    check!(
        "session.open-other-payee-refused",
        ["tempo-session.verify.open"],
        false,
        |ctx| flawed_open(ctx, OpenFlaw::OtherPayee)
    ),
    check!(
        "session.open-other-token-refused",
        ["tempo-session.verify.open"],
        false,
        |ctx| flawed_open(ctx, OpenFlaw::OtherToken)
    ),
    check!(
        "session.open-other-escrow-refused",
        ["tempo-session.verify.open", "tempo-session.channel.v1-id"],
        false,
        |ctx| flawed_open(ctx, OpenFlaw::OtherEscrow)
    ),
    check!(
        "session.close-requested-voucher-refused",
        [
            "tempo-session.verify.voucher-close-pending",
            "tempo-session.verify.signer-from-chain"
        ],
        false,
        |ctx| close_requested(ctx)
    ),
    check!(
        "session.open-channel-id-mismatch-refused",
        ["tempo-session.verify.open", "tempo-session.channel.v1-id"],
        false,
        |ctx| flawed_open(ctx, OpenFlaw::OtherChannelId)
    ),
    check!(
        "session.sponsored-open-validated-first",
        [
            "tempo-session.fees.validate-before-sponsoring",
            "tempo-session.fees.scope",
            "tempo-session.open.server-broadcasts"
        ],
        false,
        |ctx| sponsored::validated_first(ctx)
    ),
    check!(
        "session.sponsored-extra-calls-refused",
        ["tempo-session.fees.validate-before-sponsoring"],
        true,
        |ctx| sponsored::extra_calls(ctx)
    ),
    check!(
        "session.min-voucher-delta",
        ["tempo-session.dos.min-voucher-delta"],
        false,
        |ctx| min_delta(ctx)
    ),
    check!(
        "session.stream-pauses-for-voucher",
        [
            "tempo-session.streaming.stop",
            "tempo-session.streaming.need-voucher-event",
            "tempo-session.streaming.event-data",
            "tempo-session.streaming.event-fields",
            "tempo-session.streaming.pause"
        ],
        false,
        |ctx| stream(ctx)
    ),
    check!(
        "session.concurrent-requests-bounded",
        [
            "tempo-session.concurrency.serialized",
            "tempo-session.accounting.linearizable"
        ],
        false,
        |ctx| concurrent(ctx)
    ),
    check!(
        "session.top-up-accepted",
        ["tempo-session.verify.topup"],
        false,
        |ctx| top_up(ctx)
    ),
    check!(
        "session.close-settles-spent",
        [
            "tempo-session.close.no-overcapture",
            "tempo-session.close.capture-from-accounting",
            "tempo-session.receipt.every-request"
        ],
        false,
        |ctx| close(ctx, false)
    ),
    check!(
        "session.closed-channel-refused",
        ["tempo-session.verify.voucher"],
        false,
        |ctx| close(ctx, true)
    ),
    check!(
        "session.settles-on-close-request",
        ["tempo-session.forced.settle-during-grace"],
        true,
        |ctx| forced_close::settles_on_close_request(ctx)
    ),
    check!(
        "session.head-voucher-accepted",
        ["tempo-session.transport.head-server"],
        true,
        |ctx| head_voucher(ctx)
    ),
    check!(
        "session.idempotent-retry-not-charged",
        [
            "tempo-session.req-idempotency.no-double-charge",
            "tempo-session.req-idempotency.server-cache"
        ],
        false,
        |ctx| idempotent_retry(ctx)
    ),
    check!(
        alone "session.restart-keeps-accounting",
        [
            "tempo-session.crash.spent-first",
            "tempo-session.crash.accepted-first",
            "tempo-session.accounting.state"
        ],
        false,
        |ctx| restart(ctx)
    ),
];

/// Concurrent copies of one voucher in [`concurrent`].
const RACERS: usize = 6;

async fn open_and_vouchers(ctx: &Ctx) -> Step {
    let (mut s, payload) = Session::opening(ctx, 10, OpenFlaw::None).await?;
    let p = price(&s.payer);
    let channel = s.payer.channel_id();
    let mut spent_before = U256::ZERO;
    for (step, answer) in [
        ("open", s.send(payload).await?),
        ("voucher", s.voucher("voucher", p * U256::from(2u8)).await?),
    ] {
        if !(200..300).contains(&answer.status) {
            return Ok(Outcome::fail(
                format!("the valid {step} served (2xx)"),
                format!(
                    "{}: {}",
                    answer.status,
                    answer
                        .problem()
                        .map(|p| p.detail.unwrap_or_default())
                        .unwrap_or_default()
                ),
            ));
        }
        let Some(receipt) = receipt_of(&answer) else {
            return Ok(Outcome::fail(
                format!("a Payment-Receipt on the paid {step}"),
                "none (or not a receipt)",
            ));
        };
        s.note(&answer);
        let want = p * U256::from(if step == "open" { 1u8 } else { 2 });
        // An open may answer with the resource (charged) or with a
        // channel-management answer (nothing delivered, nothing charged);
        // a voucher's request is charged one price.
        let spent = amount_in(&receipt, "spent");
        let spent_ok = match step {
            "open" => spent == Some(U256::ZERO) || spent == Some(p),
            _ => spent == Some(spent_before + p),
        };
        let previous = std::mem::replace(&mut spent_before, spent.unwrap_or_default());
        let text = |k: &str| receipt.extra.get(k).and_then(Value::as_str).unwrap_or("");
        let problems: Vec<String> = [
            (!receipt.reference.eq_ignore_ascii_case(&channel.to_string())).then(|| {
                format!(
                    "reference {} is not the channel {channel}",
                    receipt.reference
                )
            }),
            (!text("channelId").eq_ignore_ascii_case(&channel.to_string()))
                .then(|| format!("channelId {:?}", text("channelId"))),
            (text("intent") != "session").then(|| format!("intent {:?}", text("intent"))),
            (text("challengeId") != s.challenge.id).then(|| {
                format!(
                    "challengeId {:?}, not {}",
                    text("challengeId"),
                    s.challenge.id
                )
            }),
            (amount_in(&receipt, "acceptedCumulative") != Some(want)).then(|| {
                format!(
                    "acceptedCumulative {:?}, not {want}",
                    text("acceptedCumulative")
                )
            }),
            (!spent_ok).then(|| {
                format!(
                    "spent {:?} after {step} at price {p} (spent before: {previous})",
                    text("spent")
                )
            }),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !problems.is_empty() {
            return Ok(Outcome::fail(
                format!("the {step}'s receipt states the session's accounting"),
                problems.join("; "),
            ));
        }
    }
    let on_chain = s
        .escrow()
        .channel(channel)
        .await
        .map_err(|e| Outcome::error(e.to_string()))?;
    if on_chain.payer != s.payer.key.address()
        || U256::from(on_chain.deposit) != p * U256::from(10u8)
    {
        return Ok(Outcome::fail(
            format!("channel {channel} open on chain with the payer's deposit"),
            format!("{on_chain:?}"),
        ));
    }
    Ok(Outcome::pass(format!(
        "open and a voucher served, the receipts account each request on channel {channel}; {}",
        s.chain_evidence().await
    )))
}

/// A voucher below, then one equal to the highest accepted, with nothing
/// left to spend: neither may buy a request (an equal one is not an
/// error, but pays for nothing new: ambiguity.tempo-session-monotonicity).
async fn stale_voucher(ctx: &Ctx) -> Step {
    let mut s = Session::open(ctx, 10).await?;
    let two = s.next(1);
    let answer = s.voucher("voucher", two).await?;
    if !(200..300).contains(&answer.status) {
        return Err(blocked(format!(
            "a valid voucher for {two} was refused ({})",
            answer.status
        )));
    }
    let lower = two - price(&s.payer);
    let answer = s.voucher("voucher", lower).await?;
    let verdict = refused(
        &answer,
        &format!("a voucher for {lower}, below the accepted {two}"),
    );
    if verdict.verdict != Verdict::Pass {
        return Ok(verdict);
    }
    // What is still available may buy requests; once it is spent, the
    // repeated voucher must buy nothing.
    let p = price(&s.payer);
    let allowed = s.accepted.saturating_sub(s.spent) / p;
    let mut served = U256::ZERO;
    loop {
        let spent_before = s.spent;
        let answer = s.voucher("voucher", two).await?;
        if !(200..300).contains(&answer.status) {
            return Ok(Outcome::pass(format!(
                "a lower voucher refused; the repeated highest voucher bought {served} request(s) of the {allowed} still available, then nothing ({}); {}",
                answer.status,
                s.chain_evidence().await
            )));
        }
        if served < allowed {
            served += U256::from(1u8);
            continue;
        }
        let spent = receipt_of(&answer).and_then(|r| amount_in(&r, "spent"));
        return Ok(match spent {
            Some(spent) if spent == spent_before => Outcome {
                verdict: Verdict::Warn,
                detail: format!(
                    "the repeated voucher for {two} was answered 2xx without charging (spent stays {spent}): an idempotent retry (tempo-session.idempotency.same-amount), but the resource went out again unpaid (ambiguity.tempo-session-monotonicity)"
                ),
            },
            _ => Outcome::fail(
                format!(
                    "the repeated voucher for {two}, with nothing available, is not served (402, insufficient balance)"
                ),
                format!(
                    "{}: served, receipt spent {spent:?} against acceptedCumulative {two}: service beyond the vouchers",
                    answer.status
                ),
            ),
        });
    }
}

async fn above_deposit(ctx: &Ctx) -> Step {
    let mut s = Session::open(ctx, 3).await?;
    let over = price(&s.payer) * U256::from(3u8) + U256::from(1u8);
    let answer = s.voucher("voucher", over).await?;
    let mut verdict = refused(
        &answer,
        &format!("a voucher for {over}, above the deposit of 3 units"),
    );
    verdict.detail = format!("{}; {}", verdict.detail, s.chain_evidence().await);
    Ok(verdict)
}

/// Vouchers signed by a stranger, for another escrow and for another
/// chain: each recovers to someone other than the channel's signer.
async fn foreign_signatures(ctx: &Ctx) -> Step {
    let mut s = Session::open(ctx, 10).await?;
    let amount = s.next(1);
    let channel = s.payer.channel_id();
    let terms = s.payer.terms.clone();
    let stranger = s.payer.with_key(PrivateKeySigner::random());
    let flaws: [(&str, Vec<u8>); 3] = [
        ("signed by another key", stranger.sign(amount)),
        (
            "signed for another escrow",
            s.payer
                .sign_for(Address::random(), terms.chain_id, channel, amount),
        ),
        (
            "signed for another chain",
            s.payer
                .sign_for(terms.escrow, terms.chain_id + 1, channel, amount),
        ),
    ];
    for (what, signature) in flaws {
        let payload = s
            .payer
            .voucher_payload_signed("voucher", amount, &signature);
        let answer = s.send(payload).await?;
        let verdict = refused(&answer, &format!("a voucher {what}"));
        if verdict.verdict != Verdict::Pass {
            return Ok(verdict);
        }
    }
    let answer = s.voucher("voucher", amount).await?;
    if !(200..300).contains(&answer.status) {
        return Err(blocked(format!(
            "the payer's own voucher for {amount} was refused too ({}): the refusals prove nothing",
            answer.status
        )));
    }
    Ok(Outcome::pass(
        "vouchers by another key, for another escrow and for another chain refused; the payer's own accepted",
    ))
}

/// The malleable twin (r, n - s, v flipped) of a good voucher.
async fn high_s(ctx: &Ctx) -> Step {
    let s = Session::open(ctx, 10).await?;
    let amount = s.next(1);
    let good = s.payer.sign(amount);
    let n = U256::from_str_radix(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
        16,
    )
    .expect("the curve order");
    let mut twin = good.clone();
    twin[32..64].copy_from_slice(&(n - U256::from_be_slice(&good[32..64])).to_be_bytes::<32>());
    twin[64] = if good[64] == 27 { 28 } else { 27 };
    let answer = s
        .send(s.payer.voucher_payload_signed("voucher", amount, &twin))
        .await?;
    let verdict = refused(&answer, "the high-s twin of a valid voucher");
    if verdict.verdict != Verdict::Pass {
        return Ok(verdict);
    }
    let answer = s
        .send(s.payer.voucher_payload_signed("voucher", amount, &good))
        .await?;
    if !(200..300).contains(&answer.status) {
        return Err(blocked(format!(
            "the low-s original was refused too ({}): the refusal proves nothing",
            answer.status
        )));
    }
    Ok(Outcome::pass(
        "the high-s twin refused, its low-s original accepted",
    ))
}

async fn flawed_open(ctx: &Ctx, flaw: OpenFlaw) -> Step {
    let (s, payload) = Session::opening(ctx, 10, flaw).await?;
    let answer = s.send(payload).await?;
    let what = match flaw {
        OpenFlaw::OtherPayee => "an open of a channel that pays another payee",
        OpenFlaw::OtherToken => "an open of a channel in another token than the currency",
        OpenFlaw::OtherEscrow => "an open of a channel on another escrow contract",
        _ => "an open whose channelId is not the channel its transaction opens",
    };
    let mut verdict = refused(&answer, what);
    verdict.detail = format!("{}; {}", verdict.detail, s.chain_evidence().await);
    Ok(verdict)
}

/// The payer starts a forced close on chain; a voucher after that pays
/// for service the payee may never settle (§"Voucher Verification" 5).
async fn close_requested(ctx: &Ctx) -> Step {
    let mut s = Session::open(ctx, 10).await?;
    s.payer.request_close().await.map_err(Outcome::error)?;
    let amount = s.next(1);
    let answer = s.voucher("voucher", amount).await?;
    let mut verdict = refused(
        &answer,
        "a voucher on a channel with a pending close request",
    );
    verdict.detail = format!("{}; {}", verdict.detail, s.chain_evidence().await);
    Ok(verdict)
}

async fn min_delta(ctx: &Ctx) -> Step {
    let mut s = Session::open(ctx, 10).await?;
    let delta = s.payer.terms.min_voucher_delta;
    if delta <= U256::from(1u8) {
        return Ok(Outcome::skip(
            "the challenge sets no minVoucherDelta above 1: nothing to undercut",
        ));
    }
    let short = s.accepted + delta - U256::from(1u8);
    let answer = s.voucher("voucher", short).await?;
    Ok(refused(
        &answer,
        &format!(
            "a voucher advancing {} (minVoucherDelta {delta})",
            delta - U256::from(1u8)
        ),
    ))
}

/// Copies of one new voucher, paying for one more request, sent at once:
/// at most one may be served.
async fn concurrent(ctx: &Ctx) -> Step {
    let s = Session::open(ctx, 10).await?;
    let amount = s.next(1);
    // What the voucher leaves available, in requests (1 where the open
    // was charged, 2 where it was a management answer).
    let allowed = (amount.saturating_sub(s.spent) / price(&s.payer)).saturating_to::<usize>();
    let header = s
        .payer
        .credential(&s.challenge, s.payer.voucher_payload("voucher", amount))
        .to_header();
    let headers = [header.as_str()];
    let sends = (0..RACERS).map(|_| ctx.send(&headers, None));
    let answers = futures::future::join_all(sends).await;
    let served = answers
        .iter()
        .filter(|a| a.as_ref().is_ok_and(|a| (200..300).contains(&a.status)))
        .count();
    let statuses: Vec<String> = answers
        .iter()
        .map(|a| {
            a.as_ref()
                .map_or_else(|e| e.clone(), |a| a.status.to_string())
        })
        .collect();
    if served > allowed {
        return Ok(Outcome::fail(
            format!(
                "at most {allowed} of {RACERS} concurrent requests served: the voucher for {amount} leaves {allowed} request(s) available"
            ),
            format!("{served} served ({})", statuses.join(", ")),
        ));
    }
    Ok(Outcome::pass(format!(
        "{served} of {RACERS} concurrent copies served ({})",
        statuses.join(", ")
    )))
}

async fn top_up(ctx: &Ctx) -> Step {
    let mut s = Session::open(ctx, 2).await?;
    let two = s.next(1);
    let answer = s.voucher("voucher", two).await?;
    if !(200..300).contains(&answer.status) {
        return Err(blocked(format!(
            "a valid voucher for {two} was refused ({})",
            answer.status
        )));
    }
    let additional = price(&s.payer) * U256::from(2u8);
    let payload = s
        .payer
        .top_up_payload(additional)
        .await
        .map_err(Outcome::error)?;
    let answer = s.send(payload).await?;
    if answer.status >= 500 {
        return Ok(Outcome::fail("the topUp answered (not 5xx)", answer.status));
    }
    let three = s.next(1);
    let answer = s.voucher("voucher", three).await?;
    let deposit = s
        .escrow()
        .channel(s.payer.channel_id())
        .await
        .map(|c| U256::from(c.deposit))
        .map_err(|e| Outcome::error(e.to_string()))?;
    if !(200..300).contains(&answer.status) {
        return Ok(Outcome::fail(
            format!("a voucher for {three}, within the topped-up deposit, served"),
            format!("{} (deposit on chain {deposit})", answer.status),
        ));
    }
    Ok(Outcome::pass(format!(
        "after the topUp the deposit is {deposit} and a voucher beyond the old deposit was served; {}",
        s.chain_evidence().await
    )))
}

/// Two requests, then a close voucher for exactly what the last receipt
/// says was spent (ambiguity.tempo-session-v1-close-capture): the chain
/// must settle exactly that; with `after`, a voucher on the closed
/// channel must then be refused.
async fn close(ctx: &Ctx, after: bool) -> Step {
    let mut s = Session::open(ctx, 10).await?;
    let two = s.next(1);
    let answer = s.voucher("voucher", two).await?;
    if !(200..300).contains(&answer.status) {
        return Err(blocked(format!(
            "a valid voucher for {two} was refused ({})",
            answer.status
        )));
    }
    let spent = s.spent;
    let answer = s.voucher("close", spent).await?;
    if !(200..300).contains(&answer.status) {
        return Err(blocked(format!(
            "the close was refused ({}): nothing to judge",
            answer.status
        )));
    }
    let channel = s.payer.channel_id();
    let receipt = receipt_of(&answer);
    let escrow = s.escrow();
    let on_chain = escrow
        .channel(channel)
        .await
        .map_err(|e| Outcome::error(e.to_string()))?;
    let events = escrow
        .events(channel)
        .await
        .map_err(|e| Outcome::error(e.to_string()))?;
    let evidence = format!("escrow events for {channel}: {events:?}; channel {on_chain:?}");
    if after {
        let next = spent + price(&s.payer);
        let answer = s.voucher("voucher", next).await?;
        let mut verdict = refused(&answer, "a voucher on a closed channel");
        verdict.detail = format!("{}; {evidence}", verdict.detail);
        return Ok(verdict);
    }
    let Some(receipt) = receipt else {
        return Ok(Outcome::fail("a Payment-Receipt on the close", "none"));
    };
    let settled = U256::from(on_chain.settled);
    let closed = events
        .iter()
        .any(|e| matches!(e, EscrowEvent::Closed { .. }));
    let claimed = amount_in(&receipt, "spent");
    if !on_chain.finalized || !closed {
        return Ok(Outcome::fail(
            "the channel closed on chain (ChannelClosed, finalized)",
            evidence,
        ));
    }
    if Some(settled) != claimed || settled != spent {
        return Ok(Outcome::fail(
            format!("settled on chain = spent = {spent}, the close receipt's spent"),
            format!("settled {settled}, receipt spent {claimed:?}; {evidence}"),
        ));
    }
    let tx = receipt.extra.get("txHash").and_then(Value::as_str);
    Ok(Outcome::pass(format!(
        "closed on chain settling exactly the {spent} spent (txHash {}); {evidence}",
        tx.unwrap_or("absent")
    )))
}
