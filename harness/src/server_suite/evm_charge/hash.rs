//! The `hash` credential type's own server checks (draft-evm-charge-00
//! §"Hash Verification"): the payer broadcasts its transfer itself, so a
//! hash accepted once or one of a transfer that settled nothing must be
//! refused.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use mppconf_suite::methods::evm::EvmChargeRequest;
use serde_json::json;

use super::{Fold, Step, chain, fresh_request, harness_error, refused_unpaid, rpc};
use crate::methods::evm_charge::credential;
use crate::reference::evm as build;
use crate::server_suite::Ctx;
use crate::server_suite::Outcome;
use crate::server_suite::check::{blocked, rejection, send_credential};

/// The payer's own transfer, broadcast and mined; its hash.
pub(super) async fn broadcast_transfer(
    ctx: &Ctx,
    request: &EvmChargeRequest,
    to: Address,
    amount: U256,
) -> Result<String, Outcome> {
    let raw = build::sign_transfer(
        &rpc(ctx),
        request.chain_id,
        request.currency,
        to,
        amount,
        &ctx.account,
    )
    .await
    .map_err(harness_error)?;
    let receipt = build::broadcast(&rpc(ctx), &raw)
        .await
        .map_err(harness_error)?;
    if receipt["status"] != "0x1" {
        return Err(harness_error(format!(
            "the payer's transfer reverted: {receipt}"
        )));
    }
    Ok(receipt["transactionHash"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// One mined transfer's hash, accepted for a challenge, then presented
/// for another.
pub(super) async fn hash_reuse(ctx: &Ctx) -> Step {
    let (first, request) = fresh_request(ctx).await?;
    if !request.offers("hash") || !request.splits.is_empty() {
        return Ok(Outcome::skip(
            "the challenge does not offer hash (without splits)",
        ));
    }
    let hash = broadcast_transfer(ctx, &request, request.recipient, request.amount).await?;
    let payload = json!({"type": "hash", "hash": hash});
    let header = credential(
        &first,
        payload.clone(),
        request.chain_id,
        ctx.account.address(),
    )
    .to_header();
    let paid = send_credential(ctx, &header).await?;
    if !(200..300).contains(&paid.status) {
        return Err(blocked(format!(
            "a valid hash payment was refused ({}), see evm.hash.settles",
            paid.status
        )));
    }
    let (second, request) = fresh_request(ctx).await?;
    refused_unpaid(
        ctx,
        &second,
        &request,
        payload,
        &format!("hash {hash}, already accepted for challenge {}", first.id),
        false,
    )
    .await
}

/// The hash of a transfer that settled nothing: signed but never
/// broadcast, or mined and reverted (the payer holds none of the token);
/// its calldata pays the request all the same.
pub(super) async fn hash_unsettled(ctx: &Ctx) -> Step {
    let (_, probe) = fresh_request(ctx).await?;
    if !probe.offers("hash") || !probe.splits.is_empty() {
        return Ok(Outcome::skip(
            "the challenge does not offer hash (without splits)",
        ));
    }
    let mut fold = Fold::default();
    // Never broadcast.
    let (challenge, request) = fresh_request(ctx).await?;
    let raw = build::sign_transfer(
        &rpc(ctx),
        request.chain_id,
        request.currency,
        request.recipient,
        request.amount,
        &ctx.account,
    )
    .await
    .map_err(harness_error)?;
    let hash = alloy::primitives::keccak256(&raw);
    fold.add(
        refused_unpaid(
            ctx,
            &challenge,
            &request,
            json!({"type": "hash", "hash": hash}),
            &format!("hash {hash} of a transfer never broadcast"),
            false,
        )
        .await?,
    );
    // Mined, reverted: from an account with gas and no tokens.
    let (challenge, request) = fresh_request(ctx).await?;
    let empty = PrivateKeySigner::random();
    chain(ctx, &request)
        .fund(empty.address(), U256::ZERO)
        .await
        .map_err(harness_error)?;
    let raw = build::sign_transfer(
        &rpc(ctx),
        request.chain_id,
        request.currency,
        request.recipient,
        request.amount,
        &empty,
    )
    .await
    .map_err(harness_error)?;
    let receipt = build::broadcast(&rpc(ctx), &raw)
        .await
        .map_err(harness_error)?;
    if receipt["status"] != "0x0" {
        return Err(harness_error(format!(
            "a transfer without funds did not revert: {receipt}"
        )));
    }
    let hash = receipt["transactionHash"].clone();
    let header = credential(
        &challenge,
        json!({"type": "hash", "hash": hash}),
        request.chain_id,
        empty.address(),
    )
    .to_header();
    let answer = send_credential(ctx, &header).await?;
    let outcome = rejection(&answer, None, None);
    fold.add(Outcome {
        detail: format!("hash {hash} of a reverted transfer: {}", outcome.detail),
        ..outcome
    });
    Ok(fold.outcome())
}
