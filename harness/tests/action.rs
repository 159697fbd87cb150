//! The composite GitHub Action (`action.yml`), as far as it can run here:
//! its work is `action/run.sh`, run against the reference server (and
//! client) as the action runs it, with GitHub's summary and output files;
//! and `action.yml` itself, read as YAML, hands the script every input it
//! reads and publishes the files the script writes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Run {
    exit_code: String,
    summary: String,
    dir: tempfile::TempDir,
}

/// Runs action/run.sh in a fresh folder with these inputs.
fn action(inputs: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let output = dir.path().join("output");
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("action/run.sh"))
        .current_dir(dir.path())
        .env("MPPCONF", env!("CARGO_BIN_EXE_mppconf"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &output);
    for (k, v) in inputs {
        cmd.env(format!("INPUT_{}", k.to_uppercase().replace('-', "_")), v);
    }
    let out = cmd.output().unwrap();
    // The script never fails its step: the gate is action.yml's last step.
    assert!(out.status.success(), "{out:?}");
    let output = std::fs::read_to_string(&output).unwrap();
    let exit_code = output
        .lines()
        .find_map(|l| l.strip_prefix("exit-code="))
        .unwrap_or_else(|| panic!("no exit-code in {output:?}"))
        .to_string();
    Run {
        exit_code,
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        dir,
    }
}

#[test]
fn the_action_runs_and_gates_the_reference_pair() {
    let good = action(&[
        ("server", "reference"),
        (
            "server-args",
            "--filter unpaid.status-402 --filter unpaid.cache-no-store",
        ),
        ("client", "reference"),
        ("client-args", "--filter standard.paid"),
    ]);
    assert_eq!(good.exit_code, "0", "{}", good.summary);
    assert!(
        good.summary.starts_with("## mppconf: conformant"),
        "{}",
        good.summary
    );
    assert!(
        good.summary
            .contains("| server | `reference` | 0 | conformant |")
    );
    assert!(
        good.summary
            .contains("| client | `reference` | 0 | conformant |")
    );
    // The per-spec Markdown of each run is in the summary, and the JUnit
    // files are where action.yml publishes them from.
    assert!(good.summary.contains("# mppconf server suite: "));
    assert!(good.summary.contains("# mppconf client suite: "));
    for suite in ["server", "client"] {
        let junit = good
            .dir
            .path()
            .join("mppconf-report")
            .join(suite)
            .join("draft-httpauth-payment-00.junit.xml");
        assert!(junit.is_file(), "{}", junit.display());
    }

    // A server that breaks a MUST: exit 1, and the summary names it.
    let bad = action(&[
        ("server", "reference"),
        (
            "server-args",
            "--filter unpaid.cache-no-store --deviate no-cache-control",
        ),
        ("report-dir", "out"),
    ]);
    assert_eq!(bad.exit_code, "1", "{}", bad.summary);
    assert!(bad.summary.starts_with("## mppconf: not conformant"));
    assert!(
        bad.summary.contains("unpaid.cache-no-store"),
        "{}",
        bad.summary
    );
    assert!(bad.dir.path().join("out/server/report.json").is_file());

    // The same failure, listed in a baseline: xfail, conformant.
    let baseline = bad.dir.path().join("baseline.json");
    std::fs::write(
        &baseline,
        r#"{"format": "mppconf-expectations/1", "cases": {"unpaid.cache-no-store": "known"}}"#,
    )
    .unwrap();
    let known = action(&[
        ("server", "reference"),
        (
            "server-args",
            "--filter unpaid.cache-no-store --deviate no-cache-control",
        ),
        ("server-baseline", baseline.to_str().unwrap()),
    ]);
    assert_eq!(known.exit_code, "0", "{}", known.summary);

    // Nothing to run, or a manifest that is not there: usage errors.
    assert_eq!(action(&[]).exit_code, "2");
    let missing = action(&[("server", "ci/no-such-server.toml")]);
    assert_eq!(missing.exit_code, "2", "{}", missing.summary);
}

#[test]
fn action_yml_hands_the_script_every_input_and_publishes_what_it_writes() {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let yml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let inputs: BTreeSet<String> = yml["inputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let steps = yml["runs"]["steps"].as_sequence().unwrap();
    assert_eq!(yml["runs"]["using"], "composite");
    let run = steps
        .iter()
        .find(|s| s["id"] == "run")
        .expect("the step that runs the suites");
    assert!(run["run"].as_str().unwrap().contains("action/run.sh"));
    let env = run["env"].as_mapping().unwrap();
    // Every INPUT_* the script reads comes from the input of that name.
    let script = std::fs::read_to_string(root().join("action/run.sh")).unwrap();
    let read: BTreeSet<&str> = script
        .match_indices("INPUT_")
        .map(|(at, _)| {
            let rest = &script[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|var| var.len() > "INPUT_".len())
        .collect();
    assert!(read.len() >= 9, "{read:?}");
    for var in &read {
        let input = var["INPUT_".len()..].to_lowercase().replace('_', "-");
        assert!(inputs.contains(&input), "{var}: no input {input}");
        let value = env
            .get(*var)
            .unwrap_or_else(|| panic!("the run step does not set {var}"));
        assert_eq!(
            value.as_str().unwrap(),
            format!("${{{{ inputs.{input} }}}}"),
            "{var}"
        );
    }
    // Every input is used somewhere: by the script or by a step.
    for input in &inputs {
        let var = format!("INPUT_{}", input.to_uppercase().replace('-', "_"));
        assert!(
            read.contains(var.as_str()) || text.matches(&format!("inputs.{input}")).count() > 0,
            "input {input} is never used"
        );
    }
    // The artifact and the JUnit files come from where the script writes.
    let with = |uses: &str| {
        steps
            .iter()
            .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(uses)))
            .unwrap_or_else(|| panic!("a step using {uses}"))["with"]
            .clone()
    };
    assert_eq!(
        with("actions/upload-artifact")["path"],
        "${{ inputs.report-dir }}"
    );
    assert_eq!(
        with("mikepenz/action-junit-report")["report_paths"],
        "${{ inputs.report-dir }}/*/*.junit.xml"
    );
    assert!(script.contains("--report-dir \"$dir/$suite\""));
    // The installation is this action's own checkout: the pinned tag.
    let install = steps
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("cargo install"))
        })
        .unwrap();
    assert!(
        install["run"]
            .as_str()
            .unwrap()
            .contains("--locked --path \"${{ github.action_path }}/harness\"")
    );
}

#[test]
fn the_readme_examples_use_only_inputs_the_action_has() {
    let action: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root().join("action.yml")).unwrap())
            .unwrap();
    let inputs = action["inputs"].as_mapping().unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut used = 0;
    for block in readme.split("```yaml\n").skip(1) {
        let yaml = &block[..block.find("```").unwrap()];
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
        for job in doc["jobs"].as_mapping().unwrap().values() {
            for step in job["steps"].as_sequence().unwrap() {
                if !step["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("mppconf/mppconf@"))
                {
                    continue;
                }
                used += 1;
                for key in step["with"].as_mapping().unwrap().keys() {
                    assert!(inputs.contains_key(key), "README uses input {key:?}");
                }
            }
        }
    }
    assert!(used >= 2, "the README's examples use the action");
}
