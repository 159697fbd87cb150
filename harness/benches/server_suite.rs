//! The server suite one check at a time and concurrently, side by side:
//! the whole `mppconf server` command (chain, server start, every check,
//! the report) against the reference server and, when its packages are
//! installed (`harness/interop/mppx/node_modules`), against the mppx SDK
//! server. Wall time is the best of a few runs; the deliberate waits
//! (outlasting a challenge's `expires`) come from the run's results file:
//! one after another the waits add to the wall time, concurrently the
//! longest one is the floor no run goes below.
//!
//! Run: `cargo bench -p mppconf --bench server_suite` (add `-- --runs N`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

struct Figures {
    wall: f64,
    waits: f64,
    longest_wait: f64,
    checks: usize,
}

fn run(target: &[&str], jobs: u32, out: &Path) -> Figures {
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .arg("server")
        .args(target)
        .args(["--jobs", &jobs.to_string(), "--out"])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("mppconf runs");
    let wall = started.elapsed().as_secs_f64();
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "mppconf server {target:?} --jobs {jobs}: {status}"
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).expect("results written"))
            .expect("results are JSON");
    let paused: Vec<f64> = results["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .flat_map(|t| t["checks"].as_array().expect("checks").iter())
        .map(|c| c["paused_millis"].as_f64().unwrap_or(0.0) / 1000.0)
        .collect();
    Figures {
        wall,
        waits: paused.iter().sum(),
        longest_wait: paused.iter().copied().fold(0.0, f64::max),
        checks: paused.len(),
    }
}

fn main() {
    let runs: usize = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().expect("a scratch folder");
    let out = dir.path().join("results.json");
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut targets: Vec<(&str, Vec<&str>)> = vec![("reference", vec!["--reference"])];
    if root.join("harness/interop/mppx/node_modules").is_dir() {
        targets.push((
            "mppx 0.11.0",
            vec!["--target", "harness/targets/mppx-server.toml"],
        ));
    } else {
        println!("mppx: not installed (cd harness/interop/mppx && npm ci), not measured");
    }
    println!(
        "{:<12} {:>5} {:>7} {:>10} {:>13} {:>13} {:>22}",
        "target", "jobs", "checks", "wall (s)", "waits (s)", "longest (s)", "wall - waits (s)"
    );
    for (name, target) in &targets {
        // Warm-up: builds, caches, the chain's first start.
        run(target, 1, &out);
        for jobs in [1, 4] {
            let all: Vec<Figures> = (0..runs).map(|_| run(target, jobs, &out)).collect();
            let best = all
                .into_iter()
                .min_by(|a, b| a.wall.total_cmp(&b.wall))
                .expect("at least one run");
            // One after another every wait adds; concurrently only the
            // longest one bounds the run.
            let waited = if jobs == 1 {
                best.waits
            } else {
                best.longest_wait
            };
            println!(
                "{:<12} {:>5} {:>7} {:>10.2} {:>13.2} {:>13.2} {:>22.2}",
                name,
                jobs,
                best.checks,
                best.wall,
                best.waits,
                best.longest_wait,
                best.wall - waited
            );
        }
    }
}
