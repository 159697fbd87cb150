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

/// Every session resource costs this per unit.
const PRICE: u64 = 1000;
/// Units in each metered stream.
const STREAM_UNITS: u32 = 5;
/// What the inflating server adds to `acceptedCumulative` and
/// `requiredCumulative`: five units.
const INFLATION: u64 = 5 * PRICE;

/// The session routes of a session run: a deposit of ten units suggested
/// (`/session`), of two (`/session-small`, short of the stream), and of
/// ten times the client's budget (`/session-rich`).
pub fn routes() -> Vec<RouteConfig> {
    [
        ("/session", 10 * PRICE),
        ("/session-small", 2 * PRICE),
        ("/session-rich", 10_000 * PRICE),
    ]
    .into_iter()
    .map(|(path, suggested)| {
        let payee = alloy::signers::local::PrivateKeySigner::random();
        let mut route = RouteConfig::new(path, &PRICE.to_string(), &payee.address().to_string());
        route.expires_in = 300;
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

fn payloads_valid(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let raw: Vec<String> = super::check::credentials_sent(r);
    if raw.is_empty() {
        return Err(blocked(format!("no credential was sent, {paid_check}")));
    }
    let mut problems = Vec::new();
    for (n, text) in raw.iter().enumerate() {
        let credential = match Credential::parse(text) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("credential {}: does not parse ({e})", n + 1));
                continue;
            }
        };
        let payload = Value::Object(credential.payload.clone());
        if let Err(e) = rules::validate("tempo", "session", Part::Payload, &payload) {
            problems.push(format!("credential {}: {e}", n + 1));
        }
        // §"Hexadecimal Values": "Implementations MUST use lowercase hex".
        for key in ["channelId", "signature", "transaction"] {
            if let Some(v) = credential.payload.get(key).and_then(Value::as_str)
                && v.chars().any(|ch| ch.is_ascii_uppercase() && ch != 'X')
            {
                problems.push(format!(
                    "credential {}: payload.{key} {:?} is not lowercase hex",
                    n + 1,
                    v.chars().take(20).collect::<String>()
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(Outcome::pass(format!(
            "{} session payload(s) follow the payload schema, in lowercase hex",
            raw.len()
        )));
    }
    Ok(fail(
        "every payload valid against the session payload schema, hex in lowercase",
        problems.join("; "),
    ))
}

fn channel_id(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let sent = sent(r);
    let (at, channel) = opened(&sent, paid_check)?;
    let named = sent[at].text("channelId").unwrap_or_default();
    if !named.eq_ignore_ascii_case(&channel.id.to_string()) {
        return Ok(fail(
            format!(
                "channelId {} (computeChannelId of the open transaction: payer {}, payee {}, token {}, escrow {}, chain {})",
                channel.id,
                channel.payer,
                channel.payee,
                channel.token,
                channel.escrow,
                channel.chain_id
            ),
            named,
        ));
    }
    let on_chain = r
        .escrow_events
        .iter()
        .any(|e| matches!(e, EscrowEvent::Opened { .. }));
    Ok(Outcome::pass(format!(
        "the open names {named}, the channel its transaction opens{}",
        if on_chain {
            " (ChannelOpened on the escrow)"
        } else {
            ""
        }
    )))
}

fn open_as_challenged(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let sent = sent(r);
    let (_, channel) = opened(&sent, paid_check)?;
    let challenge = r
        .payable
        .as_ref()
        .ok_or_else(|| Outcome::error("no payable challenge"))?;
    let terms = crate::methods::tempo_session::SessionTerms::from_request(&challenge.request.value)
        .map_err(Outcome::error)?;
    let problems: Vec<String> = [
        (channel.escrow != terms.escrow)
            .then(|| format!("opened on escrow {}, not {}", channel.escrow, terms.escrow)),
        (channel.payee != terms.recipient)
            .then(|| format!("pays {}, not {}", channel.payee, terms.recipient)),
        (channel.token != terms.currency)
            .then(|| format!("holds {}, not {}", channel.token, terms.currency)),
        (channel.chain_id != terms.chain_id)
            .then(|| format!("on chain {}, not {}", channel.chain_id, terms.chain_id)),
        (channel.deposit < terms.price).then(|| {
            format!(
                "deposit {} below one unit ({})",
                channel.deposit, terms.price
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    if problems.is_empty() {
        return Ok(Outcome::pass(format!(
            "the channel is opened on escrow {} to {} in {} with deposit {}",
            channel.escrow, channel.payee, channel.token, channel.deposit
        )));
    }
    Ok(fail(
        "a channel on the challenge's escrow, to its recipient, in its currency and chain",
        problems.join("; "),
    ))
}

fn voucher_signatures(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let sent = sent(r);
    let (_, channel) = opened(&sent, paid_check)?;
    let mut checked = 0;
    for s in sent
        .iter()
        .filter(|s| matches!(s.action(), "open" | "voucher" | "close"))
    {
        let (Some(amount), Some(signature)) = (
            s.amount("cumulativeAmount"),
            s.text("signature").and_then(|t| alloy::hex::decode(t).ok()),
        ) else {
            return Ok(fail(
                "a decimal cumulativeAmount and a hex signature",
                s.describe(),
            ));
        };
        match channel.voucher_signer(amount, &signature) {
            Ok(a) if a == channel.signer() => checked += 1,
            Ok(a) => {
                return Ok(fail(
                    format!(
                        "{}'s signature over Voucher({}, {amount}) in the domain of escrow {} on chain {}",
                        channel.signer(),
                        channel.id,
                        channel.escrow,
                        channel.chain_id
                    ),
                    format!("{} recovers to {a}", s.describe()),
                ));
            }
            Err(e) => {
                return Ok(fail(
                    "a recoverable voucher signature",
                    format!("{}: {e}", s.describe()),
                ));
            }
        }
    }
    Ok(Outcome::pass(format!(
        "{checked} voucher signature(s) recover to {} over channel {} in escrow {}'s domain",
        channel.signer(),
        channel.id,
        channel.escrow
    )))
}

fn monotonic(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let sent = sent(r);
    opened(&sent, paid_check)?;
    let amounts: Vec<(U256, String)> = sent
        .iter()
        .filter(|s| matches!(s.action(), "open" | "voucher" | "close"))
        .filter_map(|s| Some((s.amount("cumulativeAmount")?, s.describe())))
        .collect();
    if amounts.len() < 2 {
        return Err(Outcome::skip(
            "no voucher after the open: nothing to compare (see session.pays-when-asked)",
        ));
    }
    let mut highest = U256::ZERO;
    for (amount, what) in &amounts {
        if *amount < highest {
            return Ok(fail(
                format!("no voucher below an earlier one ({highest})"),
                what,
            ));
        }
        highest = *amount;
    }
    Ok(Outcome::pass(format!(
        "{} cumulative amounts, never decreasing, up to {highest}",
        amounts.len()
    )))
}

fn pays_when_asked(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let sent = sent(r);
    open_taken(&sent, paid_check)?;
    let stream = r.stream.clone().unwrap_or_default();
    if stream.needs.is_empty() {
        return Err(Outcome::skip(
            "the stream never asked for a voucher (no payment-need-voucher reached the client)",
        ));
    }
    if stream.completed {
        return Ok(Outcome::pass(format!(
            "{} payment-need-voucher event(s) answered; the stream delivered its {} unit(s) and its receipt",
            stream.needs.len(),
            stream.delivered
        )));
    }
    let vouchers = sent.iter().filter(|s| s.action() == "voucher").count();
    Ok(fail(
        "a voucher for each payment-need-voucher, the stream to its end",
        format!(
            "{} payment-need-voucher event(s), {vouchers} voucher(s) sent, {} unit(s) delivered, no final receipt",
            stream.needs.len(),
            stream.delivered
        ),
    ))
}

fn closes(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let sent = sent(r);
    open_taken(&sent, paid_check)?;
    let highest = sent
        .iter()
        .filter(|s| matches!(s.action(), "open" | "voucher"))
        .filter_map(|s| s.amount("cumulativeAmount"))
        .max()
        .unwrap_or_default();
    let Some(close) = sent.iter().find(|s| s.action() == "close") else {
        return Ok(fail(
            "a close credential with the final voucher",
            format!("none sent (highest voucher {highest})"),
        ));
    };
    if close.amount("cumulativeAmount") != Some(highest) {
        return Ok(fail(
            format!("the close carries the final voucher, {highest}"),
            close.describe(),
        ));
    }
    let closed = r.escrow_events.iter().find_map(|e| match e {
        EscrowEvent::Closed { to_payee, to_payer } => Some((*to_payee, *to_payer)),
        _ => None,
    });
    match closed {
        Some((to_payee, to_payer)) => Ok(Outcome::pass(format!(
            "close with the final voucher {highest}; ChannelClosed on chain: {to_payee} to the payee, {to_payer} back to the payer"
        ))),
        None => Ok(fail(
            "the channel closed on chain after the client's close",
            format!("{}; no ChannelClosed event", close.describe()),
        )),
    }
}

/// §"Request Idempotency": "Clients SHOULD include an `Idempotency-Key`
/// header on paid requests": every request with a session credential.
fn idempotency_key(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let paid: Vec<&Seen> = r
        .seen
        .iter()
        .filter(|s| s.origin == "main" && !s.payment_credentials().is_empty())
        .collect();
    if paid.is_empty() {
        return Err(blocked(format!("no credential was sent, {paid_check}")));
    }
    let without: Vec<String> = paid
        .iter()
        .filter(|s| s.header_values("idempotency-key").is_empty())
        .map(|s| format!("{} (answered {})", s.method, s.status))
        .collect();
    if without.is_empty() {
        return Ok(Outcome::pass(format!(
            "all {} paid request(s) carry an Idempotency-Key",
            paid.len()
        )));
    }
    Ok(fail(
        "an Idempotency-Key on every paid session request",
        format!(
            "{} of {} without one: {}",
            without.len(),
            paid.len(),
            without.join(", ")
        ),
    ))
}

fn tops_up(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let sent = sent(r);
    let (_, channel) = open_taken(&sent, paid_check)?;
    if !sent.iter().any(|s| s.action() == "voucher") {
        return Err(Outcome::skip(
            "the client paid nothing after the open (see session.pays-when-asked)",
        ));
    }
    let stream = r.stream.clone().unwrap_or_default();
    let short = stream.needs.iter().any(|n| {
        mppconf_suite::methods::tempo_session_stream::NeedVoucher::parse(n)
            .is_ok_and(|n| n.needs_top_up())
    });
    if !short {
        return Err(Outcome::skip(
            "no payment-need-voucher asked for more than the deposit",
        ));
    }
    let top_ups: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.action() == "topUp" && s.taken())
        .collect();
    let on_chain = r
        .escrow_events
        .iter()
        .filter(|e| matches!(e, EscrowEvent::TopUp { .. }))
        .count();
    if top_ups.is_empty() || on_chain == 0 {
        return Ok(fail(
            format!(
                "a topUp when requiredCumulative exceeds the deposit {}",
                channel.deposit
            ),
            format!(
                "{} topUp(s) taken, {on_chain} TopUp event(s) on chain; the client sent: {}",
                top_ups.len(),
                sent.iter()
                    .map(Sent::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(Outcome::pass(format!(
        "{} topUp(s) when the deposit {} ran short, {on_chain} TopUp event(s) on chain",
        top_ups.len(),
        channel.deposit
    )))
}

fn within_deposit(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let sent = sent(r);
    let (at, channel) = open_taken(&sent, paid_check)?;
    let mut deposit = channel.deposit;
    for s in &sent[at..] {
        match s.action() {
            "topUp" if s.taken() => deposit += s.amount("additionalDeposit").unwrap_or_default(),
            "open" | "voucher" | "close" => {
                let amount = s.amount("cumulativeAmount").unwrap_or_default();
                if amount > deposit {
                    return Ok(fail(
                        format!("no voucher above the deposit ({deposit} then)"),
                        s.describe(),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(Outcome::pass(format!(
        "every voucher within the deposit at the time (finally {deposit})"
    )))
}

fn within_budget(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let sent = sent(r);
    let (_, channel) = opened(&sent, paid_check).map_err(|o| match o.verdict {
        mppconf_suite::vectors::Verdict::Fail => Outcome::skip(o.detail),
        _ => o,
    })?;
    let budget = U256::from_str_radix(POLICY_MAX_AMOUNT, 10).unwrap_or_default();
    let top_ups: U256 = sent
        .iter()
        .filter(|s| s.action() == "topUp")
        .filter_map(|s| s.amount("additionalDeposit"))
        .fold(U256::ZERO, |a, b| a + b);
    let highest = sent
        .iter()
        .filter_map(|s| s.amount("cumulativeAmount"))
        .max()
        .unwrap_or_default();
    let escrowed = channel.deposit + top_ups;
    if escrowed > budget || highest > budget {
        return Ok(fail(
            format!("at most the budget {{max_amount}} = {budget} escrowed and signed"),
            format!(
                "{escrowed} escrowed (suggestedDeposit {}), vouchers up to {highest}",
                r.payable
                    .as_ref()
                    .and_then(|c| c.request.value.get("suggestedDeposit").cloned())
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(Outcome::pass(format!(
        "{escrowed} escrowed and vouchers up to {highest}, within the budget {budget}"
    )))
}

/// At most one unit signed beyond what was delivered.
fn signed_for_delivery(r: &Record, paid_check: &str, lie: &str) -> Result<Outcome, Outcome> {
    let sent = sent(r);
    open_taken(&sent, paid_check)?;
    let price = price_of(r)?;
    let stream = r.stream.clone().unwrap_or_default();
    let highest = sent
        .iter()
        .filter(|s| matches!(s.action(), "open" | "voucher" | "close"))
        .filter_map(|s| s.amount("cumulativeAmount"))
        .max()
        .unwrap_or_default();
    let bound = price * U256::from(stream.delivered as u64 + 1);
    if highest > bound {
        return Ok(fail(
            format!(
                "at most one unit beyond the {} delivered: {bound}",
                stream.delivered
            ),
            format!(
                "vouchers up to {highest} ({lie}; {} payment-need-voucher event(s))",
                stream.needs.len()
            ),
        ));
    }
    Ok(Outcome::pass(format!(
        "vouchers up to {highest} for {} unit(s) delivered at {price} ({lie})",
        stream.delivered
    )))
}

fn own_accounting(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    signed_for_delivery(
        r,
        paid_check,
        "the server claimed acceptedCumulative and requiredCumulative five units above its accounting",
    )
}

fn stops_without_delivery(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    signed_for_delivery(
        r,
        paid_check,
        "the server delivered nothing and kept asking for vouchers",
    )
}
