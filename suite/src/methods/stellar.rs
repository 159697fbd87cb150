//! draft-stellar-charge-00 offline: a pull-mode credential's transaction
//! (§"Transaction Payload — Pull Mode") decoded with the Stellar
//! Foundation's `stellar-xdr` crate and judged against the challenge's
//! request by every check of §"Verification" that needs no Stellar RPC:
//! the one `invokeHostFunction` operation, the `transfer(from, to,
//! amount)` it invokes, the server's own address, and the signatures
//! (ed25519 over the request's network passphrase). Simulation, submission
//! and the ledger itself need a live Stellar network and are not judged
//! here.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use stellar_xdr::{
    DecoratedSignature, Hash, HashIdPreimage, HashIdPreimageSorobanAuthorization, HostFunction,
    InvokeContractArgs, Limits, MuxedAccount, OperationBody, Preconditions, ReadXdr, ScAddress,
    ScVal, SorobanAuthorizationEntry, SorobanAuthorizedFunction, SorobanCredentials, Transaction,
    TransactionEnvelope, WriteXdr,
};

use super::ed25519_verifies as verifies;
use crate::error::{Error, Result};

/// What a verified transaction pays: the one `transfer` it invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The transaction's source account (G…).
    pub source: String,
    pub from: String,
    pub to: String,
    pub amount: String,
    /// The token contract (C…).
    pub contract: String,
}

impl Transfer {
    pub fn to_json(&self) -> Value {
        json!({
            "source": self.source,
            "from": self.from,
            "to": self.to,
            "amount": self.amount,
            "contract": self.contract,
        })
    }
}

/// What a server knows beyond the request when it verifies: the
/// challenge's `expires`, its own account, and the ledger and time it
/// verifies at (§"Ledger Expiration").
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub expires: Option<DateTime<Utc>>,
    pub server_address: Option<String>,
    pub ledger_now: Option<(u32, DateTime<Utc>)>,
}

/// §"Ledger Expiration": `DEFAULT_LEDGER_CLOSE_TIME`.
const LEDGER_CLOSE_SECONDS: i64 = 5;

/// §"Sponsored Flow Checks", item 6.
const ZERO_ACCOUNT: [u8; 32] = [0; 32];

fn fail(requirement: &'static str, path: &str, reason: impl Into<String>) -> Error {
    Error::PayloadSchema {
        requirement,
        path: path.into(),
        reason: reason.into(),
    }
}

const PUBNET: &str = "Public Global Stellar Network ; September 2015";
const TESTNET: &str = "Test SDF Network ; September 2015";

/// `methodDetails.network` (§"Method Details": CAIP-2 `stellar:pubnet` or
/// `stellar:testnet`) with its passphrase, and the other network's: a
/// signature that verifies only under that one was made for the wrong
/// network, which deserves its own verdict.
struct Network {
    name: &'static str,
    passphrase: &'static str,
    other: &'static str,
}

impl Network {
    fn of(name: &str) -> Option<Self> {
        match name {
            "stellar:pubnet" => Some(Self {
                name: "stellar:pubnet",
                passphrase: PUBNET,
                other: TESTNET,
            }),
            "stellar:testnet" => Some(Self {
                name: "stellar:testnet",
                passphrase: TESTNET,
                other: PUBNET,
            }),
            _ => None,
        }
    }
}

fn network_id(passphrase: &str) -> [u8; 32] {
    Sha256::digest(passphrase.as_bytes()).into()
}

fn bad_input(reason: impl Into<String>) -> Error {
    Error::BadOpInput {
        op: "stellar.transaction.verify".into(),
        reason: reason.into(),
    }
}

fn request_field<'a>(request: &'a Value, pointer: &str) -> Result<&'a str> {
    request
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| bad_input(format!("the request has no string at {pointer}")))
}

