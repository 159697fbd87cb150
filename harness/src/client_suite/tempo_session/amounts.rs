//! How much the client commits: topUps when the deposit is short, never
//! above the deposit or its budget, never more than one unit beyond what
//! was delivered, whatever the server claims.

use super::*;

pub(super) fn tops_up(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
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

pub(super) fn within_deposit(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
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

pub(super) fn within_budget(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
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

pub(super) fn own_accounting(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    signed_for_delivery(
        r,
        paid_check,
        "the server claimed acceptedCumulative and requiredCumulative five units above its accounting",
    )
}

pub(super) fn stops_without_delivery(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    signed_for_delivery(
        r,
        paid_check,
        "the server delivered nothing and kept asking for vouchers",
    )
}
