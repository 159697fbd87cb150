//! The request schema of a method the harness judges by data: every
//! challenge a server offers for a method and intent with a rule file
//! (`vectors/methods/`, [`mppconf_suite::methods::rules`]) is validated by
//! those rules (and the charge intent's schema, for a charge), and a
//! broken one fails with the requirement it breaks.
//!
//! This needs no payment and no rail: a Lightning, Stripe or Solana
//! server is judged on what it asks for even where the harness cannot
//! pay it.

use mppconf_suite::codec::challenge::parse_all_lenient;
use mppconf_suite::codec::request_schema;
use mppconf_suite::methods::rules;
use mppconf_suite::vectors::Verdict;

use super::check::{blocked, unpaid};
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

/// Whether the rule files judge challenges of `method` and `intent`.
pub fn applies(method: &str, intent: &str) -> bool {
    rules::for_method(method, intent).any(|r| !r.request.is_empty())
}

/// The requirements the check judges for `method` and `intent`: what
/// the codec's own code judges (the charge intent's schema, a Lightning
/// invoice) and the rules' requirements.
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
    for (i, parsed) in challenges.into_iter().enumerate() {
        let Ok((c, _)) = parsed else { continue };
        if !applies(&c.method, &c.intent) {
            continue;
        }
        judged += 1;
        match request_schema::validate(&c.method, &c.intent, &c.request.value) {
            Ok(w) => warnings.extend(w.into_iter().map(|w| {
                format!(
                    "challenge {} ({} {}): {} at {}: {}",
                    i + 1,
                    c.method,
                    c.intent,
                    w.requirement,
                    w.path,
                    w.reason
                )
            })),
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
            "{judged} challenge(s) meet every request rule of their method"
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
