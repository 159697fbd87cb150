//! draft-payment-discovery-00: the OpenAPI discovery document, its
//! `x-service-info` and `x-payment-info` extensions, and whether a
//! declared payment offer matches a live challenge.
//!
//! The document is read by `oas3` (OpenAPI 3.1), the extensions are
//! validated against the draft's own appendix JSON Schemas (copied
//! verbatim to `vectors/schema/discovery/`) by `jsonschema`, and URIs are
//! checked against RFC 3986 by `fluent-uri`: nothing here parses OpenAPI,
//! JSON Schema or URIs by hand. Every rejection names the catalogue
//! requirement it breaks ([`Error::Discovery`]).

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::codec::Challenge;
use crate::codec::json::parse_json;
use crate::error::{Error, Result};

/// The draft's appendix "JSON Schema for x-payment-info".
pub const PAYMENT_INFO_SCHEMA: &str =
    include_str!("../../vectors/schema/discovery/x-payment-info.schema.json");
/// The draft's appendix "JSON Schema for x-service-info".
pub const SERVICE_INFO_SCHEMA: &str =
    include_str!("../../vectors/schema/discovery/x-service-info.schema.json");

/// Where the document is (§"Document Location").
pub const DOCUMENT_PATH: &str = "/openapi.json";

struct Schemas {
    payment_info: jsonschema::Validator,
    /// `$defs/offer` alone, to say which offer and field is wrong.
    offer: jsonschema::Validator,
    service_info: jsonschema::Validator,
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    let payment: Value = serde_json::from_str(PAYMENT_INFO_SCHEMA).expect("embedded schema");
    let service: Value = serde_json::from_str(SERVICE_INFO_SCHEMA).expect("embedded schema");
    let offer = json!({
        "$schema": payment["$schema"],
        "$defs": payment["$defs"],
        "$ref": "#/$defs/offer",
    });
    let compile = |s: &Value| jsonschema::validator_for(s).expect("embedded schema compiles");
    Schemas {
        payment_info: compile(&payment),
        offer: compile(&offer),
        service_info: compile(&service),
    }
});

fn violation(
    requirement: &'static str,
    path: impl Into<String>,
    reason: impl Into<String>,
) -> Error {
    Error::Discovery {
        requirement,
        path: path.into(),
        reason: reason.into(),
    }
}

/// One payment offer (§"Payment Offer Object").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Offer {
    pub intent: String,
    pub method: String,
    /// `None`: dynamic pricing (`null`).
    pub amount: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Members the draft does not define (its schema forbids them; a
    /// lenient read keeps them, e.g. a `recipient` some servers add).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// Which of the two equivalent forms the extension used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The fields of one offer directly on the extension object.
    Shorthand,
    /// An `offers` array (the form new documents SHOULD use).
    Offers,
}

impl Form {
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Shorthand => "shorthand",
            Form::Offers => "offers",
        }
    }
}

/// A validated `x-payment-info`: the shorthand reads as one offer
/// (`discovery.payment-info.shorthand-equivalent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInfo {
    pub form: Form,
    pub offers: Vec<Offer>,
}

impl PaymentInfo {
    /// Validates `value` against the draft's schema; `at` is where it sits
    /// (for messages, e.g. `/paths/~1v1~1chat/post/x-payment-info`).
    pub fn from_value(value: &Value, at: &str) -> Result<Self> {
        let schemas = &*SCHEMAS;
        if !schemas.payment_info.is_valid(value) {
            return Err(explain(value, at));
        }
        let (form, offers) = match value.get("offers") {
            Some(list) => (Form::Offers, list.clone()),
            None => (Form::Shorthand, Value::Array(vec![value.clone()])),
        };
        let offers: Vec<Offer> = serde_json::from_value(offers)
            .map_err(|e| violation("discovery.offer.required-fields", at, e.to_string()))?;
        Ok(Self { form, offers })
    }

    /// The offers as far as they can be read without the appendix
    /// schema: members it does not define kept in [`Offer::extra`], the
    /// fields it does define still typed. For judging a document's offers
    /// against live challenges once its schema violation is reported.
    pub fn from_value_lenient(value: &Value, at: &str) -> Result<Self> {
        let (form, offers) = match value.get("offers") {
            Some(list) => (Form::Offers, list.clone()),
            None => (Form::Shorthand, Value::Array(vec![value.clone()])),
        };
        let offers: Vec<Offer> = serde_json::from_value(offers)
            .map_err(|e| violation("discovery.offer.required-fields", at, e.to_string()))?;
        Ok(Self { form, offers })
    }

