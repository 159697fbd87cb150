//! `mppconf client`: the client suite against the reference client or
//! client programs from their manifests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::vectors::Verdict;
use serde::Serialize;
use serde_json::{Value, json};

use super::manifest::ClientTarget;
use super::{Check, Need};
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
    /// The core draft to judge against: draft-httpauth-payment-00 (the
    /// pinned default) or draft-httpauth-payment-01 (the scenarios add
    /// challenges with a `header` parameter; the header.* checks run; the
    /// reference client follows the draft, a program the one it
    /// implements).
    #[arg(long, default_value = "draft-httpauth-payment-00")]
    pub core: CoreDraft,
    /// The payment method the scenarios ask for: `tempo` (Tempo charge:
    /// the core, -01 and Tempo charge checks), `tempo-session` (the
    /// session checks of draft-tempo-session-00, v1 on mppconf's escrow)
    /// or `evm` (the EVM charge checks of draft-evm-charge-00, on a plain
    /// anvil with mppconf's EIP-3009 token and Permit2).
    #[arg(long, default_value = "tempo", value_parser = ["tempo", "tempo-session", "evm"])]
    pub payment_method: String,
    #[command(flatten)]
    pub gate: crate::report::gate::GateArgs,
    /// Write the raw results (and each scenario's evidence) as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The verdict of one check.
#[derive(Debug, Clone, Serialize)]
pub struct ClientCheckResult {
    pub id: &'static str,
    pub requirements: Vec<&'static str>,
    pub scenario: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    /// The client's time in the check's scenario.
    pub millis: f64,
}

/// One client's results, and the evidence of its scenarios.
pub struct ClientRunResults {
    pub label: String,
    /// The core draft the run judged against.
    pub core: CoreDraft,
    /// The command that reruns this client (a check: add `--filter ID`).
    pub reproduce: String,
    pub results: Vec<ClientCheckResult>,
    pub scenarios: Vec<Value>,
    /// Time the scenarios took, and of it the time inside the client.
    pub scenario_time: Duration,
    pub client_time: Duration,
    /// What the harness changed for the client to run here at all
    /// ([`crate::report::Report::accommodations`]).
    pub accommodations: Vec<String>,
}

/// The clients `--reference [--deviate …]` and `--target …` name (built),
/// at least one.
fn clients_of(
    reference: bool,
    deviate: &[String],
    targets: &[PathBuf],
) -> Result<Vec<ClientUnderTest>> {
    let mut clients = Vec::new();
    if reference {
        let deviations = deviate
            .iter()
            .map(|d| Deviation::parse(d))
            .collect::<Result<BTreeSet<_>>>()?;
        clients.push(ClientUnderTest::Reference { deviations });
    }
    for path in targets {
        let target = ClientTarget::load(path)?;
        if target.mcp.is_some() {
            return Err(Error::Usage(format!(
                "{}: the manifest describes an MCP client (it has an [mcp] table): run `mppconf mcp-client --target {}`",
                path.display(),
                path.display()
            )));
        }
        if let Some(offer) = &target.offer {
            super::method_rules::check_offer(offer, path).map_err(Error::Usage)?;
        }
        eprintln!("mppconf: building {} ...", target.name);
        target.build()?;
        clients.push(ClientUnderTest::Program(Box::new(target)));
    }
    if clients.is_empty() {
        return Err(Error::Usage(
            "give --reference or --target MANIFEST (a client target manifest)".into(),
        ));
    }
    Ok(clients)
}

