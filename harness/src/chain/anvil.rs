//! The local chains: `anvil --network tempo` from Foundry, and plain
//! `anvil` (an EVM chain without Tempo's precompiles, for EVM charge).
//!
//! Found through `MPPCONF_ANVIL`, then `PATH`, then the mppconf cache; if
//! absent it is installed into the cache from the pinned npm package, so a
//! fresh machine needs no manual step. Started on a free loopback port and
//! stopped on drop; the child also gets `PR_SET_PDEATHSIG`, so it dies with
//! the harness even when the harness is killed, and it stays in the
//! harness's process group, so Ctrl-C reaches it too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::npm;
use super::rpc::Rpc;
use crate::error::{Error, Result};

/// The npm package and version that carry the anvil binary.
pub const ANVIL_NPM_PACKAGE: &str = "@foundry-rs/anvil";
pub const ANVIL_NPM_VERSION: &str = "1.7.1";

/// PathUSD, the first TIP-20 precompile (CHAIN.md).
pub const PATH_USD: &str = "0x20c0000000000000000000000000000000000000";

/// Which chain anvil simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// `--network tempo`: TIP-20 precompiles, type-0x76 transactions.
    #[default]
    Tempo,
    /// Plain anvil: an Ethereum-like chain (chain id 31337 unless set),
    /// with no token and no Permit2 (CHAIN.md §"Sessions and EVM").
    Plain,
}

/// How to start the chain.
#[derive(Debug, Clone)]
pub struct AnvilConfig {
    pub network: Network,
    /// Tempo hardfork: `t4` by default, since under T0 a second
    /// expiring-nonce payment from one account is dropped (CHAIN.md).
    pub hardfork: String,
    pub chain_id: Option<u64>,
    /// Funded dev accounts.
    pub accounts: u32,
}

impl Default for AnvilConfig {
    fn default() -> Self {
        Self {
            network: Network::Tempo,
            hardfork: "t4".into(),
            chain_id: None,
            accounts: 10,
        }
    }
}

/// A running anvil; stopped when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    pub rpc_url: String,
    pub chain_id: u64,
    pub hardfork: String,
    pub started_in: Duration,
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// The native binary inside an npm install: the platform package ships it
/// (`node_modules/@foundry-rs/anvil-<platform>/…/anvil`); the `.bin` entry
/// may be a node wrapper, which we do not need.
fn find_in_node_modules(root: &Path) -> Option<PathBuf> {
    let scope = root.join("node_modules/@foundry-rs");
    let mut stack = vec![scope];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "anvil") && is_elf(&path) {
                return Some(path);
            }
        }
    }
    None
}

/// Finds anvil, installing it into the cache if it is nowhere.
pub fn locate_or_install() -> Result<PathBuf> {
    if let Some(given) = std::env::var_os("MPPCONF_ANVIL") {
        let path = PathBuf::from(given);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::Setup(format!(
                "MPPCONF_ANVIL={} is not a file; point it at an anvil binary or unset it",
                path.display()
            )))
        };
    }
    if let Some(path) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("anvil"))
        .find(|p| p.is_file())
    {
        return Ok(path);
    }
    let root = npm::installed(
        &format!("anvil-{ANVIL_NPM_VERSION}"),
        &[format!("{ANVIL_NPM_PACKAGE}@{ANVIL_NPM_VERSION}")],
        |root| find_in_node_modules(root).is_some(),
        "set MPPCONF_ANVIL to an anvil binary",
    )?;
    find_in_node_modules(&root).ok_or_else(|| {
        Error::Setup(format!(
            "{ANVIL_NPM_PACKAGE}@{ANVIL_NPM_VERSION} in {} holds no anvil binary for this platform; set MPPCONF_ANVIL to an anvil binary",
            root.display()
        ))
    })
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("127.0.0.1:0", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("127.0.0.1:0", e))?
        .port();
    Ok(port)
}

