//! The Tempo session escrow on the local chain (draft-tempo-session-00
//! §"Channel Escrow Contract"): `sessionProtocol: "v1"` is mppconf's own
//! `TempoStreamChannel`, deployed by the harness on a chain it started;
//! `"v2"` is the TIP-1034 precompile, which a chain has or has not.

use alloy::primitives::{Address, B256, Bytes, U256, address};
use alloy::sol;
use alloy::sol_types::{SolCall, SolEvent};
use serde_json::{Value, json};

use super::contracts::{self, TEMPO_STREAM_CHANNEL};
use super::rpc::Rpc;
use crate::error::{Error, Result};

/// The TIP-1034 channel reserve precompile that `sessionProtocol: "v2"`
/// needs (requirements catalogue, §"Precompile-Backed Channel State").
pub const CHANNEL_RESERVE_PRECOMPILE: Address =
    address!("0x4D50500000000000000000000000000000000000");

sol! {
    /// The escrow's interface (the draft's informative appendix, with the
    /// deployed contract's `Channel` layout).
    interface ITempoStreamChannel {
        #[derive(Debug)]
        struct Channel {
            bool finalized;
            uint64 closeRequestedAt;
            address payer;
            address payee;
            address token;
            address authorizedSigner;
            uint128 deposit;
            uint128 settled;
        }

        function CLOSE_GRACE_PERIOD() external view returns (uint64);
        function VOUCHER_TYPEHASH() external view returns (bytes32);
        function open(address payee, address token, uint128 deposit, bytes32 salt, address authorizedSigner) external returns (bytes32 channelId);
        function settle(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) external;
        function topUp(bytes32 channelId, uint128 additionalDeposit) external;
        /// The deployed contract's (and the SDKs') form.
        function topUp(bytes32 channelId, uint256 additionalDeposit) external;
        function close(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) external;
        function requestClose(bytes32 channelId) external;
        function withdraw(bytes32 channelId) external;
        function getChannel(bytes32 channelId) external view returns (Channel memory);
        function computeChannelId(address payer, address payee, address token, bytes32 salt, address authorizedSigner) external view returns (bytes32);
        function getVoucherDigest(bytes32 channelId, uint128 cumulativeAmount) external view returns (bytes32);
        function domainSeparator() external view returns (bytes32);

        event ChannelOpened(bytes32 indexed channelId, address indexed payer, address indexed payee, address token, address authorizedSigner, uint256 deposit);
        event Settled(bytes32 indexed channelId, address indexed payer, address indexed payee, uint256 cumulativeAmount, uint256 deltaPaid, uint256 newSettled);
        event CloseRequested(bytes32 indexed channelId, address indexed payer, address indexed payee, uint256 closeGraceEnd);
        event CloseRequestCancelled(bytes32 indexed channelId, address indexed payer, address indexed payee);
        event TopUp(bytes32 indexed channelId, address indexed payer, address indexed payee, uint256 additionalDeposit, uint256 newDeposit);
        event ChannelClosed(bytes32 indexed channelId, address indexed payer, address indexed payee, uint256 settledToPayee, uint256 refundedToPayer);
    }

    /// The TIP-20 calls a payer makes before `open` and `topUp`.
    interface ITip20 {
        function approve(address spender, uint256 amount) external returns (bool);
        function transfer(address to, uint256 amount) external returns (bool);
        function balanceOf(address account) external view returns (uint256);
    }
}

pub use ITempoStreamChannel::Channel;

/// What the escrow emitted for one channel, read back from logs: the
/// evidence of a money-moving verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscrowEvent {
    Opened { deposit: U256 },
    Settled { cumulative: U256, delta: U256 },
    TopUp { additional: U256, deposit: U256 },
    CloseRequested { grace_end: U256 },
    CloseRequestCancelled,
    Closed { to_payee: U256, to_payer: U256 },
}

/// A deployed v1 escrow.
#[derive(Debug, Clone)]
pub struct Escrow {
    pub address: Address,
    rpc_url: String,
}

/// Whether the chain has the v2 precompile: the v2 checks run by
/// themselves the day it has.
pub async fn has_channel_reserve(rpc: &Rpc) -> Result<bool> {
    let code = rpc
        .call(
            "eth_getCode",
            json!([CHANNEL_RESERVE_PRECOMPILE.to_string(), "latest"]),
        )
        .await?;
    Ok(code.as_str().is_some_and(|c| c.len() > 2))
}

impl Escrow {
    /// Compiles (or takes from the cache) and deploys a fresh escrow.
    pub async fn deploy(rpc: &Rpc) -> Result<Self> {
        let artifact = contracts::artifact(&TEMPO_STREAM_CHANNEL)?;
        let address = contracts::deploy(rpc, &artifact).await?;
        Ok(Self::at(address, rpc.url()))
    }

    /// An escrow already on the chain at `rpc_url`.
    pub fn at(address: Address, rpc_url: &str) -> Self {
        Self {
            address,
            rpc_url: rpc_url.to_string(),
        }
    }

    fn rpc(&self) -> Rpc {
        Rpc::new(&self.rpc_url)
    }

    fn failed(&self, what: &str, reason: impl std::fmt::Display) -> Error {
        Error::Chain {
            url: self.rpc_url.clone(),
            reason: format!("escrow {} {what}: {reason}", self.address),
        }
    }

