//! Clients of a method the harness cannot pay or settle itself
//! (Lightning, Stripe, Solana, ...: a method judged by its rules in
//! `vectors/methods/`, [`mppconf_suite::methods::rules`]). The client's
//! manifest names the challenge to offer (`[offer]`); one scenario offers
//! it, records the credential and answers it `402 verification-failed`
//! (nothing can verify it without the live rail), and the credential's
//! payload is judged by the method's payload rules, naming the
//! requirement a broken one breaks, and, where the method's cryptography
//! can be judged offline (a Stellar, Solana or Hedera pull-mode
//! transaction, Hedera's bound to the offered challenge by its memo; a
//! card JWE's header and key; a Lightning preimage), by its terms against
//! the offered request.

use std::sync::OnceLock;

use mppconf_suite::codec::{Challenge, EncodedJson};
use mppconf_suite::methods::rules::{self, Part};
use mppconf_suite::methods::{card, hedera, lightning, solana, stellar, tempo_subscription};
use mppconf_suite::vectors::Verdict;

use super::check::{Check, Need, ScenarioDef, c, sent_credential};
use super::manifest::Offer;
use super::scenario::{OnCredential, Script};
use super::{Built, Env, Record, header, rfc3339_in};
use crate::server_suite::Outcome;

/// The scenario that offers the manifest's challenge.
pub const SCENARIO: ScenarioDef = ScenarioDef {
    name: "offer",
    needs: Need::Nothing,
    build: offer,
};

/// The check's id; it cites the payload rules of the offered method
/// ([`cited`]).
pub const PAYLOAD_RULES: &str = "method.payload-rules";

pub static CHECK: Check = c(PAYLOAD_RULES, &[], "offer", payload_rules);

/// The check of what the payload pays against the offered request; it
/// cites [`terms_cited`].
pub const PAYLOAD_TERMS: &str = "method.payload-terms";

pub static TERMS_CHECK: Check = c(PAYLOAD_TERMS, &[], "offer", payload_terms);

/// draft-stellar-charge-00: what a client's pull-mode transaction must be
/// (§"Transaction Payload — Pull Mode", §"Fee Payment", §"Ledger
/// Expiration"), and the §"Verification" checks a server makes of it,
/// which are the ids a failure names.
const STELLAR_TERMS: &[&str] = &[
    "stellar-charge.transaction.xdr",
    "stellar-charge.transaction.single-invoke-host-function",
    "stellar-charge.sponsored.client-builds",
    "stellar-charge.unsponsored.client-builds",
    "stellar-charge.sponsored.zero-source",
    "stellar-charge.sponsored.auth-entries-signed",
    "stellar-charge.sponsored.client-not-sign-envelope",
    "stellar-charge.unsponsored.network-ready",
    "stellar-charge.expiry.unsponsored-max-time",
    "stellar-charge.expiry.not-valid-beyond",
    "stellar-charge.verification.single-invoke-contract",
    "stellar-charge.verification.transfer-args",
    "stellar-charge.verification.network-passphrase",
    "stellar-charge.verification.auth-address-credentials",
    "stellar-charge.verification.max-time-bound",
];

/// draft-solana-charge-00: what a client's pull-mode transaction must be
/// (§"Transaction Payload — Pull Mode", §"Fee Sponsorship", §"Client
/// Transaction Construction"), and the §"Pull Mode Verification" checks a
/// server makes of it, which are the ids a failure names.
const SOLANA_TERMS: &[&str] = &[
    "solana-charge.transaction.valid-size",
    "solana-charge.transaction.transfer-authority-signs",
    "solana-charge.transaction.client-paid-fully-signed",
    "solana-charge.transaction.sponsored-fee-payer",
    "solana-charge.fees.client-paid",
    "solana-charge.fees.client-sponsored",
    "solana-charge.construction.sol-transfer",
    "solana-charge.construction.spl-transfer-checked",
    "solana-charge.construction.compute-budget",
    "solana-charge.request.external-id-memo",
    "solana-charge.security.only-expected-instructions",
    "solana-charge.pull.structural-match",
    "solana-charge.sol.reject-missing",
    "solana-charge.sol.distinct-legs",
    "solana-charge.spl.verify-transfers",
    "solana-charge.spl.reject-missing",
    "solana-charge.spl.distinct-legs",
    "solana-charge.ata.idempotent-create",
    "solana-charge.ata.owner-split-recipient",
    "solana-charge.ata.sponsored-client-no-other",
    "solana-charge.ata.mint-currency",
    "solana-charge.ata.token-program",
    "solana-charge.ata.canonical-pda",
    "solana-charge.ata.payer-fee-payer",
    "solana-charge.ata.required-before-transfer",
];

