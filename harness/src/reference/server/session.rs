//! The reference server's Tempo session (draft-tempo-session-00,
//! `sessionProtocol: "v1"` on mppconf's escrow): §"Open Verification",
//! §"TopUp Verification", §"Voucher Verification", §"Server-Side
//! Accounting" and §"Cooperative Close".
//!
//! Choices: the route's `amount` is the fixed cost of one request
//! (§"Cost Calculation"); the challenge that opened a channel serves its
//! vouchers and close too (ambiguity.tempo-session-challenge-reuse); an
//! equal voucher is not refused, but pays for nothing new, so a request
//! it carries is served only from what is still available
//! (ambiguity.tempo-session-monotonicity); a close captures the highest
//! voucher it holds at or below `spent`, never more than was delivered
//! (ambiguity.tempo-session-v1-close-capture), so a close voucher may be
//! below the highest accepted one; with a session store
//! (`Choices::session_store`) each channel's accounting is written to
//! its file before a request it authorizes is served and read back at
//! start (§"Crash Safety"), without one it lives in memory; refusals use the core problem types (ambiguity.tempo-session-problem-types).
//! Accounting is linearizable per channel: one lock per channel is held
//! from the voucher's verification to the charge.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use alloy::primitives::{Address, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use mppconf_suite::codec::{Credential, ProblemType, Receipt};
use mppconf_suite::methods::tempo_session as offline;
use serde_json::{Map, Value, json};
use tempo_alloy::primitives::transaction::Call;

use super::session_store::persist;
use super::{Deviation, Refusal, RouteConfig, State, now_rfc3339, refuse, tx};
use crate::chain::escrow::{Escrow, ITempoStreamChannel as E};
use crate::methods::tempo_session::SessionTerms;

mod funding;

use funding::{open, top_up};

/// One channel's accounting (§"Accounting State").
#[derive(Debug, Default)]
pub(super) struct Channel {
    pub(super) accepted: U256,
    pub(super) spent: U256,
    /// The on-chain deposit, as last read.
    pub(super) deposit: U256,
    /// The escrow the channel was opened on (the challenge's, but for a
    /// deviation's).
    pub(super) escrow: Address,
    /// Every voucher accepted, by amount: a close picks one.
    pub(super) vouchers: BTreeMap<U256, Vec<u8>>,
    pub(super) finalized: bool,
}

/// A channel's accounting behind its own lock, and the signal a paused
/// stream waits on: a voucher raised `acceptedCumulative`.
#[derive(Debug, Default)]
pub(super) struct Slot {
    pub(super) channel: tokio::sync::Mutex<Channel>,
    pub(super) advanced: tokio::sync::Notify,
}

/// The channels the server knows, by channel id.
pub(super) type Channels = std::sync::Mutex<HashMap<B256, Arc<Slot>>>;

/// A chain error without the RPC endpoint (a server must not tell it).
pub(super) fn reason(e: crate::error::Error) -> String {
    match e {
        crate::error::Error::Chain { reason, .. } => reason,
        other => other.to_string(),
    }
}

pub(super) fn fail(detail: impl Into<String>) -> Refusal {
    refuse(ProblemType::VerificationFailed, detail)
}

pub(super) fn text<'a>(p: &'a Map<String, Value>, k: &str) -> Result<&'a str, Refusal> {
    p.get(k).and_then(Value::as_str).ok_or_else(|| {
        refuse(
            ProblemType::MalformedCredential,
            format!("payload.{k} is missing"),
        )
    })
}

pub(super) fn word(p: &Map<String, Value>, k: &str) -> Result<B256, Refusal> {
    text(p, k)?.parse().map_err(|_| {
        refuse(
            ProblemType::MalformedCredential,
            format!("payload.{k} is not 32-byte hex"),
        )
    })
}

pub(super) fn amount(p: &Map<String, Value>, k: &str) -> Result<U256, Refusal> {
    let t = text(p, k)?;
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(
            ProblemType::MalformedCredential,
            format!("payload.{k} is not a decimal string"),
        ));
    }
    U256::from_str_radix(t, 10).map_err(|_| {
        refuse(
            ProblemType::MalformedCredential,
            format!("payload.{k} is too large"),
        )
    })
}

