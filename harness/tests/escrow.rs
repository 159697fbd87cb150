//! mppconf's Tempo session escrow (`harness/contracts/TempoStreamChannel.sol`)
//! compiled by the project and deployed on the local chain: its channel id,
//! domain and voucher digest agree with the suite's offline functions, and
//! it enforces draft-tempo-session-00 §"Access Control" and §"Signature
//! Verification" and moves exactly the amounts §"Contract Functions" says.
//! The session checks' chain evidence rests on this contract.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use mppconf_harness::chain::escrow::{self, Escrow, EscrowEvent, ITempoStreamChannel as E, ITip20};
use mppconf_harness::chain::{Anvil, AnvilConfig, Rpc};
use mppconf_harness::reference::tx;
use mppconf_suite::methods::tempo_session::{self as offline, SessionProtocol};

/// Anvil's dev accounts 2 (payee) and 3 (payer).
const PAYEE_KEY: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const PAYER_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";

fn key(hex: &str) -> PrivateKeySigner {
    hex.parse().expect("a dev key")
}

/// ThetaUSD. Accounts may pay fees in it, so what the escrow paid is read
/// from the token's Transfer logs, not from balances.
fn token() -> Address {
    "0x20c0000000000000000000000000000000000003"
        .parse()
        .unwrap()
}

/// A voucher signature, 65 bytes `r || s || v` with v 27 or 28.
fn voucher(
    signer: &PrivateKeySigner,
    escrow: &Escrow,
    chain_id: u64,
    channel: B256,
    amount: u128,
) -> Vec<u8> {
    let digest = offline::voucher_digest(
        SessionProtocol::V1,
        chain_id,
        escrow.address,
        channel,
        U256::from(amount),
    )
    .unwrap();
    signer.sign_hash_sync(&digest).unwrap().as_bytes().to_vec()
}

struct Setup {
    chain: Anvil,
    escrow: Escrow,
    payer: PrivateKeySigner,
    payee: PrivateKeySigner,
}

impl Setup {
    async fn new() -> Self {
        let chain = Anvil::start(&AnvilConfig::default()).await.expect("anvil");
        let escrow = Escrow::deploy(&chain.rpc())
            .await
            .expect("the escrow deploys");
        let (payer, payee) = (key(PAYER_KEY), key(PAYEE_KEY));
        tx::fund(
            &chain.rpc(),
            token(),
            payer.address(),
            U256::from(10_000_000u64),
        )
        .await
        .unwrap();
        let approve = ITip20::approveCall {
            spender: escrow.address,
            amount: U256::MAX,
        };
        escrow::send_as(&chain.rpc(), payer.address(), token(), approve.abi_encode())
            .await
            .unwrap()
            .expect("approve goes through");
        Self {
            chain,
            escrow,
            payer,
            payee,
        }
    }

    fn rpc(&self) -> Rpc {
        self.chain.rpc()
    }

    async fn open(&self, salt: u8, deposit: u128) -> B256 {
        let salt = B256::repeat_byte(salt);
        let call = E::openCall {
            payee: self.payee.address(),
            token: token(),
            deposit,
            salt,
            authorizedSigner: Address::ZERO,
        };
        self.escrow
            .send_as(self.payer.address(), call)
            .await
            .unwrap()
            .expect("open goes through");
        self.escrow
            .channel_id(
                self.payer.address(),
                self.payee.address(),
                token(),
                salt,
                Address::ZERO,
            )
            .await
            .unwrap()
    }

    async fn settle(&self, from: Address, channel: B256, amount: u128, signature: Vec<u8>) -> bool {
        let call = E::settleCall {
            channelId: channel,
            cumulativeAmount: amount,
            signature: Bytes::from(signature),
        };
        self.escrow.send_as(from, call).await.unwrap().is_some()
    }

    async fn balance(&self, who: Address) -> U256 {
        tx::balance_of(&self.rpc(), token(), who).await.unwrap()
    }

    /// The sum of the token's Transfer logs from the escrow to `to`.
    async fn paid_to(&self, to: Address) -> U256 {
        let transfer = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
        let logs = self
            .rpc()
            .call(
                "eth_getLogs",
                serde_json::json!([{
                    "address": token().to_string(),
                    "fromBlock": "0x0",
                    "toBlock": "latest",
                    "topics": [transfer, B256::left_padding_from(self.escrow.address.as_slice()).to_string(),
                        B256::left_padding_from(to.as_slice()).to_string()],
                }]),
            )
            .await
            .unwrap();
        logs.as_array()
            .unwrap()
            .iter()
            .map(|l| {
                U256::from_str_radix(l["data"].as_str().unwrap().trim_start_matches("0x"), 16)
                    .unwrap()
            })
            .sum()
    }
}

