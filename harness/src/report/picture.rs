//! The picture an HTML report opens with: per spec and per section of
//! it, how many requirements pass, fail, warn, are otherwise judged, were
//! not exercised, or cannot be tested, as stacked bars in an inline SVG
//! (no script, no external asset), one column per run so that several
//! implementations read side by side.
//!
//! Each requirement a report lists falls in exactly one category, so the
//! bars of a spec add up to its requirement rows in report.json, and the
//! categories agree with the coverage: `not exercised` is what no check
//! concluded (no check, or only skip, blocked or error), `needs a rail`
//! what only a live payment rail that cannot run here could judge and no
//! check concluded, `untestable` what the catalogue says cannot be tested.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use mppconf_suite::vectors::Verdict;

use super::{Report, RequirementStatus, catalogue_all, escape, exercised_ids};

/// The categories, in the order the bars stack them, with their colours.
pub const CATEGORIES: [(&str, &str); 7] = [
    ("pass", "#3f9b3f"),
    ("fail", "#d23f3f"),
    ("warn", "#e3b21c"),
    ("other", "#6c9bd2"),
    ("not-exercised", "#9e9e9e"),
    ("needs-a-rail", "#c7b8e0"),
    ("untestable", "#e4e4e4"),
];

/// Requirement counts per category (indexed as [`CATEGORIES`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally(pub [usize; 7]);

impl Tally {
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }

    fn add(&mut self, other: &Tally) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// `80 pass, 12 fail, …` (every category, zeros included).
    pub fn text(&self) -> String {
        CATEGORIES
            .iter()
            .zip(self.0)
            .map(|((name, _), n)| format!("{n} {}", name.replace('-', " ")))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn data(&self) -> String {
        CATEGORIES
            .iter()
            .zip(self.0)
            .map(|((name, _), n)| format!(" data-{name}=\"{n}\""))
            .collect()
    }
}

/// What the catalogue says of how a requirement can be tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Testable,
    NeedsRail,
    Untestable,
}

/// The category of one requirement of a run (an index into [`CATEGORIES`]).
fn category(q: &RequirementStatus, kind: Kind, exercised: &BTreeSet<&str>) -> usize {
    if kind == Kind::Untestable {
        6
    } else if !exercised.contains(q.id.as_str()) {
        if kind == Kind::NeedsRail { 5 } else { 4 }
    } else {
        match q.verdict {
            Some(Verdict::Pass) => 0,
            Some(Verdict::Fail) => 1,
            Some(Verdict::Warn) => 2,
            _ => 3,
        }
    }
}

/// Per spec (catalogue order) and section (order of the draft), the tally
/// of one run; a spec the run did not judge is absent.
pub fn tallies(r: &Report) -> Vec<(String, Vec<(String, Tally)>)> {
    let kinds: BTreeMap<String, Kind> = catalogue_all()
        .into_iter()
        .flat_map(|f| f.requirements)
        .map(|q| {
            let kind = if q.is_untestable() {
                Kind::Untestable
            } else if q.rail().is_some() {
                Kind::NeedsRail
            } else {
                Kind::Testable
            };
            (q.id, kind)
        })
        .collect();
    let exercised = exercised_ids(&r.checks);
    r.specs
        .iter()
        .map(|spec| {
            let mut sections: Vec<(String, Tally)> = Vec::new();
            for q in &spec.requirements {
                let i = match sections.iter().position(|(s, _)| *s == q.section) {
                    Some(i) => i,
                    None => {
                        sections.push((q.section.clone(), Tally::default()));
                        sections.len() - 1
                    }
                };
                let kind = kinds.get(&q.id).copied().unwrap_or(Kind::Testable);
                sections[i].1.0[category(q, kind, &exercised)] += 1;
            }
            (spec.docname.clone(), sections)
        })
        .collect()
}

/// The sum of the sections' tallies (a spec's, or a whole run's).
fn sum<'a>(sections: impl IntoIterator<Item = &'a (String, Tally)>) -> Tally {
    let mut t = Tally::default();
    for (_, s) in sections {
        t.add(s);
    }
    t
}

const LABEL: usize = 300;
const BAR: usize = 220;
const GAP: usize = 24;
const ROW: usize = 18;

