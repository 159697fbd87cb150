//! The local EVM chain of EVM charge (draft-evm-charge-00): a plain anvil
//! with mppconf's own EIP-3009/EIP-2612 token (`MppTestToken.sol`) and
//! Uniswap's Permit2 at its canonical address.
//!
//! Plain anvil has neither (CHAIN.md §"Sessions and EVM"). The token is
//! compiled from our source; Permit2's runtime code is read from the
//! pinned anvil's own tempo mode, where it is predeployed, and cached
//! beside that anvil, so no third-party bytecode is vendored and a warm
//! set-up starts no second chain.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, U256, address};
use alloy::sol;
use alloy::sol_types::{SolCall, SolEvent};
use serde_json::{Value, json};

use super::anvil::{ANVIL_NPM_VERSION, Anvil, AnvilConfig, Network};
use super::contracts::{self, MPP_TEST_TOKEN};
use super::npm;
use super::rpc::Rpc;
use crate::error::{Error, Result};

/// Permit2's canonical address (draft-evm-charge-00 §"Terminology").
pub const PERMIT2: Address = address!("0x000000000022D473030F116dDEE9F6B43aC78BA3");

sol! {
    /// The token's interface: ERC-20, EIP-2612, EIP-3009, and `mint`.
    interface IMppTestToken {
        function mint(address to, uint256 amount) external;
        function balanceOf(address owner) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
        function approve(address spender, uint256 amount) external returns (bool);
        function transfer(address to, uint256 amount) external returns (bool);
        function name() external view returns (string memory);
        function version() external view returns (string memory);
        function DOMAIN_SEPARATOR() external view returns (bytes32);
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
        function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external;

        event Transfer(address indexed from, address indexed to, uint256 amount);
        event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
    }

    /// Permit2's SignatureTransfer half, as draft-evm-charge-00 uses it.
    interface IPermit2 {
        struct TokenPermissions { address token; uint256 amount; }
        struct PermitTransferFrom { TokenPermissions permitted; uint256 nonce; uint256 deadline; }
        struct PermitBatchTransferFrom { TokenPermissions[] permitted; uint256 nonce; uint256 deadline; }
        struct SignatureTransferDetails { address to; uint256 requestedAmount; }

        function permitWitnessTransferFrom(PermitTransferFrom permit, SignatureTransferDetails transferDetails, address owner, bytes32 witness, string witnessTypeString, bytes signature) external;
        /// The batch form: an overload of the same name on the canonical
        /// Permit2 (selector 0xfe8ec1a7); no `permitBatchWitnessTransferFrom`
        /// exists there, whatever draft-evm-charge-00 calls it
        /// (ambiguity.evm-permit2-batch-function).
        function permitWitnessTransferFrom(PermitBatchTransferFrom permit, SignatureTransferDetails[] transferDetails, address owner, bytes32 witness, string witnessTypeString, bytes signature) external;
        function nonceBitmap(address owner, uint256 wordPosition) external view returns (uint256);
        function DOMAIN_SEPARATOR() external view returns (bytes32);
    }
}

/// An EVM chain ready for EVM charge: the token and Permit2 are there.
#[derive(Debug, Clone)]
pub struct EvmChain {
    pub rpc_url: String,
    pub chain_id: u64,
    /// mppconf's EIP-3009 token (six decimals).
    pub token: Address,
    pub permit2: Address,
}

/// A started plain anvil and its EVM charge set-up; the chain stops when
/// this is dropped.
#[derive(Debug)]
pub struct LocalEvm {
    pub anvil: Anvil,
    pub chain: EvmChain,
    /// Start and set-up together.
    pub ready_in: Duration,
}

impl LocalEvm {
    /// Starts a plain anvil and sets it up ([`EvmChain::prepare`]).
    pub async fn start() -> Result<Self> {
        let started = Instant::now();
        let anvil = Anvil::start(&AnvilConfig {
            network: Network::Plain,
            ..AnvilConfig::default()
        })
        .await?;
        let chain = EvmChain::prepare(&anvil.rpc()).await?;
        Ok(Self {
            anvil,
            chain,
            ready_in: started.elapsed(),
        })
    }
}

