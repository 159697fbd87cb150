//! draft-httpauth-payment-01 §"Credentials": the `header` challenge parameter, for a client of any payment method.
//!
//! Listed only in a run against -01 (`mppconf client --core
//! draft-httpauth-payment-01`): under -00 `header` is an unknown
//! parameter with no rule of its own. A challenge with
//! `header="Payment-Authorization"` must be answered in that field and
//! nowhere else, with `header` echoed; a challenge without it in
//! `Authorization`, with no `header` echoed; a challenge with any other
//! value is unrecognized and must not be paid, whatever field it names
//! (`Authorization` included: the drafts allow exactly one value).
//!
//! A client that does not support `Payment-Authorization` "MUST NOT send
//! a Payment credential for that challenge" (untestable as such): one that
//! sends nothing for it gets `skip` from the field check, saying so, never
//! a pass.

use mppconf_suite::codec::challenge::PAYMENT_AUTHORIZATION;

use super::check::{Check, Need, ScenarioDef, blocked, c, refused, sent_credential};
use super::{Built, PAYMENT_AUTHORIZATION_ROUTE, Record, header};
use crate::server_suite::Outcome;

type Verdict = Result<Outcome, Outcome>;

/// A header value no draft allows, naming a field of its own: a client
/// that sends its credential wherever a challenge says would put it here.
const OTHER_FIELD: &str = "X-Payment-Credential";

/// The -01 scenarios, in run order.
pub const SCENARIOS: &[ScenarioDef] = &[
    ScenarioDef {
        name: "payment-authorization",
        needs: Need::Nothing,
        build: |env| {
            let c = env.challenge(PAYMENT_AUTHORIZATION_ROUTE);
            Built::paying(PAYMENT_AUTHORIZATION_ROUTE, vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "header-other-field",
        needs: Need::Nothing,
        build: |env| Built::refusing(vec![header(&with_header(env, OTHER_FIELD))]),
    },
    ScenarioDef {
        name: "header-authorization",
        needs: Need::Nothing,
        build: |env| Built::refusing(vec![header(&with_header(env, "Authorization"))]),
    },
];

/// A `/plain` challenge with this `header` value, bound with it (a
/// correct id: only the value is wrong).
fn with_header(env: &super::Env, value: &str) -> mppconf_suite::codec::Challenge {
    let mut c = env.challenge("/plain");
    c.unknown_params.push(("header".into(), value.into()));
    env.bind(&mut c);
    c
}

/// The -01 checks, in report order.
pub const CHECKS: &[Check] = &[
    c(
        "header.selected-field",
        &[
            "core.header.send-in-payment-authorization",
            "core.header.no-other-field",
            "core.multiple.one-credential-selected-field",
        ],
        "payment-authorization",
        selected_field,
    ),
    c(
        "header.echoed",
        &["core.header.client-echoes"],
        "payment-authorization",
        echoed,
    ),
    c(
        "header.default-authorization",
        &[
            "core.header.default-authorization",
            "core.header.no-other-field",
        ],
        "standard",
        default_authorization,
    ),
    c(
        "header.no-echo-without",
        &["core.header.no-echo-without"],
        "standard",
        no_echo_without,
    ),
    c(
        "refuse.header-other-field",
        &["core.header.other-value-unrecognized"],
        "header-other-field",
        refused,
    ),
    c(
        "refuse.header-authorization",
        &["core.header.other-value-unrecognized"],
        "header-authorization",
        refused,
    ),
];

/// The credentialed requests and, for each, the fields its Payment
/// credentials came in (lowercase).
fn credentialed(r: &Record) -> Vec<(u16, Vec<String>)> {
    r.seen
        .iter()
        .map(|s| {
            let fields = s.credential_fields().into_iter().map(|(f, _)| f).collect();
            (s.status, fields)
        })
        .filter(|(_, fields): &(u16, Vec<String>)| !fields.is_empty())
        .collect()
}

/// Every credentialed request carries one Payment credential, in `want`
/// and in no other field.
fn only_in(r: &Record, want: &str) -> Result<Outcome, Vec<String>> {
    let requests = credentialed(r);
    let mut wrong = Vec::new();
    for (i, (status, fields)) in requests.iter().enumerate() {
        let elsewhere: Vec<&String> = fields.iter().filter(|f| *f != want).collect();
        let here = fields.len() - elsewhere.len();
        if !elsewhere.is_empty() {
            wrong.push(format!(
                "request {} carried it in {} (answered {status})",
                i + 1,
                elsewhere
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        } else if here > 1 {
            wrong.push(format!(
                "request {} carried {here} Payment credentials in {want}",
                i + 1
            ));
        }
    }
    if wrong.is_empty() {
        let statuses: Vec<String> = requests.iter().map(|(s, _)| s.to_string()).collect();
        Ok(Outcome::pass(format!(
            "one credential per request, in {want} only (answered {})",
            statuses.join(", ")
        )))
    } else {
        Err(wrong)
    }
}

/// A challenge with `header="Payment-Authorization"`: the credential goes
/// in that field, once, and in no other.
fn selected_field(r: &Record, _: &str) -> Verdict {
    if credentialed(r).is_empty() {
        return Ok(Outcome::skip(format!(
            "the client sent no credential for the challenge that selects Payment-Authorization; a client that does not support the field MUST NOT send one (core.header.unsupported-client-abstains), so there is nothing to judge (client: {})",
            r.run.ended
        )));
    }
    Ok(only_in(r, "payment-authorization").unwrap_or_else(|wrong| {
        Outcome::fail(
            "one Payment credential, in Payment-Authorization only (the field the challenge selects)",
            wrong.join("; "),
        )
    }))
}

/// The credential echoes `header` exactly as issued.
fn echoed(r: &Record, paid_check: &str) -> Verdict {
    let credential = sent_credential(r, paid_check)?;
    Ok(match credential.challenge.unknown.get("header") {
        Some(v) if v.as_str() == Some(PAYMENT_AUTHORIZATION) => {
            Outcome::pass("header echoed byte for byte")
        }
        Some(v) => Outcome::fail(
            format!("header = {PAYMENT_AUTHORIZATION:?} (as issued)"),
            format!("header = {v}"),
        ),
        None => Outcome::fail(
            format!("header = {PAYMENT_AUTHORIZATION:?} (as issued)"),
            "no header in the echoed challenge",
        ),
    })
}

/// A challenge without `header`: the credential goes in `Authorization`.
fn default_authorization(r: &Record, paid_check: &str) -> Verdict {
    if credentialed(r).is_empty() {
        return Err(blocked(format!("no credential was sent, {paid_check}")));
    }
    Ok(only_in(r, "authorization").unwrap_or_else(|wrong| {
        Outcome::fail(
            "one Payment credential, in Authorization only (the challenge has no header parameter)",
            wrong.join("; "),
        )
    }))
}

/// A challenge without `header`: no `header` in the echo.
fn no_echo_without(r: &Record, paid_check: &str) -> Verdict {
    let credential = sent_credential(r, paid_check)?;
    Ok(match credential.challenge.unknown.get("header") {
        None => Outcome::pass("no header echoed (the challenge had none)"),
        Some(v) => Outcome::fail(
            "no header member in the echoed challenge (the challenge had none)",
            format!("header = {v}"),
        ),
    })
}
