//! Server target manifests: how to start an implementation under test
//! and what it protects (TOML, schema `harness/schema/server-target.schema.json`).
//!
//! ```toml
//! name = "mppx"
//! [server]
//! command = ["node", "server.mjs"]
//! cwd = "../interop/mppx"                # relative to the manifest
//! build = ["npm", "ci"]                  # optional, run once
//! env = { RPC_URL = "{rpc_url}", CHAIN_ID = "{chain_id}", PORT = "{port}" }
//! base_url = "http://127.0.0.1:{port}"
//! ready = { path = "/paid", timeout_secs = 60 }
//! [[resource]]
//! path = "/paid"
//! ```
//!
//! Placeholders: `{rpc_url}` (the chain, through the recording proxy),
//! `{chain_id}`, `{port}` (a free loopback port), `{recipient}` (a fresh
//! address), `{payee_key}` (its private key), `{escrow}` (mppconf's Tempo
//! session escrow, deployed on the chain for a manifest that names it, the
//! payee then funded for its fees), `{secret}` (a random HMAC secret),
//! `{fee_payer_key}` (a funded
//! dev account), `{tls_cert}`, `{tls_key}` and `{ca_cert}` (PEM files of a
//! server certificate for `localhost`/`127.0.0.1`, its key, and the
//! authority the harness made for the run: a server that serves HTTPS
//! with them, `base_url = "https://…"`, is judged over TLS), `{token}`
//! (mppconf's EIP-3009 token, on a manifest with `chain = "evm"`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::schema::Schema;

/// A parsed, checked server target manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerTarget {
    pub name: String,
    /// The implementation's version, named in reports.
    #[serde(default)]
    pub version: Option<String>,
    pub server: Launch,
    /// The paid HTTP resources (`mppconf server`); none in a manifest of
    /// an MCP endpoint only.
    #[serde(default)]
    pub resource: Vec<Resource>,
    /// The MCP endpoint and its tools (`mppconf mcp-server --target`).
    #[serde(default)]
    pub mcp: Option<McpTools>,
    #[serde(default)]
    pub pay: PaySettings,
    /// Texts no answer of the server may contain (e.g. an API key it is
    /// given through its environment); read from the environment with
    /// `env:NAME`, so that the manifest need not hold them.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Routes of particular kinds for the checks that need them.
    #[serde(default)]
    pub probes: ProbeRoutes,
    /// The chain id the server needs (many SDK servers default to 42431
    /// or 4217); the local chain is started with it. 31337 by default.
    #[serde(default)]
    pub chain_id: Option<u64>,
    /// Which local chain the server settles on (`tempo` by default, `evm`
    /// for EVM charge).
    #[serde(default)]
    pub chain: ChainKind,
    #[serde(skip)]
    pub dir: PathBuf,
}

/// The local chain a target settles on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainKind {
    /// `anvil --network tempo`.
    #[default]
    Tempo,
    /// Plain anvil with mppconf's EIP-3009 token and Permit2.
    Evm,
}

