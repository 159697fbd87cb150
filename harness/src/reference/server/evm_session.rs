//! The reference server's EVM session (draft-evm-session-00 on mppconf's
//! `EvmPaymentChannel` escrow), client-broadcast opens and topUps
//! (`hash`): §"Open Verification", §"TopUp Verification", §"Voucher
//! Verification", §"Idempotency", §"Server-Side Accounting" and
//! §"Cooperative Close".
//!
//! Choices: the route's `amount` is the fixed cost of one request
//! (§"Cost Calculation"); one challenge serves a channel's every
//! credential (ambiguity.evm-session-challenge-reuse); a repeated open of
//! a channel the server knows is taken as its voucher, never as a fresh
//! start of its accounting; a close pays out the close voucher, or the
//! highest accepted one when the close voucher does not cover `spent`
//! (§"Cooperative Close" step 1's SHOULD); every refusal is the core's
//! 402 with a fresh challenge and a core problem type, the draft's
//! session type named in the detail (ambiguity.evm-session-error-responses
//! lets both pass). The accounting lives in memory and one lock serializes
//! the channels (§"Concurrency Model"); the server-submitted paths
//! (`authorization`, `permit2`) and ERC-4337 opens are not offered.

use std::collections::HashMap;

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::{SolCall, SolEvent};
use mppconf_suite::codec::{Credential, ProblemType, Receipt};
use mppconf_suite::methods::evm_session as offline;
use serde_json::{Map, Value, json};

use super::session::{amount, bytes, fail, reason, recover_any_s, text, word};
use super::{Deviation, Refusal, RouteConfig, State, now_rfc3339, refuse, tx};
use crate::chain::evm_channel::{self, IEvmPaymentChannel as E};
use crate::methods::evm_session::EvmSessionTerms;
use crate::reference::evm as build;

/// One channel's accounting (§"Server-Side Accounting").
#[derive(Debug)]
pub(super) struct EvmChannel {
    /// Who signs its vouchers: the channel's `authorizedSigner`, else its
    /// payer (§"Voucher Verification" step 5).
    signer: Address,
    deposit: U256,
    accepted: U256,
    spent: U256,
    /// The signature of the highest accepted voucher.
    highest_signature: Vec<u8>,
    finalized: bool,
}

/// The channels the server knows, by id, behind one lock.
pub(super) type EvmChannels = tokio::sync::Mutex<HashMap<B256, EvmChannel>>;

/// A refusal naming the draft's session problem type in its detail.
fn session_fail(kind: &str, detail: impl std::fmt::Display) -> Refusal {
    fail(format!("{kind}: {detail}"))
}

