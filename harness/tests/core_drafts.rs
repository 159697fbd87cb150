//! `--core`: the vectors judged against draft-httpauth-payment-01 (its
//! cases, its catalogue, drift entries limited to it) and the official
//! header-slot vector under each draft.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn mppconf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("mppconf runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `vectors run --adapter builtin --core CORE --out OUT` and `more`: it
/// must exit 0; its results file.
fn run_builtin(core: &str, out: &Path, more: &[&str]) -> Value {
    let mut args = vec![
        "vectors",
        "run",
        "--adapter",
        "builtin",
        "--core",
        core,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(more);
    let o = mppconf(&args);
    assert_eq!(o.status.code(), Some(0), "{core}: {}", stdout(&o));
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

#[test]
fn core_draft_01_judges_its_own_cases_and_drift_entries_limited_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let drift = dir.path().join("drift.json");
    std::fs::write(
        &drift,
        json!({"format": "mppconf-drift/1", "cases": {
            "challenge.id.header-slot": {"reason": "-00 has no header slot", "drafts": ["draft-httpauth-payment-00"]},
            "challenge.parse.header-other-value": {"reason": "the SDKs normalize Authorization", "drafts": ["draft-httpauth-payment-01"]},
        }})
        .to_string(),
    )
    .unwrap();
    let run = |core: &str| {
        let out = dir.path().join(format!("{core}.json"));
        let report = dir.path().join(core);
        let results = run_builtin(
            core,
            &out,
            &[
                "--drift",
                drift.to_str().unwrap(),
                "--report-dir",
                report.to_str().unwrap(),
            ],
        );
        let verdict = move |id: &str| {
            results["cases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == id)
                .unwrap()["verdict"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
                .unwrap();
        (verdict, report)
    };
    let (verdict, report) = run("draft-httpauth-payment-01");
    assert_eq!(verdict("challenge.id.header-slot"), "pass");
    assert_eq!(verdict("challenge.parse.header-other-value"), "info");
    assert_eq!(verdict("challenge.parse.header-ignored-under-00"), "skip");
    assert_eq!(report["core"], "draft-httpauth-payment-01");
    let docnames: Vec<&str> = report["specs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["docname"].as_str().unwrap())
        .collect();
    assert!(
        docnames.contains(&"draft-httpauth-payment-01")
            && !docnames.contains(&"draft-httpauth-payment-00"),
        "{docnames:?}"
    );
    // A check of the -00 seven-slot rule counts for -01's base slots.
    let cites = |id: &str| -> Vec<String> {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect()
    };
    let required_only = cites("challenge.id.required-only");
    assert!(
        required_only.contains(&"core.binding.hmac-base-slots".to_string()),
        "{required_only:?}"
    );
    assert!(!required_only.contains(&"core.binding.hmac-seven-slots".to_string()));

    let (verdict, report) = run("draft-httpauth-payment-00");
    assert_eq!(verdict("challenge.id.header-slot"), "skip");
    assert_eq!(verdict("challenge.parse.header-ignored-under-00"), "pass");
    assert_eq!(report["core"], "draft-httpauth-payment-00");

    let o = mppconf(&[
        "vectors",
        "run",
        "--adapter",
        "builtin",
        "--core",
        "draft-httpauth-payment-02",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give draft-httpauth-payment-01"));
}

#[test]
fn the_official_header_slot_vector_is_drift_under_00_and_passes_under_01() {
    let dir = tempfile::tempdir().unwrap();
    let input = |header: &str| {
        json!({"secretKey": "test-vector-secret-minimum-32-byte-secret", "realm": "api.example.com",
               "method": "tempo", "intent": "charge", "request": {"amount": "1000000"}, "header": header})
    };
    // The shape and ids of mpp-tools conformance/vectors/challenge-id.json.
    let file = json!({
        "version": "2.0.0", "description": "d", "spec_ref": "s",
        "commands": {"generate": "generate-challenge-id"},
        "scenarios": [
            {"name": "with_payment_authorization_header", "input": input("Payment-Authorization"),
             "expected": "re8MIMJYpIJ0r_aiizscg6ghtipQM8IpOa_NtpwIU8E"},
            {"name": "authorization_header_is_implicit_default", "input": input("Authorization"),
             "expected": "6QDs0BmhrI_v67iWeCMvGqQJEFQ6ErWKlk7zi5xL6t0"},
        ]
    });
    std::fs::write(dir.path().join("challenge-id.json"), file.to_string()).unwrap();
    let results_dir = tempfile::tempdir().unwrap();
    let verdicts = |core: &str| {
        let out = results_dir.path().join(format!("{core}.json"));
        let results = run_builtin(core, &out, &["--official", dir.path().to_str().unwrap()]);
        results["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["verdict"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(verdicts("draft-httpauth-payment-00"), ["info", "pass"]);
    assert_eq!(verdicts("draft-httpauth-payment-01"), ["pass", "info"]);
}
