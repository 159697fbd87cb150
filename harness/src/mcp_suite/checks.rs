//! draft-payment-transport-mcp-00 §"Signaling Payment Required",
//! §"Challenge Structure", §"MCP Capability Advertisement", §"Metadata
//! Placement", §"Successful Payment Response", §"Error Code Mapping",
//! §"Payment Verification Failure", §"Protocol Errors", §"Challenge
//! Binding", §"Replay Protection": the MCP server checks.
//!
//! Every paid call judges the JSON-RPC answer: a `result` is access
//! granted, an `error` is a refusal. Where the draft names no code (an
//! unknown, used or expired challenge: ambiguity.mcp-invalid-challenge-code)
//! any payment error refuses; where it names one (`-32042`, `-32043`,
//! `-32602`) the check holds the server to it.

use std::time::Duration;

use mppconf_suite::mcp::{
    INVALID_PARAMS, McpReceipt, PAYMENT_REQUIRED, Placement, VERIFICATION_FAILED,
};
use mppconf_suite::vectors::Verdict;
use serde_json::Value;

use super::{McpCheck, McpCtx, blocked, mcp_check, short};
use crate::server_suite::Outcome;

pub static CHECKS: &[McpCheck] = &[
    mcp_check!(
        "mcp.payment-required",
        [
            "mcp.error.code-payment-required",
            "mcp.error-map.payment-required",
            "mcp.codes.exact",
            "mcp.challenge.data-challenges",
            "mcp.challenge.required-members",
            "mcp.challenge.realm",
            "mcp.operations.tools-call",
            "mcp.codes.use-registered",
            "mcp.error-map.server-range",
        ],
        false,
        |ctx| payment_required(ctx)
    ),
    mcp_check!(
        "mcp.problem-details",
        [
            "mcp.challenge.problem-optional",
            "mcp.challenge.problem-members"
        ],
        false,
        |ctx| problem_details(ctx)
    ),
    mcp_check!(
        "mcp.http-status",
        ["mcp.error.http-status-402"],
        true,
        |ctx| http_status(ctx)
    ),
    mcp_check!(
        "mcp.fresh-challenges",
        ["mcp.challenge.id-unique"],
        false,
        |ctx| fresh_challenges(ctx)
    ),
    mcp_check!(
        "mcp.request-native",
        [
            "mcp.challenge.request-native-object",
            "mcp.challenge.request-not-base64url",
        ],
        false,
        |ctx| request_native(ctx)
    ),
    mcp_check!(
        "mcp.capability",
        [
            "mcp.capability.advertise",
            "mcp.capability.server-initialize-result",
            "mcp.capability.object-contents",
            "mcp.capability.methods-map",
            "mcp.capability.intents-array",
        ],
        true,
        |ctx| capability(ctx)
    ),
    mcp_check!(
        "mcp.paid-receipt",
        [
            "mcp.credential.meta-key",
            "mcp.placement.nested-mcp",
            "mcp.challenge.request-jcs-hash",
            "mcp.receipt.included",
            "mcp.receipt.every-paid-success",
            "mcp.receipt.placement",
            "mcp.receipt.required-members",
            "mcp.receipt.status-success",
            "mcp.receipt.method-used",
            "mcp.receipt.timestamp-rfc3339",
            "mcp.receipt.challenge-id",
        ],
        false,
        |ctx| paid_receipt(ctx)
    ),
    mcp_check!(
        "mcp.root-placement",
        [
            "mcp.placement.root-level",
            "mcp.placement.server-checks-both"
        ],
        false,
        |ctx| root_placement(ctx)
    ),
    mcp_check!(
        "mcp.replay-rejected",
        ["mcp.replay.reject-used", "mcp.replay.record-used-ids"],
        false,
        |ctx| replay(ctx)
    ),
    mcp_check!(
        "mcp.concurrent-once",
        ["mcp.replay.concurrent-one-success"],
        false,
        |ctx| concurrent_once(ctx)
    ),
    mcp_check!(
        "mcp.verification-failed",
        [
            "mcp.verification.code-32043",
            "mcp.error-map.verification-failed",
            "mcp.codes.use-registered",
            "mcp.error-map.server-range",
        ],
        false,
        |ctx| verification_failed(ctx)
    ),
    mcp_check!(
        "mcp.retry-challenge-payable",
        ["mcp.verification.same-or-fresh"],
        true,
        |ctx| retry_challenge_payable(ctx)
    ),
    mcp_check!(
        "mcp.malformed-credential",
        [
            "mcp.protocol-error.invalid-params",
            "mcp.error-map.malformed-credential",
            "mcp.error-map.parse-error-scope",
        ],
        false,
        |ctx| malformed(ctx)
    ),
    mcp_check!(
        "mcp.tampered-request",
        [
            "mcp.challenge.id-bound",
            "mcp.binding.bind-parameters",
            "mcp.binding.request-hash-jcs",
        ],
        false,
        |ctx| tampered_request(ctx)
    ),
    mcp_check!(
        "mcp.forged-id",
        [
            "mcp.replay.reject-unknown",
            "mcp.challenge.id-echoed-unchanged"
        ],
        false,
        |ctx| forged_id(ctx)
    ),
    mcp_check!(
        "mcp.expired-rejected",
        ["mcp.replay.reject-expired"],
        false,
        |ctx| expired(ctx)
    ),
    mcp_check!(
        "mcp.free-ignores-credential",
        [
            "mcp.placement.ignore-on-free-methods",
            "mcp.receipt.none-unpaid",
        ],
        false,
        |ctx| free_ignores_credential(ctx)
    ),
    mcp_check!(
        "mcp.resource-read-paid",
        ["mcp.operations.resources-read"],
        false,
        |ctx| resource_read(ctx)
    ),
    mcp_check!(
        "mcp.prompt-get-paid",
        ["mcp.operations.prompts-get"],
        false,
        |ctx| prompt_get(ctx)
    ),
    mcp_check!(
        "mcp.operation-bound",
        [
            "mcp.binding.bind-operation",
            "mcp.deputy.validate-operation"
        ],
        true,
        |ctx| operation_bound(ctx)
    ),
    mcp_check!(
        "mcp.notification-not-processed",
        ["mcp.notification.not-processed"],
        false,
        |ctx| notification_not_processed(ctx)
    ),
    mcp_check!(
        "mcp.notification-silent",
        ["mcp.notification.silently-drop"],
        true,
        |ctx| notification_silent(ctx)
    ),
];

