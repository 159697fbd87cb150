//! `mppconf fuzz diff`: differential fuzzing of parsers across
//! implementations. Each generated header goes to every adapter and to
//! the reference codec; where they disagree (one accepts what another
//! rejects, or they parse it to different values) the input is a finding.
//!
//! Findings are classified against the pinned drafts as the reference
//! codec reads them: `reference` (the side that agrees with the reference
//! is right, and the requirement is named) or `acceptable` (the vectors
//! mark the reference's error as one the drafts let an implementation go
//! either way on). Each distinct disagreement (operation, who accepts,
//! the reference's error code) is shrunk to a minimal input that still
//! shows it and written as a candidate vector case for review.

pub mod mutate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::ops::{ABI_SCHEMA, AbiRequest, AbiResponse};
use mppconf_suite::vectors::{Executor, Expectation, Reference};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::{Value, json};

use crate::adapter::AdapterClient;
use crate::error::{Error, Result};
use crate::vector_files::LoadedFile;

/// The parsers fuzzed, and the input member each takes.
pub const OPS: [(&str, &str); 10] = [
    ("challenge.parse", "header"),
    ("credential.parse", "header"),
    ("receipt.parse", "header"),
    ("accept_payment.parse", "header"),
    ("accept_payment.select", "header"),
    ("base64url.decode", "text"),
    ("payment_info.parse", "text"),
    ("mcp.payment_required.parse", "text"),
    ("mcp.credential.parse", "text"),
    ("mcp.receipt.parse", "text"),
];

/// The offers `accept_payment.select` ranks (server order), so that a
/// mutated header decides the order: `q=0` must drop an offer, a
/// malformed header must leave the server's order.
fn offers() -> Value {
    json!([
        {"method": "tempo", "intent": "charge"},
        {"method": "stripe", "intent": "charge"},
        {"method": "tempo", "intent": "session"},
        {"method": "solana", "intent": "charge"},
    ])
}

/// The ABI input of `op` for one generated text.
fn input_of(op: &str, member: &str, text: &str) -> Value {
    if op == "accept_payment.select" {
        json!({ "header": text, "offers": offers() })
    } else {
        json!({ member: text })
    }
}

/// One implementation's answer, reduced to what is compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "outcome")]
pub enum Answer {
    Accepts {
        value: Value,
    },
    Rejects {
        error: String,
    },
    /// The adapter broke the ABI (crash, garbage, timeout).
    Broken {
        why: String,
    },
}

impl Answer {
    fn of(r: std::result::Result<AbiResponse, String>) -> Self {
        match r {
            Ok(AbiResponse::Ok(v)) => Answer::Accepts {
                value: normalized(v),
            },
            Ok(AbiResponse::Err(e)) => Answer::Rejects {
                error: e.error_type,
            },
            Err(why) => Answer::Broken { why },
        }
    }

    fn class(&self) -> &'static str {
        match self {
            Answer::Accepts { .. } => "accepts",
            Answer::Rejects { .. } => "rejects",
            Answer::Broken { .. } => "broken",
        }
    }
}

/// Values compared without the ABI's optional members that are null
/// (absent and null mean the same there: `source`, `expires`, …), at the
/// top level and in an echoed `challenge`. Inside `request` and `payload`
/// a null is data and is kept.
fn normalized(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("challenge", Value::Object(c)) => {
                            Value::Object(c.into_iter().filter(|(_, v)| !v.is_null()).collect())
                        }
                        (_, v) => v,
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// What a disagreement is, for telling distinct ones apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Signature {
    pub op: String,
    /// Per implementation (reference first): accepts, rejects, broken, or
    /// `differs` (accepts, to another value than the reference).
    pub pattern: Vec<String>,
    /// The reference's error code, when it rejects.
    pub reference_code: Option<String>,
}

