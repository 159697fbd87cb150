//! The reference server's Tempo subscription activation
//! (draft-tempo-subscription-00 §"Activation and First-Period Charge",
//! §"Source Verification", §"Authorization Scope Verification",
//! §"Receipt Generation"): the credential's key authorization judged
//! against the route's request, then registered on chain together with
//! the first period's `transfer`, in one transaction the route's access
//! key signs for the payer and the server's fee payer sponsors. The
//! receipt's `timestamp` is the activation block's (§"Billing Anchor and
//! Subscription State": the anchor comes from the chain).
//!
//! Renewal is not served: the reference run lasts seconds, a billing
//! period at least a day.
//!
//! Each challenge names a fresh access key (§"Access Key Isolation": one
//! per subscription), which the server keeps until a credential for it
//! comes; a route configured with one `access_key` names that one in
//! every challenge.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU64;

use alloy::eips::Encodable2718;
use alloy::primitives::{Address, Bytes, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use mppconf_suite::codec::{Credential, Receipt};
use mppconf_suite::methods::tempo_subscription::{self as rules, Terms};
use serde_json::{Map, Value, json};
use tempo_alloy::primitives::transaction::{
    CallScope, FEE_PAYER_SIGNATURE_MARKER, KeychainSignature, PrimitiveSignature, SelectorRule,
    SignedKeyAuthorization, TempoSignature, TempoTransaction,
};

use super::{Deviation, ProblemType, Refusal, RouteConfig, State, refuse, rfc3339_at, tx};

alloy::sol! {
    interface ITip20Transfer {
        function transfer(address to, uint256 amount) external returns (bool);
    }
}

/// Gas for an activation: a key authorization with a call scope costs
/// about 4.8 M under T4, which anvil's estimate does not see (measured in
/// `tests/subscription_chain.rs`).
const ACTIVATION_GAS: u64 = 10_000_000;

/// The sponsor's fee token: a stablecoin other than the subscription's.
/// With the subscription's own currency as fee token, anvil (t4) drops
/// the activation without a word (measured: the same transaction with
/// AlphaUSD fees mines); the dev-account fee payer holds both.
fn fee_token(currency: Address) -> Address {
    const PATH_USD: Address =
        alloy::primitives::address!("0x20c0000000000000000000000000000000000000");
    const ALPHA_USD: Address =
        alloy::primitives::address!("0x20c0000000000000000000000000000000000001");
    if currency == ALPHA_USD {
        PATH_USD
    } else {
        ALPHA_USD
    }
}

/// What the chain said, without its URL (the RPC endpoint is not for the
/// client's eyes: errors.no-secrets).
fn chain_reason(e: crate::error::Error) -> String {
    match e {
        crate::error::Error::Chain { reason, .. } => reason,
        other => other.to_string(),
    }
}

fn failed(detail: impl Into<String>) -> Refusal {
    refuse(ProblemType::VerificationFailed, detail)
}

/// How many fresh access keys of unanswered challenges the server keeps;
/// past it the oldest is dropped (its challenge then fails verification).
const ACCESS_KEYS_KEPT: usize = 65_536;

/// The access keys the server's subscription challenges named, by
/// address, and the one key per route of [`Deviation::SubscriptionSharedAccessKey`].
#[derive(Default)]
pub(super) struct AccessKeys {
    named: HashMap<Address, PrivateKeySigner>,
    order: VecDeque<Address>,
    per_route: HashMap<String, PrivateKeySigner>,
}

impl AccessKeys {
    fn keep(&mut self, key: PrivateKeySigner) -> Address {
        let address = key.address();
        if self.order.len() >= ACCESS_KEYS_KEPT
            && let Some(oldest) = self.order.pop_front()
        {
            self.named.remove(&oldest);
        }
        self.named.insert(address, key);
        self.order.push_back(address);
        address
    }
}

/// Puts the access key of a new challenge into a subscription route's
/// `request`: a fresh one, kept for its credential, unless the route has
/// one fixed key (already there).
pub(super) fn name_access_key(state: &State, route: &RouteConfig, request: &mut Value) {
    let Some(subscription) = &route.subscription else {
        return;
    };
    if subscription.access_key.is_some() {
        return;
    }
    let mut keys = state.access_keys.lock().unwrap_or_else(|e| e.into_inner());
    let address = if state.deviates(Deviation::SubscriptionSharedAccessKey) {
        let key = keys
            .per_route
            .entry(route.path.clone())
            .or_insert_with(PrivateKeySigner::random)
            .clone();
        keys.named.entry(key.address()).or_insert(key).address()
    } else {
        keys.keep(PrivateKeySigner::random())
    };
    request["methodDetails"]["accessKey"]["accessKeyAddress"] = format!("{address:#x}").into();
}

/// What a challenge of the route was issued with: `wanted`, the route's
/// request, gets the access key the echoed request names when the server
/// named that key (any other key leaves `wanted` unmatched).
pub(super) fn issued_access_key(
    state: &State,
    route: &RouteConfig,
    echoed: &Value,
    wanted: &mut Value,
) {
    if route
        .subscription
        .as_ref()
        .is_none_or(|s| s.access_key.is_some())
    {
        return;
    }
    let Some(address) = rules::access_key_address(echoed) else {
        return;
    };
    let keys = state.access_keys.lock().unwrap_or_else(|e| e.into_inner());
    if keys.named.contains_key(&address) {
        wanted["methodDetails"]["accessKey"]["accessKeyAddress"] =
            echoed["methodDetails"]["accessKey"]["accessKeyAddress"].clone();
    }
}

/// The private half of `access_key`, the key a verified request names:
/// the route's fixed key, or the one the server made for the challenge.
fn signing_key(
    state: &State,
    subscription: &super::config::SubscriptionRoute,
    access_key: Address,
) -> std::result::Result<PrivateKeySigner, Refusal> {
    if let Some(key) = &subscription.access_key {
        return tx::signer_from_key(key, "subscription.access_key")
            .map_err(|e| failed(e.to_string()));
    }
    let keys = state.access_keys.lock().unwrap_or_else(|e| e.into_inner());
    keys.named
        .get(&access_key)
        .cloned()
        .ok_or_else(|| failed("an access key this server no longer holds"))
}

/// Verifies and activates a subscription credential; the receipt of the
/// activation.
pub(super) async fn settle(
    state: &State,
    route: &RouteConfig,
    credential: &Credential,
    wanted: &Value,
    skip_replay: bool,
) -> std::result::Result<Receipt, Refusal> {
    let subscription = route
        .subscription
        .as_ref()
        .ok_or_else(|| failed("not a subscription route"))?;
    let echo = &credential.challenge;
    let terms = Terms::of(wanted, echo.expires.as_deref()).map_err(|e| failed(e.to_string()))?;
    if credential.payload.get("type").and_then(Value::as_str) != Some("keyAuthorization") {
        return Err(failed("payload type must be \"keyAuthorization\""));
    }
    let hex = credential
        .payload
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| failed("payload.signature must be a string"))?;
    let signed = rules::decode(hex).map_err(|e| failed(e.to_string()))?;
    let payer = judge(state, &signed, terms.clone(), credential.source.as_deref())?;
    if state.deviates(Deviation::SubscriptionRequireMemoScope)
        && !signed
            .authorization
            .allowed_calls
            .iter()
            .flatten()
            .flat_map(|s| &s.selector_rules)
            .any(|r| r.selector == rules::TRANSFER_WITH_MEMO)
    {
        return Err(failed("keyAuthorization must allow transferWithMemo"));
    }
    if !skip_replay {
        super::claim_once(state, &echo.id)?;
    }
    // One subscription per payer and route: the route's access key is
    // registered once, and period 0 is charged once (§"Renewal": never
    // two charges for one period). A payer who is subscribed gets the
    // active subscription's receipt.
    let key = (route.path.clone(), payer);
    if let Some(active) = state
        .subscriptions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
    {
        return Ok(active.clone());
    }
    let access_key = signing_key(state, subscription, terms.access_key)?;
    let sponsor = state
        .fee_payer
        .as_ref()
        .ok_or_else(|| failed("no fee payer configured"))?;
    let (hash, block_time) = activate(state, &terms, payer, signed, &access_key, sponsor).await?;
    // §"Activation and First-Period Charge": not active if it settled at
    // or after subscriptionExpires.
    if block_time >= terms.expiry {
        return Err(failed(
            "the activation settled at or after subscriptionExpires",
        ));
    }
    let mut extra = Map::new();
    if !state.deviates(Deviation::SubscriptionReceiptWithoutId) {
        // Opaque and server-issued (§"Receipt Generation"): the
        // activation's hash is unique to it.
        extra.insert(
            "subscriptionId".into(),
            format!("sub_{}", &alloy::hex::encode(hash)[..32]).into(),
        );
    }
    if let Some(e) = wanted
        .get("externalId")
        .filter(|_| !state.deviates(Deviation::DropExternalId))
    {
        extra.insert("externalId".into(), e.clone());
    }
    let receipt = Receipt {
        status: "success".into(),
        method: "tempo".into(),
        timestamp: rfc3339_at(block_time),
        reference: format!("{hash:#x}"),
        extra,
    };
    state
        .subscriptions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, receipt.clone());
    Ok(receipt)
}

