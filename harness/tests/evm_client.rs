//! The EVM charge client suite judged against the reference client: it
//! passes every EVM check, and each deviation that touches an EVM payment
//! is flagged by exactly the checks that name it (a skip is no finding:
//! a check of a credential type the client did not pay with says so).

use std::collections::{BTreeMap, BTreeSet};

use mppconf_harness::client_suite::ClientUnderTest;
use mppconf_harness::client_suite::command::{ClientCheckResult, run_client_of};
use mppconf_harness::methods::evm_charge::EvmCharge;
use mppconf_harness::reference::client::Deviation;
use mppconf_harness::report::Selection;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::vectors::Verdict;

async fn run(deviations: BTreeSet<Deviation>) -> Vec<ClientCheckResult> {
    run_client_of(
        &ClientUnderTest::Reference { deviations },
        &Selection::all(),
        CoreDraft::Draft00,
        &EvmCharge,
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
async fn the_reference_client_passes_every_evm_check() {
    let results = run(BTreeSet::new()).await;
    assert_eq!(results.len(), 18);
    for r in &results {
        assert_eq!(r.verdict, Verdict::Pass, "{}: {}", r.id, r.detail);
    }
}

/// The deviations an EVM payment shows, and the checks that flag each.
fn expected(d: Deviation) -> &'static [&'static str] {
    use Deviation::*;
    match d {
        IgnoreExpiry => &["evm.refuse.expired"],
        IgnoreSplitRule => &["evm.refuse.splits-reach-amount"],
        IgnorePolicy => &["evm.refuse.over-limit"],
        // The primary transfer one unit short, in every type.
        ShortAmount => &[
            "evm.permit2.terms",
            "evm.authorization.terms",
            "evm.transaction.terms",
            "evm.hash.terms",
            "evm.splits.transfers",
        ],
        WrongToken => &[
            "evm.permit2.terms",
            "evm.authorization.terms",
            "evm.transaction.terms",
            "evm.hash.terms",
            "evm.splits.transfers",
        ],
        // The hash is always signed for the challenge's chain (a node
        // refuses another).
        WrongChainId => &[
            "evm.permit2.terms",
            "evm.authorization.terms",
            "evm.transaction.terms",
            "evm.splits.transfers",
        ],
        ReverseTransfers => &["evm.splits.transfers"],
        LateValidBefore => &["evm.authorization.valid-before"],
        HashWithoutBroadcast => &["evm.hash.terms"],
        EvmUnboundWitness => &["evm.permit2.witness", "evm.authorization.nonce"],
        EvmDropExternalId => &["evm.permit2.witness"],
        EvmAnyChain => &["evm.refuse.other-chain"],
        EvmAnyPermit2 => &["evm.refuse.foreign-permit2"],
        EvmOverpay => &[
            "evm.permit2.terms",
            "evm.authorization.terms",
            "evm.transaction.terms",
            "evm.hash.terms",
            "evm.splits.transfers",
        ],
        EvmOtherSpender => &["evm.permit2.terms", "evm.splits.transfers"],
        EvmAnyCredentialType => &[
            "evm.permit2.credential",
            "evm.authorization.credential",
            "evm.hash.credential",
            "evm.splits.transfers",
            "evm.negotiation.first-offered",
            "evm.refuse.foreign-permit2",
        ],
        other => panic!("{} is not judged by the EVM scenarios", other.name()),
    }
}

const EVM_DEVIATIONS: [Deviation; 16] = [
    Deviation::IgnoreExpiry,
    Deviation::IgnoreSplitRule,
    Deviation::IgnorePolicy,
    Deviation::ShortAmount,
    Deviation::WrongToken,
    Deviation::WrongChainId,
    Deviation::ReverseTransfers,
    Deviation::LateValidBefore,
    Deviation::HashWithoutBroadcast,
    Deviation::EvmUnboundWitness,
    Deviation::EvmDropExternalId,
    Deviation::EvmAnyChain,
    Deviation::EvmAnyPermit2,
    Deviation::EvmAnyCredentialType,
    Deviation::EvmOverpay,
    Deviation::EvmOtherSpender,
];

#[tokio::test]
async fn each_evm_deviation_is_flagged_by_its_checks_and_no_other() {
    assert!(
        Deviation::EVM.iter().all(|d| EVM_DEVIATIONS.contains(d)),
        "every EVM deviation is exercised here"
    );
    let mut wrong = Vec::new();
    for d in EVM_DEVIATIONS {
        let flagged = flagged(&run(BTreeSet::from([d])).await);
        let got: BTreeSet<&str> = flagged.keys().copied().collect();
        let want: BTreeSet<&str> = expected(d).iter().copied().collect();
        if got != want {
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
