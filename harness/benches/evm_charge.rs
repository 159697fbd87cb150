//! EVM charge, timed: the local EVM chain from nothing to ready (plain
//! anvil started, mppconf's EIP-3009 token deployed from its cached
//! artifact, Permit2 installed from its cached runtime), and one paid
//! round trip per credential type, reference client (`mppconf pay`, in
//! process) to reference server: the unpaid request and its 402, the
//! request checked and the credential built (signed; for `hash`, the
//! payer's transfer broadcast and mined first), the paid request
//! verified, settled on chain and answered with a receipt.
//!
//! Run: `cargo bench -p mppconf --bench evm_charge`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use mppconf_harness::chain::evm::LocalEvm;
use mppconf_harness::methods::evm_charge;
use mppconf_harness::reference::client::{self, PayOptions};
use mppconf_harness::reference::server::{self, RouteConfig, ServerConfig};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    // Install anvil, compile the token and cache Permit2 outside the timing.
    drop(LocalEvm::start().await.expect("the EVM chain"));
    let ready: Vec<Duration> = {
        let mut v = Vec::new();
        for _ in 0..10 {
            v.push(LocalEvm::start().await.unwrap().ready_in);
        }
        v
    };
    println!(
        "EVM chain ready (anvil + token + Permit2, cached artifacts)   median {:>8.2?}",
        median(ready)
    );

    let local = LocalEvm::start().await.unwrap();
    let payee = PrivateKeySigner::random();
    local.chain.fund(payee.address(), U256::ZERO).await.unwrap();
    // One route per credential type, offering only it: `mppconf pay` pays
    // the first offered type.
    let routes = evm_charge::CREDENTIAL_TYPES
        .map(|kind| {
            let mut route = RouteConfig::evm(
                &format!("/evm-{kind}"),
                "1000",
                &payee.to_bytes().to_string(),
            );
            route.currency = local.chain.token.to_checksum(None);
            if let Some(evm) = route.evm.as_mut() {
                evm.credential_types = Some(vec![kind.to_string()]);
            }
            route
        })
        .to_vec();
    let config = ServerConfig {
        realm: "bench".into(),
        secret: b"a bench secret that is long enough".to_vec(),
        rpc_url: local.anvil.rpc_url.clone(),
        chain_id: local.chain.chain_id,
        fee_payer_key: None,
        routes,
        deviations: BTreeSet::new(),
        choices: Default::default(),
    };
    let s = server::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let payer = evm_charge::fresh_payer(&local.anvil.rpc_url, local.chain.token)
        .await
        .unwrap();
    let key = format!("0x{}", alloy::hex::encode(payer.to_bytes()));
    for kind in evm_charge::CREDENTIAL_TYPES {
        let mut options = PayOptions::new(
            &format!("{}/evm-{kind}", s.url()),
            &key,
            &local.anvil.rpc_url,
        );
        options.allow_http = true;
        let mut rounds = Vec::new();
        for _ in 0..25 {
            let t = Instant::now();
            let paid = client::pay(&options).await.unwrap();
            assert_eq!(paid.status, 200, "{kind}: {}", paid.body);
            assert_eq!(paid.mode, kind);
            rounds.push(t.elapsed());
        }
        println!(
            "paid round trip, {kind:<13} (mppconf pay: 402, pay, verify, settle, 200)   median {:>8.2?}",
            median(rounds)
        );
    }
}
