//! The MCP server checks that pay: draft-payment-transport-mcp-00
//! §"Successful Payment Response", §"Metadata Placement", §"Payment
//! Verification Failure", §"Protocol Errors", §"Challenge Binding",
//! §"Replay Protection", §"Notifications" and the covered operations.
//! Each pays a fresh challenge with the method the server asks for;
//! [`super::checks`] lists them and holds the readings they share.

use std::time::Duration;

use mppconf_suite::mcp::{INVALID_PARAMS, McpReceipt, Placement, VERIFICATION_FAILED};
use mppconf_suite::vectors::Verdict;
use serde_json::Value;

use super::checks::{accepted, code_of, form, granted, refused};
use super::{McpCtx, blocked, short};
use crate::server_suite::Outcome;

pub(super) async fn paid_receipt(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let (offered, credential) = ctx.valid().await?;
    let answer = ctx
        .call(&ctx.tool, Some((&credential, Placement::Nested)))
        .await?;
    if !granted(&answer) {
        return Ok(Outcome::fail(
            "a result for a valid credential in params._meta",
            short(&answer),
        ));
    }
    let receipt = match McpReceipt::of_response(&answer) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Ok(Outcome::fail(
                "_meta[\"org.paymentauth/receipt\"] in the result",
                short(&answer),
            ));
        }
        Err(e) => return Ok(Outcome::fail("a well-formed receipt", e)),
    };
    let c = &offered.challenge;
    if receipt.challenge_id != c.id {
        return Ok(Outcome::fail(
            format!("challengeId {}", c.id),
            &receipt.challenge_id,
        ));
    }
    if receipt.method != c.method {
        return Ok(Outcome::fail(
            format!("method {}", c.method),
            &receipt.method,
        ));
    }
    // The settlement the receipt names, where the method leaves evidence.
    if let Some(method) = ctx
        .method
        .or_else(|| crate::methods::builtin(&c.method, &c.intent))
    {
        let http = c.to_http();
        let paid = mppconf_suite::codec::Credential {
            challenge: mppconf_suite::codec::EchoedChallenge::echo_of(&http),
            payload: credential["payload"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
            source: credential["source"].as_str().map(str::to_string),
            unknown: Default::default(),
        };
        let core_receipt = mppconf_suite::codec::Receipt {
            status: receipt.status.clone(),
            method: receipt.method.clone(),
            timestamp: receipt.timestamp.clone(),
            reference: receipt.reference.clone().unwrap_or_default(),
            extra: Default::default(),
        };
        let settled = method
            .verify_receipt(&ctx.rpc_url, &http, &paid, &core_receipt)
            .await;
        if settled.verdict != Verdict::Pass {
            return Ok(settled);
        }
        return Ok(Outcome::pass(format!(
            "a result with a receipt for challenge {} ({} placement); {}",
            c.id,
            receipt.placement.as_str(),
            settled.detail
        )));
    }
    Ok(Outcome::pass(format!(
        "a result with a receipt for challenge {} ({} placement)",
        c.id,
        receipt.placement.as_str()
    )))
}

pub(super) async fn root_placement(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let (_, credential) = ctx.valid().await?;
    let answer = ctx
        .call(&ctx.tool, Some((&credential, Placement::Root)))
        .await?;
    Ok(if granted(&answer) {
        Outcome::pass("a credential in the message's root _meta was accepted")
    } else {
        // MCP itself nests `_meta` in `params`; the draft still has
        // servers check both places (ambiguity.mcp-placement-mcp-root).
        Outcome::fail(
            "a result for a valid credential in the root _meta (§\"Metadata Placement\": servers MUST check both locations; ambiguity.mcp-placement-mcp-root)",
            short(&answer),
        )
    })
}

pub(super) async fn replay(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let (_, credential) = ctx.valid().await?;
    let first = ctx
        .call(&ctx.tool, Some((&credential, Placement::Nested)))
        .await?;
    accepted(&first)?;
    let again = ctx
        .call(&ctx.tool, Some((&credential, Placement::Nested)))
        .await?;
    Ok(refused(&again, "a credential already used"))
}

