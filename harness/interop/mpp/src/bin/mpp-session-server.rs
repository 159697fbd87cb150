//! An `mpp` (Rust SDK) tempo/session server on axum, for mppconf's server
//! suite: mpp's own Tempo session method (`TempoSessionMethod`, v1 on the
//! escrow contract mppconf deploys) behind one route.
//!
//! Environment:
//!   RPC_URL      JSON-RPC endpoint of the Tempo chain (mppconf's RPC proxy)
//!   CHAIN_ID     chain id to advertise and pay on (anvil: 31337)
//!   PORT         port on 127.0.0.1; 0 = any free port
//!   PAYEE_KEY    the recipient's private key (mpp closes channels with it)
//!   SECRET       HMAC secret binding challenge ids
//!   AMOUNT       price of one request, in base units
//!   ESCROW       the v1 escrow contract (`TempoStreamChannel`)
//!   MIN_VOUCHER_DELTA  minimum voucher increase, base units (default 0)
//!   CURRENCY     TIP-20 token, PathUSD by default
//!   REALM        realm, "mpp.interop" by default
//!
//! One paid route: GET /session. Without a credential: 402 with mpp's
//! session challenge (`session_challenge_with_details`). With one:
//! `verify_session`; an open, top-up or close answers mpp's management
//! response, a voucher's request is charged one price from the channel
//! (`deduct_from_channel`, mpp's per-request charge) and served, its
//! receipt's `spent` updated to the charge (mpp's receipt is written before
//! the charge). A refusal is mpp's own `PaymentProblem` for its error (its
//! status, problem type and a fresh challenge).
//! The first stdout line is `listening 127.0.0.1:PORT`; logs go to stderr.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Router, routing::get};
use mpp::PrivateKeySigner;
use mpp::error::PaymentError;
use mpp::protocol::core::{
    PaymentChallenge, format_receipt, format_www_authenticate, parse_authorization,
};
use mpp::server::axum::PaymentProblem;
use mpp::server::{
    Mpp, SessionChallengeOptions, SessionChannelStore, SessionMethodConfig, TempoConfig,
    TempoSessionMethod, deduct_from_channel, tempo, tempo_provider,
};

const PATH_USD: &str = "0x20c0000000000000000000000000000000000000";

type Server = Mpp<mpp::server::TempoChargeMethod<mpp::server::TempoProvider>, TempoSessionMethod<mpp::server::TempoProvider>>;

struct App {
    mpp: Server,
    store: Arc<SessionChannelStore>,
    amount: String,
    currency: String,
    recipient: String,
}

fn required(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => {
            eprintln!("mpp-session-server: the environment variable {name} is required");
            std::process::exit(2);
        }
    }
}

fn fatal(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("mpp-session-server: {what}: {error}");
    std::process::exit(2);
}

/// A fresh session challenge.
fn challenge(app: &App) -> mpp::error::Result<PaymentChallenge> {
    app.mpp.session_challenge_with_details(
        &app.amount,
        &app.currency,
        &app.recipient,
        SessionChallengeOptions {
            unit_type: Some("request"),
            ..Default::default()
        },
    )
}

/// mpp's answer to a refused credential: its `PaymentProblem`.
fn refused(app: &App, error: &impl PaymentError) -> Response {
    match challenge(app) {
        Ok(c) => PaymentProblem::new(error, vec![c]).into_response(),
        Err(e) => PaymentProblem::new(&e, Vec::new()).into_response(),
    }
}

