//! The client suite against the reference client (`mppconf pay`,
//! in-process): scenarios per second and the share of scenario time spent
//! in the harness (scenario server, forwarding, settlement, funding,
//! judging) rather than inside the client.
//!
//! Run: `cargo bench -p mppconf --bench client_suite`.

use std::collections::BTreeSet;
use std::time::Instant;

use mppconf_harness::client_suite::ClientUnderTest;
use mppconf_harness::client_suite::command::run_client;
use mppconf_harness::report::Selection;

#[tokio::main]
async fn main() {
    let client = ClientUnderTest::Reference {
        deviations: BTreeSet::new(),
    };
    // Warm up (anvil install, caches) outside the figures.
    run_client(
        &client,
        &Selection::all(),
        mppconf_suite::drafts::CoreDraft::Draft00,
        |_| {},
    )
    .await
    .expect("suite runs");
    let mut rates = Vec::new();
    let mut shares = Vec::new();
    let mut walls = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        let run = run_client(
            &client,
            &Selection::all(),
            mppconf_suite::drafts::CoreDraft::Draft00,
            |_| {},
        )
        .await
        .expect("suite runs");
        walls.push(started.elapsed().as_secs_f64());
        let scenarios = run.scenarios.len() as f64;
        let t = run.scenario_time.as_secs_f64();
        rates.push(scenarios / t);
        shares.push(100.0 * (t - run.client_time.as_secs_f64()) / t);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
        v[v.len() / 2]
    };
    println!(
        "client suite vs mppconf pay: median {:.0} scenarios/s, harness {:.0}% of scenario time, whole run (anvil start included) {:.3} s (n=7)",
        median(rates),
        median(shares),
        median(walls)
    );
}
