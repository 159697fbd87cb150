//! draft-httpauth-payment-00 (all sections): the core checks, for a server of any payment method.
//!
//! The checks know the `Payment` scheme, not the method: a valid
//! credential comes from the run's payer ([`super::Ctx::valid_credential`])
//! and a receipt's settlement is the method plug-in's to verify. A method
//! or intent that a check also exercises adds its own requirements
//! ([`crate::methods::PaymentMethod::also_cites`], [`super::charge`]).
//!
//! - [`challenge`]: §"402 Payment Required" to §"Caching", §"Accept-Payment";
//! - [`credential`]: §"Credential" to §"Concurrent Request Handling";
//! - [`receipt`]: §"Payment-Receipt Header" to §"Security Considerations";
//! - [`transport`]: §"Transport Security";
//! - [`declared`]: what needs a route the server declares (denied,
//!   failing, with a side effect, behind authentication);
//! - [`header`]: draft-httpauth-payment-01's `Payment-Authorization`
//!   (listed only in a run against -01).

pub mod challenge;
pub mod credential;
pub mod declared;
pub mod header;
pub mod receipt;
pub mod transport;

use credential::{EchoField, Malformation};

use super::Check;
use crate::server_check as check;

pub use receipt::FUZZ_SEED;

/// Every core check, in run order.
pub const CHECKS: &[Check] = &[
    check!(
        "unpaid.status-402",
        [
            "core.status.no-credential-402",
            "core.usage-402.challenge-required",
            "core.usage-402.when-to-return"
        ],
        false,
        |ctx| challenge::unpaid_is_402(ctx)
    ),
    check!(
        "transport.tls",
        ["core.transport.tls-required", "core.transport.must-use-tls"],
        false,
        |ctx| transport::over_tls(ctx)
    ),
    check!(
        "transport.tls13",
        ["core.transport.tls13-recommended"],
        true,
        |ctx| transport::tls13(ctx)
    ),
    check!(
        "transport.no-challenge-over-http",
        [
            "core.transport.server-no-plain-http",
            "core.transport.must-use-tls"
        ],
        false,
        |ctx| transport::no_challenge_over_http(ctx)
    ),
    check!(
        "transport.plain-http-credential-refused",
        ["core.transport.reject-non-tls"],
        true,
        |ctx| transport::plain_http_credential_refused(ctx)
    ),
    check!(
        "challenge.id-non-empty",
        ["core.challenge.id-server-non-empty"],
        false,
        |ctx| challenge::id_non_empty(ctx)
    ),
    check!(
        "challenge.id-hmac",
        ["core.binding.hmac-sha256"],
        true,
        |ctx| challenge::id_is_hmac(ctx)
    ),
    check!(
        "challenge.realm-present",
        ["core.challenge.realm-required"],
        false,
        |ctx| challenge::realm_present(ctx)
    ),
    check!(
        "challenge.realm-ascii",
        ["core.i18n.realm-ascii"],
        true,
        |ctx| challenge::realm_ascii(ctx)
    ),
    check!(
        "challenge.under-8kb",
        ["core.size.server-8kb-challenge"],
        true,
        |ctx| challenge::under_8kb(ctx)
    ),
    check!(
        "challenge.realm-not-from-target",
        ["core.challenge.realm-required"],
        false,
        |ctx| challenge::realm_not_from_request_target(ctx)
    ),
    check!(
        "challenge.method-lowercase",
        ["core.challenge.method-lowercase"],
        false,
        |ctx| challenge::method_lowercase(ctx)
    ),
    check!(
        "challenge.request-unpadded",
        ["core.challenge.request-no-padding"],
        false,
        |ctx| challenge::request_unpadded(ctx)
    ),
    check!(
        "challenge.request-jcs",
        ["core.challenge.request-jcs"],
        false,
        |ctx| challenge::request_jcs(ctx)
    ),
    check!(
        "challenge.expires-present",
        [
            "core.challenge.expires-recommended",
            "core.challenge.expires-rfc3339"
        ],
        true,
        |ctx| challenge::expires_present(ctx)
    ),
    check!(
        "unpaid.cache-no-store",
        ["core.caching.no-store-402"],
        false,
        |ctx| challenge::no_store(ctx)
    ),
    check!(
        "unpaid.problem-details",
        [
            "core.errors.problem-details",
            "core.errors.problem-type-uri"
        ],
        true,
        |ctx| challenge::problem_details(ctx)
    ),
    check!(
        "errors.not-in-challenge-params",
        ["core.status.errors-in-body"],
        true,
        |ctx| challenge::errors_not_in_challenge(ctx)
    ),
    check!(
        "unpaid.fresh-challenge",
        [
            "core.status.no-credential-402",
            "core.caching.challenges-not-cached"
        ],
        false,
        |ctx| challenge::fresh_challenge_per_402(ctx)
    ),
    check!(
        "unknown-resource.not-402",
        ["core.usage-402.when-not-to-return"],
        true,
        |ctx| challenge::unknown_resource_not_402(ctx)
    ),
    check!(
        "malformed.not-base64url",
        ["core.status.malformed-credential"],
        false,
        |ctx| credential::malformed_refused(ctx, Malformation::NotBase64url)
    ),
    check!(
        "malformed.padded",
        ["core.status.malformed-credential"],
        false,
        |ctx| credential::malformed_refused(ctx, Malformation::Padded)
    ),
    check!(
        "malformed.standard-alphabet",
        ["core.status.malformed-credential"],
        false,
        |ctx| credential::malformed_refused(ctx, Malformation::StandardAlphabet)
    ),
    check!(
        "malformed.not-json",
        ["core.status.malformed-credential"],
        false,
        |ctx| credential::malformed_refused(ctx, Malformation::NotJson)
    ),
    check!(
        "malformed.not-an-object",
        ["core.status.malformed-credential"],
        false,
        |ctx| credential::malformed_refused(ctx, Malformation::NotAnObject)
    ),
    check!(
        "malformed.no-challenge",
        ["core.status.malformed-credential", "core.credential.fields"],
        false,
        |ctx| credential::malformed_refused(ctx, Malformation::NoChallenge)
    ),
    check!(
        "malformed.no-payload",
        ["core.status.malformed-credential", "core.credential.fields"],
        false,
        |ctx| credential::malformed_refused(ctx, Malformation::NoPayload)
    ),
    check!(
        "malformed.other-scheme",
        ["core.status.payment-402-www-authenticate"],
        false,
        |ctx| credential::malformed_refused(ctx, Malformation::OtherScheme)
    ),
    check!(
        "malformed.oversized-64kb",
        [
            "core.status.malformed-credential",
            "core.credential-handling.no-logging"
        ],
        false,
        |ctx| credential::malformed_refused(ctx, Malformation::Oversized)
    ),
    check!(
        "several-credentials.400",
        ["core.multiple.reject-multiple-credentials"],
        true,
        |ctx| credential::several_credentials(ctx)
    ),
    check!(
        "tamper.request",
        ["core.binding.server-must-verify", "core.challenge.id-bound"],
        false,
        |ctx| credential::tampered(ctx, EchoField::Request)
    ),
    check!(
        "tamper.realm",
        ["core.binding.server-must-verify", "core.challenge.id-bound"],
        false,
        |ctx| credential::tampered(ctx, EchoField::Realm)
    ),
    check!(
        "tamper.expires",
        ["core.binding.server-should-bind"],
        true,
        |ctx| credential::tampered(ctx, EchoField::Expires)
    ),
    check!(
        "tamper.opaque",
        ["core.challenge.opaque-bound"],
        true,
        |ctx| credential::tampered(ctx, EchoField::Opaque)
    ),
    check!(
        "binding.cross-resource",
        ["core.binding.server-must-verify", "core.challenge.id-bound"],
        false,
        |ctx| credential::cross_resource(ctx)
    ),
    check!(
        "forged-id.invalid-challenge",
        [
            "core.status.invalid-challenge",
            "core.binding.server-must-verify"
        ],
        false,
        |ctx| credential::forged_id(ctx)
    ),
    check!(
        "replay.rejected",
        [
            "core.replay.proof-used-once",
            "core.status.invalid-challenge",
            "core.replay.single-use-semantics"
        ],
        false,
        |ctx| credential::replay(ctx)
    ),
    check!(
        "idempotency.retry-same-answer",
        [
            "core.idempotency.accept-key",
            "core.idempotency.same-response"
        ],
        true,
        |ctx| credential::idempotent_retry(ctx)
    ),
    check!(
        "idempotency.new-key-no-replay",
        ["core.replay.proof-used-once"],
        false,
        |ctx| credential::new_key_replay(ctx)
    ),
    check!(
        alone "concurrency.settles-once",
        ["core.concurrency.at-most-once"],
        false,
        |ctx| credential::concurrency(ctx)
    ),
    check!(
        "paid.receipt",
        [
            "core.status.verified-200",
            "core.receipt.status-success",
            "core.caching.receipt-private",
            "core.receipt.server-should-include",
            "core.privacy.no-accounts"
        ],
        false,
        |ctx| receipt::paid_receipt(ctx)
    ),
    check!(
        "errors.no-receipt",
        ["core.receipt.no-receipt-on-error"],
        false,
        |ctx| receipt::no_receipt_on_error(ctx)
    ),
    check!(
        "errors.credential-not-echoed",
        ["core.credential-handling.no-logging"],
        false,
        |ctx| receipt::credential_not_echoed(ctx)
    ),
    check!(
        "errors.no-secrets",
        ["core.secret.no-logging"],
        true,
        |ctx| receipt::no_secrets_in_errors(ctx)
    ),
    check!(
        "errors.retry-after",
        ["core.errors.retry-after"],
        true,
        |ctx| credential::retry_after(ctx)
    ),
    check!(
        "policy.denied-403",
        ["core.status.policy-denied-403"],
        false,
        |ctx| declared::denied_403(ctx)
    ),
    check!(
        "receipt.only-2xx",
        ["core.receipt.only-2xx"],
        false,
        |ctx| declared::receipt_only_2xx(ctx)
    ),
    check!(
        alone "side-effects.none-unpaid",
        [
            "core.side-effects.unpaid-no-side-effects",
            "core.side-effects.challenge-only-state"
        ],
        false,
        |ctx| declared::no_unpaid_side_effects(ctx)
    ),
    check!(
        "auth.before-payment",
        ["core.usage-402.auth-before-payment"],
        true,
        |ctx| declared::auth_before_payment(ctx)
    ),
    check!(
        "size.4kb-credential-accepted",
        [
            "core.size.server-4kb-credential",
            "core.versioning.ignore-unknown"
        ],
        false,
        |ctx| credential::credential_4kb(ctx)
    ),
    check!(
        "accept-payment.exact",
        [
            "core.accept-payment.consider",
            "core.usage-402.challenge-required"
        ],
        false,
        |ctx| challenge::accept_payment_still_402(ctx, "{method}/{intent}")
    ),
    check!(
        "accept-payment.wildcard",
        [
            "core.accept-payment.weight-semantics",
            "core.usage-402.challenge-required"
        ],
        false,
        |ctx| challenge::accept_payment_still_402(ctx, "*/*;q=0.5")
    ),
    check!(
        "accept-payment.no-match",
        [
            "core.accept-payment.no-match-may-ignore",
            "core.usage-402.challenge-required"
        ],
        false,
        |ctx| challenge::accept_payment_still_402(ctx, "nomethod/charge")
    ),
    check!(
        "accept-payment.malformed",
        [
            "core.accept-payment.malformed-may-ignore",
            "core.usage-402.challenge-required"
        ],
        false,
        |ctx| challenge::accept_payment_still_402(ctx, "tempo;;q=abc, ,/")
    ),
    check!(
        "digest.other-body-rejected",
        ["core.digest.server-verifies"],
        false,
        |ctx| credential::digest_other_body(ctx)
    ),
    check!(
        "expiry.expired-rejected",
        ["core.status.invalid-challenge"],
        false,
        |ctx| credential::expired(ctx)
    ),
    check!(
        "fuzz.bounded",
        [
            "core.status.malformed-credential",
            "core.usage-402.challenge-required",
            "core.credential-handling.no-logging"
        ],
        false,
        |ctx| receipt::fuzz_bounded(ctx)
    ),
];
