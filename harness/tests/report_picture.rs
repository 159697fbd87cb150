//! The picture an HTML report opens with, as a real browser renders it:
//! the published mppx runs joined (server + client + vectors) and the
//! published server runs side by side, each page loaded in headless
//! Chromium (Debian's `chromium`, which `.ci/run` installs; hence
//! ignored by default), its DOM dumped and its screenshot taken. The SVG
//! must be there, its totals and bars must equal what report.json says
//! (counted here independently from the checks and the catalogue), and
//! every category with a count must show on the screenshot in its colour.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const CATEGORIES: [(&str, [u8; 3]); 7] = [
    ("pass", [0x3f, 0x9b, 0x3f]),
    ("fail", [0xd2, 0x3f, 0x3f]),
    ("warn", [0xe3, 0xb2, 0x1c]),
    ("other", [0x6c, 0x9b, 0xd2]),
    ("not-exercised", [0x9e, 0x9e, 0x9e]),
    ("needs-a-rail", [0xc7, 0xb8, 0xe0]),
    ("untestable", [0xe4, 0xe4, 0xe4]),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn mppconf(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    // join ends 1 when a run found something; only 2 and 3 are failures.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "mppconf {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn chromium(page: &Path, dir: &Path) -> (String, PathBuf) {
    let profile = tempfile::tempdir().unwrap();
    let shot = dir.join(format!(
        "{}.png",
        page.file_stem().unwrap().to_string_lossy()
    ));
    let url = format!("file://{}", page.display());
    let base = |extra: &[String]| {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1400,1400",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs (Debian's package chromium)");
        assert!(out.status.success(), "chromium on {url}: {out:?}");
        out.stdout
    };
    let dom = String::from_utf8(base(&["--dump-dom".to_string()])).unwrap();
    base(&[format!("--screenshot={}", shot.display())]);
    (dom, shot)
}

/// Per spec, the requirement counts per category, from report.json alone:
/// exercised is what a check that did not skip, block or err cites.
fn expected(report: &Value) -> BTreeMap<String, [usize; 7]> {
    // Each requirement's kind, read from the catalogue files directly.
    let mut untestable: BTreeSet<String> = BTreeSet::new();
    let mut needs_rail: BTreeSet<String> = BTreeSet::new();
    for e in std::fs::read_dir(root().join("vectors/requirements")).unwrap() {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap();
        for q in v["requirements"].as_array().unwrap() {
            let kinds: Vec<&str> = q["tested_by"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            let id = q["id"].as_str().unwrap().to_string();
            if kinds.iter().all(|t| *t == "untestable") {
                untestable.insert(id);
            } else if kinds.iter().any(|t| t.starts_with("needs-rail: "))
                && !kinds.contains(&"vector")
            {
                needs_rail.insert(id);
            }
        }
    }
    let exercised: BTreeSet<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !["skip", "blocked", "error"].contains(&c["verdict"].as_str().unwrap()))
        .flat_map(|c| c["requirements"].as_array().unwrap().iter())
        .map(|r| r.as_str().unwrap())
        .collect();
    report["specs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|spec| {
            let mut n = [0; 7];
            for q in spec["requirements"].as_array().unwrap() {
                let id = q["id"].as_str().unwrap();
                let i = if untestable.contains(id) {
                    6
                } else if !exercised.contains(id) {
                    if needs_rail.contains(id) { 5 } else { 4 }
                } else {
                    match q["verdict"].as_str() {
                        Some("pass") => 0,
                        Some("fail") => 1,
                        Some("warn") => 2,
                        _ => 3,
                    }
                };
                n[i] += 1;
            }
            (spec["docname"].as_str().unwrap().to_string(), n)
        })
        .collect()
}

fn counts(node: roxmltree::Node) -> [usize; 7] {
    CATEGORIES.map(|(name, _)| {
        node.attribute(format!("data-{name}").as_str())
            .unwrap_or_else(|| panic!("data-{name} on {node:?}"))
            .parse()
            .unwrap()
    })
}

