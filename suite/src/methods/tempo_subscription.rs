//! draft-tempo-subscription-00 offline: the credential's signed key
//! authorization (§"Key Authorization Payload"), decoded with Tempo's own
//! `tempo-primitives` (the TIP-1011 `KeyAuthorization`: periodic token
//! limits and call scopes) and judged against the request by every check of
//! §"Source Verification" and §"Authorization Scope Verification": the
//! chain, the access key, the expiry, the one per-period limit, a single
//! recipient-bound transfer scope on the currency, and the root signer.
//! Activation, renewal and the key's state on chain need a Tempo chain and
//! are not judged here.

use alloy_primitives::{Address, U256};
use chrono::DateTime;
use serde_json::{Value, json};
use tempo_primitives::transaction::{KeyAuthorization, SignatureType, SignedKeyAuthorization};

use crate::error::{Error, Result};

/// §"Method Details": "If omitted, the default value is 42431".
pub const DEFAULT_CHAIN_ID: u64 = 42431;

/// TIP-20 `transfer(address,uint256)`.
pub const TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
/// TIP-20 `transferWithMemo(address,uint256,bytes32)`.
pub const TRANSFER_WITH_MEMO: [u8; 4] = [0x95, 0x77, 0x7d, 0x59];

/// The signature type bytes of TIP-1020's keychain wrappers (V1, V2).
const KEYCHAIN_TYPES: [u8; 2] = [0x03, 0x04];

const OP: &str = "tempo.subscription.key_authorization.verify";

fn fail(requirement: &'static str, path: &str, reason: impl Into<String>) -> Error {
    Error::PayloadSchema {
        requirement,
        path: path.into(),
        reason: reason.into(),
    }
}

fn bad_input(reason: impl Into<String>) -> Error {
    Error::BadOpInput {
        op: OP.into(),
        reason: reason.into(),
    }
}

/// What the request asks the key authorization to grant.
#[derive(Debug, Clone)]
pub struct Terms {
    pub amount: U256,
    pub currency: Address,
    pub recipient: Address,
    /// §"Method Details": `periodCount` × 86400 (day) or × 604800 (week).
    pub period: u64,
    /// `subscriptionExpires` in Unix seconds.
    pub expiry: u64,
    pub access_key: Address,
    pub key_type: SignatureType,
    pub chain_id: u64,
}

fn address(request: &Value, pointer: &str) -> Result<Address> {
    request
        .pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| bad_input(format!("request{pointer} is not an address")))
}

/// Where a subscription request names its access key.
const ACCESS_KEY_ADDRESS: &str = "/methodDetails/accessKey/accessKeyAddress";

/// The access key a subscription request names
/// (`methodDetails.accessKey.accessKeyAddress`), read by value (any case),
/// if it is an address.
pub fn access_key_address(request: &Value) -> Option<Address> {
    address(request, ACCESS_KEY_ADDRESS).ok()
}

fn key_type_name(t: SignatureType) -> &'static str {
    match t {
        SignatureType::Secp256k1 => "secp256k1",
        SignatureType::P256 => "p256",
        SignatureType::WebAuthn => "webAuthn",
    }
}

/// draft-tempo-subscription-00 §"Method Details": a server offering a
/// subscription challenge with `expires` gives a later
/// `subscriptionExpires`.
pub const EXPIRES_AFTER_CHALLENGE: &str = "tempo-subscription.request.expires-after-challenge";

/// Whether a subscription request's `subscriptionExpires` is strictly
/// later than its challenge's `expires` ("If the challenge includes
/// `expires`, the `subscriptionExpires` value MUST be strictly later than
/// the challenge `expires` timestamp"), compared as instants. `Ok(None)`:
/// later, or no `expires` to compare with; `Ok(Some(note))`: a timestamp
/// that is not RFC 3339, so nothing was compared (the request rules and
/// the core's challenge checks judge the syntax).
pub fn expires_after_challenge(request: &Value, expires: Option<&str>) -> Result<Option<String>> {
    let Some(expires) = expires else {
        return Ok(None);
    };
    let read = |s: Option<&str>| s.and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    let subscription = read(request.get("subscriptionExpires").and_then(Value::as_str));
    match (subscription, read(Some(expires))) {
        (Some(s), Some(e)) if s <= e => Err(fail(
            EXPIRES_AFTER_CHALLENGE,
            "request.subscriptionExpires",
            format!("subscriptionExpires {s} is not after the challenge's expires {e}"),
        )),
        (Some(_), Some(_)) => Ok(None),
        _ => Ok(Some(
            "subscriptionExpires or the challenge's expires is not RFC 3339, so they were not compared".into(),
        )),
    }
}

