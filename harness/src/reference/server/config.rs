//! The reference server's routes and settings (`mppconf serve --config`,
//! harness/README.md), with their defaults and checks.

use mppconf_suite::codec::challenge::validate_header;
use mppconf_suite::drafts::CoreDraft;
use std::collections::BTreeSet;

use mppconf_suite::methods::tempo_effects::ChargeRequest;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Deviation;
use crate::error::{Error, Result};
use crate::reference::tx;

/// One split of a route's price.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    pub amount: String,
    pub recipient: String,
    #[serde(default)]
    pub memo: Option<String>,
}

/// One protected resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub path: String,
    /// HTTP method, GET by default.
    #[serde(default = "default_method")]
    pub method: String,
    /// The payment method: `tempo` (default), `evm` (EVM charge with an
    /// `evm` table, EVM session with a `session` table) or `stub` (the
    /// test method:
    /// payload `{"token":"stub"}`, nothing settles; the Tempo fields
    /// other than amount, currency and recipient are not used).
    #[serde(default = "default_payment_method")]
    pub payment_method: String,
    pub amount: String,
    #[serde(default = "default_currency")]
    pub currency: String,
    pub recipient: String,
    #[serde(default)]
    pub memo: Option<String>,
    #[serde(default)]
    pub splits: Vec<SplitConfig>,
    #[serde(default)]
    pub fee_payer: bool,
    #[serde(default)]
    pub supported_modes: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    /// Seconds a challenge stays valid.
    #[serde(default = "default_expiry")]
    pub expires_in: u64,
    /// What happens after a verified payment: served (default), `deny`
    /// (policy forbids it: 403, no challenge) or `fail` (the handler
    /// fails: 500, no receipt). The server suite's declared probes.
    #[serde(default)]
    pub after_payment: AfterPayment,
    /// A header (`Name: value`) the route also requires, checked before
    /// payment: without it, 401 (§"Interaction with Other Authentication
    /// Schemes").
    #[serde(default)]
    pub requires_header: Option<String>,
    /// draft-httpauth-payment-01's `header` parameter: with
    /// `"Payment-Authorization"` (the only value the draft allows) the
    /// route's challenges select that field for the credential, and a
    /// credential in `Authorization` does not satisfy them. Needs the
    /// server to follow -01 (`core`).
    #[serde(default)]
    pub credential_header: Option<String>,
    /// A paid request counts one side effect, read at
    /// [`SIDE_EFFECTS_PATH`] (the server suite's state oracle).
    #[serde(default)]
    pub side_effect: bool,
    /// Makes the route a session (`intent="session"`): Tempo's
    /// (draft-tempo-session-00 v1), or EVM's (draft-evm-session-00) with
    /// `payment_method = "evm"`; `amount` is then the price of one
    /// request.
    #[serde(default)]
    pub session: Option<SessionRoute>,
    /// With `payment_method = "evm"`: the EVM charge settings
    /// (draft-evm-charge-00). `currency` is then an ERC-20 on the chain.
    #[serde(default)]
    pub evm: Option<EvmRoute>,
    /// Makes the route a Tempo subscription (`intent="subscription"`,
    /// draft-tempo-subscription-00): `amount` is then the price of one
    /// billing period, activated with the first period's charge (the
    /// server's fee payer sponsors the activation).
    #[serde(default)]
    pub subscription: Option<SubscriptionRoute>,
}

/// A Tempo subscription route's billing period, expiry and access key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRoute {
    /// `periodUnit`: `day` or `week` (the draft refuses `month`).
    pub period_unit: String,
    /// `periodCount`, a positive decimal integer.
    pub period_count: String,
    /// `subscriptionExpires` (RFC 3339).
    pub subscription_expires: String,
    /// One access key (its private key) for every subscription of the
    /// route: the request's `methodDetails.accessKey`, which signs the
    /// activation for the payer's account. Without it (the default) each
    /// challenge names a fresh key of its own, as §"Access Key Isolation"
    /// prefers (one per subscription).
    #[serde(default)]
    pub access_key: Option<String>,
}

/// An EVM charge route's settlement account and negotiation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvmRoute {
    /// The recipient's private key: it submits Permit2 and EIP-3009
    /// transfers and pays their gas (the Permit2 spender is the recipient:
    /// ambiguity.evm-permit2-spender).
    pub payee_key: String,
    /// `methodDetails.credentialTypes`; absent, the request lists none
    /// (and the server takes `transaction` and `hash`).
    #[serde(default)]
    pub credential_types: Option<Vec<String>>,
    /// `methodDetails.permit2Address`: the canonical address by default.
    #[serde(default)]
    pub permit2_address: Option<String>,
    /// `methodDetails.decimals`.
    #[serde(default)]
    pub decimals: Option<u8>,
}