/// The SVG of `runs` side by side.
pub fn svg(runs: &[Report]) -> String {
    let per_run: Vec<BTreeMap<String, Vec<(String, Tally)>>> = runs
        .iter()
        .map(|r| tallies(r).into_iter().collect())
        .collect();
    // Every spec some run judged, and its sections, in catalogue order.
    let specs: Vec<(String, String, Vec<String>)> = catalogue_all()
        .into_iter()
        .filter(|f| per_run.iter().any(|m| m.contains_key(&f.docname)))
        .map(|f| {
            let mut sections: Vec<String> = Vec::new();
            for q in &f.requirements {
                let listed = per_run.iter().any(|m| {
                    m.get(&f.docname)
                        .is_some_and(|ss| ss.iter().any(|(s, _)| *s == q.section))
                });
                if listed && !sections.contains(&q.section) {
                    sections.push(q.section.clone());
                }
            }
            (f.docname, f.title, sections)
        })
        .collect();
    let rows = 3 + specs.iter().map(|(_, _, s)| s.len() + 2).sum::<usize>();
    let width = LABEL + runs.len() * (BAR + GAP);
    let height = rows * ROW + 8;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg class=\"picture\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"system-ui,sans-serif\" font-size=\"11\" role=\"img\" aria-label=\"requirements per spec and section\">"
    );
    // Legend.
    let mut x = 0;
    for (name, colour) in CATEGORIES {
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"2\" width=\"10\" height=\"10\" fill=\"{colour}\" stroke=\"#888\" stroke-width=\"0.5\"/><text x=\"{}\" y=\"11\">{}</text>",
            x + 14,
            name.replace('-', " ")
        );
        x += 14 + 7 * name.len() + 14;
    }
    out.push('\n');
    // Each run's name and totals.
    for (i, (r, specs)) in runs.iter().zip(&per_run).enumerate() {
        let x = LABEL + i * (BAR + GAP);
        let t = sum(specs.values().flatten());
        let text = t.text();
        let (first, second) = text.split_at(
            text.match_indices(", ")
                .nth(3)
                .map(|(at, _)| at)
                .unwrap_or(0),
        );
        let _ = writeln!(
            out,
            "<text x=\"{x}\" y=\"{}\" font-weight=\"bold\">{}</text><text class=\"totals\" data-run=\"{i}\"{} x=\"{x}\" y=\"{}\"><tspan x=\"{x}\">{}</tspan><tspan x=\"{x}\" dy=\"12\">{}</tspan></text>",
            ROW + 10,
            escape(&clip(&r.target, 36)),
            t.data(),
            2 * ROW + 4,
            escape(first),
            escape(second.trim_start_matches(", ")),
        );
    }
    let mut y = 3 * ROW + 8;
    for (docname, title, sections) in &specs {
        // The spec's row: its whole tally, full width.
        let _ = writeln!(
            out,
            "<text x=\"0\" y=\"{}\" font-weight=\"bold\">{}<title>{}</title></text>",
            y + 12,
            escape(&clip(title, 46)),
            escape(&format!("{title} ({docname})"))
        );
        for (i, m) in per_run.iter().enumerate() {
            let x = LABEL + i * (BAR + GAP);
            match m.get(docname) {
                Some(ss) => {
                    let t = sum(ss);
                    bar(
                        &mut out,
                        i,
                        docname,
                        "",
                        &t,
                        x,
                        y,
                        BAR as f64 / t.total().max(1) as f64,
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "<text x=\"{x}\" y=\"{}\" fill=\"#666\">not judged by this run</text>",
                        y + 12
                    );
                }
            }
        }
        y += ROW + 4;
        // Its sections, at one scale per spec so that sizes compare.
        let largest = per_run
            .iter()
            .filter_map(|m| m.get(docname))
            .flat_map(|ss| ss.iter().map(|(_, t)| t.total()))
            .max()
            .unwrap_or(1)
            .max(1);
        for section in sections {
            let _ = writeln!(
                out,
                "<text x=\"12\" y=\"{}\">{}<title>{}</title></text>",
                y + 12,
                escape(&clip(section, 48)),
                escape(section)
            );
            for (i, m) in per_run.iter().enumerate() {
                let x = LABEL + i * (BAR + GAP);
                if let Some((_, t)) = m
                    .get(docname)
                    .and_then(|ss| ss.iter().find(|(s, _)| s == section))
                {
                    bar(
                        &mut out,
                        i,
                        docname,
                        section,
                        t,
                        x,
                        y,
                        BAR as f64 / largest as f64,
                    );
                }
            }
            y += ROW;
        }
        y += ROW - 4;
    }
    out.push_str("</svg>\n");
    out
}

/// One stacked bar; `scale` pixels per requirement.
#[allow(clippy::too_many_arguments)]
fn bar(
    out: &mut String,
    run: usize,
    docname: &str,
    section: &str,
    t: &Tally,
    x: usize,
    y: usize,
    scale: f64,
) {
    let _ = write!(
        out,
        "<g class=\"bar\" data-run=\"{run}\" data-spec=\"{}\" data-section=\"{}\"{}><title>{}: {}</title>",
        escape(docname),
        escape(section),
        t.data(),
        escape(if section.is_empty() { docname } else { section }),
        escape(&t.text())
    );
    let mut at = x as f64;
    for ((_, colour), n) in CATEGORIES.iter().zip(t.0) {
        if n == 0 {
            continue;
        }
        let w = n as f64 * scale;
        let _ = write!(
            out,
            "<rect x=\"{at:.1}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"{colour}\" stroke=\"#fff\" stroke-width=\"0.5\"/>",
            y + 2,
            ROW - 4
        );
        at += w;
    }
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{}\" fill=\"#444\" font-size=\"10\">{}</text></g>",
        at + 3.0,
        y + 12,
        t.total()
    );
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}