/// Verifies an EVM session credential, updates the accounting and
/// charges the request (a close settles on chain); the receipt on
/// success.
pub(super) async fn settle(
    state: &State,
    route: &RouteConfig,
    credential: &Credential,
    voucher_only: bool,
) -> Result<Receipt, Refusal> {
    let terms =
        EvmSessionTerms::from_request(&route.request(state.config.chain_id)).map_err(fail)?;
    let p = &credential.payload;
    let action = text(p, "action")?;
    let channel_id = word(p, "channelId")?;
    let mut channels = state.evm_sessions.lock().await;
    // The deviation: the lock is let go while the chain is read (a slow
    // read: 100 ms), so concurrent requests all charge from the `spent`
    // they saw first.
    let mut seen_spent = None;
    if state.deviates(Deviation::SessionRacyAccounting) {
        seen_spent = channels.get(&channel_id).map(|c| c.spent);
        drop(channels);
        evm_channel::channel(&state.rpc, terms.escrow, channel_id)
            .await
            .map_err(|e| fail(reason(e)))?;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        channels = state.evm_sessions.lock().await;
    }
    let charge = match action {
        "open" => {
            let opened = open(state, &terms, credential, channel_id).await?;
            // A channel the server knows keeps its accounting: the open's
            // voucher is then one more voucher.
            channels.entry(channel_id).or_insert(opened);
            true
        }
        "topUp" => {
            let channel = known(&mut channels, channel_id)?;
            channel.deposit = top_up(state, &terms, p, channel_id, channel.deposit).await?;
            false
        }
        "voucher" => !voucher_only,
        "close" => false,
        other => {
            return Err(refuse(
                ProblemType::MalformedCredential,
                format!("payload.action {other:?} is not open, topUp, voucher or close"),
            ));
        }
    };
    let channel = known(&mut channels, channel_id)?;
    if channel.finalized && !state.deviates(Deviation::SessionServeClosedChannel) {
        return Err(session_fail(
            "channel-finalized",
            format!("channel {channel_id} is closed"),
        ));
    }
    let mut tx_hash = None;
    // The voucher raised nothing (only a deviation serves on one).
    let mut stale = false;
    if action != "topUp" {
        let voucher = (amount(p, "cumulativeAmount")?, bytes(p, "signature")?);
        stale = voucher.0 <= channel.accepted;
        accept_voucher(state, &terms, channel_id, channel, action, &voucher).await?;
        if action == "close" {
            tx_hash = Some(close(state, route, &terms, channel_id, channel, &voucher).await?);
        }
    }
    if charge {
        let spent = seen_spent.unwrap_or(channel.spent);
        let available = channel.accepted.saturating_sub(spent);
        let replayed = stale && state.deviates(Deviation::SessionServeReplayedVoucher);
        if available < terms.price && !replayed {
            return Err(refuse(
                ProblemType::PaymentInsufficient,
                format!(
                    "insufficient-balance: acceptedCumulative {}, spent {}, a request costs {}",
                    channel.accepted, channel.spent, terms.price
                ),
            ));
        }
        channel.spent = spent + terms.price;
    }
    // §"Receipt Generation".
    let mut extra = Map::new();
    extra.insert("intent".into(), "session".into());
    extra.insert("challengeId".into(), credential.challenge.id.clone().into());
    extra.insert("channelId".into(), channel_id.to_string().into());
    extra.insert("chainId".into(), terms.chain_id.into());
    extra.insert(
        "acceptedCumulative".into(),
        channel.accepted.to_string().into(),
    );
    extra.insert("spent".into(), channel.spent.to_string().into());
    if charge {
        extra.insert("units".into(), 1.into());
    }
    if let Some(h) = tx_hash {
        extra.insert("txHash".into(), h.to_string().into());
    }
    Ok(Receipt {
        status: "success".into(),
        method: "evm".into(),
        timestamp: now_rfc3339(),
        reference: channel_id.to_string(),
        extra,
    })
}

fn known(
    channels: &mut HashMap<B256, EvmChannel>,
    channel_id: B256,
) -> Result<&mut EvmChannel, Refusal> {
    channels.get_mut(&channel_id).ok_or_else(|| {
        session_fail(
            "channel-not-found",
            format!("channel {channel_id} is not open with this server"),
        )
    })
}

