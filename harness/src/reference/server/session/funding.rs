//! §"Open Verification" and §"TopUp Verification": the client's funding
//! transactions, checked, co-signed when the server sponsors their fees
//! (§"Fee Payment") and broadcast.

use super::*;

/// §"Open Verification": the transaction opens the channel the payload
/// names, to this server, in the challenge's token, on its escrow; the
/// server broadcasts it and reads the channel back.
pub(super) async fn open(
    state: &State,
    terms: &SessionTerms,
    p: &Map<String, Value>,
    channel_id: B256,
) -> Result<(), Refusal> {
    if text(p, "type")? != "transaction" {
        return Err(refuse(
            ProblemType::MalformedCredential,
            "payload.type is not \"transaction\"",
        ));
    }
    let raw = bytes(p, "transaction")?;
    let payment = tx::decode_payment(&raw).map_err(fail)?;
    if payment.tx().chain_id != terms.chain_id {
        return Err(fail(format!(
            "the open transaction is for chain {}",
            payment.tx().chain_id
        )));
    }
    let sponsored = sponsorship(terms, &payment)?;
    // The deviation co-signs and broadcasts what it was given, and only
    // then looks at what the transaction does.
    let landed = sponsored && state.deviates(Deviation::SessionSponsorBeforeValidating);
    if landed {
        broadcast(state, terms, &raw, true).await?;
    }
    // The deviation reads the open() call and the channel wherever the
    // transaction sends it.
    let escrow_address = if state.deviates(Deviation::SessionAnyEscrow) {
        payment
            .tx()
            .calls
            .iter()
            .find(|c| E::openCall::abi_decode(&c.input).is_ok())
            .and_then(|c| c.to.to().copied())
            .unwrap_or(terms.escrow)
    } else {
        terms.escrow
    };
    let escrow = &Escrow::at(escrow_address, state.rpc.url());
    let open =
        escrow_call::<E::openCall>(&payment.tx().calls, escrow_address).ok_or_else(|| {
            fail(format!(
                "the transaction does not call open() on escrow {}",
                terms.escrow
            ))
        })?;
    if open.payee != terms.recipient && !state.deviates(Deviation::SessionSkipPayeeCheck) {
        return Err(fail(format!(
            "the channel pays {}, not the recipient {}",
            open.payee, terms.recipient
        )));
    }
    if open.token != terms.currency && !state.deviates(Deviation::SessionSkipTokenCheck) {
        return Err(fail(format!(
            "the channel holds {}, not the currency {}",
            open.token, terms.currency
        )));
    }
    let computed = offline::channel_id_v1(
        payment.sender,
        open.payee,
        open.token,
        open.salt,
        open.authorizedSigner,
        escrow_address,
        terms.chain_id,
    );
    if computed != channel_id {
        return Err(fail(format!(
            "payload.channelId {channel_id} is not the channel the transaction opens ({computed})"
        )));
    }
    if sponsored {
        only_channel_calls::<E::openCall>(state, terms, &payment, escrow_address)?;
    }
    if state
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(&channel_id)
    {
        // The same open again: a used credential (§"Replay Protection").
        return Err(refuse(
            ProblemType::InvalidChallenge,
            format!("channel {channel_id} is already open: this open was used"),
        ));
    }
    if !landed {
        broadcast(state, terms, &raw, sponsored).await?;
    }
    let on_chain = escrow
        .channel(channel_id)
        .await
        .map_err(|e| fail(format!("reading the channel: {}", reason(e))))?;
    let payee_ok =
        on_chain.payee == terms.recipient || state.deviates(Deviation::SessionSkipPayeeCheck);
    if on_chain.payer == Address::ZERO
        || !payee_ok
        || (on_chain.token != terms.currency && !state.deviates(Deviation::SessionSkipTokenCheck))
        || on_chain.finalized
        || on_chain.closeRequestedAt != 0
        || U256::from(on_chain.deposit - on_chain.settled) < terms.price
    {
        return Err(fail(format!(
            "channel {channel_id} on chain is not one this server can serve: {on_chain:?}"
        )));
    }
    state
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(channel_id)
        .or_insert_with(|| {
            Arc::new(Slot {
                channel: tokio::sync::Mutex::new(Channel {
                    escrow: escrow_address,
                    ..Channel::default()
                }),
                advanced: tokio::sync::Notify::new(),
            })
        });
    Ok(())
}