impl EvmChain {
    /// Deploys a fresh token and makes sure Permit2 is at its canonical
    /// address (predeployed on a tempo-mode anvil; copied onto a plain
    /// one).
    pub async fn prepare(rpc: &Rpc) -> Result<Self> {
        let chain_id = rpc.chain_id().await?;
        if !has_code(rpc, PERMIT2).await? {
            let code = permit2_runtime().await?;
            rpc.call("anvil_setCode", json!([PERMIT2, Bytes::from(code)]))
                .await?;
        }
        let artifact = contracts::artifact(&MPP_TEST_TOKEN)?;
        let token = contracts::deploy(rpc, &artifact).await?;
        Ok(Self {
            rpc_url: rpc.url().to_string(),
            chain_id,
            token,
            permit2: PERMIT2,
        })
    }

    pub fn rpc(&self) -> Rpc {
        Rpc::new(&self.rpc_url)
    }

    /// Gives `who` native currency for gas and `amount` of the token; on
    /// a tempo-mode anvil, where gas is paid in a TIP-20 fee token, also
    /// 100 PathUSD for fees.
    pub async fn fund(&self, who: Address, amount: U256) -> Result<()> {
        let rpc = self.rpc();
        rpc.call(
            "anvil_setBalance",
            json!([who, U256::from(10u64).pow(U256::from(18u64))]),
        )
        .await?;
        let path_usd: Address = super::anvil::PATH_USD.parse().map_err(|_| Error::Chain {
            url: self.rpc_url.clone(),
            reason: "PathUSD address".into(),
        })?;
        if has_code(&rpc, path_usd).await? {
            crate::reference::tx::fund(&rpc, path_usd, who, U256::from(100_000_000u64)).await?;
        }
        let funder = first_account(&rpc).await?;
        let minted = super::escrow::send_as(
            &rpc,
            funder,
            self.token,
            IMppTestToken::mintCall { to: who, amount }.abi_encode(),
        )
        .await?;
        minted.map(|_| ()).ok_or_else(|| Error::Chain {
            url: self.rpc_url.clone(),
            reason: format!("minting {amount} for {who} reverted"),
        })
    }

    /// Approves Permit2 for `owner` without its key (anvil's account
    /// impersonation): the one-time set-up draft-evm-charge-00 §"Permit2
    /// Payload" presumes.
    pub async fn approve_permit2(&self, owner: Address) -> Result<()> {
        let rpc = self.rpc();
        rpc.call("anvil_impersonateAccount", json!([owner])).await?;
        let approved = super::escrow::send_as(
            &rpc,
            owner,
            self.token,
            IMppTestToken::approveCall {
                spender: self.permit2,
                amount: U256::MAX,
            }
            .abi_encode(),
        )
        .await;
        rpc.call("anvil_stopImpersonatingAccount", json!([owner]))
            .await?;
        approved?.map(|_| ()).ok_or_else(|| Error::Chain {
            url: self.rpc_url.clone(),
            reason: format!("approving Permit2 for {owner} reverted"),
        })
    }

    /// `balanceOf(who)`.
    pub async fn balance(&self, who: Address) -> Result<U256> {
        self.view(self.token, IMppTestToken::balanceOfCall { owner: who })
            .await
    }

    /// Whether the token has consumed `nonce` of `authorizer`.
    pub async fn authorization_used(&self, authorizer: Address, nonce: B256) -> Result<bool> {
        self.view(
            self.token,
            IMppTestToken::authorizationStateCall { authorizer, nonce },
        )
        .await
    }

    /// Whether Permit2 has consumed `nonce` of `owner` (its unordered
    /// nonce bitmap).
    pub async fn permit2_nonce_used(&self, owner: Address, nonce: U256) -> Result<bool> {
        let word: U256 = nonce >> 8;
        let bit = (nonce & U256::from(0xffu8)).to::<usize>();
        let bitmap = self
            .view(
                self.permit2,
                IPermit2::nonceBitmapCall {
                    owner,
                    wordPosition: word,
                },
            )
            .await?;
        Ok(bitmap.bit(bit))
    }

