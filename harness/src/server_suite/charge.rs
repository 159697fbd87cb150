//! draft-payment-intent-charge-00 §"Verification" and §"Replay Protection": the charge intent's part of the server checks.
//!
//! The intent defines what a one-time payment must satisfy whatever the
//! method; its money-moving requirements are exercised by each method's
//! flawed payments (e.g. [`super::tempo_charge`]), and by the core checks
//! that this module lends its requirements to when a resource's
//! challenge is a charge.

use super::Check;

/// The intent's own checks (none yet: every charge requirement a server
/// can break is exercised by a core or a method check, see
/// [`also_cites`]).
pub const CHECKS: &[Check] = &[];

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
        "expiry.expired-rejected" => &["charge.verification.server-checks"],
        _ => &[],
    }
}
