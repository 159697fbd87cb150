//! draft-solana-session-00 offline: the signed voucher (§"Voucher Format":
//! the 50-byte Borsh message, its Ed25519 signature and every check of
//! §"Voucher Verification" a server makes against its stored channel
//! state), the session bearer proof (§"Session Bearer Proof": the JCS
//! message and its signature, bound to the opening challenge, channel and
//! payer) and the distribution splits' canonical preimage and hash
//! (§"Distribution Splits"). The channel program, its accounts and the
//! open transaction need a Solana cluster and are not judged here.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use solana_address::Address;

use super::ed25519_verifies;
use crate::codec::json::canonicalize;
use crate::error::{Error, Result};

const VOUCHER: &str = "solana.session.voucher.verify";
const PROOF: &str = "solana.session.proof.verify";
const SPLITS: &str = "solana.session.splits.hash";

/// §"Voucher Signing": the tag byte `V` and the format version 1.
pub const MAGIC: [u8; 2] = [0x56, 0x01];

/// §"Session Bearer Proof": the proof message's `domain`.
pub const PROOF_DOMAIN: &str = "mpp-session-auth-v1";

fn fail(requirement: &'static str, path: &str, reason: impl Into<String>) -> Error {
    Error::PayloadSchema {
        requirement,
        path: path.into(),
        reason: reason.into(),
    }
}

fn bad_input(op: &str, reason: impl Into<String>) -> Error {
    Error::BadOpInput {
        op: op.into(),
        reason: reason.into(),
    }
}

fn object<'a>(op: &str, value: &'a Value, name: &str) -> Result<&'a Map<String, Value>> {
    value
        .get(name)
        .and_then(Value::as_object)
        .ok_or_else(|| bad_input(op, format!("input needs a {name:?} object")))
}

fn address(value: Option<&Value>) -> Option<Address> {
    value?.as_str()?.parse().ok()
}

fn signature(value: Option<&Value>) -> Option<[u8; 64]> {
    let mut out = [0u8; 64];
    five8::decode_64(value?.as_str()?, &mut out).ok()?;
    Some(out)
}

/// A base-unit amount: a decimal string of digits only, within u64.
fn amount(value: Option<&Value>) -> Option<u64> {
    let text = value?.as_str()?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// §"Voucher Data": what the payer authorizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    pub channel_id: Address,
    pub cumulative: u64,
    /// Unix seconds; `0` (or omitted) is no expiry.
    pub expires_at: i64,
}

impl Voucher {
    /// §"Voucher Signing": `magic || channelId || cumulativeAmount (u64
    /// LE) || expiresAt (i64 LE)`, the bytes the signer signs.
    pub fn message(&self) -> [u8; 50] {
        self.layout(MAGIC)
    }

    fn layout(&self, magic: [u8; 2]) -> [u8; 50] {
        let mut out = [0u8; 50];
        out[..2].copy_from_slice(&magic);
        out[2..34].copy_from_slice(&self.channel_id.to_bytes());
        out[34..42].copy_from_slice(&self.cumulative.to_le_bytes());
        out[42..].copy_from_slice(&self.expires_at.to_le_bytes());
        out
    }

    fn read(voucher: &Value) -> Result<Self> {
        let field = |name: &str, reason: &str| {
            fail(
                "solana-session.voucher.data-fields",
                &format!("$.signedVoucher.voucher.{name}"),
                reason,
            )
        };
        let channel_id = address(voucher.get("channelId"))
            .ok_or_else(|| field("channelId", "not a base58 address"))?;
        let cumulative = amount(voucher.get("cumulativeAmount")).ok_or_else(|| {
            field(
                "cumulativeAmount",
                "not a decimal string of base units within u64",
            )
        })?;
        let expires_at = match voucher.get("expiresAt") {
            None => 0,
            Some(v) => v.as_i64().ok_or_else(|| {
                fail(
                    "solana-session.voucher.expires-at",
                    "$.signedVoucher.voucher.expiresAt",
                    "expiresAt is not an integer (i64) of Unix seconds",
                )
            })?,
        };
        Ok(Self {
            channel_id,
            cumulative,
            expires_at,
        })
    }
}

