//! One paid request with the `mpp` (Rust SDK) client, for mppconf's client
//! suite: `mpp-client URL`.
//!
//! Environment:
//!   PAYER_KEY  hex private key of the paying account
//!   RPC_URL    JSON-RPC endpoint of the Tempo chain
//!   CHAIN_ID   chain id the client expects challenges for
//!
//! Exit code 0 when the final response is 2xx, 1 otherwise, 2 on bad usage.
//! Prints the final status and body to stdout; errors go to stderr.

use mpp::PrivateKeySigner;
use mpp::client::{Fetch, TempoProvider};

fn required(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => {
            eprintln!("mpp-client: the environment variable {name} is required");
            std::process::exit(2);
        }
    }
}

#[tokio::main]
async fn main() {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: mpp-client URL");
        std::process::exit(2);
    };
    let signer: PrivateKeySigner = required("PAYER_KEY").parse().unwrap_or_else(|error| {
        eprintln!("mpp-client: PAYER_KEY is not a private key: {error}");
        std::process::exit(2);
    });
    let chain_id: u64 = required("CHAIN_ID").parse().unwrap_or_else(|error| {
        eprintln!("mpp-client: CHAIN_ID is not a number: {error}");
        std::process::exit(2);
    });
    let provider = TempoProvider::new(signer, required("RPC_URL"))
        .unwrap_or_else(|error| {
            eprintln!("mpp-client: {error}");
            std::process::exit(2);
        })
        .with_expected_chain_id(chain_id);
    // mpp pays only when the request states which methods it accepts.
    let outcome = reqwest::Client::new()
        .get(&url)
        .header("Accept-Payment", "tempo/charge")
        .send_with_payment(&provider)
        .await;
    match outcome {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            println!("{} {body}", status.as_u16());
            std::process::exit(if status.is_success() { 0 } else { 1 });
        }
        Err(error) => {
            eprintln!("mpp-client: {error}");
            std::process::exit(1);
        }
    }
}
