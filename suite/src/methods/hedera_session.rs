//! draft-hedera-session-00 offline: the channel id (§"Channel State"), the
//! voucher's EIP-712 digest (§"Voucher Signing Format") and what a server
//! must verify of a voucher against the channel's on-chain state
//! (§"Voucher Verification"). The arithmetic is Tempo v1's and EVM
//! session's ([`tempo_session`]) under the domain name "Hedera Stream
//! Channel"; the signature rules are Tempo's (§"Signature Malleability":
//! 65-byte `r || s || v` or 64-byte EIP-2098, low-s only), under Hedera's
//! requirement ids. The escrow contract and the Hedera network are not
//! judged here.

use alloy_primitives::{Address, B256, U256};
use serde_json::{Map, Value, json};

use super::tempo_session::{self, SignatureRules, VoucherError};
use crate::error::{Error, Result};

/// §"Domain Separator": the domain `name`.
pub const DOMAIN_NAME: &str = "Hedera Stream Channel";

/// §"Type Definitions".
const VOUCHER_TYPE: &str = "Voucher(bytes32 channelId,uint128 cumulativeAmount)";

const SIGNATURE_RULES: SignatureRules = SignatureRules {
    formats: "hedera-session.malleability.formats",
    high_s: "hedera-session.malleability.server-rejects-high-s",
    unrecoverable: "hedera-session.voucher-verify.signature",
};

/// §"Channel State": `keccak256(abi.encode(payer, payee, token, salt,
/// authorizedSigner, address(this), block.chainid))`.
pub use tempo_session::channel_id_v1 as channel_id;

/// §"Signing Procedure", step 1.
pub fn domain_separator(chain_id: u64, escrow: Address) -> B256 {
    tempo_session::named_domain_separator(DOMAIN_NAME, chain_id, escrow)
}

/// §"Signing Procedure", steps 1 to 3; an amount wider than the type's
/// `uint128` is refused, not truncated.
pub fn voucher_digest(
    chain_id: u64,
    escrow: Address,
    channel_id: B256,
    cumulative: U256,
) -> Result<B256, VoucherError> {
    if cumulative.bit_len() > 128 {
        return Err(VoucherError {
            requirement: "hedera-session.eip712.struct-hash",
            reason: format!(
                "cumulativeAmount {cumulative} does not fit the uint128 it is signed as"
            ),
        });
    }
    Ok(tempo_session::signing_hash(
        domain_separator(chain_id, escrow),
        VOUCHER_TYPE,
        channel_id,
        cumulative,
    ))
}

/// The signer of `digest` under §"Signature Malleability".
pub fn voucher_signer(digest: B256, signature: &[u8]) -> Result<Address, VoucherError> {
    tempo_session::voucher_signer_under(SIGNATURE_RULES, digest, signature)
}

fn bad_input(op: &str, reason: impl Into<String>) -> Error {
    Error::BadOpInput {
        op: op.into(),
        reason: reason.into(),
    }
}

fn voucher_error(e: VoucherError) -> Error {
    Error::Voucher {
        requirement: e.requirement,
        reason: e.reason,
    }
}

/// Reads the fields of one operation's input.
struct Fields<'a> {
    op: &'static str,
    input: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn of(op: &'static str, input: &'a Value) -> Result<Self> {
        let input = input
            .as_object()
            .ok_or_else(|| bad_input(op, "input is not an object"))?;
        Ok(Self { op, input })
    }

    fn get(&self, name: &str) -> Result<&'a Value> {
        self.input
            .get(name)
            .ok_or_else(|| bad_input(self.op, format!("input needs {name:?}")))
    }

    /// 0x-hex of `len` bytes, either case (§"Hexadecimal Values": accept
    /// mixed case, compare normalized).
    fn hex(&self, name: &str, len: usize) -> Result<Vec<u8>> {
        self.get(name)?
            .as_str()
            .and_then(|t| t.strip_prefix("0x"))
            .and_then(|t| alloy_primitives::hex::decode(t).ok())
            .filter(|b| b.len() == len)
            .ok_or_else(|| bad_input(self.op, format!("{name:?} is not 0x-hex of {len} bytes")))
    }

    fn address(&self, name: &str) -> Result<Address> {
        self.hex(name, 20).map(|b| Address::from_slice(&b))
    }

    fn word(&self, name: &str) -> Result<B256> {
        self.hex(name, 32).map(|b| B256::from_slice(&b))
    }

    fn chain_id(&self) -> Result<u64> {
        self.get("chainId")?
            .as_u64()
            .ok_or_else(|| bad_input(self.op, "chainId is a JSON number"))
    }

    fn amount(&self, name: &str) -> Result<U256> {
        decimal(self.get(name)?)
            .ok_or_else(|| bad_input(self.op, format!("{name:?} is not a decimal string")))
    }
}

