//! The reference codec behind the cross-SDK adapter ABI.
//!
//! An adapter reads `{"schema":1,"op":OP,"input":…}` and answers
//! `{"ok":true,"value":…}` or `{"ok":false,"error":{"type":T,"message":M}}`.
//! The nine operations of the official suite keep its shapes and its
//! one-error-type-per-operation rule; the others are mppconf extensions that
//! other adapters may answer with `unsupported_operation`. The full table is
//! in `vectors/README.md`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::codec::{
    AcceptPayment, BindingSlots, Challenge, Credential, EncodedJson, ProblemDetails, Receipt,
    base64url, challenge, content_digest, json as cjson, request_schema,
};
use crate::drafts::CoreDraft;
use crate::error::{AbiErrorType, Error};
use crate::methods::{tempo_charge, tempo_session};

/// The ABI schema version this module speaks.
pub const ABI_SCHEMA: u64 = 1;

/// Every operation [`execute`] answers, official ones first.
pub const OPERATIONS: &[&str] = &[
    "challenge.parse",
    "challenge.format",
    "credential.parse",
    "credential.format",
    "receipt.parse",
    "receipt.format",
    "base64url.encode",
    "base64url.decode",
    "challenge.id",
    "challenges.parse",
    "jcs.canonicalize",
    "accept_payment.parse",
    "accept_payment.select",
    "content_digest.compute",
    "content_digest.verify",
    "problem.parse",
    "request.validate",
    "payload.validate",
    "lightning.preimage.verify",
    "lightning.expiry.verify",
    "lightning.session.verify",
    "lightning.session.events.parse",
    "lightning.session.close.verify",
    "evm.challenge_hash",
    "evm.permit2.type_hashes",
    "evm.permit2.digest",
    "evm.authorization.digest",
    "session.channel_id",
    "session.voucher.digest",
    "session.voucher.signer",
    "evm.session.channel_id",
    "evm.session.voucher.digest",
    "evm.session.voucher.signer",
    "stellar.transaction.verify",
    "solana.transaction.verify",
    "solana.session.voucher.verify",
    "solana.session.proof.verify",
    "solana.session.splits.hash",
    "hedera.session.channel_id",
    "hedera.session.voucher.digest",
    "hedera.session.voucher.verify",
    "hedera.memo.encode",
    "hedera.memo.verify",
    "hedera.transaction.verify",
    "card.jwe.verify",
    "card.jwe.decrypt",
    "card.jwks_uri.origin",
    "subscription.period.bounds",
    "tempo.subscription.key_authorization.verify",
    "tempo.credential.validate",
    "payment_info.parse",
    "mcp.payment_required.parse",
    "mcp.credential.parse",
    "mcp.receipt.parse",
    "schema.version",
];

/// A request line of the adapter ABI.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AbiRequest {
    pub schema: u64,
    pub op: String,
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
}

/// The error object of a failed ABI response. `code` is an mppconf
/// extension (our finer error code); official adapters omit it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AbiError {
    #[serde(rename = "type")]
    pub error_type: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A response line of the adapter ABI.
#[derive(Debug, Clone, PartialEq)]
pub enum AbiResponse {
    Ok(Value),
    Err(AbiError),
}

impl AbiResponse {
    pub fn to_json(&self) -> Value {
        match self {
            AbiResponse::Ok(v) => json!({"ok": true, "value": v}),
            AbiResponse::Err(e) => json!({"ok": false, "error": e}),
        }
    }

    /// Reads a response, naming what is wrong with a malformed one.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let map = v.as_object().ok_or("response is not a JSON object")?;
        match map.get("ok") {
            Some(Value::Bool(true)) => Ok(AbiResponse::Ok(
                map.get("value")
                    .cloned()
                    .ok_or("ok:true response without \"value\"")?,
            )),
            Some(Value::Bool(false)) => {
                let e = map
                    .get("error")
                    .ok_or("ok:false response without \"error\"")?;
                serde_json::from_value(e.clone())
                    .map(AbiResponse::Err)
                    .map_err(|e| format!("bad \"error\" object: {e}"))
            }
            _ => Err("response has no boolean \"ok\"".into()),
        }
    }
}

