//! The command-line faces of the reference implementations:
//! `mppconf chain`, `mppconf serve` and `mppconf pay`.

use mppconf_suite::drafts::CoreDraft;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use alloy::primitives::{Address, U256};
use serde::Deserialize;

use super::client::{self, ModeChoice, PayOptions};
use super::server::{self, RouteConfig, ServerConfig};
use super::tx;
use crate::chain::{Anvil, AnvilConfig};
use crate::error::{Error, Result};

/// Dev account 1 of anvil's mnemonic: the fee sponsor on a chain mppconf
/// started itself.
const ANVIL_FEE_PAYER_KEY: &str =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
/// Dev account 2: the default recipient of the demo route.
const ANVIL_RECIPIENT: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

#[derive(clap::Args)]
pub struct ChainArgs {
    /// Tempo hardfork (t0…t4).
    #[arg(long, default_value = "t4")]
    pub hardfork: String,
    #[arg(long)]
    pub chain_id: Option<u64>,
    /// Start, report, and stop at once (installs anvil if needed).
    #[arg(long)]
    pub once: bool,
}

/// Starts anvil and keeps it until Ctrl-C.
pub async fn chain(args: ChainArgs) -> Result<()> {
    let stop = StopSignals::listen()?;
    let anvil = Anvil::start(&AnvilConfig {
        hardfork: args.hardfork,
        chain_id: args.chain_id,
        ..AnvilConfig::default()
    })
    .await?;
    crate::outln!(
        "anvil (tempo, hardfork {}) ready in {:?}: rpc {} chain id {}",
        anvil.hardfork,
        anvil.started_in,
        anvil.rpc_url,
        anvil.chain_id
    );
    // The Tempo session escrow (draft-tempo-session-00 v1), compiled with
    // the pinned solc (or taken from the cache) and deployed.
    let deploying = std::time::Instant::now();
    let escrow = crate::chain::escrow::Escrow::deploy(&anvil.rpc()).await?;
    let v2 = crate::chain::escrow::has_channel_reserve(&anvil.rpc()).await?;
    crate::outln!(
        "session escrow (TempoStreamChannel, v1) deployed in {:?} at {}; TIP-1034 precompile (v2): {}",
        deploying.elapsed(),
        escrow.address,
        if v2 { "present" } else { "absent" }
    );
    if !args.once {
        stop.wait().await;
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Routes and settings (TOML; see harness/README.md). Without it, one
    /// demo route: GET /paid for 1000 base units of PathUSD.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The chain to settle on; without it mppconf starts its own anvil.
    #[arg(long)]
    pub rpc: Option<String>,
    #[arg(long, default_value = "127.0.0.1:8402")]
    pub listen: SocketAddr,
    /// Break a rule on purpose (repeatable); see harness/README.md.
    #[arg(long)]
    pub deviate: Vec<String>,
    /// Answer expired challenges with payment-expired, not invalid-challenge.
    #[arg(long)]
    pub expired_as_payment_expired: bool,
    /// The core draft the server follows (overrides the config's `core`):
    /// draft-httpauth-payment-01 lets a route select Payment-Authorization
    /// (`credential_header`) and binds it.
    #[arg(long)]
    pub core: Option<CoreDraft>,
    /// Serve HTTPS with a certificate for localhost/127.0.0.1 from an
    /// authority made now; its files (ca.pem, cert.pem, key.pem) go into
    /// this folder, for clients to trust (`mppconf pay --ca-cert DIR/ca.pem`).
    #[arg(long)]
    pub tls_dir: Option<PathBuf>,
    /// Persist session accounting in this folder (one file per channel,
    /// read back at start: draft-tempo-session-00 §"Crash Safety");
    /// without it a restart forgets every channel.
    #[arg(long)]
    pub session_store: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    realm: Option<String>,
    core: Option<CoreDraft>,
    secret: Option<String>,
    fee_payer_key: Option<String>,
    #[serde(default)]
    route: Vec<RouteConfig>,
}

fn demo_route() -> RouteConfig {
    RouteConfig {
        description: Some("A demo resource".into()),
        ..RouteConfig::new("/paid", "1000", ANVIL_RECIPIENT)
    }
}

pub async fn serve(args: ServeArgs) -> Result<()> {
    let stop = StopSignals::listen()?;
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            crate::error::from_toml::<ServeFile>(path, &text)?
        }
        None => ServeFile::default(),
    };
    let deviations = args
        .deviate
        .iter()
        .map(|d| server::Deviation::parse(d))
        .collect::<Result<BTreeSet<_>>>()?;
    let (anvil, rpc_url) = match &args.rpc {
        Some(url) => (None, url.clone()),
        None => {
            let anvil = Anvil::start(&AnvilConfig::default()).await?;
            let url = anvil.rpc_url.clone();
            (Some(anvil), url)
        }
    };
    let rpc = crate::chain::Rpc::new(&rpc_url);
    let chain_id = rpc.chain_id().await?;
    crate::chain::anvil::require_tip20(&rpc).await?;
    let fee_payer_key = file
        .fee_payer_key
        .or_else(|| anvil.as_ref().map(|_| ANVIL_FEE_PAYER_KEY.to_string()));
    let secret = match file.secret {
        Some(s) => s.into_bytes(),
        None => {
            let bytes: [u8; 32] = rand_bytes();
            bytes.to_vec()
        }
    };
    let routes = if file.route.is_empty() {
        vec![demo_route()]
    } else {
        file.route
    };
    let mut config = ServerConfig {
        realm: file.realm.unwrap_or_else(|| args.listen.to_string()),
        secret,
        rpc_url: rpc_url.clone(),
        chain_id,
        fee_payer_key,
        routes,
        deviations,
        choices: Default::default(),
    };
    config.choices.expired_as_payment_expired = args.expired_as_payment_expired;
    config.choices.core = args.core.or(file.core).unwrap_or_default();
    config.choices.session_store = args.session_store.clone();
    let paths: Vec<String> = config
        .routes
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let server = match &args.tls_dir {
        Some(dir) => {
            let ca = crate::tls::LocalCa::new()?;
            let files = ca.write_files(dir)?;
            crate::outln!(
                "mppconf serve: TLS certificate authority in {}",
                files.ca.display()
            );
            server::start_tls(config, args.listen, &ca).await?
        }
        None => server::start(config, args.listen).await?,
    };
    crate::outln!(
        "mppconf serve: {} on chain {chain_id} at {rpc_url}",
        server.url()
    );
    for p in paths {
        crate::outln!("  {p}");
    }
    stop.wait().await;
    drop(anvil);
    Ok(())
}

