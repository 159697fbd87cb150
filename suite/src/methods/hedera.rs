//! draft-hedera-charge-00 offline: the Attribution memo (§"Attribution
//! Memo", §"Byte Layout", §"Memo Encoding") that binds a Hedera
//! transaction to its challenge and server. A client builds it from the
//! challenge; a server verifies it (§"Pull Mode Verification", step 3)
//! before executing the transaction. Executing it and reading the
//! transfers from a Mirror Node need a live Hedera network.

use alloy_primitives::keccak256;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// §"Byte Layout": VERSION.
const VERSION: u8 = 1;

fn fail(requirement: &'static str, reason: impl Into<String>) -> Error {
    Error::PayloadSchema {
        requirement,
        path: "$.memo".into(),
        reason: reason.into(),
    }
}

/// The 32 bytes: TAG = keccak256("mpp")[0..3], VERSION, SERVER_ID =
/// keccak256(realm)[0..9], CLIENT_ID = keccak256(clientId)[0..9] or zeros
/// when anonymous, NONCE = keccak256(challengeId)[0..6].
pub fn memo(realm: &str, challenge_id: &str, client_id: Option<&str>) -> [u8; 32] {
    let mut memo = [0u8; 32];
    memo[..4].copy_from_slice(&keccak256("mpp")[..4]);
    memo[4] = VERSION;
    memo[5..15].copy_from_slice(&keccak256(realm)[..10]);
    if let Some(client) = client_id {
        memo[15..25].copy_from_slice(&keccak256(client)[..10]);
    }
    memo[25..].copy_from_slice(&keccak256(challenge_id)[..7]);
    memo
}

/// §"Memo Encoding": `0x` and 64 hex digits.
pub fn encode(memo: &[u8; 32]) -> String {
    format!("0x{}", alloy_primitives::hex::encode(memo))
}

/// Verifies a transaction memo against the challenge it claims, as a
/// server does; `client_id` when the server knows which client to expect.
/// Returns the memo's CLIENT_ID, `None` when anonymous.
pub fn verify(
    text: &str,
    realm: &str,
    challenge_id: &str,
    client_id: Option<&str>,
) -> Result<Option<[u8; 10]>> {
    let digits = text
        .strip_prefix("0x")
        .filter(|d| d.len() == 64)
        .ok_or_else(|| {
            fail(
                "hedera-charge.memo.hex-encoding",
                format!("{text:?} is not \"0x\" and 64 hex digits"),
            )
        })?;
    let bytes: [u8; 32] = alloy_primitives::hex::decode(digits)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| fail("hedera-charge.memo.hex-encoding", "the digits are not hex"))?;
    let want = memo(realm, challenge_id, client_id);
    if bytes[..4] != want[..4] {
        return Err(fail(
            "hedera-charge.memo.tag-reject",
            "TAG is not keccak256(\"mpp\")[0..3]: not an MPP attribution memo",
        ));
    }
    if bytes[4] != VERSION {
        return Err(fail(
            "hedera-charge.memo.version-reject",
            format!("VERSION {:#04x} is not 0x01", bytes[4]),
        ));
    }
    if bytes[5..15] != want[5..15] {
        return Err(fail(
            "hedera-charge.memo.server-id-verify",
            format!("SERVER_ID is not keccak256({realm:?})[0..9]: the memo is for another server"),
        ));
    }
    if bytes[25..] != want[25..] {
        return Err(fail(
            "hedera-charge.pull.memo-verify",
            format!(
                "NONCE is not keccak256({challenge_id:?})[0..6]: the memo is for another challenge"
            ),
        ));
    }
    let client: [u8; 10] = bytes[15..25].try_into().expect("10 bytes");
    if client_id.is_some() && client != want[15..25] {
        return Err(fail(
            "hedera-charge.memo.client-id-value",
            "CLIENT_ID is not keccak256(clientId)[0..9] of the expected client",
        ));
    }
    Ok((client != [0; 10]).then_some(client))
}

fn input_str<'a>(input: &'a Value, field: &str, op: &str) -> Result<&'a str> {
    input
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::BadOpInput {
            op: op.into(),
            reason: format!("input needs a string \"{field}\""),
        })
}

/// `hedera.memo.encode`: `{realm, challengeId, clientId?}` → `{memo}`.
pub fn encode_op(input: &Value) -> Result<Value> {
    const OP: &str = "hedera.memo.encode";
    let memo = memo(
        input_str(input, "realm", OP)?,
        input_str(input, "challengeId", OP)?,
        input.get("clientId").and_then(Value::as_str),
    );
    Ok(json!({ "memo": encode(&memo) }))
}

/// `hedera.memo.verify`: `{memo, realm, challengeId, clientId?}` →
/// `{clientId}` (the memo's CLIENT_ID as hex, null when anonymous).
pub fn verify_op(input: &Value) -> Result<Value> {
    const OP: &str = "hedera.memo.verify";
    let client = verify(
        input_str(input, "memo", OP)?,
        input_str(input, "realm", OP)?,
        input_str(input, "challengeId", OP)?,
        input.get("clientId").and_then(Value::as_str),
    )?;
    Ok(json!({
        "clientId": client.map(|c| format!("0x{}", alloy_primitives::hex::encode(c))),
    }))
}
