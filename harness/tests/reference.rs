//! End to end on anvil: `mppconf pay` pays `mppconf serve` in pull, push
//! and proof modes, with and without fee sponsorship, with memo and with
//! splits; every receipt's reference is a mined transaction whose logs pay
//! the request exactly. Deviations show that both sides can misbehave.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use mppconf_harness::chain::{Anvil, AnvilConfig, Rpc};
use mppconf_harness::error::Error;
use mppconf_harness::reference::client::{self, PayOptions};
use mppconf_harness::reference::server::{self, RouteConfig, ServerConfig, SplitConfig};
use mppconf_harness::reference::tx;
use mppconf_suite::methods::tempo_effects::{self, ChargeRequest, Log};
use serde_json::json;

/// Dev account 1 of anvil's mnemonic: funded at genesis, sponsors fees.
const FEE_PAYER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const PATH_USD: &str = "0x20c0000000000000000000000000000000000000";

fn route(path: &str, amount: &str, recipient: Address) -> RouteConfig {
    RouteConfig::new(path, amount, &recipient.to_string())
}

struct World {
    chain: Anvil,
    rpc: Rpc,
    payer: PrivateKeySigner,
}

async fn world() -> World {
    let chain = Anvil::start(&AnvilConfig::default()).await.expect("anvil");
    let rpc = chain.rpc();
    let payer = PrivateKeySigner::random();
    let token: Address = PATH_USD.parse().unwrap();
    tx::fund(&rpc, token, payer.address(), U256::from(1_000_000_000u64))
        .await
        .unwrap();
    World { chain, rpc, payer }
}

fn options(w: &World, url: String) -> PayOptions {
    PayOptions {
        allow_http: true,
        ..PayOptions::new(&url, &w.payer.to_bytes().to_string(), &w.chain.rpc_url)
    }
}

async fn serve(
    w: &World,
    routes: Vec<RouteConfig>,
    deviations: BTreeSet<server::Deviation>,
) -> server::Server {
    let config = ServerConfig {
        realm: "mppconf.test".into(),
        secret: b"a server secret that is long enough".to_vec(),
        rpc_url: w.chain.rpc_url.clone(),
        chain_id: w.chain.chain_id,
        fee_payer_key: Some(FEE_PAYER_KEY.into()),
        routes,
        deviations,
        choices: Default::default(),
    };
    server::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("server starts")
}