fn rand_bytes() -> [u8; 32] {
    alloy::primitives::B256::random().0
}

#[derive(clap::Args)]
pub struct PayArgs {
    /// The paid resource.
    pub url: String,
    /// Private key of the payer (0x + 64 hex).
    #[arg(long, env = "MPPCONF_PAYER_KEY")]
    pub key: String,
    /// The chain RPC endpoint.
    #[arg(long)]
    pub rpc: String,
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Request body (sent with both requests).
    #[arg(long)]
    pub data: Option<String>,
    /// Refuse to pay more than this many base units.
    #[arg(long)]
    pub max_amount: Option<U256>,
    /// Refuse any other token.
    #[arg(long)]
    pub currency: Option<Address>,
    /// Refuse any other recipient.
    #[arg(long)]
    pub recipient: Option<Address>,
    /// pull, push or auto.
    #[arg(long, default_value = "auto")]
    pub mode: String,
    /// Send the credential over plain http (local testing only).
    #[arg(long)]
    pub allow_http: bool,
    #[arg(long)]
    pub accept_payment: Option<String>,
    /// The core draft the client follows: draft-httpauth-payment-00 (the
    /// default) or draft-httpauth-payment-01 (the credential goes in the
    /// field the challenge's `header` selects).
    #[arg(long, default_value = "draft-httpauth-payment-00")]
    pub core: CoreDraft,
    /// With no memo requested, pay with mppx's attribution memo (mppx
    /// servers require it; the spec does not).
    #[arg(long)]
    pub attribution_memo: bool,
    /// Break a rule on purpose (repeatable).
    #[arg(long)]
    pub deviate: Vec<String>,
    /// The PEM certificate of an authority to trust besides the system's
    /// (a server with a self-signed or local certificate).
    #[arg(long)]
    pub ca_cert: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
pub struct McpPayArgs {
    /// The MCP endpoint (Streamable HTTP), e.g. http://127.0.0.1:4021/mcp.
    pub url: String,
    /// What is paid for: tool, resource or prompt.
    #[arg(long, default_value = "tool")]
    pub operation: String,
    /// The tool or prompt name, or the resource URI.
    #[arg(long)]
    pub name: String,
    /// Private key of the payer (0x + 64 hex).
    #[arg(long, env = "MPPCONF_PAYER_KEY")]
    pub key: String,
    /// The chain RPC endpoint.
    #[arg(long)]
    pub rpc: String,
    /// Break a rule of draft-payment-transport-mcp-00 on purpose
    /// (repeatable).
    #[arg(long)]
    pub deviate: Vec<String>,
}

/// Makes one paid MCP call and prints the result and the receipt;
/// Ok(true) when the result came with a receipt.
pub async fn mcp_pay(args: McpPayArgs) -> Result<bool> {
    use crate::reference::mcp_client::{self, McpClientDeviation, McpOperation, McpPayOptions};
    tx::signer_from_key(&args.key, "--key")?;
    let paid = mcp_client::call(&McpPayOptions {
        endpoint: args.url,
        operation: McpOperation::parse(&args.operation)?,
        name: args.name,
        key: args.key,
        rpc_url: args.rpc,
        deviations: args
            .deviate
            .iter()
            .map(|d| McpClientDeviation::parse(d))
            .collect::<Result<BTreeSet<_>>>()?,
    })
    .await?;
    crate::outln!("result {}", paid.result);
    match &paid.receipt {
        Some(r) => crate::outln!("receipt {r}"),
        None => crate::outln!("receipt -"),
    }
    Ok(paid.receipt.is_some())
}

/// Pays and prints the outcome; Ok(true) when paid (2xx with a receipt).
pub async fn pay(args: PayArgs) -> Result<bool> {
    let mode = match args.mode.as_str() {
        "auto" => ModeChoice::Auto,
        "pull" => ModeChoice::Pull,
        "push" => ModeChoice::Push,
        other => {
            return Err(Error::Usage(format!(
                "--mode {other:?}: use pull, push or auto"
            )));
        }
    };
    tx::signer_from_key(&args.key, "--key")?;
    let deviations = args
        .deviate
        .iter()
        .map(|d| client::Deviation::parse(d))
        .collect::<Result<BTreeSet<_>>>()?;
    let outcome = client::pay(&PayOptions {
        url: args.url,
        http_method: args.method,
        body: args.data.map(String::into_bytes),
        key: args.key,
        rpc_url: args.rpc,
        max_amount: args.max_amount,
        currency: args.currency,
        recipient: args.recipient,
        mode,
        allow_http: args.allow_http,
        accept_payment: args.accept_payment,
        attribution_memo: args.attribution_memo,
        deviations,
        ca: args
            .ca_cert
            .as_deref()
            .map(|p| crate::tls::read_ca(p, "--ca-cert"))
            .transpose()?,
        core: args.core,
    })
    .await?;
    crate::outln!(
        "status {} (challenge {}, {} mode)",
        outcome.status,
        outcome.challenge_id,
        outcome.mode
    );
    match &outcome.receipt {
        Some(r) => crate::outln!(
            "receipt: {}",
            serde_json::to_string(&r.to_abi()).unwrap_or_default()
        ),
        None => crate::outln!("no Payment-Receipt"),
    }
    crate::outln!("{}", outcome.body.trim_end());
    Ok((200..300).contains(&outcome.status) && outcome.receipt.is_some())
}

/// Ctrl-C and SIGTERM, listened for from creation on (so a signal that
/// arrives while the command starts up is not lost), so that the chain and
/// server are dropped, and anvil reaped, however the command is stopped.
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let fail = |e: std::io::Error| Error::Setup(format!("cannot listen for signals: {e}"));
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).map_err(fail)?,
            terminate: signal(SignalKind::terminate()).map_err(fail)?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses_and_is_conformant() {
        let file: ServeFile = toml::from_str(include_str!("../../serve.example.toml")).unwrap();
        assert_eq!(file.route.len(), 6);
        assert_eq!(file.route[1].splits.len(), 2);
        assert_eq!(file.route[2].after_payment, server::AfterPayment::Deny);
        assert!(file.route[4].side_effect);
        assert!(file.route[5].requires_header.is_some());
        let config = ServerConfig {
            realm: file.realm.unwrap(),
            secret: file.secret.unwrap().into_bytes(),
            rpc_url: "http://127.0.0.1:1".into(),
            chain_id: 31337,
            fee_payer_key: Some(ANVIL_FEE_PAYER_KEY.into()),
            routes: file.route,
            deviations: BTreeSet::new(),
            choices: Default::default(),
        };
        config.validate().unwrap();
    }

    #[test]
    fn a_typo_in_the_config_is_named() {
        let err = toml::from_str::<ServeFile>(
            "[[route]]\npath = \"/x\"\namount = \"1\"\nrecipient = \"0x00\"\nrecipeint = \"0x\"\n",
        )
        .unwrap_err();
        assert!(err.message().contains("recipeint"), "{}", err.message());
    }
}