/// Judges a pull-mode `payload.transaction` against its `request`.
pub fn verify_transaction(request: &Value, transaction: &str, ctx: &Context) -> Result<Transfer> {
    let network = request_field(request, "/methodDetails/network")?;
    let network = Network::of(network).ok_or_else(|| {
        bad_input(format!(
            "methodDetails.network {network:?} is not stellar:pubnet or stellar:testnet"
        ))
    })?;
    let sponsored = request
        .pointer("/methodDetails/feePayer")
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let envelope = TransactionEnvelope::from_xdr_base64(transaction, Limits::len(64 * 1024))
        .map_err(|e| {
            fail(
                "stellar-charge.transaction.xdr",
                "$.transaction",
                format!("not a base64 XDR TransactionEnvelope ({e})"),
            )
        })?;
    let TransactionEnvelope::Tx(envelope) = envelope else {
        return Err(fail(
            "stellar-charge.transaction.xdr",
            "$.transaction",
            "not an ENVELOPE_TYPE_TX (v1) transaction: the client sends the transaction, a fee bump is the server's",
        ));
    };
    let tx = &envelope.tx;
    let (invocation, auth) = the_invocation(tx)?;
    let transfer = the_transfer(invocation, request, tx)?;

    if let Some(server) = &ctx.server_address {
        let in_auth = auth.iter().any(|entry| match &entry.credentials {
            SorobanCredentials::Address(c) => c.address.to_string() == *server,
            _ => false,
        });
        if transfer.from == *server || in_auth {
            return Err(fail(
                "stellar-charge.verification.server-address-absent",
                "$.transaction",
                format!(
                    "the server's own account {server} is the transfer's `from` or signs an authorization entry"
                ),
            ));
        }
    }

    if sponsored {
        verify_sponsored(
            &envelope.signatures,
            tx,
            auth,
            invocation,
            &transfer,
            &network,
            ctx,
        )?;
    } else {
        verify_client_paid(&envelope.signatures, tx, &network, ctx)?;
    }
    Ok(transfer)
}

/// §"Transaction Payload — Pull Mode": "exactly one operation of type
/// `invokeHostFunction`", and §"Sponsored Flow Checks" item 2: "with
/// function type `hostFunctionTypeInvokeContract`".
fn the_invocation(tx: &Transaction) -> Result<(&InvokeContractArgs, &[SorobanAuthorizationEntry])> {
    let [operation] = tx.operations.as_slice() else {
        return Err(fail(
            "stellar-charge.transaction.single-invoke-host-function",
            "$.transaction",
            format!("{} operations, not exactly one", tx.operations.len()),
        ));
    };
    let OperationBody::InvokeHostFunction(op) = &operation.body else {
        return Err(fail(
            "stellar-charge.transaction.single-invoke-host-function",
            "$.transaction",
            format!(
                "the operation is {}, not invokeHostFunction",
                operation.body.name()
            ),
        ));
    };
    let HostFunction::InvokeContract(args) = &op.host_function else {
        return Err(fail(
            "stellar-charge.verification.single-invoke-contract",
            "$.transaction",
            format!(
                "the host function is {}, not InvokeContract",
                op.host_function.name()
            ),
        ));
    };
    Ok((args, op.auth.as_slice()))
}

/// §"Sponsored Flow Checks" item 3: "`transfer(from, to, amount)` on the
/// contract matching `currency`. The `to` argument MUST equal `recipient`
/// and the `amount` argument MUST equal `amount` (as i128)".
fn the_transfer(args: &InvokeContractArgs, request: &Value, tx: &Transaction) -> Result<Transfer> {
    const ARGS: &str = "stellar-charge.verification.transfer-args";
    let wrong = |reason: String| fail(ARGS, "$.transaction", reason);
    let function = args.function_name.0.to_utf8_string_lossy();
    if function != "transfer" {
        return Err(wrong(format!(
            "the contract function is {function:?}, not \"transfer\""
        )));
    }
    let [
        ScVal::Address(from),
        ScVal::Address(to),
        ScVal::I128(amount),
    ] = args.args.as_slice()
    else {
        return Err(wrong(
            "the arguments are not (Address from, Address to, i128 amount)".into(),
        ));
    };
    let transfer = Transfer {
        source: tx.source_account.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        amount: amount.to_string(),
        contract: args.contract_address.to_string(),
    };
    for (field, pointer, actual) in [
        ("currency", "/currency", &transfer.contract),
        ("recipient", "/recipient", &transfer.to),
        ("amount", "/amount", &transfer.amount),
    ] {
        let expected = request_field(request, pointer)?;
        if actual != expected {
            return Err(wrong(format!(
                "the transfer's {} is {actual}, the request's {field} is {expected}",
                match field {
                    "currency" => "contract",
                    "recipient" => "`to`",
                    _ => "amount",
                }
            )));
        }
    }
    Ok(transfer)
}

fn source_key(account: &MuxedAccount) -> [u8; 32] {
    match account {
        MuxedAccount::Ed25519(key) => key.0,
        MuxedAccount::MuxedEd25519(m) => m.ed25519.0,
    }
}

