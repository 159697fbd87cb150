//! draft-payment-discovery-00 §"OpenAPI Discovery": the server's discovery document, and whether its offers are the challenges it issues.
//!
//! Discovery is OPTIONAL: a server without a document at `/openapi.json`
//! gets `skip` from every check here, saying so, unless its manifest
//! (`[probes] discovery`) or `--discovery-path` declares one; then a
//! missing document fails. The document-wide checks run once per server,
//! with its first resource; the checks of one operation (listed, offers,
//! input schema) run for every resource, against that resource's own
//! live 402. The document is read by `oas3` and its extensions by the
//! draft's appendix schemas ([`mppconf_suite::discovery`]).

use mppconf_suite::discovery::{
    DOCUMENT_PATH, Document, Form, Operation, PaymentInfo, offer_matches, service_info_problems,
    unstyled_categories,
};

use super::check::{blocked, transport};
use super::core::transport::{Scheme, loopback_info, scheme};
use super::{Answer, Check, Ctx, Outcome};
use crate::server_check as check;

type Step = Result<Outcome, Outcome>;

/// The discovery checks, in run order.
pub const CHECKS: &[Check] = &[
    check!(
        "discovery.location",
        [
            "discovery.location.openapi-json",
            "discovery.openapi.publish"
        ],
        false,
        |ctx| location(ctx)
    ),
    check!(
        "discovery.content-type",
        ["discovery.location.https-json"],
        false,
        |ctx| content_type(ctx)
    ),
    check!(
        "discovery.https",
        ["discovery.location.https-json"],
        false,
        |ctx| https(ctx)
    ),
    check!(
        "discovery.fields",
        ["discovery.fields.required", "discovery.openapi.publish"],
        false,
        |ctx| fields(ctx)
    ),
    check!(
        "discovery.service-info",
        [
            "discovery.categories.array",
            "discovery.docs.object",
            "discovery.docs.uri"
        ],
        false,
        |ctx| service_info(ctx)
    ),
    check!(
        "discovery.categories-style",
        ["discovery.categories.style"],
        true,
        |ctx| categories_style(ctx)
    ),
    check!(
        "discovery.payment-info-schema",
        [
            "discovery.offer.required-fields",
            "discovery.offer.amount-digits"
        ],
        false,
        |ctx| payment_info_schema(ctx)
    ),
    check!(
        "discovery.multi-offer-form",
        ["discovery.payment-info.multi-offer"],
        true,
        |ctx| multi_offer_form(ctx)
    ),
    check!(
        "discovery.402-declared",
        ["discovery.payable.402-declared"],
        false,
        |ctx| declares_402(ctx)
    ),
    check!(
        "discovery.cache-control",
        ["discovery.caching.cache-control"],
        true,
        |ctx| cache_control(ctx)
    ),
    check!(
        "discovery.resource-listed",
        [
            "discovery.payment-info.on-operation",
            "discovery.openapi.publish"
        ],
        false,
        |ctx| resource_listed(ctx)
    ),
    check!(
        "discovery.offers-match-challenge",
        ["discovery.offer.correspond-challenges"],
        false,
        |ctx| offers_match_challenge(ctx)
    ),
    check!(
        "discovery.input-schema",
        ["discovery.input.request-body"],
        true,
        |ctx| input_schema(ctx)
    ),
];

/// The path the document is fetched from: the declared one, or
/// §"Document Location"'s.
fn document_path(ctx: &Ctx) -> &str {
    ctx.discovery.as_deref().unwrap_or(DOCUMENT_PATH)
}

