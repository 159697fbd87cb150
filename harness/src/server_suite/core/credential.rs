//! draft-httpauth-payment-00 §"Credential" to §"Concurrent Request Handling": what a server does with a credential.
//!
//! Malformed credentials, several at once, an echo that does not bind
//! (tampered, forged), replay and concurrent copies, the 4 KB minimum,
//! the body digest and expiry. Every one of these works with any payment
//! method: a valid credential comes from the run's payer, and the checks
//! change only what the core draft defines (the envelope, the echo, the
//! request around it).

use std::time::Duration;

use mppconf_suite::codec::{EncodedJson, ProblemType, base64url, rfc3339};
use mppconf_suite::vectors::Verdict;
use serde_json::{Value, json};

use super::super::check::{
    blocked, changed_refused, echo_json, refused_unbroadcast, rejection, send_credential,
    transport, valid,
};
use super::super::{Answer, Ctx, Outcome};

type Step = Result<Outcome, Outcome>;

/// The longest the expiry check waits for a challenge to expire.
const MAX_EXPIRY_WAIT_SECS: i64 = 15;

/// A credential that is not one, and how.
#[derive(Clone, Copy)]
pub enum Malformation {
    NotBase64url,
    Padded,
    StandardAlphabet,
    NotJson,
    NotAnObject,
    NoChallenge,
    NoPayload,
    OtherScheme,
    Oversized,
}

/// An echoed challenge field to alter.
#[derive(Clone, Copy)]
pub enum EchoField {
    Request,
    Realm,
    Expires,
    Opaque,
}

pub async fn malformed_refused(ctx: &Ctx, m: Malformation) -> Step {
    // Echo a real challenge where the defect is elsewhere, so that the
    // defect is the only reason to refuse.
    let echo = match m {
        Malformation::NoPayload | Malformation::Padded => {
            ctx.fresh_challenge().await.ok().map(|c| echo_json(&c))
        }
        _ => None,
    };
    let (header, want) = malformed(m, echo, &ctx.method_name);
    let a = match ctx.send(&[&header], None).await {
        Ok(a) => a,
        Err(e) => match (m, ctx.last_status()) {
            // Above the 4 KB minimum a server may refuse the size.
            (Malformation::Oversized, Some(s @ (413 | 431))) => {
                return Ok(Outcome::pass(format!(
                    "refused as too large ({s}), which the 4 KB minimum allows"
                )));
            }
            _ => return Err(transport(e)),
        },
    };
    if matches!(m, Malformation::Oversized) && matches!(a.status, 413 | 431) {
        return Ok(Outcome::pass(format!(
            "refused as too large ({}), which the 4 KB minimum allows",
            a.status
        )));
    }
    let strict = rejection(&a, want, None);
    let loose = rejection(&a, None, None);
    // A problem about the credential's content (not payment-required, not
    // none) shows the server read past the padding.
    let read_past_padding = a
        .problem()
        .and_then(|p| p.problem_type())
        .is_none_or(|t| t != ProblemType::PaymentRequired)
        && a.problem().is_some();
    Ok(
        if matches!(m, Malformation::Padded)
            && strict.verdict == Verdict::Fail
            && loose.verdict == Verdict::Pass
            && read_past_padding
        {
            let problem = a.problem().map(|p| p.type_uri).unwrap_or_default();
            Outcome {
                verdict: Verdict::Lenient,
                detail: format!(
                    "read the padded credential (base64url-nopad forbids padding; ambiguity.padding lets receivers accept it) and refused it as {problem}"
                ),
            }
        } else {
            strict
        },
    )
}

pub async fn several_credentials(ctx: &Ctx) -> Step {
    let (_, credential) = valid(ctx).await?;
    let header = credential.to_header();
    let a = ctx
        .send(&[&header, &header], None)
        .await
        .map_err(transport)?;
    Ok(if a.status == 400 {
        Outcome::pass("400")
    } else {
        Outcome::fail("400 for two Payment credentials", a.status)
    })
}

