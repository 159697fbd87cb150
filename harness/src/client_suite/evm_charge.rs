//! draft-evm-charge-00: the EVM charge client checks.
//!
//! What an EVM client must sign: for each credential type the challenge
//! offers, a payload of that type that pays exactly the request (token,
//! recipient, amount, chain, and the split transfers in array order),
//! signed by the payer for the challenge's chain and contract; a Permit2
//! witness and an EIP-3009 nonce bound to this challenge; a `hash` only
//! of a transfer it broadcast. And what it must refuse: an expired
//! challenge, a chain it does not serve, splits that reach the amount,
//! more than its policy allows, Permit2 at a non-canonical address (a
//! SHOULD). Read from the credential, the transactions the client
//! broadcast through the recording proxy, and the payer's balance.
//!
//! The scenarios run on a plain anvil with mppconf's EIP-3009 token and
//! Permit2 ([`crate::chain::evm`]); the reference server settles what the
//! client sends, so a correct payment moves the amount on chain.

use alloy::primitives::{Address, B256, Signature, U256, keccak256};
use mppconf_suite::codec::{Challenge, Credential, rfc3339};
use mppconf_suite::methods::evm::{
    EvmChargeRequest, EvmPayload, Permit2Message, challenge_hash, token_domain,
};
use serde_json::{Value, json};

use super::check::{
    Check, Need, ScenarioDef, broadcasts, c, credentials_sent, fail, refused, should,
};
use super::{Built, Env, Record, header};
use crate::methods::PaymentMethod;
use crate::methods::evm_charge::EvmCharge;
use crate::reference::evm::decode_transfer;
use crate::reference::server::{RouteConfig, SplitConfig};
use crate::server_suite::Outcome;

type Verdict = Result<Outcome, Outcome>;

/// The scenario a conformant client pays, whose payment is the control
/// of the refusal checks: every credential type offered, Permit2 first.
pub const CONTROL: &str = "evm-all";

/// The EIP-3009 token's name and version, as `MppTestToken.sol` returns
/// them (its EIP-712 domain: ambiguity.evm-eip3009-domain).
pub const TOKEN_NAME: &str = "MPP Test USD";
pub const TOKEN_VERSION: &str = "2";

/// The routes of an EVM client run: one per credential type, one with
/// every type, one with splits; each paid to its own payee.
pub fn routes() -> Vec<RouteConfig> {
    let route = |path: &str, types: &[&str]| {
        let payee = alloy::signers::local::PrivateKeySigner::random();
        let mut r = RouteConfig::evm(path, "1000", &payee.to_bytes().to_string());
        r.expires_in = 60;
        if let Some(evm) = r.evm.as_mut() {
            evm.credential_types = Some(types.iter().map(|t| t.to_string()).collect());
        }
        r
    };
    let mut permit2 = route("/evm-permit2", &["permit2"]);
    permit2.external_id = Some("mppconf-order-7".into());
    let mut split = route("/evm-split", &["permit2"]);
    split.splits = [("100", None), ("50", Some("platform fee"))]
        .into_iter()
        .map(|(amount, memo)| SplitConfig {
            amount: amount.into(),
            recipient: Address::random().to_string(),
            memo: memo.map(str::to_string),
        })
        .collect();
    vec![
        permit2,
        route("/evm-authorization", &["authorization"]),
        route("/evm-transaction", &["transaction"]),
        route("/evm-hash", &["hash"]),
        split,
        route(
            "/evm-all",
            &["permit2", "authorization", "transaction", "hash"],
        ),
    ]
}

/// A payable scenario of `path`.
fn paying(env: &Env, path: &'static str) -> Built {
    let c = env.challenge(path);
    Built::paying(path, vec![header(&c)], c)
}