/// A session route's escrow and payee.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRoute {
    /// `methodDetails.escrowContract`: a deployed `TempoStreamChannel`
    /// (an `EvmPaymentChannel` for an EVM session).
    pub escrow_contract: String,
    /// The recipient's private key: it signs the close transaction (the
    /// escrow lets only the payee close).
    pub payee_key: String,
    /// `methodDetails.minVoucherDelta`.
    #[serde(default)]
    pub min_voucher_delta: Option<String>,
    /// `suggestedDeposit`.
    #[serde(default)]
    pub suggested_deposit: Option<String>,
    /// A request that accepts `text/event-stream` gets a metered SSE
    /// answer of this many units, each costing `amount`.
    #[serde(default)]
    pub stream_units: Option<u32>,
}

/// What a route does once a payment is verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterPayment {
    #[default]
    Serve,
    Deny,
    Fail,
}

/// Where the reference server tells how many side effects its
/// `side_effect` routes performed (a plain-text number).
pub const SIDE_EFFECTS_PATH: &str = "/_mppconf/side-effects";

/// `key` (the setting `what`) is a private key whose address is the
/// route's `recipient`: the key that submits the payee's transactions.
fn payee_key_of(
    key: &str,
    what: &str,
    recipient: alloy::primitives::Address,
) -> std::result::Result<(), String> {
    let key = tx::signer_from_key(key, what).map_err(|e| e.to_string())?;
    if key.address() == recipient {
        Ok(())
    } else {
        Err(format!(
            "{what} is the key of {}, not of the recipient",
            key.address()
        ))
    }
}

fn default_method() -> String {
    "GET".into()
}
fn default_payment_method() -> String {
    "tempo".into()
}
fn default_currency() -> String {
    crate::chain::anvil::PATH_USD.into()
}
fn default_expiry() -> u64 {
    300
}

/// Everything the server needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub realm: String,
    pub secret: Vec<u8>,
    pub rpc_url: String,
    pub chain_id: u64,
    /// Signs the fee-payer digest for routes with `fee_payer = true`.
    pub fee_payer_key: Option<String>,
    pub routes: Vec<RouteConfig>,
    pub deviations: BTreeSet<Deviation>,
    pub choices: Choices,
}

/// The server's answers where the drafts allow more than one; each
/// default is the reading documented in harness/README.md.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    /// Answer an expired challenge with `payment-expired` rather than
    /// `invalid-challenge` (ambiguity.expired-problem-type: the status
    /// table says invalid-challenge, the error codes list payment-expired).
    pub expired_as_payment_expired: bool,
    /// The core draft the server follows: under -01 a route may select
    /// `Payment-Authorization` (`credential_header`), the binding has the
    /// header slot, and expired challenges get `payment-expired` (its
    /// status table's own row).
    pub core: CoreDraft,
    /// Also serve the routes as paid MCP tools, resources and prompts at
    /// `/mcp` (draft-payment-transport-mcp-00), breaking its rules as
    /// told.
    pub mcp: Option<super::mcp::McpServing>,
    /// Where session accounting is persisted (draft-tempo-session-00
    /// §"Crash Safety"): one file per channel, read back when the server
    /// starts. Without it, accounting is in memory and a restart loses
    /// it.
    pub session_store: Option<std::path::PathBuf>,
}

impl RouteConfig {
    /// A GET route in PathUSD with every option at its default.
    pub fn new(path: &str, amount: &str, recipient: &str) -> Self {
        Self {
            path: path.into(),
            method: default_method(),
            payment_method: default_payment_method(),
            amount: amount.into(),
            currency: default_currency(),
            recipient: recipient.into(),
            memo: None,
            splits: vec![],
            fee_payer: false,
            supported_modes: None,
            description: None,
            external_id: None,
            expires_in: default_expiry(),
            after_payment: AfterPayment::Serve,
            requires_header: None,
            credential_header: None,
            side_effect: false,
            session: None,
            evm: None,
            subscription: None,
        }
    }

