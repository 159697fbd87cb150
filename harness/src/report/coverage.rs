//! Requirement coverage: how much of each spec a run (or several runs
//! of one implementation, joined) really judged.

use std::collections::BTreeSet;

use mppconf_suite::catalogue::{CatalogueFile, Requirement};
use mppconf_suite::vectors::Verdict;
use serde::{Deserialize, Serialize};

use super::{CheckRecord, binds_in_any};

/// How much of a spec some check really judged: a requirement is
/// *exercised* when a check citing it concluded (pass, fail, warn, info,
/// lenient, or a baselined xfail/stale); a `skip`, `blocked` or `error`
/// exercises nothing. Untestable requirements (the catalogue says why)
/// count apart, never as testable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    pub testable: usize,
    pub exercised: usize,
    pub untestable: usize,
    /// Requirements only a live payment rail that cannot run here can
    /// judge (`needs-rail: <rail>` in the catalogue) and no check judged:
    /// counted apart, never as testable.
    #[serde(default)]
    pub needs_rail: usize,
    /// The testable requirements no check exercised, by id.
    pub not_exercised: Vec<String>,
}

impl Coverage {
    /// The coverage of `requirements` (catalogue entries) given the ids
    /// some check exercised.
    pub fn of<'a>(
        requirements: impl IntoIterator<Item = &'a Requirement>,
        exercised: &BTreeSet<&str>,
    ) -> Coverage {
        let mut c = Coverage::default();
        for req in requirements {
            if req.is_untestable() {
                c.untestable += 1;
            } else if req.rail().is_some() && !exercised.contains(req.id.as_str()) {
                // What some check judged anyway (a vector of its offline
                // part) counts as exercised, as the picture shows it.
                c.needs_rail += 1;
            } else {
                c.testable += 1;
                if exercised.contains(req.id.as_str()) {
                    c.exercised += 1;
                } else {
                    c.not_exercised.push(req.id.clone());
                }
            }
        }
        c
    }

    /// The coverage of a catalogue file's requirements that the target
    /// of a run of one of `suites` can violate.
    pub fn for_suites(
        file: &CatalogueFile,
        suites: &[&str],
        exercised: &BTreeSet<&str>,
    ) -> Coverage {
        Coverage::of(
            file.requirements
                .iter()
                .filter(|req| binds_in_any(&req.binds, suites)),
            exercised,
        )
    }

    /// `exercised of testable (percent), untestable[, need a rail]`, for
    /// one line.
    pub fn summary(&self) -> String {
        let rail = match self.needs_rail {
            0 => String::new(),
            n => format!(", {n} need a live rail"),
        };
        format!(
            "{} of {} testable requirements exercised ({}), {} untestable{rail}",
            self.exercised,
            self.testable,
            self.percent_text(),
            self.untestable
        )
    }

    /// Adds another spec's counts (the not-exercised lists are joined).
    pub fn add(&mut self, other: &Coverage) {
        self.testable += other.testable;
        self.exercised += other.exercised;
        self.untestable += other.untestable;
        self.needs_rail += other.needs_rail;
        self.not_exercised
            .extend(other.not_exercised.iter().cloned());
    }

    pub fn percent(&self) -> f64 {
        if self.testable == 0 {
            100.0
        } else {
            100.0 * self.exercised as f64 / self.testable as f64
        }
    }

    fn percent_text(&self) -> String {
        format!("{:.1}%", self.percent())
    }
}

/// Whether a check with this verdict judged what it cites.
pub fn exercises(v: Verdict) -> bool {
    !matches!(v, Verdict::Skip | Verdict::Blocked | Verdict::Error)
}

/// The requirement ids the checks exercised.
pub fn exercised_ids(checks: &[CheckRecord]) -> BTreeSet<&str> {
    checks
        .iter()
        .filter(|c| exercises(c.verdict))
        .flat_map(|c| c.requirements.iter().map(String::as_str))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::super::{Report, catalogue, now};
    use super::*;

    #[test]
    fn only_a_concluded_check_exercises_and_runs_join_their_coverage() {
        let server = |verdict| {
            Report::new(
                "server",
                "t",
                now(),
                vec![
                    record(
                        "unpaid.status-402",
                        &["core.status.no-credential-402"],
                        verdict,
                    ),
                    record(
                        "unknown-resource.not-402",
                        &["core.usage-402.when-not-to-return"],
                        Verdict::Pass,
                    ),
                ],
            )
        };
        let core = |r: &Report| {
            r.specs
                .iter()
                .find(|s| s.docname == "draft-httpauth-payment-00")
                .unwrap()
                .coverage
                .clone()
        };
        let passed = core(&server(Verdict::Pass));
        assert_eq!(passed.exercised, 2);
        assert!(passed.untestable > 0);
        assert!(
            !passed
                .not_exercised
                .iter()
                .any(|id| id == "core.usage-402.may-return")
        );
        for v in [Verdict::Skip, Verdict::Blocked, Verdict::Error] {
            let c = core(&server(v));
            assert_eq!(c.exercised, 1, "{v:?}");
            assert!(
                c.not_exercised
                    .contains(&"core.status.no-credential-402".to_string())
            );
        }
        let failed = core(&server(Verdict::Fail));
        assert_eq!(failed.exercised, 2, "a failure exercised the requirement");
        // A client-only requirement is not the server run's to exercise;
        // joined with a client run that judged it, it counts once.
        assert!(
            !passed
                .not_exercised
                .iter()
                .any(|id| id == "core.challenge.id-echoed-unchanged")
        );
        let client = Report::new(
            "client",
            "t",
            now(),
            vec![record(
                "echo.id",
                &["core.challenge.id-echoed-unchanged"],
                Verdict::Pass,
            )],
        );
        let joined = Report::join("t", vec![server(Verdict::Pass), client]).unwrap();
        let both = core(&joined);
        assert_eq!(both.exercised, 3);
        assert!(both.testable > passed.testable);
        assert_eq!(
            both.testable + both.untestable,
            catalogue(Default::default())[0].requirements.len()
        );
    }
}
