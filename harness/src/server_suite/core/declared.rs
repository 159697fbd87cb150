//! Requirements that need a route of a particular kind, which the server
//! declares ([`Probes`]: manifest `[probes]`, the
//! `--*-path` options): draft-httpauth-payment-00 §"Status Codes" (policy
//! denies a valid payment: 403), §"Receipt Status Semantics" (receipts
//! only on 2xx), §"Idempotency and Side Effects" (no side effect before
//! payment) and §"Interaction with Other Authentication Schemes" (401
//! before 402). Judged once per server, with its first resource; without
//! the declaration, `skip` saying what to declare.

use mppconf_suite::codec::Challenge;

use super::super::check::{blocked, transport};
use super::super::{Answer, Ctx, Outcome, Target};

/// Routes the server declares for the checks that need a route of their
/// own kind (manifest `[probes]`, the `--*-path` options, the reference
/// server's): judged once per server, with its first resource.
#[derive(Debug, Clone, Default)]
pub struct Probes {
    /// Policy denies access after a valid payment: 403.
    pub denied: Option<Target>,
    /// The handler fails after a valid payment: non-2xx, no receipt.
    pub failing: Option<Target>,
    /// A paid request has a side effect, which a GET of `oracle` (a URL)
    /// shows: its answer changes when the side effect happens.
    pub side_effect: Option<(Target, String)>,
    /// Needs authentication (the header `Name: value`) and payment.
    pub authenticated: Option<(Target, String)>,
}

type Step = Result<Outcome, Outcome>;

fn probes(ctx: &Ctx) -> Result<&Probes, Outcome> {
    ctx.probes.as_ref().ok_or_else(|| {
        Outcome::skip("the declared routes are judged once per server, with its first resource")
    })
}

fn declared<'a, T>(route: &'a Option<T>, what: &str) -> Result<&'a T, Outcome> {
    route.as_ref().ok_or_else(|| {
        Outcome::skip(format!(
            "no {what} is declared (manifest [probes], or the server command's --*-path options)"
        ))
    })
}

fn method_of(t: &Target) -> Result<reqwest::Method, Outcome> {
    t.method
        .parse()
        .map_err(|_| Outcome::error(format!("bad method {}", t.method)))
}

async fn send_to(
    ctx: &Ctx,
    t: &Target,
    authorization: &[&str],
    extra: &[(&str, &str)],
) -> Result<Answer, Outcome> {
    ctx.request(
        method_of(t)?,
        &t.url(),
        authorization,
        t.body.as_deref(),
        extra,
    )
    .await
    .map_err(transport)
}

/// A challenge of this resource's method in an answer, or why not.
fn payable(ctx: &Ctx, a: &Answer, t: &Target) -> Result<(Challenge, Vec<String>), Outcome> {
    let fields = a.challenge_fields();
    mppconf_suite::codec::challenge::parse_all_lenient(&fields)
        .ok()
        .and_then(|all| {
            all.into_iter().flatten().find(|(c, _)| {
                c.method.eq_ignore_ascii_case(&ctx.method_name)
                    && c.intent.eq_ignore_ascii_case(&ctx.intent)
            })
        })
        .map(|(c, _)| (c, fields))
        .ok_or_else(|| {
            blocked(format!(
                "the declared route {} {} answered {} without a {}/{} challenge to pay",
                t.method, t.path, a.status, ctx.method_name, ctx.intent
            ))
        })
}

/// Pays the declared route `t` (its fresh challenge, with the run's
/// payer) and returns the answer to the credential.
async fn pay_route(ctx: &Ctx, t: &Target, extra: &[(&str, &str)]) -> Result<Answer, Outcome> {
    let unpaid = send_to(ctx, t, &[], extra).await?;
    let (challenge, fields) = payable(ctx, &unpaid, t)?;
    let credential = ctx.pay_for(t, &challenge, &fields).await?;
    send_to(ctx, t, &[&credential.to_header()], extra).await
}

/// The control: the run's payer pays this resource and it is served. A
/// declared route's non-2xx answer to a payment tells something only
/// when payments are accepted at all (else it may be the refusal).
async fn control(ctx: &Ctx) -> Result<(), Outcome> {
    let (_, credential) = super::super::check::valid(ctx).await?;
    let a = ctx
        .send(&[&credential.to_header()], None)
        .await
        .map_err(transport)?;
    if (200..300).contains(&a.status) {
        Ok(())
    } else {
        Err(blocked(format!(
            "a valid payment for this resource was refused ({}), see paid.receipt: a declared route's answer to one proves nothing",
            a.status
        )))
    }
}

fn has_payment_challenge(a: &Answer) -> bool {
    a.challenge_fields()
        .iter()
        .any(|f| f.trim_start().to_ascii_lowercase().starts_with("payment"))
}

/// A valid payment for a route that policy denies gets 403 and no
/// Payment challenge (the payment was valid).
pub async fn denied_403(ctx: &Ctx) -> Step {
    let t = declared(
        &probes(ctx)?.denied,
        "route that policy denies after payment (denied)",
    )?;
    control(ctx).await?;
    let a = pay_route(ctx, t, &[]).await?;
    Ok(if a.status == 403 && !has_payment_challenge(&a) {
        Outcome::pass(format!("{} {}: 403 without a challenge", t.method, t.path))
    } else if (200..300).contains(&a.status) {
        Outcome::fail(
            "403 for the route declared denied",
            format!("{}: access granted (is the declaration right?)", a.status),
        )
    } else {
        Outcome::fail(
            "403 without a Payment challenge",
            format!(
                "{}{}",
                a.status,
                if has_payment_challenge(&a) {
                    " with a Payment challenge"
                } else {
                    ""
                }
            ),
        )
    })
}

