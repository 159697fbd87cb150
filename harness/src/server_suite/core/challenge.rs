//! draft-httpauth-payment-00 §"402 Payment Required" to §"Caching", §"Accept-Payment": the unpaid answer and its challenges.
//!
//! What a server must send before any payment: a 402 with a well-formed
//! Payment challenge (id, realm, method, request, expires), a fresh one
//! each time, not cached, with problem details; no 402 for what does not
//! exist; a challenge whatever the client's `Accept-Payment` says.

use mppconf_suite::codec::{ProblemType, base64url, rfc3339};

use super::super::check::{fresh_ids, param, raw_params, transport, unpaid, unpaid_challenge};
use super::super::{Ctx, Outcome};

type Step = Result<Outcome, Outcome>;

pub async fn unpaid_is_402(ctx: &Ctx) -> Step {
    let a = unpaid(ctx).await?;
    let challenges = a.challenges();
    Ok(if a.status != 402 {
        Outcome::fail("402 for an unpaid request", a.status)
    } else if challenges.is_empty() {
        Outcome::fail(
            "at least one Payment challenge in WWW-Authenticate",
            format!("{:?}", a.challenge_fields()),
        )
    } else {
        Outcome::pass(format!(
            "402 with {} Payment challenge(s)",
            challenges.len()
        ))
    })
}

pub async fn id_non_empty(ctx: &Ctx) -> Step {
    Ok(match param(&raw_params(ctx).await?, "id") {
        Some(id) if !id.is_empty() => Outcome::pass(format!("id {id}")),
        other => Outcome::fail("a non-empty id", format!("{other:?}")),
    })
}

pub async fn realm_present(ctx: &Ctx) -> Step {
    Ok(match param(&raw_params(ctx).await?, "realm") {
        Some(r) => Outcome::pass(format!("realm {r:?}")),
        None => Outcome::fail("a realm parameter", "none"),
    })
}

/// The realm is the server's, whatever the request target says: a
/// request for `//evil.example/paid` (a target a URL parser reads as
/// another host) with the usual `Host` must not get
/// `realm="evil.example"`, or a client is asked to pay in another
/// protection space than the server's.
pub async fn realm_not_from_request_target(ctx: &Ctx) -> Step {
    const EVIL: &str = "mppconf-evil.example";
    // A server that issues no challenge at all has no realm to judge.
    raw_params(ctx).await?;
    let method: reqwest::Method = ctx
        .target
        .method
        .parse()
        .map_err(|_| Outcome::error(format!("bad method {}", ctx.target.method)))?;
    let mut seen = Vec::new();
    for prefix in ["//", "///"] {
        let url = format!("{}{prefix}{EVIL}{}", ctx.target.base_url, ctx.target.path);
        let a = ctx
            .request(method.clone(), &url, &[], ctx.target.body.as_deref(), &[])
            .await
            .map_err(transport)?;
        let realm =
            super::super::first_raw_params(&a).and_then(|p| param(&p, "realm").map(str::to_string));
        if let Some(r) = realm.as_deref().filter(|r| r.contains(EVIL)) {
            return Ok(Outcome::fail(
                "the server's own realm, whatever the request target",
                format!(
                    "realm {r:?} for the request target {prefix}{EVIL}{}",
                    ctx.target.path
                ),
            ));
        }
        seen.push(format!("{prefix}{EVIL}: {} {:?}", a.status, realm));
    }
    Ok(Outcome::pass(format!(
        "the realm does not follow the request target ({})",
        seen.join("; ")
    )))
}

pub async fn method_lowercase(ctx: &Ctx) -> Step {
    Ok(match param(&raw_params(ctx).await?, "method") {
        Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_lowercase()) => Outcome::pass(m),
        other => Outcome::fail("method of lowercase letters", format!("{other:?}")),
    })
}

pub async fn request_unpadded(ctx: &Ctx) -> Step {
    Ok(match param(&raw_params(ctx).await?, "request") {
        Some(r) if r.contains('=') => Outcome::fail("request without = padding", r),
        Some(_) => Outcome::pass("no padding"),
        None => Outcome::fail("a request parameter", "none"),
    })
}

