//! draft-tempo-charge-00 §"Credential Schema" to §"Settlement Procedure": the Tempo charge server checks.
//!
//! Flawed payments only a Tempo payer can make: pull transactions that
//! pay the wrong amount, recipient, token, chain, memo or split, or stay
//! valid past `expires`; push hashes that pay short or were used before;
//! zero-amount proofs by the wrong key, for the wrong chain or challenge;
//! push where the request forbids it. Each must be refused, with nothing
//! broadcast where the harness sees the server's chain calls.

use alloy::primitives::{Address, TxKind, U256, address};
use mppconf_suite::codec::{Challenge, Credential, EchoedChallenge, rfc3339};
use mppconf_suite::methods::tempo_effects::{self, ChargeRequest};
use serde_json::json;
use tempo_alloy::primitives::transaction::Call;

use super::check::{blocked, fresh, refused_unbroadcast, rejection, send_credential};
use super::{Answer, Check, Ctx, Outcome};
use crate::chain::Rpc;
use crate::methods::tempo_charge;
use crate::reference::client::{self, Deviation};
use crate::reference::tx::{self, PaymentPlan};
use crate::server_check as check;

type Step = Result<Outcome, Outcome>;

/// A zero-amount proof that must not be accepted.
#[derive(Clone, Copy)]
enum ProofFlaw {
    /// Signed by another key than the `source` names.
    WrongSigner,
    /// `source` names another chain than the challenge's.
    WrongChain,
    /// Signed over another challenge id.
    OtherChallenge,
    /// A proof for a non-zero charge.
    NonZeroAmount,
}

/// A signed transaction that does not pay what the challenge asks.
#[derive(Clone, Copy)]
enum TxMutation {
    Recipient,
    Token,
    ChainId,
    Memo,
    SplitShort,
    ValidBeforeAfterExpires,
    /// The same payment signed again (another `validBefore`): a second,
    /// different credential for the same challenge.
    Resigned,
    /// The same transfers in reverse order (splits before the primary).
    Reversed,
}

/// How the harness pays on chain itself (push mode).
#[derive(Clone, Copy, PartialEq)]
enum Push {
    /// What the challenge asks.
    Exact,
    /// One unit short of the primary amount.
    Short,
    /// What the challenge asks, the transfers in reverse order.
    Reversed,
}