/// The receipt's reference is a mined transaction paying `route` exactly.
async fn assert_settled(w: &World, route: &RouteConfig, reference: &str) {
    let receipt = w
        .rpc
        .call("eth_getTransactionReceipt", json!([reference]))
        .await
        .unwrap();
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let logs: Vec<Log> = receipt["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Log::from_json)
        .collect();
    let request = ChargeRequest::from_json(&route.request(w.chain.chain_id)).unwrap();
    let effects = tempo_effects::effects_of_logs(&logs, request.currency);
    tempo_effects::verify(&request.required_transfers(), &effects, "test").unwrap();
    let total: U256 = effects.iter().map(|e| e.amount).sum();
    assert_eq!(
        total, request.amount,
        "no more than the amount moves: {effects:?}"
    );
}

#[tokio::test]
async fn reference_client_pays_reference_server_in_every_mode() {
    let w = world().await;
    let token: Address = PATH_USD.parse().unwrap();
    let merchant = Address::random();
    let mut memo_splits = route("/memo-splits", "10000", merchant);
    memo_splits.memo = Some(format!("0x{}", "42".repeat(32)));
    memo_splits.splits = vec![
        SplitConfig {
            amount: "1500".into(),
            recipient: Address::random().to_string(),
            memo: None,
        },
        SplitConfig {
            amount: "500".into(),
            recipient: Address::random().to_string(),
            memo: Some(format!("0x{}", "07".repeat(32))),
        },
    ];
    let mut sponsored = route("/sponsored", "2500", merchant);
    sponsored.fee_payer = true;
    sponsored.supported_modes = Some(vec!["pull".into()]);
    let mut push_only = route("/push-only", "700", merchant);
    push_only.supported_modes = Some(vec!["push".into()]);
    push_only.external_id = Some("order-7".into());
    let routes = vec![
        route("/pull", "1000", merchant),
        memo_splits,
        sponsored,
        push_only,
        route("/free", "0", merchant),
    ];
    let s = serve(&w, routes.clone(), BTreeSet::new()).await;

    for r in &routes {
        let before = tx::balance_of(&w.rpc, token, w.payer.address())
            .await
            .unwrap();
        let outcome = client::pay(&options(&w, format!("{}{}", s.url(), r.path)))
            .await
            .expect("paid");
        assert_eq!(outcome.status, 200, "{}: {}", r.path, outcome.body);
        let receipt = outcome.receipt.expect("a Payment-Receipt");
        assert_eq!(
            (receipt.status.as_str(), receipt.method.as_str()),
            ("success", "tempo")
        );
        let after = tx::balance_of(&w.rpc, token, w.payer.address())
            .await
            .unwrap();
        let amount: U256 = r.amount.parse().unwrap();
        match r.path.as_str() {
            "/free" => {
                assert_eq!(outcome.mode, "proof");
                assert_eq!(
                    receipt.reference, outcome.challenge_id,
                    "a proof's reference is the challenge id"
                );
                assert_eq!(before, after, "a proof moves nothing");
            }
            path => {
                assert_settled(&w, r, &receipt.reference).await;
                let spent = before - after;
                if path == "/sponsored" {
                    assert_eq!(spent, amount, "the sponsor pays the fee");
                } else {
                    assert!(spent > amount, "the payer pays amount and fee: {spent}");
                }
                let expected_mode = if path == "/push-only" { "push" } else { "pull" };
                assert_eq!(outcome.mode, expected_mode, "{path}");
                if path == "/push-only" {
                    assert_eq!(receipt.extra["externalId"], "order-7");
                }
            }
        }
    }
}

#[tokio::test]
async fn each_side_can_break_a_rule_on_purpose() {
    let w = world().await;
    let merchant = Address::random();
    let honest = serve(&w, vec![route("/pull", "1000", merchant)], BTreeSet::new()).await;
    let lax = serve(
        &w,
        vec![route("/pull", "1000", merchant)],
        [server::Deviation::AcceptWrongAmount].into(),
    )
    .await;

    // A client paying one unit short: the honest server refuses and
    // broadcasts nothing, the lax one takes it.
    let mut short = options(&w, format!("{}/pull", honest.url()));
    short.deviations.insert(client::Deviation::ShortAmount);
    let refused = client::pay(&short).await.unwrap();
    assert_eq!(refused.status, 402, "{}", refused.body);
    assert!(
        refused.body.contains("verification-failed"),
        "{}",
        refused.body
    );
    assert!(refused.receipt.is_none());
    short.url = format!("{}/pull", lax.url());
    assert_eq!(client::pay(&short).await.unwrap().status, 200);

    // A client that echoes a tampered request: invalid-challenge.
    let mut tamper = options(&w, format!("{}/pull", honest.url()));
    tamper.deviations.insert(client::Deviation::TamperRequest);
    let outcome = client::pay(&tamper).await.unwrap();
    assert_eq!(outcome.status, 402);
    assert!(
        outcome.body.contains("invalid-challenge"),
        "{}",
        outcome.body
    );

    // Two Authorization headers: 400.
    let mut two = options(&w, format!("{}/pull", honest.url()));
    two.deviations
        .insert(client::Deviation::TwoAuthorizationHeaders);
    assert_eq!(client::pay(&two).await.unwrap().status, 400);
}

#[tokio::test]
async fn the_client_refuses_what_it_must() {
    let w = world().await;
    let merchant = Address::random();
    let mut too_long_ago = route("/expired", "1000", merchant);
    too_long_ago.expires_in = 0;
    let s = serve(
        &w,
        vec![route("/pull", "5000", merchant), too_long_ago],
        BTreeSet::new(),
    )
    .await;

    let mut capped = options(&w, format!("{}/pull", s.url()));
    capped.max_amount = Some(U256::from(4999));
    let err = client::pay(&capped).await.unwrap_err();
    assert!(
        matches!(err, Error::Refused(_)) && err.to_string().contains("policy"),
        "{err}"
    );

    let mut plain = options(&w, format!("{}/pull", s.url()));
    plain.allow_http = false;
    assert!(
        client::pay(&plain)
            .await
            .unwrap_err()
            .to_string()
            .contains("plain http")
    );

    let expired = options(&w, format!("{}/expired", s.url()));
    assert!(
        client::pay(&expired)
            .await
            .unwrap_err()
            .to_string()
            .contains("expired")
    );

    let mut wrong_token = options(&w, format!("{}/pull", s.url()));
    wrong_token.currency = Some(Address::random());
    assert!(
        client::pay(&wrong_token)
            .await
            .unwrap_err()
            .to_string()
            .contains("token")
    );
}

#[tokio::test]
async fn a_server_with_a_non_conformant_route_does_not_start() {
    let w = world().await;
    let mut bad = route("/bad", "100", Address::random());
    bad.splits = vec![SplitConfig {
        amount: "100".into(),
        recipient: Address::random().to_string(),
        memo: None,
    }];
    let config = ServerConfig {
        realm: "r".into(),
        secret: b"secret".to_vec(),
        rpc_url: w.chain.rpc_url.clone(),
        chain_id: w.chain.chain_id,
        fee_payer_key: None,
        routes: vec![bad],
        deviations: BTreeSet::new(),
        choices: Default::default(),
    };
    let err = server::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("splits"), "{err}");
}

