//! The escrow suite (draft-evm-session-00 §"Channel Escrow Contract")
//! against mppconf's reference EVM session escrow on a plain local anvil:
//! every check passes against the honest contract, each of the deviating
//! twin's broken rules is caught by the check that names it and by no
//! other, and an escrow given as creation code is deployed and judged the
//! same way.

use std::collections::BTreeSet;

use mppconf_harness::chain::contracts::{self, EVM_PAYMENT_CHANNEL};
use mppconf_harness::chain::evm::LocalEvm;
use mppconf_harness::escrow_suite::command::{DEVIATIONS, Subject, deploy, grace_period_of};
use mppconf_harness::escrow_suite::{EscrowCtx, all_checks, run_all};
use mppconf_harness::report::Selection;
use mppconf_harness::report::progress::Silent;
use mppconf_suite::vectors::Verdict;

/// The suite against `subject` on `chain`: the checks that did not pass
/// (with their verdicts), and every detail for messages.
async fn judge(chain: &LocalEvm, subject: &Subject) -> (BTreeSet<(&'static str, Verdict)>, String) {
    let rpc = chain.chain.rpc();
    let escrow = deploy(&rpc, subject).await.unwrap();
    let grace = grace_period_of(&rpc, escrow).await;
    assert_eq!(grace, Some(900), "the reference escrow's grace period");
    let ctx = EscrowCtx::prepare(rpc, escrow, chain.chain.token, grace)
        .await
        .unwrap();
    let results = run_all(&ctx, &Selection::all(), &mut Silent).await;
    assert_eq!(results.len(), all_checks().len());
    let summary = results
        .iter()
        .map(|r| format!("{} {}: {}", r.verdict.as_str(), r.id, r.detail))
        .collect::<Vec<_>>()
        .join("\n");
    let findings = results
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .map(|r| (r.id, r.verdict))
        .collect();
    (findings, summary)
}

#[tokio::test]
async fn the_reference_escrow_passes_and_each_deviation_fails_its_own_check() {
    let chain = LocalEvm::start().await.unwrap();
    let (findings, summary) = judge(&chain, &Subject::Reference { deviation: None }).await;
    assert!(findings.is_empty(), "the reference escrow:\n{summary}");
    for (name, _, check) in DEVIATIONS {
        let (findings, summary) = judge(
            &chain,
            &Subject::Reference {
                deviation: Some(name.to_string()),
            },
        )
        .await;
        let mut expected: BTreeSet<(&str, Verdict)> = [(*check, Verdict::Fail)].into();
        match *name {
            // No "already exists" check at all: a closed channel's id
            // opens again too.
            "open-overwrites" => {
                expected.insert(("escrow.open.no-reopen-after-close", Verdict::Fail));
            }
            // With no close request needed, a cancelled one cannot be
            // told apart: blocked, pointing to the check that failed.
            "withdraw-without-request" => {
                expected.insert(("escrow.topup.cancels-close", Verdict::Blocked));
            }
            _ => {}
        }
        assert_eq!(findings, expected, "deviation {name}:\n{summary}");
    }
}

#[tokio::test]
async fn an_escrow_given_as_creation_code_is_deployed_and_judged() {
    let chain = LocalEvm::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("escrow.hex");
    let artifact = contracts::artifact(&EVM_PAYMENT_CHANNEL).unwrap();
    std::fs::write(
        &file,
        format!("0x{}\n", alloy::hex::encode(&artifact.bytecode)),
    )
    .unwrap();
    let (findings, summary) = judge(&chain, &Subject::CreationCode(file)).await;
    assert!(findings.is_empty(), "{summary}");
}