/// Every Tempo charge check, in run order.
pub const CHECKS: &[Check] = &[
    check!(
        "pull.short-amount-rejected",
        [
            "tempo-charge.verification.transaction-checks",
            "core.status.verification-failed",
            "core.receipt.fresh-challenge-on-failure"
        ],
        false,
        |ctx| short_amount(ctx)
    ),
    check!(
        "paid.plain-transfer-accepted",
        [
            "tempo-charge.transaction.transfer-call",
            "core.status.verified-200"
        ],
        true,
        |ctx| plain_transfer_accepted(ctx)
    ),
    check!(
        "pull.wrong-recipient-rejected",
        [
            "tempo-charge.verification.transaction-checks",
            "charge.verification.server-checks"
        ],
        false,
        |ctx| pull(ctx, TxMutation::Recipient)
    ),
    check!(
        "pull.wrong-token-rejected",
        [
            "tempo-charge.verification.transaction-checks",
            "tempo-charge.splits.same-currency"
        ],
        false,
        |ctx| pull(ctx, TxMutation::Token)
    ),
    check!(
        "pull.wrong-chain-rejected",
        ["tempo-charge.verification.transaction-checks"],
        false,
        |ctx| pull(ctx, TxMutation::ChainId)
    ),
    check!(
        "pull.wrong-memo-rejected",
        ["tempo-charge.verification.transaction-checks"],
        false,
        |ctx| pull(ctx, TxMutation::Memo)
    ),
    check!(
        "pull.short-split-rejected",
        ["tempo-charge.verification.transaction-checks"],
        false,
        |ctx| pull(ctx, TxMutation::SplitShort)
    ),
    check!(
        "pull.valid-before-after-expires",
        ["tempo-charge.transaction.valid-before-expires"],
        true,
        |ctx| pull(ctx, TxMutation::ValidBeforeAfterExpires)
    ),
    check!(
        "push.short-amount-rejected",
        [
            "tempo-charge.verification.hash-transfer-logs",
            "core.receipt.fresh-challenge-on-failure"
        ],
        false,
        |ctx| push_short(ctx)
    ),
    check!(
        "push.hash-reused-rejected",
        [
            "charge.replay.credential-once",
            "core.replay.proof-used-once"
        ],
        true,
        |ctx| push_hash_reused(ctx)
    ),
    check!(
        "proof.wrong-signer-rejected",
        ["tempo-charge.proof.server-verifies"],
        false,
        |ctx| proof(ctx, ProofFlaw::WrongSigner)
    ),
    check!(
        "proof.wrong-chain-rejected",
        ["tempo-charge.proof.server-verifies"],
        false,
        |ctx| proof(ctx, ProofFlaw::WrongChain)
    ),
    check!(
        "proof.other-challenge-rejected",
        [
            "tempo-charge.proof.server-verifies",
            "tempo-charge.proof.eip712-domain"
        ],
        false,
        |ctx| proof(ctx, ProofFlaw::OtherChallenge)
    ),
    check!(
        "proof.non-zero-amount-rejected",
        ["tempo-charge.proof.zero-amount-only"],
        false,
        |ctx| proof(ctx, ProofFlaw::NonZeroAmount)
    ),
    check!(
        "push.forbidden-rejected",
        [
            "tempo-charge.hash.no-hash-with-fee-payer-server",
            "tempo-charge.hash.no-hash-without-push-server",
            "tempo-charge.verification.hash-push-allowed"
        ],
        false,
        |ctx| push_forbidden(ctx)
    ),
    check!(
        "pull.second-payment-same-id-rejected",
        [
            "charge.replay.id-single-use",
            "core.replay.single-use-semantics"
        ],
        false,
        |ctx| second_payment_same_id(ctx)
    ),
    check!(
        "modes.push-as-advertised",
        [
            "tempo-charge.modes.omit-only-if-both",
            "tempo-charge.modes.advertise-subset",
            "tempo-charge.modes.single-mode-explicit",
            "tempo-charge.modes.pull-should"
        ],
        false,
        |ctx| push_as_advertised(ctx)
    ),
    check!(
        "pull.splits-reordered-accepted",
        ["tempo-charge.splits.server-any-order"],
        true,
        |ctx| pull_reordered(ctx)
    ),
    check!(
        "push.splits-reordered-accepted",
        [
            "tempo-charge.splits.server-any-order",
            "tempo-charge.verification.hash-transfer-logs"
        ],
        false,
        |ctx| push_reordered(ctx)
    ),
    check!(
        "push.unmined-hash-rejected",
        [
            "tempo-charge.verification.hash-receipt-success",
            "core.status.verification-failed"
        ],
        false,
        |ctx| push_unmined(ctx)
    ),
];

fn request_of(challenge: &Challenge) -> Result<ChargeRequest, Outcome> {
    ChargeRequest::from_json(&challenge.request.value)
        .map_err(|e| Outcome::error(format!("the challenge request: {e}")))
}

async fn short_amount(ctx: &Ctx) -> Step {
    let challenge = fresh(ctx).await?;
    let mut opts = tempo_charge::pay_options(&ctx.pay_context(), &challenge);
    opts.deviations.insert(Deviation::ShortAmount);
    if ChargeRequest::from_json(&challenge.request.value).is_ok_and(|r| r.amount.is_zero()) {
        return Ok(Outcome::skip("a zero-amount charge has no transaction"));
    }
    let credential = client::credential_for(&challenge, &opts)
        .await
        .map_err(|e| {
            blocked(format!(
                "no payable challenge to build a short credential for: {e}"
            ))
        })?;
    refused_unbroadcast(ctx, &credential.to_header(), None).await
}

