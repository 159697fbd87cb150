//! Several runs of one implementation (its server, client and vector
//! runs) taken together as one report: `mppconf report join`.

use serde::{Deserialize, Serialize};

use super::Report;
use crate::error::{Error, Result};

/// One run of a joined report: which suite, what it ran against, when,
/// and how it ended on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinedRun {
    pub suite: String,
    pub target: String,
    pub started: String,
    pub finished: String,
    pub exit_code: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

impl Report {
    /// Takes the runs of one implementation (its server, client and vector
    /// runs; later each method and transport) together as one report
    /// named `target`: every check of every run, its subject prefixed with
    /// its run's suite (`server: GET /paid`, `client: standard.paid`) so
    /// that the same check id in two suites stays two rows; per
    /// requirement the verdict of every check of every run citing it, and
    /// per spec the coverage of what any run's target can violate.
    ///
    /// Runs of different catalogues or spec snapshots are refused: their
    /// requirement ids would not mean the same.
    pub fn join(target: &str, runs: Vec<Report>) -> Result<Report> {
        let Some(first) = runs.first() else {
            return Err(Error::Usage("report join: give at least one report".into()));
        };
        for r in &runs {
            if r.suite == "joined" {
                return Err(Error::Usage(format!(
                    "report join: {} is already a joined report; join the runs it lists",
                    r.target
                )));
            }
            if r.core != first.core {
                return Err(Error::Usage(format!(
                    "report join: the {} run of {} was judged against {} and the {} run of {} against {}; rerun one with --core {}",
                    r.suite, r.target, r.core, first.suite, first.target, first.core, first.core
                )));
            }
            if r.vectors_digest != first.vectors_digest || r.spec_snapshot != first.spec_snapshot {
                return Err(Error::Usage(format!(
                    "report join: the {} run of {} was judged against another catalogue ({}, {}) than the {} run of {} ({}, {}); rerun it with this mppconf",
                    r.suite,
                    r.target,
                    r.spec_snapshot,
                    r.vectors_digest,
                    first.suite,
                    first.target,
                    first.spec_snapshot,
                    first.vectors_digest
                )));
            }
        }
        let mut joined = Report::new("joined", target, String::new(), Vec::new());
        joined.core = first.core;
        joined.spec_snapshot = first.spec_snapshot.clone();
        joined.vectors_digest = first.vectors_digest.clone();
        joined.started = runs
            .iter()
            .map(|r| r.started.clone())
            .min()
            .unwrap_or_default();
        joined.finished = runs
            .iter()
            .map(|r| r.finished.clone())
            .max()
            .unwrap_or_default();
        joined.strict = runs.iter().any(|r| r.strict);
        let incomplete: Vec<String> = runs
            .iter()
            .filter_map(|r| {
                r.incomplete
                    .as_ref()
                    .map(|why| format!("{} run: {why}", r.suite))
            })
            .collect();
        joined.incomplete = (!incomplete.is_empty()).then(|| incomplete.join("; "));
        joined.accommodations = runs
            .iter()
            .flat_map(|r| {
                r.accommodations
                    .iter()
                    .map(|a| format!("{} run: {a}", r.suite))
            })
            .collect();
        joined.runs = runs
            .iter()
            .map(|r| JoinedRun {
                suite: r.suite.clone(),
                target: r.target.clone(),
                started: r.started.clone(),
                finished: r.finished.clone(),
                exit_code: r.exit_code(),
                incomplete: r.incomplete.clone(),
            })
            .collect();
        joined.checks = runs
            .into_iter()
            .flat_map(|r| {
                let suite = r.suite;
                r.checks.into_iter().map(move |mut c| {
                    c.subject = format!("{suite}: {}", c.subject);
                    c
                })
            })
            .collect();
        joined.recompute_coverage();
        Ok(joined)
    }
}

#[cfg(test)]
mod tests {
    use mppconf_suite::vectors::Verdict;

    use super::super::tests::{record, status};
    use super::super::{CheckRecord, now};
    use super::*;

    #[test]
    fn joined_runs_judge_each_requirement_by_every_run() {
        // The vectors judge a syntax requirement the server run left
        // uncovered; both suites have a check called `transport.tls`.
        let server = Report::new(
            "server",
            "mppx server",
            now(),
            vec![
                record(
                    "transport.tls",
                    &["core.transport.tls-required"],
                    Verdict::Pass,
                ),
                CheckRecord {
                    detail: "Expected: 402\nActual: 200".into(),
                    ..record(
                        "replay.rejected",
                        &["core.replay.proof-used-once"],
                        Verdict::Fail,
                    )
                },
            ],
        );
        let client = Report::new(
            "client",
            "mppx client",
            now(),
            vec![record(
                "transport.tls",
                &["core.transport.client-no-plain-http"],
                Verdict::Pass,
            )],
        );
        let vectors = Report::new(
            "vectors",
            "mppx adapter",
            now(),
            vec![record(
                "challenge.parse.ok",
                &["core.challenge.auth-param-syntax"],
                Verdict::Pass,
            )],
        );
        assert_eq!(
            server
                .specs
                .iter()
                .flat_map(|s| &s.requirements)
                .find(|q| q.id == "core.challenge.auth-param-syntax")
                .and_then(|q| q.verdict),
            None
        );
        let joined = Report::join("mppx 0.11.0", vec![server, client, vectors.clone()]).unwrap();
        assert_eq!(joined.suite, "joined");
        assert_eq!(joined.suite_label(), "server + client + vectors");
        assert_eq!(joined.runs.len(), 3);
        assert_eq!(joined.runs[0].exit_code, 1);
        assert_eq!(joined.checks.len(), 4);
        assert_eq!(
            status(&joined, "core.challenge.auth-param-syntax").verdict,
            Some(Verdict::Pass)
        );
        assert_eq!(
            status(&joined, "core.replay.proof-used-once").verdict,
            Some(Verdict::Fail)
        );
        let tls = status(&joined, "core.transport.tls-required");
        assert_eq!(tls.checks, ["transport.tls@server: GET /paid"]);
        assert_eq!(
            status(&joined, "core.transport.client-no-plain-http").checks,
            ["transport.tls@client: GET /paid"]
        );
        assert_eq!(joined.exit_code(), 1);
        // Client-only and server-only requirements are both the joined
        // implementation's to violate.
        let core = &joined.specs[0].coverage;
        assert_eq!(core.exercised, 4);
        assert!(
            !core
                .not_exercised
                .iter()
                .any(|id| id == "core.challenge.auth-param-syntax")
        );
        // What the model says survives the schema and a read.
        let dir = tempfile::tempdir().unwrap();
        joined.write(dir.path()).unwrap();
        let back = Report::read(&dir.path().join("report.json")).unwrap();
        assert_eq!(back, joined);
        // Another catalogue, or a joined report as a run, is refused.
        let mut old = vectors.clone();
        old.vectors_digest = format!("sha256:{}", "0".repeat(64));
        let e = Report::join("x", vec![joined.clone(), vectors.clone()]).unwrap_err();
        assert!(e.to_string().contains("already a joined report"), "{e}");
        let e = Report::join("x", vec![vectors, old]).unwrap_err();
        assert!(e.to_string().contains("another catalogue"), "{e}");
        assert!(Report::join("x", Vec::new()).is_err());
    }
}