/// A scenario of `path` whose request `change` breaks: a conformant
/// client pays nothing.
fn refusing(env: &Env, path: &'static str, change: fn(&mut Value)) -> Built {
    let mut c = env.challenge(path);
    let mut request = c.request.value.clone();
    change(&mut request);
    c.request = mppconf_suite::codec::EncodedJson::canonical(request);
    env.bind(&mut c);
    let mut built = Built::refusing(vec![header(&c)]);
    built.path = path;
    built
}

/// The EVM charge scenarios, in run order.
pub const SCENARIOS: &[ScenarioDef] = &[
    ScenarioDef {
        name: "evm-permit2",
        needs: Need::EvmType("permit2"),
        build: |env| paying(env, "/evm-permit2"),
    },
    ScenarioDef {
        name: "evm-authorization",
        needs: Need::EvmType("authorization"),
        build: |env| paying(env, "/evm-authorization"),
    },
    ScenarioDef {
        name: "evm-transaction",
        needs: Need::EvmType("transaction"),
        build: |env| paying(env, "/evm-transaction"),
    },
    ScenarioDef {
        name: "evm-hash",
        needs: Need::EvmType("hash"),
        build: |env| paying(env, "/evm-hash"),
    },
    ScenarioDef {
        name: "evm-split",
        needs: Need::EvmType("permit2"),
        build: |env| paying(env, "/evm-split"),
    },
    ScenarioDef {
        name: CONTROL,
        needs: Need::Nothing,
        build: |env| paying(env, "/evm-all"),
    },
    ScenarioDef {
        name: "evm-expired",
        needs: Need::Nothing,
        build: |env| {
            let mut c = env.challenge("/evm-all");
            c.expires = Some(super::rfc3339_in(-60));
            env.bind(&mut c);
            let mut built = Built::refusing(vec![header(&c)]);
            built.path = "/evm-all";
            built
        },
    },
    ScenarioDef {
        name: "evm-other-chain",
        needs: Need::Nothing,
        // A chain id no local RPC serves (anvil's is 31337).
        build: |env| {
            refusing(env, "/evm-all", |r| {
                r["methodDetails"]["chainId"] = 42_424_242.into()
            })
        },
    },
    ScenarioDef {
        name: "evm-splits-reach-amount",
        needs: Need::EvmType("permit2"),
        build: |env| {
            refusing(env, "/evm-split", |r| {
                r["methodDetails"]["splits"][0]["amount"] = "600".into();
                r["methodDetails"]["splits"][1]["amount"] = "400".into();
            })
        },
    },
    ScenarioDef {
        name: "evm-foreign-permit2",
        needs: Need::EvmType("permit2"),
        build: |env| {
            refusing(env, "/evm-permit2", |r| {
                r["methodDetails"]["permit2Address"] =
                    Address::repeat_byte(0x22).to_checksum(None).into();
            })
        },
    },
    ScenarioDef {
        name: "evm-over-limit",
        needs: Need::Budget,
        build: |env| refusing(env, "/evm-all", |r| r["amount"] = "1000000".into()),
    },
];