async fn plain_transfer_accepted(ctx: &Ctx) -> Step {
    let challenge = fresh(ctx).await?;
    let request = request_of(&challenge)?;
    if request.amount.is_zero() {
        return Ok(Outcome::skip(
            "a zero-amount charge takes a proof, not a transfer",
        ));
    }
    if request.memo.is_some() {
        return Ok(Outcome::skip(
            "the challenge asks for a memo: a plain transfer is not the payment",
        ));
    }
    // Without the attribution memo the run may otherwise add.
    let mut opts = tempo_charge::pay_options(&ctx.pay_context(), &challenge);
    opts.attribution_memo = false;
    let credential = client::credential_for(&challenge, &opts)
        .await
        .map_err(|e| blocked(format!("cannot build a valid credential: {e}")))?;
    let a = send_credential(ctx, &credential.to_header()).await?;
    Ok(if (200..300).contains(&a.status) {
        Outcome::pass("a payment by plain transfer (no memo asked, none sent) was accepted")
    } else {
        Outcome::fail(
            "2xx for a payment by transfer(recipient, amount): the request asks for no memo",
            format!(
                "{} {} (ambiguity.server-required-memo: the drafts do not say a server may demand a memo it did not ask for, so this is warn)",
                a.status,
                a.body.chars().take(300).collect::<String>()
            ),
        )
    })
}

async fn pull(ctx: &Ctx, m: TxMutation) -> Step {
    let challenge = fresh(ctx).await?;
    let header = mutated_pull(ctx, &challenge, m).await?;
    refused_unbroadcast(ctx, &header, None).await
}

async fn push_short(ctx: &Ctx) -> Step {
    let challenge = push_challenge(ctx).await?;
    let hash = broadcast_payment(ctx, &challenge, Push::Short).await?;
    let header = hash_credential(&challenge, &hash);
    Ok(rejection(&send_credential(ctx, &header).await?, None, None))
}

/// A challenge paid once, then paid again with another valid payment
/// (the same transfers, signed anew): the id is spent, the second must
/// be refused however genuine its money.
async fn second_payment_same_id(ctx: &Ctx) -> Step {
    let challenge = fresh(ctx).await?;
    if request_of(&challenge)?.amount.is_zero() {
        return Ok(Outcome::skip("a zero-amount charge has no transaction"));
    }
    let opts = tempo_charge::pay_options(&ctx.pay_context(), &challenge);
    let first = client::credential_for(&challenge, &opts)
        .await
        .map_err(|e| blocked(format!("cannot build a valid credential: {e}")))?;
    let paid = send_credential(ctx, &first.to_header()).await?;
    if !(200..300).contains(&paid.status) {
        return Err(blocked(format!(
            "a valid payment was refused ({}), see paid.receipt",
            paid.status
        )));
    }
    let second = mutated_pull(ctx, &challenge, TxMutation::Resigned).await?;
    Ok(rejection(
        &send_credential(ctx, &second).await?,
        None,
        Some(&challenge.id),
    ))
}

/// §"Submission Modes": where push is offered (listed, or by omitting
/// `supportedModes`, which claims both), a valid push payment is
/// accepted; a server that lists one mode lists the one it takes. Pull
/// itself (paid.receipt pays by pull) is a SHOULD: a push-only
/// challenge warns.
async fn push_as_advertised(ctx: &Ctx) -> Step {
    let challenge = fresh(ctx).await?;
    let request = request_of(&challenge)?;
    if request.amount.is_zero() {
        return Ok(Outcome::skip(
            "a zero-amount charge: mode negotiation does not apply",
        ));
    }
    let listed = request.supported_modes.clone();
    let push_offered = request.allows_mode("push") && !request.fee_payer;
    let mut said = Vec::new();
    if push_offered {
        let hash = broadcast_payment(ctx, &challenge, Push::Exact).await?;
        let a = send_credential(ctx, &hash_credential(&challenge, &hash)).await?;
        if !(200..300).contains(&a.status) {
            let rule = match &listed {
                None => {
                    "supportedModes omitted: both modes accepted (tempo-charge.modes.omit-only-if-both)"
                }
                Some(_) => {
                    "push listed in supportedModes: push accepted (tempo-charge.modes.advertise-subset)"
                }
            };
            return Ok(Outcome::fail(
                rule,
                format!(
                    "a valid push payment ({hash}) refused: {} {}",
                    a.status,
                    a.body.chars().take(200).collect::<String>()
                ),
            ));
        }
        said.push(format!("a valid push payment accepted ({})", a.status));
    } else {
        said.push(match &listed {
            Some(m) => format!("push not offered (supportedModes {m:?})"),
            None => "push not offered (feePayer)".into(),
        });
    }
    if !request.allows_mode("pull") {
        return Ok(Outcome {
            verdict: mppconf_suite::vectors::Verdict::Warn,
            detail: format!(
                "Expected: pull mode offered (tempo-charge.modes.pull-should: SHOULD)\nActual: supportedModes {listed:?}; {}",
                said.join("; ")
            ),
        });
    }
    Ok(Outcome::pass(format!(
        "{}; supportedModes {listed:?}",
        said.join("; ")
    )))
}

