//! draft-tempo-session-00 §"Fee Payment": a server that sponsors the
//! fees of opens and topUps (`feePayer: true`) signs for the client's
//! transaction only once it has checked it; an open it refuses must not
//! land on chain at its cost, and nothing but the channel's funding rides
//! on its fees.

use alloy::primitives::{Address, B256};
use mppconf_suite::vectors::Verdict;
use serde_json::Value;

use super::{Session, Step, refused};
use crate::methods::tempo_session::OpenFlaw;
use crate::reference::tx;
use crate::server_suite::check::blocked;
use crate::server_suite::{Ctx, Outcome};

/// A sponsored open of a channel that pays another payee: refused (one
/// that is served is session.open-other-payee-refused's finding), and the
/// channel it would open is not on chain (a server that co-signs and
/// broadcasts first, then looks, has paid for an open it refuses, and the
/// payer's deposit sits in a channel the server cannot serve).
pub(super) async fn validated_first(ctx: &Ctx) -> Step {
    let (s, payload) = Session::opening(ctx, 10, OpenFlaw::OtherPayee).await?;
    sponsoring(&s)?;
    let channel: B256 = payload
        .get("channelId")
        .and_then(Value::as_str)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Outcome::error("the flawed open names no channel id"))?;
    let answer = s.send(payload).await?;
    if (200..300).contains(&answer.status) {
        return Err(blocked(format!(
            "the sponsored open to another payee was served ({}): session.open-other-payee-refused's finding; whether the server validates before it co-signs cannot be told from an open it takes",
            answer.status
        )));
    }
    let verdict = refused(
        &answer,
        "a sponsored open of a channel that pays another payee",
    );
    let on_chain = s
        .escrow()
        .channel(channel)
        .await
        .map_err(|e| Outcome::error(e.to_string()))?;
    if on_chain.payer != Address::ZERO {
        let events = s
            .escrow()
            .events(channel)
            .await
            .map_or_else(|e| e.to_string(), |e| format!("{e:?}"));
        return Ok(Outcome::fail(
            "the sponsored open to another payee never broadcast (validated before the fee payer signature)",
            format!(
                "answered {}, and channel {channel} is open on chain to payee {} with deposit {}: the server co-signed and broadcast it; escrow {} events for the channel: {events}",
                answer.status, on_chain.payee, on_chain.deposit, s.payer.terms.escrow
            ),
        ));
    }
    confirmed(
        ctx,
        verdict,
        &format!("channel {channel} is not on chain (the escrow has no payer for it)"),
    )
    .await
}

/// A sponsored open that also transfers one base unit of the currency to
/// an address of the payer's: refused (the draft does not list which
/// calls a sponsored transaction may make:
/// ambiguity.tempo-session-sponsored-extra-calls). Whether a refused one
/// was broadcast all the same is session.sponsored-open-validated-first's
/// finding; the balance is evidence here.
pub(super) async fn extra_calls(ctx: &Ctx) -> Step {
    let (s, payload) = Session::opening(ctx, 10, OpenFlaw::ExtraTransfer).await?;
    sponsoring(&s)?;
    let to = s.payer.extra_transfer_to();
    let answer = s.send(payload).await?;
    let rpc = crate::chain::Rpc::new(&ctx.target.rpc_url);
    let arrived = tx::balance_of(&rpc, s.payer.terms.currency, to)
        .await
        .map_err(|e| Outcome::error(e.to_string()))?;
    let evidence = format!(
        "{to} holds {arrived} of {}; {}",
        s.payer.terms.currency,
        s.chain_evidence().await
    );
    let verdict = refused(
        &answer,
        "a sponsored open carrying a transfer to another address",
    );
    confirmed(ctx, verdict, &evidence).await
}

/// These checks judge a challenge that sponsors fees.
fn sponsoring(s: &Session) -> Result<(), Outcome> {
    if s.payer.terms.fee_payer {
        Ok(())
    } else {
        Err(Outcome::skip(
            "the challenge does not sponsor fees (no methodDetails.feePayer: true)",
        ))
    }
}

/// A refusal (`verdict`, with `evidence` added) proves something only if
/// a valid sponsored open is then taken.
async fn confirmed(ctx: &Ctx, mut verdict: Outcome, evidence: &str) -> Step {
    verdict.detail = format!("{}; {evidence}", verdict.detail);
    if verdict.verdict != Verdict::Pass {
        return Ok(verdict);
    }
    Session::open(ctx, 10).await.map_err(|o| {
        blocked(format!(
            "a valid sponsored open was not taken either, the refusal proves nothing: {}",
            o.detail
        ))
    })?;
    Ok(Outcome::pass(format!(
        "{}; a valid sponsored open was taken",
        verdict.detail
    )))
}