/// GETs the document. No document where none is declared ends the check
/// with `skip` (discovery is OPTIONAL); where one is declared, with `fail`.
async fn fetch(ctx: &Ctx, path: &str) -> Result<Answer, Outcome> {
    let answer = get(ctx, path).await?;
    match (is_document(&answer), ctx.discovery.is_some()) {
        (true, _) => Ok(answer),
        (false, false) => Err(Outcome::skip(format!(
            "no discovery document at {path} (answered {}{}): discovery is OPTIONAL (draft-payment-discovery-00 §\"Introduction\"); declare it ([probes] discovery in the manifest, or --discovery-path) to have its absence fail",
            answer.status,
            if (200..300).contains(&answer.status) {
                ", not an OpenAPI document"
            } else {
                ""
            }
        ))),
        (false, true) => Err(Outcome::fail(
            format!("the declared discovery document at {path}: 2xx, an OpenAPI document"),
            format!(
                "{} {}",
                answer.status,
                answer.body.chars().take(200).collect::<String>()
            ),
        )),
    }
}

/// GET of a path of the server.
async fn get(ctx: &Ctx, path: &str) -> Result<Answer, Outcome> {
    let url = format!("{}{}", ctx.target.base_url.trim_end_matches('/'), path);
    ctx.request(reqwest::Method::GET, &url, &[], None, &[])
        .await
        .map_err(transport)
}

/// A 2xx answer whose body is JSON with an `openapi` member.
fn is_document(answer: &Answer) -> bool {
    (200..300).contains(&answer.status)
        && serde_json::from_str::<serde_json::Value>(&answer.body)
            .is_ok_and(|v| v.get("openapi").is_some())
}

/// The document, read; a document that does not read blocks the check
/// (discovery.fields says why).
async fn document(ctx: &Ctx) -> Result<(Answer, Document), Outcome> {
    let answer = fetch(ctx, document_path(ctx)).await?;
    let doc = Document::parse(&answer.body).map_err(|e| {
        blocked(format!(
            "the discovery document does not read ({e}): see discovery.fields"
        ))
    })?;
    Ok((answer, doc))
}

/// The document-wide checks run once per server, with its first
/// resource.
fn once_per_server(ctx: &Ctx) -> Result<(), Outcome> {
    if ctx.first_resource {
        Ok(())
    } else {
        Err(Outcome::skip(
            "the discovery document is judged once per server, with its first resource",
        ))
    }
}

/// "The OpenAPI document MUST be accessible at: GET /openapi.json".
pub async fn location(ctx: &Ctx) -> Step {
    once_per_server(ctx)?;
    let declared = document_path(ctx);
    if declared != DOCUMENT_PATH {
        fetch(ctx, declared).await?;
        let standard = get(ctx, DOCUMENT_PATH).await?;
        return Ok(if is_document(&standard) {
            Outcome::pass(format!(
                "the document is at {DOCUMENT_PATH} (and at the declared {declared})"
            ))
        } else {
            Outcome::fail(
                format!("the document at GET {DOCUMENT_PATH}"),
                format!(
                    "only at {declared}; GET {DOCUMENT_PATH} answered {}",
                    standard.status
                ),
            )
        });
    }
    let answer = fetch(ctx, DOCUMENT_PATH).await?;
    Ok(Outcome::pass(format!(
        "GET {DOCUMENT_PATH}: {} with an OpenAPI document",
        answer.status
    )))
}

/// "served … with `Content-Type: application/json`" (parameters such as
/// `charset` allowed: RFC 9110 §8.3.1).
pub async fn content_type(ctx: &Ctx) -> Step {
    once_per_server(ctx)?;
    let answer = fetch(ctx, document_path(ctx)).await?;
    let value = answer.header("content-type").unwrap_or_default();
    let media = value.split(';').next().unwrap_or_default().trim();
    Ok(if media.eq_ignore_ascii_case("application/json") {
        Outcome::pass(format!("Content-Type: {value}"))
    } else {
        Outcome::fail(
            "Content-Type: application/json",
            if value.is_empty() { "none" } else { value },
        )
    })
}

/// "The document MUST be served over HTTPS".
pub async fn https(ctx: &Ctx) -> Step {
    once_per_server(ctx)?;
    fetch(ctx, document_path(ctx)).await?;
    Ok(match scheme(ctx) {
        Scheme::Tls => Outcome::pass("served over HTTPS"),
        Scheme::PlainLoopback => loopback_info("serving the discovery document over HTTPS"),
        Scheme::PlainRemote => Outcome::fail(
            "the discovery document over HTTPS",
            format!("plain http: {}", ctx.target.base_url),
        ),
    })
}

