//! The MCP server suite (draft-payment-transport-mcp-00) against the
//! reference server's MCP endpoint: everything passes against the honest
//! one, each MCP deviation is caught by the check that names it and by
//! no other; and scripted broken endpoints (wiremock) fail the checks
//! that need no payment.

use std::collections::BTreeSet;

use mppconf_harness::mcp_suite::command;
use mppconf_harness::mcp_suite::{McpCtx, Session};
use mppconf_harness::reference::server::mcp::McpDeviation;
use mppconf_harness::report::Selection;
use mppconf_harness::report::progress::Silent;
use mppconf_suite::vectors::Verdict;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The reference MCP run (stub: no chain) with `deviations`: the checks
/// that did not pass (fail or warn), and a summary for messages.
async fn stub_run(deviations: &[McpDeviation]) -> (BTreeSet<&'static str>, String) {
    let deviations: BTreeSet<McpDeviation> = deviations.iter().copied().collect();
    let (ctx, _started, label, reproduce) = command::reference("stub", &deviations, false)
        .await
        .unwrap();
    judged(
        command::run(&ctx, label, reproduce, &Selection::default(), &mut Silent)
            .await
            .results,
    )
}

fn judged(
    results: Vec<mppconf_harness::server_suite::CheckResult>,
) -> (BTreeSet<&'static str>, String) {
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

/// The MCP deviations and the checks that flag each.
fn flags(d: McpDeviation) -> &'static [&'static str] {
    use McpDeviation::*;
    match d {
        WrongErrorCode => &["mcp.payment-required"],
        NoHttpStatus => &["mcp.http-status"],
        Base64urlRequest => &["mcp.request-native"],
        NoCapability => &["mcp.capability"],
        // Every paid operation's receipts.
        NoReceipt | ReceiptWrongChallengeId => &[
            "mcp.paid-receipt",
            "mcp.resource-read-paid",
            "mcp.prompt-get-paid",
        ],
        NestedOnly => &["mcp.root-placement"],
        AcceptReplay => &["mcp.replay-rejected", "mcp.concurrent-once"],
        FailureAsPaymentRequired => &["mcp.verification-failed"],
        MalformedAsVerificationFailed => &["mcp.malformed-credential"],
        // No binding at all: a changed request and a forged id both buy.
        TrustEcho => &["mcp.tampered-request", "mcp.forged-id"],
        ChargeFreeTool => &["mcp.free-ignores-credential"],
        UnboundOperation => &["mcp.operation-bound"],
        IgnoreExpiry => &["mcp.expired-rejected"],
        FreeResources => &["mcp.resource-read-paid"],
        FreePrompts => &["mcp.prompt-get-paid"],
        // Its one id is used by the first paying check: the later ones
        // that must be accepted are refused (replay and concurrency are
        // blocked, the expiry an hour away is skipped).
        StaticChallenge => &[
            "mcp.fresh-challenges",
            "mcp.root-placement",
            "mcp.retry-challenge-payable",
            "mcp.free-ignores-credential",
        ],
        SkipIdCheck => &["mcp.forged-id"],
        ProcessNotifications => &["mcp.notification-not-processed"],
        AnswerNotifications => &["mcp.notification-silent"],
        UnpayableRetry => &["mcp.retry-challenge-payable"],
        IncompleteProblem => &["mcp.problem-details"],
    }
}

#[tokio::test]
async fn every_mcp_check_passes_against_the_reference_endpoint_and_each_deviation_is_caught_by_its_check()
 {
    let (failing, summary) = stub_run(&[]).await;
    assert!(failing.is_empty(), "the honest endpoint:\n{summary}");
    assert!(
        !summary.contains("skip ") && !summary.contains("blocked "),
        "every check judged the honest endpoint:\n{summary}"
    );
    // Each deviation on a server of its own, all at once (each run
    // waits out one expiry).
    let runs = futures::future::join_all(
        McpDeviation::ALL.map(|d| async move { (d, stub_run(&[d]).await) }),
    )
    .await;
    for (d, (failing, summary)) in runs {
        let expected: BTreeSet<&str> = flags(d).iter().copied().collect();
        assert_eq!(failing, expected, "{}:\n{summary}", d.name());
    }
}

