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

/// Without `feePayer`, each open and topUp pays its own fees: a fee
/// token, no fee-payer placeholder (§"Client Requirements").
fn client_paid_fees(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    fee_fields(r, paid_check, false)
}

/// With `feePayer: true`, each open and topUp is signed for the server to
/// sponsor: the `0x00` placeholder, no fee token (§"Client Requirements").
fn sponsored_placeholder(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    fee_fields(r, paid_check, true)
}

/// The fee fields of every open and topUp transaction the client sent,
/// decoded; whether the chain took them is the other checks' business
/// (a server refuses a transaction that asks for a sponsorship it did not
/// offer).
fn fee_fields(r: &Record, paid_check: &str, sponsored: bool) -> Result<Outcome, Outcome> {
    let sent = sent(r);
    let funding: Vec<&Sent> = sent
        .iter()
        .filter(|s| matches!(s.action(), "open" | "topUp"))
        .collect();
    if funding.is_empty() {
        return Err(blocked(format!(
            "no open or topUp credential was sent, {paid_check}"
        )));
    }
    let mut seen = Vec::new();
    let mut envelopes = 0;
    for s in funding {
        let raw = s
            .text("transaction")
            .and_then(|t| alloy::hex::decode(t).ok())
            .ok_or_else(|| "no hex transaction".to_string());
        if raw.as_ref().is_ok_and(|r| r.first() == Some(&0x78)) {
            envelopes += 1;
        }
        let payment = raw.and_then(|raw| crate::reference::tx::decode_payment(&raw));
        let payment = match payment {
            Ok(p) => p,
            Err(e) => {
                return Ok(fail(
                    "a signed Tempo transaction in the payload",
                    format!("{}: {e}", s.describe()),
                ));
            }
        };
        let fee_token = payment
            .tx()
            .fee_token
            .filter(|t| *t != alloy::primitives::Address::ZERO);
        let problem = match (sponsored, payment.awaits_fee_payer, fee_token) {
            (true, false, _) => Some(
                "no fee-payer placeholder: signed to pay its own fees although the server sponsors them"
                    .to_string(),
            ),
            (true, true, Some(t)) => Some(format!("fee_token {t} set (must be empty or 0x80)")),
            (false, true, _) => Some(
                "signed with the fee-payer placeholder although the challenge does not sponsor fees"
                    .to_string(),
            ),
            (false, false, None) => Some("no fee_token".to_string()),
            _ => None,
        };
        if let Some(problem) = problem {
            let wanted = if sponsored {
                "fee_payer_signature 0x00 and no fee_token for feePayer: true"
            } else {
                "a fee_token and no fee-payer placeholder without feePayer"
            };
            return Ok(fail(wanted, format!("{}: {problem}", s.describe())));
        }
        seen.push(match fee_token {
            Some(t) => format!("{} (fee_token {t})", s.action()),
            None => format!("{} (placeholder, no fee_token)", s.action()),
        });
    }
    if envelopes > 0 {
        return Ok(Outcome {
            verdict: mppconf_suite::vectors::Verdict::Warn,
            detail: format!(
                "{}; {envelopes} sent as a 0x78 fee-payer envelope (the sender's address in the fee-payer slot), the SDKs' wire form, where the draft names a 0x76 transaction with the 0x00 placeholder (ambiguity.fee-payer-wire-format)",
                seen.join(", ")
            ),
        });
    }
    Ok(Outcome::pass(seen.join(", ")))
}