/// The attack on challenge binding, both ways a server can fall for it:
/// take a genuine challenge, change what it asks for (a cheaper request,
/// another realm, a later expiry, another opaque) and keep its id, then
/// (1) pay exactly what the changed challenge asks (a server that
/// verifies the payment against the echo accepts it), and (2) pay what
/// the issued challenge asks under the changed echo (a server that does
/// not check the binding at all accepts it). Both must be refused.
pub async fn tampered(ctx: &Ctx, field: EchoField) -> Step {
    // (1) Only the changed challenge is paid.
    let changed = change(super::super::check::fresh(ctx).await?, field);
    let credential = ctx.pay(&changed, &header_of(&changed)).await?;
    let first = refused_unbroadcast(ctx, &credential.to_header(), None).await?;
    if first.verdict != Verdict::Pass {
        return Ok(Outcome {
            detail: format!("paying what the changed challenge asks: {}", first.detail),
            ..first
        });
    }
    // (2) The issued price, under the changed echo.
    let issued = super::super::check::fresh(ctx).await?;
    let mut credential = ctx.pay(&issued, &header_of(&issued)).await?;
    credential.challenge = mppconf_suite::codec::EchoedChallenge::echo_of(&change(issued, field));
    let second = refused_unbroadcast(ctx, &credential.to_header(), None).await?;
    Ok(if second.verdict == Verdict::Pass {
        Outcome::pass(format!(
            "refused both: paying the changed challenge, and the issued price under the changed echo ({})",
            second.detail
        ))
    } else {
        Outcome {
            detail: format!(
                "paying the issued price under the changed echo: {}",
                second.detail
            ),
            ..second
        }
    })
}

/// The challenge with `field` changed, its id kept.
fn change(
    mut c: mppconf_suite::codec::Challenge,
    field: EchoField,
) -> mppconf_suite::codec::Challenge {
    match field {
        EchoField::Request => {
            // Half the price (a request the payer can still pay: a
            // method's splits stay below it); a zero or unit price is
            // swapped for the other.
            let mut v = c.request.value.clone();
            let amount = v["amount"]
                .as_str()
                .and_then(|a| alloy::primitives::U256::from_str_radix(a, 10).ok())
                .unwrap_or_default();
            let cheaper = match amount.to::<u128>() {
                0 => alloy::primitives::U256::from(1),
                1 => alloy::primitives::U256::ZERO,
                _ => amount / alloy::primitives::U256::from(2),
            };
            v["amount"] = cheaper.to_string().into();
            c.request = EncodedJson::canonical(v);
        }
        EchoField::Realm => c.realm.push_str(".tampered"),
        EchoField::Expires => c.expires = Some("2999-12-31T23:59:59Z".into()),
        EchoField::Opaque => c.opaque = Some(EncodedJson::canonical(json!({"tampered": "1"}))),
    }
    c
}

/// The `WWW-Authenticate` value a payer is shown for a challenge.
fn header_of(c: &mppconf_suite::codec::Challenge) -> [String; 1] {
    [c.to_header()
        .unwrap_or_else(|_| format!("Payment id=\"{}\"", c.id))]
}

/// A credential for another resource of the same server (its challenge,
/// paid at its price), presented here, must be refused: the challenge was
/// not issued for this resource.
pub async fn cross_resource(ctx: &Ctx) -> Step {
    for other in &ctx.others {
        let method: reqwest::Method = other
            .method
            .parse()
            .map_err(|_| Outcome::error(format!("bad method {}", other.method)))?;
        let a = ctx
            .request(method, &other.url(), &[], other.body.as_deref(), &[])
            .await
            .map_err(transport)?;
        let fields = a.challenge_fields();
        let Ok(all) = mppconf_suite::codec::challenge::parse_all_lenient(&fields) else {
            continue;
        };
        let Some((challenge, _)) = all.into_iter().flatten().find(|(c, _)| {
            c.method.eq_ignore_ascii_case(&ctx.method_name)
                && c.intent.eq_ignore_ascii_case(&ctx.intent)
        }) else {
            continue;
        };
        let credential = ctx.pay(&challenge, &fields).await?;
        let outcome = refused_unbroadcast(ctx, &credential.to_header(), None).await?;
        return Ok(Outcome {
            detail: format!(
                "a credential for {} {}, presented here: {}",
                other.method, other.path, outcome.detail
            ),
            ..outcome
        });
    }
    Ok(Outcome::skip(
        "needs another paid resource of the server with a challenge of this method (a manifest with two resources, or --path twice)",
    ))
}