/// Runs the suite; the exit code (0 conformant, 1 not, 2 usage error, 3
/// harness error, 4 stale baseline).
pub async fn client(args: ClientArgs) -> Result<u8> {
    let started = Instant::now();
    let started_at = crate::report::now();
    // Every input checked before anything starts (usage errors, exit 2).
    let method = method_of(&args.payment_method);
    let ids: Vec<&str> = super::checks_of(method, args.core)
        .iter()
        .map(|c| c.id)
        .chain([
            super::method_rules::PAYLOAD_RULES,
            super::method_rules::PAYLOAD_TERMS,
        ])
        .chain(super::card::CHECKS.iter().map(|c| c.id))
        .collect();
    let selection = args.gate.selection(&args.filter)?;
    selection.validate(&ids)?;
    args.gate.preflight(&ids)?;
    if let Some(out) = &args.out {
        crate::preflight::out_file("--out", out)?;
    }
    let clients = clients_of(args.reference, &args.deviate, &args.target)?;
    crate::interrupt::install()?;
    let mut runs = Vec::new();
    for client in &clients {
        crate::outln!("mppconf client suite: {}", client.label());
        runs.push(run_client_of(client, &selection, args.core, method, print_result).await?);
        eprintln!();
    }
    summarize(&runs, args.out.as_deref(), started)?;
    args.gate.finish(reports_of(&runs, &started_at))
}

/// One report per client, with each check's evidence (its scenario's).
pub fn reports_of(
    runs: &[ClientRunResults],
    started_at: &str,
) -> Vec<(crate::report::Report, Vec<(usize, Value)>)> {
    runs.iter()
        .map(|run| {
            let by_scenario: BTreeMap<&str, &Value> = run
                .scenarios
                .iter()
                .filter_map(|s| Some((s["scenario"].as_str()?, s)))
                .collect();
            let mut evidence = Vec::new();
            let records = run
                .results
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if let Some(e) = by_scenario.get(c.scenario) {
                        evidence.push((i, (*e).clone()));
                    }
                    let (expected, actual) = crate::report::expected_actual(&c.detail);
                    crate::report::CheckRecord {
                        id: c.id.to_string(),
                        subject: c.scenario.to_string(),
                        requirements: c.requirements.iter().map(|s| s.to_string()).collect(),
                        verdict: c.verdict,
                        detail: c.detail.clone(),
                        expected,
                        actual,
                        millis: c.millis,
                        evidence: None,
                        reproduce: format!("{} --filter {}", run.reproduce, c.id),
                    }
                })
                .collect();
            let mut report =
                crate::report::Report::new("client", &run.label, started_at.to_string(), records)
                    .under(run.core);
            report.accommodations = run.accommodations.clone();
            (report, evidence)
        })
        .collect()
}

/// The realm of every scenario: the scenario servers' host. The drafts
/// let a realm be any string, but SDK clients (mpp, pympp) refuse to sign
/// zero-amount proofs for a realm other than the request's host, a
/// hardening of their own; a host realm lets the proof checks judge them.
const REALM: &str = "127.0.0.1";

/// The run's chain and reference server, kept alive with the [`Env`].
pub struct Started {
    pub env: Env,
    _chain: Anvil,
    _settle: crate::background::Background,
    _tls_dir: tempfile::TempDir,
}

/// The plug-in of `--payment-method`.
fn method_of(name: &str) -> &'static dyn crate::methods::PaymentMethod {
    match name {
        "tempo-session" => &crate::methods::tempo_session::TempoSession,
        "evm" => &crate::methods::evm_charge::EvmCharge,
        _ => super::METHOD,
    }
}

/// Starts the chain, the recording proxy and the reference server that
/// settles forwarded credentials, following `core`.
pub async fn start(core: CoreDraft) -> Result<Started> {
    start_serving(core, None, super::METHOD).await
}