#[tokio::test]
async fn every_402_is_a_fresh_challenge() {
    let w = world().await;
    let s = serve(
        &w,
        vec![route("/pull", "1000", Address::random())],
        BTreeSet::new(),
    )
    .await;
    let http = reqwest::Client::new();
    let mut ids = BTreeSet::new();
    for _ in 0..5 {
        let r = http.get(format!("{}/pull", s.url())).send().await.unwrap();
        assert_eq!(r.status(), 402);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let field = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        ids.insert(mppconf_suite::codec::Challenge::parse(&field).unwrap().id);
    }
    assert_eq!(ids.len(), 5, "ids repeat: {ids:?}");
}

/// Processes whose command line mentions `needle` (zombies have none).
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

#[test]
fn serve_command_stops_its_anvil_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let port = mppconf_harness::chain::anvil::free_port().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Keep stdout open until the end: closing it would make the server's
    // later output fail.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let rpc = first
        .split(" at ")
        .nth(1)
        .expect("the rpc url is printed")
        .trim()
        .to_string();
    let anvil_port = rpc.rsplit(':').next().unwrap().to_string();
    assert!(
        !processes_mentioning(&format!("--port {anvil_port}")).is_empty(),
        "anvil runs"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    drop(lines);
    assert!(status.success(), "{status}");
    let left = processes_mentioning(&format!("--port {anvil_port}"));
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn a_port_in_use_is_one_clear_error() {
    let w = world().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = ServerConfig {
        realm: "r".into(),
        secret: b"secret".to_vec(),
        rpc_url: w.chain.rpc_url.clone(),
        chain_id: w.chain.chain_id,
        fee_payer_key: None,
        routes: vec![route("/pull", "1", Address::random())],
        deviations: BTreeSet::new(),
        choices: Default::default(),
    };
    let err = server::start(config, addr)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains(&addr.to_string()) && err.contains("in use"),
        "{err}"
    );
}

/// Signs a pull credential for `challenge` without sending it.
async fn pull_credential(w: &World, challenge: &mppconf_suite::codec::Challenge) -> String {
    let request = ChargeRequest::from_json(&challenge.request.value).unwrap();
    let (max_fee, priority) = tx::fee_params(&w.rpc).await.unwrap();
    let plan = tx::PaymentPlan {
        chain_id: request.chain_id,
        valid_before: tx::unix_now() + 25,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: priority,
        fee_token: Some(request.currency),
    };
    let signed = tx::sign_payment(tx::payment_calls(&request), &plan, &w.payer).unwrap();
    mppconf_suite::codec::Credential {
        challenge: mppconf_suite::codec::EchoedChallenge::echo_of(challenge),
        payload:
            json!({"type": "transaction", "signature": alloy::primitives::Bytes::from(signed.raw)})
                .as_object()
                .unwrap()
                .clone(),
        source: None,
        unknown: Default::default(),
    }
    .to_header()
}

#[tokio::test]
async fn concurrent_copies_of_one_credential_settle_once() {
    let w = world().await;
    let merchant = Address::random();
    let s = serve(&w, vec![route("/pull", "1000", merchant)], BTreeSet::new()).await;
    let http = reqwest::Client::new();
    let field = http
        .get(format!("{}/pull", s.url()))
        .send()
        .await
        .unwrap()
        .headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let challenge = mppconf_suite::codec::Challenge::parse(&field).unwrap();
    let credential = pull_credential(&w, &challenge).await;
    let attempts = (0..8).map(|_| {
        let req = http
            .get(format!("{}/pull", s.url()))
            .header("authorization", credential.clone());
        tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
    });
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 402),
        "{statuses:?}"
    );
    let token: Address = PATH_USD.parse().unwrap();
    assert_eq!(
        tx::balance_of(&w.rpc, token, merchant).await.unwrap(),
        U256::from(1000),
        "paid once"
    );
}