/// A distinct disagreement, shrunk and classified.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub signature: Signature,
    /// `reference` or `acceptable`.
    pub classification: String,
    /// Which side the pinned drafts support, in words.
    pub verdict: String,
    pub requirements: Vec<String>,
    pub input: String,
    pub original: String,
    pub answers: BTreeMap<String, Answer>,
    /// Index of the generated input that first showed it.
    pub index: usize,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub seed: u64,
    /// The core draft the reference read the inputs under.
    pub core: CoreDraft,
    pub inputs: usize,
    pub disagreeing_inputs: usize,
    pub findings: Vec<Finding>,
    /// Executions per second, per implementation (reference included).
    pub execs_per_sec: BTreeMap<String, f64>,
}

/// One implementation under comparison.
pub struct Contender {
    pub name: String,
    pub executor: Box<dyn Executor>,
    pub capabilities: Option<BTreeSet<String>>,
}

impl Contender {
    /// The reference codec, reading the inputs under `core`.
    pub fn reference(core: CoreDraft) -> Self {
        Self {
            name: "reference".into(),
            executor: Box::new(Reference(core)),
            capabilities: None,
        }
    }

    pub fn adapter(client: AdapterClient, capabilities: &[String], name: &str) -> Self {
        Self {
            name: name.into(),
            executor: Box::new(client),
            capabilities: Some(capabilities.iter().cloned().collect()),
        }
    }

    fn supports(&self, op: &str) -> bool {
        self.capabilities.as_ref().is_none_or(|c| c.contains(op))
    }
}

/// The seeds per operation: every input the vector cases give it.
pub fn seeds(files: &[LoadedFile]) -> BTreeMap<&'static str, Vec<String>> {
    let mut out: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for case in files.iter().flat_map(|f| &f.file.cases) {
        for (op, member) in OPS {
            if case.op == op
                && let Some(text) = case.input.get(member).and_then(Value::as_str)
            {
                out.entry(op).or_default().push(text.to_string());
            }
        }
    }
    out
}

/// What the vectors know: requirement ids per (op, error code), per op,
/// and the error codes of `acceptable` cases (where the drafts allow both).
pub struct Knowledge {
    by_code: BTreeMap<(String, String), BTreeSet<String>>,
    by_op: BTreeMap<String, BTreeSet<String>>,
    acceptable_codes: BTreeSet<String>,
}

impl Knowledge {
    pub fn from(files: &[LoadedFile]) -> Self {
        let mut k = Knowledge {
            by_code: BTreeMap::new(),
            by_op: BTreeMap::new(),
            acceptable_codes: BTreeSet::new(),
        };
        for case in files.iter().flat_map(|f| &f.file.cases) {
            k.by_op
                .entry(case.op.clone())
                .or_default()
                .extend(case.requirements.iter().cloned());
            if let Some(code) = &case.error_code {
                k.by_code
                    .entry((case.op.clone(), code.clone()))
                    .or_default()
                    .extend(case.requirements.iter().cloned());
                if case.result == Expectation::Acceptable {
                    k.acceptable_codes.insert(code.clone());
                }
            }
        }
        k
    }

    fn requirements(&self, op: &str, code: Option<&str>) -> Vec<String> {
        let specific = code.and_then(|c| self.by_code.get(&(op.to_string(), c.to_string())));
        let reqs = specific
            .or_else(|| self.by_op.get(op))
            .cloned()
            .unwrap_or_default();
        reqs.into_iter().take(3).collect()
    }
}

/// One contender's answer to one input and the reference-style error
/// code, if it gave one; `None` where the contender does not support the
/// operation.
type Cell = Option<(Answer, Option<String>)>;

/// Asks every contender about every input (pipelined per contender).
fn ask(
    contenders: &mut [Contender],
    op: &str,
    member: &str,
    inputs: &[String],
    timing: &mut BTreeMap<String, (usize, Duration)>,
) -> Vec<Vec<Cell>> {
    let requests: Vec<AbiRequest> = inputs
        .iter()
        .map(|i| AbiRequest {
            schema: ABI_SCHEMA,
            op: op.to_string(),
            input: input_of(op, member, i),
            context: None,
        })
        .collect();
    contenders
        .iter_mut()
        .map(|c| {
            if !c.supports(op) {
                return vec![None; inputs.len()];
            }
            let start = Instant::now();
            let answers = c.executor.call_batch(&requests);
            let t = timing.entry(c.name.clone()).or_default();
            t.0 += inputs.len();
            t.1 += start.elapsed();
            answers
                .into_iter()
                .map(|a| {
                    let code = match &a {
                        Ok(AbiResponse::Err(e)) => e.code.clone(),
                        _ => None,
                    };
                    Some((Answer::of(a), code))
                })
                .collect()
        })
        .collect()
}