/// Every EVM charge client check, in report order.
pub const CHECKS: &[Check] = &[
    c(
        "evm.permit2.credential",
        &[
            "evm-charge.permit2.payload-fields",
            "evm-charge.permit2.permitted-array",
            "evm-charge.permit2.transfer-details-length",
            "evm-charge.credential.fields",
        ],
        "evm-permit2",
        |r, _| credential_is(r, "permit2"),
    ),
    c(
        "evm.permit2.terms",
        &[
            "evm-charge.permit2.token-matches-currency",
            "evm-charge.permit2.transfer-details-order",
            "evm-charge.permit2.exact-type-string",
            "evm-charge.security.client-verifies-request",
        ],
        "evm-permit2",
        |r, p| terms(r, p, "permit2"),
    ),
    c(
        "evm.permit2.witness",
        &[
            "evm-charge.permit2.challenge-hash",
            "evm-charge.permit2.witness-external-id",
            "evm-charge.permit2.witness-struct",
        ],
        "evm-permit2",
        permit2_witness,
    ),
    c(
        "evm.authorization.credential",
        &[
            "evm-charge.authorization.payload-fields",
            "evm-charge.credential.fields",
        ],
        "evm-authorization",
        |r, _| credential_is(r, "authorization"),
    ),
    c(
        "evm.authorization.terms",
        &[
            "evm-charge.authorization.to-recipient",
            "evm-charge.authorization.value-amount",
            "evm-charge.security.client-verifies-request",
        ],
        "evm-authorization",
        |r, p| terms(r, p, "authorization"),
    ),
    c(
        "evm.authorization.nonce",
        &["evm-charge.authorization.nonce-challenge-hash"],
        "evm-authorization",
        authorization_nonce,
    ),
    should(
        "evm.authorization.valid-before",
        &["evm-charge.authorization.valid-before-expires"],
        "evm-authorization",
        authorization_valid_before,
    ),
    c(
        "evm.transaction.credential",
        &[
            "evm-charge.transaction.payload-fields",
            "evm-charge.transaction.eip1559",
            "evm-charge.credential.fields",
        ],
        "evm-transaction",
        |r, _| credential_is(r, "transaction"),
    ),
    c(
        "evm.transaction.terms",
        &[
            "evm-charge.transaction.transfer-call",
            "evm-charge.transaction.fully-valid",
            "evm-charge.security.client-verifies-request",
        ],
        "evm-transaction",
        |r, p| terms(r, p, "transaction"),
    ),
    c(
        "evm.hash.credential",
        &[
            "evm-charge.hash.payload-fields",
            "evm-charge.credential.fields",
        ],
        "evm-hash",
        |r, _| credential_is(r, "hash"),
    ),
    c(
        "evm.hash.terms",
        &[
            "evm-charge.hash.client-broadcasts-first",
            "evm-charge.security.client-verifies-request",
        ],
        "evm-hash",
        |r, p| terms(r, p, "hash"),
    ),
    c(
        "evm.splits.transfers",
        &[
            "evm-charge.splits.require-permit2",
            "evm-charge.splits.client-array-order",
            "evm-charge.splits.remainder-semantics",
            "evm-charge.splits.same-currency",
            "evm-charge.permit2.same-witness-single-batch",
        ],
        "evm-split",
        split_transfers,
    ),
    should(
        "evm.negotiation.first-offered",
        &[
            "evm-charge.negotiation.client-first-supported",
            "evm-charge.types.client-prefer-permit2",
        ],
        CONTROL,
        first_offered,
    ),
    c(
        "evm.refuse.expired",
        &["core.challenge.expired-not-paid"],
        "evm-expired",
        refused,
    ),
    c(
        "evm.refuse.other-chain",
        &["evm-charge.request.client-reject-unknown-chain"],
        "evm-other-chain",
        refused,
    ),
    c(
        "evm.refuse.splits-reach-amount",
        &["evm-charge.splits.sum-below-amount-client"],
        "evm-splits-reach-amount",
        refused,
    ),
    should(
        "evm.refuse.foreign-permit2",
        &["evm-charge.security.verify-permit2-address"],
        "evm-foreign-permit2",
        refused,
    ),
    c(
        "evm.refuse.over-limit",
        &[
            "evm-charge.security.client-verifies-request",
            "core.amount.client-verifies",
        ],
        "evm-over-limit",
        refused,
    ),
];

/// The first credential the client sent, its scenario's request and its
/// payload; `Err` when there is none to judge (`.credential` says why).
fn sent(
    r: &Record,
    paid_check: &str,
) -> Result<(Credential, EvmChargeRequest, EvmPayload), Outcome> {
    let credential = super::check::sent_credential(r, paid_check)?;
    let request = payable(r)?;
    let payload = EvmPayload::parse(&Value::Object(credential.payload.clone()))
        .map_err(|e| Outcome::blocked(format!("the payload does not parse ({e}), {paid_check}")))?;
    Ok((credential, request, payload))
}

