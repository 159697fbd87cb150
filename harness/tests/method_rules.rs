//! The server checks of every method judged by data (`vectors/methods/`),
//! each against scripted servers (wiremock), no chain and no rail: one
//! offering each of its method's `request.validate` vectors passes
//! `method.request-rules` when the vector is valid and fails it, naming
//! the broken requirement, when it is not; one that grants the resource
//! to a credential whose payload breaks the method's payload rules fails
//! `method.broken-payload-refused`, one that refuses it passes. The client
//! checks are in `method_terms.rs`.

mod support;

use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use mppconf_harness::report::Selection;
use mppconf_harness::report::progress::Silent;
use mppconf_harness::server_suite::{self, CheckResult, Ctx, Target};
use mppconf_suite::codec::{BindingSlots, Challenge, EncodedJson};
use mppconf_suite::methods::rules;
use mppconf_suite::vectors::Verdict;
use serde_json::{Value, json};
use support::cases;
use wiremock::matchers::{header_exists, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every `request.validate` case of the vector files, as (method, intent,
/// request, result, error_code, warnings).
struct RequestCase {
    id: String,
    method: String,
    intent: String,
    request: Value,
    valid: bool,
    error_code: Option<String>,
    warns: bool,
}

fn request_cases() -> Vec<RequestCase> {
    cases("request.validate")
        .into_iter()
        .map(|c| {
            let input = &c["input"];
            RequestCase {
                id: c["id"].as_str().unwrap().to_string(),
                method: input["method"].as_str().unwrap().to_string(),
                intent: input["intent"].as_str().unwrap().to_string(),
                request: input["request"].clone(),
                valid: c["result"] != "invalid",
                error_code: c["error_code"].as_str().map(str::to_string),
                warns: c["expected"]["warnings"]
                    .as_array()
                    .is_some_and(|w| !w.is_empty()),
            }
        })
        .collect()
}

/// A challenge offering `request`, under the realm of the drafts'
/// examples (a card request's `jwksUri` must be on the realm's origin),
/// without `expires`: the vectors' subscription requests expire in
/// 2026, and a challenge outliving its subscription is a finding of its
/// own ([`a_subscription_expiring_with_its_challenge_fails`]).
fn challenge(method: &str, intent: &str, request: &Value) -> String {
    challenge_in("api.merchant.com", None, method, intent, request)
}

/// [`challenge`] under another realm and `expires`.
fn challenge_in(
    realm: &str,
    expires: Option<&str>,
    method: &str,
    intent: &str,
    request: &Value,
) -> String {
    let mut c = Challenge {
        id: String::new(),
        realm: realm.into(),
        method: method.into(),
        intent: intent.into(),
        request: EncodedJson::canonical(request.clone()),
        expires: expires.map(str::to_string),
        digest: None,
        description: None,
        opaque: None,
        unknown_params: Vec::new(),
    };
    c.id = BindingSlots::of(&c, Default::default()).challenge_id(b"mppconf-scripted");
    c.to_header().unwrap()
}

/// `check` against a server offering exactly `header`, answering a
/// credential with `paid` (when given).
async fn judge_with(
    check: &str,
    method: &str,
    intent: &str,
    header: &str,
    paid: Option<u16>,
) -> CheckResult {
    let server = MockServer::start().await;
    if let Some(status) = paid {
        Mock::given(path("/paid"))
            .and(header_exists("authorization"))
            .respond_with(ResponseTemplate::new(status))
            .mount(&server)
            .await;
    }
    Mock::given(path("/paid"))
        .respond_with(Rotating::new(&[header]))
        .mount(&server)
        .await;
    run_check(check, method, intent, &server).await
}

/// A scripted server's unpaid answers: the challenges in turn.
struct Rotating {
    headers: Vec<String>,
    next: std::sync::atomic::AtomicUsize,
}

impl Rotating {
    fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            next: Default::default(),
        }
    }
}

impl wiremock::Respond for Rotating {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ResponseTemplate::new(402)
            .insert_header(
                "www-authenticate",
                self.headers[i % self.headers.len()].as_str(),
            )
            .insert_header("cache-control", "no-store")
    }
}