/// 402 with a fresh session challenge and a problem body, for a request
/// without a credential.
fn payment_required(app: &App, detail: &str) -> Response {
    let challenge = challenge(app);
    let mut response = (
        StatusCode::PAYMENT_REQUIRED,
        serde_json::json!({
            "type": "https://paymentauth.org/problems/payment-required",
            "title": "Payment Required",
            "status": 402,
            "detail": detail,
        })
        .to_string(),
    )
        .into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match challenge.and_then(|c| format_www_authenticate(&c)) {
        Ok(value) => {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        Err(error) => eprintln!("mpp-session-server: no challenge: {error}"),
    }
    response
}

async fn session(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let Some(authorization) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() > 8 && v[..8].eq_ignore_ascii_case("payment "))
    else {
        return payment_required(&app, "Payment required.");
    };
    let credential = match parse_authorization(authorization) {
        Ok(c) => c,
        Err(error) => return refused(&app, &error),
    };
    let mut result = match app.mpp.verify_session(&credential).await {
        Ok(result) => result,
        Err(error) => return refused(&app, &error),
    };
    let body = match result.management_response.take() {
        Some(management) => management,
        None => {
            let channel_id = result.receipt.reference.clone();
            let price: u128 = app.amount.parse().unwrap_or(u128::MAX);
            match deduct_from_channel(app.store.as_ref(), &channel_id, price).await {
                Ok(state) => {
                    if let Ok(mut receipt) = serde_json::to_value(&result.receipt) {
                        receipt["spent"] = state.spent.to_string().into();
                        if let Ok(updated) = serde_json::from_value(receipt) {
                            result.receipt = updated;
                        }
                    }
                    serde_json::json!({ "paid": true })
                }
                Err(error) => return refused(&app, &error),
            }
        }
    };
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    if let Ok(value) = format_receipt(&result.receipt)
        && let Ok(v) = HeaderValue::from_str(&value)
    {
        h.insert("payment-receipt", v);
    }
    response
}

#[tokio::main]
async fn main() {
    let rpc_url = required("RPC_URL");
    let chain_id: u64 = required("CHAIN_ID")
        .parse()
        .unwrap_or_else(|e| fatal("CHAIN_ID is not a number", e));
    let port = std::env::var("PORT").unwrap_or_default();
    let payee: PrivateKeySigner = required("PAYEE_KEY")
        .parse()
        .unwrap_or_else(|e| fatal("PAYEE_KEY is not a private key", e));
    let recipient = payee.address().to_string().to_lowercase();
    let secret = required("SECRET");
    let amount = required("AMOUNT");
    let escrow = required("ESCROW")
        .parse()
        .unwrap_or_else(|e| fatal("ESCROW is not an address", e));
    let min_voucher_delta: u128 = std::env::var("MIN_VOUCHER_DELTA")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().unwrap_or_else(|e| fatal("MIN_VOUCHER_DELTA", e)))
        .unwrap_or(0);
    let currency = std::env::var("CURRENCY").unwrap_or_else(|_| PATH_USD.to_owned());
    let realm = std::env::var("REALM").unwrap_or_else(|_| "mpp.interop".to_owned());

    // mpp's in-memory channel store: the only one mpp 0.18.2 ships that
    // its session method accepts (its FileStore has no atomic
    // compare_exchange, and the ChannelStoreAdapter fails closed on it:
    // AtomicUnsupported); a durable one is the deployer's own Redis or SQL
    // backend. So a restart forgets every channel
    // (session.restart-keeps-accounting).
    let store = Arc::new(SessionChannelStore::new());
    let provider = tempo_provider(&rpc_url).unwrap_or_else(|e| fatal("RPC_URL", e));
    let session_method = TempoSessionMethod::new(
        provider,
        store.clone(),
        SessionMethodConfig {
            escrow_contract: escrow,
            chain_id,
            min_voucher_delta,
        },
    )
    .with_close_signer(payee);
    let mpp = Mpp::create(
        tempo(TempoConfig {
            recipient: &recipient,
        })
        .rpc_url(&rpc_url)
        .chain_id(chain_id)
        .currencies([currency.as_str()])
        .realm(&realm)
        .secret_key(&secret),
    )
    .unwrap_or_else(|e| fatal("configuration refused", e))
    .with_session_method(session_method);
    let app = Arc::new(App {
        mpp,
        store,
        amount,
        currency,
        recipient,
    });

    let router = Router::new().route("/session", get(session)).with_state(app);
    let port = if port.is_empty() { "0".to_owned() } else { port };
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|e| fatal(&format!("cannot listen on 127.0.0.1:{port}"), e));
    println!("listening {}", listener.local_addr().expect("bound"));
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("serve");
}
