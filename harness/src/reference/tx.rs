//! Tempo transactions (type 0x76) for the reference client and server,
//! built, signed and decoded with `tempo-alloy`.
//!
//! draft-tempo-charge-00 §"Fee Payment": with `feePayer: true` the client
//! signs with an empty `fee_token` and the `0x00` fee-payer placeholder,
//! and the server adds the fee token and its `0x78`-domain signature.
//! tempo-alloy writes that placeholder form (`encode_for_fee_payer_service`)
//! but cannot read it back, so [`decode_payment`] rewrites the placeholder
//! into tempo-alloy's marker signature before decoding.

use std::num::NonZeroU64;
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::consensus::transaction::SignerRecoverable;
use alloy::eips::{Decodable2718, Encodable2718};
use alloy::primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use alloy::rlp::Header;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::{SolStruct, SolValue, eip712_domain};
use mppconf_suite::methods::tempo_effects::{self, ChargeRequest, TransferEffect};
use serde_json::{Value, json};
use tempo_alloy::primitives::AASigned;
use tempo_alloy::primitives::transaction::{
    Call, FEE_PAYER_SIGNATURE_MARKER, TempoSignature, TempoTransaction,
};

use crate::chain::Rpc;
use crate::error::{Error, Result};

sol! {
    /// draft-tempo-charge-00 §"EIP-712 Domain and Types".
    struct Proof {
        string challengeId;
    }
}

/// TIP-20 balances live in storage slot 9 of the token (measured on
/// anvil 1.7.1; `anvil_dealERC20` cannot find it).
const TIP20_BALANCES_SLOT: u64 = 9;

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Parses a hex private key, naming the flag or field it came from.
pub fn signer_from_key(key: &str, what: &str) -> Result<PrivateKeySigner> {
    key.trim().parse().map_err(|_| {
        Error::Usage(format!(
            "{what}: not a private key (expected 0x and 64 hex digits)"
        ))
    })
}

/// How the client orders its transaction.
#[derive(Debug, Clone)]
pub struct PaymentPlan {
    pub chain_id: u64,
    /// Expiring nonce (nonce key 2^256-1) valid until this unix time; T4
    /// accepts at most 30 s ahead (CHAIN.md).
    pub valid_before: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    /// `Some(token)` pays fees itself; `None` asks the server to sponsor.
    pub fee_token: Option<Address>,
}

/// The calls that pay a request: the primary transfer, then each split in
/// array order (the SHOULD of §"Ordering").
pub fn payment_calls(request: &ChargeRequest) -> Vec<Call> {
    request
        .required_transfers()
        .into_iter()
        .map(|t| Call {
            to: TxKind::Call(request.currency),
            value: U256::ZERO,
            input: tempo_effects::transfer_calldata(t.to, t.amount, t.memo).into(),
        })
        .collect()
}

/// A signed transaction and its bytes as they go into the credential.
pub struct SignedPayment {
    pub raw: Vec<u8>,
    /// The hash a client-paid transaction mines under.
    pub hash: B256,
}

/// Builds and signs the payment. Gas is generous rather than estimated:
/// state creation is priced under T4 (a transfer to a fresh address costs
/// about 550k) and fees are charged on gas used, not on the limit.
pub fn sign_payment(
    calls: Vec<Call>,
    plan: &PaymentPlan,
    signer: &PrivateKeySigner,
) -> Result<SignedPayment> {
    let gas_limit = 600_000 + 600_000 * calls.len() as u64;
    let sponsored = plan.fee_token.is_none();
    let tx = TempoTransaction {
        chain_id: plan.chain_id,
        fee_token: plan.fee_token,
        max_priority_fee_per_gas: plan.max_priority_fee_per_gas,
        max_fee_per_gas: plan.max_fee_per_gas,
        gas_limit,
        calls,
        nonce_key: U256::MAX,
        nonce: 0,
        valid_before: NonZeroU64::new(plan.valid_before),
        fee_payer_signature: sponsored.then_some(FEE_PAYER_SIGNATURE_MARKER),
        ..Default::default()
    };
    let signature = signer
        .sign_hash_sync(&tx.signature_hash())
        .map_err(|e| Error::Setup(format!("signing failed: {e}")))?;
    let signed: AASigned = tx.into_signed(TempoSignature::from(signature));
    let hash = *signed.hash();
    let raw = if sponsored {
        let mut out = Vec::new();
        signed.encode_for_fee_payer_service(&mut out);
        out
    } else {
        signed.encoded_2718()
    };
    Ok(SignedPayment { raw, hash })
}

