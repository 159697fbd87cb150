//! draft-payment-intent-charge-00 §"Verification", §"Replay Protection" and §"Atomicity": the charge intent's part of the server checks.
//!
//! The intent defines what a one-time payment must satisfy whatever the
//! method; its money-moving requirements are exercised by each method's
//! flawed payments (e.g. [`super::tempo_charge`]), and by the core checks
//! that this module lends its requirements to when a resource's
//! challenge is a charge.

use mppconf_suite::codec::base64url;
use serde_json::Value;

use super::check::{blocked, send_credential, unpaid, valid};
use super::{Check, Ctx, Outcome};
use crate::server_check as check;

type Step = Result<Outcome, Outcome>;

/// The intent's own checks; the rest of its requirements are cited by
/// core and method checks (see [`also_cites`]).
pub const CHECKS: &[Check] = &[check!(
    "atomicity.no-partial-access",
    ["charge.atomicity.no-partial-access"],
    true,
    |ctx| no_partial_access(ctx)
)];

/// Requirements of the charge intent that a core check also exercises on
/// a charge resource.
pub fn also_cites(check_id: &str) -> &'static [&'static str] {
    match check_id {
        "replay.rejected" => &[
            "charge.replay.credential-once",
            "charge.credential.single-use",
            "charge.credential.reject-replay",
            "charge.replay.server-protection",
        ],
        "idempotency.new-key-no-replay" => &["charge.credential.reject-replay"],
        "paid.receipt" => &["charge.flow.receipt-returned"],
        "transport.tls" | "transport.no-challenge-over-http" => &["charge.transport.tls"],
        "expiry.expired-rejected" => &["charge.verification.server-checks"],
        _ => &[],
    }
}

/// The shortest text counted as a distinctive part of the resource.
const DISTINCTIVE: usize = 12;

/// §"Atomicity": a payment that fails verification gets no part of the
/// resource. The resource is learnt from a paid request; the same
/// credential again (a replay, which verification refuses) must get an
/// answer without any distinctive part of it: a text of 12 or more
/// characters of the paid body (a JSON string, or a line) that neither
/// the unpaid 402, the receipt nor the credential carries.
pub async fn no_partial_access(ctx: &Ctx) -> Step {
    let (_, credential) = valid(ctx).await?;
    let header = credential.to_header();
    let paid = send_credential(ctx, &header).await?;
    if !(200..300).contains(&paid.status) {
        return Err(blocked(format!(
            "a valid credential was refused ({}), see paid.receipt",
            paid.status
        )));
    }
    let unpaid = unpaid(ctx).await?;
    let known: String = [
        unpaid.body.clone(),
        decoded(paid.header("payment-receipt").unwrap_or_default()),
        decoded(header.get(8..).unwrap_or_default()),
    ]
    .join("\n");
    let parts: Vec<String> = texts(&paid.body)
        .into_iter()
        .filter(|t| !known.contains(t.as_str()))
        .collect();
    if parts.is_empty() {
        return Ok(Outcome::skip(format!(
            "the paid answer has no distinctive content to look for (no text of {DISTINCTIVE}+ characters that the 402, the receipt and the credential lack)"
        )));
    }
    let again = send_credential(ctx, &header).await?;
    if (200..300).contains(&again.status) {
        return Err(blocked(format!(
            "the replayed credential was accepted ({}), see replay.rejected",
            again.status
        )));
    }
    let shown: String = again
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or_default()))
        .chain(std::iter::once(again.body.clone()))
        .collect();
    Ok(match parts.iter().find(|p| shown.contains(p.as_str())) {
        Some(p) => Outcome::fail(
            "no part of the resource in the answer to a refused credential",
            format!(
                "the {} answer carries {p:?} of the paid content",
                again.status
            ),
        ),
        None => Outcome::pass(format!(
            "the refused replay ({}) carries none of the {} distinctive part(s) of the paid content",
            again.status,
            parts.len()
        )),
    })
}

/// A base64url JSON token as text (empty when it is not one).
fn decoded(token: &str) -> String {
    base64url::decode_text("token", token.trim()).unwrap_or_default()
}

/// The distinctive texts of a body: its JSON strings, or its lines.
fn texts(body: &str) -> Vec<String> {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(m) => m.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    match serde_json::from_str::<Value>(body) {
        Ok(v) => strings(&v, &mut out),
        Err(_) => out.extend(body.lines().map(|l| l.trim().to_string())),
    }
    out.retain(|t| t.chars().count() >= DISTINCTIVE);
    out.sort();
    out.dedup();
    out
}
