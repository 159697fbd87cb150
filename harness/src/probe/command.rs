//! `mppconf server`: run the server suite against a running server
//! (attach mode), or against the reference server that mppconf starts on
//! its own chain (`--reference`, the main job).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use mppconf_suite::vectors::Verdict;
use serde_json::json;

use super::{CheckResult, Ctx, Target, Timing};
use crate::chain::anvil::PATH_USD;
use crate::chain::{Anvil, AnvilConfig, Rpc, RpcProxy};
use crate::error::{Error, Result};
use crate::reference::server::{self, Deviation, RouteConfig, ServerConfig};
use crate::reference::tx;

/// Which server to probe; shared by `mppconf server` and `mppconf fuzz server`.
#[derive(clap::Args)]
pub struct TargetChoice {
    /// The server's base URL (attach mode), e.g. http://127.0.0.1:8402.
    #[arg(long, conflicts_with = "reference")]
    pub url: Option<String>,
    /// Start the reference server on a local chain and test it.
    #[arg(long)]
    pub reference: bool,
    /// With --reference: break a rule on purpose (repeatable).
    #[arg(long, requires = "reference")]
    pub deviate: Vec<String>,
    /// The protected resource (attach mode).
    #[arg(long, default_value = "/paid")]
    pub path: String,
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request body for the resource.
    #[arg(long)]
    pub data: Option<String>,
    /// The chain the server settles on (attach mode; default: start anvil
    /// and expect the server to use it).
    #[arg(long)]
    pub rpc: Option<String>,
}

impl TargetChoice {
    fn deviations(&self) -> Result<BTreeSet<Deviation>> {
        self.deviate.iter().map(|d| Deviation::parse(d)).collect()
    }

    /// `--url`: the running server's resource, on the given chain or on an
    /// anvil started here (returned, to keep it alive).
    async fn attach(&self, what_else: &str) -> Result<(Target, Option<Anvil>)> {
        let Some(url) = self.url.clone() else {
            return Err(Error::Usage(format!(
                "give --url URL of a running server{what_else}"
            )));
        };
        let mut anvil = None;
        let rpc_url = match &self.rpc {
            Some(r) => r.clone(),
            None => {
                let chain = Anvil::start(&AnvilConfig::default()).await?;
                let r = chain.rpc_url.clone();
                eprintln!("mppconf: started anvil at {r}; the server must settle on it");
                anvil = Some(chain);
                r
            }
        };
        crate::chain::anvil::require_tip20(&Rpc::new(&rpc_url)).await?;
        let target = Target {
            base_url: url.trim_end_matches('/').to_string(),
            path: self.path.clone(),
            method: self.method.clone(),
            body: self.data.clone().map(String::into_bytes),
            rpc_url,
        };
        Ok((target, anvil))
    }
}

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub choice: TargetChoice,
    /// A server target manifest (TOML): mppconf builds and starts the
    /// server on its own chain and probes every resource it lists.
    /// Repeatable: the targets run one after the other (each on a fresh
    /// chain) into one summary and one results file.
    #[arg(long, conflicts_with_all = ["url", "reference"])]
    pub target: Vec<PathBuf>,
    /// A funded payer key; without it a fresh payer is funded on anvil.
    #[arg(long, env = "MPPCONF_PAYER_KEY")]
    pub payer_key: Option<String>,
    /// Only checks whose id contains one of these.
    #[arg(long)]
    pub filter: Vec<String>,
    /// SHOULD failures (warn) gate too.
    #[arg(long)]
    pub strict: bool,
    /// Write the results as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The checks of one resource of one server.
pub struct Run {
    pub label: String,
    pub resource: String,
    pub results: Vec<CheckResult>,
}

