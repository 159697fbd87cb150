//! Differential fuzzing against adapters with known behaviour: a parser
//! that accepts everything disagrees with the reference codec, each
//! distinct disagreement is classified, shrunk and written as a candidate
//! vector that passes `mppconf vectors validate`; the same seed gives the
//! same inputs and the same findings.

use std::path::Path;
use std::process::Command;

use mppconf_harness::adapter::{AdapterClient, Manifest};
use mppconf_harness::differential::{self, Contender, Summary};
use mppconf_harness::vector_files;

fn vectors() -> Vec<vector_files::LoadedFile> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../vectors"));
    vector_files::discover(dir)
        .unwrap()
        .iter()
        .map(|p| vector_files::load(p).unwrap().unwrap())
        .collect()
}

fn run(seed: u64, cases: usize) -> Summary {
    let manifest = Manifest::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/adapters/accepts-everything/adapter.json"
    )))
    .unwrap();
    let capabilities = manifest.capabilities.clone();
    let mut contenders = vec![
        Contender::reference(Default::default()),
        Contender::adapter(AdapterClient::new(manifest), &capabilities, "lax"),
    ];
    differential::run(
        Default::default(),
        &mut contenders,
        &vectors(),
        seed,
        cases,
        None,
        |_, _| {},
    )
}

#[test]
fn a_lax_parser_is_found_classified_and_shrunk() {
    let summary = run(11, 600);
    assert_eq!(summary.inputs, 600);
    assert!(summary.disagreeing_inputs > 0);
    assert!(!summary.findings.is_empty());
    // The fixture answers only these; nothing else may be compared.
    let ops: std::collections::BTreeSet<&str> = summary
        .findings
        .iter()
        .map(|f| f.signature.op.as_str())
        .collect();
    assert!(
        ops.iter()
            .all(|op| ["challenge.parse", "base64url.decode"].contains(op)),
        "{ops:?}"
    );
    for f in &summary.findings {
        assert!(f.input.len() <= f.original.len());
        assert!(!f.requirements.is_empty(), "{}: no requirement", f.input);
        assert!(matches!(
            f.classification.as_str(),
            "reference" | "acceptable"
        ));
        assert!(f.answers.contains_key("reference") && f.answers.contains_key("lax"));
    }
    // Rejected by the drafts, accepted by the lax parser: the lax side is the finding.
    let lenient = summary
        .findings
        .iter()
        .find(|f| f.signature.reference_code.is_some() && f.classification == "reference")
        .expect("a rejection the lax parser accepts");
    assert!(
        lenient
            .verdict
            .contains("accepting it (lax) is the finding"),
        "{}",
        lenient.verdict
    );
    // Shrinking works: the shortest finding is short.
    let shortest = summary
        .findings
        .iter()
        .map(|f| f.input.len())
        .min()
        .unwrap();
    assert!(shortest < 40, "shortest shrunk input is {shortest} bytes");
    // The candidates are a valid vector file, agreeing with the reference.
    let dir = tempfile::tempdir().unwrap();
    let (_, candidates) = differential::write(&summary, dir.path()).unwrap();
    let candidates = candidates.expect("findings make candidates");
    let out = Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .args(["vectors", "validate", "--vectors"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../vectors"))
        .arg(&candidates)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_same_seed_gives_the_same_findings() {
    let key = |s: &Summary| -> Vec<(String, String)> {
        s.findings
            .iter()
            .map(|f| (format!("{:?}", f.signature), f.input.clone()))
            .collect()
    };
    let a = run(5, 400);
    let b = run(5, 400);
    assert_eq!(key(&a), key(&b));
    assert_eq!(a.disagreeing_inputs, b.disagreeing_inputs);
    let c = run(6, 400);
    assert_ne!(
        a.findings.iter().map(|f| &f.original).collect::<Vec<_>>(),
        c.findings.iter().map(|f| &f.original).collect::<Vec<_>>()
    );
}

/// A persistent adapter that stops reading (stuck on one input) must not
/// deadlock a batch larger than the pipe buffer: the batch ends with
/// errors within the timeout.
#[test]
fn a_stuck_adapter_cannot_block_a_batch() {
    use mppconf_suite::ops::{ABI_SCHEMA, AbiRequest};
    use mppconf_suite::vectors::Executor;
    let manifest = Manifest::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/adapters/silent/adapter.json"
    )))
    .unwrap();
    let mut client = AdapterClient::new(manifest);
    let requests: Vec<AbiRequest> = (0..3000)
        .map(|i| AbiRequest {
            schema: ABI_SCHEMA,
            op: "base64url.decode".into(),
            input: serde_json::json!({ "text": format!("{i:0>200}") }),
            context: None,
        })
        .collect();
    let started = std::time::Instant::now();
    let answers = client.call_batch(&requests);
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(answers.len(), requests.len());
    assert!(answers.iter().all(|a| a.is_err()));
}

/// `--core`: the reference reads the inputs under the run's draft. The -01
/// reference against the -00 one disagrees only where -01 changed the
/// reading (the `header` parameter), and the candidate vectors say which
/// draft their expectation holds under.
#[test]
fn the_reference_reads_under_the_runs_core_draft() {
    use mppconf_suite::drafts::CoreDraft;
    use mppconf_suite::vectors::Reference;
    let ops = [
        "challenge.parse",
        "challenges.parse",
        "challenge.id",
        "credential.parse",
    ];
    let mut contenders = vec![
        Contender::reference(CoreDraft::Draft01),
        Contender {
            name: "under-00".into(),
            executor: Box::new(Reference(CoreDraft::Draft00)),
            capabilities: Some(ops.iter().map(|s| s.to_string()).collect()),
        },
    ];
    let summary = differential::run(
        CoreDraft::Draft01,
        &mut contenders,
        &vectors(),
        5,
        3000,
        None,
        |_, _| {},
    );
    assert_eq!(summary.core, CoreDraft::Draft01);
    assert!(
        !summary.findings.is_empty(),
        "-01 changed the header's reading"
    );
    for f in &summary.findings {
        assert!(
            f.input.to_ascii_lowercase().contains("header")
                || f.input.contains("aGVhZGVy")
                || f.input.contains("hlYWRlc")
                || f.input.contains("oZWFkZX"),
            "a disagreement without a header parameter: {} ({})",
            f.input,
            f.signature.op
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, candidates) = differential::write(&summary, dir.path()).unwrap();
    let text = std::fs::read_to_string(candidates.unwrap()).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    for case in doc["cases"].as_array().unwrap() {
        assert_eq!(
            case["drafts"],
            serde_json::json!(["draft-httpauth-payment-01"])
        );
    }
}
