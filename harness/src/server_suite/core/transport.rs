//! draft-httpauth-payment-00 §"Transport Security": challenges and
//! credentials only over TLS 1.2 or later (1.3 recommended), never over
//! plain HTTP.
//!
//! The draft has no exception for loopback or development
//! (ambiguity.tls-loopback). Its resolution, kept here: a target served
//! over plain HTTP on a loopback address gets `info` (the run cannot judge
//! TLS: give an https URL and `--ca-cert`, or serve the manifest's
//! `{tls_cert}`), one on any other address fails. Over HTTPS, the harness
//! also knocks on the same port in plain HTTP: a Payment challenge there
//! fails, and a paid credential accepted there warns.

use mppconf_suite::vectors::Verdict;

use super::super::check::{transport, valid};
use super::super::{Answer, Ctx, Outcome};

type Step = Result<Outcome, Outcome>;

/// How the target is reached.
pub(crate) enum Scheme {
    Tls,
    PlainLoopback,
    PlainRemote,
}

pub(crate) fn scheme(ctx: &Ctx) -> Scheme {
    let Ok(url) = reqwest::Url::parse(&ctx.target.url()) else {
        return Scheme::PlainRemote;
    };
    if url.scheme() == "https" {
        return Scheme::Tls;
    }
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Scheme::PlainLoopback
    } else {
        Scheme::PlainRemote
    }
}

pub(crate) fn loopback_info(what: &str) -> Outcome {
    Outcome {
        verdict: Verdict::Info,
        detail: format!(
            "the target is plain http on a loopback address, so {what} cannot be judged (ambiguity.tls-loopback: the draft makes no loopback exception; local runs commonly use plain http). Serve it over https and give --ca-cert, or a manifest base_url \"https://…\" with {{tls_cert}}/{{tls_key}}"
        ),
    }
}

/// The resource's URL in plain HTTP on the same host and port.
fn plain_url(ctx: &Ctx) -> Option<String> {
    let mut url = reqwest::Url::parse(&ctx.target.url()).ok()?;
    let port = url.port_or_known_default()?;
    url.set_scheme("http").ok()?;
    url.set_port(Some(port)).ok()?;
    Some(url.to_string())
}

fn method(ctx: &Ctx) -> Result<reqwest::Method, Outcome> {
    ctx.target
        .method
        .parse()
        .map_err(|_| Outcome::error(format!("bad method {}", ctx.target.method)))
}

/// Challenges are served over TLS (REQUIRED: 1.2 or later; the harness's
/// client speaks nothing older, so any completed exchange is 1.2+).
pub async fn over_tls(ctx: &Ctx) -> Step {
    match scheme(ctx) {
        Scheme::Tls => {
            let a = ctx.send(&[], None).await.map_err(transport)?;
            Ok(Outcome::pass(format!(
                "answered {} over TLS (1.2 or later)",
                a.status
            )))
        }
        Scheme::PlainLoopback => {
            ctx.send(&[], None).await.map_err(transport)?;
            Ok(loopback_info("TLS"))
        }
        Scheme::PlainRemote => Ok(Outcome::fail(
            "Payment challenges served over TLS 1.2 or later",
            format!("the resource is plain http: {}", ctx.target.url()),
        )),
    }
}

/// TLS 1.3 is RECOMMENDED: a client that offers only 1.3 gets an answer.
pub async fn tls13(ctx: &Ctx) -> Step {
    if !matches!(scheme(ctx), Scheme::Tls) {
        return Ok(Outcome::skip(
            "the target is plain http: no TLS version to judge (see transport.tls)",
        ));
    }
    let only_13 = crate::tls::http_client(ctx.target.ca.as_ref())
        .tls_version_min(reqwest::tls::Version::TLS_1_3)
        .build()
        .map_err(|e| Outcome::error(format!("a TLS 1.3 client: {e}")))?;
    // The target answered over TLS before (transport.tls): a refusal
    // now is the refusal of TLS 1.3, the finding, not a lost answer.
    ctx.send(&[], None).await.map_err(transport)?;
    ctx.judge_refusals();
    Ok(
        match ctx
            .request_on(&only_13, method(ctx)?, &ctx.target.url(), &[], None, &[])
            .await
        {
            Ok(a) => Outcome::pass(format!("answered {} to a TLS 1.3-only client", a.status)),
            Err(e) => Outcome::fail("a TLS 1.3 handshake", e),
        },
    )
}

/// A Payment challenge in a plain-HTTP answer, if any.
fn challenge_in(a: &Answer) -> Option<String> {
    a.challenge_fields()
        .into_iter()
        .find(|f| f.trim_start().to_ascii_lowercase().starts_with("payment"))
}

/// No Payment challenge over plain HTTP (MUST NOT): on a TLS target, the
/// same port spoken to in plain HTTP.
pub async fn no_challenge_over_http(ctx: &Ctx) -> Step {
    match scheme(ctx) {
        Scheme::PlainLoopback => {
            ctx.send(&[], None).await.map_err(transport)?;
            return Ok(loopback_info("plain-HTTP challenges"));
        }
        Scheme::PlainRemote => {
            let a = ctx.send(&[], None).await.map_err(transport)?;
            return Ok(match challenge_in(&a) {
                Some(c) => Outcome::fail(
                    "no Payment challenge over plain http",
                    format!("{} over plain http with {c}", a.status),
                ),
                None => Outcome::pass(format!("{} over plain http, no challenge", a.status)),
            });
        }
        Scheme::Tls => {}
    }
    let url = plain_url(ctx).ok_or_else(|| Outcome::error("no plain-http form of the URL"))?;
    Ok(
        match ctx.request(method(ctx)?, &url, &[], None, &[]).await {
            Err(e) => Outcome::pass(format!("no HTTP answer over plain http at {url} ({e})")),
            Ok(a) => match challenge_in(&a) {
                Some(c) => Outcome::fail(
                    "no Payment challenge over plain http",
                    format!("{url} answered {} with {c}", a.status),
                ),
                None => Outcome::pass(format!(
                    "{url} answered {} without a Payment challenge",
                    a.status
                )),
            },
        },
    )
}

/// A valid credential sent over plain HTTP is refused (SHOULD).
pub async fn plain_http_credential_refused(ctx: &Ctx) -> Step {
    let url = match scheme(ctx) {
        Scheme::PlainLoopback => {
            ctx.send(&[], None).await.map_err(transport)?;
            return Ok(loopback_info("refusing plain-HTTP credentials"));
        }
        Scheme::PlainRemote => ctx.target.url(),
        Scheme::Tls => {
            plain_url(ctx).ok_or_else(|| Outcome::error("no plain-http form of the URL"))?
        }
    };
    let (_, credential) = valid(ctx).await?;
    let header = credential.to_header();
    let body = ctx.target.body.clone();
    Ok(
        match ctx
            .request(method(ctx)?, &url, &[&header], body.as_deref(), &[])
            .await
        {
            Err(e) => Outcome::pass(format!("no HTTP answer over plain http at {url} ({e})")),
            Ok(a) if (200..300).contains(&a.status) => Outcome::fail(
                "a valid credential over plain http refused",
                format!("{url} accepted it: {}", a.status),
            ),
            Ok(a) => Outcome::pass(format!("{url} did not accept the credential: {}", a.status)),
        },
    )
}