/// draft-hedera-charge-00: what a client's pull-mode transaction must be
/// (§"Transaction Payload -- Pull Mode", §"Attribution Memo", §"Client
/// Transaction Construction") and the §"Pull Mode Verification" and
/// §"Transfer Verification" checks a server makes of it before
/// submitting it, which are the ids a failure names.
const HEDERA_TERMS: &[&str] = &[
    "hedera-charge.pull.decode",
    "hedera-charge.transaction.base64",
    "hedera-charge.transaction.frozen-signed",
    "hedera-charge.memo.required",
    "hedera-charge.memo.hex-encoding",
    "hedera-charge.memo.tag-reject",
    "hedera-charge.memo.version-reject",
    "hedera-charge.memo.server-id-verify",
    "hedera-charge.memo.nonce-value",
    "hedera-charge.pull.memo-verify",
    "hedera-charge.security.pull-content-check",
    "hedera-charge.construction.sum-zero",
    "hedera-charge.construction.transfer-entries",
    "hedera-charge.transfer.primary-leg",
    "hedera-charge.transfer.split-legs",
    "hedera-charge.transfer.reject-missing",
    "hedera-charge.transfer.distinct-entries",
    "hedera-charge.splits.client-transfer-per-split",
    "hedera-charge.splits.same-token",
];

/// draft-card-charge-00 §"Encrypted Payload Format": what the
/// `encryptedPayload` JWE shows of the key and algorithms without the
/// server's private key (`card.jwe.verify`).
const CARD_TERMS: &[&str] = &[
    "card-charge.encrypted.jwe-compact",
    "card-charge.jwe.compact-assembly",
    "card-charge.encrypted.protected-header",
    "card-charge.jwe.header-alg-enc-kid",
    "card-charge.jwe.no-pkcs1",
    "card-charge.encrypted.alg-match",
    "card-charge.encrypted.enc-a256gcm",
    "card-charge.encrypted.kid-match",
    "card-charge.encrypted.no-zip",
    "card-charge.jwe.cek-rsa-oaep-256",
    "card-charge.jwe.iv-96",
    "card-charge.jwe.compact-rsa-oaep-a256gcm",
];

/// draft-card-charge-00 §"Encrypted Payload Format", §"Token Data",
/// §"Dynamic Data": what the JWE decrypts to, judged when the client was
/// offered mppconf's own key ([`own_card_key`]; `card.jwe.decrypt`); and
/// §"Encryption Key": that it decrypts shows the embedded key was used.
const CARD_PLAINTEXT_TERMS: &[&str] = &[
    "card-charge.resolution.embedded",
    "card-charge.jwe.cek-256",
    "card-charge.encrypted.minified-json",
    "card-charge.encrypted.plaintext-fields",
    "card-charge.token.fields",
    "card-charge.dynamic.type",
    "card-charge.dynamic.value",
    "card-charge.dynamic.expiration",
];