/// A call of a Tempo transaction: `input` to `to`, no value.
pub fn call(to: Address, input: Vec<u8>) -> Call {
    Call {
        to: TxKind::Call(to),
        value: U256::ZERO,
        input: input.into(),
    }
}

/// `calls` signed by `signer` on `chain_id`, paying its own fees in
/// `fee_token` (`None`: for a fee payer to sponsor), valid for the next
/// 25 s (T4 takes at most 30 s ahead) of the chain's clock, or of the
/// wall clock when the chain's latest block is older (a chain whose clock
/// was moved forward rejects a `validBefore` of the wall clock: CHAIN.md
/// hazard 6).
pub async fn sign_calls(
    rpc: &Rpc,
    chain_id: u64,
    fee_token: Option<Address>,
    calls: Vec<Call>,
    signer: &PrivateKeySigner,
) -> Result<SignedPayment> {
    let (max_fee_per_gas, max_priority_fee_per_gas) = fee_params(rpc).await?;
    let plan = PaymentPlan {
        chain_id,
        valid_before: unix_now().max(rpc.block_time().await?) + 25,
        max_fee_per_gas,
        max_priority_fee_per_gas,
        fee_token,
    };
    sign_payment(calls, &plan, signer)
}

/// Broadcasts signed transaction bytes and waits for them to be mined;
/// a revert is an error naming the transaction.
pub async fn send_mined(rpc: &Rpc, raw: Vec<u8>) -> Result<Value> {
    let receipt = rpc
        .call("eth_sendRawTransactionSync", json!([Bytes::from(raw)]))
        .await?;
    if receipt["status"] != "0x1" {
        return Err(Error::Chain {
            url: rpc.url().to_string(),
            reason: format!("transaction {} reverted", receipt["transactionHash"]),
        });
    }
    Ok(receipt)
}

/// `calls` signed by `signer` paying its own fees in `fee_token`
/// ([`sign_calls`]), sent and mined ([`send_mined`]); the hash.
pub async fn send_calls(
    rpc: &Rpc,
    chain_id: u64,
    fee_token: Address,
    calls: Vec<Call>,
    signer: &PrivateKeySigner,
) -> Result<B256> {
    let signed = sign_calls(rpc, chain_id, Some(fee_token), calls, signer).await?;
    send_mined(rpc, signed.raw).await?;
    Ok(signed.hash)
}

/// A payment transaction read from a credential.
pub struct DecodedPayment {
    pub signed: AASigned,
    pub sender: Address,
    /// Signed with the fee-payer placeholder: the server must co-sign.
    pub awaits_fee_payer: bool,
}

impl DecodedPayment {
    pub fn tx(&self) -> &TempoTransaction {
        self.signed.tx()
    }

    /// The transfers its calls make on `currency`.
    pub fn effects(&self, currency: Address) -> Vec<TransferEffect> {
        tempo_effects::effects_of_calls(
            self.tx()
                .calls
                .iter()
                .filter_map(|c| c.to.to().map(|to| (*to, c.input.as_ref()))),
            currency,
        )
    }
}