    /// [`PaymentInfo::from_value`] of JSON text (duplicate member names
    /// refused, as everywhere in the codec).
    pub fn parse(text: &str) -> Result<Self> {
        Self::from_value(&parse_json("x-payment-info", text)?, "")
    }

    /// The ABI value (`payment_info.parse`): the form, and the offers with
    /// absent optional members omitted.
    pub fn to_abi(&self) -> Value {
        let offers: Vec<Value> = self
            .offers
            .iter()
            .map(|o| {
                let mut m = serde_json::Map::new();
                m.insert("intent".into(), o.intent.clone().into());
                m.insert("method".into(), o.method.clone().into());
                m.insert("amount".into(), o.amount.clone().into());
                if let Some(c) = &o.currency {
                    m.insert("currency".into(), c.clone().into());
                }
                if let Some(d) = &o.description {
                    m.insert("description".into(), d.clone().into());
                }
                Value::Object(m)
            })
            .collect();
        json!({"form": self.form.as_str(), "offers": offers})
    }
}

/// Which offer and field an invalid `x-payment-info` gets wrong, and the
/// requirement that breaks: an `amount` that is neither `null` nor a
/// string of digits is `discovery.offer.amount-digits`, anything else the
/// appendix schema's shape (`discovery.offer.required-fields`).
fn explain(value: &Value, at: &str) -> Error {
    let schemas = &*SCHEMAS;
    let (offers, base): (Vec<&Value>, String) = match value.get("offers") {
        Some(Value::Array(list)) if !list.is_empty() => {
            (list.iter().collect(), format!("{at}/offers"))
        }
        Some(_) => {
            return violation(
                "discovery.offer.required-fields",
                format!("{at}/offers"),
                "offers must be a non-empty array of offer objects",
            );
        }
        None => (vec![value], at.to_string()),
    };
    if let Some(offers_extra) = value
        .as_object()
        .filter(|m| m.contains_key("offers"))
        .and_then(|m| m.keys().find(|k| *k != "offers"))
    {
        return violation(
            "discovery.offer.required-fields",
            at,
            format!("the multi-offer form has only `offers`, not {offers_extra:?}"),
        );
    }
    for (i, offer) in offers.iter().enumerate() {
        let path = if value.get("offers").is_some() {
            format!("{base}/{i}")
        } else {
            base.clone()
        };
        if let Some(e) = schemas.offer.iter_errors(offer).next() {
            let requirement = if e.instance_path().as_str() == "/amount" {
                "discovery.offer.amount-digits"
            } else {
                "discovery.offer.required-fields"
            };
            return violation(
                requirement,
                format!("{path}{}", e.instance_path().as_str()),
                e.to_string(),
            );
        }
    }
    violation(
        "discovery.offer.required-fields",
        at,
        "does not match the appendix schema of x-payment-info",
    )
}

/// What is wrong with an `x-service-info` object: the appendix schema, the
/// `categories` and `docs` MUSTs, and RFC 3986 for every `docs` URI.
pub fn service_info_problems(value: &Value) -> Vec<Error> {
    let at = "/x-service-info";
    let mut problems = Vec::new();
    if let Some(c) = value.get("categories")
        && !c.as_array().is_some_and(|a| a.iter().all(Value::is_string))
    {
        problems.push(violation(
            "discovery.categories.array",
            format!("{at}/categories"),
            format!("{c} is not an array of strings"),
        ));
    }
    match value.get("docs") {
        Some(Value::Object(docs)) => {
            for (name, v) in docs {
                if !["apiReference", "homepage", "llms"].contains(&name.as_str()) {
                    continue;
                }
                let path = format!("{at}/docs/{name}");
                match v.as_str() {
                    None => problems.push(violation(
                        "discovery.docs.uri",
                        path,
                        format!("{v} is not a URI string"),
                    )),
                    Some(text) => {
                        if let Err(e) = fluent_uri::Uri::parse(text) {
                            problems.push(violation(
                                "discovery.docs.uri",
                                path,
                                format!("{text:?} is not an RFC 3986 URI: {e}"),
                            ));
                        }
                    }
                }
            }
        }
        Some(other) => problems.push(violation(
            "discovery.docs.object",
            format!("{at}/docs"),
            format!("{other} is not a JSON object"),
        )),
        None => {}
    }
    if problems.is_empty()
        && let Some(e) = SCHEMAS.service_info.iter_errors(value).next()
    {
        problems.push(violation(
            "discovery.fields.required",
            format!("{at}{}", e.instance_path().as_str()),
            e.to_string(),
        ));
    }
    problems
}

