//! draft-payment-transport-mcp-00 on the reference server: its routes as
//! paid MCP tools, resources and prompts, JSON-RPC over MCP's Streamable
//! HTTP transport (`POST /mcp`, each answer one JSON body).
//!
//! Paying goes through the same verification and settlement as the HTTP
//! routes ([`super::settle_credential`]): the MCP credential in
//! `_meta["org.paymentauth/credential"]` (at the message's root or in
//! `params`) is read in its HTTP form, `request` bound by its JCS text.
//!
//! Choices where the draft leaves one: challenges carry core's `opaque`
//! as an extra string member (a nonce, so that every challenge id is
//! fresh, and the operation, so that a challenge buys the operation it
//! was issued for: §"Challenge Binding" SHOULD; ambiguity.mcp-binding-input
//! and ambiguity.mcp-operation-binding); an unknown, used, expired or
//! tampered challenge is a verification failure, `-32043` with a fresh
//! challenge (ambiguity.mcp-invalid-challenge-code); a malformed
//! credential is `-32602` with a `detail` (ambiguity.mcp-malformed-no-challenge);
//! a credential on a free operation is ignored (§"Metadata Placement").
//! It is stateless (no `Mcp-Session-Id`).

use std::collections::BTreeSet;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mppconf_suite::codec::{
    BindingSlots, Credential, EchoedChallenge, EncodedJson, ProblemType, Receipt,
};
use mppconf_suite::mcp::{
    CREDENTIAL_KEY, INTERNAL_ERROR, INVALID_PARAMS, McpChallenge, McpCredential, PAYMENT_REQUIRED,
    RECEIPT_KEY, VERIFICATION_FAILED,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::answers::challenge_for;
use super::{Leniency, Refusal, RouteConfig, State, refuse, settle_credential};

/// Where the MCP endpoint is.
pub const PATH: &str = "/mcp";
/// A tool that costs nothing (it echoes its `text` argument).
pub const FREE_TOOL: &str = "free-echo";
/// The MCP protocol revision it answers with when the client asks for
/// one it does not know.
pub const PROTOCOL_VERSION: &str = "2025-06-18";
const KNOWN_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// How the MCP endpoint is served: which of the draft's rules it breaks.
#[derive(Debug, Clone, Default)]
pub struct McpServing {
    pub deviations: BTreeSet<McpDeviation>,
}

/// A rule of draft-payment-transport-mcp-00 the reference MCP endpoint
/// breaks on purpose, so that the MCP server suite can show each of its
/// checks failing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum McpDeviation {
    /// Payment required as `-32000` (a generic server error), not `-32042`.
    WrongErrorCode,
    /// No `httpStatus` in the challenge error's data.
    NoHttpStatus,
    /// `request` as base64url of its JCS text (core's wire form).
    Base64urlRequest,
    /// No payment capability in the `InitializeResult`.
    NoCapability,
    /// Paid results without a receipt.
    NoReceipt,
    /// Receipts whose `challengeId` names no challenge it issued.
    ReceiptWrongChallengeId,
    /// Looks for the credential in `params._meta` only.
    NestedOnly,
    /// Accepts a challenge id again (no single-use claim).
    AcceptReplay,
    /// A failed verification answered `-32042`, not `-32043`.
    FailureAsPaymentRequired,
    /// A malformed credential answered `-32043`, not `-32602`.
    MalformedAsVerificationFailed,
    /// Trusts the echoed challenge: no binding, no comparison with the
    /// operation's price, the payment verified against the echo.
    TrustEcho,
    /// Settles a credential sent with a free tool call and returns a
    /// receipt.
    ChargeFreeTool,
    /// Challenges not bound to their operation: one paid tool's challenge
    /// buys another of the same price.
    UnboundOperation,
    /// Accepts credentials for expired challenges.
    IgnoreExpiry,
    /// Serves `resources/read` without payment (only tools are gated).
    FreeResources,
    /// Serves `prompts/get` without payment.
    FreePrompts,
    /// The same challenge for every call (no nonce, a fixed expiry).
    StaticChallenge,
    /// Takes an echoed id as it comes (no binding recomputed): any id
    /// buys, so a forged one does, and a payment buys again under a new id.
    SkipIdCheck,
    /// Executes a payment-gated notification (settles its credential).
    ProcessNotifications,
    /// Answers a notification as if unpaid (a `-32042` with a null id),
    /// executing nothing.
    AnswerNotifications,
    /// A verification failure's `-32043` carries a challenge whose id it
    /// never issued (paying it is refused).
    UnpayableRetry,
    /// `problem` without `title` and with `status` as text.
    IncompleteProblem,
}

