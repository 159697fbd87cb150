//! Black-box probing of an MPP server: the server suite's machinery.
//!
//! A [`Target`] is a running server and one protected resource on it; a
//! [`Ctx`] adds the means to pay (a funded payer on the target's chain)
//! and to see what the server did on chain (the recording proxy, when the
//! harness started the server). The checks themselves, each naming its
//! requirement, are in [`checks`]; every HTTP exchange they make is kept
//! as evidence, with credentials redacted.

pub mod checks;
pub mod command;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use mppconf_suite::codec::{Challenge, ProblemDetails};
use mppconf_suite::vectors::Verdict;
use serde::Serialize;

use crate::chain::RpcProxy;
use crate::chain::proxy::RpcRecord;
use crate::reference::client::{self, PayOptions};

/// One protected resource of a server.
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: String,
    pub path: String,
    pub method: String,
    pub body: Option<Vec<u8>>,
    /// The chain the server settles on.
    pub rpc_url: String,
}

impl Target {
    pub fn url(&self) -> String {
        format!("{}{}", self.base_url, self.path)
    }
}

/// One HTTP exchange, as evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub request: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub millis: u128,
}

/// A response as the checks read it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `WWW-Authenticate` field value.
    pub fn challenge_fields(&self) -> Vec<String> {
        self.headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// The Payment challenges, each parsed or refused.
    pub fn challenges(&self) -> Vec<Result<Challenge, String>> {
        match mppconf_suite::codec::challenge::parse_all(&self.challenge_fields()) {
            Ok(all) => all
                .into_iter()
                .map(|c| c.map_err(|e| e.to_string()))
                .collect(),
            Err(e) => vec![Err(e.to_string())],
        }
    }

    pub fn problem(&self) -> Option<ProblemDetails> {
        ProblemDetails::parse(&self.body).ok()
    }
}

/// What one check concluded.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub detail: String,
}

impl Outcome {
    pub fn pass(detail: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Pass,
            detail: detail.into(),
        }
    }

    pub fn fail(expected: impl std::fmt::Display, actual: impl std::fmt::Display) -> Self {
        Self {
            verdict: Verdict::Fail,
            detail: format!("Expected: {expected}\nActual: {actual}"),
        }
    }

    pub fn error(why: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Error,
            detail: why.into(),
        }
    }

    pub fn skip(why: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Skip,
            detail: why.into(),
        }
    }
}

/// Everything a check may use; evidence accumulates per check.
pub struct Ctx {
    pub target: Target,
    http: reqwest::Client,
    pub payer: PrivateKeySigner,
    pub proxy: Option<Arc<RpcProxy>>,
    evidence: Mutex<Vec<Exchange>>,
}

/// Headers worth keeping as evidence, credentials redacted.
fn redact(name: &str, value: &str) -> String {
    if name.eq_ignore_ascii_case("authorization") && value.len() > 24 {
        format!(
            "{}… ({} bytes, redacted)",
            &value[..16.min(value.len())],
            value.len()
        )
    } else {
        value.to_string()
    }
}

/// The longest a probe waits for one answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// Bodies beyond this are cut: a server answering 10 MB must not stall the run.
const BODY_LIMIT: usize = 1 << 20;

