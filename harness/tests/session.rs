//! The Tempo session server checks (draft-tempo-session-00, v1 on
//! mppconf's escrow) against the reference session server: every check
//! passes against the honest one, and each session deviation is caught by
//! the session check that names it, and by no other check.

mod reference_runs;

use std::collections::BTreeSet;

use mppconf_harness::reference::server::Deviation;

/// The reference session run with `deviations`: the checks that did not
/// pass, and a summary for messages.
async fn session_suite(
    deviations: &[Deviation],
    filter: &[&str],
) -> (BTreeSet<&'static str>, String) {
    reference_runs::not_passing("tempo-session", deviations, filter).await
}

/// The session deviations and the check that flags each.
fn session_flags(d: Deviation) -> Option<&'static str> {
    use Deviation::*;
    Some(match d {
        SessionSkipSignerCheck => "session.foreign-signature-refused",
        SessionServeReplayedVoucher => "session.stale-voucher-pays-nothing",
        SessionIgnoreDeposit => "session.voucher-above-deposit-refused",
        SessionAcceptHighS => "session.high-s-refused",
        SessionRacyAccounting => "session.concurrent-requests-bounded",
        SessionCloseSettlesLess => "session.close-settles-spent",
        SessionSkipPayeeCheck => "session.open-other-payee-refused",
        SessionServeClosedChannel => "session.closed-channel-refused",
        SessionSkipTokenCheck => "session.open-other-token-refused",
        SessionAnyEscrow => "session.open-other-escrow-refused",
        SessionIgnoreCloseRequest => "session.close-requested-voucher-refused",
        SessionStreamIgnoresBalance => "session.stream-pauses-for-voucher",
        SessionMemoryOnly => "session.restart-keeps-accounting",
        SessionNoHead => "session.head-voucher-accepted",
        SessionIgnoreIdempotencyKey => "session.idempotent-retry-not-charged",
        SessionSponsorBeforeValidating => "session.sponsored-open-validated-first",
        SessionSponsorExtraCalls => "session.sponsored-extra-calls-refused",
        SessionNoSettleOnCloseRequest => "session.settles-on-close-request",
        _ => return None,
    })
}

#[tokio::test]
async fn every_check_passes_against_the_reference_session_server() {
    let (failing, summary) = session_suite(&[], &[]).await;
    assert!(failing.is_empty(), "{summary}");
    for id in [
        "session.open-and-vouchers-paid",
        "session.close-settles-spent",
        "session.min-voucher-delta",
    ] {
        assert!(
            summary
                .lines()
                .any(|l| l.starts_with("pass") && l.contains(&format!(" {id}: "))),
            "{id} did not pass:\n{summary}"
        );
    }
}

#[tokio::test]
async fn each_session_deviation_is_caught_by_its_check_and_no_other() {
    let session_checks = ["session."];
    for d in Deviation::ALL {
        let Some(check) = session_flags(d) else {
            continue;
        };
        let (failing, summary) = session_suite(&[d], &session_checks).await;
        assert_eq!(failing, BTreeSet::from([check]), "{}:\n{summary}", d.name());
    }
}
