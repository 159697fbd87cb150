//! draft-evm-session-00 §"Verification Procedure" to §"Receipt
//! Generation": the EVM session server checks, client-broadcast opens
//! (`hash`).
//!
//! Each check opens its own channel on the challenge's escrow with a fresh
//! payer (approve and `open()` broadcast by the payer), then pays the way
//! an attacker would: an open naming a reverted transaction of a channel
//! that exists, a channel to another payee, vouchers signed by a stranger
//! (fresh, or old amounts that a server answers before checking who
//! signed), above the deposit or below the minimum delta, a topUp that
//! claims more than it added, a close whose voucher is below what the
//! server already holds. The money is read from the receipts and the
//! chain: the service delivered never exceeds what vouchers paid, and a
//! close pays the payee what the close voucher says.
//!
//! Refusals are judged by ambiguity.evm-session-error-responses: the
//! core's 402 with a fresh challenge passes, and so does the draft's own
//! status with its session problem type; a session type under another
//! status, or not the most specific one, is `warn`; 2xx, 5xx, a receipt,
//! or a problem type that is no URI (a raw revert) fail.

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;

use mppconf_suite::vectors::Verdict;
use serde_json::Value;

use super::check::{blocked, transport};
use super::{Answer, Check, Ctx, Outcome};
use crate::chain::evm::{EvmChain, PERMIT2};
use crate::methods::evm_session::OpenFlaw;
use crate::server_check as check;

mod session;

use session::{Session, amount_in, receipt_of, refused};

type Step = Result<Outcome, Outcome>;

/// Every EVM session check, in run order.
pub const CHECKS: &[Check] = &[
    check!(
        "evm-session.open-and-vouchers-paid",
        [
            "evm-session.open-verify.open-executed",
            "evm-session.open-verify.created-channel",
            "evm-session.open-verify.initial-voucher",
            "evm-session.open-verify.init-accounting",
            "evm-session.accounting.state",
            "evm-session.accounting.receipt-balance",
            "evm-session.receipt.every-paid-request",
            "evm-session.receipt.fields",
            "evm-session.receipt.reference-channel-id"
        ],
        false,
        |ctx| open_and_vouchers(ctx)
    ),
    check!(
        "evm-session.open-reverted-transaction-refused",
        [
            "evm-session.open-verify.receipt-status",
            "evm-session.tx-outcome.read-status",
            "evm-session.tx-outcome.revert-fail-fast"
        ],
        false,
        |ctx| flawed_open(ctx, OpenFlaw::RevertedTransaction)
    ),
    check!(
        "evm-session.open-other-payee-refused",
        ["evm-session.open-verify.channel-state"],
        false,
        |ctx| flawed_open(ctx, OpenFlaw::OtherPayee)
    ),
    check!(
        "evm-session.foreign-signature-refused",
        [
            "evm-session.voucher-verify.signature",
            "evm-session.voucher-verify.signer"
        ],
        false,
        |ctx| foreign_signature(ctx)
    ),
    check!(
        "evm-session.high-s-refused",
        ["evm-session.voucher-verify.low-s"],
        false,
        |ctx| high_s(ctx)
    ),
    check!(
        "evm-session.close-requested-voucher-refused",
        ["evm-session.voucher-verify.no-pending-close"],
        false,
        |ctx| close_requested(ctx)
    ),
    check!(
        "evm-session.forged-close-refused",
        [
            "evm-session.close.server-calls-close",
            "evm-session.close-coop.covers-spent"
        ],
        false,
        |ctx| forged_close(ctx)
    ),
    check!(
        "evm-session.stale-forged-voucher-refused",
        [
            "evm-session.voucher-verify.signature-before-idempotency",
            "evm-session.idempotency.after-verification",
            "evm-session.idempotency.bad-signature-error"
        ],
        false,
        |ctx| stale_forged(ctx)
    ),
    check!(
        "evm-session.stale-voucher-pays-nothing",
        [
            "evm-session.voucher-verify.idempotent-replay",
            "evm-session.accounting.balance-check",
            "evm-session.security.rollback"
        ],
        false,
        |ctx| stale_voucher(ctx)
    ),
    check!(
        "evm-session.concurrent-requests-bounded",
        [
            "evm-session.concurrency.serialized",
            "evm-session.concurrency.atomic-vouchers"
        ],
        false,
        |ctx| concurrent(ctx)
    ),
    check!(
        "evm-session.idempotent-retry-not-charged",
        ["evm-session.idempotency-key.no-double-charge"],
        false,
        |ctx| idempotent_retry(ctx)
    ),
    check!(
        "evm-session.voucher-above-deposit-refused",
        ["evm-session.voucher-verify.deposit-cap"],
        false,
        |ctx| above_deposit(ctx)
    ),
    check!(
        "evm-session.min-voucher-delta",
        ["evm-session.voucher-verify.min-delta"],
        false,
        |ctx| min_delta(ctx)
    ),
    check!(
        "evm-session.top-up-verified",
        [
            "evm-session.topup-verify.hash-executed",
            "evm-session.topup-verify.channel-affected",
            "evm-session.topup-verify.deposit-increase"
        ],
        false,
        |ctx| top_up(ctx)
    ),
    // Alone: it reads the payee's balance, which other checks' closes
    // raise.
    check!(
        alone "evm-session.close-pays-close-voucher",
        [
            "evm-session.close.server-calls-close",
            "evm-session.close-coop.covers-spent",
            "evm-session.close-coop.check-status",
            "evm-session.close-coop.receipt-tx-hash"
        ],
        false,
        |ctx| close(ctx, false)
    ),
    check!(
        "evm-session.closed-channel-refused",
        [
            "evm-session.errors.status-codes",
            "evm-session.errors.problem-types"
        ],
        false,
        |ctx| close(ctx, true)
    ),
];