/// `check` against a scripted `server` of `method` and `intent`.
async fn run_check(check: &str, method: &str, intent: &str, server: &MockServer) -> CheckResult {
    let ctx = Ctx::new(
        Target {
            base_url: server.uri(),
            path: "/paid".into(),
            method: "GET".into(),
            body: None,
            rpc_url: String::new(),
            ca: None,
        },
        PrivateKeySigner::random(),
        None,
    )
    .with_method(method, intent)
    .with_answer_timeout(Duration::from_secs(5));
    server_suite::run_all(
        std::slice::from_ref(&ctx),
        &Selection::filtered(&[check]),
        &mut Silent,
    )
    .await
    .into_iter()
    .find(|r| r.id == check)
    .unwrap_or_else(|| panic!("{check} runs for {method} {intent}"))
}

/// `method.request-rules` against a server offering exactly `header`.
async fn judge(method: &str, intent: &str, header: &str) -> CheckResult {
    judge_with("method.request-rules", method, intent, header, None).await
}

#[tokio::test]
async fn every_method_rule_file_flags_its_broken_requests_by_requirement() {
    let cases = request_cases();
    let mut files = 0;
    for file in rules::all().iter().filter(|f| !f.request.is_empty()) {
        files += 1;
        // An intent's rules (`*`) are judged on its methods' vectors too.
        let mine: Vec<&RequestCase> = cases
            .iter()
            .filter(|c| c.intent == file.intent && (file.method == "*" || c.method == file.method))
            .collect();
        assert!(
            mine.iter().any(|c| c.valid) && mine.iter().any(|c| !c.valid),
            "{}: needs a valid and an invalid request.validate vector",
            file.docname
        );
        // A request that is not a JSON object makes the challenge itself
        // unreadable: the core challenge checks judge that, not the rules.
        for case in mine.into_iter().filter(|c| c.request.is_object()) {
            let r = judge(
                &case.method,
                &case.intent,
                &challenge(&case.method, &case.intent, &case.request),
            )
            .await;
            if case.valid {
                let want = if case.warns {
                    Verdict::Warn
                } else {
                    Verdict::Pass
                };
                assert_eq!(r.verdict, want, "{}: {}", case.id, r.detail);
            } else {
                assert_eq!(r.verdict, Verdict::Fail, "{}: {}", case.id, r.detail);
                let code = case.error_code.as_deref().unwrap();
                // The charge intent's own checks are code, not rules: they
                // fail the request too, under their own requirement.
                assert!(r.detail.contains(code), "{}: {}", case.id, r.detail);
                if rules::for_method(&case.method, &case.intent)
                    .any(|f| f.request.iter().any(|rule| rule.requirement == code))
                    || mppconf_suite::codec::request_schema::code_requirements(
                        &case.method,
                        &case.intent,
                    )
                    .contains(&code)
                {
                    assert!(
                        r.requirements.contains(&code),
                        "{}: {:?}",
                        case.id,
                        r.requirements
                    );
                }
            }
        }
    }
    assert!(files > 0, "no method rule file with request rules");
}

/// draft-card-charge-00 §"Encryption Key": a card challenge whose
/// `jwksUri` is off its realm's origin fails `method.request-rules` under
/// `card-charge.key.jwks-same-origin`, one on it passes, and one whose
/// realm is no host name passes saying it was not compared; each as the
/// `card.jwks_uri.origin` vectors say (those whose request meets the
/// request rules: the others fail on them, see above).
#[tokio::test]
async fn a_card_challenge_pointing_at_a_key_set_off_its_realm_fails() {
    let mut judged = (0, 0);
    for case in cases("card.jwks_uri.origin") {
        let (realm, request) = (&case["input"]["realm"], &case["input"]["request"]);
        if request.pointer("/methodDetails/jwksUri").is_none()
            || mppconf_suite::codec::request_schema::validate("card", "charge", request).is_err()
        {
            continue;
        }
        let header = challenge_in(realm.as_str().unwrap(), None, "card", "charge", request);
        let r = judge("card", "charge", &header).await;
        if case["result"] == "invalid" {
            judged.1 += 1;
            assert_eq!(r.verdict, Verdict::Fail, "{}: {}", case["id"], r.detail);
            let code = case["error_code"].as_str().unwrap();
            assert!(r.detail.contains(code), "{}: {}", case["id"], r.detail);
            assert!(r.requirements.contains(&code), "{:?}", r.requirements);
        } else {
            judged.0 += 1;
            assert_eq!(r.verdict, Verdict::Pass, "{}: {}", case["id"], r.detail);
            let compared = case["expected"]["origin"] == "same-origin";
            assert_eq!(
                !r.detail.contains("is not a host name"),
                compared,
                "{}: {}",
                case["id"],
                r.detail
            );
        }
    }
    assert!(judged.0 >= 3 && judged.1 >= 5, "{judged:?}");
}

