//! Request-schema validation for the `charge` intent
//! (draft-payment-intent-charge-00 §"Request Schema") and the Tempo
//! `charge` method (draft-tempo-charge-00 §"Request Schema"), and what
//! other methods' rule files cannot say (EVM charge's splits sum).
//!
//! A MUST violation is an [`Error::RequestSchema`] naming the catalogue
//! requirement; SHOULD-level findings come back as warnings.

use ruint::aliases::U256;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A SHOULD-level finding: the request is valid but not as recommended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub requirement: &'static str,
    pub path: String,
    pub reason: String,
}

fn violation(
    requirement: &'static str,
    path: impl Into<String>,
    reason: impl Into<String>,
) -> Error {
    Error::RequestSchema {
        requirement,
        path: path.into(),
        reason: reason.into(),
    }
}

/// Validates a decoded `request` for a method and intent: the charge
/// intent and Tempo charge here, every other method and intent by its
/// rule file ([`crate::methods::rules`]); one with neither only needs an
/// object.
pub fn validate(method: &str, intent: &str, request: &Value) -> Result<Vec<Warning>> {
    let Some(map) = request.as_object() else {
        // Each intent draft defines its request as a JSON object; a method
        // of another intent defines its structure (core, `request`), an
        // object in every pinned method draft.
        let requirement = match intent {
            "charge" => "charge.request.jcs-base64url",
            "subscription" => "subscription.request.required-fields",
            _ => "core.challenge.request-encoding",
        };
        return Err(violation(requirement, "$", "request is not a JSON object"));
    };
    let mut warnings = Vec::new();
    if intent == "charge" {
        validate_charge(map, &mut warnings)?;
        if method == "tempo" {
            validate_tempo_charge(map, &mut warnings)?;
        }
    }
    // Every other method and intent is judged by its rule file.
    warnings.extend(crate::methods::rules::validate(
        method,
        intent,
        crate::methods::rules::Part::Request,
        request,
    )?);
    // What takes decoding the method's own formats.
    if (method, intent) == ("lightning", "charge") {
        warnings.extend(crate::methods::lightning::validate_request(request)?);
    }
    if (method, intent) == ("evm", "charge") {
        validate_evm_splits_sum(map)?;
    }
    Ok(warnings)
}

/// draft-evm-charge-00 §"Payment Splits": "The sum of `splits[].amount`
/// MUST be strictly less than `amount`", so that the primary recipient
/// is paid something; a JSON schema cannot add. Runs after the rule file
/// has judged every amount a digit string.
fn validate_evm_splits_sum(map: &Map<String, Value>) -> Result<()> {
    const SUM: &str = "evm-charge.splits.sum-below-amount";
    let Some(splits) = map
        .get("methodDetails")
        .and_then(|d| d.get("splits"))
        .and_then(Value::as_array)
    else {
        return Ok(());
    };
    let units = |v: Option<&Value>, requirement: &'static str, path: String| {
        v.and_then(Value::as_str)
            .and_then(parse_base_units)
            .ok_or_else(|| violation(requirement, path, "not a uint256 of base units"))
    };
    let total = units(
        map.get("amount"),
        "evm-charge.request.shared-fields",
        "$.amount".into(),
    )?;
    let mut sum = U256::ZERO;
    for (i, entry) in splits.iter().enumerate() {
        let path = format!("$.methodDetails.splits[{i}].amount");
        let value = units(entry.get("amount"), "evm-charge.splits.entry-fields", path)?;
        sum = sum
            .checked_add(value)
            .ok_or_else(|| violation(SUM, "$.methodDetails.splits", "sum overflows uint256"))?;
    }
    if sum >= total {
        return Err(violation(
            SUM,
            "$.methodDetails.splits",
            format!("splits sum to {sum}, not less than amount {total}"),
        ));
    }
    Ok(())
}