/// Decodes `payload.signature` bytes: a plain 0x76 transaction, the
/// sponsored form with the `0x00` fee-payer placeholder, or the `0x78`
/// fee-payer envelope SDKs send instead (the sender's address in the
/// fee-payer slot; ambiguity.fee-payer-wire-format), which must name the
/// address that signed it.
pub fn decode_payment(raw: &[u8]) -> std::result::Result<DecodedPayment, String> {
    let envelope = raw.first() == Some(&FEE_PAYER_ENVELOPE);
    if raw.first() != Some(&0x76) && !envelope {
        return Err(format!(
            "transaction type {:#04x}, not a Tempo Transaction (0x76) or a fee-payer envelope (0x78)",
            raw.first().copied().unwrap_or_default()
        ));
    }
    let (bytes, slot) = match with_marker_in_fee_payer_slot(raw, envelope) {
        Some((rewritten, slot)) => (rewritten, Some(slot)),
        None if envelope => {
            return Err(
                "a 0x78 fee-payer envelope without the sender's address in its fee-payer slot"
                    .into(),
            );
        }
        None => (raw.to_vec(), None),
    };
    let signed = AASigned::decode_2718(&mut bytes.as_slice())
        .map_err(|e| format!("not a decodable Tempo Transaction: {e}"))?;
    let sender = signed
        .recover_signer()
        .map_err(|e| format!("sender signature does not recover: {e}"))?;
    if let Some(named) = slot.as_ref().filter(|s| s.len() == 20)
        && named.as_slice() != sender.as_slice()
    {
        return Err(format!(
            "the fee-payer envelope names sender 0x{}, but {sender} signed it",
            alloy::hex::encode(named)
        ));
    }
    let awaits_fee_payer =
        slot.is_some() || signed.tx().fee_payer_signature == Some(FEE_PAYER_SIGNATURE_MARKER);
    Ok(DecodedPayment {
        signed,
        sender,
        awaits_fee_payer,
    })
}

/// The type byte of the fee-payer envelope (`TxEnvelopeTempo`'s
/// `feePayerMagic` in the SDKs' `ox`).
const FEE_PAYER_ENVELOPE: u8 = 0x78;

/// If the 12th RLP item (the fee-payer slot) is the single byte `0x00`
/// (or, in a `0x78` envelope, a 20-byte address), the same transaction as
/// a 0x76 one with tempo-alloy's marker signature (`c3 80 80 80`) in that
/// slot, and the address the slot held (empty for the placeholder).
fn with_marker_in_fee_payer_slot(raw: &[u8], envelope: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut body = &raw[1..];
    let outer = Header::decode(&mut body).ok()?;
    if !outer.list || outer.payload_length != body.len() {
        return None;
    }
    let mut rest = body;
    for _ in 0..11 {
        let start = rest;
        let item = Header::decode(&mut rest).ok()?;
        let header_len = start.len() - rest.len();
        rest = start.get(header_len + item.payload_length..)?;
    }
    let held = match rest.first() {
        Some(0x00) if !envelope => 1,
        Some(0x94) if envelope => 21,
        _ => return None,
    };
    // The address itself (without its RLP header), or nothing.
    let slot = rest.get(1..held)?.to_vec();
    let at = body.len() - rest.len();
    let mut payload = Vec::with_capacity(body.len() + 3);
    payload.extend_from_slice(&body[..at]);
    payload.extend_from_slice(&[0xc3, 0x80, 0x80, 0x80]);
    payload.extend_from_slice(&body[at + held..]);
    let mut out = vec![0x76];
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend_from_slice(&payload);
    Some((out, slot))
}

/// The server's part of sponsorship: choose the fee token, sign the
/// `0x78` fee-payer digest (which commits to the sender), and return the
/// broadcastable bytes.
pub fn cosign(
    payment: DecodedPayment,
    fee_token: Address,
    fee_payer: &PrivateKeySigner,
) -> Result<Vec<u8>> {
    let sender = payment.sender;
    let (mut tx, user_signature, _) = payment.signed.into_parts();
    tx.fee_token = Some(fee_token);
    let digest = tx.fee_payer_signature_hash(sender);
    let signature = fee_payer
        .sign_hash_sync(&digest)
        .map_err(|e| Error::Setup(format!("fee payer signing failed: {e}")))?;
    tx.fee_payer_signature = Some(signature);
    Ok(tx.into_signed(user_signature).encoded_2718())
}

