//! The server suite against the reference server: everything passes
//! against the honest one, and each deviation switch is caught by the
//! check that names it, and by no other check.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use mppconf_harness::chain::{Anvil, AnvilConfig, RpcProxy};
use mppconf_harness::probe::{self, Ctx, Target, command};
use mppconf_harness::reference::server::{self, Deviation, ServerConfig};
use mppconf_harness::reference::tx;
use mppconf_suite::vectors::Verdict;

const PATH_USD: &str = "0x20c0000000000000000000000000000000000000";

/// Runs the suite against a reference server with `deviations`; returns
/// the ids of the checks that did not pass (fail or warn), and all
/// verdicts for messages.
async fn suite(
    chain: &Anvil,
    deviations: &[Deviation],
    filter: &[String],
) -> (BTreeSet<&'static str>, String) {
    let proxy = Arc::new(
        RpcProxy::start(&chain.rpc_url, Duration::from_secs(5))
            .await
            .unwrap(),
    );
    let config = ServerConfig {
        realm: "mppconf.test".into(),
        secret: b"a server secret that is long enough".to_vec(),
        rpc_url: proxy.url(),
        chain_id: chain.chain_id,
        fee_payer_key: None,
        routes: vec![command::reference_route()],
        deviations: deviations.iter().copied().collect(),
        choices: Default::default(),
    };
    let s = server::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let token: Address = PATH_USD.parse().unwrap();
    let payer = tx::fresh_payer(&chain.rpc(), token, U256::from(1_000_000_000u64))
        .await
        .unwrap();
    let target = Target {
        base_url: s.url(),
        path: command::REFERENCE_PATH.into(),
        method: "POST".into(),
        body: Some(command::REFERENCE_BODY.as_bytes().to_vec()),
        rpc_url: chain.rpc_url.clone(),
    };
    let ctx = Ctx::new(target, payer, Some(proxy));
    let results = probe::run_all(&ctx, filter, |_| {}).await;
    let summary = results
        .iter()
        .map(|r| {
            format!(
                "{:<8} {}: {}",
                r.verdict.as_str(),
                r.id,
                r.detail.replace('\n', " | ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        results.iter().all(|r| r.verdict != Verdict::Error),
        "harness errors:\n{summary}"
    );
    let failing = results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Warn))
        .map(|r| r.id)
        .collect();
    (failing, summary)
}

#[tokio::test]
async fn every_check_passes_against_the_reference_server() {
    let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
    let (failing, summary) = suite(&chain, &[], &[]).await;
    assert!(failing.is_empty(), "{summary}");
    assert!(
        !summary.contains("blocked") && !summary.contains("skip "),
        "{summary}"
    );
}

#[tokio::test]
async fn each_deviation_is_caught_by_the_check_that_names_it() {
    let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
    let expectations: &[(Deviation, &[&str])] = &[
        (Deviation::NoCacheControl, &["unpaid.cache-no-store"]),
        (Deviation::NoPrivateCache, &["paid.receipt"]),
        (
            Deviation::SkipReplayCheck,
            &[
                "replay.rejected",
                "concurrency.settles-once",
                "push.hash-reused-rejected",
            ],
        ),
        (
            Deviation::SkipBindingCheck,
            &[
                "forged-id.invalid-challenge",
                "tamper.expires",
                "tamper.opaque",
            ],
        ),
        (
            // It skips every check of what the payment moves.
            Deviation::AcceptWrongAmount,
            &[
                "pull.short-amount-rejected",
                "pull.short-split-rejected",
                "pull.wrong-memo-rejected",
                "pull.wrong-recipient-rejected",
                "pull.wrong-token-rejected",
                "push.short-amount-rejected",
            ],
        ),
        (Deviation::ReceiptOnError, &["errors.no-receipt"]),
        (Deviation::EchoCredential, &["errors.credential-not-echoed"]),
        (Deviation::EmptyId, &["challenge.id-non-empty"]),
        (Deviation::NoRealm, &["challenge.realm-present"]),
        (Deviation::PaddedRequest, &["challenge.request-unpadded"]),
        (Deviation::NonCanonicalRequest, &["challenge.request-jcs"]),
        (
            Deviation::GenericProblemType,
            &[
                "malformed.not-base64url",
                "malformed.padded",
                "malformed.standard-alphabet",
                "malformed.not-json",
                "malformed.not-an-object",
                "malformed.no-challenge",
                "malformed.no-payload",
                "malformed.oversized-64kb",
                "forged-id.invalid-challenge",
                "replay.rejected",
            ],
        ),
        (
            Deviation::AcceptSeveralCredentials,
            &["several-credentials.400"],
        ),
    ];
    // The expiry check waits for a challenge to expire: run it only where
    // it is the one expected to fail, to keep the test short.
    let all_but_expiry: Vec<String> = probe::checks::ALL
        .iter()
        .map(|c| c.id.to_string())
        .filter(|id| !id.starts_with("expiry."))
        .collect();
    let (failing, summary) = suite(&chain, &[Deviation::IgnoreExpiry], &[]).await;
    assert_eq!(
        failing,
        BTreeSet::from(["expiry.expired-rejected"]),
        "ignore-expiry:\n{summary}"
    );
    for (deviation, expected) in expectations {
        let (failing, summary) = suite(&chain, &[*deviation], &all_but_expiry).await;
        let expected: BTreeSet<&str> = expected.iter().copied().collect();
        assert_eq!(failing, expected, "{}:\n{summary}", deviation.name());
    }
}