    async fn view<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return> {
        let out = self
            .rpc()
            .call(
                "eth_call",
                json!([{"to": to, "data": Bytes::from(call.abi_encode())}, "latest"]),
            )
            .await?;
        let failed = |reason: String| Error::Chain {
            url: self.rpc_url.clone(),
            reason: format!("{} on {to}: {reason}", C::SIGNATURE),
        };
        let bytes: Bytes =
            serde_json::from_value(out.clone()).map_err(|e| failed(format!("{out}: {e}")))?;
        C::abi_decode_returns(&bytes).map_err(|e| failed(e.to_string()))
    }
}

/// One ERC-20 `Transfer` log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTransfer {
    pub token: Address,
    pub from: Address,
    pub to: Address,
    pub amount: U256,
}

/// The ERC-20 `Transfer` logs of a transaction receipt, in log order,
/// without gas fees: on a tempo-mode chain the fee is a `Transfer` of the
/// fee token to the FeeManager (CHAIN.md), which pays no one.
pub fn transfers_in(receipt: &Value) -> Vec<TokenTransfer> {
    receipt["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|log| {
            let token: Address = log["address"].as_str()?.parse().ok()?;
            let topics: Vec<B256> = serde_json::from_value(log["topics"].clone()).ok()?;
            let data: Bytes = serde_json::from_value(log["data"].clone()).ok()?;
            if topics.first() != Some(&IMppTestToken::Transfer::SIGNATURE_HASH) {
                return None;
            }
            let t = IMppTestToken::Transfer::decode_raw_log(topics, &data).ok()?;
            if t.to == mppconf_suite::methods::tempo_effects::FEE_MANAGER {
                return None;
            }
            Some(TokenTransfer {
                token,
                from: t.from,
                to: t.to,
                amount: t.amount,
            })
        })
        .collect()
}

async fn has_code(rpc: &Rpc, at: Address) -> Result<bool> {
    let code = rpc.call("eth_getCode", json!([at, "latest"])).await?;
    Ok(code.as_str().is_some_and(|c| c.len() > 2))
}

async fn first_account(rpc: &Rpc) -> Result<Address> {
    let accounts = rpc.call("eth_accounts", json!([])).await?;
    accounts[0]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| Error::Chain {
            url: rpc.url().to_string(),
            reason: "the chain has no unlocked account".into(),
        })
}

/// Permit2's runtime code: from the cache beside the pinned anvil, or
/// read now from a tempo-mode anvil started for it.
async fn permit2_runtime() -> Result<Vec<u8>> {
    let path = npm::cache_dir()
        .join(format!("anvil-{ANVIL_NPM_VERSION}"))
        .join("permit2-runtime.hex");
    if let Ok(hex) = std::fs::read_to_string(&path)
        && let Ok(code) = alloy::hex::decode(hex.trim())
        && !code.is_empty()
    {
        return Ok(code);
    }
    let tempo = Anvil::start(&AnvilConfig::default()).await?;
    let code = tempo
        .rpc()
        .call("eth_getCode", json!([PERMIT2, "latest"]))
        .await?;
    let code: Bytes = serde_json::from_value(code.clone())
        .ok()
        .filter(|c: &Bytes| !c.is_empty())
        .ok_or_else(|| Error::Chain {
            url: tempo.rpc_url.clone(),
            reason: format!(
                "no Permit2 at {PERMIT2} on anvil {ANVIL_NPM_VERSION}'s tempo mode ({code}): set it up on the chain yourself"
            ),
        })?;
    let dir = path.parent().expect("the cache path has a folder");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let staging = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&staging, alloy::hex::encode(&code)).map_err(|e| Error::io(&staging, e))?;
    std::fs::rename(&staging, &path).map_err(|e| Error::io(&path, e))?;
    Ok(code.to_vec())
}
