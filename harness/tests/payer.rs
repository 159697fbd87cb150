//! Bring your own payer: a server of a method mppconf cannot pay by itself
//! gets every core check through a payer program (the payer ABI), the
//! `stub` method's own payer is built in, a payer that breaks the ABI is
//! an `error` naming it (never a pass), and a server of an unknown method
//! without a payer gets `skip` with the reason, with no chain started.

use std::net::SocketAddr;
use std::process::Output;

use mppconf_harness::reference::server::{self, Deviation, RouteConfig, ServerConfig};
use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The reference server with one stub route (GET /paid; no chain: stub
/// routes settle nothing).
async fn stub_server(deviations: &[Deviation]) -> server::Server {
    stub_server_with(deviations, vec![]).await
}

/// [`stub_server`] with more routes.
async fn stub_server_with(deviations: &[Deviation], more: Vec<RouteConfig>) -> server::Server {
    let mut routes = vec![RouteConfig::stub(
        "/paid",
        "1000",
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    )];
    routes.extend(more);
    let config = ServerConfig {
        realm: "stub.test".into(),
        secret: b"a stub server secret, long enough".to_vec(),
        rpc_url: "http://127.0.0.1:1".into(),
        chain_id: 31337,
        fee_payer_key: None,
        routes,
        deviations: deviations.iter().copied().collect(),
        choices: Default::default(),
    };
    server::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

/// `mppconf server --url URL --path /paid ARGS…` with a report; its exit
/// code, output and report.
async fn suite(url: String, args: &[&str]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("report");
    let mut argv: Vec<String> = [
        "server",
        "--url",
        &url,
        "--path",
        "/paid",
        "--report-dir",
        report_dir.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(args.iter().map(|s| s.to_string()));
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mppconf"))
            .args(&argv)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = std::fs::read_to_string(report_dir.join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (output, report)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `id` → (verdict, detail) of every check in a report.
fn verdicts(report: &Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["id"].as_str().unwrap().to_string(),
                        c["verdict"].as_str().unwrap().to_string(),
                        c["detail"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn payer(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stub_method_gets_every_core_check_with_the_built_in_payer_and_with_payer_programs() {
    let s = stub_server(&[]).await;
    for extra in [
        vec![],
        vec![
            "--payer".to_string(),
            payer("payers/stub-python/payer.json"),
        ],
        vec!["--payer".to_string(), payer("payers/stub-node/payer.json")],
    ] {
        let args: Vec<&str> = extra.iter().map(String::as_str).collect();
        let (o, report) = suite(s.url(), &args).await;
        assert_eq!(o.status.code(), Some(0), "{args:?}\n{}", text(&o));
        let all = verdicts(&report);
        assert_eq!(
            all.len(),
            mppconf_harness::server_suite::core::CHECKS.len()
                + mppconf_harness::server_suite::charge::CHECKS.len()
                + mppconf_harness::server_suite::discovery::CHECKS.len(),
            "every core, charge-intent and discovery check ran, and no Tempo check: {all:?}"
        );
        for (id, verdict, detail) in &all {
            // Challenges that expire in 300 s (too long to wait out), no
            // body to bind, one resource, a GET (idempotent, no
            // Idempotency-Key), no secret given, no probe route declared:
            // nothing to check for those. A plain-HTTP loopback target
            // gets `info` for TLS (its discovery document too), and no TLS
            // version to judge.
            let expected = if [
                "expiry.expired-rejected",
                "digest.other-body-rejected",
                "binding.cross-resource",
                "idempotency.retry-same-answer",
                "challenge.id-hmac",
                "transport.tls13",
                "policy.denied-403",
                "receipt.only-2xx",
                "side-effects.none-unpaid",
                "auth.before-payment",
                // A GET: its input is parameters, no request body.
                "discovery.input-schema",
            ]
            .contains(&id.as_str())
            {
                "skip"
            } else if id.starts_with("transport.") || id == "discovery.https" {
                "info"
            } else {
                "pass"
            };
            assert_eq!(verdict, expected, "{args:?} {id}: {detail}");
        }
        let target = report["target"].as_str().unwrap();
        match extra.last() {
            None => assert!(
                target.contains("[method: stub (no settlement)]"),
                "{target}"
            ),
            Some(_) => assert!(target.contains("paid by stub-"), "{target}"),
        }
        // No chain for a method that settles nowhere the harness can see.
        assert!(!text(&o).contains("started anvil"), "{}", text(&o));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_stub_servers_are_flagged_by_the_checks_that_name_them() {
    for (deviation, expected) in [
        (
            Deviation::SkipReplayCheck,
            &[
                "replay.rejected",
                "concurrency.settles-once",
                "idempotency.new-key-no-replay",
            ][..],
        ),
        (
            // Accepts echoed challenges as they come: another realm, a
            // cheaper request.
            Deviation::SkipEchoCheck,
            &[
                "tamper.request",
                "tamper.realm",
                "tamper.expires",
                "tamper.opaque",
                "forged-id.invalid-challenge",
            ][..],
        ),
        (Deviation::NoCacheControl, &["unpaid.cache-no-store"][..]),
    ] {
        let s = stub_server(&[deviation]).await;
        let (o, report) = suite(s.url(), &[]).await;
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let mut flagged: Vec<String> = verdicts(&report)
            .into_iter()
            .filter(|(_, v, _)| v == "fail" || v == "warn")
            .map(|(id, _, _)| id)
            .collect();
        flagged.sort();
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(flagged, expected, "{}", deviation.name());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payer_that_breaks_the_abi_is_an_error_naming_it_never_a_pass() {
    let s = stub_server(&[]).await;
    for (name, verdict, says) in [
        ("crash", "error", "the process closed its output"),
        ("hang", "error", "no answer within"),
        ("garbage", "error", "its answer is not JSON"),
        (
            "other-challenge",
            "error",
            "it paid challenge \"another-challenge\"",
        ),
        ("declines", "blocked", "declined (insufficient_funds)"),
    ] {
        let manifest = payer(&format!("tests/fixtures/payers/{name}.json"));
        let (o, report) = suite(
            s.url(),
            &[
                "--payer",
                &manifest,
                "--filter",
                "replay.rejected",
                "--filter",
                "paid.receipt",
            ],
        )
        .await;
        let all = verdicts(&report);
        assert_eq!(all.len(), 2, "{name}: {all:?}\n{}", text(&o));
        for (id, v, detail) in &all {
            assert_eq!(v, verdict, "{name} {id}: {detail}");
            assert!(
                detail.contains(&format!("payer broken-{name}")) && detail.contains(says),
                "{name} {id}: {detail}"
            );
        }
        let code = if verdict == "error" { 3 } else { 0 };
        assert_eq!(o.status.code(), Some(code), "{name}: {}", text(&o));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_method_without_support_or_payer_is_skipped_with_the_reason() {
    // A scripted server of a method mppconf cannot pay (no chain needed).
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(402)
                .insert_header(
                    "www-authenticate",
                    "Payment id=\"abc\", realm=\"shop.test\", method=\"stripe\", intent=\"charge\", request=\"eyJhbW91bnQiOiIxMDAwIiwiY3VycmVuY3kiOiJ1c2QifQ\", expires=\"2999-01-01T00:00:00Z\"",
                )
                .insert_header("cache-control", "no-store"),
        )
        .mount(&server)
        .await;
    let (o, report) = suite(server.uri(), &[]).await;
    let out = text(&o);
    assert!(!out.contains("started anvil"), "{out}");
    let all = verdicts(&report);
    let needs_payment = ["paid.receipt", "replay.rejected", "tamper.request"];
    for (id, v, detail) in &all {
        if needs_payment.contains(&id.as_str()) {
            assert_eq!(v, "skip", "{id}: {detail}");
            assert!(
                detail.contains("no built-in support for method stripe: give a payer"),
                "{id}: {detail}"
            );
        }
        // Stripe is judged by data: its own checks name the rail they need.
        if id == "method.unsupported" {
            assert_eq!(v, "skip", "{id}: {detail}");
            assert!(
                detail.starts_with("needs a live stripe api: give --payer"),
                "{id}: {detail}"
            );
        }
    }
    assert!(all.iter().any(|(id, _, _)| id == "method.unsupported"));
    // What needs no payment is judged: this server fails some of it.
    assert!(
        all.iter()
            .any(|(id, v, _)| id == "unpaid.status-402" && v == "pass")
    );
    assert!(
        all.iter()
            .any(|(id, v, _)| id == "unpaid.fresh-challenge" && v == "fail")
    );
    // A payer that says it pays stub only is refused up front for stripe.
    let (o, _) = suite(
        server.uri(),
        &["--payer", &payer("payers/stub-python/payer.json")],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("does not pay method stripe"),
        "{}",
        text(&o)
    );
}

/// A server whose challenges name another chain (SDK servers default to
/// 42431 or 4217) gets a local chain with that id, so that the checks that
/// settle can run instead of being blocked on a chain mismatch.
#[tokio::test(flavor = "multi_thread")]
async fn the_local_chain_takes_the_chain_id_the_challenges_name() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(402).insert_header(
            "www-authenticate",
            "Payment id=\"abc\", realm=\"chain.test\", method=\"tempo\", intent=\"charge\", request=\"eyJhbW91bnQiOiIxMDAwIiwiY3VycmVuY3kiOiIweDIwYzAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAiLCJtZXRob2REZXRhaWxzIjp7ImNoYWluSWQiOjQyNDMxfSwicmVjaXBpZW50IjoiMHgzQzQ0Q2REZEI2YTkwMGZhMmI1ODVkZDI5OWUwM2QxMkZBNDI5M0JDIn0\", expires=\"2999-01-01T00:00:00Z\"",
        ))
        .mount(&server)
        .await;
    let (o, _) = suite(server.uri(), &["--filter", "unpaid.status-402"]).await;
    assert!(text(&o).contains("(chain id 42431)"), "{}", text(&o));
}

/// `--path` twice: each resource is presented the other's credential (a
/// cheap resource's credential at an expensive one), which a server that
/// does not compare the echo with the resource accepts.
#[tokio::test(flavor = "multi_thread")]
async fn a_credential_for_a_cheap_resource_is_refused_at_an_expensive_one() {
    let cheap = || RouteConfig::stub("/cheap", "1", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
    for (deviations, expected) in [(vec![], "pass"), (vec![Deviation::SkipEchoCheck], "fail")] {
        let s = stub_server_with(&deviations, vec![cheap()]).await;
        let (o, report) = suite(
            s.url(),
            &["--path", "/cheap", "--filter", "binding.cross-resource"],
        )
        .await;
        let all = verdicts(&report);
        assert_eq!(all.len(), 2, "{}", text(&o));
        for (id, verdict, detail) in &all {
            assert_eq!(id, "binding.cross-resource");
            assert_eq!(verdict, expected, "{deviations:?}: {detail}");
        }
    }
}