/// §"Source Verification" and §"Authorization Scope Verification": the
/// recovered root signer, if the authorization grants what `terms` ask
/// (less what the server's deviations skip).
fn judge(
    state: &State,
    signed: &SignedKeyAuthorization,
    mut terms: Terms,
    source: Option<&str>,
) -> std::result::Result<Address, Refusal> {
    let signer = signed.recover_signer().map_err(|e| {
        failed(format!(
            "no signer recovers from the key authorization: {e}"
        ))
    })?;
    let auth = &signed.authorization;
    let chain_id = terms.chain_id;
    // A skipped comparison is one the terms are made to agree with.
    if state.deviates(Deviation::SubscriptionIgnoreExpiry) {
        terms.expiry = auth.expiry.map_or(0, NonZeroU64::get);
    }
    if state.deviates(Deviation::SubscriptionIgnoreChain) {
        terms.chain_id = auth.chain_id;
    }
    if state.deviates(Deviation::SubscriptionIgnoreAccessKey) {
        terms.access_key = auth.key_id;
        terms.key_type = auth.key_type;
    }
    if state.deviates(Deviation::SubscriptionIgnoreLimit)
        && let Some(limit) = auth
            .limits
            .iter()
            .flatten()
            .find(|l| l.token == terms.currency)
    {
        terms.amount = limit.limit;
        terms.period = limit.period;
    }
    let mut judged = auth.clone();
    if state.deviates(Deviation::SubscriptionIgnoreCallScope) {
        judged.is_admin = false;
        judged.allowed_calls = Some(vec![CallScope {
            target: terms.currency,
            selector_rules: vec![SelectorRule {
                selector: rules::TRANSFER,
                recipients: vec![terms.recipient],
            }],
        }]);
    }
    // The source is compared with the signer recovered from what the
    // payer signed (the judged copy may differ from it).
    rules::verify(&judged.into_signed(signed.signature.clone()), &terms, None)
        .map_err(|e| failed(e.to_string()))?;
    if let Some(source) = source.filter(|_| !state.deviates(Deviation::SubscriptionTrustSource)) {
        let expected = format!("did:pkh:eip155:{chain_id}:{signer:#x}");
        if !source.eq_ignore_ascii_case(&expected) {
            return Err(failed(format!(
                "source {source:?} is not the key authorization's signer {expected}"
            )));
        }
    }
    Ok(signer)
}

