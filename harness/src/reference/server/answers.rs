//! What the reference server sends: its challenges, its 402 answers
//! (problem details, the deviations that bend them) and its paid
//! answers with their receipts.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mppconf_suite::codec::{
    BindingSlots, Challenge, EncodedJson, ProblemType, Receipt, content_digest,
};
use serde_json::{Map, Value, json};

use super::{Deviation, Refusal, RouteConfig, State, now_rfc3339, rfc3339_at, tx};

pub(super) fn problem_response(
    status: StatusCode,
    body: Value,
    cache: Option<&'static str>,
) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(cache) = cache {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    response
}

/// A fresh challenge for the route, bound to the body if it has one.
pub(super) fn challenge_for(
    state: &State,
    route: &RouteConfig,
    body: &[u8],
    realm: Option<&str>,
) -> Challenge {
    let mut request_value = route.request(state.config.chain_id);
    super::subscription::name_access_key(state, route, &mut request_value);
    let mut request = EncodedJson::canonical(request_value.clone());
    if state.deviates(Deviation::NonCanonicalRequest) {
        // Pretty-printed with a leading space: same JSON, not JCS.
        request.wire = mppconf_suite::codec::base64url::encode(format!(
            " {}",
            serde_json::to_string_pretty(&request_value).unwrap_or_default()
        ));
    }
    if state.deviates(Deviation::PaddedRequest) {
        while !request.wire.len().is_multiple_of(4) {
            request.wire.push('=');
        }
    }
    let expires = if state.deviates(Deviation::NoExpires) {
        None
    } else if state.deviates(Deviation::StaticChallenge) {
        Some(rfc3339_at(state.started + 3600))
    } else {
        Some(rfc3339_at(tx::unix_now() + route.expires_in))
    };
    let digest = (!body.is_empty()).then(|| content_digest::compute_sha256(body));
    let mut challenge = Challenge {
        id: String::new(),
        realm: realm.map_or_else(|| issued_realm(state), str::to_string),
        method: issued_method(state, route),
        intent: route.intent().into(),
        request,
        expires,
        digest,
        description: if state.deviates(Deviation::HugeChallenge) {
            Some("x".repeat(9000))
        } else {
            route.description.clone()
        },
        // The HMAC id is a function of the slots; a random nonce in
        // `opaque` (bound by slot 6) makes every 402 a fresh challenge
        // even within one second (ambiguity.hmac-id-uniqueness).
        opaque: (!state.deviates(Deviation::StaticChallenge)).then(|| {
            EncodedJson::canonical(
                json!({ "nonce": alloy::primitives::B128::random().to_string() }),
            )
        }),
        // -01's `header` (config validation saw to its value and draft).
        unknown_params: route
            .credential_header
            .iter()
            .map(|h| ("header".to_string(), h.clone()))
            .collect(),
    };
    if !state.deviates(Deviation::EmptyId) {
        challenge.id =
            BindingSlots::of(&challenge, state.binding_draft()).challenge_id(&state.binding_key());
    }
    challenge
}

/// The method the route's challenges name (a deviation writes it in
/// upper case, and then accepts it so: one slip, not a broken server).
pub(super) fn issued_method(state: &State, route: &RouteConfig) -> String {
    let mut m = route.payment_method.clone();
    if state.deviates(Deviation::UppercaseMethod) {
        m[..1].make_ascii_uppercase();
    }
    m
}

/// The realm the challenges carry (none under the no-realm deviation,
/// which binds and accepts the empty realm a client then echoes).
pub(super) fn issued_realm(state: &State) -> String {
    if state.deviates(Deviation::NoRealm) {
        String::new()
    } else if state.deviates(Deviation::NonAsciiRealm) {
        format!("{} (référence)", state.config.realm)
    } else {
        state.config.realm.clone()
    }
}

pub(super) fn payment_required(
    state: &State,
    route: &RouteConfig,
    body: &[u8],
    refusal: Refusal,
    credential: Option<&str>,
) -> Response {
    payment_required_in(state, route, body, refusal, credential, None)
}

