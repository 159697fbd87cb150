//! The reference server's EVM charge verification and settlement
//! (draft-evm-charge-00 §"Verification Procedure" to §"Replay
//! Protection"): Permit2 and EIP-3009 transfers submitted by the payee,
//! `transaction` payloads broadcast, `hash` payloads read back; every
//! settlement's `Transfer` logs checked against the request before the
//! receipt.

use alloy::primitives::{Address, B256, Bytes, Signature, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use mppconf_suite::codec::Credential;
use mppconf_suite::methods::evm::{
    AuthorizationMessage, EvmChargeRequest, EvmPayload, Permit2Message, challenge_hash,
};
use serde_json::{Value, json};

use super::{Deviation, ProblemType, Refusal, RouteConfig, State, refuse, tx};
use crate::chain::evm::{IMppTestToken, IPermit2, TokenTransfer, transfers_in};
use crate::reference::evm as build;

/// Permit2's witness type string as canonical EIP-712 signers produce it
/// (ambiguity.evm-witness-type-string: the draft's literal text, with a
/// space after the comma, makes Permit2 reject canonically made
/// signatures with `InvalidSigner()`).
pub const WITNESS_TYPE_STRING: &str = "PaymentWitness witness)PaymentWitness(bytes32 challengeHash,string externalId)TokenPermissions(address token,uint256 amount)";

fn failed(detail: impl Into<String>) -> Refusal {
    refuse(ProblemType::VerificationFailed, detail)
}

/// Verifies and settles an EVM charge credential; the settlement's
/// transaction hash (the receipt's `reference`).
pub(super) async fn settle(
    state: &State,
    route: &RouteConfig,
    request: &EvmChargeRequest,
    credential: &Credential,
) -> std::result::Result<String, Refusal> {
    let payload = EvmPayload::parse(&Value::Object(credential.payload.clone()))
        .map_err(|e| failed(format!("payload: {e}")))?;
    let kind = payload.kind();
    // The splits-any-type deviation takes every type on a split request.
    let any_type = state.deviates(Deviation::EvmSplitsAnyType) && !request.splits.is_empty();
    if (!request.offers(kind) && !any_type)
        || (kind == "hash" && state.deviates(Deviation::EvmRefuseHash))
    {
        return Err(failed(format!(
            "credential type {kind} is not one this challenge offers"
        )));
    }
    // §"Verification Procedure" step 5.
    if !request.splits.is_empty()
        && kind != "permit2"
        && !state.deviates(Deviation::EvmSplitsAnyType)
    {
        return Err(failed(format!(
            "the request has splits: only permit2 pays them atomically, not {kind}"
        )));
    }
    let echo = &credential.challenge;
    let bound = challenge_hash(&echo.id, &echo.realm);
    let payee = route
        .evm
        .as_ref()
        .and_then(|e| tx::signer_from_key(&e.payee_key, "evm.payee_key").ok())
        .ok_or_else(|| failed("the route has no payee key"))?;
    // Single use (§"Replay Protection"): the hash of a signed
    // transaction, the hash a client presents.
    let receipt = match payload {
        EvmPayload::Permit2 {
            permitted,
            nonce,
            deadline,
            transfer_details,
            challenge_hash,
            external_id,
            signature,
        } => {
            let message = Permit2Message {
                permitted,
                spender: payee.address(),
                nonce,
                deadline,
                challenge_hash,
                external_id: external_id.unwrap_or_default(),
            };
            settle_permit2(
                state,
                request,
                credential,
                &payee,
                bound,
                message,
                &transfer_details,
                &signature,
            )
            .await?
        }
        EvmPayload::Authorization { message, signature } => {
            settle_authorization(state, request, &payee, bound, message, &signature).await?
        }
        EvmPayload::Transaction { signed } => settle_transaction(state, request, &signed).await?,
        EvmPayload::Hash { hash } => settle_hash(state, request, hash).await?,
    };
    receipt["transactionHash"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| failed("the settlement receipt has no transactionHash"))
}

/// §"Permit2 Verification" steps 1 to 14.
#[allow(clippy::too_many_arguments)]
async fn settle_permit2(
    state: &State,
    request: &EvmChargeRequest,
    credential: &Credential,
    payee: &PrivateKeySigner,
    bound: B256,
    message: Permit2Message,
    transfer_details: &[(Address, U256)],
    signature: &[u8],
) -> std::result::Result<Value, Refusal> {
    if !state.deviates(Deviation::EvmUnboundWitness) {
        if message.challenge_hash != bound {
            return Err(failed(
                "witness.challengeHash is not this challenge's keccak256(id ‖ realm)",
            ));
        }
        let wanted = request.external_id.clone().unwrap_or_default();
        if message.external_id != wanted {
            return Err(failed("witness.externalId is not the request's externalId"));
        }
    }
    if message.permitted.len() != transfer_details.len() {
        return Err(failed("permitted and transferDetails differ in length"));
    }
    if message
        .permitted
        .iter()
        .any(|(token, _)| *token != request.currency)
        && !state.deviates(Deviation::EvmAcceptWrongToken)
    {
        return Err(failed("a permitted token is not the request's currency"));
    }
    check_transfers(state, request, transfer_details)?;
    if message.deadline <= U256::from(tx::unix_now()) {
        return Err(failed("the permit's deadline has passed"));
    }
    let digest = message.digest(request.chain_id, request.permit2);
    let owner = recover(digest, signature)?;
    // ambiguity.evm-permit2-owner-source: a source must name the signer,
    // on this chain.
    if let Some(source) = credential.source.as_deref()
        && source_of(source) != Some((request.chain_id, owner))
        && !state.deviates(Deviation::EvmIgnoreSource)
    {
        return Err(failed(
            "the permit is not signed by the source's address on this chain",
        ));
    }
    let details: Vec<IPermit2::SignatureTransferDetails> = transfer_details
        .iter()
        .map(|&(to, amount)| IPermit2::SignatureTransferDetails {
            to,
            requestedAmount: amount,
        })
        .collect();
    let permissions: Vec<IPermit2::TokenPermissions> = message
        .permitted
        .iter()
        .map(|&(token, amount)| IPermit2::TokenPermissions { token, amount })
        .collect();
    let witness = message.witness_hash();
    let signature = Bytes::copy_from_slice(signature);
    let input = if permissions.len() == 1 {
        IPermit2::permitWitnessTransferFrom_0Call {
            permit: IPermit2::PermitTransferFrom {
                permitted: permissions[0].clone(),
                nonce: message.nonce,
                deadline: message.deadline,
            },
            transferDetails: details[0].clone(),
            owner,
            witness,
            witnessTypeString: WITNESS_TYPE_STRING.into(),
            signature,
        }
        .abi_encode()
    } else {
        IPermit2::permitWitnessTransferFrom_1Call {
            permit: IPermit2::PermitBatchTransferFrom {
                permitted: permissions,
                nonce: message.nonce,
                deadline: message.deadline,
            },
            transferDetails: details,
            owner,
            witness,
            witnessTypeString: WITNESS_TYPE_STRING.into(),
            signature,
        }
        .abi_encode()
    };
    let receipt = submit(state, request, payee, request.permit2, input).await?;
    settled(state, request, owner, &receipt, transfer_details)?;
    Ok(receipt)
}

/// §"Authorization Verification" steps 1 to 10.
async fn settle_authorization(
    state: &State,
    request: &EvmChargeRequest,
    payee: &PrivateKeySigner,
    bound: B256,
    message: AuthorizationMessage,
    signature: &[u8],
) -> std::result::Result<Value, Refusal> {
    if message.nonce != bound && !state.deviates(Deviation::EvmUnboundNonce) {
        return Err(failed(
            "nonce is not this challenge's keccak256(id ‖ realm)",
        ));
    }
    check_transfers(state, request, &[(message.to, message.value)])?;
    if message.valid_before <= U256::from(tx::unix_now()) {
        return Err(failed("validBefore has passed"));
    }
    let domain = build::token_domain_of(&state.rpc, request.chain_id, request.currency)
        .await
        .map_err(|e| {
            failed(format!(
                "the currency's EIP-712 domain: {} (not an EIP-3009 token?)",
                quiet(&e)
            ))
        })?;
    if recover(message.digest(&domain), signature)? != message.from {
        return Err(failed("the authorization is not signed by `from`"));
    }
    let signature =
        Signature::try_from(signature).map_err(|e| failed(format!("signature: {e}")))?;
    let input = IMppTestToken::transferWithAuthorizationCall {
        from: message.from,
        to: message.to,
        value: message.value,
        validAfter: message.valid_after,
        validBefore: message.valid_before,
        nonce: message.nonce,
        v: 27 + u8::from(signature.v()),
        r: signature.r().into(),
        s: signature.s().into(),
    }
    .abi_encode();
    let receipt = submit(state, request, payee, request.currency, input).await?;
    settled(
        state,
        request,
        message.from,
        &receipt,
        &[(message.to, message.value)],
    )?;
    Ok(receipt)
}

/// §"Transaction Verification" steps 1 to 9.
async fn settle_transaction(
    state: &State,
    request: &EvmChargeRequest,
    signed: &[u8],
) -> std::result::Result<Value, Refusal> {
    let decoded = build::decode_transfer(signed).map_err(failed)?;
    if decoded.chain_id != Some(request.chain_id) && !state.deviates(Deviation::EvmIgnoreChainId) {
        return Err(failed(format!(
            "the transaction is for chain {:?}, the challenge for {}",
            decoded.chain_id, request.chain_id
        )));
    }
    if decoded.to != Some(request.currency) && !state.deviates(Deviation::EvmAcceptWrongToken) {
        return Err(failed(
            "the transaction does not call the currency's contract",
        ));
    }
    let transfer = decoded
        .transfer()
        .ok_or_else(|| failed("the calldata is not transfer(address,uint256)"))?;
    check_transfers(state, request, &[transfer])?;
    consume(state, decoded.hash)?;
    let receipt = build::broadcast(&state.rpc, signed)
        .await
        .map_err(|e| failed(format!("broadcast failed: {}", quiet(&e))))?;
    if receipt["status"] != "0x1" {
        return Err(failed("the transaction reverted"));
    }
    settled(state, request, decoded.from, &receipt, &[transfer])?;
    Ok(receipt)
}

/// §"Hash Verification" steps 1 to 5.
async fn settle_hash(
    state: &State,
    request: &EvmChargeRequest,
    hash: B256,
) -> std::result::Result<Value, Refusal> {
    if !state.deviates(Deviation::EvmHashReuse) {
        consume(state, hash)?;
    }
    if state.deviates(Deviation::EvmHashCalldataOnly) {
        return calldata_only(state, request, hash).await;
    }
    let receipt = state
        .rpc
        .call("eth_getTransactionReceipt", json!([hash]))
        .await
        .map_err(|_| failed("the transaction receipt could not be read"))?;
    if receipt.is_null() {
        return Err(failed("the transaction is not mined"));
    }
    if receipt["status"] != "0x1" {
        return Err(failed("the transaction reverted"));
    }
    let paid = transfers_in(&receipt)
        .into_iter()
        .filter(|t| t.token == request.currency || state.deviates(Deviation::EvmAcceptWrongToken))
        .map(|t| (t.to, t.amount))
        .collect::<Vec<_>>();
    // One Transfer of the amount to the recipient (§"Hash Verification"
    // step 4), whatever else the transaction did.
    let wanted = request.transfers()[0];
    let lenient = |t: &(Address, U256)| {
        (t.0 == wanted.0 || state.deviates(Deviation::EvmAcceptWrongRecipient))
            && (t.1 == wanted.1 || state.deviates(Deviation::EvmAcceptWrongAmount))
    };
    if !paid.iter().any(lenient) {
        return Err(failed(format!(
            "the transaction has no Transfer of {} to the recipient in the currency",
            wanted.1
        )));
    }
    Ok(receipt)
}

/// The calldata-only deviation: the transaction's `transfer` call checked,
/// its receipt never read.
async fn calldata_only(
    state: &State,
    request: &EvmChargeRequest,
    hash: B256,
) -> std::result::Result<Value, Refusal> {
    let sent = state
        .rpc
        .call("eth_getTransactionByHash", json!([hash]))
        .await
        .map_err(|_| failed("the transaction could not be read"))?;
    let input: Bytes =
        serde_json::from_value(sent["input"].clone()).map_err(|_| failed("no such transaction"))?;
    let call = IMppTestToken::transferCall::abi_decode(&input)
        .map_err(|_| failed("the transaction is not transfer(address,uint256)"))?;
    if sent["to"].as_str().and_then(|t| t.parse::<Address>().ok()) != Some(request.currency)
        && !state.deviates(Deviation::EvmAcceptWrongToken)
    {
        return Err(failed(
            "the transaction does not call the currency's contract",
        ));
    }
    check_transfers(state, request, &[(call.to, call.amount)])?;
    Ok(json!({"transactionHash": hash}))
}

/// The transfers a credential names against the request's, in order
/// (§"Permit2 Verification" steps 8 to 10; the other types' `to` and
/// `value`), each comparison waived by its deviation.
fn check_transfers(
    state: &State,
    request: &EvmChargeRequest,
    named: &[(Address, U256)],
) -> std::result::Result<(), Refusal> {
    let wanted = request.transfers();
    // Without splits a single transfer names the whole amount.
    let wanted = if named.len() == 1 && request.splits.is_empty() {
        vec![(request.recipient, request.amount)]
    } else if named.len() == 1 {
        // A non-permit2 type on a split request (the splits-any-type
        // deviation): the primary recipient's share.
        vec![wanted[0]]
    } else {
        wanted
    };
    if named.len() != wanted.len() {
        return Err(failed(format!(
            "{} transfers named, the request asks for {}",
            named.len(),
            wanted.len()
        )));
    }
    for (i, (n, w)) in named.iter().zip(&wanted).enumerate() {
        if n.0 != w.0 && !state.deviates(Deviation::EvmAcceptWrongRecipient) {
            return Err(failed(format!(
                "transfer {i} is not to the recipient the request names for it"
            )));
        }
        if n.1 != w.1 && !state.deviates(Deviation::EvmAcceptWrongAmount) {
            return Err(failed(format!(
                "transfer {i} is not of the amount due to its recipient ({})",
                w.1
            )));
        }
    }
    Ok(())
}

/// Marks a transaction hash consumed; a second use is refused.
fn consume(state: &State, hash: B256) -> std::result::Result<(), Refusal> {
    let fresh = state
        .used_hashes
        .lock()
        .map(|mut h| h.insert(hash))
        .unwrap_or(false);
    if fresh {
        Ok(())
    } else {
        Err(failed("the transaction was already used for a payment"))
    }
}

/// Simulates (§"Permit2 Verification": SHOULD `eth_call` first), then
/// signs and sends the payee's call, one at a time (the payee's nonces:
/// evm-charge.security.nonce-conflicts), and waits for its receipt.
async fn submit(
    state: &State,
    request: &EvmChargeRequest,
    payee: &PrivateKeySigner,
    to: Address,
    input: Vec<u8>,
) -> std::result::Result<Value, Refusal> {
    let _one_at_a_time = state.evm_submit.lock().await;
    if !state.deviates(Deviation::EvmIgnoreSettlementStatus) {
        state
            .rpc
            .call(
                "eth_call",
                json!([{"from": payee.address(), "to": to, "data": Bytes::from(input.clone())}, "latest"]),
            )
            .await
            .map_err(|e| failed(format!("the transfer would fail: {}", quiet(&e))))?;
    }
    let raw = build::sign_call(&state.rpc, request.chain_id, to, input, payee)
        .await
        .map_err(|e| failed(format!("cannot sign the settlement: {}", quiet(&e))))?;
    let receipt = build::broadcast(&state.rpc, &raw)
        .await
        .map_err(|e| failed(format!("broadcast failed: {}", quiet(&e))))?;
    if receipt["status"] != "0x1" && !state.deviates(Deviation::EvmIgnoreSettlementStatus) {
        return Err(failed(format!(
            "the settlement {} reverted",
            receipt["transactionHash"]
        )));
    }
    Ok(receipt)
}

/// The settlement's `Transfer` logs are the transfers named, from the
/// payer, in the currency (§"Permit2 Verification" step 14 and the like).
fn settled(
    state: &State,
    request: &EvmChargeRequest,
    from: Address,
    receipt: &Value,
    named: &[(Address, U256)],
) -> std::result::Result<(), Refusal> {
    if state.deviates(Deviation::EvmIgnoreSettlementStatus)
        || state.deviates(Deviation::EvmAcceptWrongAmount)
        || state.deviates(Deviation::EvmAcceptWrongRecipient)
        || state.deviates(Deviation::EvmAcceptWrongToken)
    {
        return Ok(());
    }
    let logged: Vec<TokenTransfer> = transfers_in(receipt);
    let expected: Vec<TokenTransfer> = named
        .iter()
        .map(|&(to, amount)| TokenTransfer {
            token: request.currency,
            from,
            to,
            amount,
        })
        .collect();
    if logged == expected {
        Ok(())
    } else {
        Err(failed(format!(
            "the settlement's Transfer logs {logged:?} are not the payment {expected:?}"
        )))
    }
}

/// A chain failure without the RPC endpoint it came from (an answer must
/// not reveal it).
fn quiet(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::Chain { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

fn recover(digest: B256, signature: &[u8]) -> std::result::Result<Address, Refusal> {
    Signature::try_from(signature)
        .ok()
        .and_then(|s| s.recover_address_from_prehash(&digest).ok())
        .ok_or_else(|| failed("the signature does not recover"))
}

/// The chain and address of a `did:pkh:eip155:<chain>:<address>` source.
fn source_of(source: &str) -> Option<(u64, Address)> {
    let (chain, address) = source.strip_prefix("did:pkh:eip155:")?.split_once(':')?;
    Some((chain.parse().ok()?, address.parse().ok()?))
}