/// Category values that are not lowercase, hyphenated words
/// (`discovery.categories.style`, a SHOULD).
pub fn unstyled_categories(value: &Value) -> Vec<String> {
    value
        .get("categories")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|c| {
            c.is_empty()
                || c.starts_with('-')
                || c.ends_with('-')
                || c.contains("--")
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .map(str::to_string)
        .collect()
}

/// One operation of the document.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The path template, e.g. `/v1/items/{id}`.
    pub path: String,
    /// Uppercase, e.g. `POST`.
    pub method: String,
    /// The raw `x-payment-info`, if any.
    pub payment_info: Option<Value>,
    pub declares_402: bool,
    pub has_request_body: bool,
}

impl Operation {
    /// Where its `x-payment-info` sits, as a JSON pointer.
    pub fn pointer(&self) -> String {
        format!(
            "/paths/{}/{}/x-payment-info",
            self.path.replace('~', "~0").replace('/', "~1"),
            self.method.to_ascii_lowercase()
        )
    }

    /// Whether the template matches a concrete request path: literal
    /// segments equal, `{name}` segments any non-empty segment.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let template: Vec<&str> = self.path.split('/').collect();
        let concrete: Vec<&str> = path.split('/').collect();
        template.len() == concrete.len()
            && template.iter().zip(&concrete).all(|(t, c)| {
                if t.starts_with('{') && t.ends_with('}') {
                    !c.is_empty()
                } else {
                    t == c
                }
            })
    }
}

/// A discovery document, read by `oas3`.
#[derive(Debug, Clone)]
pub struct Document {
    pub spec: oas3::Spec,
    pub raw: Value,
}

impl Document {
    /// Reads the document: JSON (duplicate members refused), then an
    /// OpenAPI 3.x document by `oas3` (which reads 3.1; a 3.0 document it
    /// cannot read is reported as such, naming the version).
    pub fn parse(text: &str) -> Result<Self> {
        let raw = parse_json("discovery document", text)?;
        let version = raw.get("openapi").and_then(Value::as_str).unwrap_or("");
        if !version.starts_with("3.") {
            return Err(violation(
                "discovery.openapi.publish",
                "/openapi",
                format!("{:?} is not an OpenAPI 3.x version", raw.get("openapi")),
            ));
        }
        let spec = serde_json::from_value::<oas3::Spec>(raw.clone()).map_err(|e| {
            violation(
                "discovery.fields.required",
                "",
                format!("not an OpenAPI {version} document as oas3 reads it: {e}"),
            )
        })?;
        Ok(Self { spec, raw })
    }

    /// What §"Required Top-Level Fields" finds missing (oas3 already
    /// insists on `openapi`, `info.title` and `info.version`; the draft
    /// also wants a non-empty title and version, and paths with at least
    /// one operation).
    pub fn required_field_problems(&self) -> Vec<Error> {
        let mut problems = Vec::new();
        let r = "discovery.fields.required";
        if self.spec.info.title.trim().is_empty() {
            problems.push(violation(r, "/info/title", "empty service name"));
        }
        if self.spec.info.version.trim().is_empty() {
            problems.push(violation(r, "/info/version", "empty API version"));
        }
        if self.operations().is_empty() {
            problems.push(violation(r, "/paths", "no path with an operation"));
        }
        problems
    }

    /// Every operation, in document order of paths.
    pub fn operations(&self) -> Vec<Operation> {
        let mut all = Vec::new();
        for (path, item) in self.spec.paths.iter().flatten() {
            for (method, op) in item.methods() {
                all.push(Operation {
                    path: path.clone(),
                    method: method.as_str().to_ascii_uppercase(),
                    payment_info: op.extensions.get("payment-info").cloned(),
                    declares_402: op.responses.as_ref().is_some_and(|r| r.contains_key("402")),
                    has_request_body: op.request_body.is_some(),
                });
            }
        }
        all
    }

    /// The `x-service-info` object, if any.
    pub fn service_info(&self) -> Option<&Value> {
        self.raw.get("x-service-info")
    }
}

