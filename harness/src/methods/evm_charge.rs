//! EVM charge (draft-evm-charge-00): stablecoin payments on any EVM
//! chain, judged on a plain local anvil with mppconf's EIP-3009 token and
//! Permit2 ([`crate::chain::evm`]).
//!
//! The harness pays as the reference client does, with the first
//! credential type the challenge offers (`transaction` when it lists
//! none), and reads settlement from the chain: a receipt's reference
//! must be a mined transaction whose `Transfer` logs pay the request
//! from the payer.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use async_trait::async_trait;
use mppconf_suite::codec::{Challenge, Credential, EchoedChallenge, Receipt, request_schema};
use mppconf_suite::methods::evm::EvmChargeRequest;
use mppconf_suite::methods::rules::{self, Part};
use serde_json::{Value, json};

use super::{Evidence, PayContext, PaymentMethod};
use crate::chain::Rpc;
use crate::chain::evm::{EvmChain, PERMIT2, transfers_in};
use crate::reference::evm as build;
use crate::reference::tx;
use crate::server_suite::Outcome;

/// The EVM charge plug-in.
pub struct EvmCharge;

/// The credential types the reference pays with, in the order it
/// prefers them when a challenge lists none it knows first.
pub const CREDENTIAL_TYPES: [&str; 4] = ["permit2", "authorization", "transaction", "hash"];

/// The type a conformant client picks: the first listed it supports
/// (§"Credential Type Negotiation": SHOULD), `transaction` when the list
/// is absent (servers MUST accept it then).
pub fn chosen_type(request: &EvmChargeRequest) -> Option<&'static str> {
    match &request.credential_types {
        None => Some("transaction"),
        Some(list) => list
            .iter()
            .find_map(|t| CREDENTIAL_TYPES.iter().copied().find(|k| k == t)),
    }
}

/// The request of an EVM charge challenge, or why it is none.
pub fn request_of(challenge: &Challenge) -> Result<EvmChargeRequest, String> {
    EvmChargeRequest::from_json(&challenge.request.value)
        .map_err(|e| format!("the challenge's request is not an EVM charge request: {e}"))
}

/// A credential for `challenge` carrying `payload`, from `payer`.
pub fn credential(
    challenge: &Challenge,
    payload: Value,
    chain_id: u64,
    payer: Address,
) -> Credential {
    Credential {
        challenge: EchoedChallenge::echo_of(challenge),
        payload: payload.as_object().cloned().unwrap_or_default(),
        source: Some(build::source_of(chain_id, payer)),
        unknown: Default::default(),
    }
}

/// A new account on the chain at `rpc_url` that can pay `currency` with
/// every credential type: gas, tokens and Permit2's approval.
pub async fn fresh_payer(
    rpc_url: &str,
    currency: Address,
) -> crate::error::Result<PrivateKeySigner> {
    let rpc = Rpc::new(rpc_url);
    let chain = EvmChain {
        rpc_url: rpc_url.to_string(),
        chain_id: rpc.chain_id().await?,
        token: currency,
        permit2: PERMIT2,
    };
    let signer = PrivateKeySigner::random();
    chain
        .fund(signer.address(), U256::from(10_000_000_000u64))
        .await?;
    chain.approve_permit2(signer.address()).await?;
    Ok(signer)
}

