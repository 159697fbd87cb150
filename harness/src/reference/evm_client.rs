//! `mppconf pay` for EVM charge (draft-evm-charge-00): the reference
//! client's checks before it signs and the credential it signs.
//!
//! It verifies the request as §"Security Considerations" asks ("Clients
//! MUST parse and verify the `request` payload before signing"): the
//! amount and recipient against its policy, the token, the chain its RPC
//! serves, splits strictly below the amount, and (a SHOULD) the canonical
//! Permit2 address; then pays with the first offered credential type it
//! supports (§"Credential Type Negotiation"; it supports all four), and
//! Permit2 whenever the request has splits (§"Payment Splits"). Each
//! deviation breaks one of these on purpose.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use mppconf_suite::codec::{Challenge, Credential};
use mppconf_suite::methods::evm::{CANONICAL_PERMIT2, EvmChargeRequest};
use serde_json::{Value, json};

use super::client::{Deviation, PayOptions, check_expiry, refused};
use super::evm as build;
use crate::chain::Rpc;
use crate::error::Result;
use crate::methods::evm_charge::{CREDENTIAL_TYPES, credential as credential_of};

/// Checks `challenge` and signs its credential (a `hash` payment is
/// broadcast first); the credential type is the mode [`super::client::pay`]
/// reports.
pub async fn credential(
    challenge: &Challenge,
    opts: &PayOptions,
    signer: &PrivateKeySigner,
) -> Result<(Credential, &'static str)> {
    let deviates = |d: Deviation| opts.deviations.contains(&d);
    let rpc = Rpc::new(&opts.rpc_url);
    let request = check(challenge, opts, &rpc).await?;
    let kind = chosen_type(&request, opts)?;
    let payload = payload(challenge, &request, kind, opts, signer, &rpc).await?;
    let mut credential = credential_of(challenge, payload, request.chain_id, signer.address());
    if deviates(Deviation::NoSource) {
        credential.source = None;
    }
    Ok((credential, kind))
}

/// What a client MUST verify before signing (§"Security Considerations",
/// "Clients MUST parse and verify the `request` payload before signing").
async fn check(c: &Challenge, opts: &PayOptions, rpc: &Rpc) -> Result<EvmChargeRequest> {
    let deviates = |d: Deviation| opts.deviations.contains(&d);
    let mut value = c.request.value.clone();
    if deviates(Deviation::IgnoreSplitRule)
        && let Err(e) = EvmChargeRequest::from_json(&value)
        && e.contains("split")
        && let Some(details) = value["methodDetails"].as_object_mut()
    {
        // Pays what it can read: the whole amount to the recipient.
        details.remove("splits");
    }
    let request = EvmChargeRequest::from_json(&value)
        .map_err(|e| refused(format!("the request is not payable: {e}")))?;
    check_expiry(c, opts)?;
    let policy = !deviates(Deviation::IgnorePolicy);
    if let Some(max) = opts.max_amount
        && policy
        && request.amount > max
    {
        return Err(refused(format!(
            "asks {} base units, more than the policy's {max}",
            request.amount
        )));
    }
    if opts.currency.is_some_and(|t| t != request.currency) {
        return Err(refused(format!(
            "asks for token {}, not the expected one",
            request.currency
        )));
    }
    if policy && opts.recipient.is_some_and(|r| r != request.recipient) {
        return Err(refused(format!(
            "pays {}, not the expected recipient",
            request.recipient
        )));
    }
    // "Clients MUST reject challenges whose `chainId` does not match a
    // chain they support": this client supports the chain of its RPC.
    let chain = rpc.chain_id().await?;
    if chain != request.chain_id && !deviates(Deviation::EvmAnyChain) {
        return Err(refused(format!(
            "the challenge is for chain {}, the RPC serves chain {chain}",
            request.chain_id
        )));
    }
    Ok(request)
}

