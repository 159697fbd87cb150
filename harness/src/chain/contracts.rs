//! mppconf's own contracts, for what the local chain lacks (the Tempo
//! session escrow, EVM charge's EIP-3009 token). Compiled by the project from its own Solidity source
//! (`harness/contracts/`) with the pinned npm `solc` (solc-js, offline) and
//! `solady`, installed into the mppconf cache like anvil; the bytecode is
//! cached by the hash of everything that goes into it, so a run compiles
//! only when a source, a version or a setting changed. No third-party
//! bytecode is vendored.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::npm;
use super::rpc::Rpc;
use crate::error::{Error, Result};

/// The pinned compiler and library (npm packages).
pub const SOLC_NPM_VERSION: &str = "0.8.30";
pub const SOLADY_NPM_VERSION: &str = "0.1.26";

/// The script that runs solc-js on a standard-JSON input.
const COMPILE_SCRIPT: &str = include_str!("../../contracts/compile.cjs");

/// One contract of ours: its Solidity file and the contract in it, and
/// the files of ours that file imports.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub contract: &'static str,
    pub file: &'static str,
    pub text: &'static str,
    pub imports: &'static [Source],
}

/// The Tempo session escrow, `sessionProtocol: "v1"`.
pub const TEMPO_STREAM_CHANNEL: Source = Source {
    contract: "TempoStreamChannel",
    file: "TempoStreamChannel.sol",
    text: include_str!("../../contracts/TempoStreamChannel.sol"),
    imports: &[],
};

/// The EIP-3009 / EIP-2612 test token of EVM charge.
pub const MPP_TEST_TOKEN: Source = Source {
    contract: "MppTestToken",
    file: "MppTestToken.sol",
    text: include_str!("../../contracts/MppTestToken.sol"),
    imports: &[],
};

/// An ERC-20 without EIP-3009: the currency of the reference EVM server's
/// `evm-authorization-any-token` deviation.
pub const MPP_PLAIN_TOKEN: Source = Source {
    contract: "MppPlainToken",
    file: "MppPlainToken.sol",
    text: include_str!("../../contracts/MppPlainToken.sol"),
    imports: &[],
};

/// The EVM session escrow (draft-evm-session-00's mandatory core): the
/// escrow suite's reference.
pub const EVM_PAYMENT_CHANNEL: Source = Source {
    contract: "EvmPaymentChannel",
    file: "EvmPaymentChannel.sol",
    text: include_str!("../../contracts/EvmPaymentChannel.sol"),
    imports: &[],
};

/// The same escrow with one rule broken, chosen by its constructor
/// argument: the escrow suite's deviations.
pub const EVM_PAYMENT_CHANNEL_DEVIATING: Source = Source {
    contract: "EvmPaymentChannelDeviating",
    file: "EvmPaymentChannelDeviating.sol",
    text: include_str!("../../contracts/EvmPaymentChannelDeviating.sol"),
    imports: &[EVM_PAYMENT_CHANNEL],
};

/// Compiled creation bytecode, and the hash it is cached under.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub contract: &'static str,
    pub bytecode: Vec<u8>,
    pub source_hash: String,
}

/// solc settings: the EVM version is Cancun, which the Tempo hardforks
/// include (PUSH0, MCOPY, transient storage).
fn settings() -> Value {
    json!({
        "optimizer": {"enabled": true, "runs": 200},
        "evmVersion": "cancun",
        "outputSelection": {"*": {"*": ["evm.bytecode.object"]}}
    })
}