/// `solana.session.voucher.verify`: `{signedVoucher, channel, now?}`, a
/// credential's signed voucher and the server's stored channel
/// `{channelId, authorizedSigner, acceptedCumulative, escrowedAmount,
/// status: "open" | "closing"}`, with the verifier's clock in Unix seconds
/// (needed when the voucher expires). `{message, cumulativeAmount,
/// increment}` when the server may accept it.
pub fn verify_voucher_op(input: &Value) -> Result<Value> {
    let signed = object(VOUCHER, input, "signedVoucher")?;
    let channel = object(VOUCHER, input, "channel")?;
    let voucher = Voucher::read(signed.get("voucher").unwrap_or(&Value::Null))?;
    let signed_field = |name: &str, reason: &str| {
        fail(
            "solana-session.voucher.signed-fields",
            &format!("$.signedVoucher.{name}"),
            reason,
        )
    };
    let signer =
        address(signed.get("signer")).ok_or_else(|| signed_field("signer", "not a base58 key"))?;
    let sig = signature(signed.get("signature"))
        .ok_or_else(|| signed_field("signature", "not a base58 64-byte signature"))?;
    if signed.get("signatureType").and_then(Value::as_str) != Some("ed25519") {
        return Err(fail(
            "solana-session.voucher.signature-type",
            "$.signedVoucher.signatureType",
            "signatureType is not \"ed25519\"",
        ));
    }
    let key = signer.to_bytes();
    let message = voucher.message();
    if !ed25519_verifies(&key, &message, &sig) {
        // Signed without the magic or with another version: named, so
        // that an implementation sees which bytes it got wrong.
        let unprefixed = &message[2..];
        let other_version = voucher.layout([MAGIC[0], MAGIC[1] + 1]);
        if ed25519_verifies(&key, unprefixed, &sig) || ed25519_verifies(&key, &other_version, &sig)
        {
            return Err(fail(
                "solana-session.voucher.verify-magic",
                "$.signedVoucher.signature",
                "the signature is over the voucher without the magic 0x56 0x01",
            ));
        }
        return Err(fail(
            "solana-session.voucher.verify-signature",
            "$.signedVoucher.signature",
            "the signature does not verify over the 50-byte voucher message",
        ));
    }
    let stored = |name: &str| {
        channel
            .get(name)
            .ok_or_else(|| bad_input(VOUCHER, format!("channel needs {name}")))
    };
    let authorized = address(Some(stored("authorizedSigner")?))
        .ok_or_else(|| bad_input(VOUCHER, "channel.authorizedSigner is not an address"))?;
    if signer != authorized {
        return Err(fail(
            "solana-session.voucher.verify-signer",
            "$.signedVoucher.signer",
            format!("{signer} is not the channel's authorizedSigner {authorized}"),
        ));
    }
    let channel_id = address(Some(stored("channelId")?))
        .ok_or_else(|| bad_input(VOUCHER, "channel.channelId is not an address"))?;
    if voucher.channel_id != channel_id {
        return Err(fail(
            "solana-session.voucher.verify-channel",
            "$.signedVoucher.voucher.channelId",
            format!("{} is not the channel {channel_id}", voucher.channel_id),
        ));
    }
    match stored("status")?.as_str() {
        Some("open") => {}
        Some("closing") => {
            return Err(fail(
                "solana-session.voucher.verify-not-closing",
                "$.channel.status",
                "the channel has a pending forced close",
            ));
        }
        other => {
            return Err(bad_input(
                VOUCHER,
                format!("channel.status is \"open\" or \"closing\", not {other:?}"),
            ));
        }
    }
    let accepted = amount(Some(stored("acceptedCumulative")?))
        .ok_or_else(|| bad_input(VOUCHER, "channel.acceptedCumulative is not an amount"))?;
    let escrowed = amount(Some(stored("escrowedAmount")?))
        .ok_or_else(|| bad_input(VOUCHER, "channel.escrowedAmount is not an amount"))?;
    if voucher.cumulative <= accepted {
        return Err(fail(
            "solana-session.voucher.verify-monotonic",
            "$.signedVoucher.voucher.cumulativeAmount",
            format!(
                "{} does not exceed the accepted {accepted}",
                voucher.cumulative
            ),
        ));
    }
    if voucher.cumulative > escrowed {
        return Err(fail(
            "solana-session.voucher.verify-deposit",
            "$.signedVoucher.voucher.cumulativeAmount",
            format!("{} exceeds the deposit {escrowed}", voucher.cumulative),
        ));
    }
    if voucher.expires_at != 0 {
        let now = input
            .get("now")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad_input(VOUCHER, "an expiring voucher needs \"now\""))?;
        if now >= voucher.expires_at {
            return Err(fail(
                "solana-session.voucher.verify-expiry",
                "$.signedVoucher.voucher.expiresAt",
                format!("expired at {}, now is {now}", voucher.expires_at),
            ));
        }
    }
    Ok(json!({
        "message": alloy_primitives::hex::encode(message),
        "cumulativeAmount": voucher.cumulative.to_string(),
        "increment": (voucher.cumulative - accepted).to_string(),
    }))
}

/// §"Session Bearer Proof": the JCS text the payer signs.
pub fn proof_message(channel_id: &Address, payer: &Address, challenge_id: &str) -> String {
    canonicalize(&json!({
        "channelId": channel_id.to_string(),
        "domain": PROOF_DOMAIN,
        "payer": payer.to_string(),
        "sessionChallengeId": challenge_id,
    }))
}

