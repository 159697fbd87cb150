//! draft-lightning-charge-00 §"Method Details", §"Verification
//! Procedure": what a rule file cannot say about a Lightning charge, for
//! it takes decoding the BOLT11 invoice (with the maintained
//! `lightning-invoice` crate, its signature checked): that the request's
//! `amount`, `paymentHash` and `network` are the invoice's, and that a
//! credential's preimage hashes to the invoice's payment hash.

use std::str::FromStr;

use lightning_invoice::{Bolt11Invoice, Currency};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::codec::request_schema::Warning;
use crate::error::{Error, Result};

fn violation(requirement: &'static str, path: &str, reason: String) -> Error {
    Error::RequestSchema {
        requirement,
        path: path.into(),
        reason,
    }
}

/// Every requirement [`validate_request`] can name.
pub const REQUEST_REQUIREMENTS: [&str; 4] = [
    "lightning-charge.request.invoice",
    "lightning-charge.security.server-amount-check",
    "lightning-charge.request.payment-hash-matches",
    "lightning-charge.request.network-matches-invoice",
];

/// The invoice of a request, decoded and its signature checked.
fn invoice(request: &Value) -> Result<Bolt11Invoice> {
    let text = request
        .pointer("/methodDetails/invoice")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            violation(
                "lightning-charge.request.invoice",
                "$.methodDetails.invoice",
                "no BOLT11 invoice".into(),
            )
        })?;
    Bolt11Invoice::from_str(text).map_err(|e| {
        violation(
            "lightning-charge.request.invoice",
            "$.methodDetails.invoice",
            format!("not a valid BOLT11 invoice: {e}"),
        )
    })
}

/// The `network` value the draft gives an invoice's currency (its
/// human-readable prefix); `None` for one the draft does not allow.
pub(crate) fn network(currency: Currency) -> Option<&'static str> {
    match currency {
        Currency::Bitcoin => Some("mainnet"),
        Currency::Regtest => Some("regtest"),
        Currency::Signet => Some("signet"),
        Currency::BitcoinTestnet | Currency::Simnet => None,
    }
}

/// §"Shared Fields", §"Method Details": the request says what its
/// invoice says. The amount is the invoice's in satoshis; the convenience
/// fields, where present, "MUST exactly match the values encoded in the
/// invoice". (The rule file has already checked the fields' syntax.)
pub fn validate_request(request: &Value) -> Result<Vec<Warning>> {
    let invoice = invoice(request)?;
    let amount = request.get("amount").and_then(Value::as_str).unwrap_or("");
    let in_invoice = invoice.amount_milli_satoshis();
    if amount
        .parse::<u64>()
        .ok()
        .and_then(|sat| sat.checked_mul(1000))
        != in_invoice
    {
        return Err(violation(
            "lightning-charge.security.server-amount-check",
            "$.amount",
            format!(
                "amount {amount:?} sat is not the invoice's amount ({})",
                in_invoice.map_or("none".into(), |m| format!("{m} msat"))
            ),
        ));
    }
    let hash = alloy_primitives::hex::encode(invoice.payment_hash().as_ref() as &[u8]);
    if let Some(given) = request
        .pointer("/methodDetails/paymentHash")
        .and_then(Value::as_str)
        && given != hash
    {
        return Err(violation(
            "lightning-charge.request.payment-hash-matches",
            "$.methodDetails.paymentHash",
            format!("{given} is not the invoice's payment hash {hash}"),
        ));
    }
    // Absent, `network` is not checked: "If present, MUST match".
    if let Some(given) = request
        .pointer("/methodDetails/network")
        .and_then(Value::as_str)
        && Some(given) != network(invoice.currency())
    {
        return Err(violation(
            "lightning-charge.request.network-matches-invoice",
            "$.methodDetails.network",
            format!(
                "{given:?} is not the network of the invoice's prefix ({:?})",
                invoice.currency()
            ),
        ));
    }
    Ok(Vec::new())
}

/// §"Verification Procedure" step 5: sha256 of the credential's preimage
/// is the payment hash of the challenge's invoice.
pub fn verify_preimage(request: &Value, payload: &Value) -> Result<()> {
    let invoice = invoice(request)?;
    let preimage = payload
        .get("preimage")
        .and_then(Value::as_str)
        .and_then(|p| alloy_primitives::hex::decode(p).ok())
        .ok_or_else(|| Error::PayloadSchema {
            requirement: "lightning-charge.verify.preimage-format",
            path: "$.preimage".into(),
            reason: "no hex preimage".into(),
        })?;
    let digest = Sha256::digest(&preimage);
    if digest.as_slice() != invoice.payment_hash().as_ref() as &[u8] {
        return Err(Error::PayloadSchema {
            requirement: "lightning-charge.verify.preimage-hash",
            path: "$.preimage".into(),
            reason: format!(
                "sha256(preimage) = {} is not the invoice's payment hash",
                alloy_primitives::hex::encode(digest)
            ),
        });
    }
    Ok(())
}
