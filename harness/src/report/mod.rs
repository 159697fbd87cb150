//! Conformance reports: one model for a run of the server or client suite
//! (schema `reports/schema/report.schema.json`), the requirement coverage
//! per spec, baselines of known failures, shards and their merge, and the
//! writers ([`markdown`], [`junit`], [`html`]; JSON is the model itself).
//!
//! Coverage lists every requirement of each pinned draft's catalogue,
//! with the checks that cite it and the verdict they add up to, so that
//! what no check covers is as visible as what failed; [`coverage`] counts
//! what the run (or several runs of one implementation) really judged.

mod catalogue;
pub mod compare;
pub mod coverage;
pub mod gate;
pub mod html;
mod join;
pub mod junit;
pub mod markdown;
pub mod picture;
pub mod progress;
mod selection;

use mppconf_suite::drafts::CoreDraft;
use std::collections::BTreeMap;
use std::path::Path;

use mppconf_suite::vectors::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use catalogue::successors;
pub use catalogue::{
    catalogue, catalogue_all, catalogue_for_lookup, spec_snapshot, vectors_digest,
};
pub use coverage::{Coverage, exercised_ids};
pub use join::JoinedRun;
pub use selection::{Selection, Shard};

/// The model's format tag; bumped on any incompatible change.
pub const FORMAT: &str = "mppconf-report/1";

/// The snapshot of the drafts the catalogue quotes.
pub const SPEC_SNAPSHOT: &str = "tempoxyz/mpp-specs@f9506cd3472d10f31b4a6c790b3fe6b0ff377f96";

/// One run of a suite against one implementation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub format: String,
    pub tool: Tool,
    pub spec_snapshot: String,
    pub vectors_digest: String,
    /// The core draft the verdicts are against (reports written before
    /// there was a choice are against -00).
    #[serde(default)]
    pub core: CoreDraft,
    /// `server`, `client` or `vectors`; `joined` for several runs of one
    /// implementation taken together ([`Report::join`], listed in `runs`).
    pub suite: String,
    /// The implementation, as the run names it.
    pub target: String,
    /// The run's seed (the bounded fuzz pass), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// RFC 3339 UTC.
    pub started: String,
    pub finished: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Whether SHOULD failures (`warn`) gate.
    pub strict: bool,
    /// Why the run stopped before its end (e.g. "interrupted by
    /// SIGINT"); the checks it did not run are `skip` with that reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    /// What the harness changed in the target's surroundings so that it
    /// could run here at all (e.g. gas estimates scaled on the local
    /// chain): not findings, but a reader must know them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accommodations: Vec<String>,
    /// The runs a `joined` report takes together, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<JoinedRun>,
    pub checks: Vec<CheckRecord>,
    pub specs: Vec<SpecCoverage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// The verdict of one check on one subject (a resource or a scenario).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRecord {
    pub id: String,
    /// What it was run on: the resource (server suite) or the scenario
    /// (client suite).
    pub subject: String,
    pub requirements: Vec<String>,
    pub verdict: Verdict,
    /// The reason, for every verdict but `pass`.
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    pub millis: f64,
    /// Path of the evidence file, relative to the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The command that runs this check alone.
    pub reproduce: String,
}

/// A spec's requirements and what the run says of each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecCoverage {
    pub docname: String,
    pub title: String,
    /// How much of the spec the run exercised (absent in reports written
    /// before it was counted: [`Report::read`] recomputes it).
    #[serde(default)]
    pub coverage: Coverage,
    pub requirements: Vec<RequirementStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementStatus {
    pub id: String,
    pub section: String,
    pub keyword: String,
    pub quote: String,
    /// `id@subject` of every check citing it.
    pub checks: Vec<String>,
    /// The most severe verdict of those checks (a `skip` only if every
    /// one skipped); absent when no check covers the requirement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The live payment rail only which can judge it (catalogue
    /// `needs-rail: <rail>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rail: Option<String>,
}

impl RequirementStatus {
    /// The verdict cell: the verdict, else what it needs, else
    /// `not covered`.
    pub fn verdict_text(&self) -> String {
        match (self.verdict, &self.rail) {
            (Some(v), _) => v.as_str().to_string(),
            (None, Some(rail)) => format!("needs a live {rail}"),
            (None, None) => "not covered".into(),
        }
    }
}

/// Whether a requirement binding `binds` (server, client, both, parser)
/// is one the target of a run of one of `suites` can violate.
fn binds_in_any(binds: &str, suites: &[&str]) -> bool {
    suites.iter().any(|s| binds_in(binds, s))
}