    async fn view<C: SolCall>(&self, call: C) -> Result<C::Return> {
        let out = self
            .rpc()
            .call(
                "eth_call",
                json!([{"to": self.address.to_string(), "data": Bytes::from(call.abi_encode())}, "latest"]),
            )
            .await?;
        let bytes: Bytes = serde_json::from_value(out.clone())
            .map_err(|e| self.failed(C::SIGNATURE, format!("answer {out} is not hex ({e})")))?;
        C::abi_decode_returns(&bytes).map_err(|e| self.failed(C::SIGNATURE, e))
    }

    pub async fn channel_id(
        &self,
        payer: Address,
        payee: Address,
        token: Address,
        salt: B256,
        authorized_signer: Address,
    ) -> Result<B256> {
        self.view(ITempoStreamChannel::computeChannelIdCall {
            payer,
            payee,
            token,
            salt,
            authorizedSigner: authorized_signer,
        })
        .await
    }

    pub async fn voucher_digest(&self, channel_id: B256, cumulative: u128) -> Result<B256> {
        self.view(ITempoStreamChannel::getVoucherDigestCall {
            channelId: channel_id,
            cumulativeAmount: cumulative,
        })
        .await
    }

    pub async fn domain_separator(&self) -> Result<B256> {
        self.view(ITempoStreamChannel::domainSeparatorCall {}).await
    }

    pub async fn channel(&self, channel_id: B256) -> Result<Channel> {
        self.view(ITempoStreamChannel::getChannelCall {
            channelId: channel_id,
        })
        .await
    }

    /// Sends `call` to the escrow from an account the chain holds unlocked
    /// (anvil's dev accounts) and returns the receipt; `Ok(None)` when it
    /// reverted, with the receipt in the error text never needed by a
    /// verdict (a revert is itself the evidence).
    pub async fn send_as<C: SolCall>(&self, from: Address, call: C) -> Result<Option<Value>> {
        send_as(&self.rpc(), from, self.address, call.abi_encode()).await
    }

    /// The escrow's events for `channel_id`, in chain order.
    pub async fn events(&self, channel_id: B256) -> Result<Vec<EscrowEvent>> {
        let logs = self
            .rpc()
            .call(
                "eth_getLogs",
                json!([{
                    "address": self.address.to_string(),
                    "fromBlock": "0x0",
                    "toBlock": "latest",
                    "topics": [Value::Null, channel_id.to_string()],
                }]),
            )
            .await?;
        let mut events = Vec::new();
        for log in logs.as_array().into_iter().flatten() {
            let topics: Vec<B256> =
                serde_json::from_value(log["topics"].clone()).map_err(|e| self.failed("log", e))?;
            let data: Bytes =
                serde_json::from_value(log["data"].clone()).map_err(|e| self.failed("log", e))?;
            events.push(decode_event(&topics, &data).map_err(|e| self.failed("log", e))?);
        }
        Ok(events)
    }
}

fn decode_event(topics: &[B256], data: &[u8]) -> std::result::Result<EscrowEvent, String> {
    use ITempoStreamChannel as E;
    let first = topics.first().ok_or("a log without topics")?;
    let err = |e: alloy::sol_types::Error| e.to_string();
    Ok(match *first {
        E::ChannelOpened::SIGNATURE_HASH => {
            let e = E::ChannelOpened::decode_raw_log(topics.iter().copied(), data).map_err(err)?;
            EscrowEvent::Opened { deposit: e.deposit }
        }
        E::Settled::SIGNATURE_HASH => {
            let e = E::Settled::decode_raw_log(topics.iter().copied(), data).map_err(err)?;
            EscrowEvent::Settled {
                cumulative: e.cumulativeAmount,
                delta: e.deltaPaid,
            }
        }
        E::TopUp::SIGNATURE_HASH => {
            let e = E::TopUp::decode_raw_log(topics.iter().copied(), data).map_err(err)?;
            EscrowEvent::TopUp {
                additional: e.additionalDeposit,
                deposit: e.newDeposit,
            }
        }
        E::CloseRequested::SIGNATURE_HASH => {
            let e = E::CloseRequested::decode_raw_log(topics.iter().copied(), data).map_err(err)?;
            EscrowEvent::CloseRequested {
                grace_end: e.closeGraceEnd,
            }
        }
        E::CloseRequestCancelled::SIGNATURE_HASH => EscrowEvent::CloseRequestCancelled,
        E::ChannelClosed::SIGNATURE_HASH => {
            let e = E::ChannelClosed::decode_raw_log(topics.iter().copied(), data).map_err(err)?;
            EscrowEvent::Closed {
                to_payee: e.settledToPayee,
                to_payer: e.refundedToPayer,
            }
        }
        other => return Err(format!("an event the escrow does not emit: topic {other}")),
    })
}

/// A transaction from an unlocked account; `Ok(None)` when it reverted.
pub async fn send_as(
    rpc: &Rpc,
    from: Address,
    to: Address,
    data: Vec<u8>,
) -> Result<Option<Value>> {
    let _one_at_a_time = contracts::UNLOCKED_SENDS.lock().await;
    let hash = rpc
        .call(
            "eth_sendTransaction",
            json!([{"from": from.to_string(), "to": to.to_string(), "data": Bytes::from(data)}]),
        )
        .await?;
    let receipt = contracts::wait_for_receipt(rpc, &hash).await?;
    Ok((receipt["status"] == "0x1").then_some(receipt))
}
