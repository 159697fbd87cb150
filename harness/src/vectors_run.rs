//! `mppconf vectors run`: vector files (ours or the official suite's)
//! through an adapter or the in-process reference, judged under a core
//! draft, with the raw results and the report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::vectors::{Executor, Reference, Verdict};

use crate::adapter::{AdapterClient, Manifest};
use crate::error::{Error, Result};
use crate::report::Report;
use crate::runner::{self, SourcedCase};
use crate::{official, vector_files};

#[derive(clap::Args)]
pub struct RunArgs {
    /// `builtin` (the reference codec, in process), a path to an
    /// adapter.json or its folder, or an adapter name under --adapters.
    #[arg(long)]
    pub adapter: String,
    /// Folder whose */adapter.json manifests are looked up by name.
    #[arg(long, default_value = "harness/adapters")]
    pub adapters: PathBuf,
    /// Only cases whose id contains one of these substrings.
    #[arg(long)]
    pub filter: Vec<String>,
    /// Run vector files in the official cross-SDK format from this folder
    /// instead of ours.
    #[arg(long)]
    pub official: Option<PathBuf>,
    /// Known failures: {"format": "mppconf-expectations/1", "cases": {id:
    /// reason}}; the same flag as the suites' (`--expect` is its old name).
    #[arg(long, alias = "expect")]
    pub baseline: Option<PathBuf>,
    /// Spec drift: {"format": "mppconf-drift/1", "cases": {id: reason}}, cases
    /// whose expectation the pinned drafts do not support (verdict info).
    /// With --official, defaults to vectors/official-disagreements.json.
    #[arg(long)]
    pub drift: Option<PathBuf>,
    /// Write the JSON results here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The vectors folder (default: ./vectors).
    #[arg(long)]
    pub vectors: Option<PathBuf>,
    /// Print every case, not only the ones that did not pass.
    #[arg(long)]
    pub verbose: bool,
    /// Also write the conformance report (per spec: Markdown, JSON, JUnit,
    /// HTML; requirement coverage) here.
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// The core draft the cases are judged against:
    /// draft-httpauth-payment-00 (the pinned default) or
    /// draft-httpauth-payment-01. Cases that hold under another draft only
    /// are reported `skip`; `builtin` follows the draft.
    #[arg(long, default_value = "draft-httpauth-payment-00")]
    pub core: CoreDraft,
}

