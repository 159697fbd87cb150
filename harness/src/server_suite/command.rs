//! `mppconf server`: run the server suite against a running server
//! (attach mode), or against the reference server that mppconf starts on
//! its own chain (`--reference`, the main job).

use mppconf_suite::drafts::CoreDraft;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use serde_json::{Value, json};

use super::{CheckResult, Ctx, Target, Timing};
use crate::chain::{Anvil, AnvilConfig, Rpc, RpcProxy};
use crate::error::{Error, Result};
use crate::payer::{ExternalPayer, PayerManifest};
use crate::reference::server::{Deviation, RouteConfig};
use crate::reference::tx;
use crate::report::gate::GateArgs;
use crate::report::progress::{Progress, Watch};
use crate::report::{CheckRecord, Report, Selection};

use super::reference_run::start_reference;
pub use super::reference_run::{
    ReferenceResource, reference_resources, run_reference, run_reference_method,
};
pub use super::resource_run::UNSUPPORTED_METHOD;
use super::resource_run::{Naming, Paying, probe_resource};

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
    /// With --reference: the payment method of the reference server's
    /// resources: `tempo` (Tempo charge on the local chain), `tempo-session`
    /// (the Tempo session intent, v1 on mppconf's escrow),
    /// `tempo-subscription` (a daily Tempo subscription, activated on the
    /// local chain at hardfork t4), `evm` (EVM
    /// charge on a plain local anvil with mppconf's EIP-3009 token and
    /// Permit2), `evm-tempo` (the same on a tempo-mode anvil: Permit2
    /// predeployed, gas paid in PathUSD), `evm-session` (the EVM session
    /// intent on a plain local anvil with mppconf's token and
    /// `EvmPaymentChannel` escrow, hash opens) or `stub` (the test method:
    /// no settlement).
    #[arg(long, requires = "reference", default_value = "tempo", value_parser = ["tempo", "tempo-session", "tempo-subscription", "evm", "evm-tempo", "evm-session", "stub"])]
    pub payment_method: String,
    /// The protected resource (attach mode); repeatable: each is probed,
    /// and each is presented the credentials of the others.
    #[arg(long, default_value = "/paid")]
    pub path: Vec<String>,
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request body for the resource.
    #[arg(long)]
    pub data: Option<String>,
    /// The chain the server settles on (attach mode; default: start anvil
    /// and expect the server to use it).
    #[arg(long)]
    pub rpc: Option<String>,
    /// The PEM certificate of the authority that signed an https
    /// server's certificate, when the system does not trust it (attach
    /// mode).
    #[arg(long, requires = "url")]
    pub ca_cert: Option<PathBuf>,
}

impl TargetChoice {
    fn deviations(&self) -> Result<BTreeSet<Deviation>> {
        self.deviate.iter().map(|d| Deviation::parse(d)).collect()
    }

    /// `--url`: the running server's resource, on the given chain or on an
    /// anvil started here (returned, to keep it alive). A resource whose
    /// method settles nowhere the harness can see (the `stub` method, or a
    /// method paid by the user's payer) needs no chain: none is started.
    async fn attach(&self, what_else: &str) -> Result<(Target, Option<Anvil>)> {
        let Some(url) = self.url.clone() else {
            return Err(Error::Usage(format!(
                "give --url URL of a running server{what_else}"
            )));
        };
        let mut target = Target {
            base_url: url.trim_end_matches('/').to_string(),
            path: self.path.first().cloned().unwrap_or_else(|| "/paid".into()),
            method: self.method.clone(),
            body: self.data.clone().map(String::into_bytes),
            rpc_url: String::new(),
            ca: self
                .ca_cert
                .as_deref()
                .map(|p| crate::tls::read_ca(p, "--ca-cert"))
                .transpose()?,
        };
        let found = discover(&target).await?;
        let on_chain = crate::methods::builtin(&found.method, &found.intent)
            .is_some_and(|m| m.evidence() == crate::methods::Evidence::Chain);
        if !on_chain && self.rpc.is_none() {
            return Ok((target, None));
        }
        let mut anvil = None;
        let rpc_url = match &self.rpc {
            Some(r) => r.clone(),
            None => {
                // The chain the server's challenges name (SDK servers
                // often default to 42431 or 4217), so that the checks
                // that settle can run.
                let chain = Anvil::start(&AnvilConfig {
                    chain_id: found.chain_id,
                    ..AnvilConfig::default()
                })
                .await?;
                let r = chain.rpc_url.clone();
                eprintln!(
                    "mppconf: started anvil at {r} (chain id {}); the server must settle on it",
                    chain.chain_id
                );
                anvil = Some(chain);
                r
            }
        };
        crate::chain::anvil::require_tip20(&Rpc::new(&rpc_url)).await?;
        target.rpc_url = rpc_url;
        Ok((target, anvil))
    }
}

