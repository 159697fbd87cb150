//! The MCP client checks: what draft-payment-transport-mcp-00 asks of a
//! client, judged on a scenario's record (the messages it sent, the
//! answers it got, what it spent).

use alloy::primitives::U256;
use mppconf_suite::mcp::CREDENTIAL_KEY;
use serde_json::Value;

use super::Record;
use super::scenario::{SeenMessage, UNPAYABLE_METHOD, credentials_in};
use crate::server_suite::Outcome;

/// One check.
pub struct McpClientCheck {
    /// Stable id, named after what it checks.
    pub id: &'static str,
    pub requirements: &'static [&'static str],
    /// All cited requirements are SHOULD-level (or the reading is an
    /// ambiguity's): a failure is `warn`.
    pub should: bool,
    pub scenario: &'static str,
    /// Its pass reads "the client did not pay": meaningful only if the
    /// client paid the control.
    pub refusal: bool,
    pub judge: fn(&Record) -> Outcome,
}

const fn check(
    id: &'static str,
    requirements: &'static [&'static str],
    should: bool,
    scenario: &'static str,
    judge: fn(&Record) -> Outcome,
) -> McpClientCheck {
    McpClientCheck {
        id,
        requirements,
        should,
        scenario,
        refusal: false,
        judge,
    }
}

/// Every check, in report order.
pub const CHECKS: &[McpClientCheck] = &[
    check(
        "mcp-client.capability",
        &["mcp.capability.client-initialize-request"],
        true,
        "pay-tool",
        capability,
    ),
    check(
        "mcp-client.request-id",
        &[
            "mcp.notification.client-request-id",
            "mcp.notification.client-no-paid-notifications",
        ],
        true,
        "pay-tool",
        request_id,
    ),
    check(
        "mcp-client.tool-paid",
        &["mcp.operations.tools-call"],
        true,
        "pay-tool",
        paid,
    ),
    check(
        "mcp-client.credential-placement",
        &["mcp.credential.meta-key", "mcp.placement.nested-mcp"],
        false,
        "pay-tool",
        placement,
    ),
    check(
        "mcp-client.credential-members",
        &[
            "mcp.credential.required-members",
            "mcp.credential.payload-object",
        ],
        false,
        "pay-tool",
        members,
    ),
    check(
        "mcp-client.challenge-echo",
        &[
            "mcp.credential.challenge-complete",
            "mcp.credential.challenge-unchanged",
            "mcp.challenge.id-echoed-unchanged",
        ],
        false,
        "pay-tool",
        echo,
    ),
    check(
        "mcp-client.resource-paid",
        &["mcp.operations.resources-read"],
        true,
        "pay-resource",
        paid,
    ),
    check(
        "mcp-client.prompt-paid",
        &["mcp.operations.prompts-get"],
        true,
        "pay-prompt",
        paid,
    ),
    check(
        "mcp-client.one-credential",
        &[
            "mcp.multiple.one-credential",
            "mcp.multiple.select-exactly-one",
        ],
        false,
        "unpayable-first",
        one_credential,
    ),
    check(
        "mcp-client.select-supported",
        &["mcp.multiple.client-select-preference"],
        true,
        "unpayable-first",
        select_supported,
    ),
    McpClientCheck {
        refusal: true,
        ..check(
            "mcp-client.expired-not-paid",
            &["mcp.challenge.expired-not-fulfilled"],
            true,
            "expired",
            not_paid,
        )
    },
    McpClientCheck {
        refusal: true,
        ..check(
            "mcp-client.validates-challenge",
            &["mcp.capability.validate-challenge"],
            true,
            "no-realm",
            not_paid,
        )
    },
    check(
        "mcp-client.new-attempt",
        &["mcp.verification.client-new-attempt"],
        true,
        "verification-failed",
        new_attempt,
    ),
    check(
        "mcp-client.pays-without-capability",
        &["mcp.capability.not-sole-basis"],
        true,
        "no-capability",
        attempted,
    ),
];

/// The messages of the scenario's paid call (its JSON-RPC method).
fn calls(r: &Record) -> Vec<&SeenMessage> {
    r.seen
        .iter()
        .filter(|s| s.message["method"] == r.operation.method())
        .collect()
}

/// The calls that carried a credential, with the credentials.
fn paid_calls(r: &Record) -> Vec<(&SeenMessage, Vec<(String, Value)>)> {
    calls(r)
        .into_iter()
        .map(|s| (s, credentials_in(&s.message)))
        .filter(|(_, c)| !c.is_empty())
        .collect()
}

/// Every challenge the scenario offered the client.
fn offered(r: &Record) -> Vec<Value> {
    r.seen.iter().flat_map(SeenMessage::challenges).collect()
}

