//! draft-lightning-session-00 offline: what a server must verify of each
//! session action before it moves a satoshi (§"Verification Procedure",
//! §"Security Considerations"), what its close answers (§"Close Action",
//! §"Receipt"), and the events of a metered stream (§"Streaming and
//! Per-Chunk Billing", §"Streaming Receipt Event"). The invoices are
//! decoded, signatures checked, by the maintained `lightning-invoice`
//! crate. Paying the invoices and the session store need a Lightning
//! node and a server, and are not judged here.

use std::str::FromStr;

use lightning_invoice::Bolt11Invoice;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::lightning::network;
use super::tempo_session_stream::take_events;
use crate::codec::rfc3339;
use crate::error::{Error, Result};

const VERIFY: &str = "lightning.session.verify";
const EVENTS: &str = "lightning.session.events.parse";
const CLOSE: &str = "lightning.session.close.verify";

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

fn object<'a>(op: &str, input: &'a Value, name: &str) -> Result<&'a Map<String, Value>> {
    input
        .get(name)
        .and_then(Value::as_object)
        .ok_or_else(|| bad_input(op, format!("input needs a {name:?} object")))
}

fn text<'a>(value: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str)
}

/// A BOLT11 invoice, its signature checked.
fn decode(text: &str, requirement: &'static str, path: &str) -> Result<Bolt11Invoice> {
    Bolt11Invoice::from_str(text).map_err(|e| {
        fail(
            requirement,
            path,
            format!("not a valid BOLT11 invoice: {e}"),
        )
    })
}

fn payment_hash(invoice: &Bolt11Invoice) -> String {
    alloy_primitives::hex::encode(invoice.payment_hash().as_ref() as &[u8])
}

/// The hex SHA-256 of a hex preimage; `None` when it is not hex. The
/// session draft says only "Hex-encoded", so either case is read
/// (`ambiguity.lightning-session-hex-case`).
fn hash_of(preimage: &str) -> Option<String> {
    let bytes = alloy_primitives::hex::decode(preimage).ok()?;
    Some(alloy_primitives::hex::encode(Sha256::digest(&bytes)))
}

/// The amount an invoice encodes, in whole satoshis (the draft counts
/// deposits in satoshis; a millisatoshi remainder is not a satoshi).
fn sats(invoice: &Bolt11Invoice) -> Option<u64> {
    invoice.amount_milli_satoshis().map(|m| m / 1000)
}

/// The stored challenge's deposit invoice: decoded, paying the request's
/// `paymentHash`, for the fixed amount `depositAmount` names.
fn deposit_invoice(request: &Map<String, Value>) -> Result<(Bolt11Invoice, String, u64)> {
    let Some(wire) = text(request, "depositInvoice") else {
        return Err(fail(
            "lightning-session.request.deposit-invoice",
            "$.request.depositInvoice",
            "an open or topUp challenge needs a deposit invoice",
        ));
    };
    let invoice = decode(
        wire,
        "lightning-session.request.deposit-invoice",
        "$.request.depositInvoice",
    )?;
    let hash = text(request, "paymentHash").unwrap_or_default();
    if hash != payment_hash(&invoice) {
        return Err(fail(
            "lightning-session.request.payment-hash",
            "$.request.paymentHash",
            format!(
                "{hash:?} is not the deposit invoice's payment hash {}",
                payment_hash(&invoice)
            ),
        ));
    }
    let Some(deposit) = sats(&invoice) else {
        return Err(fail(
            "lightning-session.request.deposit-fixed-amount",
            "$.request.depositInvoice",
            "the deposit invoice encodes no amount",
        ));
    };
    if let Some(named) = text(request, "depositAmount")
        && named != deposit.to_string()
    {
        return Err(fail(
            "lightning-session.request.deposit-amount-matches",
            "$.request.depositAmount",
            format!("{named:?} is not the deposit invoice's {deposit} sat"),
        ));
    }
    Ok((invoice, hash.to_string(), deposit))
}

