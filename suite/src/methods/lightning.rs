//! draft-lightning-charge-00 §"Method Details", §"Verification
//! Procedure": what a rule file cannot say about a Lightning charge, for
//! it takes decoding the BOLT11 invoice (with the maintained
//! `lightning-invoice` crate, its signature checked): that the request's
//! `amount`, `paymentHash` and `network` are the invoice's, that a
//! credential's preimage hashes to the invoice's payment hash, and that
//! the challenge expires no later than the invoice.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use lightning_invoice::{Bolt11Invoice, Currency};
use serde_json::{Value, json};
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

/// The payment hash of a request's invoice (decoded, its signature
/// checked), as lowercase hex.
pub fn payment_hash(request: &Value) -> Result<String> {
    Ok(alloy_primitives::hex::encode(
        invoice(request)?.payment_hash().as_ref() as &[u8],
    ))
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

/// §"Challenge Expiry and Invoice Expiry": "Servers MUST NOT set the
/// `expires` auth-param to a time later than the invoice's BOLT11 expiry
/// time."
pub const EXPIRES_NOT_AFTER_INVOICE: &str = "lightning-charge.expiry.expires-not-after-invoice";

/// The two expiry signals of a Lightning charge challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// The invoice's timestamp plus its expiry field, 3600 seconds when
    /// it has none (§"Invoice Expiry": "default 3600 seconds").
    pub invoice: DateTime<Utc>,
    /// "The effective expiry of a challenge is the earlier of the two":
    /// the challenge's `expires` or the invoice's.
    pub effective: DateTime<Utc>,
}

/// A challenge's expiry against its invoice's. `expires` later than the
/// invoice's expiry fails [`EXPIRES_NOT_AFTER_INVOICE`]; the same instant
/// is not later. An `expires` that is not RFC 3339 is bad input here:
/// the core's challenge checks judge its syntax.
pub fn expiry(request: &Value, expires: Option<&str>) -> Result<Expiry> {
    let invoice = invoice(request)?;
    let at = invoice
        .expires_at()
        .and_then(|d| DateTime::<Utc>::from_timestamp(i64::try_from(d.as_secs()).ok()?, 0))
        .ok_or_else(|| {
            violation(
                "lightning-charge.request.invoice",
                "$.methodDetails.invoice",
                "the invoice's timestamp plus expiry is past any date".into(),
            )
        })?;
    let Some(expires) = expires else {
        return Ok(Expiry {
            invoice: at,
            effective: at,
        });
    };
    let challenge = crate::codec::rfc3339::parse("expires", expires)
        .map_err(|e| Error::BadOpInput {
            op: EXPIRY_OP.into(),
            reason: format!("expires {expires:?} is not RFC 3339 ({e})"),
        })?
        .with_timezone(&Utc);
    if challenge > at {
        return Err(violation(
            EXPIRES_NOT_AFTER_INVOICE,
            "expires",
            format!(
                "the challenge expires at {} and its invoice at {} (timestamp {} plus {} s)",
                challenge.to_rfc3339(),
                at.to_rfc3339(),
                invoice.duration_since_epoch().as_secs(),
                invoice.expiry_time().as_secs()
            ),
        ));
    }
    Ok(Expiry {
        invoice: at,
        effective: challenge,
    })
}

const EXPIRY_OP: &str = "lightning.expiry.verify";

/// The `lightning.expiry.verify` operation: `{request, expires?}` to
/// `{invoiceExpiry, effectiveExpiry}` (RFC 3339, UTC, seconds).
pub fn expiry_op(input: &Value) -> Result<Value> {
    let request = input.get("request").ok_or_else(|| Error::BadOpInput {
        op: EXPIRY_OP.into(),
        reason: "input needs \"request\"".into(),
    })?;
    let expires = match input.get("expires") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(Error::BadOpInput {
                op: EXPIRY_OP.into(),
                reason: "\"expires\" is a string".into(),
            });
        }
    };
    let e = expiry(request, expires)?;
    let text = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    Ok(json!({
        "invoiceExpiry": text(e.invoice),
        "effectiveExpiry": text(e.effective),
    }))
}

/// The same rule inside a challenge a server sent: `Ok(Some(note))` when
/// `expires` is not RFC 3339, so nothing was compared.
pub fn expires_within_invoice(request: &Value, expires: Option<&str>) -> Result<Option<String>> {
    match expiry(request, expires) {
        Ok(_) => Ok(None),
        Err(Error::BadOpInput { reason, .. }) => Ok(Some(format!(
            "{reason}, so it was not compared with the invoice's expiry"
        ))),
        Err(e) => Err(e),
    }
}