fn code_of(answer: &Value) -> Option<i64> {
    answer["error"]["code"].as_i64()
}

/// A result that is not a tool error: access granted.
fn granted(answer: &Value) -> bool {
    answer.get("result").is_some() && answer.get("error").is_none() && !tool_error(answer)
}

/// A tool error result (`isError: true`): what MCP SDKs make of an error
/// thrown in a tool handler. It refuses, but it is not the JSON-RPC
/// error the draft asks for (ambiguity.mcp-receipt-on-tool-error).
fn tool_error(answer: &Value) -> bool {
    answer["result"]["isError"] == true
}

/// A refused credential: no access, and no receipt anywhere. Whether
/// the refusal has the draft's form (a JSON-RPC error with its code) is
/// for the checks of that form (mcp.verification-failed,
/// mcp.malformed-credential) to judge.
fn refused(answer: &Value, what: &str) -> Outcome {
    if granted(answer) {
        return Outcome::fail(
            format!("a JSON-RPC error refusing {what}"),
            format!("a result (access granted): {}", short(answer)),
        );
    }
    if let Ok(Some(_)) = McpReceipt::of_response(answer) {
        return Outcome::fail("no receipt on a refusal", short(answer));
    }
    if tool_error(answer) {
        return Outcome::pass(format!(
            "refused as a tool error result (isError), not a JSON-RPC error: {}",
            short(answer)
        ));
    }
    if answer.get("error").is_none() {
        return Outcome::fail("a JSON-RPC error", short(answer));
    }
    Outcome::pass(format!(
        "refused with error {}",
        code_of(answer).map_or_else(|| "without a code".into(), |c| c.to_string())
    ))
}

