//! The command line as a CI gate: a selection that selects nothing, a bad
//! flag or file, is a usage error (exit 2) found before anything starts,
//! naming the flag or the file, line, column and field; baselines work
//! with selections; every `Reproduce:` line of a failing run reproduces
//! its failure.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

fn mppconf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("mppconf runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Exit 2 within a second, nothing started, and the message says `says`.
fn usage_error(args: &[&str], says: &[&str]) {
    let start = Instant::now();
    let o = mppconf(args);
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    assert!(took < Duration::from_secs(2), "{args:?} took {took:?}");
    for s in says {
        assert!(text(&o).contains(s), "{args:?}: {s:?} not in {}", text(&o));
    }
    assert!(
        !text(&o).contains("anvil"),
        "{args:?} started a chain: {}",
        text(&o)
    );
}

#[test]
fn a_filter_that_selects_nothing_is_a_usage_error_naming_close_ids() {
    usage_error(
        &["server", "--reference", "--filter", "replay.rejectd"],
        &[
            "--filter \"replay.rejectd\" matches no check",
            "replay.rejected",
        ],
    );
    usage_error(
        &["client", "--reference", "--filter", "echo.idd"],
        &["--filter \"echo.idd\" matches no check", "echo.id"],
    );
    usage_error(
        &[
            "vectors",
            "run",
            "--adapter",
            "builtin",
            "--filter",
            "base64url.decod-padded",
        ],
        &["matches no case", "base64url.decode"],
    );
    usage_error(
        &[
            "server",
            "--reference",
            "--filter",
            "tamper.realm",
            "--shard",
            "1/500",
        ],
        &["--shard 1/500 selects no check"],
    );
}

#[test]
fn bad_flags_are_found_before_anything_starts() {
    usage_error(
        &["server", "--url", "127.0.0.1:1"],
        &["--url \"127.0.0.1:1\"", "http://"],
    );
    usage_error(
        &[
            "server",
            "--url",
            "http://127.0.0.1:1",
            "--rpc",
            "localhost:8545",
        ],
        &["--rpc"],
    );
    usage_error(
        &[
            "server",
            "--url",
            "http://127.0.0.1:1",
            "--payer-key",
            "0x12",
        ],
        &["--payer-key", "64 hex digits"],
    );
    // A report folder that cannot be made (its parent is a file; read-only
    // folders do not stop root).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let report = file.join("report");
    usage_error(
        &[
            "server",
            "--reference",
            "--report-dir",
            report.to_str().unwrap(),
        ],
        &["--report-dir", "cannot write there"],
    );
    usage_error(
        &[
            "client",
            "--reference",
            "--report-dir",
            report.to_str().unwrap(),
        ],
        &["--report-dir"],
    );
    usage_error(
        &[
            "vectors",
            "run",
            "--adapter",
            "builtin",
            "--report-dir",
            report.to_str().unwrap(),
        ],
        &["--report-dir"],
    );
    // A read-only folder (refused even for root, who could write it).
    let read_only = dir.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    std::fs::set_permissions(
        &read_only,
        std::os::unix::fs::PermissionsExt::from_mode(0o555),
    )
    .unwrap();
    let under = read_only.join("report");
    usage_error(
        &[
            "server",
            "--reference",
            "--report-dir",
            under.to_str().unwrap(),
        ],
        &["--report-dir", "read-only"],
    );
}

#[test]
fn broken_files_name_the_file_line_column_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, content: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p.to_str().unwrap().to_string()
    };
    let config = write(
        "serve.toml",
        "realm = \"x\"\n\n[[route]]\npath = \"/paid\"\namount = 1000\nrecipient = \"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC\"\n",
    );
    let o = mppconf(&["serve", "--config", &config]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("serve.toml:5:10: field `route[0].amount`: invalid type: integer"),
        "{}",
        text(&o)
    );
    let manifest = write(
        "target.toml",
        "name = \"x\"\n[server]\ncommand = [\"node\"]\nbase_url = \"http://127.0.0.1:{port}\"\nready = { path = \"/paid\", timeout_secs = \"60\" }\n[[resource]]\npath = \"/paid\"\n",
    );
    usage_error(
        &["server", "--target", &manifest],
        &["target.toml:5:42: field `/server/ready/timeout_secs`"],
    );
    let baseline = write(
        "baseline.json",
        "{\"format\": \"mppconf-expectations/1\",\n \"cases\": {\"replay.rejected\": 5}}",
    );
    usage_error(
        &["server", "--reference", "--baseline", &baseline],
        &["baseline.json:2:31: field `cases.replay.rejected`"],
    );
    let typo = write(
        "typo.json",
        "{\"format\": \"mppconf-expectations/1\", \"cases\": {\"replay.rejectd\": \"x\"}}",
    );
    usage_error(
        &["server", "--reference", "--baseline", &typo],
        &["field `cases.replay.rejectd`", "closest: replay.rejected"],
    );
}

