//! The context a check works with: it sends the resource's requests
//! (answers bounded in time and size, kept as evidence with credentials
//! redacted; the types are in [`super::exchange`]), pays (the method
//! plug-in or the user's payer) and sees the chain.

use mppconf_suite::codec::challenge::PAYMENT_AUTHORIZATION;
use mppconf_suite::drafts::CoreDraft;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use mppconf_suite::codec::Challenge;
use mppconf_suite::vectors::Verdict;

use super::core::declared::Probes;
use super::exchange::{Answer, Exchange, Outcome, Target, describe, redact, stale_connection};
use super::millis;
use crate::chain::RpcProxy;
use crate::chain::proxy::RpcRecord;
use crate::methods::{PayContext, PaymentMethod};
use crate::payer::{ExternalPayer, PayerError, Resource};

mod leaks;

/// Who pays the challenges the checks need a valid credential for.
#[derive(Clone)]
pub enum Payer {
    /// The resource's method, if it is built in ([`crate::methods::BUILTIN`]).
    Builtin,
    /// The user's payer program ([`crate::payer`]).
    External(Arc<ExternalPayer>),
}

/// Why a check that needs a payment cannot run without a payer.
pub fn no_payer(method: &str) -> String {
    format!("no built-in support for method {method}: give a payer (--payer payer.json)")
}

/// Everything a check may use; evidence accumulates per check.
pub struct Ctx {
    pub target: Target,
    http: reqwest::Client,
    /// A funded account on the target's chain (built-in on-chain methods
    /// pay from it).
    pub account: PrivateKeySigner,
    pub payer: Payer,
    /// The resource's payment method (`method` of its challenge), its
    /// intent, and the plug-in for them when mppconf has one.
    pub method_name: String,
    pub intent: String,
    pub method: Option<&'static dyn PaymentMethod>,
    pub proxy: Option<Arc<RpcProxy>>,
    /// The server's other resources in this run (cross-resource binding).
    pub others: Vec<Target>,
    /// The server's declared routes, on the first resource's context only.
    /// The discovery document the server declares (its path), if any:
    /// without one, a missing `/openapi.json` is no finding.
    pub discovery: Option<String>,
    /// Whether this is the server's first resource, the one server-wide
    /// checks (the discovery document) are judged with.
    pub first_resource: bool,
    pub probes: Option<Probes>,
    /// The challenge-binding (HMAC) secret, when the harness knows it.
    pub hmac_secret: Option<Vec<u8>>,
    /// The core draft the run judges against (`--core`).
    pub core: CoreDraft,
    /// The field credentials go in: `authorization`, or under -01
    /// `payment-authorization` when the resource's challenge selects it.
    pub credential_field: &'static str,
    evidence: Mutex<Vec<Exchange>>,
    /// Deliberate waits (outlasting an `expires`) of the current check.
    paused: Mutex<Duration>,
    /// The syntax slips of the challenges the current check went on with.
    tolerated: Mutex<Vec<String>>,
    /// The current check judges a refused connection or handshake itself
    /// (it is the finding), rather than being unable to judge.
    refusals_judged: std::sync::atomic::AtomicBool,
    /// What no answer may contain: (what it is, the text).
    secrets: Vec<(String, String)>,
    /// Where the current check saw a secret or its own credential
    /// material in an answer.
    leaks: Mutex<Vec<String>>,
    answer_timeout: Duration,
    attribution_memo: bool,
    /// Where the current check's chain calls start in the proxy's record.
    rpc_from: std::sync::atomic::AtomicUsize,
    /// How to restart the server, when the harness started it.
    pub restart: Option<Arc<dyn super::restart::Restart>>,
    /// Other checks run at the same time, each from its own context and
    /// paying account ([`Ctx::fork`]): what the server did on chain is
    /// this check's only where it carries this context's account.
    concurrent: bool,
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

/// What came back of one exchange, usable or not.
struct Received {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    /// The body was longer than [`BODY_LIMIT`] and is cut there.
    cut: bool,
}

impl Ctx {
    /// A context for a Tempo charge resource paid by the built-in method;
    /// see [`Ctx::with_method`] and [`Ctx::with_payer`].
    pub fn new(target: Target, account: PrivateKeySigner, proxy: Option<Arc<RpcProxy>>) -> Self {
        let http = crate::tls::http_client(target.ca.as_ref())
            .build()
            .unwrap_or_default();
        Self {
            target,
            http,
            account,
            payer: Payer::Builtin,
            method_name: "tempo".into(),
            intent: "charge".into(),
            method: crate::methods::builtin("tempo", "charge"),
            proxy,
            probes: None,
            discovery: None,
            first_resource: true,
            hmac_secret: None,
            core: CoreDraft::Draft00,
            credential_field: "authorization",
            evidence: Mutex::default(),
            paused: Mutex::default(),
            tolerated: Mutex::default(),
            refusals_judged: Default::default(),
            secrets: Vec::new(),
            others: Vec::new(),
            leaks: Mutex::default(),
            answer_timeout: ANSWER_TIMEOUT,
            attribution_memo: false,
            rpc_from: Default::default(),
            restart: None,
            concurrent: false,
        }
    }

