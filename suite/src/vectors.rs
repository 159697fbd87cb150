//! Vector files (`vectors/**/*.json`, schema `vectors/schema/vectors.schema.json`)
//! and the judging of an implementation's answers to them.
//!
//! Judging is here, not in the harness, because it is what conformance
//! means: a `valid` case must succeed with the expected value, an `invalid`
//! one must fail with the expected ABI error type, and an `acceptable` one
//! may do either (success is reported as `lenient`). Format operations are
//! judged by reading the produced header back with the reference codec,
//! since parameter order and white space are free but content and
//! canonical encodings are not.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codec::{Challenge, Credential, Receipt};
use crate::drafts::CoreDraft;
use crate::ops::{AbiError, AbiRequest, AbiResponse, without_nulls};

/// A vector file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VectorFile {
    pub format: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub notes: BTreeMap<String, Note>,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Note {
    pub description: String,
    #[serde(default)]
    pub ambiguity: Option<String>,
}

/// What the spec says must happen.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    Valid,
    Invalid,
    Acceptable,
}

/// One case of a vector file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    #[serde(default)]
    pub comment: Option<String>,
    pub requirements: Vec<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    pub op: String,
    pub input: Value,
    pub result: Expectation,
    #[serde(default)]
    pub expected: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    /// The core drafts the case holds under, by docname; empty for every
    /// one. A case that holds under one draft only (the `header` binding
    /// of -01) is reported `skip` in a run against another.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drafts: Vec<String>,
    /// Other values a `valid` case accepts where the drafts disagree with
    /// themselves, each with the text that supports it; a match passes
    /// with that text in its detail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Alternative>,
}

/// A value a case also accepts, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alternative {
    pub expected: Value,
    pub because: String,
}

impl Case {
    /// Whether the case holds under `draft` (an unknown name in `drafts`
    /// is a lint error of `vectors validate`, and holds under none).
    pub fn holds_under(&self, draft: CoreDraft) -> bool {
        self.drafts.is_empty() || self.drafts.iter().any(|d| d == draft.docname())
    }

    /// `challenge.roundtrip` → `challenge`, for roundtrip cases.
    pub fn roundtrip_of(&self) -> Option<&str> {
        self.op.strip_suffix(".roundtrip")
    }

    /// `credential.format` → `credential`, for format cases.
    pub fn format_of(&self) -> Option<&str> {
        self.op.strip_suffix(".format")
    }
}

/// The verdict on one case for one implementation.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Accepted an input the spec lets it reject (`acceptable` case).
    Lenient,
    /// Not run, with a reason (the adapter does not support the operation).
    Skip,
    /// The harness could not decide (the adapter crashed or answered
    /// outside the ABI); never counted as a pass.
    Error,
    /// A failure listed, with its reason, in the expectations file the run
    /// was given (a baseline of known failures).
    Xfail,
    /// Listed as a known failure but now passing: the list is out of date.
    Stale,
    /// Observed behaviour worth knowing that no pinned requirement decides
    /// (a case that follows a newer draft); never gating.
    Info,
    /// A SHOULD is not met; gates only under `--strict`.
    Warn,
    /// Not run because a check it depends on failed (the reason names it).
    Blocked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Lenient => "lenient",
            Verdict::Skip => "skip",
            Verdict::Error => "error",
            Verdict::Xfail => "xfail",
            Verdict::Stale => "stale",
            Verdict::Info => "info",
            Verdict::Warn => "warn",
            Verdict::Blocked => "blocked",
        }
    }
}

/// A verdict with the reason a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub detail: String,
}

impl Judgement {
    fn new(verdict: Verdict, detail: impl Into<String>) -> Self {
        Self {
            verdict,
            detail: detail.into(),
        }
    }
}

/// Something that answers ABI requests: an adapter process or the
/// reference codec itself. `Err` is a transport failure (crash, timeout,
/// garbage), which judging turns into the `error` verdict.
pub trait Executor {
    fn call(&mut self, request: &AbiRequest) -> Result<AbiResponse, String>;

