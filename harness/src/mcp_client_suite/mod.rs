//! The MCP client suite (draft-payment-transport-mcp-00): mppconf plays a
//! paid MCP server. Each scenario is a fresh MCP endpoint ([`scenario`])
//! in front of the reference MCP endpoint on the local chain; the client
//! under test makes one paid call (a tool, a resource read or a prompt)
//! to it; the checks ([`checks`]) judge the messages the client sent, the
//! answers it got and what it did on the chain (every RPC call, through
//! the recording proxy), never what it says about itself.
//!
//! The client under test is the reference MCP client
//! ([`crate::reference::mcp_client`], in-process, with its deviation
//! switches) or a program described by a client target manifest with an
//! `[mcp]` table.

pub mod checks;
pub mod command;
pub mod scenario;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use serde::Serialize;
use serde_json::{Value, json};

use crate::chain::proxy::RpcRecord;
use crate::client_suite::manifest::ClientTarget;
use crate::client_suite::{ClientRun, Env, Invocation, POLICY_MAX_AMOUNT};
use crate::error::{Error, Result};
use crate::reference::mcp_client::{self, McpClientDeviation, McpOperation, McpPayOptions};
use scenario::{McpScenario, Script, SeenMessage};

pub use crate::client_suite::rfc3339_in;

/// The reference server's route every scenario pays for: the tool and
/// prompt `plain`, the resource `mppconf://plain`.
pub const ROUTE: &str = "/plain";

/// A scenario: what the server does, and which call the client makes.
pub struct ScenarioDef {
    pub name: &'static str,
    pub script: Script,
    pub operation: McpOperation,
}

/// Every scenario, in run order; the first is the control (a correct
/// challenge, which a conformant client pays).
pub const SCENARIOS: &[ScenarioDef] = &[
    ScenarioDef {
        name: "pay-tool",
        script: Script::AsIs,
        operation: McpOperation::Tool,
    },
    ScenarioDef {
        name: "pay-resource",
        script: Script::AsIs,
        operation: McpOperation::Resource,
    },
    ScenarioDef {
        name: "pay-prompt",
        script: Script::AsIs,
        operation: McpOperation::Prompt,
    },
    ScenarioDef {
        name: "unpayable-first",
        script: Script::UnpayableFirst,
        operation: McpOperation::Tool,
    },
    ScenarioDef {
        name: "expired",
        script: Script::Expired,
        operation: McpOperation::Tool,
    },
    ScenarioDef {
        name: "no-realm",
        script: Script::NoRealm,
        operation: McpOperation::Tool,
    },
    ScenarioDef {
        name: "verification-failed",
        script: Script::FailFirstCredential,
        operation: McpOperation::Tool,
    },
    ScenarioDef {
        name: "no-capability",
        script: Script::NoCapability,
        operation: McpOperation::Tool,
    },
];

/// The control scenario.
pub const CONTROL: &str = "pay-tool";

/// The MCP client being judged.
pub enum McpClientUnderTest {
    /// The reference MCP client, in-process, breaking the given rules.
    Reference {
        deviations: BTreeSet<McpClientDeviation>,
    },
    /// A program described by a client target manifest with `[mcp]`.
    Program(Box<ClientTarget>),
}

impl McpClientUnderTest {
    pub fn label(&self) -> String {
        match self {
            Self::Reference { deviations } if deviations.is_empty() => {
                "mppconf MCP client (reference)".into()
            }
            Self::Reference { deviations } => format!(
                "mppconf MCP client --deviate {}",
                names(deviations).join(",")
            ),
            Self::Program(t) => t.label(),
        }
    }

    /// The command that reruns the suite against this client.
    pub fn reproduce(&self) -> String {
        match self {
            Self::Reference { deviations } => std::iter::once("mppconf mcp-client --reference")
                .map(str::to_string)
                .chain(names(deviations).iter().map(|d| format!("--deviate {d}")))
                .collect::<Vec<_>>()
                .join(" "),
            Self::Program(t) => format!("mppconf mcp-client --target {}", t.path.display()),
        }
    }

    /// Whether the client can pay for `operation`.
    pub fn pays(&self, operation: McpOperation) -> bool {
        match self {
            Self::Reference { .. } => true,
            Self::Program(t) => t
                .mcp
                .as_ref()
                .is_some_and(|m| m.operations.iter().any(|o| o == operation.name())),
        }
    }

    /// Makes the scenario's paid call.
    async fn run(&self, call: &Call) -> ClientRun {
        let start = Instant::now();
        let mut run = match self {
            Self::Reference { deviations } => reference_run(deviations, call).await,
            Self::Program(t) => {
                crate::client_suite::program_run(
                    t,
                    &Invocation {
                        url: call.endpoint.clone(),
                        method: "POST",
                        body: None,
                        payer_key: call.payer_key.clone(),
                        rpc_url: call.rpc_url.clone(),
                        chain_id: call.chain_id,
                        strict: false,
                        ca_file: None,
                        max_amount: POLICY_MAX_AMOUNT,
                        recipient: "",
                        currency: crate::chain::anvil::PATH_USD.to_string(),
                        operation: call.operation.name(),
                        name: &call.name,
                        core: mppconf_suite::drafts::CoreDraft::Draft00,
                    },
                )
                .await
            }
        };
        run.millis = crate::server_suite::millis(start.elapsed());
        run
    }
}