/// Answers one ABI request with the reference codec, under `draft`.
pub fn answer(request: &AbiRequest, draft: CoreDraft) -> AbiResponse {
    if request.schema != ABI_SCHEMA {
        return AbiResponse::Err(AbiError {
            error_type: AbiErrorType::Unknown.as_str().into(),
            message: format!("unsupported ABI schema {}", request.schema),
            code: Some("bad-input".into()),
        });
    }
    match execute(&request.op, &request.input, draft) {
        Ok(v) => AbiResponse::Ok(v),
        Err((t, e)) => AbiResponse::Err(AbiError {
            error_type: t.as_str().into(),
            message: e.to_string(),
            code: Some(e.code()),
        }),
    }
}

/// Runs one operation under `draft`, returning the value or the ABI error
/// type with the codec error behind it. Under -01 the challenge and
/// credential operations read and write the `header` parameter and its
/// echo, a challenge whose `header` is not `Payment-Authorization` is
/// refused, and `challenge.id` binds the header.
pub fn execute(op: &str, input: &Value, draft: CoreDraft) -> Result<Value, (AbiErrorType, Error)> {
    use AbiErrorType as T;
    let as_type = |t: AbiErrorType| move |e: Error| (t, e);
    let bad_input = |reason: &str| {
        (
            T::Unknown,
            Error::BadOpInput {
                op: op.into(),
                reason: reason.into(),
            },
        )
    };
    let text = |field: &str| {
        input
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| bad_input(&format!("input needs a string \"{field}\"")))
    };
    let need = |field: &str| {
        input
            .get(field)
            .ok_or_else(|| bad_input(&format!("input needs \"{field}\"")))
    };
    match op {
        "challenge.parse" => Challenge::parse(text("header")?)
            .and_then(|c| c.check_draft(draft).map(|()| c.to_abi_for(draft)))
            .map_err(as_type(T::Parse)),
        "challenges.parse" => {
            let headers: Vec<&str> = input
                .get("headers")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(Value::as_str).collect())
                .ok_or_else(|| bad_input("input needs \"headers\", an array of strings"))?;
            let all = challenge::parse_all(&headers).map_err(as_type(T::Parse))?;
            let items: Vec<Value> = all
                .into_iter()
                .map(|r| match r.and_then(|c| c.check_draft(draft).map(|()| c)) {
                    Ok(c) => c.to_abi_for(draft),
                    Err(e) => json!({"error": e.code()}),
                })
                .collect();
            Ok(json!({ "challenges": items }))
        }
        "challenge.format" => Challenge::from_abi(input)
            .and_then(|c| c.check_draft(draft).and_then(|()| c.to_header()))
            .map(|h| json!({ "header": h }))
            .map_err(format_error),
        "credential.parse" => Credential::parse(text("header")?)
            .map(|c| c.to_abi_for(draft))
            .map_err(as_type(T::Parse)),
        "credential.format" => Credential::from_abi(input)
            .map(|c| json!({ "header": c.to_header() }))
            .map_err(format_error),
        "receipt.parse" => Receipt::parse(text("header")?)
            .map(|r| r.to_abi())
            .map_err(as_type(T::Parse)),
        "receipt.format" => Receipt::from_abi(input)
            .map(|r| json!({ "header": r.to_header() }))
            .map_err(format_error),
        "base64url.encode" => Ok(json!({ "text": base64url::encode(text("text")?) })),
        // A plain decoder: the empty text is the empty string (RFC 4648
        // §10); the `1*` of base64url-nopad binds header values, which the
        // header parsers enforce.
        "base64url.decode" => match text("text")? {
            "" => Ok(json!({ "text": "" })),
            t => base64url::decode_text("text", t)
                .map(|t| json!({ "text": t }))
                .map_err(as_type(T::Encoding)),
        },
        "jcs.canonicalize" => cjson::canonicalize_text(text("text")?)
            .map(|t| json!({ "text": t }))
            .map_err(as_type(T::Parse)),
        "challenge.id" => challenge_id(input, draft).map_err(as_type(T::Generation)),
        "accept_payment.parse" => AcceptPayment::parse(text("header")?)
            .map(|a| a.to_abi())
            .map_err(as_type(T::Parse)),
        "accept_payment.select" => accept_select(input).map_err(|e| bad_input(&e)),
        "content_digest.compute" => Ok(json!({
            "digest": content_digest::compute_sha256(text("body")?.as_bytes())
        })),
        "content_digest.verify" => {
            content_digest::verify(text("digest")?, text("body")?.as_bytes())
                .map(|m| json!({ "match": m }))
                .map_err(|e| (e.abi_type(), e))
        }
        "problem.parse" => ProblemDetails::parse(text("body")?)
            .map(|p| p.to_abi())
            .map_err(as_type(T::Parse)),
        // draft-payment-discovery-00 §"Payment Extension: x-payment-info".
        "payment_info.parse" => crate::discovery::PaymentInfo::parse(text("text")?)
            .map(|p| p.to_abi())
            .map_err(as_type(T::Parse)),
        // draft-payment-transport-mcp-00: the payment members of JSON-RPC
        // messages (the whole message as JSON text).
        "mcp.payment_required.parse" => crate::mcp::PaymentRequired::parse(text("text")?)
            .map(|p| p.to_abi())
            .map_err(as_type(T::Parse)),
        "mcp.credential.parse" => crate::mcp::McpCredential::parse(text("text")?)
            .map(|c| json!({ "credential": c.map(|c| c.to_abi()) }))
            .map_err(as_type(T::Parse)),
        "mcp.receipt.parse" => crate::mcp::McpReceipt::parse(text("text")?)
            .map(|r| json!({ "receipt": r.map(|r| r.to_abi()) }))
            .map_err(as_type(T::Parse)),
        "request.validate" => {
            let request = input
                .get("request")
                .ok_or_else(|| bad_input("input needs \"request\""))?;
            request_schema::validate(text("method")?, text("intent")?, request)
                .map(|w| json!({ "warnings": w.iter().map(|w| w.requirement).collect::<Vec<_>>() }))
                .map_err(as_type(T::Verification))
        }
        "payload.validate" => {
            let payload = input
                .get("payload")
                .ok_or_else(|| bad_input("input needs \"payload\""))?;
            crate::methods::rules::validate(
                text("method")?,
                text("intent")?,
                crate::methods::rules::Part::Payload,
                payload,
            )
            .map(|w| json!({ "warnings": w.iter().map(|w| w.requirement).collect::<Vec<_>>() }))
            .map_err(as_type(T::Verification))
        }
        "evm.challenge_hash" => Ok(json!({
            "challengeHash": crate::methods::evm::challenge_hash(text("id")?, text("realm")?).to_string(),
        })),
        "evm.permit2.type_hashes" => {
            let form = crate::methods::evm::WitnessForm::parse(text("form")?)
                .ok_or_else(|| bad_input("\"form\" is \"literal\" or \"canonical\""))?;
            let [witness, single, batch] = crate::methods::evm::permit2_type_hashes(form);
            Ok(json!({
                "witness": witness.to_string(),
                "permitWitnessTransferFrom": single.to_string(),
                "permitBatchWitnessTransferFrom": batch.to_string(),
            }))
        }
        "evm.permit2.digest" => {
            use crate::methods::evm::Permit2Message;
            let message = Permit2Message::from_json(need("message")?).map_err(|e| bad_input(&e))?;
            let chain_id = need("chainId")?
                .as_u64()
                .ok_or_else(|| bad_input("\"chainId\" is an integer"))?;
            let permit2 = text("permit2")?
                .parse()
                .map_err(|_| bad_input("\"permit2\" is a 20-byte hex address"))?;
            Ok(json!({
                "digest": message.digest(chain_id, permit2).to_string(),
                "witnessHash": message.witness_hash().to_string(),
            }))
        }
        "evm.authorization.digest" => {
            use crate::methods::evm::{AuthorizationMessage, domain_from_json};
            let domain = domain_from_json(need("domain")?).map_err(|e| bad_input(&e))?;
            let message =
                AuthorizationMessage::from_json(need("message")?).map_err(|e| bad_input(&e))?;
            Ok(json!({"digest": message.digest(&domain).to_string()}))
        }
        "session.channel_id"
        | "session.voucher.digest"
        | "session.voucher.signer"
        | "evm.session.channel_id"
        | "evm.session.voucher.digest"
        | "evm.session.voucher.signer"
        | "hedera.session.channel_id"
        | "hedera.session.voucher.digest" => session_op(op, input).map_err(|e| match e {
            SessionOpError::Input(reason) => bad_input(&reason),
            SessionOpError::Voucher(v) => (
                T::Verification,
                Error::Voucher {
                    requirement: v.requirement,
                    reason: v.reason,
                },
            ),
        }),
        "lightning.preimage.verify" => {
            let (Some(request), Some(payload)) = (input.get("request"), input.get("payload"))
            else {
                return Err(bad_input("input needs \"request\" and \"payload\""));
            };
            crate::methods::lightning::verify_preimage(request, payload)
                .map(|()| json!({}))
                .map_err(as_type(T::Verification))
        }
        "lightning.expiry.verify" => {
            crate::methods::lightning::expiry_op(input).map_err(|e| (e.abi_type(), e))
        }
        "lightning.session.verify" => {
            crate::methods::lightning_session::verify_op(input).map_err(|e| (e.abi_type(), e))
        }
        "lightning.session.events.parse" => {
            crate::methods::lightning_session::events_op(input).map_err(|e| (e.abi_type(), e))
        }
        "lightning.session.close.verify" => {
            crate::methods::lightning_session::close_op(input).map_err(|e| (e.abi_type(), e))
        }
        "hedera.session.voucher.verify" => {
            crate::methods::hedera_session::verify_voucher_op(input).map_err(|e| (e.abi_type(), e))
        }
        "hedera.memo.encode" => {
            crate::methods::hedera::encode_op(input).map_err(|e| (e.abi_type(), e))
        }
        "hedera.memo.verify" => {
            crate::methods::hedera::verify_op(input).map_err(|e| (e.abi_type(), e))
        }
        "card.jwe.verify" => {
            crate::methods::card::verify_jwe_op(input).map_err(|e| (e.abi_type(), e))
        }
        "card.jwe.decrypt" => {
            crate::methods::card::decrypt_jwe_op(input).map_err(|e| (e.abi_type(), e))
        }
        "card.jwks_uri.origin" => {
            crate::methods::card::jwks_origin_op(input).map_err(|e| (e.abi_type(), e))
        }
        "hedera.transaction.verify" => {
            crate::methods::hedera::verify_transaction_op(input).map_err(|e| (e.abi_type(), e))
        }
        "solana.transaction.verify" => {
            crate::methods::solana::verify_op(input).map_err(|e| (e.abi_type(), e))
        }
        "solana.session.voucher.verify" => {
            crate::methods::solana_session::verify_voucher_op(input).map_err(|e| (e.abi_type(), e))
        }
        "solana.session.proof.verify" => {
            crate::methods::solana_session::verify_proof_op(input).map_err(|e| (e.abi_type(), e))
        }
        "solana.session.splits.hash" => {
            crate::methods::solana_session::splits_hash_op(input).map_err(|e| (e.abi_type(), e))
        }
        "subscription.period.bounds" => {
            crate::methods::subscription::bounds_op(input).map_err(|e| (e.abi_type(), e))
        }
        "tempo.subscription.key_authorization.verify" => {
            crate::methods::tempo_subscription::verify_op(input).map_err(|e| (e.abi_type(), e))
        }
        "stellar.transaction.verify" => {
            crate::methods::stellar::verify_op(input).map_err(|e| (e.abi_type(), e))
        }
        "tempo.credential.validate" => {
            let credential = Credential::parse(text("header")?).map_err(as_type(T::Parse))?;
            tempo_charge::validate_credential(&credential)
                .map(|(kind, w)| {
                    json!({
                        "type": kind.as_str(),
                        "warnings": w.iter().map(|w| w.requirement).collect::<Vec<_>>(),
                    })
                })
                .map_err(as_type(T::Verification))
        }
        "schema.version" => Ok(json!({ "schema": ABI_SCHEMA, "operations": OPERATIONS })),
        _ => Err((
            T::UnsupportedOperation,
            Error::UnsupportedOperation { op: op.into() },
        )),
    }
}