pub async fn forged_id(ctx: &Ctx) -> Step {
    changed_refused(
        ctx,
        |c| c.challenge.id = "mppconf-forged-challenge-id".into(),
        Some(ProblemType::InvalidChallenge),
    )
    .await
}

pub async fn replay(ctx: &Ctx) -> Step {
    let (challenge, credential) = valid(ctx).await?;
    let header = credential.to_header();
    let first = send_credential(ctx, &header).await?;
    if !(200..300).contains(&first.status) {
        return Err(blocked(format!(
            "a valid credential was refused ({}), see paid.receipt",
            first.status
        )));
    }
    let second = send_credential(ctx, &header).await?;
    Ok(rejection(
        &second,
        Some(ProblemType::InvalidChallenge),
        Some(&challenge.id),
    ))
}

/// Six copies of one credential at once: one 2xx, and (where the method
/// leaves evidence) one settlement.
pub async fn concurrency(ctx: &Ctx) -> Step {
    let (challenge, credential) = valid(ctx).await?;
    let method = ctx.method;
    let rpc = ctx.target.rpc_url.clone();
    let before = match method {
        Some(m) => m.received(&rpc, &challenge).await.map_err(Outcome::error)?,
        None => None,
    };
    let header = credential.to_header();
    let auth = [header.as_str()];
    let sends = (0..6).map(|_| ctx.send(&auth, None));
    let answers = futures::future::join_all(sends).await;
    let granted = answers
        .iter()
        .filter(|a| a.as_ref().is_ok_and(|a| (200..300).contains(&a.status)))
        .count();
    let paid_times = match (method, before) {
        (Some(m), Some(before)) => {
            let after = m
                .received(&rpc, &challenge)
                .await
                .map_err(Outcome::error)?
                .unwrap_or(before);
            Some(m.settlements(&challenge, before, after))
        }
        _ => None,
    };
    // None taken: at most once holds, and says nothing; refusing a valid
    // credential is paid.receipt's finding, not a concurrency one.
    if granted == 0 {
        let statuses: Vec<String> = answers
            .iter()
            .map(|a| match a {
                Ok(a) => a.status.to_string(),
                Err(e) => format!("no answer ({e})"),
            })
            .collect();
        return Err(blocked(format!(
            "none of six copies of a valid credential was taken ({}): at most one settlement shows only when one is; see paid.receipt",
            statuses.join(", ")
        )));
    }
    Ok(if granted != 1 {
        Outcome::fail(
            "exactly one 2xx for six copies of one credential",
            format!("{granted}"),
        )
    } else if paid_times.is_some_and(|n| n > 1) {
        Outcome::fail(
            "at most one settlement",
            format!(
                "the recipient was paid {} times",
                paid_times.unwrap_or_default()
            ),
        )
    } else if paid_times.is_none() {
        Outcome::pass(format!(
            "one 2xx (method {}: settlements are not observable)",
            ctx.method_name
        ))
    } else {
        Outcome::pass("one 2xx, one settlement")
    })
}

pub async fn credential_4kb(ctx: &Ctx) -> Step {
    let (_, mut credential) = valid(ctx).await?;
    credential
        .unknown
        .insert("mppconf_padding".into(), "x".repeat(4096).into());
    let header = credential.to_header();
    let a = send_credential(ctx, &header).await?;
    Ok(if (200..300).contains(&a.status) {
        Outcome::pass(format!(
            "a {}-byte credential with an unknown member was accepted",
            header.len()
        ))
    } else {
        Outcome::fail(
            format!(
                "2xx for a valid {}-byte credential with an unknown member",
                header.len()
            ),
            format!(
                "{} {}",
                a.status,
                a.body.chars().take(200).collect::<String>()
            ),
        )
    })
}