#[tokio::test]
async fn a_body_is_bound_by_its_digest() {
    let w = world().await;
    let mut post = route("/report", "1000", Address::random());
    post.method = "POST".into();
    let s = serve(&w, vec![post], BTreeSet::new()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/report", s.url());
    let first = http.post(&url).body("{\"q\":1}").send().await.unwrap();
    let field = first.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let challenge = mppconf_suite::codec::Challenge::parse(&field).unwrap();
    assert_eq!(
        challenge.digest.as_deref(),
        Some(mppconf_suite::codec::content_digest::compute_sha256(b"{\"q\":1}").as_str())
    );
    let credential = pull_credential(&w, &challenge).await;
    let other_body = http
        .post(&url)
        .header("authorization", &credential)
        .body("{\"q\":2}")
        .send()
        .await
        .unwrap();
    assert_eq!(other_body.status(), 402);
    assert!(other_body.text().await.unwrap().contains("digest"));
    // The reference client resends the same body and pays.
    let mut opts = options(&w, url);
    opts.http_method = "POST".into();
    opts.body = Some(b"{\"q\":1}".to_vec());
    assert_eq!(client::pay(&opts).await.unwrap().status, 200);
}

/// draft-httpauth-payment-01 by configuration: a route that selects
/// `Payment-Authorization` binds the header, takes the credential only
/// from that field and keeps every answer to it out of shared caches; the
/// -01 client sends it there, a -00 client (in `Authorization`) is not
/// paid for.
#[tokio::test]
async fn the_01_pair_moves_the_credential_to_payment_authorization() {
    use mppconf_suite::codec::{BindingSlots, Challenge};
    use mppconf_suite::drafts::CoreDraft;
    let w = world().await;
    let merchant = Address::random();
    let mut selected = route("/pa", "1000", merchant);
    selected.credential_header = Some("Payment-Authorization".into());
    let routes = vec![selected.clone(), route("/plain", "1000", merchant)];
    let secret = b"a server secret that is long enough".to_vec();
    let config = |core: CoreDraft, routes: Vec<RouteConfig>| ServerConfig {
        realm: "mppconf.test".into(),
        secret: secret.clone(),
        rpc_url: w.chain.rpc_url.clone(),
        chain_id: w.chain.chain_id,
        fee_payer_key: Some(FEE_PAYER_KEY.into()),
        routes,
        deviations: BTreeSet::new(),
        choices: server::Choices {
            core,
            ..Default::default()
        },
    };
    // A route cannot select the field under -00, nor select another one.
    let refused = config(CoreDraft::Draft00, routes.clone())
        .validate()
        .unwrap_err();
    assert!(
        refused.to_string().contains("draft-httpauth-payment-01"),
        "{refused}"
    );
    let mut other = selected.clone();
    other.credential_header = Some("X-Payment".into());
    assert!(config(CoreDraft::Draft01, vec![other]).validate().is_err());

    let s = server::start(
        config(CoreDraft::Draft01, routes),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let unpaid = http.get(format!("{}/pa", s.url())).send().await.unwrap();
    assert_eq!(unpaid.status(), 402);
    let field = unpaid.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let c = Challenge::parse(&field).unwrap();
    assert_eq!(c.header(), Some("Payment-Authorization"));
    assert_eq!(
        c.id,
        BindingSlots::of(&c, CoreDraft::Draft01).challenge_id(&secret)
    );
    assert_ne!(
        c.id,
        BindingSlots::of(&c, CoreDraft::Draft00).challenge_id(&secret)
    );

    let before = tx::balance_of(&w.rpc, PATH_USD.parse().unwrap(), w.payer.address())
        .await
        .unwrap();
    // The -00 client pays in Authorization: not the selected field, so
    // the server answers as if unpaid, and nothing is settled.
    let old = client::pay(&options(&w, format!("{}/pa", s.url())))
        .await
        .unwrap();
    assert_eq!(old.status, 402, "{}", old.body);
    assert!(old.body.contains("payment-required"), "{}", old.body);
    let after_old = tx::balance_of(&w.rpc, PATH_USD.parse().unwrap(), w.payer.address())
        .await
        .unwrap();
    assert_eq!(
        before, after_old,
        "a credential in the wrong field moved money"
    );

    let new = |path: &str| PayOptions {
        core: CoreDraft::Draft01,
        ..options(&w, format!("{}{path}", s.url()))
    };
    for path in ["/pa", "/plain"] {
        let outcome = client::pay(&new(path)).await.unwrap();
        assert_eq!(outcome.status, 200, "{path}: {}", outcome.body);
        assert!(outcome.receipt.is_some());
    }

    // Two credentials in the selected field: 400, and private (§"Caching":
    // a credential outside Authorization).
    let two = http
        .get(format!("{}/pa", s.url()))
        .header("payment-authorization", "Payment e30")
        .header("payment-authorization", "Payment e30")
        .send()
        .await
        .unwrap();
    assert_eq!(two.status(), 400);
    assert_eq!(two.headers()["cache-control"], "private");
}