impl McpDeviation {
    pub const ALL: [McpDeviation; 22] = [
        McpDeviation::WrongErrorCode,
        McpDeviation::NoHttpStatus,
        McpDeviation::Base64urlRequest,
        McpDeviation::NoCapability,
        McpDeviation::NoReceipt,
        McpDeviation::ReceiptWrongChallengeId,
        McpDeviation::NestedOnly,
        McpDeviation::AcceptReplay,
        McpDeviation::FailureAsPaymentRequired,
        McpDeviation::MalformedAsVerificationFailed,
        McpDeviation::TrustEcho,
        McpDeviation::ChargeFreeTool,
        McpDeviation::UnboundOperation,
        McpDeviation::IgnoreExpiry,
        McpDeviation::FreeResources,
        McpDeviation::FreePrompts,
        McpDeviation::StaticChallenge,
        McpDeviation::SkipIdCheck,
        McpDeviation::ProcessNotifications,
        McpDeviation::AnswerNotifications,
        McpDeviation::UnpayableRetry,
        McpDeviation::IncompleteProblem,
    ];

    pub fn name(self) -> String {
        crate::reference::variant_name(&self)
    }

    pub fn parse(name: &str) -> crate::error::Result<Self> {
        crate::reference::parse_variant(name, "MCP server deviation", &Self::ALL)
    }
}

/// What a route is called over MCP: its path without the leading slash
/// (`/paid` is the tool and prompt `paid`, the resource `mppconf://paid`).
pub fn name_of(route: &RouteConfig) -> String {
    route.path.trim_start_matches('/').replace('/', "-")
}

/// The resource URI of a route.
pub fn resource_uri(route: &RouteConfig) -> String {
    format!("mppconf://{}", name_of(route))
}

struct Endpoint<'a> {
    state: &'a State,
    serving: &'a McpServing,
}

impl Endpoint<'_> {
    fn deviates(&self, d: McpDeviation) -> bool {
        self.serving.deviations.contains(&d)
    }
}

/// Answers one POST to [`PATH`].
pub(super) async fn answer(
    state: &State,
    serving: &McpServing,
    _headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let endpoint = Endpoint { state, serving };
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return json_answer(error(
            &Value::Null,
            -32700,
            "Parse error",
            json!({"detail": "the body is not JSON"}),
        ));
    };
    if message.get("jsonrpc") != Some(&json!("2.0")) || !message["method"].is_string() {
        return json_answer(error(
            message.get("id").unwrap_or(&Value::Null),
            -32600,
            "Invalid Request",
            json!({"detail": "a JSON-RPC 2.0 request object was expected"}),
        ));
    }
    // A notification (no id) gets no answer, and a payment-gated one is
    // not processed (§"Notifications": MUST NOT, SHOULD silently drop).
    let Some(id) = message.get("id").cloned() else {
        if endpoint.deviates(McpDeviation::AnswerNotifications) {
            // Answered as if unpaid: a challenge, nothing settled.
            let mut unpaid = message.clone();
            if let Some(params) = unpaid.get_mut("params").and_then(Value::as_object_mut) {
                params.remove("_meta");
            }
            if let Some(m) = unpaid.as_object_mut() {
                m.remove("_meta");
            }
            return json_answer(endpoint.request(&Value::Null, &unpaid).await);
        }
        if endpoint.deviates(McpDeviation::ProcessNotifications) {
            endpoint.request(&Value::Null, &message).await;
        }
        return StatusCode::ACCEPTED.into_response();
    };
    json_answer(endpoint.request(&id, &message).await)
}

fn json_answer(message: Value) -> Response {
    let mut r = (StatusCode::OK, message.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn error(id: &Value, code: i64, message: &str, data: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}})
}

/// What is being paid for: the kind of operation and its route.
#[derive(Clone, Copy)]
enum Operation {
    Tool,
    Resource,
    Prompt,
}

