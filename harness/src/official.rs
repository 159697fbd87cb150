//! Reads vector files of the official cross-SDK suite
//! (`tempoxyz/mpp-tools`, `conformance/vectors/*.json`) into our cases, so
//! `mppconf vectors run --official DIR` can judge any adapter (ours
//! included) on them without the project committing them.
//!
//! Their format: `{version, description, spec_ref, commands, scenarios}`;
//! a scenario has `name`, `wire` and/or `object` (`encoded`/`decoded` for
//! base64url, `input`/`expected` for generate and operation files) and
//! `tests: {parse, format, roundtrip, generate}`, each `true` or
//! `{"success": false, "error_type": T}`.

use std::path::{Path, PathBuf};

use mppconf_suite::vectors::{Case, Expectation};
use serde_json::{Value, json};

use crate::error::{Error, Result, read_json};
use crate::runner::SourcedCase;

/// The requirement an official operation exercises.
fn requirement_of(op: &str) -> &'static str {
    match op.split('.').next().unwrap_or_default() {
        "challenge" if op == "challenge.id" => "core.binding.hmac-sha256",
        "challenge" => "core.challenge.auth-param-syntax",
        "credential" => "core.credential.syntax",
        "receipt" => "core.receipt.syntax",
        _ => "core.credential.syntax",
    }
}

/// Legacy command names of the official runner → ABI operations.
fn op_of_command(command: &str) -> Option<&'static str> {
    Some(match command {
        "parse-www-authenticate" => "challenge.parse",
        "format-www-authenticate" => "challenge.format",
        "parse-authorization" => "credential.parse",
        "format-authorization" => "credential.format",
        "parse-receipt" => "receipt.parse",
        "format-receipt" => "receipt.format",
        "base64url-decode" => "base64url.decode",
        "base64url-encode" => "base64url.encode",
        "generate-challenge-id" => "challenge.id",
        _ => return None,
    })
}

/// Loads every official vector file of a folder (all `*.json` but
/// `package.json`) for the named adapter: scenarios the official suite
/// runs only for other adapters (`adapters`, `sdkVersions`) are skipped,
/// with that reason. Timing budgets (`maxDurationMs`) are not applied.
pub fn load_dir(dir: &Path, adapter: &str) -> Result<Vec<SourcedCase>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.file_name().is_some_and(|n| n != "package.json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no official vector files (*.json) found; give the suite's conformance/vectors folder",
            dir.display()
        )));
    }
    let mut cases = Vec::new();
    for path in paths {
        cases.extend(load_file(&path, adapter)?);
    }
    Ok(cases)
}

fn load_file(path: &Path, adapter: &str) -> Result<Vec<SourcedCase>> {
    let doc = read_json(path)?;
    let bad = |field: &str, reason: &str| Error::field(path, field, reason);
    let commands = doc["commands"]
        .as_object()
        .ok_or_else(|| bad("commands", "missing: is this an official vector file?"))?;
    let scenarios = doc["scenarios"]
        .as_array()
        .ok_or_else(|| bad("scenarios", "missing or not an array"))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("vectors")
        .to_ascii_lowercase();
    let command_op = |test: &str| -> Option<String> {
        let key = if test == "generate" && commands.contains_key("operation") {
            "operation"
        } else {
            test
        };
        let name = commands.get(key)?.as_str()?;
        Some(op_of_command(name).map_or_else(|| name.to_string(), str::to_string))
    };
    let mut out = Vec::new();
    for (i, sc) in scenarios.iter().enumerate() {
        let name = sc["name"]
            .as_str()
            .ok_or_else(|| bad(&format!("scenarios[{i}].name"), "missing"))?;
        let base = format!("official.{stem}.{}", slug(name));
        let tests: Vec<(String, Value)> = match sc["tests"].as_object() {
            Some(t) => t.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            // Operation files carry `input` and a full expected response.
            None => vec![("generate".to_string(), Value::Bool(true))],
        };
        for (test, expectation) in tests {
            let id = format!("{base}.{test}");
            let Some(op) = (if test == "roundtrip" {
                command_op("parse")
            } else {
                command_op(&test)
            }) else {
                return Err(bad(
                    &format!("scenarios[{i}].tests.{test}"),
                    "no matching entry in `commands`",
                ));
            };
            let mut case = scenario_case(path, sc, &id, &test, &op, &expectation);
            if case.skip.is_none() {
                case.skip = reserved_for_others(sc, adapter);
            }
            out.push(case);
        }
    }
    Ok(out)
}