/// The disagreement an input shows, if any: contenders that answered
/// (unsupported ops left out), compared with the reference (index 0).
fn disagreement(op: &str, names: &[String], answers: &[Cell]) -> Option<Signature> {
    let (reference, reference_code) = answers[0].clone()?;
    let mut pattern = vec![format!("{}:{}", names[0], reference.class())];
    let mut differs = false;
    for (name, a) in names.iter().zip(answers).skip(1) {
        let Some((a, _)) = a else { continue };
        let class = match (&reference, a) {
            (Answer::Accepts { value: r }, Answer::Accepts { value: v }) if r != v => {
                differs = true;
                "differs"
            }
            (r, a) => {
                if r.class() != a.class() {
                    differs = true;
                }
                a.class()
            }
        };
        pattern.push(format!("{name}:{class}"));
    }
    differs.then(|| Signature {
        op: op.to_string(),
        pattern,
        reference_code: match reference {
            Answer::Rejects { .. } => reference_code,
            _ => None,
        },
    })
}

/// Delta debugging on characters: the shortest input found (within a
/// budget of evaluations) that shows the same disagreement.
fn shrink(
    contenders: &mut [Contender],
    names: &[String],
    sig: &Signature,
    member: &str,
    input: &str,
) -> String {
    // Each attempt at a hang costs a full timeout and a restart: keep it.
    if sig.pattern.iter().any(|p| p.ends_with(":broken")) {
        return input.to_string();
    }
    let mut best: Vec<char> = input.chars().collect();
    let mut budget = 400usize;
    let still = |candidate: &[char], contenders: &mut [Contender]| {
        let text: String = candidate.iter().collect();
        let mut timing = BTreeMap::new();
        let answers = ask(contenders, &sig.op, member, &[text], &mut timing);
        let column: Vec<_> = answers.iter().map(|a| a[0].clone()).collect();
        disagreement(&sig.op, names, &column).as_ref() == Some(sig)
    };
    let mut chunk = best.len() / 2;
    while chunk >= 1 && budget > 0 {
        let mut i = 0;
        let mut progressed = false;
        while i < best.len() && budget > 0 {
            let end = (i + chunk).min(best.len());
            let mut candidate = best.clone();
            candidate.drain(i..end);
            budget -= 1;
            if still(&candidate, contenders) {
                best = candidate;
                progressed = true;
            } else {
                i += chunk;
            }
        }
        if !progressed {
            chunk /= 2;
        }
    }
    best.into_iter().collect()
}

