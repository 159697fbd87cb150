//! mppconf adapter for the `mpp` Rust SDK (crates.io), persistent mode.
//!
//! One JSON request per stdin line, `{"schema":1,"op":OP,"input":…}`; one
//! JSON response per stdout line, in order: `{"ok":true,"value":…}` or
//! `{"ok":false,"error":{"type":T,"message":M}}`. Nothing else is written to
//! stdout. The ABI is described in `vectors/README.md` ("Operations").
//!
//! Every operation calls the SDK's own function; the adapter only converts
//! between the ABI objects and the SDK's types:
//!
//! - ABI challenge objects carry `request` decoded and `opaque` as its
//!   base64url text (or, as input, the flat object). Inputs are turned into
//!   the SDK's serde shape (`request`/`opaque` as base64url text, encoded
//!   with the SDK's `Base64UrlJson::from_value`, i.e. JCS) and deserialized
//!   with the SDK's `Deserialize` impls, which apply the SDK's own checks.
//! - Outputs decode `request` with the SDK's `Base64UrlJson::decode_value`.
//!
//! A panic inside an operation is caught and reported as an error whose
//! message starts with "panicked:", so a crashing SDK path is visible as a
//! finding without ending the process.

use std::io::{self, BufRead, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use mpp::protocol::core::accept_payment;
use mpp::protocol::core::{
    Base64UrlJson, ChallengeEcho, IntentName, MethodName, PaymentChallenge, PaymentCredential,
    Receipt, base64url_decode, base64url_encode, compute_challenge_id_with_header,
    format_authorization, format_receipt, format_www_authenticate, parse_authorization,
    parse_receipt, parse_www_authenticate, parse_www_authenticate_all,
};
use serde_json::{Map, Value, json};

const PARSE: &str = "parse_error";
const FORMAT: &str = "format_error";
const ENCODING: &str = "encoding_error";
const GENERATION: &str = "generation_error";
const UNSUPPORTED: &str = "unsupported_operation";
const UNKNOWN: &str = "unknown_error";

/// An ABI error: its type and message.
struct AbiError {
    kind: &'static str,
    message: String,
}

type OpResult = Result<Value, AbiError>;

fn err(kind: &'static str, message: impl Into<String>) -> AbiError {
    AbiError {
        kind,
        message: message.into(),
    }
}

/// Where the last panic happened, recorded by the panic hook so the error
/// response can name it.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn main() {
    panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown location".into());
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(location.clone());
        }
        eprintln!("mpp-adapter: panic at {location}");
    }));

    let stdin = io::stdin();
    let mut input = stdin.lock();
    let stdout = io::stdout();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("mpp-adapter: reading stdin: {e}");
                break;
            }
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let response = match answer_line(&text) {
            Ok(value) => json!({"ok": true, "value": value}),
            Err(e) => json!({"ok": false, "error": {"type": e.kind, "message": e.message}}),
        };
        let mut out = stdout.lock();
        let written = serde_json::to_writer(&mut out, &response)
            .map_err(io::Error::other)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(e) = written {
            eprintln!("mpp-adapter: writing stdout: {e}");
            break;
        }
    }
}

/// Answers one request line, catching panics.
fn answer_line(text: &str) -> OpResult {
    let request: Value = serde_json::from_str(text)
        .map_err(|e| err(UNKNOWN, format!("request is not JSON: {e}")))?;
    let schema = request.get("schema").and_then(Value::as_u64);
    if schema != Some(1) {
        return Err(err(
            UNKNOWN,
            format!(
                "unsupported ABI schema {}",
                request.get("schema").unwrap_or(&Value::Null)
            ),
        ));
    }
    let op = request
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| err(UNKNOWN, "request has no string \"op\""))?
        .to_string();
    let input = request.get("input").cloned().unwrap_or(Value::Null);
    match panic::catch_unwind(AssertUnwindSafe(|| execute(&op, &input))) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            let location = LAST_PANIC
                .lock()
                .ok()
                .and_then(|mut l| l.take())
                .unwrap_or_default();
            Err(err(
                op_error_type(&op),
                format!("panicked: {what} (at {location})"),
            ))
        }
    }
}

