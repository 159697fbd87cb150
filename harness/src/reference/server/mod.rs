//! `mppconf serve`: the reference Tempo charge server (and the `stub`
//! test method, [`crate::methods::stub`], on routes that ask for it).
//!
//! It is the known-good target of every server check, so it follows every
//! MUST of draft-httpauth-payment-00, draft-payment-intent-charge-00 and
//! draft-tempo-charge-00. Where the drafts leave a choice it says which it
//! makes (see `docs` below and harness/README.md), and each named
//! [`Deviation`] breaks one rule on purpose.
//!
//! Choices: challenge ids are the recommended HMAC over the seven slots
//! (stateless binding) plus an in-memory set of used ids (single use); an
//! expired challenge is `invalid-challenge` (the status table), not
//! `payment-expired` (ambiguity.expired-problem-type); a transaction hash
//! is accepted once only (ambiguity.push-hash-reuse); several Payment
//! credentials get 400.
//!
//! What it sends is in `answers`, how it verifies and settles a credential
//! in `settle` (the Tempo transfers in `tempo`), the deviations in
//! `deviation`, its routes and settings in `config`.

use mppconf_suite::codec::challenge::PAYMENT_AUTHORIZATION;
use mppconf_suite::drafts::CoreDraft;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;
use axum::body::Bytes as Body;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use mppconf_suite::codec::{Credential, ProblemType, Receipt};
use serde_json::{Value, json};

use super::tx;

mod answers;
mod config;
mod deviation;
pub mod discovery;
mod evm;
mod evm_session;
mod forced_close;
pub mod mcp;
mod session;
mod session_store;
mod settle;
mod subscription;
mod tempo;

use crate::chain::Rpc;
use crate::error::{Error, Result};
use crate::tls::LocalCa;
use answers::{paid, paid_response, payment_required, payment_required_in, problem_response};
pub use config::{
    AfterPayment, Choices, RouteConfig, SIDE_EFFECTS_PATH, ServerConfig, SessionRoute, SplitConfig,
    SubscriptionRoute,
};
pub use deviation::Deviation;
pub use evm::WITNESS_TYPE_STRING;
use settle::{Leniency, claim_once, settle, settle_credential};

struct State {
    config: ServerConfig,
    rpc: Rpc,
    fee_payer: Option<PrivateKeySigner>,
    used_ids: Mutex<HashSet<String>>,
    used_hashes: Mutex<HashSet<B256>>,
    /// Paid answers by (`Idempotency-Key`, credential), replayed to a
    /// retry of the same request (§"Idempotency and Side Effects").
    idempotent: Mutex<HashMap<(String, String), (HeaderMap, String)>>,
    /// Unix time the server started (the static-challenge deviation).
    started: u64,
    /// Side effects the `side_effect` routes performed.
    side_effects: std::sync::atomic::AtomicU64,
    /// The first receipt reference of each route (a deviation's).
    first_reference: Mutex<HashMap<String, String>>,
    /// Active subscriptions by (route path, payer): the activation's
    /// receipt.
    subscriptions: Mutex<HashMap<(String, Address), Receipt>>,
    /// The access keys its subscription challenges named.
    access_keys: Mutex<subscription::AccessKeys>,
    /// Session channels' accounting, and where it is persisted.
    sessions: session::Channels,
    session_store: Option<Arc<session_store::Store>>,
    chain_view: session::ChainView,
    /// EVM charge settlements go out one at a time (the payee's nonces).
    evm_submit: tokio::sync::Mutex<()>,
    /// EVM session channels' accounting.
    evm_sessions: evm_session::EvmChannels,
}

impl State {
    fn deviates(&self, d: Deviation) -> bool {
        self.config.deviations.contains(&d)
    }

    /// The HMAC key of challenge ids: the secret (SHA-256 of it with the
    /// hashed-hmac-key deviation).
    fn binding_key(&self) -> Vec<u8> {
        if self.deviates(Deviation::HashedHmacKey) {
            use sha2::Digest;
            sha2::Sha256::digest(&self.config.secret).to_vec()
        } else {
            self.config.secret.clone()
        }
    }

    /// The draft whose slots bind ids: the server's, or -00's (no header
    /// slot) with the header-unbound deviation.
    fn binding_draft(&self) -> CoreDraft {
        if self.deviates(Deviation::HeaderUnbound) {
            CoreDraft::Draft00
        } else {
            self.config.choices.core
        }
    }
}

