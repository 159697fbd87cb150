//! The checks of every method judged by data (`vectors/methods/`), each
//! against scripted implementations, no chain and no rail. Servers
//! (wiremock): one offering each of its method's `request.validate`
//! vectors passes `method.request-rules` when the vector is valid and
//! fails it, naming the broken requirement, when it is not; one that
//! grants the resource to a credential whose payload breaks the method's
//! payload rules fails `method.broken-payload-refused`, one that refuses
//! it passes. Clients (a Python program that answers the offered
//! challenge with a given payload): `method.payload-rules` passes a
//! payload the method's `payload.validate` vectors call valid and fails
//! one they call invalid, naming the broken requirement;
//! `method.payload-terms` does the same with the Stellar and Solana
//! transaction and Lightning preimage vectors, and is `skip` where only a
//! rail can judge.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use mppconf_harness::client_suite::ClientUnderTest;
use mppconf_harness::client_suite::command::run_client;
use mppconf_harness::client_suite::manifest::ClientTarget;
use mppconf_harness::report::Selection;
use mppconf_harness::report::progress::Silent;
use mppconf_harness::server_suite::{self, CheckResult, Ctx, Target};
use mppconf_suite::codec::{BindingSlots, Challenge, EncodedJson};
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::methods::rules;
use mppconf_suite::vectors::Verdict;
use serde_json::{Value, json};
use wiremock::matchers::{header_exists, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
}

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

