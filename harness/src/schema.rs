//! JSON Schema checks of our own data formats, with the schemas compiled
//! into the binary so that `mppconf` validates the same way wherever it runs.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::Value;

/// The data formats mppconf reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Vectors,
    Requirements,
    MethodRules,
    AdapterManifest,
    ServerTarget,
    ClientTarget,
    Report,
    PayerManifest,
}

impl Schema {
    fn source(self) -> &'static str {
        match self {
            Schema::Vectors => include_str!("../../vectors/schema/vectors.schema.json"),
            Schema::Requirements => include_str!("../../vectors/schema/requirements.schema.json"),
            Schema::MethodRules => include_str!("../../vectors/schema/method-rules.schema.json"),
            Schema::AdapterManifest => include_str!("../schema/adapter.schema.json"),
            Schema::ServerTarget => include_str!("../schema/server-target.schema.json"),
            Schema::ClientTarget => include_str!("../schema/client-target.schema.json"),
            Schema::Report => include_str!("../../reports/schema/report.schema.json"),
            Schema::PayerManifest => include_str!("../schema/payer.schema.json"),
        }
    }

    fn validator(self) -> &'static Validator {
        static CELLS: [OnceLock<Validator>; 8] = [const { OnceLock::new() }; 8];
        CELLS[self as usize].get_or_init(|| {
            let schema: Value =
                serde_json::from_str(self.source()).expect("embedded schema is JSON");
            jsonschema::validator_for(&schema).expect("embedded schema compiles")
        })
    }

    /// Checks an input file's content: all violations in one error that
    /// names the file, the field of the first and the schema to read.
    pub fn check(
        self,
        path: &std::path::Path,
        value: &Value,
        schema_file: &str,
    ) -> crate::error::Result<()> {
        let violations = self.violations(value);
        let Some((at, _)) = violations.first() else {
            return Ok(());
        };
        let messages: Vec<String> = violations
            .iter()
            .map(|(p, m)| {
                if p == at {
                    m.clone()
                } else {
                    format!("{p}: {m}")
                }
            })
            .collect();
        Err(crate::error::Error::field(
            path,
            at,
            format!("{} (see {schema_file})", messages.join("; ")),
        ))
    }

    /// Every violation as `(JSON pointer, message)`.
    pub fn violations(self, instance: &Value) -> Vec<(String, String)> {
        self.validator()
            .iter_errors(instance)
            .map(|e| {
                let at = e.instance_path().to_string();
                (
                    if at.is_empty() { "/".to_string() } else { at },
                    e.to_string(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embedded_schemas_compile_and_reject() {
        for s in [
            Schema::Vectors,
            Schema::Requirements,
            Schema::AdapterManifest,
        ] {
            assert!(!s.violations(&json!({"unexpected": 1})).is_empty(), "{s:?}");
        }
    }
}