/// The receipt of the transaction a `hash` payload names, judged by
/// §"Transaction Outcome Checks": mined, `status` 0x1, sent to the
/// escrow; the escrow's logs of it.
async fn outcome(state: &State, escrow: Address, hash: B256) -> Result<Vec<Value>, Refusal> {
    let receipt = state
        .rpc
        .call("eth_getTransactionReceipt", json!([hash]))
        .await
        .map_err(|e| fail(reason(e)))?;
    if receipt.is_null() {
        return Err(fail(format!("transaction {hash} is not mined")));
    }
    let status = receipt.get("status").and_then(Value::as_str);
    if status != Some("0x1") && !state.deviates(Deviation::EvmSessionIgnoreTxStatus) {
        return Err(session_fail(
            "transaction-reverted",
            format!("transaction {hash} reverted (status {status:?})"),
        ));
    }
    let to = receipt
        .get("to")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Address>().ok());
    if to != Some(escrow) {
        return Err(fail(format!(
            "transaction {hash} does not call escrow {escrow} (ERC-4337 opens are not accepted here)"
        )));
    }
    Ok(receipt
        .get("logs")
        .and_then(Value::as_array)
        .map(|logs| {
            logs.iter()
                .filter(|l| {
                    l.get("address")
                        .and_then(Value::as_str)
                        .and_then(|a| a.parse::<Address>().ok())
                        == Some(escrow)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default())
}

/// Whether `logs` hold `event` for `channel_id` (its first indexed topic).
fn logged(logs: &[Value], signature: B256, channel_id: B256) -> Option<&Value> {
    logs.iter().find(|l| {
        let topics: Vec<B256> = l
            .get("topics")
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default();
        topics.first() == Some(&signature) && topics.get(1) == Some(&channel_id)
    })
}

/// §"Open Verification", `type="hash"`: the channel the transaction
/// opened, checked on chain.
async fn open(
    state: &State,
    terms: &EvmSessionTerms,
    credential: &Credential,
    channel_id: B256,
) -> Result<EvmChannel, Refusal> {
    let p = &credential.payload;
    let kind = text(p, "type")?;
    if kind != "hash" {
        return Err(refuse(
            ProblemType::MalformedCredential,
            format!("payload.type {kind:?} is not offered (credentialTypes [\"hash\"])"),
        ));
    }
    // §"Credential Structure": `source` is REQUIRED with `hash`.
    let source = credential
        .source
        .as_deref()
        .and_then(mppconf_suite::methods::tempo_charge::parse_did_pkh)
        .and_then(|(_, a)| a.parse::<Address>().ok())
        .ok_or_else(|| {
            refuse(
                ProblemType::MalformedCredential,
                "source must be did:pkh:eip155:<chainId>:<payer> with a hash credential",
            )
        })?;
    let logs = outcome(state, terms.escrow, word(p, "hash")?).await?;
    if !state.deviates(Deviation::EvmSessionIgnoreTxStatus)
        && logged(&logs, E::ChannelOpened::SIGNATURE_HASH, channel_id).is_none()
    {
        return Err(fail(format!(
            "the transaction did not open channel {channel_id}"
        )));
    }
    let on_chain = evm_channel::channel(&state.rpc, terms.escrow, channel_id)
        .await
        .map_err(|e| fail(reason(e)))?;
    if on_chain.payer == Address::ZERO {
        return Err(session_fail(
            "channel-not-found",
            format!("no channel {channel_id} on escrow {}", terms.escrow),
        ));
    }
    if on_chain.payee != terms.recipient && !state.deviates(Deviation::SessionSkipPayeeCheck) {
        return Err(fail(format!(
            "channel {channel_id} pays {}, not the recipient",
            on_chain.payee
        )));
    }
    if on_chain.token != terms.currency && !state.deviates(Deviation::SessionSkipTokenCheck) {
        return Err(fail(format!(
            "channel {channel_id} holds {}, not the currency",
            on_chain.token
        )));
    }
    if on_chain.payer != source {
        return Err(fail(format!(
            "channel {channel_id} was opened by {}, not by the source {source}",
            on_chain.payer
        )));
    }
    let deposit = U256::from(on_chain.deposit);
    if deposit - U256::from(on_chain.settled) < terms.price
        || on_chain.finalized
        || on_chain.closeRequestedAt != 0
    {
        return Err(fail(format!(
            "channel {channel_id} cannot pay a request (deposit {deposit}, settled {}, finalized {}, close requested at {})",
            on_chain.settled, on_chain.finalized, on_chain.closeRequestedAt
        )));
    }
    Ok(EvmChannel {
        signer: if on_chain.authorizedSigner == Address::ZERO {
            on_chain.payer
        } else {
            on_chain.authorizedSigner
        },
        deposit,
        accepted: U256::ZERO,
        spent: U256::ZERO,
        highest_signature: Vec::new(),
        finalized: false,
    })
}

/// §"TopUp Verification", `type="hash"`: the new deposit.
async fn top_up(
    state: &State,
    terms: &EvmSessionTerms,
    p: &Map<String, Value>,
    channel_id: B256,
    known_deposit: U256,
) -> Result<U256, Refusal> {
    let additional = amount(p, "additionalDeposit")?;
    // The deviation: the payload's word for what was added.
    if state.deviates(Deviation::EvmSessionTrustTopUpAmount) {
        return Ok(known_deposit + additional);
    }
    let logs = outcome(state, terms.escrow, word(p, "hash")?).await?;
    let event = logged(&logs, E::TopUp::SIGNATURE_HASH, channel_id)
        .and_then(|l| l.get("data").and_then(Value::as_str))
        .and_then(|d| alloy::hex::decode(d).ok())
        .filter(|d| d.len() == 64)
        .map(|d| (U256::from_be_slice(&d[..32]), U256::from_be_slice(&d[32..])))
        .ok_or_else(|| {
            fail(format!(
                "the transaction did not top up channel {channel_id}"
            ))
        })?;
    if event.0 != additional || event.1 < known_deposit + additional {
        return Err(fail(format!(
            "the topUp added {} (deposit now {}), not additionalDeposit {additional}",
            event.0, event.1
        )));
    }
    Ok(event.1)
}

/// §"Voucher Verification" and §"Idempotency": signature and signer
/// first, then an old amount changes nothing, then the minimum delta and
/// the deposit.
async fn accept_voucher(
    state: &State,
    terms: &EvmSessionTerms,
    channel_id: B256,
    channel: &mut EvmChannel,
    action: &str,
    (cumulative, signature): &(U256, Vec<u8>),
) -> Result<(), Refusal> {
    // The deviations: an amount at or below the highest is answered before
    // its signature is looked at; a close is taken on its word.
    if (*cumulative <= channel.accepted
        && state.deviates(Deviation::EvmSessionReplayBeforeSignature))
        || (action == "close" && state.deviates(Deviation::EvmSessionCloseUnverified))
    {
        return Ok(());
    }
    let on_chain = evm_channel::channel(&state.rpc, terms.escrow, channel_id)
        .await
        .map_err(|e| fail(reason(e)))?;
    if on_chain.finalized && !state.deviates(Deviation::SessionServeClosedChannel) {
        channel.finalized = true;
        return Err(session_fail(
            "channel-finalized",
            format!("channel {channel_id} is finalized on chain"),
        ));
    }
    if on_chain.closeRequestedAt != 0 && !state.deviates(Deviation::SessionIgnoreCloseRequest) {
        return Err(fail("the channel has a pending close request"));
    }
    let digest = offline::voucher_digest(terms.chain_id, terms.escrow, channel_id, *cumulative)
        .map_err(|e| {
            refuse(
                ProblemType::MalformedCredential,
                format!("{} ({})", e.reason, e.requirement),
            )
        })?;
    let signer = if state.deviates(Deviation::SessionAcceptHighS) {
        // The deviation: plain ecrecover, which takes the high-s twin.
        recover_any_s(digest, signature)
    } else {
        offline::voucher_signer(digest, signature).map_err(|e| {
            session_fail(
                "invalid-signature",
                format!("{} ({})", e.reason, e.requirement),
            )
        })?
    };
    if signer != channel.signer && !state.deviates(Deviation::SessionSkipSignerCheck) {
        return Err(session_fail(
            "signer-mismatch",
            format!("the voucher is signed by {signer}, not {}", channel.signer),
        ));
    }
    if *cumulative <= channel.accepted {
        return Ok(());
    }
    let delta = *cumulative - channel.accepted;
    if action == "voucher"
        && delta < terms.min_voucher_delta
        && !state.deviates(Deviation::EvmSessionIgnoreMinDelta)
    {
        return Err(session_fail(
            "delta-too-small",
            format!(
                "the voucher adds {delta}, below minVoucherDelta {}",
                terms.min_voucher_delta
            ),
        ));
    }
    if *cumulative > channel.deposit && !state.deviates(Deviation::SessionIgnoreDeposit) {
        return Err(session_fail(
            "amount-exceeds-deposit",
            format!("{cumulative} is above the deposit {}", channel.deposit),
        ));
    }
    channel.accepted = *cumulative;
    channel.highest_signature = signature.clone();
    Ok(())
}

/// §"Cooperative Close": `close()` as the payee with the close voucher
/// (the highest accepted one when the close voucher does not cover
/// `spent`), its status read; the transaction hash.
async fn close(
    state: &State,
    route: &RouteConfig,
    terms: &EvmSessionTerms,
    channel_id: B256,
    channel: &mut EvmChannel,
    (cumulative, signature): &(U256, Vec<u8>),
) -> Result<B256, Refusal> {
    let (amount, signature) =
        if *cumulative < channel.spent || state.deviates(Deviation::EvmSessionCloseHighest) {
            (channel.accepted, channel.highest_signature.clone())
        } else {
            (*cumulative, signature.clone())
        };
    if amount < channel.spent {
        return Err(fail(format!(
            "no voucher covers what was spent ({})",
            channel.spent
        )));
    }
    let payee_key = route
        .session
        .as_ref()
        .map(|s| s.payee_key.as_str())
        .unwrap_or_default();
    let payee =
        tx::signer_from_key(payee_key, "session.payee_key").map_err(|e| fail(e.to_string()))?;
    let call = E::closeCall {
        channelId: channel_id,
        cumulativeAmount: amount.to::<u128>(),
        signature: signature.into(),
    };
    let _one_at_a_time = state.evm_submit.lock().await;
    let raw = build::sign_call(
        &state.rpc,
        terms.chain_id,
        terms.escrow,
        call.abi_encode(),
        &payee,
    )
    .await
    .map_err(|e| fail(reason(e)))?;
    let receipt = build::broadcast(&state.rpc, &raw)
        .await
        .map_err(|e| fail(reason(e)))?;
    let hash = receipt
        .get("transactionHash")
        .and_then(|h| serde_json::from_value::<B256>(h.clone()).ok())
        .ok_or_else(|| fail("the close transaction has no hash"))?;
    if receipt.get("status").and_then(Value::as_str) != Some("0x1") {
        return Err(session_fail(
            "transaction-reverted",
            format!("close() reverted ({hash}); the channel stays open"),
        ));
    }
    channel.finalized = true;
    Ok(hash)
}