/// The error type of an operation, for failures that are not the input's
/// shape (including panics).
fn op_error_type(op: &str) -> &'static str {
    match op {
        "challenge.parse"
        | "credential.parse"
        | "receipt.parse"
        | "challenges.parse"
        | "accept_payment.parse" => PARSE,
        "challenge.format" | "credential.format" | "receipt.format" => FORMAT,
        "base64url.encode" | "base64url.decode" => ENCODING,
        "challenge.id" => GENERATION,
        _ => UNKNOWN,
    }
}

fn execute(op: &str, input: &Value) -> OpResult {
    match op {
        "challenge.parse" => challenge_parse(input),
        "challenges.parse" => challenges_parse(input),
        "challenge.format" => challenge_format(input),
        "credential.parse" => credential_parse(input),
        "credential.format" => credential_format(input),
        "receipt.parse" => receipt_parse(input),
        "receipt.format" => receipt_format(input),
        "base64url.encode" => {
            let text = input_str(input, "text")?;
            Ok(json!({"text": base64url_encode(text.as_bytes())}))
        }
        "base64url.decode" => {
            let text = input_str(input, "text")?;
            let bytes = base64url_decode(text).map_err(|e| err(ENCODING, e.to_string()))?;
            let text = String::from_utf8(bytes)
                .map_err(|e| err(ENCODING, format!("decoded bytes are not UTF-8: {e}")))?;
            Ok(json!({"text": text}))
        }
        "challenge.id" => challenge_id(input),
        "accept_payment.parse" => accept_payment_parse(input),
        "accept_payment.select" => accept_payment_select(input),
        _ => Err(err(UNSUPPORTED, format!("unsupported operation: {op}"))),
    }
}

/// A required string member of the input; its absence is a harness error.
fn input_str<'a>(input: &'a Value, field: &str) -> Result<&'a str, AbiError> {
    input
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| err(UNKNOWN, format!("input needs a string \"{field}\"")))
}

// ---------------------------------------------------------------------------
// SDK types -> ABI objects
// ---------------------------------------------------------------------------

/// The ABI challenge object of the fields shared by `PaymentChallenge` and
/// `ChallengeEcho`, with the SDK's `header` member (the advertised
/// credential field, draft-httpauth-payment-01).
#[allow(clippy::too_many_arguments)]
fn challenge_object(
    id: &str,
    realm: &str,
    method: &MethodName,
    intent: &IntentName,
    request: &Base64UrlJson,
    expires: Option<&String>,
    description: Option<&String>,
    digest: Option<&String>,
    opaque: Option<&Base64UrlJson>,
    header: Option<&String>,
) -> Result<Value, String> {
    let request = request
        .decode_value()
        .map_err(|e| format!("SDK accepted a request it cannot decode: {e}"))?;
    let mut m = Map::new();
    m.insert("id".into(), id.into());
    m.insert("realm".into(), realm.into());
    m.insert("method".into(), method.as_str().into());
    m.insert("intent".into(), intent.as_str().into());
    m.insert("request".into(), request);
    if let Some(v) = expires {
        m.insert("expires".into(), v.as_str().into());
    }
    if let Some(v) = digest {
        m.insert("digest".into(), v.as_str().into());
    }
    if let Some(v) = description {
        m.insert("description".into(), v.as_str().into());
    }
    if let Some(v) = opaque {
        m.insert("opaque".into(), v.raw().into());
    }
    if let Some(v) = header {
        m.insert("header".into(), v.as_str().into());
    }
    Ok(Value::Object(m))
}

fn challenge_to_abi(c: &PaymentChallenge) -> Result<Value, String> {
    challenge_object(
        &c.id,
        &c.realm,
        &c.method,
        &c.intent,
        &c.request,
        c.expires.as_ref(),
        c.description.as_ref(),
        c.digest.as_ref(),
        c.opaque.as_ref(),
        c.header.as_ref(),
    )
}

fn echo_to_abi(c: &ChallengeEcho) -> Result<Value, String> {
    challenge_object(
        &c.id,
        &c.realm,
        &c.method,
        &c.intent,
        &c.request,
        c.expires.as_ref(),
        c.description.as_ref(),
        c.digest.as_ref(),
        c.opaque.as_ref(),
        c.header.as_ref(),
    )
}

