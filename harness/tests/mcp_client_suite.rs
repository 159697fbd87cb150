//! The MCP client suite (draft-payment-transport-mcp-00) on the local
//! chain: every check passes against the reference MCP client, each of
//! its deviations is caught by the check that names it and by no other;
//! a client program from a manifest (the reference client through
//! `mppconf mcp-pay`) is judged through its placeholders; manifests of
//! the wrong kind are usage errors.

use std::collections::BTreeSet;
use std::process::Command;

use mppconf_harness::client_suite::command::ClientCheckResult;
use mppconf_harness::client_suite::manifest::ClientTarget;
use mppconf_harness::mcp_client_suite::McpClientUnderTest;
use mppconf_harness::mcp_client_suite::command::run_client;
use mppconf_harness::reference::mcp_client::McpClientDeviation;
use mppconf_harness::report::Selection;
use mppconf_suite::vectors::Verdict;

/// The checks that did not pass (fail or warn), and a summary for
/// messages; a harness error fails the test.
fn judged(results: &[ClientCheckResult]) -> (BTreeSet<&'static str>, String) {
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
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Warn))
        .map(|c| c.id)
        .collect();
    (failing, summary)
}

async fn reference(deviations: &[McpClientDeviation]) -> (BTreeSet<&'static str>, String) {
    let client = McpClientUnderTest::Reference {
        deviations: deviations.iter().copied().collect(),
    };
    let run = run_client(&client, &Selection::default(), |_| {})
        .await
        .unwrap();
    judged(&run.results)
}

/// The check that flags each deviation.
fn flags(d: McpClientDeviation) -> &'static str {
    use McpClientDeviation::*;
    match d {
        NoCapability => "mcp-client.capability",
        NotificationCall => "mcp-client.request-id",
        WrongMetaKey => "mcp-client.credential-placement",
        BothPlacements => "mcp-client.one-credential",
        PartialEcho => "mcp-client.challenge-echo",
        FirstChallenge => "mcp-client.select-supported",
        PayExpired => "mcp-client.expired-not-paid",
        SkipValidation => "mcp-client.validates-challenge",
        ResendAfterFailure => "mcp-client.new-attempt",
        RequireCapability => "mcp-client.pays-without-capability",
    }
}

#[tokio::test]
async fn every_mcp_client_check_passes_against_the_reference_client_and_each_deviation_is_caught_by_its_check()
 {
    let (failing, summary) = reference(&[]).await;
    assert!(failing.is_empty(), "the honest client:\n{summary}");
    assert!(
        !summary.contains("skip ") && !summary.contains("blocked "),
        "every check judged the honest client:\n{summary}"
    );
    assert!(
        summary.contains("receipt") && summary.contains("\"reference\":\"0x"),
        "the payments settled on chain:\n{summary}"
    );
    for d in McpClientDeviation::ALL {
        let (failing, summary) = reference(&[d]).await;
        assert_eq!(
            failing,
            BTreeSet::from([flags(d)]),
            "{}:\n{summary}",
            d.name()
        );
    }
}

/// A manifest whose command is `mppconf mcp-pay`: the program path, its
/// placeholders, and the operations it claims.
#[tokio::test]
async fn a_client_program_is_judged_through_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mcp-pay.toml");
    std::fs::write(
        &path,
        format!(
            r#"
name = "mcp-pay"
[client]
command = ["{}", "mcp-pay", "--operation", "{{operation}}", "--name", "{{name}}", "--rpc", "{{rpc_url}}", "{{url}}"]
env = {{ MPPCONF_PAYER_KEY = "{{payer_key}}" }}
[mcp]
operations = ["tool", "resource"]
"#,
            env!("CARGO_BIN_EXE_mppconf")
        ),
    )
    .unwrap();
    let client = McpClientUnderTest::Program(Box::new(ClientTarget::load(&path).unwrap()));
    let run = run_client(&client, &Selection::default(), |_| {})
        .await
        .unwrap();
    let (failing, summary) = judged(&run.results);
    assert!(failing.is_empty(), "{summary}");
    let verdict = |id: &str| run.results.iter().find(|c| c.id == id).unwrap().verdict;
    assert_eq!(
        verdict("mcp-client.resource-paid"),
        Verdict::Pass,
        "{summary}"
    );
    assert_eq!(
        verdict("mcp-client.prompt-paid"),
        Verdict::Skip,
        "{summary}"
    );
    assert_eq!(verdict("mcp-client.tool-paid"), Verdict::Pass, "{summary}");
}

#[test]
fn manifests_of_the_other_suite_are_usage_errors() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/targets");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mppconf"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[
        "mcp-client",
        "--target",
        &format!("{root}/mppx-client.toml"),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no [mcp] table") && err.contains("mppx-client.toml"),
        "{err}"
    );
    let (code, err) = run(&[
        "client",
        "--target",
        &format!("{root}/mppx-mcp-client.toml"),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("mppconf mcp-client --target"), "{err}");
    let (code, err) = run(&["mcp-client", "--reference", "--deviate", "pay-twice"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("pay-expired"),
        "the known deviations are listed: {err}"
    );
}
