//! draft-payment-discovery-00 §"Introduction": a client pays from the 402 alone.
//!
//! "Clients MUST NOT require discovery to function": the scenario servers
//! publish no discovery document (their `/openapi.json` answers 402 like
//! every other path), so a client that sent a credential for the standard
//! scenario did without one, whether or not it looked for it.

use super::Record;
use super::check::{Check, blocked, c};
use crate::server_suite::Outcome;

/// The discovery checks of a client.
pub const CHECKS: &[Check] = &[c(
    "discovery.not-required",
    &["discovery.optional.clients-not-require"],
    "standard",
    not_required,
)];

/// Passes when the client paid; fails when it asked for a discovery
/// document, got none, and paid nothing; otherwise (no payment, no look)
/// why it did not pay is for standard.paid to say.
fn not_required(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let sent = r.seen.iter().any(|s| !s.payment_credentials().is_empty());
    let looked = r
        .seen
        .iter()
        .filter(|s| s.path.ends_with("/openapi.json"))
        .count();
    if !sent && looked > 0 {
        return Ok(Outcome::fail(
            "a payment from the 402 alone (the server publishes no discovery document)",
            format!(
                "asked for /openapi.json {looked} time(s), got none, and paid nothing (client: {})",
                r.run.ended
            ),
        ));
    }
    if !sent {
        return Err(blocked(format!("no credential was sent, {paid_check}")));
    }
    Ok(Outcome::pass(if looked == 0 {
        "paid from the 402 alone (it asked for no discovery document)".to_string()
    } else {
        format!(
            "asked for /openapi.json {looked} time(s), got none, and paid from the 402 all the same"
        )
    }))
}
