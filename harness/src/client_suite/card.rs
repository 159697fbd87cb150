//! Card charge clients: how a Client Enabler resolves the server's
//! encryption key (draft-card-charge-00 §"Encryption Key"). Each scenario
//! offers the manifest's card challenge with the key replaced by one a
//! Client Enabler must reject, and a conformant client sends no
//! credential; the offer scenario, whose key is good, is the control (a
//! client that pays nothing would pass every refusal).
//!
//! Not probed: a JWK Set on the realm's own origin (`fetch-jwks`,
//! `kid-not-found`). The run's realm is `127.0.0.1`, whose origin is
//! `https://127.0.0.1` on port 443 (ambiguity.card-charge-realm-origin),
//! where mppconf cannot listen on a machine it does not own.

use mppconf_suite::codec::Challenge;
use serde_json::{Value, json};

use super::check::{Check, Need, ScenarioDef, c, credentials_sent, fail};
use super::manifest::Offer;
use super::method_rules::{offered_challenge, own_card_key};
use super::scenario::{OnCredential, Script};
use super::{Built, Env, Record, header};
use crate::server_suite::Outcome;

/// The scenarios a card client's run adds to the offer.
pub const SCENARIOS: &[ScenarioDef] = &[
    ScenarioDef {
        name: "card-no-key",
        needs: Need::Nothing,
        build: |env| refusing(env, |_| {}),
    },
    ScenarioDef {
        name: "card-pkcs1-key",
        needs: Need::Nothing,
        build: |env| refusing(env, |d| embed(d, "alg", "RSA1_5")),
    },
    ScenarioDef {
        name: "card-signing-key",
        needs: Need::Nothing,
        build: |env| refusing(env, |d| embed(d, "use", "sig")),
    },
    ScenarioDef {
        name: "card-cross-origin-jwks",
        needs: Need::Nothing,
        build: cross_origin,
    },
];

pub static CHECKS: &[Check] = &[
    c(
        "card.refuse.no-key",
        &["card-charge.resolution.neither"],
        "card-no-key",
        refused_key,
    ),
    c(
        "card.refuse.pkcs1-key",
        &[
            "card-charge.resolution.validate-key",
            "card-charge.key.client-enabler-rejects",
        ],
        "card-pkcs1-key",
        refused_key,
    ),
    c(
        "card.refuse.signing-key",
        &[
            "card-charge.resolution.validate-key",
            "card-charge.key.client-enabler-rejects",
        ],
        "card-signing-key",
        refused_key,
    ),
    c(
        "card.refuse.cross-origin-jwks",
        &[
            "card-charge.resolution.jwks-origin-check",
            "card-charge.resolution.reject-cross-origin",
        ],
        "card-cross-origin-jwks",
        refused_key,
    ),
];

/// Whether a client's offer is a card charge, which these checks judge.
pub fn applies(offer: &Offer) -> bool {
    (offer.method.as_str(), offer.intent.as_str()) == ("card", "charge")
}

/// The manifest's card offer.
fn card_offer(env: &Env) -> &Offer {
    env.offer
        .as_ref()
        .expect("the card scenarios run only for a manifest with a card [offer]")
}

/// The offered card request with no key at all, then `key` applied to
/// its `methodDetails`.
fn request_with(env: &Env, key: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut request = card_offer(env).request.clone();
    if let Some(details) = request
        .get_mut("methodDetails")
        .and_then(Value::as_object_mut)
    {
        for k in ["encryptionJwk", "jwksUri", "kid"] {
            details.remove(k);
        }
        key(details);
    }
    request
}

/// A scenario whose challenge a Client Enabler must reject; a credential
/// sent anyway is recorded and answered `402` (nothing verifies a card
/// payment here).
fn refusing(env: &Env, key: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Built {
    let challenge = offered_challenge(env, card_offer(env), request_with(env, key));
    let mut built = Built::refusing(vec![header(&challenge)]);
    built.script = Script {
        www_authenticate: built.script.www_authenticate,
        on_credential: OnCredential::Unverified,
    };
    built
}

/// mppconf's own public key embedded, with `member` set to `value`.
fn embed(details: &mut serde_json::Map<String, Value>, member: &str, value: &str) {
    if let Some((_, public)) = own_card_key() {
        let mut jwk = public.clone();
        jwk[member] = json!(value);
        details.insert("encryptionJwk".into(), jwk);
    }
}

/// A `jwksUri` on another origin: `https://localhost:PORT`, another host
/// and port than the realm's, serving a JWK Set with mppconf's own key
/// under the offered `kid`. The URL is known once the origin listens, so
/// [`super::run_scenario`] starts it and completes the challenge
/// ([`ForeignJwks`]).
fn cross_origin(env: &Env) -> Built {
    let mut built = refusing(env, |_| {});
    if let Some((_, public)) = own_card_key() {
        let kid = public["kid"].as_str().unwrap_or_default().to_string();
        built.foreign_jwks = Some(ForeignJwks {
            set: json!({ "keys": [public] }),
            request: request_with(env, |d| {
                d.insert("kid".into(), json!(kid));
            }),
        });
    }
    built
}

/// A JWK Set served on an origin other than the realm's, and the
/// request that names it (its `jwksUri` set once the origin listens).
pub struct ForeignJwks {
    pub set: Value,
    pub request: Value,
}

impl ForeignJwks {
    /// The challenge whose `methodDetails.jwksUri` names `url`.
    pub fn challenge_at(self, env: &Env, url: &str) -> Challenge {
        let mut request = self.request;
        request["methodDetails"]["jwksUri"] = json!(url);
        offered_challenge(env, card_offer(env), request)
    }
}

/// No credential sent, and (for a `jwksUri` on another origin) the set
/// never fetched: §"Encryption Key" orders the origin check before the
/// fetch, and ambiguity.card-charge-realm-origin resolves that "clients
/// fetching a JWK Set from another host fail".
fn refused_key(r: &Record, _: &str) -> Result<Outcome, Outcome> {
    if own_card_key().is_none() {
        return Err(Outcome::error(
            "mppconf could not make its card key (the system's random source failed), so the scenario offered none",
        ));
    }
    let sent = credentials_sent(r);
    let mut what = Vec::new();
    if !sent.is_empty() {
        what.push(format!("{} credential(s) sent", sent.len()));
    }
    if !r.foreign_fetches.is_empty() {
        what.push(format!(
            "the JWK Set on the other origin fetched: {}",
            r.foreign_fetches.join("; ")
        ));
    }
    if what.is_empty() {
        Ok(Outcome::pass(format!(
            "no credential{} (client: {})",
            if r.scenario == "card-cross-origin-jwks" {
                ", and nothing asked of the other origin"
            } else {
                ""
            },
            r.run.ended
        )))
    } else {
        Ok(fail("the challenge rejected", what.join(", ")))
    }
}