/// [`payment_required`], the challenge's realm given (a deviation).
pub(super) fn payment_required_in(
    state: &State,
    route: &RouteConfig,
    body: &[u8],
    refusal: Refusal,
    credential: Option<&str>,
    realm: Option<&str>,
) -> Response {
    let challenge = challenge_for(state, route, body, realm);
    let header_value = match challenge.to_header() {
        Ok(h) => h,
        // Only deviations produce unformattable challenges: write them raw.
        Err(_) => raw_header(&challenge),
    };
    let mut header_value = if state.deviates(Deviation::NoRealm) {
        header_value.replace("realm=\"\", ", "")
    } else {
        header_value
    };
    if credential.is_some() && state.deviates(Deviation::ErrorInChallenge) {
        header_value.push_str(&format!(
            ", error=\"invalid_credential\", error_description=\"{}\"",
            refusal.detail.replace(['"', '\\'], "'")
        ));
    }
    let problem = if state.deviates(Deviation::GenericProblemType) {
        ProblemType::PaymentRequired
    } else {
        refusal.problem
    };
    let detail = if state.deviates(Deviation::LeakRpcUrl) {
        format!("{} (chain: {})", refusal.detail, state.config.rpc_url)
    } else {
        refusal.detail.clone()
    };
    let mut body = problem.body(&detail);
    body["challengeId"] = challenge.id.clone().into();
    if state.deviates(Deviation::NoProblemDetails) {
        body = json!({"error": "payment required"});
    }
    if let (true, Some(c)) = (state.deviates(Deviation::EchoCredential), credential) {
        body["credential"] = c.into();
    }
    if credential.is_some() && state.deviates(Deviation::PartialContent) {
        body["preview"] = route.content().into();
    }
    let status = StatusCode::from_u16(problem.status()).unwrap_or(StatusCode::PAYMENT_REQUIRED);
    let cache = (!state.deviates(Deviation::NoCacheControl)).then_some("no-store");
    let mut response = problem_response(status, body, cache);
    // from_bytes: the non-ASCII-realm deviation writes obs-text.
    if let Ok(v) = HeaderValue::from_bytes(header_value.as_bytes()) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    // §"Retry Behavior": a refused credential may be retried at once,
    // with a credential for the fresh challenge.
    if credential.is_some() && !state.deviates(Deviation::NoRetryAfter) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
    }
    if state.deviates(Deviation::ReceiptOnError) {
        let receipt = Receipt {
            status: "success".into(),
            method: route.payment_method.clone(),
            timestamp: now_rfc3339(),
            reference: challenge.id.clone(),
            extra: Map::new(),
        };
        if let Ok(v) = HeaderValue::from_str(&receipt.to_header()) {
            response.headers_mut().insert("payment-receipt", v);
        }
    }
    response
}

pub(super) fn raw_header(c: &Challenge) -> String {
    let mut h = format!(
        "Payment id=\"{}\", realm=\"{}\", method=\"{}\", intent=\"{}\", request=\"{}\"",
        c.id, c.realm, c.method, c.intent, c.request.wire
    );
    for (name, value) in [
        ("expires", c.expires.as_deref()),
        ("digest", c.digest.as_deref()),
        ("opaque", c.opaque.as_ref().map(|o| o.wire.as_str())),
    ] {
        if let Some(v) = value {
            h.push_str(&format!(", {name}=\"{v}\""));
        }
    }
    h
}

/// A 200 with these headers and body.
pub(super) fn paid_response((headers, body): (HeaderMap, String)) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().extend(headers);
    response
}

/// The paid answer's headers and body.
pub(super) fn paid(state: &State, route: &RouteConfig, receipt: Receipt) -> (HeaderMap, String) {
    let body = json!({
        "paid": true,
        "resource": route.path,
        "content": route.content(),
        "reference": receipt.reference,
    });
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if !state.deviates(Deviation::NoPrivateCache) {
        // §"Caching": responses with Payment-Receipt MUST be Cache-Control: private.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    }
    if let Ok(v) = HeaderValue::from_str(&receipt.to_header()) {
        h.insert("payment-receipt", v);
    }
    (h, body.to_string())
}
