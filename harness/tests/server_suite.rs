//! The server suite against the reference server: everything passes
//! against the honest one, and each deviation switch is caught by the
//! check that names it, and by no other check.

use mppconf_suite::drafts::CoreDraft;
use std::collections::BTreeSet;

use mppconf_harness::reference::server::Deviation;
use mppconf_harness::report::compare::Verdicts;
use mppconf_harness::report::progress::Silent;
use mppconf_harness::server_suite::{self, command};
use mppconf_suite::vectors::Verdict;

/// Runs the reference run with `deviations`; returns the ids of the checks
/// that did not pass (fail, warn or lenient) on any resource, and a
/// summary for messages.
async fn suite(deviations: &[Deviation], filter: &[String]) -> (BTreeSet<&'static str>, String) {
    suite_under(CoreDraft::Draft00, deviations, filter).await
}

/// [`suite`] for the reference run against `core` (under -01: a route
/// that selects Payment-Authorization).
async fn suite_under(
    core: CoreDraft,
    deviations: &[Deviation],
    filter: &[String],
) -> (BTreeSet<&'static str>, String) {
    let deviations: BTreeSet<Deviation> = deviations.iter().copied().collect();
    let selection = mppconf_harness::report::Selection {
        filter: filter.to_vec(),
        ..Default::default()
    };
    let runs = command::run_reference_method("tempo", core, &deviations, &selection, &mut Silent)
        .await
        .unwrap();
    let results: Vec<_> = runs
        .iter()
        .flat_map(|r| r.results.iter().map(move |c| (r, c)))
        .collect();
    let summary = results
        .iter()
        .map(|(r, c)| {
            format!(
                "{:<8} {} {}: {}",
                c.verdict.as_str(),
                r.resource,
                c.id,
                c.detail.replace('\n', " | ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        results.iter().all(|(_, c)| c.verdict != Verdict::Error),
        "harness errors:\n{summary}"
    );
    let failing = results
        .iter()
        .filter(|(_, c)| matches!(c.verdict, Verdict::Fail | Verdict::Warn | Verdict::Lenient))
        .map(|(_, c)| c.id)
        .collect();
    (failing, summary)
}

/// The reference run concludes what it concluded at the last deliberate
/// change of the checks: the same verdict and requirements for every
/// check on every resource, and the same verdict for every requirement.
/// `fixtures/verdicts/server-reference.json` was first written from the
/// run of the commit before the payment-method plug-ins (proving the move
/// changed nothing), and is rewritten, after reviewing the differences,
/// when checks or citations are added: `mppconf server --reference
/// --report-dir R` then `mppconf report compare R/report.json --write
/// harness/tests/fixtures/verdicts/server-reference.json`.
#[tokio::test]
async fn the_reference_run_concludes_what_it_did_at_the_last_deliberate_change() {
    let selection = mppconf_harness::report::Selection::all();
    let runs = command::run_reference(&BTreeSet::new(), &selection, Silent)
        .await
        .unwrap();
    let reports = command::reports_of(&runs, "2026-01-01T00:00:00Z");
    assert_eq!(reports.len(), 1);
    let now = Verdicts::of(&reports[0].0);
    let before = Verdicts::read(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/verdicts/server-reference.json"
    )))
    .unwrap();
    let differences = before.differences(&now);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[tokio::test]
async fn every_check_passes_against_the_reference_server() {
    let (failing, summary) = suite(&[], &[]).await;
    assert!(failing.is_empty(), "{summary}");
    assert!(!summary.contains("blocked"), "{summary}");
    // The header.* checks are listed only against -01.
    let (failing, summary_01) = suite_under(CoreDraft::Draft01, &[], &[]).await;
    assert!(failing.is_empty(), "{summary_01}");
    assert!(!summary_01.contains("blocked"), "{summary_01}");
    let summary = format!("{summary}\n{summary_01}");
    // Every check runs on at least one of the reference resources, but
    // those of methods judged by data (tests/method_rules.rs and
    // tests/method_terms.rs pass and fail them, lightning.fresh-invoice
    // among them), Tempo session's (the session run: tests/session.rs),
    // EVM charge's (the EVM run: tests/evm_charge.rs), EVM session's (the
    // EVM session run: tests/evm_session.rs) and Tempo subscription's (the
    // subscription run: tests/subscription_server.rs).
    for check in server_suite::all_checks().into_iter().filter(|c| {
        !c.id.starts_with("method.")
            && !c.id.starts_with("lightning.")
            && !c.id.starts_with("session.")
            && !c.id.starts_with("evm.")
            && !c.id.starts_with("evm-session.")
            && !c.id.starts_with("subscription.")
    }) {
        assert!(
            summary
                .lines()
                .any(|l| l.starts_with("pass") && l.contains(&format!(" {}:", check.id))),
            "{} never ran:\n{summary}",
            check.id
        );
    }
}

#[tokio::test]
async fn each_deviation_is_caught_by_the_check_that_names_it() {
    let expectations: &[(Deviation, &[&str])] = &[
        (Deviation::NoCacheControl, &["unpaid.cache-no-store"]),
        (Deviation::NoPrivateCache, &["paid.receipt"]),
        (
            Deviation::SkipReplayCheck,
            &[
                "replay.rejected",
                "concurrency.settles-once",
                "push.hash-reused-rejected",
                "pull.second-payment-same-id-rejected",
                "idempotency.new-key-no-replay",
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
        (
            Deviation::EchoCredential,
            &["errors.credential-not-echoed", "fuzz.bounded"],
        ),
        (
            // Read leniently, an empty id is echoed as it came; but a
            // credential whose echoed id is empty is malformed by the same
            // rule (core.challenge.id-missing-rejected), so this server can
            // never be paid, and two of its 402s never carry two ids.
            Deviation::EmptyId,
            &[
                "challenge.id-non-empty",
                // An empty id is not the HMAC of anything.
                "challenge.id-hmac",
                "unpaid.fresh-challenge",
                "paid.receipt",
                "size.4kb-credential-accepted",
                "paid.plain-transfer-accepted",
                "modes.push-as-advertised",
                "pull.splits-reordered-accepted",
                "push.splits-reordered-accepted",
            ],
        ),
        (Deviation::NoRealm, &["challenge.realm-present"]),
        (
            Deviation::RealmFromRequestTarget,
            &["challenge.realm-not-from-target"],
        ),
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
        (Deviation::UppercaseMethod, &["challenge.method-lowercase"]),
        (Deviation::NoExpires, &["challenge.expires-present"]),
        (
            // The status table's problem types are part of those MUSTs.
            Deviation::NoProblemDetails,
            &[
                "unpaid.problem-details",
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
            // One challenge for every 402: once paid, no payment can follow.
            Deviation::StaticChallenge,
            &[
                "unpaid.fresh-challenge",
                "paid.receipt",
                "replay.rejected",
                "size.4kb-credential-accepted",
                "paid.plain-transfer-accepted",
                "modes.push-as-advertised",
                "pull.splits-reordered-accepted",
                "push.splits-reordered-accepted",
            ],
        ),
        (Deviation::PaymentForUnknown, &["unknown-resource.not-402"]),
        (
            Deviation::SkipEchoCheck,
            &[
                "binding.cross-resource",
                "forged-id.invalid-challenge",
                "tamper.realm",
                "tamper.request",
                "tamper.expires",
                "tamper.opaque",
            ],
        ),
        (Deviation::IgnoreChainId, &["pull.wrong-chain-rejected"]),
        (
            Deviation::IgnoreValidBefore,
            &["pull.valid-before-after-expires"],
        ),
        (
            Deviation::SmallHeaderLimit,
            &["size.4kb-credential-accepted"],
        ),
        (Deviation::LeakRpcUrl, &["errors.no-secrets"]),
        (
            Deviation::SkipProofCheck,
            &[
                "proof.non-zero-amount-rejected",
                "proof.other-challenge-rejected",
                "proof.wrong-chain-rejected",
                "proof.wrong-signer-rejected",
            ],
        ),
        (Deviation::AcceptForbiddenPush, &["push.forbidden-rejected"]),
        (Deviation::SkipDigestCheck, &["digest.other-body-rejected"]),
        (
            Deviation::RequireAttributionMemo,
            &["paid.plain-transfer-accepted"],
        ),
        (Deviation::NonAsciiRealm, &["challenge.realm-ascii"]),
        (Deviation::HugeChallenge, &["challenge.under-8kb"]),
        (
            Deviation::ErrorInChallenge,
            &["errors.not-in-challenge-params"],
        ),
        (
            // A push refused is also a reordered push refused.
            Deviation::RefusePushUnadvertised,
            &["modes.push-as-advertised", "push.splits-reordered-accepted"],
        ),
        (
            Deviation::StrictCallOrder,
            &[
                "pull.splits-reordered-accepted",
                "push.splits-reordered-accepted",
            ],
        ),
        (
            Deviation::AcceptUnminedHash,
            &["push.unmined-hash-rejected"],
        ),
        (Deviation::DropExternalId, &["paid.receipt"]),
        (
            Deviation::IgnoreIdempotencyKey,
            &["idempotency.retry-same-answer"],
        ),
        (
            Deviation::IdempotencyKeySkipsReplay,
            &["idempotency.new-key-no-replay"],
        ),
        (
            Deviation::PlainHttpToo,
            &[
                "transport.no-challenge-over-http",
                "transport.plain-http-credential-refused",
            ],
        ),
        (Deviation::DenyWithChallenge, &["policy.denied-403"]),
        (Deviation::ReceiptOnFailedResource, &["receipt.only-2xx"]),
        (Deviation::SideEffectUnpaid, &["side-effects.none-unpaid"]),
        (Deviation::PaymentBeforeAuth, &["auth.before-payment"]),
        (Deviation::PartialContent, &["atomicity.no-partial-access"]),
        (Deviation::HashedHmacKey, &["challenge.id-hmac"]),
        (Deviation::NoRetryAfter, &["errors.retry-after"]),
        (Deviation::StaleReceiptReference, &["paid.receipt"]),
        (Deviation::Tls12Only, &["transport.tls13"]),
        (
            // Verifies the payment against the echoed request: only a
            // tampering check that pays what the tampered request asks
            // (half the price) catches it; one that pays the issued price
            // is refused for the mismatch, and passes for the wrong reason.
            Deviation::VerifyEchoedRequest,
            &[
                "binding.cross-resource",
                "tamper.request",
                "tamper.realm",
                "tamper.expires",
                "tamper.opaque",
                "forged-id.invalid-challenge",
            ],
        ),
    ];
    // The expiry check waits for a challenge to expire: run it only where
    // it is the one expected to fail, to keep the test short.
    let all_but_expiry: Vec<String> = server_suite::all_checks()
        .iter()
        .map(|c| c.id.to_string())
        .filter(|id| !id.starts_with("expiry."))
        .collect();
    let (failing, summary) = suite(&[Deviation::IgnoreExpiry], &[]).await;
    assert_eq!(
        failing,
        BTreeSet::from(["expiry.expired-rejected"]),
        "ignore-expiry:\n{summary}"
    );
    // Under -01 an expired id gets payment-expired; under -00 any refusal
    // (ambiguity.expired-problem-type).
    let expiry_only = vec!["expiry.".to_string()];
    let (failing, summary) = suite_under(
        CoreDraft::Draft01,
        &[Deviation::ExpiredAsInvalidChallenge],
        &expiry_only,
    )
    .await;
    assert_eq!(
        failing,
        BTreeSet::from(["expiry.expired-rejected"]),
        "expired-as-invalid-challenge:\n{summary}"
    );
    let (failing, summary) = suite(&[Deviation::ExpiredAsInvalidChallenge], &expiry_only).await;
    assert!(failing.is_empty(), "under -00:\n{summary}");
    // Under -01, on a route that selects Payment-Authorization.
    let expectations_01: &[(Deviation, &[&str])] = &[
        (
            Deviation::CredentialInAnyField,
            &["header.selected-field-only"],
        ),
        (
            // An id without the header slot is not -01's recommended HMAC.
            Deviation::HeaderUnbound,
            &["header.bound", "challenge.id-hmac"],
        ),
        (
            Deviation::OtherFieldCacheable,
            &["header.other-field-private"],
        ),
    ];
    for (deviation, expected) in expectations_01 {
        let (failing, summary) = suite_under(CoreDraft::Draft01, &[*deviation], &[]).await;
        let expected: BTreeSet<&str> = expected.iter().copied().collect();
        assert_eq!(failing, expected, "{}:\n{summary}", deviation.name());
        // Under -00 the switch changes nothing the suite sees.
        let (failing, summary) = suite(&[*deviation], &all_but_expiry).await;
        assert!(
            failing.is_empty(),
            "{} under -00:\n{summary}",
            deviation.name()
        );
    }
    let covered: BTreeSet<Deviation> = expectations
        .iter()
        .chain(expectations_01)
        .map(|(d, _)| *d)
        .collect();
    for d in Deviation::ALL {
        assert!(
            matches!(
                d,
                Deviation::IgnoreExpiry | Deviation::ExpiredAsInvalidChallenge
            ) || covered.contains(&d)
                || discovery_flags(d).is_some()
                // The session deviations: tests/session.rs (and
                // tests/evm_session.rs); EVM charge's: tests/evm_charge.rs;
                // EVM session's: tests/evm_session.rs; Tempo subscription's:
                // tests/subscription_server.rs.
                || d.name().starts_with("session-")
                || d.name().starts_with("evm-")
                || d.name().starts_with("subscription-"),
            "{} has no expectation",
            d.name()
        );
    }
    for (deviation, expected) in expectations {
        let (failing, summary) = suite(&[*deviation], &all_but_expiry).await;
        let expected: BTreeSet<&str> = expected.iter().copied().collect();
        // A leak fails every check whose answers carried it, each saying
        // where; the check named for it fails too.
        if let Some(what) = leaked(*deviation) {
            assert!(
                failing.is_superset(&expected),
                "{}:\n{summary}",
                deviation.name()
            );
            for id in failing.difference(&expected) {
                assert!(
                    summary.lines().any(|l| l.contains(&format!(" {id}: "))
                        && l.contains("no secret or credential material in any answer")
                        && l.contains(what)),
                    "{} flagged {id} for something else:\n{summary}",
                    deviation.name()
                );
            }
            continue;
        }
        assert_eq!(failing, expected, "{}:\n{summary}", deviation.name());
    }
}

/// The discovery deviations and the check that flags each.
fn discovery_flags(d: Deviation) -> Option<&'static str> {
    use Deviation::*;
    Some(match d {
        DiscoveryWrongAmount => "discovery.offers-match-challenge",
        DiscoveryNo402 => "discovery.402-declared",
        DiscoveryShorthand => "discovery.multi-offer-form",
        DiscoveryBadAmount => "discovery.payment-info-schema",
        DiscoveryTextPlain => "discovery.content-type",
        DiscoveryNoPaymentInfo => "discovery.resource-listed",
        DiscoveryNoCacheControl => "discovery.cache-control",
        DiscoveryBadDocsUri => "discovery.service-info",
        DiscoveryUppercaseCategories => "discovery.categories-style",
        DiscoveryNoTitle => "discovery.fields",
        DiscoveryNoRequestBody => "discovery.input-schema",
        DiscoveryElsewhere => "discovery.location",
        _ => return None,
    })
}

/// Each discovery deviation of the reference server is flagged by its
/// discovery check and by no other (the discovery checks need no payment:
/// only they run).
#[tokio::test]
async fn each_discovery_deviation_is_caught_by_its_check() {
    let only_discovery = vec!["discovery.".to_string()];
    let (failing, summary) = suite(&[], &only_discovery).await;
    assert!(failing.is_empty(), "the honest document:\n{summary}");
    for d in Deviation::ALL {
        let Some(check) = discovery_flags(d) else {
            continue;
        };
        let (failing, summary) = suite(&[d], &only_discovery).await;
        assert_eq!(failing, BTreeSet::from([check]), "{}:\n{summary}", d.name());
    }
}

/// What a deviation leaks into answers, if it leaks.
fn leaked(d: Deviation) -> Option<&'static str> {
    match d {
        Deviation::EchoCredential => Some("the credential"),
        Deviation::LeakRpcUrl => Some("the RPC endpoint"),
        _ => None,
    }
}

/// One syntax slip of a server's challenge (a padded `request`, an
/// uppercase method, no realm, a request not in JCS, no expires) gets its
/// one finding from its challenge.* check, and every other check still
/// gets a verdict of its own: none is `blocked`, and those that went on
/// with the challenge read leniently say so.
#[tokio::test]
async fn one_syntax_slip_hides_no_other_check() {
    let all_but_expiry: Vec<String> = server_suite::all_checks()
        .iter()
        .map(|c| c.id.to_string())
        .filter(|id| !id.starts_with("expiry."))
        .collect();
    for (deviation, syntax_check) in [
        (Deviation::PaddedRequest, "challenge.request-unpadded"),
        (Deviation::UppercaseMethod, "challenge.method-lowercase"),
        (Deviation::NoRealm, "challenge.realm-present"),
        (Deviation::NonCanonicalRequest, "challenge.request-jcs"),
        (Deviation::NoExpires, "challenge.expires-present"),
    ] {
        let selection = mppconf_harness::report::Selection {
            filter: all_but_expiry.clone(),
            ..Default::default()
        };
        let runs = command::run_reference(&BTreeSet::from([deviation]), &selection, Silent)
            .await
            .unwrap();
        let results: Vec<_> = runs.iter().flat_map(|r| &r.results).collect();
        let blocked: Vec<String> = results
            .iter()
            .filter(|c| c.verdict == Verdict::Blocked)
            .map(|c| format!("{}: {}", c.id, c.detail))
            .collect();
        assert!(blocked.is_empty(), "{}: {blocked:#?}", deviation.name());
        let found: BTreeSet<&str> = results
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Warn))
            .map(|c| c.id)
            .collect();
        assert_eq!(
            found,
            BTreeSet::from([syntax_check]),
            "{}",
            deviation.name()
        );
        // Every resource's replay check passed; where the slip showed
        // (padding depends on the request's length, so not on every
        // resource), it says it went on leniently.
        let replays: Vec<_> = results
            .iter()
            .filter(|c| c.id == "replay.rejected")
            .collect();
        for r in &replays {
            assert_eq!(r.verdict, Verdict::Pass, "{}", r.detail);
        }
        if deviation != Deviation::NonCanonicalRequest {
            assert!(
                replays.iter().any(|r| r.detail.contains("read leniently")),
                "{}: {:?}",
                deviation.name(),
                replays.iter().map(|r| &r.detail).collect::<Vec<_>>()
            );
        }
    }
}

/// One verdict per requirement, graded by its keyword: a rejection with
/// the fresh challenge (MUST) but an empty body, no problem details
/// (SHOULD), warns; it does not fail. A body of the wrong problem type
/// fails (the status table's MUST row).
#[tokio::test]
async fn a_missing_problem_body_warns_and_a_wrong_problem_type_fails() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(402).insert_header(
            "www-authenticate",
            "Payment id=\"fresh\", realm=\"r.test\", method=\"tempo\", intent=\"charge\", request=\"eyJhbW91bnQiOiIxMDAwIn0\"",
        ))
        .mount(&server)
        .await;
    let ctx = server_suite::Ctx::new(
        server_suite::Target {
            base_url: server.uri(),
            path: "/paid".into(),
            method: "GET".into(),
            body: None,
            rpc_url: String::new(),
            ca: None,
        },
        alloy::signers::local::PrivateKeySigner::random(),
        None,
    );
    let check = server_suite::core::CHECKS
        .iter()
        .find(|c| c.id == "malformed.not-json")
        .unwrap();
    let outcome = (check.run)(&ctx).await;
    assert_eq!(outcome.verdict, Verdict::Warn, "{}", outcome.detail);
    assert!(outcome.detail.contains("SHOULD"), "{}", outcome.detail);
    let selection = mppconf_harness::report::Selection::filtered(&["malformed.not-json"]);
    let runs = command::run_reference(
        &BTreeSet::from([Deviation::GenericProblemType]),
        &selection,
        Silent,
    )
    .await
    .unwrap();
    for c in runs.iter().flat_map(|r| &r.results) {
        assert_eq!(c.verdict, Verdict::Fail, "{}", c.detail);
    }
}