pub(super) fn bytes(p: &Map<String, Value>, k: &str) -> Result<Vec<u8>, Refusal> {
    alloy::hex::decode(text(p, k)?).map_err(|_| {
        refuse(
            ProblemType::MalformedCredential,
            format!("payload.{k} is not hex"),
        )
    })
}

/// Verifies a session credential, updates the accounting and charges the
/// request (a close settles on chain); the receipt on success.
pub(super) async fn settle(
    state: &State,
    route: &RouteConfig,
    credential: &Credential,
    voucher_only: bool,
) -> Result<Receipt, Refusal> {
    let terms = SessionTerms::from_request(&route.request(state.config.chain_id)).map_err(fail)?;
    let escrow = Escrow::at(terms.escrow, state.rpc.url());
    let p = &credential.payload;
    let action = text(p, "action")?;
    let channel_id = word(p, "channelId")?;
    let mut topped_up = None;
    let (charge, tx_hash) = match action {
        "open" => {
            open(state, &terms, p, channel_id).await?;
            (true, None)
        }
        "topUp" => {
            topped_up = Some(top_up(state, &terms, &escrow, p, channel_id).await?);
            // A topUp raises the deposit, not the balance: it buys nothing.
            (false, None)
        }
        "voucher" => (!voucher_only, None),
        "close" => (false, None),
        other => {
            return Err(refuse(
                ProblemType::MalformedCredential,
                format!("payload.action {other:?} is not open, topUp, voucher or close"),
            ));
        }
    };
    let entry = state
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&channel_id)
        .cloned()
        .ok_or_else(|| fail(format!("channel {channel_id} is not open with this server")))?;
    let mut channel = entry.channel.lock().await;
    let escrow = Escrow::at(channel.escrow, state.rpc.url());
    if channel.finalized && !state.deviates(Deviation::SessionServeClosedChannel) {
        return Err(fail(format!("channel {channel_id} is closed")));
    }
    if let Some(deposit) = topped_up {
        channel.deposit = deposit;
    }
    // Below the highest accepted (only a deviation lets one through).
    let mut older = false;
    if action != "topUp" {
        let voucher = (amount(p, "cumulativeAmount")?, bytes(p, "signature")?);
        if state.deviates(Deviation::SessionRacyAccounting) {
            // The deviation: the lock is let go while the chain is read,
            // so concurrent requests all see the same `spent`.
            let seen = (channel.accepted, channel.spent);
            drop(channel);
            let deposit = accept_voucher_unlocked(
                state,
                &terms,
                &escrow,
                channel_id,
                seen.0,
                action != "close",
                &voucher,
            )
            .await?;
            channel = entry.channel.lock().await;
            channel.deposit = deposit;
            channel.accepted = channel.accepted.max(voucher.0);
            entry.advanced.notify_waiters();
            channel.vouchers.insert(voucher.0, voucher.1.clone());
            let available = channel.accepted.saturating_sub(seen.1);
            if charge && available < terms.price {
                return Err(insufficient(&terms, channel.accepted, seen.1));
            }
            if charge {
                channel.spent = seen.1 + terms.price;
            }
        } else {
            channel.deposit = accept_voucher_unlocked(
                state,
                &terms,
                &escrow,
                channel_id,
                channel.accepted,
                action != "close",
                &voucher,
            )
            .await?;
            older = voucher.0 < channel.accepted;
            channel.accepted = channel.accepted.max(voucher.0);
            entry.advanced.notify_waiters();
            channel.vouchers.insert(voucher.0, voucher.1);
        }
    }
    if charge && !state.deviates(Deviation::SessionRacyAccounting) {
        let available = channel.accepted.saturating_sub(channel.spent);
        // The deviation: an older voucher, replayed, buys a request.
        let replayed = state.deviates(Deviation::SessionServeReplayedVoucher) && older;
        if available < terms.price && !replayed {
            return Err(insufficient(&terms, channel.accepted, channel.spent));
        }
        channel.spent += terms.price;
    }
    let tx_hash = if action == "close" {
        Some(close(state, route, &terms, channel_id, &mut channel).await?)
    } else {
        tx_hash
    };
    persist(state, channel_id, &channel)?;
    let mut extra = Map::new();
    extra.insert("intent".into(), "session".into());
    extra.insert("challengeId".into(), credential.challenge.id.clone().into());
    extra.insert("channelId".into(), channel_id.to_string().into());
    extra.insert(
        "acceptedCumulative".into(),
        channel.accepted.to_string().into(),
    );
    extra.insert("spent".into(), channel.spent.to_string().into());
    if charge {
        extra.insert("units".into(), 1.into());
    }
    if let Some(h) = tx_hash {
        extra.insert("txHash".into(), h.into());
    }
    Ok(Receipt {
        status: "success".into(),
        method: "tempo".into(),
        timestamp: now_rfc3339(),
        reference: channel_id.to_string(),
        extra,
    })
}