/// What a resource's first Payment challenge says, read as it comes
/// (leniently: a syntax slip is for the challenge.* checks to judge, not
/// a reason to pick no method).
pub struct Discovered {
    /// Its method and intent; Tempo charge when there is no challenge to
    /// read.
    pub method: String,
    pub intent: String,
    /// `request.methodDetails.chainId`, when it names one.
    pub chain_id: Option<u64>,
    /// Its `header` parameter (draft-httpauth-payment-01), as written.
    pub header: Option<String>,
    /// `request.currency`, when it names one (what a payer is funded in).
    pub currency: Option<String>,
}

/// How long the first unpaid request may take: a target that does not
/// answer it is not judged (every check would end in a timeout).
const FIRST_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// One unpaid request to the resource: its method, intent and chain. No
/// HTTP answer to it is a harness error (exit 3), given at once, rather
/// than every check's timeout, one after the other.
pub async fn discover(target: &Target) -> Result<Discovered> {
    let mut found = Discovered {
        method: "tempo".into(),
        intent: "charge".into(),
        chain_id: None,
        header: None,
        currency: None,
    };
    let ctx = Ctx::new(
        target.clone(),
        alloy::signers::local::PrivateKeySigner::random(),
        None,
    )
    .with_answer_timeout(FIRST_ANSWER_TIMEOUT);
    let answer = ctx.send(&[], None).await.map_err(|e| {
        Error::Setup(format!(
            "the target did not answer the first unpaid request ({} {}, waited at most {}s): {e}. Nothing was judged: is it running, and is this its address?",
            target.method,
            target.url(),
            FIRST_ANSWER_TIMEOUT.as_secs()
        ))
    })?;
    if let Some(params) = super::first_raw_params(&answer) {
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        found.header = params
            .iter()
            .find(|(n, _)| n == "header")
            .map(|(_, v)| v.to_string());
        if let (Some(m), Some(i)) = (get("method"), get("intent"))
            && !m.is_empty()
        {
            found.method = m;
            found.intent = i;
        }
    }
    let first = mppconf_suite::codec::challenge::parse_all_lenient(&answer.challenge_fields())
        .ok()
        .and_then(|all| all.into_iter().flatten().next());
    if let Some((c, _)) = first {
        found.chain_id = c.request.value["methodDetails"]["chainId"].as_u64();
        found.currency = c.request.value["currency"].as_str().map(str::to_string);
    }
    Ok(found)
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
    /// A payer program (payer.json, the payer ABI in harness/README.md)
    /// that pays the challenges the checks need valid credentials for:
    /// how a server of a method mppconf cannot pay by itself gets every
    /// core and intent check.
    #[arg(long, conflicts_with_all = ["reference", "target"])]
    pub payer: Option<PathBuf>,
    /// The server's challenge-binding (HMAC) secret, when you know it
    /// (URL mode): no answer may contain it. In manifest mode mppconf
    /// knows it (`{secret}`).
    #[arg(long, env = "MPPCONF_SERVER_SECRET")]
    pub secret: Option<String>,
    /// A text no answer may contain (an API key of the rail, a database
    /// password the server knows); repeatable.
    #[arg(long)]
    pub secret_marker: Vec<String>,
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Only checks whose id contains one of these.
    #[arg(long)]
    pub filter: Vec<String>,
    /// How many checks run at once, each paying from its own funded
    /// account (1: one after another). The report's order and verdicts
    /// do not depend on it; checks of state the whole server shares run
    /// alone. With --payer-key or --payer (one account) checks run one
    /// after another.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// The core draft to judge against: draft-httpauth-payment-00 (the
    /// pinned default) or draft-httpauth-payment-01 (credentials go in the
    /// field the challenge's `header` selects; the header.* checks run).
    /// With --reference, -01 probes a route that selects
    /// Payment-Authorization.
    #[arg(long, default_value = "draft-httpauth-payment-00")]
    pub core: CoreDraft,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Write the raw results (every exchange, every chain call) as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Routes of particular kinds the server has (URL mode; a manifest's
/// `[probes]`), each `[METHOD ]/path`.
#[derive(clap::Args, Default)]
pub struct ProbeArgs {
    /// A paid route that policy denies after a valid payment (403).
    #[arg(long, requires = "url")]
    pub denied_path: Option<String>,
    /// A paid route whose handler fails after a valid payment.
    #[arg(long, requires = "url")]
    pub failing_path: Option<String>,
    /// A paid route with a side effect, e.g. "POST /orders"; needs
    /// --side-effect-oracle.
    #[arg(long, requires_all = ["url", "side_effect_oracle"])]
    pub side_effect_path: Option<String>,
    /// A path whose GET answer changes when the side effect happens.
    #[arg(long, requires = "side_effect_path")]
    pub side_effect_oracle: Option<String>,
    /// A paid route that also needs authentication; needs --auth-header.
    #[arg(long, requires_all = ["url", "auth_header"])]
    pub auth_path: Option<String>,
    /// The authentication header of --auth-path, `Name: value`.
    #[arg(long, requires = "auth_path")]
    pub auth_header: Option<String>,
    /// The server's discovery document (draft-payment-discovery-00 puts it
    /// at /openapi.json): declared, its absence is a finding; without it a
    /// missing /openapi.json is a `skip`.
    #[arg(long, requires = "url")]
    pub discovery_path: Option<String>,
}

impl ProbeArgs {
    fn on(&self, base: &Target) -> Result<super::Probes> {
        let at = |option: &str, spec: &Option<String>| -> Result<Option<Target>> {
            let Some(spec) = spec else { return Ok(None) };
            let (method, path) = match spec.trim().split_once(' ') {
                Some((m, p)) => (m.to_ascii_uppercase(), p.trim().to_string()),
                None => ("GET".to_string(), spec.trim().to_string()),
            };
            if !path.starts_with('/') {
                return Err(Error::Usage(format!(
                    "{option} {spec:?}: give a path, optionally after a method (\"POST /orders\")"
                )));
            }
            Ok(Some(Target {
                path,
                method,
                body: None,
                ..base.clone()
            }))
        };
        if let Some(h) = &self.auth_header
            && !h.contains(':')
        {
            return Err(Error::Usage(format!(
                "--auth-header {h:?}: give `Name: value`"
            )));
        }
        Ok(super::Probes {
            denied: at("--denied-path", &self.denied_path)?,
            failing: at("--failing-path", &self.failing_path)?,
            side_effect: at("--side-effect-path", &self.side_effect_path)?.map(|t| {
                let oracle = self.side_effect_oracle.clone().unwrap_or_default();
                let url = format!("{}{}", base.base_url, oracle);
                (t, url)
            }),
            authenticated: at("--auth-path", &self.auth_path)?
                .map(|t| (t, self.auth_header.clone().unwrap_or_default())),
        })
    }
}

/// The checks of one resource of one server.
pub struct Run {
    pub label: String,
    pub resource: String,
    /// `METHOD /path`: what the report names the subject.
    pub subject: String,
    /// The command that reruns this target (a check: add `--filter ID`).
    pub reproduce: String,
    pub results: Vec<CheckResult>,
    /// The core draft the run judged against.
    pub core: CoreDraft,
}

/// Dev account 1 of anvil's mnemonic: sponsors fees on mppconf's chain.
pub(crate) const FEE_PAYER_KEY: &str =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// Runs the suite; returns the exit code (0 conformant, 1 not, 2 usage
/// error, 3 harness error, 4 stale baseline).
pub async fn server(args: ServerArgs) -> Result<u8> {
    let started = Instant::now();
    let started_at = crate::report::now();
    preflight(&args)?;
    crate::interrupt::install()?;
    let mut selection = args.gate.selection(&args.filter)?;
    selection.jobs = args.jobs.into();
    let mut progress = Progress::new();
    let runs = if !args.target.is_empty() {
        let mut runs = Vec::new();
        for path in &args.target {
            runs.extend(launched_target(path, args.core, &selection, &mut progress).await?);
        }
        runs
    } else if args.choice.reference {
        run_reference_method(
            &args.choice.payment_method,
            args.core,
            &args.choice.deviations()?,
            &selection,
            &mut progress,
        )
        .await?
    } else {
        attached(&args, &selection, &mut progress).await?
    };
    progress.finish();
    summarize(&runs, &args, started)?;
    args.gate.finish(reports_of(&runs, &started_at))
}

/// Every input checked before anything starts (no chain, no target):
/// flags, URLs, keys, files, the selection, the baseline, the report
/// folder. A mistake is a usage error, exit code 2.
fn preflight(args: &ServerArgs) -> Result<()> {
    let mut ids: Vec<&str> = super::all_checks().iter().map(|c| c.id).collect();
    ids.push(UNSUPPORTED_METHOD);
    args.gate.selection(&args.filter)?.validate(&ids)?;
    args.gate.preflight(&ids)?;
    if let Some(url) = &args.choice.url {
        crate::preflight::http_url("--url", url)?;
    }
    if let Some(rpc) = &args.choice.rpc {
        crate::preflight::http_url("--rpc", rpc)?;
    }
    if let Some(key) = &args.payer_key {
        tx::signer_from_key(key, "--payer-key")?;
    }
    if let Some(out) = &args.out {
        crate::preflight::out_file("--out", out)?;
    }
    if let Some(payer) = &args.payer {
        PayerManifest::load(payer)?;
    }
    for target in &args.target {
        let manifest = super::manifest::ServerTarget::load(target)?;
        if manifest.resource.is_empty() {
            return Err(Error::Usage(format!(
                "{}: no [[resource]] to probe; a manifest of an MCP endpoint ([mcp]) runs with `mppconf mcp-server --target {}`",
                target.display(),
                target.display()
            )));
        }
    }
    args.choice.deviations()?;
    Ok(())
}

/// One report per implementation, with each check's evidence (its
/// exchanges and chain calls) to write next to it.
pub fn reports_of(runs: &[Run], started_at: &str) -> Vec<(Report, Vec<(usize, Value)>)> {
    let mut labels: Vec<&str> = Vec::new();
    for r in runs {
        if !labels.contains(&r.label.as_str()) {
            labels.push(&r.label);
        }
    }
    labels
        .into_iter()
        .map(|label| {
            let mut records = Vec::new();
            let mut evidence = Vec::new();
            for run in runs.iter().filter(|r| r.label == label) {
                for c in &run.results {
                    let (expected, actual) = crate::report::expected_actual(&c.detail);
                    evidence.push((
                        records.len(),
                        json!({"check": c.id, "subject": run.resource, "exchanges": c.exchanges, "rpc": c.rpc}),
                    ));
                    records.push(CheckRecord {
                        id: c.id.to_string(),
                        subject: run.subject.clone(),
                        requirements: c.requirements.iter().map(|s| s.to_string()).collect(),
                        verdict: c.verdict,
                        detail: c.detail.clone(),
                        expected,
                        actual,
                        millis: c.millis,
                        evidence: None,
                        reproduce: format!("{} --filter {}", run.reproduce, c.id),
                    });
                }
            }
            let core = runs
                .iter()
                .find(|r| r.label == label)
                .map(|r| r.core)
                .unwrap_or_default();
            let mut report =
                Report::new("server", label, started_at.to_string(), records).under(core);
            // The seed of the bounded fuzz pass (fuzz.bounded).
            report.seed = Some(super::core::FUZZ_SEED);
            (report, evidence)
        })
        .collect()
}

/// Prints the summary and timing and writes the raw results file.
fn summarize(runs: &[Run], args: &ServerArgs, started: Instant) -> Result<()> {
    let all: Vec<&CheckResult> = runs.iter().flat_map(|r| &r.results).collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &all {
        *counts.entry(r.verdict.as_str()).or_insert(0) += 1;
    }
    let n = |v: &str| counts.get(v).copied().unwrap_or(0);
    crate::outln!(
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
    crate::outln!("time {timing}");
    if let Some(out) = &args.out {
        let targets = runs
            .iter()
            .map(|r| json!({"label": r.label, "resource": r.resource, "checks": r.results}))
            .collect();
        crate::report::gate::write_results(
            out,
            "mppconf-server-results/1",
            started.elapsed().as_secs_f64(),
            &counts,
            "targets",
            targets,
        )?;
    }
    Ok(())
}

/// `--url`: a server that is already running.
async fn attached(
    args: &ServerArgs,
    selection: &Selection,
    progress: &mut (impl Watch<CheckResult> + Send),
) -> Result<Vec<Run>> {
    // Read before anything starts: a broken payer manifest is a usage error.
    let payer = args
        .payer
        .as_deref()
        .map(PayerManifest::load)
        .transpose()?
        .map(|m| Arc::new(ExternalPayer::new(m)));
    let (target, _anvil) = args
        .choice
        .attach(", --target MANIFEST, or --reference")
        .await?;
    let url = target.base_url.clone();
    let targets: Vec<Target> = args
        .choice
        .path
        .iter()
        .map(|path| Target {
            path: path.clone(),
            ..target.clone()
        })
        .collect();
    let paths: String = targets
        .iter()
        .map(|t| format!(" --path {}", t.path))
        .collect();
    let mut reproduce = format!(
        "mppconf server --url {url}{paths} --method {}",
        target.method
    );
    if let Some(d) = &args.choice.data {
        reproduce.push_str(&format!(" --data '{d}'"));
    }
    if let Some(r) = &args.choice.rpc {
        reproduce.push_str(&format!(" --rpc {r}"));
    }
    if let Some(p) = &args.payer {
        reproduce.push_str(&format!(" --payer {}", p.display()));
    }
    let mut runs = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let run = probe_resource(
            Naming {
                label: &url,
                reproduce: &reproduce,
            },
            target.clone(),
            others_than(&targets, i),
            None,
            Paying {
                payer_key: args.payer_key.as_deref(),
                payer: payer.as_ref(),
                core: args.core,
                probes: (i == 0).then(|| args.probes.on(target)).transpose()?,
                discovery: args.probes.discovery_path.clone(),
                first: i == 0,
                hmac_secret: args.secret.as_ref().map(|s| s.as_bytes().to_vec()),
                secrets: args
                    .secret
                    .iter()
                    .map(|s| {
                        (
                            "the server's challenge-binding secret".to_string(),
                            s.clone(),
                        )
                    })
                    .chain(args.secret_marker.iter().map(|s| {
                        (
                            "a text declared secret (--secret-marker)".to_string(),
                            s.clone(),
                        )
                    }))
                    .collect(),
                ..Paying::default()
            },
            selection,
            progress,
        )
        .await?;
        runs.push(run);
    }
    Ok(runs)
}

/// The resources of a run other than the `i`-th.
pub(super) fn others_than(targets: &[Target], i: usize) -> Vec<Target> {
    targets
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, t)| t.clone())
        .collect()
}

