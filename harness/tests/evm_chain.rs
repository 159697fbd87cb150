//! The local EVM chain of EVM charge: a plain anvil with mppconf's own
//! EIP-3009 token (`harness/contracts/MppTestToken.sol`) and Permit2
//! copied from the pinned anvil's tempo mode. The EVM charge checks' chain
//! evidence rests on these: the token settles an authorization signed on
//! the suite's offline digest once and only once, Permit2 settles a
//! witness transfer signed on the suite's offline digest with the
//! canonical witness type string, and refuses it with the draft's literal
//! one (ambiguity.evm-witness-type-string, measured here).

use alloy::primitives::{Address, Bytes, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use mppconf_harness::chain::evm::{IMppTestToken, IPermit2, LocalEvm, transfers_in};
use mppconf_harness::reference::evm as build;
use mppconf_suite::methods::evm::{AuthorizationMessage, Permit2Message, challenge_hash};

async fn send(
    local: &LocalEvm,
    signer: &PrivateKeySigner,
    to: Address,
    input: Vec<u8>,
) -> serde_json::Value {
    let rpc = local.chain.rpc();
    let raw = build::sign_call(&rpc, local.chain.chain_id, to, input, signer)
        .await
        .unwrap();
    build::broadcast(&rpc, &raw).await.unwrap()
}

async fn funded(local: &LocalEvm) -> PrivateKeySigner {
    let signer = PrivateKeySigner::random();
    local
        .chain
        .fund(signer.address(), U256::from(1_000_000u64))
        .await
        .unwrap();
    signer
}

#[tokio::test]
async fn an_authorization_on_the_offline_digest_settles_once() {
    let local = LocalEvm::start().await.unwrap();
    let chain = &local.chain;
    let payer = funded(&local).await;
    let relayer = funded(&local).await;
    let to = Address::random();
    let domain = build::token_domain_of(&chain.rpc(), chain.chain_id, chain.token)
        .await
        .unwrap();
    let message = AuthorizationMessage {
        from: payer.address(),
        to,
        value: U256::from(1234u64),
        valid_after: U256::ZERO,
        valid_before: U256::from(u64::MAX),
        nonce: challenge_hash("id-1", "realm"),
    };
    let signature = payer.sign_hash_sync(&message.digest(&domain)).unwrap();
    let call = IMppTestToken::transferWithAuthorizationCall {
        from: message.from,
        to,
        value: message.value,
        validAfter: message.valid_after,
        validBefore: message.valid_before,
        nonce: message.nonce,
        v: 27 + u8::from(signature.v()),
        r: signature.r().into(),
        s: signature.s().into(),
    }
    .abi_encode();
    let first = send(&local, &relayer, chain.token, call.clone()).await;
    assert_eq!(first["status"], "0x1", "{first}");
    let transfers = transfers_in(&first);
    assert_eq!(transfers.len(), 1);
    assert_eq!((transfers[0].from, transfers[0].to), (payer.address(), to));
    assert_eq!(transfers[0].amount, U256::from(1234u64));
    assert!(
        chain
            .authorization_used(payer.address(), message.nonce)
            .await
            .unwrap()
    );
    let again = send(&local, &relayer, chain.token, call).await;
    assert_eq!(again["status"], "0x0", "a consumed nonce settles again");
    assert_eq!(chain.balance(to).await.unwrap(), U256::from(1234u64));
}

fn permit_call(
    message: &Permit2Message,
    owner: Address,
    to: Address,
    signature: Vec<u8>,
    type_string: &str,
) -> Vec<u8> {
    IPermit2::permitWitnessTransferFrom_0Call {
        permit: IPermit2::PermitTransferFrom {
            permitted: IPermit2::TokenPermissions {
                token: message.permitted[0].0,
                amount: message.permitted[0].1,
            },
            nonce: message.nonce,
            deadline: message.deadline,
        },
        transferDetails: IPermit2::SignatureTransferDetails {
            to,
            requestedAmount: message.permitted[0].1,
        },
        owner,
        witness: message.witness_hash(),
        witnessTypeString: type_string.into(),
        signature: Bytes::from(signature),
    }
    .abi_encode()
}

#[tokio::test]
async fn permit2_settles_the_canonical_witness_and_refuses_the_literal_one() {
    let local = LocalEvm::start().await.unwrap();
    let chain = &local.chain;
    let payer = funded(&local).await;
    let spender = funded(&local).await;
    chain.approve_permit2(payer.address()).await.unwrap();
    let to = Address::random();
    let message = Permit2Message {
        permitted: vec![(chain.token, U256::from(500u64))],
        spender: spender.address(),
        nonce: U256::from(7u64),
        deadline: U256::from(u64::MAX),
        challenge_hash: challenge_hash("id-2", "realm"),
        external_id: "order-1".into(),
    };
    let signature = payer
        .sign_hash_sync(&message.digest(chain.chain_id, chain.permit2))
        .unwrap()
        .as_bytes()
        .to_vec();
    let literal = "PaymentWitness witness)PaymentWitness(bytes32 challengeHash, string externalId)TokenPermissions(address token,uint256 amount)";
    let refused = send(
        &local,
        &spender,
        chain.permit2,
        permit_call(&message, payer.address(), to, signature.clone(), literal),
    )
    .await;
    assert_eq!(refused["status"], "0x0", "the literal type string settled");
    assert!(
        !chain
            .permit2_nonce_used(payer.address(), message.nonce)
            .await
            .unwrap()
    );
    let canonical = mppconf_harness::reference::server::WITNESS_TYPE_STRING;
    let settled = send(
        &local,
        &spender,
        chain.permit2,
        permit_call(&message, payer.address(), to, signature.clone(), canonical),
    )
    .await;
    assert_eq!(settled["status"], "0x1", "{settled}");
    assert_eq!(chain.balance(to).await.unwrap(), U256::from(500u64));
    assert!(
        chain
            .permit2_nonce_used(payer.address(), message.nonce)
            .await
            .unwrap()
    );
    // The nonce is spent: the same permit again reverts.
    let again = send(
        &local,
        &spender,
        chain.permit2,
        permit_call(&message, payer.address(), to, signature, canonical),
    )
    .await;
    assert_eq!(again["status"], "0x0");
}

#[tokio::test]
async fn permit2_needs_the_payers_approval() {
    let local = LocalEvm::start().await.unwrap();
    let chain = &local.chain;
    let payer = funded(&local).await;
    let spender = funded(&local).await;
    let message = Permit2Message {
        permitted: vec![(chain.token, U256::from(5u64))],
        spender: spender.address(),
        nonce: U256::from(1u64),
        deadline: U256::from(u64::MAX),
        challenge_hash: challenge_hash("id-3", "realm"),
        external_id: String::new(),
    };
    let signature = payer
        .sign_hash_sync(&message.digest(chain.chain_id, chain.permit2))
        .unwrap()
        .as_bytes()
        .to_vec();
    let canonical = mppconf_harness::reference::server::WITNESS_TYPE_STRING;
    let receipt = send(
        &local,
        &spender,
        chain.permit2,
        permit_call(
            &message,
            payer.address(),
            Address::random(),
            signature,
            canonical,
        ),
    )
    .await;
    assert_eq!(
        receipt["status"], "0x0",
        "Permit2 moved tokens it was never approved for"
    );
}

#[tokio::test]
async fn permit2_settles_a_batch_with_splits_atomically() {
    let local = LocalEvm::start().await.unwrap();
    let chain = &local.chain;
    let payer = funded(&local).await;
    let spender = funded(&local).await;
    chain.approve_permit2(payer.address()).await.unwrap();
    let (primary, platform) = (Address::random(), Address::random());
    let message = Permit2Message {
        permitted: vec![
            (chain.token, U256::from(900u64)),
            (chain.token, U256::from(100u64)),
        ],
        spender: spender.address(),
        nonce: U256::from(9u64),
        deadline: U256::from(u64::MAX),
        challenge_hash: challenge_hash("id-4", "realm"),
        external_id: String::new(),
    };
    let signature = payer
        .sign_hash_sync(&message.digest(chain.chain_id, chain.permit2))
        .unwrap()
        .as_bytes()
        .to_vec();
    let details = [(primary, 900u64), (platform, 100u64)];
    let call = IPermit2::permitWitnessTransferFrom_1Call {
        permit: IPermit2::PermitBatchTransferFrom {
            permitted: message
                .permitted
                .iter()
                .map(|&(token, amount)| IPermit2::TokenPermissions { token, amount })
                .collect(),
            nonce: message.nonce,
            deadline: message.deadline,
        },
        transferDetails: details
            .iter()
            .map(|&(to, amount)| IPermit2::SignatureTransferDetails {
                to,
                requestedAmount: U256::from(amount),
            })
            .collect(),
        owner: payer.address(),
        witness: message.witness_hash(),
        witnessTypeString: mppconf_harness::reference::server::WITNESS_TYPE_STRING.into(),
        signature: Bytes::from(signature),
    }
    .abi_encode();
    let receipt = send(&local, &spender, chain.permit2, call).await;
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let paid: Vec<(Address, U256)> = transfers_in(&receipt)
        .iter()
        .map(|t| (t.to, t.amount))
        .collect();
    assert_eq!(
        paid,
        vec![
            (primary, U256::from(900u64)),
            (platform, U256::from(100u64))
        ]
    );
}