    /// How the harness restarts the server (the servers it started).
    pub fn with_restart(mut self, restart: Option<Arc<dyn super::restart::Restart>>) -> Self {
        self.restart = restart;
        self
    }

    /// A context for running checks beside this one's: the same resource,
    /// server, method and settings, its own evidence and check state, and
    /// another paying account (funded by the caller), so that nonces,
    /// balances and broadcasts never mix. Both are marked concurrent.
    pub fn fork(&mut self, account: PrivateKeySigner) -> Ctx {
        self.concurrent = true;
        Ctx {
            target: self.target.clone(),
            http: self.http.clone(),
            account,
            payer: self.payer.clone(),
            method_name: self.method_name.clone(),
            intent: self.intent.clone(),
            method: self.method,
            proxy: self.proxy.clone(),
            others: self.others.clone(),
            probes: self.probes.clone(),
            discovery: self.discovery.clone(),
            first_resource: self.first_resource,
            hmac_secret: self.hmac_secret.clone(),
            core: self.core,
            credential_field: self.credential_field,
            evidence: Mutex::default(),
            paused: Mutex::default(),
            tolerated: Mutex::default(),
            refusals_judged: Default::default(),
            secrets: self.secrets.clone(),
            leaks: Mutex::default(),
            answer_timeout: self.answer_timeout,
            attribution_memo: self.attribution_memo,
            rpc_from: Default::default(),
            restart: self.restart.clone(),
            concurrent: true,
        }
    }

    /// Whether other checks run beside this context's (see [`Ctx::fork`]).
    pub fn is_concurrent(&self) -> bool {
        self.concurrent
    }

    /// The server's declared routes (see [`Probes`]).
    pub fn with_probes(mut self, probes: Option<Probes>) -> Self {
        self.probes = probes;
        self
    }

    /// The server's challenge-binding secret, as the server was given it.
    /// Judges against `core`; under -01 a resource whose challenge has
    /// `header="Payment-Authorization"` gets its credentials there.
    pub fn with_core(mut self, core: CoreDraft, header: Option<&str>) -> Self {
        self.core = core;
        if core.has_header_param() && header == Some(PAYMENT_AUTHORIZATION) {
            self.credential_field = "payment-authorization";
        }
        self
    }

    pub fn with_hmac_secret(mut self, secret: Option<Vec<u8>>) -> Self {
        self.hmac_secret = secret;
        self
    }

    /// The server declares a discovery document at `path`; `first`: this
    /// is its first resource (server-wide checks run with it).
    pub fn with_discovery(mut self, path: Option<String>, first: bool) -> Self {
        self.discovery = path;
        self.first_resource = first;
        self
    }

    /// The server's other resources in this run.
    pub fn with_others(mut self, others: Vec<Target>) -> Self {
        self.others = others;
        self
    }

    /// The resource's method and intent (from its first challenge).
    pub fn with_method(mut self, method: &str, intent: &str) -> Self {
        self.method_name = method.to_string();
        self.intent = intent.to_string();
        self.method = crate::methods::builtin(method, intent);
        self
    }

    pub fn with_payer(mut self, payer: Payer) -> Self {
        self.payer = payer;
        self
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

    /// The run's HTTP client (it trusts the target's authority), for a
    /// check that reads an answer as it streams.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
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
        self.request_on(&self.http, method, url, authorization, body, extra)
            .await
    }

