//! What two runs concluded, side by side: whether a change to mppconf (a
//! refactor that must not change behaviour) or to an implementation
//! changed any verdict.
//!
//! [`Verdicts`] is a report without what varies from run to run (times,
//! details with their random ids and hashes, evidence paths): the verdict
//! and the cited requirements of every check on every subject, and the
//! verdict of every requirement of every spec. Check order is not part of
//! it: the same checks may run in another order and conclude the same.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Report;
use crate::error::{Error, Result, read_json};

/// The format tag of a verdicts file.
pub const FORMAT: &str = "mppconf-verdicts/1";

/// The verdicts of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdicts {
    pub format: String,
    pub suite: String,
    /// `id@subject` → its verdict and cited requirements.
    pub checks: BTreeMap<String, CheckVerdict>,
    /// docname → requirement id → verdict (`not covered` when no check
    /// cites it).
    pub requirements: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckVerdict {
    pub verdict: String,
    pub requirements: BTreeSet<String>,
}

impl Verdicts {
    pub fn of(report: &Report) -> Self {
        let checks = report
            .checks
            .iter()
            .map(|c| {
                (
                    format!("{}@{}", c.id, c.subject),
                    CheckVerdict {
                        verdict: c.verdict.as_str().to_string(),
                        requirements: c.requirements.iter().cloned().collect(),
                    },
                )
            })
            .collect();
        let requirements = report
            .specs
            .iter()
            .map(|s| {
                (
                    s.docname.clone(),
                    s.requirements
                        .iter()
                        .map(|r| {
                            (
                                r.id.clone(),
                                r.verdict.map_or("not covered", |v| v.as_str()).to_string(),
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        Verdicts {
            format: FORMAT.into(),
            suite: report.suite.clone(),
            checks,
            requirements,
        }
    }

    /// Reads a verdicts file, or a report.json (whose verdicts it takes).
    pub fn read(path: &Path) -> Result<Self> {
        let value: Value = read_json(path)?;
        match value.get("format").and_then(Value::as_str) {
            Some(FORMAT) => {
                serde_json::from_value(value).map_err(|e| Error::field(path, "/", e.to_string()))
            }
            Some(super::FORMAT) => Ok(Self::of(&Report::read(path)?)),
            other => Err(Error::field(
                path,
                "format",
                format!(
                    "expected \"{FORMAT}\" (a verdicts file) or \"{}\" (a report), found {other:?}",
                    super::FORMAT
                ),
            )),
        }
    }

    /// Every way `other` concludes differently, one line each; empty when
    /// the runs agree.
    pub fn differences(&self, other: &Verdicts) -> Vec<String> {
        let mut out = Vec::new();
        if self.suite != other.suite {
            out.push(format!("suite: {} vs {}", self.suite, other.suite));
        }
        for (key, a) in &self.checks {
            match other.checks.get(key) {
                None => out.push(format!("{key}: {} vs not run", a.verdict)),
                Some(b) => {
                    if a.verdict != b.verdict {
                        out.push(format!("{key}: {} vs {}", a.verdict, b.verdict));
                    }
                    if a.requirements != b.requirements {
                        out.push(format!(
                            "{key}: cites {:?} vs {:?}",
                            a.requirements, b.requirements
                        ));
                    }
                }
            }
        }
        for (key, b) in &other.checks {
            if !self.checks.contains_key(key) {
                out.push(format!("{key}: not run vs {}", b.verdict));
            }
        }
        for (spec, reqs) in &other.requirements {
            let ours = self.requirements.get(spec);
            for (id, b) in reqs {
                if ours.and_then(|o| o.get(id)).is_none() && b != "not covered" {
                    out.push(format!("{spec} {id}: not covered vs {b}"));
                }
            }
        }
        for (spec, reqs) in &self.requirements {
            let theirs = other.requirements.get(spec);
            for (id, a) in reqs {
                // A requirement a report leaves out (it does not bind the
                // suite's target) has no verdict, like one not covered.
                let b = theirs
                    .and_then(|t| t.get(id))
                    .map_or("not covered", String::as_str);
                if a != b {
                    out.push(format!("{spec} {id}: {a} vs {b}"));
                }
            }
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}
