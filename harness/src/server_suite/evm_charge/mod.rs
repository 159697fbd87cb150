//! draft-evm-charge-00 §"Credential Type Negotiation" to §"Replay
//! Protection": the EVM charge server checks.
//!
//! Valid payments of each credential type the challenge offers settle.
//! Flawed payments only an EVM payer can make: Permit2 witnesses and
//! EIP-3009 nonces bound to another challenge; transfers of the wrong
//! amount or to the wrong recipient in each offered type (a check per
//! type, each citing that type's requirements only); a transaction hash
//! used twice or never mined (`hash`); a split request paid without
//! Permit2; a Permit2 nonce already spent; payments in another token, on
//! another chain or from another source (`foreign`). Each must be
//! refused, and the chain must show that no money moved for it (balances,
//! the token's and Permit2's nonce state).

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use mppconf_suite::codec::Challenge;
use mppconf_suite::methods::evm::{EvmChargeRequest, challenge_hash};
use serde_json::{Value, json};

use super::check::{blocked, fresh, rejection, send_credential};
use super::{Check, Ctx, Outcome};
use crate::chain::Rpc;
use crate::chain::evm::EvmChain;
use crate::methods::evm_charge::{credential, request_of};
use crate::reference::evm as build;
use crate::server_check as check;

mod foreign;
mod hash;

use foreign::{permit2_source_mismatch, transaction_wrong_chain, wrong_token};
use hash::{broadcast_transfer, hash_reuse, hash_unsettled};

type Step = Result<Outcome, Outcome>;

/// Every EVM charge check, in run order.
pub const CHECKS: &[Check] = &[
    check!(
        "evm.permit2.settles",
        [
            "evm-charge.verification.permit2-submit",
            "evm-charge.permit2.server-pays-gas",
            "evm-charge.gas.sponsorship"
        ],
        false,
        |ctx| settles(ctx, "permit2")
    ),
    check!(
        "evm.authorization.settles",
        [
            "evm-charge.verification.authorization-submit",
            "evm-charge.verification.authorization-signature"
        ],
        false,
        |ctx| settles(ctx, "authorization")
    ),
    check!(
        "evm.transaction.settles",
        ["evm-charge.verification.transaction-broadcast"],
        false,
        |ctx| settles(ctx, "transaction")
    ),
    check!(
        "evm.hash.settles",
        ["evm-charge.verification.hash-receipt-logs"],
        false,
        |ctx| settles(ctx, "hash")
    ),
    check!(
        "evm.authorization-eip3009-token",
        [
            "evm-charge.negotiation.authorization-only-eip3009",
            "evm-charge.authorization.advertise-only-eip3009",
            "evm-charge.verification.authorization-eip3009"
        ],
        false,
        |ctx| authorization_token(ctx)
    ),
    check!(
        "evm.permit2-witness-bound",
        [
            "evm-charge.permit2.server-verifies-witness",
            "evm-charge.verification.permit2-challenge-hash",
            "evm-charge.permit2.no-cross-challenge-reuse",
            "evm-charge.permit2.challenge-hash"
        ],
        false,
        |ctx| permit2_witness_bound(ctx)
    ),
    check!(
        "evm.authorization-nonce-bound",
        [
            "evm-charge.verification.authorization-fields",
            "evm-charge.authorization.contract-replay"
        ],
        false,
        |ctx| authorization_nonce_bound(ctx)
    ),
    check!(
        "evm.permit2.wrong-amount-refused",
        ["evm-charge.verification.permit2-transfer-match"],
        false,
        |ctx| wrong_transfer(ctx, "permit2", Flaw::Amount)
    ),
    check!(
        "evm.authorization.wrong-amount-refused",
        [
            "evm-charge.verification.authorization-fields",
            "evm-charge.authorization.value-amount"
        ],
        false,
        |ctx| wrong_transfer(ctx, "authorization", Flaw::Amount)
    ),
    check!(
        "evm.transaction.wrong-amount-refused",
        ["evm-charge.verification.transaction-checks"],
        false,
        |ctx| wrong_transfer(ctx, "transaction", Flaw::Amount)
    ),
    check!(
        "evm.hash.wrong-amount-refused",
        ["evm-charge.verification.hash-receipt-logs"],
        false,
        |ctx| wrong_transfer(ctx, "hash", Flaw::Amount)
    ),
    check!(
        "evm.permit2.wrong-recipient-refused",
        [
            "evm-charge.verification.permit2-transfer-match",
            "evm-charge.request.address-compare"
        ],
        false,
        |ctx| wrong_transfer(ctx, "permit2", Flaw::Recipient)
    ),
    check!(
        "evm.authorization.wrong-recipient-refused",
        [
            "evm-charge.verification.authorization-fields",
            "evm-charge.authorization.to-recipient"
        ],
        false,
        |ctx| wrong_transfer(ctx, "authorization", Flaw::Recipient)
    ),
    check!(
        "evm.transaction.wrong-recipient-refused",
        ["evm-charge.verification.transaction-checks"],
        false,
        |ctx| wrong_transfer(ctx, "transaction", Flaw::Recipient)
    ),
    check!(
        "evm.hash.wrong-recipient-refused",
        ["evm-charge.verification.hash-receipt-logs"],
        false,
        |ctx| wrong_transfer(ctx, "hash", Flaw::Recipient)
    ),
    check!(
        "evm.permit2.wrong-token-refused",
        [
            "evm-charge.permit2.token-matches-currency",
            "evm-charge.splits.same-currency"
        ],
        false,
        |ctx| wrong_token(ctx, "permit2")
    ),
    check!(
        "evm.transaction.wrong-token-refused",
        ["evm-charge.verification.transaction-checks"],
        false,
        |ctx| wrong_token(ctx, "transaction")
    ),
    check!(
        "evm.hash.wrong-token-refused",
        ["evm-charge.verification.hash-receipt-logs"],
        false,
        |ctx| wrong_token(ctx, "hash")
    ),
    check!(
        "evm.transaction.wrong-chain-refused",
        ["evm-charge.verification.transaction-checks"],
        false,
        |ctx| transaction_wrong_chain(ctx)
    ),
    check!(
        "evm.permit2.source-mismatch-refused",
        ["evm-charge.verification.permit2-signature"],
        false,
        |ctx| permit2_source_mismatch(ctx)
    ),
    check!(
        "evm.hash-reuse-refused",
        [
            "evm-charge.verification.hash-not-consumed",
            "evm-charge.verification.hash-mark-consumed",
            "evm-charge.replay.consumed-set",
            "evm-charge.replay.check-before-accept"
        ],
        false,
        |ctx| hash_reuse(ctx)
    ),
    check!(
        "evm.hash-unsettled-refused",
        [
            "evm-charge.verification.hash-receipt-logs",
            "evm-charge.settlement.wait-receipt",
            "evm-charge.hash.client-broadcasts-first"
        ],
        false,
        |ctx| hash_unsettled(ctx)
    ),
    check!(
        "evm.splits-permit2-only",
        [
            "evm-charge.splits.server-reject-other-types",
            "evm-charge.verification.splits-permit2-only",
            "evm-charge.authorization.no-splits",
            "evm-charge.transaction.no-splits",
            "evm-charge.hash.no-splits"
        ],
        false,
        |ctx| splits_permit2_only(ctx)
    ),
    check!(
        "evm.permit2-nonce-reuse-refused",
        [
            "evm-charge.replay.tokens",
            "evm-charge.replay.check-before-accept",
            "evm-charge.verification.permit2-submit",
            "evm-charge.settlement.wait-receipt"
        ],
        false,
        |ctx| permit2_nonce_reuse(ctx)
    ),
];