fn payable(r: &Record) -> Result<EvmChargeRequest, Outcome> {
    let challenge = challenge_of(r)?;
    EvmChargeRequest::from_json(&challenge.request.value)
        .map_err(|e| Outcome::error(format!("the scenario's request: {e}")))
}

fn challenge_of(r: &Record) -> Result<&Challenge, Outcome> {
    r.payable
        .as_ref()
        .ok_or_else(|| Outcome::error("the scenario has no payable challenge"))
}

/// The check of another type than the client paid with has nothing to
/// judge: the `.credential` check of the scenario is the finding.
fn not_of_kind(payload: &EvmPayload, kind: &str) -> Outcome {
    Outcome::skip(format!(
        "the client paid with a {} payload, not {kind} (see evm.{kind}.credential)",
        payload.kind()
    ))
}

/// A credential of `kind` was sent and its payload is valid.
fn credential_is(r: &Record, kind: &str) -> Verdict {
    let Some(raw) = credentials_sent(r).into_iter().next() else {
        return Ok(fail(
            format!("a {kind} credential for the challenge, which offers only {kind}"),
            format!("none (client: {})", r.run.ended),
        ));
    };
    let credential =
        Credential::parse(&raw).map_err(|e| fail("a credential that parses", format!("{e}")))?;
    if let Err(e) = EvmCharge.validate_payload(&credential) {
        return Ok(fail(format!("a valid {kind} payload"), e));
    }
    let paid = credential
        .payload
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if paid != kind {
        return Ok(fail(
            format!("type {kind:?}, the only type the challenge offers"),
            format!("type {paid:?}"),
        ));
    }
    Ok(Outcome::pass(format!(
        "a valid {kind} payload (client: {})",
        r.run.ended
    )))
}

/// What the payload pays and who signed it, against the request; and on
/// chain, that the payer spent nothing or exactly the amount.
fn terms(r: &Record, paid_check: &str, kind: &str) -> Verdict {
    let (_, request, payload) = sent(r, paid_check)?;
    if payload.kind() != kind {
        return Ok(not_of_kind(&payload, kind));
    }
    let wanted = request.transfers();
    let signed = match &payload {
        EvmPayload::Permit2 {
            permitted,
            nonce,
            deadline,
            transfer_details,
            challenge_hash,
            external_id,
            signature,
        } => {
            if let Some((token, _)) = permitted.iter().find(|(t, _)| *t != request.currency) {
                return Ok(fail(
                    format!("every permitted token the currency {}", request.currency),
                    token,
                ));
            }
            if *transfer_details != wanted {
                return Ok(fail(
                    format!("transferDetails {wanted:?} (primary first, then the splits in order)"),
                    format!("{transfer_details:?}"),
                ));
            }
            let amounts: Vec<U256> = wanted.iter().map(|(_, a)| *a).collect();
            let permitted_amounts: Vec<U256> = permitted.iter().map(|(_, a)| *a).collect();
            if permitted_amounts != amounts {
                return Ok(fail(
                    format!("permitted amounts {amounts:?}, each transfer's"),
                    format!("{permitted_amounts:?}"),
                ));
            }
            // The spender is the recipient (ambiguity.evm-permit2-spender).
            let message = Permit2Message {
                permitted: permitted.clone(),
                spender: request.recipient,
                nonce: *nonce,
                deadline: *deadline,
                challenge_hash: *challenge_hash,
                external_id: external_id.clone().unwrap_or_default(),
            };
            recover(message.digest(request.chain_id, request.permit2), signature).map(|who| {
                (
                    who,
                    "Permit2 on the challenge's chain and address, spender the recipient",
                )
            })
        }
        EvmPayload::Authorization { message, signature } => {
            if (message.to, message.value) != wanted[0] {
                return Ok(fail(
                    format!("to {} and value {}", wanted[0].0, wanted[0].1),
                    format!("to {} and value {}", message.to, message.value),
                ));
            }
            let domain = token_domain(
                TOKEN_NAME,
                TOKEN_VERSION,
                request.chain_id,
                request.currency,
            );
            recover(message.digest(&domain), signature)
                .filter(|who| *who == message.from)
                .map(|who| {
                    (
                        who,
                        "the currency token's EIP-712 domain on the challenge's chain",
                    )
                })
        }
        EvmPayload::Transaction { signed } => {
            return Ok(transfer_terms(r, &request, signed, "the transaction"));
        }
        EvmPayload::Hash { hash } => {
            let Some(raw) = broadcasts(r).into_iter().find(|b| keccak256(b) == *hash) else {
                return Ok(fail(
                    "the hash of a transfer the client broadcast before presenting it",
                    format!(
                        "{hash}, which is none of its {} broadcast(s)",
                        broadcasts(r).len()
                    ),
                ));
            };
            if r.payer_spent != request.amount {
                return Ok(fail(
                    format!(
                        "the broadcast transfer confirmed: the payer spent {}",
                        request.amount
                    ),
                    format!("{} spent", r.payer_spent),
                ));
            }
            return Ok(transfer_terms(r, &request, &raw, "the broadcast transfer"));
        }
    };
    let Some((who, domain)) = signed else {
        return Ok(fail(
            "a signature by the payer over the message for the challenge's token, chain and contract",
            "it recovers to no address or another signer: signed for another domain or message",
        ));
    };
    if who != r.payer {
        return Ok(fail(
            format!("signed by the payer {} for {domain}", r.payer),
            format!("recovers to {who}"),
        ));
    }
    spent_at_most_amount(
        r,
        &request,
        format!("signed by the payer for {domain}, paying {wanted:?}"),
    )
}

