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

use super::{CheckResult, Ctx, Target};
use crate::chain::anvil::PATH_USD;
use crate::chain::{Anvil, AnvilConfig, Rpc, RpcProxy};
use crate::error::{Error, Result};
use crate::reference::server::{self, Deviation, RouteConfig, ServerConfig};
use crate::reference::tx;

#[derive(clap::Args)]
pub struct ServerArgs {
    /// The server's base URL (attach mode), e.g. http://127.0.0.1:8402.
    #[arg(long, conflicts_with = "reference")]
    pub url: Option<String>,
    /// A server target manifest (TOML): mppconf starts the server on its
    /// own chain and probes every resource it lists.
    #[arg(long, conflicts_with_all = ["url", "reference"])]
    pub target: Option<PathBuf>,
    /// Start the reference server on a local chain and test it.
    #[arg(long)]
    pub reference: bool,
    /// With --reference: break a rule on purpose (repeatable).
    #[arg(long, requires = "reference")]
    pub deviate: Vec<String>,
    /// The protected resource.
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

/// `--target`: start the implementation from its manifest on mppconf's
/// own chain (through the recording proxy) and probe each resource.
async fn launched_target(path: &std::path::Path, args: &ServerArgs) -> Result<u8> {
    use super::manifest::{Placeholders, ServerTarget};
    let started = Instant::now();
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
        fee_payer_key: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d".into(),
    };
    let launched = manifest.launch(&values).await?;
    let token: Address = PATH_USD.parse().unwrap_or_default();
    let mut worst = 0;
    for resource in &manifest.resource {
        let payer = tx::fresh_payer(&chain.rpc(), token, U256::from(10_000_000_000u64)).await?;
        let target = Target {
            base_url: launched.base_url.clone(),
            path: resource.path.clone(),
            method: resource.method.clone(),
            body: resource.body.clone().map(String::into_bytes),
            rpc_url: chain.rpc_url.clone(),
        };
        let label = format!("{} ({})", manifest.name, path.display());
        println!(
            "mppconf server suite: {label} {} {} on {}",
            resource.method,
            target.url(),
            chain.rpc_url
        );
        let ctx = Ctx::new(target, payer, Some(proxy.clone()))
            .with_attribution_memo(manifest.pay.attribution_memo);
        worst = worst.max(report(&ctx, args, &label, started).await?);
    }
    Ok(worst)
}

/// The resource the reference run probes: a POST (so the body is bound by
/// a digest) with a memo and a split, so that every check has something
/// to check.
pub const REFERENCE_PATH: &str = "/paid";
pub const REFERENCE_BODY: &str = "{\"report\":\"monthly\"}";

pub fn reference_route() -> RouteConfig {
    RouteConfig {
        method: "POST".into(),
        memo: Some(format!("0x{}", "42".repeat(32))),
        splits: vec![crate::reference::server::SplitConfig {
            amount: "100".into(),
            recipient: Address::random().to_string(),
            memo: None,
        }],
        // Short enough for the expiry check to wait it out, long enough
        // for a transaction valid until expires (T4 wants > now + 3 s).
        expires_in: 6,
        ..RouteConfig::new(REFERENCE_PATH, "1000", &Address::random().to_string())
    }
}