/// What a flawed transfer gets wrong.
#[derive(Clone, Copy)]
enum Flaw {
    /// One unit less than the request's amount.
    Amount,
    /// Another recipient than the request's.
    Recipient,
}

/// A fresh challenge of this resource with its EVM request.
async fn fresh_request(ctx: &Ctx) -> Result<(Challenge, EvmChargeRequest), Outcome> {
    let challenge = fresh(ctx).await?;
    let request = request_of(&challenge).map_err(Outcome::error)?;
    Ok((challenge, request))
}

fn chain(ctx: &Ctx, request: &EvmChargeRequest) -> EvmChain {
    EvmChain {
        rpc_url: ctx.target.rpc_url.clone(),
        chain_id: request.chain_id,
        token: request.currency,
        permit2: request.permit2,
    }
}

fn rpc(ctx: &Ctx) -> Rpc {
    Rpc::new(&ctx.target.rpc_url)
}

fn harness_error(e: impl std::fmt::Display) -> Outcome {
    Outcome::error(format!("the harness could not build the payment: {e}"))
}

/// Why a payment of `kind` could not be built: an authorization needs the
/// currency's EIP-3009 domain, which a currency without EIP-3009 does not
/// answer (a finding of evm.authorization-eip3009-token, not a harness
/// failure).
fn payload_error(kind: &str, e: impl std::fmt::Display) -> Outcome {
    if kind == "authorization" {
        Outcome::blocked(format!(
            "no authorization can be signed for the currency ({e}): see evm.authorization-eip3009-token"
        ))
    } else {
        harness_error(e)
    }
}

