//! The request and payload schemas of the payment methods mppconf judges
//! by data: one rule file per method draft (`vectors/methods/<docname>.json`,
//! schema `vectors/schema/method-rules.schema.json`), compiled in.
//!
//! A rule is a small JSON Schema fragment that must hold for the decoded
//! `request` of a challenge or the `payload` of a credential, and names
//! the catalogue requirement it stands for, so that a violation says which
//! sentence of the draft it breaks. Rules of level `should` give warnings.
//! A method whose drafts the codec knows in code (Tempo charge) is
//! validated by [`crate::codec::request_schema`] and
//! [`super::tempo_charge`]; the rules here judge every other method, with
//! no code per method.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use crate::codec::request_schema::Warning;
use crate::error::{Error, Result};

mod compiled {
    include!(concat!(env!("OUT_DIR"), "/method_rules.rs"));
}

mod payload_vectors {
    include!(concat!(env!("OUT_DIR"), "/payload_vectors.rs"));
}

/// A payload the method's vectors call invalid, and the requirement it
/// breaks: a server of the method must refuse a credential carrying it.
#[derive(Debug, Clone)]
pub struct BrokenPayload {
    /// The vector case's id.
    pub case: String,
    pub requirement: String,
    pub payload: serde_json::Map<String, Value>,
}

/// Every invalid `payload.validate` case of `method` and `intent` in the
/// compiled-in vectors whose payload is a JSON object, in file order.
pub fn broken_payloads(method: &str, intent: &str) -> Vec<BrokenPayload> {
    let mut out = Vec::new();
    for (file, text) in payload_vectors::FILES {
        let parsed: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("vectors/{file}: compiled-in vectors parse: {e}"));
        for case in parsed["cases"].as_array().into_iter().flatten() {
            let input = &case["input"];
            if case["op"] != "payload.validate"
                || case["result"] != "invalid"
                || input["method"] != method
                || input["intent"] != intent
            {
                continue;
            }
            if let (Some(id), Some(code), Some(payload)) = (
                case["id"].as_str(),
                case["error_code"].as_str(),
                input["payload"].as_object(),
            ) {
                out.push(BrokenPayload {
                    case: id.to_string(),
                    requirement: code.to_string(),
                    payload: payload.clone(),
                });
            }
        }
    }
    out
}

/// Which part of the exchange a rule judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The decoded JSON of a challenge's `request`.
    Request,
    /// A credential's `payload` object.
    Payload,
}

/// The rules of one method draft.
#[derive(Debug)]
pub struct MethodRules {
    pub docname: String,
    /// The challenges' `method` value; `*` for an intent draft's rules,
    /// which hold for every method of the intent.
    pub method: String,
    pub intent: String,
    pub request: Vec<Rule>,
    pub payload: Vec<Rule>,
}

/// One rule: a requirement of the catalogue, as a JSON Schema.
#[derive(Debug)]
pub struct Rule {
    pub requirement: String,
    pub should: bool,
    pub summary: String,
    validator: jsonschema::Validator,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    format: String,
    docname: String,
    method: String,
    intent: String,
    #[serde(default)]
    request: Vec<RuleFile>,
    #[serde(default)]
    payload: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    requirement: String,
    level: Level,
    summary: String,
    schema: Value,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Level {
    Must,
    Should,
}

impl MethodRules {
    /// Reads one rule file; the error names the rule that does not
    /// compile.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let file: RulesFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if file.format != "mppconf-method-rules/1" {
            return Err(format!(
                "format {:?}: expected \"mppconf-method-rules/1\"",
                file.format
            ));
        }
        let rules = |part: &str, rules: Vec<RuleFile>| {
            rules
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let validator = jsonschema::validator_for(&r.schema).map_err(|e| {
                        format!(
                            "/{part}/{i}/schema ({}) does not compile: {e}",
                            r.requirement
                        )
                    })?;
                    Ok(Rule {
                        requirement: r.requirement,
                        should: r.level == Level::Should,
                        summary: r.summary,
                        validator,
                    })
                })
                .collect::<std::result::Result<Vec<_>, String>>()
        };
        Ok(MethodRules {
            request: rules("request", file.request)?,
            payload: rules("payload", file.payload)?,
            docname: file.docname,
            method: file.method,
            intent: file.intent,
        })
    }

    pub fn rules(&self, part: Part) -> &[Rule] {
        match part {
            Part::Request => &self.request,
            Part::Payload => &self.payload,
        }
    }

    /// Whether these rules judge challenges of `method` and `intent`.
    pub fn applies(&self, method: &str, intent: &str) -> bool {
        self.intent == intent && (self.method == "*" || self.method == method)
    }
}

static ALL: OnceLock<Vec<MethodRules>> = OnceLock::new();

/// Judges by these rule files instead of the compiled-in ones: a vectors
/// folder under review (a spec author's new method) brings its own. Only
/// before the first validation; afterwards the rules in use are returned.
pub fn install(rules: Vec<MethodRules>) -> std::result::Result<(), Vec<MethodRules>> {
    ALL.set(rules)
}

/// The rule files in use: those [`install`]ed, else the compiled-in ones,
/// read once.
pub fn all() -> &'static [MethodRules] {
    ALL.get_or_init(|| {
        compiled::FILES
            .iter()
            .map(|(name, text)| {
                MethodRules::from_json(text)
                    .unwrap_or_else(|e| panic!("vectors/methods/{name}: {e}"))
            })
            .collect()
    })
}