/// §"Required Top-Level Fields", read by oas3.
pub async fn fields(ctx: &Ctx) -> Step {
    once_per_server(ctx)?;
    let answer = fetch(ctx, document_path(ctx)).await?;
    let doc = match Document::parse(&answer.body) {
        Ok(d) => d,
        Err(e) => return Ok(Outcome::fail("an OpenAPI 3.x document", e)),
    };
    let problems = doc.required_field_problems();
    Ok(if problems.is_empty() {
        Outcome::pass(format!(
            "OpenAPI {}, {:?} version {:?}, {} operation(s)",
            doc.spec.openapi,
            doc.spec.info.title,
            doc.spec.info.version,
            doc.operations().len()
        ))
    } else {
        Outcome::fail(
            "openapi, info.title, info.version and a path with an operation",
            join(&problems),
        )
    })
}

fn join(errors: &[mppconf_suite::Error]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// `x-service-info`: its schema, categories, docs and their URIs.
pub async fn service_info(ctx: &Ctx) -> Step {
    once_per_server(ctx)?;
    let (_, doc) = document(ctx).await?;
    let Some(info) = doc.service_info() else {
        return Ok(Outcome::skip("the document has no x-service-info (it MAY)"));
    };
    let problems = service_info_problems(info);
    Ok(if problems.is_empty() {
        Outcome::pass(format!("x-service-info: {info}"))
    } else {
        Outcome::fail(
            "x-service-info as draft-payment-discovery-00 defines it",
            join(&problems),
        )
    })
}

/// Category values: lowercase, hyphenated (a SHOULD).
pub async fn categories_style(ctx: &Ctx) -> Step {
    once_per_server(ctx)?;
    let (_, doc) = document(ctx).await?;
    let Some(categories) = doc.service_info().and_then(|i| i.get("categories")) else {
        return Ok(Outcome::skip("the document names no categories"));
    };
    let odd = unstyled_categories(doc.service_info().unwrap_or(&serde_json::Value::Null));
    Ok(if odd.is_empty() {
        Outcome::pass(format!("categories {categories}"))
    } else {
        Outcome::fail(
            "lowercase categories, hyphens between words",
            format!("{odd:?}"),
        )
    })
}

/// The operations that carry `x-payment-info`; none ends the check
/// (discovery.resource-listed judges that).
fn payable(doc: &Document) -> Result<Vec<Operation>, Outcome> {
    let ops: Vec<Operation> = doc
        .operations()
        .into_iter()
        .filter(|o| o.payment_info.is_some())
        .collect();
    if ops.is_empty() {
        return Err(Outcome::skip(
            "no operation of the document has x-payment-info (see discovery.resource-listed)",
        ));
    }
    Ok(ops)
}

/// Every `x-payment-info` against the draft's appendix schema.
pub async fn payment_info_schema(ctx: &Ctx) -> Step {
    once_per_server(ctx)?;
    let (_, doc) = document(ctx).await?;
    let ops = payable(&doc)?;
    let problems: Vec<String> = ops
        .iter()
        .filter_map(|o| {
            let value = o.payment_info.as_ref()?;
            PaymentInfo::from_value(value, &o.pointer()).err()
        })
        .map(|e| e.to_string())
        .collect();
    Ok(if problems.is_empty() {
        Outcome::pass(format!(
            "{} x-payment-info object(s) valid against the appendix schema",
            ops.len()
        ))
    } else {
        Outcome::fail(
            "every x-payment-info valid against the appendix schema",
            problems.join("; "),
        )
    })
}

/// "Servers publishing new discovery documents SHOULD use the multi-offer
/// form."
pub async fn multi_offer_form(ctx: &Ctx) -> Step {
    once_per_server(ctx)?;
    let (_, doc) = document(ctx).await?;
    let ops = payable(&doc)?;
    let shorthand: Vec<String> = ops
        .iter()
        .filter(|o| {
            o.payment_info
                .as_ref()
                .and_then(|v| PaymentInfo::from_value(v, "").ok())
                .is_some_and(|p| p.form == Form::Shorthand)
        })
        .map(|o| format!("{} {}", o.method, o.path))
        .collect();
    Ok(if shorthand.is_empty() {
        Outcome::pass(format!("{} operation(s), none in the shorthand", ops.len()))
    } else {
        Outcome::fail(
            "the multi-offer form (offers: [...])",
            format!("the shorthand on {}", shorthand.join(", ")),
        )
    })
}

/// "Each payable operation MUST include a `402` response".
pub async fn declares_402(ctx: &Ctx) -> Step {
    once_per_server(ctx)?;
    let (_, doc) = document(ctx).await?;
    let ops = payable(&doc)?;
    let missing: Vec<String> = ops
        .iter()
        .filter(|o| !o.declares_402)
        .map(|o| format!("{} {}", o.method, o.path))
        .collect();
    Ok(if missing.is_empty() {
        Outcome::pass(format!(
            "all {} payable operation(s) declare 402",
            ops.len()
        ))
    } else {
        Outcome::fail(
            "a \"402\" response on every payable operation",
            format!("none on {}", missing.join(", ")),
        )
    })
}

/// "Servers SHOULD include `Cache-Control` headers" (the max-age it
/// RECOMMENDS is for services whose capabilities change rarely: shown,
/// not judged).
pub async fn cache_control(ctx: &Ctx) -> Step {
    once_per_server(ctx)?;
    let answer = fetch(ctx, document_path(ctx)).await?;
    Ok(match answer.header("cache-control") {
        Some(v) => Outcome::pass(format!("Cache-Control: {v}")),
        None => Outcome::fail("Cache-Control on the discovery document", "none"),
    })
}

/// The operation that describes this resource, if the document lists it.
fn operation_of(ctx: &Ctx, doc: &Document) -> Option<Operation> {
    doc.operations()
        .into_iter()
        .find(|o| o.matches(&ctx.target.method, &ctx.target.path))
}

/// The resource answered 402: it is payable, so the document lists it
/// with `x-payment-info`.
pub async fn resource_listed(ctx: &Ctx) -> Step {
    let (_, doc) = document(ctx).await?;
    let subject = format!("{} {}", ctx.target.method, ctx.target.path);
    Ok(match operation_of(ctx, &doc) {
        Some(o) if o.payment_info.is_some() => Outcome::pass(format!(
            "{subject} is {} {} with x-payment-info",
            o.method, o.path
        )),
        Some(o) if !offer_intent(&ctx.intent) => Outcome::skip(format!(
            "{} {} has no x-payment-info: {}",
            o.method,
            o.path,
            undeclarable(&ctx.intent)
        )),
        Some(o) => Outcome::fail(
            format!(
                "x-payment-info on {} {}, a payable operation (it answers 402)",
                o.method, o.path
            ),
            "the operation has none",
        ),
        None => Outcome::fail(
            format!("{subject}, a payable operation (it answers 402), in the document"),
            "no path and method of the document matches it",
        ),
    })
}

/// Whether an offer can name `intent`: the Payment Offer Object's is
/// "charge" or "session".
fn offer_intent(intent: &str) -> bool {
    ["charge", "session"].contains(&intent)
}

/// Why an operation of `intent` cannot be declared.
fn undeclarable(intent: &str) -> String {
    format!(
        "its intent {intent:?} is none an offer can name (\"charge\" or \"session\"), so it cannot be declared (ambiguity.discovery-intent-closed)"
    )
}

/// Each declared offer of this resource is one of the challenges its 402
/// carries (ambiguity.discovery-offer-drift): method, intent, currency,
/// and amount unless the offer's is null.
pub async fn offers_match_challenge(ctx: &Ctx) -> Step {
    let (_, doc) = document(ctx).await?;
    let Some(op) = operation_of(ctx, &doc) else {
        return Err(blocked(
            "the document does not list this resource: see discovery.resource-listed",
        ));
    };
    let Some(value) = &op.payment_info else {
        if !offer_intent(&ctx.intent) {
            return Ok(Outcome::skip(format!(
                "the operation has no x-payment-info: {}",
                undeclarable(&ctx.intent)
            )));
        }
        return Err(blocked(
            "the operation has no x-payment-info: see discovery.resource-listed",
        ));
    };
    // An offer the appendix schema refuses for a member it does not
    // define (a `recipient`, say) is still compared, saying so; one whose
    // own fields do not read cannot be.
    let (info, lenient) = match PaymentInfo::from_value(value, &op.pointer()) {
        Ok(info) => (info, ""),
        Err(strict) => (
            PaymentInfo::from_value_lenient(value, &op.pointer()).map_err(|e| {
                blocked(format!(
                    "its x-payment-info does not read ({e}): see discovery.payment-info-schema"
                ))
            })?,
            if strict.code() == "discovery.offer.amount-digits" {
                return Err(blocked(format!(
                    "its x-payment-info is invalid ({strict}): see discovery.payment-info-schema"
                )));
            } else {
                " (offers read leniently: see discovery.payment-info-schema)"
            },
        ),
    };
    let answer = ctx.send(&[], None).await.map_err(transport)?;
    let challenges: Vec<_> =
        mppconf_suite::codec::challenge::parse_all_lenient(&answer.challenge_fields())
            .map_err(|e| {
                blocked(format!(
                    "the resource's WWW-Authenticate does not parse ({e})"
                ))
            })?
            .into_iter()
            .filter_map(Result::ok)
            .map(|(c, _)| c)
            .collect();
    if challenges.is_empty() {
        return Err(blocked(format!(
            "the resource answered {} with no Payment challenge to compare the offers with",
            answer.status
        )));
    }
    let mut unmatched = Vec::new();
    for (i, offer) in info.offers.iter().enumerate() {
        if challenges.iter().all(|c| offer_matches(offer, c).is_err()) {
            let nearest = challenges
                .iter()
                .filter_map(|c| offer_matches(offer, c).err())
                .min_by_key(|d| d.matches(',').count())
                .unwrap_or_default();
            unmatched.push(format!("offer {i} ({nearest})"));
        }
    }
    let undeclared = challenges
        .iter()
        .filter(|c| info.offers.iter().all(|o| offer_matches(o, c).is_err()))
        .count();
    let note = if undeclared > 0 {
        format!("; {undeclared} live challenge(s) no offer declares (not judged)")
    } else {
        String::new()
    };
    Ok(if unmatched.is_empty() {
        Outcome::pass(format!(
            "{} offer(s), each one of the {} live challenge(s){note}{lenient}",
            info.offers.len(),
            challenges.len()
        ))
    } else {
        Outcome::fail(
            "every declared offer one of the live challenges (method, intent, amount unless null, currency, and recipient when an offer names one)",
            format!(
                "no live challenge matches {}{note}{lenient}",
                unmatched.join(", ")
            ),
        )
    })
}

/// "Each operation SHOULD define its input schema using … `requestBody`",
/// for an operation whose method takes a body
/// (ambiguity.discovery-input-schema-get).
pub async fn input_schema(ctx: &Ctx) -> Step {
    let (_, doc) = document(ctx).await?;
    let Some(op) = operation_of(ctx, &doc) else {
        return Err(blocked(
            "the document does not list this resource: see discovery.resource-listed",
        ));
    };
    if !["POST", "PUT", "PATCH"].contains(&op.method.as_str()) {
        return Ok(Outcome::skip(format!(
            "{} takes no request body: its input is parameters (ambiguity.discovery-input-schema-get)",
            op.method
        )));
    }
    Ok(if op.has_request_body {
        Outcome::pass(format!("{} {} has a requestBody", op.method, op.path))
    } else {
        Outcome::fail(
            format!("a requestBody on {} {}", op.method, op.path),
            "none",
        )
    })
}