/// The first credential sent, or why the check cannot judge.
fn first_credential(r: &Record) -> Result<Value, Outcome> {
    paid_calls(r)
        .first()
        .map(|(_, c)| c[0].1.clone())
        .ok_or_else(|| {
            Outcome::blocked(format!(
                "no credential was sent (client: {}), see mcp-client.tool-paid",
                r.run.ended
            ))
        })
}

fn capability(r: &Record) -> Outcome {
    let Some(init) = r.seen.iter().find(|s| s.message["method"] == "initialize") else {
        return Outcome::fail("an initialize request", "none was sent");
    };
    let Some(payment) = init
        .message
        .pointer("/params/capabilities/experimental/payment")
    else {
        return Outcome::fail(
            "capabilities.experimental.payment in the InitializeRequest (ambiguity.mcp-capability-shape)",
            format!("capabilities {}", init.message["params"]["capabilities"]),
        );
    };
    let Some(methods) = payment["methods"].as_object() else {
        return Outcome::fail("a `methods` object", payment);
    };
    if let Some((name, _)) = methods.iter().find(|(_, m)| !m["intents"].is_array()) {
        return Outcome::fail(
            format!("methods.{name}.intents, an array"),
            &methods[name.as_str()],
        );
    }
    Outcome::pass(format!("the client advertised {payment}"))
}

fn request_id(r: &Record) -> Outcome {
    let calls = calls(r);
    if calls.is_empty() {
        return Outcome::fail(
            format!("a {} request", r.operation.method()),
            "the client sent none",
        );
    }
    let notifications = calls
        .iter()
        .filter(|s| s.message.get("id").is_none())
        .count();
    if notifications > 0 {
        return Outcome::fail(
            "every payment-gated call sent as a request, with an id",
            format!(
                "{notifications} of {} {} messages were notifications (no id)",
                calls.len(),
                r.operation.method()
            ),
        );
    }
    Outcome::pass(format!(
        "{} {} request(s), each with an id",
        calls.len(),
        r.operation.method()
    ))
}

/// The client paid and the server's verified answer came back: a result
/// with a receipt, after a credential, with the price spent on chain.
fn paid(r: &Record) -> Outcome {
    let paid = paid_calls(r);
    let settled = paid.iter().find_map(|(s, _)| {
        let receipt = s.answer.as_ref()?.pointer(&format!(
            "/result/_meta/{}",
            crate::reference::server::mcp::json_pointer(mppconf_suite::mcp::RECEIPT_KEY)
        ))?;
        Some(receipt.clone())
    });
    match settled {
        Some(receipt) if r.payer_spent > U256::ZERO => Outcome::pass(format!(
            "paid: the server settled (receipt {receipt}); the payer spent {} base units",
            r.payer_spent
        )),
        Some(receipt) => Outcome::fail(
            "the payment on chain",
            format!("a receipt ({receipt}) but nothing spent by the payer"),
        ),
        None if paid.is_empty() => Outcome::fail(
            "a credential for the offered challenge, and the result",
            format!("no credential sent (client: {})", r.run.ended),
        ),
        None => Outcome::fail(
            "the result with a receipt",
            format!(
                "{} credential(s) sent, none settled; the last answer: {}",
                paid.len(),
                paid.last()
                    .and_then(|(s, _)| s.answer.as_ref())
                    .map(Value::to_string)
                    .unwrap_or_else(|| "none".into())
            ),
        ),
    }
}

/// The client tried to pay (sent a credential) though the server
/// advertised no payment capability; whether the payment itself was
/// right is mcp-client.tool-paid's.
fn attempted(r: &Record) -> Outcome {
    match paid_calls(r).len() {
        0 => Outcome::fail(
            "a credential for the offered challenge (advertisement is a SHOULD; ambiguity.mcp-capability-absent)",
            format!("no credential sent (client: {})", r.run.ended),
        ),
        n => Outcome::pass(format!(
            "the client paid without an advertised capability ({n} credential(s) sent)"
        )),
    }
}