pub async fn request_jcs(ctx: &Ctx) -> Step {
    let params = raw_params(ctx).await?;
    let Some(wire) = param(&params, "request") else {
        return Ok(Outcome::fail("a request parameter", "none"));
    };
    let text = base64url::decode_text("request", wire.trim_end_matches('='))
        .map_err(|e| Outcome::fail("base64url request", e))?;
    Ok(match mppconf_suite::codec::json::canonicalize_text(&text) {
        Ok(canonical) if canonical == text => Outcome::pass("request is JCS"),
        Ok(canonical) => Outcome::fail(format!("JCS text {canonical}"), text),
        Err(e) => Outcome::fail("request JSON", e),
    })
}

pub async fn expires_present(ctx: &Ctx) -> Step {
    let params = raw_params(ctx).await?;
    Ok(match param(&params, "expires") {
        None => Outcome::fail("an expires parameter", "none"),
        Some(e) => match rfc3339::parse("expires", e) {
            Ok(_) => Outcome::pass(e),
            Err(err) => Outcome::fail("an RFC 3339 date-time", err),
        },
    })
}

pub async fn no_store(ctx: &Ctx) -> Step {
    let a = unpaid(ctx).await?;
    let cc = a
        .header("cache-control")
        .unwrap_or_default()
        .to_ascii_lowercase();
    Ok(if cc.split(',').any(|d| d.trim() == "no-store") {
        Outcome::pass(format!("Cache-Control: {cc}"))
    } else {
        Outcome::fail(
            "Cache-Control: no-store on a 402",
            format!("{:?}", a.header("cache-control")),
        )
    })
}

pub async fn problem_details(ctx: &Ctx) -> Step {
    let a = unpaid(ctx).await?;
    Ok(match a.problem() {
        Some(p) if p.problem_type() == Some(ProblemType::PaymentRequired) => {
            Outcome::pass(p.type_uri)
        }
        Some(p) => Outcome::fail(ProblemType::PaymentRequired.uri(), p.type_uri),
        None => Outcome::fail(
            "a problem+json body",
            format!("{:?}", a.body.chars().take(200).collect::<String>()),
        ),
    })
}

pub async fn fresh_challenge_per_402(ctx: &Ctx) -> Step {
    let (_, first) = unpaid_challenge(ctx).await?;
    let (_, second) = unpaid_challenge(ctx).await?;
    fresh_ids(first, second, |c| c.id.as_str(), async {
        Ok(unpaid_challenge(ctx).await?.1)
    })
    .await
}

pub async fn unknown_resource_not_402(ctx: &Ctx) -> Step {
    let url = format!(
        "{}/mppconf-no-such-resource-{}",
        ctx.target.base_url,
        std::process::id()
    );
    let a = ctx
        .request(reqwest::Method::GET, &url, &[], None, &[])
        .await
        .map_err(transport)?;
    Ok(if a.status == 402 {
        Outcome::fail("404 (not 402) for a resource that does not exist", 402)
    } else {
        Outcome::pass(format!("{}", a.status))
    })
}

/// With `Accept-Payment: value` the server still answers 402 with a
/// challenge. `value` may name the resource's own method and intent
/// (`{method}/{intent}`).
pub async fn accept_payment_still_402(ctx: &Ctx, value: &str) -> Step {
    let value = value
        .replace("{method}", &ctx.method_name)
        .replace("{intent}", &ctx.intent);
    let a = ctx
        .send_with(&[], None, &[("accept-payment", &value)])
        .await
        .map_err(transport)?;
    Ok(if a.status == 402 && !a.challenges().is_empty() {
        Outcome::pass(format!("402 with a challenge for Accept-Payment: {value}"))
    } else {
        Outcome::fail(
            format!("402 with at least one Payment challenge for Accept-Payment: {value}"),
            format!("{} with {} challenge(s)", a.status, a.challenges().len()),
        )
    })
}