impl Terms {
    /// The request's terms; `expires` is the challenge's. A request the
    /// draft tells servers to reject fails with that requirement; one that
    /// is not a subscription request at all is bad input.
    pub fn of(request: &Value, expires: Option<&str>) -> Result<Self> {
        let text = |pointer: &str| {
            request
                .pointer(pointer)
                .and_then(Value::as_str)
                .ok_or_else(|| bad_input(format!("request{pointer} is not a string")))
        };
        let amount = U256::from_str_radix(text("/amount")?, 10)
            .map_err(|_| bad_input("request/amount is not a decimal integer"))?;
        let unit = match text("/periodUnit")? {
            "day" => 86_400u64,
            "week" => 604_800,
            other => {
                return Err(fail(
                    "tempo-subscription.request.reject-month",
                    "request.periodUnit",
                    format!("periodUnit {other:?}: Tempo periods are day or week"),
                ));
            }
        };
        let count: u64 = text("/periodCount")?.parse().map_err(|_| {
            fail(
                "tempo-subscription.request.period-u64",
                "request.periodCount",
                "periodCount is not an integer a 64-bit period can hold",
            )
        })?;
        let period = count.checked_mul(unit).ok_or_else(|| {
            fail(
                "tempo-subscription.request.period-u64",
                "request.periodCount",
                format!("{count} periods of {unit} s overflow 64 bits"),
            )
        })?;
        let subscription_expires = DateTime::parse_from_rfc3339(text("/subscriptionExpires")?)
            .map_err(|_| bad_input("request/subscriptionExpires is not RFC 3339"))?;
        if let Some(e) = expires {
            let e = DateTime::parse_from_rfc3339(e)
                .map_err(|_| bad_input("\"expires\" is not RFC 3339"))?;
            if subscription_expires <= e {
                return Err(fail(
                    "tempo-subscription.verification.reject-expires-before-challenge",
                    "request.subscriptionExpires",
                    format!(
                        "subscriptionExpires {subscription_expires} is not after the challenge's expires {e}"
                    ),
                ));
            }
        }
        let expiry = u64::try_from(subscription_expires.timestamp()).map_err(|_| {
            fail(
                "tempo-subscription.request.expires-representable",
                "request.subscriptionExpires",
                "before 1970: a key authorization expiry cannot hold it",
            )
        })?;
        let key_type = match text("/methodDetails/accessKey/keyType")? {
            "secp256k1" => SignatureType::Secp256k1,
            "p256" => SignatureType::P256,
            "webAuthn" => SignatureType::WebAuthn,
            other => return Err(bad_input(format!("keyType {other:?} is not a key type"))),
        };
        let chain_id = match request.pointer("/methodDetails/chainId") {
            None => DEFAULT_CHAIN_ID,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| bad_input("request/methodDetails/chainId is not a number"))?,
        };
        Ok(Self {
            amount,
            currency: address(request, "/currency")?,
            recipient: address(request, "/recipient")?,
            period,
            expiry,
            access_key: address(request, ACCESS_KEY_ADDRESS)?,
            key_type,
            chain_id,
        })
    }
}

/// A key authorization that grants what the request asks and no more.
#[derive(Debug, Clone)]
pub struct Verified {
    pub signer: Address,
    pub authorization: KeyAuthorization,
    pub terms: Terms,
}

impl Verified {
    pub fn to_json(&self) -> Value {
        let mut selectors: Vec<String> = self
            .authorization
            .allowed_calls
            .iter()
            .flatten()
            .flat_map(|s| &s.selector_rules)
            .map(|r| format!("0x{}", alloy_primitives::hex::encode(r.selector)))
            .collect();
        selectors.sort();
        json!({
            "signer": format!("{:#x}", self.signer),
            "keyId": format!("{:#x}", self.authorization.key_id),
            "keyType": key_type_name(self.authorization.key_type),
            "chainId": self.authorization.chain_id,
            "expiry": self.terms.expiry,
            "limit": self.terms.amount.to_string(),
            "period": self.terms.period,
            "selectors": selectors,
        })
    }
}