/// §"Server-Sponsored Fees" and §"Sponsored Flow Checks", items 6 to 8.
fn verify_sponsored(
    signatures: &[DecoratedSignature],
    tx: &Transaction,
    auth: &[SorobanAuthorizationEntry],
    invocation: &InvokeContractArgs,
    transfer: &Transfer,
    network: &Network,
    ctx: &Context,
) -> Result<()> {
    if source_key(&tx.source_account) != ZERO_ACCOUNT {
        return Err(fail(
            "stellar-charge.sponsored.zero-source",
            "$.transaction",
            format!(
                "feePayer is true and the source account is {}, not the all-zeros account",
                transfer.source
            ),
        ));
    }
    if !signatures.is_empty() {
        return Err(fail(
            "stellar-charge.sponsored.client-not-sign-envelope",
            "$.transaction",
            format!(
                "feePayer is true and the envelope carries {} signature(s)",
                signatures.len()
            ),
        ));
    }
    const ADDRESS_ONLY: &str = "stellar-charge.verification.auth-address-credentials";
    let mut payer_entry = None;
    for (i, entry) in auth.iter().enumerate() {
        let SorobanCredentials::Address(credentials) = &entry.credentials else {
            return Err(fail(
                ADDRESS_ONLY,
                "$.transaction",
                format!(
                    "authorization entry {i} has {} credentials, not sorobanCredentialsAddress",
                    entry.credentials.name()
                ),
            ));
        };
        if !entry.root_invocation.sub_invocations.is_empty() {
            return Err(fail(
                ADDRESS_ONLY,
                "$.transaction",
                format!(
                    "authorization entry {i} carries {} sub-invocation(s) beyond the token transfer",
                    entry.root_invocation.sub_invocations.len()
                ),
            ));
        }
        if credentials.address.to_string() == transfer.from {
            payer_entry = Some((entry, credentials));
        }
    }
    const SIGNED: &str = "stellar-charge.sponsored.auth-entries-signed";
    let Some((entry, credentials)) = payer_entry else {
        return Err(fail(
            SIGNED,
            "$.transaction",
            format!(
                "no sorobanCredentialsAddress authorization entry for the payer {}",
                transfer.from
            ),
        ));
    };
    if entry.root_invocation.function != SorobanAuthorizedFunction::ContractFn(invocation.clone()) {
        return Err(fail(
            "stellar-charge.verification.transfer-args",
            "$.transaction",
            "the payer's authorization entry authorizes another invocation than the transaction's transfer",
        ));
    }
    if let ScAddress::Account(account) = &credentials.address {
        let key = match &account.0 {
            stellar_xdr::PublicKey::PublicKeyTypeEd25519(k) => k.0,
        };
        let preimage = |passphrase: &str| {
            HashIdPreimage::SorobanAuthorization(HashIdPreimageSorobanAuthorization {
                network_id: Hash(network_id(passphrase)),
                nonce: credentials.nonce,
                signature_expiration_ledger: credentials.signature_expiration_ledger,
                invocation: entry.root_invocation.clone(),
            })
            .to_xdr(Limits::none())
            .map(|bytes| Sha256::digest(bytes).to_vec())
            .unwrap_or_default()
        };
        let signed_under = |passphrase: &str| {
            let payload = preimage(passphrase);
            account_signatures(&credentials.signature)
                .iter()
                .any(|(public, signature)| *public == key && verifies(&key, &payload, signature))
        };
        if !signed_under(network.passphrase) {
            return Err(if signed_under(network.other) {
                fail(
                    "stellar-charge.verification.network-passphrase",
                    "$.transaction",
                    format!(
                        "the payer's authorization entry is signed for the other network, not {}",
                        network.name
                    ),
                )
            } else {
                fail(
                    SIGNED,
                    "$.transaction",
                    format!(
                        "the payer's authorization entry carries no valid signature by {} under {}'s passphrase",
                        transfer.from, network.name
                    ),
                )
            });
        }
    }
    // A contract `from` (C…) is a custom account: its __check_auth runs only
    // on the ledger, so its signature is left to simulation.
    if let (Some(expires), Some((ledger, now))) = (ctx.expires, ctx.ledger_now) {
        let seconds = (expires - now).num_seconds().max(0);
        let bound = i64::from(ledger) + (seconds + LEDGER_CLOSE_SECONDS - 1) / LEDGER_CLOSE_SECONDS;
        if i64::from(credentials.signature_expiration_ledger) > bound {
            return Err(fail(
                "stellar-charge.verification.auth-expiration-bound",
                "$.transaction",
                format!(
                    "the authorization expires at ledger {}, beyond currentLedger + ceil((expires - now) / 5) = {bound}",
                    credentials.signature_expiration_ledger
                ),
            ));
        }
    }
    Ok(())
}