/// [`validate`], and what the request must be against the rest of its
/// challenge (`realm`, `expires`): a card request's `jwksUri` on the
/// origin of the realm ([`crate::methods::card::jwks_origin`]), a Tempo
/// subscription's `subscriptionExpires` after the challenge's `expires`
/// ([`crate::methods::tempo_subscription::expires_after_challenge`]), a
/// Lightning charge's `expires` no later than its invoice's expiry
/// ([`crate::methods::lightning::expires_within_invoice`]). The
/// note says what could not be judged (a realm that is no host name has
/// no origin).
pub fn validate_in_challenge(
    method: &str,
    intent: &str,
    realm: &str,
    expires: Option<&str>,
    request: &Value,
) -> Result<(Vec<Warning>, Option<String>)> {
    use crate::methods::card::{JwksOrigin, jwks_origin};
    let warnings = validate(method, intent, request)?;
    let note = match (method, intent) {
        ("card", "charge") => match jwks_origin(realm, request)? {
            JwksOrigin::RealmNotHost => Some(format!(
                "realm {realm:?} is not a host name, so jwksUri's origin is not compared with it \
                 (ambiguity.card-charge-realm-origin)"
            )),
            JwksOrigin::Absent | JwksOrigin::SameOrigin => None,
        },
        ("tempo", "subscription") => {
            crate::methods::tempo_subscription::expires_after_challenge(request, expires)?
        }
        ("lightning", "charge") => {
            crate::methods::lightning::expires_within_invoice(request, expires)?
        }
        _ => None,
    };
    Ok((warnings, note))
}

/// Every requirement the code of [`validate_in_challenge`] (not the rule
/// files) can name for a request of `method` and `intent`.
pub fn code_requirements(method: &str, intent: &str) -> Vec<&'static str> {
    let mut ids = Vec::new();
    match intent {
        "charge" => ids.extend(CHARGE_REQUIREMENTS),
        "subscription" => ids.push("subscription.request.required-fields"),
        _ => ids.push("core.challenge.request-encoding"),
    }
    if (method, intent) == ("lightning", "charge") {
        ids.extend(crate::methods::lightning::REQUEST_REQUIREMENTS);
        ids.push(crate::methods::lightning::EXPIRES_NOT_AFTER_INVOICE);
    }
    if (method, intent) == ("card", "charge") {
        ids.push(crate::methods::card::ORIGIN_REQUIREMENT);
    }
    if (method, intent) == ("evm", "charge") {
        ids.push("evm-charge.splits.sum-below-amount");
    }
    if (method, intent) == ("tempo", "subscription") {
        ids.push(crate::methods::tempo_subscription::EXPIRES_AFTER_CHALLENGE);
    }
    ids
}

/// Every requirement the charge intent's part of [`validate`] can name.
pub const CHARGE_REQUIREMENTS: [&str; 4] = [
    "charge.request.jcs-base64url",
    "charge.request.shared-fields",
    "charge.request.fiat-lowercase",
    "charge.request.no-expiry",
];

fn validate_charge(map: &Map<String, Value>, warnings: &mut Vec<Warning>) -> Result<()> {
    const SHARED: &str = "charge.request.shared-fields";
    for field in ["amount", "currency"] {
        match map.get(field) {
            Some(Value::String(_)) => {}
            Some(_) => return Err(violation(SHARED, format!("$.{field}"), "must be a string")),
            None => return Err(violation(SHARED, format!("$.{field}"), "is required")),
        }
    }
    for field in ["recipient", "description", "externalId"] {
        if map.get(field).is_some_and(|v| !v.is_string()) {
            return Err(violation(SHARED, format!("$.{field}"), "must be a string"));
        }
    }
    if map.get("methodDetails").is_some_and(|v| !v.is_object()) {
        return Err(violation(SHARED, "$.methodDetails", "must be an object"));
    }
    // §"Currency Formats": ISO 4217 fiat codes are written in lowercase.
    let currency = map
        .get("currency")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if currency.len() == 3
        && currency.bytes().all(|b| b.is_ascii_alphabetic())
        && currency.bytes().any(|b| b.is_ascii_uppercase())
    {
        warnings.push(Warning {
            requirement: "charge.request.fiat-lowercase",
            path: "$.currency".into(),
            reason: format!("{currency:?}: ISO 4217 codes are written in lowercase here"),
        });
    }
    // "Request objects MUST NOT duplicate the expiry value."
    for field in ["expires", "expiry", "expiresAt"] {
        if map.contains_key(field) {
            return Err(violation(
                "charge.request.no-expiry",
                format!("$.{field}"),
                "expiry belongs in the `expires` auth-param only",
            ));
        }
    }
    Ok(())
}