/// The rule files that judge `method` and `intent`: the intent's (`*`)
/// first, then the method's.
pub fn for_method(method: &str, intent: &str) -> impl Iterator<Item = &'static MethodRules> {
    let all = all();
    let intent_wide = all
        .iter()
        .filter(move |r| r.method == "*" && r.applies(method, intent));
    let own = all
        .iter()
        .filter(move |r| r.method != "*" && r.applies(method, intent));
    intent_wide.chain(own)
}

/// The requirements of the drafts of `method` and `intent` (those with a
/// rule file) that only the live rail can judge and that bind a server,
/// with the rail each needs.
pub fn server_rail_requirements(method: &str, intent: &str) -> Vec<(&'static str, &'static str)> {
    let docnames: Vec<&str> = for_method(method, intent)
        .filter(|f| f.method != "*")
        .map(|f| f.docname.as_str())
        .collect();
    crate::catalogue::compiled_files()
        .iter()
        .filter(|f| docnames.contains(&f.docname.as_str()))
        .flat_map(|f| &f.requirements)
        .filter(|r| r.binds != "client")
        .filter_map(|r| r.rail().map(|rail| (r.id.as_str(), rail)))
        .collect()
}

/// Judges `value` (a request or a payload) by every rule for `method` and
/// `intent`, in file order: the first `must` rule it breaks is the error,
/// the `should` rules it breaks are warnings.
pub fn validate(method: &str, intent: &str, part: Part, value: &Value) -> Result<Vec<Warning>> {
    judge(for_method(method, intent), part, value)
}

fn judge(
    files: impl Iterator<Item = &'static MethodRules>,
    part: Part,
    value: &Value,
) -> Result<Vec<Warning>> {
    let mut warnings = Vec::new();
    for rules in files {
        for rule in rules.rules(part) {
            let Some(error) = rule.validator.iter_errors(value).next() else {
                continue;
            };
            let path = format!("${}", error.instance_path()).replace('/', ".");
            let reason = format!("{} ({error})", rule.summary);
            if rule.should {
                warnings.push(Warning {
                    requirement: rule.requirement.as_str(),
                    path,
                    reason,
                });
            } else {
                let requirement = rule.requirement.as_str();
                return Err(match part {
                    Part::Request => Error::RequestSchema {
                        requirement,
                        path,
                        reason,
                    },
                    Part::Payload => Error::PayloadSchema {
                        requirement,
                        path,
                        reason,
                    },
                });
            }
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = r#"{
        "format": "mppconf-method-rules/1",
        "docname": "draft-example-charge-00",
        "method": "example",
        "intent": "charge",
        "request": [
            {"requirement": "x.request.invoice", "level": "must", "summary": "invoice is a string",
             "schema": {"properties": {"methodDetails": {"required": ["invoice"], "properties": {"invoice": {"type": "string"}}}}, "required": ["methodDetails"]}},
            {"requirement": "x.request.network", "level": "should", "summary": "network is named",
             "schema": {"properties": {"methodDetails": {"required": ["network"]}}}}
        ],
        "payload": [
            {"requirement": "x.payload.preimage", "level": "must", "summary": "preimage is 64 hex digits",
             "schema": {"required": ["preimage"], "properties": {"preimage": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}}
        ]
    }"#;

    fn check(rules: &'static MethodRules, part: Part, value: &Value) -> Result<Vec<&'static str>> {
        judge(std::iter::once(rules), part, value)
            .map(|w| w.into_iter().map(|w| w.requirement).collect())
    }

    #[test]
    fn a_rule_names_its_requirement_and_should_rules_warn() {
        let rules: &'static MethodRules =
            Box::leak(Box::new(MethodRules::from_json(FILE).unwrap()));
        assert!(rules.applies("example", "charge"));
        assert!(!rules.applies("example", "session"));
        let good = json!({"methodDetails": {"invoice": "lnbc1", "network": "regtest"}});
        assert_eq!(
            check(rules, Part::Request, &good).unwrap(),
            Vec::<&str>::new()
        );
        let unnamed = json!({"methodDetails": {"invoice": "lnbc1"}});
        assert_eq!(
            check(rules, Part::Request, &unnamed).unwrap(),
            vec!["x.request.network"]
        );
        let broken = json!({"methodDetails": {"invoice": 7}});
        assert!(matches!(
            check(rules, Part::Request, &broken),
            Err(Error::RequestSchema {
                requirement: "x.request.invoice",
                ..
            })
        ));
        assert!(matches!(
            check(rules, Part::Payload, &json!({"preimage": "00"})),
            Err(Error::PayloadSchema {
                requirement: "x.payload.preimage",
                ..
            })
        ));
    }

    #[test]
    fn a_rule_that_does_not_compile_is_named() {
        let broken = FILE.replace(
            r#""type": "string", "pattern""#,
            r#""type": "strnig", "pattern""#,
        );
        let e = MethodRules::from_json(&broken).unwrap_err();
        assert!(e.contains("/payload/0/schema (x.payload.preimage)"), "{e}");
    }

    #[test]
    fn every_compiled_in_rule_file_reads_and_names_a_known_method_or_intent() {
        for rules in all() {
            assert!(rules.docname.starts_with("draft-"), "{}", rules.docname);
            assert!(!rules.request.is_empty() || !rules.payload.is_empty());
        }
    }
}