/// The stored session a bearer, topUp or close action names: its id is
/// the payload's `sessionId`, and it is open.
fn open_session<'a>(input: &'a Value, payload: &Map<String, Value>) -> Result<&'a str> {
    let session = object(VERIFY, input, "session")?;
    let id = text(session, "paymentHash")
        .ok_or_else(|| bad_input(VERIFY, "session needs its paymentHash"))?;
    let named = text(payload, "sessionId").unwrap_or_default();
    if named != id {
        return Err(fail(
            "lightning-session.errors.session-not-found",
            "$.payload.sessionId",
            format!("{named:?} is not the stored session {id}"),
        ));
    }
    match text(session, "status") {
        Some("open") => Ok(id),
        Some("closed") => Err(fail(
            "lightning-session.security.reject-closed",
            "$.payload.sessionId",
            "the session is closed",
        )),
        other => Err(bad_input(
            VERIFY,
            format!("session.status is \"open\" or \"closed\", not {other:?}"),
        )),
    }
}

/// `lightning.session.verify`: `{request, payload, session?}`, the stored
/// challenge's request, the credential's payload and, for bearer, topUp
/// and close, the stored session `{paymentHash, status}`. What a server
/// may act on: `{action, sessionId}`, with `depositSats` for open and
/// `creditSats` for topUp, or the requirement the action fails.
pub fn verify_op(input: &Value) -> Result<Value> {
    let request = object(VERIFY, input, "request")?;
    let payload = object(VERIFY, input, "payload")?;
    let action = text(payload, "action").unwrap_or_default();
    match action {
        "open" => {
            let (deposit, hash, deposit_sats) = deposit_invoice(request)?;
            let preimage = text(payload, "preimage").unwrap_or_default();
            let Some(paid) = hash_of(preimage) else {
                return Err(fail(
                    "lightning-session.open.preimage",
                    "$.payload.preimage",
                    "the preimage is not hex",
                ));
            };
            if paid != hash {
                return Err(fail(
                    "lightning-session.open-verify.preimage",
                    "$.payload.preimage",
                    format!("sha256(preimage) = {paid} is not the challenge's paymentHash {hash}"),
                ));
            }
            let unit = text(request, "amount")
                .and_then(|a| a.parse::<u64>().ok())
                .ok_or_else(|| bad_input(VERIFY, "request.amount is not a decimal string"))?;
            if deposit_sats < unit {
                return Err(fail(
                    "lightning-session.open-verify.deposit-covers-unit",
                    "$.request.depositInvoice",
                    format!("a deposit of {deposit_sats} sat is less than one unit ({unit} sat)"),
                ));
            }
            let wire = text(payload, "returnInvoice").unwrap_or_default();
            let refund = decode(
                wire,
                "lightning-session.security.return-invoice-valid",
                "$.payload.returnInvoice",
            )?;
            if network(refund.currency()) != network(deposit.currency()) {
                return Err(fail(
                    "lightning-session.open-verify.return-invoice-network",
                    "$.payload.returnInvoice",
                    format!(
                        "the return invoice is on {:?}, the deposit invoice on {:?}",
                        refund.currency(),
                        deposit.currency()
                    ),
                ));
            }
            // Open Verification step 7: an explicit zero is accepted,
            // though Open Action forbids any amount in the prefix
            // (`ambiguity.lightning-session-return-invoice-amount`).
            if let Some(msat) = refund.amount_milli_satoshis()
                && msat > 0
            {
                return Err(fail(
                    "lightning-session.open.return-invoice-no-amount",
                    "$.payload.returnInvoice",
                    format!("the return invoice encodes {msat} msat"),
                ));
            }
            Ok(
                json!({"action": "open", "sessionId": hash, "depositSats": deposit_sats.to_string()}),
            )
        }
        "bearer" | "close" => {
            let id = open_session(input, payload)?;
            let preimage = text(payload, "preimage").unwrap_or_default();
            if hash_of(preimage).as_deref() != Some(id) {
                return Err(fail(
                    "lightning-session.security.preimage-verification",
                    "$.payload.preimage",
                    format!("sha256(preimage) is not the session's paymentHash {id}"),
                ));
            }
            Ok(json!({"action": action, "sessionId": id}))
        }
        "topUp" => {
            let (_, hash, credit) = deposit_invoice(request)?;
            let id = open_session(input, payload)?;
            let preimage = text(payload, "topUpPreimage").unwrap_or_default();
            let Some(paid) = hash_of(preimage) else {
                return Err(fail(
                    "lightning-session.topup.preimage",
                    "$.payload.topUpPreimage",
                    "the topUpPreimage is not hex",
                ));
            };
            if paid != hash {
                // The deposit's own preimage proves no new payment.
                let requirement = if paid == id {
                    "lightning-session.security.topup-binding"
                } else {
                    "lightning-session.topup-verify.preimage"
                };
                return Err(fail(
                    requirement,
                    "$.payload.topUpPreimage",
                    format!(
                        "sha256(topUpPreimage) = {paid} is not the top-up challenge's paymentHash {hash}"
                    ),
                ));
            }
            Ok(json!({"action": "topUp", "sessionId": id, "creditSats": credit.to_string()}))
        }
        other => Err(fail(
            "lightning-session.credential.payload-action",
            "$.payload.action",
            format!("{other:?} is not open, bearer, topUp or close"),
        )),
    }
}