fn binds_in(binds: &str, suite: &str) -> bool {
    match suite {
        "server" | "escrow" => binds != "client",
        "client" => binds != "server",
        _ => true,
    }
}

/// How bad a verdict is, for adding up a requirement's checks: anything
/// found outranks a pass, and a pass outranks a skip (a requirement is
/// `pass` only if some check really passed it).
fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Fail => 9,
        Verdict::Error => 8,
        Verdict::Stale => 7,
        Verdict::Warn => 6,
        Verdict::Blocked => 5,
        Verdict::Lenient => 4,
        Verdict::Xfail => 3,
        Verdict::Info => 2,
        Verdict::Pass => 1,
        Verdict::Skip => 0,
    }
}

/// Splits a detail of the form `Expected: …\nActual: …` (how every check
/// words a failure) into its parts.
pub fn expected_actual(detail: &str) -> (Option<String>, Option<String>) {
    let Some(rest) = detail.strip_prefix("Expected: ") else {
        return (None, None);
    };
    match rest.split_once("\nActual: ") {
        Some((e, a)) => (Some(e.to_string()), Some(a.to_string())),
        None => (Some(rest.to_string()), None),
    }
}

/// RFC 3339 UTC now, to the second.
pub fn now() -> String {
    crate::reference::server::rfc3339_at(crate::reference::tx::unix_now())
}

