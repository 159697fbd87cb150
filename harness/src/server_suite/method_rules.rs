//! The request schema of a method the harness judges by data: every
//! challenge a server offers for a method and intent with a rule file
//! (`vectors/methods/`, [`mppconf_suite::methods::rules`]) is validated by
//! those rules (and the charge intent's schema, for a charge), and a
//! broken one fails with the requirement it breaks.
//!
//! And a server of such a method must refuse a credential whose payload
//! breaks the method's payload rules: each invalid payload of the
//! method's vectors (`vectors/<method>-<intent>/payload.json`) is sent for
//! a fresh challenge, and any success fails, naming the requirement.
//!
//! This needs no payment and no rail: a Lightning, Stripe or Solana
//! server is judged on what it asks for, and on what it refuses, even
//! where the harness cannot pay it.

use mppconf_suite::codec::challenge::parse_all_lenient;
use mppconf_suite::codec::request_schema;
use mppconf_suite::methods::{lightning, rules};
use mppconf_suite::vectors::Verdict;

use mppconf_suite::codec::{Challenge, Credential, EchoedChallenge};

use super::check::{blocked, fresh, send_credential, unpaid};
use super::{Check, Ctx, Outcome};

/// The check's id; it cites the request rules of the resource's method
/// and intent ([`cited`]).
pub const REQUEST_RULES: &str = "method.request-rules";

pub static CHECK: Check = Check {
    id: REQUEST_RULES,
    requirements: &[],
    should: false,
    alone: false,
    run: |ctx| Box::pin(request_rules(ctx)),
};

/// The broken-payload check's id; it cites the requirements the payloads
/// break ([`refused_cited`]).
pub const BROKEN_PAYLOADS: &str = "method.broken-payload-refused";

pub static REFUSES_BROKEN: Check = Check {
    id: BROKEN_PAYLOADS,
    requirements: &[],
    should: false,
    alone: false,
    run: |ctx| Box::pin(broken_payloads_refused(ctx)),
};

/// The fresh-invoice check's id (a Lightning charge server's).
pub const FRESH_INVOICE: &str = "lightning.fresh-invoice";

/// draft-lightning-charge-00 §"Intent: charge": "The server generates a
/// fresh BOLT11 invoice per request", and §"Security Considerations":
/// "Each BOLT11 invoice MUST use a freshly generated random payment
/// hash". A hash offered twice lets the preimage of one payment pay for
/// the other challenge too.
pub static FRESH_INVOICE_CHECK: Check = Check {
    id: FRESH_INVOICE,
    requirements: &[
        "lightning-charge.security.fresh-payment-hash",
        "lightning-charge.intent.fresh-invoice",
    ],
    should: false,
    alone: false,
    run: |ctx| Box::pin(fresh_invoice(ctx)),
};

/// Two challenges asked for one after the other: their invoices and
/// payment hashes differ.
async fn fresh_invoice(ctx: &Ctx) -> Outcome {
    let mut seen = Vec::with_capacity(2);
    for _ in 0..2 {
        let challenge = match fresh(ctx).await {
            Ok(c) => c,
            Err(o) => return o,
        };
        let request = &challenge.request.value;
        let invoice = request
            .pointer("/methodDetails/invoice")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string();
        match lightning::payment_hash(request) {
            Ok(hash) => seen.push((invoice, hash)),
            Err(e) => {
                return blocked(format!(
                    "the challenge's invoice does not decode ({e}); method.request-rules judges it"
                ));
            }
        }
    }
    let [(first_invoice, first), (second_invoice, second)]: [(String, String); 2] =
        seen.try_into().expect("two challenges read");
    if first == second {
        Outcome::fail(
            "a fresh invoice and payment hash for each challenge",
            format!(
                "two challenges carry payment hash {first}{}",
                if first_invoice == second_invoice {
                    " (the same invoice)"
                } else {
                    " (in two invoices)"
                }
            ),
        )
    } else {
        Outcome::pass(format!(
            "two challenges carry two invoices, payment hashes {first} and {second}"
        ))
    }
}

/// At most this many broken payloads are sent to one resource.
const MAX_BROKEN: usize = 12;

/// Whether the vectors hold broken payloads of `method` and `intent`.
pub fn has_broken_payloads(method: &str, intent: &str) -> bool {
    !rules::broken_payloads(method, intent).is_empty()
}

/// The requirements the broken payloads sent to a server of `method` and
/// `intent` break.
pub fn refused_cited(method: &str, intent: &str) -> Vec<&'static str> {
    let broken = rules::broken_payloads(method, intent);
    let mut ids: Vec<&'static str> = Vec::new();
    for file in rules::for_method(method, intent) {
        for rule in &file.payload {
            if broken
                .iter()
                .take(MAX_BROKEN)
                .any(|b| b.requirement == rule.requirement)
                && !ids.contains(&rule.requirement.as_str())
            {
                ids.push(rule.requirement.as_str());
            }
        }
    }
    ids
}

/// Whether the rule files judge challenges of `method` and `intent`.
pub fn applies(method: &str, intent: &str) -> bool {
    rules::for_method(method, intent).any(|r| !r.request.is_empty())
}

