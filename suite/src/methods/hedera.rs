//! draft-hedera-charge-00 offline: the Attribution memo (§"Attribution
//! Memo", §"Byte Layout", §"Memo Encoding") that binds a Hedera
//! transaction to its challenge and server, and a pull-mode credential's
//! transaction (`prost`-decoded HAPI protobuf) judged by it and by the
//! token transfers it would make. A client builds the memo from the
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

/// The Hedera API messages a pull-mode credential carries, as the HAPI
/// protobuf files define them (`transaction.proto`,
/// `transaction_contents.proto`, `basic_types.proto`,
/// `crypto_transfer.proto`, the SDKs' `transaction_list.proto`), declared
/// for `prost` with the fields a transfer uses. A body is read only when it
/// re-encodes to its own bytes, so a field outside these (another
/// operation, a hook) is refused rather than skipped. Public for the tests
/// that re-sign a transaction they moved to another challenge.
pub mod hapi {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TransactionList {
        #[prost(message, repeated, tag = "1")]
        pub transaction_list: Vec<Transaction>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Transaction {
        #[prost(bytes = "vec", tag = "5")]
        pub signed_transaction_bytes: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SignedTransaction {
        #[prost(bytes = "vec", tag = "1")]
        pub body_bytes: Vec<u8>,
        #[prost(message, optional, tag = "2")]
        pub sig_map: Option<SignatureMap>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SignatureMap {
        #[prost(message, repeated, tag = "1")]
        pub sig_pair: Vec<SignaturePair>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SignaturePair {
        #[prost(bytes = "vec", tag = "1")]
        pub pub_key_prefix: Vec<u8>,
        #[prost(bytes = "vec", optional, tag = "3")]
        pub ed25519: Option<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TransactionBody {
        #[prost(message, optional, tag = "1")]
        pub transaction_id: Option<TransactionId>,
        #[prost(message, optional, tag = "2")]
        pub node_account_id: Option<AccountId>,
        #[prost(uint64, tag = "3")]
        pub transaction_fee: u64,
        #[prost(message, optional, tag = "4")]
        pub transaction_valid_duration: Option<Duration>,
        #[prost(string, tag = "6")]
        pub memo: String,
        #[prost(message, optional, tag = "14")]
        pub crypto_transfer: Option<CryptoTransferTransactionBody>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Duration {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TransactionId {
        #[prost(message, optional, tag = "1")]
        pub transaction_valid_start: Option<Timestamp>,
        #[prost(message, optional, tag = "2")]
        pub account_id: Option<AccountId>,
        #[prost(bool, tag = "3")]
        pub scheduled: bool,
        #[prost(int32, tag = "4")]
        pub nonce: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AccountId {
        #[prost(int64, tag = "1")]
        pub shard_num: i64,
        #[prost(int64, tag = "2")]
        pub realm_num: i64,
        #[prost(int64, optional, tag = "3")]
        pub account_num: Option<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TokenId {
        #[prost(int64, tag = "1")]
        pub shard_num: i64,
        #[prost(int64, tag = "2")]
        pub realm_num: i64,
        #[prost(int64, tag = "3")]
        pub token_num: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CryptoTransferTransactionBody {
        #[prost(message, optional, tag = "1")]
        pub transfers: Option<TransferList>,
        #[prost(message, repeated, tag = "2")]
        pub token_transfers: Vec<TokenTransferList>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TransferList {
        #[prost(message, repeated, tag = "1")]
        pub account_amounts: Vec<AccountAmount>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AccountAmount {
        #[prost(message, optional, tag = "1")]
        pub account_id: Option<AccountId>,
        #[prost(sint64, tag = "2")]
        pub amount: i64,
        #[prost(bool, tag = "3")]
        pub is_approval: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TokenTransferList {
        #[prost(message, optional, tag = "1")]
        pub token: Option<TokenId>,
        #[prost(message, repeated, tag = "2")]
        pub transfers: Vec<AccountAmount>,
    }
}

fn account(id: Option<&hapi::AccountId>) -> Option<String> {
    let id = id?;
    Some(format!(
        "{}.{}.{}",
        id.shard_num, id.realm_num, id.account_num?
    ))
}

fn decode_fail(reason: impl Into<String>) -> Error {
    tx_fail("hedera-charge.pull.decode", reason)
}

fn tx_fail(requirement: &'static str, reason: impl Into<String>) -> Error {
    Error::PayloadSchema {
        requirement,
        path: "$.transaction".into(),
        reason: reason.into(),
    }
}

/// One signed body of the credential's transaction (a `TransactionList`
/// holds one per node).
struct SignedBody {
    body: hapi::TransactionBody,
    body_bytes: Vec<u8>,
    signatures: Vec<hapi::SignaturePair>,
}

fn signed_bodies(bytes: &[u8]) -> Result<Vec<SignedBody>> {
    use prost::Message;
    let transactions = match hapi::TransactionList::decode(bytes) {
        Ok(list) if !list.transaction_list.is_empty() && list.encode_to_vec() == bytes => {
            list.transaction_list
        }
        _ => vec![hapi::Transaction::decode(bytes).map_err(|e| {
            decode_fail(format!("neither a TransactionList nor a Transaction ({e})"))
        })?],
    };
    transactions
        .into_iter()
        .map(|t| {
            let signed = hapi::SignedTransaction::decode(t.signed_transaction_bytes.as_slice())
                .map_err(|e| decode_fail(format!("signedTransactionBytes is not a SignedTransaction ({e})")))?;
            let body = hapi::TransactionBody::decode(signed.body_bytes.as_slice())
                .map_err(|e| decode_fail(format!("bodyBytes is not a TransactionBody ({e})")))?;
            if body.encode_to_vec() != signed.body_bytes {
                return Err(tx_fail(
                    "hedera-charge.security.pull-content-check",
                    "the body carries fields beyond a token transfer's (another operation, or extensions mppconf does not read)",
                ));
            }
            Ok(SignedBody {
                body,
                body_bytes: signed.body_bytes,
                signatures: signed.sig_map.map(|m| m.sig_pair).unwrap_or_default(),
            })
        })
        .collect()
}

/// What a verified pull-mode transaction pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid {
    pub payer: String,
    pub memo: String,
    /// (recipient, amount) per leg: the primary first, then the splits.
    pub legs: Vec<(String, u64)>,
}

/// Judges a pull-mode `payload.transaction` against its `request` and the
/// challenge (`realm`, `id`), as §"Pull Mode Verification" steps 1 to 3,
/// §"Transaction Payload Security (Pull Mode)", §"Client Transaction
/// Construction" and §"Transfer Verification" (read from the body
/// instead of a Mirror Node) say, with the signatures over each body.
pub fn verify_transaction(
    request: &Value,
    transaction: &str,
    realm: &str,
    challenge_id: &str,
) -> Result<Paid> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(transaction)
        .map_err(|e| decode_fail(format!("not base64 ({e})")))?;
    let bodies = signed_bodies(&bytes)?;
    let first = &bodies[0].body;
    for other in &bodies[1..] {
        let mut body = other.body.clone();
        body.node_account_id.clone_from(&first.node_account_id);
        if body != *first {
            return Err(decode_fail(
                "the list's transactions differ beyond their node account",
            ));
        }
    }
    verify(&first.memo, realm, challenge_id, None)?;
    let legs = read_legs(request)?;
    let content = "hedera-charge.security.pull-content-check";
    let transfer = first
        .crypto_transfer
        .as_ref()
        .ok_or_else(|| tx_fail(content, "the body is not a cryptoTransfer"))?;
    if transfer
        .transfers
        .as_ref()
        .is_some_and(|t| !t.account_amounts.is_empty())
    {
        return Err(tx_fail(
            content,
            "the transfer moves HBAR as well as the token",
        ));
    }
    let currency = request_str(request, "/currency")?;
    let [list] = transfer.token_transfers.as_slice() else {
        return Err(tx_fail(
            content,
            format!(
                "{} token transfer lists, not one",
                transfer.token_transfers.len()
            ),
        ));
    };
    let token = list
        .token
        .as_ref()
        .map(|t| format!("{}.{}.{}", t.shard_num, t.realm_num, t.token_num));
    if token.as_deref() != Some(currency) {
        return Err(tx_fail(
            content,
            format!("the token transferred is {token:?}, not currency {currency}"),
        ));
    }
    let entries: Vec<(Option<String>, i64)> = list
        .transfers
        .iter()
        .map(|a| (account(a.account_id.as_ref()), a.amount))
        .collect();
    if entries.iter().map(|(_, a)| i128::from(*a)).sum::<i128>() != 0 {
        return Err(tx_fail(
            "hedera-charge.construction.sum-zero",
            "the token transfer entries do not sum to zero",
        ));
    }
    let payer = account(
        first
            .transaction_id
            .as_ref()
            .and_then(|t| t.account_id.as_ref()),
    )
    .ok_or_else(|| decode_fail("the body has no payer account in its transactionID"))?;
    let total: u64 = legs.iter().map(|(_, a)| a).sum();
    let debits: Vec<&(Option<String>, i64)> = entries.iter().filter(|(_, a)| *a < 0).collect();
    let payer_debit = matches!(debits.as_slice(), [(Some(a), amount)] if *a == payer && amount.unsigned_abs() == total);
    if !payer_debit {
        return Err(tx_fail(
            "hedera-charge.construction.transfer-entries",
            format!("the debits are not exactly −{total} from the payer {payer}"),
        ));
    }
    let mut used = vec![false; entries.len()];
    for (n, (recipient, amount)) in legs.iter().enumerate() {
        let matching: Vec<usize> = (0..entries.len())
            .filter(|&i| {
                entries[i].0.as_deref() == Some(recipient.as_str())
                    && entries[i].1 >= 0
                    && entries[i].1.unsigned_abs() >= *amount
            })
            .collect();
        let which = if n == 0 {
            "the primary payment".to_string()
        } else {
            format!("split {}", n - 1)
        };
        match matching.iter().find(|&&i| !used[i]) {
            Some(&i) => used[i] = true,
            None if matching.is_empty() => {
                return Err(tx_fail(
                    "hedera-charge.transfer.reject-missing",
                    format!("no credit of at least {amount} to {recipient} for {which}"),
                ));
            }
            None => {
                return Err(tx_fail(
                    "hedera-charge.transfer.distinct-entries",
                    format!("{which} would need the entry another leg already matched"),
                ));
            }
        }
    }
    for signed in &bodies {
        let valid = signed.signatures.iter().any(|pair| {
            let (Ok(key), Some(signature)) = (
                <[u8; 32]>::try_from(pair.pub_key_prefix.as_slice()),
                pair.ed25519.as_deref(),
            ) else {
                return false;
            };
            super::ed25519_verifies(&key, &signed.body_bytes, signature)
        });
        if !valid {
            return Err(tx_fail(
                "hedera-charge.transaction.frozen-signed",
                "no ed25519 signature (with its full public key) verifies over the body",
            ));
        }
    }
    Ok(Paid {
        payer,
        memo: first.memo.clone(),
        legs,
    })
}

fn request_str<'a>(request: &'a Value, pointer: &str) -> Result<&'a str> {
    request
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::BadOpInput {
            op: "hedera.transaction.verify".into(),
            reason: format!("the request has no string at {pointer}"),
        })
}

/// The request's legs: (recipient, amount − Σ splits), then each split.
fn read_legs(request: &Value) -> Result<Vec<(String, u64)>> {
    let bad = |reason: String| Error::BadOpInput {
        op: "hedera.transaction.verify".into(),
        reason,
    };
    let number = |v: &str| {
        v.parse::<u64>()
            .map_err(|_| bad(format!("{v:?} is not a u64 amount")))
    };
    let mut legs = vec![(
        request_str(request, "/recipient")?.to_owned(),
        number(request_str(request, "/amount")?)?,
    )];
    let splits = request
        .get("splits")
        .or_else(|| request.pointer("/methodDetails/splits"))
        .and_then(Value::as_array);
    for split in splits.into_iter().flatten() {
        let field = |name: &str| {
            split
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("a split has no string {name}")))
        };
        legs.push((field("recipient")?.to_owned(), number(field("amount")?)?));
    }
    // Checked: a sum that wraps a u64 would pass for a small one.
    legs[0].1 = legs[1..]
        .iter()
        .try_fold(0u64, |sum, (_, a)| sum.checked_add(*a))
        .and_then(|splits| legs[0].1.checked_sub(splits))
        .ok_or_else(|| bad("the splits add up to more than amount".into()))?;
    Ok(legs)
}

/// `hedera.transaction.verify`: `{request, transaction, realm,
/// challengeId}` → `{payer, memo, legs}`.
pub fn verify_transaction_op(input: &Value) -> Result<Value> {
    const OP: &str = "hedera.transaction.verify";
    let request = input.get("request").ok_or_else(|| Error::BadOpInput {
        op: OP.into(),
        reason: "input needs \"request\"".into(),
    })?;
    let paid = verify_transaction(
        request,
        input_str(input, "transaction", OP)?,
        input_str(input, "realm", OP)?,
        input_str(input, "challengeId", OP)?,
    )?;
    Ok(json!({
        "payer": paid.payer,
        "memo": paid.memo,
        "legs": paid.legs.iter().map(|(r, a)| json!({"recipient": r, "amount": a.to_string()})).collect::<Vec<_>>(),
    }))
}
