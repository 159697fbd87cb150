//! The scenario server: per scenario a fresh port that answers the
//! client's first request with a scripted 402 and records every request
//! the client sends. Credentials are forwarded to the run's reference
//! server (same realm and HMAC secret as the scripted challenges), so a
//! correct payment of a correct challenge settles for real, and a wrong
//! one is refused there without anything broadcast.
//!
//! A second origin (another port) exists for the redirect scenario: the
//! credentialed retry is answered `307` to it, and what arrives there is
//! recorded too.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::background::Background;
use crate::error::{Error, Result};
use crate::tls::LocalCa;

/// What a scenario answers.
#[derive(Debug, Clone)]
pub struct Script {
    /// The `WWW-Authenticate` field values of the 402, one per field line.
    pub www_authenticate: Vec<String>,
    /// What answers a request that carries a Payment credential (in any
    /// field).
    pub on_credential: OnCredential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCredential {
    /// Forward to the reference server, which verifies and settles.
    Settle,
    /// `307 Temporary Redirect` to the same path on the other origin.
    RedirectElsewhere,
    /// `402 verification-failed` with the same challenges: a method the
    /// harness cannot verify without its live rail (the credential is
    /// recorded, never taken as paid).
    Unverified,
    /// A session: forward to the reference server, which verifies and
    /// settles, and pass its metered stream on through the [`StreamLie`].
    Session(StreamLie),
}

/// What the scenario does to a session's metered stream on its way to the
/// client: the server's lies a paying client must not believe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamLie {
    /// Nothing: the reference server's stream as it is.
    None,
    /// Every `payment-need-voucher` claims `acceptedCumulative` and
    /// `requiredCumulative` this much higher than the server's accounting.
    Inflate(alloy::primitives::U256),
    /// No unit of content reaches the client (the server still charges
    /// for them); `payment-need-voucher` events pass.
    DropContent,
}

/// What reached the client of a session scenario's streams.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamTally {
    /// Units of content passed on.
    pub delivered: usize,
    /// The `payment-need-voucher` data passed on, as the client saw it.
    pub needs: Vec<String>,
    /// Whether a stream reached its final `payment-receipt` event.
    pub completed: bool,
}

/// One request the client sent.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    /// `main` (the scenario's origin) or `other` (the redirect target).
    pub origin: &'static str,
    pub method: String,
    pub path: String,
    #[serde(skip)]
    pub headers: Vec<(String, Vec<u8>)>,
    #[serde(skip)]
    pub body: Vec<u8>,
    /// The status the scenario answered.
    pub status: u16,
}

impl Seen {
    /// Every value of a header, as text (bytes outside ASCII kept lossily).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// The values of every field that carry a Payment credential, in
    /// whatever field the client put them (`Authorization`, -01's
    /// `Payment-Authorization`, or one no draft names): where it went is
    /// the field checks' business, that it was sent at all everyone's.
    pub fn payment_credentials(&self) -> Vec<String> {
        self.credential_fields()
            .into_iter()
            .map(|(_, value)| value)
            .collect()
    }