/// `solana.session.proof.verify`: `{authentication, challengeId,
/// channelId, payer}`, a credential's `authentication` object and what
/// the server knows at open: the opening challenge id, the declared and
/// derived channel id, the open transaction's payer. `{message}` (the
/// signed JCS text) when the proof binds exactly these and verifies.
pub fn verify_proof_op(input: &Value) -> Result<Value> {
    let proof = object(PROOF, input, "authentication")?;
    let given = |name: &str| {
        input
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| bad_input(PROOF, format!("input needs {name:?}")))
    };
    let (challenge_id, channel_id, payer) =
        (given("challengeId")?, given("channelId")?, given("payer")?);
    let channel_id: Address = channel_id
        .parse()
        .map_err(|_| bad_input(PROOF, "channelId is not an address"))?;
    let payer: Address = payer
        .parse()
        .map_err(|_| bad_input(PROOF, "payer is not an address"))?;
    let field = |name: &str, reason: &str| {
        fail(
            "solana-session.proof.fields",
            &format!("$.authentication.{name}"),
            reason,
        )
    };
    if proof.get("type").and_then(Value::as_str) != Some("proof") {
        return Err(field("type", "type is not \"proof\""));
    }
    let signed_challenge = proof
        .get("challengeId")
        .and_then(Value::as_str)
        .ok_or_else(|| field("challengeId", "no challengeId"))?;
    let signer = address(proof.get("payer")).ok_or_else(|| field("payer", "not a base58 key"))?;
    let sig = signature(proof.get("signature"))
        .ok_or_else(|| field("signature", "not a base58 64-byte signature"))?;
    if signed_challenge != challenge_id {
        return Err(fail(
            "solana-session.proof.binding-values",
            "$.authentication.challengeId",
            format!("{signed_challenge:?} is not the opening challenge {challenge_id:?}"),
        ));
    }
    if signer != payer {
        return Err(fail(
            "solana-session.proof.binding-values",
            "$.authentication.payer",
            format!("{signer} is not the open transaction's payer {payer}"),
        ));
    }
    let message = proof_message(&channel_id, &payer, challenge_id);
    if !ed25519_verifies(&payer.to_bytes(), message.as_bytes(), &sig) {
        return Err(fail(
            "solana-session.proof.signature",
            "$.authentication.signature",
            "the signature does not verify over the proof's JCS message for this channel, payer and challenge",
        ));
    }
    Ok(json!({ "message": message }))
}

/// `solana.session.splits.hash`: `{splits, channelId?}`, the
/// `distributionSplits` entries `{recipient, shareBps}`. `{preimage,
/// hash}`: the canonical preimage (`count u32 LE || (recipient ||
/// shareBps u16 LE)*`) and its SHA-256 (the RECOMMENDED hash), when the
/// list is one `open` accepts.
pub fn splits_hash_op(input: &Value) -> Result<Value> {
    let splits = input
        .get("splits")
        .and_then(Value::as_array)
        .ok_or_else(|| bad_input(SPLITS, "input needs a \"splits\" array"))?;
    let channel = match input.get("channelId") {
        None => None,
        Some(id) => Some(
            address(Some(id)).ok_or_else(|| bad_input(SPLITS, "channelId is not an address"))?,
        ),
    };
    let count = u32::try_from(splits.len())
        .map_err(|_| bad_input(SPLITS, "more entries than a u32 counts"))?;
    let mut preimage = count.to_le_bytes().to_vec();
    let (mut total, mut seen) = (0u32, Vec::<Address>::new());
    for (i, entry) in splits.iter().enumerate() {
        let path = format!("$.splits[{i}]");
        let recipient = address(entry.get("recipient")).ok_or_else(|| {
            fail(
                "solana-session.splits.preimage-layout",
                &format!("{path}.recipient"),
                "not a base58 address",
            )
        })?;
        let share = entry
            .get("shareBps")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| {
                fail(
                    "solana-session.splits.preimage-layout",
                    &format!("{path}.shareBps"),
                    "shareBps is not an integer within u16",
                )
            })?;
        if share == 0 {
            return Err(fail(
                "solana-session.splits.share-positive",
                &format!("{path}.shareBps"),
                "an entry's shareBps is 0",
            ));
        }
        if seen.contains(&recipient) || Some(recipient) == channel {
            return Err(fail(
                "solana-session.splits.recipients-unique",
                &format!("{path}.recipient"),
                format!("{recipient} is listed twice or is the channel itself"),
            ));
        }
        seen.push(recipient);
        total += u32::from(share);
        preimage.extend_from_slice(&recipient.to_bytes());
        preimage.extend_from_slice(&share.to_le_bytes());
    }
    if total > 10_000 {
        return Err(fail(
            "solana-session.splits.share-sum",
            "$.splits",
            format!("the shares add up to {total} bps, more than 10000"),
        ));
    }
    Ok(json!({
        "preimage": alloy_primitives::hex::encode(&preimage),
        "hash": alloy_primitives::hex::encode(Sha256::digest(&preimage)),
    }))
}