/// Receipts only on 2xx: a paid request whose handler fails (the declared
/// failing route), and the denied route's 403, carry none.
pub async fn receipt_only_2xx(ctx: &Ctx) -> Step {
    let p = probes(ctx)?;
    let routes: Vec<&Target> = [p.failing.as_ref(), p.denied.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    if routes.is_empty() {
        return Err(Outcome::skip(
            "no route that fails or denies after payment is declared (manifest [probes] failing or denied, or --failing-path/--denied-path)",
        ));
    }
    control(ctx).await?;
    let mut seen = Vec::new();
    for t in routes {
        let a = pay_route(ctx, t, &[]).await?;
        if (200..300).contains(&a.status) {
            seen.push(format!(
                "{} {}: {} (not judged: it succeeded)",
                t.method, t.path, a.status
            ));
            continue;
        }
        if let Some(r) = a.header("payment-receipt") {
            return Ok(Outcome::fail(
                "no Payment-Receipt on a non-2xx answer",
                format!(
                    "{} {} answered {} with Payment-Receipt {r}",
                    t.method, t.path, a.status
                ),
            ));
        }
        seen.push(format!(
            "{} {}: {} without a receipt",
            t.method, t.path, a.status
        ));
    }
    if seen
        .iter()
        .all(|s| s.ends_with("(not judged: it succeeded)"))
    {
        return Err(blocked(format!(
            "every declared failing or denied route succeeded after payment: {}",
            seen.join("; ")
        )));
    }
    Ok(Outcome::pass(seen.join("; ")))
}

async fn oracle(ctx: &Ctx, url: &str) -> Result<String, Outcome> {
    let a = ctx
        .request(reqwest::Method::GET, url, &[], None, &[])
        .await
        .map_err(transport)?;
    if !(200..300).contains(&a.status) {
        return Err(Outcome::error(format!(
            "the declared state oracle {url} answered {}",
            a.status
        )));
    }
    Ok(a.body)
}

/// No side effect for an unpaid request, nor for one whose credential is
/// refused; the oracle must show the side effect of a paid one (else it
/// observes nothing, and the check is `blocked`).
pub async fn no_unpaid_side_effects(ctx: &Ctx) -> Step {
    let (t, url) = declared(
        &probes(ctx)?.side_effect,
        "route with a side effect and its state oracle (side_effect)",
    )?;
    let before = oracle(ctx, url).await?;
    let unpaid = send_to(ctx, t, &[], &[]).await?;
    let (challenge, _) = payable(ctx, &unpaid, t)?;
    // A credential that echoes the fresh challenge with a payload no
    // method accepts: refused on verification.
    let bogus = mppconf_suite::codec::Credential {
        challenge: mppconf_suite::codec::EchoedChallenge::echo_of(&challenge),
        payload: [("type".to_string(), "mppconf-bogus".into())]
            .into_iter()
            .collect(),
        source: None,
        unknown: Default::default(),
    };
    let refused = send_to(ctx, t, &[&bogus.to_header()], &[]).await?;
    let after_unpaid = oracle(ctx, url).await?;
    if after_unpaid != before {
        return Ok(Outcome::fail(
            "the state oracle unchanged by an unpaid request and a refused credential",
            format!(
                "{url} said {:?}, then {:?} after a {} and a {}",
                before.trim(),
                after_unpaid.trim(),
                unpaid.status,
                refused.status
            ),
        ));
    }
    let paid = pay_route(ctx, t, &[]).await?;
    let after_paid = oracle(ctx, url).await?;
    if after_paid == after_unpaid {
        return Err(blocked(format!(
            "the state oracle {url} did not change after a paid request ({}): it does not observe the route's side effect, so its stillness proves nothing",
            paid.status
        )));
    }
    Ok(Outcome::pass(format!(
        "{url}: {:?} before and after an unpaid request ({}) and a refused credential ({}); {:?} after a paid one",
        before.trim(),
        unpaid.status,
        refused.status,
        after_paid.trim()
    )))
}

/// Authentication first: without it 401, not 402; with it, a Payment
/// challenge.
pub async fn auth_before_payment(ctx: &Ctx) -> Step {
    let (t, header) = declared(
        &probes(ctx)?.authenticated,
        "route that needs authentication and payment (authenticated)",
    )?;
    let (name, value) = header.split_once(':').unwrap_or((header.as_str(), ""));
    let anonymous = send_to(ctx, t, &[], &[]).await?;
    let signed_in = send_to(ctx, t, &[], &[(name.trim(), value.trim())]).await?;
    if !has_payment_challenge(&signed_in) {
        return Err(blocked(format!(
            "with the declared authentication header the route answered {} without a Payment challenge: the declaration does not reach the payment step",
            signed_in.status
        )));
    }
    Ok(
        if anonymous.status == 401 && !has_payment_challenge(&anonymous) {
            Outcome::pass(format!(
                "401 without authentication, 402 with a challenge once authenticated ({})",
                signed_in.status
            ))
        } else {
            Outcome::fail(
                "401 (and no Payment challenge) before authentication",
                format!(
                    "{}{}",
                    anonymous.status,
                    if has_payment_challenge(&anonymous) {
                        " with a Payment challenge"
                    } else {
                        ""
                    }
                ),
            )
        },
    )
}
