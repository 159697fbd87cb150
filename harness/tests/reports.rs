//! The report writers on a fixed result set (insta snapshots), the model
//! against its schema and through a JSON round trip, the honesty rules
//! (no pass for what was not checked; skip, error and blocked always say
//! why) on real runs, and the JUnit output against its XSD (ignored: needs
//! xmllint, which CI installs).

use std::collections::BTreeSet;
use std::path::Path;

use mppconf_harness::client_suite::ClientUnderTest;
use mppconf_harness::client_suite::command::{reports_of, run_client};
use mppconf_harness::reference::client::Deviation;
use mppconf_harness::report::{self, CheckRecord, Report, Selection};
use mppconf_harness::schema::Schema;
use mppconf_suite::vectors::Verdict;

fn record(id: &str, subject: &str, reqs: &[&str], verdict: Verdict, detail: &str) -> CheckRecord {
    let (expected, actual) = report::expected_actual(detail);
    CheckRecord {
        id: id.into(),
        subject: subject.into(),
        requirements: reqs.iter().map(|s| s.to_string()).collect(),
        verdict,
        detail: detail.into(),
        expected,
        actual,
        millis: 12.5,
        evidence: (verdict != Verdict::Pass)
            .then(|| format!("evidence/{}/{id}.json", subject.replace([' ', '/'], "_"))),
        reproduce: format!("mppconf server --target t.toml --filter {id}"),
    }
}

/// A fixed run with every kind of verdict and a shape of detail each.
fn fixed() -> Report {
    let mut r = Report::new(
        "server",
        "demo-sdk (targets/demo.toml)",
        "2026-11-22T10:00:00Z".into(),
        vec![
            record(
                "unpaid.status-402",
                "GET /paid",
                &["core.status.no-credential-402"],
                Verdict::Pass,
                "402",
            ),
            record(
                "replay.rejected",
                "GET /paid",
                &[
                    "core.replay.proof-used-once",
                    "charge.replay.credential-once",
                ],
                Verdict::Fail,
                "Expected: 402 Payment Required\nActual: 403 <no challenge> & \"quoted\"",
            ),
            record(
                "several-credentials.400",
                "GET /paid",
                &["core.multiple.reject-multiple-credentials"],
                Verdict::Warn,
                "Expected: 400 for two Payment credentials\nActual: 200",
            ),
            record(
                "digest.other-body-rejected",
                "GET /paid",
                &["core.digest.server-verifies"],
                Verdict::Skip,
                "the resource takes no body (give --data to test body binding)",
            ),
            record(
                "paid.receipt",
                "GET /free",
                &["tempo-charge.receipt.must-return"],
                Verdict::Error,
                "no usable answer from the server: timed out after 1 s",
            ),
            record(
                "push.hash-reused-rejected",
                "GET /free",
                &["charge.replay.credential-once"],
                Verdict::Blocked,
                "a valid push payment was refused (403), see paid.receipt",
            ),
            record(
                "malformed.oversized-64kb",
                "GET /free",
                &["core.status.malformed-credential"],
                Verdict::Xfail,
                "known failure (upstream issue 7): Expected: malformed-credential\nActual: payment-required",
            ),
            record(
                "discovery.offers-match-challenge",
                "GET /paid",
                &["discovery.offer.correspond-challenges"],
                Verdict::Fail,
                "Expected: every declared offer one of the live challenges\nActual: no live challenge matches offer 0 (amount \"10\" ≠ Some(\"1000\"))",
            ),
            record(
                "mcp.paid-receipt",
                "MCP tools/call paid",
                &["mcp.receipt.included", "mcp.receipt.challenge-id"],
                Verdict::Pass,
                "a result with a receipt for challenge abc (nested placement)",
            ),
        ],
    );
    r.finished = "2026-11-22T10:00:09Z".into();
    r.seed = Some(402);
    r
}

#[test]
fn the_writers_render_a_fixed_run() {
    let r = fixed();
    let tempo = r.for_spec("draft-tempo-charge-00").unwrap();
    let core = r.for_spec("draft-httpauth-payment-00").unwrap();
    insta::assert_snapshot!("markdown_core", report::markdown::render(&core));
    insta::assert_snapshot!("junit_core", report::junit::render(&core));
    insta::assert_snapshot!("junit_tempo", report::junit::render(&tempo));
    insta::assert_snapshot!("html_tempo", report::html::render(&[tempo]));
    let mut other = fixed();
    other.target = "other-sdk".into();
    other.checks[1].verdict = Verdict::Pass;
    other.recompute_coverage();
    let matrix: Vec<Report> = [fixed(), other]
        .iter()
        .map(|r| r.for_spec("draft-payment-intent-charge-00").unwrap())
        .collect();
    insta::assert_snapshot!("html_matrix_charge", report::html::render(&matrix));
    insta::assert_snapshot!("json_charge", report::to_json(&matrix[0]));
}