/// The first open, a voucher, and their receipts (§"Receipt Generation").
async fn open_and_vouchers(ctx: &Ctx) -> Step {
    let (mut session, payload) = Session::opening(ctx, 10, 1, OpenFlaw::None).await?;
    let answer = session.send(payload).await?;
    if !(200..300).contains(&answer.status) {
        return Ok(Outcome::fail(
            "a valid open (hash of a mined open(), initial voucher for one request) served",
            format!("{}: {}", answer.status, answer.body),
        ));
    }
    let one = session.units(1);
    judge_receipt(&session, &answer, one, one)?;
    session.note(&answer);
    let answer = session.voucher("voucher", session.units(2)).await?;
    if !(200..300).contains(&answer.status) {
        return Ok(Outcome::fail(
            "a voucher for the second request served",
            format!("{}: {}", answer.status, answer.body),
        ));
    }
    let two = session.units(2);
    judge_receipt(&session, &answer, two, two)?;
    Ok(Outcome::pass(format!(
        "open and voucher served, receipts of channel {} state acceptedCumulative and spent {one} then {two}",
        session.payer.channel_id()
    )))
}

/// A paid answer's receipt: every REQUIRED field, the channel as its
/// reference, and the balance the vouchers paid.
fn judge_receipt(
    session: &Session<'_>,
    answer: &Answer,
    accepted: U256,
    spent: U256,
) -> Result<(), Outcome> {
    let Some(receipt) = receipt_of(answer) else {
        return Err(Outcome::fail(
            "a Payment-Receipt on a paid answer",
            answer.header("payment-receipt").unwrap_or("none"),
        ));
    };
    let channel = session.payer.channel_id().to_string();
    let text = |k: &str| receipt.extra.get(k).and_then(Value::as_str);
    let wanted = [
        ("method", Some(receipt.method.as_str()) == Some("evm")),
        ("intent", text("intent") == Some("session")),
        ("status", receipt.status == "success"),
        (
            "reference",
            receipt.reference.eq_ignore_ascii_case(&channel),
        ),
        (
            "channelId",
            text("channelId").is_some_and(|c| c.eq_ignore_ascii_case(&channel)),
        ),
        (
            "challengeId",
            text("challengeId") == Some(session.challenge.id.as_str()),
        ),
        (
            "chainId",
            receipt.extra.get("chainId").and_then(Value::as_u64)
                == Some(session.payer.terms.chain_id),
        ),
        (
            "acceptedCumulative",
            amount_in(&receipt, "acceptedCumulative") == Some(accepted),
        ),
        ("spent", amount_in(&receipt, "spent") == Some(spent)),
    ];
    let wrong: Vec<&str> = wanted
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(k, _)| *k)
        .collect();
    if wrong.is_empty() {
        return Ok(());
    }
    Err(Outcome::fail(
        format!(
            "a receipt with method evm, intent session, status success, reference and channelId {channel}, challengeId {}, chainId {}, acceptedCumulative {accepted}, spent {spent}",
            session.challenge.id, session.payer.terms.chain_id
        ),
        format!("wrong or missing {wrong:?} in {:?}", receipt),
    ))
}