/// `--target`: start the implementation from its manifest on mppconf's
/// own chain (through the recording proxy) and probe each resource.
async fn launched_target(
    path: &std::path::Path,
    core: CoreDraft,
    selection: &Selection,
    progress: &mut (impl Watch<CheckResult> + Send),
) -> Result<Vec<Run>> {
    use super::manifest::{Placeholders, ServerTarget};
    let manifest = ServerTarget::load(path)?;
    manifest.build()?;
    // The chain the target needs (its manifest's `chain` and `chain_id`,
    // or Tempo and 31337).
    let chain = Anvil::start(&AnvilConfig {
        network: manifest.chain.network(),
        chain_id: manifest.chain_id,
        ..AnvilConfig::default()
    })
    .await?;
    let proxy = Arc::new(RpcProxy::start(&chain.rpc_url, Duration::from_secs(10)).await?);
    let tls_dir = crate::tls::scratch_dir("server-tls")?;
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let values = Placeholders::fresh(proxy.url(), chain.chain_id, tls_dir.path())?
        .with_chain_setup(&chain.rpc(), &text)
        .await?;
    let launched = manifest.launch(&values).await?;
    let (base_url, ca) = (launched.base_url.clone(), launched.ca.clone());
    let secret = values.secret.clone();
    let restart = Arc::new(super::restart::LaunchedRestart {
        target: manifest.clone(),
        values,
        launched: tokio::sync::Mutex::new(Some(launched)),
    });
    let label = manifest.label(path);
    let reproduce = format!("mppconf server --target {}", path.display());
    let targets: Vec<Target> = manifest
        .resource
        .iter()
        .map(|resource| Target {
            base_url: base_url.clone(),
            path: resource.path.clone(),
            method: resource.method.clone(),
            body: resource.body.clone().map(String::into_bytes),
            rpc_url: chain.rpc_url.clone(),
            ca: ca.clone(),
        })
        .collect();
    let mut runs = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        runs.push(
            probe_resource(
                Naming {
                    label: &label,
                    reproduce: &reproduce,
                },
                target.clone(),
                others_than(&targets, i),
                Some(proxy.clone()),
                Paying {
                    attribution_memo: manifest.pay.attribution_memo,
                    probes: (i == 0).then(|| manifest.probes.on(target)),
                    discovery: manifest.probes.discovery.clone(),
                    first: i == 0,
                    restart: Some(restart.clone()),
                    // SDK servers take the secret as text: its bytes key the HMAC.
                    hmac_secret: Some(secret.as_bytes().to_vec()),
                    secrets: std::iter::once((
                        "the server's challenge-binding secret ({secret})".to_string(),
                        secret.clone(),
                    ))
                    .chain(manifest.secrets.iter().filter_map(|s| {
                        let text = match s.strip_prefix("env:") {
                            Some(name) => std::env::var(name).ok()?,
                            None => s.clone(),
                        };
                        Some(("a text the manifest declares secret".to_string(), text))
                    }))
                    .collect(),
                    core,
                    ..Paying::default()
                },
                selection,
                progress,
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
        let reference =
            start_reference(vec![route], &args.choice.deviations()?, CoreDraft::Draft00).await?;
        let target = Target {
            base_url: reference.url(),
            path: "/paid".into(),
            method: "GET".into(),
            body: None,
            rpc_url: reference.chain.rpc_url.clone(),
            ca: Some(reference.ca.clone()),
        };
        _started = Some(reference);
        target
    } else {
        let (target, anvil) = args.choice.attach(", or --reference").await?;
        _anvil = anvil;
        target
    };
    crate::outln!(
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
        crate::outln!(
            "finding  {:?} ({}) at request {}: {:?} (shrunk from {} bytes)",
            f.violation,
            f.status,
            f.index,
            f.header,
            f.original_length
        );
    }
    crate::outln!(
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
