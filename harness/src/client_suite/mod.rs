//! The client suite: mppconf plays the server. Each scenario is a fresh
//! scenario server ([`scenario`]) with a scripted 402; the client under
//! test makes one paid request to it; the checks judge what
//! the client sent (every request, recorded) and what it did on chain
//! (every RPC call, through the recording proxy), never what it says
//! about itself.
//!
//! The checks are filed by spec: [`core`] (draft-httpauth-payment-00, for
//! a client of any method), [`header`] (what draft-httpauth-payment-01
//! adds: the `header` parameter, listed only in a run against -01), the
//! method's own ([`tempo_charge`]), which the method plug-in ([`METHOD`])
//! brings with its scenarios, and [`discovery`]
//! (draft-payment-discovery-00).
//!
//! The client under test is the reference client (`mppconf pay`,
//! in-process, with its deviation switches) or any program described by a
//! client target manifest ([`manifest`]).

pub mod card;
mod check;
pub mod command;
pub mod core;
pub mod discovery;
pub mod evm_charge;
pub mod fuzz;
pub mod header;
mod invocation;
pub mod manifest;
pub mod method_rules;
pub mod scenario;
pub mod tempo_charge;
pub mod tempo_session;

pub use check::{Check, Need, ScenarioDef, judge};
pub use invocation::{ClientRun, Invocation, program_run};

use mppconf_suite::drafts::CoreDraft;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use alloy::primitives::{Address, U256};
use mppconf_suite::codec::{BindingSlots, Challenge, EncodedJson, base64url, content_digest};
use serde::Serialize;
use serde_json::{Value, json};

use crate::chain::RpcProxy;
use crate::chain::proxy::RpcRecord;
use crate::error::{Error, Result};
use crate::reference::client::Deviation;
use crate::reference::server::RouteConfig;
use crate::reference::tx;
use crate::tls::LocalCa;
use manifest::ClientTarget;
use scenario::{OnCredential, Scenario, Script, Seen};

/// The method the scenarios pay with: the scenario server issues and
/// verifies its challenges (Tempo charge, the method with a verifying
/// reference server on the local chain).
pub const METHOD: &dyn crate::methods::PaymentMethod = &crate::methods::tempo_charge::TempoCharge;

/// Every client check of every core draft (to select and list them).
pub fn checks() -> Vec<&'static Check> {
    core::CHECKS
        .iter()
        .chain(header::CHECKS)
        .chain(METHOD.client_checks())
        .chain(discovery::CHECKS)
        .collect()
}

/// The checks of a run against `draft`, in report order: the core ones,
/// -01's `header` ones (under -01), then the method's.
pub fn checks_for(draft: CoreDraft) -> Vec<&'static Check> {
    checks()
        .into_iter()
        .filter(|c| draft.has_header_param() || !header::CHECKS.iter().any(|h| h.id == c.id))
        .collect()
}

/// The checks of a run of `method`'s scenarios: a charge run's are
/// [`checks_for`]; a session run judges the session checks alone (the
/// core checks need the charge scenarios).
pub fn checks_of(
    method: &dyn crate::methods::PaymentMethod,
    draft: CoreDraft,
) -> Vec<&'static Check> {
    if runs_alone(method) {
        method.client_checks().iter().collect()
    } else {
        checks_for(draft)
    }
}

/// The scenarios of a run of `method` ([`checks_of`]).
pub fn scenarios_of(
    method: &dyn crate::methods::PaymentMethod,
    draft: CoreDraft,
) -> Vec<&'static ScenarioDef> {
    if runs_alone(method) {
        method.client_scenarios().iter().collect()
    } else {
        scenarios_for(draft)
    }
}

/// Whether a run of `method` judges its own checks alone: every method
/// but [`METHOD`], whose scenarios the core checks are judged on.
pub fn runs_alone(method: &dyn crate::methods::PaymentMethod) -> bool {
    (method.name(), method.intents()) != (METHOD.name(), METHOD.intents())
}

