//! The MCP server suite: black-box checks of a server that sells MCP
//! tool calls under draft-payment-transport-mcp-00 (challenges in
//! JSON-RPC errors, credentials in `_meta`, receipts in results).
//!
//! An [`McpCtx`] is one MCP endpoint, the paid tool to judge (and,
//! where the server has them, a free tool and a second paid tool of the
//! same price), and the means to pay: the challenge's method as a
//! built-in plug-in ([`crate::methods`]), paying its challenge in the
//! HTTP form (`request` as its JCS text) and echoing the challenge
//! object unchanged. The checks ([`checks`]) name their requirements;
//! their results are the server suite's [`CheckResult`]s, so reports,
//! baselines, JUnit and the gate are the same. [`command`] is
//! `mppconf mcp-server`; [`session`] speaks Streamable HTTP and stdio;
//! [`bridge`] serves an HTTP endpoint on stdio.

pub mod bridge;
pub mod checks;
pub mod command;
mod paid_checks;
pub mod session;

pub use session::Session;

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use mppconf_suite::mcp::{McpChallenge, PaymentRequired};
use mppconf_suite::vectors::Verdict;
use serde_json::{Value, json};

use crate::methods::{PayContext, PaymentMethod};
use crate::report::Selection;
use crate::report::progress::Watch;
pub(crate) use crate::server_suite::blocked;
use crate::server_suite::{CheckResult, Outcome, millis};

/// A request that got no usable answer: a harness error, but for a live
/// server on stdio that left it unanswered, which is the server's
/// failure (JSON-RPC 2.0 §"Response object": every request with an id is
/// answered).
pub(crate) fn transport(e: String) -> Outcome {
    if e.starts_with(session::NO_ANSWER) {
        return Outcome::fail(
            "an answer to the request (JSON-RPC 2.0: every request is answered)",
            e,
        );
    }
    crate::server_suite::transport(e)
}

/// One MCP check.
pub struct McpCheck {
    pub id: &'static str,
    pub requirements: &'static [&'static str],
    /// All cited requirements are SHOULD-level: a failure is `warn`.
    pub should: bool,
    pub run: for<'a> fn(&'a McpCtx) -> BoxFuture<'a, Outcome>,
}

/// What the checks judge and pay with.
pub struct McpCtx {
    pub session: Session,
    /// The paid tool judged.
    pub tool: String,
    /// A second paid tool of the same price (operation binding).
    pub other_tool: Option<String>,
    /// A tool that costs nothing.
    pub free_tool: Option<String>,
    /// A paid resource (its URI) and a paid prompt (its name).
    pub resource: Option<String>,
    pub prompt: Option<String>,
    /// The paid tool's method, when mppconf pays it by itself.
    pub method: Option<&'static dyn PaymentMethod>,
    /// The funded account that pays (a 0x private key).
    pub account_key: String,
    /// The chain the server settles on ("" for a method without one).
    pub rpc_url: String,
    /// Pay with mppx's attribution memo (see
    /// [`crate::reference::client::attribution_memo`]).
    pub attribution_memo: bool,
    /// Time spent waiting on purpose (outlasting an expiry).
    paused: std::sync::Mutex<Duration>,
}

/// A JSON-RPC message of `method` (no `id`: the session sets one for a
/// request) with a credential at its placement.
fn message(
    method: &str,
    params: Value,
    credential: Option<(&Value, mppconf_suite::mcp::Placement)>,
) -> Value {
    let mut message = json!({"jsonrpc": "2.0", "method": method, "params": params});
    match credential {
        Some((c, mppconf_suite::mcp::Placement::Nested)) => {
            message["params"]["_meta"] = json!({ mppconf_suite::mcp::CREDENTIAL_KEY: c });
        }
        Some((c, mppconf_suite::mcp::Placement::Root)) => {
            message["_meta"] = json!({ mppconf_suite::mcp::CREDENTIAL_KEY: c });
        }
        None => {}
    }
    message
}

/// A challenge as the server sent it (echoed unchanged) and as read.
#[derive(Debug, Clone)]
pub struct Offered {
    pub raw: Value,
    pub challenge: McpChallenge,
}

impl McpCtx {
    pub fn new(session: Session, tool: &str) -> Self {
        Self {
            session,
            tool: tool.to_string(),
            other_tool: None,
            free_tool: None,
            resource: None,
            prompt: None,
            method: None,
            account_key: String::new(),
            rpc_url: String::new(),
            attribution_memo: false,
            paused: std::sync::Mutex::new(Duration::ZERO),
        }
    }