/// Checks one rendered page against its runs' report.json files.
fn check_page(page: &Path, reports: &[PathBuf], dir: &Path) {
    let (dom, shot) = chromium(page, dir);
    let start = dom
        .find("<svg class=\"picture\"")
        .expect("the page opens with the SVG");
    let end = start + dom[start..].find("</svg>").unwrap() + "</svg>".len();
    assert!(
        start < dom.find("class=\"tabs\"").unwrap(),
        "the picture comes before the tabs"
    );
    let svg = &dom[start..end];
    let doc = roxmltree::Document::parse(svg).expect("the rendered SVG is well-formed");
    let mut painted = [false; 7];
    for (i, path) in reports.iter().enumerate() {
        let report: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let want = expected(&report);
        let run = i.to_string();
        // The run's spec rows (no section) equal report.json per spec.
        let mut total = [0; 7];
        for (docname, n) in &want {
            let row = doc
                .descendants()
                .find(|e| {
                    e.has_tag_name("g")
                        && e.attribute("class") == Some("bar")
                        && e.attribute("data-run") == Some(&run)
                        && e.attribute("data-spec") == Some(docname)
                        && e.attribute("data-section") == Some("")
                })
                .unwrap_or_else(|| panic!("{}: no bar of run {i} for {docname}", page.display()));
            assert_eq!(counts(row), *n, "{}: run {i}, {docname}", page.display());
            // Its sections add up to it.
            let mut sections = [0; 7];
            for s in doc.descendants().filter(|e| {
                e.attribute("class") == Some("bar")
                    && e.attribute("data-run") == Some(&run)
                    && e.attribute("data-spec") == Some(docname)
                    && e.attribute("data-section").is_some_and(|s| !s.is_empty())
            }) {
                for (a, b) in sections.iter_mut().zip(counts(s)) {
                    *a += b;
                }
            }
            assert_eq!(sections, *n, "{}: sections of {docname}", page.display());
            for k in 0..7 {
                total[k] += n[k];
                painted[k] |= n[k] > 0;
            }
        }
        // The totals a reader sees, as numbers and as text.
        let totals = doc
            .descendants()
            .find(|e| {
                e.attribute("class") == Some("totals") && e.attribute("data-run") == Some(&run)
            })
            .expect("the run's totals");
        assert_eq!(
            counts(totals),
            total,
            "{}: totals of run {i}",
            page.display()
        );
        let text: String = totals
            .descendants()
            .filter(|n| n.is_text())
            .map(|n| n.text().unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        for ((name, _), n) in CATEGORIES.iter().zip(total) {
            let words = format!("{n} {}", name.replace('-', " "));
            assert!(
                text.contains(&words),
                "{}: {words:?} in {text:?}",
                page.display()
            );
        }
    }
    // What was drawn reached the screen: every category with a count
    // shows in its colour.
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels: BTreeSet<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    for ((name, colour), shown) in CATEGORIES.iter().zip(painted) {
        if shown {
            assert!(
                pixels.contains(colour),
                "{}: no {name} pixel on {}",
                page.display(),
                shot.display()
            );
        }
    }
}

#[test]
#[ignore = "needs Debian's chromium (.ci/run installs it)"]
fn the_picture_renders_in_chromium_and_agrees_with_report_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let mppx = [
        "reports/servers/mppx-0-11-0/report.json",
        "reports/clients/mppx-0-11-0/report.json",
        "reports/vectors/mppx/report.json",
    ];
    let joined = format!("{out}/joined");
    let mut args = vec!["report", "join"];
    args.extend(mppx);
    args.extend(["--target", "mppx 0.11.0", "--out", &joined]);
    mppconf(&args);
    let joined_json = PathBuf::from(&joined).join("report.json");
    check_page(
        &PathBuf::from(&joined).join("report.html"),
        &[joined_json],
        dir.path(),
    );

    let servers = [
        "reports/servers/mpp-0-18-2/report.json",
        "reports/servers/mppx-0-11-0/report.json",
        "reports/servers/pympp-0-16-0/report.json",
    ];
    let matrix = format!("{out}/matrix.html");
    let mut args = vec!["report", "render"];
    args.extend(servers);
    args.extend(["--out", &matrix]);
    mppconf(&args);
    let paths: Vec<PathBuf> = servers.iter().map(|p| root().join(p)).collect();
    check_page(Path::new(&matrix), &paths, dir.path());
}