    /// A Tempo subscription route in PathUSD: a daily period, 30 days of
    /// subscription from now, a fresh access key per challenge.
    pub fn subscription(path: &str, amount: &str, recipient: &str) -> Self {
        Self {
            subscription: Some(SubscriptionRoute {
                period_unit: "day".into(),
                period_count: "1".into(),
                subscription_expires: super::rfc3339_at(tx::unix_now() + 30 * 86_400),
                access_key: None,
            }),
            ..Self::new(path, amount, recipient)
        }
    }

    /// An EVM charge route paid to the account of `payee_key`, offering
    /// every credential type; its `currency` is set to the chain's token
    /// when the server starts.
    pub fn evm(path: &str, amount: &str, payee_key: &str) -> Self {
        let payee = tx::signer_from_key(payee_key, "payee_key")
            .map(|s| s.address().to_string())
            .unwrap_or_default();
        Self {
            payment_method: "evm".into(),
            currency: String::new(),
            evm: Some(EvmRoute {
                payee_key: payee_key.into(),
                credential_types: Some(
                    ["permit2", "authorization", "transaction", "hash"]
                        .map(String::from)
                        .to_vec(),
                ),
                permit2_address: None,
                decimals: Some(6),
            }),
            ..Self::new(path, amount, &payee)
        }
    }

    /// An EVM session route paid to the account of `payee_key`, which
    /// closes its channels; its `currency` and escrow are set to mppconf's
    /// token and `EvmPaymentChannel` when the server starts.
    pub fn evm_session(path: &str, amount: &str, payee_key: &str) -> Self {
        let payee = tx::signer_from_key(payee_key, "payee_key")
            .map(|s| s.address().to_string())
            .unwrap_or_default();
        Self {
            payment_method: "evm".into(),
            currency: String::new(),
            session: Some(SessionRoute {
                escrow_contract: String::new(),
                payee_key: payee_key.into(),
                min_voucher_delta: None,
                suggested_deposit: None,
                stream_units: None,
            }),
            ..Self::new(path, amount, &payee)
        }
    }

    /// The challenges' intent: `session` for a session route.
    pub fn intent(&self) -> &'static str {
        if self.session.is_some() {
            "session"
        } else if self.subscription.is_some() {
            "subscription"
        } else {
            "charge"
        }
    }

    /// The content a paid request gets (in the paid answer's `content`),
    /// recognisable in any answer that leaks it.
    pub fn content(&self) -> String {
        format!("mppconf paid content of {} {}", self.method, self.path)
    }

    /// A `stub` route (see [`crate::methods::stub`]).
    pub fn stub(path: &str, amount: &str, recipient: &str) -> Self {
        Self {
            payment_method: "stub".into(),
            ..Self::new(path, amount, recipient)
        }
    }

    pub(super) fn is_stub(&self) -> bool {
        self.payment_method == "stub"
    }

    /// The route's `request` object (draft-tempo-charge-00 §"Request
    /// Schema"; a stub route's is the charge intent's shared fields).
    pub fn request(&self, chain_id: u64) -> Value {
        if self.is_stub() {
            let mut request = json!({
                "amount": self.amount,
                "currency": self.currency,
                "recipient": self.recipient,
            });
            if let Some(d) = &self.description {
                request["description"] = d.clone().into();
            }
            if let Some(e) = &self.external_id {
                request["externalId"] = e.clone().into();
            }
            return request;
        }
        if let Some(evm) = &self.evm {
            return self.evm_request(evm, chain_id);
        }
        if let (Some(session), "evm") = (&self.session, self.payment_method.as_str()) {
            return self.evm_session_request(session, chain_id);
        }
        if let Some(subscription) = &self.subscription {
            return self.subscription_request(subscription, chain_id);
        }
        if let Some(session) = &self.session {
            // §"Hexadecimal Values": hex the server produces is lowercase.
            let mut details = json!({
                "escrowContract": session.escrow_contract.to_lowercase(),
                "chainId": chain_id,
                "sessionProtocol": "v1",
            });
            if let Some(d) = &session.min_voucher_delta {
                details["minVoucherDelta"] = d.clone().into();
            }
            if self.fee_payer {
                details["feePayer"] = true.into();
            }
            let mut request = json!({
                "amount": self.amount,
                "unitType": "request",
                "currency": self.currency.to_lowercase(),
                "recipient": self.recipient.to_lowercase(),
                "methodDetails": details,
            });
            if let Some(d) = &session.suggested_deposit {
                request["suggestedDeposit"] = d.clone().into();
            }
            return request;
        }
        let mut details = Map::new();
        details.insert("chainId".into(), chain_id.into());
        if self.fee_payer {
            details.insert("feePayer".into(), true.into());
        }
        if let Some(memo) = &self.memo {
            details.insert("memo".into(), memo.clone().into());
        }
        if !self.splits.is_empty() {
            let splits: Vec<Value> = self
                .splits
                .iter()
                .map(|s| {
                    let mut m = json!({"amount": s.amount, "recipient": s.recipient});
                    if let Some(memo) = &s.memo {
                        m["memo"] = memo.clone().into();
                    }
                    m
                })
                .collect();
            details.insert("splits".into(), splits.into());
        }
        if let Some(modes) = &self.supported_modes {
            details.insert("supportedModes".into(), json!(modes));
        }
        let mut request = json!({
            "amount": self.amount,
            "currency": self.currency,
            "recipient": self.recipient,
            "methodDetails": details,
        });
        if let Some(d) = &self.description {
            request["description"] = d.clone().into();
        }
        if let Some(e) = &self.external_id {
            request["externalId"] = e.clone().into();
        }
        request
    }
}

