//! Cases per second through the reference adapter (`mppconf adapter`) in
//! one-shot mode (a process per call, as the official runner does) and in
//! persistent mode (one process, a request per line), on the project's own
//! vectors; the in-process reference codec is the ceiling.
//!
//! Run: `cargo bench -p mppconf --bench adapter_modes`.

use std::time::Instant;

use mppconf_harness::adapter::{AdapterClient, Manifest};
use mppconf_harness::runner::{self, SourcedCase};
use mppconf_harness::vector_files;
use mppconf_suite::vectors::{Executor, Reference, Verdict};

fn cases() -> Vec<SourcedCase> {
    let dir = vector_files::vectors_dir(None);
    let mut out = Vec::new();
    for path in vector_files::discover(&dir).expect("vectors folder") {
        let file = vector_files::load(&path)
            .expect("readable")
            .expect("valid vector file");
        out.extend(file.file.cases.into_iter().map(|case| SourcedCase {
            file: path.clone(),
            case,
            skip: None,
        }));
    }
    assert!(!out.is_empty(), "no vectors under {}", dir.display());
    out
}

fn manifest(dir: &std::path::Path, mode: &str) -> Manifest {
    let path = dir.join(format!("{mode}.json"));
    let json = serde_json::json!({
        "schema": 1, "name": format!("reference-{mode}"), "language": "rust",
        "command": [env!("CARGO_BIN_EXE_mppconf"), "adapter"],
        "capabilities": mppconf_suite::ops::OPERATIONS,
        "mode": mode,
    });
    std::fs::write(&path, json.to_string()).unwrap();
    Manifest::load(&path).unwrap()
}

/// Runs `cases` `rounds` times; returns cases per second.
fn rate(label: &str, cases: &[SourcedCase], rounds: usize, exec: &mut dyn Executor) -> f64 {
    let start = Instant::now();
    let mut ran = 0;
    for _ in 0..rounds {
        let results = runner::run(cases, exec, &runner::Annotations::default(), |_| {});
        assert!(
            results.iter().all(|r| r.verdict != Verdict::Error),
            "{label}: a case could not be run"
        );
        ran += results.len();
    }
    let secs = start.elapsed().as_secs_f64();
    let per_sec = ran as f64 / secs;
    println!("{label:<24} {ran:>7} cases in {secs:>7.3} s = {per_sec:>10.0} cases/s");
    per_sec
}

fn main() {
    let all = cases();
    let tmp = tempfile::tempdir().unwrap();
    println!("{} vector cases", all.len());
    let in_process = rate("in-process reference", &all, 20, &mut Reference::default());
    let one_shot = rate(
        "one-shot adapter",
        &all,
        1,
        &mut AdapterClient::new(manifest(tmp.path(), "one-shot")),
    );
    let persistent = rate(
        "persistent adapter",
        &all,
        5,
        &mut AdapterClient::new(manifest(tmp.path(), "persistent")),
    );
    println!(
        "persistent / one-shot speed-up: {:.0}x",
        persistent / one_shot
    );
    println!("in-process / persistent: {:.1}x", in_process / persistent);
}
