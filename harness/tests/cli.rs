//! The `mppconf` binary end to end: vector validation errors that name the
//! file, case and field; runs through the reference adapter in both modes;
//! and broken adapters that must yield `error`/`fail`, never `pass`.

use std::path::{Path, PathBuf};
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

fn repo_vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
}

fn fixture_adapter(name: &str) -> String {
    format!(
        "{}/tests/fixtures/adapters/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A vectors folder with one file of three base64url cases.
fn tiny_vectors() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("core")).unwrap();
    let file = json!({
        "format": "mppconf-vectors/1",
        "title": "tiny",
        "notes": {},
        "cases": [
            {"id": "t.encode", "requirements": ["core.credential.syntax"], "op": "base64url.encode",
             "input": {"text": "hi"}, "result": "valid", "expected": {"text": "aGk"}},
            {"id": "t.decode-padded", "requirements": ["core.credential.syntax"], "op": "base64url.decode",
             "input": {"text": "aGk="}, "result": "invalid", "error": "encoding_error"},
            {"id": "t.decode", "requirements": ["core.credential.syntax"], "op": "base64url.decode",
             "input": {"text": "aGk"}, "result": "valid", "expected": {"text": "hi"}}
        ]
    });
    std::fs::write(dir.path().join("core/tiny.json"), file.to_string()).unwrap();
    dir
}

