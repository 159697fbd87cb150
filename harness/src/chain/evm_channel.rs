//! The EVM session escrow's interface (draft-evm-session-00 §"Contract
//! Functions"), shared by the escrow suite, which judges any escrow by it,
//! and the reference session server and payer, which run on mppconf's own
//! (`EvmPaymentChannel.sol`).

use alloy::primitives::{Address, B256, Bytes};
use alloy::sol;
use alloy::sol_types::SolCall;
use serde_json::json;

use super::rpc::Rpc;
use crate::error::{Error, Result};

sol! {
    /// The mandatory core of §"Contract Functions", with the grace
    /// period's conventional getter (Tempo's escrow names it
    /// `CLOSE_GRACE_PERIOD`; the EVM draft names no getter), and
    /// mppconf's escrow's channel getter and events: the draft names no
    /// way to read §"Channel State", so only the escrow suite's checks
    /// judge a foreign escrow.
    interface IEvmPaymentChannel {
        struct Channel {
            address payer;
            address payee;
            address token;
            address authorizedSigner;
            uint128 deposit;
            uint128 settled;
            uint64 closeRequestedAt;
            bool finalized;
        }

        function open(address payee, address token, uint128 deposit, bytes32 salt, address authorizedSigner) external returns (bytes32 channelId);
        function settle(bytes32 channelId, uint128 cumulativeAmount, bytes signature) external;
        function topUp(bytes32 channelId, uint128 additionalDeposit) external;
        function close(bytes32 channelId, uint128 cumulativeAmount, bytes signature) external;
        function requestClose(bytes32 channelId) external;
        function withdraw(bytes32 channelId) external;
        function CLOSE_GRACE_PERIOD() external view returns (uint64);
        function getChannel(bytes32 channelId) external view returns (Channel memory);

        event ChannelOpened(bytes32 indexed channelId, address indexed payer, address indexed payee, address token, address authorizedSigner, uint256 deposit);
        event TopUp(bytes32 indexed channelId, uint256 additionalDeposit, uint256 newDeposit);
    }

    /// §"Type Definitions".
    struct Voucher {
        bytes32 channelId;
        uint128 cumulativeAmount;
    }
}

/// A channel's state on mppconf's escrow at `escrow` (a channel never
/// opened reads as all zeros).
pub async fn channel(rpc: &Rpc, escrow: Address, id: B256) -> Result<IEvmPaymentChannel::Channel> {
    let call = IEvmPaymentChannel::getChannelCall { channelId: id };
    let out = rpc
        .call(
            "eth_call",
            json!([{"to": escrow, "data": Bytes::from(call.abi_encode())}, "latest"]),
        )
        .await?;
    let failed = |reason: String| Error::Chain {
        url: rpc.url().to_string(),
        reason: format!("getChannel({id}) on {escrow}: {reason}"),
    };
    let bytes: Bytes =
        serde_json::from_value(out.clone()).map_err(|e| failed(format!("{out}: {e}")))?;
    IEvmPaymentChannel::getChannelCall::abi_decode_returns(&bytes)
        .map_err(|e| failed(e.to_string()))
}