#[async_trait]
impl PaymentMethod for EvmCharge {
    fn name(&self) -> &'static str {
        "evm"
    }

    fn intents(&self) -> &'static [&'static str] {
        &["charge"]
    }

    fn spec(&self) -> Option<&'static str> {
        Some("draft-evm-charge-00")
    }

    fn label(&self) -> &'static str {
        "evm charge"
    }

    fn evidence(&self) -> Evidence {
        Evidence::Chain
    }

    fn validate_request(&self, intent: &str, request: &Value) -> Result<(), String> {
        request_schema::validate(self.name(), intent, request).map_err(|e| e.to_string())?;
        rules::validate(self.name(), intent, Part::Request, request)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn validate_payload(&self, credential: &Credential) -> Result<(), String> {
        let payload = Value::Object(credential.payload.clone());
        rules::validate(self.name(), "charge", Part::Payload, &payload)
            .map_err(|e| e.to_string())?;
        mppconf_suite::methods::evm::EvmPayload::parse(&payload).map(|_| ())
    }

    async fn pay(&self, challenge: &Challenge, context: &PayContext) -> Result<Credential, String> {
        let request = request_of(challenge)?;
        let kind = chosen_type(&request).ok_or_else(|| {
            format!(
                "the challenge offers no credential type the reference pays with ({:?})",
                request.credential_types
            )
        })?;
        let signer = tx::signer_from_key(&context.account_key, "the payer key")
            .map_err(|e| e.to_string())?;
        let rpc = Rpc::new(&context.rpc_url);
        let payload = build::conformant_payload(&rpc, challenge, &request, kind, &signer)
            .await
            .map_err(|e| format!("cannot build a valid {kind} credential: {e}"))?;
        Ok(credential(
            challenge,
            payload,
            request.chain_id,
            signer.address(),
        ))
    }

    async fn verify_receipt(
        &self,
        rpc_url: &str,
        challenge: &Challenge,
        credential: &Credential,
        receipt: &Receipt,
    ) -> Outcome {
        let request = match request_of(challenge) {
            Ok(r) => r,
            Err(e) => return Outcome::error(e),
        };
        // §"Receipt Generation": chainId, challengeId and the echoed
        // externalId.
        let mut wanted = vec![
            ("chainId", json!(request.chain_id)),
            ("challengeId", json!(challenge.id)),
        ];
        if let Some(e) = &request.external_id {
            wanted.push(("externalId", json!(e)));
        }
        for (field, value) in wanted {
            if receipt.extra.get(field) != Some(&value) {
                return Outcome::fail(
                    format!(
                        "the receipt's {field} {value} (draft-evm-charge-00 §\"Receipt Generation\")"
                    ),
                    format!("{:?}", receipt.extra.get(field)),
                );
            }
        }
        let mined = match Rpc::new(rpc_url)
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
        let payer = credential
            .source
            .as_deref()
            .and_then(|s| s.rsplit(':').next())
            .and_then(|a| a.parse::<Address>().ok());
        let paid: Vec<(Address, U256)> = transfers_in(&mined)
            .into_iter()
            .filter(|t| t.token == request.currency && payer.is_none_or(|p| t.from == p))
            .map(|t| (t.to, t.amount))
            .collect();
        if paid != request.transfers() {
            return Outcome::fail(
                format!(
                    "the reference's Transfer logs pay the request from the payer: {:?}",
                    request.transfers()
                ),
                format!("{paid:?}"),
            );
        }
        let own = match credential.payload.get("type").and_then(Value::as_str) {
            Some("hash") => credential
                .payload
                .get("hash")
                .and_then(Value::as_str)
                .map(str::to_string),
            Some("transaction") => credential
                .payload
                .get("signature")
                .and_then(Value::as_str)
                .and_then(|s| alloy::hex::decode(s).ok())
                .map(|raw| alloy::primitives::keccak256(raw).to_string()),
            _ => None,
        };
        match own {
            Some(own) if !own.eq_ignore_ascii_case(&receipt.reference) => Outcome::fail(
                format!("reference {own}: the transaction this credential carried"),
                format!("{}, another transaction", receipt.reference),
            ),
            _ => Outcome::pass(format!(
                "receipt {} is a mined transaction paying the request from the payer, with chainId and challengeId",
                receipt.reference
            )),
        }
    }

    async fn received(&self, rpc_url: &str, challenge: &Challenge) -> Result<Option<U256>, String> {
        let request = request_of(challenge)?;
        let chain = EvmChain {
            rpc_url: rpc_url.to_string(),
            chain_id: request.chain_id,
            token: request.currency,
            permit2: request.permit2,
        };
        chain
            .balance(request.recipient)
            .await
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn settlements(&self, challenge: &Challenge, before: U256, after: U256) -> u64 {
        let Ok(request) = request_of(challenge) else {
            return 0;
        };
        let primary = request.transfers()[0].1;
        if primary.is_zero() {
            0
        } else {
            (after.saturating_sub(before) / primary).saturating_to::<u64>()
        }
    }

    fn also_cites(&self, check_id: &str) -> &'static [&'static str] {
        match check_id {
            "challenge.request-jcs" => &["evm-charge.request.jcs"],
            // The receipt's reference is read on chain: a mined,
            // successful transaction whose Transfer logs pay the request
            // from the payer; chainId, challengeId and the externalId.
            "paid.receipt" => &[
                "evm-charge.receipt.must-return",
                "evm-charge.receipt.fields",
                "evm-charge.receipt.external-id-echo",
                "evm-charge.settlement.wait-receipt",
            ],
            "errors.no-receipt" => &["evm-charge.receipt.no-receipt-on-error"],
            _ => &[],
        }
    }

    fn server_checks(&self) -> &'static [crate::server_suite::Check] {
        crate::server_suite::evm_charge::CHECKS
    }

    fn client_scenarios(&self) -> &'static [crate::client_suite::ScenarioDef] {
        crate::client_suite::evm_charge::SCENARIOS
    }

    fn client_checks(&self) -> &'static [crate::client_suite::Check] {
        crate::client_suite::evm_charge::CHECKS
    }
}