/// Splits are paid with Permit2 only (§"Payment Splits"), its transfers
/// the primary's remainder and then each split, in array order.
fn split_transfers(r: &Record, paid_check: &str) -> Verdict {
    let (_, _, payload) = sent(r, paid_check)?;
    if payload.kind() != "permit2" {
        return Ok(fail(
            "a permit2 credential (splits REQUIRE type=\"permit2\")",
            format!("type {:?}", payload.kind()),
        ));
    }
    terms(r, paid_check, "permit2")
}

/// A signed transfer transaction against the request.
fn transfer_terms(r: &Record, request: &EvmChargeRequest, raw: &[u8], what: &str) -> Outcome {
    let decoded = match decode_transfer(raw) {
        Ok(d) => d,
        Err(e) => return fail(format!("{what}: an EIP-1559 transfer"), e),
    };
    let wanted = request.transfers()[0];
    let actual = format!(
        "chain {:?}, to {:?}, call {:?}, from {}",
        decoded.chain_id,
        decoded.to,
        decoded.transfer(),
        decoded.from
    );
    if decoded.chain_id != Some(request.chain_id)
        || decoded.to != Some(request.currency)
        || decoded.transfer() != Some(wanted)
        || decoded.from != r.payer
    {
        return fail(
            format!(
                "{what}: chain {}, to the currency {}, transfer({}, {}), from the payer {}",
                request.chain_id, request.currency, wanted.0, wanted.1, r.payer
            ),
            actual,
        );
    }
    match spent_at_most_amount(r, request, format!("{what}: {actual}")) {
        Ok(o) | Err(o) => o,
    }
}

/// Chain evidence: the payer spent nothing (the server refused) or the
/// amount, never more.
fn spent_at_most_amount(r: &Record, request: &EvmChargeRequest, detail: String) -> Verdict {
    if !r.payer_spent.is_zero() && r.payer_spent != request.amount {
        return Ok(fail(
            format!("the payer spends the amount {} or nothing", request.amount),
            format!("{} spent", r.payer_spent),
        ));
    }
    Ok(Outcome::pass(format!(
        "{detail}; the payer spent {}",
        r.payer_spent
    )))
}

fn recover(digest: B256, signature: &[u8]) -> Option<Address> {
    Signature::try_from(signature)
        .ok()
        .and_then(|s| s.recover_address_from_prehash(&digest).ok())
}

