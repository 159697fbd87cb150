//! Every named deviation of the reference client changes what it does,
//! observably, against the honest server (the server's deviations are
//! each caught by the server suite: tests/server_suite.rs), and the
//! server's documented choices are switches.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use mppconf_harness::chain::{Anvil, AnvilConfig};
use mppconf_harness::reference::client::{self, PayOptions};
use mppconf_harness::reference::server::{self, Deviation, RouteConfig, ServerConfig};
use mppconf_harness::reference::tx;
use mppconf_suite::codec::{Challenge, Credential};
use reqwest::header::HeaderMap;

const PATH_USD: &str = "0x20c0000000000000000000000000000000000000";

fn route(path: &str, amount: &str) -> RouteConfig {
    RouteConfig::new(path, amount, "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
}

fn routes() -> Vec<RouteConfig> {
    let mut memo = route("/memo", "1000");
    memo.memo = Some(format!("0x{}", "42".repeat(32)));
    let mut pull_only = route("/pull-only", "1000");
    pull_only.supported_modes = Some(vec!["pull".into()]);
    let mut expired = route("/expired", "0");
    expired.expires_in = 0;
    vec![
        route("/pull", "1000"),
        route("/free", "0"),
        memo,
        pull_only,
        expired,
    ]
}

async fn serve(chain: &Anvil, deviations: &[Deviation]) -> server::Server {
    let config = ServerConfig {
        realm: "mppconf.test".into(),
        secret: b"a server secret that is long enough".to_vec(),
        rpc_url: chain.rpc_url.clone(),
        chain_id: chain.chain_id,
        fee_payer_key: None,
        routes: routes(),
        deviations: deviations.iter().copied().collect(),
        choices: Default::default(),
    };
    server::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

fn options(chain: &Anvil, payer: &PrivateKeySigner, url: String) -> PayOptions {
    PayOptions {
        allow_http: true,
        ..PayOptions::new(&url, &payer.to_bytes().to_string(), &chain.rpc_url)
    }
}

async fn get(url: String, auth: &[&str]) -> (u16, HeaderMap, String) {
    let mut rb = reqwest::Client::new().get(url);
    for a in auth {
        rb = rb.header("authorization", *a);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// A proof credential for `challenge` with its id replaced by `id`.
fn proof_credential(challenge: &Challenge, id: &str, signer: &PrivateKeySigner) -> String {
    let mut echo = mppconf_suite::codec::EchoedChallenge::echo_of(challenge);
    echo.id = id.to_string();
    let signature = tx::sign_proof(id, 31337, signer).unwrap();
    Credential {
        challenge: echo,
        payload: serde_json::json!({"type": "proof", "signature": signature})
            .as_object()
            .unwrap()
            .clone(),
        source: Some(format!("did:pkh:eip155:31337:{}", signer.address())),
        unknown: Default::default(),
    }
    .to_header()
}

async fn challenge_of(url: String) -> Challenge {
    let (_, headers, _) = get(url, &[]).await;
    Challenge::parse(headers["www-authenticate"].to_str().unwrap()).unwrap()
}

#[tokio::test]
async fn every_client_deviation_is_observable() {
    let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
    let token: Address = PATH_USD.parse().unwrap();
    let payer = tx::fresh_payer(&chain.rpc(), token, U256::from(1_000_000_000u64))
        .await
        .unwrap();
    let s = serve(&chain, &[]).await;
    let url = |p: &str| format!("{}{p}", s.url());
    // The deviations the reference server can tell apart; every deviation
    // (these included) is judged by the client suite in tests/client_suite.rs.
    for deviation in [
        client::Deviation::IgnoreExpiry,
        client::Deviation::IgnoreSplitRule,
        client::Deviation::ShortAmount,
        client::Deviation::DropMemo,
        client::Deviation::TamperRequest,
        client::Deviation::TwoAuthorizationHeaders,
        client::Deviation::PushAlways,
    ] {
        let path = match deviation {
            client::Deviation::IgnoreExpiry => "/expired",
            client::Deviation::DropMemo => "/memo",
            client::Deviation::PushAlways => "/pull-only",
            client::Deviation::IgnoreSplitRule => continue, // below: needs a server that issues bad splits
            _ => "/pull",
        };
        let honest = client::pay(&options(&chain, &payer, url(path)))
            .await
            .map(|o| o.status);
        let mut opts = options(&chain, &payer, url(path));
        opts.deviations.insert(deviation);
        let deviant = client::pay(&opts).await.map(|o| o.status);
        assert_ne!(
            format!("{honest:?}"),
            format!("{deviant:?}"),
            "{} changes nothing",
            deviation.name()
        );
    }
    // A 402 whose splits reach the amount: the honest client refuses, the
    // deviant one pays (and the server it talks to sees a credential).
    let bad_splits = scripted_402_with_bad_splits().await;
    let honest = client::pay(&options(&chain, &payer, bad_splits.clone())).await;
    assert!(honest.unwrap_err().to_string().contains("splits"));
    let mut opts = options(&chain, &payer, bad_splits);
    opts.deviations.insert(client::Deviation::IgnoreSplitRule);
    assert!(
        client::pay(&opts).await.is_ok(),
        "the deviant client sends a credential"
    );
}

/// A bare HTTP server answering 402 with a challenge whose splits sum to
/// the amount (no conformant server issues one), and 403 to any retry.
async fn scripted_402_with_bad_splits() -> String {
    use axum::http::{HeaderMap as AxHeaders, StatusCode};
    let request = serde_json::json!({
        "amount": "1000", "currency": PATH_USD, "recipient": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "methodDetails": {"chainId": 31337, "splits": [{"amount": "1000", "recipient": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}]}
    });
    let challenge = Challenge {
        id: "bad-splits".into(),
        realm: "scripted".into(),
        method: "tempo".into(),
        intent: "charge".into(),
        request: mppconf_suite::codec::EncodedJson::canonical(request),
        expires: Some("2999-01-01T00:00:00Z".into()),
        digest: None,
        description: None,
        opaque: None,
        unknown_params: vec![],
    };
    let header = challenge.to_header().unwrap();
    let app = axum::Router::new().fallback(move |headers: AxHeaders| {
        let header = header.clone();
        async move {
            let mut r = axum::response::Response::builder();
            r = if headers.contains_key("authorization") {
                r.status(StatusCode::FORBIDDEN)
            } else {
                r.status(StatusCode::PAYMENT_REQUIRED)
                    .header("www-authenticate", header)
            };
            r.body(axum::body::Body::empty()).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bad", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test]
async fn the_expired_problem_type_is_a_switch() {
    let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
    let payer = PrivateKeySigner::random();
    for (payment_expired, problem) in [(false, "invalid-challenge"), (true, "payment-expired")] {
        let config = ServerConfig {
            realm: "mppconf.test".into(),
            secret: b"a server secret that is long enough".to_vec(),
            rpc_url: chain.rpc_url.clone(),
            chain_id: chain.chain_id,
            fee_payer_key: None,
            routes: routes(),
            deviations: BTreeSet::new(),
            choices: server::Choices {
                expired_as_payment_expired: payment_expired,
                ..Default::default()
            },
        };
        let s = server::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let url = format!("{}/expired", s.url());
        let c = challenge_of(url.clone()).await;
        let (status, _, body) = get(url, &[&proof_credential(&c, &c.id, &payer)]).await;
        assert_eq!(status, 402);
        assert!(body.contains(problem), "{body}");
    }
}