#[tokio::test]
async fn the_escrow_and_the_offline_functions_agree() {
    let s = Setup::new().await;
    let chain_id = s.chain.chain_id;
    assert_eq!(
        s.escrow.domain_separator().await.unwrap(),
        offline::domain_separator(SessionProtocol::V1, chain_id, s.escrow.address)
    );
    for (i, signer) in [Address::ZERO, Address::repeat_byte(0x5a)]
        .into_iter()
        .enumerate()
    {
        let salt = B256::repeat_byte(i as u8 + 1);
        let on_chain = s
            .escrow
            .channel_id(s.payer.address(), s.payee.address(), token(), salt, signer)
            .await
            .unwrap();
        let offline = offline::channel_id_v1(
            s.payer.address(),
            s.payee.address(),
            token(),
            salt,
            signer,
            s.escrow.address,
            chain_id,
        );
        assert_eq!(on_chain, offline);
        for amount in [0u128, 1, 1_000_000, u128::MAX] {
            assert_eq!(
                s.escrow.voucher_digest(on_chain, amount).await.unwrap(),
                offline::voucher_digest(
                    SessionProtocol::V1,
                    chain_id,
                    s.escrow.address,
                    on_chain,
                    U256::from(amount)
                )
                .unwrap(),
                "voucher digest of {amount}"
            );
        }
    }
    assert!(
        !escrow::has_channel_reserve(&s.rpc()).await.unwrap(),
        "anvil 1.7.1 has no TIP-1034 precompile (CHAIN.md); v2 checks are blocked"
    );
}

#[tokio::test]
async fn vouchers_settle_exactly_once_and_only_for_their_payee_signer_and_escrow() {
    let s = Setup::new().await;
    let id = s.chain.chain_id;
    let (payer, payee) = (s.payer.address(), s.payee.address());
    let channel = s.open(1, 1_000_000).await;
    assert_eq!(s.balance(s.escrow.address).await, U256::from(1_000_000u64));

    let v300 = voucher(&s.payer, &s.escrow, id, channel, 300_000);
    assert!(
        !s.settle(payer, channel, 300_000, v300.clone()).await,
        "settle is payee only"
    );
    assert!(s.settle(payee, channel, 300_000, v300.clone()).await);
    assert!(
        !s.settle(payee, channel, 300_000, v300).await,
        "an equal amount is a replay"
    );
    let v200 = voucher(&s.payer, &s.escrow, id, channel, 200_000);
    assert!(
        !s.settle(payee, channel, 200_000, v200).await,
        "a lower amount"
    );
    let over = voucher(&s.payer, &s.escrow, id, channel, 1_000_001);
    assert!(
        !s.settle(payee, channel, 1_000_001, over).await,
        "above the deposit"
    );
    let stranger = PrivateKeySigner::random();
    let forged = voucher(&stranger, &s.escrow, id, channel, 400_000);
    assert!(
        !s.settle(payee, channel, 400_000, forged).await,
        "not the payer's signature"
    );
    let other = Escrow::deploy(&s.rpc()).await.unwrap();
    let elsewhere = voucher(&s.payer, &other, id, channel, 400_000);
    assert!(
        !s.settle(payee, channel, 400_000, elsewhere).await,
        "signed for another escrow"
    );
    let other_chain = voucher(&s.payer, &s.escrow, id + 1, channel, 400_000);
    assert!(
        !s.settle(payee, channel, 400_000, other_chain).await,
        "signed for another chain"
    );

    // The malleable twin (r, n - s, v ^ 1) of a good voucher is refused;
    // its EIP-2098 compact form is an accepted format.
    let good = voucher(&s.payer, &s.escrow, id, channel, 500_000);
    let n = U256::from_str_radix(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
        16,
    )
    .unwrap();
    let mut twin = good.clone();
    twin[32..64].copy_from_slice(&(n - U256::from_be_slice(&good[32..64])).to_be_bytes::<32>());
    twin[64] = if good[64] == 27 { 28 } else { 27 };
    assert!(
        !s.settle(payee, channel, 500_000, twin).await,
        "a high-s signature"
    );
    let mut compact = good[..64].to_vec();
    if good[64] == 28 {
        compact[32] |= 0x80;
    }
    assert!(
        s.settle(payee, channel, 500_000, compact).await,
        "the compact form"
    );
    assert_eq!(s.paid_to(payee).await, U256::from(500_000u64));

    // A pending close request is cancelled by a top-up.
    let request = E::requestCloseCall { channelId: channel };
    assert!(
        s.escrow
            .send_as(payee, request.clone())
            .await
            .unwrap()
            .is_none(),
        "requestClose is payer only"
    );
    assert!(s.escrow.send_as(payer, request).await.unwrap().is_some());
    let top_up = E::topUp_0Call {
        channelId: channel,
        additionalDeposit: 500_000,
    };
    assert!(s.escrow.send_as(payer, top_up).await.unwrap().is_some());
    assert_eq!(s.escrow.channel(channel).await.unwrap().closeRequestedAt, 0);

    // Close settles the final voucher and refunds the rest, once.
    let last = voucher(&s.payer, &s.escrow, id, channel, 700_000);
    let close = E::closeCall {
        channelId: channel,
        cumulativeAmount: 700_000,
        signature: Bytes::from(last.clone()),
    };
    assert!(
        s.escrow
            .send_as(payer, close.clone())
            .await
            .unwrap()
            .is_none(),
        "close is payee only"
    );
    assert!(s.escrow.send_as(payee, close).await.unwrap().is_some());
    assert_eq!(s.paid_to(payee).await, U256::from(700_000u64));
    assert_eq!(s.paid_to(payer).await, U256::from(800_000u64));
    assert_eq!(s.balance(s.escrow.address).await, U256::ZERO);
    let state = s.escrow.channel(channel).await.unwrap();
    assert!(state.finalized);
    assert_eq!((state.deposit, state.settled), (1_500_000, 700_000));
    let v900 = voucher(&s.payer, &s.escrow, id, channel, 900_000);
    assert!(
        !s.settle(payee, channel, 900_000, v900).await,
        "a closed channel"
    );

    let u = U256::from;
    let events = s.escrow.events(channel).await.unwrap();
    assert_eq!(events.len(), 7, "{events:?}");
    assert_eq!(
        events[0],
        EscrowEvent::Opened {
            deposit: u(1_000_000u64)
        }
    );
    assert_eq!(
        events[1],
        EscrowEvent::Settled {
            cumulative: u(300_000u64),
            delta: u(300_000u64)
        }
    );
    assert_eq!(
        events[2],
        EscrowEvent::Settled {
            cumulative: u(500_000u64),
            delta: u(200_000u64)
        }
    );
    assert!(matches!(events[3], EscrowEvent::CloseRequested { .. }));
    assert_eq!(events[4], EscrowEvent::CloseRequestCancelled);
    assert_eq!(
        events[5],
        EscrowEvent::TopUp {
            additional: u(500_000u64),
            deposit: u(1_500_000u64)
        }
    );
    assert_eq!(
        events[6],
        EscrowEvent::Closed {
            to_payee: u(200_000u64),
            to_payer: u(800_000u64)
        }
    );
}

