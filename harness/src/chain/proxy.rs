//! A recording JSON-RPC proxy between a target and the chain.
//!
//! Every call the target makes is recorded (method, params, outcome,
//! duration) as evidence: "the server broadcast nothing" for a rejected
//! credential, or the exact raw transaction it sent. The proxy also keeps
//! anvil usable for real SDKs: it refuses the calls that crash anvil on
//! 0x76 transactions (CHAIN.md hazard 1), drops the extra timeout
//! parameter some SDKs give `eth_sendRawTransactionSync` (anvil accepts
//! exactly one), and bounds every call so that a transaction anvil never
//! mines becomes a clear error instead of a 30 s hang.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Calls that make anvil 1.7.1 exit when asked about a 0x76 transaction.
const CRASHING_CALLS: [&str; 2] = ["eth_getRawTransactionByHash", "debug_getRawTransaction"];

/// How the proxy treated a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handling {
    Forwarded,
    /// Forwarded with the parameters after the first dropped.
    ExtraParamsDropped,
    Refused,
    TimedOut,
    /// A gas estimate (`eth_estimateGas`, `eth_fillTransaction`)
    /// multiplied (see
    /// [`RpcProxy::scale_gas_estimates`]).
    EstimateScaled,
}

/// One recorded call.
#[derive(Debug, Clone, Serialize)]
pub struct RpcRecord {
    pub method: String,
    pub params: Value,
    pub handling: Handling,
    /// `result` or `error` of the answer the target got.
    pub outcome: Value,
    pub micros: u128,
}

/// A running proxy; stops when dropped.
pub struct RpcProxy {
    pub addr: SocketAddr,
    records: Arc<Mutex<Vec<RpcRecord>>>,
    estimate_factor: Arc<AtomicU64>,
    _service: crate::background::Background,
}

struct Inner {
    upstream: String,
    http: reqwest::Client,
    timeout: Duration,
    records: Arc<Mutex<Vec<RpcRecord>>>,
    /// 1, or what `eth_estimateGas` answers are multiplied by.
    estimate_factor: Arc<AtomicU64>,
}