/// The scenario whose payment is the control of a run's refusal checks
/// (a client that pays nothing refuses everything).
pub fn control_scenario(method: &dyn crate::methods::PaymentMethod) -> &'static str {
    if method.name() == crate::methods::PaymentMethod::name(&crate::methods::evm_charge::EvmCharge)
    {
        evm_charge::CONTROL
    } else {
        "standard"
    }
}

/// Every scenario of a run against `draft`, in run order.
pub fn scenarios_for(draft: CoreDraft) -> Vec<&'static ScenarioDef> {
    let header = if draft.has_header_param() {
        header::SCENARIOS
    } else {
        &[]
    };
    core::SCENARIOS
        .iter()
        .chain(header)
        .chain(METHOD.client_scenarios())
        .collect()
}

/// The requirements a client check cites: its own and what the charge
/// intent's and the method's specs add (every scenario is a charge).
pub fn cited(check: &Check) -> Vec<&'static str> {
    let mut requirements = check.requirements.to_vec();
    requirements.extend(charge_cites(check.id));
    requirements.extend(METHOD.also_cites(check.id));
    requirements
}

/// Requirements of draft-payment-intent-charge-00 that a core client
/// check also exercises.
fn charge_cites(check_id: &str) -> &'static [&'static str] {
    match check_id {
        // §"Transport Security": TLS 1.2 or later for every charge flow.
        "transport.tls" | "transport.no-plain-http" => &["charge.transport.tls"],
        _ => &[],
    }
}

/// More requests than this to one scenario is a flood: the client's
/// checks for it are `error`, not judged.
pub const FLOOD_LIMIT: usize = 20;

/// The client being judged.
pub enum ClientUnderTest {
    /// `mppconf pay`, in-process, breaking the given rules on purpose.
    Reference { deviations: BTreeSet<Deviation> },
    /// A program described by a client target manifest.
    Program(Box<ClientTarget>),
}

