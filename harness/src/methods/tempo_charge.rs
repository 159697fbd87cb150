//! Tempo charge (draft-tempo-charge-00): the built-in on-chain method.
//!
//! The harness pays as the reference client does (pull, push or proof, on
//! the local Tempo chain) and reads settlement from the chain: a receipt's
//! reference must be a mined transaction whose logs pay the request.

use alloy::primitives::U256;
use async_trait::async_trait;
use mppconf_suite::codec::{Challenge, Credential, Receipt, request_schema};
use mppconf_suite::methods::tempo_charge as rules;
use mppconf_suite::methods::tempo_effects::{self, ChargeRequest, Log};
use serde_json::{Value, json};

use super::{Evidence, PayContext, PaymentMethod};
use crate::chain::Rpc;
use crate::reference::client::{self, PayOptions};
use crate::server_suite::Outcome;

/// The Tempo charge plug-in.
pub struct TempoCharge;

/// The reference client's options to pay `challenge` for the server suite
/// (whose flawed payments are the client's deliberate deviations, added
/// to these).
pub fn pay_options(context: &PayContext, challenge: &Challenge) -> PayOptions {
    let mut options = PayOptions {
        http_method: context.http_method.clone(),
        body: context.body.clone(),
        allow_http: true,
        attribution_memo: context.attribution_memo,
        ..PayOptions::new(&context.url, &context.account_key, &context.rpc_url)
    };
    // The reference client refuses a charge without `expires`
    // (ambiguity.expires-required-for-blockchain); the server suite goes
    // on, bounding validBefore itself, so that one slip (a SHOULD:
    // challenge.expires-present) hides no other finding.
    if challenge.expires.is_none() {
        options
            .deviations
            .insert(crate::reference::client::Deviation::IgnoreExpiry);
    }
    options
}