    /// [`Ctx::request`] on another HTTP client (one that insists on TLS
    /// 1.3, say).
    pub async fn request_on(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
        authorization: &[&str],
        body: Option<&[u8]>,
        extra: &[(&str, &str)],
    ) -> Result<Answer, String> {
        let mut rb = http.request(method.clone(), url);
        let mut shown = vec![format!("{method} {url}")];
        for a in authorization {
            rb = rb.header(self.credential_field, *a);
            shown.push(format!(
                "{}: {}",
                self.credential_field,
                redact(self.credential_field, a)
            ));
        }
        for (k, v) in extra {
            rb = rb.header(*k, *v);
            shown.push(format!("{k}: {}", redact(k, v)));
        }
        if let Some(b) = body {
            rb = rb.body(b.to_vec());
            shown.push(format!("({} byte body)", b.len()));
        }
        let start = Instant::now();
        // A pooled connection the target reset or closed (after a 500,
        // say) gives no answer: once, on a fresh connection, the request
        // is sent again, so that one check's transport hiccup does not
        // spill into the next.
        let retry = rb.try_clone();
        let (mut received, mut failure) = self.exchange(rb, url).await;
        if received.is_none()
            && failure.as_deref().is_some_and(stale_connection)
            && let Some(rb) = retry
        {
            shown.push(format!(
                "(sent again on a fresh connection after: {})",
                failure.as_deref().unwrap_or_default()
            ));
            let fresh = crate::tls::http_client(self.target.ca.as_ref())
                .pool_max_idle_per_host(0)
                .build()
                .unwrap_or_default();
            let again = match rb.build_split().1 {
                Ok(request) => self.exchange_request(&fresh, request, url).await,
                Err(e) => (None, Some(format!("{url}: {e}"))),
            };
            received = again.0;
            failure = again.1;
        }
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
        self.scan(url, status, &headers, &text, authorization);
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
        match rb.build_split() {
            (client, Ok(request)) => self.exchange_request(&client, request, url).await,
            (_, Err(e)) => (None, Some(format!("{url}: {e}"))),
        }
    }

