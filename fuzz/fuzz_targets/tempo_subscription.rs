//! draft-tempo-subscription-00 key authorizations
//! (`tempo.subscription.key_authorization.verify`): any input never
//! panics, and an authorization the verifier accepts grants exactly what
//! the request asks (access key, limit, period, expiry, transfer selectors
//! only). Two shapes: the operation's JSON input (the vectors' seeds), and
//! the raw RLP of a signed key authorization, judged against a request
//! made from what the bytes grant, so that mutations reach the scope and
//! signature checks instead of stopping at the first mismatch. The JSON
//! input's challenge `expires` against its `subscriptionExpires`, too
//! (`expires_after_challenge`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::methods::tempo_subscription;
use mppconf_suite::ops;
use serde_json::{Value, json};

fn accepted_grants_the_request(input: &Value) {
    let Ok(granted) = ops::execute(
        "tempo.subscription.key_authorization.verify",
        input,
        CoreDraft::Draft00,
    ) else {
        return;
    };
    let request = &input["request"];
    assert_eq!(granted["limit"], request["amount"]);
    let key = request["methodDetails"]["accessKey"]["accessKeyAddress"]
        .as_str()
        .unwrap_or_default();
    assert!(granted["keyId"].as_str().unwrap().eq_ignore_ascii_case(key));
    let selectors: Vec<&str> = granted["selectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(selectors.contains(&"0xa9059cbb"));
    assert!(
        selectors
            .iter()
            .all(|s| ["0xa9059cbb", "0x95777d59"].contains(s))
    );
}

/// A challenge's `expires` and its request's `subscriptionExpires`
/// compared as instants: refused exactly when both read as RFC 3339 and
/// the subscription ends no later than the challenge; an authorization
/// the verifier accepted under that `expires` passes too.
fn expiry_compared_as_instants(input: &Value) {
    let (request, expires) = (&input["request"], input["expires"].as_str());
    let verdict = tempo_subscription::expires_after_challenge(request, expires);
    let read = |v: Option<&str>| v.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
    let both = read(request["subscriptionExpires"].as_str()).zip(read(expires));
    match verdict {
        Err(_) => assert!(both.is_some_and(|(s, e)| s <= e)),
        Ok(None) => assert!(expires.is_none() || both.is_some_and(|(s, e)| s > e)),
        Ok(Some(_)) => assert!(expires.is_some() && both.is_none()),
    }
    let verified = ops::execute(
        "tempo.subscription.key_authorization.verify",
        input,
        CoreDraft::Draft00,
    );
    if verified.is_ok() && expires.is_some() {
        assert!(matches!(
            tempo_subscription::expires_after_challenge(request, expires),
            Ok(None)
        ));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = serde_json::from_slice::<Value>(data) {
        accepted_grants_the_request(&input);
        expiry_compared_as_instants(&input);
        return;
    }
    let signature = format!("0x{}", alloy_primitives::hex::encode(data));
    let payload = json!({"type": "keyAuthorization", "signature": signature});
    let mut request = json!({
        "amount": "10000000",
        "currency": "0x20c0000000000000000000000000000000000001",
        "periodUnit": "day",
        "periodCount": "30",
        "subscriptionExpires": "2027-07-14T12:00:00Z",
        "recipient": "0x742d35cc6634c0532925a3b844bc9e7595f8fe00",
        "methodDetails": {"accessKey": {"accessKeyAddress": "0x5050a4f4b3f9338c3472dcc01a87c76a144b3c9c", "keyType": "secp256k1"}, "chainId": 42431},
    });
    accepted_grants_the_request(&json!({"request": request, "payload": payload}));
    if let Some(granted) = granted_terms(data) {
        for (k, v) in granted {
            request[k] = v;
        }
        accepted_grants_the_request(&json!({"request": request, "payload": payload}));
    }
});

/// The request fields a decoded authorization grants: currency, amount
/// and period of its first limit, recipient of its first rule, its key,
/// expiry and chain.
fn granted_terms(data: &[u8]) -> Option<Vec<(&'static str, Value)>> {
    use tempo_primitives::transaction::{SignatureType, SignedKeyAuthorization};
    let mut bytes = data;
    let signed = <SignedKeyAuthorization as alloy_rlp::Decodable>::decode(&mut bytes).ok()?;
    let auth = &signed.authorization;
    let limit = auth.limits.as_ref()?.first()?;
    let recipient = auth
        .allowed_calls
        .as_ref()?
        .first()?
        .selector_rules
        .first()?
        .recipients
        .first()?;
    if limit.period == 0 || limit.period % 86_400 != 0 {
        return None;
    }
    let expires = chrono::DateTime::from_timestamp(i64::try_from(auth.expiry?.get()).ok()?, 0)?;
    let key_type = match auth.key_type {
        SignatureType::Secp256k1 => "secp256k1",
        SignatureType::P256 => "p256",
        SignatureType::WebAuthn => "webAuthn",
    };
    Some(vec![
        ("currency", json!(format!("{:#x}", limit.token))),
        ("amount", json!(limit.limit.to_string())),
        ("periodUnit", json!("day")),
        ("periodCount", json!((limit.period / 86_400).to_string())),
        ("recipient", json!(format!("{recipient:#x}"))),
        ("subscriptionExpires", json!(expires.to_rfc3339())),
        (
            "methodDetails",
            json!({"accessKey": {"accessKeyAddress": format!("{:#x}", auth.key_id), "keyType": key_type}, "chainId": auth.chain_id}),
        ),
    ])
}