/// With Tempo on the local chain: every check passes, and the receipt's
/// settlement is judged on chain.
#[tokio::test]
async fn the_tempo_reference_endpoint_passes_with_chain_evidence() {
    let (ctx, _started, label, reproduce) = command::reference("tempo", &BTreeSet::new(), false)
        .await
        .unwrap();
    let results = command::run(&ctx, label, reproduce, &Selection::default(), &mut Silent)
        .await
        .results;
    let receipt = results.iter().find(|c| c.id == "mcp.paid-receipt").unwrap();
    assert!(
        receipt.detail.contains("Transfer") || receipt.detail.contains("0x"),
        "{}",
        receipt.detail
    );
    let (failing, summary) = judged(results);
    assert!(failing.is_empty(), "{summary}");
}

/// A scripted MCP endpoint: `initialize` answered with `capabilities`,
/// `tools/call` with `call` (the request's id filled in).
struct Script {
    capabilities: Value,
    call: Value,
}

impl Respond for Script {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let message: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let Some(id) = message.get("id").cloned() else {
            return ResponseTemplate::new(202);
        };
        let mut answer = match message["method"].as_str() {
            Some("initialize") => json!({"result": {
                "protocolVersion": "2025-06-18",
                "capabilities": self.capabilities,
                "serverInfo": {"name": "scripted", "version": "0"},
            }}),
            _ => self.call.clone(),
        };
        answer["jsonrpc"] = "2.0".into();
        answer["id"] = id;
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

/// The honest script, but a notification answered too (a challenge with
/// a null id).
struct AnswersNotifications;

impl Respond for AnswersNotifications {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let message: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        if message.get("id").is_none() && message["method"] == "tools/call" {
            let mut answer = honest_error();
            answer["jsonrpc"] = "2.0".into();
            answer["id"] = Value::Null;
            return ResponseTemplate::new(200).set_body_json(answer);
        }
        Script {
            capabilities: honest_capabilities(),
            call: honest_error(),
        }
        .respond(request)
    }
}

/// The honest script, but each challenge with an id of its own.
struct FreshIds(std::sync::atomic::AtomicU64);

impl Respond for FreshIds {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut call = honest_error();
        call["error"]["data"]["challenges"][0]["id"] = format!("scripted-id-{n}").into();
        Script {
            capabilities: honest_capabilities(),
            call,
        }
        .respond(request)
    }
}

/// The honest script, but each challenge's `expires` five minutes ahead
/// at second precision and its id a function of it: the same challenge
/// within one second, a new one each second (an HMAC id without a nonce,
/// ambiguity.hmac-id-uniqueness).
struct PerSecondIds;

impl Respond for PerSecondIds {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let expires = mppconf_harness::client_suite::rfc3339_in(300);
        let mut call = honest_error();
        call["error"]["data"]["challenges"][0]["id"] = format!("scripted-{expires}").into();
        call["error"]["data"]["challenges"][0]["expires"] = expires.into();
        Script {
            capabilities: honest_capabilities(),
            call,
        }
        .respond(request)
    }
}

fn honest_error() -> Value {
    json!({"error": {"code": -32042, "message": "Payment Required", "data": {
        "httpStatus": 402,
        "challenges": [{
            "id": "scripted-id", "realm": "scripted.test", "method": "stub", "intent": "charge",
            "request": {"amount": "1000", "currency": "usd", "recipient": "acct_scripted"},
            "expires": "2999-01-01T00:00:00Z",
        }],
    }}})
}

fn honest_capabilities() -> Value {
    json!({"tools": {}, "experimental": {"payment": {"methods": {"stub": {"intents": ["charge"]}}}}})
}

/// The verdict of `check` against a scripted endpoint.
async fn scripted(check: &str, script: impl Respond + 'static) -> Verdict {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(script)
        .mount(&server)
        .await;
    let ctx = McpCtx::new(Session::new(&format!("{}/mcp", server.uri())), "paid");
    ctx.session.initialize().await.unwrap();
    let selection = Selection {
        filter: vec![check.to_string()],
        ..Default::default()
    };
    let results = mppconf_harness::mcp_suite::run_all(&ctx, &selection, &mut Silent).await;
    assert_eq!(results.len(), 1, "{check} selects one check");
    results[0].verdict
}