/// What a refusal was, for a detail line: its error code, or a tool
/// error result.
fn form(answer: &Value) -> String {
    match code_of(answer) {
        Some(code) => format!("error {code}: {}", short(answer)),
        None if tool_error(answer) => format!(
            "a tool error result (isError), not a JSON-RPC error: {}",
            short(answer)
        ),
        None => short(answer),
    }
}

/// An accepted paid call, or why the check cannot go on (`blocked`:
/// mcp.paid-receipt judges a valid payment refused).
fn accepted(answer: &Value) -> Result<(), Outcome> {
    if granted(answer) {
        Ok(())
    } else {
        Err(blocked(format!(
            "a valid credential was not accepted (mcp.paid-receipt judges that): {}",
            short(answer)
        )))
    }
}

async fn payment_required(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let answer = ctx.call(&ctx.tool, None).await?;
    if granted(&answer) {
        return Ok(Outcome::fail(
            "error -32042 for an unpaid call of a paid tool",
            format!("a result (access without payment): {}", short(&answer)),
        ));
    }
    if tool_error(&answer) {
        return Ok(Outcome::fail(
            "a JSON-RPC error -32042",
            format!("a tool error result (isError): {}", short(&answer)),
        ));
    }
    if code_of(&answer) != Some(PAYMENT_REQUIRED) {
        return Ok(Outcome::fail("error code -32042", form(&answer)));
    }
    let Some(list) = answer["error"]["data"]["challenges"].as_array() else {
        return Ok(Outcome::fail(
            "error.data.challenges, an array",
            short(&answer),
        ));
    };
    if list.is_empty() {
        return Ok(Outcome::fail("one challenge or more", "an empty array"));
    }
    for (i, c) in list.iter().enumerate() {
        for member in ["id", "realm", "method", "intent"] {
            if c[member].as_str().is_none_or(str::is_empty) {
                return Ok(Outcome::fail(
                    format!("challenges[{i}].{member}, a non-empty string"),
                    short(c),
                ));
            }
        }
        if c.get("request").is_none_or(Value::is_null) {
            return Ok(Outcome::fail(format!("challenges[{i}].request"), short(c)));
        }
    }
    Ok(Outcome::pass(format!(
        "-32042 with {} challenge(s)",
        list.len()
    )))
}

/// A `problem` in the payment error's data, when present, is an RFC 9457
/// Problem Details object with `type`, `title`, `status` and `detail`
/// (and optionally `challengeId`).
async fn problem_details(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let answer = ctx.call(&ctx.tool, None).await?;
    if code_of(&answer) != Some(PAYMENT_REQUIRED) {
        return Err(blocked(format!(
            "no -32042 for an unpaid call (mcp.payment-required judges that): {}",
            form(&answer)
        )));
    }
    let Some(problem) = answer.pointer("/error/data/problem") else {
        return Ok(Outcome::pass("no problem member (it is OPTIONAL)"));
    };
    let Some(p) = problem.as_object() else {
        return Ok(Outcome::fail("problem, a JSON object", short(problem)));
    };
    let mut wrong = Vec::new();
    for member in ["type", "title", "detail"] {
        if !p.get(member).is_some_and(Value::is_string) {
            wrong.push(format!("{member} (a string)"));
        }
    }
    if !p.get("status").is_some_and(Value::is_u64) {
        wrong.push("status (a number)".into());
    }
    if p.get("challengeId").is_some_and(|c| !c.is_string()) {
        wrong.push("challengeId, when present, a string".into());
    }
    if wrong.is_empty() {
        return Ok(Outcome::pass(format!(
            "problem with type, title, status and detail: {}",
            short(problem)
        )));
    }
    Ok(Outcome::fail(
        format!("problem with {}", wrong.join(", ")),
        short(problem),
    ))
}

async fn http_status(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let answer = ctx.call(&ctx.tool, None).await?;
    if answer.get("error").is_none() {
        return Err(blocked(
            "no error for an unpaid call, see mcp.payment-required",
        ));
    }
    let status = &answer["error"]["data"]["httpStatus"];
    Ok(if status == 402 {
        Outcome::pass("error.data.httpStatus 402")
    } else {
        Outcome::fail("error.data.httpStatus 402", short(status))
    })
}

