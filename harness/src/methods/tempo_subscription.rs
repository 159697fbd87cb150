//! Tempo subscription (draft-tempo-subscription-00): the payer signs a
//! TIP-1011 key authorization for the server's access key, and the server
//! activates it on the local chain with the first period's charge
//! (§"Activation and First-Period Charge").
//!
//! The harness pays as a conformant client: the authorization grants what
//! §"Method Details" asks (the access key, `subscriptionExpires`, one
//! per-period limit of `amount` on `currency`, one call scope on the
//! currency whose `transfer` and `transferWithMemo` rules are bound to the
//! recipient). Flawed grants, each one step broader or off the request,
//! are [`Grant`]s the server checks send. Settlement is read on chain: a
//! receipt's reference must be a mined transaction moving `amount` from
//! the payer to the recipient.

use std::num::NonZeroU64;

use alloy::primitives::{Address, U256, address, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use async_trait::async_trait;
use mppconf_suite::codec::{Challenge, Credential, EchoedChallenge, Receipt, request_schema};
use mppconf_suite::methods::tempo_effects::{Log, TRANSFER_TOPIC};
use mppconf_suite::methods::tempo_subscription::{
    self as rules, TRANSFER, TRANSFER_WITH_MEMO, Terms,
};
use serde_json::{Map, Value, json};
use tempo_alloy::primitives::transaction::{
    CallScope, KeyAuthorization, PrimitiveSignature, SelectorRule, TokenLimit,
};

use super::{Evidence, PayContext, PaymentMethod};
use crate::chain::Rpc;
use crate::server_suite::Outcome;

/// The Tempo subscription plug-in.
pub struct TempoSubscription;

/// TIP-20 `approve(address,uint256)`.
const APPROVE: [u8; 4] = [0x09, 0x5e, 0xa7, 0xb3];
const PATH_USD: Address = address!("0x20c0000000000000000000000000000000000000");
const ALPHA_USD: Address = address!("0x20c0000000000000000000000000000000000001");
/// Somebody who is not the recipient (a grant that lets the key pay them
/// is broader than the request).
const STRANGER: Address = address!("0x5eca1ab1e0000000000000000000000000000bad");

/// What a key authorization grants, relative to the request's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// What §"Method Details" asks, with the optional `transferWithMemo`
    /// rule beside `transfer` (both bound to the recipient).
    Draft,
    /// The draft's minimum: the `transfer` rule alone.
    TransferOnly,
    /// Expires a day after `subscriptionExpires`.
    LaterExpiry,
    /// For another chain.
    OtherChain,
    /// For another access key than `methodDetails.accessKey`.
    OtherAccessKey,
    /// A per-period limit of twice `amount`.
    DoubleLimit,
    /// A period of half the mapped period.
    HalfPeriod,
    /// No spending limits at all.
    NoLimit,
    /// `approve` allowed beside the transfers.
    Approve,
    /// The currency's scope without selector rules (unrestricted target).
    UnrestrictedTarget,
    /// The transfer rules also allow paying a stranger.
    ExtraRecipient,
    /// A second call scope, on another token.
    SecondTarget,
    /// No `allowed_calls`: the key may call anything.
    NoCallScope,
    /// An admin key (it may authorize further keys).
    Admin,
}

impl Grant {
    /// How a check's detail names it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Draft => "the requested grant",
            Self::TransferOnly => "transfer alone (no transferWithMemo)",
            Self::LaterExpiry => "an expiry a day after subscriptionExpires",
            Self::OtherChain => "another chain id",
            Self::OtherAccessKey => "another access key",
            Self::DoubleLimit => "a per-period limit of twice amount",
            Self::HalfPeriod => "half the mapped period",
            Self::NoLimit => "no spending limit",
            Self::Approve => "approve allowed",
            Self::UnrestrictedTarget => "the currency without selector rules",
            Self::ExtraRecipient => "transfers to a stranger allowed too",
            Self::SecondTarget => "a second call scope on another token",
            Self::NoCallScope => "no allowed_calls (any call)",
            Self::Admin => "an admin key",
        }
    }
}

