//! draft-evm-session-00 offline: the channel id (§"Channel State") and
//! the voucher's EIP-712 digest and signer (§"Domain Separator",
//! §"Signing Procedure", §"Hexadecimal Values", §"Signature
//! Verification"). The draft reuses Tempo's v1 scheme ("This computation
//! is identical to the Tempo escrow specification"; the domain `name` "is
//! the only semantic difference"), so the arithmetic is
//! [`tempo_session`]'s; what differs is the name and the signature rules:
//! only the 65-byte `r || s || v` form, where Tempo also reads EIP-2098.

use alloy_primitives::{Address, B256, U256};
use serde_json::Value;

use super::tempo_session::{self, VoucherError};

/// §"Domain Separator": the domain `name`.
pub const DOMAIN_NAME: &str = "EVM Payment Channel";

/// §"Type Definitions".
const VOUCHER_TYPE: &str = "Voucher(bytes32 channelId,uint128 cumulativeAmount)";

/// §"Channel State": `keccak256(abi.encode(payer, payee, token, salt,
/// authorizedSigner, address(this), block.chainid))`, Tempo v1's formula.
pub use tempo_session::channel_id_v1 as channel_id;

/// §"Signing Procedure", step 1.
pub fn domain_separator(chain_id: u64, escrow: Address) -> B256 {
    tempo_session::named_domain_separator(DOMAIN_NAME, chain_id, escrow)
}

/// §"Signing Procedure", steps 1 to 3. §"Cumulative Semantics": a server
/// "MUST verify `cumulativeAmount <= 2^128 - 1`": wider is refused, not
/// truncated.
pub fn voucher_digest(
    chain_id: u64,
    escrow: Address,
    channel_id: B256,
    cumulative: U256,
) -> Result<B256, VoucherError> {
    if cumulative.bit_len() > 128 {
        return Err(VoucherError::new(
            "evm-session.voucher.uint128-bound",
            format!("cumulativeAmount {cumulative} is above 2^128 - 1"),
        ));
    }
    Ok(tempo_session::signing_hash(
        domain_separator(chain_id, escrow),
        VOUCHER_TYPE,
        channel_id,
        cumulative,
    ))
}

/// The signer of `digest`. §"Hexadecimal Values": "All signatures in this
/// specification are 65 bytes" with v 27 or 28, and implementations "MUST
/// NOT produce EIP-2098 compact 64-byte signatures"; §"Voucher
/// Verification" step 4: low-s only.
pub fn voucher_signer(digest: B256, signature: &[u8]) -> Result<Address, VoucherError> {
    const SIXTY_FIVE: &str = "evm-session.encoding.signature-65-bytes";
    let signature: &[u8; 65] = match signature.len() {
        65 => signature.try_into().expect("65 bytes"),
        64 => {
            return Err(VoucherError::new(
                "evm-session.encoding.no-compact-signatures",
                "64 bytes: an EIP-2098 compact signature, which this draft forbids",
            ));
        }
        n => {
            return Err(VoucherError::new(
                SIXTY_FIVE,
                format!("{n} bytes, not 65 (r, s, v)"),
            ));
        }
    };
    let v = signature[64];
    if v != 27 && v != 28 {
        return Err(VoucherError::new(
            SIXTY_FIVE,
            format!("v is {v}, not 27 or 28"),
        ));
    }
    tempo_session::recover_low_s(
        digest,
        (
            U256::from_be_slice(&signature[..32]),
            U256::from_be_slice(&signature[32..64]),
            v == 28,
        ),
        "evm-session.voucher-verify.low-s",
        "evm-session.voucher-verify.signature",
    )
}

/// What an EVM session challenge asks (§"Request Schema").
#[derive(Debug, Clone)]
pub struct Terms {
    /// Price of one unit (here: one request).
    pub price: U256,
    pub currency: Address,
    pub recipient: Address,
    pub escrow: Address,
    pub chain_id: u64,
    pub min_voucher_delta: U256,
    /// `methodDetails.credentialTypes`, `["hash"]` when absent
    /// (§"Method Details").
    pub credential_types: Vec<String>,
}

