//! draft-tempo-session-00 for a paying client: scripted session servers
//! (the reference session server on mppconf's escrow, its metered stream
//! passed through a [`StreamLie`]) and the checks of what the client
//! signed, sent and did on chain.
//!
//! Every amount is judged from what the client sent and what the escrow
//! emitted, never from what the client says: the channel it opened is
//! read from its own `open` transaction ([`OpenedChannel`]).

use alloy::primitives::U256;
use mppconf_suite::codec::Credential;
use mppconf_suite::methods::rules::{self, Part};
use serde_json::Value;

use super::check::{Check, Need, ScenarioDef, blocked, c, fail, should};
use super::scenario::{OnCredential, Seen, StreamLie};
use super::{Built, Env, POLICY_MAX_AMOUNT, Record, header};
use crate::chain::escrow::{Escrow, EscrowEvent};
use crate::methods::tempo_session::OpenedChannel;
use crate::reference::server::{RouteConfig, SessionRoute};
use crate::server_suite::Outcome;

mod amounts;
mod funding;
mod signing;

use amounts::{own_accounting, stops_without_delivery, tops_up, within_budget, within_deposit};
pub use funding::suggest_drained_channel;
use funding::{client_paid_fees, sponsored_placeholder, suggested_channel_funds_checked};
use signing::{
    channel_id, closes, idempotency_key, monotonic, open_as_challenged, payloads_valid,
    pays_when_asked, voucher_signatures,
};

/// Every session resource costs this per unit.
const PRICE: u64 = 1000;
/// Units in each metered stream.
const STREAM_UNITS: u32 = 5;
/// What the inflating server adds to `acceptedCumulative` and
/// `requiredCumulative`: five units.
const INFLATION: u64 = 5 * PRICE;

/// The session routes of a session run: a deposit of ten units suggested
/// (`/session`, and `/session-sponsored`, whose server pays the fees of
/// opens and topUps), of two (`/session-small`, short of the stream), and
/// of ten times the client's budget (`/session-rich`).
pub fn routes() -> Vec<RouteConfig> {
    [
        ("/session", 10 * PRICE),
        ("/session-sponsored", 10 * PRICE),
        ("/session-small", 2 * PRICE),
        ("/session-rich", 10_000 * PRICE),
    ]
    .into_iter()
    .map(|(path, suggested)| {
        let payee = alloy::signers::local::PrivateKeySigner::random();
        let mut route = RouteConfig::new(path, &PRICE.to_string(), &payee.address().to_string());
        route.expires_in = 300;
        route.fee_payer = path == "/session-sponsored";
        route.session = Some(SessionRoute {
            escrow_contract: String::new(),
            payee_key: payee.to_bytes().to_string(),
            min_voucher_delta: Some(PRICE.to_string()),
            suggested_deposit: Some(suggested.to_string()),
            stream_units: Some(STREAM_UNITS),
        });
        route
    })
    .collect()
}

fn session(env: &Env, path: &'static str, lie: StreamLie) -> Built {
    let challenge = env.challenge(path);
    let mut built = Built::paying(path, vec![header(&challenge)], challenge);
    built.script.on_credential = OnCredential::Session(lie);
    built
}

pub static SCENARIOS: &[ScenarioDef] = &[
    ScenarioDef {
        name: "session",
        needs: Need::Nothing,
        build: |env| session(env, "/session", StreamLie::None),
    },
    ScenarioDef {
        name: "session-sponsored",
        needs: Need::Nothing,
        build: |env| session(env, "/session-sponsored", StreamLie::None),
    },
    ScenarioDef {
        name: "session-drained-channel",
        needs: Need::Nothing,
        build: |env| Built {
            drained_channel: true,
            ..session(env, "/session", StreamLie::None)
        },
    },
    ScenarioDef {
        name: "session-short-deposit",
        needs: Need::Nothing,
        build: |env| session(env, "/session-small", StreamLie::None),
    },
    ScenarioDef {
        name: "session-over-budget",
        needs: Need::Budget,
        build: |env| session(env, "/session-rich", StreamLie::None),
    },
    ScenarioDef {
        name: "session-inflated-accounting",
        needs: Need::Nothing,
        build: |env| session(env, "/session", StreamLie::Inflate(U256::from(INFLATION))),
    },
    ScenarioDef {
        name: "session-no-delivery",
        needs: Need::Nothing,
        build: |env| session(env, "/session", StreamLie::DropContent),
    },
];