/// Whether an offer matches a live challenge: the same method and intent
/// (ignoring case),
/// the same amount unless the offer's is `null` (dynamic), and the same
/// currency when the offer names one (0x addresses by their bytes, other
/// identifiers such as ISO 4217 codes ignoring case), and the same
/// recipient when an offer carries one beyond the draft's fields. `Err`
/// says what differs.
pub fn offer_matches(offer: &Offer, challenge: &Challenge) -> std::result::Result<(), String> {
    let request = &challenge.request.value;
    let mut differs = Vec::new();
    // Case aside: a challenge's method or intent in capitals is the
    // challenge checks' finding (core: lowercase), not an offer's.
    if !offer.method.eq_ignore_ascii_case(&challenge.method) {
        differs.push(format!(
            "method {:?} ≠ {:?}",
            offer.method, challenge.method
        ));
    }
    if !offer.intent.eq_ignore_ascii_case(&challenge.intent) {
        differs.push(format!(
            "intent {:?} ≠ {:?}",
            offer.intent, challenge.intent
        ));
    }
    if let Some(amount) = &offer.amount {
        let live = request.get("amount").and_then(Value::as_str);
        if live != Some(amount.as_str()) {
            differs.push(format!("amount {amount:?} ≠ {live:?}"));
        }
    }
    if let Some(currency) = &offer.currency {
        let live = request.get("currency").and_then(Value::as_str);
        if !live.is_some_and(|l| l.eq_ignore_ascii_case(currency)) {
            differs.push(format!("currency {currency:?} ≠ {live:?}"));
        }
    }
    if let Some(recipient) = offer.extra.get("recipient").and_then(Value::as_str) {
        let live = request.get("recipient").and_then(Value::as_str);
        if !live.is_some_and(|l| l.eq_ignore_ascii_case(recipient)) {
            differs.push(format!("recipient {recipient:?} ≠ {live:?}"));
        }
    }
    if differs.is_empty() {
        Ok(())
    } else {
        Err(differs.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_forms_read_alike() {
        let short = PaymentInfo::parse(
            r#"{"intent":"charge","method":"tempo","amount":"500","currency":"0x20c0"}"#,
        )
        .unwrap();
        let long = PaymentInfo::parse(
            r#"{"offers":[{"intent":"charge","method":"tempo","amount":"500","currency":"0x20c0"}]}"#,
        )
        .unwrap();
        assert_eq!(short.offers, long.offers);
        assert_eq!((short.form, long.form), (Form::Shorthand, Form::Offers));
    }

    #[test]
    fn each_rejection_names_its_requirement() {
        let code = |t: &str| PaymentInfo::parse(t).unwrap_err().code();
        assert_eq!(
            code(r#"{"intent":"charge","method":"tempo","amount":"0500"}"#),
            "discovery.offer.amount-digits"
        );
        assert_eq!(
            code(r#"{"offers":[{"intent":"charge","method":"tempo","amount":"1.5"}]}"#),
            "discovery.offer.amount-digits"
        );
        assert_eq!(
            code(r#"{"intent":"charge","method":"tempo"}"#),
            "discovery.offer.required-fields"
        );
        assert_eq!(
            code(r#"{"intent":"refund","method":"tempo","amount":null}"#),
            "discovery.offer.required-fields"
        );
        assert_eq!(code(r#"{"offers":[]}"#), "discovery.offer.required-fields");
        assert_eq!(
            code(r#"{"intent":"charge","method":"tempo","amount":"1","recipient":"0x1"}"#),
            "discovery.offer.required-fields"
        );
    }

    #[test]
    fn templates_match_concrete_paths() {
        let op = Operation {
            path: "/v1/items/{id}".into(),
            method: "GET".into(),
            payment_info: None,
            declares_402: true,
            has_request_body: false,
        };
        assert!(op.matches("GET", "/v1/items/42?x=1"));
        assert!(!op.matches("GET", "/v1/items/"));
        assert!(!op.matches("POST", "/v1/items/42"));
        assert_eq!(op.pointer(), "/paths/~1v1~1items~1{id}/get/x-payment-info");
    }

    #[test]
    fn docs_uris_must_be_rfc_3986() {
        let bad = json!({"docs": {"homepage": "not a uri"}, "categories": ["compute"]});
        let problems = service_info_problems(&bad);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].code(), "discovery.docs.uri");
        assert!(
            service_info_problems(&json!({"docs": {"llms": "https://x.test/llms.txt"}})).is_empty()
        );
        assert_eq!(
            service_info_problems(&json!({"categories": "compute"}))[0].code(),
            "discovery.categories.array"
        );
        assert_eq!(
            unstyled_categories(&json!({"categories": ["Dev Tools", "ai-agents"]})),
            vec!["Dev Tools"]
        );
    }
}
