//! draft-tempo-session-00 offline: the channel id (§"Contract-Backed
//! Channel State", §"Precompile-Backed Channel State") and the voucher's
//! EIP-712 digest and signer (§"Voucher Signing Format", §"Signature
//! Malleability"). Both sides of a session compute these; a server that
//! recovers a voucher's signer from another digest, or accepts a high-s
//! signature, is judged against these functions.

use alloy_primitives::{Address, B256, Signature, U256, keccak256};

/// `methodDetails.sessionProtocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionProtocol {
    /// The escrow contract (`TempoStreamChannel`).
    V1,
    /// The TIP-1034 channel reserve precompile.
    V2,
}

impl SessionProtocol {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "v1" => Some(Self::V1),
            "v2" => Some(Self::V2),
            _ => None,
        }
    }

    /// §"Domain Separator": the domain `name`.
    pub fn domain_name(self) -> &'static str {
        match self {
            Self::V1 => "Tempo Stream Channel",
            Self::V2 => "TIP20 Channel Reserve",
        }
    }

    /// §"Signing Procedure", step 2, and its v2 note.
    pub fn voucher_type(self) -> &'static str {
        match self {
            Self::V1 => "Voucher(bytes32 channelId,uint128 cumulativeAmount)",
            Self::V2 => "Voucher(bytes32 channelId,uint96 cumulativeAmount)",
        }
    }

    /// The width of a voucher amount: uint128 (v1) or uint96 (v2,
    /// §"Precompile-Backed Channel State": amounts above 2^96 - 1 are
    /// rejected).
    pub fn amount_bits(self) -> usize {
        match self {
            Self::V1 => 128,
            Self::V2 => 96,
        }
    }
}

/// Why a voucher cannot be hashed or its signer recovered, each naming
/// the catalogue requirement it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherError {
    pub requirement: &'static str,
    pub reason: String,
}

impl VoucherError {
    pub(crate) fn new(requirement: &'static str, reason: impl Into<String>) -> Self {
        Self {
            requirement,
            reason: reason.into(),
        }
    }
}

const EIP712_DOMAIN_TYPE: &str =
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";

/// The secp256k1 half order (§"Signature Verification", item 1).
const HALF_ORDER: U256 = U256::from_be_bytes(alloy_primitives::hex!(
    "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0"
));

fn word(address: Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(address.as_slice());
    w
}

fn encode(words: &[[u8; 32]]) -> B256 {
    keccak256(words.concat())
}

/// v1: `keccak256(abi.encode(payer, payee, token, salt, authorizedSigner,
/// escrow, chainId))`.
pub fn channel_id_v1(
    payer: Address,
    payee: Address,
    token: Address,
    salt: B256,
    authorized_signer: Address,
    escrow: Address,
    chain_id: u64,
) -> B256 {
    encode(&[
        word(payer),
        word(payee),
        word(token),
        salt.0,
        word(authorized_signer),
        word(escrow),
        U256::from(chain_id).to_be_bytes(),
    ])
}

/// The v2 channel descriptor (§"Channel Descriptor").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    pub payer: Address,
    pub payee: Address,
    pub operator: Address,
    pub token: Address,
    pub salt: B256,
    pub authorized_signer: Address,
    pub expiring_nonce_hash: B256,
}

/// v2: the nine-field `abi.encode` of the descriptor, escrow and chain id.
pub fn channel_id_v2(d: &Descriptor, escrow: Address, chain_id: u64) -> B256 {
    encode(&[
        word(d.payer),
        word(d.payee),
        word(d.operator),
        word(d.token),
        d.salt.0,
        word(d.authorized_signer),
        d.expiring_nonce_hash.0,
        word(escrow),
        U256::from(chain_id).to_be_bytes(),
    ])
}

/// §"Signing Procedure", step 1.
pub fn domain_separator(protocol: SessionProtocol, chain_id: u64, escrow: Address) -> B256 {
    named_domain_separator(protocol.domain_name(), chain_id, escrow)
}

/// The voucher domain under any `name` (version "1"): draft-evm-session-00
/// signs the same voucher under its own name.
pub(crate) fn named_domain_separator(name: &str, chain_id: u64, escrow: Address) -> B256 {
    encode(&[
        keccak256(EIP712_DOMAIN_TYPE).0,
        keccak256(name).0,
        keccak256("1").0,
        U256::from(chain_id).to_be_bytes(),
        word(escrow),
    ])
}

/// `keccak256("\x19\x01" || domainSeparator || structHash)` of a
/// `Voucher(channelId, cumulativeAmount)` of `voucher_type`.
pub(crate) fn signing_hash(
    domain_separator: B256,
    voucher_type: &str,
    channel_id: B256,
    cumulative: U256,
) -> B256 {
    let struct_hash = encode(&[
        keccak256(voucher_type).0,
        channel_id.0,
        cumulative.to_be_bytes(),
    ]);
    let mut message = Vec::with_capacity(66);
    message.extend_from_slice(b"\x19\x01");
    message.extend_from_slice(domain_separator.as_slice());
    message.extend_from_slice(struct_hash.as_slice());
    keccak256(message)
}

/// §"Signing Procedure", steps 1 to 3: the hash a voucher signs. An
/// amount wider than the protocol's integer is refused, not truncated.
pub fn voucher_digest(
    protocol: SessionProtocol,
    chain_id: u64,
    escrow: Address,
    channel_id: B256,
    cumulative: U256,
) -> Result<B256, VoucherError> {
    if cumulative.bit_len() > protocol.amount_bits() {
        return Err(VoucherError::new(
            match protocol {
                SessionProtocol::V1 => "tempo-session.eip712.types",
                SessionProtocol::V2 => "tempo-session.eip712.v2-uint96",
            },
            format!(
                "cumulativeAmount {cumulative} does not fit uint{}",
                protocol.amount_bits()
            ),
        ));
    }
    Ok(signing_hash(
        domain_separator(protocol, chain_id, escrow),
        protocol.voucher_type(),
        channel_id,
        cumulative,
    ))
}