pub static CHECKS: &[Check] = &[
    c(
        "session.payloads-valid",
        &[
            "tempo-session.payload.action",
            "tempo-session.open.fields",
            "tempo-session.voucher.fields",
            "tempo-session.close.fields",
            "tempo-session.topup.fields",
            "tempo-session.encoding.lowercase",
        ],
        "session",
        payloads_valid,
    ),
    c(
        "session.channel-id",
        &[
            "tempo-session.channel.client-compute",
            "tempo-session.reuse.new-channel",
        ],
        "session",
        channel_id,
    ),
    c(
        "session.open-as-challenged",
        &[
            "core.amount.client-verifies",
            "tempo-session.reuse.new-channel",
        ],
        "session",
        open_as_challenged,
    ),
    c(
        "session.voucher-signatures",
        &[
            "tempo-session.eip712.signing-procedure",
            "tempo-session.open.initial-voucher-proof",
        ],
        "session",
        voucher_signatures,
    ),
    c(
        "session.monotonic",
        &["tempo-session.eip712.cumulative"],
        "session",
        monotonic,
    ),
    should(
        "session.pays-when-asked",
        &["tempo-session.streaming.client-responds"],
        "session",
        pays_when_asked,
    ),
    should(
        "session.closes",
        &["tempo-session.close.fields"],
        "session",
        closes,
    ),
    should(
        "session.idempotency-key",
        &["tempo-session.req-idempotency.client-key"],
        "session",
        idempotency_key,
    ),
    c(
        "session.client-paid-fees",
        &[
            "tempo-session.fees.client-paid",
            "tempo-session.fees.client-paid-balance",
        ],
        "session",
        client_paid_fees,
    ),
    c(
        "session.sponsored-placeholder",
        &[
            "tempo-session.fees.client-sponsored-placeholder",
            "tempo-session.fees.sponsored-client-signs",
        ],
        "session-sponsored",
        sponsored_placeholder,
    ),
    c(
        "session.suggested-channel-funds-checked",
        &[
            "tempo-session.reuse.existing-check",
            "tempo-session.reuse.insufficient",
        ],
        "session-drained-channel",
        suggested_channel_funds_checked,
    ),
    c(
        "session.tops-up",
        &["tempo-session.streaming.client-topup"],
        "session-short-deposit",
        tops_up,
    ),
    c(
        "session.within-deposit",
        &[
            "tempo-session.streaming.client-topup",
            "tempo-session.replay.contract-enforces",
        ],
        "session-short-deposit",
        within_deposit,
    ),
    c(
        "session.within-budget",
        &["core.amount.client-verifies"],
        "session-over-budget",
        within_budget,
    ),
    c(
        "session.own-accounting",
        &["core.amount.client-verifies"],
        "session-inflated-accounting",
        own_accounting,
    ),
    should(
        "session.stops-without-delivery",
        &["core.amount.client-verifies"],
        "session-no-delivery",
        stops_without_delivery,
    ),
];

/// One session credential the client sent, in order.
struct Sent {
    method: String,
    status: u16,
    credential: Credential,
}

impl Sent {
    fn action(&self) -> &str {
        self.text("action").unwrap_or_default()
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.credential.payload.get(key).and_then(Value::as_str)
    }

    fn amount(&self, key: &str) -> Option<U256> {
        self.text(key)
            .and_then(|t| U256::from_str_radix(t, 10).ok())
    }

    fn taken(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn describe(&self) -> String {
        format!(
            "{} {} {} (answered {})",
            self.method,
            self.action(),
            self.text("cumulativeAmount")
                .or(self.text("additionalDeposit"))
                .unwrap_or_default(),
            self.status
        )
    }
}

/// Every session credential sent, parsed (one that does not parse is
/// skipped here and failed by `session.payloads-valid`).
fn sent(r: &Record) -> Vec<Sent> {
    r.seen
        .iter()
        .filter(|s| s.origin == "main")
        .flat_map(|s: &Seen| {
            s.payment_credentials()
                .into_iter()
                .filter_map(|raw| Credential::parse(&raw).ok())
                .map(|credential| Sent {
                    method: s.method.clone(),
                    status: s.status,
                    credential,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The client's first `open` and the channel its transaction opens.
fn opened(sent: &[Sent], paid_check: &str) -> Result<(usize, OpenedChannel), Outcome> {
    let Some(at) = sent.iter().position(|s| s.action() == "open") else {
        return Err(blocked(format!(
            "no open credential was sent, {paid_check}"
        )));
    };
    let channel = opened_by(&sent[at].credential)?;
    Ok((at, channel))
}

/// The channel an `open` credential's transaction opens; `Err` fails the
/// check that needs it.
fn opened_by(open: &Credential) -> Result<OpenedChannel, Outcome> {
    let raw = open
        .payload
        .get("transaction")
        .and_then(Value::as_str)
        .and_then(|t| alloy::hex::decode(t).ok())
        .ok_or_else(|| fail("an open payload with a hex transaction", "none"))?;
    OpenedChannel::of_transaction(&raw)
        .map_err(|e| fail("a signed Tempo transaction that opens a channel", e))
}

/// What the later checks need: the open taken by the server (else they
/// have nothing to judge: the open checks say why).
fn open_taken(sent: &[Sent], paid_check: &str) -> Result<(usize, OpenedChannel), Outcome> {
    let (at, channel) = opened(sent, paid_check).map_err(|o| match o.verdict {
        mppconf_suite::vectors::Verdict::Fail => Outcome::skip(format!(
            "the open is not judged here: {} (see session.channel-id)",
            o.detail
        )),
        _ => o,
    })?;
    if !sent[at].taken() {
        return Err(Outcome::skip(format!(
            "the server refused the client's open (answered {}): session.channel-id, session.open-as-challenged and session.voucher-signatures say why",
            sent[at].status
        )));
    }
    Ok((at, channel))
}

fn price_of(r: &Record) -> Result<U256, Outcome> {
    r.payable
        .as_ref()
        .and_then(|c| c.request.value.get("amount")?.as_str().map(str::to_string))
        .and_then(|a| U256::from_str_radix(&a, 10).ok())
        .ok_or_else(|| Outcome::error("the scenario's challenge has no amount"))
}

/// The escrow's events for the channel the client's first `open`
/// transaction opens (nothing when it sent none or it did not decode).
pub async fn escrow_events(rpc_url: &str, seen: &[Seen]) -> Vec<EscrowEvent> {
    let channel = seen
        .iter()
        .flat_map(|s| s.payment_credentials())
        .filter_map(|raw| Credential::parse(&raw).ok())
        .find(|c| c.payload.get("action").and_then(Value::as_str) == Some("open"))
        .and_then(|c| opened_by(&c).ok());
    match channel {
        Some(ch) => Escrow::at(ch.escrow, rpc_url)
            .events(ch.id)
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    }
}