/// §"Character Encoding": the realm is ASCII (RFC 9110 header values;
/// a non-ASCII realm is read differently by different clients).
pub async fn realm_ascii(ctx: &Ctx) -> Step {
    Ok(match param(&raw_params(ctx).await?, "realm") {
        Some(r) if r.is_ascii() => Outcome::pass(format!("realm {r:?} is ASCII")),
        Some(r) => Outcome::fail("an ASCII-only realm", format!("realm {r:?}")),
        None => Outcome::skip("no realm, see challenge.realm-present"),
    })
}

/// §"Size Considerations": each challenge under 8 KB, measured as the
/// `WWW-Authenticate` field value that carries it (a field with several
/// challenges counts as their sum, which a client must read in one go).
pub async fn under_8kb(ctx: &Ctx) -> Step {
    let (answer, _) = unpaid_challenge(ctx).await?;
    let sizes: Vec<usize> = answer.challenge_fields().iter().map(|f| f.len()).collect();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    Ok(if largest < 8192 {
        Outcome::pass(format!("challenge field(s) of {sizes:?} bytes"))
    } else {
        Outcome::fail(
            "a challenge under 8 KB (8192 bytes)",
            format!("a WWW-Authenticate Payment field of {largest} bytes"),
        )
    })
}

/// §"Status Codes": error details go in the problem details body, not
/// in auth-params of the challenge (`error`, `error_description`,
/// `error_uri` as RFC 6750 has them): on the unpaid answer and on the
/// refusal of a malformed credential.
pub async fn errors_not_in_challenge(ctx: &Ctx) -> Step {
    const ERROR_PARAMS: [&str; 3] = ["error", "error_description", "error_uri"];
    let mut seen = Vec::new();
    for header in [None, Some("Payment e30")] {
        let a = ctx.send(header.as_slice(), None).await.map_err(transport)?;
        let Some(params) = super::super::first_raw_params(&a) else {
            continue;
        };
        for (name, value) in params {
            if ERROR_PARAMS.contains(&name.to_ascii_lowercase().as_str()) {
                seen.push(format!("{name}={value:?} on the {} answer", a.status));
            }
        }
    }
    Ok(if seen.is_empty() {
        Outcome::pass("no error auth-params in the challenges of the unpaid and refused answers")
    } else {
        Outcome::fail(
            "error details in the problem details body, not in WWW-Authenticate parameters",
            seen.join("; "),
        )
    })
}

/// §"Recommended: HMAC-SHA256 Binding": with the server's secret known
/// (a manifest's `{secret}`, `--secret`), each challenge id is checked
/// to be the HMAC over its seven slots. Another binding is allowed
/// (core.binding.mechanism-may), hence SHOULD.
pub async fn id_is_hmac(ctx: &Ctx) -> Step {
    let Some(secret) = &ctx.hmac_secret else {
        return Ok(Outcome::skip(
            "the server's challenge-binding secret is not known (give --secret, or start the server from a manifest with {secret})",
        ));
    };
    let (_, c) = unpaid_challenge(ctx).await?;
    let slots = mppconf_suite::codec::BindingSlots::of(&c, ctx.core);
    let want = slots.challenge_id(secret);
    let with_header = slots.header.is_some();
    Ok(if want == c.id {
        Outcome::pass(format!(
            "id {} is HMAC-SHA256(secret, {})",
            c.id,
            if with_header {
                "realm|method|intent|request|expires|digest|header|opaque"
            } else {
                "realm|method|intent|request|expires|digest|opaque"
            }
        ))
    } else if with_header && slots.challenge_id_text_order(secret) == c.id {
        // ambiguity.header-slot-order: the pinned -01 text's order.
        Outcome::pass(format!(
            "id {} is HMAC-SHA256(secret, realm|method|intent|request|expires|digest|opaque|header): the pinned draft-httpauth-payment-01 text's slot order; mpp-specs #362 and the SDKs put header before opaque",
            c.id
        ))
    } else {
        let header_slot = if c.header().is_some() && !ctx.core.has_header_param() {
            " (the challenge has a `header` parameter: draft-httpauth-payment-01 adds it as an eighth slot; judge with --core draft-httpauth-payment-01)"
        } else {
            ""
        };
        Outcome::fail(
            format!("id {want} (the recommended HMAC over the seven slots with the given secret)"),
            format!("id {}{header_slot}", c.id),
        )
    })
}