async fn fresh_challenges(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let first = ctx.offered(&ctx.tool).await?;
    let second = ctx.offered(&ctx.tool).await?;
    Ok(if first.challenge.id == second.challenge.id {
        Outcome::fail(
            "a fresh challenge id for each unpaid call (ambiguity.hmac-id-uniqueness: an HMAC over the slots alone repeats within a second)",
            format!("{} twice", first.challenge.id),
        )
    } else {
        Outcome::pass("two unpaid calls, two challenge ids")
    })
}

async fn request_native(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let answer = ctx.call(&ctx.tool, None).await?;
    let Some(list) = answer["error"]["data"]["challenges"].as_array() else {
        return Err(blocked("no challenges to read, see mcp.payment-required"));
    };
    for (i, c) in list.iter().enumerate() {
        if !c["request"].is_object() {
            return Ok(Outcome::fail(
                format!("challenges[{i}].request, a native JSON object"),
                short(&c["request"]),
            ));
        }
    }
    Ok(Outcome::pass("every request a JSON object"))
}

async fn capability(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let result = ctx.session.initialize().await.map_err(super::transport)?;
    let offered = ctx.offered(&ctx.tool).await?;
    let c = &offered.challenge;
    let payment = &result["capabilities"]["experimental"]["payment"];
    let Some(methods) = payment["methods"].as_object() else {
        return Ok(Outcome::fail(
            "capabilities.experimental.payment.methods in the InitializeResult",
            short(&result["capabilities"]),
        ));
    };
    let Some(m) = methods.get(&c.method) else {
        return Ok(Outcome::fail(
            format!("the method {} its challenges name", c.method),
            short(payment),
        ));
    };
    let intents = m["intents"].as_array();
    if !intents.is_some_and(|l| l.iter().any(|i| i == c.intent.as_str())) {
        return Ok(Outcome::fail(
            format!("{}.intents, an array with {}", c.method, c.intent),
            short(m),
        ));
    }
    Ok(Outcome::pass(format!(
        "advertises {} {}",
        c.method, c.intent
    )))
}

async fn paid_receipt(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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

async fn root_placement(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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

async fn replay(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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

async fn concurrent_once(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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
fn corrupted(payload: &Value) -> Value {
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

async fn verification_failed(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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
async fn retry_challenge_payable(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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

async fn malformed(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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

async fn tampered_request(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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

async fn forged_id(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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

async fn expired(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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

async fn free_ignores_credential(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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

async fn resource_read(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    let Some(uri) = ctx.resource.clone() else {
        return Ok(Outcome::skip("no paid resource named (--resource)"));
    };
    paid_operation(ctx, "resources/read", serde_json::json!({ "uri": uri })).await
}

async fn prompt_get(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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

async fn operation_bound(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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
async fn notification_not_processed(ctx: &McpCtx) -> Result<Outcome, Outcome> {
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
async fn notification_silent(ctx: &McpCtx) -> Result<Outcome, Outcome> {
    match ctx.notify_call(None).await? {
        None => Ok(Outcome::pass("no answer to the notification")),
        Some(answer) => Ok(Outcome::fail(
            "the notification dropped silently (no JSON-RPC answer)",
            answer.chars().take(400).collect::<String>(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_keeps_the_shape_and_changes_every_proof() {
        let p = serde_json::json!({"type": "transaction", "signature": "0x76ab", "token": "stub"});
        let c = corrupted(&p);
        assert_eq!(c["type"], "transaction");
        assert_eq!(c["signature"], "0x76a0");
        assert_eq!(c["token"], "stubx");
    }

    #[test]
    fn a_result_is_access_and_an_error_a_refusal() {
        let ok = serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {}});
        let no = serde_json::json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32043}});
        let tool = serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [], "isError": true}});
        assert_eq!(refused(&ok, "x").verdict, Verdict::Fail);
        assert_eq!(refused(&no, "x").verdict, Verdict::Pass);
        assert!(!granted(&tool));
        assert_eq!(refused(&tool, "x").verdict, Verdict::Pass);
    }
}
