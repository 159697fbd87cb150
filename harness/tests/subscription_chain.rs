//! What draft-tempo-subscription-00 needs of the chain, on mppconf's local
//! one: tempo-mode anvil at hardfork t4 enforces TIP-1011 (introduced in
//! T3). A root account's signed key authorization (built with
//! `tempo-primitives`: a per-period `TokenLimit` and one recipient-bound
//! `transfer` scope, exactly what the offline verifier accepts) is
//! registered by an activation transaction that the access key itself
//! signs and a fee payer sponsors (§"Activation and First-Period
//! Charge"); then the chain refuses a second charge in the same period,
//! lets one through in the next, gives no extra capacity for missed
//! periods (§"Billing Anchor and Subscription State"), and refuses calls
//! outside the scope: another recipient, `approve` (§"Authorization Scope
//! Verification"). A refusal is a mined transaction with status 0x0.

use std::num::NonZeroU64;

use alloy::eips::Encodable2718;
use alloy::primitives::{Address, U256, address};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::SolCall;
use mppconf_harness::chain::{Anvil, AnvilConfig, Rpc};
use mppconf_harness::reference::tx;
use serde_json::json;
use tempo_alloy::primitives::transaction::{
    Call, CallScope, FEE_PAYER_SIGNATURE_MARKER, KeyAuthorization, KeychainSignature,
    PrimitiveSignature, SelectorRule, SignatureType, SignedKeyAuthorization, TempoSignature,
    TempoTransaction, TokenLimit,
};

const PATH_USD: Address = address!("0x20c0000000000000000000000000000000000000");
/// The sponsor's fee token (anvil's dev accounts hold it).
const ALPHA_USD: Address = address!("0x20c0000000000000000000000000000000000001");
/// Anvil's dev account 1: the server that sponsors fees.
const FEE_PAYER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const DAY: u64 = 86_400;
const AMOUNT: u64 = 1000;

sol! {
    interface ITip20 {
        function transfer(address to, uint256 amount) external returns (bool);
        function approve(address spender, uint256 amount) external returns (bool);
    }
}

/// The subscription's parties on the chain.
struct Subscription {
    rpc: Rpc,
    chain_id: u64,
    root: PrivateKeySigner,
    access_key: PrivateKeySigner,
    fee_payer: PrivateKeySigner,
}

impl Subscription {
    /// `calls` from the root's account, signed by the access key (a V2
    /// keychain signature), sponsored by the fee payer, optionally carrying
    /// `authorization`; mined: whether it succeeded.
    async fn send(&self, calls: Vec<Call>, authorization: Option<SignedKeyAuthorization>) -> bool {
        let (max_fee_per_gas, max_priority_fee_per_gas) = tx::fee_params(&self.rpc).await.unwrap();
        let mut t = TempoTransaction {
            chain_id: self.chain_id,
            fee_token: None,
            max_priority_fee_per_gas,
            max_fee_per_gas,
            // A key authorization with a call scope costs about 4.8 M gas
            // under T4, and anvil's estimate does not see it.
            gas_limit: 10_000_000,
            calls,
            nonce_key: U256::MAX,
            nonce: 0,
            valid_before: NonZeroU64::new(self.rpc.block_time().await.unwrap() + 25),
            fee_payer_signature: Some(FEE_PAYER_SIGNATURE_MARKER),
            key_authorization: authorization,
            ..Default::default()
        };
        let root = self.root.address();
        let digest = KeychainSignature::signing_hash(t.signature_hash(), root);
        let inner = self.access_key.sign_hash_sync(&digest).unwrap();
        let signature = TempoSignature::Keychain(KeychainSignature::new(
            root,
            PrimitiveSignature::Secp256k1(inner),
        ));
        t.fee_token = Some(ALPHA_USD);
        let sponsor = self
            .fee_payer
            .sign_hash_sync(&t.fee_payer_signature_hash(root))
            .unwrap();
        t.fee_payer_signature = Some(sponsor);
        let raw = t.into_signed(signature).encoded_2718();
        let receipt = self
            .rpc
            .call(
                "eth_sendRawTransactionSync",
                json!([alloy::primitives::Bytes::from(raw)]),
            )
            .await
            .expect("the transaction is mined (a dropped one times out here)");
        receipt["status"] == "0x1"
    }

    async fn advance(&self, seconds: u64) {
        self.rpc
            .call("evm_increaseTime", json!([seconds]))
            .await
            .unwrap();
        self.rpc.call("evm_mine", json!([])).await.unwrap();
    }
}

fn transfer(to: Address, amount: u64) -> Call {
    tx::call(
        PATH_USD,
        ITip20::transferCall {
            to,
            amount: U256::from(amount),
        }
        .abi_encode(),
    )
}