impl ChainKind {
    pub fn network(self) -> crate::chain::anvil::Network {
        match self {
            Self::Tempo => crate::chain::anvil::Network::Tempo,
            Self::Evm => crate::chain::anvil::Network::Plain,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Launch {
    pub command: Vec<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub build: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Where it listens and what answers once it is ready; absent (and
    /// unused) for an MCP server on stdio.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub ready: Option<Ready>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    pub path: String,
    #[serde(default = "default_ready_timeout")]
    pub timeout_secs: u64,
}

fn default_ready_timeout() -> u64 {
    60
}

/// An MCP endpoint of the server and the tools its checks call.
#[derive(Debug, Clone, Deserialize)]
pub struct McpTools {
    /// How the server speaks MCP: Streamable HTTP at `endpoint`, or on
    /// its stdin and stdout.
    #[serde(default)]
    pub transport: McpTransport,
    /// The endpoint's path on `base_url` (Streamable HTTP).
    #[serde(default)]
    pub endpoint: Option<String>,
    pub tool: String,
    #[serde(default)]
    pub other_tool: Option<String>,
    #[serde(default)]
    pub free_tool: Option<String>,
    /// A paid resource's URI and a paid prompt's name.
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum McpTransport {
    #[default]
    Http,
    Stdio,
}

/// A protected resource and what it should cost.
#[derive(Debug, Clone, Deserialize)]
pub struct Resource {
    pub path: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub body: Option<String>,
}

fn default_method() -> String {
    "GET".into()
}

/// The manifest's `[probes]` (see [`super::Probes`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProbeRoutes {
    #[serde(default)]
    pub denied: Option<Resource>,
    #[serde(default)]
    pub failing: Option<Resource>,
    #[serde(default)]
    pub side_effect: Option<SideEffectRoute>,
    #[serde(default)]
    pub authenticated: Option<AuthenticatedRoute>,
    /// The path of the server's discovery document (draft-payment-discovery-00:
    /// `/openapi.json`); declared, its absence is a finding.
    #[serde(default)]
    pub discovery: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SideEffectRoute {
    #[serde(flatten)]
    pub route: Resource,
    /// The path of the state oracle.
    pub oracle: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthenticatedRoute {
    #[serde(flatten)]
    pub route: Resource,
    /// `Name: value`.
    pub header: String,
}

impl ProbeRoutes {
    /// The declared routes on the server at `base`.
    pub fn on(&self, base: &super::Target) -> super::Probes {
        let at = |r: &Resource| super::Target {
            path: r.path.clone(),
            method: r.method.clone(),
            body: r.body.clone().map(String::into_bytes),
            ..base.clone()
        };
        super::Probes {
            denied: self.denied.as_ref().map(at),
            failing: self.failing.as_ref().map(at),
            side_effect: self
                .side_effect
                .as_ref()
                .map(|s| (at(&s.route), format!("{}{}", base.base_url, s.oracle))),
            authenticated: self
                .authenticated
                .as_ref()
                .map(|a| (at(&a.route), a.header.clone())),
        }
    }
}

/// How the harness pays this implementation.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PaySettings {
    /// Send mppx's attribution memo (its servers require one).
    #[serde(default)]
    pub attribution_memo: bool,
}

/// Values for the placeholders.
pub struct Placeholders {
    pub rpc_url: String,
    pub chain_id: u64,
    pub port: u16,
    pub recipient: String,
    /// The recipient's private key (a session server closes channels as
    /// the payee).
    pub payee_key: String,
    pub secret: String,
    pub fee_payer_key: String,
    pub tls: crate::tls::TlsFiles,
    /// The Tempo session escrow mppconf deployed on the chain, when the
    /// manifest names `{escrow}` (see [`Placeholders::with_chain_setup`]).
    pub escrow: Option<String>,
    /// A folder of the run's for the server's own storage (`{state_dir}`):
    /// the same across a restart, removed when the run ends.
    pub state_dir: String,
    /// mppconf's EIP-3009 token on an EVM chain (`{token}`).
    pub token: Option<String>,
}

impl Placeholders {
    /// Fresh values for one launch on the chain at `rpc_url`: a free
    /// port, a fresh recipient and secret, the funded fee payer, and TLS
    /// files written to `tls_dir`.
    pub fn fresh(rpc_url: String, chain_id: u64, tls_dir: &Path) -> Result<Self> {
        let payee = alloy::signers::local::PrivateKeySigner::random();
        Ok(Self {
            rpc_url,
            chain_id,
            port: crate::chain::anvil::free_port()?,
            recipient: payee.address().to_string(),
            payee_key: payee.to_bytes().to_string(),
            secret: alloy::primitives::B256::random().to_string(),
            fee_payer_key: super::command::FEE_PAYER_KEY.into(),
            tls: crate::tls::LocalCa::new()?.write_files(tls_dir)?,
            escrow: None,
            token: None,
            state_dir: {
                let dir = tls_dir.join("state");
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                dir.display().to_string()
            },
        })
    }

    /// What a manifest's placeholders need on the chain at `rpc` before
    /// launch: with `{escrow}`, mppconf's Tempo session escrow deployed and
    /// the payee funded in PathUSD for the fees of its close transactions.
    pub async fn with_chain_setup(
        mut self,
        rpc: &crate::chain::Rpc,
        manifest_text: &str,
    ) -> Result<Self> {
        if manifest_text.contains("{escrow}") {
            let escrow = crate::chain::escrow::Escrow::deploy(rpc).await?;
            self.escrow = Some(escrow.address.to_string());
            let payee: alloy::primitives::Address = self
                .recipient
                .parse()
                .map_err(|_| Error::Setup("the fresh recipient is not an address".into()))?;
            let token = crate::chain::anvil::PATH_USD
                .parse()
                .map_err(|_| Error::Setup("PathUSD is not an address".into()))?;
            crate::reference::tx::fund(
                rpc,
                token,
                payee,
                alloy::primitives::U256::from(1_000_000_000u64),
            )
            .await?;
        }
        if manifest_text.contains("{token}") {
            let chain = crate::chain::evm::EvmChain::prepare(rpc).await?;
            self.token = Some(chain.token.to_checksum(None));
            let payee = self
                .recipient
                .parse()
                .map_err(|_| Error::Setup("the fresh recipient is not an address".into()))?;
            chain.fund(payee, alloy::primitives::U256::ZERO).await?;
        }
        Ok(self)
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{rpc_url}", &self.rpc_url)
            .replace("{chain_id}", &self.chain_id.to_string())
            .replace("{port}", &self.port.to_string())
            .replace("{recipient}", &self.recipient)
            .replace("{payee_key}", &self.payee_key)
            .replace("{escrow}", self.escrow.as_deref().unwrap_or("{escrow}"))
            .replace("{secret}", &self.secret)
            .replace("{fee_payer_key}", &self.fee_payer_key)
            .replace("{tls_cert}", &self.tls.cert.display().to_string())
            .replace("{tls_key}", &self.tls.key.display().to_string())
            .replace("{ca_cert}", &self.tls.ca.display().to_string())
            .replace("{state_dir}", &self.state_dir)
            .replace("{token}", self.token.as_deref().unwrap_or("{token}"))
    }
}

const PLACEHOLDERS: [&str; 13] = [
    "{rpc_url}",
    "{chain_id}",
    "{port}",
    "{recipient}",
    "{payee_key}",
    "{escrow}",
    "{secret}",
    "{fee_payer_key}",
    "{tls_cert}",
    "{tls_key}",
    "{ca_cert}",
    "{state_dir}",
    "{token}",
];

impl ServerTarget {
    /// Reads a manifest, naming the field at fault on error.
    pub fn load(path: &Path) -> Result<Self> {
        let mut target: ServerTarget = load_toml(
            path,
            Schema::ServerTarget,
            "harness/schema/server-target.schema.json",
            &PLACEHOLDERS,
        )?;
        target.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        if let Some(mcp) = &target.mcp
            && mcp.transport == McpTransport::Stdio
        {
            // The schema requires these for HTTP; on stdio they would
            // silently mean nothing.
            for (field, given) in [
                ("/server/base_url", target.server.base_url.is_some()),
                ("/server/ready", target.server.ready.is_some()),
                ("/mcp/endpoint", mcp.endpoint.is_some()),
            ] {
                if given {
                    return Err(Error::field(
                        path,
                        field,
                        "does not apply to an MCP server on stdio ([mcp] transport = \"stdio\": it speaks MCP on its stdin and stdout); remove it, or drop transport for Streamable HTTP",
                    ));
                }
            }
        }
        Ok(target)
    }

    fn workdir(&self) -> PathBuf {
        self.dir.join(self.server.cwd.as_deref().unwrap_or("."))
    }

    /// How reports name the target: name, version and manifest.
    pub fn label(&self, path: &Path) -> String {
        format!(
            "{}{} ({})",
            self.name,
            self.version
                .as_ref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            path.display()
        )
    }

    /// Runs the build command, if any.
    pub fn build(&self) -> Result<()> {
        run_build(&self.name, self.server.build.as_deref(), &self.workdir())
    }

    /// The server's command, placeholders filled, in its folder with its
    /// environment; and the command line, for messages.
    pub fn command(&self, values: &Placeholders) -> (Command, String) {
        let argv: Vec<String> = self.server.command.iter().map(|a| values.fill(a)).collect();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).current_dir(self.workdir()).envs(
            self.server
                .env
                .iter()
                .map(|(k, v)| (k.clone(), values.fill(v))),
        );
        (cmd, argv.join(" "))
    }

    /// Starts the server and waits until its ready path answers.
    pub async fn launch(&self, values: &Placeholders) -> Result<Launched> {
        let (Some(base_url), Some(ready)) = (&self.server.base_url, &self.server.ready) else {
            return Err(Error::Usage(format!(
                "{}: [server] has no base_url and ready: it describes an MCP server on stdio ([mcp] transport = \"stdio\"), which only `mppconf mcp-server --target` runs",
                self.name
            )));
        };
        let (mut cmd, argv) = self.command(values);
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        // The server's own output is kept out of the report, in a log file.
        let log =
            std::env::temp_dir().join(format!("mppconf-{}-{}.log", self.name, std::process::id()));
        if let Ok(file) = std::fs::File::create(&log) {
            cmd.stderr(file);
            eprintln!("mppconf: {} logs to {}", self.name, log.display());
        }
        crate::process::die_with_parent(&mut cmd);
        // Its own process group, so that stopping it reaches what a
        // wrapper script started.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .map_err(|e| Error::Setup(format!("{}: cannot start {argv}: {e}", self.name)))?;
        let base_url = values.fill(base_url).trim_end_matches('/').to_string();
        let ca = if base_url.starts_with("https://") {
            Some(crate::tls::read_ca(&values.tls.ca, "{ca_cert}")?)
        } else {
            None
        };
        let mut launched = Launched {
            child,
            base_url,
            ca,
        };
        let ready_url = format!("{}{}", launched.base_url, ready.path);
        let deadline = Instant::now() + Duration::from_secs(ready.timeout_secs);
        let http = crate::tls::http_client(launched.ca.as_ref())
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        loop {
            if let Ok(Some(status)) = launched.child.try_wait() {
                return Err(Error::Setup(format!(
                    "{}: the server exited before it was ready ({status})",
                    self.name
                )));
            }
            if http.get(&ready_url).send().await.is_ok() {
                return Ok(launched);
            }
            if Instant::now() > deadline {
                return Err(Error::Setup(format!(
                    "{}: {ready_url} did not answer within {} s",
                    self.name, ready.timeout_secs
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Reads a TOML target manifest: syntax, then the schema, then the
/// placeholders, each error naming the file and field (shared by the
/// server and client target manifests).
pub(crate) fn load_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    schema: Schema,
    schema_file: &str,
    placeholders: &[&str],
) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let table: toml::Table = crate::error::from_toml(path, &text)?;
    let value = serde_json::to_value(&table).map_err(|e| Error::field(path, "/", e.to_string()))?;
    let locate = |e| crate::error::locate_in_toml(e, &text);
    schema.check(path, &value, schema_file).map_err(locate)?;
    check_placeholders(path, &value, placeholders).map_err(locate)?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        locate(Error::field(
            path,
            &e.path().to_string(),
            e.inner().to_string(),
        ))
    })
}

/// Runs a manifest's build command (install, compile) in its folder,
/// unless it succeeded before on the same folder: an `npm ci` or a venv
/// install costs seconds to minutes on every run, most of a fast suite's
/// time. The folder's fingerprint (every file's path, size and
/// modification time, outside the usual output folders, whose presence
/// alone counts) is kept after a successful build; `MPPCONF_REBUILD=1`
/// builds anyway.
pub(crate) fn run_build(name: &str, build: Option<&[String]>, workdir: &Path) -> Result<()> {
    let Some(build) = build else {
        return Ok(());
    };
    let stamp = build_stamp(build, workdir);
    if let Some(stamp) = &stamp
        && std::env::var_os("MPPCONF_REBUILD").is_none()
        && fingerprint(build, workdir)
            .is_some_and(|f| std::fs::read_to_string(stamp).is_ok_and(|kept| kept == f))
    {
        crate::outln!(
            "{name}: build {build:?} skipped: {} is unchanged since it last succeeded (MPPCONF_REBUILD=1 builds anyway)",
            workdir.display()
        );
        return Ok(());
    }
    let status = Command::new(&build[0])
        .args(&build[1..])
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| Error::Setup(format!("{name}: cannot run build {build:?}: {e}")))?;
    if !status.success() {
        if let Some(stamp) = &stamp {
            let _ = std::fs::remove_file(stamp);
        }
        return Err(Error::Setup(format!(
            "{name}: build {build:?} failed ({status})"
        )));
    }
    // What the folder looks like after a good build (a build may rewrite
    // its inputs, e.g. a lock file). A stamp that cannot be kept only
    // costs the next run a build.
    if let (Some(stamp), Some(f)) = (&stamp, fingerprint(build, workdir))
        && let Some(dir) = stamp.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let _ = std::fs::write(stamp, f);
    }
    Ok(())
}

/// Folders a build writes (dependencies, compiled output): their contents
/// are not the build's input; whether they exist is.
const BUILD_OUTPUTS: [&str; 7] = [
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    ".git",
    ".mypy_cache",
];

/// Where the fingerprint of a build of `workdir` is kept.
fn build_stamp(build: &[String], workdir: &Path) -> Option<PathBuf> {
    let dir = std::path::absolute(workdir).ok()?;
    let mut h = Sha256::new();
    h.update(dir.to_string_lossy().as_bytes());
    h.update(build.join("\0").as_bytes());
    let key = alloy::hex::encode(&h.finalize()[..16]);
    Some(std::env::temp_dir().join("mppconf-builds").join(key))
}

/// The build command and every file under `workdir` (path, size,
/// modification time), as a digest; None for a folder too large to walk
/// quickly (then it is always built).
fn fingerprint(build: &[String], workdir: &Path) -> Option<String> {
    const MOST_FILES: usize = 20_000;
    let mut entries = Vec::new();
    let mut folders = vec![workdir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).ok()? {
            let entry = entry.ok()?;
            let path = entry.path();
            let meta = entry.metadata().ok()?;
            let relative = path
                .strip_prefix(workdir)
                .ok()?
                .to_string_lossy()
                .into_owned();
            if meta.is_dir() {
                if BUILD_OUTPUTS.contains(&entry.file_name().to_string_lossy().as_ref()) {
                    entries.push(format!("{relative}/ (output)"));
                } else {
                    folders.push(path);
                }
            } else {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or_default();
                entries.push(format!("{relative} {} {modified}", meta.len()));
            }
            if entries.len() > MOST_FILES {
                return None;
            }
        }
    }
    entries.sort();
    let mut h = Sha256::new();
    h.update(build.join("\0").as_bytes());
    for e in &entries {
        h.update(e.as_bytes());
        h.update(b"\n");
    }
    Some(alloy::hex::encode(h.finalize()))
}

/// A placeholder that does not exist is a typo worth naming (shared by
/// the server and client target manifests, each with its own `known`).
pub(crate) fn check_placeholders(path: &Path, value: &Value, known: &[&str]) -> Result<()> {
    fn walk(v: &Value, at: String, known: &[&str], out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) => {
                let mut rest = s.as_str();
                while let Some(i) = rest.find('{') {
                    let Some(j) = rest[i..].find('}') else { break };
                    let name = &rest[i..i + j + 1];
                    if !known.contains(&name) {
                        out.push((at.clone(), name.to_string()));
                    }
                    rest = &rest[i + j + 1..];
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(x, format!("{at}/{i}"), known, out)),
            Value::Object(m) => m
                .iter()
                .for_each(|(k, x)| walk(x, format!("{at}/{k}"), known, out)),
            _ => {}
        }
    }
    let mut unknown = Vec::new();
    walk(value, String::new(), known, &mut unknown);
    match unknown.first() {
        None => Ok(()),
        Some((at, name)) => Err(Error::field(
            path,
            at,
            format!("unknown placeholder {name}; known: {}", known.join(", ")),
        )),
    }
}

/// A running target server; killed when dropped.
pub struct Launched {
    child: Child,
    pub base_url: String,
    /// The harness's authority, when the server serves HTTPS.
    pub ca: Option<reqwest::Certificate>,
}

impl Drop for Launched {
    /// Gracefully first (SIGTERM to its process group, 2 s), then SIGKILL
    /// to whatever of the group is left: no child of a wrapper survives.
    fn drop(&mut self) {
        crate::process::stop_group(&mut self.child, Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ServerTarget> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, text).unwrap();
        ServerTarget::load(&path)
    }

    const GOOD: &str = r#"
name = "demo"
[server]
command = ["node", "server.mjs"]
base_url = "http://127.0.0.1:{port}"
ready = { path = "/paid" }
env = { RPC_URL = "{rpc_url}" }
[[resource]]
path = "/paid"
"#;

    #[test]
    fn the_shipped_targets_load() {
        let mppx = ServerTarget::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/targets/mppx-server.toml"
        )))
        .unwrap();
        assert!(mppx.pay.attribution_memo);
        assert_eq!(load(GOOD).unwrap().resource[0].method, "GET");
    }

    #[test]
    fn mistakes_name_the_field() {
        let typo = load(&GOOD.replace("base_url", "baseurl"))
            .unwrap_err()
            .to_string();
        assert!(
            typo.contains("field `/server`") && typo.contains("baseurl"),
            "{typo}"
        );
        let placeholder = load(&GOOD.replace("{rpc_url}", "{rpc}"))
            .unwrap_err()
            .to_string();
        assert!(
            placeholder.contains("/server/env/RPC_URL") && placeholder.contains("{rpc}"),
            "{placeholder}"
        );
        let syntax = load("name = ").unwrap_err().to_string();
        assert!(syntax.contains("t.toml"), "{syntax}");
    }
}