pub async fn digest_other_body(ctx: &Ctx) -> Step {
    let Some(body) = ctx.target.body.clone() else {
        return Ok(Outcome::skip(
            "the resource takes no body (give --data to test body binding)",
        ));
    };
    let (challenge, credential) = valid(ctx).await?;
    if challenge.digest.is_none() {
        return Ok(Outcome::skip(
            "the challenge has no digest (core.challenge.digest-recommended is a SHOULD)",
        ));
    }
    let mut other = body;
    other.extend_from_slice(b" ");
    let header = credential.to_header();
    let a = ctx
        .send(&[&header], Some(&other))
        .await
        .map_err(transport)?;
    Ok(rejection(&a, None, None))
}

pub async fn expired(ctx: &Ctx) -> Step {
    let (challenge, credential) = valid(ctx).await?;
    let Some(expires) = challenge
        .expires
        .as_deref()
        .and_then(|e| rfc3339::parse("expires", e).ok())
    else {
        return Ok(Outcome::skip("the challenge has no expires"));
    };
    let wait = expires.timestamp() + 1 - crate::reference::tx::unix_now() as i64;
    if wait > MAX_EXPIRY_WAIT_SECS {
        return Ok(Outcome::skip(format!(
            "the challenge expires in {wait} s; the suite waits at most {MAX_EXPIRY_WAIT_SECS} s (give a resource with a shorter expiry)"
        )));
    }
    ctx.pause(Duration::from_secs(wait.max(0) as u64)).await;
    // -00's status table says invalid-challenge, its error codes
    // payment-expired (ambiguity.expired-problem-type): any refusal. -01's
    // table has a row of its own: payment-expired.
    let problem = ctx
        .core
        .has_header_param()
        .then_some(ProblemType::PaymentExpired);
    refused_unbroadcast(ctx, &credential.to_header(), problem).await
}

/// The header of a malformed credential and the problem type its refusal
/// must carry. `method` names the resource's method in the placeholder
/// echo of the credentials that carry no real one.
pub fn malformed(
    m: Malformation,
    echo: Option<Value>,
    method: &str,
) -> (String, Option<ProblemType>) {
    let b64 = |v: Value| base64url::encode(v.to_string());
    let challenge = echo.unwrap_or_else(
        || json!({"id": "x", "realm": "r", "method": method, "intent": "charge", "request": "e30"}),
    );
    let want = Some(ProblemType::MalformedCredential);
    match m {
        Malformation::NotBase64url => ("Payment not-valid!!!".into(), want),
        Malformation::Padded => (
            format!(
                "Payment {}",
                padded(json!({"challenge": challenge, "payload": {}}))
            ),
            want,
        ),
        Malformation::StandardAlphabet => ("Payment eyJh+/+/IjoxfQ".into(), want),
        Malformation::NotJson => (format!("Payment {}", base64url::encode("not json")), want),
        Malformation::NotAnObject => (format!("Payment {}", base64url::encode("[]")), want),
        Malformation::NoChallenge => (format!("Payment {}", b64(json!({"payload": {}}))), want),
        Malformation::NoPayload => (
            format!("Payment {}", b64(json!({"challenge": challenge}))),
            want,
        ),
        // Another scheme is no Payment credential at all: a fresh 402,
        // whatever the problem type.
        Malformation::OtherScheme => ("Bearer mppconf-not-a-payment-credential".into(), None),
        Malformation::Oversized => (
            format!(
                "Payment {}",
                b64(json!({"payload": {}, "pad": "x".repeat(64 * 1024)}))
            ),
            want,
        ),
    }
}

