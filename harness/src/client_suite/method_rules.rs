//! Clients of a method the harness cannot pay or settle itself
//! (Lightning, Stripe, Solana, ...: a method judged by its rules in
//! `vectors/methods/`, [`mppconf_suite::methods::rules`]). The client's
//! manifest names the challenge to offer (`[offer]`); one scenario offers
//! it, records the credential and answers it `402 verification-failed`
//! (nothing can verify it without the live rail), and the credential's
//! payload is judged by the method's payload rules, naming the
//! requirement a broken one breaks.

use mppconf_suite::codec::{Challenge, EncodedJson};
use mppconf_suite::methods::rules::{self, Part};
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

fn offer(env: &Env) -> Built {
    let offer = env
        .offer
        .as_ref()
        .expect("the offer scenario runs only for a manifest with [offer]");
    let mut challenge = Challenge {
        id: String::new(),
        realm: env.realm.clone(),
        method: offer.method.clone(),
        intent: offer.intent.clone(),
        request: EncodedJson::canonical(offer.request.clone()),
        expires: Some(rfc3339_in(300)),
        digest: None,
        description: None,
        opaque: None,
        unknown_params: Vec::new(),
    };
    env.bind(&mut challenge);
    let mut built = Built::paying("/plain", vec![header(&challenge)], challenge);
    built.script = Script {
        www_authenticate: built.script.www_authenticate,
        on_credential: OnCredential::Unverified,
    };
    built
}

/// The credential sent for the offered challenge, its payload judged by
/// the method's rules: a broken `must` rule fails, naming its
/// requirement; a broken `should` rule warns.
fn payload_rules(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let offered = r
        .payable
        .as_ref()
        .ok_or_else(|| Outcome::error("the offer scenario has no challenge"))?;
    let credential = sent_credential(r, paid_check)?;
    if credential.challenge.id != offered.id {
        return Ok(Outcome::fail(
            format!("a credential for the offered challenge {}", offered.id),
            format!("one for challenge {:?}", credential.challenge.id),
        ));
    }
    let payload = serde_json::Value::Object(credential.payload.clone());
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
