//! Card charge clients: how a Client Enabler resolves the server's
//! encryption key (draft-card-charge-00 §"Encryption Key"). Each refusal
//! scenario offers the manifest's card challenge with the key replaced by
//! one a Client Enabler must reject, and a conformant client sends no
//! credential; the offer scenario, whose key is good, is the control (a
//! client that pays nothing would pass every refusal).
//!
//! A JWK Set on the realm's own origin (`fetch-jwks`, `kid-not-found`):
//! the run's realm is `127.0.0.1`, whose origin is `https://127.0.0.1` on
//! port 443 (ambiguity.card-charge-realm-origin). mppconf serves the set
//! there, a decoy key first, when it may bind that port: a client must
//! pay with the offered `kid`'s key, and refuse a set without it. Where
//! the port cannot be bound, those scenarios are `skip`, saying so.

use mppconf_suite::codec::Challenge;
use serde_json::{Value, json};

use super::check::{Check, Need, ScenarioDef, c, credentials_sent, fail};
use super::manifest::Offer;
use super::method_rules::{offered_challenge, own_card_key};
use super::scenario::{JwksAt, OnCredential, Script};
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
    ScenarioDef {
        name: "card-realm-jwks",
        needs: Need::RealmOrigin,
        build: realm_jwks,
    },
    ScenarioDef {
        name: "card-realm-jwks-kid-missing",
        needs: Need::RealmOrigin,
        build: realm_jwks_kid_missing,
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
    c(
        "card.resolve.realm-jwks",
        &["card-charge.resolution.fetch-jwks"],
        "card-realm-jwks",
        realm_jwks_used,
    ),
    c(
        "card.refuse.kid-not-found",
        &["card-charge.resolution.kid-not-found"],
        "card-realm-jwks-kid-missing",
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
    built.foreign_jwks = served(env, JwksAt::OtherOrigin, true);
    built
}

/// The `kid` a decoy key of the served sets goes by: listed first, so a
/// client that takes the first key rather than the offered `kid`'s uses
/// it.
const DECOY_KID: &str = "mppconf-decoy";

/// A JWK Set at `at` and the request naming it with mppconf's `kid`: the
/// set holds a decoy (mppconf's key under [`DECOY_KID`]) first, then,
/// when `offered`, mppconf's key under the offered `kid`.
fn served(env: &Env, at: JwksAt, offered: bool) -> Option<ForeignJwks> {
    let (_, public) = own_card_key()?;
    let kid = public["kid"].as_str().unwrap_or_default().to_string();
    let mut decoy = public.clone();
    decoy["kid"] = json!(DECOY_KID);
    let mut keys = vec![decoy];
    if offered {
        keys.push(public.clone());
    }
    Some(ForeignJwks {
        set: json!({ "keys": keys }),
        request: request_with(env, |d| {
            d.insert("kid".into(), json!(kid));
        }),
        at,
    })
}

/// The JWK Set on the realm's origin, with the offered `kid`'s key: a
/// Client Enabler fetches it and pays with that key (§"Encryption Key":
/// "fetch the JWK Set from the URI over HTTPS and select the key matching
/// `kid`").
fn realm_jwks(env: &Env) -> Built {
    let mut built = refusing(env, |_| {});
    built.foreign_jwks = served(env, JwksAt::RealmOrigin, true);
    // A placeholder until the set's URL is known: run_scenario puts the
    // completed challenge here, the one to pay.
    built.payable = built
        .foreign_jwks
        .as_ref()
        .map(|j| offered_challenge(env, card_offer(env), j.request.clone()));
    built
}

/// The JWK Set on the realm's origin without the offered `kid` (the decoy
/// only): "If the `kid` is not found, the CE MUST reject the challenge."
fn realm_jwks_kid_missing(env: &Env) -> Built {
    let mut built = refusing(env, |_| {});
    built.foreign_jwks = served(env, JwksAt::RealmOrigin, false);
    built
}

/// A JWK Set served for a scenario, where, and the request that names it
/// (its `jwksUri` set once the origin listens).
pub struct ForeignJwks {
    pub set: Value,
    pub request: Value,
    pub at: JwksAt,
}

impl ForeignJwks {
    /// The challenge whose `methodDetails.jwksUri` names `url`.
    pub fn challenge_at(self, env: &Env, url: &str) -> Challenge {
        let mut request = self.request;
        request["methodDetails"]["jwksUri"] = json!(url);
        offered_challenge(env, card_offer(env), request)
    }
}

/// The set on the realm's origin fetched, and a credential sent for the
/// offered challenge whose JWE names the offered `kid`, not the decoy's
/// listed before it. Whether the JWE decrypts under that key is
/// `method.payload-terms`' business in the offer scenario.
fn realm_jwks_used(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    // Paying is what the draft asks here: no credential fails.
    if credentials_sent(r).is_empty() {
        return Ok(fail(
            "the challenge paid with the key of the realm's JWK Set",
            format!(
                "no credential sent{} (client: {})",
                if r.foreign_fetches.is_empty() {
                    ", the set never fetched"
                } else {
                    ""
                },
                r.run.ended
            ),
        ));
    }
    let (offered, payload, _) = match super::method_rules::offered_payload(r, paid_check) {
        Ok(found) => found,
        Err(outcome) if outcome.verdict == mppconf_suite::vectors::Verdict::Fail => {
            return Ok(outcome);
        }
        Err(outcome) => return Err(outcome),
    };
    let kid = offered
        .request
        .value
        .pointer("/methodDetails/kid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let fetched: Vec<&String> = r
        .foreign_fetches
        .iter()
        .filter(|f| f.starts_with("GET "))
        .collect();
    if fetched.is_empty() {
        return Ok(fail(
            "the JWK Set fetched from the realm's origin (https://127.0.0.1/jwks.json)",
            format!(
                "a credential sent, the set never fetched{}",
                if r.foreign_fetches.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.foreign_fetches.join("; "))
                }
            ),
        ));
    }
    let header_kid = payload
        .get("encryptedPayload")
        .and_then(Value::as_str)
        .and_then(|jwe| jwe.split('.').next())
        .and_then(|h| mppconf_suite::codec::base64url::decode("JWE header", h).ok())
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .and_then(|h| h.get("kid").and_then(Value::as_str).map(str::to_string));
    match header_kid {
        Some(used) if used == kid => Ok(Outcome::pass(format!(
            "the set fetched ({}), and the JWE encrypted to the key of kid {kid:?}, not the decoy listed first",
            fetched
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        Some(used) => Ok(fail(
            format!("a JWE to the key of the offered kid {kid:?}"),
            format!("its protected header names kid {used:?}"),
        )),
        None => Ok(fail(
            format!("a JWE to the key of the offered kid {kid:?}"),
            "an encryptedPayload whose protected header names no kid",
        )),
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
    // A set on the realm's origin may be fetched; one on another origin
    // may not.
    if r.scenario == "card-cross-origin-jwks" && !r.foreign_fetches.is_empty() {
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