async fn flawed_open(ctx: &Ctx, flaw: OpenFlaw) -> Step {
    let (session, payload) = Session::opening(ctx, 10, 1, flaw).await?;
    let answer = session.send(payload).await?;
    Ok(match flaw {
        OpenFlaw::RevertedTransaction => refused(
            &answer,
            "an open naming a reverted open() of a channel that exists",
            &["transaction-reverted"],
        ),
        _ => refused(&answer, "an open of a channel paying another payee", &[]),
    })
}

async fn foreign_signature(ctx: &Ctx) -> Step {
    let session = Session::open(ctx, 10, 1).await?;
    let answer = session.forged(session.units(2)).await?;
    Ok(refused(
        &answer,
        "a voucher signed by a key that is neither payer nor authorized signer",
        &["signer-mismatch", "invalid-signature"],
    ))
}

/// The high-s twin `(r, n - s, 55 - v)` of a valid voucher, then its
/// low-s original, which must pass (else the refusal proves nothing).
async fn high_s(ctx: &Ctx) -> Step {
    let session = Session::open(ctx, 10, 1).await?;
    let amount = session.units(2);
    let good = session.payer.sign(amount);
    let n = U256::from_str_radix(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
        16,
    )
    .expect("the curve order");
    let mut twin = good.clone();
    twin[32..64].copy_from_slice(&(n - U256::from_be_slice(&good[32..64])).to_be_bytes::<32>());
    twin[64] = if good[64] == 27 { 28 } else { 27 };
    let answer = session
        .send(
            session
                .payer
                .voucher_payload_signed("voucher", amount, &twin),
        )
        .await?;
    let verdict = refused(
        &answer,
        "the high-s twin of a valid voucher",
        &["invalid-signature"],
    );
    if verdict.verdict == Verdict::Fail {
        return Ok(verdict);
    }
    let answer = session
        .send(
            session
                .payer
                .voucher_payload_signed("voucher", amount, &good),
        )
        .await?;
    if !(200..300).contains(&answer.status) {
        return Err(blocked(format!(
            "the low-s original was refused too ({}): the refusal proves nothing",
            answer.status
        )));
    }
    Ok(verdict)
}

/// A voucher after the payer's own `requestClose()` on chain.
async fn close_requested(ctx: &Ctx) -> Step {
    let mut session = Session::open(ctx, 10, 1).await?;
    session
        .payer
        .request_close()
        .await
        .map_err(Outcome::error)?;
    let answer = session.voucher("voucher", session.units(2)).await?;
    Ok(refused(
        &answer,
        "a voucher on a channel with a pending close request",
        &[],
    ))
}

/// A close signed by a stranger for nothing, on a channel that served a
/// request: a server that does not verify the close voucher, and settles
/// with the highest one it holds when the close voucher is too low
/// (§"Cooperative Close" step 1), lets anyone who knows a channel id end
/// the payer's session (ambiguity.evm-session-verification-gaps: never
/// 2xx). The channel must still serve afterwards.
async fn forged_close(ctx: &Ctx) -> Step {
    let mut session = Session::open(ctx, 10, 3).await?;
    let stranger = PrivateKeySigner::random();
    let signature = session.payer.sign_as(&stranger, U256::ZERO);
    let answer = session
        .send(
            session
                .payer
                .voucher_payload_signed("close", U256::ZERO, &signature),
        )
        .await?;
    let verdict = refused(
        &answer,
        "a close for 0 signed by a stranger",
        &["signer-mismatch", "invalid-signature"],
    );
    if verdict.verdict == Verdict::Fail {
        return Ok(verdict);
    }
    let answer = session.voucher("voucher", session.units(4)).await?;
    if !(200..300).contains(&answer.status) {
        return Ok(Outcome::fail(
            "the channel still serves after a stranger's close was refused",
            format!("{}: {}", answer.status, answer.body),
        ));
    }
    Ok(verdict)
}

/// A stranger's voucher for an amount the server already accepted, on a
/// request the accepted balance could pay: answered before its signature
/// is verified, it spends the payer's balance.
async fn stale_forged(ctx: &Ctx) -> Step {
    let session = Session::open(ctx, 10, 3).await?;
    let answer = session.forged(session.units(2)).await?;
    Ok(refused(
        &answer,
        "a stranger's voucher at an amount already accepted",
        &["signer-mismatch", "invalid-signature"],
    ))
}