impl Anvil {
    /// Starts anvil, waits until it answers and mines the first block
    /// (while at block 0, `eth_call` simulates with timestamp 1); in Tempo
    /// mode it checks that the TIP-20 precompiles are there.
    pub async fn start(config: &AnvilConfig) -> Result<Self> {
        let binary = locate_or_install()?;
        let started = Instant::now();
        // A port can be taken between our probe and anvil's bind: retry.
        let mut last_error = None;
        for _ in 0..3 {
            match Self::spawn(&binary, config, free_port()?).await {
                Ok(mut anvil) => {
                    anvil.started_in = started.elapsed();
                    return Ok(anvil);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("three attempts were made"))
    }

    async fn spawn(binary: &Path, config: &AnvilConfig, port: u16) -> Result<Self> {
        let mut cmd = Command::new(binary);
        if config.network == Network::Tempo {
            cmd.args(["--network", "tempo", "--hardfork", &config.hardfork]);
        }
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--accounts", &config.accounts.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(id) = config.chain_id {
            cmd.args(["--chain-id", &id.to_string()]);
        }
        crate::process::die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| {
            Error::Setup(format!(
                "cannot start {}: {e}; set MPPCONF_ANVIL to a working anvil",
                binary.display()
            ))
        })?;
        let rpc_url = format!("http://127.0.0.1:{port}");
        let mut anvil = Anvil {
            child,
            rpc_url: rpc_url.clone(),
            chain_id: 0,
            hardfork: match config.network {
                Network::Tempo => config.hardfork.clone(),
                Network::Plain => "anvil default".into(),
            },
            started_in: Duration::ZERO,
        };
        let rpc = Rpc::new(&rpc_url).with_timeout(Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = anvil.child.try_wait().map_err(|e| Error::io(binary, e))? {
                let mut stderr = String::new();
                if let Some(mut err) = anvil.child.stderr.take() {
                    use std::io::Read;
                    let _ = err.read_to_string(&mut stderr);
                }
                let last = stderr.lines().last().unwrap_or("no output").to_string();
                return Err(Error::Setup(format!(
                    "anvil exited at start ({status}): {last}"
                )));
            }
            match rpc.chain_id().await {
                Ok(id) => {
                    anvil.chain_id = id;
                    break;
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => return Err(e),
            }
        }
        rpc.call("evm_mine", json!([])).await?;
        if config.network == Network::Tempo {
            require_tip20(&rpc).await?;
        }
        Ok(anvil)
    }

    pub fn rpc(&self) -> Rpc {
        Rpc::new(&self.rpc_url)
    }

    /// Saves the chain state; [`Anvil::revert`] returns to it, so each
    /// scenario starts from the same state.
    pub async fn snapshot(&self) -> Result<String> {
        let id = self.rpc().call("evm_snapshot", json!([])).await?;
        Ok(id.as_str().map_or_else(|| id.to_string(), str::to_string))
    }

    pub async fn revert(&self, snapshot: &str) -> Result<()> {
        let ok = self.rpc().call("evm_revert", json!([snapshot])).await?;
        if ok == true {
            Ok(())
        } else {
            Err(Error::Chain {
                url: self.rpc_url.clone(),
                reason: format!("evm_revert to {snapshot} answered {ok}"),
            })
        }
    }

    /// Moves the chain clock forward and mines a block, so that validity
    /// windows (`validBefore`) see the new time (CHAIN.md hazard 6).
    pub async fn advance_time(&self, seconds: u64) -> Result<()> {
        let rpc = self.rpc();
        rpc.call("evm_increaseTime", json!([seconds])).await?;
        rpc.call("evm_mine", json!([])).await.map(|_| ())
    }

    /// The timestamp of the latest block.
    pub async fn block_time(&self) -> Result<u64> {
        self.rpc().block_time().await
    }

    /// The process id, for tests that check nothing is left behind.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Fails clearly when the chain lacks the TIP-20 precompiles (a plain
/// Ethereum node, or anvil without `--network tempo`).
pub async fn require_tip20(rpc: &Rpc) -> Result<()> {
    // decimals() = 0x313ce567
    let decimals = rpc
        .call(
            "eth_call",
            json!([{"to": PATH_USD, "data": "0x313ce567"}, "latest"]),
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .and_then(|h| {
            let digits = h.trim_start_matches("0x");
            u128::from_str_radix(&digits[digits.len().saturating_sub(32)..], 16).ok()
        });
    if decimals == Some(6) {
        Ok(())
    } else {
        Err(Error::Chain {
            url: rpc.url().to_string(),
            reason: format!(
                "no TIP-20 precompile at PathUSD {PATH_USD}: not a Tempo chain (start anvil with --network tempo)"
            ),
        })
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