/// §"Per-Request Processing", step 2: 402 with what is missing.
fn insufficient(terms: &SessionTerms, accepted: U256, spent: U256) -> Refusal {
    let required = spent + terms.price;
    refuse(
        ProblemType::PaymentInsufficient,
        format!(
            "insufficient balance: requiredCumulative {required}, acceptedCumulative {accepted}, requiredTopUp {}",
            required - accepted.min(required)
        ),
    )
}

/// §"Voucher Verification" against the chain and the highest `accepted`
/// amount: signer, pending close, monotonicity (not for a close, whose
/// voucher may stop at `spent`), minimum delta, deposit.
async fn accept_voucher_unlocked(
    state: &State,
    terms: &SessionTerms,
    escrow: &Escrow,
    channel_id: B256,
    accepted: U256,
    monotonic: bool,
    (cumulative, signature): &(U256, Vec<u8>),
) -> Result<U256, Refusal> {
    let on_chain = channel_at_head(state, escrow, channel_id).await?;
    if on_chain.finalized && !state.deviates(Deviation::SessionServeClosedChannel) {
        return Err(fail(format!("channel {channel_id} is finalized on chain")));
    }
    if on_chain.closeRequestedAt != 0 && !state.deviates(Deviation::SessionIgnoreCloseRequest) {
        return Err(fail("the channel has a pending close request"));
    }
    let digest = offline::voucher_digest(
        terms.protocol,
        terms.chain_id,
        escrow.address,
        channel_id,
        *cumulative,
    )
    .map_err(|e| fail(e.reason))?;
    let signer = if state.deviates(Deviation::SessionAcceptHighS) {
        recover_any_s(digest, signature)
    } else {
        offline::voucher_signer(digest, signature).map_err(|e| fail(e.reason))?
    };
    let expected = if on_chain.authorizedSigner == Address::ZERO {
        on_chain.payer
    } else {
        on_chain.authorizedSigner
    };
    if signer != expected && !state.deviates(Deviation::SessionSkipSignerCheck) {
        return Err(fail(format!(
            "the voucher is signed by {signer}, not {expected}"
        )));
    }
    if monotonic
        && *cumulative < accepted
        && !state.deviates(Deviation::SessionServeReplayedVoucher)
    {
        return Err(fail(format!(
            "cumulativeAmount {cumulative} is below the accepted {accepted}"
        )));
    }
    if *cumulative > accepted && *cumulative - accepted < terms.min_voucher_delta {
        return Err(fail(format!(
            "the voucher advances less than minVoucherDelta {}",
            terms.min_voucher_delta
        )));
    }
    if *cumulative > U256::from(on_chain.deposit)
        && !state.deviates(Deviation::SessionIgnoreDeposit)
    {
        return Err(fail(format!(
            "cumulativeAmount {cumulative} exceeds the deposit {}",
            on_chain.deposit
        )));
    }
    Ok(U256::from(on_chain.deposit))
}