/// draft-tempo-subscription-00 §"Method Details": a subscription
/// challenge whose `subscriptionExpires` is not strictly after its own
/// `expires` fails `method.request-rules` under
/// `tempo-subscription.request.expires-after-challenge` (the same
/// instant, and one second later written in another offset, included);
/// one a second before passes.
#[tokio::test]
async fn a_subscription_expiring_with_its_challenge_fails() {
    let case = cases("request.validate")
        .into_iter()
        .find(|c| c["id"] == "request.validate.tempo-subscription.draft-request-example")
        .unwrap();
    let request = &case["input"]["request"];
    assert_eq!(request["subscriptionExpires"], "2026-07-14T12:00:00Z");
    for (expires, passes) in [
        ("2026-07-14T11:59:59Z", true),
        ("2026-07-14T12:00:00Z", false),
        ("2026-07-14T14:00:01+02:00", false),
        ("2027-01-01T00:00:00Z", false),
    ] {
        let header = challenge_in(
            "api.merchant.com",
            Some(expires),
            "tempo",
            "subscription",
            request,
        );
        let r = judge("tempo", "subscription", &header).await;
        let code = "tempo-subscription.request.expires-after-challenge";
        assert!(r.requirements.contains(&code), "{:?}", r.requirements);
        if passes {
            assert_eq!(r.verdict, Verdict::Pass, "{expires}: {}", r.detail);
        } else {
            assert_eq!(r.verdict, Verdict::Fail, "{expires}: {}", r.detail);
            assert!(r.detail.contains(code), "{expires}: {}", r.detail);
        }
    }
}

/// Every `lightning.expiry.verify` vector as a scripted Lightning charge
/// server: its challenge carries the vector's `expires`, and
/// `method.request-rules` fails exactly the challenges that expire after
/// their invoice (or whose invoice does not decode), naming the rule.
#[tokio::test]
async fn a_lightning_challenge_expiring_after_its_invoice_fails() {
    let cases = cases("lightning.expiry.verify");
    assert!(cases.len() >= 8, "{} expiry vectors", cases.len());
    let rule = "lightning-charge.expiry.expires-not-after-invoice";
    let mut failed = 0;
    for case in cases {
        let input = &case["input"];
        let header = challenge_in(
            "api.merchant.com",
            input["expires"].as_str(),
            "lightning",
            "charge",
            &input["request"],
        );
        let r = judge("lightning", "charge", &header).await;
        assert!(r.requirements.contains(&rule), "{:?}", r.requirements);
        match case["error_code"].as_str() {
            None => assert_eq!(r.verdict, Verdict::Pass, "{}: {}", case["id"], r.detail),
            Some(code) => {
                failed += 1;
                assert_eq!(r.verdict, Verdict::Fail, "{}: {}", case["id"], r.detail);
                assert!(r.detail.contains(code), "{}: {}", case["id"], r.detail);
            }
        }
    }
    assert!(failed >= 4, "{failed} broken fixtures");
}

/// `lightning.fresh-invoice`: a server whose challenges rotate between two
/// invoices of two payment hashes passes; one offering the same invoice
/// twice fails, and so does one offering two invoices (another amount) of
/// one payment hash: the preimage of one would pay both.
#[tokio::test]
async fn a_lightning_server_reusing_a_payment_hash_fails() {
    let request = |id: &str| {
        cases("request.validate")
            .into_iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id}"))["input"]["request"]
            .clone()
    };
    let mainnet = request("request.validate.lightning-charge.invoice-consistent-mainnet");
    let example = request("request.validate.lightning-charge.draft-example-completed");
    let other_amount = request("request.validate.lightning-charge.invoice-amount-differs");
    let offer = |r: &Value| challenge("lightning", "charge", r);
    for (label, headers, verdict) in [
        (
            "two invoices",
            [offer(&mainnet), offer(&example)],
            Verdict::Pass,
        ),
        (
            "one invoice twice",
            [offer(&mainnet), offer(&mainnet)],
            Verdict::Fail,
        ),
        (
            "one hash, two invoices",
            [offer(&mainnet), offer(&other_amount)],
            Verdict::Fail,
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(path("/paid"))
            .respond_with(Rotating::new(&[&headers[0], &headers[1]]))
            .mount(&server)
            .await;
        let r = run_check("lightning.fresh-invoice", "lightning", "charge", &server).await;
        assert_eq!(r.verdict, verdict, "{label}: {}", r.detail);
        assert!(
            r.requirements
                .contains(&"lightning-charge.security.fresh-payment-hash"),
            "{:?}",
            r.requirements
        );
    }
}

