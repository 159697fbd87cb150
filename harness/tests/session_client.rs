//! The session client suite judged against the reference client: it
//! passes every session check, and each of its session deviations is
//! flagged by exactly the check that names it (a skip is no finding: a
//! refused open leaves the later checks nothing to judge, and says so).

use std::collections::{BTreeMap, BTreeSet};

use mppconf_harness::client_suite::ClientUnderTest;
use mppconf_harness::client_suite::command::{ClientCheckResult, run_client_of};
use mppconf_harness::methods::tempo_session::TempoSession;
use mppconf_harness::reference::client::Deviation;
use mppconf_harness::report::Selection;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::vectors::Verdict;

async fn run(deviations: BTreeSet<Deviation>) -> Vec<ClientCheckResult> {
    run_client_of(
        &ClientUnderTest::Reference { deviations },
        &Selection::all(),
        CoreDraft::Draft00,
        &TempoSession,
        |_| {},
    )
    .await
    .unwrap()
    .results
}

fn flagged(results: &[ClientCheckResult]) -> BTreeMap<&'static str, (Verdict, String)> {
    results
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::Pass | Verdict::Skip))
        .map(|r| (r.id, (r.verdict, r.detail.clone())))
        .collect()
}

#[tokio::test]
async fn the_reference_client_passes_every_session_check() {
    let results = run(BTreeSet::new()).await;
    assert_eq!(results.len(), 16);
    for r in &results {
        assert_eq!(r.verdict, Verdict::Pass, "{}: {}", r.id, r.detail);
    }
}

fn expected(d: Deviation) -> &'static str {
    use Deviation::*;
    match d {
        SessionWrongChannelId => "session.channel-id",
        SessionWrongDomain => "session.voucher-signatures",
        SessionOtherEscrow => "session.open-as-challenged",
        SessionUppercaseHex => "session.payloads-valid",
        SessionRepeatVoucher => "session.monotonic",
        SessionIgnoreNeedVoucher => "session.pays-when-asked",
        SessionSkipTopUp => "session.tops-up",
        SessionVoucherBeforeTopUp => "session.within-deposit",
        SessionIgnoreBudget => "session.within-budget",
        SessionTrustAccepted => "session.own-accounting",
        SessionPayWithoutDelivery => "session.stops-without-delivery",
        SessionNoClose => "session.closes",
        SessionNoIdempotencyKey => "session.idempotency-key",
        SessionSelfPaidWhenSponsored => "session.sponsored-placeholder",
        SessionAsksSponsorship => "session.client-paid-fees",
        SessionResumeUnchecked => "session.suggested-channel-funds-checked",
        other => panic!("{} is not a session deviation", other.name()),
    }
}

#[tokio::test]
async fn each_session_deviation_is_flagged_by_its_check_and_no_other() {
    let mut wrong = Vec::new();
    for d in Deviation::SESSION {
        let flagged = flagged(&run(BTreeSet::from([d])).await);
        let got: BTreeSet<&str> = flagged.keys().copied().collect();
        if got != BTreeSet::from([expected(d)]) {
            wrong.push(format!("{}: flagged {flagged:?}", d.name()));
        }
        for (id, (verdict, detail)) in &flagged {
            assert!(
                matches!(verdict, Verdict::Fail | Verdict::Warn),
                "{}: {id} is {verdict:?}, not a finding: {detail}",
                d.name()
            );
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