impl Ctx {
    pub fn new(target: Target, payer: PrivateKeySigner, proxy: Option<Arc<RpcProxy>>) -> Self {
        Self {
            target,
            http: reqwest::Client::builder()
                .timeout(ANSWER_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            payer,
            proxy,
            evidence: Mutex::default(),
        }
    }

    /// Sends the resource's request with these `Authorization` values
    /// (and, if given, another body); `Err` is a transport failure.
    pub async fn send(
        &self,
        authorization: &[&str],
        body: Option<&[u8]>,
    ) -> Result<Answer, String> {
        self.send_with(authorization, body, &[]).await
    }

    pub async fn send_with(
        &self,
        authorization: &[&str],
        body: Option<&[u8]>,
        extra: &[(&str, &str)],
    ) -> Result<Answer, String> {
        let t = &self.target;
        let method: reqwest::Method = t
            .method
            .parse()
            .map_err(|_| format!("bad method {}", t.method))?;
        self.request(
            method,
            &t.url(),
            authorization,
            body.or(t.body.as_deref()),
            extra,
        )
        .await
    }

    /// Any request, recorded.
    pub async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        authorization: &[&str],
        body: Option<&[u8]>,
        extra: &[(&str, &str)],
    ) -> Result<Answer, String> {
        let mut rb = self.http.request(method.clone(), url);
        let mut shown = vec![format!("{method} {url}")];
        for a in authorization {
            rb = rb.header("authorization", *a);
            shown.push(format!("authorization: {}", redact("authorization", a)));
        }
        for (k, v) in extra {
            rb = rb.header(*k, *v);
            shown.push(format!("{k}: {v}"));
        }
        if let Some(b) = body {
            rb = rb.body(b.to_vec());
            shown.push(format!("({} byte body)", b.len()));
        }
        let start = Instant::now();
        let response = rb.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = tokio::time::timeout(ANSWER_TIMEOUT, response.bytes())
            .await
            .map_err(|_| format!("{url}: the body did not finish within {ANSWER_TIMEOUT:?}"))?
            .map_err(|e| format!("{url}: reading the body: {e}"))?;
        let body = String::from_utf8_lossy(&bytes[..bytes.len().min(BODY_LIMIT)]).into_owned();
        if let Ok(mut ev) = self.evidence.lock() {
            ev.push(Exchange {
                request: shown.join("\n"),
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            redact(k.as_str(), v.to_str().unwrap_or("<binary>")),
                        )
                    })
                    .collect(),
                body: body.chars().take(2000).collect(),
                millis: start.elapsed().as_millis(),
            });
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The first Payment challenge of an unpaid request.
    pub async fn fresh_challenge(&self) -> Result<Challenge, String> {
        let answer = self.send(&[], None).await?;
        client::choose(&answer.challenge_fields()).map_err(|e| format!("no payable challenge: {e}"))
    }

    /// Pay options for this target and payer.
    pub fn pay_options(&self) -> PayOptions {
        PayOptions {
            http_method: self.target.method.clone(),
            body: self.target.body.clone(),
            allow_http: true,
            ..PayOptions::new(
                &self.target.url(),
                &self.payer.to_bytes().to_string(),
                &self.target.rpc_url,
            )
        }
    }

    /// A valid credential for a fresh challenge, not yet sent.
    pub async fn valid_credential(
        &self,
    ) -> Result<(Challenge, mppconf_suite::codec::Credential), String> {
        let challenge = self.fresh_challenge().await?;
        let credential = client::credential_for(&challenge, &self.pay_options())
            .await
            .map_err(|e| format!("cannot build a valid credential: {e}"))?;
        Ok((challenge, credential))
    }

    /// The exchanges so far, for the result of the current check.
    pub fn take_evidence(&self) -> Vec<Exchange> {
        self.evidence
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }

    /// The chain calls the server made so far (when the harness proxies
    /// its RPC), and forgets them.
    pub fn take_rpc(&self) -> Option<Vec<RpcRecord>> {
        self.proxy.as_ref().map(|p| {
            let records = p.records();
            p.clear();
            records
        })
    }
}

/// One check's result, with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub requirements: &'static [&'static str],
    pub verdict: Verdict,
    pub detail: String,
    pub millis: u128,
    pub exchanges: Vec<Exchange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc: Option<Vec<RpcRecord>>,
}

/// Runs every check in order against one target.
pub async fn run_all(
    ctx: &Ctx,
    filter: &[String],
    mut progress: impl FnMut(&CheckResult),
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for check in checks::ALL {
        if !filter.is_empty() && !filter.iter().any(|f| check.id.contains(f.as_str())) {
            continue;
        }
        ctx.take_evidence();
        ctx.take_rpc();
        let start = Instant::now();
        let outcome =
            match tokio::time::timeout(Duration::from_secs(60), checks::run(check, ctx)).await {
                Ok(o) => o,
                Err(_) => Outcome::error("the check did not finish within 60 s"),
            };
        // A SHOULD that is not met warns; it fails only under --strict.
        let verdict = match (outcome.verdict, check.should) {
            (Verdict::Fail, true) => Verdict::Warn,
            (v, _) => v,
        };
        let result = CheckResult {
            id: check.id,
            requirements: check.requirements,
            verdict,
            detail: outcome.detail,
            millis: start.elapsed().as_millis(),
            exchanges: ctx.take_evidence(),
            rpc: ctx.take_rpc(),
        };
        progress(&result);
        results.push(result);
    }
    results
}
