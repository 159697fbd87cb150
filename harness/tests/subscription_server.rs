//! The Tempo subscription server checks (draft-tempo-subscription-00)
//! against the reference subscription server on a local tempo-mode anvil
//! at t4: every check passes against the honest one (activation with the
//! first period's charge, on chain), and each subscription deviation is
//! caught by the check that names it, and by no other.

mod reference_runs;

use std::collections::BTreeSet;

use mppconf_harness::reference::server::Deviation;

/// The reference subscription run with `deviations`: the checks that did
/// not pass, and a summary for messages.
async fn subscription_suite(deviations: &[Deviation]) -> (BTreeSet<&'static str>, String) {
    reference_runs::not_passing("tempo-subscription", deviations, &[]).await
}

#[tokio::test]
async fn every_check_passes_against_the_reference_subscription_server() {
    let (failing, summary) = subscription_suite(&[]).await;
    assert!(failing.is_empty(), "{summary}");
    for check in mppconf_harness::server_suite::tempo_subscription::CHECKS {
        assert!(
            summary
                .lines()
                .any(|l| l.starts_with("pass") && l.contains(&format!(" {}: ", check.id))),
            "{} did not pass:\n{summary}",
            check.id
        );
    }
    // The activation is judged on chain by the plug-in (paid.receipt).
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("pass") && l.contains(" paid.receipt: ")),
        "{summary}"
    );
}

#[tokio::test]
async fn each_subscription_deviation_is_caught_by_its_check() {
    use Deviation::*;
    let cases: [(Deviation, &[&str]); 9] = [
        (
            SubscriptionIgnoreExpiry,
            &["subscription.later-expiry-refused"],
        ),
        (
            SubscriptionIgnoreChain,
            &["subscription.other-chain-refused"],
        ),
        (
            SubscriptionIgnoreAccessKey,
            &["subscription.other-access-key-refused"],
        ),
        (
            SubscriptionIgnoreLimit,
            &["subscription.other-limit-refused"],
        ),
        (
            SubscriptionIgnoreCallScope,
            &["subscription.broader-scope-refused"],
        ),
        (
            SubscriptionTrustSource,
            &["subscription.unbacked-source-refused"],
        ),
        (
            SubscriptionRequireMemoScope,
            &["subscription.transfer-only-accepted"],
        ),
        (SubscriptionReceiptWithoutId, &["paid.receipt"]),
        (
            SubscriptionSharedAccessKey,
            &["subscription.access-key-per-subscription"],
        ),
    ];
    for (deviation, flagged) in cases {
        let (failing, summary) = subscription_suite(&[deviation]).await;
        let expected: BTreeSet<&str> = flagged.iter().copied().collect();
        assert_eq!(failing, expected, "{deviation:?}:\n{summary}");
    }
}