fn placement(r: &Record) -> Outcome {
    let paid = paid_calls(r);
    if paid.is_empty() {
        return Outcome::blocked(format!(
            "no credential was sent (client: {}), see mcp-client.tool-paid",
            r.run.ended
        ));
    }
    let wanted = format!("params._meta[{CREDENTIAL_KEY:?}]");
    for (_, found) in &paid {
        if !found.iter().any(|(at, _)| *at == wanted) {
            return Outcome::fail(
                format!("the credential at {wanted}"),
                found
                    .iter()
                    .map(|(at, _)| at.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
    }
    Outcome::pass(format!("{} credential(s), each at {wanted}", paid.len()))
}

fn members(r: &Record) -> Outcome {
    let c = match first_credential(r) {
        Ok(c) => c,
        Err(o) => return o,
    };
    for member in ["challenge", "payload"] {
        if !c[member].is_object() {
            return Outcome::fail(
                format!("`{member}`, a JSON object"),
                format!("{member}: {}", c.get(member).unwrap_or(&Value::Null)),
            );
        }
    }
    Outcome::pass("challenge and payload, both objects")
}

fn echo(r: &Record) -> Outcome {
    let c = match first_credential(r) {
        Ok(c) => c,
        Err(o) => return o,
    };
    let echoed = &c["challenge"];
    let offered = offered(r);
    if offered.contains(echoed) {
        return Outcome::pass("the challenge echoed as issued, every member unchanged");
    }
    let Some(issued) = offered.iter().find(|o| o["id"] == echoed["id"]) else {
        return Outcome::fail(
            "the echo of an offered challenge",
            format!(
                "a challenge with id {} that was never offered",
                echoed["id"]
            ),
        );
    };
    let mut differences = Vec::new();
    for (k, v) in issued.as_object().into_iter().flatten() {
        match echoed.get(k) {
            None => differences.push(format!("{k} missing")),
            Some(e) if e != v => differences.push(format!("{k} changed to {e}")),
            Some(_) => {}
        }
    }
    for k in echoed.as_object().into_iter().flatten().map(|(k, _)| k) {
        if issued.get(k).is_none() {
            differences.push(format!("{k} added"));
        }
    }
    Outcome::fail("the whole challenge, unchanged", differences.join("; "))
}

fn one_credential(r: &Record) -> Outcome {
    let paid = paid_calls(r);
    if paid.is_empty() {
        return Outcome::blocked(format!(
            "no credential was sent (client: {}), see mcp-client.tool-paid",
            r.run.ended
        ));
    }
    if let Some((_, many)) = paid.iter().find(|(_, c)| c.len() > 1) {
        return Outcome::fail(
            "one credential in the retried call",
            format!(
                "{} credentials in one message: {}",
                many.len(),
                many.iter()
                    .map(|(at, _)| at.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    Outcome::pass(format!(
        "{} paid call(s), each with one credential",
        paid.len()
    ))
}

fn select_supported(r: &Record) -> Outcome {
    let c = match first_credential(r) {
        Ok(c) => c,
        Err(o) => return o,
    };
    match c["challenge"]["method"].as_str() {
        Some(UNPAYABLE_METHOD) => Outcome::fail(
            "the offer of a method the client has (tempo), skipping the first one",
            format!("a credential for the first offer, method {UNPAYABLE_METHOD}"),
        ),
        Some(m) => Outcome::pass(format!(
            "the client skipped the {UNPAYABLE_METHOD} offer and paid {m}"
        )),
        None => Outcome::fail("a credential echoing a challenge", &c),
    }
}

/// No credential sent (in any message), nothing broadcast, nothing
/// spent.
fn not_paid(r: &Record) -> Outcome {
    let sent = r
        .seen
        .iter()
        .filter(|s| !credentials_in(&s.message).is_empty())
        .count();
    let broadcast = r
        .rpc
        .iter()
        .filter(|c| c.method.starts_with("eth_sendRawTransaction"))
        .count();
    if sent == 0 && broadcast == 0 && r.payer_spent == U256::ZERO {
        return Outcome::pass(format!(
            "no credential, nothing broadcast (client: {})",
            r.run.ended
        ));
    }
    let mut what = Vec::new();
    if sent > 0 {
        what.push(format!("{sent} credential(s) sent"));
    }
    if broadcast > 0 {
        what.push(format!("{broadcast} transaction(s) broadcast"));
    }
    if r.payer_spent > U256::ZERO {
        what.push(format!("{} base units spent", r.payer_spent));
    }
    Outcome::fail("no credential and no transfer", what.join(", "))
}

/// After the scripted `-32043`, the refused credential is not sent again:
/// the client pays the fresh challenge, or stops.
fn new_attempt(r: &Record) -> Outcome {
    let paid = paid_calls(r);
    let Some(refused_at) = paid.iter().position(|(s, _)| s.scripted_refusal) else {
        return Outcome::blocked(format!(
            "no credential was sent (client: {}), see mcp-client.tool-paid",
            r.run.ended
        ));
    };
    let refused_id = &paid[refused_at].1[0].1["challenge"]["id"];
    let later = &paid[refused_at + 1..];
    if let Some((_, again)) = later
        .iter()
        .find(|(_, c)| c.iter().any(|(_, c)| &c["challenge"]["id"] == refused_id))
    {
        return Outcome::fail(
            "a new payment for the challenge the -32043 carried, or none",
            format!(
                "the refused challenge {refused_id} paid again ({} credential(s) for it)",
                again.len()
            ),
        );
    }
    match later.first() {
        Some((_, c)) => Outcome::pass(format!(
            "after the -32043 the client paid the fresh challenge {}",
            c[0].1["challenge"]["id"]
        )),
        None => Outcome::pass(format!(
            "after the -32043 the client stopped (client: {})",
            r.run.ended
        )),
    }
}