/// §"Numeric Values": a decimal string of digits.
fn decimal(value: &Value) -> Option<U256> {
    let text = value.as_str()?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    U256::from_str_radix(text, 10).ok()
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", alloy_primitives::hex::encode(bytes))
}

/// `hedera.session.voucher.verify`: `{payload, chainId, escrowContract,
/// channel, minVoucherDelta?}`, a voucher credential's payload
/// `{channelId, cumulativeAmount, signature}` and the channel's on-chain
/// state `{payer, authorizedSigner, deposit, highestVoucherAmount,
/// closeRequestedAt}` (amounts and the timestamp as decimal strings).
/// `{signer, cumulativeAmount, increment}` when a server may accept it.
pub fn verify_voucher_op(input: &Value) -> Result<Value> {
    const OP: &str = "hedera.session.voucher.verify";
    let f = Fields::of(OP, input)?;
    let payload = Fields::of(OP, f.get("payload")?)?;
    let channel = Fields::of(OP, f.get("channel")?)?;
    let field = |name: &str, reason: &str| Error::PayloadSchema {
        requirement: "hedera-session.voucher.fields",
        path: format!("$.payload.{name}"),
        reason: reason.into(),
    };
    let channel_id = payload
        .word("channelId")
        .map_err(|_| field("channelId", "not 0x-hex of 32 bytes"))?;
    let amount = payload
        .get("cumulativeAmount")
        .ok()
        .and_then(decimal)
        .ok_or_else(|| field("cumulativeAmount", "not a decimal string"))?;
    let signature = payload
        .get("signature")
        .ok()
        .and_then(Value::as_str)
        .and_then(|t| t.strip_prefix("0x"))
        .and_then(|t| alloy_primitives::hex::decode(t).ok())
        .ok_or_else(|| field("signature", "not 0x-hex"))?;
    let digest = voucher_digest(
        f.chain_id()?,
        f.address("escrowContract")?,
        channel_id,
        amount,
    )
    .map_err(voucher_error)?;
    let signer = voucher_signer(digest, &signature).map_err(voucher_error)?;
    // "The expected signer is `channel.authorizedSigner` if non-zero,
    // otherwise `channel.payer`", from chain state, never the payload.
    let delegate = channel.address("authorizedSigner")?;
    let expected = if delegate.is_zero() {
        channel.address("payer")?
    } else {
        delegate
    };
    let fail = |requirement: &'static str, reason: String| Error::Voucher {
        requirement,
        reason,
    };
    if signer != expected {
        return Err(fail(
            "hedera-session.voucher-verify.signer-from-chain",
            format!("signed by {signer}, the channel's signer is {expected}"),
        ));
    }
    if !channel.amount("closeRequestedAt")?.is_zero() {
        return Err(fail(
            "hedera-session.voucher-verify.no-pending-close",
            "the channel has a pending forced close".into(),
        ));
    }
    let highest = channel.amount("highestVoucherAmount")?;
    if amount <= highest {
        return Err(fail(
            "hedera-session.voucher-verify.monotonic",
            format!("{amount} does not exceed the highest voucher {highest}"),
        ));
    }
    if input.get("minVoucherDelta").is_some() {
        let delta = f.amount("minVoucherDelta")?;
        if amount - highest < delta {
            return Err(fail(
                "hedera-session.dos.min-voucher-delta",
                format!(
                    "an increase of {} is below minVoucherDelta {delta}",
                    amount - highest
                ),
            ));
        }
    }
    let deposit = channel.amount("deposit")?;
    if amount > deposit {
        return Err(fail(
            "hedera-session.voucher-verify.cap",
            format!("{amount} exceeds the deposit {deposit}"),
        ));
    }
    Ok(json!({
        "signer": hex(signer.as_slice()),
        "cumulativeAmount": amount.to_string(),
        "increment": (amount - highest).to_string(),
    }))
}