#[tokio::test]
async fn the_local_chain_enforces_a_subscription_keys_period_limit_and_scope() {
    let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
    let rpc = chain.rpc();
    let chain_id = rpc.chain_id().await.unwrap();
    let s = Subscription {
        rpc: chain.rpc(),
        chain_id,
        root: PrivateKeySigner::random(),
        access_key: PrivateKeySigner::random(),
        fee_payer: FEE_PAYER_KEY.parse().unwrap(),
    };
    tx::fund(&rpc, PATH_USD, s.root.address(), U256::from(1_000_000u64))
        .await
        .unwrap();
    let (recipient, other) = (Address::random(), Address::random());
    let expiry = rpc.block_time().await.unwrap() + 365 * DAY;
    let authorization = KeyAuthorization {
        chain_id,
        key_type: SignatureType::Secp256k1,
        key_id: s.access_key.address(),
        expiry: NonZeroU64::new(expiry),
        limits: Some(vec![TokenLimit {
            token: PATH_USD,
            limit: U256::from(AMOUNT),
            period: DAY,
        }]),
        allowed_calls: Some(vec![CallScope {
            target: PATH_USD,
            selector_rules: vec![SelectorRule {
                selector: ITip20::transferCall::SELECTOR,
                recipients: vec![recipient],
            }],
        }]),
        witness: None,
        is_admin: false,
        account: None,
    };
    let root_signature = s
        .root
        .sign_hash_sync(&authorization.signature_hash())
        .unwrap();
    let signed = authorization.into_signed(PrimitiveSignature::Secp256k1(root_signature));

    // What the offline verifier says of the same authorization, for the
    // request it answers.
    let request = json!({
        "amount": AMOUNT.to_string(),
        "currency": PATH_USD.to_string(),
        "periodUnit": "day",
        "periodCount": "1",
        "subscriptionExpires": chrono::DateTime::from_timestamp(expiry as i64, 0).unwrap().to_rfc3339(),
        "recipient": recipient.to_string(),
        "methodDetails": {"accessKey": {"accessKeyAddress": s.access_key.address().to_string(), "keyType": "secp256k1"}, "chainId": chain_id},
    });
    let mut encoded = Vec::new();
    alloy::rlp::Encodable::encode(&signed, &mut encoded);
    let granted = mppconf_suite::methods::tempo_subscription::verify_op(&json!({
        "request": request,
        "payload": {"type": "keyAuthorization", "signature": format!("0x{}", alloy::hex::encode(&encoded))},
    }))
    .unwrap();
    assert_eq!(
        granted["signer"],
        format!("{:#x}", s.root.address()),
        "{granted}"
    );

    let balance = || tx::balance_of(&rpc, PATH_USD, recipient);

    // Activation: the authorization and the first period's charge in one
    // transaction, signed by the access key.
    assert!(
        s.send(vec![transfer(recipient, AMOUNT)], Some(signed))
            .await,
        "activation with the key authorization and the first charge"
    );
    assert_eq!(balance().await.unwrap(), U256::from(AMOUNT));
    // A second charge in the same period.
    assert!(
        !s.send(vec![transfer(recipient, AMOUNT)], None).await,
        "a second charge in the first period was mined"
    );
    // The next period: one charge, and no more.
    s.advance(DAY + 1).await;
    assert!(
        s.send(vec![transfer(recipient, AMOUNT)], None).await,
        "the next period's charge"
    );
    assert!(
        !s.send(vec![transfer(recipient, 1)], None).await,
        "a second charge in the second period was mined"
    );
    // Three periods missed: still one period's capacity.
    s.advance(3 * DAY).await;
    assert!(
        !s.send(vec![transfer(recipient, 2 * AMOUNT)], None).await,
        "missed periods gave extra capacity"
    );
    assert!(
        s.send(vec![transfer(recipient, AMOUNT)], None).await,
        "the current period's charge after missed ones"
    );
    assert_eq!(balance().await.unwrap(), U256::from(3 * AMOUNT));
    // Outside the scope, in a fresh period: another recipient, approve.
    s.advance(DAY + 1).await;
    assert!(
        !s.send(vec![transfer(other, 1)], None).await,
        "a transfer to another recipient was mined"
    );
    let approve = tx::call(
        PATH_USD,
        ITip20::approveCall {
            spender: recipient,
            amount: U256::from(1),
        }
        .abi_encode(),
    );
    assert!(!s.send(vec![approve], None).await, "an approve was mined");
    assert_eq!(
        tx::balance_of(&rpc, PATH_USD, other).await.unwrap(),
        U256::ZERO
    );
    // The scope's own call still goes through.
    assert!(s.send(vec![transfer(recipient, 1)], None).await);
}