// ---------------------------------------------------------------------------
// ABI objects -> the SDK's serde shape
// ---------------------------------------------------------------------------

/// Turns an ABI challenge object into the SDK's serde form: `request`
/// encoded with the SDK (JCS, base64url), `opaque` kept as text or, given as
/// an object, encoded likewise. Other members pass through unchanged for the
/// SDK's deserializer to judge.
fn challenge_to_wire(value: &Value) -> Result<Value, String> {
    let mut map = value
        .as_object()
        .cloned()
        .ok_or("the challenge is not a JSON object")?;
    // `null` reads as absent, as the ABI allows.
    map.retain(|_, v| !v.is_null());
    if let Some(request) = map.get("request") {
        let encoded = Base64UrlJson::from_value(request)
            .map_err(|e| format!("request: SDK encoding failed: {e}"))?;
        map.insert("request".into(), encoded.raw().into());
    }
    match map.get("opaque") {
        None | Some(Value::String(_)) => {}
        Some(o @ Value::Object(_)) => {
            let encoded = Base64UrlJson::from_value(o)
                .map_err(|e| format!("opaque: SDK encoding failed: {e}"))?;
            map.insert("opaque".into(), encoded.raw().into());
        }
        Some(_) => return Err("opaque must be its base64url text or an object".into()),
    }
    Ok(Value::Object(map))
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

fn challenge_parse(input: &Value) -> OpResult {
    let header = input_str(input, "header")?;
    let challenge = parse_www_authenticate(header).map_err(|e| err(PARSE, e.to_string()))?;
    challenge_to_abi(&challenge).map_err(|e| err(PARSE, e))
}

fn challenges_parse(input: &Value) -> OpResult {
    let headers: Vec<&str> = input
        .get("headers")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_str).collect())
        .ok_or_else(|| err(UNKNOWN, "input needs \"headers\", an array of strings"))?;
    // The SDK reports a rejected challenge as an error in its place; it has
    // no error codes, so the item carries the SDK's message.
    let items: Vec<Value> = parse_www_authenticate_all(headers)
        .into_iter()
        .map(|r| match r {
            Ok(c) => challenge_to_abi(&c).unwrap_or_else(|e| json!({"error": e})),
            Err(e) => json!({"error": e.to_string()}),
        })
        .collect();
    Ok(json!({"challenges": items}))
}

fn challenge_format(input: &Value) -> OpResult {
    let wire = challenge_to_wire(input).map_err(|e| err(FORMAT, e))?;
    let challenge: PaymentChallenge =
        serde_json::from_value(wire).map_err(|e| err(FORMAT, e.to_string()))?;
    let header = format_www_authenticate(&challenge).map_err(|e| err(FORMAT, e.to_string()))?;
    Ok(json!({"header": header}))
}

fn credential_parse(input: &Value) -> OpResult {
    let header = input_str(input, "header")?;
    let credential = parse_authorization(header).map_err(|e| err(PARSE, e.to_string()))?;
    let challenge = echo_to_abi(&credential.challenge).map_err(|e| err(PARSE, e))?;
    Ok(json!({
        "challenge": challenge,
        "payload": credential.payload,
        "source": credential.source,
    }))
}

fn credential_format(input: &Value) -> OpResult {
    let mut map = input
        .as_object()
        .cloned()
        .ok_or_else(|| err(FORMAT, "the credential is not a JSON object"))?;
    map.retain(|_, v| !v.is_null());
    let challenge = map
        .get("challenge")
        .ok_or_else(|| err(FORMAT, "missing field `challenge`"))?;
    let wire = challenge_to_wire(challenge).map_err(|e| err(FORMAT, e))?;
    map.insert("challenge".into(), wire);
    let credential: PaymentCredential =
        serde_json::from_value(Value::Object(map)).map_err(|e| err(FORMAT, e.to_string()))?;
    let header = format_authorization(&credential).map_err(|e| err(FORMAT, e.to_string()))?;
    Ok(json!({"header": header}))
}

