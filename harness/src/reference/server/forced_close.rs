//! draft-tempo-session-00 §"Forced Close", the payee's side: once a payer
//! calls `requestClose`, the server "can still `settle()` or `close()`
//! during grace period", and §"Grace Period Rationale" gives the grace
//! period to payees "to detect close requests and submit final
//! settlements". Without that, the payer's `withdraw` after the grace
//! period takes back what it paid for service already delivered.
//!
//! The server watches its escrows' `CloseRequested` events (one
//! `eth_getLogs` a second, only while it holds an unsettled voucher) and
//! settles the highest voucher it holds at or below what was spent (the
//! amount a cooperative close captures, §"Cooperative Close"). A settle
//! that fails is tried again on the next round.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use alloy::primitives::{B256, U256};
use alloy::sol_types::{SolCall, SolEvent};
use serde_json::{Value, json};

use super::session::payee_sends;
use super::{Deviation, State};
use crate::chain::escrow::{Escrow, ITempoStreamChannel as E};
use crate::methods::tempo_session::SessionTerms;

/// How often the escrows' logs are read.
const POLL: Duration = Duration::from_secs(1);

/// Starts the watch for a server with session routes; it ends when the
/// server's state is dropped.
pub(super) fn watch(state: &Arc<State>) {
    let has_sessions = state
        .config
        .routes
        .iter()
        .any(|r| r.session.is_some() && r.payment_method == "tempo");
    if !has_sessions || state.deviates(Deviation::SessionNoSettleOnCloseRequest) {
        return;
    }
    let state = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut watch = Watch::default();
        loop {
            tokio::time::sleep(POLL).await;
            let Some(state) = Weak::upgrade(&state) else {
                return;
            };
            // A chain error is retried on the next round: the events are
            // read from where the last good read ended.
            let _ = watch.round(&state).await;
        }
    });
}

#[derive(Default)]
struct Watch {
    /// The first block not read yet.
    from: u64,
    /// Channels whose payer requested a close, not yet settled.
    pending: HashSet<B256>,
}

impl Watch {
    async fn round(&mut self, state: &State) -> Result<(), String> {
        let escrows = unsettled_escrows(state).await;
        if escrows.is_empty() && self.pending.is_empty() {
            return Ok(());
        }
        let head = state
            .rpc
            .call("eth_blockNumber", json!([]))
            .await
            .map_err(|e| e.to_string())?;
        let head = head
            .as_str()
            .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
            .ok_or("the chain's head is not a quantity")?;
        if !escrows.is_empty() && head >= self.from {
            let logs = state
                .rpc
                .call(
                    "eth_getLogs",
                    json!([{
                        "address": escrows.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                        "fromBlock": format!("{:#x}", self.from),
                        "toBlock": format!("{head:#x}"),
                        "topics": [E::CloseRequested::SIGNATURE_HASH.to_string()],
                    }]),
                )
                .await
                .map_err(|e| e.to_string())?;
            self.pending.extend(
                logs.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|log| log["topics"].get(1).and_then(Value::as_str))
                    .filter_map(|t| t.parse::<B256>().ok()),
            );
            self.from = head + 1;
        }
        let pending: Vec<B256> = self.pending.iter().copied().collect();
        for channel in pending {
            if settle_during_grace(state, channel).await? {
                self.pending.remove(&channel);
            }
        }
        Ok(())
    }
}

/// The escrows of the channels holding a voucher not known to be settled
/// (finalized ones are done).
async fn unsettled_escrows(state: &State) -> Vec<alloy::primitives::Address> {
    let slots: Vec<_> = state
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    let mut escrows = Vec::new();
    for slot in slots {
        let channel = slot.channel.lock().await;
        if !channel.finalized && !channel.vouchers.is_empty() && !escrows.contains(&channel.escrow)
        {
            escrows.push(channel.escrow);
        }
    }
    escrows
}

