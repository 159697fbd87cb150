//! `mppconf mcp-client`: the MCP client suite against the reference MCP
//! client or MCP client programs from their manifests. Results, reports,
//! JUnit, baselines and exit codes are the client suite's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::vectors::Verdict;

use super::checks::{CHECKS, McpClientCheck};
use super::{CONTROL, McpClientUnderTest, Record, SCENARIOS};
use crate::client_suite::command::{ClientCheckResult, ClientRunResults, print_result};
use crate::client_suite::manifest::ClientTarget;
use crate::error::{Error, Result};
use crate::reference::mcp_client::McpClientDeviation;
use crate::reference::server::mcp::McpServing;
use crate::server_suite::Outcome;

#[derive(clap::Args)]
pub struct McpClientArgs {
    /// Test the reference MCP client, in-process.
    #[arg(long, conflicts_with = "target")]
    pub reference: bool,
    /// With --reference: break a rule on purpose (repeatable).
    #[arg(long, requires = "reference")]
    pub deviate: Vec<String>,
    /// A client target manifest (TOML) with an [mcp] table. Repeatable.
    #[arg(long)]
    pub target: Vec<PathBuf>,
    /// Only checks whose id contains one of these.
    #[arg(long)]
    pub filter: Vec<String>,
    #[command(flatten)]
    pub gate: crate::report::gate::GateArgs,
    /// Write the raw results (and each scenario's evidence) as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The clients the arguments name (built), at least one.
fn clients_of(args: &McpClientArgs) -> Result<Vec<McpClientUnderTest>> {
    let mut clients = Vec::new();
    if args.reference {
        let deviations = args
            .deviate
            .iter()
            .map(|d| McpClientDeviation::parse(d))
            .collect::<Result<BTreeSet<_>>>()?;
        clients.push(McpClientUnderTest::Reference { deviations });
    }
    for path in &args.target {
        let target = ClientTarget::load(path)?;
        if target.mcp.is_none() {
            return Err(Error::Usage(format!(
                "{}: the manifest has no [mcp] table (operations = [\"tool\", ...]), so it describes an HTTP client: add the table, or run `mppconf client --target {}`",
                path.display(),
                path.display()
            )));
        }
        if target.offer.is_some() {
            return Err(Error::Usage(format!(
                "{}: an [offer] (a method the harness cannot pay) is judged over HTTP only: remove it, or run `mppconf client --target {}`",
                path.display(),
                path.display()
            )));
        }
        eprintln!("mppconf: building {} ...", target.name);
        target.build()?;
        clients.push(McpClientUnderTest::Program(Box::new(target)));
    }
    if clients.is_empty() {
        return Err(Error::Usage(
            "give --reference or --target MANIFEST (a client target manifest with an [mcp] table)"
                .into(),
        ));
    }
    Ok(clients)
}

/// Runs the suite; the exit code (0 conformant, 1 not, 2 usage error, 3
/// harness error, 4 stale baseline).
pub async fn mcp_client(args: McpClientArgs) -> Result<u8> {
    let started = Instant::now();
    let started_at = crate::report::now();
    let ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
    let selection = args.gate.selection(&args.filter)?;
    selection.validate(&ids)?;
    args.gate.preflight(&ids)?;
    if let Some(out) = &args.out {
        crate::preflight::out_file("--out", out)?;
    }
    let clients = clients_of(&args)?;
    crate::interrupt::install()?;
    let mut runs = Vec::new();
    for client in &clients {
        crate::outln!("mppconf MCP client suite: {}", client.label());
        runs.push(run_client(client, &selection, print_result).await?);
        eprintln!();
    }
    crate::client_suite::command::summarize(&runs, args.out.as_deref(), started)?;
    args.gate
        .finish(crate::client_suite::command::reports_of(&runs, &started_at))
}

/// Runs every scenario a selected check needs (and the control), and
/// judges.
pub async fn run_client(
    client: &McpClientUnderTest,
    selection: &crate::report::Selection,
    mut progress: impl FnMut(&ClientCheckResult),
) -> Result<ClientRunResults> {
    let started = crate::client_suite::command::start_serving(
        CoreDraft::Draft00,
        Some(McpServing::default()),
        crate::client_suite::METHOD,
    )
    .await?;
    let env = &started.env;
    let selected: Vec<&McpClientCheck> = CHECKS
        .iter()
        .enumerate()
        .filter(|(n, c)| selection.selects(*n, c.id))
        .map(|(_, c)| c)
        .collect();
    let mut wanted: BTreeSet<&str> = selected.iter().map(|c| c.scenario).collect();
    let needs_control = selected.iter().any(|c| c.refusal);
    if needs_control {
        wanted.insert(CONTROL);
    }
    let mut records: BTreeMap<&str, std::result::Result<Record, String>> = BTreeMap::new();
    let mut scenario_time = Duration::ZERO;
    let mut client_time = Duration::ZERO;
    for def in SCENARIOS.iter().filter(|d| wanted.contains(d.name)) {
        if !client.pays(def.operation) {
            records.insert(
                def.name,
                Err(format!(
                    "the client does not claim to pay for a {} (its manifest's mcp.operations)",
                    def.operation.name()
                )),
            );
            continue;
        }
        if let Some(why) = crate::interrupt::reason() {
            records.insert(def.name, Err(format!("not run: {why}")));
            continue;
        }
        let t = Instant::now();
        let record = super::run_scenario(env, client, def).await?;
        scenario_time += t.elapsed();
        client_time += Duration::from_secs_f64(record.run.millis / 1e3);
        records.insert(def.name, Ok(record));
    }
    // A client that pays nothing refuses everything: a refusal proves
    // something only if the client paid the control.
    let control_failure = needs_control
        .then(|| match records.get(CONTROL) {
            Some(Ok(r)) if r.run.failure.is_none() => {
                let sent = r
                    .seen
                    .iter()
                    .any(|s| !super::scenario::credentials_in(&s.message).is_empty());
                (!sent).then(|| {
                    format!(
                        "it sent no credential for the payable challenge (client: {})",
                        r.run.ended
                    )
                })
            }
            Some(Ok(r)) => r.run.failure.clone(),
            Some(Err(why)) => Some(why.clone()),
            None => Some("the control scenario did not run".into()),
        })
        .flatten();
    let mut results = Vec::new();
    for check in selected {
        let outcome = match records.get(check.scenario) {
            Some(Ok(record)) => match &record.run.failure {
                Some(why) => Outcome::error(format!("{why} (client: {})", record.run.ended)),
                None => {
                    let outcome = (check.judge)(record);
                    match &control_failure {
                        Some(why) if check.refusal && outcome.verdict == Verdict::Pass => {
                            Outcome::blocked(format!(
                                "the client did not pay the control (scenario {CONTROL}: {}), so that it did not pay here proves nothing ({})",
                                why.replace('\n', " "),
                                outcome.detail
                            ))
                        }
                        _ => outcome,
                    }
                }
            },
            Some(Err(why)) => Outcome::skip(why.clone()),
            None => Outcome::error(format!("scenario {} did not run", check.scenario)),
        };
        let verdict = match (outcome.verdict, check.should) {
            (Verdict::Fail, true) => Verdict::Warn,
            (v, _) => v,
        };
        let result = ClientCheckResult {
            id: check.id,
            requirements: check.requirements.to_vec(),
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
        core: CoreDraft::Draft00,
        reproduce: client.reproduce(),
        results,
        scenarios,
        scenario_time,
        client_time,
        accommodations: Vec::new(),
    })
}