/// Decodes `payload.signature`: `0x` hex of the RLP of a signed key
/// authorization, nothing after it. A keychain wrapper in the signature
/// slot gets its own verdict (§"Key Authorization Payload": "Keychain
/// wrapper signatures MUST NOT be used for this field").
pub fn decode(hex: &str) -> Result<SignedKeyAuthorization> {
    let encoding = |reason: String| {
        fail(
            "tempo-subscription.payload.signature-encoding",
            "payload.signature",
            reason,
        )
    };
    let digits = hex
        .strip_prefix("0x")
        .ok_or_else(|| encoding("not 0x-prefixed hex".into()))?;
    let bytes =
        alloy_primitives::hex::decode(digits).map_err(|e| encoding(format!("not hex ({e})")))?;
    let mut rest = bytes.as_slice();
    match <SignedKeyAuthorization as alloy_rlp::Decodable>::decode(&mut rest) {
        Ok(signed) if rest.is_empty() => Ok(signed),
        Ok(_) => Err(encoding(format!(
            "{} bytes after the signed key authorization",
            rest.len()
        ))),
        Err(e) => {
            // 65 bytes is a secp256k1 signature whatever its first byte.
            if signature_slot(&bytes).is_some_and(|s| {
                s.len() != 65 && s.first().is_some_and(|b| KEYCHAIN_TYPES.contains(b))
            }) {
                return Err(fail(
                    "tempo-subscription.payload.no-keychain-wrapper",
                    "payload.signature",
                    "the authorization is signed with a keychain wrapper, not a primitive signature",
                ));
            }
            Err(encoding(format!(
                "not the RLP of a signed key authorization ({e})"
            )))
        }
    }
}

/// The signature item of `[authorization, signature]`, read as raw RLP
/// (for telling a keychain wrapper from other damage).
fn signature_slot(bytes: &[u8]) -> Option<&[u8]> {
    let mut outer = bytes;
    let header = alloy_rlp::Header::decode(&mut outer).ok()?;
    if !header.list {
        return None;
    }
    let mut items = outer.get(..header.payload_length)?;
    let first = alloy_rlp::Header::decode(&mut items).ok()?;
    items = items.get(first.payload_length..)?;
    let second = alloy_rlp::Header::decode(&mut items).ok()?;
    if second.list {
        return None;
    }
    items.get(..second.payload_length)
}

/// §"Authorization Scope Verification" and §"Source Verification" for a
/// decoded authorization against `terms`; `source` is the credential's.
pub fn verify(
    signed: &SignedKeyAuthorization,
    terms: &Terms,
    source: Option<&str>,
) -> Result<Address> {
    let auth = &signed.authorization;
    if auth.chain_id != terms.chain_id {
        return Err(fail(
            "tempo-subscription.scope.chain-id",
            "payload.signature",
            format!(
                "the authorization is for chain {}, the request's is {}",
                auth.chain_id, terms.chain_id
            ),
        ));
    }
    if auth.key_id != terms.access_key || auth.key_type != terms.key_type {
        return Err(fail(
            "tempo-subscription.scope.access-key",
            "payload.signature",
            format!(
                "the authorization is for {} key {:#x}, the request's accessKey is {} key {:#x}",
                key_type_name(auth.key_type),
                auth.key_id,
                key_type_name(terms.key_type),
                terms.access_key
            ),
        ));
    }
    let expiry = auth.expiry.map(|e| e.get());
    if expiry != Some(terms.expiry) {
        return Err(fail(
            "tempo-subscription.scope.expiry-equals",
            "payload.signature",
            format!(
                "the authorization expires at {}, subscriptionExpires is {}",
                expiry.map_or("never".into(), |e| e.to_string()),
                terms.expiry
            ),
        ));
    }
    let Some(limits) = &auth.limits else {
        return Err(fail(
            "tempo-subscription.scope.token-limit",
            "payload.signature",
            "no spending limits: the key may spend without limit",
        ));
    };
    let on_currency: Vec<_> = limits
        .iter()
        .filter(|l| l.token == terms.currency)
        .collect();
    match on_currency.as_slice() {
        [l] if l.limit == terms.amount && l.period == terms.period => {}
        [l] => {
            return Err(fail(
                "tempo-subscription.scope.token-limit",
                "payload.signature",
                format!(
                    "the limit on the currency is {} per {} s, the request's {} per {} s",
                    l.limit, l.period, terms.amount, terms.period
                ),
            ));
        }
        other => {
            return Err(fail(
                "tempo-subscription.scope.token-limit",
                "payload.signature",
                format!("{} limits on the currency, not one", other.len()),
            ));
        }
    }
    verify_scope(auth, terms)?;
    if auth.is_admin {
        return Err(fail(
            "tempo-subscription.scope.reject-broader",
            "payload.signature",
            "an admin access key: it may authorize further keys",
        ));
    }
    let signer = signed.recover_signer().map_err(|e| {
        fail(
            "tempo-subscription.source.recover-root",
            "payload.signature",
            format!("no signer recovers from the signature ({e})"),
        )
    })?;
    if let Some(source) = source {
        let expected = format!("did:pkh:eip155:{}:{:#x}", terms.chain_id, signer);
        if !source.eq_ignore_ascii_case(&expected) {
            return Err(fail(
                "tempo-subscription.source.chain-match",
                "source",
                format!("source {source:?} is not the recovered root signer {expected}"),
            ));
        }
    }
    Ok(signer)
}