    async fn exchange_request(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        url: &str,
    ) -> (Option<Received>, Option<String>) {
        let limit = self.answer_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let mut response = match tokio::time::timeout_at(deadline, client.execute(request)).await {
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

    /// The first Payment challenge of an unpaid request for the
    /// resource's method and intent.
    pub async fn fresh_challenge(&self) -> Result<Challenge, String> {
        self.fresh_challenge_with_fields()
            .await
            .map(|(challenge, _)| challenge)
    }

    /// [`fresh_challenge`](Self::fresh_challenge) and the
    /// `WWW-Authenticate` field values it came in.
    async fn fresh_challenge_with_fields(&self) -> Result<(Challenge, Vec<String>), String> {
        let answer = self.send(&[], None).await?;
        let fields = answer.challenge_fields();
        let all = mppconf_suite::codec::challenge::parse_all_lenient(&fields)
            .map_err(|e| format!("no payable challenge: WWW-Authenticate is malformed: {e}"))?;
        let mut reasons = Vec::new();
        for c in all {
            match c {
                // A syntax slip is the challenge.* checks' to judge; the
                // other checks go on with the challenge as it came, and
                // say so (see `tolerate`).
                Ok((c, slips))
                    if c.method.eq_ignore_ascii_case(&self.method_name)
                        && c.intent.eq_ignore_ascii_case(&self.intent) =>
                {
                    self.tolerate(slips);
                    return Ok((c, fields));
                }
                Ok((c, _)) => {
                    reasons.push(format!("{}/{} is not this resource's", c.method, c.intent))
                }
                Err(e) => reasons.push(format!("invalid challenge: {e}")),
            }
        }
        Err(format!(
            "no payable challenge: no payable {}/{} challenge ({})",
            self.method_name,
            self.intent,
            if reasons.is_empty() {
                "none offered".to_string()
            } else {
                reasons.join("; ")
            }
        ))
    }

    /// What a built-in method needs to pay for this target.
    pub fn pay_context(&self) -> PayContext {
        self.pay_context_for(&self.target)
    }

    fn pay_context_for(&self, target: &Target) -> PayContext {
        PayContext {
            http_method: target.method.clone(),
            url: target.url(),
            body: target.body.clone(),
            account_key: self.account.to_bytes().to_string(),
            rpc_url: self.target.rpc_url.clone(),
            attribution_memo: self.attribution_memo,
        }
    }

    /// Pays `challenge` (as it came in `fields`, or as a check changed it)
    /// with the run's payer; `Err` ends the check (see
    /// [`Ctx::valid_credential`]).
    pub async fn pay(
        &self,
        challenge: &Challenge,
        fields: &[String],
    ) -> Result<mppconf_suite::codec::Credential, Outcome> {
        self.pay_for(&self.target, challenge, fields).await
    }

    /// [`Ctx::pay`] for a challenge of another resource of the server.
    pub async fn pay_for(
        &self,
        target: &Target,
        challenge: &Challenge,
        fields: &[String],
    ) -> Result<mppconf_suite::codec::Credential, Outcome> {
        let blocked = |detail: String| Outcome {
            verdict: Verdict::Blocked,
            detail,
        };
        match &self.payer {
            Payer::External(payer) => {
                let resource = Resource {
                    method: target.method.clone(),
                    url: target.url(),
                };
                payer
                    .pay(challenge, &fields.join(", "), &resource)
                    .await
                    .map_err(|e| match e {
                        PayerError::Declined { .. } => blocked(e.to_string()),
                        PayerError::Broken { .. } => Outcome::error(e.to_string()),
                    })
            }
            Payer::Builtin => match self.method {
                Some(method) => method
                    .pay(challenge, &self.pay_context_for(target))
                    .await
                    .map_err(blocked),
                None => Err(Outcome::skip(no_payer(&self.method_name))),
            },
        }
    }

    /// A valid credential for a fresh challenge, not yet sent, from the
    /// run's payer. `Err` ends the check: `blocked` without a payable
    /// challenge or when the payer declines, `skip` when no payer can pay
    /// the method, `error` (naming the payer) when the payer broke its ABI.
    pub async fn valid_credential(
        &self,
    ) -> Result<(Challenge, mppconf_suite::codec::Credential), Outcome> {
        let blocked = |detail: String| Outcome {
            verdict: Verdict::Blocked,
            detail,
        };
        let (challenge, fields) = self.fresh_challenge_with_fields().await.map_err(blocked)?;
        if challenge.expires.is_none() {
            self.tolerate(vec![
                "no expires: paid with a validBefore of the payer's choosing".into(),
            ]);
        }
        let credential = self.pay(&challenge, &fields).await?;
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

    /// Notes syntax slips of a challenge a check goes on with.
    pub fn tolerate(&self, slips: Vec<String>) {
        if let Ok(mut t) = self.tolerated.lock() {
            for s in slips {
                if !t.contains(&s) {
                    t.push(s);
                }
            }
        }
    }

    /// Says that the current check judges exchanges that get no answer
    /// (a TLS version refused is what `transport.tls13` looks for): its
    /// verdict stands instead of turning into `error`.
    pub fn judge_refusals(&self) {
        self.refusals_judged
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the current check judged its refusals, forgotten.
    pub(super) fn take_refusals_judged(&self) -> bool {
        self.refusals_judged
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// The slips tolerated during the current check, forgotten.
    pub(super) fn take_tolerated(&self) -> Vec<String> {
        self.tolerated
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
    }

    pub(super) fn take_paused(&self) -> Duration {
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

    /// The chain calls the server made since the last take (when the
    /// harness proxies its RPC): the current check's, and with concurrent
    /// checks also those of the checks running beside it.
    pub fn take_rpc(&self) -> Option<Vec<RpcRecord>> {
        use std::sync::atomic::Ordering;
        self.proxy.as_ref().map(|p| {
            let from = self.rpc_from.load(Ordering::Relaxed);
            let records = p.records_from(from);
            self.rpc_from.store(from + records.len(), Ordering::Relaxed);
            records
        })
    }

    /// The transactions the server broadcast during the current check
    /// (None when the harness does not see its chain calls). With
    /// concurrent checks, only those this context's account signed: the
    /// others are the neighbours' payments.
    pub fn broadcasts(&self) -> Option<Vec<String>> {
        use std::sync::atomic::Ordering;
        let proxy = self.proxy.as_ref()?;
        let sent = proxy.broadcasts_from(self.rpc_from.load(Ordering::Relaxed));
        if !self.concurrent {
            return Some(sent);
        }
        let own = self.account.address();
        Some(
            sent.into_iter()
                .filter(|raw| {
                    // A Tempo payment, or an EVM transaction (EVM charge).
                    alloy::hex::decode(raw).ok().is_some_and(|bytes| {
                        crate::reference::tx::decode_payment(&bytes).is_ok_and(|p| p.sender == own)
                            || crate::reference::evm::decode_transfer(&bytes)
                                .is_ok_and(|t| t.from == own)
                    })
                })
                .collect(),
        )
    }
}