/// One official test of one scenario as our case. Operations outside the
/// pinned drafts' codec (e.g. `tempo.receipt.verify`) become skips.
fn scenario_case(
    path: &Path,
    sc: &Value,
    id: &str,
    test: &str,
    op: &str,
    expectation: &Value,
) -> SourcedCase {
    let wire = expand_wire(&sc["wire"]);
    let base64 = op.starts_with("base64url.");
    let (op, input, expected) = match test {
        "parse" if base64 => (
            op.to_string(),
            json!({"text": sc["encoded"]}),
            Some(json!({"text": sc["decoded"]})),
        ),
        "format" if base64 => (
            op.to_string(),
            json!({"text": sc["decoded"]}),
            Some(json!({"text": sc["encoded"]})),
        ),
        "parse" => (
            op.to_string(),
            json!({"header": wire}),
            Some(sc["object"].clone()),
        ),
        "format" => (op.to_string(), sc["object"].clone(), None),
        "roundtrip" if base64 => (
            "base64url.roundtrip".to_string(),
            json!({"text": sc["encoded"]}),
            Some(json!({"text": sc["decoded"]})),
        ),
        "roundtrip" => {
            let kind = op.trim_end_matches(".parse");
            (
                format!("{kind}.roundtrip"),
                json!({"header": wire}),
                Some(sc["object"].clone()),
            )
        }
        _ if op == "challenge.id" => (
            op.to_string(),
            sc["input"].clone(),
            sc.get("expected").map(|id| json!({"id": id})),
        ),
        _ => (
            op.to_string(),
            sc["input"].clone(),
            sc["expected"].get("value").cloned(),
        ),
    };
    let error = expectation
        .get("error_type")
        .or_else(|| sc["expected"]["error"].get("type"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let result = if error.is_some() {
        Expectation::Invalid
    } else {
        Expectation::Valid
    };
    let supported =
        mppconf_suite::ops::OPERATIONS.contains(&op.as_str()) || op.ends_with(".roundtrip");
    SourcedCase {
        file: path.into(),
        skip: (!supported).then(|| format!("{op} is outside the pinned drafts' wire codec")),
        case: Case {
            id: id.to_string(),
            comment: sc["description"].as_str().map(str::to_string),
            requirements: vec![requirement_of(&op).to_string()],
            flags: vec![],
            input,
            result,
            expected: if result == Expectation::Valid && !op.ends_with(".format") {
                expected
            } else {
                None
            },
            error,
            error_code: None,
            drafts: vec![],
            alternatives: vec![],
            op,
        },
    }
}

/// Why a scenario is not for `adapter`, if the official file restricts it.
fn reserved_for_others(sc: &Value, adapter: &str) -> Option<String> {
    if let Some(list) = sc["adapters"].as_array()
        && !list.iter().any(|a| a == adapter)
    {
        return Some(format!(
            "the official suite runs this scenario only for adapters {}",
            sc["adapters"]
        ));
    }
    if let Some(versions) = sc["sdkVersions"].as_object()
        && !versions.contains_key(adapter)
    {
        return Some(format!(
            "the official suite runs this scenario only for SDK versions {}",
            sc["sdkVersions"]
        ));
    }
    None
}

/// `wire` is a string, or `{prefix, repeat, count, suffix?}` for long inputs.
fn expand_wire(wire: &Value) -> Value {
    match wire {
        Value::Object(w) => {
            let s = |k: &str| w.get(k).and_then(Value::as_str).unwrap_or_default();
            let count = w.get("count").and_then(Value::as_u64).unwrap_or(0) as usize;
            Value::String(format!(
                "{}{}{}",
                s("prefix"),
                s("repeat").repeat(count),
                s("suffix")
            ))
        }
        other => other.clone(),
    }
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_each_test_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("www-authenticate.json");
        std::fs::write(
            &path,
            json!({
                "version": "2.0.0", "description": "d", "spec_ref": "s",
                "commands": {"parse": "parse-www-authenticate", "format": "format-www-authenticate"},
                "scenarios": [
                    {"name": "empty_request", "description": "d", "tags": [],
                     "object": {"id": "a", "realm": "r", "method": "tempo", "intent": "charge", "request": {}},
                     "wire": "Payment id=\"a\", realm=\"r\", method=\"tempo\", intent=\"charge\", request=\"e30\"",
                     "tests": {"parse": true, "format": true, "roundtrip": true}},
                    {"name": "error_missing_id", "description": "d", "tags": [],
                     "wire": {"prefix": "Payment realm=\"", "repeat": "a", "count": 3, "suffix": "\""},
                     "tests": {"parse": {"success": false, "error_type": "parse_error"}}}
                ]
            })
            .to_string(),
        )
        .unwrap();
        let cases = load_dir(dir.path(), "builtin").unwrap();
        let ids: Vec<&str> = cases.iter().map(|c| c.case.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "official.www-authenticate.empty-request.parse",
                "official.www-authenticate.empty-request.format",
                "official.www-authenticate.empty-request.roundtrip",
                "official.www-authenticate.error-missing-id.parse"
            ]
        );
        assert_eq!(cases[3].case.input["header"], "Payment realm=\"aaa\"");
        assert_eq!(cases[3].case.result, Expectation::Invalid);
        let mut reference = mppconf_suite::vectors::Reference::default();
        for c in &cases {
            let j = mppconf_suite::vectors::judge(&c.case, &mut reference, Default::default());
            assert_eq!(
                j.verdict,
                mppconf_suite::vectors::Verdict::Pass,
                "{}: {}",
                c.case.id,
                j.detail
            );
        }
    }

    #[test]
    fn base64url_roundtrips_run_and_other_adapters_cases_skip() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("base64url.json"),
            json!({
                "version": "2.0.0", "description": "d", "spec_ref": "s",
                "commands": {"parse": "base64url-decode", "format": "base64url-encode"},
                "scenarios": [
                    {"name": "hello", "description": "d", "tags": [], "decoded": "Hello", "encoded": "SGVsbG8",
                     "tests": {"parse": true, "format": true, "roundtrip": true}},
                    {"name": "rust_only", "description": "d", "tags": [], "decoded": "a", "encoded": "YQ",
                     "adapters": ["rust"], "tests": {"parse": true}}
                ]
            })
            .to_string(),
        )
        .unwrap();
        let cases = load_dir(dir.path(), "builtin").unwrap();
        assert_eq!(cases[2].case.op, "base64url.roundtrip");
        assert!(
            cases[3]
                .skip
                .as_deref()
                .unwrap()
                .contains("only for adapters")
        );
        let mut reference = mppconf_suite::vectors::Reference::default();
        for c in &cases[..3] {
            let j = mppconf_suite::vectors::judge(&c.case, &mut reference, Default::default());
            assert_eq!(
                j.verdict,
                mppconf_suite::vectors::Verdict::Pass,
                "{}: {}",
                c.case.id,
                j.detail
            );
        }
        assert!(load_dir(dir.path(), "rust").unwrap()[3].skip.is_none());
    }
}
