//! JUnit XML (the Jenkins/Surefire dialect CI systems read, schema
//! `reports/schema/junit.xsd`): one `testsuite` per spec section, one
//! `testcase` per check on its subject, filed under the section of the
//! first requirement it cites in that spec.

use std::collections::BTreeMap;
use std::fmt::Write;

use mppconf_suite::vectors::Verdict;

use super::{CheckRecord, Report, escape};

pub fn render(r: &Report) -> String {
    let section_of: BTreeMap<&str, (&str, &str)> = r
        .specs
        .iter()
        .flat_map(|s| {
            s.requirements
                .iter()
                .map(move |q| (q.id.as_str(), (s.docname.as_str(), q.section.as_str())))
        })
        .collect();
    // (docname, section) → checks, in report order within each suite.
    let mut suites: BTreeMap<(&str, &str), Vec<&CheckRecord>> = BTreeMap::new();
    for c in &r.checks {
        let home = c
            .requirements
            .iter()
            .find_map(|id| section_of.get(id.as_str()))
            .copied()
            .unwrap_or(("uncatalogued", "uncatalogued"));
        suites.entry(home).or_default().push(c);
    }
    let is_failure = |c: &CheckRecord| {
        matches!(c.verdict, Verdict::Fail | Verdict::Stale)
            || (r.strict && c.verdict == Verdict::Warn)
    };
    let is_skipped = |c: &CheckRecord| {
        matches!(
            c.verdict,
            Verdict::Skip | Verdict::Blocked | Verdict::Info | Verdict::Xfail
        )
    };
    let count =
        |cs: &[&CheckRecord], f: &dyn Fn(&CheckRecord) -> bool| cs.iter().filter(|c| f(c)).count();
    let all: Vec<&CheckRecord> = r.checks.iter().collect();
    let seconds = |cs: &[&CheckRecord]| cs.iter().map(|c| c.millis).sum::<f64>() / 1000.0;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        escape(&r.title()),
        all.len(),
        count(&all, &is_failure),
        count(&all, &|c| c.verdict == Verdict::Error),
        count(&all, &is_skipped),
        seconds(&all)
    );
    for ((docname, section), cs) in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
            escape(&format!("{docname} § {section}")),
            cs.len(),
            count(cs, &is_failure),
            count(cs, &|c| c.verdict == Verdict::Error),
            count(cs, &is_skipped),
            seconds(cs),
            escape(r.started.trim_end_matches('Z')),
        );
        for c in cs {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape(&format!("{docname}.{section}")),
                escape(&format!("{} [{}]", c.id, c.subject)),
                c.millis / 1000.0
            );
            let message = escape(c.detail.lines().next().unwrap_or_default());
            let body = escape(&format!(
                "{}\nRequirements: {}\nReproduce: {}{}",
                c.detail,
                c.requirements.join(", "),
                c.reproduce,
                c.evidence
                    .as_ref()
                    .map(|e| format!("\nEvidence: {e}"))
                    .unwrap_or_default()
            ));
            if is_failure(c) {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{message}\" type=\"{}\">{body}</failure>\n    </testcase>",
                    c.verdict.as_str()
                );
            } else if c.verdict == Verdict::Error {
                let _ = writeln!(
                    out,
                    ">\n      <error message=\"{message}\" type=\"error\">{body}</error>\n    </testcase>"
                );
            } else if is_skipped(c) {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}: {message}\"/>\n    </testcase>",
                    c.verdict.as_str()
                );
            } else if c.verdict == Verdict::Pass {
                let _ = writeln!(out, "/>");
            } else {
                // warn (not strict) and lenient: passed, with the note kept.
                let _ = writeln!(
                    out,
                    ">\n      <system-out>{}: {body}</system-out>\n    </testcase>",
                    c.verdict.as_str()
                );
            }
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}