/// Runs `cases` generated inputs (or until `budget` runs out), spread over
/// the operations some adapter supports; the reference (the first
/// contender) reads them under `core`.
pub fn run(
    core: CoreDraft,
    contenders: &mut [Contender],
    files: &[LoadedFile],
    seed: u64,
    cases: usize,
    budget: Option<Duration>,
    mut progress: impl FnMut(usize, usize),
) -> Summary {
    let knowledge = Knowledge::from(files);
    let seeds = seeds(files);
    let names: Vec<String> = contenders.iter().map(|c| c.name.clone()).collect();
    let ops: Vec<(&str, &str)> = OPS
        .iter()
        .copied()
        .filter(|(op, _)| contenders.iter().skip(1).any(|c| c.supports(op)))
        .filter(|(op, _)| seeds.get(op).is_some_and(|s| !s.is_empty()))
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut timing: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
    let mut findings: BTreeMap<Signature, Finding> = BTreeMap::new();
    let mut disagreeing = 0;
    let started = Instant::now();
    let mut done = 0;
    const BATCH: usize = 256;
    while done < cases && !ops.is_empty() {
        if budget.is_some_and(|b| started.elapsed() > b) {
            break;
        }
        let n = BATCH.min(cases - done);
        // One batch per operation in turn, inputs drawn from the seeded
        // generator before any adapter answers: a seed fixes the inputs.
        let (op, member) = ops[(done / BATCH) % ops.len()];
        let pool = &seeds[op];
        let inputs: Vec<String> = (0..n)
            .map(|_| {
                let base = &pool[rand::Rng::random_range(&mut rng, 0..pool.len())];
                mutate::mutate(&mut rng, base)
            })
            .collect();
        let answers = ask(contenders, op, member, &inputs, &mut timing);
        for (k, input) in inputs.iter().enumerate() {
            let column: Vec<_> = answers.iter().map(|a| a[k].clone()).collect();
            let Some(sig) = disagreement(op, &names, &column) else {
                continue;
            };
            disagreeing += 1;
            if findings.contains_key(&sig) {
                continue;
            }
            let shrunk = shrink(contenders, &names, &sig, member, input);
            let mut t = BTreeMap::new();
            let final_answers = ask(
                contenders,
                op,
                member,
                std::slice::from_ref(&shrunk),
                &mut t,
            );
            let answers_by_name: BTreeMap<String, Answer> = names
                .iter()
                .zip(&final_answers)
                .filter_map(|(n, a)| Some((n.clone(), a[0].clone()?.0)))
                .collect();
            let code = sig.reference_code.clone();
            let acceptable = code
                .as_ref()
                .is_some_and(|c| knowledge.acceptable_codes.contains(c));
            let accepting: Vec<&str> = answers_by_name
                .iter()
                .filter(|(_, a)| matches!(a, Answer::Accepts { .. }))
                .map(|(n, _)| n.as_str())
                .collect();
            let broken: Vec<&str> = answers_by_name
                .iter()
                .filter(|(_, a)| matches!(a, Answer::Broken { .. }))
                .map(|(n, _)| n.as_str())
                .collect();
            let verdict = match (&code, acceptable) {
                _ if !broken.is_empty() => format!(
                    "{} gave no usable answer (a timeout, a crash or garbage): a parser that hangs or dies on one header is a denial-of-service risk, whatever the drafts say of the input",
                    broken.join(", ")
                ),
                (Some(c), true) => format!(
                    "acceptable: the drafts let a parser accept or reject this ({c} is an `acceptable` case in the vectors)"
                ),
                (Some(c), false) => format!(
                    "the pinned drafts reject this ({c}); accepting it ({}) is the finding",
                    accepting.join(", ")
                ),
                (None, _) => "the pinned drafts accept this (as the reference reads them); a rejection or another value is the finding".to_string(),
            };
            findings.insert(
                sig.clone(),
                Finding {
                    requirements: knowledge.requirements(op, code.as_deref()),
                    classification: if acceptable {
                        "acceptable"
                    } else {
                        "reference"
                    }
                    .into(),
                    verdict,
                    signature: sig,
                    original: input.clone(),
                    input: shrunk,
                    answers: answers_by_name,
                    index: done + k,
                },
            );
        }
        done += n;
        progress(done, findings.len());
    }
    let execs_per_sec = timing
        .into_iter()
        .map(|(name, (n, t))| (name, n as f64 / t.as_secs_f64().max(1e-9)))
        .collect();
    Summary {
        seed,
        core,
        inputs: done,
        disagreeing_inputs: disagreeing,
        findings: findings.into_values().collect(),
        execs_per_sec,
    }
}