fn receipt_parse(input: &Value) -> OpResult {
    let header = input_str(input, "header")?;
    let receipt = parse_receipt(header).map_err(|e| err(PARSE, e.to_string()))?;
    serde_json::to_value(&receipt).map_err(|e| err(PARSE, e.to_string()))
}

fn receipt_format(input: &Value) -> OpResult {
    let receipt: Receipt =
        serde_json::from_value(input.clone()).map_err(|e| err(FORMAT, e.to_string()))?;
    let header = format_receipt(&receipt).map_err(|e| err(FORMAT, e.to_string()))?;
    Ok(json!({"header": header}))
}

fn challenge_id(input: &Value) -> OpResult {
    let map = input
        .as_object()
        .ok_or_else(|| err(GENERATION, "input is not a JSON object"))?;
    let required = |field: &str| {
        map.get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| err(GENERATION, format!("input needs a string \"{field}\"")))
    };
    let optional = |field: &str| match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(err(GENERATION, format!("\"{field}\" must be a string"))),
    };
    // The official vectors name the key `secretKey`, mppconf's `secret`.
    let secret = match optional("secret")? {
        Some(s) => s,
        None => optional("secretKey")?
            .ok_or_else(|| err(GENERATION, "input needs \"secret\" or \"secretKey\""))?,
    };
    let request = map
        .get("request")
        .ok_or_else(|| err(GENERATION, "input needs \"request\""))?;
    let request =
        Base64UrlJson::from_value(request).map_err(|e| err(GENERATION, format!("request: {e}")))?;
    let opaque = match map.get("opaque") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(o @ Value::Object(_)) => Some(
            Base64UrlJson::from_value(o)
                .map_err(|e| err(GENERATION, format!("opaque: {e}")))?
                .raw()
                .to_string(),
        ),
        Some(_) => {
            return Err(err(
                GENERATION,
                "opaque must be its base64url text or an object",
            ));
        }
    };
    let id = compute_challenge_id_with_header(
        secret,
        required("realm")?,
        required("method")?,
        required("intent")?,
        request.raw(),
        optional("expires")?,
        optional("digest")?,
        opaque.as_deref(),
        optional("header")?,
    );
    Ok(json!({"id": id}))
}

/// The SDK keeps q as an `f32` of at most three decimals; its shortest
/// decimal form is the q the header said.
fn q_number(q: f32) -> Value {
    format!("{q}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn accept_payment_parse(input: &Value) -> OpResult {
    let header = input_str(input, "header")?;
    let entries = accept_payment::parse(header).map_err(|e| err(PARSE, e.to_string()))?;
    let ranges: Vec<Value> = entries
        .iter()
        .map(|e| json!({"method": e.method, "intent": e.intent, "q": q_number(e.q)}))
        .collect();
    Ok(json!({"ranges": ranges}))
}

/// The server's ordering of its offers: the SDK's `server::compose`, which
/// takes `PaymentChallenge`s; each offer becomes one whose id is its index.
fn accept_payment_select(input: &Value) -> OpResult {
    let offers: Vec<(&str, &str)> = input
        .get("offers")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|o| Some((o.get("method")?.as_str()?, o.get("intent")?.as_str()?)))
                .collect()
        })
        .ok_or_else(|| {
            err(
                UNKNOWN,
                "input needs \"offers\", an array of {method, intent}",
            )
        })?;
    let header = match input.get("header") {
        Some(Value::String(h)) => Some(h.as_str()),
        Some(Value::Null) | None => None,
        Some(_) => return Err(err(UNKNOWN, "\"header\" must be a string or null")),
    };
    let challenges: Vec<PaymentChallenge> = offers
        .iter()
        .enumerate()
        .map(|(i, (method, intent))| {
            PaymentChallenge::new(
                i.to_string(),
                "",
                MethodName::new(*method),
                IntentName::new(*intent),
                Base64UrlJson::from_raw("e30"),
            )
        })
        .collect();
    let order: Vec<usize> = mpp::server::compose(challenges, header)
        .iter()
        .map(|c| c.id.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| {
            err(
                UNKNOWN,
                format!("compose returned a foreign challenge: {e}"),
            )
        })?;
    Ok(json!({"order": order}))
}