enum SessionOpError {
    Input(String),
    Voucher(tempo_session::VoucherError),
}

/// The draft-tempo-session-00 operations, draft-evm-session-00's
/// (`evm.session.*`: Tempo v1's inputs without `protocol`) and
/// draft-hedera-session-00's channel id and digest (the same, under the
/// domain "Hedera Stream Channel"): field names as in `methodDetails` and
/// the credential payload; hex in, lowercase hex out.
fn session_op(op: &str, input: &Value) -> Result<Value, SessionOpError> {
    use SessionOpError::Input;
    let text = |field: &str| {
        input
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| Input(format!("input needs a string \"{field}\"")))
    };
    let hex_field = |field: &str, len: usize| -> Result<Vec<u8>, SessionOpError> {
        let t = text(field)?;
        alloy_primitives::hex::decode(t)
            .ok()
            .filter(|b| len == 0 || b.len() == len)
            .ok_or_else(|| Input(format!("\"{field}\" is not 0x-hex of {len} bytes")))
    };
    let address =
        |field: &str| hex_field(field, 20).map(|b| alloy_primitives::Address::from_slice(&b));
    let word = |field: &str| hex_field(field, 32).map(|b| alloy_primitives::B256::from_slice(&b));
    let protocol = || {
        tempo_session::SessionProtocol::parse(text("protocol")?)
            .ok_or_else(|| Input("\"protocol\" is \"v1\" or \"v2\"".into()))
    };
    let chain_id = || {
        input
            .get("chainId")
            .and_then(Value::as_u64)
            .ok_or_else(|| Input("input needs a number \"chainId\"".into()))
    };
    let hex = |bytes: &[u8]| format!("0x{}", alloy_primitives::hex::encode(bytes));
    let amount = |requirement: &'static str| -> Result<alloy_primitives::U256, SessionOpError> {
        let amount = text("cumulativeAmount")?;
        if amount.is_empty() || !amount.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Input("\"cumulativeAmount\" is a decimal string".into()));
        }
        alloy_primitives::U256::from_str_radix(amount, 10).map_err(|_| {
            SessionOpError::Voucher(tempo_session::VoucherError {
                requirement,
                reason: format!("cumulativeAmount {amount} does not fit 256 bits"),
            })
        })
    };
    match op {
        // Tempo v1's channel id (the escrow's address and chain bind it).
        "evm.session.channel_id" | "hedera.session.channel_id" => {
            let id = crate::methods::evm_session::channel_id(
                address("payer")?,
                address("payee")?,
                address("token")?,
                word("salt")?,
                address("authorizedSigner")?,
                address("escrowContract")?,
                chain_id()?,
            );
            Ok(json!({ "channelId": hex(id.as_slice()) }))
        }
        "evm.session.voucher.digest" | "hedera.session.voucher.digest" => {
            use crate::methods::{evm_session, hedera_session};
            use alloy_primitives::{Address, B256, U256};
            type Digest = fn(u64, Address, B256, U256) -> Result<B256, tempo_session::VoucherError>;
            // The same voucher under each draft's domain name.
            let (domain, digest, bound): (fn(u64, Address) -> B256, Digest, _) =
                if op == "evm.session.voucher.digest" {
                    (
                        evm_session::domain_separator,
                        evm_session::voucher_digest,
                        "evm-session.voucher.uint128-bound",
                    )
                } else {
                    (
                        hedera_session::domain_separator,
                        hedera_session::voucher_digest,
                        "hedera-session.eip712.struct-hash",
                    )
                };
            let (chain_id, escrow) = (chain_id()?, address("escrowContract")?);
            let amount = amount(bound)?;
            let signed = digest(chain_id, escrow, word("channelId")?, amount)
                .map_err(SessionOpError::Voucher)?;
            Ok(json!({
                "domainSeparator": hex(domain(chain_id, escrow).as_slice()),
                "digest": hex(signed.as_slice()),
            }))
        }
        "evm.session.voucher.signer" => {
            let signer = crate::methods::evm_session::voucher_signer(
                word("digest")?,
                &hex_field("signature", 0)?,
            )
            .map_err(SessionOpError::Voucher)?;
            Ok(json!({ "signer": hex(signer.as_slice()) }))
        }
        "session.channel_id" => {
            let (escrow, chain_id) = (address("escrowContract")?, chain_id()?);
            let id = match protocol()? {
                tempo_session::SessionProtocol::V1 => tempo_session::channel_id_v1(
                    address("payer")?,
                    address("payee")?,
                    address("token")?,
                    word("salt")?,
                    address("authorizedSigner")?,
                    escrow,
                    chain_id,
                ),
                tempo_session::SessionProtocol::V2 => tempo_session::channel_id_v2(
                    &tempo_session::Descriptor {
                        payer: address("payer")?,
                        payee: address("payee")?,
                        operator: address("operator")?,
                        token: address("token")?,
                        salt: word("salt")?,
                        authorized_signer: address("authorizedSigner")?,
                        expiring_nonce_hash: word("expiringNonceHash")?,
                    },
                    escrow,
                    chain_id,
                ),
            };
            Ok(json!({ "channelId": hex(id.as_slice()) }))
        }
        "session.voucher.digest" => {
            let (protocol, chain_id, escrow) =
                (protocol()?, chain_id()?, address("escrowContract")?);
            let amount = amount("tempo-session.eip712.types")?;
            let digest = tempo_session::voucher_digest(
                protocol,
                chain_id,
                escrow,
                word("channelId")?,
                amount,
            )
            .map_err(SessionOpError::Voucher)?;
            Ok(json!({
                "domainSeparator": hex(tempo_session::domain_separator(protocol, chain_id, escrow).as_slice()),
                "digest": hex(digest.as_slice()),
            }))
        }
        _ => {
            let signer =
                tempo_session::voucher_signer(word("digest")?, &hex_field("signature", 0)?)
                    .map_err(SessionOpError::Voucher)?;
            Ok(json!({ "signer": hex(signer.as_slice()) }))
        }
    }
}

