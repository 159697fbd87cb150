//! What the client signs and sends on a session: its payloads, the
//! channel it opens, its voucher signatures, their order, its answers to
//! `payment-need-voucher`, its close and its `Idempotency-Key`.

use super::*;

pub(super) fn payloads_valid(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let raw: Vec<String> = crate::client_suite::check::credentials_sent(r);
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

pub(super) fn channel_id(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
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

pub(super) fn open_as_challenged(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
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

pub(super) fn voucher_signatures(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
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

pub(super) fn monotonic(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
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

pub(super) fn pays_when_asked(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
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

pub(super) fn closes(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
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
pub(super) fn idempotency_key(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
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