/// mppconf's own card encryption key and its public JWK, offered to a card
/// client whose manifest's request names no key (neither `encryptionJwk`
/// nor `jwksUri`), so that the client's JWE can be decrypted and its
/// plaintext judged (ambiguity.card-charge-encrypted-payload-form: mppconf,
/// a client-probe server, decrypts with its own key). One per process:
/// generating an RSA key takes tens of milliseconds; `None` when the
/// system's random source failed (the offer then names no key, and the
/// request rules say so).
pub(super) fn own_card_key() -> Option<&'static (card::DecryptionKey, serde_json::Value)> {
    static KEY: OnceLock<Option<(card::DecryptionKey, serde_json::Value)>> = OnceLock::new();
    KEY.get_or_init(|| card::DecryptionKey::generate("mppconf-card-1").ok())
        .as_ref()
}

/// Whether a card offer's request leaves the key to mppconf.
fn names_no_card_key(offer: &Offer) -> bool {
    (offer.method.as_str(), offer.intent.as_str()) == ("card", "charge")
        && offer
            .request
            .get("methodDetails")
            .and_then(serde_json::Value::as_object)
            .is_some_and(|d| !d.contains_key("encryptionJwk") && !d.contains_key("jwksUri"))
}

/// The request offered: the manifest's, with mppconf's own card key in
/// `methodDetails.encryptionJwk` where it names none.
fn offered_request(offer: &Offer) -> serde_json::Value {
    let mut request = offer.request.clone();
    if names_no_card_key(offer)
        && let Some((_, public)) = own_card_key()
        && let Some(details) = request
            .get_mut("methodDetails")
            .and_then(serde_json::Value::as_object_mut)
    {
        details.insert("encryptionJwk".into(), public.clone());
    }
    request
}

/// draft-lightning-charge-00 §"Verification Procedure": the preimage.
const LIGHTNING_TERMS: &[&str] = &[
    "lightning-charge.terms.preimage",
    "lightning-charge.verify.preimage-format",
    "lightning-charge.verify.preimage-hash",
];

/// draft-tempo-subscription-00: what a client's signed key authorization
/// must grant (`tempo.subscription.key_authorization.verify`).
const SUBSCRIPTION_TERMS: &[&str] = &[
    "tempo-subscription.payload.type-key-authorization",
    "tempo-subscription.payload.signature-encoding",
    "tempo-subscription.payload.signed-contents",
    "tempo-subscription.payload.primitive-signature",
    "tempo-subscription.payload.no-keychain-wrapper",
    "tempo-subscription.key-auth.client-fulfils",
    "tempo-subscription.key-auth.required-configuration",
    "tempo-subscription.key-auth.no-unrestricted",
    "tempo-subscription.request.period-mapping",
    "tempo-subscription.scope.chain-id",
    "tempo-subscription.scope.access-key",
    "tempo-subscription.scope.expiry-equals",
    "tempo-subscription.scope.token-limit",
    "tempo-subscription.scope.allowed-calls",
    "tempo-subscription.scope.reject-broader",
    "tempo-subscription.source.recover-root",
    "tempo-subscription.credential.source-did-pkh",
];

/// The requirements [`TERMS_CHECK`] judges for an offer: none for a method
/// whose terms only its live rail can judge.
pub fn terms_cited(offer: &Offer) -> Vec<&'static str> {
    match (offer.method.as_str(), offer.intent.as_str()) {
        ("stellar", "charge") => STELLAR_TERMS.to_vec(),
        ("solana", "charge") => SOLANA_TERMS.to_vec(),
        ("lightning", "charge") => LIGHTNING_TERMS.to_vec(),
        ("hedera", "charge") => HEDERA_TERMS.to_vec(),
        ("card", "charge") if names_no_card_key(offer) => {
            [CARD_TERMS, CARD_PLAINTEXT_TERMS].concat()
        }
        ("card", "charge") => CARD_TERMS.to_vec(),
        ("tempo", "subscription") => SUBSCRIPTION_TERMS.to_vec(),
        _ => Vec::new(),
    }
}

/// The requirements the payload rules of the offer's method and intent
/// stand for.
pub fn cited(offer: &Offer) -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = Vec::new();
    for file in rules::for_method(&offer.method, &offer.intent) {
        for rule in &file.payload {
            if !ids.contains(&rule.requirement.as_str()) {
                ids.push(rule.requirement.as_str());
            }
        }
    }
    ids
}

