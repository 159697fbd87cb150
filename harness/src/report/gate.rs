//! The gate: how a run's results become reports (baseline, shard,
//! strictness, report folder) and an exit code, and how its findings are
//! shown in a terminal; shared by the server and client suites.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mppconf_suite::vectors::Verdict;
use serde_json::Value;

use super::{Report, Selection, Shard};
use crate::error::{Error, Result};

/// How a run's results become reports and an exit code; shared by the
/// server and client suites.
#[derive(clap::Args, Clone)]
pub struct GateArgs {
    /// SHOULD failures (warn) gate too.
    #[arg(long)]
    pub strict: bool,
    /// Known failures of this implementation (`{"format":
    /// "mppconf-expectations/1", "cases": {"check.id": "reason"}}`): a
    /// listed failure is `xfail`; a listed check that passes is `stale`
    /// (exit code 4).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Run only part i of n of the checks (round robin), e.g. 2/4; join
    /// the parts with `mppconf report merge`.
    #[arg(long)]
    pub shard: Option<String>,
    /// Write the report here: report.json, report.html and per spec
    /// .json, .md, .junit.xml, .html, with evidence/ per check.
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
}

impl GateArgs {
    pub fn selection(&self, filter: &[String]) -> Result<Selection> {
        Ok(Selection {
            filter: filter.to_vec(),
            shard: self.shard.as_deref().map(Shard::parse).transpose()?,
            jobs: 1,
        })
    }

    pub fn known_failures(&self) -> Result<BTreeMap<String, String>> {
        let mut annotations = crate::runner::Annotations::default();
        if let Some(path) = &self.baseline {
            annotations.load(path)?;
            if !annotations.drift.is_empty() {
                return Err(Error::field(
                    path,
                    "format",
                    "a baseline is \"mppconf-expectations/1\" (known failures)",
                ));
            }
        }
        Ok(annotations.known_failures)
    }

    /// Checks the gate's inputs before anything runs: the shard, the
    /// baseline (readable, and every id in it a check of the suite: a
    /// typo names the closest ids) and the report folder (writable).
    /// `ids` are the suite's check ids.
    pub fn preflight(&self, ids: &[&str]) -> Result<()> {
        if let Some(s) = &self.shard {
            Shard::parse(s)?;
        }
        if let Some(path) = &self.baseline {
            for id in self.known_failures()?.keys() {
                if !ids.contains(&id.as_str()) {
                    return Err(Error::field(
                        path,
                        &format!("cases.{id}"),
                        format!(
                            "no check of the suite has this id (a typo, or a renamed check); the closest: {}",
                            crate::preflight::closest(id, ids).join(", ")
                        ),
                    ));
                }
            }
        }
        if let Some(dir) = &self.report_dir {
            crate::preflight::report_dir(dir)?;
        }
        Ok(())
    }

    /// Applies the baseline and the policy, writes the report (one
    /// folder per implementation when there are several), prints the
    /// h2spec-style list of findings, and returns the exit code.
    pub fn finish(&self, mut reports: Vec<(Report, Vec<(usize, Value)>)>) -> Result<u8> {
        let known = self.known_failures()?;
        let several = reports.len() > 1;
        let mut code = 0u8;
        for (report, evidence) in &mut reports {
            report.strict = self.strict;
            report.incomplete = crate::interrupt::reason();
            report.shard = self.shard.as_deref().map(Shard::parse).transpose()?;
            if let Some(path) = &self.baseline {
                report.apply_baseline(&known);
                // A check's reproduction runs it under the same baseline.
                for c in &mut report.checks {
                    c.reproduce
                        .push_str(&format!(" --baseline {}", path.display()));
                }
            }
            if let Some(dir) = &self.report_dir {
                let dir = if several {
                    // "mppx 0.11.0 (harness/targets/…)" → "mppx-0-11-0"
                    let short = report.target.split(" (").next().unwrap_or_default();
                    dir.join(slug(short))
                } else {
                    dir.clone()
                };
                for (i, value) in evidence.iter() {
                    let c = &report.checks[*i];
                    let path = crate::report::write_evidence(&dir, &c.subject, &c.id, value)?;
                    report.checks[*i].evidence = Some(path);
                }
                report.write(&dir)?;
                crate::outln!("report written to {}", dir.join("report.html").display());
            }
            print_findings(report);
            print_coverage(report);
            code = worse(code, report.exit_code());
        }
        // An interrupted run ends with 128 + the signal, its report written.
        Ok(crate::interrupt::exit_code().unwrap_or(code))
    }
}

/// The worse of two exit codes: non-conformant, then harness error, then
/// stale baseline.
fn worse(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        1 => 3,
        3 => 2,
        4 => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn slug(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The findings of a report, h2spec-style, after the run.
pub fn print_findings(report: &Report) {
    let findings: Vec<_> = report
        .checks
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skip))
        .collect();
    if findings.is_empty() {
        return;
    }
    crate::outln!("\n{}:", report.target);
    for c in findings {
        crate::outln!(
            "{:<8} {} on {}  [{}]",
            c.verdict.as_str(),
            c.id,
            c.subject,
            c.requirements.join(", ")
        );
        for line in c.detail.lines() {
            crate::outln!("         {line}");
        }
    }
}

/// Per spec, how much of it the run exercised.
pub fn print_coverage(report: &Report) {
    for spec in &report.specs {
        crate::outln!("coverage {}: {}", spec.docname, spec.coverage.summary());
    }
}

/// One character per finished check on stderr, so a long run shows it
/// is alive: `.` pass, `s` skip, `F` fail, `W` warn, `E` error, `B`
/// blocked, `?` anything else.
pub fn progress_mark(v: Verdict) {
    use std::io::Write as _;
    let mark = match v {
        Verdict::Pass => '.',
        Verdict::Skip => 's',
        Verdict::Fail => 'F',
        Verdict::Warn => 'W',
        Verdict::Error => 'E',
        Verdict::Blocked => 'B',
        _ => '?',
    };
    let mut err = std::io::stderr();
    let _ = write!(err, "{mark}");
    let _ = err.flush();
}

/// Writes a suite's raw results (`--out FILE`: every check with its
/// exchanges), under `key` (`targets`, `clients`).
pub fn write_results(
    out: &std::path::Path,
    format: &str,
    seconds: f64,
    summary: &impl serde::Serialize,
    key: &str,
    items: Vec<Value>,
) -> Result<()> {
    let mut doc = serde_json::json!({
        "format": format,
        "tool": {"name": "mppconf", "version": env!("CARGO_PKG_VERSION")},
        "spec_snapshot": super::SPEC_SNAPSHOT,
        "seconds": seconds,
        "summary": summary,
    });
    doc[key] = Value::Array(items);
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    std::fs::write(out, text + "\n").map_err(|e| Error::io(out, e))?;
    crate::outln!("results written to {}", out.display());
    Ok(())
}