/// base64url of the JSON with `=` padding (the JSON is grown by a space
/// until its encoding needs some).
fn padded(v: Value) -> String {
    let mut text = v.to_string();
    while text.len().is_multiple_of(3) {
        text.push(' ');
    }
    let mut out = base64url::encode(&text);
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// §"Idempotency and Side Effects": on a non-idempotent paid route, a
/// retry with the same `Idempotency-Key` and the same valid credential
/// gets the original answer (its body and receipt), not a refusal as a
/// replay and not a second execution.
pub async fn idempotent_retry(ctx: &Ctx) -> Step {
    if !matches!(
        ctx.target.method.to_ascii_uppercase().as_str(),
        "POST" | "PUT" | "DELETE" | "PATCH"
    ) {
        return Ok(Outcome::skip(format!(
            "{} is idempotent: Idempotency-Key is for POST, PUT, DELETE (and PATCH)",
            ctx.target.method
        )));
    }
    let (_, credential) = valid(ctx).await?;
    let header = credential.to_header();
    let key = idempotency_key();
    let first = paid_with_key(ctx, &header, &key).await?;
    let retry = with_key(ctx, &header, &key).await?;
    if !(200..300).contains(&retry.status) {
        return Ok(Outcome::fail(
            "the original answer for a retry with the same Idempotency-Key and credential",
            format!(
                "{} {}",
                retry.status,
                retry.body.chars().take(200).collect::<String>()
            ),
        ));
    }
    let receipt = |a: &Answer| a.header("payment-receipt").map(str::to_string);
    Ok(
        if retry.body == first.body && receipt(&retry) == receipt(&first) {
            Outcome::pass(format!(
                "the retry got the original answer ({}, same body and receipt)",
                retry.status
            ))
        } else {
            Outcome::fail(
                "the same body and receipt as the original answer",
                format!(
                    "body {:?} and receipt {:?}, first {:?} and {:?}",
                    retry.body.chars().take(120).collect::<String>(),
                    receipt(&retry),
                    first.body.chars().take(120).collect::<String>(),
                    receipt(&first)
                ),
            )
        },
    )
}

/// A paid credential presented again under a new `Idempotency-Key`: a
/// key names a retry of one request, it never buys a second one, so the
/// credential is a replay and must be refused.
pub async fn new_key_replay(ctx: &Ctx) -> Step {
    let (challenge, credential) = valid(ctx).await?;
    let header = credential.to_header();
    paid_with_key(ctx, &header, &idempotency_key()).await?;
    let second = with_key(ctx, &header, &idempotency_key()).await?;
    Ok(rejection(&second, None, Some(&challenge.id)))
}

fn idempotency_key() -> String {
    format!("mppconf-{}", alloy::primitives::B128::random())
}

/// The resource's request with this credential and `Idempotency-Key`.
async fn with_key(ctx: &Ctx, header: &str, key: &str) -> Result<Answer, Outcome> {
    ctx.send_with(&[header], None, &[("idempotency-key", key)])
        .await
        .map_err(transport)
}

/// [`with_key`] for a valid credential: its 2xx, or the check is blocked.
async fn paid_with_key(ctx: &Ctx, header: &str, key: &str) -> Result<Answer, Outcome> {
    let a = with_key(ctx, header, key).await?;
    if (200..300).contains(&a.status) {
        Ok(a)
    } else {
        Err(blocked(format!(
            "a valid credential with an Idempotency-Key was refused ({}), see paid.receipt",
            a.status
        )))
    }
}

/// §"Retry Behavior": the 402 refusing a credential says when to retry
/// (`Retry-After`, RFC 9110: delay-seconds or an HTTP-date). Which
/// answers need it the draft leaves open (ambiguity.retry-after-when).
pub async fn retry_after(ctx: &Ctx) -> Step {
    let (_, challenge) = super::super::check::unpaid_challenge(ctx).await?;
    let bogus = mppconf_suite::codec::Credential {
        challenge: mppconf_suite::codec::EchoedChallenge::echo_of(&challenge),
        payload: [("type".to_string(), Value::from("mppconf-bogus"))]
            .into_iter()
            .collect(),
        source: None,
        unknown: Default::default(),
    };
    let a = send_credential(ctx, &bogus.to_header()).await?;
    if a.status != 402 {
        return Err(blocked(format!(
            "a credential with a payload no method accepts got {}, not a 402 refusal (see the malformed.* checks)",
            a.status
        )));
    }
    Ok(match a.header("retry-after") {
        None => Outcome::fail("Retry-After on the 402 refusing a credential", "none"),
        Some(v) => {
            let v = v.trim();
            let seconds = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
            if seconds || chrono::DateTime::parse_from_rfc2822(v).is_ok() {
                Outcome::pass(format!("Retry-After: {v}"))
            } else {
                Outcome::fail(
                    "Retry-After as delay-seconds or an HTTP-date (RFC 9110)",
                    format!("Retry-After: {v:?}"),
                )
            }
        }
    })
}