/// The first offered type this client supports (all four; `transaction`
/// when the request lists none), Permit2 only at its canonical address
/// (§"Security Considerations": SHOULD), and only Permit2 for splits.
fn chosen_type(request: &EvmChargeRequest, opts: &PayOptions) -> Result<&'static str> {
    let deviates = |d: Deviation| opts.deviations.contains(&d);
    if deviates(Deviation::EvmAnyCredentialType) {
        return Ok("transaction");
    }
    let usable = |kind: &str| {
        kind != "permit2"
            || request.permit2 == CANONICAL_PERMIT2
            || deviates(Deviation::EvmAnyPermit2)
    };
    let offered: Vec<&str> = match &request.credential_types {
        None => vec!["transaction"],
        Some(list) => list.iter().map(String::as_str).collect(),
    };
    offered
        .into_iter()
        .filter_map(|t| CREDENTIAL_TYPES.iter().copied().find(|k| *k == t))
        .filter(|k| request.splits.is_empty() || *k == "permit2")
        .find(|k| usable(k))
        .ok_or_else(|| {
            refused(format!(
                "no credential type this client can pay with (offered {:?}{}{})",
                request.credential_types,
                if request.splits.is_empty() {
                    ""
                } else {
                    "; splits need permit2"
                },
                if request.permit2 == CANONICAL_PERMIT2 {
                    String::new()
                } else {
                    format!(
                        "; Permit2 at {} is not the canonical deployment",
                        request.permit2
                    )
                }
            ))
        })
}

/// The payload of `kind`, with the deviations' flaws.
async fn payload(
    challenge: &Challenge,
    request: &EvmChargeRequest,
    kind: &'static str,
    opts: &PayOptions,
    signer: &PrivateKeySigner,
    rpc: &Rpc,
) -> Result<Value> {
    let deviates = |d: Deviation| opts.deviations.contains(&d);
    // The flaws a deviation puts in what is signed.
    let token = if deviates(Deviation::WrongToken) {
        Address::random()
    } else {
        request.currency
    };
    let signed_chain = if deviates(Deviation::WrongChainId) {
        request.chain_id + 1
    } else {
        request.chain_id
    };
    let mut transfers = request.transfers();
    if deviates(Deviation::ShortAmount) {
        transfers[0].1 = transfers[0].1.saturating_sub(U256::from(1u8));
    }
    if deviates(Deviation::EvmOverpay) {
        transfers[0].1 += U256::from(1u8);
    }
    if deviates(Deviation::ReverseTransfers) {
        transfers.reverse();
    }
    let unbound = deviates(Deviation::EvmUnboundWitness);
    match kind {
        "permit2" => {
            let mut message = build::permit2_message(challenge, request);
            message.permitted = transfers.iter().map(|&(_, a)| (token, a)).collect();
            if unbound {
                message.challenge_hash = B256::random();
            }
            if deviates(Deviation::EvmDropExternalId) {
                message.external_id = String::new();
            }
            if deviates(Deviation::EvmOtherSpender) {
                message.spender = Address::random();
            }
            build::permit2_payload(signer, &message, &transfers, signed_chain, request.permit2)
        }
        "authorization" => {
            let mut domain =
                build::token_domain_of(rpc, request.chain_id, request.currency).await?;
            domain.chain_id = Some(U256::from(signed_chain));
            domain.verifying_contract = Some(token);
            let mut message = build::authorization_message(challenge, request, signer.address());
            message.value = transfers[0].1;
            if unbound {
                message.nonce = B256::random();
            }
            if deviates(Deviation::LateValidBefore) {
                message.valid_before += U256::from(3600u32);
            }
            build::authorization_payload(signer, &message, &domain)
        }
        "transaction" => {
            let (to, amount) = transfers[0];
            let raw = build::sign_transfer(rpc, signed_chain, token, to, amount, signer).await?;
            Ok(json!({"type": "transaction", "signature": Bytes::from(raw)}))
        }
        _ => {
            // A node refuses a transaction signed for another chain: the
            // hash is always signed for the challenge's.
            let (to, amount) = transfers[0];
            let raw =
                build::sign_transfer(rpc, request.chain_id, token, to, amount, signer).await?;
            if deviates(Deviation::HashWithoutBroadcast) {
                return Ok(json!({"type": "hash", "hash": keccak256(&raw)}));
            }
            let receipt = build::broadcast(rpc, &raw).await?;
            if receipt["status"] != "0x1" {
                return Err(refused(format!("the transfer reverted: {receipt}")));
            }
            Ok(json!({"type": "hash", "hash": receipt["transactionHash"]}))
        }
    }
}