/// Settles `channel_id` on the highest voucher held at or below `spent`;
/// `Ok(true)` once nothing is left to settle (or the channel is not this
/// server's).
async fn settle_during_grace(state: &State, channel_id: B256) -> Result<bool, String> {
    let Some(slot) = state
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&channel_id)
        .cloned()
    else {
        return Ok(true);
    };
    let channel = slot.channel.lock().await;
    let Some((amount, signature)) = channel
        .vouchers
        .range(..=channel.spent)
        .next_back()
        .map(|(a, s)| (*a, s.clone()))
    else {
        return Ok(true);
    };
    let escrow = Escrow::at(channel.escrow, state.rpc.url());
    let on_chain = escrow
        .channel(channel_id)
        .await
        .map_err(|e| e.to_string())?;
    if channel.finalized || on_chain.finalized || amount <= U256::from(on_chain.settled) {
        return Ok(true);
    }
    let route = state
        .config
        .routes
        .iter()
        .filter(|r| r.session.is_some() && r.payment_method == "tempo")
        .find_map(|r| {
            let terms = SessionTerms::from_request(&r.request(state.config.chain_id)).ok()?;
            (terms.escrow == channel.escrow && terms.recipient == on_chain.payee)
                .then_some((r, terms))
        });
    let Some((route, terms)) = route else {
        return Ok(true);
    };
    let call = E::settleCall {
        channelId: channel_id,
        cumulativeAmount: amount.saturating_to(),
        signature: signature.into(),
    };
    payee_sends(state, route, &terms, call.abi_encode())
        .await
        .map(|_| true)
        .map_err(|r| r.detail)
}

#[cfg(test)]
mod tests {
    use alloy::primitives::U256;
    use alloy::signers::local::PrivateKeySigner;
    use mppconf_suite::codec::challenge;

    use crate::chain::escrow::{Escrow, EscrowEvent};
    use crate::chain::{Anvil, AnvilConfig};
    use crate::methods::tempo_session::{OpenFlaw, SessionPayer, SessionTerms};
    use crate::reference::server::{self, RouteConfig, ServerConfig, SessionRoute};

    /// The whole forced close on the reference pair: two requests served,
    /// the payer's `requestClose`, the server's settlement during the
    /// grace period, the clock moved past it, the payer's `withdraw` of
    /// the rest: the payee keeps what was spent, the payer gets the rest.
    #[tokio::test]
    async fn the_server_settles_in_the_grace_period_and_the_payer_withdraws_the_rest() {
        let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
        let payee = PrivateKeySigner::random();
        let mut route = RouteConfig::new("/session", "1000", &payee.address().to_string());
        route.session = Some(SessionRoute {
            escrow_contract: String::new(),
            payee_key: payee.to_bytes().to_string(),
            min_voucher_delta: None,
            suggested_deposit: None,
            stream_units: None,
        });
        let mut routes = vec![route];
        crate::server_suite::reference_run::prepare_session_routes(&chain.rpc(), &mut routes)
            .await
            .unwrap();
        let config = ServerConfig {
            realm: "forced-close.test".into(),
            secret: vec![7; 32],
            rpc_url: chain.rpc_url.clone(),
            chain_id: chain.chain_id,
            fee_payer_key: None,
            routes,
            deviations: Default::default(),
            choices: Default::default(),
        };
        let running = server::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let url = format!("http://{}/session", running.addr);
        let http = reqwest::Client::new();
        let unpaid = http.get(&url).send().await.unwrap();
        let field = unpaid.headers()["www-authenticate"].to_str().unwrap();
        let offered = challenge::parse_all(&[field]).unwrap().remove(0).unwrap();
        let terms = SessionTerms::from_request(&offered.request.value).unwrap();
        let payer = SessionPayer::fresh(terms, &chain.rpc_url, U256::from(10_000_000u64))
            .await
            .unwrap();
        let pay = |payload| {
            let header = payer.credential(&offered, payload).to_header();
            http.get(&url).header("authorization", header).send()
        };
        let open = payer
            .open_payload(U256::from(10_000u64), U256::from(1000u64), OpenFlaw::None)
            .await
            .unwrap();
        assert_eq!(pay(open).await.unwrap().status(), 200);
        let voucher = payer.voucher_payload("voucher", U256::from(2000u64));
        assert_eq!(pay(voucher).await.unwrap().status(), 200);
        payer.request_close().await.unwrap();
        let escrow = Escrow::at(payer.terms.escrow, &chain.rpc_url);
        let channel = payer.channel_id();
        let mut settled = 0;
        for _ in 0..40 {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            settled = escrow.channel(channel).await.unwrap().settled;
            if settled > 0 {
                break;
            }
        }
        assert_eq!(settled, 2000, "settled during the grace period");
        chain.advance_time(15 * 60).await.unwrap();
        payer.withdraw().await.unwrap();
        let events = escrow.events(channel).await.unwrap();
        assert_eq!(
            events.last(),
            Some(&EscrowEvent::Closed {
                to_payee: U256::ZERO,
                to_payer: U256::from(8000u64),
            }),
            "{events:?}"
        );
        assert!(events.contains(&EscrowEvent::Settled {
            cumulative: U256::from(2000u64),
            delta: U256::from(2000u64),
        }));
    }
}