/// Any failure to build the wire form from a given object is a format error.
fn format_error(e: Error) -> (AbiErrorType, Error) {
    (AbiErrorType::Format, e)
}

fn challenge_id(input: &Value, draft: CoreDraft) -> Result<Value, Error> {
    let map = input
        .as_object()
        .ok_or(Error::NotAnObject { field: "input" })?;
    let s = |f: &str| cjson::required_str(map, f, "");
    let o = |f: &str| cjson::optional_str(map, f, "");
    // The official vectors name the key `secretKey`; the issue text `secret`.
    let secret = o("secret")?
        .or(o("secretKey")?)
        .ok_or(Error::MissingField {
            field: "secret".into(),
        })?;
    let request = match map.get("request") {
        Some(v @ Value::Object(_)) => EncodedJson::canonical(v.clone()),
        _ => {
            return Err(Error::WrongType {
                field: "request".into(),
                expected: "a JSON object",
            });
        }
    };
    // Slot 6 is base64url(JCS(opaque)): an opaque given as text must be
    // such an encoding, and is used as it is.
    let opaque = map
        .get("opaque")
        .map(challenge::opaque_from_abi)
        .transpose()?;
    let slots = BindingSlots {
        realm: s("realm")?,
        method: s("method")?,
        intent: s("intent")?,
        request_wire: &request.wire,
        expires: o("expires")?,
        digest: o("digest")?,
        opaque_wire: opaque.as_ref().map(|o| o.wire.as_str()),
        // -00 has no header slot: the input names it only under -01.
        header: match o("header")? {
            Some(h) if draft.has_header_param() => {
                challenge::validate_header(h)?;
                Some(h)
            }
            _ => None,
        },
    };
    Ok(json!({ "id": slots.challenge_id(secret.as_bytes()) }))
}