/// [`start`], the reference server also serving its routes as paid MCP
/// operations when `mcp` is given.
pub async fn start_serving(
    core: CoreDraft,
    mcp: Option<crate::reference::server::mcp::McpServing>,
    method: &'static dyn crate::methods::PaymentMethod,
) -> Result<Started> {
    let evm = method.name()
        == crate::methods::PaymentMethod::name(&crate::methods::evm_charge::EvmCharge);
    let chain = Anvil::start(&AnvilConfig {
        network: if evm {
            crate::chain::anvil::Network::Plain
        } else {
            crate::chain::anvil::Network::Tempo
        },
        ..AnvilConfig::default()
    })
    .await?;
    let mut routes = if evm {
        super::evm_charge::routes()
    } else {
        super::routes(core)
    };
    if method.intents() == ["session"] {
        routes.extend(super::tempo_session::routes());
        crate::server_suite::reference_run::prepare_session_routes(&chain.rpc(), &mut routes)
            .await?;
    }
    crate::server_suite::reference_run::prepare_evm_routes(
        &chain.rpc(),
        &mut routes,
        &BTreeSet::new(),
    )
    .await?;
    let evm_token = routes
        .iter()
        .find(|r| r.evm.is_some())
        .and_then(|r| r.currency.parse::<alloy::primitives::Address>().ok());
    let proxy = Arc::new(RpcProxy::start(&chain.rpc_url, Duration::from_secs(10)).await?);
    let secret = alloy::primitives::B256::random().to_vec();
    let config = ServerConfig {
        realm: REALM.into(),
        secret: secret.clone(),
        rpc_url: chain.rpc_url.clone(),
        chain_id: chain.chain_id,
        fee_payer_key: Some(crate::server_suite::command::FEE_PAYER_KEY.into()),
        routes,
        deviations: BTreeSet::new(),
        choices: server::Choices {
            core,
            mcp,
            ..Default::default()
        },
    };
    let routes = config.routes.clone();
    let settle = server::start(config, "127.0.0.1:0".parse().expect("an address")).await?;
    let tls = crate::tls::LocalCa::new()?;
    let tls_dir = crate::tls::scratch_dir("client-tls")?;
    let ca_file = tls.write_files(tls_dir.path())?.ca;
    let env = Env {
        chain_id: chain.chain_id,
        rpc_url: chain.rpc_url.clone(),
        proxy,
        realm: REALM.into(),
        secret,
        routes,
        settle_at: settle.url(),
        tls: Arc::new(tls),
        ca_file,
        core,
        offer: None,
        evm_token,
    };
    Ok(Started {
        env,
        _chain: chain,
        _settle: settle,
        _tls_dir: tls_dir,
    })
}

/// Runs every scenario a selected check needs, and judges (the Tempo
/// charge scenarios).
pub async fn run_client(
    client: &ClientUnderTest,
    selection: &crate::report::Selection,
    core: CoreDraft,
    progress: impl FnMut(&ClientCheckResult),
) -> Result<ClientRunResults> {
    run_client_of(client, selection, core, super::METHOD, progress).await
}