fn whole_number(data: &Map<String, Value>, name: &str) -> Option<u64> {
    data.get(name).and_then(Value::as_u64)
}

fn is_session_id(id: Option<&str>) -> bool {
    id.is_some_and(|id| {
        id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The data of a `payment-need-topup` or `session-timeout` event.
fn balance_event(
    data: &Map<String, Value>,
    requirement: &'static str,
    path: &str,
) -> Result<Value> {
    if !is_session_id(text(data, "sessionId")) {
        return Err(fail(
            requirement,
            &format!("{path}.sessionId"),
            "sessionId is not a paymentHash (64 lowercase hex digits)",
        ));
    }
    for name in ["balanceSpent", "balanceRequired"] {
        if whole_number(data, name).is_none() {
            return Err(fail(
                requirement,
                &format!("{path}.{name}"),
                format!("{name} is not a whole number of satoshis"),
            ));
        }
    }
    Ok(Value::Object(data.clone()))
}

/// The data of the final `payment-receipt` event.
fn receipt_event(data: &Map<String, Value>, path: &str) -> Result<Value> {
    let requirement = "lightning-session.stream-receipt.fields";
    let need = |ok: bool, field: &str, reason: &str| {
        if ok {
            Ok(())
        } else {
            Err(fail(requirement, &format!("{path}.{field}"), reason))
        }
    };
    need(
        text(data, "method") == Some("lightning"),
        "method",
        "method is not \"lightning\"",
    )?;
    need(
        is_session_id(text(data, "reference")),
        "reference",
        "reference is not the session id",
    )?;
    need(
        text(data, "status") == Some("success"),
        "status",
        "status is not \"success\"",
    )?;
    need(
        text(data, "timestamp").is_some_and(|t| rfc3339::parse("timestamp", t).is_ok()),
        "timestamp",
        "timestamp is not RFC 3339",
    )?;
    need(
        whole_number(data, "spent").is_some(),
        "spent",
        "spent is not a number of satoshis",
    )?;
    need(
        whole_number(data, "units").is_some(),
        "units",
        "units is not a number of chunks",
    )?;
    Ok(Value::Object(data.clone()))
}

/// Reads and checks one named event's data; `&str` is its path.
type EventCheck = fn(&Map<String, Value>, &str) -> Result<Value>;

/// `lightning.session.events.parse`: `{text}`, a server-sent event stream.
/// Every complete event, `{event, data}`: the three events the draft
/// names with their data read and checked, any other (metered content,
/// the `[DONE]` sentinel) with its data as text. A `[DONE]` before the
/// `payment-receipt` event fails.
pub fn events_op(input: &Value) -> Result<Value> {
    let stream = input
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_input(EVENTS, "input needs a \"text\" string"))?;
    let mut buffer = stream.to_string();
    let mut out = Vec::new();
    let mut done = false;
    for (i, event) in take_events(&mut buffer).into_iter().enumerate() {
        let path = format!("$.events[{i}].data");
        let (format, check): (&'static str, EventCheck) = match event.name.as_str() {
            "payment-need-topup" => ("lightning-session.need-topup.format", |d, p| {
                balance_event(d, "lightning-session.need-topup.fields", p)
            }),
            "session-timeout" => ("lightning-session.timeout-event.fields", |d, p| {
                balance_event(d, "lightning-session.timeout-event.fields", p)
            }),
            "payment-receipt" => ("lightning-session.stream-receipt.fields", receipt_event),
            name => {
                done |= name.is_empty() && event.data == "[DONE]";
                out.push(json!({"event": name, "data": event.data}));
                continue;
            }
        };
        if event.name == "payment-receipt" && done {
            return Err(fail(
                "lightning-session.stream-receipt.before-done",
                &path,
                "the payment-receipt event comes after [DONE]",
            ));
        }
        let data = match serde_json::from_str::<Value>(&event.data) {
            Ok(Value::Object(data)) => data,
            _ => return Err(fail(format, &path, "the event data is not a JSON object")),
        };
        out.push(json!({"event": event.name, "data": check(&data, &path)?}));
    }
    Ok(json!({"events": out}))
}

/// `lightning.session.close.verify`: `{session, body, receipt}`, the
/// stored session `{paymentHash, depositSats, spent}` (numbers) and what
/// the server answered a close with: its JSON body and its decoded
/// `Payment-Receipt`. `{refundSats, refundStatus}` when both say what
/// §"Close Action" and §"Receipt" require.
pub fn close_op(input: &Value) -> Result<Value> {
    let session = object(CLOSE, input, "session")?;
    let body = object(CLOSE, input, "body")?;
    let receipt = object(CLOSE, input, "receipt")?;
    let (Some(id), Some(deposit), Some(spent)) = (
        text(session, "paymentHash"),
        whole_number(session, "depositSats"),
        whole_number(session, "spent"),
    ) else {
        return Err(bad_input(
            CLOSE,
            "session needs paymentHash, depositSats and spent",
        ));
    };
    let owed = deposit
        .checked_sub(spent)
        .ok_or_else(|| bad_input(CLOSE, "session.spent is more than its deposit"))?;
    let response = "lightning-session.close.response";
    if text(body, "status") != Some("closed") {
        return Err(fail(response, "$.body.status", "status is not \"closed\""));
    }
    let refund = whole_number(body, "refundSats");
    if refund != Some(owed) {
        return Err(fail(
            "lightning-session.close.refund-amount",
            "$.body.refundSats",
            format!("refundSats is {refund:?}, the unspent balance is {owed}"),
        ));
    }
    let status = text(body, "refundStatus").unwrap_or_default();
    if !matches!(status, "succeeded" | "failed" | "skipped") {
        return Err(fail(
            response,
            "$.body.refundStatus",
            format!("{status:?} is not succeeded, failed or skipped"),
        ));
    }
    if (status == "skipped") != (owed == 0) {
        return Err(fail(
            "lightning-session.close.refund-status",
            "$.body.refundStatus",
            format!("refundStatus {status:?} with {owed} sat owed"),
        ));
    }
    let field = |ok: bool, name: &str, reason: &str| {
        if ok {
            Ok(())
        } else {
            Err(fail(
                "lightning-session.receipt.fields",
                &format!("$.receipt.{name}"),
                reason,
            ))
        }
    };
    field(
        text(receipt, "method") == Some("lightning"),
        "method",
        "method is not \"lightning\"",
    )?;
    field(
        text(receipt, "reference") == Some(id),
        "reference",
        "reference is not the session id",
    )?;
    field(
        text(receipt, "status") == Some("success"),
        "status",
        "status is not \"success\"",
    )?;
    field(
        text(receipt, "timestamp").is_some_and(|t| rfc3339::parse("timestamp", t).is_ok()),
        "timestamp",
        "timestamp is not RFC 3339",
    )?;
    if whole_number(receipt, "refundSats") != Some(owed) {
        return Err(fail(
            "lightning-session.receipt.refund-sats",
            "$.receipt.refundSats",
            "the receipt's refundSats is not the refunded balance, as a number",
        ));
    }
    if text(receipt, "refundStatus") != Some(status) {
        return Err(fail(
            "lightning-session.receipt.refund-status",
            "$.receipt.refundStatus",
            "the receipt's refundStatus is not the body's",
        ));
    }
    Ok(json!({"refundSats": owed, "refundStatus": status}))
}