    /// `tools/call` of `tool`, with a credential at `placement` (`None`:
    /// unpaid): the answer message.
    pub async fn call(
        &self,
        tool: &str,
        credential: Option<(&Value, mppconf_suite::mcp::Placement)>,
    ) -> Result<Value, Outcome> {
        self.operation(
            "tools/call",
            json!({"name": tool, "arguments": {}}),
            credential,
        )
        .await
    }

    /// A request of `method` with `params`, with a credential at
    /// `placement` (`None`: unpaid): the answer message.
    pub async fn operation(
        &self,
        method: &str,
        params: Value,
        credential: Option<(&Value, mppconf_suite::mcp::Placement)>,
    ) -> Result<Value, Outcome> {
        self.session
            .send(message(method, params, credential))
            .await
            .map_err(transport)
    }

    /// `tools/call` of the paid tool as a notification (no `id`), with a
    /// credential in `params._meta` (`None`: unpaid): the JSON-RPC answer
    /// it got, if any.
    pub async fn notify_call(&self, credential: Option<&Value>) -> Result<Option<String>, Outcome> {
        let credential = credential.map(|c| (c, mppconf_suite::mcp::Placement::Nested));
        self.session
            .notification(message(
                "tools/call",
                json!({"name": self.tool, "arguments": {}}),
                credential,
            ))
            .await
            .map_err(transport)
    }

    /// The first challenge of an unpaid call of `tool`, or why there is
    /// none (`blocked`: the mcp.payment-required check says why).
    pub async fn offered(&self, tool: &str) -> Result<Offered, Outcome> {
        let answer = self.call(tool, None).await?;
        offered_in(&answer)
    }

    /// A credential paying `offered` (its challenge echoed as it came),
    /// or why mppconf cannot pay it (`blocked`).
    pub async fn pay(&self, offered: &Offered) -> Result<Value, Outcome> {
        let c = &offered.challenge;
        let Some(method) = self
            .method
            .or_else(|| crate::methods::builtin(&c.method, &c.intent))
        else {
            return Err(blocked(format!(
                "mppconf pays no {} {} challenge by itself",
                c.method, c.intent
            )));
        };
        if method.evidence() == crate::methods::Evidence::Chain && !self.rpc_url.is_empty() {
            crate::chain::Rpc::new(&self.rpc_url)
                .freshen_clock()
                .await
                .map_err(|e| blocked(format!("the chain: {e}")))?;
        }
        let paid = method
            .pay(
                &c.to_http(),
                &PayContext {
                    http_method: "POST".into(),
                    url: self.session.endpoint(),
                    body: None,
                    account_key: self.account_key.clone(),
                    rpc_url: self.rpc_url.clone(),
                    attribution_memo: self.attribution_memo,
                },
            )
            .await
            .map_err(|e| blocked(format!("paying the challenge failed: {e}")))?;
        let mut credential = json!({"challenge": offered.raw, "payload": paid.payload});
        if let Some(s) = paid.source {
            credential["source"] = s.into();
        }
        Ok(credential)
    }

    /// A fresh challenge of the paid tool and a credential paying it.
    pub async fn valid(&self) -> Result<(Offered, Value), Outcome> {
        let offered = self.offered(&self.tool).await?;
        let credential = self.pay(&offered).await?;
        Ok((offered, credential))
    }

    /// Waits on purpose (counted apart from the server's time).
    pub async fn pause(&self, d: Duration) {
        tokio::time::sleep(d).await;
        if let Ok(mut p) = self.paused.lock() {
            *p += d;
        }
    }

    fn take_paused(&self) -> Duration {
        self.paused
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }
}