fn validate_tempo_charge(map: &Map<String, Value>, warnings: &mut Vec<Warning>) -> Result<()> {
    const SHARED: &str = "tempo-charge.request.shared-fields";
    let amount = map
        .get("amount")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let total = parse_base_units(amount).ok_or_else(|| {
        violation(
            SHARED,
            "$.amount",
            "must be a base-10 integer string of base units",
        )
    })?;
    address(map.get("currency"), SHARED, "$.currency")?;
    address(map.get("recipient"), SHARED, "$.recipient")?;

    let Some(details) = map.get("methodDetails").and_then(Value::as_object) else {
        return Ok(());
    };
    const DETAILS: &str = "tempo-charge.request.method-details";
    if details
        .get("chainId")
        .is_some_and(|c| c.as_u64().is_none_or(|c| c == 0))
    {
        return Err(violation(
            DETAILS,
            "$.methodDetails.chainId",
            "must be a positive integer number",
        ));
    }
    if details.get("feePayer").is_some_and(|v| !v.is_boolean()) {
        return Err(violation(
            DETAILS,
            "$.methodDetails.feePayer",
            "must be a boolean",
        ));
    }
    if let Some(memo) = details.get("memo") {
        bytes32(
            memo,
            "tempo-charge.request.memo-bytes32",
            "$.methodDetails.memo",
        )?;
    }
    if let Some(modes) = details.get("supportedModes") {
        const MODES: &str = "tempo-charge.modes.supported-modes-non-empty";
        let arr = modes.as_array().ok_or_else(|| {
            violation(MODES, "$.methodDetails.supportedModes", "must be an array")
        })?;
        if !arr.iter().any(|m| m == "pull" || m == "push") {
            return Err(violation(
                MODES,
                "$.methodDetails.supportedModes",
                "must contain at least one of \"pull\" or \"push\"",
            ));
        }
    }
    if let Some(splits) = details.get("splits") {
        validate_splits(splits, total, warnings)?;
    }
    Ok(())
}

fn validate_splits(splits: &Value, total: U256, warnings: &mut Vec<Warning>) -> Result<()> {
    let arr = splits.as_array().ok_or_else(|| {
        violation(
            "tempo-charge.splits.non-empty",
            "$.methodDetails.splits",
            "must be an array",
        )
    })?;
    if arr.is_empty() {
        return Err(violation(
            "tempo-charge.splits.non-empty",
            "$.methodDetails.splits",
            "If present, `splits` MUST contain at least 1 entry",
        ));
    }
    if arr.len() > 10 {
        warnings.push(Warning {
            requirement: "tempo-charge.splits.max-ten",
            path: "$.methodDetails.splits".into(),
            reason: format!("{} entries; servers SHOULD limit splits to 10", arr.len()),
        });
    }
    let mut sum = U256::ZERO;
    for (i, split) in arr.iter().enumerate() {
        let path = format!("$.methodDetails.splits[{i}]");
        const ENTRY: &str = "tempo-charge.splits.entry-fields";
        let entry = split
            .as_object()
            .ok_or_else(|| violation(ENTRY, &path, "must be an object"))?;
        // Missing is a schema matter; present but not a string breaks the
        // amount syntax itself.
        let amount = match entry.get("amount") {
            None => return Err(violation(ENTRY, format!("{path}.amount"), "is required")),
            Some(v) => v.as_str().ok_or_else(|| {
                violation(
                    "tempo-charge.splits.amount-syntax",
                    format!("{path}.amount"),
                    "must be a base-10 integer string",
                )
            })?,
        };
        if !entry.contains_key("recipient") {
            return Err(violation(ENTRY, format!("{path}.recipient"), "is required"));
        }
        let value = parse_base_units(amount).ok_or_else(|| {
            violation(
                "tempo-charge.splits.amount-syntax",
                format!("{path}.amount"),
                "must be a base-10 integer string with no sign, decimal point, exponent, or whitespace",
            )
        })?;
        if value.is_zero() {
            return Err(violation(
                "tempo-charge.splits.amount-positive",
                format!("{path}.amount"),
                "must be greater than zero",
            ));
        }
        address(
            entry.get("recipient"),
            "tempo-charge.request.shared-fields",
            &format!("{path}.recipient"),
        )?;
        if let Some(memo) = entry.get("memo") {
            bytes32(
                memo,
                "tempo-charge.splits.memo-syntax",
                &format!("{path}.memo"),
            )?;
        }
        sum = sum.checked_add(value).ok_or_else(|| {
            violation(
                "tempo-charge.splits.sum-below-amount-server",
                "$.methodDetails.splits",
                "sum overflows uint256",
            )
        })?;
    }
    if sum >= total {
        return Err(violation(
            "tempo-charge.splits.sum-below-amount-server",
            "$.methodDetails.splits",
            format!("splits sum to {sum}, not less than amount {total}"),
        ));
    }
    Ok(())
}

