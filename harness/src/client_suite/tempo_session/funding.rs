//! How the client funds a channel: who pays the fees of its open and
//! topUp (§"Fee Payment"), and whether it resumes a suggested channel
//! that has nothing left (§"Method Details").

use super::*;

/// Without `feePayer`, each open and topUp pays its own fees: a fee
/// token, no fee-payer placeholder (§"Client Requirements").
pub(super) fn client_paid_fees(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    fee_fields(r, paid_check, false)
}

/// With `feePayer: true`, each open and topUp is signed for the server to
/// sponsor: the `0x00` placeholder, no fee token (§"Client Requirements").
pub(super) fn sponsored_placeholder(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
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
    tx::send_mined(&rpc, raw).await?;
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
    tx::send_calls(&rpc, terms.chain_id, terms.currency, calls, &payee).await?;
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
pub(super) fn suggested_channel_funds_checked(
    r: &Record,
    paid_check: &str,
) -> Result<Outcome, Outcome> {
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