/// §"Ordering": the split transfers before the primary one, in a pull
/// transaction. Local policy may demand an order before broadcasting
/// (ambiguity.pull-structure-policy), so a refusal warns.
async fn pull_reordered(ctx: &Ctx) -> Step {
    let challenge = fresh(ctx).await?;
    let header = mutated_pull(ctx, &challenge, TxMutation::Reversed).await?;
    Ok(accepted(
        &send_credential(ctx, &header).await?,
        "the transfers in reverse order were accepted",
        "2xx for the required transfers in another order (ambiguity.pull-structure-policy: local policy may refuse it, hence warn)",
    ))
}

/// A payment that must be accepted: `pass` on a 2xx, else a failure
/// expecting `expected`, with the answer's status and body.
fn accepted(a: &Answer, pass: impl Into<String>, expected: &str) -> Outcome {
    if (200..300).contains(&a.status) {
        Outcome::pass(pass)
    } else {
        Outcome::fail(
            expected,
            format!(
                "{} {}",
                a.status,
                a.body.chars().take(200).collect::<String>()
            ),
        )
    }
}

/// §"Ordering" and §"Hash Verification": a push payment whose transfer
/// events come in another order pays all the same, and is judged on its
/// logs: refusing it is a failure.
async fn push_reordered(ctx: &Ctx) -> Step {
    let challenge = push_challenge(ctx).await?;
    if request_of(&challenge)?.splits.is_empty() {
        return Ok(Outcome::skip("the challenge has no splits"));
    }
    let hash = broadcast_payment(ctx, &challenge, Push::Reversed).await?;
    Ok(accepted(
        &send_credential(ctx, &hash_credential(&challenge, &hash)).await?,
        format!("the transfer events in reverse order ({hash}) were accepted"),
        "2xx for a push payment whose logs pay every transfer, in another order",
    ))
}

/// §"Hash Verification": the hash of a payment signed but never
/// broadcast (nothing on chain, nothing spent) must be refused; the
/// harness broadcasts nothing for this check.
async fn push_unmined(ctx: &Ctx) -> Step {
    let challenge = push_challenge(ctx).await?;
    let signed = sign_push_payment(ctx, &challenge, Push::Exact).await?;
    let header = hash_credential(&challenge, &signed.hash.to_string());
    Ok(rejection(&send_credential(ctx, &header).await?, None, None))
}

async fn push_hash_reused(ctx: &Ctx) -> Step {
    let first = push_challenge(ctx).await?;
    let hash = broadcast_payment(ctx, &first, Push::Exact).await?;
    let paid = send_credential(ctx, &hash_credential(&first, &hash)).await?;
    if !(200..300).contains(&paid.status) {
        return Err(blocked(format!(
            "a valid push payment was refused ({})",
            paid.status
        )));
    }
    let second = push_challenge(ctx).await?;
    let header = hash_credential(&second, &hash);
    Ok(rejection(&send_credential(ctx, &header).await?, None, None))
}