/// Every case of `op` in the vector files.
fn cases(op: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(vectors_dir()).unwrap() {
        let dir = dir.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if !dir.is_dir() || ["schema", "requirements", "specs", "methods"].contains(&name.as_str())
        {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let v: Value =
                serde_json::from_str(&std::fs::read_to_string(file.unwrap().path()).unwrap())
                    .unwrap();
            out.extend(
                v["cases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["op"] == op)
                    .cloned(),
            );
        }
    }
    out
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

fn challenge(method: &str, intent: &str, request: &Value) -> String {
    let mut c = Challenge {
        id: String::new(),
        realm: "scripted.test".into(),
        method: method.into(),
        intent: intent.into(),
        request: EncodedJson::canonical(request.clone()),
        expires: Some("2999-01-01T00:00:00Z".into()),
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
        .respond_with(
            ResponseTemplate::new(402)
                .insert_header("www-authenticate", header)
                .insert_header("cache-control", "no-store"),
        )
        .mount(&server)
        .await;
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

/// Pays the first Payment challenge of `{url}` (argument 1) with the
/// payload in the JSON file named by argument 2, echoing the challenge as
/// the core draft says.
const CLIENT: &str = r#"
import base64, json, re, sys, urllib.error, urllib.request
url = sys.argv[1]
try:
    urllib.request.urlopen(url)
    sys.exit("no 402")
except urllib.error.HTTPError as e:
    field = e.headers["WWW-Authenticate"]
params = dict((k, v.replace('\\"', '"')) for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', field))
challenge = {k: params[k] for k in ("id", "realm", "method", "intent", "request", "expires") if k in params}
credential = {"challenge": challenge, "payload": json.load(open(sys.argv[2]))}
token = base64.urlsafe_b64encode(json.dumps(credential).encode()).decode().rstrip("=")
request = urllib.request.Request(url, headers={"Authorization": "Payment " + token})
try:
    urllib.request.urlopen(request)
except urllib.error.HTTPError as e:
    print("answered", e.code)
"#;

fn of(case: &Value, method: &str, intent: &str) -> bool {
    case["input"]["method"] == method && case["input"]["intent"] == intent
}

/// The manifest of a scripted client offered `request` and answering
/// with `payload`.
fn manifest(dir: &Path, method: &str, intent: &str, request: &Value, payload: &Value) -> PathBuf {
    let script = dir.join("client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let payload_file = dir.join("payload.json");
    std::fs::write(&payload_file, payload.to_string()).unwrap();
    let text = json!({
        "name": format!("scripted-{method}"),
        "client": {
            "command": ["python3", script.display().to_string(), "{url}", payload_file.display().to_string()],
            "timeout_secs": 20,
        },
        "offer": { "method": method, "intent": intent, "request": request },
    });
    let text = toml::to_string(&toml::Value::try_from(text).unwrap()).unwrap();
    let path = dir.join("client.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn every_method_flags_a_broken_payload_by_requirement_and_passes_a_valid_one() {
    let requests = cases("request.validate");
    let payloads = cases("payload.validate");
    let mut judged = 0;
    for file in rules::all()
        .iter()
        .filter(|f| f.method != "*" && !f.payload.is_empty())
    {
        let (method, intent) = (file.method.as_str(), file.intent.as_str());
        // TOML has no null: a request with one cannot be a manifest's.
        let request = requests
            .iter()
            .find(|c| {
                of(c, method, intent)
                    && c["result"] == "valid"
                    && !c["input"]["request"].to_string().contains("null")
            })
            .unwrap_or_else(|| panic!("{}: no valid request.validate vector", file.docname));
        let valid = payloads
            .iter()
            .find(|c| {
                of(c, method, intent)
                    && c["result"] == "valid"
                    && c["expected"]["warnings"]
                        .as_array()
                        .is_some_and(Vec::is_empty)
            })
            .unwrap_or_else(|| panic!("{}: no valid payload.validate vector", file.docname));
        // A payload that is not an object makes the credential itself
        // unreadable: the core checks judge that, not the rules.
        let invalid = payloads
            .iter()
            .find(|c| {
                of(c, method, intent)
                    && c["result"] == "invalid"
                    && c["input"]["payload"].is_object()
            })
            .unwrap_or_else(|| panic!("{}: no invalid payload.validate vector", file.docname));
        for case in [valid, invalid] {
            let dir = tempfile::tempdir().unwrap();
            let path = manifest(
                dir.path(),
                method,
                intent,
                &request["input"]["request"],
                &case["input"]["payload"],
            );
            let client = ClientUnderTest::Program(Box::new(ClientTarget::load(&path).unwrap()));
            let run = run_client(
                &client,
                &Selection::filtered(&["method.payload-rules"]),
                CoreDraft::Draft00,
                |_| {},
            )
            .await
            .unwrap();
            let [r] = run.results.as_slice() else {
                panic!("{}: one check, got {}", case["id"], run.results.len());
            };
            if case["result"] == "valid" {
                assert_eq!(r.verdict, Verdict::Pass, "{}: {}", case["id"], r.detail);
            } else {
                let code = case["error_code"].as_str().unwrap();
                assert_eq!(r.verdict, Verdict::Fail, "{}: {}", case["id"], r.detail);
                assert!(r.detail.contains(code), "{}: {}", case["id"], r.detail);
                assert!(r.requirements.contains(&code), "{}", case["id"]);
            }
        }
        judged += 1;
    }
    assert!(judged > 0, "no method rule file with payload rules");
}

/// `method.payload-terms` for one scripted client offered `request` and
/// answering `payload`.
async fn judge_terms(
    method: &str,
    intent: &str,
    request: &Value,
    payload: &Value,
) -> (Verdict, String, Vec<&'static str>) {
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(dir.path(), method, intent, request, payload);
    let client = ClientUnderTest::Program(Box::new(ClientTarget::load(&path).unwrap()));
    let run = run_client(
        &client,
        &Selection::filtered(&["method.payload-terms"]),
        CoreDraft::Draft00,
        |_| {},
    )
    .await
    .unwrap();
    let [r] = run.results.as_slice() else {
        panic!("one check, got {}", run.results.len());
    };
    (r.verdict, r.detail.clone(), r.requirements.clone())
}

/// A Stellar client's pull-mode transaction is judged against the offered
/// request: every `stellar.transaction.verify` vector that does not
/// depend on the server's own account, ledger or a past expiry (the run
/// offers its own `expires`) passes or fails as the vector says, naming
/// its requirement; every `solana.transaction.verify` vector likewise (a
/// valid one with SHOULD findings warns), and every
/// `tempo.subscription.key_authorization.verify` one that needs no
/// `source` or special request. Lightning's preimage likewise; a push-mode hash and a
/// method without offline terms are `skip`, never `pass`.
#[tokio::test]
async fn a_client_payload_is_judged_on_what_it_pays_where_that_is_offline() {
    let mut judged = 0;
    for case in cases("stellar.transaction.verify") {
        let code = case["error_code"].as_str();
        if matches!(
            code,
            Some(
                "stellar-charge.verification.server-address-absent"
                    | "stellar-charge.verification.auth-expiration-bound"
            )
        ) || case["id"] == "stellar.transaction.client-paid-max-time-after-expires"
        {
            continue;
        }
        let payload = json!({"type": "transaction", "transaction": case["input"]["transaction"]});
        let (verdict, detail, cited) =
            judge_terms("stellar", "charge", &case["input"]["request"], &payload).await;
        match code {
            None => assert_eq!(verdict, Verdict::Pass, "{}: {detail}", case["id"]),
            Some(code) => {
                assert_eq!(verdict, Verdict::Fail, "{}: {detail}", case["id"]);
                assert!(detail.contains(code), "{}: {detail}", case["id"]);
                assert!(cited.contains(&code), "{}: {code} not cited", case["id"]);
            }
        }
        judged += 1;
    }
    assert!(judged >= 25, "only {judged} Stellar cases judged");

    let mut judged = 0;
    for case in cases("solana.transaction.verify") {
        let payload = json!({"type": "transaction", "transaction": case["input"]["transaction"]});
        let (verdict, detail, cited) =
            judge_terms("solana", "charge", &case["input"]["request"], &payload).await;
        let warns = case["expected"]["warnings"]
            .as_array()
            .is_some_and(|w| !w.is_empty());
        match (case["result"].as_str(), case["error_code"].as_str()) {
            (Some("valid"), _) if warns => {
                assert_eq!(verdict, Verdict::Warn, "{}: {detail}", case["id"]);
            }
            (Some("valid"), _) => assert_eq!(verdict, Verdict::Pass, "{}: {detail}", case["id"]),
            (Some("invalid"), Some(code)) => {
                assert_eq!(verdict, Verdict::Fail, "{}: {detail}", case["id"]);
                assert!(detail.contains(code), "{}: {detail}", case["id"]);
                assert!(cited.contains(&code), "{}: {code} not cited", case["id"]);
            }
            _ => continue,
        }
        judged += 1;
    }
    assert!(judged >= 40, "only {judged} Solana cases judged");

    // A Tempo subscription client's key authorization, but for what the
    // run cannot reproduce: a `source` (the scripted client sends none)
    // and a request no server may offer (the run's own `expires`, a month).
    let mut judged = 0;
    for case in cases("tempo.subscription.key_authorization.verify") {
        let code = case["error_code"].as_str();
        if matches!(
            code,
            Some(
                "tempo-subscription.source.chain-match"
                    | "tempo-subscription.verification.reject-expires-before-challenge"
                    | "tempo-subscription.request.reject-month"
            )
        ) {
            continue;
        }
        let (verdict, detail, cited) = judge_terms(
            "tempo",
            "subscription",
            &case["input"]["request"],
            &case["input"]["payload"],
        )
        .await;
        match code {
            None => assert_eq!(verdict, Verdict::Pass, "{}: {detail}", case["id"]),
            Some(code) => {
                assert_eq!(verdict, Verdict::Fail, "{}: {detail}", case["id"]);
                assert!(detail.contains(code), "{}: {detail}", case["id"]);
                assert!(cited.contains(&code), "{}: {code} not cited", case["id"]);
            }
        }
        judged += 1;
    }
    assert!(
        judged >= 55,
        "only {judged} Tempo subscription cases judged"
    );

    let request = cases("stellar.transaction.verify")[0]["input"]["request"].clone();
    let hash = json!({"type": "hash", "hash": "a".repeat(64)});
    let (verdict, detail, _) = judge_terms("stellar", "charge", &request, &hash).await;
    assert_eq!(verdict, Verdict::Skip, "{detail}");
    assert!(detail.contains("needs a live stellar network"), "{detail}");

    for case in cases("lightning.preimage.verify") {
        let (verdict, detail, cited) = judge_terms(
            "lightning",
            "charge",
            &case["input"]["request"],
            &case["input"]["payload"],
        )
        .await;
        match case["error_code"].as_str() {
            None => assert_eq!(verdict, Verdict::Pass, "{}: {detail}", case["id"]),
            Some(code) => {
                assert_eq!(verdict, Verdict::Fail, "{}: {detail}", case["id"]);
                assert!(cited.contains(&code), "{}", case["id"]);
            }
        }
    }

    let stripe = cases("request.validate")
        .into_iter()
        .find(|c| {
            of(c, "stripe", "charge")
                && c["result"] == "valid"
                && !c["input"]["request"].to_string().contains("null")
        })
        .expect("a valid Stripe charge request");
    let (verdict, detail, cited) = judge_terms(
        "stripe",
        "charge",
        &stripe["input"]["request"],
        &json!({"spt": "spt_x"}),
    )
    .await;
    assert_eq!(verdict, Verdict::Skip, "{detail}");
    assert!(cited.is_empty(), "{cited:?}");
}