/// The EIP-712 hash a zero-amount proof signs.
pub fn proof_hash(challenge_id: &str, chain_id: u64) -> B256 {
    let domain = eip712_domain! { name: "MPP", version: "1", chain_id: chain_id, };
    Proof {
        challengeId: challenge_id.to_string(),
    }
    .eip712_signing_hash(&domain)
}

/// Signs a proof; returns the 65-byte signature as 0x-hex.
pub fn sign_proof(challenge_id: &str, chain_id: u64, signer: &PrivateKeySigner) -> Result<String> {
    let signature = signer
        .sign_hash_sync(&proof_hash(challenge_id, chain_id))
        .map_err(|e| Error::Setup(format!("proof signing failed: {e}")))?;
    Ok(Bytes::from(signature.as_bytes().to_vec()).to_string())
}

/// The address that signed a proof, if the signature is well formed.
pub fn recover_proof(challenge_id: &str, chain_id: u64, signature: &[u8]) -> Option<Address> {
    let signature = Signature::try_from(signature).ok()?;
    signature
        .recover_address_from_prehash(&proof_hash(challenge_id, chain_id))
        .ok()
}

fn balance_slot(who: Address) -> B256 {
    keccak256((who, U256::from(TIP20_BALANCES_SLOT)).abi_encode())
}

/// Sets a TIP-20 balance directly in the token's storage (anvil only).
pub async fn fund(rpc: &Rpc, token: Address, who: Address, amount: U256) -> Result<()> {
    rpc.call(
        "anvil_setStorageAt",
        json!([token, balance_slot(who), B256::from(amount)]),
    )
    .await
    .map(|_| ())
}

/// A new payer account holding `amount` of `token` (and nothing else), so
/// that scenarios never share nonces or balances.
pub async fn fresh_payer(rpc: &Rpc, token: Address, amount: U256) -> Result<PrivateKeySigner> {
    let signer = PrivateKeySigner::random();
    fund(rpc, token, signer.address(), amount).await?;
    Ok(signer)
}

/// `balanceOf(who)` on a TIP-20 token.
pub async fn balance_of(rpc: &Rpc, token: Address, who: Address) -> Result<U256> {
    let mut data = vec![0x70, 0xa0, 0x82, 0x31];
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(who.as_slice());
    let v = rpc
        .call(
            "eth_call",
            json!([{"to": token, "data": Bytes::from(data)}, "latest"]),
        )
        .await?;
    let hex = v.as_str().unwrap_or_default();
    let bytes: Bytes = hex.parse().map_err(|_| Error::Chain {
        url: rpc.url().into(),
        reason: format!("balanceOf answered {v}"),
    })?;
    Ok(U256::from_be_slice(&bytes))
}