    /// [`Seen::payment_credentials`] with the field each came in.
    pub fn credential_fields(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(_, v)| is_credential(v))
            .map(|(n, v)| {
                (
                    n.to_ascii_lowercase(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }
}

/// A field value in the Payment scheme (`Payment ` and a token68).
pub fn is_credential(value: &[u8]) -> bool {
    value.len() >= 8 && value[..8].eq_ignore_ascii_case(b"payment ")
}

struct State {
    script: Script,
    /// The run's reference server, e.g. `http://127.0.0.1:4021`.
    settle_at: String,
    /// The other origin, for redirects.
    elsewhere: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    tally: Arc<Mutex<StreamTally>>,
    http: reqwest::Client,
}

/// A running scenario: its two origins stop when it is dropped.
pub struct Scenario {
    main: Background,
    _other: Background,
    seen: Arc<Mutex<Vec<Seen>>>,
    tally: Arc<Mutex<StreamTally>>,
    /// Why TLS handshakes with the main origin failed (TLS scenarios).
    tls_failures: Arc<Mutex<Vec<String>>>,
}

impl Scenario {
    /// Starts the scenario's origins; the main one over TLS with a
    /// certificate of `tls` when given.
    pub async fn start(script: Script, settle_at: &str, tls: Option<&LocalCa>) -> Result<Self> {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let other_listener = bind().await?;
        let other_addr = other_listener
            .local_addr()
            .map_err(|e| Error::Setup(format!("scenario server: {e}")))?;
        let log = seen.clone();
        let other = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let log = log.clone();
                async move {
                    record(&log, "other", &method, &uri, &headers, &body, 200);
                    (StatusCode::OK, "moved here\n").into_response()
                }
            },
        );
        let other = Background::serve(other_listener, other)?;
        let tally: Arc<Mutex<StreamTally>> = Arc::default();
        let state = Arc::new(State {
            tally: tally.clone(),
            script,
            settle_at: settle_at.trim_end_matches('/').to_string(),
            elsewhere: format!("http://{other_addr}"),
            seen: seen.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Setup(e.to_string()))?,
        });
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { answer(&state, method, uri, headers, body).await }
            },
        );
        let (main, tls_failures) = match tls {
            Some(ca) => {
                let listener = ca.listener(bind().await?, crate::tls::Serving::default())?;
                let failures = listener.failures();
                (Background::serve_tls(listener, app)?, failures)
            }
            None => (Background::serve(bind().await?, app)?, Arc::default()),
        };
        Ok(Self {
            main,
            _other: other,
            seen,
            tally,
            tls_failures,
        })
    }

    /// Why TLS handshakes failed so far.
    pub fn tls_failures(&self) -> Vec<String> {
        self.tls_failures
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    /// The scenario's origin, `http(s)://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        self.main.url()
    }

    /// What reached the client of the session streams so far.
    pub fn tally(&self) -> StreamTally {
        self.tally.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Everything the client sent so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// An origin serving one JWK Set at `/jwks.json` over TLS with the run's
/// authority ([`super::card`]): another origin than the scenario's
/// (`https://localhost:PORT`), or the realm's own, `https://127.0.0.1`
/// on port 443, held by one scenario of this process at a time. It
/// records every request and every failed TLS handshake, each an attempt
/// to fetch from it.
pub struct ForeignOrigin {
    server: Background,
    hits: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<Vec<String>>>,
    /// Port 443 of 127.0.0.1, while this origin listens there.
    realm: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl ForeignOrigin {
    pub async fn start(ca: &LocalCa, set: serde_json::Value, at: JwksAt) -> Result<Self> {
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = hits.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
            let (log, set) = (log.clone(), set.clone());
            async move {
                if let Ok(mut hits) = log.lock() {
                    hits.push(format!("{method} {uri}"));
                }
                let mut response = (StatusCode::OK, set.to_string()).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/jwk-set+json"),
                );
                response
            }
        });
        let (tcp, realm) = match at {
            JwksAt::OtherOrigin => (bind().await?, None),
            JwksAt::RealmOrigin => {
                let held = REALM_ORIGIN.clone().lock_owned().await;
                let tcp = bind_realm()
                    .await
                    .map_err(|e| Error::Setup(format!("{REALM_UNAVAILABLE} ({e})")))?;
                (tcp, Some(held))
            }
        };
        let listener = ca.listener(tcp, crate::tls::Serving::default())?;
        let failures = listener.failures();
        Ok(Self {
            server: Background::serve_tls(listener, app)?,
            hits,
            failures,
            realm,
        })
    }

    /// The set's URL: on host `localhost` and the origin's port, or on the
    /// realm's origin (the default port, not written).
    pub fn url(&self) -> String {
        if self.realm.is_some() {
            "https://127.0.0.1/jwks.json".into()
        } else {
            format!("https://localhost:{}/jwks.json", self.server.addr.port())
        }
    }

    /// Every request the origin answered and every handshake that failed.
    pub fn fetches(&self) -> Vec<String> {
        let read = |m: &Mutex<Vec<String>>| m.lock().map(|v| v.clone()).unwrap_or_default();
        let mut all = read(&self.hits);
        all.extend(
            read(&self.failures)
                .into_iter()
                .map(|e| format!("a TLS handshake ({e})")),
        );
        all
    }
}

/// Where a scenario's JWK Set is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksAt {
    /// `https://localhost:PORT`: another host and port than the realm's.
    OtherOrigin,
    /// `https://127.0.0.1`: the origin of the run's realm `127.0.0.1`.
    RealmOrigin,
}

/// The realm's origin: `127.0.0.1` on the https default port.
const REALM_ADDR: &str = "127.0.0.1:443";

/// Why a scenario needing the realm's origin cannot run.
pub const REALM_UNAVAILABLE: &str = "mppconf cannot listen on 127.0.0.1:443, the origin (https://127.0.0.1) of the run's realm 127.0.0.1, so it cannot serve a JWK Set there; run where port 443 may be bound";

/// One scenario at a time on the realm's origin, in this process.
static REALM_ORIGIN: std::sync::LazyLock<Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Arc::default);

/// Whether the realm's origin is out of reach: port 443 of 127.0.0.1
/// cannot be bound (no permission, or another program holds it), waiting
/// for this process's other scenarios to let go of it.
pub async fn realm_origin_unavailable() -> bool {
    let _held = REALM_ORIGIN.clone().lock_owned().await;
    bind_realm().await.is_err()
}

/// Binds the realm's origin. A scenario's origin that just stopped may
/// still hold the port for a moment (its server closes gracefully), so
/// "in use" is retried for up to five seconds.
async fn bind_realm() -> std::io::Result<tokio::net::TcpListener> {
    let mut tries = 0;
    loop {
        match tokio::net::TcpListener::bind(REALM_ADDR).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 100 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

async fn bind() -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Setup(format!("scenario server: cannot listen: {e}")))
}

