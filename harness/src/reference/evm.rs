//! EVM charge (draft-evm-charge-00) for the reference client and server:
//! the four credential payloads built and signed, EIP-1559 transfers
//! signed and decoded with `alloy`.

use alloy::consensus::{SignableTransaction, Transaction, TxEip1559, TxEnvelope};
use alloy::eips::{Decodable2718, Encodable2718};
use alloy::primitives::{Address, B256, Bytes, Signature, TxKind, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use mppconf_suite::codec::Challenge;
use mppconf_suite::methods::evm::{
    AuthorizationMessage, EvmChargeRequest, Permit2Message, challenge_hash, token_domain,
};
use serde_json::{Value, json};

use crate::chain::Rpc;
use crate::chain::evm::IMppTestToken;
use crate::error::{Error, Result};
use crate::reference::tx::{fee_params, unix_now};

/// `did:pkh:eip155:<chainId>:<address>` (§"Credential Structure").
pub fn source_of(chain_id: u64, who: Address) -> String {
    format!("did:pkh:eip155:{chain_id}:{who}")
}

/// A 65-byte `r ‖ s ‖ v` signature with v = 27/28
/// (ambiguity.evm-signature-encoding).
fn signature_hex(signature: &Signature) -> String {
    format!("0x{}", alloy::hex::encode(signature.as_bytes()))
}

fn sign(signer: &PrivateKeySigner, digest: B256) -> Result<Signature> {
    signer
        .sign_hash_sync(&digest)
        .map_err(|e| Error::Setup(format!("signing: {e}")))
}

/// The conformant Permit2 message for `challenge`: one permission per
/// transfer, the spender the recipient (ambiguity.evm-permit2-spender),
/// a fresh nonce and the challenge's expiry (or five minutes) as deadline.
pub fn permit2_message(challenge: &Challenge, request: &EvmChargeRequest) -> Permit2Message {
    let deadline = challenge
        .expires
        .as_deref()
        .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
        .map_or(unix_now() + 300, |t| t.timestamp().max(0) as u64);
    Permit2Message {
        permitted: request
            .transfers()
            .iter()
            .map(|&(_, amount)| (request.currency, amount))
            .collect(),
        spender: request.recipient,
        nonce: U256::from_be_bytes(B256::random().0),
        deadline: U256::from(deadline),
        challenge_hash: challenge_hash(&challenge.id, &challenge.realm),
        external_id: request.external_id.clone().unwrap_or_default(),
    }
}

/// A `permit2` payload for `message`, paying `transfer_details`.
pub fn permit2_payload(
    signer: &PrivateKeySigner,
    message: &Permit2Message,
    transfer_details: &[(Address, U256)],
    chain_id: u64,
    permit2: Address,
) -> Result<Value> {
    let signature = sign(signer, message.digest(chain_id, permit2))?;
    let mut witness = json!({"challengeHash": message.challenge_hash});
    if !message.external_id.is_empty() {
        witness["externalId"] = message.external_id.clone().into();
    }
    Ok(json!({
        "type": "permit2",
        "permit": {
            "permitted": message.permitted.iter().map(|(token, amount)| json!({
                "token": token.to_checksum(None), "amount": amount.to_string()
            })).collect::<Vec<_>>(),
            "nonce": message.nonce.to_string(),
            "deadline": message.deadline.to_string(),
        },
        "transferDetails": transfer_details.iter().map(|(to, amount)| json!({
            "to": to.to_checksum(None), "requestedAmount": amount.to_string()
        })).collect::<Vec<_>>(),
        "witness": witness,
        "signature": signature_hex(&signature),
    }))
}

/// The conformant EIP-3009 message for `challenge`: to the recipient, the
/// amount, nonce = challengeHash, valid until the challenge expires.
pub fn authorization_message(
    challenge: &Challenge,
    request: &EvmChargeRequest,
    from: Address,
) -> AuthorizationMessage {
    let valid_before = challenge
        .expires
        .as_deref()
        .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
        .map_or(unix_now() + 300, |t| t.timestamp().max(0) as u64);
    AuthorizationMessage {
        from,
        to: request.recipient,
        value: request.amount,
        valid_after: U256::ZERO,
        valid_before: U256::from(valid_before),
        nonce: challenge_hash(&challenge.id, &challenge.realm),
    }
}

/// The token's EIP-712 domain, read from the token (name(), version():
/// ambiguity.evm-eip3009-domain).
pub async fn token_domain_of(
    rpc: &Rpc,
    chain_id: u64,
    token: Address,
) -> Result<alloy::sol_types::Eip712Domain> {
    let name = view(rpc, token, IMppTestToken::nameCall {}).await?;
    let version = view(rpc, token, IMppTestToken::versionCall {}).await?;
    Ok(token_domain(&name, &version, chain_id, token))
}

/// An `authorization` payload for `message`.
pub fn authorization_payload(
    signer: &PrivateKeySigner,
    message: &AuthorizationMessage,
    domain: &alloy::sol_types::Eip712Domain,
) -> Result<Value> {
    let signature = sign(signer, message.digest(domain))?;
    Ok(json!({
        "type": "authorization",
        "from": message.from.to_checksum(None),
        "to": message.to.to_checksum(None),
        "value": message.value.to_string(),
        "validAfter": message.valid_after.to_string(),
        "validBefore": message.valid_before.to_string(),
        "nonce": message.nonce,
        "signature": signature_hex(&signature),
    }))
}

/// An EIP-1559 transaction on `chain_id` calling `transfer(to, amount)`
/// on `token`, signed with the payer's next nonce and the chain's fees.
pub async fn sign_transfer(
    rpc: &Rpc,
    chain_id: u64,
    token: Address,
    to: Address,
    amount: U256,
    signer: &PrivateKeySigner,
) -> Result<Vec<u8>> {
    let input = IMppTestToken::transferCall { to, amount }.abi_encode();
    sign_call(rpc, chain_id, token, input, signer).await
}

/// An EIP-1559 transaction on `chain_id` calling `to` with `input`,
/// signed with the signer's next nonce, the chain's fees and a gas limit
/// of twice the estimate.
pub async fn sign_call(
    rpc: &Rpc,
    chain_id: u64,
    to: Address,
    input: Vec<u8>,
    signer: &PrivateKeySigner,
) -> Result<Vec<u8>> {
    let quantity = |v: Value, what: &str| {
        v.as_str()
            .and_then(|n| u64::from_str_radix(n.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| Error::Chain {
                url: rpc.url().to_string(),
                reason: format!("{what} answered {v}"),
            })
    };
    let nonce = quantity(
        rpc.call(
            "eth_getTransactionCount",
            json!([signer.address(), "pending"]),
        )
        .await?,
        "eth_getTransactionCount",
    )?;
    let input = Bytes::from(input);
    // A call that would revert has no estimate: sign it anyway with a
    // fixed limit, so that the chain (not the signer) judges it.
    let gas_limit = match rpc
        .call(
            "eth_estimateGas",
            json!([{"from": signer.address(), "to": to, "data": input}]),
        )
        .await
    {
        Ok(v) => quantity(v, "eth_estimateGas")?.saturating_mul(2),
        Err(_) => 300_000,
    };
    let (max_fee_per_gas, max_priority_fee_per_gas) = fee_params(rpc).await?;
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas,
        max_priority_fee_per_gas,
        to: TxKind::Call(to),
        value: U256::ZERO,
        access_list: Default::default(),
        input,
    };
    let signature = sign(signer, tx.signature_hash())?;
    Ok(TxEnvelope::from(tx.into_signed(signature)).encoded_2718())
}

/// A signed EIP-1559 transaction read from a `transaction` payload: its
/// hash, signer, chain, target and calldata.
#[derive(Debug, Clone)]
pub struct DecodedTransfer {
    pub hash: B256,
    pub from: Address,
    pub chain_id: Option<u64>,
    pub to: Option<Address>,
    pub input: Bytes,
}

impl DecodedTransfer {
    /// `transfer(address,uint256)`'s arguments, when the calldata is
    /// exactly that call.
    pub fn transfer(&self) -> Option<(Address, U256)> {
        IMppTestToken::transferCall::abi_decode(&self.input)
            .ok()
            .map(|c| (c.to, c.amount))
    }
}

/// Reads a `transaction` payload's bytes: an EIP-1559 envelope only
/// (§"Transaction Payload"); another type is refused by name.
pub fn decode_transfer(raw: &[u8]) -> std::result::Result<DecodedTransfer, String> {
    let envelope = TxEnvelope::decode_2718(&mut &raw[..])
        .map_err(|e| format!("not a signed EVM transaction: {e}"))?;
    let TxEnvelope::Eip1559(signed) = &envelope else {
        return Err(format!(
            "a type-{} transaction, not EIP-1559 (type 2)",
            u8::from(envelope.tx_type())
        ));
    };
    let from = signed
        .recover_signer()
        .map_err(|e| format!("the signature does not recover: {e}"))?;
    Ok(DecodedTransfer {
        hash: *signed.hash(),
        from,
        chain_id: envelope.chain_id(),
        to: envelope.to(),
        input: envelope.input().clone(),
    })
}

/// Broadcasts signed bytes and waits for the receipt (a revert is the
/// caller's to judge).
pub async fn broadcast(rpc: &Rpc, raw: &[u8]) -> Result<Value> {
    let hash = rpc
        .call(
            "eth_sendRawTransaction",
            json!([Bytes::copy_from_slice(raw)]),
        )
        .await?;
    crate::chain::contracts::wait_for_receipt(rpc, &hash).await
}

async fn view<C: SolCall>(rpc: &Rpc, to: Address, call: C) -> Result<C::Return> {
    let out = rpc
        .call(
            "eth_call",
            json!([{"to": to, "data": Bytes::from(call.abi_encode())}, "latest"]),
        )
        .await?;
    let failed = |reason: String| Error::Chain {
        url: rpc.url().to_string(),
        reason: format!("{} on {to}: {reason}", C::SIGNATURE),
    };
    let bytes: Bytes =
        serde_json::from_value(out.clone()).map_err(|e| failed(format!("{out}: {e}")))?;
    C::abi_decode_returns(&bytes).map_err(|e| failed(e.to_string()))
}

/// Pays `challenge` with a credential payload of `kind` as a conformant
/// client would (the hash type broadcasts first); `None` for a kind the
/// reference does not know.
pub async fn conformant_payload(
    rpc: &Rpc,
    challenge: &Challenge,
    request: &EvmChargeRequest,
    kind: &str,
    signer: &PrivateKeySigner,
) -> Result<Value> {
    match kind {
        "permit2" => {
            let message = permit2_message(challenge, request);
            permit2_payload(
                signer,
                &message,
                &request.transfers(),
                request.chain_id,
                request.permit2,
            )
        }
        "authorization" => {
            let domain = token_domain_of(rpc, request.chain_id, request.currency).await?;
            let message = authorization_message(challenge, request, signer.address());
            authorization_payload(signer, &message, &domain)
        }
        "transaction" => {
            let raw = sign_transfer(
                rpc,
                request.chain_id,
                request.currency,
                request.recipient,
                request.amount,
                signer,
            )
            .await?;
            Ok(json!({"type": "transaction", "signature": Bytes::from(raw)}))
        }
        "hash" => {
            let raw = sign_transfer(
                rpc,
                request.chain_id,
                request.currency,
                request.recipient,
                request.amount,
                signer,
            )
            .await?;
            let receipt = broadcast(rpc, &raw).await?;
            if receipt["status"] != "0x1" {
                return Err(Error::Chain {
                    url: rpc.url().to_string(),
                    reason: format!("the payer's transfer reverted: {receipt}"),
                });
            }
            Ok(json!({"type": "hash", "hash": receipt["transactionHash"]}))
        }
        other => Err(Error::Usage(format!(
            "credential type {other:?} is none of permit2, authorization, transaction, hash"
        ))),
    }
}
