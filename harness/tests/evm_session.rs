//! The EVM session server checks (draft-evm-session-00, hash opens)
//! against the reference EVM session server on a plain local anvil with
//! mppconf's token and `EvmPaymentChannel` escrow: every check passes
//! against the honest one, and each deviation an EVM session server can
//! have is caught by the check that names it, and by no other.

mod reference_runs;

use std::collections::BTreeSet;

use mppconf_harness::reference::server::Deviation;

async fn evm_session_suite(
    deviations: &[Deviation],
    filter: &[&str],
) -> (BTreeSet<&'static str>, String) {
    reference_runs::not_passing("evm-session", deviations, filter).await
}

/// The deviations an EVM session server can have, and the checks that
/// flag each.
fn evm_session_flags(d: Deviation) -> Option<&'static [&'static str]> {
    use Deviation::*;
    Some(match d {
        SessionSkipSignerCheck => &[
            "evm-session.foreign-signature-refused",
            "evm-session.stale-forged-voucher-refused",
            "evm-session.forged-close-refused",
        ],
        // The concurrent copies after the first are replays too.
        SessionServeReplayedVoucher => &[
            "evm-session.stale-voucher-pays-nothing",
            "evm-session.concurrent-requests-bounded",
        ],
        SessionIgnoreDeposit => &["evm-session.voucher-above-deposit-refused"],
        SessionSkipPayeeCheck => &["evm-session.open-other-payee-refused"],
        SessionServeClosedChannel => &["evm-session.closed-channel-refused"],
        EvmSessionIgnoreTxStatus => &["evm-session.open-reverted-transaction-refused"],
        EvmSessionReplayBeforeSignature => &[
            "evm-session.stale-forged-voucher-refused",
            "evm-session.forged-close-refused",
        ],
        EvmSessionCloseHighest => &["evm-session.close-pays-close-voucher"],
        EvmSessionTrustTopUpAmount => &["evm-session.top-up-verified"],
        EvmSessionIgnoreMinDelta => &["evm-session.min-voucher-delta"],
        EvmSessionCloseUnverified => &["evm-session.forged-close-refused"],
        SessionAcceptHighS => &["evm-session.high-s-refused"],
        SessionIgnoreCloseRequest => &["evm-session.close-requested-voucher-refused"],
        SessionRacyAccounting => &["evm-session.concurrent-requests-bounded"],
        SessionIgnoreIdempotencyKey => &["evm-session.idempotent-retry-not-charged"],
        _ => return None,
    })
}

#[tokio::test]
async fn every_check_passes_against_the_reference_evm_session_server() {
    let (failing, summary) = evm_session_suite(&[], &[]).await;
    assert!(failing.is_empty(), "{summary}");
    let ids = mppconf_harness::server_suite::evm_session::CHECKS
        .iter()
        .map(|c| c.id)
        .chain(["paid.receipt", "method.request-rules"]);
    for id in ids {
        assert!(
            summary
                .lines()
                .any(|l| l.starts_with("pass") && l.contains(&format!(" {id}: "))),
            "{id} did not pass:\n{summary}"
        );
    }
}

#[tokio::test]
async fn each_evm_session_deviation_is_caught_by_its_check_and_no_other() {
    let checks = ["evm-session."];
    for d in Deviation::ALL {
        if d.name().starts_with("evm-session-") {
            assert!(evm_session_flags(d).is_some(), "{} has no check", d.name());
        }
        let Some(flagged) = evm_session_flags(d) else {
            continue;
        };
        let (failing, summary) = evm_session_suite(&[d], &checks).await;
        let flagged: BTreeSet<&str> = flagged.iter().copied().collect();
        assert_eq!(failing, flagged, "{}:\n{summary}", d.name());
    }
}

/// A route the reference server cannot serve as an EVM session is refused
/// before it starts, naming the route and the setting.
#[test]
fn a_misconfigured_evm_session_route_is_refused_by_name() {
    use alloy::primitives::Address;
    use alloy::signers::local::PrivateKeySigner;
    use mppconf_harness::reference::server::{RouteConfig, ServerConfig};
    let route = || {
        let mut route = RouteConfig::evm_session(
            "/metered",
            "1000",
            &PrivateKeySigner::random().to_bytes().to_string(),
        );
        route.currency = Address::random().to_string();
        if let Some(session) = route.session.as_mut() {
            session.escrow_contract = Address::random().to_string();
        }
        route
    };
    let refusal = |route: RouteConfig| {
        ServerConfig {
            realm: "mppconf.test".into(),
            secret: b"a server secret that is long enough".to_vec(),
            rpc_url: "http://127.0.0.1:1".into(),
            chain_id: 31337,
            fee_payer_key: None,
            routes: vec![route],
            deviations: Default::default(),
            choices: Default::default(),
        }
        .validate()
        .err()
        .map(|e| e.to_string())
    };
    assert_eq!(refusal(route()), None);
    let mut other_recipient = route();
    other_recipient.recipient = Address::random().to_string();
    let e = refusal(other_recipient).expect("refused");
    assert!(
        e.contains("route /metered") && e.contains("session.payee_key is the key of"),
        "{e}"
    );
    let mut streaming = route();
    if let Some(session) = streaming.session.as_mut() {
        session.stream_units = Some(5);
    }
    let e = refusal(streaming).expect("refused");
    assert!(
        e.contains("route /metered") && e.contains("session.stream_units"),
        "{e}"
    );
}