impl RouteConfig {
    /// draft-evm-session-00 §"Request Schema": hash credentials only
    /// (`credentialTypes` absent means `["hash"]`).
    fn evm_session_request(&self, session: &SessionRoute, chain_id: u64) -> Value {
        let mut details = json!({
            "escrowContract": session.escrow_contract.to_lowercase(),
            "chainId": chain_id,
        });
        if let Some(d) = &session.min_voucher_delta {
            details["minVoucherDelta"] = d.clone().into();
        }
        let mut request = json!({
            "amount": self.amount,
            "unitType": "request",
            "currency": self.currency,
            "recipient": self.recipient,
            "methodDetails": details,
        });
        if let Some(d) = &session.suggested_deposit {
            request["suggestedDeposit"] = d.clone().into();
        }
        if let Some(d) = &self.description {
            request["description"] = d.clone().into();
        }
        if let Some(e) = &self.external_id {
            request["externalId"] = e.clone().into();
        }
        request
    }

    /// draft-evm-charge-00 §"Request Schema".
    fn evm_request(&self, evm: &EvmRoute, chain_id: u64) -> Value {
        let permit2 = evm
            .permit2_address
            .clone()
            .unwrap_or_else(|| mppconf_suite::methods::evm::CANONICAL_PERMIT2.to_checksum(None));
        let mut details = json!({"chainId": chain_id, "permit2Address": permit2});
        if let Some(types) = &evm.credential_types {
            details["credentialTypes"] = json!(types);
        }
        if let Some(d) = evm.decimals {
            details["decimals"] = d.into();
        }
        if !self.splits.is_empty() {
            details["splits"] = self
                .splits
                .iter()
                .map(|s| {
                    let mut m = json!({"amount": s.amount, "recipient": s.recipient});
                    if let Some(memo) = &s.memo {
                        m["memo"] = memo.clone().into();
                    }
                    m
                })
                .collect();
        }
        let mut request = json!({
            "amount": self.amount,
            "currency": self.currency,
            "recipient": self.recipient,
            "methodDetails": details,
        });
        if let Some(d) = &self.description {
            request["description"] = d.clone().into();
        }
        if let Some(e) = &self.external_id {
            request["externalId"] = e.clone().into();
        }
        request
    }
}

impl RouteConfig {
    /// draft-tempo-subscription-00 §"Request Schema" (hex lowercase, as
    /// §"Request Fields" has servers generate it).
    fn subscription_request(&self, subscription: &SubscriptionRoute, chain_id: u64) -> Value {
        // Without a fixed key, each challenge puts its own in place of
        // this one (`subscription::name_access_key`).
        let access_key = match &subscription.access_key {
            Some(key) => tx::signer_from_key(key, "subscription.access_key")
                .map(|s| s.address())
                .unwrap_or_default(),
            None => alloy::primitives::Address::ZERO,
        };
        let access_key = format!("{access_key:#x}");
        let mut request = json!({
            "amount": self.amount,
            "currency": self.currency.to_lowercase(),
            "recipient": self.recipient.to_lowercase(),
            "periodUnit": subscription.period_unit,
            "periodCount": subscription.period_count,
            "subscriptionExpires": subscription.subscription_expires,
            "methodDetails": {
                "accessKey": {"accessKeyAddress": access_key, "keyType": "secp256k1"},
                "chainId": chain_id,
            },
        });
        if let Some(d) = &self.description {
            request["description"] = d.clone().into();
        }
        if let Some(e) = &self.external_id {
            request["externalId"] = e.clone().into();
        }
        request
    }
}

