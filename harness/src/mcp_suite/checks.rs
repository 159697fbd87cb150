//! The MCP server checks of draft-payment-transport-mcp-00, in run order,
//! and the ones that need no payment (§"Signaling Payment Required",
//! §"Challenge Structure", §"MCP Capability Advertisement"); the ones
//! that pay are in [`super::paid_checks`].
//!
//! Every paid call judges the JSON-RPC answer: a `result` is access
//! granted, an `error` is a refusal. Where the draft names no code (an
//! unknown, used or expired challenge: ambiguity.mcp-invalid-challenge-code)
//! any payment error refuses; where it names one (`-32042`, `-32043`,
//! `-32602`) the check holds the server to it.

use mppconf_suite::mcp::{McpReceipt, PAYMENT_REQUIRED};
use serde_json::Value;

use super::paid_checks::{
    concurrent_once, expired, forged_id, free_ignores_credential, malformed,
    notification_not_processed, notification_silent, operation_bound, paid_receipt, prompt_get,
    replay, resource_read, retry_challenge_payable, root_placement, tampered_request,
    verification_failed,
};
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

pub(super) fn code_of(answer: &Value) -> Option<i64> {
    answer["error"]["code"].as_i64()
}

/// A result that is not a tool error: access granted.
pub(super) fn granted(answer: &Value) -> bool {
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
pub(super) fn refused(answer: &Value, what: &str) -> Outcome {
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
pub(super) fn form(answer: &Value) -> String {
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
pub(super) fn accepted(answer: &Value) -> Result<(), Outcome> {
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
    crate::server_suite::fresh_ids(
        first.challenge,
        second.challenge,
        |c| c.id.as_str(),
        async { Ok(ctx.offered(&ctx.tool).await?.challenge) },
    )
    .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp_suite::paid_checks::corrupted;
    use mppconf_suite::vectors::Verdict;

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