/// Dev account 1 of anvil's mnemonic: sponsors fees on mppconf's chain.
pub(crate) const FEE_PAYER_KEY: &str =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// Prints a check that did not pass, h2spec-style.
pub fn print_result(r: &CheckResult) {
    if r.verdict != Verdict::Pass {
        println!(
            "{:<8} {}  [{}]",
            r.verdict.as_str(),
            r.id,
            r.requirements.join(", ")
        );
        for line in r.detail.lines() {
            println!("         {line}");
        }
    }
}

/// Runs the suite; returns the exit code (0 conformant, 1 not, 3 harness error).
pub async fn server(args: ServerArgs) -> Result<u8> {
    let started = Instant::now();
    let runs = if !args.target.is_empty() {
        let mut runs = Vec::new();
        for path in &args.target {
            runs.extend(launched_target(path, &args.filter).await?);
        }
        runs
    } else if args.choice.reference {
        run_reference(&args.choice.deviations()?, &args.filter, print_result).await?
    } else {
        attached(&args).await?
    };
    summarize(&runs, &args, started)
}

/// Prints the summary, writes the results file, and picks the exit code.
fn summarize(runs: &[Run], args: &ServerArgs, started: Instant) -> Result<u8> {
    let all: Vec<&CheckResult> = runs.iter().flat_map(|r| &r.results).collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &all {
        *counts.entry(r.verdict.as_str()).or_insert(0) += 1;
    }
    let n = |v: &str| counts.get(v).copied().unwrap_or(0);
    println!(
        "{} passed, {} failed, {} warn, {} lenient, {} blocked, {} skipped, {} errors ({} checks on {} resource(s) in {:.2}s)",
        n("pass"),
        n("fail"),
        n("warn"),
        n("lenient"),
        n("blocked"),
        n("skip"),
        n("error"),
        all.len(),
        runs.len(),
        started.elapsed().as_secs_f64()
    );
    let timing = Timing::of(&all, started.elapsed());
    println!("time {timing}");
    if let Some(out) = &args.out {
        let targets: Vec<_> = runs
            .iter()
            .map(|r| json!({"label": r.label, "resource": r.resource, "checks": r.results}))
            .collect();
        let doc = json!({
            "format": "mppconf-server-results/1",
            "tool": {"name": "mppconf", "version": env!("CARGO_PKG_VERSION")},
            "spec_snapshot": "tempoxyz/mpp-specs@f9506cd3472d10f31b4a6c790b3fe6b0ff377f96",
            "seconds": started.elapsed().as_secs_f64(),
            "summary": counts,
            "targets": targets,
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

/// Probes one resource with a fresh funded payer (or the given key).
async fn probe_resource(
    label: &str,
    target: Target,
    payer_key: Option<&str>,
    proxy: Option<Arc<RpcProxy>>,
    attribution_memo: bool,
    filter: &[String],
    progress: impl FnMut(&CheckResult),
) -> Result<Run> {
    let rpc = Rpc::new(&target.rpc_url);
    let payer = match payer_key {
        Some(k) => tx::signer_from_key(k, "--payer-key")?,
        None => {
            let token: Address = PATH_USD.parse().unwrap_or_default();
            tx::fresh_payer(&rpc, token, U256::from(10_000_000_000u64))
                .await
                .map_err(|e| {
                    Error::Usage(format!(
                        "cannot fund a payer on {} ({e}); give --payer-key of a funded account",
                        target.rpc_url
                    ))
                })?
        }
    };
    let resource = format!("{} {}", target.method, target.url());
    println!(
        "mppconf server suite: {label}: {resource} on {}",
        target.rpc_url
    );
    let ctx = Ctx::new(target, payer, proxy).with_attribution_memo(attribution_memo);
    let results = super::run_all(&ctx, filter, progress).await;
    Ok(Run {
        label: label.to_string(),
        resource,
        results,
    })
}

/// `--url`: a server that is already running.
async fn attached(args: &ServerArgs) -> Result<Vec<Run>> {
    let (target, _anvil) = args
        .choice
        .attach(", --target MANIFEST, or --reference")
        .await?;
    let url = target.base_url.clone();
    let run = probe_resource(
        &url,
        target,
        args.payer_key.as_deref(),
        None,
        false,
        &args.filter,
        print_result,
    )
    .await?;
    Ok(vec![run])
}

/// `--target`: start the implementation from its manifest on mppconf's
/// own chain (through the recording proxy) and probe each resource.
async fn launched_target(path: &std::path::Path, filter: &[String]) -> Result<Vec<Run>> {
    use super::manifest::{Placeholders, ServerTarget};
    let manifest = ServerTarget::load(path)?;
    manifest.build()?;
    let chain = Anvil::start(&AnvilConfig::default()).await?;
    let proxy = Arc::new(RpcProxy::start(&chain.rpc_url, Duration::from_secs(10)).await?);
    let values = Placeholders {
        rpc_url: proxy.url(),
        chain_id: chain.chain_id,
        port: crate::chain::anvil::free_port()?,
        recipient: Address::random().to_string(),
        secret: alloy::primitives::B256::random().to_string(),
        fee_payer_key: FEE_PAYER_KEY.into(),
    };
    let launched = manifest.launch(&values).await?;
    let label = format!("{} ({})", manifest.name, path.display());
    let mut runs = Vec::new();
    for resource in &manifest.resource {
        let target = Target {
            base_url: launched.base_url.clone(),
            path: resource.path.clone(),
            method: resource.method.clone(),
            body: resource.body.clone().map(String::into_bytes),
            rpc_url: chain.rpc_url.clone(),
        };
        runs.push(
            probe_resource(
                &label,
                target,
                None,
                Some(proxy.clone()),
                manifest.pay.attribution_memo,
                filter,
                print_result,
            )
            .await?,
        );
    }
    Ok(runs)
}

/// One resource of the reference run and the body it is requested with.
pub struct ReferenceResource {
    pub route: RouteConfig,
    pub body: Option<&'static str>,
}

/// What the reference run probes, so that every check has something to
/// check: a POST with memo and split (its body bound by a digest, and an
/// expiry short enough to wait out), a zero-amount resource (proofs), and
/// a sponsored pull-only one (push forbidden).
pub fn reference_resources() -> Vec<ReferenceResource> {
    let merchant = Address::random().to_string();
    vec![
        ReferenceResource {
            route: RouteConfig {
                method: "POST".into(),
                memo: Some(format!("0x{}", "42".repeat(32))),
                splits: vec![crate::reference::server::SplitConfig {
                    amount: "100".into(),
                    recipient: Address::random().to_string(),
                    memo: None,
                }],
                // Short enough for the expiry check to wait it out, long
                // enough for a transaction valid until expires (T4 wants
                // validBefore > now + 3 s).
                expires_in: 6,
                ..RouteConfig::new("/paid", "1000", &merchant)
            },
            body: Some("{\"report\":\"monthly\"}"),
        },
        ReferenceResource {
            route: RouteConfig::new("/free", "0", &merchant),
            body: None,
        },
        ReferenceResource {
            route: RouteConfig {
                fee_payer: true,
                supported_modes: Some(vec!["pull".into()]),
                ..RouteConfig::new("/sponsored", "2500", &merchant)
            },
            body: None,
        },
    ]
}

/// The reference server with `routes` and `deviations` on mppconf's own
/// chain, settling through the recording proxy.
async fn start_reference(
    routes: Vec<RouteConfig>,
    deviations: &BTreeSet<Deviation>,
) -> Result<(Anvil, Arc<RpcProxy>, server::Server)> {
    let chain = Anvil::start(&AnvilConfig::default()).await?;
    let proxy = Arc::new(RpcProxy::start(&chain.rpc_url, Duration::from_secs(5)).await?);
    let config = ServerConfig {
        realm: "mppconf.reference".into(),
        secret: alloy::primitives::B256::random().0.to_vec(),
        rpc_url: proxy.url(),
        chain_id: chain.chain_id,
        fee_payer_key: Some(FEE_PAYER_KEY.into()),
        routes,
        deviations: deviations.clone(),
        choices: Default::default(),
    };
    let server = server::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    Ok((chain, proxy, server))
}

/// The reference server (with `deviations`) on mppconf's own chain,
/// behind the recording proxy, probed on every reference resource.
pub async fn run_reference(
    deviations: &BTreeSet<Deviation>,
    filter: &[String],
    mut progress: impl FnMut(&CheckResult),
) -> Result<Vec<Run>> {
    let resources = reference_resources();
    let routes = resources.iter().map(|r| r.route.clone()).collect();
    let (chain, proxy, server) = start_reference(routes, deviations).await?;
    let names: Vec<String> = deviations.iter().map(|d| d.name()).collect();
    let label = if names.is_empty() {
        "mppconf serve (reference)".to_string()
    } else {
        format!("mppconf serve (reference, deviating: {})", names.join(", "))
    };
    let mut runs = Vec::new();
    for r in resources {
        let target = Target {
            base_url: server.url(),
            path: r.route.path.clone(),
            method: r.route.method.clone(),
            body: r.body.map(|b| b.as_bytes().to_vec()),
            rpc_url: chain.rpc_url.clone(),
        };
        runs.push(
            probe_resource(
                &label,
                target,
                None,
                Some(proxy.clone()),
                false,
                filter,
                &mut progress,
            )
            .await?,
        );
    }
    Ok(runs)
}

#[derive(clap::Args)]
pub struct FuzzServerArgs {
    #[command(flatten)]
    pub choice: TargetChoice,
    /// The seed; a run is reproducible from it (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
    /// Write the findings (shrunk headers) here as regression cases.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `mppconf fuzz server`: exit 0 without findings, 1 with some.
pub async fn fuzz_server(args: FuzzServerArgs) -> Result<u8> {
    let seed = args.seed.unwrap_or_else(rand::random);
    // Kept alive for the run: the chain and server mppconf started.
    let mut _started = None;
    let mut _anvil = None;
    let target = if args.choice.reference {
        let route = RouteConfig::new("/paid", "1000", &Address::random().to_string());
        let (chain, proxy, server) =
            start_reference(vec![route], &args.choice.deviations()?).await?;
        let target = Target {
            base_url: server.url(),
            path: "/paid".into(),
            method: "GET".into(),
            body: None,
            rpc_url: chain.rpc_url.clone(),
        };
        _started = Some((chain, proxy, server));
        target
    } else {
        let (target, anvil) = args.choice.attach(", or --reference").await?;
        _anvil = anvil;
        target
    };
    println!(
        "mppconf fuzz server: {} {} with seed {seed}, {} requests",
        target.method,
        target.url(),
        args.requests
    );
    let ctx = Ctx::new(
        target,
        alloy::signers::local::PrivateKeySigner::random(),
        None,
    );
    let report = super::fuzz::fuzz(&ctx, seed, args.requests, 5)
        .await
        .map_err(|e| Error::Usage(format!("cannot start fuzzing: {e}")))?;
    for f in &report.findings {
        println!(
            "finding  {:?} ({}) at request {}: {:?} (shrunk from {} bytes)",
            f.violation, f.status, f.index, f.header, f.original_length
        );
    }
    println!(
        "{} requests in {:.2}s ({:.0}/s), {} transport errors, {} findings (seed {seed})",
        report.requests,
        report.seconds,
        report.requests as f64 / report.seconds.max(1e-9),
        report.transport_errors,
        report.findings.len()
    );
    if let Some(out) = &args.out {
        let doc = json!({"format": "mppconf-fuzz-findings/1", "report": report});
        std::fs::write(
            out,
            serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n",
        )
        .map_err(|e| Error::io(out, e))?;
    }
    Ok(if report.findings.is_empty() { 0 } else { 1 })
}
