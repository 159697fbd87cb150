//! The local chain and the reference implementations, timed: anvil from
//! start to ready, and paid round trips of the reference client against
//! the reference server (402, sign, retry, verify, broadcast, receipt).
//!
//! Run: `cargo bench -p mppconf --bench chain`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use mppconf_harness::chain::{Anvil, AnvilConfig};
use mppconf_harness::reference::client::{self, PayOptions};
use mppconf_harness::reference::server::{self, RouteConfig, ServerConfig};
use mppconf_harness::reference::tx;

const PATH_USD: &str = "0x20c0000000000000000000000000000000000000";

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label:<28} n={:<3} min {:>8.2?}  median {:>8.2?}  p90 {:>8.2?}  max {:>8.2?}",
        samples.len(),
        samples[0],
        pick(0.5),
        pick(0.9),
        samples[samples.len() - 1]
    );
}

fn route(path: &str, amount: &str) -> RouteConfig {
    RouteConfig::new(path, amount, &Address::random().to_string())
}

#[tokio::main]
async fn main() {
    // Warm the binary cache (and install anvil if needed) outside the timing.
    drop(Anvil::start(&AnvilConfig::default()).await.expect("anvil"));
    let mut starts = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
        starts.push(t.elapsed());
        drop(chain);
    }
    summary("anvil start to ready", starts);

    let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
    let config = ServerConfig {
        realm: "bench".into(),
        secret: b"a bench secret that is long enough".to_vec(),
        rpc_url: chain.rpc_url.clone(),
        chain_id: chain.chain_id,
        fee_payer_key: Some(
            "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d".into(),
        ),
        routes: vec![
            route("/pull", "1000"),
            route("/free", "0"),
            {
                let mut r = route("/push", "1000");
                r.supported_modes = Some(vec!["push".into()]);
                r
            },
            {
                let mut r = route("/sponsored", "1000");
                r.fee_payer = true;
                r
            },
        ],
        deviations: BTreeSet::new(),
        choices: Default::default(),
    };
    let s = server::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let token: Address = PATH_USD.parse().unwrap();
    let payer = tx::fresh_payer(&chain.rpc(), token, U256::from(10_000_000_000u64))
        .await
        .unwrap();
    for path in ["/pull", "/push", "/sponsored", "/free"] {
        let opts = PayOptions {
            allow_http: true,
            ..PayOptions::new(
                &format!("{}{path}", s.url()),
                &payer.to_bytes().to_string(),
                &chain.rpc_url,
            )
        };
        let mut samples = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let outcome = client::pay(&opts).await.unwrap();
            samples.push(t.elapsed());
            assert_eq!(outcome.status, 200, "{}", outcome.body);
        }
        summary(&format!("paid round trip {path}"), samples);
    }
}