/// How long a metered stream waits for a voucher after
/// `payment-need-voucher` before it closes (§"Insufficient Balance During
/// Streaming": SHOULD close after a reasonable timeout, e.g. 60 s; short
/// here, so that the suite's runs stay quick).
const SESSION_STREAM_PAUSE: Duration = Duration::from_secs(5);

/// A running server; stops when dropped.
pub type Server = crate::background::Background;

/// Binds `listen` and serves plain HTTP in the background.
pub async fn start(config: ServerConfig, listen: SocketAddr) -> Result<Server> {
    let app = app(config)?;
    Server::serve(bind(listen).await?, app)
}

/// Binds `listen` and serves HTTPS with a certificate `ca` signed (with
/// the `plain-http-too` deviation, plain HTTP on the same port as well).
pub async fn start_tls(config: ServerConfig, listen: SocketAddr, ca: &LocalCa) -> Result<Server> {
    let serving = crate::tls::Serving {
        plain_too: config.deviations.contains(&Deviation::PlainHttpToo),
        tls12_only: config.deviations.contains(&Deviation::Tls12Only),
    };
    let app = app(config)?;
    Server::serve_tls(ca.listener(bind(listen).await?, serving)?, app)
}

async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        Error::Usage(format!(
            "cannot listen on {listen}: {e} (is the port in use?)"
        ))
    })
}

fn app(config: ServerConfig) -> Result<axum::Router> {
    config.validate()?;
    let fee_payer = config
        .fee_payer_key
        .as_deref()
        .map(|k| tx::signer_from_key(k, "fee payer key"))
        .transpose()?;
    let session_store = config
        .choices
        .session_store
        .as_deref()
        .map(session_store::Store::new)
        .transpose()?
        .map(Arc::new);
    let sessions = match &session_store {
        Some(store) => store.load()?,
        None => Default::default(),
    };
    let state = Arc::new(State {
        rpc: Rpc::new(&config.rpc_url).with_timeout(Duration::from_secs(5)),
        config,
        fee_payer,
        used_ids: Mutex::default(),
        used_hashes: Mutex::default(),
        idempotent: Mutex::default(),
        started: tx::unix_now(),
        side_effects: Default::default(),
        first_reference: Mutex::default(),
        subscriptions: Mutex::default(),
        access_keys: Mutex::default(),
        sessions: Mutex::new(sessions),
        session_store,
        chain_view: Mutex::default(),
        evm_submit: tokio::sync::Mutex::new(()),
        evm_sessions: Default::default(),
    });
    forced_close::watch(&state);
    Ok(axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Body| {
            let state = state.clone();
            async move { handle(&state, method, uri, headers, body).await }
        },
    ))
}

/// Why a credential is refused, as a problem type and a detail.
struct Refusal {
    problem: ProblemType,
    detail: String,
}

fn refuse(problem: ProblemType, detail: impl Into<String>) -> Refusal {
    Refusal {
        problem,
        detail: detail.into(),
    }
}

/// [`answer`], and under -01 §"Caching": every response to a request
/// whose Payment credential is in `Payment-Authorization` (not covered by
/// RFC 9111 §3.5's rule for `Authorization`) is `private` at least.
async fn handle(
    state: &State,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let other_field = state.config.choices.core.has_header_param()
        && headers.contains_key(PAYMENT_AUTHORIZATION)
        && !state.deviates(Deviation::OtherFieldCacheable);
    let mut response = answer(state, method, uri, headers, body).await;
    if other_field && !response.headers().contains_key(header::CACHE_CONTROL) {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("private"),
        );
    }
    response
}