impl Endpoint<'_> {
    async fn request(&self, id: &Value, message: &Value) -> Value {
        let params = &message["params"];
        match message["method"].as_str().unwrap_or_default() {
            "initialize" => result(id, self.initialize(params)),
            "ping" => result(id, json!({})),
            "tools/list" => result(id, self.tools()),
            "resources/list" => result(id, self.resources()),
            "prompts/list" => result(id, self.prompts()),
            "tools/call" => {
                let name = params["name"].as_str().unwrap_or_default();
                if name == FREE_TOOL {
                    return self.free_tool(id, message).await;
                }
                self.paid(id, message, Operation::Tool, |r| name_of(r) == name)
                    .await
            }
            "resources/read" => {
                let uri = params["uri"].as_str().unwrap_or_default();
                self.paid(id, message, Operation::Resource, |r| resource_uri(r) == uri)
                    .await
            }
            "prompts/get" => {
                let name = params["name"].as_str().unwrap_or_default();
                self.paid(id, message, Operation::Prompt, |r| name_of(r) == name)
                    .await
            }
            other => error(
                id,
                -32601,
                "Method not found",
                json!({"detail": format!("no method {other:?}")}),
            ),
        }
    }

    /// The `InitializeResult`, with the payment capability (§"MCP
    /// Capability Advertisement") naming the routes' methods.
    fn initialize(&self, params: &Value) -> Value {
        let asked = params["protocolVersion"].as_str().unwrap_or_default();
        let version = if KNOWN_VERSIONS.contains(&asked) {
            asked
        } else {
            PROTOCOL_VERSION
        };
        let mut methods = Map::new();
        for route in &self.state.config.routes {
            methods.insert(route.payment_method.clone(), json!({"intents": ["charge"]}));
        }
        let mut capabilities = json!({"tools": {}, "resources": {}, "prompts": {}});
        if !self.deviates(McpDeviation::NoCapability) {
            capabilities["experimental"] = json!({"payment": {"methods": methods}});
        }
        json!({
            "protocolVersion": version,
            "capabilities": capabilities,
            "serverInfo": {"name": "mppconf-reference", "version": env!("CARGO_PKG_VERSION")},
        })
    }

    fn tools(&self) -> Value {
        let mut tools: Vec<Value> = self
            .state
            .config
            .routes
            .iter()
            .map(|r| {
                json!({
                    "name": name_of(r),
                    "description": format!("{} base units of {} ({})", r.amount, r.currency, r.payment_method),
                    "inputSchema": {"type": "object"},
                })
            })
            .collect();
        tools.push(json!({
            "name": FREE_TOOL,
            "description": "free: echoes its text argument",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
        }));
        json!({ "tools": tools })
    }

    fn resources(&self) -> Value {
        let resources: Vec<Value> = self
            .state
            .config
            .routes
            .iter()
            .map(|r| json!({"uri": resource_uri(r), "name": name_of(r), "mimeType": "text/plain"}))
            .collect();
        json!({ "resources": resources })
    }

    fn prompts(&self) -> Value {
        let prompts: Vec<Value> = self
            .state
            .config
            .routes
            .iter()
            .map(|r| json!({"name": name_of(r)}))
            .collect();
        json!({ "prompts": prompts })
    }

    /// The free tool: a credential it carries is ignored (§"Metadata
    /// Placement": servers MUST ignore payment metadata on methods that
    /// do not require payment), but for the deviation that settles it.
    async fn free_tool(&self, id: &Value, message: &Value) -> Value {
        let text = message["params"]["arguments"]["text"]
            .as_str()
            .unwrap_or_default();
        let mut answer = json!({"content": [{"type": "text", "text": text}]});
        if self.deviates(McpDeviation::ChargeFreeTool)
            && let Ok(Some(c)) = McpCredential::of_request(message)
            && let Some(route) = self.state.config.routes.first()
            && let Ok(receipt) =
                settle_credential(self.state, route, &http_form(&c), &[], self.leniency()).await
        {
            answer["_meta"] = json!({ RECEIPT_KEY: self.receipt_json(&receipt, &c) });
        }
        result(id, answer)
    }

    fn leniency(&self) -> Leniency {
        Leniency {
            skip_replay: self.deviates(McpDeviation::AcceptReplay),
            trust_echo: self.deviates(McpDeviation::TrustEcho),
            ignore_expiry: self.deviates(McpDeviation::IgnoreExpiry),
            skip_binding: self.deviates(McpDeviation::SkipIdCheck),
            voucher_only: false,
        }
    }

    /// A paid operation: a challenge without a credential, the result
    /// with a receipt after a verified payment, an error otherwise.
    async fn paid(
        &self,
        id: &Value,
        message: &Value,
        kind: Operation,
        is: impl Fn(&RouteConfig) -> bool,
    ) -> Value {
        let Some(route) = self.state.config.routes.iter().find(|r| is(r)) else {
            return error(
                id,
                INVALID_PARAMS,
                "Invalid params",
                json!({"detail": "no such tool, resource or prompt"}),
            );
        };
        let operation = operation_name(kind, route);
        let free = match kind {
            Operation::Resource => self.deviates(McpDeviation::FreeResources),
            Operation::Prompt => self.deviates(McpDeviation::FreePrompts),
            Operation::Tool => false,
        };
        if free {
            return result(id, content(kind, route));
        }
        let mut seen = message.clone();
        if self.deviates(McpDeviation::NestedOnly)
            && let Some(m) = seen.as_object_mut()
        {
            m.remove("_meta");
        }
        if self.deviates(McpDeviation::Base64urlRequest) {
            // It reads back the text form it sends.
            for at in ["/_meta", "/params/_meta"] {
                if let Some(request) = seen.pointer_mut(&format!(
                    "{at}/{}/challenge/request",
                    json_pointer(CREDENTIAL_KEY)
                )) && let Some(d) = request
                    .as_str()
                    .and_then(|t| EncodedJson::decode_object("request", t).ok())
                {
                    *request = d.value;
                }
            }
        }
        let credential = match McpCredential::of_request(&seen) {
            Ok(Some(c)) => c,
            Ok(None) => {
                return self.challenge_error(
                    id,
                    route,
                    &operation,
                    PAYMENT_REQUIRED,
                    refuse(ProblemType::PaymentRequired, "Payment required for access."),
                );
            }
            Err(e) if self.deviates(McpDeviation::MalformedAsVerificationFailed) => {
                return self.challenge_error(
                    id,
                    route,
                    &operation,
                    VERIFICATION_FAILED,
                    refuse(ProblemType::MalformedCredential, e.to_string()),
                );
            }
            // §"Protocol Errors": -32602 for a malformed credential.
            Err(e) => {
                return error(
                    id,
                    INVALID_PARAMS,
                    "Invalid params",
                    json!({"detail": format!("{CREDENTIAL_KEY}: {e}")}),
                );
            }
        };
        let bound_to = credential
            .challenge
            .to_http()
            .opaque
            .and_then(|o| o.value["operation"].as_str().map(str::to_string));
        if !self.deviates(McpDeviation::UnboundOperation)
            && bound_to.as_deref() != Some(operation.as_str())
        {
            return self.challenge_error(
                id,
                route,
                &operation,
                VERIFICATION_FAILED,
                refuse(
                    ProblemType::InvalidChallenge,
                    format!("the challenge was not issued for {operation}"),
                ),
            );
        }
        match settle_credential(
            self.state,
            route,
            &http_form(&credential),
            &[],
            self.leniency(),
        )
        .await
        {
            Ok(receipt) => {
                let mut answer = content(kind, route);
                if !self.deviates(McpDeviation::NoReceipt) {
                    answer["_meta"] =
                        json!({ RECEIPT_KEY: self.receipt_json(&receipt, &credential) });
                }
                result(id, answer)
            }
            Err(refusal) => {
                let code = if self.deviates(McpDeviation::FailureAsPaymentRequired) {
                    PAYMENT_REQUIRED
                } else {
                    VERIFICATION_FAILED
                };
                self.challenge_error(id, route, &operation, code, refusal)
            }
        }
    }

    fn receipt_json(&self, receipt: &Receipt, credential: &McpCredential) -> Value {
        let challenge_id = if self.deviates(McpDeviation::ReceiptWrongChallengeId) {
            alloy::primitives::B128::random().to_string()
        } else {
            credential.challenge.id.clone()
        };
        json!({
            "status": receipt.status,
            "method": receipt.method,
            "timestamp": receipt.timestamp,
            "reference": receipt.reference,
            "challengeId": challenge_id,
        })
    }

    /// A `-32042` or `-32043` error with a fresh challenge for the
    /// operation (§"Signaling Payment Required", §"Payment Verification
    /// Failure").
    fn challenge_error(
        &self,
        id: &Value,
        route: &RouteConfig,
        operation: &str,
        code: i64,
        refusal: Refusal,
    ) -> Value {
        let mut challenge = self.challenge(route, operation);
        if code == VERIFICATION_FAILED && self.deviates(McpDeviation::UnpayableRetry) {
            challenge["id"] = alloy::primitives::B256::random().to_string().into();
        }
        let mut data = json!({
            "challenges": [challenge],
            "problem": {
                "type": refusal.problem.uri(),
                "title": refusal.problem.title(),
                "status": 402,
                "detail": refusal.detail,
            },
        });
        if self.deviates(McpDeviation::IncompleteProblem)
            && let Some(p) = data["problem"].as_object_mut()
        {
            p.remove("title");
            p.insert("status".into(), "402".into());
        }
        if code == VERIFICATION_FAILED {
            data["failure"] = json!({"reason": refusal.problem.code(), "detail": refusal.detail});
        }
        if !self.deviates(McpDeviation::NoHttpStatus) {
            data["httpStatus"] = json!(402);
        }
        let (code, message) = match code {
            PAYMENT_REQUIRED if self.deviates(McpDeviation::WrongErrorCode) => {
                (-32000, "Payment Required")
            }
            PAYMENT_REQUIRED => (PAYMENT_REQUIRED, "Payment Required"),
            VERIFICATION_FAILED => (VERIFICATION_FAILED, "Payment Verification Failed"),
            _ => (INTERNAL_ERROR, "Internal error"),
        };
        error(id, code, message, data)
    }

    /// A fresh challenge for the route in the MCP form: `request` a
    /// native object, `opaque` binding a nonce and the operation.
    fn challenge(&self, route: &RouteConfig, operation: &str) -> Value {
        let mut c = challenge_for(self.state, route, &[], None);
        let nonce = if self.deviates(McpDeviation::StaticChallenge) {
            c.expires = Some(super::rfc3339_at(self.state.started + 3600));
            "static".to_string()
        } else {
            alloy::primitives::B128::random().to_string()
        };
        let mut opaque = json!({ "nonce": nonce });
        if !self.deviates(McpDeviation::UnboundOperation) {
            opaque["operation"] = operation.into();
        }
        c.opaque = Some(EncodedJson::canonical(opaque));
        c.id = BindingSlots::of(&c, self.state.binding_draft())
            .challenge_id(&self.state.binding_key());
        let mut mcp = McpChallenge {
            id: c.id.clone(),
            realm: c.realm.clone(),
            method: c.method.clone(),
            intent: c.intent.clone(),
            request: c.request.value.as_object().cloned().unwrap_or_default(),
            expires: c.expires.clone(),
            description: c.description.clone(),
            extra: Map::new(),
        }
        .to_json();
        if let Some(o) = &c.opaque {
            mcp["opaque"] = o.wire.clone().into();
        }
        if self.deviates(McpDeviation::Base64urlRequest) {
            mcp["request"] = c.request.wire.clone().into();
        }
        mcp
    }
}

/// A key as a JSON pointer token (RFC 6901: `~` and `/` escaped).
pub(crate) fn json_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The operation a challenge is bound to, e.g. `tools/call paid`.
fn operation_name(kind: Operation, route: &RouteConfig) -> String {
    match kind {
        Operation::Tool => format!("tools/call {}", name_of(route)),
        Operation::Resource => format!("resources/read {}", resource_uri(route)),
        Operation::Prompt => format!("prompts/get {}", name_of(route)),
    }
}

/// What a paid operation returns, in the shape its MCP method has.
fn content(kind: Operation, route: &RouteConfig) -> Value {
    let text = route.content();
    match kind {
        Operation::Tool => json!({"content": [{"type": "text", "text": text}]}),
        Operation::Resource => {
            json!({"contents": [{"uri": resource_uri(route), "mimeType": "text/plain", "text": text}]})
        }
        Operation::Prompt => json!({
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
        }),
    }
}

/// The MCP credential in its HTTP form, for the shared verification.
fn http_form(c: &McpCredential) -> Credential {
    Credential {
        challenge: EchoedChallenge::echo_of(&c.challenge.to_http()),
        payload: c.payload.clone(),
        source: c.source.clone(),
        unknown: Map::new(),
    }
}
