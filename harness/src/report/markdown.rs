//! The Markdown report: short enough for a pull-request comment. A
//! summary table per spec, then each finding with the requirement
//! sentence, Expected, Actual and a one-line reproduction; the full
//! requirement table folded away.

use mppconf_suite::drafts::CoreDraft;
use std::collections::BTreeMap;
use std::fmt::Write;

use mppconf_suite::vectors::Verdict;

use super::Report;

/// Verdicts that need the reader's attention, in the order they are listed.
const FINDINGS: [Verdict; 5] = [
    Verdict::Fail,
    Verdict::Error,
    Verdict::Stale,
    Verdict::Warn,
    Verdict::Blocked,
];

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    // From the whole catalogue: a check may cite other specs too. The
    // report's own core draft is read first, and the first entry wins.
    let catalogue = super::catalogue_for_lookup(r.core);
    let mut quotes: BTreeMap<&str, (&str, &str, &str)> = BTreeMap::new();
    for f in &catalogue {
        for q in &f.requirements {
            quotes.entry(q.id.as_str()).or_insert((
                f.docname.as_str(),
                q.section.as_str(),
                q.quote.as_str(),
            ));
        }
    }
    let _ = writeln!(out, "# {}\n", r.title());
    if let Some(why) = &r.incomplete {
        let _ = writeln!(
            out,
            "**Incomplete: {why}.** The checks it did not run are `skip`.\n"
        );
    }
    for a in &r.accommodations {
        let _ = writeln!(out, "**Harness accommodation:** {a}\n");
    }
    let _ = writeln!(
        out,
        "{} {} · judged against `{}` · specs `{}` · catalogue `{}` · {} to {}{}{}\n",
        r.tool.name,
        r.tool.version,
        r.core,
        r.spec_snapshot,
        &r.vectors_digest[..r.vectors_digest.len().min(19)],
        r.started,
        r.finished,
        r.seed.map(|s| format!(" · seed {s}")).unwrap_or_default(),
        r.shard
            .map(|s| format!(" · shard {}/{}", s.index, s.count))
            .unwrap_or_default(),
    );
    if !r.runs.is_empty() {
        let runs: Vec<String> = r
            .runs
            .iter()
            .map(|j| format!("{} `{}` (exit {})", j.suite, j.target, j.exit_code))
            .collect();
        let _ = writeln!(out, "Runs joined: {}.\n", runs.join(", "));
    }
    let _ = writeln!(
        out,
        "| spec | checks | pass | fail | warn | error | other | testable requirements exercised |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for spec in &r.specs {
        let view = r.for_spec(&spec.docname).expect("a spec of the report");
        let n = |v: Verdict| view.checks.iter().filter(|c| c.verdict == v).count();
        let other = view.checks.len()
            - n(Verdict::Pass)
            - n(Verdict::Fail)
            - n(Verdict::Warn)
            - n(Verdict::Error);
        let _ = writeln!(
            out,
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {} |",
            spec.title,
            spec.docname,
            view.checks.len(),
            n(Verdict::Pass),
            n(Verdict::Fail),
            n(Verdict::Warn),
            n(Verdict::Error),
            other,
            coverage_cell(&spec.coverage)
        );
    }
    let verdict_line = if r.exit_code() == 0 {
        "**Conformant**"
    } else {
        "**Not conformant**"
    };
    let _ = writeln!(
        out,
        "\n{verdict_line} (exit code {}{}).\n",
        r.exit_code(),
        if r.strict { ", --strict" } else { "" }
    );
    let findings: Vec<_> = FINDINGS
        .iter()
        .flat_map(|v| r.checks.iter().filter(move |c| c.verdict == *v))
        .collect();
    if findings.is_empty() {
        let _ = writeln!(out, "No findings.\n");
    } else {
        let _ = writeln!(out, "## Findings\n");
    }
    for c in findings {
        let _ = writeln!(
            out,
            "### `{}` on {}: {}\n",
            c.id,
            c.subject,
            c.verdict.as_str()
        );
        for id in &c.requirements {
            match quotes.get(id.as_str()) {
                Some((docname, section, quote)) => {
                    let _ = writeln!(
                        out,
                        "- **{id}** ({docname} §\"{section}\"): {}",
                        excerpt(quote)
                    );
                }
                None => {
                    let _ = writeln!(out, "- **{id}**");
                }
            }
        }
        match (&c.expected, &c.actual) {
            (Some(e), Some(a)) => {
                let _ = writeln!(
                    out,
                    "\nExpected: {}  \nActual: {}",
                    one_line(e),
                    one_line(a)
                );
            }
            _ => {
                let _ = writeln!(out, "\n{}", one_line(&c.detail));
            }
        }
        let _ = writeln!(out, "\nReproduce: `{}`", c.reproduce);
        if let Some(e) = &c.evidence {
            let _ = writeln!(out, "Evidence: [{e}]({e})");
        }
        let _ = writeln!(out);
    }
    let skipped: Vec<_> = r
        .checks
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Skip | Verdict::Info | Verdict::Xfail))
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Not judged here: {} check(s) skipped, informative or known failures</summary>\n",
            skipped.len()
        );
        for c in skipped {
            let _ = writeln!(
                out,
                "- `{}` on {}: {}: {}",
                c.id,
                c.subject,
                c.verdict.as_str(),
                one_line(&c.detail)
            );
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    for spec in &r.specs {
        let _ = writeln!(
            out,
            "<details><summary>{} ({}): every requirement</summary>\n",
            spec.title, spec.docname
        );
        let _ = writeln!(out, "Coverage: {}.\n", spec.coverage.summary());
        if !spec.coverage.not_exercised.is_empty() {
            let _ = writeln!(
                out,
                "Not exercised by this run: {}.\n",
                spec.coverage
                    .not_exercised
                    .iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = writeln!(
            out,
            "| requirement | section | keyword | verdict | checks |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for q in &spec.requirements {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                q.id,
                q.section,
                q.keyword,
                q.verdict_text(),
                q.checks.join(", ")
            );
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    out
}

/// A requirement sentence short enough to repeat under each finding.
fn excerpt(quote: &str) -> String {
    let flat = quote.replace('\n', " ");
    if flat.chars().count() <= 240 {
        flat
    } else {
        format!("{}…", flat.chars().take(240).collect::<String>())
    }
}

/// `exercised of testable (percent)`, for a table cell.
fn coverage_cell(c: &super::Coverage) -> String {
    format!("{} of {} ({:.0}%)", c.exercised, c.testable, c.percent())
}

/// A table cell or list item on one line, pipes escaped.
fn one_line(text: &str) -> String {
    text.replace('\n', " · ").replace('|', "\\|")
}

/// Per pinned draft (every catalogue file, whether a run judged it or
/// not): its requirements, how many the runs below exercised, how many
/// need a live rail or cannot be tested, and who was judged against it.
fn draft_coverage(runs: &[(String, Report)]) -> String {
    let exercised: std::collections::BTreeSet<&str> = runs
        .iter()
        .flat_map(|(_, r)| super::exercised_ids(&r.checks))
        .collect();
    let mut out = String::from(
        "## Coverage of every pinned draft\n\n\
         Per draft: its requirements in the catalogue (`vectors/requirements/`), the testable\n\
         ones some check of the runs below exercised (a check that concluded: not skip, blocked\n\
         or error), those only a live payment rail that cannot run here could judge and no\n\
         check did (a report shows each as `needs a live <rail>`, never `pass`), those the\n\
         catalogue says cannot be tested, and who was judged against it (`builtin` is\n\
         mppconf's own reference codec, run on every vector).\n\n\
         | draft | requirements | testable | exercised | need a rail | untestable | judged |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for file in super::catalogue_all() {
        let c = super::Coverage::of(&file.requirements, &exercised);
        let mut judged: Vec<&str> = runs
            .iter()
            .filter(|(_, r)| r.specs.iter().any(|s| s.docname == file.docname))
            .map(|(_, r)| r.target.split(" (").next().unwrap_or(&r.target))
            .collect();
        judged.sort();
        judged.dedup();
        let judged = if judged.is_empty() {
            "none yet".to_string()
        } else {
            judged.join(", ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            file.docname,
            file.requirements.len(),
            c.testable,
            coverage_cell(&c),
            c.needs_rail,
            c.untestable,
            one_line(&judged),
        );
    }
    out.push('\n');
    out
}

/// The index of several published reports: per run and spec, the check
/// counts, the testable requirements exercised and the verdict, linked to the
/// run's pages. `runs` pairs each report with its folder, relative to the
/// index.
pub fn render_index(runs: &[(String, Report)]) -> String {
    let mut out = String::from("# mppconf conformance reports\n\n");
    let _ = writeln!(
        out,
        "Generated by `mppconf report index` from the runs below. Each run's folder holds its\n\
         report in every format (`report.html` first; per spec `.md`, `.json`, `.junit.xml`)\n\
         and the evidence of every check. Verdicts: `fail` breaks a MUST, `warn` a SHOULD;\n\
         `skip`, `info` and `blocked` carry their reason. How to read and produce them:\n\
         [`README.md`](README.md).\n"
    );
    // One line per core draft and catalogue the runs were judged against
    // (a run published before a catalogue grew keeps its own digest).
    let mut seen: Vec<(CoreDraft, &str, usize)> = Vec::new();
    for (_, r) in runs {
        match seen
            .iter_mut()
            .find(|(core, digest, _)| *core == r.core && *digest == r.vectors_digest)
        {
            Some((_, _, n)) => *n += 1,
            None => seen.push((r.core, &r.vectors_digest, 1)),
        }
    }
    for (core, digest, n) in &seen {
        let r = runs
            .iter()
            .map(|(_, r)| r)
            .find(|r| r.core == *core && r.vectors_digest == *digest)
            .expect("a run of each line");
        let _ = writeln!(
            out,
            "Judged against `{core}`: specs `{}` · catalogue `{digest}` ({n} run{}) · {} {}\n",
            r.spec_snapshot,
            if *n == 1 { "" } else { "s" },
            r.tool.name,
            r.tool.version
        );
    }
    out.push_str(&draft_coverage(runs));
    let _ = writeln!(out, "## Runs\n");
    let _ = writeln!(
        out,
        "| implementation | suite | spec | checks | pass | fail | warn | other | testable requirements exercised | verdict | report |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    for (dir, r) in runs {
        for spec in &r.specs {
            let view = r.for_spec(&spec.docname).expect("a spec of the report");
            let n = |v: Verdict| view.checks.iter().filter(|c| c.verdict == v).count();
            let verdict = match view.exit_code() {
                0 => "conformant",
                1 => "not conformant",
                3 => "harness error",
                _ => "stale baseline",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {verdict} | [md]({dir}/{doc}.md) · [html]({dir}/report.html) · [junit]({dir}/{doc}.junit.xml) |",
                one_line(&r.target),
                r.suite_label(),
                spec.docname,
                view.checks.len(),
                n(Verdict::Pass),
                n(Verdict::Fail),
                n(Verdict::Warn),
                view.checks.len() - n(Verdict::Pass) - n(Verdict::Fail) - n(Verdict::Warn),
                coverage_cell(&spec.coverage),
                doc = spec.docname,
            );
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::record;

    #[test]
    fn the_index_lists_every_pinned_draft_with_its_rail_requirements_apart() {
        let stripe = super::super::catalogue_all()
            .into_iter()
            .find(|f| f.docname == "draft-stripe-charge-00")
            .expect("the Stripe charge catalogue");
        // Read off the catalogue here: rail-only is a rail and no vector.
        let rail_only: Vec<&str> = stripe
            .requirements
            .iter()
            .filter(|q| {
                q.tested_by.iter().any(|t| t.starts_with("needs-rail: "))
                    && !q.tested_by.iter().any(|t| t == "vector")
            })
            .map(|q| q.id.as_str())
            .collect();
        assert!(!rail_only.is_empty());
        let run = Report::new(
            "server",
            "mppx-stripe 0.11.0 (harness/targets/mppx-stripe-server.toml)",
            crate::report::now(),
            vec![
                record(
                    "method.request-rules",
                    &["stripe-charge.request.currency"],
                    Verdict::Pass,
                ),
                record("method.unsupported", &rail_only, Verdict::Skip),
            ],
        );
        let text = render_index(&[("servers/mppx-stripe".into(), run)]);
        for file in super::super::catalogue_all() {
            let rows = text
                .lines()
                .filter(|l| {
                    l.starts_with(&format!(
                        "| {} | {} |",
                        file.docname,
                        file.requirements.len()
                    ))
                })
                .count();
            assert_eq!(rows, 1, "{}: {text}", file.docname);
        }
        let row = text
            .lines()
            .find(|l| l.starts_with("| draft-stripe-charge-00 |"))
            .unwrap();
        // The skipped rail requirements are neither testable nor exercised.
        assert!(row.contains("| 1 of "), "{row}");
        assert!(row.contains(&format!("| {} |", rail_only.len())), "{row}");
        assert!(row.ends_with("| mppx-stripe 0.11.0 |"), "{row}");
        let unjudged = text
            .lines()
            .find(|l| l.starts_with("| draft-lightning-charge-00 |"))
            .unwrap();
        assert!(
            unjudged.contains("| 0 of ") && unjudged.ends_with("| none yet |"),
            "{unjudged}"
        );
    }
}
