//! What the tests of a payment method's reference run share: the run with
//! deviations, read as the checks that did not pass.

use std::collections::BTreeSet;

use mppconf_harness::reference::server::Deviation;
use mppconf_harness::report::progress::Silent;
use mppconf_harness::server_suite::command;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::vectors::Verdict;

/// The reference run of `payment_method` (its `--payment-method`) with
/// `deviations` and the checks of `filter` (all if empty): the checks that
/// did not pass (fail, warn, lenient), and a summary for messages. A
/// harness error fails the test.
pub async fn not_passing(
    payment_method: &str,
    deviations: &[Deviation],
    filter: &[&str],
) -> (BTreeSet<&'static str>, String) {
    let selection = mppconf_harness::report::Selection {
        filter: filter.iter().map(|f| f.to_string()).collect(),
        ..Default::default()
    };
    let deviations: BTreeSet<Deviation> = deviations.iter().copied().collect();
    let runs = command::run_reference_method(
        payment_method,
        CoreDraft::Draft00,
        &deviations,
        &selection,
        &mut Silent,
    )
    .await
    .unwrap();
    let results: Vec<_> = runs.iter().flat_map(|r| &r.results).collect();
    let summary = results
        .iter()
        .map(|c| {
            format!(
                "{:<8} {}: {}",
                c.verdict.as_str(),
                c.id,
                c.detail.replace('\n', " | ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        results.iter().all(|c| c.verdict != Verdict::Error),
        "harness errors:\n{summary}"
    );
    let failing = results
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Warn | Verdict::Lenient))
        .map(|c| c.id)
        .collect();
    (failing, summary)
}