/// The first challenge of a `-32042` (or `-32043`) answer, read
/// leniently so that one slip does not block every check that pays: an
/// error of another code, or a `request` sent as base64url JSON text,
/// still offers its challenge (mcp.payment-required and
/// mcp.request-native judge those). The raw challenge is what a
/// credential echoes.
pub fn offered_in(answer: &Value) -> Result<Offered, Outcome> {
    let raw = answer["error"]["data"]["challenges"][0].clone();
    let mut read = answer.clone();
    if let Some(error) = read.get_mut("error").and_then(Value::as_object_mut)
        && error
            .get("data")
            .is_some_and(|d| d.get("challenges").is_some())
    {
        error.insert("code".into(), mppconf_suite::mcp::PAYMENT_REQUIRED.into());
    }
    if let Some(list) = read["error"]["data"]["challenges"].as_array_mut() {
        for c in list {
            let decoded = c["request"].as_str().and_then(|text| {
                mppconf_suite::codec::EncodedJson::decode_object("request", text).ok()
            });
            if let Some(d) = decoded {
                c["request"] = d.value;
            }
        }
    }
    match PaymentRequired::from_message(&read) {
        Ok(p) => Ok(Offered {
            raw,
            challenge: p.challenges[0].clone(),
        }),
        Err(e) => Err(blocked(format!(
            "no challenge mppconf can read in the answer ({e}); mcp.payment-required and mcp.request-native say why: {}",
            short(answer)
        ))),
    }
}

/// A message, shortened for a detail line.
pub fn short(message: &Value) -> String {
    let text = message.to_string();
    if text.len() > 400 {
        let head: String = text.chars().take(400).collect();
        format!("{head}… ({} bytes)", text.len())
    } else {
        text
    }
}

/// Every MCP check, in run order.
pub fn all_checks() -> &'static [McpCheck] {
    checks::CHECKS
}

/// Runs the selected checks one after another.
pub async fn run_all(
    ctx: &McpCtx,
    selection: &Selection,
    progress: &mut (impl Watch<CheckResult> + Send),
) -> Vec<CheckResult> {
    let checks: Vec<&McpCheck> = all_checks()
        .iter()
        .enumerate()
        .filter(|(n, c)| selection.selects(*n, c.id))
        .map(|(_, c)| c)
        .collect();
    progress.planned(checks.len());
    let mut results = Vec::new();
    for check in checks {
        let result = run_one(ctx, check).await;
        progress.finished(&result);
        results.push(result);
    }
    results
}

async fn run_one(ctx: &McpCtx, check: &McpCheck) -> CheckResult {
    ctx.session.take_evidence();
    ctx.take_paused();
    let start = Instant::now();
    // A check that panics (a harness defect, whatever the server sent)
    // is that check's `error`, not the end of the run.
    let guarded = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe((check.run)(ctx)));
    let outcome = tokio::select! {
        o = tokio::time::timeout(Duration::from_secs(60), guarded) => match o {
            Ok(Ok(o)) => o,
            Ok(Err(_)) => Outcome::error("the check panicked (a harness defect: please report it)"),
            Err(_) => Outcome::error("the check did not finish within 60 s"),
        },
        _ = crate::interrupt::wait() => {
            Outcome::skip(format!("not run: {}", crate::interrupt::reason().unwrap_or_default()))
        }
    };
    let verdict = match (outcome.verdict, check.should) {
        (Verdict::Fail, true) => Verdict::Warn,
        (v, _) => v,
    };
    CheckResult {
        id: check.id,
        requirements: check.requirements.to_vec(),
        verdict,
        detail: outcome.detail,
        millis: millis(start.elapsed()),
        paused_millis: millis(ctx.take_paused()),
        exchanges: ctx.session.take_evidence(),
        rpc: None,
    }
}

/// A check row: `mcp_check!(id, [requirements], should, |ctx| step(ctx))`
/// where the step is an `async fn(&McpCtx) -> Result<Outcome, Outcome>`.
macro_rules! mcp_check {
    ($id:literal, [$($req:literal),+ $(,)?], $should:literal, |$ctx:ident| $step:expr) => {
        $crate::mcp_suite::McpCheck {
            id: $id,
            requirements: &[$($req),+],
            should: $should,
            run: |$ctx| Box::pin(async move {
                match $step.await {
                    Ok(o) | Err(o) => o,
                }
            }),
        }
    };
}
pub(crate) use mcp_check;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_check_has_one_id_and_cites_catalogued_mcp_requirements() {
        let catalogue = mppconf_suite::catalogue::Catalogue::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../vectors"
        )))
        .unwrap();
        let mut ids = BTreeSet::new();
        for check in all_checks() {
            assert!(ids.insert(check.id), "{} twice", check.id);
            assert!(check.id.starts_with("mcp."), "{}", check.id);
            assert!(!check.requirements.is_empty(), "{} cites nothing", check.id);
            for r in check.requirements {
                assert!(r.starts_with("mcp."), "{}: {r}", check.id);
                assert!(catalogue.find(r).is_some(), "{}: unknown {r}", check.id);
            }
        }
    }
}