impl ClientUnderTest {
    pub fn label(&self) -> String {
        match self {
            ClientUnderTest::Reference { deviations } if deviations.is_empty() => {
                "mppconf pay (reference)".into()
            }
            ClientUnderTest::Reference { deviations } => format!(
                "mppconf pay --deviate {}",
                deviations
                    .iter()
                    .map(|d| d.name())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            ClientUnderTest::Program(t) => t.label(),
        }
    }

    /// The command that reruns the suite against this client.
    pub fn reproduce(&self) -> String {
        match self {
            ClientUnderTest::Reference { deviations } => {
                std::iter::once("mppconf client --reference".to_string())
                    .chain(deviations.iter().map(|d| format!("--deviate {}", d.name())))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            ClientUnderTest::Program(t) => format!("mppconf client --target {}", t.path.display()),
        }
    }

    /// The exit codes the client may end with (its manifest's
    /// `exit_codes`); any other is a crash. `None`: any code.
    pub fn exit_codes(&self) -> Option<Vec<i32>> {
        match self {
            ClientUnderTest::Reference { .. } => None,
            ClientUnderTest::Program(t) => t.client.exit_codes.clone(),
        }
    }

    fn sends_bodies(&self) -> bool {
        match self {
            ClientUnderTest::Reference { .. } => true,
            ClientUnderTest::Program(t) => t.sends_bodies(),
        }
    }

    fn takes_policy(&self) -> bool {
        match self {
            ClientUnderTest::Reference { .. } => true,
            ClientUnderTest::Program(t) => t.takes_policy(),
        }
    }

    fn takes_budget(&self) -> bool {
        match self {
            ClientUnderTest::Reference { .. } => true,
            ClientUnderTest::Program(t) => t.takes_budget(),
        }
    }

    fn has_strict_mode(&self) -> bool {
        match self {
            ClientUnderTest::Reference { .. } => true,
            ClientUnderTest::Program(t) => t.client.strict_command.is_some(),
        }
    }

    /// What a client of a method the harness cannot pay is offered.
    pub fn offer(&self) -> Option<&manifest::Offer> {
        match self {
            ClientUnderTest::Reference { .. } => None,
            ClientUnderTest::Program(t) => t.offer.as_ref(),
        }
    }

    fn claims(&self) -> manifest::Claims {
        match self {
            ClientUnderTest::Reference { .. } => manifest::Claims::default(),
            ClientUnderTest::Program(t) => t.claims.clone(),
        }
    }
}

/// The run's fixed parts: the chain, the proxy the client's RPC goes
/// through, and the reference server that settles forwarded credentials.
pub struct Env {
    pub chain_id: u64,
    /// The chain itself (funding, balances), not recorded.
    pub rpc_url: String,
    pub proxy: Arc<RpcProxy>,
    pub realm: String,
    pub secret: Vec<u8>,
    pub routes: Vec<RouteConfig>,
    /// The reference server's base URL.
    pub settle_at: String,
    /// The authority of the TLS scenarios, and its certificate as a PEM
    /// file for the client (`{ca_cert}`, and the usual trust variables).
    pub tls: Arc<LocalCa>,
    pub ca_file: PathBuf,
    /// The core draft the scenarios' challenges and the reference server
    /// follow.
    pub core: CoreDraft,
    /// The challenge a client of a method the harness cannot pay is
    /// offered (its manifest's `[offer]`; [`method_rules`]).
    pub offer: Option<manifest::Offer>,
    /// The EIP-3009 token of an EVM charge run (its payers are funded in
    /// it and approve Permit2); `None`: payers get PathUSD.
    pub evm_token: Option<Address>,
}

/// The route whose challenges select `Payment-Authorization` (-01 only).
pub const PAYMENT_AUTHORIZATION_ROUTE: &str = "/payment-authorization";

/// The reference server's routes, one per kind of scenario; under -01
/// also one whose challenges select `Payment-Authorization`.
pub fn routes(draft: CoreDraft) -> Vec<RouteConfig> {
    // Checksummed with at least one capital, so that the address-case
    // scenario's lowercase form differs from it as text (an address whose
    // hex letters all checksum to lowercase, about one in 2^15, would let
    // a text-comparing client through and the check prove nothing).
    let merchant = std::iter::repeat_with(|| Address::random().to_string())
        .find(|m| m.chars().any(|c| c.is_ascii_uppercase()))
        .unwrap_or_default();
    let with = |path: &str, f: &dyn Fn(&mut RouteConfig)| {
        let mut r = RouteConfig::new(path, "1000", &merchant);
        r.expires_in = 60;
        f(&mut r);
        r
    };
    vec![
        with("/std", &|r| {
            r.memo = Some(format!("0x{}", "42".repeat(32)));
            r.splits = vec![
                crate::reference::server::SplitConfig {
                    amount: "100".into(),
                    recipient: Address::random().to_string(),
                    memo: None,
                },
                crate::reference::server::SplitConfig {
                    amount: "50".into(),
                    recipient: Address::random().to_string(),
                    memo: Some(format!("0x{}", "43".repeat(32))),
                },
            ];
        }),
        with("/plain", &|_| {}),
        with("/digest", &|r| r.method = "POST".into()),
        with("/sponsored", &|r| r.fee_payer = true),
        with("/pull-only", &|r| {
            r.supported_modes = Some(vec!["pull".into()])
        }),
        with("/push-only", &|r| {
            r.supported_modes = Some(vec!["push".into()])
        }),
        with("/free", &|r| r.amount = "0".into()),
        // The merchant in lowercase hex and a split in uppercase hex: the
        // same 20-byte addresses as the checksummed policy names.
        with("/address-case", &|r| {
            r.recipient = r.recipient.to_lowercase();
            r.splits = vec![crate::reference::server::SplitConfig {
                amount: "10".into(),
                recipient: format!("0x{}", r.recipient[2..].to_uppercase()),
                memo: None,
            }];
        }),
    ]
    .into_iter()
    .chain(draft.has_header_param().then(|| {
        with(PAYMENT_AUTHORIZATION_ROUTE, &|r| {
            r.credential_header =
                Some(mppconf_suite::codec::challenge::PAYMENT_AUTHORIZATION.into())
        })
    }))
    .collect()
}

/// The most the client may pay in one request, in base units: ten times
/// more than any scenario's honest price (1000), a tenth of what the
/// over-limit scenario asks.
pub const POLICY_MAX_AMOUNT: &str = "100000";

/// The body the digest scenario binds.
pub const DIGEST_BODY: &str = "{\"report\":\"monthly\"}";

impl Env {
    pub fn route(&self, path: &str) -> &RouteConfig {
        self.routes
            .iter()
            .find(|r| r.path == path)
            .expect("every scenario names one of routes()")
    }

    /// A correct challenge for a route, bound by the reference server's
    /// secret, with an `opaque` whose keys are deliberately not sorted
    /// (echoing it "unchanged" means byte for byte).
    pub fn challenge(&self, path: &str) -> Challenge {
        let route = self.route(path);
        let body = (route.method == "POST").then_some(DIGEST_BODY.as_bytes());
        let opaque_text = format!(
            "{{\"z\":\"last\",\"nonce\":\"{}\",\"a\":\"first\"}}",
            alloy::primitives::B128::random()
        );
        let mut c = Challenge {
            id: String::new(),
            realm: self.realm.clone(),
            method: route.payment_method.clone(),
            intent: route.intent().into(),
            request: EncodedJson::canonical(route.request(self.chain_id)),
            expires: Some(rfc3339_in(route.expires_in as i64)),
            digest: body.map(content_digest::compute_sha256),
            description: None,
            opaque: Some(EncodedJson {
                wire: base64url::encode(opaque_text.as_bytes()),
                value: serde_json::from_str(&opaque_text).unwrap_or_default(),
            }),
            unknown_params: route
                .credential_header
                .iter()
                .map(|h| ("header".to_string(), h.clone()))
                .collect(),
        };
        self.bind(&mut c);
        c
    }

    /// Recomputes the id over the challenge's slots (under -01 with the
    /// `header` slot when the challenge has one).
    pub fn bind(&self, c: &mut Challenge) {
        c.id = BindingSlots::of(c, self.core).challenge_id(&self.secret);
    }

    /// A challenge for `/plain` whose request is replaced.
    pub fn challenge_with_request(&self, request: Value) -> Challenge {
        let mut c = self.challenge("/plain");
        c.request = EncodedJson::canonical(request);
        self.bind(&mut c);
        c
    }

    pub fn plain_request(&self) -> Value {
        self.route("/plain").request(self.chain_id)
    }
}

/// RFC 3339 UTC, `secs` from now (negative: in the past).
pub fn rfc3339_in(secs: i64) -> String {
    crate::reference::server::rfc3339_at(tx::unix_now().saturating_add_signed(secs))
}

/// The header value of a challenge our codec formats.
pub fn header(c: &Challenge) -> String {
    c.to_header().unwrap_or_else(|e| {
        panic!("scenario challenges are well formed: {e}");
    })
}

/// What a scenario gives the client and what a correct client does.
pub struct Built {
    pub script: Script,
    /// The challenge a correct client pays; `None`: it pays nothing.
    pub payable: Option<Challenge>,
    /// The route whose resource the client requests.
    pub path: &'static str,
    pub body: Option<&'static [u8]>,
    /// Run the client without its plain-http allowance.
    pub strict: bool,
    /// Serve the scenario over TLS (the client is given the authority).
    pub tls: bool,
    /// A session scenario whose challenge suggests resuming a channel of
    /// the client's own key that has nothing left
    /// ([`tempo_session::suggest_drained_channel`]).
    pub drained_channel: bool,
    /// A card scenario whose challenge names a JWK Set mppconf serves (on
    /// another origin or the realm's), started with the scenario
    /// ([`card::ForeignJwks`]).
    pub foreign_jwks: Option<card::ForeignJwks>,
}

impl Built {
    pub fn paying(path: &'static str, challenges: Vec<String>, payable: Challenge) -> Self {
        Self {
            script: Script {
                www_authenticate: challenges,
                on_credential: OnCredential::Settle,
            },
            payable: Some(payable),
            path,
            body: None,
            strict: false,
            tls: false,
            drained_channel: false,
            foreign_jwks: None,
        }
    }

    pub fn refusing(challenges: Vec<String>) -> Self {
        Self {
            script: Script {
                www_authenticate: challenges,
                on_credential: OnCredential::Settle,
            },
            payable: None,
            path: "/plain",
            body: None,
            strict: false,
            tls: false,
            drained_channel: false,
            foreign_jwks: None,
        }
    }
}

/// Everything a scenario produced, for the checks to judge.
#[derive(Serialize)]
pub struct Record {
    pub scenario: &'static str,
    #[serde(skip)]
    pub payable: Option<Challenge>,
    #[serde(skip)]
    pub body: Option<&'static [u8]>,
    /// The resource's URL.
    pub url: String,
    pub seen: Vec<Seen>,
    pub rpc: Vec<RpcRecord>,
    pub run: ClientRun,
    /// The payer's address and its token balance change.
    pub payer: Address,
    #[serde(skip)]
    pub payer_spent: U256,
    /// Why TLS handshakes with the scenario failed (TLS scenarios).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_failures: Vec<String>,
    /// A session scenario's stream as the client saw it, and what the
    /// escrow emitted for the channel the client opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<scenario::StreamTally>,
    #[serde(skip)]
    pub escrow_events: Vec<crate::chain::escrow::EscrowEvent>,
    /// The EVM charge credential types the client claims to pay with.
    #[serde(skip)]
    pub evm_credential_types: Vec<String>,
    /// What the client asked of the other origin that served a card
    /// scenario's JWK Set ([`card`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign_fetches: Vec<String>,
}

/// A scenario that was not run, and why (a check of it is `skip`).
pub struct NotRun {
    pub scenario: &'static str,
    pub why: String,
}

/// A fresh payer of a scenario, funded with PathUSD, and its balance then.
pub struct Payer {
    pub signer: alloy::signers::local::PrivateKeySigner,
    before: U256,
}

impl Payer {
    /// Its private key as `0x` hex (`{payer_key}`).
    pub fn key(&self) -> String {
        format!("0x{}", alloy::hex::encode(self.signer.to_bytes()))
    }
}

impl Env {
    fn path_usd() -> Result<Address> {
        crate::chain::anvil::PATH_USD
            .parse()
            .map_err(|_| Error::Setup("PathUSD address".into()))
    }

    /// The token payers are funded in.
    fn currency(&self) -> Result<Address> {
        self.evm_token.map_or_else(Self::path_usd, Ok)
    }

    /// A fresh account funded with 10 PathUSD, or in an EVM charge run
    /// with the run's token, gas and Permit2's approval.
    pub async fn fund_payer(&self) -> Result<Payer> {
        let chain = crate::chain::Rpc::new(&self.rpc_url);
        let currency = self.currency()?;
        let signer = match self.evm_token {
            Some(token) => crate::methods::evm_charge::fresh_payer(&self.rpc_url, token).await?,
            None => {
                let signer = alloy::signers::local::PrivateKeySigner::random();
                tx::fund(
                    &chain,
                    currency,
                    signer.address(),
                    U256::from(10_000_000u64),
                )
                .await?;
                signer
            }
        };
        let before = tx::balance_of(&chain, currency, signer.address()).await?;
        Ok(Payer { signer, before })
    }

    /// What the payer spent since it was funded.
    pub async fn spent(&self, payer: &Payer) -> Result<U256> {
        let chain = crate::chain::Rpc::new(&self.rpc_url);
        let after = tx::balance_of(&chain, self.currency()?, payer.signer.address()).await?;
        Ok(payer.before.saturating_sub(after))
    }
}

/// Runs one scenario with a fresh funded payer.
pub async fn run_scenario(
    env: &Env,
    client: &ClientUnderTest,
    name: &'static str,
    built: Built,
) -> Result<Record> {
    let mut payer = env.fund_payer().await?;
    let mut built = built;
    if built.drained_channel {
        tempo_session::suggest_drained_channel(env, &payer.signer, &mut built).await?;
        payer.before = tx::balance_of(
            &crate::chain::Rpc::new(&env.rpc_url),
            env.currency()?,
            payer.signer.address(),
        )
        .await?;
    }
    let session = matches!(built.script.on_credential, OnCredential::Session(_));
    // A JWK Set mppconf serves: its URL is known once it listens, and the
    // client is given the authority, so that a client that fetches it
    // (from the realm's origin, or without comparing origins) gets it.
    let foreign = match built.foreign_jwks.take() {
        Some(jwks) => {
            let origin =
                scenario::ForeignOrigin::start(&env.tls, jwks.set.clone(), jwks.at).await?;
            let challenge = jwks.challenge_at(env, &origin.url());
            built.script.www_authenticate = vec![header(&challenge)];
            if built.payable.is_some() {
                built.payable = Some(challenge);
            }
            Some(origin)
        }
        None => None,
    };
    let scenario = Scenario::start(
        built.script,
        &env.settle_at,
        built.tls.then_some(env.tls.as_ref()),
    )
    .await?;
    let url = format!("{}{}", scenario.origin(), built.path);
    env.proxy.clear();
    let route_method = env.route(built.path).method.clone();
    let run = client
        .run(&Invocation {
            url: url.clone(),
            method: &route_method,
            body: built.body,
            payer_key: payer.key(),
            rpc_url: env.proxy.url(),
            chain_id: env.chain_id,
            strict: built.strict,
            ca_file: (built.tls || foreign.is_some()).then(|| env.ca_file.clone()),
            max_amount: POLICY_MAX_AMOUNT,
            // A session or EVM route pays its own payee; the Tempo
            // charge routes one merchant, named as /plain names it.
            recipient: &env
                .route(
                    if env.route(built.path).session.is_some()
                        || env.route(built.path).evm.is_some()
                    {
                        built.path
                    } else {
                        "/plain"
                    },
                )
                .recipient,
            currency: env.currency()?.to_checksum(None),
            operation: "",
            name: "",
            core: env.core,
        })
        .await;
    let seen = scenario.seen();
    let mut run = run;
    if run.failure.is_none() && seen.len() > FLOOD_LIMIT {
        run.failure = Some(format!(
            "the client sent {} requests for one paid request (more than {FLOOD_LIMIT})",
            seen.len()
        ));
    }
    let payer_spent = env.spent(&payer).await?;
    let (stream, escrow_events) = if session {
        (
            Some(scenario.tally()),
            tempo_session::escrow_events(&env.rpc_url, &seen).await,
        )
    } else {
        (None, Vec::new())
    };
    Ok(Record {
        scenario: name,
        payable: built.payable,
        body: built.body,
        url,
        seen,
        rpc: env.proxy.records(),
        run,
        payer: payer.signer.address(),
        payer_spent,
        tls_failures: scenario.tls_failures(),
        stream,
        escrow_events,
        evm_credential_types: client.claims().evm_credential_types,
        foreign_fetches: foreign.map(|f| f.fetches()).unwrap_or_default(),
    })
}

/// Evidence of a record, credentials redacted (they stay in memory for
/// the checks only).
pub fn evidence(record: &Record) -> Value {
    let requests: Vec<Value> = record
        .seen
        .iter()
        .map(|s| {
            let headers: Vec<Value> = s
                .headers
                .iter()
                .map(|(n, v)| {
                    let text = String::from_utf8_lossy(v);
                    let shown = if scenario::is_credential(v) && text.len() > 24 {
                        format!("{}… ({} bytes, redacted)", &text[..16], text.len())
                    } else {
                        text.into_owned()
                    };
                    json!([n, shown])
                })
                .collect();
            json!({
                "origin": s.origin, "method": s.method, "path": s.path,
                "headers": headers, "body_bytes": s.body.len(), "answered": s.status,
            })
        })
        .collect();
    let rpc: Vec<Value> = record
        .rpc
        .iter()
        .map(|r| json!({"method": r.method, "micros": r.micros}))
        .collect();
    let mut evidence = json!({
        "scenario": record.scenario,
        "url": record.url,
        "client": record.run,
        "requests": requests,
        "rpc": rpc,
        "payer": record.payer,
        "payer_spent": record.payer_spent.to_string(),
    });
    if let Some(stream) = &record.stream {
        evidence["stream"] = json!(stream);
        evidence["escrow_events"] = record
            .escrow_events
            .iter()
            .map(|e| format!("{e:?}"))
            .collect();
    }
    evidence
}