    /// Answers several independent requests, in order. Executors that can
    /// pipeline (a persistent adapter) override this; the answers must be
    /// the ones [`Executor::call`] would give.
    fn call_batch(&mut self, requests: &[AbiRequest]) -> Vec<Result<AbiResponse, String>> {
        requests.iter().map(|r| self.call(r)).collect()
    }
}

/// The next request [`judge`] will make for a case, given the answers to
/// the ones before it; `None` once it needs no more. Runners use this to
/// send the requests of many cases at once (a persistent adapter pipelines
/// them) and then judge each case with a [`Replay`] of its answers.
pub fn next_request(case: &Case, answers: &[Result<AbiResponse, String>]) -> Option<AbiRequest> {
    let Some(kind) = case.roundtrip_of() else {
        return answers.is_empty().then(|| request(&case.op, &case.input));
    };
    // parse(input) → format(value) → parse(formatted), stopping at the
    // first answer that is not a success.
    let (parse, format) = roundtrip_ops(kind);
    let last = match answers.last() {
        None => return Some(request(&parse, &case.input)),
        Some(Ok(AbiResponse::Ok(v))) => v,
        Some(_) => return None,
    };
    match answers.len() {
        1 => Some(request(&format, last)),
        2 => Some(request(&parse, last)),
        _ => None,
    }
}

/// The reading and writing operations a `<kind>.roundtrip` chains.
fn roundtrip_ops(kind: &str) -> (String, String) {
    match kind {
        "base64url" => ("base64url.decode".into(), "base64url.encode".into()),
        k => (format!("{k}.parse"), format!("{k}.format")),
    }
}

/// An executor that gives back, in order, answers obtained earlier.
pub struct Replay(pub std::collections::VecDeque<Result<AbiResponse, String>>);

impl Executor for Replay {
    fn call(&mut self, _: &AbiRequest) -> Result<AbiResponse, String> {
        self.0
            .pop_front()
            .unwrap_or_else(|| Err("no recorded answer left for this case".into()))
    }
}

fn request(op: &str, input: &Value) -> AbiRequest {
    AbiRequest {
        schema: crate::ops::ABI_SCHEMA,
        op: op.to_string(),
        input: input.clone(),
        context: None,
    }
}

/// The reference codec as an [`Executor`], under a core draft.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reference(pub CoreDraft);

impl Executor for Reference {
    fn call(&mut self, request: &AbiRequest) -> Result<AbiResponse, String> {
        Ok(crate::ops::answer(request, self.0))
    }
}

enum Outcome {
    Ok(Value),
    Err(AbiError),
}

fn call(exec: &mut dyn Executor, op: &str, input: &Value) -> Result<Outcome, Judgement> {
    match exec.call(&request(op, input)) {
        Ok(AbiResponse::Ok(v)) => Ok(Outcome::Ok(v)),
        Ok(AbiResponse::Err(e)) if e.error_type == "unsupported_operation" => Err(Judgement::new(
            Verdict::Skip,
            format!("the adapter does not support {op}"),
        )),
        Ok(AbiResponse::Err(e)) => Ok(Outcome::Err(e)),
        Err(transport) => Err(Judgement::new(Verdict::Error, format!("{op}: {transport}"))),
    }
}

/// Runs and judges one case against an executor, under `draft` (which
/// decides how the reference codec reads back a formatted header).
pub fn judge(case: &Case, exec: &mut dyn Executor, draft: CoreDraft) -> Judgement {
    match run(case, exec, draft) {
        Ok(j) | Err(j) => j,
    }
}

