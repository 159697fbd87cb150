//! The `stub` method: what SDK and server authors test their MPP layer
//! with before (or instead of) wiring a rail. An application-defined
//! method (mppx `Method.from`, pympp `ServerMethod`, mpp's
//! `PaymentVerifier`) whose verification accepts a fixed payload:
//! `method="stub"`, payload `{"token":"stub"}`.
//!
//! No spec defines it and nothing settles, so there is no settlement
//! evidence: a receipt is judged by the core checks only, and the report
//! says "method: stub (no settlement)". Everything else (binding, replay,
//! realm, headers, problem types) is the core suite's and runs in full.

use alloy::primitives::U256;
use async_trait::async_trait;
use mppconf_suite::codec::{Challenge, Credential, EchoedChallenge, Receipt, request_schema};
use serde_json::{Map, Value, json};

use super::{Evidence, PayContext, PaymentMethod};
use crate::server_suite::Outcome;

/// The `stub` plug-in.
pub struct Stub;

/// The payload a stub verifier accepts.
pub fn payload() -> Map<String, Value> {
    json!({"token": "stub"})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// The stub's payload rule, for its verifiers (the reference server) and
/// its checks alike.
pub fn validate_payload(credential: &Credential) -> Result<(), String> {
    if credential.payload == payload() {
        Ok(())
    } else {
        Err(format!(
            "stub payload {{\"token\":\"stub\"}} expected, got {}",
            Value::Object(credential.payload.clone())
        ))
    }
}

#[async_trait]
impl PaymentMethod for Stub {
    fn name(&self) -> &'static str {
        "stub"
    }

    fn intents(&self) -> &'static [&'static str] {
        &["charge"]
    }

    fn spec(&self) -> Option<&'static str> {
        None
    }

    fn label(&self) -> &'static str {
        "stub (no settlement)"
    }

    fn evidence(&self) -> Evidence {
        Evidence::None
    }

    /// The intent's schema only: the stub has no `methodDetails` of its own.
    fn validate_request(&self, intent: &str, request: &Value) -> Result<(), String> {
        request_schema::validate(self.name(), intent, request)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn validate_payload(&self, credential: &Credential) -> Result<(), String> {
        validate_payload(credential)
    }

    async fn pay(&self, challenge: &Challenge, _: &PayContext) -> Result<Credential, String> {
        Ok(Credential {
            challenge: EchoedChallenge::echo_of(challenge),
            payload: payload(),
            source: None,
            unknown: Default::default(),
        })
    }

    async fn verify_receipt(
        &self,
        _: &str,
        _: &Challenge,
        _: &Credential,
        receipt: &Receipt,
    ) -> Outcome {
        Outcome::pass(format!(
            "method stub: no settlement to verify (reference {:?} is the server's word)",
            receipt.reference
        ))
    }

    async fn received(&self, _: &str, _: &Challenge) -> Result<Option<U256>, String> {
        Ok(None)
    }

    fn settlements(&self, _: &Challenge, _: U256, _: U256) -> u64 {
        0
    }

    fn also_cites(&self, _: &str) -> &'static [&'static str] {
        &[]
    }

    fn server_checks(&self) -> &'static [crate::server_suite::Check] {
        &[]
    }

    fn client_scenarios(&self) -> &'static [crate::client_suite::ScenarioDef] {
        &[]
    }

    fn client_checks(&self) -> &'static [crate::client_suite::Check] {
        &[]
    }
}