async fn answer(
    state: &State,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // The deviation: `//host/path` is read as a URL reference, its host
    // becoming the realm.
    let (path, target_realm) = match uri.path().strip_prefix("//") {
        Some(rest) if state.deviates(Deviation::RealmFromRequestTarget) => {
            let (host, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            (tail.to_string(), Some(host.to_string()))
        }
        _ => (uri.path().to_string(), None),
    };
    // draft-payment-discovery-00 §"Document Location".
    if path == discovery::path(|d| state.deviates(d)) && method == Method::GET {
        return discovery::answer(&state.config, |d| state.deviates(d));
    }
    if let Some(serving) = &state.config.choices.mcp
        && path == mcp::PATH
        && method == Method::POST
    {
        return mcp::answer(state, serving, &headers, &body).await;
    }
    if path == SIDE_EFFECTS_PATH && method == Method::GET {
        let n = state.side_effects.load(Ordering::SeqCst);
        return (StatusCode::OK, format!("{n}\n")).into_response();
    }
    let Some(route) = state
        .config
        .routes
        .iter()
        // draft-tempo-session-00 §"Session Flow": voucher updates on any
        // HTTP method of a session resource.
        .find(|r| {
            let any_method = r.session.is_some()
                && !(method == Method::HEAD && state.deviates(Deviation::SessionNoHead));
            r.path == path && (r.method.eq_ignore_ascii_case(method.as_str()) || any_method)
        })
    else {
        // draft-httpauth-payment-00 §"When NOT to Return 402": unknown resource is 404.
        if state.deviates(Deviation::PaymentForUnknown)
            && let Some(first) = state.config.routes.first()
        {
            return payment_required(
                state,
                first,
                &body,
                refuse(ProblemType::PaymentRequired, "Payment required for access."),
                None,
            );
        }
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    if route.side_effect && state.deviates(Deviation::SideEffectUnpaid) {
        state.side_effects.fetch_add(1, Ordering::SeqCst);
    }
    let authenticated = route.requires_header.as_deref().is_none_or(|h| {
        let (name, value) = h.split_once(':').unwrap_or((h, ""));
        headers
            .get_all(name.trim())
            .iter()
            .any(|v| v.as_bytes() == value.trim().as_bytes())
    });
    // §"Interaction with Other Authentication Schemes": authentication
    // first, 402 only once it succeeded.
    if !authenticated && !state.deviates(Deviation::PaymentBeforeAuth) {
        return unauthenticated();
    }
    // -01 §"Credentials": only the field the route's challenges select
    // carries a credential that can satisfy them.
    let field = match route.credential_header.as_deref() {
        Some(selected) => selected,
        None => header::AUTHORIZATION.as_str(),
    };
    let any_field = state.deviates(Deviation::CredentialInAnyField)
        && route.credential_header.is_some()
        && !headers.contains_key(field);
    let credentials: Vec<&str> = headers
        .get_all(if any_field {
            header::AUTHORIZATION.as_str()
        } else {
            field
        })
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.len() >= 8 && v[..8].eq_ignore_ascii_case("payment "))
        .collect();
    if credentials.len() > 1 && !state.deviates(Deviation::AcceptSeveralCredentials) {
        // §"Multiple Payment Options": SHOULD reject with 400.
        let body = json!({
            "type": "about:blank", "title": "Bad Request", "status": 400,
            "detail": "several Authorization: Payment credentials in one request",
        });
        return problem_response(StatusCode::BAD_REQUEST, body, None);
    }
    let Some(raw) = credentials.first() else {
        return payment_required_in(
            state,
            route,
            &body,
            refuse(ProblemType::PaymentRequired, "Payment required for access."),
            None,
            target_realm.as_deref(),
        );
    };
    if state.deviates(Deviation::SmallHeaderLimit) && raw.len() > 4000 {
        return (
            StatusCode::from_u16(431).unwrap_or(StatusCode::BAD_REQUEST),
            "header too large\n",
        )
            .into_response();
    }
    // §"Idempotency and Side Effects": a retry of a non-idempotent paid
    // request with the same key and credential gets the original answer;
    // draft-tempo-session-00 §"Request Idempotency": any session request,
    // keyed by its challenge (one challenge pays a whole session).
    let session_key =
        route.session.is_some() && !state.deviates(Deviation::SessionIgnoreIdempotencyKey);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|_| {
            !state.deviates(Deviation::IgnoreIdempotencyKey)
                && (session_key
                    || matches!(route.method.as_str(), "POST" | "PUT" | "DELETE" | "PATCH"))
        })
        .map(|k| {
            let scope = match route.session {
                Some(_) => Credential::parse(raw)
                    .map(|c| format!("session challenge {}", c.challenge.id))
                    .unwrap_or_else(|_| raw.to_string()),
                None => raw.to_string(),
            };
            (k.to_string(), scope)
        });
    if let Some(key) = &key
        && let Some(original) = state
            .idempotent
            .lock()
            .ok()
            .and_then(|m| m.get(key).cloned())
    {
        return paid_response(original);
    }
    let skip_replay = key.is_some() && state.deviates(Deviation::IdempotencyKeySkipsReplay);
    if !authenticated {
        return unauthenticated();
    }
    // A pure voucher update buys nothing: on HEAD (§"Session Flow"), and
    // on a body-less POST to a resource that is not a POST (mppx's
    // clients send their vouchers so; the draft names only HEAD,
    // ambiguity.tempo-session-voucher-update-requests).
    let voucher_only = route.session.is_some()
        && (method == Method::HEAD
            || (method == Method::POST && route.method != "POST" && body.is_empty()));
    match settle(state, route, raw, &body, skip_replay, voucher_only).await {
        Ok(receipt) if route.after_payment != AfterPayment::Serve => {
            after_payment(state, route, &body, receipt)
        }
        // A session request that bought nothing (a pure voucher update, a
        // topUp, a close) is answered without content.
        Ok(receipt) if route.session.is_some() && !receipt.extra.contains_key("units") => {
            session::management_response(route, receipt)
        }
        Ok(receipt)
            if route
                .session
                .as_ref()
                .and_then(|s| s.stream_units)
                .is_some()
                && headers
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|a| a.contains("text/event-stream")) =>
        {
            let units = route
                .session
                .as_ref()
                .and_then(|s| s.stream_units)
                .unwrap_or(1);
            session::stream_response(state, route, receipt, units, SESSION_STREAM_PAUSE)
        }
        Ok(receipt) => {
            if route.side_effect && !state.deviates(Deviation::SideEffectUnpaid) {
                state.side_effects.fetch_add(1, Ordering::SeqCst);
            }
            let answer = paid(state, route, receipt);
            if let (Some(key), Ok(mut m)) = (key, state.idempotent.lock()) {
                m.insert(key, answer.clone());
            }
            paid_response(answer)
        }
        Err(refusal) => payment_required(state, route, &body, refusal, Some(raw)),
    }
}