/// Fee parameters: twice the gas price leaves room for the base fee to move.
pub async fn fee_params(rpc: &Rpc) -> Result<(u128, u128)> {
    let quantity = |v: serde_json::Value| {
        v.as_str()
            .and_then(|s| u128::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            .unwrap_or_default()
    };
    let gas_price = quantity(rpc.call("eth_gasPrice", json!([])).await?);
    let priority = quantity(rpc.call("eth_maxPriorityFeePerGas", json!([])).await?);
    Ok((gas_price.saturating_mul(2).max(priority), priority))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    fn request() -> ChargeRequest {
        ChargeRequest::from_json(&json!({
            "amount": "1000", "currency": "0x20c0000000000000000000000000000000000000",
            "recipient": "0x742d35Cc6634C0532925a3b844Bc9e7595f8fE00",
            "methodDetails": {"chainId": 31337, "splits": [
                {"amount": "100", "recipient": "0xA1B2C3D4E5F6A1B2C3D4E5F6A1B2C3D4E5F6A1B2",
                 "memo": format!("0x{}", "ab".repeat(32))}]}
        }))
        .unwrap()
    }

    fn plan(fee_token: Option<Address>) -> PaymentPlan {
        PaymentPlan {
            chain_id: 31337,
            valid_before: unix_now() + 20,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1,
            fee_token,
        }
    }

    #[test]
    fn signed_payment_decodes_to_the_required_effects() {
        let signer = signer_from_key(KEY, "key").unwrap();
        let req = request();
        for fee_token in [Some(req.currency), None] {
            let signed = sign_payment(payment_calls(&req), &plan(fee_token), &signer).unwrap();
            let decoded = decode_payment(&signed.raw).unwrap();
            assert_eq!(decoded.sender, signer.address());
            assert_eq!(decoded.awaits_fee_payer, fee_token.is_none());
            tempo_effects::verify(
                &req.required_transfers(),
                &decoded.effects(req.currency),
                "t.r.x",
            )
            .unwrap();
        }
    }

    /// The 0x78 envelope of a sponsored payment, as the SDKs' `ox`
    /// writes it: the placeholder's slot holds `sender`'s address.
    fn envelope(placeholder_form: &[u8], sender: Address) -> Vec<u8> {
        let (marked, _) = with_marker_in_fee_payer_slot(placeholder_form, false).unwrap();
        let mut body = &marked[1..];
        Header::decode(&mut body).unwrap();
        let marker = [0xc3, 0x80, 0x80, 0x80];
        let at = body.windows(4).position(|w| w == marker).unwrap();
        let mut payload = body[..at].to_vec();
        payload.push(0x94);
        payload.extend_from_slice(sender.as_slice());
        payload.extend_from_slice(&body[at + 4..]);
        let mut out = vec![FEE_PAYER_ENVELOPE];
        Header {
            list: true,
            payload_length: payload.len(),
        }
        .encode(&mut out);
        out.extend_from_slice(&payload);
        out
    }

    #[test]
    fn a_fee_payer_envelope_decodes_only_with_its_signers_address() {
        let signer = signer_from_key(KEY, "key").unwrap();
        let req = request();
        let signed = sign_payment(payment_calls(&req), &plan(None), &signer).unwrap();
        let decoded = decode_payment(&envelope(&signed.raw, signer.address())).unwrap();
        assert_eq!(decoded.sender, signer.address());
        assert!(decoded.awaits_fee_payer);
        assert_eq!(decoded.tx().fee_token, None);
        let err = decode_payment(&envelope(&signed.raw, Address::repeat_byte(7)))
            .err()
            .unwrap();
        assert!(err.contains("names sender"), "{err}");
        let mut unmarked = signed.raw.clone();
        unmarked[0] = FEE_PAYER_ENVELOPE;
        let err = decode_payment(&unmarked).err().unwrap();
        assert!(err.contains("without the sender's address"), "{err}");
    }

    #[test]
    fn proof_recovers_its_signer_only_for_its_challenge_and_chain() {
        let signer = signer_from_key(KEY, "key").unwrap();
        let sig = sign_proof("abc", 31337, &signer).unwrap();
        let bytes: Bytes = sig.parse().unwrap();
        assert_eq!(bytes.len(), 65);
        assert_eq!(recover_proof("abc", 31337, &bytes), Some(signer.address()));
        assert_ne!(recover_proof("abd", 31337, &bytes), Some(signer.address()));
        assert_ne!(recover_proof("abc", 4217, &bytes), Some(signer.address()));
    }

    #[test]
    fn malformed_key_names_what_to_fix() {
        let err = signer_from_key("0x1234", "--key").unwrap_err().to_string();
        assert!(err.starts_with("--key: not a private key"), "{err}");
    }
}