/// The channel as the chain's latest block has it: read once per block
/// and kept until the next one (a voucher stream between two blocks, the
/// common case, costs one `eth_blockNumber` a voucher instead of a
/// contract call). A block may carry the payer's `requestClose`, a topUp
/// or a settlement, so nothing older than the head is ever relied on.
async fn channel_at_head(
    state: &State,
    escrow: &Escrow,
    channel_id: B256,
) -> Result<crate::chain::escrow::Channel, Refusal> {
    let head = state
        .rpc
        .call("eth_blockNumber", json!([]))
        .await
        .map_err(|e| fail(format!("reading the chain's head: {}", reason(e))))?;
    let head = head
        .as_str()
        .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| fail(format!("the chain's head {head} is not a quantity")))?;
    let key = (escrow.address, channel_id);
    if let Some((block, channel)) = state
        .chain_view
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        && *block == head
    {
        return Ok(channel.clone());
    }
    let channel = escrow
        .channel(channel_id)
        .await
        .map_err(|e| fail(format!("reading the channel: {}", reason(e))))?;
    state
        .chain_view
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, (head, channel.clone()));
    Ok(channel)
}

/// Channels as last read from the chain, with the block they were read
/// at ([`channel_at_head`]).
pub(super) type ChainView =
    std::sync::Mutex<HashMap<(Address, B256), (u64, crate::chain::escrow::Channel)>>;

/// The deviation's recovery: any s, as plain `ecrecover` does.
pub(super) fn recover_any_s(digest: B256, signature: &[u8]) -> Address {
    if signature.len() != 65 {
        return Address::ZERO;
    }
    let r = U256::from_be_slice(&signature[..32]);
    let s = U256::from_be_slice(&signature[32..64]);
    alloy::primitives::Signature::new(r, s, signature[64] == 28)
        .recover_address_from_prehash(&digest)
        .unwrap_or(Address::ZERO)
}

/// §"Cooperative Close": the payee closes on chain with the highest
/// voucher it holds at or below `spent` (none: a close on nothing, which
/// refunds the whole deposit); the transaction hash goes into the receipt.
async fn close(
    state: &State,
    route: &RouteConfig,
    terms: &SessionTerms,
    channel_id: B256,
    channel: &mut Channel,
) -> Result<String, Refusal> {
    let mut held = channel.vouchers.range(..=channel.spent).rev();
    if state.deviates(Deviation::SessionCloseSettlesLess) {
        // The deviation: closes on the voucher before that one.
        held.next();
    }
    let (amount, signature) = held
        .next()
        .map(|(a, s)| (*a, s.clone()))
        .unwrap_or((U256::ZERO, Vec::new()));
    let call = E::closeCall {
        channelId: channel_id,
        cumulativeAmount: amount.saturating_to(),
        signature: signature.into(),
    };
    let hash = payee_sends(state, route, terms, call.abi_encode()).await?;
    channel.finalized = true;
    Ok(hash)
}

/// The payee's own transaction to the escrow (`close`, `settle`), signed
/// with the route's payee key, fees paid in the currency; its hash once
/// mined.
pub(super) async fn payee_sends(
    state: &State,
    route: &RouteConfig,
    terms: &SessionTerms,
    input: Vec<u8>,
) -> Result<String, Refusal> {
    let key: PrivateKeySigner = route
        .session
        .as_ref()
        .map(|s| tx::signer_from_key(&s.payee_key, "payee_key"))
        .transpose()
        .map_err(|e| fail(reason(e)))?
        .ok_or_else(|| fail("the route has no payee key to send with"))?;
    let calls = vec![tx::call(terms.escrow, input)];
    tx::send_calls(&state.rpc, terms.chain_id, terms.currency, calls, &key)
        .await
        .map(|hash| hash.to_string())
        .map_err(|e| fail(format!("the payee's transaction failed: {}", reason(e))))
}