async fn balance(ctx: &Ctx, request: &EvmChargeRequest, who: Address) -> Result<U256, Outcome> {
    chain(ctx, request)
        .balance(who)
        .await
        .map_err(|e| Outcome::error(format!("reading a balance: {e}")))
}

/// Sends `payload` for `challenge` from the run's payer; the answer must
/// refuse it and the payer's balance must not have moved (`None`: the
/// payload moved money itself before it was sent, as a `hash` does).
async fn refused_unpaid(
    ctx: &Ctx,
    challenge: &Challenge,
    request: &EvmChargeRequest,
    payload: Value,
    what: &str,
    payer_moved: bool,
) -> Step {
    let payer = ctx.account.address();
    let before = balance(ctx, request, payer).await?;
    let header = credential(challenge, payload, request.chain_id, payer).to_header();
    let answer = send_credential(ctx, &header).await?;
    let outcome = rejection(&answer, None, None);
    if outcome.verdict != mppconf_suite::vectors::Verdict::Pass {
        return Ok(Outcome {
            detail: format!("{what}: {}", outcome.detail),
            ..outcome
        });
    }
    let after = balance(ctx, request, payer).await?;
    if !payer_moved && after != before {
        return Ok(Outcome::fail(
            format!("{what}: refused, and the payer's balance unchanged ({before})"),
            format!(
                "refused ({}), but the payer's balance is now {after}",
                answer.status
            ),
        ));
    }
    Ok(Outcome::pass(format!(
        "{what}: refused ({}); the payer's balance {after}",
        answer.status
    )))
}

/// A `kind` payment made as a conformant client would must settle: 2xx,
/// and the payer paid exactly the amount (`skip` where the challenge does
/// not offer `kind`, or offers it on a split request, which only permit2
/// pays).
async fn settles(ctx: &Ctx, kind: &str) -> Step {
    let (challenge, request) = fresh_request(ctx).await?;
    if let Some(why) = not_offered(&request, kind) {
        return Ok(Outcome::skip(why));
    }
    let payer = ctx.account.address();
    // The payer's own balance (checks run at once pay one recipient): a
    // settled payment took exactly the amount from it.
    let before = balance(ctx, &request, payer).await?;
    let payload = build::conformant_payload(&rpc(ctx), &challenge, &request, kind, &ctx.account)
        .await
        .map_err(|e| payload_error(kind, e))?;
    let header = credential(&challenge, payload, request.chain_id, payer).to_header();
    let answer = send_credential(ctx, &header).await?;
    let after = balance(ctx, &request, payer).await?;
    let paid = before.saturating_sub(after);
    Ok(if !(200..300).contains(&answer.status) {
        Outcome::fail(
            format!("a valid {kind} payment settled (2xx)"),
            format!(
                "refused: {} {}",
                answer.status,
                answer.body.chars().take(300).collect::<String>()
            ),
        )
    } else if paid != request.amount {
        Outcome::fail(
            format!("the payer paid {}", request.amount),
            format!("{} and the payer paid {paid}", answer.status),
        )
    } else {
        Outcome::pass(format!(
            "{kind}: {} and the payer paid {paid}",
            answer.status
        ))
    })
}

/// A challenge that lists `authorization` names a currency that implements
/// EIP-3009 (§"Credential Type Negotiation": "Servers MUST only include
/// `"authorization"` when the `currency` token is known to implement
/// EIP-3009"): the token answers `authorizationState` on the chain.
async fn authorization_token(ctx: &Ctx) -> Step {
    let (_, request) = fresh_request(ctx).await?;
    let listed = request
        .credential_types
        .as_ref()
        .is_some_and(|types| types.iter().any(|t| t == "authorization"));
    if !listed {
        return Ok(Outcome::skip("the challenge does not list authorization"));
    }
    Ok(
        match chain(ctx, &request)
            .authorization_used(Address::ZERO, alloy::primitives::B256::ZERO)
            .await
        {
            Ok(_) => Outcome::pass(format!(
                "the currency {} answers authorizationState(address,bytes32) (EIP-3009)",
                request.currency
            )),
            Err(e) => Outcome::fail(
                "a currency implementing EIP-3009 (authorizationState answers)",
                format!("{}: {e}", request.currency),
            ),
        },
    )
}

/// Why a check of `kind` credentials does not apply to this request:
/// not offered, or (for all but permit2) a request with splits.
fn not_offered(request: &EvmChargeRequest, kind: &str) -> Option<String> {
    if !request.offers(kind) {
        Some(format!("the challenge does not offer {kind}"))
    } else if kind != "permit2" && !request.splits.is_empty() {
        Some(format!("a request with splits: {kind} cannot pay it"))
    } else {
        None
    }
}

