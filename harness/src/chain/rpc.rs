//! A minimal JSON-RPC client with a time limit on every call.
//!
//! Anvil never answers some calls (an invalid transaction sent with
//! `eth_sendRawTransactionSync` blocks for 30 s, CHAIN.md hazard 2), so
//! every call is bounded and a timeout is reported as what it is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The default bound on one call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A JSON-RPC endpoint.
#[derive(Debug)]
pub struct Rpc {
    url: String,
    http: reqwest::Client,
    next_id: AtomicU64,
    timeout: Duration,
}

impl Rpc {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            http: reqwest::Client::new(),
            next_id: AtomicU64::new(1),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn fail(&self, method: &str, reason: impl Into<String>) -> Error {
        Error::Chain {
            url: self.url.clone(),
            reason: format!("{method}: {}", reason.into()),
        }
    }

    /// Calls `method` and returns its `result`; a JSON-RPC error, a
    /// transport error and a timeout are each an [`Error::Chain`].
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let send = self.http.post(&self.url).json(&body).send();
        let response = tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| self.fail(method, format!("no answer within {:?}", self.timeout)))?
            .map_err(|e| self.fail(method, format!("unreachable ({e})")))?;
        let reply: Value = tokio::time::timeout(self.timeout, response.json())
            .await
            .map_err(|_| self.fail(method, "answer cut off"))?
            .map_err(|e| self.fail(method, format!("answer is not JSON-RPC ({e})")))?;
        if let Some(err) = reply.get("error") {
            return Err(self.fail(method, format!("error {err}")));
        }
        reply
            .get("result")
            .cloned()
            .ok_or_else(|| self.fail(method, "answer has neither result nor error"))
    }

    /// `eth_chainId` as a number.
    pub async fn chain_id(&self) -> Result<u64> {
        let v = self.call("eth_chainId", json!([])).await?;
        v.as_str()
            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| self.fail("eth_chainId", format!("not a hex quantity: {v}")))
    }

    /// The timestamp of the latest block.
    pub async fn block_time(&self) -> Result<u64> {
        let block = self
            .call("eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        block["timestamp"]
            .as_str()
            .and_then(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| {
                self.fail(
                    "eth_getBlockByNumber",
                    format!("latest block has no timestamp: {block}"),
                )
            })
    }

    /// Mines a block when the latest one is more than 2 s old. Anvil
    /// mines only on transactions, so after an idle spell `latest` keeps
    /// an old timestamp, and an expiring-nonce transaction whose
    /// `validBefore` is the wall clock plus 25 s is more than 30 s ahead
    /// of it, which T4 refuses (CHAIN.md), silently when it is admitted
    /// first; a live chain's steady blocks never leave `latest` that old.
    pub async fn freshen_clock(&self) -> Result<()> {
        let stamp = self.block_time().await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if stamp + 2 < now {
            self.call("evm_mine", json!([])).await?;
        }
        Ok(())
    }
}
