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
pub mod fuzz;
pub mod manifest;

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
    /// From sending the request to the end of the answer (or of waiting
    /// for it): time spent in the target, not in the harness.
    pub millis: f64,
    /// Why the exchange gave no usable answer (the target hung, dropped
    /// the connection, answered something that is not HTTP, or an error
    /// body over the limit); `status` is then 0 unless a status line came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
    /// Deliberate waits (outlasting an `expires`) of the current check.
    paused: Mutex<Duration>,
    answer_timeout: Duration,
    attribution_memo: bool,
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

/// The longest a probe waits for one answer (status, headers and body),
/// unless [`Ctx::with_answer_timeout`] says otherwise.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of a body the harness reads: a server answering 10 MB (or an
/// endless body) must neither stall the run nor fill its memory. Reading
/// stops there; an error answer cut there is no usable answer (its body
/// is what the checks judge), a 2xx one is kept cut (its body is the
/// resource, which may be large).
pub const BODY_LIMIT: usize = 1 << 20;

/// A reqwest error with its causes ("error sending request" alone does
/// not say that the connection was reset or the status line was garbage).
fn describe(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// What came back of one exchange, usable or not.
struct Received {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    /// The body was longer than [`BODY_LIMIT`] and is cut there.
    cut: bool,
}

impl Ctx {
    pub fn new(target: Target, payer: PrivateKeySigner, proxy: Option<Arc<RpcProxy>>) -> Self {
        Self {
            target,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            payer,
            proxy,
            evidence: Mutex::default(),
            paused: Mutex::default(),
            answer_timeout: ANSWER_TIMEOUT,
            attribution_memo: false,
        }
    }

    /// Waits at most `timeout` for each answer (default [`ANSWER_TIMEOUT`]).
    pub fn with_answer_timeout(mut self, timeout: Duration) -> Self {
        self.answer_timeout = timeout;
        self
    }

    pub fn answer_timeout(&self) -> Duration {
        self.answer_timeout
    }

    /// Pays with mppx's attribution memo (see
    /// [`crate::reference::client::attribution_memo`]).
    pub fn with_attribution_memo(mut self, on: bool) -> Self {
        self.attribution_memo = on;
        self
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

    /// Any request, recorded. `Err` (recorded too) when no usable answer
    /// came: none within the answer timeout, a dropped connection,
    /// something that is not HTTP, or an error body over [`BODY_LIMIT`].
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
        let (received, failure) = self.exchange(rb, url).await;
        let failure = failure.or_else(|| {
            let r = received.as_ref()?;
            (r.cut && !(200..300).contains(&r.status)).then(|| {
                format!(
                    "{url}: the {} answer's body is longer than the {BODY_LIMIT}-byte limit; it was not read to its end",
                    r.status
                )
            })
        });
        let (status, headers, text, cut) = match received {
            Some(r) => (
                r.status,
                r.headers,
                String::from_utf8_lossy(&r.body).into_owned(),
                r.cut,
            ),
            None => (0, reqwest::header::HeaderMap::new(), String::new(), false),
        };
        if let Ok(mut ev) = self.evidence.lock() {
            let mut shown_body: String = text.chars().take(2000).collect();
            if cut {
                shown_body.push_str(&format!("… (cut at {BODY_LIMIT} bytes)"));
            }
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
                body: shown_body,
                millis: millis(start.elapsed()),
                error: failure.clone(),
            });
        }
        match failure {
            Some(why) => Err(why),
            None => Ok(Answer {
                status,
                headers,
                body: text,
            }),
        }
    }

    /// Sends and reads, within the answer timeout and [`BODY_LIMIT`]:
    /// what came (a status line and headers at least) and why it is not
    /// a complete answer, if it is not.
    async fn exchange(
        &self,
        rb: reqwest::RequestBuilder,
        url: &str,
    ) -> (Option<Received>, Option<String>) {
        let limit = self.answer_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let mut response = match tokio::time::timeout_at(deadline, rb.send()).await {
            Err(_) => {
                return (
                    None,
                    Some(format!(
                        "{url}: no answer within {limit:?} (the connection stayed open, nothing came)"
                    )),
                );
            }
            Ok(Err(e)) => return (None, Some(format!("{url}: {}", describe(&e)))),
            Ok(Ok(r)) => r,
        };
        let mut received = Received {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: Vec::new(),
            cut: false,
        };
        let success = (200..300).contains(&received.status);
        if !success
            && response
                .content_length()
                .is_some_and(|n| n > BODY_LIMIT as u64)
        {
            // Not worth reading: an error body this long is refused anyway.
            received.cut = true;
            return (Some(received), None);
        }
        loop {
            let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
                Err(_) => {
                    let why = format!(
                        "{url}: the {} answer's body did not finish within {limit:?} ({} bytes came)",
                        received.status,
                        received.body.len()
                    );
                    return (Some(received), Some(why));
                }
                Ok(Err(e)) => {
                    let why = format!(
                        "{url}: reading the {} answer's body: {}",
                        received.status,
                        describe(&e)
                    );
                    return (Some(received), Some(why));
                }
                Ok(Ok(None)) => return (Some(received), None),
                Ok(Ok(Some(chunk))) => chunk,
            };
            let room = BODY_LIMIT - received.body.len();
            if chunk.len() > room {
                // Dropping the response closes the connection: the rest
                // of the body is never read.
                received.body.extend_from_slice(&chunk[..room]);
                received.cut = true;
                return (Some(received), None);
            }
            received.body.extend_from_slice(&chunk);
        }
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
            attribution_memo: self.attribution_memo,
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

    /// Whether payments carry mppx's attribution memo.
    pub fn attribution_memo(&self) -> bool {
        self.attribution_memo
    }

    /// The status of the last exchange, even one whose body failed.
    pub fn last_status(&self) -> Option<u16> {
        self.evidence
            .lock()
            .ok()
            .and_then(|e| e.last().map(|x| x.status))
            .filter(|s| *s != 0)
    }

    /// The exchanges so far, for the result of the current check.
    /// Waits on purpose (e.g. until a challenge expires), kept apart from
    /// the harness's own time in the timing breakdown.
    pub async fn pause(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
        if let Ok(mut paused) = self.paused.lock() {
            *paused += duration;
        }
    }

    fn take_paused(&self) -> Duration {
        self.paused
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

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
    pub millis: f64,
    /// Of `millis`, the deliberate waits (see [`Ctx::pause`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub paused_millis: f64,
    pub exchanges: Vec<Exchange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc: Option<Vec<RpcRecord>>,
}