fn run(case: &Case, exec: &mut dyn Executor, draft: CoreDraft) -> Result<Judgement, Judgement> {
    let outcome = if let Some(kind) = case.roundtrip_of() {
        roundtrip(kind, &case.input, exec, draft)?
    } else {
        call(exec, &case.op, &case.input)?
    };
    Ok(match (case.result, outcome) {
        (Expectation::Invalid, Outcome::Ok(v)) => Judgement::new(
            Verdict::Fail,
            format!(
                "Expected: {} error\nActual: accepted, value {}",
                case.error.as_deref().unwrap_or("an"),
                compact(&v)
            ),
        ),
        (Expectation::Invalid, Outcome::Err(e)) => judge_error(case, &e),
        (Expectation::Valid, Outcome::Err(e)) => Judgement::new(
            Verdict::Fail,
            format!(
                "Expected: success\nActual: {} ({}){}",
                e.error_type,
                e.message,
                e.code.map(|c| format!(" [{c}]")).unwrap_or_default()
            ),
        ),
        (Expectation::Acceptable, Outcome::Err(e)) => Judgement::new(
            Verdict::Pass,
            format!("rejected ({}), which the spec allows", e.error_type),
        ),
        (expectation, Outcome::Ok(actual)) => match check_value(case, &actual, draft) {
            Err(why) => Judgement::new(Verdict::Fail, why),
            Ok(_) if expectation == Expectation::Acceptable => Judgement::new(
                Verdict::Lenient,
                "accepted an input the spec allows rejecting",
            ),
            Ok(None) => Judgement::new(Verdict::Pass, "as expected"),
            Ok(Some(because)) => Judgement::new(
                Verdict::Pass,
                format!("matches the alternative value: {because}"),
            ),
        },
    })
}

fn judge_error(case: &Case, e: &AbiError) -> Judgement {
    let want = case.error.as_deref().unwrap_or_default();
    if e.error_type != want {
        return Judgement::new(
            Verdict::Fail,
            format!("Expected: {want}\nActual: {} ({})", e.error_type, e.message),
        );
    }
    match (&case.error_code, &e.code) {
        (Some(want_code), Some(code)) if want_code != code => Judgement::new(
            Verdict::Fail,
            format!(
                "Expected: {want} [{want_code}]\nActual: {want} [{code}] ({})",
                e.message
            ),
        ),
        _ => Judgement::new(Verdict::Pass, format!("rejected: {}", e.message)),
    }
}

/// parse → format → parse, by the implementation itself; the formatted
/// header must also read back the same through the reference codec.
fn roundtrip(
    kind: &str,
    input: &Value,
    exec: &mut dyn Executor,
    draft: CoreDraft,
) -> Result<Outcome, Judgement> {
    let (parse, format) = roundtrip_ops(kind);
    let first = match call(exec, &parse, input)? {
        Outcome::Ok(v) => v,
        err => return Ok(err),
    };
    let header = match call(exec, &format, &first)? {
        Outcome::Ok(v) => v,
        Outcome::Err(e) => {
            return Err(Judgement::new(
                Verdict::Fail,
                format!(
                    "Expected: the parsed value formats again\nActual: {} ({})",
                    e.error_type, e.message
                ),
            ));
        }
    };
    let second = match call(exec, &parse, &header)? {
        Outcome::Ok(v) => v,
        Outcome::Err(e) => {
            return Err(Judgement::new(
                Verdict::Fail,
                format!(
                    "Expected: its own output {} parses\nActual: {} ({})",
                    compact(&header),
                    e.error_type,
                    e.message
                ),
            ));
        }
    };
    if !json_equal(&without_nulls(&first), &without_nulls(&second)) {
        return Err(Judgement::new(
            Verdict::Fail,
            format!(
                "Expected: format-then-parse is identity\nActual: {} became {}",
                compact(&first),
                compact(&second)
            ),
        ));
    }
    // Headers must also read back through the reference codec; plain
    // base64url text has no header to read.
    if kind != "base64url"
        && let Err(why) = reference_reads_back(kind, &first, &header, draft)
    {
        return Err(Judgement::new(Verdict::Fail, why));
    }
    Ok(Outcome::Ok(first))
}

/// `Ok(Some(because))` when the value is one of the case's alternatives.
fn check_value<'c>(
    case: &'c Case,
    actual: &Value,
    draft: CoreDraft,
) -> Result<Option<&'c str>, String> {
    if let Some(kind) = case.format_of() {
        return reference_reads_back(kind, &case.input, actual, draft).map(|()| None);
    }
    let same = |expected: &Value| json_equal(&normalize(expected), &normalize(actual));
    match &case.expected {
        Some(expected) if !same(expected) => {
            match case.alternatives.iter().find(|a| same(&a.expected)) {
                Some(a) => Ok(Some(a.because.as_str())),
                None => Err(format!(
                    "Expected: {}\nActual: {}",
                    compact(expected),
                    compact(actual)
                )),
            }
        }
        _ => Ok(None),
    }
}

