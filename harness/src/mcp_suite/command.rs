//! `mppconf mcp-server`: the MCP server suite against a running MCP
//! endpoint (`--url`), or against the reference server's MCP endpoint
//! that mppconf starts itself (`--reference`, on its own chain for
//! Tempo, on none for the stub method).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use alloy::primitives::{Address, U256};
use mppconf_suite::drafts::CoreDraft;
use serde_json::json;

use super::{McpCtx, Session};
use crate::chain::{Anvil, AnvilConfig, Rpc, RpcProxy};
use crate::error::{Error, Result};
use crate::reference::server::mcp::{FREE_TOOL, McpDeviation, McpServing, PATH};
use crate::reference::server::{self, RouteConfig, ServerConfig};
use crate::reference::tx;
use crate::report::gate::GateArgs;
use crate::report::progress::Progress;
use crate::server_suite::command::{Run, reports_of};
use crate::server_suite::manifest::{Launched, McpTransport, Placeholders, ServerTarget};

#[derive(clap::Args)]
pub struct McpServerArgs {
    /// The MCP endpoint (Streamable HTTP), e.g. http://127.0.0.1:3000/mcp.
    #[arg(long, conflicts_with = "reference")]
    pub url: Option<String>,
    /// An MCP server on stdio: the command that starts it (words split at
    /// white space), e.g. "node mcp-server.mjs --stdio".
    #[arg(long, conflicts_with_all = ["url", "reference", "target"])]
    pub command: Option<String>,
    /// With --reference: judge the reference endpoint over stdio (through
    /// `mppconf mcp-bridge`) rather than over HTTP.
    #[arg(long, requires = "reference")]
    pub stdio: bool,
    /// A server target manifest with an `[mcp]` table: mppconf builds and
    /// starts the server on its own chain and judges its MCP endpoint.
    #[arg(long, conflicts_with_all = ["url", "reference"])]
    pub target: Option<PathBuf>,
    /// Start the reference server's MCP endpoint and test it.
    #[arg(long)]
    pub reference: bool,
    /// With --reference: break a rule of the MCP transport on purpose
    /// (repeatable).
    #[arg(long, requires = "reference")]
    pub deviate: Vec<String>,
    /// With --reference: the paid tools' payment method, `tempo` (on a
    /// local chain) or `stub` (no settlement, no chain).
    #[arg(long, requires = "reference", default_value = "tempo", value_parser = ["tempo", "stub"])]
    pub payment_method: String,
    /// The paid tool to judge.
    #[arg(long, default_value = "paid")]
    pub tool: String,
    /// A second paid tool of the same price (judges operation binding).
    #[arg(long, conflicts_with = "reference")]
    pub other_tool: Option<String>,
    /// A tool that costs nothing (judges that credentials on it are
    /// ignored).
    #[arg(long, conflicts_with = "reference")]
    pub free_tool: Option<String>,
    /// The chain the server settles on (attach mode; default: start anvil
    /// with the chain id its challenge names, and expect it there).
    #[arg(long, requires = "url")]
    pub rpc: Option<String>,
    /// A funded payer key; without it a fresh payer is funded on the chain.
    #[arg(long, env = "MPPCONF_PAYER_KEY")]
    pub payer_key: Option<String>,
    /// A paid resource's URI (judges resources/read).
    #[arg(long, conflicts_with = "reference")]
    pub resource: Option<String>,
    /// A paid prompt's name (judges prompts/get).
    #[arg(long, conflicts_with = "reference")]
    pub prompt: Option<String>,
    /// Pay with mppx's attribution memo, for servers that refuse payments
    /// without it although the request asks for no memo (mppx's: a
    /// finding of the HTTP server suite), so that the other checks run.
    #[arg(long, requires = "url")]
    pub attribution_memo: bool,
    /// Only checks whose id contains one of these.
    #[arg(long)]
    pub filter: Vec<String>,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Write the raw results (every JSON-RPC exchange) as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The tools of the reference MCP endpoint: `paid` (judged), `paid-too`
/// (same price: operation binding) and the free tool. Challenges expire
/// in 6 s, so that an expired one can be waited out.
fn reference_routes(payment_method: &str) -> Vec<RouteConfig> {
    let merchant = Address::random().to_string();
    ["/paid", "/paid-too"]
        .into_iter()
        .map(|path| {
            let mut r = if payment_method == "stub" {
                RouteConfig::stub(path, "1000", &merchant)
            } else {
                RouteConfig::new(path, "1000", &merchant)
            };
            r.method = "POST".into();
            r.expires_in = 6;
            r
        })
        .collect()
}

fn deviations(names: &[String]) -> Result<BTreeSet<McpDeviation>> {
    names.iter().map(|d| McpDeviation::parse(d)).collect()
}

/// What a run keeps alive (each stops when dropped, in this order): the
/// server mppconf started, the proxy and the chain.
#[derive(Default)]
pub struct Started {
    _launched: Option<Launched>,
    _server: Option<server::Server>,
    _proxy: Option<RpcProxy>,
    _tls: Option<tempfile::TempDir>,
    _chain: Option<Anvil>,
}

/// The reference server's MCP endpoint with `deviations`, its tools paid
/// by `payment_method` (`tempo` on a chain started here, or `stub`): the
/// context its checks run in, ready to pay, and the run's name and
/// reproducing command.
pub async fn reference(
    payment_method: &str,
    deviations: &BTreeSet<McpDeviation>,
    stdio: bool,
) -> Result<(McpCtx, Started, String, String)> {
    let chain = if payment_method == "tempo" {
        Some(Anvil::start(&AnvilConfig::default()).await?)
    } else {
        None
    };
    let config = ServerConfig {
        realm: "mppconf.reference".into(),
        secret: alloy::primitives::B256::random().0.to_vec(),
        rpc_url: chain
            .as_ref()
            .map(|c| c.rpc_url.clone())
            .unwrap_or_default(),
        chain_id: chain.as_ref().map_or(31337, |c| c.chain_id),
        fee_payer_key: None,
        routes: reference_routes(payment_method),
        deviations: BTreeSet::new(),
        choices: server::Choices {
            mcp: Some(McpServing {
                deviations: deviations.clone(),
            }),
            ..Default::default()
        },
    };
    let s = server::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let endpoint = format!("{}{PATH}", s.url());
    let session = if stdio {
        let exe = std::env::current_exe()
            .map_err(|e| Error::Setup(format!("cannot find mppconf's own binary: {e}")))?;
        let argv = [
            exe.display().to_string(),
            "mcp-bridge".into(),
            "--url".into(),
            endpoint,
        ];
        Session::stdio(&argv, &std::env::temp_dir().join("mppconf-mcp-bridge.log"))
            .map_err(Error::Setup)?
    } else {
        Session::new(&endpoint)
    };
    let mut ctx = McpCtx::new(session, "paid");
    ctx.other_tool = Some("paid-too".into());
    ctx.free_tool = Some(FREE_TOOL.into());
    ctx.resource = Some("mppconf://paid".into());
    ctx.prompt = Some("paid".into());
    if let Some(c) = &chain {
        ctx.rpc_url = c.rpc_url.clone();
    }
    let mut started = Started {
        _chain: chain,
        _server: Some(s),
        _launched: None,
        _tls: None,
        _proxy: None,
    };
    ready(&mut ctx, &mut started, None, None).await?;
    let names: Vec<String> = deviations.iter().map(|d| d.name()).collect();
    let label = if names.is_empty() {
        "mppconf serve (reference MCP)".to_string()
    } else {
        format!(
            "mppconf serve (reference MCP, deviating: {})",
            names.join(", ")
        )
    };
    let reproduce = std::iter::once("mppconf mcp-server --reference".to_string())
        .chain((payment_method != "tempo").then(|| format!("--payment-method {payment_method}")))
        .chain(stdio.then(|| "--stdio".to_string()))
        .chain(names.iter().map(|n| format!("--deviate {n}")))
        .collect::<Vec<_>>()
        .join(" ");
    Ok((ctx, started, label, reproduce))
}

/// The checks of `ctx` as a run under its name.
pub async fn run(
    ctx: &McpCtx,
    label: String,
    reproduce: String,
    selection: &crate::report::Selection,
    progress: &mut (impl crate::report::progress::Watch<crate::server_suite::CheckResult> + Send),
) -> Run {
    let results = super::run_all(ctx, selection, progress).await;
    Run {
        label,
        resource: format!("tools/call {}", ctx.tool),
        subject: format!("MCP tools/call {}", ctx.tool),
        reproduce,
        results,
        core: CoreDraft::default(),
    }
}

/// Runs the suite; the exit code as `mppconf server` gives it.
pub async fn mcp_server(args: McpServerArgs) -> Result<u8> {
    let started_at_instant = Instant::now();
    let started_at = crate::report::now();
    let ids: Vec<&str> = super::all_checks().iter().map(|c| c.id).collect();
    let selection = args.gate.selection(&args.filter)?;
    selection.validate(&ids)?;
    args.gate.preflight(&ids)?;
    let deviations = deviations(&args.deviate)?;
    let manifest = args.target.as_deref().map(ServerTarget::load).transpose()?;
    if let (Some(m), Some(path)) = (&manifest, &args.target)
        && m.mcp.is_none()
    {
        return Err(Error::Usage(format!(
            "{}: no [mcp] table (endpoint, tool): it names no MCP endpoint to judge",
            path.display()
        )));
    }
    if let Some(url) = &args.url {
        crate::preflight::http_url("--url", url)?;
    } else if !args.reference && manifest.is_none() && args.command.is_none() {
        return Err(Error::Usage(
            "give --url ENDPOINT of a running MCP server, --command \"PROGRAM ARGS\" of one on stdio, --target MANIFEST, or --reference".into(),
        ));
    }
    if args
        .command
        .as_deref()
        .is_some_and(|c| c.split_whitespace().next().is_none())
    {
        return Err(Error::Usage(
            "--command: give the program that starts the MCP server, and its arguments".into(),
        ));
    }
    if let Some(rpc) = &args.rpc {
        crate::preflight::http_url("--rpc", rpc)?;
    }
    if let Some(key) = &args.payer_key {
        tx::signer_from_key(key, "--payer-key")?;
    }
    if let Some(out) = &args.out {
        crate::preflight::out_file("--out", out)?;
    }
    crate::interrupt::install()?;
    let (ctx, _started, label, reproduce) = if args.reference {
        reference(&args.payment_method, &deviations, args.stdio).await?
    } else if let (Some(m), Some(path)) = (&manifest, &args.target) {
        launched(m, path).await?
    } else {
        let (session, url) = match &args.command {
            Some(command) => {
                let argv: Vec<String> = command.split_whitespace().map(str::to_string).collect();
                let log = std::env::temp_dir()
                    .join(format!("mppconf-mcp-stdio-{}.log", std::process::id()));
                eprintln!("mppconf: the MCP server's stderr goes to {}", log.display());
                (
                    Session::stdio(&argv, &log).map_err(Error::Setup)?,
                    format!("stdio: {command}"),
                )
            }
            None => {
                let url = args.url.clone().unwrap_or_default();
                (Session::new(&url), url)
            }
        };
        let mut ctx = McpCtx::new(session, &args.tool);
        ctx.other_tool = args.other_tool.clone();
        ctx.free_tool = args.free_tool.clone();
        ctx.attribution_memo = args.attribution_memo;
        ctx.resource = args.resource.clone();
        ctx.prompt = args.prompt.clone();
        let mut reproduce = match &args.command {
            Some(c) => format!("mppconf mcp-server --command \"{c}\" --tool {}", args.tool),
            None => format!("mppconf mcp-server --url {url} --tool {}", args.tool),
        };
        if args.attribution_memo {
            reproduce.push_str(" --attribution-memo");
        }
        for (flag, v) in [
            ("--other-tool", &args.other_tool),
            ("--free-tool", &args.free_tool),
            ("--resource", &args.resource),
            ("--prompt", &args.prompt),
        ] {
            if let Some(v) = v {
                reproduce.push_str(&format!(" {flag} {v}"));
            }
        }
        let mut started = Started::default();
        ready(
            &mut ctx,
            &mut started,
            args.rpc.as_deref(),
            args.payer_key.as_deref(),
        )
        .await?;
        (ctx, started, url, reproduce)
    };
    let mut progress = Progress::new();
    let run = run(&ctx, label, reproduce, &selection, &mut progress).await;
    progress.finish();
    summarize(&run, args.out.as_deref(), started_at_instant)?;
    let mut reports = reports_of(std::slice::from_ref(&run), &started_at);
    for (report, _) in &mut reports {
        // No fuzz pass runs here.
        report.seed = None;
    }
    args.gate.finish(reports)
}

/// `--target`: the manifest's server started on a chain of its own
/// (with the chain id it needs) and its MCP endpoint readied.
async fn launched(
    manifest: &ServerTarget,
    path: &std::path::Path,
) -> Result<(McpCtx, Started, String, String)> {
    let Some(tools) = &manifest.mcp else {
        return Err(Error::Usage(format!("{}: no [mcp] table", path.display())));
    };
    manifest.build()?;
    let chain = Anvil::start(&AnvilConfig {
        chain_id: manifest.chain_id,
        ..AnvilConfig::default()
    })
    .await?;
    // Through the recording proxy, as `mppconf server --target` runs a
    // server: it also smooths what anvil refuses of some SDKs' calls.
    let proxy = RpcProxy::start(&chain.rpc_url, std::time::Duration::from_secs(10)).await?;
    let tls_dir = crate::tls::scratch_dir("mcp-server-tls")?;
    let values = Placeholders::fresh(proxy.url(), chain.chain_id, tls_dir.path())?;
    let (session, server) = match tools.transport {
        McpTransport::Stdio => {
            let (cmd, line) = manifest.command(&values);
            let log = std::env::temp_dir().join(format!(
                "mppconf-{}-{}.log",
                manifest.name,
                std::process::id()
            ));
            eprintln!("mppconf: {} logs to {}", manifest.name, log.display());
            let session = Session::stdio_command(cmd, &line, &log)
                .map_err(|e| Error::Setup(format!("{}: {e}", manifest.name)))?;
            (session, None)
        }
        McpTransport::Http => {
            let Some(endpoint) = &tools.endpoint else {
                return Err(Error::Usage(format!(
                    "{}: mcp.endpoint is required for an MCP server on Streamable HTTP (e.g. endpoint = \"/mcp\"), or set mcp.transport = \"stdio\"",
                    path.display()
                )));
            };
            let server = manifest.launch(&values).await?;
            let session = Session::new(&format!("{}{endpoint}", server.base_url));
            (session, Some(server))
        }
    };
    let mut ctx = McpCtx::new(session, &tools.tool);
    ctx.other_tool = tools.other_tool.clone();
    ctx.free_tool = tools.free_tool.clone();
    ctx.resource = tools.resource.clone();
    ctx.prompt = tools.prompt.clone();
    ctx.attribution_memo = manifest.pay.attribution_memo;
    ctx.rpc_url = chain.rpc_url.clone();
    let mut started = Started {
        _chain: Some(chain),
        _server: None,
        _launched: server,
        _tls: Some(tls_dir),
        _proxy: Some(proxy),
    };
    ready(&mut ctx, &mut started, None, None).await?;
    let label = manifest.label(path);
    Ok((
        ctx,
        started,
        label,
        format!("mppconf mcp-server --target {}", path.display()),
    ))
}

/// Opens the session and readies the payer: what the paid tool asks for
/// (its method and chain), the chain (given, or started here with the
/// chain id the challenge names) and a funded account (given, or funded
/// here). No answer to `initialize` is a harness error: nothing was
/// judged.
async fn ready(
    ctx: &mut McpCtx,
    started: &mut Started,
    rpc: Option<&str>,
    payer_key: Option<&str>,
) -> Result<()> {
    ctx.session.initialize().await.map_err(|e| {
        Error::Setup(format!(
            "the MCP endpoint {} did not answer initialize: {e}. Nothing was judged: is it running, and is this its address?",
            ctx.session.endpoint()
        ))
    })?;
    let first = ctx
        .call(&ctx.tool, None)
        .await
        .map_err(|o| Error::Setup(o.detail))?;
    let challenge = super::offered_in(&first).ok().map(|o| o.challenge);
    ctx.method = challenge
        .as_ref()
        .and_then(|c| crate::methods::builtin(&c.method, &c.intent));
    let on_chain = ctx
        .method
        .is_some_and(|m| m.evidence() == crate::methods::Evidence::Chain);
    if on_chain && ctx.rpc_url.is_empty() {
        ctx.rpc_url = match rpc {
            Some(r) => r.to_string(),
            None => {
                let chain_id = challenge
                    .as_ref()
                    .and_then(|c| c.request.get("methodDetails"))
                    .and_then(|d| d["chainId"].as_u64());
                let chain = Anvil::start(&AnvilConfig {
                    chain_id,
                    ..AnvilConfig::default()
                })
                .await?;
                eprintln!(
                    "mppconf: started anvil at {} (chain id {}); the server must settle on it",
                    chain.rpc_url, chain.chain_id
                );
                let r = chain.rpc_url.clone();
                started._chain = Some(chain);
                r
            }
        };
    }
    ctx.account_key = match payer_key {
        Some(k) => k.to_string(),
        None if on_chain => {
            let token: Address = challenge
                .as_ref()
                .and_then(|c| c.request.get("currency"))
                .and_then(|c| c.as_str())
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| {
                    crate::chain::anvil::PATH_USD
                        .parse()
                        .unwrap_or(Address::ZERO)
                });
            let payer = tx::fresh_payer(
                &Rpc::new(&ctx.rpc_url),
                token,
                U256::from(1_000_000_000_000u64),
            )
            .await?;
            payer.to_bytes().to_string()
        }
        None => alloy::signers::local::PrivateKeySigner::random()
            .to_bytes()
            .to_string(),
    };
    Ok(())
}

fn summarize(run: &Run, out: Option<&std::path::Path>, started: Instant) -> Result<()> {
    let mut counts = std::collections::BTreeMap::new();
    for r in &run.results {
        *counts.entry(r.verdict.as_str()).or_insert(0usize) += 1;
    }
    let n = |v: &str| counts.get(v).copied().unwrap_or(0);
    crate::outln!(
        "{} passed, {} failed, {} warn, {} blocked, {} skipped, {} errors ({} MCP checks in {:.2}s)",
        n("pass"),
        n("fail"),
        n("warn"),
        n("blocked"),
        n("skip"),
        n("error"),
        run.results.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(out) = out {
        crate::report::gate::write_results(
            out,
            "mppconf-mcp-server-results/1",
            started.elapsed().as_secs_f64(),
            &counts,
            "targets",
            vec![json!({"label": run.label, "resource": run.resource, "checks": run.results})],
        )?;
    }
    Ok(())
}