/// The accepted voucher again, on a request its balance no longer pays.
async fn stale_voucher(ctx: &Ctx) -> Step {
    let mut session = Session::open(ctx, 10, 1).await?;
    let before = (session.accepted, session.spent);
    let answer = session.voucher("voucher", session.units(1)).await?;
    if (200..300).contains(&answer.status) {
        return Ok(Outcome::fail(
            "a request paid only by a voucher already spent refused (402)",
            format!(
                "{}: served (acceptedCumulative {} → {}, spent {} → {})",
                answer.status, before.0, session.accepted, before.1, session.spent
            ),
        ));
    }
    Ok(refused(
        &answer,
        "a request paid only by a voucher already spent",
        &["insufficient-balance"],
    ))
}

/// How many copies of one voucher race each other.
const RACERS: usize = 6;

/// Six concurrent copies of a voucher that pays one more request: at most
/// one is served (§"Concurrency Model").
async fn concurrent(ctx: &Ctx) -> Step {
    let session = Session::open(ctx, 10, 1).await?;
    let amount = session.units(2);
    let header = session
        .payer
        .credential(
            &session.challenge,
            session.payer.voucher_payload("voucher", amount),
        )
        .to_header();
    let headers = [header.as_str()];
    let answers = futures::future::join_all((0..RACERS).map(|_| ctx.send(&headers, None))).await;
    let statuses: Vec<String> = answers
        .iter()
        .map(|a| {
            a.as_ref()
                .map_or_else(|e| e.clone(), |a| a.status.to_string())
        })
        .collect();
    let served = answers
        .iter()
        .filter(|a| a.as_ref().is_ok_and(|a| (200..300).contains(&a.status)))
        .count();
    if served > 1 {
        return Ok(Outcome::fail(
            format!(
                "at most 1 of {RACERS} concurrent copies of a voucher paying one more request served"
            ),
            format!("{served} served ({})", statuses.join(", ")),
        ));
    }
    Ok(Outcome::pass(format!(
        "{served} of {RACERS} concurrent copies served ({})",
        statuses.join(", ")
    )))
}

/// A request paid one request ahead, retried with the same
/// `Idempotency-Key`: the retry must not raise `spent` (§"Request
/// Idempotency": MUST NOT), shown by the next request's receipt.
async fn idempotent_retry(ctx: &Ctx) -> Step {
    let mut session = Session::open(ctx, 10, 1).await?;
    let ahead = session.units(3);
    let header = session
        .payer
        .credential(
            &session.challenge,
            session.payer.voucher_payload("voucher", ahead),
        )
        .to_header();
    let key = format!("mppconf-{}", alloy::primitives::B128::random());
    let first = ctx
        .send_with(&[&header], None, &[("idempotency-key", &key)])
        .await
        .map_err(transport)?;
    if !(200..300).contains(&first.status) {
        return Err(blocked(format!(
            "a valid voucher for {ahead} was refused ({}): evm-session.open-and-vouchers-paid says why",
            first.status
        )));
    }
    session.note(&first);
    let spent = session.spent;
    let retry = ctx
        .send_with(&[&header], None, &[("idempotency-key", &key)])
        .await
        .map_err(transport)?;
    let next = session.voucher("voucher", ahead).await?;
    let after = receipt_of(&next).and_then(|r| amount_in(&r, "spent"));
    let price = session.payer.terms.price;
    if (200..300).contains(&next.status) && after != Some(spent + price) {
        return Ok(Outcome::fail(
            format!(
                "spent {} after the request, its retry and one more request at {price} (the retry charged nothing)",
                spent + price
            ),
            format!(
                "spent {}",
                after.map_or_else(|| "not stated".to_string(), |a| a.to_string())
            ),
        ));
    }
    if !(200..300).contains(&next.status) {
        return Ok(Outcome::fail(
            format!(
                "the balance left by the voucher for {ahead} (spent {spent}) serves one more request: the retry charged nothing"
            ),
            format!("{}: {}", next.status, next.body),
        ));
    }
    Ok(Outcome::pass(format!(
        "the retry got {} without a charge; the next request brought spent from {spent} to {}",
        retry.status, session.spent
    )))
}

async fn above_deposit(ctx: &Ctx) -> Step {
    let mut session = Session::open(ctx, 10, 1).await?;
    let answer = session.voucher("voucher", session.units(11)).await?;
    Ok(refused(
        &answer,
        "a voucher above the channel's deposit",
        &["amount-exceeds-deposit"],
    ))
}

