//! `mppconf client`: the client suite against the reference client or
//! client programs from their manifests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mppconf_suite::vectors::Verdict;
use serde::Serialize;
use serde_json::{Value, json};

use super::checks::{self, Need, SCENARIOS};
use super::manifest::ClientTarget;
use super::{ClientUnderTest, Env, Record};
use crate::chain::{Anvil, AnvilConfig, RpcProxy};
use crate::error::{Error, Result};
use crate::reference::client::Deviation;
use crate::reference::server::{self, ServerConfig};

#[derive(clap::Args)]
pub struct ClientArgs {
    /// Test the reference client (`mppconf pay`), in-process.
    #[arg(long, conflicts_with = "target")]
    pub reference: bool,
    /// With --reference: break a rule on purpose (repeatable).
    #[arg(long, requires = "reference")]
    pub deviate: Vec<String>,
    /// A client target manifest (TOML). Repeatable: the clients run one
    /// after the other into one summary and one results file.
    #[arg(long)]
    pub target: Vec<PathBuf>,
    /// Only checks whose id contains one of these.
    #[arg(long)]
    pub filter: Vec<String>,
    /// SHOULD failures (warn) gate too.
    #[arg(long)]
    pub strict: bool,
    /// Write the results (and each scenario's evidence) as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The verdict of one check.
#[derive(Debug, Clone, Serialize)]
pub struct ClientCheckResult {
    pub id: &'static str,
    pub requirements: &'static [&'static str],
    pub scenario: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

/// One client's results, and the evidence of its scenarios.
pub struct ClientRunResults {
    pub label: String,
    pub results: Vec<ClientCheckResult>,
    pub scenarios: Vec<Value>,
    /// Time the scenarios took, and of it the time inside the client.
    pub scenario_time: Duration,
    pub client_time: Duration,
}

/// Runs the suite; the exit code (0 conformant, 1 not, 3 harness error).
pub async fn client(args: ClientArgs) -> Result<u8> {
    let started = Instant::now();
    let mut clients = Vec::new();
    if args.reference {
        let deviations = args
            .deviate
            .iter()
            .map(|d| Deviation::parse(d))
            .collect::<Result<BTreeSet<_>>>()?;
        clients.push(ClientUnderTest::Reference { deviations });
    }
    for path in &args.target {
        let target = ClientTarget::load(path)?;
        eprintln!("mppconf: building {} ...", target.name);
        target.build()?;
        clients.push(ClientUnderTest::Program(target));
    }
    if clients.is_empty() {
        return Err(Error::Usage(
            "give --reference or --target MANIFEST (a client target manifest)".into(),
        ));
    }
    let mut runs = Vec::new();
    for client in &clients {
        println!("mppconf client suite: {}", client.label());
        runs.push(run_client(client, &args.filter, print_result).await?);
    }
    summarize(&runs, &args, started)
}

/// Starts the chain, the proxy and the reference server, runs every
/// scenario a selected check needs, and judges.
pub async fn run_client(
    client: &ClientUnderTest,
    filter: &[String],
    mut progress: impl FnMut(&ClientCheckResult),
) -> Result<ClientRunResults> {
    let chain = Anvil::start(&AnvilConfig::default()).await?;
    let proxy = Arc::new(RpcProxy::start(&chain.rpc_url, Duration::from_secs(10)).await?);
    let secret = alloy::primitives::B256::random().to_vec();
    let config = ServerConfig {
        realm: "mppconf.clients".into(),
        secret: secret.clone(),
        rpc_url: chain.rpc_url.clone(),
        chain_id: chain.chain_id,
        fee_payer_key: Some(crate::probe::command::FEE_PAYER_KEY.into()),
        routes: super::routes(),
        deviations: BTreeSet::new(),
        choices: Default::default(),
    };
    let routes = config.routes.clone();
    let settle = server::start(config, "127.0.0.1:0".parse().expect("an address")).await?;
    let env = Env {
        chain_id: chain.chain_id,
        rpc_url: chain.rpc_url.clone(),
        proxy,
        realm: "mppconf.clients".into(),
        secret,
        routes,
        settle_at: settle.url(),
    };
    let selected: Vec<&checks::Check> = checks::ALL
        .iter()
        .filter(|c| filter.is_empty() || filter.iter().any(|f| c.id.contains(f.as_str())))
        .collect();
    let wanted: BTreeSet<&str> = selected.iter().map(|c| c.scenario).collect();
    let claims = client.claims();
    let mut records: BTreeMap<&str, std::result::Result<Record, String>> = BTreeMap::new();
    let mut scenario_time = Duration::ZERO;
    let mut client_time = Duration::ZERO;
    for def in SCENARIOS.iter().filter(|d| wanted.contains(d.name)) {
        let unmet = match def.needs {
            Need::Nothing => None,
            Need::Body => (!client.sends_bodies())
                .then_some("the client target sends no request body (its manifest uses no {body})"),
            Need::StrictMode => (!client.has_strict_mode()).then_some(
                "the run allows plain http for local testing (the manifest has no strict_command), so this is not checked",
            ),
            Need::FeeSponsorship => (!claims.fee_sponsorship)
                .then_some("the client does not claim fee sponsorship (claims.fee_sponsorship)"),
            Need::Push => {
                (!claims.push).then_some("the client does not claim push mode (claims.push)")
            }
            Need::ZeroAmountProof => (!claims.zero_amount_proof).then_some(
                "the client does not claim zero-amount proofs (claims.zero_amount_proof)",
            ),
        };
        if let Some(why) = unmet {
            records.insert(def.name, Err(why.to_string()));
            continue;
        }
        let t = Instant::now();
        let record = super::run_scenario(&env, client, def.name, (def.build)(&env)).await?;
        scenario_time += t.elapsed();
        client_time += Duration::from_secs_f64(record.run.millis / 1e3);
        records.insert(def.name, Ok(record));
    }
    let mut results = Vec::new();
    for check in selected {
        let outcome = match records.get(check.scenario) {
            Some(Ok(record)) => checks::judge(check, record),
            Some(Err(why)) if check.scenario == "plain-http" => crate::probe::Outcome {
                verdict: Verdict::Info,
                detail: why.clone(),
            },
            Some(Err(why)) => crate::probe::Outcome::skip(why.clone()),
            None => {
                crate::probe::Outcome::error(format!("scenario {} did not run", check.scenario))
            }
        };
        let verdict = match (outcome.verdict, check.should) {
            (Verdict::Fail, true) => Verdict::Warn,
            (v, _) => v,
        };
        let result = ClientCheckResult {
            id: check.id,
            requirements: check.requirements,
            scenario: check.scenario,
            verdict,
            detail: outcome.detail,
        };
        progress(&result);
        results.push(result);
    }
    let scenarios = records
        .values()
        .filter_map(|r| r.as_ref().ok())
        .map(super::evidence)
        .collect();
    Ok(ClientRunResults {
        label: client.label(),
        results,
        scenarios,
        scenario_time,
        client_time,
    })
}

/// Prints a check that did not pass, h2spec-style.
pub fn print_result(r: &ClientCheckResult) {
    if r.verdict != Verdict::Pass {
        println!(
            "{:<8} {}  [{}]  (scenario {})",
            r.verdict.as_str(),
            r.id,
            r.requirements.join(", "),
            r.scenario
        );
        for line in r.detail.lines() {
            println!("         {line}");
        }
    }
}

fn summarize(runs: &[ClientRunResults], args: &ClientArgs, started: Instant) -> Result<u8> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in runs.iter().flat_map(|r| &r.results) {
        *counts.entry(r.verdict.as_str()).or_insert(0) += 1;
    }
    let n = |v: &str| counts.get(v).copied().unwrap_or(0);
    let total: usize = runs.iter().map(|r| r.results.len()).sum();
    let scenarios: usize = runs.iter().map(|r| r.scenarios.len()).sum();
    let scenario_time: Duration = runs.iter().map(|r| r.scenario_time).sum();
    let client_time: Duration = runs.iter().map(|r| r.client_time).sum();
    println!(
        "{} passed, {} failed, {} warn, {} blocked, {} skipped, {} info, {} errors ({total} checks, {scenarios} scenarios, {} client(s) in {:.2}s)",
        n("pass"),
        n("fail"),
        n("warn"),
        n("blocked"),
        n("skip"),
        n("info"),
        n("error"),
        runs.len(),
        started.elapsed().as_secs_f64()
    );
    let harness = scenario_time.saturating_sub(client_time);
    println!(
        "time: scenarios {:.2}s ({:.1}/s), inside the client {:.2}s, harness {:.2}s ({:.0}% of scenario time)",
        scenario_time.as_secs_f64(),
        scenarios as f64 / scenario_time.as_secs_f64().max(1e-9),
        client_time.as_secs_f64(),
        harness.as_secs_f64(),
        100.0 * harness.as_secs_f64() / scenario_time.as_secs_f64().max(1e-9),
    );
    if let Some(out) = &args.out {
        let clients: Vec<Value> = runs
            .iter()
            .map(|r| json!({"label": r.label, "checks": r.results, "scenarios": r.scenarios}))
            .collect();
        let doc = json!({
            "format": "mppconf-client-results/1",
            "tool": {"name": "mppconf", "version": env!("CARGO_PKG_VERSION")},
            "spec_snapshot": "tempoxyz/mpp-specs@f9506cd3472d10f31b4a6c790b3fe6b0ff377f96",
            "seconds": started.elapsed().as_secs_f64(),
            "summary": counts,
            "clients": clients,
        });
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        std::fs::write(out, text + "\n").map_err(|e| Error::io(out, e))?;
        println!("results written to {}", out.display());
    }
    Ok(if n("fail") > 0 || (args.strict && n("warn") > 0) {
        1
    } else if n("error") > 0 {
        3
    } else {
        0
    })
}