/// `mppconf vectors run`: the cases through an adapter, under a core
/// draft; the exit code of the verdicts.
pub fn run(args: RunArgs) -> Result<u8> {
    if let Some(dir) = &args.report_dir {
        crate::preflight::report_dir(dir)?;
    }
    if let Some(out) = &args.out {
        crate::preflight::out_file("--out", out)?;
    }
    let (name, mut exec): (String, Box<dyn Executor>) = if args.adapter == "builtin" {
        ("builtin".into(), Box::new(Reference(args.core)))
    } else {
        let manifest = resolve_adapter(&args.adapter, &args.adapters)?;
        manifest.build()?;
        let name = format!(
            "{} ({}, {:?})",
            manifest.name,
            manifest.language,
            manifest.mode()
        );
        (name, Box::new(AdapterClient::new(manifest)))
    };

    let dir = vector_files::vectors_dir(args.vectors.as_deref());
    let (cases, inputs) = match &args.official {
        Some(official) => {
            let adapter_name = name.split(' ').next().unwrap_or_default();
            let mut cases = official::load_dir(official, adapter_name)?;
            let inputs = cases
                .iter()
                .map(|c| c.file.clone())
                .collect::<std::collections::BTreeSet<_>>();
            for c in &mut cases {
                c.file = vector_files::shown_path(official, &c.file);
            }
            let inputs = inputs
                .into_iter()
                .map(|p| (vector_files::shown_path(official, &p), p))
                .collect::<Vec<_>>();
            (cases, inputs)
        }
        None => {
            let paths = vector_files::discover(&dir)?;
            let mut cases = Vec::new();
            for path in &paths {
                let file = vector_files::load(path)?.map_err(|problems| {
                    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    Error::Usage(format!(
                        "{} is not a valid vector file (run `mppconf vectors validate`):\n{}",
                        path.display(),
                        list.join("\n")
                    ))
                })?;
                cases.extend(file.file.cases.into_iter().map(|case| SourcedCase {
                    file: vector_files::shown_path(&dir, path),
                    skip: (!case.holds_under(args.core)).then(|| {
                        format!(
                            "holds under {} only; this run judges against {} (--core)",
                            case.drafts.join(", "),
                            args.core
                        )
                    }),
                    case,
                }));
            }
            let inputs = paths
                .into_iter()
                .map(|p| (vector_files::shown_path(&dir, &p), p))
                .collect();
            (cases, inputs)
        }
    };
    if cases.is_empty() {
        return Err(Error::Usage(format!(
            "no vector cases found under {}",
            dir.display()
        )));
    }
    // A filter that matches no case is a typo, not an empty green run.
    let ids: Vec<&str> = cases.iter().map(|c| c.case.id.as_str()).collect();
    crate::report::Selection {
        filter: args.filter.clone(),
        ..Default::default()
    }
    .validate(&ids)
    .map_err(|e| Error::Usage(e.to_string().replace("matches no check", "matches no case")))?;
    let cases: Vec<SourcedCase> = cases
        .into_iter()
        .filter(|c| {
            args.filter.is_empty() || args.filter.iter().any(|f| c.case.id.contains(f.as_str()))
        })
        .collect();
    let mut annotations = runner::Annotations {
        draft: args.core,
        ..Default::default()
    };
    if let Some(p) = &args.baseline {
        annotations.load(p)?;
    }
    let drift = args.drift.clone().or_else(|| {
        args.official
            .as_ref()
            .map(|_| dir.join("official-disagreements.json"))
            .filter(|p| p.is_file())
    });
    if let Some(p) = &drift {
        annotations.load(p)?;
    }

    let start = Instant::now();
    let verbose = args.verbose;
    let results = runner::run(&cases, exec.as_mut(), &annotations, |r| {
        if verbose
            || !matches!(
                r.verdict,
                Verdict::Pass | Verdict::Lenient | Verdict::Skip | Verdict::Xfail | Verdict::Info
            )
        {
            crate::outln!("{:<7} {}  ({})", r.verdict.as_str(), r.id, r.file);
            for line in r.detail.lines() {
                crate::outln!("        {line}");
            }
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let counts = runner::summary(&results);
    let n = |v| counts.get(&v).copied().unwrap_or(0);
    crate::outln!(
        "adapter {name}: {} cases in {seconds:.2}s ({:.0} cases/s)",
        results.len(),
        results.len() as f64 / seconds.max(1e-9)
    );
    crate::outln!(
        "{} passed, {} failed, {} lenient, {} skipped, {} errors, {} xfail, {} stale, {} info",
        n(Verdict::Pass),
        n(Verdict::Fail),
        n(Verdict::Lenient),
        n(Verdict::Skip),
        n(Verdict::Error),
        n(Verdict::Xfail),
        n(Verdict::Stale),
        n(Verdict::Info),
    );
    if let Some(out) = &args.out {
        let doc =
            runner::result_document(&name, &runner::digest_files(&inputs)?, &results, seconds);
        let text = serde_json::to_string_pretty(&doc).expect("results serialize");
        std::fs::write(out, text + "\n").map_err(|e| Error::io(out, e))?;
        crate::outln!("results written to {}", out.display());
    }
    if let Some(dir) = &args.report_dir {
        let records = results
            .iter()
            .map(|r| {
                let (expected, actual) = crate::report::expected_actual(&r.detail);
                crate::report::CheckRecord {
                    id: r.id.clone(),
                    subject: r.file.clone(),
                    requirements: r.requirements.clone(),
                    verdict: r.verdict,
                    detail: r.detail.clone(),
                    expected,
                    actual,
                    millis: r.micros as f64 / 1000.0,
                    evidence: None,
                    reproduce: format!(
                        "mppconf vectors run --adapter {}{} --filter {}",
                        args.adapter,
                        if args.core == CoreDraft::default() {
                            String::new()
                        } else {
                            format!(" --core {}", args.core)
                        },
                        r.id
                    ),
                }
            })
            .collect();
        let started = crate::reference::server::rfc3339_at(
            crate::reference::tx::unix_now().saturating_sub(seconds.ceil() as u64),
        );
        let report = Report::new("vectors", &name, started, records).under(args.core);
        report.write(dir)?;
        crate::outln!("report written to {}", dir.join("report.html").display());
        crate::report::gate::print_coverage(&report);
    }
    Ok(runner::exit_code(&results) as u8)
}

/// `--adapter` as a manifest path, a folder holding adapter.json, or a name.
pub fn resolve_adapter(given: &str, adapters_dir: &Path) -> Result<Manifest> {
    let path = Path::new(given);
    if path.is_file() {
        return Manifest::load(path);
    }
    if path.join("adapter.json").is_file() {
        return Manifest::load(&path.join("adapter.json"));
    }
    if adapters_dir.is_dir()
        && let Some(m) = Manifest::discover(adapters_dir)?
            .into_iter()
            .find(|m| m.name == given)
    {
        return Ok(m);
    }
    Err(Error::Usage(format!(
        "--adapter {given}: not `builtin`, not an adapter.json or a folder holding one, and no adapter of that name under {}",
        adapters_dir.display()
    )))
}