/// The activation transaction: the authorization and the first period's
/// `transfer(recipient, amount)` from the payer's account, signed by the
/// access key (a keychain signature), sponsored; mined: its hash and
/// block time.
async fn activate(
    state: &State,
    terms: &Terms,
    payer: Address,
    authorization: SignedKeyAuthorization,
    access_key: &alloy::signers::local::PrivateKeySigner,
    sponsor: &alloy::signers::local::PrivateKeySigner,
) -> std::result::Result<(alloy::primitives::B256, u64), Refusal> {
    let rpc_failed = |e: crate::error::Error| failed(format!("the chain: {}", chain_reason(e)));
    let (max_fee_per_gas, max_priority_fee_per_gas) =
        tx::fee_params(&state.rpc).await.map_err(rpc_failed)?;
    let now = state.rpc.block_time().await.map_err(rpc_failed)?;
    let transfer = ITip20Transfer::transferCall {
        to: terms.recipient,
        amount: terms.amount,
    };
    let mut t = TempoTransaction {
        chain_id: state.config.chain_id,
        fee_token: None,
        max_priority_fee_per_gas,
        max_fee_per_gas,
        gas_limit: ACTIVATION_GAS,
        calls: vec![tx::call(terms.currency, transfer.abi_encode())],
        // An expiring nonce: the activation is valid for 25 s (of the
        // wall clock: automine stamps the next block with it, however
        // old the latest is).
        nonce_key: U256::MAX,
        nonce: 0,
        valid_before: NonZeroU64::new(tx::unix_now().max(now) + 25),
        fee_payer_signature: Some(FEE_PAYER_SIGNATURE_MARKER),
        key_authorization: Some(authorization),
        ..Default::default()
    };
    let digest = KeychainSignature::signing_hash(t.signature_hash(), payer);
    let inner = access_key
        .sign_hash_sync(&digest)
        .map_err(|e| failed(format!("signing the activation: {e}")))?;
    let signature = TempoSignature::Keychain(KeychainSignature::new(
        payer,
        PrimitiveSignature::Secp256k1(inner),
    ));
    t.fee_token = Some(fee_token(terms.currency));
    t.fee_payer_signature = Some(
        sponsor
            .sign_hash_sync(&t.fee_payer_signature_hash(payer))
            .map_err(|e| failed(format!("sponsoring the activation: {e}")))?,
    );
    let raw = t.into_signed(signature).encoded_2718();
    let mined = state
        .rpc
        .call("eth_sendRawTransactionSync", json!([Bytes::from(raw)]))
        .await
        .map_err(|e| failed(format!("the activation was not mined: {}", chain_reason(e))))?;
    if mined["status"] != "0x1" {
        return Err(failed(
            "the activation transaction failed on chain: the subscription is not active",
        ));
    }
    let hash = mined["transactionHash"]
        .as_str()
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| failed("the activation's receipt has no hash"))?;
    let block = state
        .rpc
        .call("eth_getBlockByNumber", json!([mined["blockNumber"], false]))
        .await
        .map_err(rpc_failed)?;
    let block_time = block["timestamp"]
        .as_str()
        .and_then(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| failed("the activation's block has no timestamp"))?;
    Ok((hash, block_time))
}