fn record(
    log: &Mutex<Vec<Seen>>,
    origin: &'static str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    status: u16,
) {
    if let Ok(mut log) = log.lock() {
        log.push(Seen {
            origin,
            method: method.to_string(),
            path: uri.path().to_string(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: body.to_vec(),
            status,
        });
    }
}

async fn answer(
    state: &State,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let has_credential = headers.contains_key(header::AUTHORIZATION)
        || headers.values().any(|v| is_credential(v.as_bytes()));
    let response = if !has_credential {
        payment_required(&state.script)
    } else {
        match state.script.on_credential {
            OnCredential::Settle => forward(state, &method, &uri, &headers, &body, None).await,
            OnCredential::Session(lie) => {
                forward(state, &method, &uri, &headers, &body, Some(lie)).await
            }
            OnCredential::Unverified => unverified(&state.script),
            OnCredential::RedirectElsewhere => {
                let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("{}{}", state.elsewhere, uri.path()))
                {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
        }
    };
    record(
        &state.seen,
        "main",
        &method,
        &uri,
        &headers,
        &body,
        response.status().as_u16(),
    );
    response
}

fn payment_required(script: &Script) -> Response {
    let body = serde_json::json!({
        "type": "https://paymentauth.org/problems/payment-required",
        "title": "Payment Required",
        "status": 402,
        "detail": "Payment required for access.",
    });
    let mut response = (StatusCode::PAYMENT_REQUIRED, body.to_string()).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for value in &script.www_authenticate {
        // Bytes, not text: some scenarios carry non-ASCII (obs-text).
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            h.append(header::WWW_AUTHENTICATE, v);
        }
    }
    response
}

/// The answer to a credential no one here can verify: a fresh 402 whose
/// problem says so.
fn unverified(script: &Script) -> Response {
    let mut response = payment_required(script);
    let body = serde_json::json!({
        "type": "https://paymentauth.org/problems/verification-failed",
        "title": "Verification Failed",
        "status": 402,
        "detail": "mppconf recorded the credential but cannot verify this method's payment without its live rail.",
    });
    *response.body_mut() = Body::from(body.to_string());
    response
}

/// Passes the credentialed request to the reference server and its answer
/// back (a session's stream as it comes, through `lie`); a failure to
/// reach it is the harness's, answered 502.
async fn forward(
    state: &State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    lie: Option<StreamLie>,
) -> Response {
    let mut rb = state
        .http
        .request(method.clone(), format!("{}{}", state.settle_at, uri.path()));
    for (name, value) in headers {
        if name == header::AUTHORIZATION
            || name == header::CONTENT_TYPE
            || name.as_str() == "payment-authorization"
            || (lie.is_some() && (name == header::ACCEPT || name.as_str() == "idempotency-key"))
        {
            rb = rb.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match rb.body(body.to_vec()).send().await {
        Ok(a) => a,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("mppconf: the reference server did not answer: {e}\n"),
            )
                .into_response();
        }
    };
    let status = answer.status();
    let mut out = Response::builder().status(status.as_u16());
    for (name, value) in answer.headers() {
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let streams = answer
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    let body = match lie {
        Some(lie) if streams => relay(answer, lie, state.tally.clone()),
        _ => Body::from(answer.bytes().await.unwrap_or_default()),
    };
    out.body(body)
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// A session's metered stream, event by event, through `lie`, counting
/// what reaches the client.
fn relay(answer: reqwest::Response, lie: StreamLie, tally: Arc<Mutex<StreamTally>>) -> Body {
    use futures::StreamExt;
    use mppconf_suite::methods::tempo_session_stream::{EventReader, NeedVoucher};
    let upstream = Box::pin(answer.bytes_stream());
    let events = futures::stream::unfold(
        (upstream, EventReader::default()),
        move |(mut upstream, mut reader)| {
            let tally = tally.clone();
            async move {
                loop {
                    while let Some(event) = reader.next_event() {
                        let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
                        let data = if event.is_content() {
                            if lie == StreamLie::DropContent {
                                continue;
                            }
                            tally.delivered += 1;
                            event.data
                        } else if event.name == "payment-need-voucher" {
                            let data = match (lie, NeedVoucher::parse(&event.data)) {
                                (StreamLie::Inflate(by), Ok(need)) => serde_json::json!({
                                    "channelId": need.channel_id.to_string(),
                                    "acceptedCumulative": (need.accepted_cumulative + by).to_string(),
                                    "requiredCumulative": (need.required_cumulative + by).to_string(),
                                    "deposit": need.deposit.to_string(),
                                })
                                .to_string(),
                                _ => event.data,
                            };
                            tally.needs.push(data.clone());
                            data
                        } else {
                            if event.name == "payment-receipt" {
                                tally.completed = true;
                            }
                            event.data
                        };
                        let mut text = String::new();
                        if !event.name.is_empty() {
                            text.push_str(&format!("event: {}\n", event.name));
                        }
                        for line in data.split('\n') {
                            text.push_str(&format!("data: {line}\n"));
                        }
                        text.push('\n');
                        return Some((Ok::<_, std::convert::Infallible>(text), (upstream, reader)));
                    }
                    match upstream.next().await {
                        Some(Ok(chunk)) => reader.push(&chunk),
                        _ => return None,
                    }
                }
            }
        },
    );
    Body::from_stream(events)
}