/// [`run_client`] for the scenarios of `method`.
pub async fn run_client_of(
    client: &ClientUnderTest,
    selection: &crate::report::Selection,
    core: CoreDraft,
    method: &'static dyn crate::methods::PaymentMethod,
    mut progress: impl FnMut(&ClientCheckResult),
) -> Result<ClientRunResults> {
    let mut started = start_serving(core, None, method).await?;
    // CHAIN.md: SDK clients open session channels with anvil's gas
    // estimate, which is too low under T4 for a transaction that creates
    // several storage slots; on Tempo it would do.
    let mut accommodations = Vec::new();
    if method.intents() == ["session"] && matches!(client, ClientUnderTest::Program(_)) {
        started.env.proxy.scale_gas_estimates(3);
        accommodations.push(
            "gas estimates (eth_estimateGas, eth_fillTransaction) multiplied by 3 through the recording RPC proxy: anvil's tempo mode (hardfork t4) estimates below what a channel open (several new storage slots, TIP-1000) uses, so an SDK that trusts the estimate runs out of gas here where it would not on Tempo; each scaled answer is recorded as estimate-scaled in the evidence"
                .to_string(),
        );
    }
    started.env.offer = client.offer().cloned();
    let env = &started.env;
    // A client of a method the harness cannot pay is judged on what it
    // sends for the offered challenge only: every other check needs a
    // settled Tempo payment.
    let checks = match client.offer() {
        Some(offer) => {
            let mut checks = vec![
                &super::method_rules::CHECK,
                &super::method_rules::TERMS_CHECK,
            ];
            if super::card::applies(offer) {
                checks.extend(super::card::CHECKS);
            }
            checks
        }
        None => super::checks_of(method, core),
    };
    let selected: Vec<&Check> = checks
        .into_iter()
        .enumerate()
        .filter(|(n, c)| selection.selects(*n, c.id))
        .map(|(_, c)| c)
        .collect();
    let mut wanted: BTreeSet<&str> = selected.iter().map(|c| c.scenario).collect();
    // A check that reads "the client did not pay" needs the control: the
    // standard scenario, which a conformant client pays.
    let needs_control = selected.iter().any(|c| is_refusal(c.id));
    // An offered method's control is the offer itself.
    let control = match client.offer() {
        Some(_) => super::method_rules::SCENARIO.name,
        None => super::control_scenario(method),
    };
    if needs_control {
        wanted.insert(control);
    }
    let claims = client.claims();
    let mut records: BTreeMap<&str, std::result::Result<Record, String>> = BTreeMap::new();
    let mut scenario_time = Duration::ZERO;
    let mut client_time = Duration::ZERO;
    let scenarios = match client.offer() {
        Some(offer) => {
            let mut scenarios = vec![&super::method_rules::SCENARIO];
            if super::card::applies(offer) {
                scenarios.extend(super::card::SCENARIOS);
            }
            scenarios
        }
        None => super::scenarios_of(method, core),
    };
    for def in scenarios.into_iter().filter(|d| wanted.contains(d.name)) {
        let unmet = match def.needs {
            Need::Nothing => None,
            Need::Body => (!client.sends_bodies())
                .then_some("the client target sends no request body (its manifest uses no {body})"),
            Need::StrictMode => (!client.has_strict_mode()).then_some(
                "the run allows plain http for local testing (the manifest has no strict_command), so this is not checked",
            ),
            Need::Policy => (!client.takes_policy()).then_some(
                "the client is given no spending policy (its manifest uses no {max_amount} and {recipient})",
            ),
            Need::Budget => (!client.takes_budget())
                .then_some("the client is given no budget (its manifest uses no {max_amount})"),
            Need::FeeSponsorship => (!claims.fee_sponsorship)
                .then_some("the client does not claim fee sponsorship (claims.fee_sponsorship)"),
            Need::Push => {
                (!claims.push).then_some("the client does not claim push mode (claims.push)")
            }
            Need::ZeroAmountProof => (!claims.zero_amount_proof).then_some(
                "the client does not claim zero-amount proofs (claims.zero_amount_proof)",
            ),
            Need::EvmType(kind) => (!claims.evm_credential_types.iter().any(|t| t == kind))
                .then_some(
                    "the client does not claim this EVM credential type (claims.evm_credential_types)",
                ),
            Need::RealmOrigin => {
                super::scenario::realm_origin_unavailable()
                    .await
                    .then_some(super::scenario::REALM_UNAVAILABLE)
            }
        };
        if let Some(why) = unmet {
            records.insert(def.name, Err(why.to_string()));
            continue;
        }
        if let Some(why) = crate::interrupt::reason() {
            records.insert(def.name, Err(format!("not run: {why}")));
            continue;
        }
        let t = Instant::now();
        let record = super::run_scenario(env, client, def.name, (def.build)(env)).await?;
        scenario_time += t.elapsed();
        client_time += Duration::from_secs_f64(record.run.millis / 1e3);
        records.insert(def.name, Ok(record));
    }
    // Whether the client paid (sent a credential for) the control; if
    // not, a refusal proves nothing (a client that pays nothing refuses
    // everything). Whether its payment was right is standard.paid's.
    let control_failure = needs_control
        .then(|| match records.get(control) {
            Some(Ok(record)) if record.run.failure.is_none() => {
                let sent = record
                    .seen
                    .iter()
                    .any(|s| !s.payment_credentials().is_empty());
                (!sent).then(|| {
                    format!(
                        "it sent no credential for the payable challenge (client: {})",
                        record.run.ended
                    )
                })
            }
            Some(Ok(record)) => record.run.failure.clone(),
            Some(Err(why)) => Some(why.clone()),
            None => Some("the control scenario did not run".to_string()),
        })
        .flatten();
    let mut results = Vec::new();
    for check in selected {
        let outcome = match records.get(check.scenario) {
            Some(Ok(record)) => {
                let outcome = super::judge(check, record);
                match &control_failure {
                    Some(why) if is_refusal(check.id) && outcome.verdict == Verdict::Pass => {
                        crate::server_suite::Outcome {
                            verdict: Verdict::Blocked,
                            detail: format!(
                                "the client did not pay the control (the {control} scenario: {}), so that it did not pay here proves nothing ({})",
                                why.replace('\n', " "),
                                outcome.detail
                            ),
                        }
                    }
                    _ => outcome,
                }
            }
            Some(Err(why)) if check.scenario == "plain-http" => crate::server_suite::Outcome {
                verdict: Verdict::Info,
                detail: why.clone(),
            },
            Some(Err(why)) => crate::server_suite::Outcome::skip(why.clone()),
            None => crate::server_suite::Outcome::error(format!(
                "scenario {} did not run",
                check.scenario
            )),
        };
        let verdict = match (outcome.verdict, check.should) {
            (Verdict::Fail, true) => Verdict::Warn,
            (v, _) => v,
        };
        let mut requirements = super::cited(check);
        if let Some(offer) = client.offer() {
            requirements.extend(match check.id {
                super::method_rules::PAYLOAD_TERMS => super::method_rules::terms_cited(offer),
                super::method_rules::PAYLOAD_RULES => super::method_rules::cited(offer),
                _ => Vec::new(),
            });
        }
        let result = ClientCheckResult {
            id: check.id,
            requirements,
            scenario: check.scenario,
            verdict,
            detail: outcome.detail,
            millis: records
                .get(check.scenario)
                .and_then(|r| r.as_ref().ok())
                .map(|r| r.run.millis)
                .unwrap_or_default(),
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
        core,
        reproduce: {
            let mut command = client.reproduce();
            if method.intents() == ["session"] {
                command.push_str(" --payment-method tempo-session");
            } else if super::runs_alone(method) {
                command.push_str(&format!(" --payment-method {}", method.name()));
            }
            if core != CoreDraft::Draft00 {
                command.push_str(&format!(" --core {}", core.docname()));
            }
            command
        },
        results,
        scenarios,
        scenario_time,
        client_time,
        accommodations,
    })
}