impl Report {
    /// A report of these checks, with the coverage computed.
    pub fn new(suite: &str, target: &str, started: String, checks: Vec<CheckRecord>) -> Self {
        let mut r = Report {
            format: FORMAT.into(),
            tool: Tool {
                name: "mppconf".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            spec_snapshot: SPEC_SNAPSHOT.into(),
            vectors_digest: vectors_digest(CoreDraft::Draft00),
            core: CoreDraft::Draft00,
            suite: suite.into(),
            target: target.into(),
            seed: None,
            started,
            finished: now(),
            shard: None,
            strict: false,
            incomplete: None,
            accommodations: Vec::new(),
            runs: Vec::new(),
            checks,
            specs: Vec::new(),
        };
        r.recompute_coverage();
        r
    }

    /// The report against another core draft: its catalogue and digest,
    /// and each check's citations of requirements that draft replaced
    /// read as the requirements that replace them (a vector of the -00
    /// seven-slot binding exercises -01's base slots).
    pub fn under(mut self, core: CoreDraft) -> Self {
        let successors = successors(core);
        for check in &mut self.checks {
            let mut cited: Vec<String> = Vec::new();
            for id in check.requirements.drain(..) {
                for now in successors.get(&id).cloned().unwrap_or_else(|| vec![id]) {
                    if !cited.contains(&now) {
                        cited.push(now);
                    }
                }
            }
            check.requirements = cited;
        }
        self.core = core;
        self.vectors_digest = vectors_digest(core);
        self.spec_snapshot = spec_snapshot(core);
        self.recompute_coverage();
        self
    }

    /// Recomputes [`Report::specs`] from the checks (after a baseline or
    /// a merge changed them): every spec some check cites, with every one
    /// of its requirements.
    pub fn recompute_coverage(&mut self) {
        let mut by_requirement: BTreeMap<&str, Vec<&CheckRecord>> = BTreeMap::new();
        let exercised = exercised_ids(&self.checks);
        for c in &self.checks {
            for r in &c.requirements {
                by_requirement.entry(r.as_str()).or_default().push(c);
            }
        }
        let suites = self.suites();
        // A spec no check of the run cites is not judged by it (a stub
        // server is not a Tempo charge server): it has no section, rather
        // than a "conformant" one with nothing checked.
        self.specs = catalogue(self.core)
            .into_iter()
            .filter(|file| {
                file.requirements
                    .iter()
                    .any(|r| by_requirement.contains_key(r.id.as_str()))
            })
            .map(|file| SpecCoverage {
                docname: file.docname.clone(),
                title: file.title.clone(),
                coverage: Coverage::for_suites(&file, &suites, &exercised),
                requirements: file
                    .requirements
                    .iter()
                    // What this suite's target can violate (a server
                    // report lists no client-only requirement), and
                    // whatever a check of the run cites.
                    .filter(|req| {
                        binds_in_any(&req.binds, &suites)
                            || by_requirement.contains_key(req.id.as_str())
                    })
                    .map(|req| {
                        let checks = by_requirement.get(req.id.as_str());
                        RequirementStatus {
                            id: req.id.clone(),
                            section: req.section.clone(),
                            keyword: req.keyword.clone(),
                            quote: req.quote.clone(),
                            checks: checks
                                .map(|cs| {
                                    cs.iter()
                                        .map(|c| format!("{}@{}", c.id, c.subject))
                                        .collect()
                                })
                                .unwrap_or_default(),
                            verdict: checks.and_then(|cs| {
                                cs.iter().map(|c| c.verdict).max_by_key(|v| severity(*v))
                            }),
                            rail: req.rail().map(str::to_string),
                        }
                    })
                    .collect(),
            })
            .collect();
    }

    /// The suites whose targets this report judges: its own, or for a
    /// joined report those of its runs.
    pub fn suites(&self) -> Vec<&str> {
        if self.runs.is_empty() {
            vec![self.suite.as_str()]
        } else {
            self.runs.iter().map(|r| r.suite.as_str()).collect()
        }
    }

    /// Which suite ran: `server`, or for a joined report its runs'
    /// suites (`server + client + vectors`).
    pub fn suite_label(&self) -> String {
        self.suites().join(" + ")
    }

    /// The report's heading: `mppconf server suite: <target>`, or for a
    /// joined report `mppconf server + client + vectors: <target>`.
    pub fn title(&self) -> String {
        if self.runs.is_empty() {
            format!("mppconf {} suite: {}", self.suite, self.target)
        } else {
            format!("mppconf {}: {}", self.suite_label(), self.target)
        }
    }

    /// The report seen from one spec: its coverage, and the checks citing
    /// at least one of its requirements.
    pub fn for_spec(&self, docname: &str) -> Option<Report> {
        let spec = self.specs.iter().find(|s| s.docname == docname)?.clone();
        let ids: std::collections::BTreeSet<&str> =
            spec.requirements.iter().map(|r| r.id.as_str()).collect();
        let mut view = self.clone();
        view.checks
            .retain(|c| c.requirements.iter().any(|r| ids.contains(r.as_str())));
        view.specs = vec![spec];
        Some(view)
    }

    /// Counts of check verdicts.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for c in &self.checks {
            *m.entry(c.verdict.as_str()).or_insert(0) += 1;
        }
        m
    }

    /// Marks known failures: a failing (or warning, erroring, blocked)
    /// check listed in the baseline becomes `xfail` with the listed
    /// reason; a listed check that passes becomes `stale`, so the list
    /// cannot rot.
    ///
    /// Listed ids that this run did not run (outside its filter or shard,
    /// or checks of another method) are not judged; an id that no check of
    /// the suite has is refused before the run (see
    /// [`gate::GateArgs::preflight`]).
    pub fn apply_baseline(&mut self, known: &BTreeMap<String, String>) {
        for c in &mut self.checks {
            let Some(reason) = known.get(&c.id) else {
                continue;
            };
            match c.verdict {
                Verdict::Fail | Verdict::Warn | Verdict::Error | Verdict::Blocked => {
                    c.detail = format!("known failure ({reason}): {}", c.detail);
                    c.verdict = Verdict::Xfail;
                }
                Verdict::Pass => {
                    c.verdict = Verdict::Stale;
                    c.detail = format!(
                        "listed as a known failure ({reason}) but passes: remove it from the baseline"
                    );
                }
                _ => {}
            }
        }
        self.recompute_coverage();
    }

    /// The exit code the run ends with: 0 conformant, 1 non-conformant,
    /// 3 harness error, 4 stale baseline (usage errors, 2, never get a
    /// report).
    pub fn exit_code(&self) -> u8 {
        let has = |v: Verdict| self.checks.iter().any(|c| c.verdict == v);
        if has(Verdict::Fail) || (self.strict && has(Verdict::Warn)) {
            1
        } else if has(Verdict::Error) {
            3
        } else if has(Verdict::Stale) {
            4
        } else {
            0
        }
    }

    /// Joins shards of one run: the same suite and target, checks
    /// concatenated in shard order; a missing or repeated shard is an
    /// error.
    pub fn merge(parts: Vec<Report>) -> Result<Report> {
        let Some(first) = parts.first().cloned() else {
            return Err(Error::Usage(
                "report merge: give at least one report".into(),
            ));
        };
        let count = first.shard.map(|s| s.count).unwrap_or(1);
        let mut seen = vec![false; count];
        for p in &parts {
            if p.suite != first.suite || p.target != first.target {
                return Err(Error::Usage(format!(
                    "report merge: {} / {} is another run than {} / {}",
                    p.suite, p.target, first.suite, first.target
                )));
            }
            let s = p.shard.unwrap_or(Shard { index: 1, count: 1 });
            if s.count != count || seen[s.index - 1] {
                return Err(Error::Usage(format!(
                    "report merge: shard {}/{} is repeated or from another split",
                    s.index, s.count
                )));
            }
            seen[s.index - 1] = true;
        }
        if let Some(missing) = seen.iter().position(|s| !s) {
            return Err(Error::Usage(format!(
                "report merge: shard {}/{count} is missing",
                missing + 1
            )));
        }
        let mut parts = parts;
        parts.sort_by_key(|p| p.shard.map(|s| s.index).unwrap_or(1));
        let mut merged = first;
        merged.checks = parts.iter().flat_map(|p| p.checks.clone()).collect();
        merged.started = parts
            .iter()
            .map(|p| p.started.clone())
            .min()
            .unwrap_or_default();
        merged.finished = parts
            .iter()
            .map(|p| p.finished.clone())
            .max()
            .unwrap_or_default();
        merged.strict = parts.iter().any(|p| p.strict);
        merged.shard = None;
        merged.recompute_coverage();
        Ok(merged)
    }

    /// Reads a report written by [`Report::write`] (or a merge), checking
    /// it against the schema.
    pub fn read(path: &Path) -> Result<Report> {
        let value = crate::error::read_json(path)?;
        crate::schema::Schema::Report.check(path, &value, "reports/schema/report.schema.json")?;
        let mut report: Report =
            serde_json::from_value(value).map_err(|e| Error::field(path, "/", e.to_string()))?;
        // Coverage is derived data: count it with this catalogue, also
        // for reports written before it was counted.
        let exercised = exercised_ids(&report.checks);
        let suites: Vec<String> = report.suites().iter().map(|s| s.to_string()).collect();
        let suites: Vec<&str> = suites.iter().map(String::as_str).collect();
        for spec in &mut report.specs {
            if let Some(file) = catalogue(report.core)
                .into_iter()
                .find(|f| f.docname == spec.docname)
            {
                spec.coverage = Coverage::for_suites(&file, &suites, &exercised);
            }
        }
        Ok(report)
    }

    /// Writes the whole report and its per-spec views in every format:
    /// `report.json`, `report.html` (all specs as tabs) and, per spec,
    /// `<docname>.json`, `.md`, `.junit.xml` and `.html`. Evidence files
    /// (already under `dir/evidence/`) are linked, not copied.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let put = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
        };
        put("report.json", to_json(self))?;
        put("report.html", html::render(std::slice::from_ref(self)))?;
        for spec in &self.specs {
            let view = self.for_spec(&spec.docname).expect("a spec of the report");
            put(&format!("{}.json", spec.docname), to_json(&view))?;
            put(&format!("{}.md", spec.docname), markdown::render(&view))?;
            put(&format!("{}.junit.xml", spec.docname), junit::render(&view))?;
            put(&format!("{}.html", spec.docname), html::render(&[view]))?;
        }
        Ok(())
    }
}

