//! An `mpp` (Rust SDK) tempo/charge server on axum, for mppconf's server suite.
//!
//! Environment:
//!   RPC_URL    JSON-RPC endpoint of the Tempo chain (mppconf's RPC proxy)
//!   CHAIN_ID   chain id to advertise and pay on (anvil: 31337)
//!   PORT       port on 127.0.0.1; 0 = any free port
//!   RECIPIENT  address paid by every charge
//!   SECRET     HMAC secret binding challenge ids
//!   AMOUNT     price as a decimal string in token units (6 decimals), e.g. 0.001
//!   CURRENCY   TIP-20 token, PathUSD by default
//!   REALM      realm, "mpp.interop" by default
//!   REQUIRES_AUTH  "1": mpp's `requires_auth` (challenges select Payment-Authorization)
//!
//! One paid route: GET /paid. Anything else is 404.
//! The first stdout line is `listening 127.0.0.1:PORT`; logs go to stderr.

use std::sync::{Arc, OnceLock};

use axum::{Json, Router, routing::get};
use mpp::server::axum::{ChargeChallenger, ChargeConfig, MppCharge, WithReceipt};
use mpp::server::{Mpp, TempoConfig, tempo};

const PATH_USD: &str = "0x20c0000000000000000000000000000000000000";

/// `ChargeConfig` asks for a `&'static str`; the price comes from the
/// environment once at start-up.
static AMOUNT: OnceLock<String> = OnceLock::new();

struct Price;

impl ChargeConfig for Price {
    fn amount() -> &'static str {
        AMOUNT.get().expect("AMOUNT is set before the server starts")
    }
}

fn required(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => {
            eprintln!("mpp-server: the environment variable {name} is required");
            std::process::exit(2);
        }
    }
}

async fn paid(charge: MppCharge<Price>) -> WithReceipt<Json<serde_json::Value>> {
    WithReceipt {
        receipt: charge.receipt,
        body: Json(serde_json::json!({ "paid": true })),
    }
}

#[tokio::main]
async fn main() {
    let rpc_url = required("RPC_URL");
    let chain_id: u64 = required("CHAIN_ID").parse().unwrap_or_else(|error| {
        eprintln!("mpp-server: CHAIN_ID is not a number: {error}");
        std::process::exit(2);
    });
    let port = std::env::var("PORT").unwrap_or_default();
    let recipient = required("RECIPIENT");
    let secret = required("SECRET");
    AMOUNT.set(required("AMOUNT")).expect("set once");
    let currency = std::env::var("CURRENCY").unwrap_or_else(|_| PATH_USD.to_owned());
    let realm = std::env::var("REALM").unwrap_or_else(|_| "mpp.interop".to_owned());

    // `.chain_id()` is required: from a localhost RPC URL alone mpp
    // advertises Tempo mainnet (4217).
    let mpp = Mpp::create(
        tempo(TempoConfig { recipient: &recipient })
            .rpc_url(&rpc_url)
            .chain_id(chain_id)
            .currencies([currency.as_str()])
            .realm(&realm)
            .secret_key(&secret)
            // REQUIRES_AUTH=1: challenges select Payment-Authorization
            // (draft-httpauth-payment-01's `header`).
            .requires_auth(std::env::var("REQUIRES_AUTH").is_ok_and(|v| v == "1")),
    )
    .unwrap_or_else(|error| {
        eprintln!("mpp-server: configuration refused: {error}");
        std::process::exit(2);
    });

    let app = Router::new()
        .route("/paid", get(paid))
        .with_state(Arc::new(mpp) as Arc<dyn ChargeChallenger>);
    let port = if port.is_empty() { "0".to_owned() } else { port };
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|error| {
            eprintln!("mpp-server: cannot listen on 127.0.0.1:{port}: {error}");
            std::process::exit(2);
        });
    println!("listening {}", listener.local_addr().expect("bound"));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("serve");
}