/// The findings as a candidate vector file (schema-checked before it is
/// written), for review: each case states what the reference codec does
/// with the shrunk input.
pub fn candidate_vectors(summary: &Summary) -> Value {
    let cases: Vec<Value> = summary
        .findings
        .iter()
        .map(|f| {
            let member = OPS
                .iter()
                .find(|(op, _)| *op == f.signature.op)
                .map(|(_, m)| *m)
                .unwrap_or("header");
            let digest = alloy::primitives::keccak256(f.input.as_bytes());
            let id = format!(
                "fuzz-diff.{}.{}",
                f.signature.op.replace('_', "-"),
                &alloy::hex::encode(digest)[..10]
            );
            let others: Vec<String> = f
                .answers
                .iter()
                .filter(|(n, _)| n.as_str() != "reference")
                .map(|(n, a)| format!("{n} {}", a.class()))
                .collect();
            let comment = format!(
                "Candidate from `mppconf fuzz diff --seed {}` (input #{}, shrunk from {} to {} bytes): {}; {}. Review before adopting.",
                summary.seed,
                f.index,
                f.original.len(),
                f.input.len(),
                others.join(", "),
                f.verdict
            );
            let mut case = json!({
                "id": id,
                "comment": comment,
                "requirements": f.requirements,
                "op": f.signature.op,
                "input": input_of(&f.signature.op, member, &f.input),
            });
            // The reference's own answer, not the compared (normalized) one.
            let reference = mppconf_suite::ops::answer(&AbiRequest {
                schema: ABI_SCHEMA,
                op: f.signature.op.clone(),
                input: input_of(&f.signature.op, member, &f.input),
                context: None,
            }, summary.core);
            // What the reference concluded holds under the run's draft
            // (every draft when it is the pinned default).
            if summary.core != CoreDraft::default() {
                case["drafts"] = json!([summary.core.docname()]);
            }
            match reference {
                AbiResponse::Ok(value) => {
                    case["result"] = "valid".into();
                    case["expected"] = value;
                }
                _ => {
                    case["result"] = if f.classification == "acceptable" {
                        "acceptable"
                    } else {
                        "invalid"
                    }
                    .into();
                    case["error"] = json!(error_type_of(&f.signature.op));
                    if let Some(code) = &f.signature.reference_code {
                        case["error_code"] = code.clone().into();
                    }
                }
            }
            case
        })
        .collect();
    json!({
        "format": "mppconf-vectors/1",
        "title": format!("Differential fuzzing candidates (seed {})", summary.seed),
        "notes": {},
        "cases": cases,
    })
}

fn error_type_of(op: &str) -> &'static str {
    if op.starts_with("base64url") {
        "encoding_error"
    } else {
        "parse_error"
    }
}

/// Writes the findings report and the candidate vectors into `dir`, and
/// each finding's input as a corpus entry under
/// `dir/corpus/<cargo-fuzz target>/` (the layout of `fuzz/seeds/`). With
/// no finding there is no candidate vector (a vector file holds at least
/// one case): the candidates file is not written, and one left by an
/// earlier run in `dir` is removed. Returns the paths written.
pub fn write(summary: &Summary, dir: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for f in &summary.findings {
        let Some(target) = crate::vector_files::fuzz_target_of(&f.signature.op) else {
            continue;
        };
        let folder = dir.join("corpus").join(target);
        std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
        let name = format!(
            "fuzz-diff-{}",
            &alloy::hex::encode(alloy::primitives::keccak256(f.input.as_bytes()))[..16]
        );
        let path = folder.join(name);
        std::fs::write(&path, &f.input).map_err(|e| Error::io(&path, e))?;
    }
    let findings = dir.join("findings.json");
    let text = serde_json::to_string_pretty(summary).unwrap_or_default() + "\n";
    std::fs::write(&findings, text).map_err(|e| Error::io(&findings, e))?;
    let candidates = dir.join("candidates.json");
    if summary.findings.is_empty() {
        if candidates.is_file() {
            std::fs::remove_file(&candidates).map_err(|e| Error::io(&candidates, e))?;
        }
        return Ok((findings, None));
    }
    let doc = candidate_vectors(summary);
    crate::schema::Schema::Vectors.check(
        &candidates,
        &doc,
        "vectors/schema/vectors.schema.json",
    )?;
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    std::fs::write(&candidates, text).map_err(|e| Error::io(&candidates, e))?;
    Ok((findings, Some(candidates)))
}