fn source_hash(source: &Source) -> String {
    let mut h = Sha256::new();
    for part in [
        SOLC_NPM_VERSION,
        SOLADY_NPM_VERSION,
        COMPILE_SCRIPT,
        &settings().to_string(),
        source.file,
        source.contract,
        source.text,
    ]
    .into_iter()
    .chain(source.imports.iter().flat_map(|i| [i.file, i.text]))
    {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn cached_path(source: &Source, hash: &str) -> PathBuf {
    npm::cache_dir()
        .join("contracts")
        .join(format!("{}-{hash}.bin", source.contract))
}

/// The contract's bytecode, from the cache or compiled now.
pub fn artifact(source: &Source) -> Result<Artifact> {
    let hash = source_hash(source);
    let path = cached_path(source, &hash);
    if let Ok(hex) = std::fs::read_to_string(&path)
        && let Ok(bytecode) = alloy::hex::decode(hex.trim())
        && !bytecode.is_empty()
    {
        return Ok(Artifact {
            contract: source.contract,
            bytecode,
            source_hash: hash,
        });
    }
    let bytecode = compile(source)?;
    let dir = path.parent().expect("the cache path has a folder");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let staging = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&staging, alloy::hex::encode(&bytecode)).map_err(|e| Error::io(&staging, e))?;
    std::fs::rename(&staging, &path).map_err(|e| Error::io(&path, e))?;
    Ok(Artifact {
        contract: source.contract,
        bytecode,
        source_hash: hash,
    })
}

/// The folder holding the pinned solc and solady, and the compile script.
fn compiler() -> Result<PathBuf> {
    let ready = |root: &Path| {
        root.join("node_modules/solc/soljson.js").is_file()
            && root
                .join("node_modules/solady/src/utils/EIP712.sol")
                .is_file()
    };
    let root = npm::installed(
        &format!("solc-{SOLC_NPM_VERSION}-solady-{SOLADY_NPM_VERSION}"),
        &[
            format!("solc@{SOLC_NPM_VERSION}"),
            format!("solady@{SOLADY_NPM_VERSION}"),
        ],
        ready,
        "check that the npm registry is reachable",
    )?;
    let script = root.join("compile.cjs");
    if std::fs::read_to_string(&script).ok().as_deref() != Some(COMPILE_SCRIPT) {
        std::fs::write(&script, COMPILE_SCRIPT).map_err(|e| Error::io(&script, e))?;
    }
    Ok(root)
}

/// Runs solc-js on the source; a compiler error names the file and line.
fn compile(source: &Source) -> Result<Vec<u8>> {
    let root = compiler()?;
    let mut sources = serde_json::Map::new();
    for s in std::iter::once(source).chain(source.imports) {
        sources.insert(s.file.to_string(), json!({"content": s.text}));
    }
    let input = json!({
        "language": "Solidity",
        "sources": sources,
        "settings": settings(),
    });
    let mut child = Command::new("node")
        .arg(root.join("compile.cjs"))
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Setup(format!(
                "cannot run node to compile {} ({e}); install Node.js",
                source.file
            ))
        })?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.to_string().as_bytes())
        .map_err(|e| Error::io("node compile.cjs", e))?;
    let output = child
        .wait_with_output()
        .map_err(|e| Error::io("node compile.cjs", e))?;
    let fail = |reason: String| {
        Error::Setup(format!(
            "compiling harness/contracts/{} with solc {SOLC_NPM_VERSION}: {reason}",
            source.file
        ))
    };
    if !output.status.success() {
        return Err(fail(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    let out: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| fail(format!("solc's output is not JSON ({e})")))?;
    let errors: Vec<String> = out["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["severity"] == "error")
        .map(|e| e["formattedMessage"].as_str().unwrap_or("?").to_string())
        .collect();
    if !errors.is_empty() {
        return Err(fail(errors.join("\n")));
    }
    let hex = out["contracts"][source.file][source.contract]["evm"]["bytecode"]["object"]
        .as_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| fail(format!("no bytecode for contract {}", source.contract)))?;
    alloy::hex::decode(hex).map_err(|e| fail(format!("bytecode is not hex ({e})")))
}

/// The harness's own transactions from unlocked accounts
/// (`eth_sendTransaction`), one at a time: anvil numbers them as they
/// arrive, and two at once from one account can be given the same nonce
/// ("nonce too low"), as checks running at once would.
pub static UNLOCKED_SENDS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Deploys `artifact` from the chain's first unlocked dev account and
/// returns its address; fails when the creation reverts or leaves no code.
pub async fn deploy(rpc: &Rpc, artifact: &Artifact) -> Result<Address> {
    deploy_code(rpc, artifact.contract, &artifact.bytecode).await
}

/// Deploys creation code (`name` for errors): a compiled contract with its
/// constructor arguments appended, or code a user gave.
pub async fn deploy_code(rpc: &Rpc, name: &str, creation_code: &[u8]) -> Result<Address> {
    let chain_error = |reason: String| Error::Chain {
        url: rpc.url().to_string(),
        reason: format!("deploying {name}: {reason}"),
    };
    let accounts = rpc.call("eth_accounts", json!([])).await?;
    let from = accounts[0]
        .as_str()
        .ok_or_else(|| chain_error("the chain has no unlocked account".into()))?
        .to_string();
    let data = format!("0x{}", alloy::hex::encode(creation_code));
    let receipt = {
        let _one_at_a_time = UNLOCKED_SENDS.lock().await;
        let hash = rpc
            .call("eth_sendTransaction", json!([{"from": from, "data": data}]))
            .await?;
        wait_for_receipt(rpc, &hash).await?
    };
    if receipt["status"] != "0x1" {
        return Err(chain_error(format!("the creation reverted: {receipt}")));
    }
    let address: Address = receipt["contractAddress"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| chain_error(format!("the receipt names no contract: {receipt}")))?;
    let code = rpc
        .call("eth_getCode", json!([address.to_string(), "latest"]))
        .await?;
    if code.as_str().is_none_or(|c| c.len() <= 2) {
        return Err(chain_error(format!("no code at {address} after creation")));
    }
    Ok(address)
}

/// Polls for a transaction's receipt (anvil mines at once, but answers
/// the receipt a moment later).
pub async fn wait_for_receipt(rpc: &Rpc, hash: &Value) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let receipt = rpc.call("eth_getTransactionReceipt", json!([hash])).await?;
        if !receipt.is_null() {
            return Ok(receipt);
        }
        if Instant::now() > deadline {
            return Err(Error::Chain {
                url: rpc.url().to_string(),
                reason: format!("no receipt for {hash} within 10 s"),
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