/// The answer to a session request that bought nothing (a pure voucher
/// update, a topUp, a close): the receipt, and no part of the resource.
pub(super) fn management_response(
    route: &RouteConfig,
    receipt: Receipt,
) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    let body = json!({
        "resource": route.path,
        "reference": receipt.reference,
        "acceptedCumulative": receipt.extra.get("acceptedCumulative"),
        "spent": receipt.extra.get("spent"),
    });
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    if let Ok(v) = HeaderValue::from_str(&receipt.to_header()) {
        h.insert("payment-receipt", v);
    }
    response
}

/// §"Insufficient Balance During Streaming": a metered SSE answer of
/// `units` units, the first already charged with the request. Each further
/// unit is charged from the balance before it goes out; when the balance
/// is short the server emits `payment-need-voucher` and pauses until a
/// voucher (on any request) raises `acceptedCumulative`, closing the
/// stream after `pause` without one. The last event is the final receipt.
pub(super) fn stream_response(
    state: &State,
    route: &RouteConfig,
    receipt: Receipt,
    units: u32,
    pause: std::time::Duration,
) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    let slot = receipt.reference.parse::<B256>().ok().and_then(|id| {
        state
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
            .map(|slot| (id, slot))
    });
    let price = U256::from_str_radix(&route.amount, 10).unwrap_or(U256::MAX);
    let overdeliver = state.deviates(Deviation::SessionStreamIgnoresBalance);
    let store = state
        .session_store
        .clone()
        .filter(|_| !state.deviates(Deviation::SessionMemoryOnly));
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(16);
    let mut final_receipt = receipt.clone();
    tokio::spawn(async move {
        let Some((channel_id, slot)) = slot else {
            return;
        };
        let _ = tx.send("data: {\"unit\":1}\n\n".to_string()).await;
        'units: for unit in 2..=units {
            loop {
                let mut channel = slot.channel.lock().await;
                if channel.finalized {
                    break 'units;
                }
                if overdeliver || channel.accepted.saturating_sub(channel.spent) >= price {
                    channel.spent += price;
                    if let Some(store) = &store
                        && store.save(channel_id, &channel).is_err()
                    {
                        break 'units;
                    }
                    drop(channel);
                    if tx
                        .send(format!("data: {{\"unit\":{unit}}}\n\n"))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    continue 'units;
                }
                let need = json!({
                    "channelId": channel_id.to_string(),
                    "requiredCumulative": (channel.spent + price).to_string(),
                    "acceptedCumulative": channel.accepted.to_string(),
                    "deposit": channel.deposit.to_string(),
                });
                let advanced = slot.advanced.notified();
                tokio::pin!(advanced);
                advanced.as_mut().enable();
                drop(channel);
                if tx
                    .send(format!("event: payment-need-voucher\ndata: {need}\n\n"))
                    .await
                    .is_err()
                {
                    return;
                }
                if tokio::time::timeout(pause, advanced).await.is_err() {
                    break 'units;
                }
            }
        }
        let channel = slot.channel.lock().await;
        final_receipt.extra.insert(
            "acceptedCumulative".into(),
            channel.accepted.to_string().into(),
        );
        final_receipt
            .extra
            .insert("spent".into(), channel.spent.to_string().into());
        drop(channel);
        let mut data = Map::new();
        data.insert("method".into(), final_receipt.method.clone().into());
        data.insert("status".into(), final_receipt.status.clone().into());
        data.insert("timestamp".into(), final_receipt.timestamp.clone().into());
        data.insert("reference".into(), final_receipt.reference.clone().into());
        data.extend(final_receipt.extra.clone());
        let _ = tx
            .send(format!(
                "event: payment-receipt\ndata: {}\n\n",
                Value::Object(data)
            ))
            .await;
    });
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|e| (Ok::<_, std::convert::Infallible>(e), rx))
    });
    let mut response = axum::response::Response::new(axum::body::Body::from_stream(events));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    if let Ok(v) = HeaderValue::from_str(&receipt.to_header()) {
        h.insert("payment-receipt", v);
    }
    response
}