#[async_trait]
impl PaymentMethod for TempoCharge {
    fn name(&self) -> &'static str {
        "tempo"
    }

    fn intents(&self) -> &'static [&'static str] {
        &["charge"]
    }

    fn spec(&self) -> Option<&'static str> {
        Some("draft-tempo-charge-00")
    }

    fn label(&self) -> &'static str {
        "tempo charge"
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
        rules::validate_credential(credential)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn pay(&self, challenge: &Challenge, context: &PayContext) -> Result<Credential, String> {
        let options = pay_options(context, challenge);
        client::credential_for(challenge, &options)
            .await
            .map_err(|e| format!("cannot build a valid credential: {e}"))
    }

    async fn verify_receipt(
        &self,
        rpc_url: &str,
        challenge: &Challenge,
        credential: &Credential,
        receipt: &Receipt,
    ) -> Outcome {
        let Ok(request) = ChargeRequest::from_json(&challenge.request.value) else {
            return Outcome::error("the challenge's request is not a tempo charge request");
        };
        // §"Receipt Generation": externalId is echoed from the request.
        if let Some(want) = challenge.request.value.get("externalId")
            && receipt.extra.get("externalId") != Some(want)
        {
            return Outcome::fail(
                format!("the receipt's externalId {want} (echoed from the request)"),
                format!("{:?}", receipt.extra.get("externalId")),
            );
        }
        if request.amount.is_zero() {
            return if receipt.reference == challenge.id {
                Outcome::pass("proof receipt referencing the challenge id")
            } else {
                Outcome::fail(format!("reference {}", challenge.id), &receipt.reference)
            };
        }
        let rpc = Rpc::new(rpc_url);
        let mined = match rpc
            .call("eth_getTransactionReceipt", json!([receipt.reference]))
            .await
        {
            Ok(v) => v,
            Err(e) => return Outcome::error(format!("reading the reference from the chain: {e}")),
        };
        if mined.is_null() || mined["status"] != "0x1" {
            return Outcome::fail(
                "reference = a mined, successful transaction",
                format!("{}: {}", receipt.reference, mined),
            );
        }
        let logs: Vec<Log> = mined["logs"]
            .as_array()
            .map(|l| l.iter().filter_map(Log::from_json).collect())
            .unwrap_or_default();
        if let Err(e) = tempo_effects::verify(
            &request.required_transfers(),
            &tempo_effects::effects_of_logs(&logs, request.currency),
            "tempo-charge.settlement.receipt-reference-digest",
        ) {
            return Outcome::fail("the reference's logs pay the request", e);
        }
        // The reference is this credential's transaction, not another
        // payment of the same request: the hash a push credential sent,
        // or, with client-paid fees, the hash of the client's signed
        // bytes, which the server broadcasts as they are (§"Client-Paid
        // Fees"; a sponsored transaction gains the fee payer's signature,
        // so its hash is the server's).
        let text = |k: &str| credential.payload.get(k).and_then(|v| v.as_str());
        let own = match text("type") {
            Some("hash") => text("hash").map(str::to_string),
            Some("transaction") if !request.fee_payer => text("signature")
                .and_then(|s| alloy::hex::decode(s).ok())
                .map(|raw| alloy::primitives::keccak256(raw).to_string()),
            _ => None,
        };
        match own {
            Some(own) if !own.eq_ignore_ascii_case(&receipt.reference) => Outcome::fail(
                format!("reference {own}: the transaction this credential carried"),
                format!(
                    "{}, another transaction paying the same request",
                    receipt.reference
                ),
            ),
            _ => Outcome::pass(format!(
                "receipt {} is this credential's transaction and pays the request",
                receipt.reference
            )),
        }
    }

    async fn received(&self, rpc_url: &str, challenge: &Challenge) -> Result<Option<U256>, String> {
        let request = ChargeRequest::from_json(&challenge.request.value)
            .map_err(|e| format!("the challenge request: {e}"))?;
        crate::reference::tx::balance_of(&Rpc::new(rpc_url), request.currency, request.recipient)
            .await
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn settlements(&self, challenge: &Challenge, before: U256, after: U256) -> u64 {
        let Ok(request) = ChargeRequest::from_json(&challenge.request.value) else {
            return 0;
        };
        let primary = request.required_transfers()[0].amount;
        if primary.is_zero() {
            0
        } else {
            (after.saturating_sub(before) / primary).saturating_to::<u64>()
        }
    }

    fn also_cites(&self, check_id: &str) -> &'static [&'static str] {
        match check_id {
            "challenge.request-jcs" => &["tempo-charge.request.jcs"],
            // A blockchain charge elevates expires to REQUIRED
            // (ambiguity.expires-required-for-blockchain: warn).
            "challenge.expires-present" => &["charge.request.may-elevate"],
            // The receipt's reference is read on chain: a successful
            // transaction the server broadcast whose logs pay the request
            // (pull, from the payer's dedicated nonce lane, nonce key
            // 2^256-1), or the challenge id for a proof.
            "paid.receipt" => &[
                "tempo-charge.receipt.must-return",
                "tempo-charge.receipt.fields",
                "tempo-charge.settlement.server-broadcasts",
                "tempo-charge.settlement.receipt-reference-digest",
                "tempo-charge.proof.receipt-reference",
                "tempo-charge.transaction.nonce-key-may",
                "tempo-charge.receipt.external-id-echo",
                "tempo-charge.fees.client-paid-broadcast-as-is",
            ],
            "errors.no-receipt" => &["tempo-charge.receipt.no-receipt-on-error"],
            "standard.paid" => &[
                "tempo-charge.transaction.transfer-call",
                "charge.credential.payload-proof",
            ],
            "refuse.request-not-json" => &["tempo-charge.security.client-verifies-request"],
            _ => &[],
        }
    }

    fn server_checks(&self) -> &'static [crate::server_suite::Check] {
        crate::server_suite::tempo_charge::CHECKS
    }

    fn client_scenarios(&self) -> &'static [crate::client_suite::ScenarioDef] {
        crate::client_suite::tempo_charge::SCENARIOS
    }

    fn client_checks(&self) -> &'static [crate::client_suite::Check] {
        crate::client_suite::tempo_charge::CHECKS
    }
}
