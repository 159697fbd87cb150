//! draft-httpauth-payment-01 §"Credentials", §"Challenge Binding" and §"Caching": a resource whose challenge selects `Payment-Authorization`.
//!
//! These checks are listed only in a run against -01 (`--core
//! draft-httpauth-payment-01`); a -00 run has no `header` parameter to
//! judge. On a resource whose challenge selects `Authorization` they are
//! `skip`, saying so.

use mppconf_suite::codec::ProblemType;
use mppconf_suite::codec::challenge::{PAYMENT_AUTHORIZATION, parse_all_lenient};
use mppconf_suite::vectors::Verdict;

use super::super::check::{changed_refused, send_credential, transport, valid};
use super::super::{Check, Ctx, Outcome};
use crate::server_check as check;

type Step = Result<Outcome, Outcome>;

/// The -01 checks, in run order.
pub const CHECKS: &[Check] = &[
    check!(
        "header.value",
        ["core.header.server-no-other-value"],
        false,
        |ctx| value(ctx)
    ),
    check!(
        "header.selected-field-only",
        ["core.header.server-selected-field-only"],
        false,
        |ctx| selected_field_only(ctx)
    ),
    check!(
        "header.bound",
        ["core.header.server-binds", "core.binding.server-must-bind"],
        false,
        |ctx| bound(ctx)
    ),
    check!(
        "header.other-field-private",
        ["core.caching.other-field-private"],
        false,
        |ctx| other_field_private(ctx)
    ),
];

/// "Servers MUST NOT emit a `header` parameter with any other value" than
/// `Payment-Authorization`: every Payment challenge of an unpaid answer,
/// whatever its method. A value that differs only in letter case is
/// `warn` (ambiguity.header-value-case: field names are case-insensitive,
/// the value is not said to be).
pub async fn value(ctx: &Ctx) -> Step {
    let answer = ctx.send(&[], None).await.map_err(transport)?;
    let fields = answer.challenge_fields();
    let all = parse_all_lenient(&fields).map_err(|e| {
        Outcome::skip(format!(
            "WWW-Authenticate does not parse ({e}): the challenge.* checks judge it"
        ))
    })?;
    let values: Vec<String> = all
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .filter_map(|(c, _)| c.header().map(str::to_string))
        .collect();
    let other: Vec<&String> = values
        .iter()
        .filter(|v| *v != PAYMENT_AUTHORIZATION)
        .collect();
    Ok(match other.first() {
        None if values.is_empty() => Outcome::pass(format!(
            "{} answered {} with no header parameter on any Payment challenge (credentials go in Authorization)",
            ctx.target.path, answer.status
        )),
        None => Outcome::pass(format!(
            "header={PAYMENT_AUTHORIZATION:?} on {} challenge(s), no other value",
            values.len()
        )),
        Some(v)
            if other
                .iter()
                .all(|v| v.eq_ignore_ascii_case(PAYMENT_AUTHORIZATION)) =>
        {
            Outcome {
                verdict: Verdict::Warn,
                detail: format!(
                    "Expected: header={PAYMENT_AUTHORIZATION:?}\nActual: header={v:?}: the same field name in other letter case; whether that is \"any other value\" is ambiguity.header-value-case"
                ),
            }
        }
        Some(_) => Outcome::fail(
            format!("header absent or exactly {PAYMENT_AUTHORIZATION:?}"),
            format!(
                "header={}",
                other
                    .iter()
                    .map(|v| format!("{v:?}"))
                    .collect::<Vec<_>>()
                    .join(", header=")
            ),
        ),
    })
}

/// Ends the check unless the resource's challenge selects
/// `Payment-Authorization` (see [`Ctx::with_core`]).
fn selects_payment_authorization(ctx: &Ctx) -> Result<(), Outcome> {
    if ctx.credential_field == "payment-authorization" {
        return Ok(());
    }
    Err(Outcome::skip(
        "the resource's challenge has no header=\"Payment-Authorization\": its credentials go in Authorization, and -01 adds nothing to judge here",
    ))
}

/// "Servers MUST accept a Payment credential for a given challenge only
/// from the field selected by that challenge": a valid credential in
/// `Authorization` must not be paid for, and the same one in
/// `Payment-Authorization` then must (the wrong-field attempt did not
/// spend it).
pub async fn selected_field_only(ctx: &Ctx) -> Step {
    selects_payment_authorization(ctx)?;
    let (_, credential) = valid(ctx).await?;
    let header = credential.to_header();
    let t = &ctx.target;
    let method: reqwest::Method = t.method.parse().unwrap_or(reqwest::Method::GET);
    let wrong = ctx
        .request(
            method,
            &t.url(),
            &[],
            t.body.as_deref(),
            &[("authorization", header.as_str())],
        )
        .await
        .map_err(transport)?;
    if (200..300).contains(&wrong.status) {
        return Ok(Outcome::fail(
            "no access for a credential in Authorization when the challenge selects Payment-Authorization",
            format!(
                "{}: the credential in Authorization satisfied the challenge",
                wrong.status
            ),
        ));
    }
    let right = send_credential(ctx, &header).await?;
    Ok(if (200..300).contains(&right.status) {
        Outcome::pass(format!(
            "in Authorization: {}; the same credential in Payment-Authorization: {}",
            wrong.status, right.status
        ))
    } else {
        Outcome::fail(
            "the credential, refused in Authorization, is accepted in Payment-Authorization",
            format!(
                "in Authorization: {}; then in Payment-Authorization: {} (the attempt in the wrong field spent it, or the server does not read Payment-Authorization)",
                wrong.status, right.status
            ),
        )
    })
}

/// "Servers MUST include this parameter in the challenge binding when it
/// is present": an echo without `header`, under the original id, is a
/// different challenge.
pub async fn bound(ctx: &Ctx) -> Step {
    selects_payment_authorization(ctx)?;
    changed_refused(
        ctx,
        |c| {
            c.challenge.unknown.remove("header");
        },
        Some(ProblemType::InvalidChallenge),
    )
    .await
}

/// "When a request carries a Payment credential in a field other than
/// `Authorization`, every corresponding response MUST include
/// `Cache-Control: private` or `Cache-Control: no-store`": probed with an
/// answer no other rule covers (two credentials: not a 402, not a paid
/// 2xx).
pub async fn other_field_private(ctx: &Ctx) -> Step {
    selects_payment_authorization(ctx)?;
    let junk = "Payment e30";
    let answer = ctx.send(&[junk, junk], None).await.map_err(transport)?;
    let cache = answer.header("cache-control").unwrap_or_default();
    let directives: Vec<String> = cache
        .split(',')
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    Ok(
        if directives.iter().any(|d| d == "private" || d == "no-store") {
            Outcome::pass(format!("{} with Cache-Control: {cache}", answer.status))
        } else {
            Outcome::fail(
                "Cache-Control: private or no-store",
                format!(
                    "{} to a request with credentials in Payment-Authorization, Cache-Control: {}",
                    answer.status,
                    if cache.is_empty() { "(none)" } else { cache }
                ),
            )
        },
    )
}
