//! The shape of a Tempo `charge` credential (draft-tempo-charge-00
//! §"Credential Schema", §"Submission Modes", §"Hash Settlement"): what a
//! client sends, checked without a chain. Whether the transaction pays
//! what the request asks is checked on the chain by the server and client
//! suites.

use serde_json::Value;

use crate::codec::Credential;
use crate::codec::request_schema::{self, Warning};
use crate::error::{Error, Result};

/// The chain id a request means when it names none (§"Method Details").
pub const DEFAULT_CHAIN_ID: u64 = 42431;

/// The three payload types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadType {
    /// Pull mode: a signed transaction for the server to broadcast.
    Transaction,
    /// Push mode: the hash of a transaction the client broadcast.
    Hash,
    /// Zero amount: an EIP-712 signature over the challenge id.
    Proof,
}

impl PayloadType {
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadType::Transaction => "transaction",
            PayloadType::Hash => "hash",
            PayloadType::Proof => "proof",
        }
    }
}

fn violation(requirement: &'static str, path: &str, reason: impl Into<String>) -> Error {
    Error::RequestSchema {
        requirement,
        path: path.into(),
        reason: reason.into(),
    }
}

/// `0x` followed by an even number of hex digits; returns the byte count.
fn hex_bytes(s: &str) -> Option<usize> {
    let h = s.strip_prefix("0x")?;
    (h.len() % 2 == 0 && h.bytes().all(|b| b.is_ascii_hexdigit())).then_some(h.len() / 2)
}

/// `did:pkh:eip155:<chainId>:<address>` → (chain id, address).
pub fn parse_did_pkh(source: &str) -> Option<(u64, &str)> {
    let rest = source.strip_prefix("did:pkh:eip155:")?;
    let (chain, address) = rest.split_once(':')?;
    if chain.is_empty() || chain.starts_with('0') || !chain.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    (hex_bytes(address) == Some(20)).then_some(())?;
    Some((chain.parse().ok()?, address))
}