/// Whether a run can judge a client offered this: the method and intent
/// have payload rules. The error says what is missing.
pub fn check_offer(offer: &Offer, manifest: &std::path::Path) -> Result<(), String> {
    if cited(offer).is_empty() {
        let known: Vec<String> = rules::all()
            .iter()
            .filter(|f| !f.payload.is_empty())
            .map(|f| format!("{} {}", f.method, f.intent))
            .collect();
        return Err(format!(
            "{}: [offer] {} {} has no payload rules in vectors/methods/ (these have: {})",
            manifest.display(),
            offer.method,
            offer.intent,
            known.join(", ")
        ));
    }
    Ok(())
}

/// A challenge of the offer's method and intent for `request`, bound.
pub(super) fn offered_challenge(env: &Env, offer: &Offer, request: serde_json::Value) -> Challenge {
    let mut challenge = Challenge {
        id: String::new(),
        realm: env.realm.clone(),
        method: offer.method.clone(),
        intent: offer.intent.clone(),
        request: EncodedJson::canonical(request),
        expires: Some(rfc3339_in(300)),
        digest: None,
        description: None,
        opaque: None,
        unknown_params: Vec::new(),
    };
    env.bind(&mut challenge);
    challenge
}

fn offer(env: &Env) -> Built {
    let offer = env
        .offer
        .as_ref()
        .expect("the offer scenario runs only for a manifest with [offer]");
    let challenge = offered_challenge(env, offer, offered_request(offer));
    let mut built = Built::paying("/plain", vec![header(&challenge)], challenge);
    built.script = Script {
        www_authenticate: built.script.www_authenticate,
        on_credential: OnCredential::Unverified,
    };
    built
}

/// The offered challenge, and the payload and `source` of the credential
/// sent for it; a credential for another challenge fails.
pub(super) fn offered_payload<'r>(
    r: &'r Record,
    paid_check: &str,
) -> Result<(&'r Challenge, serde_json::Value, Option<String>), Outcome> {
    let offered = r
        .payable
        .as_ref()
        .ok_or_else(|| Outcome::error("the offer scenario has no challenge"))?;
    let credential = sent_credential(r, paid_check)?;
    if credential.challenge.id != offered.id {
        return Err(Outcome::fail(
            format!("a credential for the offered challenge {}", offered.id),
            format!("one for challenge {:?}", credential.challenge.id),
        ));
    }
    Ok((
        offered,
        serde_json::Value::Object(credential.payload),
        credential.source,
    ))
}

