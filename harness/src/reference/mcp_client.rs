//! The reference MCP client (draft-payment-transport-mcp-00): calls one
//! paid tool, resource or prompt over Streamable HTTP, pays a `-32042`
//! (or a `-32043`'s fresh challenge) with the Tempo charge method, and
//! retries with the credential in `params._meta`.
//!
//! Its choices where the draft leaves one: it announces its payment
//! capability in the `InitializeRequest` under
//! `capabilities.experimental.payment` (the examples' place,
//! ambiguity.mcp-capability-shape) and pays a server that advertised
//! none (ambiguity.mcp-capability-absent); it echoes the challenge object
//! exactly as it came, members it does not know included; it pays only
//! challenges that parse as §"Challenge Structure" says and have not
//! expired; after a `-32043` it pays the challenge that error carries,
//! at most twice (ambiguity.mcp-echo-from-32043). Each
//! [`McpClientDeviation`] breaks one of these rules so that the MCP client
//! suite can show its check failing.

use std::collections::BTreeSet;

use mppconf_suite::mcp::{CREDENTIAL_KEY, McpChallenge, PAYMENT_REQUIRED, VERIFICATION_FAILED};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::client::{self, Deviation, PayOptions};
use crate::error::{Error, Result};
use crate::mcp_suite::session::Session;

/// What kind of operation is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpOperation {
    Tool,
    Resource,
    Prompt,
}

impl McpOperation {
    pub const ALL: [McpOperation; 3] = [Self::Tool, Self::Resource, Self::Prompt];

    /// Its name in manifests and on command lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Resource => "resource",
            Self::Prompt => "prompt",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|o| o.name() == name)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown MCP operation {name:?}: one of tool, resource, prompt"
                ))
            })
    }

    /// The JSON-RPC method of the operation.
    pub fn method(self) -> &'static str {
        match self {
            Self::Tool => "tools/call",
            Self::Resource => "resources/read",
            Self::Prompt => "prompts/get",
        }
    }

    /// Its `params` for the tool or prompt `name`, or the resource URI
    /// `name`.
    pub fn params(self, name: &str) -> Value {
        match self {
            Self::Tool => json!({"name": name, "arguments": {}}),
            Self::Resource => json!({"uri": name}),
            Self::Prompt => json!({"name": name}),
        }
    }
}

/// A rule of draft-payment-transport-mcp-00 the reference MCP client
/// breaks on purpose.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum McpClientDeviation {
    /// No payment capability in its `InitializeRequest`.
    NoCapability,
    /// Sends the paid call as a notification (no `id`) first, then as a
    /// request.
    NotificationCall,
    /// Puts the credential under `_meta["paymentauth/credential"]`, a key
    /// no draft names.
    WrongMetaKey,
    /// Puts the credential at the message root and in `params._meta`.
    BothPlacements,
    /// Echoes the challenge without its `description`.
    PartialEcho,
    /// Pays the first challenge offered, whatever its method.
    FirstChallenge,
    /// Pays challenges whose `expires` has passed.
    PayExpired,
    /// Pays challenges that miss required members.
    SkipValidation,
    /// Answers a `-32043` by sending the same credential again.
    ResendAfterFailure,
    /// Refuses to pay a server that advertised no payment capability.
    RequireCapability,
}

impl McpClientDeviation {
    pub const ALL: [McpClientDeviation; 10] = [
        Self::NoCapability,
        Self::NotificationCall,
        Self::WrongMetaKey,
        Self::BothPlacements,
        Self::PartialEcho,
        Self::FirstChallenge,
        Self::PayExpired,
        Self::SkipValidation,
        Self::ResendAfterFailure,
        Self::RequireCapability,
    ];

    pub fn name(self) -> String {
        super::variant_name(&self)
    }

    pub fn parse(name: &str) -> Result<Self> {
        super::parse_variant(name, "MCP client deviation", &Self::ALL)
    }
}

/// One paid call to make.
#[derive(Debug, Clone)]
pub struct McpPayOptions {
    pub endpoint: String,
    pub operation: McpOperation,
    /// The tool or prompt name, or the resource URI.
    pub name: String,
    pub key: String,
    pub rpc_url: String,
    pub deviations: BTreeSet<McpClientDeviation>,
}

/// The answer to the paid call.
#[derive(Debug, Clone)]
pub struct McpPaid {
    pub result: Value,
    pub receipt: Option<Value>,
}

fn refused(why: impl Into<String>) -> Error {
    Error::Refused(why.into())
}

/// At most this many credentials for one call (a first payment and one
/// after a `-32043`).
const ATTEMPTS: usize = 2;

