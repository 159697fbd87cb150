//! draft-payment-intent-subscription-00 §"Single-Use", §"Activation", §"Subscription Identifier", §"Error Responses" and §"Caching": the subscription intent's part of the server checks.
//!
//! The intent says what a subscription credential must do whatever the
//! method; this module lends its requirements to the core checks and to
//! the method's own refusals when a resource's challenge is a
//! subscription. Renewal, cancellation and the billing anchor need a
//! billing period to pass on the server's clock (a day at least for
//! Tempo), which no run waits out.

/// Requirements of the subscription intent that a core or method check
/// also exercises on a subscription resource.
pub fn also_cites(check_id: &str) -> &'static [&'static str] {
    match check_id {
        "replay.rejected" => &[
            "subscription.credential.single-use",
            "subscription.credential.reject-replay",
        ],
        "idempotency.new-key-no-replay" => &["subscription.credential.reject-replay"],
        // A valid credential: 200, the first period charged now (the
        // method reads the charge on chain) and a receipt with a
        // base64url subscriptionId, not cacheable by shared caches.
        "paid.receipt" => &[
            "subscription.activation.server-steps",
            "subscription.activation.active-after-steps",
            "subscription.activation.first-period-immediate",
            "subscription.receipt.subscription-id",
            "subscription.receipt.subscription-id-syntax",
            "subscription.caching.private",
        ],
        "concurrency.settles-once" => &["subscription.security.duplicate-prevention"],
        "unpaid.cache-no-store" => &["subscription.caching.no-store"],
        "challenge.expires-present" => &["subscription.challenge.expires-should"],
        "challenge.request-jcs" | "challenge.request-unpadded" => {
            &["subscription.request.jcs-base64url"]
        }
        // An invalid credential: 402 with a fresh challenge.
        "subscription.later-expiry-refused"
        | "subscription.other-chain-refused"
        | "subscription.other-access-key-refused"
        | "subscription.other-limit-refused"
        | "subscription.broader-scope-refused"
        | "subscription.unbacked-source-refused" => &[
            "subscription.errors.status-402",
            "subscription.errors.fresh-challenge",
        ],
        _ => &[],
    }
}