/// A voucher one unit short of `minVoucherDelta` above the accepted
/// amount, on a request the accepted balance could pay anyway.
async fn min_delta(ctx: &Ctx) -> Step {
    let mut session = Session::open(ctx, 10, 3).await?;
    let delta = session.payer.terms.min_voucher_delta;
    if delta <= U256::from(1u8) {
        return Ok(Outcome::skip(
            "the challenge sets no minVoucherDelta above 1: no increment is too small",
        ));
    }
    let amount = session.accepted + delta - U256::from(1u8);
    let answer = session.voucher("voucher", amount).await?;
    Ok(refused(
        &answer,
        &format!(
            "a voucher raising the accepted amount by {} (minVoucherDelta {delta})",
            delta - U256::from(1u8)
        ),
        &["delta-too-small"],
    ))
}

/// A topUp whose payload claims ten times what its transaction added must
/// be refused (§"TopUp Verification" step 4: "exactly"); a true one is
/// accepted and its deposit pays vouchers the old deposit could not.
async fn top_up(ctx: &Ctx) -> Step {
    let mut session = Session::open(ctx, 2, 1).await?;
    let mut claim = session
        .payer
        .top_up_payload(session.units(1))
        .await
        .map_err(Outcome::error)?;
    claim.insert(
        "additionalDeposit".into(),
        session.units(10).to_string().into(),
    );
    let answer = session.send(claim).await?;
    if (200..300).contains(&answer.status) {
        return Ok(Outcome::fail(
            "a topUp claiming 10 requests' deposit for a transaction adding 1 refused",
            format!("{}: accepted", answer.status),
        ));
    }
    let true_top_up = session
        .payer
        .top_up_payload(session.units(10))
        .await
        .map_err(Outcome::error)?;
    let answer = session.send(true_top_up).await?;
    if !(200..300).contains(&answer.status) {
        return Ok(Outcome::fail(
            "a topUp whose transaction added what it claims accepted",
            format!("{}: {}", answer.status, answer.body),
        ));
    }
    // Deposit now 13 requests: a voucher for 5 is above the opening's 2.
    let answer = session.voucher("voucher", session.units(5)).await?;
    if !(200..300).contains(&answer.status) {
        return Ok(Outcome::fail(
            "a voucher within the topped-up deposit (5 of 13 requests) served",
            format!("{}: {}", answer.status, answer.body),
        ));
    }
    Ok(Outcome::pass(
        "an overstated topUp refused; a true one accepted and its deposit spent",
    ))
}

/// A channel whose vouchers reached 3 requests while one was served, then
/// closed with a voucher for the one served: the payee must receive what
/// the close voucher says, not more; `after` then pays on the closed
/// channel.
async fn close(ctx: &Ctx, after: bool) -> Step {
    let mut session = Session::open(ctx, 10, 3).await?;
    let chain = EvmChain {
        rpc_url: ctx.target.rpc_url.clone(),
        chain_id: session.payer.terms.chain_id,
        token: session.payer.terms.currency,
        permit2: PERMIT2,
    };
    let payee = session.payer.terms.recipient;
    let balance = |chain: &EvmChain| {
        let chain = chain.clone();
        async move {
            chain
                .balance(payee)
                .await
                .map_err(|e| Outcome::error(format!("reading the payee's balance: {e}")))
        }
    };
    let before = balance(&chain).await?;
    let spent = session.spent;
    let answer = session.voucher("close", spent).await?;
    if !(200..300).contains(&answer.status) {
        return Ok(Outcome::fail(
            format!("a close with a voucher for what was spent ({spent}) accepted"),
            format!("{}: {}", answer.status, answer.body),
        ));
    }
    let tx_hash = receipt_of(&answer).and_then(|r| {
        r.extra
            .get("txHash")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let received = balance(&chain).await?.saturating_sub(before);
    if !after {
        if tx_hash.is_none() {
            return Ok(Outcome::fail(
                "the close's receipt carries the close transaction's txHash",
                "no txHash",
            ));
        }
        if received != spent {
            return Ok(Outcome::fail(
                format!("the payee receives the close voucher's {spent}"),
                format!("the payee received {received}"),
            ));
        }
        return Ok(Outcome::pass(format!(
            "closed in {}: the payee received {received}, the close voucher's amount",
            tx_hash.unwrap_or_default()
        )));
    }
    let answer = session.voucher("voucher", session.units(4)).await?;
    Ok(refused(
        &answer,
        "a voucher on a channel the server closed",
        &["channel-finalized", "channel-not-found"],
    ))
}
