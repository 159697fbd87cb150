//! Payment methods as plug-ins.
//!
//! A payment method implements [`PaymentMethod`] once, and both suites use
//! it: the server suite pays its challenges through it and asks it for
//! the settlement evidence of a receipt; the client suite takes its
//! scenarios and checks from it. What conformance means for the method
//! (its request and payload schemas) stays in `suite/`; its checks live
//! in the suites' module for its spec (`server_suite::tempo_charge`,
//! `client_suite::tempo_charge`).
//!
//! Adding a method is: a module here (the plug-in), a module per suite
//! for its spec's checks, and a line in [`BUILTIN`].
//!
//! A server of a method that is not built in still gets the core and
//! intent checks from a payer the user gives ([`crate::payer`]).

pub mod evm_charge;
pub mod evm_session;
pub mod stub;
pub mod tempo_charge;
pub mod tempo_session;
pub mod tempo_subscription;

use alloy::primitives::{B256, U256};
use async_trait::async_trait;
use mppconf_suite::codec::{Challenge, Credential, Receipt};
use serde_json::Value;

use crate::server_suite::Outcome;

/// How a method's settlement can be seen by the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Transfers and logs on the local chain.
    Chain,
    /// None: the payment is the payer's word (a test method, or a rail the
    /// harness cannot see).
    None,
}

/// What a built-in method needs to pay a challenge as a client.
#[derive(Debug, Clone)]
pub struct PayContext {
    /// The resource: HTTP method, URL and body.
    pub http_method: String,
    pub url: String,
    pub body: Option<Vec<u8>>,
    /// The funded account on the local chain (a 0x private key).
    pub account_key: String,
    pub rpc_url: String,
    /// Pay with mppx's attribution memo (see
    /// [`crate::reference::client::attribution_memo`]).
    pub attribution_memo: bool,
}

/// One payment method (and the intents of it the harness can judge).
#[async_trait]
pub trait PaymentMethod: Send + Sync {
    /// The challenges' `method` value, e.g. `tempo`.
    fn name(&self) -> &'static str;
    /// The intents it pays, e.g. `["charge"]`.
    fn intents(&self) -> &'static [&'static str];
    /// The docname of the method's spec; `None` for a method without one.
    fn spec(&self) -> Option<&'static str>;
    /// How a report names it, e.g. "stub (no settlement)".
    fn label(&self) -> &'static str;
    /// How its settlement is evidenced.
    fn evidence(&self) -> Evidence;

    /// The challenge's `request` against the method's request schema.
    fn validate_request(&self, intent: &str, request: &Value) -> Result<(), String>;
    /// A credential's payload against the method's payload schema.
    fn validate_payload(&self, credential: &Credential) -> Result<(), String>;

    /// Pays `challenge` as a conformant client would: the credential, not
    /// yet sent.
    async fn pay(&self, challenge: &Challenge, context: &PayContext) -> Result<Credential, String>;

    /// Judges the receipt of a paid answer against the settlement evidence
    /// (the core part of the receipt is the core checks').
    async fn verify_receipt(
        &self,
        rpc_url: &str,
        challenge: &Challenge,
        credential: &Credential,
        receipt: &Receipt,
    ) -> Outcome;

    /// What the challenge's recipient has received so far, to count the
    /// settlements of one credential; `None` where the method leaves no
    /// evidence.
    async fn received(&self, rpc_url: &str, challenge: &Challenge) -> Result<Option<U256>, String>;
    /// How many settlements of `challenge` a change of
    /// [`received`](Self::received) from `before` to `after` shows.
    fn settlements(&self, challenge: &Challenge, before: U256, after: U256) -> u64;

    /// Requirements of the method's spec that a core or intent check (of
    /// either suite) also exercises when it runs against this method, by
    /// check id.
    fn also_cites(&self, check_id: &str) -> &'static [&'static str];

    /// Why a core or intent check does not apply to this method (it is
    /// then `skip` with this reason), or `None`: most apply.
    fn not_applicable(&self, _check_id: &str) -> Option<&'static str> {
        None
    }

    /// Its server checks, in run order (the server suite's module for its
    /// spec).
    fn server_checks(&self) -> &'static [crate::server_suite::Check];
    /// Its client scenarios and checks (the client suite's module for its
    /// spec).
    fn client_scenarios(&self) -> &'static [crate::client_suite::ScenarioDef];
    fn client_checks(&self) -> &'static [crate::client_suite::Check];
}

/// The channel a session receipt names: its `reference` must be the
/// credential's `channelId` (§"Receipt Generation" of both session
/// drafts), a 32-byte id.
pub(crate) fn session_reference(
    credential: &Credential,
    receipt: &Receipt,
) -> Result<B256, Outcome> {
    let channel = credential.payload.get("channelId").and_then(Value::as_str);
    if channel.is_none_or(|c| !c.eq_ignore_ascii_case(&receipt.reference)) {
        return Err(Outcome::fail(
            format!("reference = the channel id {}", channel.unwrap_or("?")),
            &receipt.reference,
        ));
    }
    receipt
        .reference
        .parse::<B256>()
        .map_err(|_| Outcome::fail("reference = a 32-byte channel id", &receipt.reference))
}

/// The methods mppconf can pay and judge by itself.
pub const BUILTIN: &[&dyn PaymentMethod] = &[
    &tempo_charge::TempoCharge,
    &tempo_session::TempoSession,
    &tempo_subscription::TempoSubscription,
    &evm_charge::EvmCharge,
    &evm_session::EvmSession,
    &stub::Stub,
];

/// The built-in plug-in for a challenge's method and intent, if any.
pub fn builtin(method: &str, intent: &str) -> Option<&'static dyn PaymentMethod> {
    BUILTIN
        .iter()
        .copied()
        .find(|m| m.name() == method && m.intents().contains(&intent))
}