#[test]
fn every_spec_lists_all_its_requirements_in_every_view() {
    let r = fixed();
    assert_eq!(r.suite, "server");
    let cites = |docname: &str| r.specs.iter().any(|s| s.docname == docname);
    // A spec no check cites has no section (nothing judged it).
    let cited_specs: Vec<_> = report::catalogue(Default::default())
        .into_iter()
        .filter(|f| {
            let cited = cites(&f.docname);
            assert_eq!(r.for_spec(&f.docname).is_some(), cited, "{}", f.docname);
            cited
        })
        .collect();
    assert_eq!(
        cited_specs.len(),
        5,
        "core, charge, Tempo charge, discovery, MCP"
    );
    for file in cited_specs {
        let view = r.for_spec(&file.docname).unwrap();
        // A server report lists what a server can violate (and whatever
        // a check cites), not the client-only requirements.
        let cited: Vec<&str> = r
            .checks
            .iter()
            .flat_map(|c| c.requirements.iter().map(String::as_str))
            .collect();
        let applies: Vec<_> = file
            .requirements
            .iter()
            .filter(|q| q.binds != "client" || cited.contains(&q.id.as_str()))
            .collect();
        assert_eq!(view.specs[0].requirements.len(), applies.len());
        let md = report::markdown::render(&view);
        let html = report::html::render(std::slice::from_ref(&view));
        for q in applies {
            assert!(
                md.contains(&format!("| {} |", q.id)),
                "{} missing in md",
                q.id
            );
            assert!(
                html.contains(&format!(">{}</td>", q.id)),
                "{} missing in html",
                q.id
            );
        }
    }
}

#[test]
fn the_model_matches_its_schema_and_round_trips() {
    for r in [fixed(), fixed().for_spec("draft-tempo-charge-00").unwrap()] {
        let text = report::to_json(&r);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let violations = Schema::Report.violations(&value);
        assert!(violations.is_empty(), "{violations:?}");
        let back: Report = serde_json::from_value(value).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            report::to_json(&back),
            text,
            "JSON → model → JSON is identity"
        );
    }
    // The schema refuses a skip without its reason.
    let mut bad = fixed();
    bad.checks[3].detail.clear();
    let value = serde_json::to_value(&bad).unwrap();
    assert!(!Schema::Report.violations(&value).is_empty());
}

#[test]
fn a_written_report_reads_back_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = fixed();
    a.shard = Some(report::Shard { index: 1, count: 2 });
    let mut b = fixed();
    b.checks.truncate(2);
    b.shard = Some(report::Shard { index: 2, count: 2 });
    a.write(&dir.path().join("a")).unwrap();
    b.write(&dir.path().join("b")).unwrap();
    for name in [
        "report.json",
        "report.html",
        "draft-tempo-charge-00.md",
        "draft-tempo-charge-00.junit.xml",
    ] {
        assert!(dir.path().join("a").join(name).is_file(), "{name}");
    }
    let merged = Report::merge(vec![
        Report::read(&dir.path().join("b/report.json")).unwrap(),
        Report::read(&dir.path().join("a/report.json")).unwrap(),
    ])
    .unwrap();
    assert_eq!(merged.checks.len(), a.checks.len() + b.checks.len());
    assert_eq!(merged.exit_code(), 1);
    // A broken file is named.
    std::fs::write(dir.path().join("x.json"), "{\"format\": 1}").unwrap();
    let e = Report::read(&dir.path().join("x.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.json"), "{e}");
}

/// The honesty rules, on real runs of the client suite: a failing client
/// and a hanging one.
#[tokio::test]
async fn nothing_passes_unchecked_and_every_non_pass_says_why() {
    let runs = vec![
        run_client(
            &ClientUnderTest::Reference {
                deviations: BTreeSet::from([Deviation::ShortAmount, Deviation::NoSource]),
            },
            &Selection::all(),
            mppconf_suite::drafts::CoreDraft::Draft00,
            |_| {},
        )
        .await
        .unwrap(),
    ];
    for (r, _) in reports_of(&runs, "2026-11-22T10:00:00Z") {
        let value = serde_json::to_value(&r).unwrap();
        assert!(Schema::Report.violations(&value).is_empty());
        for c in &r.checks {
            if c.verdict != Verdict::Pass {
                assert!(
                    !c.detail.trim().is_empty(),
                    "{} {:?} without a reason",
                    c.id,
                    c.verdict
                );
            }
        }
        for q in r.specs.iter().flat_map(|s| &s.requirements) {
            let covering: Vec<&CheckRecord> = r
                .checks
                .iter()
                .filter(|c| c.requirements.contains(&q.id))
                .collect();
            match q.verdict {
                None => assert!(covering.is_empty(), "{}: covered but no verdict", q.id),
                Some(Verdict::Pass) => assert!(
                    covering.iter().any(|c| c.verdict == Verdict::Pass)
                        && covering
                            .iter()
                            .all(|c| matches!(c.verdict, Verdict::Pass | Verdict::Skip)),
                    "{}: pass without a passing check",
                    q.id
                ),
                Some(v) => assert!(
                    covering.iter().any(|c| c.verdict == v),
                    "{}: {v:?} from nowhere",
                    q.id
                ),
            }
        }
        assert!(r.checks.iter().any(|c| c.verdict == Verdict::Fail));
        assert_eq!(r.exit_code(), 1);
    }
}

#[test]
#[ignore = "needs xmllint (Debian libxml2-utils); CI installs it and runs this"]
fn junit_output_is_valid_against_the_xsd() {
    let dir = tempfile::tempdir().unwrap();
    let r = fixed();
    r.write(dir.path()).unwrap();
    let xsd = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../reports/schema/junit.xsd"
    ));
    // One JUnit file per spec the run judged (cites).
    assert_eq!(r.specs.len(), 5);
    for spec in &r.specs {
        let xml = dir.path().join(format!("{}.junit.xml", spec.docname));
        let out = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(xsd)
            .arg(&xml)
            .output()
            .expect("xmllint is installed (apt-get install libxml2-utils)");
        assert!(
            out.status.success(),
            "{}: {}",
            xml.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