/// A Permit2 payment signed for another challenge (its challengeHash in
/// the witness), sent for this one: a server that submits the payload's
/// own witness settles it.
async fn permit2_witness_bound(ctx: &Ctx) -> Step {
    let (challenge, request) = fresh_request(ctx).await?;
    if !request.offers("permit2") {
        return Ok(Outcome::skip("the challenge does not offer permit2"));
    }
    let (other, _) = fresh_request(ctx).await?;
    let mut message = build::permit2_message(&challenge, &request);
    message.challenge_hash = challenge_hash(&other.id, &other.realm);
    let payload = build::permit2_payload(
        &ctx.account,
        &message,
        &request.transfers(),
        request.chain_id,
        request.permit2,
    )
    .map_err(harness_error)?;
    let outcome = refused_unpaid(
        ctx,
        &challenge,
        &request,
        payload,
        "a permit whose witness is another challenge's",
        false,
    )
    .await?;
    nonce_unspent(ctx, &request, message.nonce, outcome).await
}

/// The Permit2 nonce of a refused permit must still be unspent.
async fn nonce_unspent(
    ctx: &Ctx,
    request: &EvmChargeRequest,
    nonce: U256,
    outcome: Outcome,
) -> Step {
    if outcome.verdict != mppconf_suite::vectors::Verdict::Pass {
        return Ok(outcome);
    }
    let used = chain(ctx, request)
        .permit2_nonce_used(ctx.account.address(), nonce)
        .await
        .map_err(|e| Outcome::error(e.to_string()))?;
    Ok(if used {
        Outcome::fail(
            "the refused permit's nonce unspent on Permit2",
            format!("nonce {nonce} spent"),
        )
    } else {
        Outcome::pass(format!("{}; Permit2 nonce {nonce} unspent", outcome.detail))
    })
}

/// An EIP-3009 authorization whose nonce is another challenge's
/// challengeHash: valid on the token, bound to nothing here.
async fn authorization_nonce_bound(ctx: &Ctx) -> Step {
    let (challenge, request) = fresh_request(ctx).await?;
    if let Some(why) = not_offered(&request, "authorization") {
        return Ok(Outcome::skip(why));
    }
    let (other, _) = fresh_request(ctx).await?;
    let domain = build::token_domain_of(&rpc(ctx), request.chain_id, request.currency)
        .await
        .map_err(|e| payload_error("authorization", e))?;
    let mut message = build::authorization_message(&challenge, &request, ctx.account.address());
    message.nonce = challenge_hash(&other.id, &other.realm);
    let payload =
        build::authorization_payload(&ctx.account, &message, &domain).map_err(harness_error)?;
    let outcome = refused_unpaid(
        ctx,
        &challenge,
        &request,
        payload,
        "an authorization whose nonce is another challenge's challengeHash",
        false,
    )
    .await?;
    if outcome.verdict != mppconf_suite::vectors::Verdict::Pass {
        return Ok(outcome);
    }
    let used = chain(ctx, &request)
        .authorization_used(ctx.account.address(), message.nonce)
        .await
        .map_err(|e| Outcome::error(e.to_string()))?;
    Ok(if used {
        Outcome::fail("the authorization's nonce unused on the token", "used")
    } else {
        Outcome::pass(format!("{}; the token's nonce unused", outcome.detail))
    })
}

/// A `kind` payment of one unit less than due, or to another recipient.
async fn wrong_transfer(ctx: &Ctx, kind: &str, flaw: Flaw) -> Step {
    let (challenge, request) = fresh_request(ctx).await?;
    if let Some(why) = not_offered(&request, kind) {
        return Ok(Outcome::skip(why));
    }
    let due = request.transfers()[0].1;
    let (to, amount) = match flaw {
        Flaw::Amount => (request.recipient, due - U256::from(1u8)),
        Flaw::Recipient => (PrivateKeySigner::random().address(), due),
    };
    let what = match flaw {
        Flaw::Amount => format!("{kind} paying {amount} where {due} is due"),
        Flaw::Recipient => format!("{kind} paying {to}, not the recipient"),
    };
    let payload = flawed_payload(ctx, &challenge, &request, kind, to, amount).await?;
    refused_unpaid(ctx, &challenge, &request, payload, &what, kind == "hash").await
}

