//! Payments that pay the request's amount to its recipient but are bound
//! to something else: another token than the currency, another chain,
//! a Permit2 `source` naming another payer or chain. The server must
//! refuse each, and the chain must show that nothing moved.

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use mppconf_suite::methods::evm::EvmChargeRequest;
use serde_json::json;

use super::{
    Fold, Step, balance, chain, flawed_payload, fresh_request, harness_error, not_offered, rpc,
};
use crate::chain::contracts;
use crate::chain::evm::EvmChain;
use crate::methods::evm_charge::credential;
use crate::reference::evm as build;
use crate::server_suite::Ctx;
use crate::server_suite::Outcome;
use crate::server_suite::check::{refused_unbroadcast, rejection, send_credential};

/// A second EIP-3009 token (mppconf's own, deployed now): the payer
/// holds some and has approved Permit2 for it, so that a payment in the
/// wrong currency is one the chain would settle.
async fn decoy(ctx: &Ctx, request: &EvmChargeRequest) -> Result<EvmChain, Outcome> {
    let artifact = contracts::artifact(&contracts::MPP_TEST_TOKEN).map_err(harness_error)?;
    let token = contracts::deploy(&rpc(ctx), &artifact)
        .await
        .map_err(harness_error)?;
    let decoy = EvmChain {
        token,
        ..chain(ctx, request)
    };
    let payer = ctx.account.address();
    decoy
        .fund(payer, U256::from(1_000_000_000u64))
        .await
        .map_err(harness_error)?;
    decoy.approve_permit2(payer).await.map_err(harness_error)?;
    Ok(decoy)
}

/// A `kind` payment of the right amount to the right recipient, in
/// another token than the request's currency: refused, and the other
/// token did not move from the payer (for `hash`, which moved it first:
/// refused).
pub(super) async fn wrong_token(ctx: &Ctx, kind: &str) -> Step {
    let (challenge, request) = fresh_request(ctx).await?;
    if let Some(why) = not_offered(&request, kind) {
        return Ok(Outcome::skip(why));
    }
    let decoy = decoy(ctx, &request).await?;
    // The payment as a conformant client makes it for a request whose
    // currency were the other token.
    let mut other = request.clone();
    other.currency = decoy.token;
    let (to, amount) = request.transfers()[0];
    let payload = flawed_payload(ctx, &challenge, &other, kind, to, amount).await?;
    let payer = ctx.account.address();
    let before = decoy.balance(payer).await.map_err(harness_error)?;
    let header = credential(&challenge, payload, request.chain_id, payer).to_header();
    let answer = send_credential(ctx, &header).await?;
    let what = format!("{kind} paying in {}, not the currency", decoy.token);
    let outcome = rejection(&answer, None, None);
    if outcome.verdict != mppconf_suite::vectors::Verdict::Pass {
        return Ok(Outcome {
            detail: format!("{what}: {}", outcome.detail),
            ..outcome
        });
    }
    let after = decoy.balance(payer).await.map_err(harness_error)?;
    if kind != "hash" && after != before {
        return Ok(Outcome::fail(
            format!("{what}: refused, and none of that token taken from the payer"),
            format!(
                "refused ({}), but {} of it taken",
                answer.status,
                before - after
            ),
        ));
    }
    Ok(Outcome::pass(format!(
        "{what}: refused ({}); the payer's balance of it {after}",
        answer.status
    )))
}

/// A `transaction` paying the request, signed for another chain: refused
/// before anything is broadcast (§"Transaction Verification" step 2).
pub(super) async fn transaction_wrong_chain(ctx: &Ctx) -> Step {
    let (challenge, request) = fresh_request(ctx).await?;
    if let Some(why) = not_offered(&request, "transaction") {
        return Ok(Outcome::skip(why));
    }
    let other_chain = request.chain_id + 1;
    let raw = build::sign_transfer(
        &rpc(ctx),
        other_chain,
        request.currency,
        request.recipient,
        request.amount,
        &ctx.account,
    )
    .await
    .map_err(harness_error)?;
    let payload = json!({"type": "transaction", "signature": alloy::primitives::Bytes::from(raw)});
    let header =
        credential(&challenge, payload, request.chain_id, ctx.account.address()).to_header();
    let outcome = refused_unbroadcast(ctx, &header, None).await?;
    Ok(Outcome {
        detail: format!(
            "a transfer signed for chain {other_chain}: {}",
            outcome.detail
        ),
        ..outcome
    })
}

/// A valid permit of the payer's whose `source` names another address,
/// then one whose `source` names another chain
/// (ambiguity.evm-permit2-owner-source: both must be refused).
pub(super) async fn permit2_source_mismatch(ctx: &Ctx) -> Step {
    let (_, probe) = fresh_request(ctx).await?;
    if let Some(why) = not_offered(&probe, "permit2") {
        return Ok(Outcome::skip(why));
    }
    let payer = ctx.account.address();
    let mut fold = Fold::default();
    let other_address = PrivateKeySigner::random().address();
    for (source, what) in [
        (
            build::source_of(probe.chain_id, other_address),
            "a permit signed by the payer, its source another address",
        ),
        (
            build::source_of(probe.chain_id + 1, payer),
            "a permit signed by the payer, its source on another chain",
        ),
    ] {
        let (challenge, request) = fresh_request(ctx).await?;
        let message = build::permit2_message(&challenge, &request);
        let payload = build::permit2_payload(
            &ctx.account,
            &message,
            &request.transfers(),
            request.chain_id,
            request.permit2,
        )
        .map_err(harness_error)?;
        let mut credential = credential(&challenge, payload, request.chain_id, payer);
        credential.source = Some(source);
        let before = balance(ctx, &request, payer).await?;
        let answer = send_credential(ctx, &credential.to_header()).await?;
        let outcome = rejection(&answer, None, None);
        let after = balance(ctx, &request, payer).await?;
        fold.add(
            if outcome.verdict != mppconf_suite::vectors::Verdict::Pass {
                Outcome {
                    detail: format!("{what}: {}", outcome.detail),
                    ..outcome
                }
            } else if after != before {
                Outcome::fail(
                    format!("{what}: refused, the payer's balance unchanged"),
                    format!("refused, but {} taken", before - after),
                )
            } else {
                Outcome::pass(format!("{what}: refused ({})", answer.status))
            },
        );
    }
    Ok(fold.outcome())
}