impl RpcProxy {
    /// Starts a proxy to `upstream` on a free loopback port; `timeout`
    /// bounds each forwarded call.
    pub async fn start(upstream: &str, timeout: Duration) -> Result<Self> {
        let records = Arc::new(Mutex::new(Vec::new()));
        let estimate_factor = Arc::new(AtomicU64::new(1));
        let inner = Arc::new(Inner {
            estimate_factor: estimate_factor.clone(),
            upstream: upstream.to_string(),
            http: reqwest::Client::new(),
            timeout,
            records: records.clone(),
        });
        let app = axum::Router::new().fallback(move |body: Bytes| {
            let inner = inner.clone();
            async move { inner.handle(&body).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::io("127.0.0.1:0", e))?;
        let service = crate::background::Background::serve(listener, app)?;
        Ok(Self {
            addr: service.addr,
            records,
            estimate_factor,
            _service: service,
        })
    }

    /// Multiplies every gas estimate (`eth_estimateGas`, the `tx.gas` of
    /// `eth_fillTransaction`) by `factor` from now on:
    /// anvil's tempo mode (hardfork t4) estimates below what a transaction
    /// creating several storage slots then uses (TIP-1000 state creation;
    /// CHAIN.md), so an SDK that trusts the estimate runs out of gas on the
    /// local chain where it would not on Tempo. A run that turns this on
    /// names it as an accommodation in its report; every scaled answer is
    /// recorded as such.
    pub fn scale_gas_estimates(&self, factor: u64) {
        self.estimate_factor.store(factor.max(1), Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything recorded so far.
    pub fn records(&self) -> Vec<RpcRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many calls were recorded so far (a cursor for [`Self::records_from`]).
    pub fn len(&self) -> usize {
        self.records.lock().map(|r| r.len()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records from the `from`-th on (what happened since a cursor).
    pub fn records_from(&self, from: usize) -> Vec<RpcRecord> {
        self.records
            .lock()
            .map(|r| r.get(from..).map(<[_]>::to_vec).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Forgets the records (between scenarios).
    pub fn clear(&self) {
        if let Ok(mut r) = self.records.lock() {
            r.clear();
        }
    }

    /// The raw transactions the target broadcast since the `from`-th
    /// record, as 0x-hex.
    pub fn broadcasts_from(&self, from: usize) -> Vec<String> {
        self.records_from(from)
            .into_iter()
            .filter(|r| r.method.starts_with("eth_sendRawTransaction"))
            .filter_map(|r| r.params.get(0).and_then(Value::as_str).map(str::to_string))
            .collect()
    }
}

impl Inner {
    async fn handle(&self, body: &[u8]) -> Response {
        let reply = match serde_json::from_slice::<Value>(body) {
            Err(e) => error_reply(&Value::Null, -32700, &format!("parse error: {e}")),
            Ok(Value::Array(calls)) => {
                let mut replies = Vec::with_capacity(calls.len());
                for call in &calls {
                    replies.push(self.one(call).await);
                }
                Value::Array(replies)
            }
            Ok(call) => self.one(&call).await,
        };
        let mut response = (StatusCode::OK, reply.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }

    async fn one(&self, call: &Value) -> Value {
        let id = call.get("id").cloned().unwrap_or(Value::Null);
        let method = call["method"].as_str().unwrap_or_default().to_string();
        let mut params = call.get("params").cloned().unwrap_or(json!([]));
        let start = Instant::now();
        let mut handling = Handling::Forwarded;
        // Recorded on arrival, so that a call still in flight (a broadcast
        // the chain never answers) already counts as made.
        let slot = self.records.lock().ok().map(|mut records| {
            records.push(RpcRecord {
                method: method.clone(),
                params: params.clone(),
                handling: Handling::Forwarded,
                outcome: Value::Null,
                micros: 0,
            });
            records.len() - 1
        });
        let reply = if CRASHING_CALLS.contains(&method.as_str()) {
            handling = Handling::Refused;
            error_reply(
                &id,
                -32601,
                &format!(
                    "{method} refused by the mppconf proxy: it crashes anvil on Tempo (0x76) transactions"
                ),
            )
        } else {
            if method == "eth_sendRawTransactionSync"
                && let Some(list) = params.as_array_mut()
                && list.len() > 1
            {
                list.truncate(1);
                handling = Handling::ExtraParamsDropped;
            }
            let forward = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
            let sent = self.http.post(&self.upstream).json(&forward).send();
            match tokio::time::timeout(self.timeout, async { sent.await?.json::<Value>().await })
                .await
            {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => error_reply(
                    &id,
                    -32000,
                    &format!("mppconf proxy: the chain is unreachable ({e})"),
                ),
                Err(_) => {
                    handling = Handling::TimedOut;
                    error_reply(
                        &id,
                        -32000,
                        &format!(
                            "mppconf proxy: no answer from the chain within {:?} (a transaction it will never mine?)",
                            self.timeout
                        ),
                    )
                }
            }
        };
        let factor = self.estimate_factor.load(Ordering::SeqCst);
        let mut reply = reply;
        // The estimate: eth_estimateGas's result, eth_fillTransaction's
        // `tx.gas` (what viem's Tempo chain asks).
        let estimate = match method.as_str() {
            "eth_estimateGas" => reply.get_mut("result"),
            "eth_fillTransaction" => reply.pointer_mut("/result/tx/gas"),
            _ => None,
        };
        if factor > 1
            && let Some(slot) = estimate
            && let Some(gas) = slot
                .as_str()
                .and_then(|g| u64::from_str_radix(g.trim_start_matches("0x"), 16).ok())
        {
            *slot = json!(format!("{:#x}", gas.saturating_mul(factor)));
            handling = Handling::EstimateScaled;
        }
        let outcome = reply
            .get("result")
            .map(|r| json!({"result": r}))
            .or_else(|| reply.get("error").map(|e| json!({"error": e})))
            .unwrap_or(Value::Null);
        if let (Ok(mut records), Some(i)) = (self.records.lock(), slot)
            && let Some(record) = records.get_mut(i)
        {
            *record = RpcRecord {
                method,
                params,
                handling,
                outcome,
                micros: start.elapsed().as_micros(),
            };
        }
        reply
    }
}

fn error_reply(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}