/// The requirements the check judges for `method` and `intent`: what
/// the codec's own code judges (the charge intent's schema, a Lightning
/// invoice, a card key set's origin) and the rules' requirements.
pub fn cited(method: &str, intent: &str) -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = request_schema::code_requirements(method, intent);
    for file in rules::for_method(method, intent) {
        for rule in &file.request {
            if !ids.contains(&rule.requirement.as_str()) {
                ids.push(rule.requirement.as_str());
            }
        }
    }
    ids
}

/// Every Payment challenge of the unpaid answer whose method and intent
/// have rules, judged by them: a broken `must` rule fails (naming its
/// requirement), a broken `should` rule warns.
async fn request_rules(ctx: &Ctx) -> Outcome {
    let answer = match unpaid(ctx).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let challenges = match parse_all_lenient(&answer.challenge_fields()) {
        Ok(all) => all,
        Err(e) => {
            return blocked(format!(
                "the challenges do not parse ({e}); the challenge.* checks say why"
            ));
        }
    };
    let mut judged = 0;
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    for (i, parsed) in challenges.into_iter().enumerate() {
        let Ok((c, _)) = parsed else { continue };
        if !applies(&c.method, &c.intent) {
            continue;
        }
        judged += 1;
        match request_schema::validate_in_challenge(
            &c.method,
            &c.intent,
            &c.realm,
            c.expires.as_deref(),
            &c.request.value,
        ) {
            Ok((w, note)) => {
                notes.extend(note.map(|n| format!("challenge {}: {n}", i + 1)));
                warnings.extend(w.into_iter().map(|w| {
                    format!(
                        "challenge {} ({} {}): {} at {}: {}",
                        i + 1,
                        c.method,
                        c.intent,
                        w.requirement,
                        w.path,
                        w.reason
                    )
                }))
            }
            Err(e) => {
                return Outcome::fail(
                    format!("a {} {} request as its draft says", c.method, c.intent),
                    format!("challenge {}: {e}", i + 1),
                );
            }
        }
    }
    if judged == 0 {
        return Outcome::skip(format!(
            "no challenge of a method with rules in the unpaid answer ({}); the rules judge {} {}",
            answer.status, ctx.method_name, ctx.intent
        ));
    }
    if warnings.is_empty() {
        Outcome::pass(format!(
            "{judged} challenge(s) meet every request rule of their method{}",
            notes.iter().map(|n| format!("\n{n}")).collect::<String>()
        ))
    } else {
        Outcome {
            verdict: Verdict::Warn,
            detail: format!(
                "{judged} challenge(s) meet every MUST rule, but not:\n{}",
                warnings.join("\n")
            ),
        }
    }
}

/// A fresh challenge of the resource's method, or why there is none.
async fn fresh_of_method(ctx: &Ctx) -> Result<Challenge, Outcome> {
    let answer = unpaid(ctx).await?;
    let all = parse_all_lenient(&answer.challenge_fields()).map_err(|e| {
        blocked(format!(
            "the challenges do not parse ({e}); the challenge.* checks say why"
        ))
    })?;
    all.into_iter()
        .filter_map(Result::ok)
        .map(|(c, _)| c)
        .find(|c| c.method == ctx.method_name && c.intent == ctx.intent)
        .ok_or_else(|| {
            blocked(format!(
                "no {} {} challenge on the unpaid answer ({})",
                ctx.method_name, ctx.intent, answer.status
            ))
        })
}

/// Each broken payload of the method's vectors, in a credential for a
/// fresh challenge: every one must be refused (never a success).
async fn broken_payloads_refused(ctx: &Ctx) -> Outcome {
    let broken = rules::broken_payloads(&ctx.method_name, &ctx.intent);
    let mut refused = 0;
    let mut statuses: Vec<u16> = Vec::new();
    for b in broken.iter().take(MAX_BROKEN) {
        let challenge = match fresh_of_method(ctx).await {
            Ok(c) => c,
            Err(o) => return o,
        };
        let credential = Credential {
            challenge: EchoedChallenge::echo_of(&challenge),
            payload: b.payload.clone(),
            source: None,
            unknown: Default::default(),
        };
        let answer = match send_credential(ctx, &credential.to_header()).await {
            Ok(a) => a,
            Err(o) => return o,
        };
        if (200..300).contains(&answer.status) {
            return Outcome::fail(
                format!(
                    "a refusal of a payload that breaks {} (vector {})",
                    b.requirement, b.case
                ),
                format!("{} with the resource", answer.status),
            );
        }
        // How a refusal must look is the core checks' business
        // (malformed.*, errors.*); a 5xx is a server that could not reach
        // its rail to verify, which is a refusal too.
        statuses.push(answer.status);
        refused += 1;
    }
    statuses.sort_unstable();
    statuses.dedup();
    Outcome::pass(format!(
        "{refused} payload(s) breaking the {} {} payload rules refused (answered {})",
        ctx.method_name,
        ctx.intent,
        statuses
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