/// §"Client-Paid Fees" and §"Unsponsored Flow Checks".
fn verify_client_paid(
    signatures: &[DecoratedSignature],
    tx: &Transaction,
    network: &Network,
    ctx: &Context,
) -> Result<()> {
    let key = source_key(&tx.source_account);
    let signed_under = |passphrase: &str| {
        let Ok(hash) = tx.hash(network_id(passphrase)) else {
            return false;
        };
        signatures
            .iter()
            .any(|s| s.hint.0 == key[28..] && verifies(&key, &hash, &s.signature.0))
    };
    if !signed_under(network.passphrase) {
        return Err(if signed_under(network.other) {
            fail(
                "stellar-charge.verification.network-passphrase",
                "$.transaction",
                format!(
                    "the envelope is signed for the other network, not {}",
                    network.name
                ),
            )
        } else {
            fail(
                "stellar-charge.unsponsored.network-ready",
                "$.transaction",
                format!(
                    "feePayer is false and no envelope signature by the source account verifies under {}'s passphrase",
                    network.name
                ),
            )
        });
    }
    if let Some(expires) = ctx.expires {
        let max_time = match &tx.cond {
            Preconditions::Time(bounds) => bounds.max_time.0,
            Preconditions::V2(v2) => v2.time_bounds.as_ref().map_or(0, |b| b.max_time.0),
            Preconditions::None => 0,
        };
        let limit = u64::try_from(expires.timestamp()).unwrap_or(0);
        if max_time == 0 || max_time > limit {
            return Err(fail(
                "stellar-charge.verification.max-time-bound",
                "$.transaction",
                if max_time == 0 {
                    "the transaction has no timeBounds.maxTime: it stays valid beyond the challenge's expiry".to_string()
                } else {
                    format!("timeBounds.maxTime {max_time} is after expires ({limit})")
                },
            ));
        }
    }
    Ok(())
}

/// The `(public_key, signature)` pairs of a Stellar account's Soroban
/// signature: `Vec[Map{public_key: Bytes, signature: Bytes}]`.
fn account_signatures(signature: &ScVal) -> Vec<([u8; 32], Vec<u8>)> {
    let ScVal::Vec(Some(items)) = signature else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let ScVal::Map(Some(map)) = item else {
                return None;
            };
            let field = |name: &str| {
                map.iter().find_map(|e| match (&e.key, &e.val) {
                    (ScVal::Symbol(k), ScVal::Bytes(v)) if k.0.as_slice() == name.as_bytes() => {
                        Some(v.0.to_vec())
                    }
                    _ => None,
                })
            };
            let public: [u8; 32] = field("public_key")?.try_into().ok()?;
            Some((public, field("signature")?))
        })
        .collect()
}

/// The `stellar.transaction.verify` operation's input, read.
pub fn verify_op(input: &Value) -> Result<Value> {
    let bad = |reason: &str| bad_input(reason);
    let request = input
        .get("request")
        .ok_or_else(|| bad("input needs \"request\""))?;
    let transaction = input
        .get("transaction")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("input needs a string \"transaction\""))?;
    let time = |field: &str| -> Result<Option<DateTime<Utc>>> {
        input
            .get(field)
            .map(|v| {
                v.as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| bad(&format!("\"{field}\" is an RFC 3339 timestamp")))
            })
            .transpose()
    };
    let ledger = input
        .get("currentLedger")
        .map(|v| {
            v.as_u64()
                .and_then(|l| u32::try_from(l).ok())
                .ok_or_else(|| bad("\"currentLedger\" is a ledger sequence number"))
        })
        .transpose()?;
    let ctx = Context {
        expires: time("expires")?,
        server_address: input
            .get("serverAddress")
            .and_then(Value::as_str)
            .map(str::to_owned),
        ledger_now: ledger.zip(time("now")?),
    };
    verify_transaction(request, transaction, &ctx).map(|t| t.to_json())
}