/// §"TopUp Verification": the transaction tops up this channel by the
/// payload's amount; broadcast, then the deposit is read back.
pub(super) async fn top_up(
    state: &State,
    terms: &SessionTerms,
    escrow: &Escrow,
    p: &Map<String, Value>,
    channel_id: B256,
) -> Result<U256, Refusal> {
    let additional = amount(p, "additionalDeposit")?;
    let raw = bytes(p, "transaction")?;
    let payment = tx::decode_payment(&raw).map_err(fail)?;
    let sponsored = sponsorship(terms, &payment)?;
    // Either form of topUp (uint128 as the draft writes it, uint256 as the
    // deployed contract and the SDKs have it).
    let call = escrow_call::<E::topUp_0Call>(&payment.tx().calls, terms.escrow)
        .map(|c| (c.channelId, U256::from(c.additionalDeposit)))
        .or_else(|| {
            escrow_call::<E::topUp_1Call>(&payment.tx().calls, terms.escrow)
                .map(|c| (c.channelId, c.additionalDeposit))
        })
        .ok_or_else(|| fail("the transaction does not call topUp() on the escrow"))?;
    if call.0 != channel_id || call.1 != additional {
        return Err(fail(
            "the topUp call is for another channel or amount than the payload's",
        ));
    }
    if sponsored {
        only_channel_calls::<E::topUp_1Call>(state, terms, &payment, terms.escrow).or_else(
            |_| only_channel_calls::<E::topUp_0Call>(state, terms, &payment, terms.escrow),
        )?;
    }
    let before = escrow
        .channel(channel_id)
        .await
        .map_err(|e| fail(reason(e)))?;
    broadcast(state, terms, &raw, sponsored).await?;
    let after = escrow
        .channel(channel_id)
        .await
        .map_err(|e| fail(reason(e)))?;
    if U256::from(after.deposit) != U256::from(before.deposit) + additional {
        return Err(fail(
            "the top-up did not raise the deposit by additionalDeposit",
        ));
    }
    Ok(U256::from(after.deposit))
}

/// Whether the server pays this open's or topUp's fees: when the client
/// signed for a fee payer (§"Fee Payment"), which only a `feePayer`
/// challenge allows.
fn sponsorship(terms: &SessionTerms, payment: &tx::DecodedPayment) -> Result<bool, Refusal> {
    if payment.awaits_fee_payer && !terms.fee_payer {
        return Err(fail(
            "the transaction asks for a fee payer but the challenge does not sponsor fees (no feePayer)",
        ));
    }
    Ok(payment.awaits_fee_payer)
}

/// Before a sponsored transaction is co-signed, it does nothing but
/// fund this channel (§"Server Requirements": the transaction matches the
/// challenge and the channel): an `approve` of the escrow in the currency
/// and the escrow's own call `C`; anything else would ride on the
/// server's fees (ambiguity.tempo-session-sponsored-extra-calls).
fn only_channel_calls<C: SolCall>(
    state: &State,
    terms: &SessionTerms,
    payment: &tx::DecodedPayment,
    escrow: Address,
) -> Result<(), Refusal> {
    if state.deviates(Deviation::SessionSponsorExtraCalls) {
        return Ok(());
    }
    let funds_channel = |c: &Call| match c.to.to() {
        Some(to) if *to == escrow => C::abi_decode(&c.input).is_ok(),
        Some(to) if *to == terms.currency => {
            crate::chain::escrow::ITip20::approveCall::abi_decode(&c.input)
                .is_ok_and(|a| a.spender == escrow)
        }
        _ => false,
    };
    match payment.tx().calls.iter().position(|c| !funds_channel(c)) {
        None => Ok(()),
        Some(i) => Err(fail(format!(
            "call {i} of the sponsored transaction does not fund the channel (only approve and the escrow's call are sponsored)"
        ))),
    }
}

/// Broadcasts a client's open or topUp as it is, or with the server's
/// fee payer signature (domain `0x78`, fees in the currency) when it
/// sponsors it, until it is mined (a revert is refused).
async fn broadcast(
    state: &State,
    terms: &SessionTerms,
    raw: &[u8],
    sponsored: bool,
) -> Result<(), Refusal> {
    let outgoing = if sponsored {
        let sponsor = state
            .fee_payer
            .as_ref()
            .ok_or_else(|| fail("no fee payer configured"))?;
        let payment = tx::decode_payment(raw).map_err(fail)?;
        tx::cosign(payment, terms.currency, sponsor).map_err(|e| fail(e.to_string()))?
    } else {
        raw.to_vec()
    };
    tx::send_mined(&state.rpc, outgoing)
        .await
        .map(drop)
        .map_err(|e| fail(format!("broadcast failed: {}", reason(e))))
}

/// The first call of `calls` to `escrow` that decodes as `C`.
fn escrow_call<C: SolCall>(calls: &[Call], escrow: Address) -> Option<C> {
    calls
        .iter()
        .filter(|c| c.to.to() == Some(&escrow))
        .find_map(|c| C::abi_decode(&c.input).ok())
}