/// The key authorization `grant` makes of the request's `terms`.
pub fn key_authorization(terms: &Terms, grant: Grant) -> KeyAuthorization {
    let rule = |selector: [u8; 4]| SelectorRule {
        selector,
        recipients: if grant == Grant::ExtraRecipient {
            vec![terms.recipient, STRANGER]
        } else {
            vec![terms.recipient]
        },
    };
    let mut rules = vec![rule(TRANSFER)];
    if grant != Grant::TransferOnly {
        rules.push(rule(TRANSFER_WITH_MEMO));
    }
    if grant == Grant::Approve {
        rules.push(rule(APPROVE));
    }
    if grant == Grant::UnrestrictedTarget {
        rules.clear();
    }
    let mut scopes = vec![CallScope {
        target: terms.currency,
        selector_rules: rules,
    }];
    if grant == Grant::SecondTarget {
        // Another TIP-20 (AlphaUSD, or PathUSD when the currency is it).
        let other = if terms.currency == ALPHA_USD {
            PATH_USD
        } else {
            ALPHA_USD
        };
        scopes.push(CallScope {
            target: other,
            selector_rules: vec![rule(TRANSFER)],
        });
    }
    let limit = TokenLimit {
        token: terms.currency,
        limit: if grant == Grant::DoubleLimit {
            terms.amount.saturating_mul(U256::from(2))
        } else {
            terms.amount
        },
        period: if grant == Grant::HalfPeriod {
            terms.period / 2
        } else {
            terms.period
        },
    };
    KeyAuthorization {
        chain_id: if grant == Grant::OtherChain {
            terms.chain_id ^ 1
        } else {
            terms.chain_id
        },
        key_type: terms.key_type,
        key_id: if grant == Grant::OtherAccessKey {
            Address::from_word(keccak256(terms.access_key))
        } else {
            terms.access_key
        },
        expiry: NonZeroU64::new(if grant == Grant::LaterExpiry {
            terms.expiry + 86_400
        } else {
            terms.expiry
        }),
        limits: (grant != Grant::NoLimit).then(|| vec![limit]),
        allowed_calls: (grant != Grant::NoCallScope).then_some(scopes),
        witness: None,
        is_admin: grant == Grant::Admin,
        account: None,
    }
}

/// The credential for `challenge` that `payer` signs with `grant`; its
/// `source` is the payer on the request's chain (or `source` when given:
/// a claim the signature does not back).
pub fn credential(
    challenge: &Challenge,
    payer: &PrivateKeySigner,
    grant: Grant,
    source: Option<Address>,
) -> Result<Credential, String> {
    // The request's relation to `expires` is the server's to judge: a
    // tampered challenge is paid as it is.
    let terms = Terms::of(&challenge.request.value, None)
        .map_err(|e| format!("the challenge's request: {e}"))?;
    let authorization = key_authorization(&terms, grant);
    let signature = payer
        .sign_hash_sync(&authorization.signature_hash())
        .map_err(|e| format!("signing the key authorization: {e}"))?;
    let signed = authorization.into_signed(PrimitiveSignature::Secp256k1(signature));
    let mut encoded = Vec::new();
    alloy::rlp::Encodable::encode(&signed, &mut encoded);
    let mut payload = Map::new();
    payload.insert("type".into(), "keyAuthorization".into());
    payload.insert(
        "signature".into(),
        format!("0x{}", alloy::hex::encode(&encoded)).into(),
    );
    Ok(Credential {
        challenge: EchoedChallenge::echo_of(challenge),
        payload,
        source: Some(format!(
            "did:pkh:eip155:{}:{:#x}",
            terms.chain_id,
            source.unwrap_or(payer.address())
        )),
        unknown: Default::default(),
    })
}

/// What the logs of a mined transaction move on `currency`, as
/// `(from, to, amount)`.
fn transfers(logs: &[Log], currency: Address) -> Vec<(Address, Address, U256)> {
    logs.iter()
        .filter(|l| l.address == currency && l.topics.len() == 3 && l.topics[0] == TRANSFER_TOPIC)
        .filter(|l| l.data.len() == 32)
        .map(|l| {
            (
                Address::from_slice(&l.topics[1][12..]),
                Address::from_slice(&l.topics[2][12..]),
                U256::from_be_slice(&l.data),
            )
        })
        .collect()
}