/// The credential sent for the offered challenge, its payload judged by
/// the method's rules: a broken `must` rule fails, naming its
/// requirement; a broken `should` rule warns.
fn payload_rules(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let (offered, payload, _) = match offered_payload(r, paid_check) {
        Ok(found) => found,
        Err(outcome) if outcome.verdict == Verdict::Fail => return Ok(outcome),
        Err(outcome) => return Err(outcome),
    };
    match rules::validate(&offered.method, &offered.intent, Part::Payload, &payload) {
        Err(e) => Ok(Outcome::fail(
            format!(
                "a {} {} payload as its draft says",
                offered.method, offered.intent
            ),
            e,
        )),
        Ok(warnings) if warnings.is_empty() => Ok(Outcome::pass(format!(
            "the {} {} payload meets every payload rule (not verified: that needs the live rail)",
            offered.method, offered.intent
        ))),
        Ok(warnings) => Ok(Outcome {
            verdict: Verdict::Warn,
            detail: format!(
                "the payload meets every MUST rule, but not:\n{}",
                warnings
                    .iter()
                    .map(|w| format!("{} at {}: {}", w.requirement, w.path, w.reason))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }),
    }
}

/// What the payload pays, judged offline against the offered request:
/// a Stellar, Solana or Hedera pull-mode transaction decoded and checked
/// as the draft's verification says (everything but simulation and submission;
/// Solana's SHOULD findings warn), a card JWE's header and encrypted key
/// against the offered key, a Lightning preimage against the invoice's
/// payment hash. Terms only a live rail can judge are `skip`,
/// saying so.
fn payload_terms(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let (offered, payload, source) = match offered_payload(r, paid_check) {
        Ok(found) => found,
        Err(outcome) if outcome.verdict == Verdict::Fail => return Ok(outcome),
        Err(outcome) => return Err(outcome),
    };
    let request = &offered.request.value;
    let judged = match (offered.method.as_str(), offered.intent.as_str()) {
        ("stellar", "charge") => {
            let Some(transaction) = pull_transaction(&payload) else {
                return Err(Outcome::skip(
                    "not a pull-mode (type \"transaction\") payload: a push-mode hash names a transaction on the network, which needs a live stellar network (method.payload-rules judges the payload's shape)",
                ));
            };
            let ctx = stellar::Context {
                expires: offered
                    .expires
                    .as_deref()
                    .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                    .map(|e| e.with_timezone(&chrono::Utc)),
                ..stellar::Context::default()
            };
            stellar::verify_transaction(request, transaction, &ctx).map(|t| {
                let detail = format!(
                    "the transaction pays {} of {} from {} to {}, as offered (decoded and its signatures checked offline; not simulated or submitted: that needs a live stellar network)",
                    t.amount, t.contract, t.from, t.to
                );
                (detail, Vec::new())
            })
        }
        ("solana", "charge") => {
            let Some(transaction) = pull_transaction(&payload) else {
                return Err(Outcome::skip(
                    "not a pull-mode (type \"transaction\") payload: a push-mode signature names a transaction on the network, which needs a live solana validator (method.payload-rules judges the payload's shape)",
                ));
            };
            solana::verify_transaction(request, transaction).map(|v| {
                let detail = format!(
                    "the transaction pays {} leg(s) as offered, each by its own transfer, fee payer {} (decoded and its signatures checked offline; not simulated or broadcast: that needs a live solana validator)",
                    v.legs.len(),
                    v.fee_payer
                );
                (detail, v.warnings)
            })
        }
        ("hedera", "charge") => {
            let Some(transaction) = pull_transaction(&payload) else {
                return Err(Outcome::skip(
                    "not a pull-mode (type \"transaction\") payload: a push-mode transaction id names a transaction on the network, which needs a live hedera network and its Mirror Node (method.payload-rules judges the payload's shape)",
                ));
            };
            hedera::verify_transaction(request, transaction, &offered.realm, &offered.id).map(
                |paid| {
                    let detail = format!(
                        "the transaction pays {} leg(s) as offered, from {}, under the offered challenge's attribution memo {} (decoded and its signatures checked offline; not submitted: that needs a live hedera network)",
                        paid.legs.len(),
                        paid.payer,
                        paid.memo
                    );
                    (detail, Vec::new())
                },
            )
        }
        ("card", "charge") => {
            let Some(encrypted) = payload
                .get("encryptedPayload")
                .and_then(serde_json::Value::as_str)
            else {
                return Err(Outcome::skip(
                    "the payload has no string encryptedPayload (method.payload-rules judges the payload's shape)",
                ));
            };
            let own = own_card_key().filter(|(_, public)| {
                request.pointer("/methodDetails/encryptionJwk") == Some(public)
            });
            if let Some((key, _)) = own {
                card::decrypt_jwe(request, encrypted, key).map(|d| {
                    let detail = format!(
                        "the encryptedPayload is an RSA-OAEP-256 / A256GCM JWE to mppconf's offered key {}, and decrypts to a minified JSON object with a token (its four fields; their values not shown) and {} dynamicData",
                        d.shape.kid, d.dynamic_data_type
                    );
                    (detail, d.warnings)
                })
            } else {
                card::verify_jwe(request, encrypted).map(|jwe| {
                    let key = if jwe.key_length_checked {
                        format!(
                            ", its {}-byte encrypted key the offered modulus's length",
                            jwe.encrypted_key_len
                        )
                    } else {
                        " (the key is behind jwksUri: its modulus not fetched, the encrypted key's length not judged)".into()
                    };
                    let detail = format!(
                        "the encryptedPayload is an RSA-OAEP-256 / A256GCM JWE to the offered key {}{key}; its plaintext (token, dynamicData) needs the key's private half and is not judged (offer no key in the manifest and mppconf offers its own, and decrypts)",
                        jwe.kid
                    );
                    (detail, Vec::new())
                })
            }
        }
        ("tempo", "subscription") => {
            let terms = tempo_subscription::Terms::of(request, offered.expires.as_deref())
                .map_err(|e| {
                    Outcome::error(format!(
                        "the offered request is not one a Tempo subscription server may offer ({e}): fix the manifest's [offer.request]"
                    ))
                })?;
            subscription_terms(terms, &payload, source.as_deref())
        }
        ("lightning", "charge") => lightning::verify_preimage(request, &payload).map(|()| {
            let detail = "sha256 of the preimage is the offered invoice's payment hash";
            (detail.to_string(), Vec::new())
        }),
        (method, intent) => {
            return Err(Outcome::skip(format!(
                "this check does not judge a {method} {intent} payload's terms (it judges Stellar, Solana and Hedera pull-mode transactions, card JWEs, Tempo subscription key authorizations and Lightning preimages): that needs the method's live rail"
            )));
        }
    };
    Ok(match judged {
        Ok((detail, warnings)) if warnings.is_empty() => Outcome::pass(detail),
        Ok((detail, warnings)) => Outcome {
            verdict: Verdict::Warn,
            detail: format!(
                "{detail}; but it misses what the draft says a client SHOULD do: {}",
                warnings.join(", ")
            ),
        },
        Err(e) => Outcome::fail(
            format!(
                "a {} {} payload that pays the offered request",
                offered.method, offered.intent
            ),
            e,
        ),
    })
}

/// A Tempo subscription client's signed key authorization against the
/// offered request's `terms` (everything
/// `tempo.subscription.key_authorization.verify` checks but `source`,
/// which binds servers); a `source` that does not name the recovered root
/// signer on the request's chain is the client's SHOULD finding
/// (§"Credential Structure").
fn subscription_terms(
    terms: tempo_subscription::Terms,
    payload: &serde_json::Value,
    source: Option<&str>,
) -> mppconf_suite::error::Result<(String, Vec<&'static str>)> {
    let granted = tempo_subscription::verify_payload(payload, terms, None)?.to_json();
    let signer = granted["signer"].as_str().unwrap_or_default();
    let expected = format!("did:pkh:eip155:{}:{signer}", granted["chainId"]);
    let (warnings, source_note) = match source {
        Some(s) if !s.eq_ignore_ascii_case(&expected) => (
            vec!["tempo-subscription.credential.source-did-pkh"],
            format!("; its source {s:?} is not {expected}"),
        ),
        _ => (Vec::new(), String::new()),
    };
    let detail = format!(
        "the key authorization grants {} key {} at most {} per {} s, by {} to the recipient alone, until {}; signed by root {signer} (decoded and checked offline; activation needs a Tempo chain){source_note}",
        granted["keyType"].as_str().unwrap_or_default(),
        granted["keyId"].as_str().unwrap_or_default(),
        granted["limit"].as_str().unwrap_or_default(),
        granted["period"],
        granted["selectors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" and "),
        granted["expiry"],
    );
    Ok((detail, warnings))
}

/// A pull-mode payload's `transaction` (`type` "transaction").
fn pull_transaction(payload: &serde_json::Value) -> Option<&str> {
    (payload.get("type").and_then(serde_json::Value::as_str) == Some("transaction"))
        .then(|| {
            payload
                .get("transaction")
                .and_then(serde_json::Value::as_str)
        })
        .flatten()
}