fn names(deviations: &BTreeSet<McpClientDeviation>) -> Vec<String> {
    deviations.iter().map(|d| d.name()).collect()
}

/// One paid call for the client to make.
struct Call {
    endpoint: String,
    operation: McpOperation,
    name: String,
    payer_key: String,
    rpc_url: String,
    chain_id: u64,
}

async fn reference_run(deviations: &BTreeSet<McpClientDeviation>, call: &Call) -> ClientRun {
    let opts = McpPayOptions {
        endpoint: call.endpoint.clone(),
        operation: call.operation,
        name: call.name.clone(),
        key: call.payer_key.clone(),
        rpc_url: call.rpc_url.clone(),
        deviations: deviations.clone(),
    };
    let outcome = tokio::time::timeout(Duration::from_secs(30), mcp_client::call(&opts)).await;
    let (ended, failure) = match outcome {
        Err(_) => (
            "timed out".to_string(),
            Some("the client did not finish within 30 s".to_string()),
        ),
        Ok(Ok(paid)) => (
            format!(
                "result{}",
                if paid.receipt.is_some() {
                    " with a receipt"
                } else {
                    ""
                }
            ),
            None,
        ),
        Ok(Err(Error::Refused(why))) => (format!("refused: {why}"), None),
        Ok(Err(e)) => (format!("error: {e}"), None),
    };
    ClientRun {
        ended,
        failure,
        output: String::new(),
        millis: 0.0,
    }
}

/// What the tool, resource or prompt of [`ROUTE`] is called.
pub fn name_for(env: &Env, operation: McpOperation) -> String {
    let route = env.route(ROUTE);
    match operation {
        McpOperation::Resource => crate::reference::server::mcp::resource_uri(route),
        McpOperation::Tool | McpOperation::Prompt => crate::reference::server::mcp::name_of(route),
    }
}

/// Everything a scenario produced, for the checks to judge.
#[derive(Serialize)]
pub struct Record {
    pub scenario: &'static str,
    #[serde(skip)]
    pub operation: McpOperation,
    pub endpoint: String,
    pub seen: Vec<SeenMessage>,
    #[serde(skip)]
    pub rpc: Vec<RpcRecord>,
    pub run: ClientRun,
    pub payer: Address,
    #[serde(skip)]
    pub payer_spent: U256,
}

/// More messages than this in one scenario is a flood: its checks are
/// `error`.
pub const FLOOD_LIMIT: usize = 20;

/// Runs one scenario with a fresh funded payer.
pub async fn run_scenario(
    env: &Env,
    client: &McpClientUnderTest,
    def: &ScenarioDef,
) -> Result<Record> {
    let payer = env.fund_payer().await?;
    let upstream = format!(
        "{}{}",
        env.settle_at.trim_end_matches('/'),
        crate::reference::server::mcp::PATH
    );
    let scenario = McpScenario::start(def.script, &upstream).await?;
    env.proxy.clear();
    let mut run = client
        .run(&Call {
            endpoint: scenario.endpoint(),
            operation: def.operation,
            name: name_for(env, def.operation),
            payer_key: payer.key(),
            rpc_url: env.proxy.url(),
            chain_id: env.chain_id,
        })
        .await;
    let seen = scenario.seen();
    if run.failure.is_none() && seen.len() > FLOOD_LIMIT {
        run.failure = Some(format!(
            "the client sent {} messages for one paid call (more than {FLOOD_LIMIT})",
            seen.len()
        ));
    }
    let payer_spent = env.spent(&payer).await?;
    Ok(Record {
        scenario: def.name,
        operation: def.operation,
        endpoint: scenario.endpoint(),
        seen,
        rpc: env.proxy.records(),
        run,
        payer: payer.signer.address(),
        payer_spent,
    })
}

/// Evidence of a record, credential payloads redacted.
pub fn evidence(record: &Record) -> Value {
    let messages: Vec<Value> = record
        .seen
        .iter()
        .map(|s| {
            let mut message = s.message.clone();
            crate::mcp_suite::session::redact_payloads(&mut message);
            json!({
                "http": s.http,
                "message": message,
                "answer": s.answer,
                "scripted_refusal": s.scripted_refusal,
            })
        })
        .collect();
    json!({
        "scenario": record.scenario,
        "endpoint": record.endpoint,
        "client": record.run,
        "messages": messages,
        "rpc": record.rpc.iter().map(|r| json!({"method": r.method, "micros": r.micros})).collect::<Vec<_>>(),
        "payer": record.payer,
        "payer_spent": record.payer_spent.to_string(),
    })
}