pub(super) async fn concurrent_once(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    const COPIES: usize = 4;
    let (_, credential) = ctx.valid().await?;
    let answers = futures::future::join_all(
        (0..COPIES).map(|_| ctx.call(&ctx.tool, Some((&credential, Placement::Nested)))),
    )
    .await;
    let mut granted_n = 0;
    for a in answers {
        if granted(&a?) {
            granted_n += 1;
        }
    }
    Ok(match granted_n {
        0 => blocked("no copy of a valid credential was accepted, see mcp.paid-receipt"),
        1 => Outcome::pass(format!("1 of {COPIES} concurrent copies accepted")),
        n => Outcome::fail(
            format!("at most 1 of {COPIES} concurrent copies of one credential accepted"),
            format!("{n} accepted"),
        ),
    })
}

/// The payload with every string changed: the last hex digit of a 0x
/// string flipped (a signature or transaction that no longer verifies),
/// other strings extended.
pub(super) fn corrupted(payload: &Value) -> Value {
    match payload {
        Value::String(s) if s.starts_with("0x") && s.len() > 2 => {
            let mut t = s.clone();
            let last = t.pop().unwrap_or('0');
            t.push(if last == '0' { '1' } else { '0' });
            Value::String(t)
        }
        Value::String(s) => Value::String(format!("{s}x")),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    // The payload's kind stays: the structure is sound,
                    // its proof is not.
                    if k == "type" {
                        (k.clone(), v.clone())
                    } else {
                        (k.clone(), corrupted(v))
                    }
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

pub(super) async fn verification_failed(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let (_, mut credential) = ctx.valid().await?;
    credential["payload"] = corrupted(&credential["payload"]);
    let answer = ctx
        .call(&ctx.tool, Some((&credential, Placement::Nested)))
        .await?;
    let outcome = refused(&answer, "a payment that does not verify");
    if outcome.verdict != Verdict::Pass {
        return Ok(outcome);
    }
    if code_of(&answer) != Some(VERIFICATION_FAILED) {
        return Ok(Outcome::fail("error code -32043", form(&answer)));
    }
    // "with a fresh challenge": one the client can pay.
    match super::offered_in(&answer) {
        Ok(o) => Ok(Outcome::pass(format!(
            "-32043 with a challenge ({})",
            o.challenge.id
        ))),
        Err(e) => Ok(Outcome::fail("a challenge in the -32043's data", e.detail)),
    }
}

/// The challenge a `-32043` carries is one the client can pay: the
/// failed one re-sent while still valid, or a fresh one (§"Payment
/// Verification Failure": servers MAY return the same challenge if it
/// remains valid).
pub(super) async fn retry_challenge_payable(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let (_, mut credential) = ctx.valid().await?;
    credential["payload"] = corrupted(&credential["payload"]);
    let answer = ctx
        .call(&ctx.tool, Some((&credential, Placement::Nested)))
        .await?;
    if code_of(&answer) != Some(VERIFICATION_FAILED) {
        return Err(blocked(format!(
            "no -32043 for a payment that does not verify (mcp.verification-failed judges that): {}",
            form(&answer)
        )));
    }
    let retry = super::offered_in(&answer).map_err(|e| {
        blocked(format!(
            "no challenge in the -32043 (mcp.verification-failed judges that): {}",
            e.detail
        ))
    })?;
    let same = retry.challenge.id == credential["challenge"]["id"].as_str().unwrap_or_default();
    let paid = ctx.pay(&retry).await?;
    let after = ctx
        .call(&ctx.tool, Some((&paid, Placement::Nested)))
        .await?;
    let which = if same {
        "the same challenge, re-sent"
    } else {
        "a fresh challenge"
    };
    if granted(&after) {
        return Ok(Outcome::pass(format!(
            "the -32043 carried {which}, and paying it was granted"
        )));
    }
    Ok(Outcome::fail(
        "paying the challenge a -32043 carries is granted",
        format!("it carried {which}; paying it: {}", form(&after)),
    ))
}

pub(super) async fn malformed(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let offered = ctx.offered(&ctx.tool).await?;
    // A credential without its payload: a structure error.
    let credential = serde_json::json!({"challenge": offered.raw});
    let answer = ctx
        .call(&ctx.tool, Some((&credential, Placement::Nested)))
        .await?;
    let outcome = refused(&answer, "a credential without payload");
    if outcome.verdict != Verdict::Pass {
        return Ok(outcome);
    }
    Ok(if code_of(&answer) == Some(INVALID_PARAMS) {
        Outcome::pass("-32602 Invalid params")
    } else {
        Outcome::fail(
            "error code -32602 for a malformed credential",
            form(&answer),
        )
    })
}

pub(super) async fn tampered_request(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let offered = ctx.offered(&ctx.tool).await?;
    let Some(amount) = offered.challenge.request.get("amount").cloned() else {
        return Ok(Outcome::skip(
            "the challenge's request has no amount to lower",
        ));
    };
    // The price lowered to 1 base unit in the echo (its id unchanged),
    // and that price paid; a request sent as base64url text (which
    // mcp.request-native judges) is changed in that form.
    let lower = if amount == "1" { "2" } else { "1" };
    let mut tampered = offered.clone();
    tampered
        .challenge
        .request
        .insert("amount".into(), lower.into());
    let changed = Value::Object(tampered.challenge.request.clone());
    tampered.raw["request"] = if tampered.raw["request"].is_string() {
        mppconf_suite::codec::EncodedJson::canonical(changed)
            .wire
            .into()
    } else {
        changed
    };
    let credential = ctx.pay(&tampered).await?;
    let answer = ctx
        .call(&ctx.tool, Some((&credential, Placement::Nested)))
        .await?;
    Ok(refused(&answer, "an echo whose request was changed"))
}

pub(super) async fn forged_id(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let (_, mut credential) = ctx.valid().await?;
    // A payment for an issued challenge, echoed under an id the server
    // never issued (everything else unchanged).
    let forged = mppconf_suite::codec::base64url::encode(alloy::primitives::B256::random());
    credential["challenge"]["id"] = forged.clone().into();
    let answer = ctx
        .call(&ctx.tool, Some((&credential, Placement::Nested)))
        .await?;
    Ok(refused(
        &answer,
        &format!("the unknown challenge id {forged}"),
    ))
}

pub(super) async fn expired(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let offered = ctx.offered(&ctx.tool).await?;
    let Some(expires) = offered.challenge.expires.as_deref() else {
        return Ok(Outcome::skip("the challenge has no expires"));
    };
    let at = mppconf_suite::codec::rfc3339::parse("expires", expires)
        .map_err(|e| blocked(e.to_string()))?
        .timestamp();
    let now = crate::reference::tx::unix_now() as i64;
    let wait = at - now + 1;
    if wait > 20 {
        return Ok(Outcome::skip(format!(
            "the challenge expires in {}s: too long to wait out",
            at - now
        )));
    }
    let credential = ctx.pay(&offered).await?;
    if wait > 0 {
        ctx.pause(Duration::from_secs(wait as u64)).await;
    }
    let answer = ctx
        .call(&ctx.tool, Some((&credential, Placement::Nested)))
        .await?;
    Ok(refused(&answer, "a credential for an expired challenge"))
}

pub(super) async fn free_ignores_credential(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let Some(free) = ctx.free_tool.clone() else {
        return Ok(Outcome::skip("no free tool named (--free-tool)"));
    };
    let (_, credential) = ctx.valid().await?;
    let answer = ctx
        .call(&free, Some((&credential, Placement::Nested)))
        .await?;
    if !granted(&answer) {
        return Ok(Outcome::fail(
            format!("a result of the free tool {free} (a credential ignored)"),
            short(&answer),
        ));
    }
    if let Ok(Some(r)) = McpReceipt::of_response(&answer) {
        return Ok(Outcome::fail(
            "no receipt for a call that costs nothing",
            format!("a receipt for challenge {}", r.challenge_id),
        ));
    }
    // Ignored means not consumed: it still pays for the paid tool.
    let paid = ctx
        .call(&ctx.tool, Some((&credential, Placement::Nested)))
        .await?;
    Ok(if granted(&paid) {
        Outcome::pass("ignored by the free tool, then accepted by the paid one")
    } else {
        Outcome::fail(
            "the credential still pays the paid tool after the free call ignored it",
            short(&paid),
        )
    })
}

pub(super) async fn resource_read(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let Some(uri) = ctx.resource.clone() else {
        return Ok(Outcome::skip("no paid resource named (--resource)"));
    };
    paid_operation(ctx, "resources/read", serde_json::json!({ "uri": uri })).await
}

pub(super) async fn prompt_get(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let Some(name) = ctx.prompt.clone() else {
        return Ok(Outcome::skip("no paid prompt named (--prompt)"));
    };
    paid_operation(ctx, "prompts/get", serde_json::json!({ "name": name })).await
}

/// A paid operation other than a tool call: unpaid it grants nothing and
/// offers a challenge; paid, its result carries a receipt for that
/// challenge.
async fn paid_operation(ctx: &McpCtx, method: &str, params: Value) -> Result<Outcome, Outcome> {
    let unpaid = ctx.operation(method, params.clone(), None).await?;
    if granted(&unpaid) {
        return Ok(Outcome::fail(
            format!("error -32042 for an unpaid {method}"),
            format!("a result (access without payment): {}", short(&unpaid)),
        ));
    }
    // The error's form is mcp.payment-required's to judge (on a tool
    // call); here, that the operation is gated and its challenge pays.
    let offered = super::offered_in(&unpaid).map_err(|o| {
        Outcome::fail(
            format!("a payment challenge for an unpaid {method}"),
            o.detail,
        )
    })?;
    let credential = ctx.pay(&offered).await?;
    let paid = ctx
        .operation(method, params, Some((&credential, Placement::Nested)))
        .await?;
    if !granted(&paid) {
        return Ok(Outcome::fail(
            format!("a result for a paid {method}"),
            short(&paid),
        ));
    }
    match McpReceipt::of_response(&paid) {
        Ok(Some(r)) if r.challenge_id == offered.challenge.id => Ok(Outcome::pass(format!(
            "{method}: -32042 unpaid, a result with a receipt paid"
        ))),
        Ok(Some(r)) => Ok(Outcome::fail(
            format!("a receipt for challenge {}", offered.challenge.id),
            format!("challengeId {}", r.challenge_id),
        )),
        Ok(None) => Ok(Outcome::fail(
            format!("a receipt in the paid {method} result"),
            short(&paid),
        )),
        Err(e) => Ok(Outcome::fail("a well-formed receipt", e)),
    }
}

pub(super) async fn operation_bound(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let Some(other) = ctx.other_tool.clone() else {
        return Ok(Outcome::skip(
            "no second paid tool of the same price named (--other-tool)",
        ));
    };
    let (offered, credential) = ctx.valid().await?;
    let theirs = ctx.offered(&other).await?;
    // The same price is the operator's word (--other-tool); a server may
    // bind the operation in the request itself (pympp's `_mppx_scope`).
    let how = if theirs.challenge.request == offered.challenge.request {
        "the two tools' challenges ask the same request"
    } else {
        "the two tools' challenges ask different requests"
    };
    let answer = ctx
        .call(&other, Some((&credential, Placement::Nested)))
        .await?;
    let mut outcome = refused(
        &answer,
        &format!("a credential for {} presented to {other}", ctx.tool),
    );
    outcome.detail.push_str(&format!(" ({how})"));
    Ok(outcome)
}

/// A paid call sent as a notification with a valid credential is not
/// executed: the credential is still unused afterwards (a request with
/// it is granted). A server that ran it has settled the payment, so the
/// same credential is then refused as used (or its transfer fails on
/// chain). A control payment in between shows that the server grants
/// valid credentials at all.
pub(super) async fn notification_not_processed(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let (_, notified) = ctx.valid().await?;
    ctx.notify_call(Some(&notified)).await?;
    let (_, control) = ctx.valid().await?;
    accepted(
        &ctx.call(&ctx.tool, Some((&control, Placement::Nested)))
            .await?,
    )?;
    let after = ctx
        .call(&ctx.tool, Some((&notified, Placement::Nested)))
        .await?;
    if granted(&after) {
        return Ok(Outcome::pass(
            "the notification's credential was still unused: a request with it was granted",
        ));
    }
    Ok(Outcome::fail(
        "a payment-gated notification not executed (its credential still buys a request)",
        format!(
            "the credential was refused after the notification carried it: {}",
            form(&after)
        ),
    ))
}

/// An unpaid payment-gated notification gets no answer (no `-32042`).
pub(super) async fn notification_silent(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    match ctx.notify_call(None).await? {
        None => Ok(Outcome::pass("no answer to the notification")),
        Some(answer) => Ok(Outcome::fail(
            "the notification dropped silently (no JSON-RPC answer)",
            answer.chars().take(400).collect::<String>(),
        )),
    }
}
