//! The EVM charge server checks (draft-evm-charge-00) against the
//! reference EVM charge server on a plain local anvil with mppconf's
//! EIP-3009 token and Permit2: every check passes against the honest one
//! (all four credential types, a split paid by a Permit2 batch), and each
//! EVM deviation is caught by the check that names it, and by no other.

mod reference_runs;

use std::collections::BTreeSet;

use mppconf_harness::reference::server::Deviation;

/// The reference EVM run with `deviations`: the checks that did not
/// pass, and a summary for messages.
async fn evm_suite(deviations: &[Deviation], filter: &[&str]) -> (BTreeSet<&'static str>, String) {
    evm_suite_of("evm", deviations, filter).await
}

/// [`evm_suite`] of the reference run `payment_method` (`evm`, or
/// `evm-tempo` on a tempo-mode anvil).
async fn evm_suite_of(
    payment_method: &str,
    deviations: &[Deviation],
    filter: &[&str],
) -> (BTreeSet<&'static str>, String) {
    reference_runs::not_passing(payment_method, deviations, filter).await
}

/// The EVM charge deviations and the checks that flag each (a defect of
/// every credential type is caught by the check of each type).
fn evm_flags(d: Deviation) -> Option<&'static [&'static str]> {
    use Deviation::*;
    Some(match d {
        EvmUnboundWitness => &["evm.permit2-witness-bound"],
        EvmUnboundNonce => &["evm.authorization-nonce-bound"],
        EvmAcceptWrongAmount => &[
            "evm.permit2.wrong-amount-refused",
            "evm.authorization.wrong-amount-refused",
            "evm.transaction.wrong-amount-refused",
            "evm.hash.wrong-amount-refused",
        ],
        EvmAcceptWrongRecipient => &[
            "evm.permit2.wrong-recipient-refused",
            "evm.authorization.wrong-recipient-refused",
            "evm.transaction.wrong-recipient-refused",
            "evm.hash.wrong-recipient-refused",
        ],
        EvmHashReuse => &["evm.hash-reuse-refused"],
        EvmHashCalldataOnly => &["evm.hash-unsettled-refused"],
        EvmSplitsAnyType => &["evm.splits-permit2-only"],
        EvmIgnoreSettlementStatus => &["evm.permit2-nonce-reuse-refused"],
        EvmRefuseHash => &["evm.hash.settles"],
        EvmReceiptWithoutChainId => &["paid.receipt"],
        EvmIgnoreSource => &["evm.permit2.source-mismatch-refused"],
        EvmAcceptWrongToken => &[
            "evm.permit2.wrong-token-refused",
            "evm.transaction.wrong-token-refused",
            "evm.hash.wrong-token-refused",
        ],
        EvmIgnoreChainId => &["evm.transaction.wrong-chain-refused"],
        EvmAuthorizationAnyToken => &["evm.authorization-eip3009-token"],
        _ => return None,
    })
}

/// Every EVM check passes on a tempo-mode anvil too (Permit2 predeployed,
/// gas paid in PathUSD, whose fee transfers pay no one).
#[tokio::test]
async fn every_check_passes_against_the_reference_evm_server_on_a_tempo_chain() {
    let (failing, summary) = evm_suite_of("evm-tempo", &[], &[]).await;
    assert!(failing.is_empty(), "{summary}");
    for check in mppconf_harness::server_suite::evm_charge::CHECKS {
        assert!(
            summary
                .lines()
                .any(|l| l.starts_with("pass") && l.contains(&format!(" {}: ", check.id))),
            "{} did not pass on a tempo chain:\n{summary}",
            check.id
        );
    }
}

#[tokio::test]
async fn every_check_passes_against_the_reference_evm_server() {
    let (failing, summary) = evm_suite(&[], &[]).await;
    assert!(failing.is_empty(), "{summary}");
    // Every EVM check passes on at least one of the two resources (the
    // split one, or the one offering every type), and so does the core
    // receipt check the receipt deviation fails.
    let ids = mppconf_harness::server_suite::evm_charge::CHECKS
        .iter()
        .map(|c| c.id)
        .chain(["paid.receipt"]);
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
async fn each_evm_deviation_is_caught_by_its_check_and_no_other() {
    let checks = ["evm.", "paid."];
    for d in Deviation::ALL {
        // EVM session's: tests/evm_session.rs.
        if d.name().starts_with("evm-") && !d.name().starts_with("evm-session-") {
            assert!(evm_flags(d).is_some(), "{} has no check", d.name());
        }
        let Some(flagged) = evm_flags(d) else {
            continue;
        };
        let (failing, summary) = evm_suite(&[d], &checks).await;
        let flagged: BTreeSet<&str> = flagged.iter().copied().collect();
        assert_eq!(failing, flagged, "{}:\n{summary}", d.name());
    }
}