/// Before the client runs: a channel of its own key on the route's
/// escrow, to the route's payee, with a deposit of one unit that the payee
/// has settled in full, and the challenge suggesting it
/// (`methodDetails.channelId`, no `suggestedDeposit`: §"Method Details",
/// existing channel), bound again by the server's secret.
pub async fn suggest_drained_channel(
    env: &Env,
    client_key: &alloy::signers::local::PrivateKeySigner,
    built: &mut Built,
) -> crate::error::Result<()> {
    use crate::reference::tx;
    let setup = |e: String| crate::error::Error::Setup(format!("draining a channel: {e}"));
    let mut challenge = built
        .payable
        .clone()
        .ok_or_else(|| setup("the scenario has no challenge".into()))?;
    let terms = crate::methods::tempo_session::SessionTerms::from_request(&challenge.request.value)
        .map_err(setup)?;
    let payer = crate::methods::tempo_session::SessionPayer::new(
        client_key.clone(),
        terms.clone(),
        &env.rpc_url,
    );
    let rpc = crate::chain::Rpc::new(&env.rpc_url);
    let open = payer
        .open_payload(
            terms.price,
            terms.price,
            crate::methods::tempo_session::OpenFlaw::None,
        )
        .await
        .map_err(setup)?;
    let raw = open
        .get("transaction")
        .and_then(Value::as_str)
        .and_then(|t| alloy::hex::decode(t).ok())
        .ok_or_else(|| setup("the open has no transaction".into()))?;
    let sent = rpc
        .call(
            "eth_sendRawTransactionSync",
            serde_json::json!([alloy::primitives::Bytes::from(raw)]),
        )
        .await?;
    let payee = env
        .route(built.path)
        .session
        .as_ref()
        .map(|s| tx::signer_from_key(&s.payee_key, "payee_key"))
        .transpose()?
        .ok_or_else(|| setup("the route has no payee key".into()))?;
    let settle = crate::chain::escrow::ITempoStreamChannel::settleCall {
        channelId: payer.channel_id(),
        cumulativeAmount: terms.price.saturating_to(),
        signature: payer.sign(terms.price).into(),
    };
    let calls = vec![tx::call(
        terms.escrow,
        alloy::sol_types::SolCall::abi_encode(&settle),
    )];
    let signed = tx::sign_calls(&rpc, terms.chain_id, Some(terms.currency), calls, &payee).await?;
    let settled = rpc
        .call(
            "eth_sendRawTransactionSync",
            serde_json::json!([alloy::primitives::Bytes::from(signed.raw)]),
        )
        .await?;
    if sent["status"] != "0x1" || settled["status"] != "0x1" {
        return Err(setup(format!(
            "the open or the payee's settle reverted: {sent} {settled}"
        )));
    }
    let mut request = challenge.request.value.clone();
    request["methodDetails"]["channelId"] = payer.channel_id().to_string().into();
    if let Some(r) = request.as_object_mut() {
        r.remove("suggestedDeposit");
    }
    challenge.request = mppconf_suite::codec::EncodedJson::canonical(request);
    env.bind(&mut challenge);
    built.script.www_authenticate = vec![header(&challenge)];
    built.payable = Some(challenge);
    Ok(())
}

/// The challenge suggests a channel of the client's whose deposit is all
/// settled (deposit - settled = 0, below one unit): the client must not
/// resume it as it is (§"Method Details": it MUST check `deposit -
/// settled >= amount` first, and SHOULD top it up or open a new one). A
/// voucher or close for the suggested channel before any topUp of it is
/// paying on a channel that cannot pay.
fn suggested_channel_funds_checked(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let suggested = r
        .payable
        .as_ref()
        .and_then(|c| c.request.value["methodDetails"]["channelId"].as_str())
        .map(str::to_lowercase)
        .ok_or_else(|| Outcome::error("the scenario's challenge suggests no channel"))?;
    let sent = sent(r);
    if sent.is_empty() {
        return Err(blocked(format!(
            "no session credential was sent, {paid_check}"
        )));
    }
    let on_suggested = |s: &&Sent| {
        s.text("channelId")
            .is_some_and(|c| c.eq_ignore_ascii_case(&suggested))
    };
    let first = sent.iter().find(on_suggested);
    match first {
        Some(s) if s.action() != "topUp" => Ok(fail(
            format!(
                "no voucher on the suggested channel {suggested} (deposit - settled = 0) before a topUp of it: a new channel, or a topUp first"
            ),
            format!("{} on it", s.describe()),
        )),
        Some(_) => Ok(Outcome::pass(format!(
            "the suggested, drained channel {suggested} was topped up before it was used"
        ))),
        None => Ok(Outcome::pass(format!(
            "the suggested channel {suggested} (deposit - settled = 0) was left alone: {}",
            sent.first().map(Sent::describe).unwrap_or_default()
        ))),
    }
}