/// The requirements a draft names for the signature rules it shares with
/// Tempo's §"Signature Malleability" (both formats, low-s only).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignatureRules {
    /// A signature in neither accepted format.
    pub formats: &'static str,
    /// A high-s signature.
    pub high_s: &'static str,
    /// No signer recovers.
    pub unrecoverable: &'static str,
}

const TEMPO_SIGNATURE_RULES: SignatureRules = SignatureRules {
    formats: "tempo-session.malleability.accepted-formats",
    high_s: "tempo-session.malleability.server-reject",
    unrecoverable: "tempo-session.eip712.signing-procedure",
};

/// The signer of `digest`, from one of §"Signature Malleability"'s
/// accepted formats (65-byte `r || s || v` with v 27 or 28, or 64-byte
/// EIP-2098 `r || vs`), refusing a high-s signature.
pub fn voucher_signer(digest: B256, signature: &[u8]) -> Result<Address, VoucherError> {
    voucher_signer_under(TEMPO_SIGNATURE_RULES, digest, signature)
}

/// [`voucher_signer`], naming `rules`' requirements.
pub(crate) fn voucher_signer_under(
    rules: SignatureRules,
    digest: B256,
    signature: &[u8],
) -> Result<Address, VoucherError> {
    let (r, s, odd) = match signature.len() {
        65 => {
            let v = signature[64];
            if v != 27 && v != 28 {
                return Err(VoucherError::new(
                    rules.formats,
                    format!("v is {v}, not 27 or 28"),
                ));
            }
            (
                U256::from_be_slice(&signature[..32]),
                U256::from_be_slice(&signature[32..64]),
                v == 28,
            )
        }
        64 => {
            let vs = U256::from_be_slice(&signature[32..64]);
            (
                U256::from_be_slice(&signature[..32]),
                vs & (U256::MAX >> 1),
                vs.bit(255),
            )
        }
        n => {
            return Err(VoucherError::new(
                rules.formats,
                format!("{n} bytes, neither 65 (r, s, v) nor 64 (EIP-2098)"),
            ));
        }
    };
    recover_low_s(digest, (r, s, odd), rules.high_s, rules.unrecoverable)
}

/// The address that signed `digest` with `(r, s, y-parity)`, refusing a
/// high-s signature (`high_s` names the requirement that forbids it) and
/// naming `unrecoverable` when no key recovers.
pub(crate) fn recover_low_s(
    digest: B256,
    (r, s, odd): (U256, U256, bool),
    high_s: &'static str,
    unrecoverable: &'static str,
) -> Result<Address, VoucherError> {
    if s > HALF_ORDER {
        return Err(VoucherError::new(
            high_s,
            "s is above secp256k1_order / 2 (a high-s signature)",
        ));
    }
    Signature::new(r, s, odd)
        .recover_address_from_prehash(&digest)
        .map_err(|e| {
            VoucherError::new(
                unrecoverable,
                format!("no signer recovers from the signature ({e})"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 65-byte `r || s || v` signature of `digest` by a fixed key.
    fn sign(digest: B256) -> (Address, [u8; 65]) {
        let key = k256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("a valid key");
        let (sig, recid) = key
            .sign_prehash_recoverable(digest.as_slice())
            .expect("signs");
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = 27 + recid.to_byte();
        (Address::from_public_key(key.verifying_key()), out)
    }

    #[test]
    fn a_high_s_twin_is_refused_and_the_compact_form_is_read() {
        let digest = keccak256("voucher");
        let (address, sig) = sign(digest);
        assert_eq!(voucher_signer(digest, &sig), Ok(address));
        // (r, n - s, v ^ 1) signs the same digest: the malleable twin.
        let n = U256::from_be_bytes(alloy_primitives::hex!(
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141"
        ));
        let s = U256::from_be_slice(&sig[32..64]);
        let mut twin = sig;
        twin[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        twin[64] = if sig[64] == 27 { 28 } else { 27 };
        let refused = voucher_signer(digest, &twin).unwrap_err();
        assert_eq!(
            refused.requirement,
            "tempo-session.malleability.server-reject"
        );
        // EIP-2098: the parity bit rides on top of s.
        let mut compact = [0u8; 64];
        compact.copy_from_slice(&sig[..64]);
        if sig[64] == 28 {
            compact[32] |= 0x80;
        }
        assert_eq!(voucher_signer(digest, &compact), Ok(address));
        let mut bad_v = sig;
        bad_v[64] = 1;
        assert!(voucher_signer(digest, &bad_v).is_err());
        assert!(voucher_signer(digest, &sig[..63]).is_err());
    }

    #[test]
    fn an_amount_wider_than_the_protocol_is_refused() {
        let wide = U256::from(1u8) << 96;
        let v2 = voucher_digest(SessionProtocol::V2, 1, Address::ZERO, B256::ZERO, wide);
        assert_eq!(
            v2.unwrap_err().requirement,
            "tempo-session.eip712.v2-uint96"
        );
        assert!(voucher_digest(SessionProtocol::V1, 1, Address::ZERO, B256::ZERO, wide).is_ok());
        let wider = U256::from(1u8) << 128;
        assert!(voucher_digest(SessionProtocol::V1, 1, Address::ZERO, B256::ZERO, wider).is_err());
    }
}