impl Terms {
    /// The terms of a request, or why they cannot be read (a field
    /// missing or of another type; an amount above 2^256 - 1 or a
    /// `chainId` that is no unsigned 64-bit integer: limits of mppconf's
    /// payer, not of the draft).
    pub fn from_request(request: &Value) -> Result<Self, String> {
        let text = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("the EVM session request has no string {k:?}"))
        };
        let amount = |s: String, k: &str| {
            U256::from_str_radix(&s, 10).map_err(|_| format!("{k} {s:?} is not a decimal amount"))
        };
        let address = |s: String, k: &str| {
            s.parse::<Address>()
                .map_err(|_| format!("{k} {s:?} is not an address"))
        };
        let details = request
            .get("methodDetails")
            .ok_or("the EVM session request has no methodDetails")?;
        Ok(Self {
            price: amount(text(request, "amount")?, "amount")?,
            currency: address(text(request, "currency")?, "currency")?,
            recipient: address(text(request, "recipient")?, "recipient")?,
            escrow: address(text(details, "escrowContract")?, "escrowContract")?,
            chain_id: details
                .get("chainId")
                .and_then(Value::as_u64)
                .ok_or("methodDetails.chainId is not a number (it is REQUIRED)")?,
            min_voucher_delta: match details.get("minVoucherDelta").and_then(Value::as_str) {
                Some(d) => amount(d.to_string(), "minVoucherDelta")?,
                None => U256::ZERO,
            },
            credential_types: match details.get("credentialTypes") {
                None => vec!["hash".into()],
                Some(Value::Array(list)) => list
                    .iter()
                    .map(|t| t.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or("credentialTypes holds a non-string")?,
                Some(v) => return Err(format!("credentialTypes {v} is not an array")),
            },
        })
    }

    /// Whether a client may send `hash` credentials: §"Method Details"
    /// forbids a format absent from the list.
    pub fn offers_hash(&self) -> bool {
        self.credential_types.iter().any(|t| t == "hash")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;

    #[test]
    fn the_domain_name_is_the_only_difference_from_tempo_v1() {
        let (escrow, channel, amount) =
            (Address::repeat_byte(9), B256::repeat_byte(1), U256::from(5));
        let evm = voucher_digest(196, escrow, channel, amount).unwrap();
        let tempo = tempo_session::voucher_digest(
            tempo_session::SessionProtocol::V1,
            196,
            escrow,
            channel,
            amount,
        )
        .unwrap();
        assert_ne!(evm, tempo);
        let renamed = tempo_session::signing_hash(
            tempo_session::named_domain_separator("Tempo Stream Channel", 196, escrow),
            VOUCHER_TYPE,
            channel,
            amount,
        );
        assert_eq!(renamed, tempo);
    }

    #[test]
    fn compact_and_odd_v_signatures_are_refused_with_their_requirement() {
        let digest = keccak256("voucher");
        let refused = |sig: &[u8]| voucher_signer(digest, sig).unwrap_err().requirement;
        assert_eq!(
            refused(&[1u8; 64]),
            "evm-session.encoding.no-compact-signatures"
        );
        assert_eq!(
            refused(&[1u8; 63]),
            "evm-session.encoding.signature-65-bytes"
        );
        let mut zero_v = [1u8; 65];
        zero_v[64] = 0;
        assert_eq!(refused(&zero_v), "evm-session.encoding.signature-65-bytes");
        assert!(voucher_digest(1, Address::ZERO, B256::ZERO, U256::from(1u8) << 128).is_err());
        assert!(voucher_digest(1, Address::ZERO, B256::ZERO, U256::MAX >> 128).is_ok());
    }
}