fn run_tiny(adapter: &str) -> (Output, Value) {
    let vectors = tiny_vectors();
    let out = vectors.path().join("results.json");
    let o = mppconf(&[
        "vectors",
        "run",
        "--adapter",
        adapter,
        "--vectors",
        vectors.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let results = std::fs::read_to_string(&out)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (o, results)
}

/// The same vectors in two places on disk, run from two working
/// directories: the cases name their file alike (the folder's name and the
/// path in it, never an absolute path), and the results' digest agrees.
#[test]
fn a_run_names_its_vector_files_the_same_from_anywhere() {
    let mut seen = Vec::new();
    for cwd in [env!("CARGO_MANIFEST_DIR"), "/"] {
        let place = tempfile::tempdir().unwrap();
        let tiny = tiny_vectors();
        let vectors = place.path().join("vectors");
        std::fs::create_dir_all(vectors.join("core")).unwrap();
        std::fs::copy(
            tiny.path().join("core/tiny.json"),
            vectors.join("core/tiny.json"),
        )
        .unwrap();
        let out = place.path().join("results.json");
        let o = Command::new(env!("CARGO_BIN_EXE_mppconf"))
            .args(["vectors", "run", "--adapter", "builtin", "--vectors"])
            .arg(&vectors)
            .arg("--out")
            .arg(&out)
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let results: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let files: Vec<&str> = results["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["file"].as_str().unwrap())
            .collect();
        assert_eq!(files, ["vectors/core/tiny.json"; 3]);
        seen.push(results["vectors_digest"].as_str().unwrap().to_string());
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn broken_vector_file_errors_name_file_case_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    let file = json!({
        "format": "mppconf-vectors/1",
        "title": "broken on purpose",
        "notes": {"Unused": {"description": "defined but never used"}},
        "cases": [
            {"id": "broken.unknown-field", "requirements": ["core.credential.syntax"], "op": "base64url.encode",
             "input": {"text": "a"}, "result": "valid", "expected": {"text": "YQ"}, "expcted": 1},
            {"id": "broken.dup", "requirements": ["core.credential.syntax"], "op": "base64url.encode",
             "input": {"text": "a"}, "result": "valid", "expected": {"text": "YQ"}},
            {"id": "broken.dup", "requirements": ["core.no-such.requirement"], "op": "base64url.encode",
             "input": {"text": "a"}, "result": "valid", "expected": {"text": "YQ=="}},
            {"id": "broken.wrong-error", "requirements": ["core.credential.syntax"], "op": "base64url.decode",
             "input": {"text": "YQ=="}, "result": "invalid", "error": "parse_error"},
            {"id": "broken.uncited-rejection", "requirements": ["charge.request.optional-fields"], "op": "request.validate",
             "input": {"method": "example", "intent": "charge", "request": {"amount": "1000"}},
             "result": "invalid", "error": "verification_error"}
        ]
    });
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let vectors = repo_vectors();
    let o = mppconf(&[
        "vectors",
        "validate",
        path.to_str().unwrap(),
        "--vectors",
        vectors.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o).replace(dir.path().to_str().unwrap(), "<tmp>");
    // The schema is checked first: the typo stops the rest of the lint.
    assert!(
        text.contains("<tmp>/broken.json: case broken.unknown-field: field `/cases/0`"),
        "{text}"
    );
    assert!(text.contains("expcted"), "{text}");

    // Without the typo, the semantic lint runs.
    let mut fixed = file.clone();
    fixed["cases"][0].as_object_mut().unwrap().remove("expcted");
    std::fs::write(&path, serde_json::to_string_pretty(&fixed).unwrap()).unwrap();
    let o = mppconf(&[
        "vectors",
        "validate",
        path.to_str().unwrap(),
        "--vectors",
        vectors.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o).replace(dir.path().to_str().unwrap(), "<tmp>");
    let (problems, summary) = text.trim_end().rsplit_once('\n').unwrap();
    assert!(summary.starts_with("1 vector files, 5 cases,"), "{summary}");
    assert!(summary.ends_with(": 6 problems"), "{summary}");
    insta::assert_snapshot!(problems);
}

#[test]
fn builtin_adapter_passes_the_tiny_vectors() {
    let (o, results) = run_tiny("builtin");
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("3 passed, 0 failed"));
    assert_eq!(results["summary"]["pass"], 3);
    let schema: Value = serde_json::from_str(include_str!(
        "../../reports/schema/vector-results.schema.json"
    ))
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let problems: Vec<String> = validator
        .iter_errors(&results)
        .map(|e| e.to_string())
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn reference_adapter_process_in_both_modes() {
    for mode in ["one-shot", "persistent"] {
        let dir = tempfile::tempdir().unwrap();
        let manifest = json!({
            "schema": 1, "name": "ref", "language": "rust", "mode": mode,
            "command": [env!("CARGO_BIN_EXE_mppconf"), "adapter"],
            "capabilities": ["base64url.encode", "base64url.decode"]
        });
        std::fs::write(dir.path().join("adapter.json"), manifest.to_string()).unwrap();
        let (o, results) = run_tiny(dir.path().to_str().unwrap());
        assert_eq!(o.status.code(), Some(0), "{mode}: {}", stdout(&o));
        assert_eq!(results["summary"]["pass"], 3, "{mode}");
    }
}

#[test]
fn broken_adapters_are_errors_never_passes() {
    for (adapter, says) in [
        ("crashes", "adapter exited with"),
        ("garbage", "answer is not JSON"),
        ("silent", "no answer within"),
    ] {
        let (o, results) = run_tiny(&fixture_adapter(adapter));
        assert_eq!(o.status.code(), Some(3), "{adapter}: {}", stdout(&o));
        assert_eq!(results["summary"]["error"], 3, "{adapter}");
        assert!(stdout(&o).contains(says), "{adapter}: {}", stdout(&o));
    }
}

#[test]
fn adapter_that_accepts_everything_fails() {
    let (o, results) = run_tiny(&fixture_adapter("accepts-everything"));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(results["summary"]["fail"], 3, "{}", stdout(&o));
}

#[test]
fn unsupported_operations_are_skipped_with_a_reason() {
    let (o, results) = run_tiny(&fixture_adapter("unsupported"));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(results["summary"]["skip"], 3);
    assert!(
        results["cases"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("does not support")
    );
}

#[test]
fn expectations_turn_known_failures_into_xfail_and_flag_stale_ones() {
    let dir = tempfile::tempdir().unwrap();
    let expect = dir.path().join("expect.json");
    std::fs::write(
        &expect,
        json!({"format": "mppconf-expectations/1", "cases": {"t.decode-padded": "accepts padding", "t.encode": "listed but passes"}})
            .to_string(),
    )
    .unwrap();
    let vectors = tiny_vectors();
    let o = mppconf(&[
        "vectors",
        "run",
        "--adapter",
        &fixture_adapter("accepts-everything"),
        "--vectors",
        vectors.path().to_str().unwrap(),
        "--expect",
        expect.to_str().unwrap(),
    ]);
    // t.decode-padded: xfail; t.encode: fails anyway (wrong value) so xfail;
    // t.decode: fail (not listed).
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let o = mppconf(&[
        "vectors",
        "run",
        "--adapter",
        "builtin",
        "--vectors",
        vectors.path().to_str().unwrap(),
        "--expect",
        expect.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    assert!(stdout(&o).contains("stale"));
}

#[test]
fn unknown_adapter_is_a_usage_error_that_says_what_to_give() {
    let o = mppconf(&["vectors", "run", "--adapter", "no-such-adapter"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--adapter no-such-adapter"), "{err}");
}

#[test]
fn broken_manifest_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("adapter.json"),
        json!({"schema": 1, "name": "x", "language": "sh", "command": [], "capabilities": ["challenge.parse"]}).to_string(),
    )
    .unwrap();
    let (o, _) = run_tiny(dir.path().to_str().unwrap());
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("adapter.json: field `/command`"), "{err}");
}

#[test]
fn reference_adapter_serves_one_shot_and_line_streams() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .arg("adapter")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let requests = "{\"schema\":1,\"op\":\"base64url.encode\",\"input\":{\"text\":\"hi\"}}\n{\n \"schema\": 1,\n \"op\": \"base64url.decode\",\n \"input\": {\"text\": \"aGk\"}\n}\nnot json\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(requests.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["value"]["text"], "aGk");
    assert_eq!(lines[1]["value"]["text"], "hi");
    assert_eq!(lines[2]["error"]["type"], "unknown_error");
}

#[test]
fn catalogue_lint_catches_a_misquoted_requirement() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo_vectors();
    std::fs::create_dir_all(dir.path().join("requirements")).unwrap();
    std::fs::create_dir_all(dir.path().join("specs")).unwrap();
    std::fs::copy(
        repo.join("specs/draft-httpauth-payment-00.md"),
        dir.path().join("specs/draft-httpauth-payment-00.md"),
    )
    .unwrap();
    let mut catalogue: Value = serde_json::from_str(
        &std::fs::read_to_string(repo.join("requirements/draft-httpauth-payment-00.json")).unwrap(),
    )
    .unwrap();
    let first_id = catalogue["requirements"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    catalogue["requirements"][0]["quote"] =
        json!("Servers MAY ignore every requirement of this draft.");
    let duplicate = catalogue["requirements"][1].clone();
    catalogue["requirements"]
        .as_array_mut()
        .unwrap()
        .push(duplicate);
    std::fs::write(
        dir.path()
            .join("requirements/draft-httpauth-payment-00.json"),
        catalogue.to_string(),
    )
    .unwrap();
    let o = mppconf(&[
        "vectors",
        "validate",
        "--vectors",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("case {first_id}: field `quote`: quote not found")),
        "{text}"
    );
    assert!(text.contains("id also defined in"), "{text}");
}

#[test]
fn drift_cases_are_info_whatever_happens_and_never_gate() {
    let dir = tempfile::tempdir().unwrap();
    let drift = dir.path().join("drift.json");
    std::fs::write(
        &drift,
        json!({"format": "mppconf-drift/1", "cases": {"t.decode-padded": "a newer draft accepts padding"}}).to_string(),
    )
    .unwrap();
    let vectors = tiny_vectors();
    for (adapter, code) in [
        ("builtin".to_string(), 0),
        (fixture_adapter("accepts-everything"), 1),
    ] {
        let out = dir.path().join("r.json");
        let o = mppconf(&[
            "vectors",
            "run",
            "--adapter",
            &adapter,
            "--vectors",
            vectors.path().to_str().unwrap(),
            "--drift",
            drift.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        // accepts-everything still fails the two cases that are not drift.
        assert_eq!(o.status.code(), Some(code), "{adapter}: {}", stdout(&o));
        let results: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let case = results["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "t.decode-padded")
            .unwrap();
        assert_eq!(case["verdict"], "info", "{adapter}");
        assert!(
            case["detail"]
                .as_str()
                .unwrap()
                .starts_with("spec drift: a newer draft accepts padding")
        );
    }
}

#[test]
fn annotation_file_with_a_wrong_format_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let drift = dir.path().join("drift.json");
    std::fs::write(&drift, json!({"format": "drift", "cases": {}}).to_string()).unwrap();
    let vectors = tiny_vectors();
    let o = mppconf(&[
        "vectors",
        "run",
        "--adapter",
        "builtin",
        "--vectors",
        vectors.path().to_str().unwrap(),
        "--drift",
        drift.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("drift.json: field `format`"), "{err}");
}

/// The CI gate end to end on the client suite (fast, in-process client):
/// two shards merge into the whole run; a baseline turns a known failure
/// into xfail (exit 0) and a listed check that passes into stale (exit 4);
/// a bad shard or baseline is a usage error (exit 2) naming what is wrong.
#[test]
fn shards_merge_and_baselines_gate() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    for (i, part) in [(1, "p1"), (2, "p2")] {
        let o = mppconf(&[
            "client",
            "--reference",
            "--shard",
            &format!("{i}/2"),
            "--report-dir",
            &d(part),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    }
    let o = mppconf(&[
        "report",
        "merge",
        &format!("{}/report.json", d("p2")),
        &format!("{}/report.json", d("p1")),
        "--out",
        &d("merged"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let merged: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("merged/report.json")).unwrap(),
    )
    .unwrap();
    let whole =
        mppconf_harness::client_suite::checks_for(mppconf_suite::drafts::CoreDraft::Draft00).len();
    assert_eq!(merged["checks"].as_array().unwrap().len(), whole);
    for f in [
        "report.html",
        "draft-tempo-charge-00.md",
        "draft-tempo-charge-00.junit.xml",
    ] {
        assert!(dir.path().join("merged").join(f).is_file(), "{f}");
    }

    let baseline = dir.path().join("baseline.json");
    let write = |cases: Value| {
        std::fs::write(
            &baseline,
            json!({"format": "mppconf-expectations/1", "cases": cases}).to_string(),
        )
        .unwrap()
    };
    let b = baseline.to_string_lossy().into_owned();
    write(json!({
        "tx.memo": "dropped by design",
        "tx.splits": "the split's memo, dropped too",
        "standard.paid": "follows from tx.memo"
    }));
    let o = mppconf(&[
        "client",
        "--reference",
        "--deviate",
        "drop-memo",
        "--baseline",
        &b,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "known failures do not gate: {}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("xfail"), "{}", stdout(&o));
    let o = mppconf(&["client", "--reference", "--baseline", &b]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "a listed check that passes is stale: {}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("stale"), "{}", stdout(&o));
    write(json!({"tx.mem": "typo"}));
    let o = mppconf(&["client", "--reference", "--baseline", &b]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("baseline.json") && err.contains("tx.mem"),
        "{err}"
    );
    let o = mppconf(&["client", "--reference", "--shard", "3/2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--shard"));
}

/// `vectors run --report-dir` writes the report model too (suite
/// `vectors`, one check per case), schema-valid and readable back.
#[test]
fn vector_runs_write_the_report_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_string_lossy().into_owned();
    let o = mppconf(&[
        "vectors",
        "run",
        "--adapter",
        "builtin",
        "--filter",
        "base64url.",
        "--report-dir",
        &d,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let report = mppconf_harness::report::Report::read(&dir.path().join("report.json")).unwrap();
    assert_eq!(report.suite, "vectors");
    assert!(report.checks.iter().all(|c| c.id.starts_with("base64url.")));
    assert!(
        report
            .checks
            .iter()
            .all(|c| c.reproduce.contains("--filter"))
    );
    assert!(
        dir.path()
            .join("draft-httpauth-payment-00.junit.xml")
            .is_file()
    );
}

#[test]
fn report_join_takes_an_sdks_published_runs_as_one_report() {
    let out = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = |p: &str| root.join(p).display().to_string();
    let (server, client, vectors) = (
        run("reports/servers/mppx-0-11-0/report.json"),
        run("reports/clients/mppx-0-11-0/report.json"),
        run("reports/vectors/mppx/report.json"),
    );
    let dir = out.path().join("joined");
    let o = mppconf(&[
        "report",
        "join",
        &server,
        &client,
        &vectors,
        "--target",
        "mppx 0.11.0",
        "--out",
        dir.to_str().unwrap(),
    ]);
    // The SDK has findings: the joined report gates as its runs do.
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("3 runs"), "{}", stdout(&o));
    let joined: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(joined["suite"], "joined");
    assert_eq!(joined["runs"].as_array().unwrap().len(), 3);
    // Every evidence link resolves from the joined report's folder.
    let mut linked = 0;
    for c in joined["checks"].as_array().unwrap() {
        if let Some(e) = c["evidence"].as_str() {
            assert!(dir.join(e).is_file(), "{e}");
            linked += 1;
        }
    }
    assert!(linked > 0);
    // No requirement a run exercised shows as not covered.
    for spec in joined["specs"].as_array().unwrap() {
        for q in spec["requirements"].as_array().unwrap() {
            if !q["checks"].as_array().unwrap().is_empty() {
                assert!(q.get("verdict").is_some(), "{q}");
            }
        }
    }
    // A joined report is not a run to join again.
    let again = mppconf(&[
        "report",
        "join",
        dir.join("report.json").to_str().unwrap(),
        "--target",
        "x",
        "--out",
        out.path().join("again").to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
}

/// The official cross-SDK suite's layout, as its runner discovers it:
/// `conformance/adapters/<name>/adapter.json`, each manifest exactly in its
/// shape (`$schema` pointing into its schemas, `cwd` relative to the
/// manifest, no `mode`: one process per call, its capability names,
/// including the flow and staged operations mppconf does not call). Here
/// the commands are mppconf's own reference adapter, and one that crashes.
fn official_layout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, command) in [
        ("golden", json!([env!("CARGO_BIN_EXE_mppconf"), "adapter"])),
        ("broken", json!(["sh", "-c", "exit 3"])),
    ] {
        let folder = dir.path().join("conformance/adapters").join(name);
        std::fs::create_dir_all(&folder).unwrap();
        let manifest = json!({
            "$schema": "../../schemas/adapter-manifest.schema.json",
            "schema": 1,
            "name": name,
            "language": "rust",
            "command": command,
            "cwd": "../..",
            "capabilities": [
                "challenge.parse", "challenge.format", "credential.parse",
                "credential.format", "receipt.parse", "receipt.format",
                "base64url.encode", "base64url.decode", "challenge.id",
                "http.payment_request", "tempo.receipt.verify"
            ]
        });
        std::fs::write(
            folder.join("adapter.json"),
            serde_json::to_string_pretty(&manifest).unwrap(),
        )
        .unwrap();
    }
    dir
}

#[test]
fn official_adapter_manifests_run_unchanged_by_name() {
    let layout = official_layout();
    let adapters = layout.path().join("conformance/adapters");
    let adapters = adapters.to_str().unwrap();
    // Our vectors, through an official manifest found by name.
    let out = layout.path().join("results.json");
    let o = mppconf(&[
        "vectors",
        "run",
        "--adapters",
        adapters,
        "--adapter",
        "golden",
        "--filter",
        "challenge.parse",
        "--filter",
        "receipt.parse",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(
        results["summary"]["pass"].as_u64().unwrap() > 50,
        "{}",
        results["summary"]
    );
    for (verdict, n) in results["summary"].as_object().unwrap() {
        assert!(
            ["pass", "skip", "info", "lenient"].contains(&verdict.as_str()),
            "{n} {verdict}"
        );
    }
    // Differential fuzzing with it: the reference codec and the golden
    // adapter agree on every input.
    let fuzz = layout.path().join("fuzz");
    let o = mppconf(&[
        "fuzz",
        "diff",
        "--adapters",
        adapters,
        "--adapter",
        "golden",
        "--seed",
        "7",
        "--cases",
        "150",
        "--out-dir",
        fuzz.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let findings: Value =
        serde_json::from_str(&std::fs::read_to_string(fuzz.join("findings.json")).unwrap())
            .unwrap();
    assert_eq!(
        findings["findings"].as_array().map(Vec::len),
        Some(0),
        "{findings}"
    );
    // No disagreement, no candidate vector file (it would hold no case).
    assert!(!fuzz.join("candidates.json").exists());
    // A crashing official adapter is an error per case, never a pass.
    let o = mppconf(&[
        "vectors",
        "run",
        "--adapters",
        adapters,
        "--adapter",
        "broken",
        "--filter",
        "receipt.parse",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    // A name the folder does not have says where it looked.
    let o = mppconf(&[
        "vectors",
        "run",
        "--adapters",
        adapters,
        "--adapter",
        "java",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains(adapters));
}

/// `mppconf report coverage … | head -1`: a reader that has gone ends the
/// output quietly, with the command's own exit code, not a panic. The
/// pipe's read end is closed before mppconf starts, so its first write
/// already meets the closed pipe.
#[test]
fn a_closed_stdout_pipe_ends_the_output_quietly() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let report =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/vectors/reference/report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .args(["report", "coverage"])
        .arg(&report)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("mppconf runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