/// A payload of `kind` whose primary transfer is `amount` to `to`, the
/// rest as a conformant client makes it.
async fn flawed_payload(
    ctx: &Ctx,
    challenge: &Challenge,
    request: &EvmChargeRequest,
    kind: &str,
    to: Address,
    amount: U256,
) -> Result<Value, Outcome> {
    let signer = &ctx.account;
    match kind {
        "permit2" => {
            let mut message = build::permit2_message(challenge, request);
            message.permitted[0].1 = amount;
            let mut details = request.transfers();
            details[0] = (to, amount);
            build::permit2_payload(
                signer,
                &message,
                &details,
                request.chain_id,
                request.permit2,
            )
            .map_err(harness_error)
        }
        "authorization" => {
            let domain = build::token_domain_of(&rpc(ctx), request.chain_id, request.currency)
                .await
                .map_err(|e| payload_error("authorization", e))?;
            let mut message = build::authorization_message(challenge, request, signer.address());
            message.to = to;
            message.value = amount;
            build::authorization_payload(signer, &message, &domain).map_err(harness_error)
        }
        "transaction" => {
            let raw = build::sign_transfer(
                &rpc(ctx),
                request.chain_id,
                request.currency,
                to,
                amount,
                signer,
            )
            .await
            .map_err(harness_error)?;
            Ok(json!({"type": "transaction", "signature": alloy::primitives::Bytes::from(raw)}))
        }
        _ => {
            let hash = broadcast_transfer(ctx, request, to, amount).await?;
            Ok(json!({"type": "hash", "hash": hash}))
        }
    }
}

/// A split request paid with each other type, the primary recipient's
/// share only (the splits unpaid): §"Verification Procedure" step 5.
async fn splits_permit2_only(ctx: &Ctx) -> Step {
    let (_, probe) = fresh_request(ctx).await?;
    if probe.splits.is_empty() {
        return Ok(Outcome::skip("the request has no splits"));
    }
    let mut fold = Fold::default();
    for kind in ["authorization", "transaction", "hash"] {
        let (challenge, request) = fresh_request(ctx).await?;
        let (to, amount) = request.transfers()[0];
        let payload = flawed_payload(ctx, &challenge, &request, kind, to, amount).await?;
        fold.add(
            refused_unpaid(
                ctx,
                &challenge,
                &request,
                payload,
                &format!("{kind} paying the primary share of a split request"),
                kind == "hash",
            )
            .await?,
        );
    }
    Ok(fold.outcome())
}

/// A permit accepted, then a second permit bound to a new challenge but
/// reusing the first one's Permit2 nonce: Permit2 reverts it, and the
/// server must not grant what did not settle.
async fn permit2_nonce_reuse(ctx: &Ctx) -> Step {
    let (first, request) = fresh_request(ctx).await?;
    if !request.offers("permit2") {
        return Ok(Outcome::skip("the challenge does not offer permit2"));
    }
    let message = build::permit2_message(&first, &request);
    let payload = build::permit2_payload(
        &ctx.account,
        &message,
        &request.transfers(),
        request.chain_id,
        request.permit2,
    )
    .map_err(harness_error)?;
    let header = credential(&first, payload, request.chain_id, ctx.account.address()).to_header();
    let paid = send_credential(ctx, &header).await?;
    if !(200..300).contains(&paid.status) {
        return Err(blocked(format!(
            "a valid permit2 payment was refused ({}), see evm.permit2.settles",
            paid.status
        )));
    }
    let (second, request) = fresh_request(ctx).await?;
    let mut reused = build::permit2_message(&second, &request);
    reused.nonce = message.nonce;
    let payload = build::permit2_payload(
        &ctx.account,
        &reused,
        &request.transfers(),
        request.chain_id,
        request.permit2,
    )
    .map_err(harness_error)?;
    refused_unpaid(
        ctx,
        &second,
        &request,
        payload,
        &format!("a permit reusing Permit2 nonce {} (spent)", message.nonce),
        false,
    )
    .await
}

/// The outcomes of one check's attempts (one per credential type): the
/// worst verdict, every attempt's detail.
#[derive(Default)]
struct Fold(Vec<Outcome>);

impl Fold {
    fn add(&mut self, outcome: Outcome) {
        self.0.push(outcome);
    }

    fn outcome(self) -> Outcome {
        use mppconf_suite::vectors::Verdict;
        let rank = |v: Verdict| match v {
            Verdict::Error => 4,
            Verdict::Fail => 3,
            Verdict::Warn => 2,
            Verdict::Pass => 0,
            _ => 1,
        };
        let verdict = self
            .0
            .iter()
            .map(|o| o.verdict)
            .max_by_key(|v| rank(*v))
            .unwrap_or(Verdict::Skip);
        let detail = self
            .0
            .iter()
            .map(|o| o.detail.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        Outcome { verdict, detail }
    }
}