/// The formatted `{header}` must parse with the reference codec to the
/// object it was made from, with `request`/`opaque` in canonical encoding.
fn reference_reads_back(
    kind: &str,
    object: &Value,
    output: &Value,
    draft: CoreDraft,
) -> Result<(), String> {
    let Some(header) = output.get("header").and_then(Value::as_str) else {
        return Err(format!(
            "Expected: {{\"header\": string}}\nActual: {}",
            compact(output)
        ));
    };
    let parsed = match kind {
        "challenge" => Challenge::parse(header).and_then(|c| {
            c.check_draft(draft)?;
            canonical(&c.request, c.opaque.as_ref())?;
            Ok(c.to_abi_for(draft))
        }),
        "credential" => Credential::parse(header).and_then(|c| {
            canonical(&c.challenge.request, c.challenge.opaque.as_ref())?;
            Ok(c.to_abi_for(draft))
        }),
        "receipt" => Receipt::parse(header).map(|r| r.to_abi()),
        other => return Err(format!("no reference reader for {other}")),
    };
    match parsed {
        Err(e) => Err(format!(
            "Expected: a header the reference codec reads\nActual: {header:?} is rejected: {e}"
        )),
        Ok(v) if !json_equal(&normalize(object), &normalize(&v)) => Err(format!(
            "Expected: {}\nActual: {header:?} reads as {}",
            compact(object),
            compact(&v)
        )),
        Ok(_) => Ok(()),
    }
}

fn canonical(
    request: &crate::codec::EncodedJson,
    opaque: Option<&crate::codec::EncodedJson>,
) -> crate::Result<()> {
    for (field, e) in [("request", Some(request)), ("opaque", opaque)] {
        if let Some(e) = e.filter(|e| !e.is_canonical()) {
            return Err(crate::Error::InvalidJson {
                field,
                reason: format!("{} is not base64url of JCS text", e.wire),
            });
        }
    }
    Ok(())
}

/// Absent and null optional members read alike, and an `opaque` given as
/// its object reads as its canonical encoding; at the top level and in an
/// echoed `challenge`.
fn normalize(v: &Value) -> Value {
    fn one(v: &Value) -> Value {
        let mut out = without_nulls(v);
        if let Some(o) = out.get("opaque").filter(|o| o.is_object()) {
            out["opaque"] = crate::codec::EncodedJson::canonical(o.clone()).wire.into();
        }
        out
    }
    let mut out = one(v);
    if let Some(c) = out.get("challenge").map(one) {
        out["challenge"] = c;
    }
    out
}