#[tokio::test]
async fn a_server_offering_no_challenge_of_the_method_is_skipped_not_passed() {
    let file = rules::all()
        .iter()
        .find(|f| f.method != "*" && !f.request.is_empty())
        .expect("a method rule file");
    let other = challenge(
        "otherpay",
        &file.intent,
        &json!({"amount": "1", "currency": "usd"}),
    );
    let r = judge(&file.method, &file.intent, &other).await;
    assert_eq!(r.verdict, Verdict::Skip, "{}", r.detail);
}

#[tokio::test]
async fn a_server_granting_a_broken_payload_fails_and_one_refusing_it_passes() {
    let cases = request_cases();
    let mut judged = 0;
    for file in rules::all().iter().filter(|f| f.method != "*") {
        let broken = rules::broken_payloads(&file.method, &file.intent);
        let Some(first) = broken.first() else {
            continue;
        };
        let request = cases
            .iter()
            .find(|c| c.method == file.method && c.intent == file.intent && c.valid && !c.warns)
            .unwrap_or_else(|| panic!("{}: no valid request vector", file.docname));
        let header = challenge(&file.method, &file.intent, &request.request);
        let check = "method.broken-payload-refused";
        let granted = judge_with(check, &file.method, &file.intent, &header, Some(200)).await;
        assert_eq!(
            granted.verdict,
            Verdict::Fail,
            "{}: {}",
            file.docname,
            granted.detail
        );
        assert!(
            granted.detail.contains(&first.requirement),
            "{}",
            granted.detail
        );
        assert!(granted.requirements.contains(&first.requirement.as_str()));
        let refused = judge_with(check, &file.method, &file.intent, &header, Some(402)).await;
        assert_eq!(
            refused.verdict,
            Verdict::Pass,
            "{}: {}",
            file.docname,
            refused.detail
        );
        judged += 1;
    }
    assert!(judged > 0, "no method with broken payload vectors");
}

/// A server of a rail method (Stripe) judged without a payer: the record
/// of its own checks cites every server requirement only the rail can
/// judge, each `skip` with the rail it needs, never `pass`.
#[tokio::test]
async fn a_rail_method_without_a_payer_shows_its_rail_requirements_as_skip() {
    let request = request_cases()
        .into_iter()
        .find(|c| c.method == "stripe" && c.intent == "charge" && c.valid && !c.warns)
        .expect("a valid stripe charge request vector");
    let server = MockServer::start().await;
    Mock::given(path("/paid"))
        .respond_with(
            ResponseTemplate::new(402)
                .insert_header(
                    "www-authenticate",
                    challenge("stripe", "charge", &request.request).as_str(),
                )
                .insert_header("cache-control", "no-store"),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("report");
    let argv: Vec<String> = [
        "server",
        "--url",
        &server.uri(),
        "--path",
        "/paid",
        "--filter",
        "method.unsupported",
        "--report-dir",
        report_dir.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mppconf"))
            .args(&argv)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("report.json")).unwrap())
            .unwrap();
    let record = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "method.unsupported")
        .unwrap_or_else(|| panic!("no method.unsupported record: {said}"));
    assert_eq!(record["verdict"], "skip", "{record}");
    assert!(
        record["detail"]
            .as_str()
            .unwrap()
            .starts_with("needs a live stripe api: give --payer"),
        "{record}"
    );
    let cited: Vec<&str> = record["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let want = rules::server_rail_requirements("stripe", "charge");
    assert!(!want.is_empty());
    assert_eq!(cited, want.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    let spec = report["specs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["docname"] == "draft-stripe-charge-00")
        .expect("the Stripe charge draft has a section");
    for id in cited {
        let row = spec["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["id"] == id)
            .unwrap_or_else(|| panic!("{id} has no row"));
        assert_eq!(row["verdict"], "skip", "{row}");
        assert_eq!(row["rail"], "stripe api", "{row}");
    }
    assert_eq!(
        spec["coverage"]["needs_rail"].as_u64().unwrap() as usize,
        want.len()
    );
}