impl ServerConfig {
    /// Checks every route's request against the drafts before serving: a
    /// server MUST NOT issue a request whose splits reach the amount, etc.
    pub fn validate(&self) -> Result<()> {
        if self.secret.is_empty() {
            return Err(Error::Usage("the HMAC secret must not be empty".into()));
        }
        for r in &self.routes {
            let conformant = match r.payment_method.as_str() {
                "tempo" if r.session.is_some() => {
                    crate::methods::tempo_session::SessionTerms::from_request(
                        &r.request(self.chain_id),
                    )
                    .and_then(|terms| {
                        payee_key_of(
                            &r.session.as_ref().expect("a session route").payee_key,
                            "payee_key",
                            terms.recipient,
                        )
                    })
                }
                "tempo" if r.subscription.is_some() => {
                    let subscription = r.subscription.as_ref().expect("a subscription route");
                    subscription
                        .access_key
                        .as_deref()
                        .map_or(Ok(()), |key| {
                            tx::signer_from_key(key, "subscription.access_key").map(|_| ())
                        })
                        .map_err(|e| e.to_string())
                        .and_then(|()| {
                            mppconf_suite::methods::tempo_subscription::Terms::of(
                                &r.request(self.chain_id),
                                None,
                            )
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                        })
                        .and_then(|()| match &self.fee_payer_key {
                            Some(_) => Ok(()),
                            None => Err("a subscription route needs the server's fee payer key (it sponsors the activation)".into()),
                        })
                }
                "evm" if r.session.is_some() => {
                    let session = r.session.as_ref().expect("a session route");
                    if session.stream_units.is_some() {
                        Err("session.stream_units: the EVM session route serves no metered stream".into())
                    } else {
                        crate::methods::evm_session::EvmSessionTerms::from_request(
                            &r.request(self.chain_id),
                        )
                        .and_then(|terms| {
                            payee_key_of(&session.payee_key, "session.payee_key", terms.recipient)
                        })
                    }
                }
                "evm" => match &r.evm {
                    None => Err("payment_method \"evm\" needs an [evm] table (payee_key) for a charge, or a [session] table for a session".into()),
                    Some(evm) => mppconf_suite::methods::evm::EvmChargeRequest::from_json(
                        &r.request(self.chain_id),
                    )
                    .and_then(|request| {
                        payee_key_of(&evm.payee_key, "evm.payee_key", request.recipient)
                    }),
                },
                "tempo" => ChargeRequest::from_json(&r.request(self.chain_id))
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                "stub" => mppconf_suite::codec::request_schema::validate(
                    "stub",
                    "charge",
                    &r.request(self.chain_id),
                )
                .map(|_| ())
                .map_err(|e| e.to_string()),
                other => Err(format!(
                    "payment_method {other:?} is not one the reference server speaks (tempo, evm, stub)"
                )),
            };
            conformant.map_err(|e| {
                Error::Usage(format!(
                    "route {}: its request is not conformant: {e}",
                    r.path
                ))
            })?;
            if let Some(h) = &r.requires_header
                && !h.contains(':')
            {
                return Err(Error::Usage(format!(
                    "route {}: requires_header {h:?} is not `Name: value`",
                    r.path
                )));
            }
            if let Some(h) = &r.credential_header {
                validate_header(h).map_err(|e| {
                    Error::Usage(format!(
                        "route {}: credential_header: {e} (draft-httpauth-payment-01 allows no other)",
                        r.path
                    ))
                })?;
                if !self.choices.core.has_header_param() {
                    return Err(Error::Usage(format!(
                        "route {}: credential_header needs the server to follow draft-httpauth-payment-01 (core = \"draft-httpauth-payment-01\"); {} has no header parameter",
                        r.path, self.choices.core
                    )));
                }
            }
            if r.fee_payer && self.fee_payer_key.is_none() {
                return Err(Error::Usage(format!(
                    "route {} sponsors fees (fee_payer = true) but no fee payer key is given",
                    r.path
                )));
            }
        }
        if let Some(key) = &self.fee_payer_key {
            tx::signer_from_key(key, "fee payer key")?;
        }
        Ok(())
    }
}