/// Milliseconds to the microsecond, for evidence and timing.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// Where a run's time went: in the target (waiting for its answers), in
/// deliberate waits, and in the harness (its checks' own work, including
/// its chain calls, and set-up: chain, target start, payer funding).
#[derive(Debug, Default, Clone, Copy)]
pub struct Timing {
    pub total: Duration,
    pub in_checks: Duration,
    pub answers: Duration,
    pub paused: Duration,
}

impl Timing {
    pub fn of(results: &[&CheckResult], total: Duration) -> Self {
        let ms = |x: f64| Duration::from_secs_f64(x / 1e3);
        Timing {
            total,
            in_checks: results.iter().map(|r| ms(r.millis)).sum(),
            answers: results
                .iter()
                .flat_map(|r| &r.exchanges)
                .map(|e| ms(e.millis))
                .sum(),
            paused: results.iter().map(|r| ms(r.paused_millis)).sum(),
        }
    }

    /// The harness's own time: everything but the target's answers and
    /// the deliberate waits.
    pub fn harness(&self) -> Duration {
        self.total.saturating_sub(self.answers + self.paused)
    }

    pub fn setup(&self) -> Duration {
        self.total.saturating_sub(self.in_checks)
    }
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let active = self.total.saturating_sub(self.paused).as_secs_f64();
        let share = if active > 0.0 {
            100.0 * self.harness().as_secs_f64() / active
        } else {
            0.0
        };
        write!(
            f,
            "{:.2}s: target answers {:.2}s, deliberate waits {:.2}s, harness {:.2}s ({share:.0}% of the time not spent waiting on purpose; set-up {:.2}s of it)",
            self.total.as_secs_f64(),
            self.answers.as_secs_f64(),
            self.paused.as_secs_f64(),
            self.harness().as_secs_f64(),
            self.setup().as_secs_f64(),
        )
    }
}

/// Runs every check in order against one target.
pub async fn run_all(
    ctx: &Ctx,
    selection: &crate::report::Selection,
    mut progress: impl FnMut(&CheckResult),
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for (n, check) in checks::ALL.iter().enumerate() {
        if !selection.selects(n, check.id) {
            continue;
        }
        ctx.take_evidence();
        ctx.take_rpc();
        ctx.take_paused();
        let start = Instant::now();
        let outcome =
            match tokio::time::timeout(Duration::from_secs(60), checks::run(check, ctx)).await {
                Ok(o) => o,
                Err(_) => Outcome::error("the check did not finish within 60 s"),
            };
        let exchanges = ctx.take_evidence();
        let outcome = unanswered(outcome, &exchanges);
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
            millis: millis(start.elapsed()),
            paused_millis: millis(ctx.take_paused()),
            exchanges,
            rpc: ctx.take_rpc(),
        };
        progress(&result);
        results.push(result);
    }
    results
}

/// A check one of whose exchanges got no usable answer decided nothing
/// about the server: it is `error`, whatever it concluded without that
/// answer (`blocked` for a missing challenge, `fail` from the answers that
/// did come), and the reason says what went wrong. A `pass` or `skip`
/// stands: a check passes on a lost exchange only when it judged what did
/// come (e.g. a 431 status line for an oversized credential).
fn unanswered(outcome: Outcome, exchanges: &[Exchange]) -> Outcome {
    let lost: Vec<&str> = exchanges
        .iter()
        .filter_map(|e| e.error.as_deref())
        .collect();
    let Some(first) = lost.first() else {
        return outcome;
    };
    if matches!(
        outcome.verdict,
        Verdict::Error | Verdict::Pass | Verdict::Skip
    ) {
        return outcome;
    }
    let mut why = format!("no usable answer from the server: {first}");
    if lost.len() > 1 {
        why.push_str(&format!(
            " ({} exchanges of {} lost)",
            lost.len(),
            exchanges.len()
        ));
    }
    if !outcome.detail.contains(first) {
        why.push_str(&format!(
            "\nWithout it the check concluded {}: {}",
            outcome.verdict.as_str(),
            outcome.detail
        ));
    }
    Outcome::error(why)
}
