//! The HTML report: one self-contained file (no external assets, no
//! script), opening with a [`picture`](super::picture) of the run(s), then
//! one tab per spec. With one run, each requirement row lists
//! its checks, expandable to the detail, the reproduction and the
//! evidence file; with several runs, each tab is a matrix of
//! requirements × implementations (Autobahn-style).

use std::collections::BTreeMap;
use std::fmt::Write;

use mppconf_suite::vectors::Verdict;

use super::{CheckRecord, Report, escape};

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1b1b}
h1{font-size:1.4em}table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2}.meta{color:#555}
.tabs>input{display:none}.tabs>label{display:inline-block;padding:6px 12px;border:1px solid #ccc;border-bottom:none;cursor:pointer;background:#f7f7f7}
.tabs>input:checked+label{background:#fff;font-weight:bold}
.panel{display:none;border:1px solid #ccc;padding:10px}
.v{display:inline-block;padding:0 6px;border-radius:3px;font-weight:bold;font-size:12px;white-space:nowrap}
h2{font-size:1.1em}
.pass{background:#cfeccf}.fail{background:#f6b8b8}.error{background:#f3c27a}.warn{background:#fbe7a1}
.blocked{background:#e0d0f0}.skip,.info,.none{background:#e6e6e6}.xfail{background:#d8e8f8}.stale{background:#f9d0e8}.lenient{background:#e3f1d4}
pre{white-space:pre-wrap;margin:.3em 0;background:#fafafa;padding:4px}details summary{cursor:pointer}
";

fn badge(v: Option<Verdict>) -> String {
    match v {
        Some(v) => format!("<span class=\"v {0}\">{0}</span>", v.as_str()),
        None => "<span class=\"v none\">not covered</span>".into(),
    }
}

/// A requirement's badge: its verdict, else the rail it needs, else
/// `not covered`.
fn status_badge(q: &super::RequirementStatus) -> String {
    match (&q.verdict, &q.rail) {
        (None, Some(_)) => format!(
            "<span class=\"v none\">{}</span>",
            escape(&q.verdict_text())
        ),
        _ => badge(q.verdict),
    }
}

/// Renders one or more runs (several: the matrix view).
pub fn render(runs: &[Report]) -> String {
    render_linked(runs, &[])
}

/// [`render`], each run's column linked to its own report (`links[i]`,
/// relative to the page).
pub fn render_linked(runs: &[Report], links: &[String]) -> String {
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let title = match runs {
        [one] => one.title(),
        _ => format!("mppconf: {} runs compared", runs.len()),
    };
    let _ = writeln!(
        out,
        "<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        escape(&title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", escape(&title));
    for r in runs {
        if let Some(why) = &r.incomplete {
            let _ = writeln!(
                out,
                "<p class=\"incomplete\"><strong>Incomplete: {}.</strong> {}: the checks it did not run are skip.</p>",
                escape(why),
                escape(&r.target)
            );
        }
        for a in &r.accommodations {
            let _ = writeln!(
                out,
                "<p class=\"incomplete\"><strong>Harness accommodation</strong> ({}): {}</p>",
                escape(&r.target),
                escape(a)
            );
        }
        let counts: Vec<String> = r.counts().iter().map(|(v, n)| format!("{n} {v}")).collect();
        let _ = writeln!(
            out,
            "<p class=\"meta\">{}: {} {} · judged against {} · specs {} · catalogue {} · {} to {} · exit code {} · {}</p>",
            escape(&r.target),
            escape(&r.tool.name),
            escape(&r.tool.version),
            r.core,
            escape(&r.spec_snapshot),
            escape(&r.vectors_digest),
            escape(&r.started),
            escape(&r.finished),
            r.exit_code(),
            escape(&counts.join(", "))
        );
        if !r.runs.is_empty() {
            let joined: Vec<String> = r
                .runs
                .iter()
                .map(|j| format!("{} {} (exit {})", j.suite, j.target, j.exit_code))
                .collect();
            let _ = writeln!(
                out,
                "<p class=\"meta\">Runs joined: {}.</p>",
                escape(&joined.join(", "))
            );
        }
    }
    let Some(first) = runs.first() else {
        out.push_str("<p>No runs.</p>\n</body>\n</html>\n");
        return out;
    };
    // The picture first: where each run stands, per spec and section.
    out.push_str("<figure class=\"picture\">\n");
    out.push_str(&super::picture::svg(runs));
    out.push_str("<figcaption class=\"meta\">Requirements per spec and section: not exercised means no check concluded (none ran, or each was skipped, blocked or errored); needs a rail means only a live payment rail that cannot run here (a Lightning node, Stripe's API, a validator) could judge it and no check did; untestable ones carry the catalogue's reason. Hover a bar for its counts.</figcaption>\n</figure>\n");
    let mut css = String::new();
    out.push_str("<div class=\"tabs\">\n");
    for (i, spec) in first.specs.iter().enumerate() {
        let _ = writeln!(
            out,
            "<input type=\"radio\" name=\"spec\" id=\"tab{i}\"{}><label for=\"tab{i}\">{} ({})</label>",
            if i == 0 { " checked" } else { "" },
            escape(&spec.title),
            escape(&spec.docname)
        );
        let _ = write!(css, "#tab{i}:checked~#panel{i}{{display:block}}");
    }
    for (i, spec) in first.specs.iter().enumerate() {
        let _ = writeln!(out, "<div class=\"panel\" id=\"panel{i}\">");
        if runs.len() == 1 {
            single(&mut out, first, &spec.docname);
        } else {
            matrix(&mut out, runs, &spec.docname, links);
        }
        out.push_str("</div>\n");
    }
    let _ = writeln!(out, "</div>\n<style>{css}</style>\n</body>\n</html>");
    out
}

fn check_details(c: &CheckRecord) -> String {
    let mut body = c.detail.clone();
    body.push_str(&format!("\nReproduce: {}", c.reproduce));
    let evidence = c
        .evidence
        .as_ref()
        .map(|e| format!(" · <a href=\"{0}\">evidence</a>", escape(e)))
        .unwrap_or_default();
    format!(
        "<details><summary>{} on {} {}</summary><pre>{}</pre>{evidence}</details>",
        escape(&c.id),
        escape(&c.subject),
        badge(Some(c.verdict)),
        escape(&body)
    )
}

fn single(out: &mut String, r: &Report, docname: &str) {
    let view = r.for_spec(docname).expect("a spec of the report");
    let spec = &view.specs[0];
    let _ = writeln!(
        out,
        "<p>{} checks cite this spec; {}.</p>",
        view.checks.len(),
        escape(&spec.coverage.summary())
    );
    if !spec.coverage.not_exercised.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"meta\">Not exercised by this run: {}.</p>",
            escape(&spec.coverage.not_exercised.join(", "))
        );
    }
    let findings: Vec<&CheckRecord> = view
        .checks
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skip))
        .collect();
    if !findings.is_empty() {
        let _ = writeln!(out, "<h2>Findings ({})</h2>", findings.len());
        let catalogue = super::catalogue_for_lookup(r.core);
        for c in findings {
            out.push_str(&check_details(c));
            // What it breaks: each cited requirement, its sentence and
            // where the draft says it.
            out.push_str("<ul class=\"cites\">");
            for id in &c.requirements {
                let found = catalogue.iter().find_map(|f| {
                    f.requirements
                        .iter()
                        .find(|q| &q.id == id)
                        .map(|q| (f.docname.as_str(), q))
                });
                match found {
                    Some((docname, q)) => {
                        let _ = write!(
                            out,
                            "<li><b>{}</b> ({} §\"{}\", {}): {}</li>",
                            escape(id),
                            escape(docname),
                            escape(&q.section),
                            escape(&q.keyword),
                            escape(&q.quote)
                        );
                    }
                    None => {
                        let _ = write!(out, "<li><b>{}</b></li>", escape(id));
                    }
                }
            }
            out.push_str("</ul>\n");
        }
        out.push_str("<h2>Requirements</h2>\n");
    }
    let by_key: BTreeMap<String, &CheckRecord> = view
        .checks
        .iter()
        .map(|c| (format!("{}@{}", c.id, c.subject), c))
        .collect();
    out.push_str("<table><tr><th>requirement</th><th>section</th><th>keyword</th><th>verdict</th><th>checks</th></tr>\n");
    for q in &spec.requirements {
        let checks: String = q
            .checks
            .iter()
            .filter_map(|k| by_key.get(k))
            .map(|c| check_details(c))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{checks}</td></tr>",
            escape(&q.quote),
            escape(&q.id),
            escape(&q.section),
            escape(&q.keyword),
            status_badge(q)
        );
    }
    out.push_str("</table>\n");
}

fn matrix(out: &mut String, runs: &[Report], docname: &str, links: &[String]) {
    let specs: Vec<_> = runs
        .iter()
        .map(|r| r.specs.iter().find(|s| s.docname == docname))
        .collect();
    out.push_str("<table><tr><th>requirement</th><th>keyword</th>");
    for (i, r) in runs.iter().enumerate() {
        match links.get(i) {
            Some(link) => {
                let _ = write!(
                    out,
                    "<th><a href=\"{}\">{}</a></th>",
                    escape(link),
                    escape(&r.target)
                );
            }
            None => {
                let _ = write!(out, "<th>{}</th>", escape(&r.target));
            }
        }
    }
    out.push_str("</tr>\n");
    // Every requirement any run lists, in the first listing's order.
    let mut rows: Vec<&super::RequirementStatus> = Vec::new();
    for spec in specs.iter().flatten() {
        for q in &spec.requirements {
            if !rows.iter().any(|r| r.id == q.id) {
                rows.push(q);
            }
        }
    }
    let mut totals: Vec<BTreeMap<&'static str, usize>> = vec![BTreeMap::new(); runs.len()];
    for q in &rows {
        let _ = write!(
            out,
            "<tr><td title=\"{}\">{}</td><td>{}</td>",
            escape(&q.quote),
            escape(&q.id),
            escape(&q.keyword)
        );
        for (i, spec) in specs.iter().enumerate() {
            let cell = spec.and_then(|s| s.requirements.iter().find(|c| c.id == q.id));
            let verdict = cell.and_then(|c| c.verdict);
            *totals[i]
                .entry(verdict.map_or("not covered", |v| v.as_str()))
                .or_insert(0) += 1;
            let badge = cell.map_or_else(|| badge(None), status_badge);
            match (cell, links.get(i)) {
                (Some(c), Some(link)) => {
                    let _ = write!(
                        out,
                        "<td title=\"{}\"><a href=\"{}\">{badge}</a></td>",
                        escape(&c.checks.join(", ")),
                        escape(link)
                    );
                }
                (cell, _) => {
                    let _ = write!(
                        out,
                        "<td title=\"{}\">{badge}</td>",
                        escape(&cell.map(|c| c.checks.join(", ")).unwrap_or_default())
                    );
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("<tr class=\"totals\"><th>totals</th><th></th>");
    for t in &totals {
        let text: Vec<String> = t.iter().map(|(v, n)| format!("{n} {v}")).collect();
        let _ = write!(out, "<th>{}</th>", escape(&text.join(", ")));
    }
    out.push_str("</tr>\n</table>\n");
}