fn accept_select(input: &Value) -> Result<Value, String> {
    let offers: Vec<(&str, &str)> = input
        .get("offers")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|o| Some((o.get("method")?.as_str()?, o.get("intent")?.as_str()?)))
                .collect()
        })
        .ok_or("input needs \"offers\", an array of {method, intent}")?;
    // A malformed header MAY be ignored: it then counts as absent.
    let accept = match input.get("header") {
        Some(Value::String(h)) => AcceptPayment::parse(h).ok(),
        Some(Value::Null) | None => None,
        Some(_) => return Err("\"header\" must be a string or null".into()),
    };
    Ok(json!({ "order": AcceptPayment::select(accept.as_ref(), &offers) }))
}

/// Drops `null` members of an ABI object; the official ABI omits absent
/// optional fields but allows `source: null`, so both read alike.
pub fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_operations_type() {
        let r = answer(
            &AbiRequest {
                schema: 1,
                op: "challenge.parse".into(),
                input: json!({"header": "Bearer x"}),
                context: None,
            },
            CoreDraft::Draft00,
        );
        let AbiResponse::Err(e) = r else {
            panic!("{r:?}")
        };
        assert_eq!(e.error_type, "parse_error");
        assert_eq!(e.code.as_deref(), Some("not-payment-scheme"));
        let r = execute(
            "base64url.decode",
            &json!({"text": "_w"}),
            CoreDraft::Draft00,
        )
        .unwrap_err();
        assert_eq!(r.0, AbiErrorType::Encoding);
        let r = execute("nope", &json!({}), CoreDraft::Draft00).unwrap_err();
        assert_eq!(r.0, AbiErrorType::UnsupportedOperation);
    }

    #[test]
    fn every_listed_operation_is_answered() {
        for op in OPERATIONS {
            let r = execute(op, &json!({}), CoreDraft::Draft01);
            assert!(
                !matches!(r, Err((AbiErrorType::UnsupportedOperation, _))),
                "{op}"
            );
        }
    }

    #[test]
    fn the_header_parameter_is_read_and_bound_under_01_only() {
        let field = "Payment id=\"x\", realm=\"r\", method=\"tempo\", intent=\"charge\", request=\"e30\", header=\"Payment-Authorization\"";
        let input = json!({ "header": field });
        let parsed = |d| execute("challenge.parse", &input, d).unwrap();
        assert_eq!(parsed(CoreDraft::Draft00).get("header"), None);
        assert_eq!(
            parsed(CoreDraft::Draft01)["header"],
            "Payment-Authorization"
        );
        let other = json!({ "header": field.replace("Payment-Authorization", "X-Pay") });
        assert!(execute("challenge.parse", &other, CoreDraft::Draft00).is_ok());
        let (t, e) = execute("challenge.parse", &other, CoreDraft::Draft01).unwrap_err();
        assert_eq!(
            (t, e.code().as_str()),
            (AbiErrorType::Parse, "invalid-credential-header")
        );

        let id_input = json!({
            "secret": "k", "realm": "r", "method": "m", "intent": "i",
            "request": {}, "header": "Payment-Authorization",
        });
        let id = |d| execute("challenge.id", &id_input, d).unwrap()["id"].clone();
        let mut without = id_input.clone();
        without.as_object_mut().unwrap().remove("header");
        assert_eq!(
            id(CoreDraft::Draft00),
            execute("challenge.id", &without, CoreDraft::Draft00).unwrap()["id"]
        );
        assert_ne!(id(CoreDraft::Draft01), id(CoreDraft::Draft00));
    }
}