/// Makes the call, pays what it is asked, and returns the result.
pub async fn call(opts: &McpPayOptions) -> Result<McpPaid> {
    let deviates = |d: McpClientDeviation| opts.deviations.contains(&d);
    let session = Session::new(&opts.endpoint);
    let capabilities = if deviates(McpClientDeviation::NoCapability) {
        json!({})
    } else {
        json!({"experimental": {"payment": {"methods": {"tempo": {"intents": ["charge"]}}}}})
    };
    let init = session
        .initialize_with(capabilities)
        .await
        .map_err(|e| refused(format!("initialize: {e}")))?;
    let advertised = init.pointer("/capabilities/experimental/payment").is_some();
    let call = json!({
        "jsonrpc": "2.0",
        "method": opts.operation.method(),
        "params": opts.operation.params(&opts.name),
    });
    if deviates(McpClientDeviation::NotificationCall) {
        session
            .notify(call.clone())
            .await
            .map_err(|e| refused(format!("{}: {e}", opts.operation.method())))?;
    }
    let send = |message: Value| {
        let session = &session;
        async move {
            session
                .send(message)
                .await
                .map_err(|e| refused(format!("{}: {e}", opts.operation.method())))
        }
    };
    let mut answer = send(call.clone()).await?;
    let mut sent: Option<Value> = None;
    let mut attempt = 0;
    loop {
        let Some(error) = answer.get("error") else {
            let result = answer.get("result").cloned().unwrap_or(Value::Null);
            let receipt = result
                .pointer(&format!(
                    "/_meta/{}",
                    super::server::mcp::json_pointer(mppconf_suite::mcp::RECEIPT_KEY)
                ))
                .cloned();
            return Ok(McpPaid { result, receipt });
        };
        let code = error["code"].as_i64();
        if code != Some(PAYMENT_REQUIRED) && code != Some(VERIFICATION_FAILED) {
            return Err(refused(format!("the server answered an error: {error}")));
        }
        if attempt == ATTEMPTS {
            return Err(refused(format!(
                "still refused after {ATTEMPTS} payments: {error}"
            )));
        }
        if code == Some(VERIFICATION_FAILED)
            && deviates(McpClientDeviation::ResendAfterFailure)
            && let Some(message) = &sent
        {
            answer = send(message.clone()).await?;
            attempt += 1;
            continue;
        }
        if !advertised && deviates(McpClientDeviation::RequireCapability) {
            return Err(refused(
                "the server advertised no payment capability in its InitializeResult",
            ));
        }
        let (echo, challenge) = choose(&error["data"]["challenges"], &opts.deviations)?;
        let credential = credential_for(&challenge, opts).await?;
        let mut echo = echo;
        if deviates(McpClientDeviation::PartialEcho)
            && let Some(m) = echo.as_object_mut()
        {
            m.remove("description");
        }
        let credential = json!({"challenge": echo, "payload": credential.payload});
        let message = place(&call, credential, &opts.deviations);
        answer = send(message.clone()).await?;
        sent = Some(message);
        attempt += 1;
    }
}

/// The challenge to pay, as it came (for the echo) and parsed: the first
/// valid, unexpired `tempo`/`charge` one, in server order.
fn choose(
    challenges: &Value,
    deviations: &BTreeSet<McpClientDeviation>,
) -> Result<(Value, McpChallenge)> {
    let deviates = |d: McpClientDeviation| deviations.contains(&d);
    let Some(all) = challenges.as_array().filter(|a| !a.is_empty()) else {
        return Err(refused(
            "error.data.challenges is not an array of at least one challenge",
        ));
    };
    let mut reasons = Vec::new();
    for (i, raw) in all.iter().enumerate() {
        let parsed = match McpChallenge::from_value(raw, &format!("challenges[{i}]")) {
            Ok(c) => c,
            Err(_) if deviates(McpClientDeviation::SkipValidation) => lenient(raw),
            // §"Capability Advertisement": "Clients SHOULD validate
            // challenge structure before fulfilling payment."
            Err(e) => {
                reasons.push(e.to_string());
                continue;
            }
        };
        if deviates(McpClientDeviation::FirstChallenge)
            || (parsed.method == "tempo" && parsed.intent == "charge")
        {
            return Ok((raw.clone(), parsed));
        }
        reasons.push(format!(
            "challenges[{i}]: {}/{} is not supported",
            parsed.method, parsed.intent
        ));
    }
    Err(refused(format!(
        "no payable tempo/charge challenge ({})",
        reasons.join("; ")
    )))
}

/// A challenge read without its structure rules (for the deviation).
fn lenient(raw: &Value) -> McpChallenge {
    let text = |k: &str| raw[k].as_str().unwrap_or_default().to_string();
    McpChallenge {
        id: text("id"),
        realm: text("realm"),
        method: text("method"),
        intent: text("intent"),
        request: raw["request"].as_object().cloned().unwrap_or_default(),
        expires: raw["expires"].as_str().map(str::to_string),
        description: raw["description"].as_str().map(str::to_string),
        extra: Map::new(),
    }
}

/// The Tempo charge credential for a challenge, checked as the HTTP
/// reference client checks one (expiry, chain, request).
async fn credential_for(
    challenge: &McpChallenge,
    opts: &McpPayOptions,
) -> Result<mppconf_suite::codec::Credential> {
    let mut pay = PayOptions::new(&opts.endpoint, &opts.key, &opts.rpc_url);
    pay.allow_http = true;
    if opts.deviations.contains(&McpClientDeviation::PayExpired) {
        pay.deviations.insert(Deviation::IgnoreExpiry);
    }
    client::credential_for(&challenge.to_http(), &pay).await
}

/// The call with the credential in `params._meta` (§"Metadata
/// Placement": inside `params` for MCP), or where a deviation puts it.
fn place(call: &Value, credential: Value, deviations: &BTreeSet<McpClientDeviation>) -> Value {
    let key = if deviations.contains(&McpClientDeviation::WrongMetaKey) {
        "paymentauth/credential"
    } else {
        CREDENTIAL_KEY
    };
    let mut message = call.clone();
    message["params"]["_meta"] = json!({ key: credential.clone() });
    if deviations.contains(&McpClientDeviation::BothPlacements) {
        message["_meta"] = json!({ key: credential });
    }
    message
}