/// The `allowed_calls` rules: one scope, on the currency, explicit
/// transfer selectors each bound to the recipient alone.
fn verify_scope(auth: &KeyAuthorization, terms: &Terms) -> Result<()> {
    let unrestricted = |reason: &str| {
        fail(
            "tempo-subscription.key-auth.no-unrestricted",
            "payload.signature",
            reason.to_string(),
        )
    };
    let scope_error = |reason: String| {
        fail(
            "tempo-subscription.scope.allowed-calls",
            "payload.signature",
            reason,
        )
    };
    let Some(scopes) = &auth.allowed_calls else {
        return Err(unrestricted("no allowed_calls: the key may call anything"));
    };
    if scopes
        .iter()
        .any(|s| s.target == terms.currency && s.selector_rules.is_empty())
    {
        return Err(unrestricted(
            "the currency's scope has no selector rules: any function of it may be called",
        ));
    }
    let [scope] = scopes.as_slice() else {
        return Err(scope_error(format!(
            "{} call scopes, not one",
            scopes.len()
        )));
    };
    if scope.target != terms.currency {
        return Err(scope_error(format!(
            "the scope's target is {:#x}, not the currency {:#x}",
            scope.target, terms.currency
        )));
    }
    let mut seen = Vec::new();
    for rule in &scope.selector_rules {
        let name = format!("0x{}", alloy_primitives::hex::encode(rule.selector));
        if rule.selector != TRANSFER && rule.selector != TRANSFER_WITH_MEMO {
            return Err(scope_error(format!("selector {name} is not a transfer")));
        }
        if seen.contains(&rule.selector) {
            return Err(scope_error(format!("selector {name} twice")));
        }
        seen.push(rule.selector);
        if rule.recipients.as_slice() != [terms.recipient] {
            return Err(scope_error(format!(
                "selector {name} may pay {}, not the recipient {:#x} alone",
                if rule.recipients.is_empty() {
                    "anyone".to_string()
                } else {
                    rule.recipients
                        .iter()
                        .map(|r| format!("{r:#x}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                terms.recipient
            )));
        }
    }
    if !seen.contains(&TRANSFER) {
        return Err(scope_error(
            "no transfer(address,uint256) rule (transferWithMemo may only be added to it)".into(),
        ));
    }
    Ok(())
}

/// The ABI operation `tempo.subscription.key_authorization.verify`:
/// `{request, payload, source?, expires?}`.
pub fn verify_op(input: &Value) -> Result<Value> {
    let request = input
        .get("request")
        .ok_or_else(|| bad_input("input needs \"request\""))?;
    let expires = match input.get("expires") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .ok_or_else(|| bad_input("\"expires\" is a string"))?,
        ),
    };
    let terms = Terms::of(request, expires)?;
    let payload = input
        .get("payload")
        .ok_or_else(|| bad_input("input needs \"payload\""))?;
    let source = match input.get("source") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .ok_or_else(|| bad_input("\"source\" is a string"))?,
        ),
    };
    verify_payload(payload, terms, source).map(|v| v.to_json())
}

/// A credential's `payload` (`{type, signature}`) against `terms`: the
/// type, the decoded authorization, and [`verify`].
pub fn verify_payload(payload: &Value, terms: Terms, source: Option<&str>) -> Result<Verified> {
    if payload.get("type").and_then(Value::as_str) != Some("keyAuthorization") {
        return Err(fail(
            "tempo-subscription.payload.type-key-authorization",
            "payload.type",
            format!(
                "type {} is not \"keyAuthorization\"",
                payload.get("type").unwrap_or(&Value::Null)
            ),
        ));
    }
    let hex = payload
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            fail(
                "tempo-subscription.payload.fields",
                "payload.signature",
                "no signature string",
            )
        })?;
    let signed = decode(hex)?;
    let signer = verify(&signed, &terms, source)?;
    Ok(Verified {
        signer,
        authorization: signed.authorization,
        terms,
    })
}