/// Checks a credential for a `tempo`/`charge` challenge: its echoed
/// request, its payload shape, the mode rules and the proof's `source`.
pub fn validate_credential(credential: &Credential) -> Result<(PayloadType, Vec<Warning>)> {
    let echo = &credential.challenge;
    let request = &echo.request.value;
    let mut warnings = request_schema::validate("tempo", "charge", request)?;
    let details = request.get("methodDetails");
    let chain_id = details
        .and_then(|d| d.get("chainId"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_CHAIN_ID);
    let fee_payer = details
        .and_then(|d| d.get("feePayer"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let modes: Option<Vec<&str>> = details
        .and_then(|d| d.get("supportedModes"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let zero = request.get("amount").and_then(Value::as_str) == Some("0");
    let payload = &credential.payload;
    let text = |field: &str| payload.get(field).and_then(Value::as_str);

    let kind = match text("type") {
        Some("transaction") => PayloadType::Transaction,
        Some("hash") => PayloadType::Hash,
        Some("proof") => PayloadType::Proof,
        _ => {
            return Err(violation(
                "tempo-charge.credential.fields",
                "payload.type",
                "must be \"transaction\", \"hash\" or \"proof\"",
            ));
        }
    };
    // "clients MUST use type="proof" when amount is "0", and MUST NOT use
    // type="proof" when amount is non-zero."
    if zero != (kind == PayloadType::Proof) {
        return Err(violation(
            "tempo-charge.proof.zero-amount-only",
            "payload.type",
            format!(
                "a {} payload for amount {:?}",
                kind.as_str(),
                request["amount"]
            ),
        ));
    }
    let allows = |mode: &str| modes.as_ref().is_none_or(|m| m.contains(&mode));
    match kind {
        PayloadType::Transaction => {
            let signature = text("signature").filter(|s| hex_bytes(s).is_some_and(|n| n > 1));
            let Some(signature) = signature else {
                return Err(violation(
                    "tempo-charge.transaction.payload-fields",
                    "payload.signature",
                    "must be 0x-prefixed hex of the signed transaction",
                ));
            };
            match &signature[2..4] {
                "76" => {}
                // ambiguity.fee-payer-wire-format: SDKs send a 0x78
                // fee-payer envelope where the draft says 0x76.
                "78" => warnings.push(Warning {
                    requirement: "tempo-charge.transaction.payload-encoding",
                    path: "payload.signature".into(),
                    reason: "a 0x78 fee-payer envelope, not the 0x76 transaction the draft names"
                        .into(),
                }),
                other => {
                    return Err(violation(
                        "tempo-charge.transaction.payload-encoding",
                        "payload.signature",
                        format!("transaction type 0x{other}, not a Tempo Transaction (0x76)"),
                    ));
                }
            }
            if !allows("pull") {
                return Err(violation(
                    "tempo-charge.modes.client-uses-advertised",
                    "payload.type",
                    "a transaction (pull) credential where supportedModes excludes pull",
                ));
            }
        }
        PayloadType::Hash => {
            if text("hash").and_then(hex_bytes) != Some(32) {
                return Err(violation(
                    "tempo-charge.hash.payload-fields",
                    "payload.hash",
                    "must be a 0x-prefixed 32-byte transaction hash",
                ));
            }
            if fee_payer {
                return Err(violation(
                    "tempo-charge.hash.no-hash-with-fee-payer-client",
                    "payload.type",
                    "a hash credential for a request with feePayer true",
                ));
            }
            if !allows("push") {
                return Err(violation(
                    "tempo-charge.hash.no-hash-without-push-client",
                    "payload.type",
                    "a hash (push) credential where supportedModes excludes push",
                ));
            }
        }
        PayloadType::Proof => {
            if text("signature").and_then(hex_bytes) != Some(65) {
                return Err(violation(
                    "tempo-charge.proof.payload-fields",
                    "payload.signature",
                    "must be a 0x-prefixed 65-byte EIP-712 signature",
                ));
            }
            let source = credential.source.as_deref().and_then(parse_did_pkh);
            if source.is_none_or(|(chain, _)| chain != chain_id) {
                return Err(violation(
                    "tempo-charge.proof.source-required",
                    "source",
                    format!("must be did:pkh:eip155:{chain_id}:<signer address>"),
                ));
            }
        }
    }
    if let Some(source) = &credential.source
        && parse_did_pkh(source).is_none_or(|(chain, _)| chain != chain_id)
    {
        warnings.push(Warning {
            requirement: "tempo-charge.credential.source-did-pkh",
            path: "source".into(),
            reason: format!("{source:?} is not did:pkh:eip155:{chain_id}:<payer address>"),
        });
    }
    Ok((kind, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::EncodedJson;
    use crate::codec::credential::EchoedChallenge;
    use serde_json::{Map, json};

    fn credential(request: Value, payload: Value, source: Option<&str>) -> Credential {
        let Value::Object(payload) = payload else {
            unreachable!()
        };
        Credential {
            challenge: EchoedChallenge {
                id: "x".into(),
                realm: "r".into(),
                method: "tempo".into(),
                intent: "charge".into(),
                request: EncodedJson::canonical(request),
                description: None,
                opaque: None,
                digest: None,
                expires: None,
                unknown: Map::new(),
            },
            payload,
            source: source.map(str::to_string),
            unknown: Map::new(),
        }
    }

    fn request(amount: &str, details: Value) -> Value {
        json!({"amount": amount, "currency": "0x20c0000000000000000000000000000000000000",
               "recipient": "0x742d35cc6634c0532925a3b844bc9e7595f8fe00", "methodDetails": details})
    }

    const PAYER: &str = "did:pkh:eip155:31337:0x1234567890abcdef1234567890abcdef12345678";

    #[test]
    fn each_payload_type_and_its_rules() {
        let hash = json!({"type": "hash", "hash": format!("0x{}", "ab".repeat(32))});
        let tx = json!({"type": "transaction", "signature": "0x76f8"});
        let proof = json!({"type": "proof", "signature": format!("0x{}", "11".repeat(65))});
        let chain = json!({"chainId": 31337});
        let ok = |c: &Credential| validate_credential(c).map(|(k, _)| k);
        assert_eq!(
            ok(&credential(request("1", chain.clone()), tx.clone(), None)),
            Ok(PayloadType::Transaction)
        );
        assert_eq!(
            ok(&credential(request("1", chain.clone()), hash.clone(), None)),
            Ok(PayloadType::Hash)
        );
        assert_eq!(
            ok(&credential(
                request("0", chain.clone()),
                proof.clone(),
                Some(PAYER)
            )),
            Ok(PayloadType::Proof)
        );
        let code = |c: &Credential| validate_credential(c).unwrap_err().code();
        assert_eq!(
            code(&credential(
                request("1", json!({"feePayer": true})),
                hash.clone(),
                None
            )),
            "tempo-charge.hash.no-hash-with-fee-payer-client"
        );
        assert_eq!(
            code(&credential(
                request("1", json!({"supportedModes": ["push"]})),
                tx,
                None
            )),
            "tempo-charge.modes.client-uses-advertised"
        );
        assert_eq!(
            code(&credential(
                request("1", chain.clone()),
                proof.clone(),
                Some(PAYER)
            )),
            "tempo-charge.proof.zero-amount-only"
        );
        assert_eq!(
            code(&credential(request("0", json!({})), proof, Some(PAYER))),
            "tempo-charge.proof.source-required"
        );
        let (_, warnings) =
            validate_credential(&credential(request("1", chain), hash, Some("did:key:z6Mk")))
                .unwrap();
        assert_eq!(
            warnings[0].requirement,
            "tempo-charge.credential.source-did-pkh"
        );
    }

    #[test]
    fn did_pkh() {
        assert_eq!(parse_did_pkh(PAYER).map(|(c, _)| c), Some(31337));
        for bad in [
            "did:pkh:eip155:01:0x12",
            "did:pkh:eip155::0x1234567890abcdef1234567890abcdef12345678",
            "did:key:x",
        ] {
            assert!(parse_did_pkh(bad).is_none(), "{bad}");
        }
    }
}