/// A base-10 integer string of base units that fits uint256.
pub fn parse_base_units(s: &str) -> Option<U256> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    U256::from_str_radix(s, 10).ok()
}

/// `0x` and 40 hex digits. Case is not checked: the draft's own examples
/// mix cases and addresses compare as 20-byte values (ambiguity.hex-case).
fn address(v: Option<&Value>, requirement: &'static str, path: &str) -> Result<()> {
    let ok = v
        .and_then(Value::as_str)
        .and_then(|s| s.strip_prefix("0x"))
        .is_some_and(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(violation(
            requirement,
            path,
            "must be a 0x-prefixed 20-byte hex address",
        ))
    }
}

/// A `bytes32` hex value: `0x` and 64 hex digits.
fn bytes32(v: &Value, requirement: &'static str, path: &str) -> Result<()> {
    let ok = v
        .as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(violation(
            requirement,
            path,
            "must be a 0x-prefixed bytes32 hex value",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tempo(details: Value) -> Value {
        json!({
            "amount": "1000000",
            "currency": "0x20c0000000000000000000000000000000000000",
            "recipient": "0x742d35Cc6634C0532925a3b844Bc9e7595f8fE00",
            "methodDetails": details,
        })
    }

    fn code(r: Result<Vec<Warning>>) -> String {
        r.unwrap_err().code()
    }

    #[test]
    fn spec_split_example_is_valid() {
        let r = tempo(json!({"chainId": 4217, "feePayer": true, "splits": [
            {"amount": "50000", "recipient": "0xA1B2C3D4E5F6A1B2C3D4E5F6A1B2C3D4E5F6A1B2"},
            {"amount": "10000", "memo": "0x00000000000000000000000000000000000000000000000000000000deadbeef",
             "recipient": "0xC4D5E6F7A8B9C4D5E6F7A8B9C4D5E6F7A8B9C4D5"}]}));
        assert_eq!(validate("tempo", "charge", &r).unwrap(), vec![]);
    }

    #[test]
    fn split_rules() {
        let split = |amount: &str| json!({"amount": amount, "recipient": "0xA1B2C3D4E5F6A1B2C3D4E5F6A1B2C3D4E5F6A1B2"});
        assert_eq!(
            code(validate(
                "tempo",
                "charge",
                &tempo(json!({"splits": [split("1000000")]}))
            )),
            "tempo-charge.splits.sum-below-amount-server"
        );
        assert_eq!(
            code(validate(
                "tempo",
                "charge",
                &tempo(json!({"splits": [split("0")]}))
            )),
            "tempo-charge.splits.amount-positive"
        );
        assert_eq!(
            code(validate(
                "tempo",
                "charge",
                &tempo(json!({"splits": [split("+5")]}))
            )),
            "tempo-charge.splits.amount-syntax"
        );
        assert_eq!(
            code(validate("tempo", "charge", &tempo(json!({"splits": []})))),
            "tempo-charge.splits.non-empty"
        );
        let eleven: Vec<Value> = (0..11).map(|_| split("1")).collect();
        let w = validate("tempo", "charge", &tempo(json!({"splits": eleven}))).unwrap();
        assert_eq!(w[0].requirement, "tempo-charge.splits.max-ten");
    }

    #[test]
    fn charge_rules() {
        assert_eq!(
            code(validate(
                "x",
                "charge",
                &json!({"amount": 1, "currency": "usd"})
            )),
            "charge.request.shared-fields"
        );
        assert_eq!(
            code(validate(
                "x",
                "charge",
                &json!({"amount": "1", "currency": "usd", "expires": "2025-01-01T00:00:00Z"})
            )),
            "charge.request.no-expiry"
        );
        assert_eq!(
            code(validate(
                "tempo",
                "charge",
                &tempo(json!({"supportedModes": ["other"]}))
            )),
            "tempo-charge.modes.supported-modes-non-empty"
        );
    }
}