/// The Permit2 witness binds this challenge and its `externalId`.
fn permit2_witness(r: &Record, paid_check: &str) -> Verdict {
    let (_, request, payload) = sent(r, paid_check)?;
    let challenge = challenge_of(r)?;
    let EvmPayload::Permit2 {
        challenge_hash: bound,
        external_id,
        ..
    } = &payload
    else {
        return Ok(not_of_kind(&payload, "permit2"));
    };
    let want = challenge_hash(&challenge.id, &challenge.realm);
    let want_external = request.external_id.clone().unwrap_or_default();
    let got_external = external_id.clone().unwrap_or_default();
    if *bound != want || got_external != want_external {
        return Ok(fail(
            format!(
                "witness challengeHash {want} (keccak256(id ‖ realm)) and externalId {want_external:?}"
            ),
            format!("challengeHash {bound} and externalId {got_external:?}"),
        ));
    }
    Ok(Outcome::pass(format!(
        "the witness binds challenge {} and externalId {want_external:?}",
        challenge.id
    )))
}

/// The EIP-3009 nonce is the challenge's `challengeHash`.
fn authorization_nonce(r: &Record, paid_check: &str) -> Verdict {
    let (_, _, payload) = sent(r, paid_check)?;
    let challenge = challenge_of(r)?;
    let EvmPayload::Authorization { message, .. } = &payload else {
        return Ok(not_of_kind(&payload, "authorization"));
    };
    let want = challenge_hash(&challenge.id, &challenge.realm);
    if message.nonce != want {
        return Ok(fail(format!("nonce {want} (challengeHash)"), message.nonce));
    }
    Ok(Outcome::pass(format!("nonce = challengeHash {want}")))
}

/// `validBefore` no later than the challenge's `expires`.
fn authorization_valid_before(r: &Record, paid_check: &str) -> Verdict {
    let (_, _, payload) = sent(r, paid_check)?;
    let challenge = challenge_of(r)?;
    let EvmPayload::Authorization { message, .. } = &payload else {
        return Ok(not_of_kind(&payload, "authorization"));
    };
    let Some(expires) = challenge
        .expires
        .as_deref()
        .and_then(|e| rfc3339::parse("expires", e).ok())
    else {
        return Err(Outcome::error("the scenario's challenge has no expires"));
    };
    let expires = U256::from(expires.timestamp().max(0) as u64);
    if message.valid_before > expires {
        return Ok(fail(
            format!("validBefore at most {expires} (the challenge's expires)"),
            message.valid_before,
        ));
    }
    Ok(Outcome::pass(format!(
        "validBefore {} ≤ expires {expires}",
        message.valid_before
    )))
}

/// With every type offered, Permit2 first: the client pays with the
/// first offered type it supports (its manifest's
/// `claims.evm_credential_types`; the reference supports all four), which
/// is also the Permit2 it SHOULD prefer when it supports Permit2.
fn first_offered(r: &Record, paid_check: &str) -> Verdict {
    // Every type is offered: any EVM client supports one of them.
    if credentials_sent(r).is_empty() {
        return Ok(fail(
            "a credential of one of the offered types (all four are offered)",
            format!("none (client: {})", r.run.ended),
        ));
    }
    let (_, request, payload) = sent(r, paid_check)?;
    let offered = request.credential_types.clone().unwrap_or_default();
    let first_supported = offered
        .iter()
        .find(|t| r.evm_credential_types.contains(t))
        .cloned();
    let kind = payload.kind();
    if first_supported.as_deref() != Some(kind) {
        return Ok(fail(
            format!(
                "{first_supported:?}: the first of the offered types {offered:?} the client supports (claims {:?})",
                r.evm_credential_types
            ),
            kind,
        ));
    }
    Ok(Outcome::pass(
        json!({"offered": offered, "supported": r.evm_credential_types, "used": kind}).to_string(),
    ))
}