/// Runs the suite; returns the exit code (0 conformant, 1 not, 3 harness error).
pub async fn server(args: ServerArgs) -> Result<u8> {
    if let Some(path) = args.target.clone() {
        return launched_target(&path, &args).await;
    }
    let started = Instant::now();
    let mut _anvil = None;
    let mut _server = None;
    let mut proxy = None;
    let (base_url, rpc_url, path, label) = if args.reference {
        let deviations = args
            .deviate
            .iter()
            .map(|d| Deviation::parse(d))
            .collect::<Result<BTreeSet<_>>>()?;
        let chain = Anvil::start(&AnvilConfig::default()).await?;
        let p = Arc::new(RpcProxy::start(&chain.rpc_url, Duration::from_secs(5)).await?);
        let config = ServerConfig {
            realm: "mppconf.reference".into(),
            secret: alloy::primitives::B256::random().0.to_vec(),
            rpc_url: p.url(),
            chain_id: chain.chain_id,
            fee_payer_key: None,
            routes: vec![reference_route()],
            deviations: deviations.clone(),
            choices: Default::default(),
        };
        let s = server::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let names: Vec<String> = deviations.iter().map(|d| d.name()).collect();
        let label = if names.is_empty() {
            "mppconf serve (reference)".to_string()
        } else {
            format!("mppconf serve (reference, deviating: {})", names.join(", "))
        };
        let out = (
            s.url(),
            chain.rpc_url.clone(),
            REFERENCE_PATH.to_string(),
            label,
        );
        proxy = Some(p);
        _anvil = Some(chain);
        _server = Some(s);
        out
    } else {
        let Some(url) = args.url.clone() else {
            return Err(Error::Usage(
                "give --url URL of a running server, or --reference".into(),
            ));
        };
        let rpc_url = match &args.rpc {
            Some(r) => r.clone(),
            None => {
                let chain = Anvil::start(&AnvilConfig::default()).await?;
                let r = chain.rpc_url.clone();
                eprintln!("mppconf: started anvil at {r}; the server must settle on it");
                _anvil = Some(chain);
                r
            }
        };
        (
            url.trim_end_matches('/').to_string(),
            rpc_url,
            args.path.clone(),
            url,
        )
    };
    let rpc = Rpc::new(&rpc_url);
    crate::chain::anvil::require_tip20(&rpc).await?;
    let payer = match &args.payer_key {
        Some(k) => tx::signer_from_key(k, "--payer-key")?,
        None => {
            let token: Address = PATH_USD.parse().unwrap_or_default();
            tx::fresh_payer(&rpc, token, U256::from(10_000_000_000u64))
                .await
                .map_err(|e| Error::Usage(format!("cannot fund a payer on {rpc_url} ({e}); give --payer-key of a funded account")))?
        }
    };
    let (method, body) = if args.reference {
        ("POST".to_string(), Some(REFERENCE_BODY.as_bytes().to_vec()))
    } else {
        (
            args.method.clone(),
            args.data.clone().map(String::into_bytes),
        )
    };
    let target = Target {
        base_url,
        path,
        method,
        body,
        rpc_url: rpc_url.clone(),
    };
    println!(
        "mppconf server suite: {label} {} on {rpc_url}",
        target.url()
    );
    let ctx = Ctx::new(target, payer, proxy);
    report(&ctx, &args, &label, started).await
}

/// Runs the checks against one context, prints and writes the results;
/// returns the exit code.
async fn report(ctx: &Ctx, args: &ServerArgs, label: &str, started: Instant) -> Result<u8> {
    let results = super::run_all(ctx, &args.filter, |r| {
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
    })
    .await;
    let counts = count(&results);
    let n = |v: &str| counts.get(v).copied().unwrap_or(0);
    println!(
        "{} passed, {} failed, {} warn, {} blocked, {} skipped, {} errors ({} checks in {:.2}s)",
        n("pass"),
        n("fail"),
        n("warn"),
        n("blocked"),
        n("skip"),
        n("error"),
        results.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(out) = &args.out {
        let doc = json!({
            "format": "mppconf-server-results/1",
            "tool": {"name": "mppconf", "version": env!("CARGO_PKG_VERSION")},
            "spec_snapshot": "tempoxyz/mpp-specs@f9506cd3472d10f31b4a6c790b3fe6b0ff377f96",
            "target": label,
            "seconds": started.elapsed().as_secs_f64(),
            "summary": counts,
            "checks": results,
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

fn count(results: &[CheckResult]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for r in results {
        *counts.entry(r.verdict.as_str()).or_insert(0) += 1;
    }
    counts
}
