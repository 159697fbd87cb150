//! Tempo sessions, timed: the escrow from a started chain to deployed
//! (cached artifact), vouchers signed and verified offline, and vouchers
//! signed, sent and accepted by the reference session server (each
//! verified against the escrow on chain and charged).
//!
//! Run: `cargo bench -p mppconf --bench session`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use mppconf_harness::chain::escrow::Escrow;
use mppconf_harness::chain::{Anvil, AnvilConfig, contracts};
use mppconf_harness::methods::tempo_session::{OpenFlaw, SessionPayer, SessionTerms};
use mppconf_harness::reference::server::{self, RouteConfig, ServerConfig, SessionRoute};
use mppconf_harness::reference::tx;
use mppconf_suite::codec::Challenge;
use mppconf_suite::methods::tempo_session::{self as offline, SessionProtocol};

const PATH_USD: &str = "0x20c0000000000000000000000000000000000000";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    // Compile (or load) the escrow and install anvil outside the timing.
    contracts::artifact(&contracts::TEMPO_STREAM_CHANNEL).expect("the escrow compiles");
    drop(Anvil::start(&AnvilConfig::default()).await.expect("anvil"));

    let mut deploys = Vec::new();
    let mut ready = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
        let started = t.elapsed();
        let d = Instant::now();
        Escrow::deploy(&chain.rpc()).await.unwrap();
        deploys.push(d.elapsed());
        ready.push(started + deploys[deploys.len() - 1]);
    }
    println!(
        "escrow deploy (cached artifact)      median {:>8.2?}   anvil start to deployed escrow median {:>8.2?}",
        median(deploys),
        median(ready)
    );

    let key = PrivateKeySigner::random();
    let n = 2000u64;
    let t = Instant::now();
    for i in 0..n {
        let digest = offline::voucher_digest(
            SessionProtocol::V1,
            31337,
            Address::ZERO,
            B256::ZERO,
            U256::from(i),
        )
        .unwrap();
        let signature = key.sign_hash_sync(&digest).unwrap().as_bytes();
        assert_eq!(
            offline::voucher_signer(digest, &signature).unwrap(),
            key.address()
        );
    }
    println!(
        "voucher sign + verify, offline       {:>8.0} vouchers/s",
        n as f64 / t.elapsed().as_secs_f64()
    );

    let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
    let escrow = Escrow::deploy(&chain.rpc()).await.unwrap();
    let token: Address = PATH_USD.parse().unwrap();
    let payee = PrivateKeySigner::random();
    tx::fund(
        &chain.rpc(),
        token,
        payee.address(),
        U256::from(1_000_000_000u64),
    )
    .await
    .unwrap();
    let mut route = RouteConfig::new("/session", "1", &payee.address().to_string());
    route.session = Some(SessionRoute {
        escrow_contract: escrow.address.to_string(),
        payee_key: payee.to_bytes().to_string(),
        min_voucher_delta: None,
        suggested_deposit: None,
        stream_units: None,
    });
    let config = ServerConfig {
        realm: "bench".into(),
        secret: b"a bench secret that is long enough".to_vec(),
        rpc_url: chain.rpc_url.clone(),
        chain_id: chain.chain_id,
        fee_payer_key: None,
        routes: vec![route],
        deviations: BTreeSet::new(),
        choices: Default::default(),
    };
    let s = server::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = format!("{}/session", s.url());
    let http = reqwest::Client::new();
    for concurrency in [1usize, 4] {
        let mut sessions = Vec::new();
        for _ in 0..concurrency {
            let answer = http.get(&url).send().await.unwrap();
            let field = answer.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            let challenge = Challenge::parse(&field).unwrap();
            let terms = SessionTerms::from_request(&challenge.request.value).unwrap();
            let payer = SessionPayer::fresh(terms, &chain.rpc_url, U256::from(100_000_000u64))
                .await
                .unwrap();
            let open = payer
                .open_payload(U256::from(50_000_000u64), U256::from(1u8), OpenFlaw::None)
                .await
                .unwrap();
            let header = payer.credential(&challenge, open).to_header();
            let r = http
                .get(&url)
                .header("authorization", header)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            sessions.push((challenge, payer));
        }
        let per = 300u64;
        let t = Instant::now();
        let runs = sessions.iter().map(|(challenge, payer)| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                for i in 2..2 + per {
                    let payload = payer.voucher_payload("voucher", U256::from(i));
                    let header = payer.credential(challenge, payload).to_header();
                    let r = http
                        .get(&url)
                        .header("authorization", header)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            }
        });
        futures::future::join_all(runs).await;
        println!(
            "vouchers signed, sent, verified on chain and charged, {concurrency} channel(s): {:>6.0} vouchers/s",
            (per * concurrency as u64) as f64 / t.elapsed().as_secs_f64()
        );
    }
}