/// JSON equality where `1` and `1.0` are the same number.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        let cut = s.char_indices().nth(300).map_or(s.len(), |(i, _)| i);
        format!("{}… ({} bytes)", &s[..cut], s.len())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case(
        op: &str,
        input: Value,
        result: Expectation,
        expected: Option<Value>,
        error: Option<&str>,
    ) -> Case {
        Case {
            id: "t".into(),
            comment: None,
            requirements: vec![],
            flags: vec![],
            op: op.into(),
            input,
            result,
            expected,
            error: error.map(str::to_string),
            error_code: None,
            drafts: vec![],
            alternatives: vec![],
        }
    }

    /// An executor that answers every call with one canned response.
    struct Canned(AbiResponse);
    impl Executor for Canned {
        fn call(&mut self, _: &AbiRequest) -> Result<AbiResponse, String> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn valid_case_passes_on_reference_and_fails_on_wrong_value() {
        let c = case(
            "base64url.encode",
            json!({"text": "hi"}),
            Expectation::Valid,
            Some(json!({"text": "aGk"})),
            None,
        );
        assert_eq!(
            judge(&c, &mut Reference::default(), CoreDraft::Draft00).verdict,
            Verdict::Pass
        );
        let wrong = Canned(AbiResponse::Ok(json!({"text": "aGk="})));
        assert_eq!(
            judge(&c, &mut { wrong }, CoreDraft::Draft00).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn invalid_case_needs_the_right_error_type() {
        let c = case(
            "base64url.decode",
            json!({"text": "_w"}),
            Expectation::Invalid,
            None,
            Some("encoding_error"),
        );
        assert_eq!(
            judge(&c, &mut Reference::default(), CoreDraft::Draft00).verdict,
            Verdict::Pass
        );
        let parse = Canned(AbiResponse::Err(AbiError {
            error_type: "parse_error".into(),
            message: "x".into(),
            code: None,
        }));
        assert_eq!(
            judge(&c, &mut { parse }, CoreDraft::Draft00).verdict,
            Verdict::Fail
        );
        let unsupported = Canned(AbiResponse::Err(AbiError {
            error_type: "unsupported_operation".into(),
            message: "x".into(),
            code: None,
        }));
        assert_eq!(
            judge(&c, &mut { unsupported }, CoreDraft::Draft00).verdict,
            Verdict::Skip
        );
    }

    #[test]
    fn acceptable_case_is_lenient_when_accepted() {
        let c = case(
            "base64url.decode",
            json!({"text": "aGk="}),
            Expectation::Acceptable,
            None,
            None,
        );
        assert_eq!(
            judge(&c, &mut Reference::default(), CoreDraft::Draft00).verdict,
            Verdict::Pass
        );
        let lenient = Canned(AbiResponse::Ok(json!({"text": "hi"})));
        assert_eq!(
            judge(&c, &mut { lenient }, CoreDraft::Draft00).verdict,
            Verdict::Lenient
        );
    }

    #[test]
    fn format_is_read_back_by_the_reference() {
        let object = json!({"id": "x", "realm": "r", "method": "tempo", "intent": "charge", "request": {"b": "1", "a": "2"}});
        let c = case("challenge.format", object, Expectation::Valid, None, None);
        assert_eq!(
            judge(&c, &mut Reference::default(), CoreDraft::Draft00).verdict,
            Verdict::Pass
        );
        // Same content, but request not in JCS order: fails.
        let non_jcs = crate::codec::base64url::encode(r#"{"b":"1","a":"2"}"#);
        let bad = Canned(AbiResponse::Ok(json!({
            "header": format!("Payment id=x, realm=r, method=tempo, intent=charge, request={non_jcs}")
        })));
        let j = judge(&c, &mut { bad }, CoreDraft::Draft00);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.detail);
    }

    #[test]
    fn transport_failure_is_an_error_not_a_pass() {
        struct Broken;
        impl Executor for Broken {
            fn call(&mut self, _: &AbiRequest) -> Result<AbiResponse, String> {
                Err("adapter exited with status 1".into())
            }
        }
        let c = case(
            "base64url.decode",
            json!({"text": "aGk="}),
            Expectation::Acceptable,
            None,
            None,
        );
        assert_eq!(
            judge(&c, &mut Broken, CoreDraft::Draft00).verdict,
            Verdict::Error
        );
    }

    #[test]
    fn an_alternative_value_passes_with_its_reason_and_nothing_else_does() {
        let mut c = case(
            "challenge.id",
            json!({}),
            Expectation::Valid,
            Some(json!({"id": "hash-362"})),
            None,
        );
        c.alternatives = vec![Alternative {
            expected: json!({"id": "hash-text"}),
            because: "the pinned text's slot order".into(),
        }];
        let answer = |id: &str| Canned(AbiResponse::Ok(json!({ "id": id })));
        let d = CoreDraft::Draft01;
        assert_eq!(judge(&c, &mut answer("hash-362"), d).detail, "as expected");
        let alt = judge(&c, &mut answer("hash-text"), d);
        assert_eq!(alt.verdict, Verdict::Pass);
        assert!(
            alt.detail.contains("the pinned text's slot order"),
            "{alt:?}"
        );
        assert_eq!(judge(&c, &mut answer("other"), d).verdict, Verdict::Fail);
    }

    #[test]
    fn a_case_holds_under_the_drafts_it_names() {
        let mut c = case("challenge.id", json!({}), Expectation::Valid, None, None);
        assert!(CoreDraft::ALL.iter().all(|d| c.holds_under(*d)));
        c.drafts = vec!["draft-httpauth-payment-01".into()];
        assert!(!c.holds_under(CoreDraft::Draft00));
        assert!(c.holds_under(CoreDraft::Draft01));
    }
}
