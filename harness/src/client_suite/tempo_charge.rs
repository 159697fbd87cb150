//! draft-tempo-charge-00 §"Request Schema" to §"Fee Payment": the Tempo charge client checks.
//!
//! What a Tempo client must put in its payment: transfers on the right
//! token to the right recipients for the right amounts, the memo and
//! splits the request asks for, the challenge's chain, a `validBefore`
//! no later than `expires`, a fee token; the sponsorship placeholder and
//! never a hash when fees are sponsored; only the modes the request
//! offers; a zero-amount proof by the account in `source`. Read from the
//! credential (pull) or from what the client broadcast (push).

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use mppconf_suite::codec::{Credential, rfc3339};
use mppconf_suite::methods::tempo_charge;
use mppconf_suite::methods::tempo_effects::{self, ChargeRequest};
use serde_json::{Value, json};

use super::check::{
    Check, Need, ScenarioDef, broadcasts, c, credentials_sent, fail, payload_type, refused,
    sent_credential, should,
};
use super::{Built, Record, header};
use crate::reference::tx::{self, DecodedPayment};
use crate::server_suite::Outcome;

type Verdict = Result<Outcome, Outcome>;

/// The Tempo charge scenarios, in run order.
pub const SCENARIOS: &[ScenarioDef] = &[
    ScenarioDef {
        name: "address-case",
        needs: Need::Nothing,
        build: |env| {
            let c = env.challenge("/address-case");
            Built::paying("/address-case", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "sponsored",
        needs: Need::FeeSponsorship,
        build: |env| {
            let c = env.challenge("/sponsored");
            Built::paying("/sponsored", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "pull-only",
        needs: Need::Nothing,
        build: |env| {
            let c = env.challenge("/pull-only");
            Built::paying("/pull-only", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "push-only",
        needs: Need::Push,
        build: |env| {
            let c = env.challenge("/push-only");
            Built::paying("/push-only", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "zero-amount",
        needs: Need::ZeroAmountProof,
        build: |env| {
            let c = env.challenge("/free");
            Built::paying("/free", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "splits-reach-amount",
        needs: Need::Nothing,
        build: |env| {
            let mut r = env.plain_request();
            r["methodDetails"]["splits"] = json!([
                {"amount": "600", "recipient": Address::random().to_string()},
                {"amount": "400", "recipient": Address::random().to_string()},
            ]);
            Built::refusing(vec![header(&env.challenge_with_request(r))])
        },
    },
    ScenarioDef {
        name: "no-usable-mode",
        needs: Need::Nothing,
        build: |env| {
            let mut r = env.plain_request();
            r["methodDetails"]["supportedModes"] = json!(["mppconf-unknown-mode"]);
            Built::refusing(vec![header(&env.challenge_with_request(r))])
        },
    },
];

/// Every Tempo charge check, in report order.
pub const CHECKS: &[Check] = &[
    should(
        "credential.source-did-pkh",
        &["tempo-charge.credential.source-did-pkh"],
        "standard",
        source_did_pkh,
    ),
    c(
        "tx.token",
        &[
            "tempo-charge.transaction.transfer-call",
            "charge.currency.client-verifies",
        ],
        "standard",
        |r, p| tx_aspect(r, TxAspect::Token, p),
    ),
    c(
        "tx.recipient-amount",
        &[
            "tempo-charge.transaction.transfer-call",
            "tempo-charge.splits.client-effects",
            "tempo-charge.transaction.authorizes-payment",
        ],
        "standard",
        |r, p| tx_aspect(r, TxAspect::Primary, p),
    ),
    c(
        "tx.memo",
        &[
            "tempo-charge.request.memo-transfer-with-memo",
            "tempo-charge.splits.top-level-memo-primary",
        ],
        "standard",
        |r, p| tx_aspect(r, TxAspect::Memo, p),
    ),
    c(
        "tx.splits",
        &[
            "tempo-charge.splits.client-effects",
            "tempo-charge.transaction.split-transfers",
            "tempo-charge.splits.split-memo-transfer-with-memo",
        ],
        "standard",
        |r, p| tx_aspect(r, TxAspect::Splits, p),
    ),
    c(
        // The description says "amount=1"; the payment follows the request.
        "description.not-an-input",
        &["core.challenge.description-display-only"],
        "quoted-description",
        |r, p| tx_aspect(r, TxAspect::NotFromDescription, p),
    ),
    should(
        "tx.splits-in-order",
        &["tempo-charge.splits.client-array-order"],
        "standard",
        |r, p| tx_aspect(r, TxAspect::Order, p),
    ),
    c(
        "tx.chain-id",
        &["tempo-charge.transaction.transfer-call"],
        "standard",
        |r, p| tx_aspect(r, TxAspect::ChainId, p),
    ),
    c(
        "tx.valid-before",
        &["tempo-charge.transaction.valid-before-expires"],
        "standard",
        |r, p| tx_aspect(r, TxAspect::ValidBefore, p),
    ),
    c(
        "tx.fee-token",
        &["tempo-charge.fees.client-paid-usd-token"],
        "standard",
        |r, p| tx_aspect(r, TxAspect::FeeToken, p),
    ),
    c(
        "sponsored.fee-fields",
        &[
            "tempo-charge.fees.client-sponsored-placeholder",
            "tempo-charge.fees.sponsored-client-signs",
        ],
        "sponsored",
        sponsored,
    ),
    c(
        "sponsored.no-push",
        &["tempo-charge.hash.no-hash-with-fee-payer-client"],
        "sponsored",
        no_push_with_fee_payer,
    ),
    c(
        "modes.pull-only",
        &[
            "tempo-charge.hash.no-hash-without-push-client",
            "tempo-charge.modes.client-uses-advertised",
        ],
        "pull-only",
        |r, _| pull_only(r),
    ),
    c(
        "modes.push-only",
        &[
            "tempo-charge.modes.client-uses-advertised",
            "tempo-charge.hash.client-broadcast-first",
        ],
        "push-only",
        push_only,
    ),
    c(
        "proof.zero-amount",
        &[
            "tempo-charge.proof.zero-amount-only",
            "tempo-charge.proof.eip712-domain",
            "tempo-charge.proof.source-required",
            "tempo-charge.modes.zero-amount-proof",
        ],
        "zero-amount",
        zero_amount,
    ),
    c(
        "refuse.splits-reach-amount",
        &["tempo-charge.splits.sum-below-amount-client"],
        "splits-reach-amount",
        refused,
    ),
    c(
        "tx.address-case",
        &["tempo-charge.splits.address-compare"],
        "address-case",
        address_case,
    ),
    c(
        "refuse.no-usable-mode",
        &["tempo-charge.modes.client-uses-advertised"],
        "no-usable-mode",
        refused,
    ),
];

#[derive(Clone, Copy)]
enum TxAspect {
    Token,
    Primary,
    Memo,
    Splits,
    /// The transfers in the request's order: primary, then each split.
    Order,
    /// The primary amount is not the one the description names
    /// (`amount=1`): a wrong amount otherwise is tx.recipient-amount's.
    NotFromDescription,
    /// The primary recipient receives a transfer and no address the request
    /// does not name does, whatever the amounts or token (those are
    /// tx.recipient-amount's and tx.token's).
    Payees,
    ChainId,
    ValidBefore,
    FeeToken,
}

/// The first credential sent, parsed, with the request of the payable
/// challenge; `Err` blocks the check (the `.paid` check says why).
fn credential(r: &Record, paid_check: &str) -> Result<(Credential, ChargeRequest), Outcome> {
    let Some(payable) = &r.payable else {
        return Err(Outcome::error("the scenario has no payable challenge"));
    };
    let request = ChargeRequest::from_json(&payable.request.value)
        .map_err(|e| Outcome::error(format!("the scenario's own request: {e}")))?;
    Ok((sent_credential(r, paid_check)?, request))
}

fn source_did_pkh(r: &Record, paid_check: &str) -> Verdict {
    let (credential, request) = credential(r, paid_check)?;
    let wanted_chain = request.chain_id;
    Ok(match credential.source.as_deref() {
        None => fail("source = did:pkh:eip155:<chainId>:<address>", "no source"),
        Some(s) => match tempo_charge::parse_did_pkh(s) {
            Some((chain, address))
                if chain == wanted_chain && address.parse::<Address>().ok() == Some(r.payer) =>
            {
                Outcome::pass(format!("source {s}"))
            }
            _ => fail(
                format!("did:pkh:eip155:{wanted_chain}:{}", r.payer),
                format!("source {s:?}"),
            ),
        },
    })
}

/// In a feePayer challenge: signed for sponsorship, never pushed.
fn sponsored(r: &Record, paid_check: &str) -> Verdict {
    let (credential, _) = credential(r, paid_check)?;
    if payload_type(&credential) != Some("transaction") {
        return Ok(fail(
            "a transaction credential signed for sponsorship",
            format!("payload type {:?}", payload_type(&credential)),
        ));
    }
    let (payment, _) = transaction(r, &credential)?;
    let fee_token = payment.tx().fee_token;
    Ok(if !payment.awaits_fee_payer {
        fail(
            "fee_payer_signature = 0x00 (placeholder) for feePayer: true",
            "no fee-payer placeholder: the client signed to pay its own fees",
        )
    } else if fee_token.is_some_and(|t| t != Address::ZERO) {
        fail(
            "fee_token empty (or 0x80) for feePayer: true",
            format!("fee_token {fee_token:?}"),
        )
    } else {
        Outcome::pass("placeholder fee-payer signature, no fee token")
    })
}

fn no_push_with_fee_payer(r: &Record, paid_check: &str) -> Verdict {
    let (credential, _) = credential(r, paid_check)?;
    Ok(match payload_type(&credential) {
        Some("hash") => fail(
            "no type=\"hash\" when feePayer is true",
            "a hash credential (the client broadcast itself)",
        ),
        t => Outcome::pass(format!("payload type {t:?}")),
    })
}

/// supportedModes ["pull"]: never a hash.
fn pull_only(r: &Record) -> Verdict {
    Ok(match credentials_sent(r).first() {
        None => Outcome::pass("no credential (the client did not pay pull-only)"),
        Some(raw) => match Credential::parse(raw) {
            Ok(c) if payload_type(&c) == Some("hash") => fail(
                "no type=\"hash\" when supportedModes excludes push",
                "a hash credential",
            ),
            Ok(c) => Outcome::pass(format!("payload type {:?}", payload_type(&c))),
            Err(e) => fail("a well-formed credential", format!("{e}")),
        },
    })
}

/// supportedModes ["push"]: never a transaction credential, and a hash
/// only of a transaction the client broadcast itself (§"Hash Payload":
/// the client has already broadcast it).
fn push_only(r: &Record, _: &str) -> Verdict {
    let hashes = broadcasts(r);
    Ok(match credentials_sent(r).first() {
        None => Outcome::pass(format!(
            "no credential ({} transaction(s) broadcast; client: {})",
            hashes.len(),
            r.run.ended
        )),
        Some(raw) => match Credential::parse(raw) {
            Ok(c) if payload_type(&c) == Some("hash") => match transaction(r, &c) {
                Ok((_, from)) => Outcome::pass(format!(
                    "a hash credential (push mode, as advertised) of {from}"
                )),
                Err(o) => fail(
                    "a hash of a transaction the client broadcast before sending it",
                    o.detail,
                ),
            },
            Ok(c) => fail(
                "type=\"hash\" (supportedModes is [\"push\"])",
                format!("payload type {:?}", payload_type(&c)),
            ),
            Err(e) => fail("a well-formed credential", format!("{e}")),
        },
    })
}

/// The payment transaction: from the credential (pull) or from what the
/// client broadcast (push, matched by hash).
fn transaction(r: &Record, c: &Credential) -> Result<(DecodedPayment, &'static str), Outcome> {
    match payload_type(c) {
        Some("transaction") => {
            let raw: Bytes = c
                .payload
                .get("signature")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| fail("payload.signature as 0x-hex", "not hex"))?;
            if raw.first() == Some(&0x78) {
                return Err(fail(
                    "a 0x76 Tempo Transaction (with the 0x00 fee-payer placeholder when sponsored)",
                    "a 0x78-prefixed fee-payer envelope, a wire form draft-tempo-charge-00 does not describe",
                ));
            }
            let p = tx::decode_payment(&raw).map_err(|e| fail("a Tempo Transaction", e))?;
            Ok((p, "the credential's transaction"))
        }
        Some("hash") => {
            let hash: Option<B256> = c
                .payload
                .get("hash")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok());
            let raw = broadcasts(r)
                .into_iter()
                .find(|raw| Some(keccak256(raw)) == hash)
                .ok_or_else(|| {
                    fail(
                        "the hash of a transaction the client broadcast",
                        format!("{hash:?}, which it did not broadcast through the given RPC"),
                    )
                })?;
            let p = tx::decode_payment(&raw).map_err(|e| fail("a Tempo Transaction", e))?;
            Ok((p, "the broadcast transaction"))
        }
        Some("proof") => Err(fail(
            "a payment (type transaction or hash) for a non-zero amount",
            "type=\"proof\" (tempo-charge.proof.zero-amount-only: MUST NOT for non-zero)",
        )),
        other => Err(fail(
            "payload type transaction or hash",
            format!("{other:?}"),
        )),
    }
}

fn tx_aspect(r: &Record, aspect: TxAspect, paid_check: &str) -> Verdict {
    let (credential, request) = credential(r, paid_check)?;
    let (payment, from) = transaction(r, &credential)?;
    let t = payment.tx();
    let required = request.required_transfers();
    let effects = payment.effects(request.currency);
    Ok(match aspect {
        TxAspect::Token => {
            let other: Vec<String> = t
                .calls
                .iter()
                .filter_map(|call| {
                    let to = *call.to.to()?;
                    tempo_effects::decode_transfer_call(&call.input)
                        .filter(|_| to != request.currency)
                        .map(|e| format!("{} to {} on token {to}", e.amount, e.to))
                })
                .collect();
            if !other.is_empty() {
                fail(
                    format!("transfers on {} only", request.currency),
                    format!("{from} transfers on another token: {}", other.join(", ")),
                )
            } else if effects.is_empty() {
                fail(
                    format!("a transfer on {}", request.currency),
                    format!("{from} has no transfer call on it"),
                )
            } else {
                Outcome::pass(format!("transfers on {}", request.currency))
            }
        }
        TxAspect::Primary => {
            let mut primary = required[0].clone();
            primary.memo = None;
            verified(&[primary], &effects, from)
        }
        TxAspect::Memo => match request.memo {
            None => Outcome::skip("the challenge asks for no memo"),
            Some(memo) => {
                let primary = &required[0];
                if effects
                    .iter()
                    .any(|e| e.to == primary.to && e.memo == Some(memo))
                {
                    Outcome::pass(format!(
                        "transferWithMemo to {} with memo {memo}",
                        primary.to
                    ))
                } else {
                    fail(
                        format!("transferWithMemo to {} with memo {memo}", primary.to),
                        format!("{from}: no transfer to it carries the memo"),
                    )
                }
            }
        },
        TxAspect::Splits => {
            if required.len() < 2 {
                Outcome::skip("the challenge has no splits")
            } else {
                verified(&required[1..], &effects, from)
            }
        }
        TxAspect::NotFromDescription => {
            let paid: Vec<U256> = effects
                .iter()
                .filter(|e| e.to == request.recipient)
                .map(|e| e.amount)
                .collect();
            if paid.contains(&U256::from(1)) && request.amount != U256::from(1) {
                fail(
                    format!(
                        "the request's amount ({}), whatever the description says",
                        request.amount
                    ),
                    format!("{from} pays 1, the amount=1 of the description"),
                )
            } else {
                Outcome::pass(format!(
                    "{from} pays {paid:?} to the recipient, not the description's amount=1"
                ))
            }
        }
        TxAspect::Order => {
            // The payees in call order, each at its first transfer.
            let mut order: Vec<Address> = Vec::new();
            for e in &effects {
                if required.iter().any(|q| q.to == e.to) && !order.contains(&e.to) {
                    order.push(e.to);
                }
            }
            let wanted: Vec<Address> = required.iter().map(|q| q.to).collect();
            if required.len() < 2 {
                Outcome::skip("the challenge has no splits")
            } else if order.len() < wanted.len() {
                Outcome::skip(format!(
                    "{from} does not pay every payee (tx.splits says what is missing): no order to judge"
                ))
            } else if order == wanted {
                Outcome::pass(format!(
                    "{from} pays the primary, then each split, in array order"
                ))
            } else {
                fail(
                    format!("transfers in array order: {wanted:?}"),
                    format!("{from} pays in the order {order:?}"),
                )
            }
        }
        TxAspect::Payees => {
            let paid: Vec<Address> = t
                .calls
                .iter()
                .filter_map(|call| tempo_effects::decode_transfer_call(&call.input))
                .map(|e| e.to)
                .collect();
            let named: Vec<Address> = required.iter().map(|q| q.to).collect();
            let strangers: Vec<String> = paid
                .iter()
                .filter(|to| !named.contains(to))
                .map(ToString::to_string)
                .collect();
            if !paid.contains(&named[0]) {
                fail(
                    format!("a transfer to the primary recipient {}", named[0]),
                    format!("{from} pays {paid:?}"),
                )
            } else if !strangers.is_empty() {
                fail(
                    format!("transfers to the payees the request names only: {named:?}"),
                    format!("{from} also pays {}", strangers.join(", ")),
                )
            } else {
                // A split left unpaid is tx.splits' finding.
                Outcome::pass(format!(
                    "{from} pays the request's payees, whatever their letter case"
                ))
            }
        }
        TxAspect::ChainId => {
            if t.chain_id == request.chain_id {
                Outcome::pass(format!("chain id {}", t.chain_id))
            } else {
                fail(
                    format!("chain id {} (the challenge's)", request.chain_id),
                    format!("{from} is for chain {}", t.chain_id),
                )
            }
        }
        TxAspect::ValidBefore => {
            let payable = r.payable.as_ref().expect("credential() checked");
            let expires = payable
                .expires
                .as_deref()
                .and_then(|e| rfc3339::parse("expires", e).ok())
                .map(|t| t.timestamp() as u64);
            match (t.valid_before.map(|v| v.get()), expires) {
                (Some(vb), Some(exp)) if vb <= exp => {
                    Outcome::pass(format!("validBefore {vb} <= expires {exp}"))
                }
                (vb, exp) => fail(
                    format!("validBefore no later than expires ({exp:?})"),
                    format!("validBefore {vb:?}"),
                ),
            }
        }
        TxAspect::FeeToken => {
            if request.fee_payer {
                Outcome::skip("the challenge sponsors fees")
            } else {
                match t.fee_token {
                    Some(token) if token != Address::ZERO => {
                        Outcome::pass(format!("fee_token {token}"))
                    }
                    other => fail(
                        "fee_token set to a USD TIP-20 token (feePayer absent)",
                        format!("fee_token {other:?}"),
                    ),
                }
            }
        }
    })
}

/// A challenge whose recipients are the policy's addresses in other
/// letter case (lowercase primary, uppercase split) is the same payment:
/// addresses compare by their 20 bytes.
fn address_case(r: &Record, paid_check: &str) -> Verdict {
    if credentials_sent(r).is_empty() {
        return Ok(fail(
            "a payment of the challenge (its addresses differ from the expected ones in letter case only)",
            format!("none sent (client: {})", r.run.ended),
        ));
    }
    tx_aspect(r, TxAspect::Payees, paid_check)
}

fn verified(
    required: &[tempo_effects::RequiredTransfer],
    effects: &[tempo_effects::TransferEffect],
    from: &str,
) -> Outcome {
    match tempo_effects::verify(required, effects, "tempo-charge.splits.client-effects") {
        Ok(()) => Outcome::pass(format!(
            "{from} makes the required transfer(s): {}",
            required
                .iter()
                .map(|t| format!("{} to {}", t.amount, t.to))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(e) => fail("the transfers the request requires", format!("{from}: {e}")),
    }
}

fn zero_amount(r: &Record, paid_check: &str) -> Verdict {
    let (credential, request) = credential(r, paid_check)?;
    if payload_type(&credential) != Some("proof") {
        return Ok(fail(
            "type=\"proof\" for amount \"0\"",
            format!("payload type {:?}", payload_type(&credential)),
        ));
    }
    if !broadcasts(r).is_empty() {
        return Ok(fail(
            "no transaction for a zero amount",
            format!("{} transaction(s) broadcast", broadcasts(r).len()),
        ));
    }
    let signature: Bytes = credential
        .payload
        .get("signature")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let payable = r.payable.as_ref().expect("credential() checked");
    let signer = tx::recover_proof(&payable.id, request.chain_id, &signature);
    let source = credential
        .source
        .as_deref()
        .and_then(tempo_charge::parse_did_pkh);
    Ok(match (signer, source) {
        (None, _) => fail(
            "an EIP-712 proof over the challenge id",
            "the signature does not recover",
        ),
        (_, None) => fail(
            "source = did:pkh:eip155:<chainId>:<address> (required on proofs)",
            format!("source {:?}", credential.source),
        ),
        (Some(signer), Some((chain, address))) => {
            if chain != request.chain_id || address.parse::<Address>().ok() != Some(signer) {
                fail(
                    format!(
                        "a proof over id {} by the account in source, on chain {}",
                        payable.id, request.chain_id
                    ),
                    format!(
                        "source {:?}; under the draft's EIP-712 domain (name \"MPP\", version \"1\") and type Proof(string challengeId) the signature recovers to {signer}",
                        credential.source
                    ),
                )
            } else {
                Outcome::pass(format!("a proof by {signer}, no transfer"))
            }
        }
    })
}