#[tokio::test]
async fn scripted_endpoints_fail_the_checks_that_need_no_payment() {
    let honest = || Script {
        capabilities: honest_capabilities(),
        call: honest_error(),
    };
    for check in [
        "mcp.payment-required",
        "mcp.http-status",
        "mcp.request-native",
        "mcp.capability",
        "mcp.notification-silent",
        "mcp.problem-details",
    ] {
        assert_eq!(scripted(check, honest()).await, Verdict::Pass, "{check}");
    }
    // A problem without its members, and a complete one.
    let mut partial = honest_error();
    partial["error"]["data"]["problem"] = json!({"type": "about:blank", "status": 402});
    let script = Script {
        call: partial,
        ..honest()
    };
    assert_eq!(scripted("mcp.problem-details", script).await, Verdict::Fail);
    let mut complete = honest_error();
    complete["error"]["data"]["problem"] = json!({"type": "https://paymentauth.org/problems/payment-required",
        "title": "Payment Required", "status": 402, "detail": "pay", "challengeId": "scripted-id"});
    let script = Script {
        call: complete,
        ..honest()
    };
    assert_eq!(scripted("mcp.problem-details", script).await, Verdict::Pass);
    // A payment-gated notification answered with a challenge.
    assert_eq!(
        scripted("mcp.notification-silent", AnswersNotifications).await,
        Verdict::Warn
    );
    // A paid tool that answers without payment.
    let free = Script {
        call: json!({"result": {"content": [{"type": "text", "text": "free lunch"}]}}),
        ..honest()
    };
    assert_eq!(scripted("mcp.payment-required", free).await, Verdict::Fail);
    // The challenge as an HTTP 402 would carry it: another code.
    let mut other_code = honest_error();
    other_code["error"]["code"] = json!(402);
    let script = Script {
        call: other_code,
        ..honest()
    };
    assert_eq!(
        scripted("mcp.payment-required", script).await,
        Verdict::Fail
    );
    // No challenges member.
    let mut no_challenges = honest_error();
    no_challenges["error"]["data"] = json!({"httpStatus": 402});
    let script = Script {
        call: no_challenges,
        ..honest()
    };
    assert_eq!(
        scripted("mcp.payment-required", script).await,
        Verdict::Fail
    );
    // httpStatus 400.
    let mut status = honest_error();
    status["error"]["data"]["httpStatus"] = json!(400);
    let script = Script {
        call: status,
        ..honest()
    };
    assert_eq!(scripted("mcp.http-status", script).await, Verdict::Warn);
    // request as base64url text.
    let mut text = honest_error();
    text["error"]["data"]["challenges"][0]["request"] = json!("eyJhbW91bnQiOiIxMDAwIn0");
    let script = Script {
        call: text,
        ..honest()
    };
    assert_eq!(scripted("mcp.request-native", script).await, Verdict::Fail);
    // One challenge id for every call, and a fresh one per call.
    assert_eq!(
        scripted("mcp.fresh-challenges", honest()).await,
        Verdict::Fail
    );
    assert_eq!(
        scripted("mcp.fresh-challenges", FreshIds(Default::default())).await,
        Verdict::Pass
    );
    assert_eq!(
        scripted("mcp.fresh-challenges", PerSecondIds).await,
        Verdict::Pass
    );
    // A capability without the intent the challenges name.
    let script = Script {
        capabilities: json!({"experimental": {"payment": {"methods": {"stub": {"intents": ["session"]}}}}}),
        ..honest()
    };
    assert_eq!(scripted("mcp.capability", script).await, Verdict::Warn);
}

