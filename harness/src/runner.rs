//! Runs vector cases through an executor and collects the results, the
//! summary and the JSON result file (`reports/schema/vector-results.schema.json`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::ops::{AbiRequest, AbiResponse};
use mppconf_suite::vectors::{self, Case, Executor, Replay, Verdict};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A case with the file it came from.
#[derive(Debug, Clone)]
pub struct SourcedCase {
    pub file: PathBuf,
    pub case: Case,
    /// Why the case was not run at all (e.g. an official operation outside
    /// the pinned drafts); such a case is reported as `skip`.
    pub skip: Option<String>,
}

/// The outcome of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub file: String,
    pub op: String,
    pub requirements: Vec<String>,
    pub flags: Vec<String>,
    pub expectation: String,
    pub verdict: Verdict,
    pub detail: String,
    pub micros: u128,
}

/// What a run knows before it runs its cases: the core draft it judges
/// against, and what it knows about some cases.
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    /// The core draft: the reference reads formatted headers back under
    /// it, and drift entries limited to other drafts are left out.
    pub draft: CoreDraft,
    /// Known failures with their reason (a baseline): a failure becomes
    /// `xfail`, a pass `stale`.
    pub known_failures: BTreeMap<String, String>,
    /// Cases whose expectation follows a newer draft or an SDK's leniency
    /// rather than the pinned drafts: any outcome is `info`, never gating.
    pub drift: BTreeMap<String, String>,
}

impl Annotations {
    /// Adds the cases of an annotation file: `{"format":
    /// "mppconf-expectations/1" | "mppconf-drift/1", "cases": {id: reason}}`.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        // Typed, so that a mistake is placed at its line and column.
        let mut de = serde_json::Deserializer::from_str(&text);
        let file: AnnotationFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            Error::At {
                path: path.into(),
                line: inner.line(),
                column: inner.column(),
                field,
                reason: inner
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            }
        })?;
        let target = match file.format.as_str() {
            "mppconf-expectations/1" => &mut self.known_failures,
            "mppconf-drift/1" => &mut self.drift,
            _ => {
                return Err(Error::field(
                    path,
                    "format",
                    "must be \"mppconf-expectations/1\" (known failures) or \"mppconf-drift/1\" (spec drift)",
                ));
            }
        };
        for (id, entry) in file.cases {
            let (reason, drafts) = match entry {
                Entry::Reason(Reason(reason)) => (reason, Vec::new()),
                Entry::Limited { reason, drafts } => (reason.0, drafts),
            };
            for d in &drafts {
                d.parse::<CoreDraft>()
                    .map_err(|why| Error::field(path, &format!("cases.{id}.drafts"), &why))?;
            }
            if drafts.is_empty() || drafts.iter().any(|d| d == self.draft.docname()) {
                target.insert(id, reason);
            }
        }
        Ok(())
    }
}

/// An expectations or drift file.
#[derive(serde::Deserialize)]
struct AnnotationFile {
    format: String,
    cases: BTreeMap<String, Entry>,
}

/// A case's reason, for every core draft or for the listed ones only (a
/// case that follows -01 is drift under -00 and judged under -01).
enum Entry {
    Reason(Reason),
    Limited { reason: Reason, drafts: Vec<String> },
}

impl<'de> serde::Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Limited {
            reason: Reason,
            drafts: Vec<String>,
        }
        // A visitor, so that a wrong type is placed where its value starts.
        struct EntryVisitor;
        impl<'de> serde::de::Visitor<'de> for EntryVisitor {
            type Value = Entry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a reason (a non-empty string) or {\"reason\", \"drafts\"}")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> std::result::Result<Entry, E> {
                Reason::new(text.to_string())
                    .map(Entry::Reason)
                    .map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Entry, A::Error> {
                let l: Limited = serde::Deserialize::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(Entry::Limited {
                    reason: l.reason,
                    drafts: l.drafts,
                })
            }
        }
        d.deserialize_any(EntryVisitor)
    }
}

/// Why a case is listed: a non-empty string.
struct Reason(String);

impl Reason {
    fn new(text: String) -> std::result::Result<Self, String> {
        if text.trim().is_empty() {
            return Err("the reason must be a non-empty string".into());
        }
        Ok(Reason(text))
    }
}

impl<'de> serde::Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Reason::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// How many cases have their requests sent ahead at once.
const BATCH: usize = 256;