/// A baseline entry outside the selection is not judged (neither xfail
/// nor stale): a filter and a baseline go together.
#[test]
fn a_baseline_works_with_a_filter() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    std::fs::write(
        &baseline,
        r#"{"format": "mppconf-expectations/1", "cases": {"unpaid.cache-no-store": "known", "replay.rejected": "not in this selection"}}"#,
    )
    .unwrap();
    let report = dir.path().join("report");
    let o = mppconf(&[
        "server",
        "--reference",
        "--deviate",
        "no-cache-control",
        "--filter",
        "unpaid.cache",
        "--baseline",
        baseline.to_str().unwrap(),
        "--report-dir",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    for c in r["checks"].as_array().unwrap() {
        assert_eq!(c["id"], "unpaid.cache-no-store");
        assert_eq!(c["verdict"], "xfail", "{c}");
        assert!(
            c["reproduce"].as_str().unwrap().contains("--baseline"),
            "{c}"
        );
    }
}

/// Runs a report's `Reproduce:` command (`mppconf …`) with this binary.
fn reproduce(line: &str, report_dir: &Path) -> Output {
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "mppconf", "{line}");
    let mut args: Vec<&str> = words[1..].to_vec();
    let dir = report_dir.to_str().unwrap();
    args.extend(["--report-dir", dir]);
    mppconf(&args)
}

/// (A deterministic deviation: whether concurrent copies of a credential
/// race past a server without a replay check depends on timing.)
#[test]
fn every_reproduce_line_of_a_failing_run_reproduces_its_failure() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("run");
    let o = mppconf(&[
        "server",
        "--reference",
        "--deviate",
        "skip-echo-check",
        "--filter",
        "tamper.",
        "--filter",
        "forged-id.",
        "--report-dir",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    let failing: Vec<&Value> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .collect();
    assert!(failing.len() >= 3, "{}", text(&o));
    for (n, c) in failing.iter().enumerate() {
        let line = c["reproduce"].as_str().unwrap();
        let again = dir.path().join(format!("again-{n}"));
        let o = reproduce(line, &again);
        assert_eq!(o.status.code(), Some(1), "{line}: {}", text(&o));
        let r2: Value =
            serde_json::from_str(&std::fs::read_to_string(again.join("report.json")).unwrap())
                .unwrap();
        assert!(
            r2["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["id"] == c["id"]
                    && d["subject"] == c["subject"]
                    && d["verdict"] == "fail"),
            "{line} did not reproduce {} on {}",
            c["id"],
            c["subject"]
        );
    }
}

/// A target that does not answer the first unpaid request (it accepts and
/// stays silent, or nothing listens) is one harness error, exit 3, naming
/// the request, before any check runs and before any chain starts.
#[test]
fn a_target_that_does_not_answer_is_one_harness_error() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let closed_url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    for (url, why) in [
        (&silent_url, "no answer within 5s"),
        (&closed_url, "Connection refused"),
    ] {
        let o = mppconf(&["server", "--url", url, "--path", "/paid"]);
        let said = text(&o);
        assert_eq!(o.status.code(), Some(3), "{url}: {said}");
        assert!(
            said.contains(&format!(
                "did not answer the first unpaid request (GET {url}/paid"
            )) && said.contains("Nothing was judged")
                && said.contains(why),
            "{url}: {said}"
        );
        assert!(!said.contains("anvil"), "{url} started a chain: {said}");
        assert!(!said.contains("passed"), "{url} ran checks: {said}");
    }
    drop(silent);
}

#[test]
fn the_escrow_suite_refuses_bad_input_before_starting_a_chain() {
    usage_error(&["escrow"], &["give --creation-code FILE", "--reference"]);
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("escrow.hex");
    std::fs::write(&typo, "0x6080zz").unwrap();
    usage_error(
        &["escrow", "--creation-code", typo.to_str().unwrap()],
        &[
            typo.to_str().unwrap(),
            "not hex creation code",
            "constructor arguments",
        ],
    );
    let missing = dir.path().join("missing.hex");
    usage_error(
        &["escrow", "--creation-code", missing.to_str().unwrap()],
        &[missing.to_str().unwrap()],
    );
    usage_error(
        &["escrow", "--reference", "--deviate", "settle-anyone"],
        &["settle-anyone", "settle-any-caller"],
    );
    usage_error(
        &[
            "escrow",
            "--reference",
            "--filter",
            "escrow.settle.payee-onyl",
        ],
        &["matches no check", "escrow.settle.payee-only"],
    );
}