/// The MCP target manifests load; a manifest that names no MCP endpoint
/// is a usage error of `mcp-server`, and one with no resource of `server`,
/// each saying what is missing.
#[test]
fn mcp_manifests_load_and_misuse_is_a_usage_error() {
    use mppconf_harness::server_suite::manifest::ServerTarget;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["mppx-mcp-server.toml", "pympp-mcp-server.toml"] {
        let t = ServerTarget::load(&root.join("targets").join(name)).unwrap();
        let mcp = t.mcp.expect("an [mcp] table");
        assert_eq!(
            (mcp.endpoint.as_deref(), mcp.tool.as_str()),
            (Some("/mcp"), "paid")
        );
        assert!(t.resource.is_empty());
    }
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mppconf"))
            .args(args)
            .current_dir(root)
            .output()
            .unwrap()
    };
    let o = run(&["mcp-server", "--target", "targets/mppx-server.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no [mcp] table"));
    let o = run(&["server", "--target", "targets/mppx-mcp-server.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no [[resource]] to probe"));
    let o = run(&["mcp-server", "--reference", "--deviate", "no-such-thing"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrong-error-code"));
}

/// Over stdio (the reference endpoint behind `mppconf mcp-bridge`, a child
/// process speaking one JSON-RPC message per line): every check passes,
/// and a deviation is still caught by its check alone.
#[test]
fn the_reference_endpoint_is_judged_over_stdio_too() {
    let dir = tempfile::tempdir().unwrap();
    let verdicts = |deviation: Option<&str>| {
        let out = dir.path().join(deviation.unwrap_or("honest"));
        let mut args = vec![
            "mcp-server",
            "--reference",
            "--payment-method",
            "stub",
            "--stdio",
            "--report-dir",
            out.to_str().unwrap(),
        ];
        if let Some(d) = deviation {
            args.extend(["--deviate", d]);
        }
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_mppconf"))
            .args(&args)
            .output()
            .unwrap();
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
                .unwrap();
        let not_passing: BTreeSet<String> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["verdict"] != "pass")
            .map(|c| {
                format!(
                    "{} {}",
                    c["id"].as_str().unwrap(),
                    c["verdict"].as_str().unwrap()
                )
            })
            .collect();
        (o.status.code(), not_passing)
    };
    assert_eq!(verdicts(None), (Some(0), BTreeSet::new()));
    assert_eq!(
        verdicts(Some("nested-only")),
        (
            Some(1),
            BTreeSet::from(["mcp.root-placement fail".to_string()])
        )
    );
}

/// A manifest of an MCP server on stdio (`[mcp] transport = "stdio"`):
/// its command runs in its folder with its environment and speaks MCP on
/// stdin and stdout; one with a `base_url` too is a usage error.
#[test]
fn a_stdio_manifest_launches_its_server_on_stdio() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("server.py"),
        r#"import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    if m["method"] == "initialize":
        r = {"result": {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                        "serverInfo": {"name": "scripted", "version": "0"}}}
    else:
        r = {"error": {"code": -32042, "message": "Payment Required", "data": {"httpStatus": 402,
             "challenges": [{"id": "scripted-id", "realm": os.environ["REALM"], "method": "stub",
                             "intent": "charge", "request": {"amount": "1", "currency": "usd",
                             "recipient": "acct"}, "expires": "2999-01-01T00:00:00Z"}]}}}
    r["jsonrpc"] = "2.0"
    r["id"] = m["id"]
    print(json.dumps(r), flush=True)
"#,
    )
    .unwrap();
    let manifest = |extra: &str| {
        let path = dir.path().join("stdio.toml");
        std::fs::write(
            &path,
            format!(
                r#"
name = "scripted-stdio"
[server]
command = ["python3", "server.py"]
env = {{ REALM = "realm-{{chain_id}}" }}
{extra}
[mcp]
transport = "stdio"
tool = "paid"
"#
            ),
        )
        .unwrap();
        path
    };
    let out = dir.path().join("report");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .args(["mcp-server", "--target"])
        .arg(manifest(""))
        .args([
            "--filter",
            "mcp.payment-required",
            "--filter",
            "mcp.notification-silent",
        ])
        .args(["--report-dir", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{report}");
    assert!(checks.iter().all(|c| c["verdict"] == "pass"), "{report}");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .args(["mcp-server", "--target"])
        .arg(manifest("base_url = \"http://127.0.0.1:{port}\""))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/server/base_url"),
        "names the field: {stderr}"
    );
}