/// Runs every case in order; `progress` sees each result as it lands.
/// The requests of a chunk of cases go out together, stage by stage (a
/// roundtrip's second call waits for its first), so a persistent adapter
/// answers a pipeline instead of one request at a time.
pub fn run(
    cases: &[SourcedCase],
    exec: &mut dyn Executor,
    annotations: &Annotations,
    mut progress: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let mut results = Vec::with_capacity(cases.len());
    for chunk in cases.chunks(BATCH) {
        let start = Instant::now();
        let mut answers: Vec<Vec<Result<AbiResponse, String>>> = vec![Vec::new(); chunk.len()];
        loop {
            let next: Vec<(usize, AbiRequest)> = chunk
                .iter()
                .enumerate()
                .filter(|(_, sc)| sc.skip.is_none())
                .filter_map(|(i, sc)| vectors::next_request(&sc.case, &answers[i]).map(|r| (i, r)))
                .collect();
            if next.is_empty() {
                break;
            }
            let requests: Vec<AbiRequest> = next.iter().map(|(_, r)| r.clone()).collect();
            for ((i, _), answer) in next.iter().zip(exec.call_batch(&requests)) {
                answers[*i].push(answer);
            }
        }
        let per_case = start.elapsed().as_micros() / chunk.len() as u128;
        for (sc, answers) in chunk.iter().zip(answers) {
            let judgement = match &sc.skip {
                Some(reason) => vectors::Judgement {
                    verdict: Verdict::Skip,
                    detail: reason.clone(),
                },
                None => vectors::judge(&sc.case, &mut Replay(answers.into()), annotations.draft),
            };
            let result = record(sc, judgement, per_case, annotations);
            progress(&result);
            results.push(result);
        }
    }
    results
}

fn record(
    sc: &SourcedCase,
    judgement: vectors::Judgement,
    micros: u128,
    annotations: &Annotations,
) -> CaseResult {
    let id = &sc.case.id;
    if let Some(reason) = annotations.drift.get(id)
        && matches!(
            judgement.verdict,
            Verdict::Pass | Verdict::Lenient | Verdict::Fail
        )
    {
        let followed = if judgement.verdict == Verdict::Fail {
            "does not follow it"
        } else {
            "follows it"
        };
        let detail = format!(
            "spec drift: {reason}\nThis implementation {followed}: {}",
            judgement.detail
        );
        return result_of(sc, Verdict::Info, detail, micros);
    }
    let (verdict, detail) = match (judgement.verdict, annotations.known_failures.get(id)) {
        (Verdict::Fail, Some(reason)) => (
            Verdict::Xfail,
            format!("known: {reason}\n{}", judgement.detail),
        ),
        (Verdict::Pass | Verdict::Lenient, Some(reason)) => (
            Verdict::Stale,
            format!(
                "listed as a known failure ({reason}) but now {}",
                judgement.verdict.as_str()
            ),
        ),
        (v, _) => (v, judgement.detail),
    };
    result_of(sc, verdict, detail, micros)
}

fn result_of(sc: &SourcedCase, verdict: Verdict, detail: String, micros: u128) -> CaseResult {
    CaseResult {
        id: sc.case.id.clone(),
        file: sc.file.display().to_string(),
        op: sc.case.op.clone(),
        requirements: sc.case.requirements.clone(),
        flags: sc.case.flags.clone(),
        expectation: format!("{:?}", sc.case.result).to_lowercase(),
        verdict,
        detail,
        micros,
    }
}

/// Counts per verdict.
pub fn summary(results: &[CaseResult]) -> BTreeMap<Verdict, usize> {
    let mut counts = BTreeMap::new();
    for r in results {
        *counts.entry(r.verdict).or_insert(0) += 1;
    }
    counts
}

/// The process exit code of a run: 0 conformant, 1 a case failed, 3 the
/// harness could not decide a case, 4 a known failure now passes.
pub fn exit_code(results: &[CaseResult]) -> i32 {
    let has = |v| results.iter().any(|r| r.verdict == v);
    if has(Verdict::Fail) {
        1
    } else if has(Verdict::Error) {
        3
    } else if has(Verdict::Stale) {
        4
    } else {
        0
    }
}

/// A digest of the vector files a run read, so a result names its inputs:
/// each file's name as the run shows it ([`crate::vector_files::shown_path`],
/// the same from any directory) and its bytes, read from `path`.
pub fn digest_files(files: &[(PathBuf, PathBuf)]) -> Result<String> {
    let mut h = Sha256::new();
    for (shown, path) in files {
        h.update(shown.display().to_string().as_bytes());
        h.update(std::fs::read(path).map_err(|e| Error::io(path, e))?);
    }
    Ok(format!("sha256:{:x}", h.finalize()))
}

/// The JSON result document of a run.
pub fn result_document(
    adapter: &str,
    vectors_digest: &str,
    results: &[CaseResult],
    seconds: f64,
) -> Value {
    let counts: BTreeMap<&str, usize> = summary(results)
        .into_iter()
        .map(|(v, n)| (v.as_str(), n))
        .collect();
    json!({
        "format": "mppconf-vector-results/1",
        "tool": { "name": "mppconf", "version": env!("CARGO_PKG_VERSION") },
        "spec_snapshot": "tempoxyz/mpp-specs@f9506cd3472d10f31b4a6c790b3fe6b0ff377f96",
        "adapter": adapter,
        "vectors_digest": vectors_digest,
        "seconds": seconds,
        "summary": counts,
        "cases": results,
    })
}