/// 401 for a request without the route's authentication header.
fn unauthenticated() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer realm=\"mppconf\""),
    );
    r
}

/// A verified payment on a route that denies (403, §"Status Codes": no
/// challenge) or fails (500); neither carries a receipt (§"Receipt
/// Status Semantics": receipts only on 2xx), but for the deviations.
fn after_payment(state: &State, route: &RouteConfig, body: &[u8], receipt: Receipt) -> Response {
    if route.after_payment == AfterPayment::Deny && state.deviates(Deviation::DenyWithChallenge) {
        return payment_required(
            state,
            route,
            body,
            refuse(ProblemType::PaymentRequired, "Payment required for access."),
            None,
        );
    }
    let (status, title) = match route.after_payment {
        AfterPayment::Deny => (StatusCode::FORBIDDEN, "Forbidden"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    };
    let problem = json!({"type": "about:blank", "title": title, "status": status.as_u16()});
    let mut response = problem_response(status, problem, None);
    if state.deviates(Deviation::ReceiptOnFailedResource)
        && let Ok(v) = axum::http::HeaderValue::from_str(&receipt.to_header())
    {
        response.headers_mut().insert("payment-receipt", v);
    }
    response
}

/// Parses a credential; the padded-request deviation also reads back the
/// padded `request` it issued (as a server with a padding encoder and a
/// lenient decoder would), keeping the wire as echoed for the binding.
fn parse_credential(state: &State, raw: &str) -> mppconf_suite::Result<Credential> {
    let strict = Credential::parse(raw);
    if strict.is_ok() || !state.deviates(Deviation::PaddedRequest) {
        return strict;
    }
    let reread = || {
        let token = raw.get(8..)?;
        let text = mppconf_suite::codec::base64url::decode_text("credential", token).ok()?;
        let mut v: Value = serde_json::from_str(&text).ok()?;
        let wire = v["challenge"]["request"].as_str()?.to_string();
        v["challenge"]["request"] = wire.trim_end_matches('=').into();
        let token = mppconf_suite::codec::base64url::encode(v.to_string());
        let mut c = Credential::parse(&format!("Payment {token}")).ok()?;
        c.challenge.request.wire = wire;
        Some(c)
    };
    reread().ok_or_else(|| strict.unwrap_err())
}

fn now_rfc3339() -> String {
    rfc3339_at(tx::unix_now())
}

/// An RFC 3339 UTC timestamp with second precision.
pub fn rfc3339_at(unix: u64) -> String {
    chrono::DateTime::from_timestamp(unix as i64, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