async fn proof(ctx: &Ctx, flaw: ProofFlaw) -> Step {
    let challenge = fresh(ctx).await?;
    let request = request_of(&challenge)?;
    let zero = request.amount.is_zero();
    if zero == matches!(flaw, ProofFlaw::NonZeroAmount) {
        return Ok(Outcome::skip(if zero {
            "a zero-amount charge: a proof is what it asks for"
        } else {
            "the charge is not zero: it takes no proof"
        }));
    }
    let signer = &ctx.account;
    let (signed_id, chain, key) = match flaw {
        ProofFlaw::WrongSigner => (
            challenge.id.clone(),
            request.chain_id,
            alloy::signers::local::PrivateKeySigner::random(),
        ),
        ProofFlaw::WrongChain => (challenge.id.clone(), request.chain_id + 1, signer.clone()),
        ProofFlaw::OtherChallenge => (
            "mppconf-another-challenge".to_string(),
            request.chain_id,
            signer.clone(),
        ),
        ProofFlaw::NonZeroAmount => (challenge.id.clone(), request.chain_id, signer.clone()),
    };
    let signature =
        tx::sign_proof(&signed_id, chain, &key).map_err(|e| Outcome::error(e.to_string()))?;
    let credential = Credential {
        challenge: EchoedChallenge::echo_of(&challenge),
        payload: json!({"type": "proof", "signature": signature})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        source: Some(format!("did:pkh:eip155:{chain}:{}", signer.address())),
        unknown: Default::default(),
    };
    let header = credential.to_header();
    Ok(rejection(&send_credential(ctx, &header).await?, None, None))
}

async fn push_forbidden(ctx: &Ctx) -> Step {
    let challenge = fresh(ctx).await?;
    let request = request_of(&challenge)?;
    if request.amount.is_zero() || (!request.fee_payer && request.allows_mode("push")) {
        return Ok(Outcome::skip("the challenge allows push mode"));
    }
    // Pay it on chain for real, so only the mode is wrong.
    let hash = broadcast_payment(ctx, &challenge, Push::Exact).await?;
    let header = hash_credential(&challenge, &hash);
    Ok(rejection(&send_credential(ctx, &header).await?, None, None))
}

/// A credential for `challenge` whose transaction is changed by `m`
/// (skipped where the challenge has nothing to change).
async fn mutated_pull(ctx: &Ctx, challenge: &Challenge, m: TxMutation) -> Result<String, Outcome> {
    let request = request_of(challenge)?;
    if request.amount.is_zero() {
        return Err(Outcome::skip("a zero-amount charge has no transaction"));
    }
    let rpc = Rpc::new(&ctx.target.rpc_url);
    let (max_fee, priority) = tx::fee_params(&rpc)
        .await
        .map_err(|e| Outcome::error(e.to_string()))?;
    let expires = challenge
        .expires
        .as_deref()
        .and_then(|e| rfc3339::parse("expires", e).ok())
        .map_or(u64::MAX, |t| t.timestamp().max(0) as u64);
    let mut plan = PaymentPlan {
        chain_id: request.chain_id,
        valid_before: expires.min(tx::unix_now() + 25),
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: priority,
        fee_token: (!request.fee_payer).then_some(request.currency),
    };
    let mut transfers = request.required_transfers();
    let mut currency = request.currency;
    match m {
        TxMutation::Recipient => transfers[0].to = Address::random(),
        // AlphaUSD instead of the requested token.
        TxMutation::Token => currency = address!("20c0000000000000000000000000000000000001"),
        TxMutation::ChainId => plan.chain_id += 1,
        TxMutation::Memo => match transfers[0].memo {
            Some(memo) => transfers[0].memo = Some(!memo),
            None => return Err(Outcome::skip("the challenge asks for no memo")),
        },
        TxMutation::SplitShort => match transfers.get_mut(1) {
            Some(split) => split.amount -= U256::from(1),
            None => return Err(Outcome::skip("the challenge has no splits")),
        },
        TxMutation::ValidBeforeAfterExpires => {
            if expires == u64::MAX {
                return Err(Outcome::skip("the challenge has no expires"));
            }
            plan.valid_before = expires + 60;
        }
        TxMutation::Resigned => plan.valid_before -= 1,
        TxMutation::Reversed => {
            if transfers.len() < 2 {
                return Err(Outcome::skip("the challenge has no splits"));
            }
            transfers.reverse();
        }
    }
    // A payment meant to be accepted carries what the run's payments
    // carry (the attribution memo some servers demand).
    if matches!(m, TxMutation::Resigned | TxMutation::Reversed)
        && ctx.attribution_memo()
        && let Some(primary) = transfers.iter_mut().find(|t| t.to == request.recipient)
        && primary.memo.is_none()
    {
        primary.memo = Some(client::attribution_memo(&challenge.realm, &challenge.id));
    }
    let calls = transfers
        .iter()
        .map(|t| Call {
            to: TxKind::Call(currency),
            value: U256::ZERO,
            input: tempo_effects::transfer_calldata(t.to, t.amount, t.memo).into(),
        })
        .collect();
    let signed =
        tx::sign_payment(calls, &plan, &ctx.account).map_err(|e| Outcome::error(e.to_string()))?;
    let payload =
        json!({"type": "transaction", "signature": alloy::primitives::Bytes::from(signed.raw)});
    Ok(Credential {
        challenge: EchoedChallenge::echo_of(challenge),
        payload: payload.as_object().cloned().unwrap_or_default(),
        source: None,
        unknown: Default::default(),
    }
    .to_header())
}

