//! Scripted clients of methods the harness cannot pay (a Python program
//! that answers the offered challenge with a given payload), for every
//! method judged by data (`vectors/methods/`): the client suite offers the
//! manifest's challenge, and `method.payload-rules` passes a payload the
//! method's `payload.validate` vectors call valid and fails one they call
//! invalid, naming the broken requirement.

use std::path::{Path, PathBuf};

use mppconf_harness::client_suite::ClientUnderTest;
use mppconf_harness::client_suite::command::run_client;
use mppconf_harness::client_suite::manifest::ClientTarget;
use mppconf_harness::report::Selection;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::methods::rules;
use mppconf_suite::vectors::Verdict;
use serde_json::{Value, json};

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

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
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