#[tokio::test]
async fn a_forced_close_refunds_the_payer_only_after_the_grace_period() {
    let s = Setup::new().await;
    let (payer, payee) = (s.payer.address(), s.payee.address());
    let channel = s.open(2, 400_000).await;
    // The deployed contract's uint256 topUp works as the draft's uint128 one.
    let top_up = E::topUp_1Call {
        channelId: channel,
        additionalDeposit: U256::from(100_000u64),
    };
    assert!(s.escrow.send_as(payer, top_up).await.unwrap().is_some());
    assert_eq!(s.escrow.channel(channel).await.unwrap().deposit, 500_000);
    let v100 = voucher(&s.payer, &s.escrow, s.chain.chain_id, channel, 100_000);
    assert!(s.settle(payee, channel, 100_000, v100).await);
    let withdraw = E::withdrawCall { channelId: channel };
    assert!(
        s.escrow
            .send_as(payer, withdraw.clone())
            .await
            .unwrap()
            .is_none(),
        "no close was requested"
    );
    let request = E::requestCloseCall { channelId: channel };
    assert!(s.escrow.send_as(payer, request).await.unwrap().is_some());
    let requested_at = s.escrow.channel(channel).await.unwrap().closeRequestedAt;
    assert!(
        s.escrow
            .send_as(payer, withdraw.clone())
            .await
            .unwrap()
            .is_none(),
        "inside the grace period"
    );
    // The payee may still settle inside the grace period.
    let v150 = voucher(&s.payer, &s.escrow, s.chain.chain_id, channel, 150_000);
    assert!(s.settle(payee, channel, 150_000, v150).await);
    s.chain.advance_time(15 * 60).await.unwrap();
    assert!(
        s.escrow
            .send_as(payee, withdraw.clone())
            .await
            .unwrap()
            .is_none(),
        "withdraw is payer only"
    );
    assert!(
        s.escrow
            .send_as(payer, withdraw.clone())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(s.paid_to(payer).await, U256::from(350_000u64));
    assert!(
        s.escrow.send_as(payer, withdraw).await.unwrap().is_none(),
        "a finalized channel"
    );
    let events = s.escrow.events(channel).await.unwrap();
    assert_eq!(
        events.last(),
        Some(&EscrowEvent::Closed {
            to_payee: U256::ZERO,
            to_payer: U256::from(350_000u64)
        })
    );
    assert!(events.contains(&EscrowEvent::CloseRequested {
        grace_end: U256::from(requested_at + 900)
    }));
}