pub fn to_json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("a report serializes") + "\n"
}

/// Writes one check's evidence as `evidence/<subject>/<id>.json` under
/// `dir`; the path relative to `dir`.
pub fn write_evidence(dir: &Path, subject: &str, id: &str, evidence: &Value) -> Result<String> {
    let slug = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    let relative = format!("evidence/{}/{}.json", slug(subject), slug(id));
    let path = dir.join(&relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let text = serde_json::to_string_pretty(evidence).unwrap_or_default() + "\n";
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    Ok(relative)
}

/// Escapes text for HTML and XML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 forbids most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record(id: &str, requirements: &[&str], verdict: Verdict) -> CheckRecord {
        CheckRecord {
            id: id.into(),
            subject: "GET /paid".into(),
            requirements: requirements.iter().map(|s| s.to_string()).collect(),
            verdict,
            detail: String::new(),
            expected: None,
            actual: None,
            millis: 1.0,
            evidence: None,
            reproduce: format!("mppconf server --reference --filter {id}"),
        }
    }

    pub(crate) fn status<'a>(r: &'a Report, id: &str) -> &'a RequirementStatus {
        r.specs
            .iter()
            .flat_map(|s| &s.requirements)
            .find(|q| q.id == id)
            .unwrap()
    }

    #[test]
    fn coverage_lists_every_requirement_and_never_passes_the_unchecked() {
        let r = Report::new(
            "server",
            "t",
            now(),
            vec![
                record("a", &["core.challenge.id-echoed-unchanged"], Verdict::Skip),
                record("b", &["core.transport.client-no-plain-http"], Verdict::Skip),
                record("c", &["core.transport.client-no-plain-http"], Verdict::Pass),
                record(
                    "d",
                    &["core.challenge.opaque-echoed-unchanged"],
                    Verdict::Pass,
                ),
                record(
                    "e",
                    &["core.challenge.opaque-echoed-unchanged"],
                    Verdict::Fail,
                ),
            ],
        );
        // Only the cited spec has a section, with every requirement of it.
        let core = catalogue(CoreDraft::Draft00)
            .into_iter()
            .find(|f| f.docname == "draft-httpauth-payment-00")
            .unwrap();
        assert_eq!(r.specs.len(), 1);
        assert_eq!(r.specs[0].docname, core.docname);
        // Every requirement a server can violate, and those its checks
        // cite (a server report lists no client-only requirement).
        let cited = [
            "core.challenge.id-echoed-unchanged",
            "core.transport.client-no-plain-http",
            "core.challenge.opaque-echoed-unchanged",
        ];
        let applies = core
            .requirements
            .iter()
            .filter(|q| q.binds != "client" || cited.contains(&q.id.as_str()))
            .count();
        assert_eq!(r.specs[0].requirements.len(), applies);
        assert!(applies < core.requirements.len());
        assert_eq!(
            status(&r, "core.challenge.id-echoed-unchanged").verdict,
            Some(Verdict::Skip)
        );
        assert_eq!(
            status(&r, "core.transport.client-no-plain-http").verdict,
            Some(Verdict::Pass)
        );
        assert_eq!(
            status(&r, "core.challenge.opaque-echoed-unchanged").verdict,
            Some(Verdict::Fail)
        );
        assert_eq!(status(&r, "core.caching.no-store-402").verdict, None);
        assert!(status(&r, "core.caching.no-store-402").checks.is_empty());
    }

    #[test]
    fn a_baseline_turns_failures_into_xfail_and_passes_into_stale() {
        let mut r = Report::new(
            "server",
            "t",
            now(),
            vec![
                record("a", &["core.challenge.id-echoed-unchanged"], Verdict::Fail),
                record("b", &["core.challenge.id-echoed-unchanged"], Verdict::Pass),
            ],
        );
        assert_eq!(r.exit_code(), 1);
        let known = BTreeMap::from([
            ("a".to_string(), "issue 12".to_string()),
            ("b".to_string(), "fixed upstream?".to_string()),
        ]);
        r.apply_baseline(&known);
        assert_eq!(r.checks[0].verdict, Verdict::Xfail);
        assert!(r.checks[0].detail.contains("issue 12"));
        assert_eq!(r.checks[1].verdict, Verdict::Stale);
        assert_eq!(r.exit_code(), 4);
        // An id this run did not run (outside its selection) is not judged.
        let mut r2 = r.clone();
        r2.apply_baseline(&BTreeMap::from([("zz".to_string(), "x".to_string())]));
        assert_eq!(r2, r);
    }

    #[test]
    fn shards_split_round_robin_and_merge_back() {
        let s = Shard::parse("2/3").unwrap();
        assert!(!s.owns(0) && s.owns(1) && !s.owns(2) && s.owns(4));
        for bad in ["0/3", "4/3", "1/0", "x", "1/"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let part = |i, ids: &[&str]| {
            let mut r = Report::new(
                "server",
                "t",
                now(),
                ids.iter()
                    .map(|id| record(id, &["core.challenge.id-echoed-unchanged"], Verdict::Pass))
                    .collect(),
            );
            r.shard = Some(Shard { index: i, count: 2 });
            r
        };
        let merged = Report::merge(vec![part(2, &["b"]), part(1, &["a", "c"])]).unwrap();
        let ids: Vec<&str> = merged.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "b"]);
        assert!(merged.shard.is_none());
        assert!(
            Report::merge(vec![part(1, &["a"])])
                .unwrap_err()
                .to_string()
                .contains("2/2 is missing")
        );
        assert!(Report::merge(vec![part(1, &["a"]), part(1, &["a"])]).is_err());
    }

    #[test]
    fn details_split_into_expected_and_actual() {
        assert_eq!(
            expected_actual("Expected: 402\nActual: 200"),
            (Some("402".into()), Some("200".into()))
        );
        assert_eq!(expected_actual("the resource takes no body"), (None, None));
    }
}