#[async_trait]
impl PaymentMethod for TempoSubscription {
    fn name(&self) -> &'static str {
        "tempo"
    }

    fn intents(&self) -> &'static [&'static str] {
        &["subscription"]
    }

    fn spec(&self) -> Option<&'static str> {
        Some("draft-tempo-subscription-00")
    }

    fn label(&self) -> &'static str {
        "tempo subscription"
    }

    fn evidence(&self) -> Evidence {
        Evidence::Chain
    }

    fn validate_request(&self, intent: &str, request: &Value) -> Result<(), String> {
        request_schema::validate(self.name(), intent, request)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn validate_payload(&self, credential: &Credential) -> Result<(), String> {
        let echo = &credential.challenge;
        let terms =
            Terms::of(&echo.request.value, echo.expires.as_deref()).map_err(|e| e.to_string())?;
        rules::verify_payload(
            &Value::Object(credential.payload.clone()),
            terms,
            credential.source.as_deref(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    async fn pay(&self, challenge: &Challenge, context: &PayContext) -> Result<Credential, String> {
        let payer: PrivateKeySigner = context
            .account_key
            .parse()
            .map_err(|_| "the payer's key is not a private key".to_string())?;
        // The server signs an expiring-nonce activation against the
        // chain's latest block.
        Rpc::new(&context.rpc_url)
            .freshen_clock()
            .await
            .map_err(|e| format!("the chain: {e}"))?;
        credential(challenge, &payer, Grant::Draft, None)
    }

    /// §"Receipt Generation": a `subscriptionId`, the settlement
    /// transaction as `reference` (mined, successful, moving `amount` of
    /// `currency` from the payer to the recipient: §"Activation and
    /// First-Period Charge"), `externalId` echoed.
    async fn verify_receipt(
        &self,
        rpc_url: &str,
        challenge: &Challenge,
        credential: &Credential,
        receipt: &Receipt,
    ) -> Outcome {
        let terms = match Terms::of(&challenge.request.value, challenge.expires.as_deref()) {
            Ok(t) => t,
            Err(e) => return Outcome::error(format!("the challenge's request: {e}")),
        };
        // draft-payment-intent-subscription-00 §"Subscription
        // Identifier": base64url without padding.
        match receipt.extra.get("subscriptionId") {
            Some(Value::String(id))
                if !id.is_empty()
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {}
            other => {
                return Outcome::fail(
                    "a subscriptionId, a base64url string without padding",
                    format!("{other:?}"),
                );
            }
        }
        if let Some(want) = challenge.request.value.get("externalId")
            && receipt.extra.get("externalId") != Some(want)
        {
            return Outcome::fail(
                format!("the receipt's externalId {want} (echoed from the request)"),
                format!("{:?}", receipt.extra.get("externalId")),
            );
        }
        let payer = match rules::verify_payload(
            &Value::Object(credential.payload.clone()),
            terms.clone(),
            None,
        ) {
            Ok(v) => v.signer,
            Err(e) => return Outcome::error(format!("the harness's own credential: {e}")),
        };
        let mined = match Rpc::new(rpc_url)
            .call("eth_getTransactionReceipt", json!([receipt.reference]))
            .await
        {
            Ok(v) => v,
            Err(e) => return Outcome::error(format!("reading the reference from the chain: {e}")),
        };
        if mined.is_null() || mined["status"] != "0x1" {
            return Outcome::fail(
                "reference = the mined, successful activation transaction",
                format!("{}: {}", receipt.reference, mined),
            );
        }
        let logs: Vec<Log> = mined["logs"]
            .as_array()
            .map(|l| l.iter().filter_map(Log::from_json).collect())
            .unwrap_or_default();
        let moved = transfers(&logs, terms.currency);
        if moved.iter().any(|&(from, to, amount)| {
            from == payer && to == terms.recipient && amount == terms.amount
        }) {
            Outcome::pass(format!(
                "receipt {} moves {} from the payer {payer:#x} to the recipient",
                receipt.reference, terms.amount
            ))
        } else {
            Outcome::fail(
                format!(
                    "the reference's logs move {} of {:#x} from the payer {payer:#x} to {:#x}",
                    terms.amount, terms.currency, terms.recipient
                ),
                format!("{moved:?}"),
            )
        }
    }

    async fn received(&self, rpc_url: &str, challenge: &Challenge) -> Result<Option<U256>, String> {
        let terms = Terms::of(&challenge.request.value, None)
            .map_err(|e| format!("the challenge request: {e}"))?;
        crate::reference::tx::balance_of(&Rpc::new(rpc_url), terms.currency, terms.recipient)
            .await
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn settlements(&self, challenge: &Challenge, before: U256, after: U256) -> u64 {
        match Terms::of(&challenge.request.value, None) {
            Ok(t) if !t.amount.is_zero() => {
                (after.saturating_sub(before) / t.amount).saturating_to::<u64>()
            }
            _ => 0,
        }
    }

    fn also_cites(&self, check_id: &str) -> &'static [&'static str] {
        match check_id {
            "challenge.request-jcs" => &["tempo-subscription.request.jcs"],
            "challenge.expires-present" => &["tempo-subscription.challenge.expires-should"],
            "paid.receipt" => &[
                "tempo-subscription.receipt.must-return",
                "tempo-subscription.receipt.subscription-id",
                "tempo-subscription.receipt.fields",
                "tempo-subscription.activation.atomic",
                "tempo-subscription.activation.active-after-tx",
                "tempo-subscription.caching.private",
            ],
            "errors.no-receipt" => &["tempo-subscription.receipt.no-receipt-on-error"],
            // §"Caching" restates the core rules for subscriptions.
            "unpaid.cache-no-store" => &["tempo-subscription.caching.no-store"],
            "malformed.no-payload" | "malformed.no-challenge" => {
                &["tempo-subscription.credential.structure"]
            }
            _ => &[],
        }
    }

    fn server_checks(&self) -> &'static [crate::server_suite::Check] {
        crate::server_suite::tempo_subscription::CHECKS
    }

    fn client_scenarios(&self) -> &'static [crate::client_suite::ScenarioDef] {
        &[]
    }

    fn client_checks(&self) -> &'static [crate::client_suite::Check] {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mppconf_suite::codec::EncodedJson;

    /// A challenge for the draft's example request (§"Method Details").
    fn challenge() -> Challenge {
        let request = json!({
            "amount": "10000000",
            "currency": "0x20c0000000000000000000000000000000000001",
            "periodUnit": "day",
            "periodCount": "30",
            "subscriptionExpires": "2030-07-14T12:00:00Z",
            "recipient": "0x742d35cc6634c0532925a3b844bc9e7595f8fe00",
            "methodDetails": {
                "accessKey": {
                    "accessKeyAddress": "0x1111111111111111111111111111111111111111",
                    "keyType": "secp256k1"
                },
                "chainId": 42431
            }
        });
        Challenge {
            id: "qT8wErYuI3oPlKjH6gFdSa".into(),
            realm: "api.example.com".into(),
            method: "tempo".into(),
            intent: "subscription".into(),
            request: EncodedJson::canonical(request),
            expires: Some("2030-01-01T00:00:00Z".into()),
            digest: None,
            description: None,
            opaque: None,
            unknown_params: Vec::new(),
        }
    }

    fn offline(credential: &Credential) -> Result<(), String> {
        TempoSubscription.validate_payload(credential)
    }

    /// The harness pays what the offline verifier takes, and each flawed
    /// grant is one it refuses (so the server checks send what they say).
    #[test]
    fn the_requested_grants_verify_and_each_flawed_one_is_refused() {
        let payer = PrivateKeySigner::random();
        let c = challenge();
        for grant in [Grant::Draft, Grant::TransferOnly] {
            offline(&credential(&c, &payer, grant, None).unwrap()).unwrap();
        }
        let flawed = [
            (Grant::LaterExpiry, "scope.expiry-equals"),
            (Grant::OtherChain, "scope.chain-id"),
            (Grant::OtherAccessKey, "scope.access-key"),
            (Grant::DoubleLimit, "scope.token-limit"),
            (Grant::HalfPeriod, "scope.token-limit"),
            (Grant::NoLimit, "scope.token-limit"),
            (Grant::Approve, "scope.allowed-calls"),
            (Grant::UnrestrictedTarget, "key-auth.no-unrestricted"),
            (Grant::ExtraRecipient, "scope.allowed-calls"),
            (Grant::SecondTarget, "scope.allowed-calls"),
            (Grant::NoCallScope, "key-auth.no-unrestricted"),
            (Grant::Admin, "scope.reject-broader"),
        ];
        for (grant, requirement) in flawed {
            let error = offline(&credential(&c, &payer, grant, None).unwrap()).unwrap_err();
            assert!(
                error.contains(&format!("tempo-subscription.{requirement}")),
                "{grant:?}: {error}"
            );
        }
        let unbacked = credential(&c, &payer, Grant::Draft, Some(Address::random())).unwrap();
        assert!(
            offline(&unbacked)
                .unwrap_err()
                .contains("tempo-subscription.source.chain-match")
        );
    }
}