/// A check whose pass reads "the client did not pay (or send the
/// credential)": a refusal, or a transport rule.
fn is_refusal(id: &str) -> bool {
    id.starts_with("refuse.")
        || id.starts_with("evm.refuse.")
        || id.starts_with("card.refuse.")
        || id.starts_with("transport.")
}

/// Shows progress while checks are judged.
pub fn print_result(r: &ClientCheckResult) {
    crate::report::gate::progress_mark(r.verdict);
}

/// Prints the counts and times of a run, and writes its raw results to
/// `out`.
pub fn summarize(
    runs: &[ClientRunResults],
    out: Option<&std::path::Path>,
    started: Instant,
) -> Result<()> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in runs.iter().flat_map(|r| &r.results) {
        *counts.entry(r.verdict.as_str()).or_insert(0) += 1;
    }
    let n = |v: &str| counts.get(v).copied().unwrap_or(0);
    let total: usize = runs.iter().map(|r| r.results.len()).sum();
    let scenarios: usize = runs.iter().map(|r| r.scenarios.len()).sum();
    let scenario_time: Duration = runs.iter().map(|r| r.scenario_time).sum();
    let client_time: Duration = runs.iter().map(|r| r.client_time).sum();
    crate::outln!(
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
    crate::outln!(
        "time: scenarios {:.2}s ({:.1}/s), inside the client {:.2}s, harness {:.2}s ({:.0}% of scenario time)",
        scenario_time.as_secs_f64(),
        scenarios as f64 / scenario_time.as_secs_f64().max(1e-9),
        client_time.as_secs_f64(),
        harness.as_secs_f64(),
        100.0 * harness.as_secs_f64() / scenario_time.as_secs_f64().max(1e-9),
    );
    if let Some(out) = out {
        let clients = runs
            .iter()
            .map(|r| json!({"label": r.label, "checks": r.results, "scenarios": r.scenarios}))
            .collect();
        crate::report::gate::write_results(
            out,
            "mppconf-client-results/1",
            started.elapsed().as_secs_f64(),
            &counts,
            "clients",
            clients,
        )?;
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct FuzzClientArgs {
    /// Fuzz the reference client (`mppconf pay`), in-process.
    #[arg(long, conflicts_with = "target")]
    pub reference: bool,
    /// With --reference: break a rule on purpose (repeatable).
    #[arg(long, requires = "reference")]
    pub deviate: Vec<String>,
    /// A client target manifest (TOML).
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// The seed; a campaign is reproducible from it (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// How many rounds (one 402, one client run each).
    #[arg(long, default_value_t = 200)]
    pub rounds: usize,
    /// Stop after this many seconds even if --rounds is not reached.
    #[arg(long)]
    pub budget_secs: Option<u64>,
    /// Write the campaign (findings with their shrunk headers) as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `mppconf fuzz client`: exit 0 without findings, 1 with some.
pub async fn fuzz_client(args: FuzzClientArgs) -> Result<u8> {
    let client = clients_of(args.reference, &args.deviate, args.target.as_slice())?
        .into_iter()
        .next()
        .expect("clients_of gives at least one");
    let seed = args.seed.unwrap_or_else(rand::random);
    crate::outln!(
        "mppconf fuzz client: {} with seed {seed}, {} rounds",
        client.label(),
        args.rounds
    );
    let started = start(CoreDraft::Draft00).await?;
    let campaign = super::fuzz::campaign(
        &started.env,
        &client,
        client.exit_codes().as_deref(),
        seed,
        args.rounds,
        args.budget_secs.map(Duration::from_secs),
        {
            let mut shown = (0, 0);
            move |done: usize, found: usize| {
                // Every 25 rounds, and at once when something is found.
                if done.is_multiple_of(25) || found != shown.1 {
                    eprint!("\r{done} rounds, {found} finding(s)");
                    shown = (done, found);
                }
            }
        },
    )
    .await?;
    eprintln!();
    for f in &campaign.findings {
        crate::outln!(
            "{:?} (round {}; client: {}; {})\n    header: {}",
            f.violation,
            f.round,
            f.client,
            f.unpayable.as_deref().unwrap_or("payable"),
            f.header
        );
    }
    crate::outln!(
        "{} rounds ({} unpayable), {} finding(s), {:.1} rounds/s",
        campaign.rounds,
        campaign.unpayable_rounds,
        campaign.findings.len(),
        campaign.rounds_per_sec
    );
    if let Some(out) = &args.out {
        let text = serde_json::to_string_pretty(&campaign).unwrap_or_default() + "\n";
        std::fs::write(out, text).map_err(|e| Error::io(out, e))?;
        crate::outln!("campaign written to {}", out.display());
    }
    Ok(if campaign.findings.is_empty() { 0 } else { 1 })
}