/// A fresh challenge that allows push mode, or a skip.
async fn push_challenge(ctx: &Ctx) -> Result<Challenge, Outcome> {
    let challenge = fresh(ctx).await?;
    let request = request_of(&challenge)?;
    if request.amount.is_zero() || request.fee_payer || !request.allows_mode("push") {
        return Err(Outcome::skip(
            "the challenge does not offer push mode (zero amount, feePayer, or supportedModes)",
        ));
    }
    Ok(challenge)
}

/// Signs the push payment of `challenge` from the payer (as `how` says),
/// without broadcasting it.
async fn sign_push_payment(
    ctx: &Ctx,
    challenge: &Challenge,
    how: Push,
) -> Result<tx::SignedPayment, Outcome> {
    let request = request_of(challenge).map_err(|o| Outcome::error(o.detail))?;
    let rpc = Rpc::new(&ctx.target.rpc_url);
    let (max_fee, priority) = tx::fee_params(&rpc)
        .await
        .map_err(|e| Outcome::error(e.to_string()))?;
    let mut transfers = request.required_transfers();
    if how == Push::Short {
        transfers[0].amount -= U256::from(1);
    }
    if ctx.attribution_memo() && transfers[0].memo.is_none() {
        transfers[0].memo = Some(client::attribution_memo(&challenge.realm, &challenge.id));
    }
    if how == Push::Reversed {
        transfers.reverse();
    }
    let calls = transfers
        .iter()
        .map(|t| Call {
            to: TxKind::Call(request.currency),
            value: U256::ZERO,
            input: tempo_effects::transfer_calldata(t.to, t.amount, t.memo).into(),
        })
        .collect();
    let plan = PaymentPlan {
        chain_id: request.chain_id,
        valid_before: tx::unix_now() + 25,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: priority,
        fee_token: Some(request.currency),
    };
    tx::sign_payment(calls, &plan, &ctx.account).map_err(|e| Outcome::error(e.to_string()))
}

/// Pays `challenge` on chain from the payer (as `how` says); returns the
/// mined transaction hash.
async fn broadcast_payment(ctx: &Ctx, challenge: &Challenge, how: Push) -> Result<String, Outcome> {
    let signed = sign_push_payment(ctx, challenge, how).await?;
    let receipt = Rpc::new(&ctx.target.rpc_url)
        .call(
            "eth_sendRawTransactionSync",
            json!([alloy::primitives::Bytes::from(signed.raw)]),
        )
        .await
        .map_err(|e| Outcome::error(format!("broadcasting the push payment: {e}")))?;
    if receipt["status"] != "0x1" {
        return Err(Outcome::error(format!(
            "the push payment reverted: {receipt}"
        )));
    }
    Ok(signed.hash.to_string())
}

fn hash_credential(challenge: &Challenge, hash: &str) -> String {
    Credential {
        challenge: EchoedChallenge::echo_of(challenge),
        payload: json!({"type": "hash", "hash": hash})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        source: None,
        unknown: Default::default(),
    }
    .to_header()
}
