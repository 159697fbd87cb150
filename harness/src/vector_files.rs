//! Finding, loading and linting the data under `vectors/`.
//!
//! `mppconf vectors validate` lands here: the JSON Schemas first, then what
//! a schema cannot see (requirement ids that do not exist, case ids used
//! twice, flags not defined or never used, quotes missing from the spec
//! text, cases the reference codec contradicts, and invalid cases that do
//! not cite the requirement the reference rejects them under). Every
//! problem names the file, the case and the field.

use mppconf_suite::drafts::CoreDraft;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use mppconf_suite::catalogue::Catalogue;
use mppconf_suite::methods::rules::MethodRules;
use mppconf_suite::ops;
use mppconf_suite::vectors::{self, Case, Expectation, Reference, VectorFile, Verdict};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::schema::Schema;

/// Folders of `vectors/` that hold no vector files.
const NOT_VECTOR_DIRS: [&str; 4] = ["schema", "requirements", "specs", "methods"];

/// One thing wrong with a data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub case: Option<String>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(case) = &self.case {
            write!(f, ": case {case}")?;
        }
        write!(f, ": field `{}`: {}", self.field, self.message)
    }
}

/// The `vectors/` folder: `--vectors DIR`, else `MPPCONF_VECTORS`, else
/// `./vectors`, else the folder this binary was built from.
pub fn vectors_dir(given: Option<&Path>) -> PathBuf {
    if let Some(dir) = given {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("MPPCONF_VECTORS") {
        return PathBuf::from(dir);
    }
    let here = PathBuf::from("vectors");
    if here.join("requirements").is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
}

/// How a run names a vector file below `root`: the folder's own name and
/// the path within it (`vectors/core/challenge.json`), whatever the
/// working directory or the absolute path of the checkout, so that two
/// runs of the same vectors name their cases alike (reports compared,
/// baselines, evidence).
pub fn shown_path(root: &Path, path: &Path) -> PathBuf {
    match (root.file_name(), path.strip_prefix(root)) {
        (Some(name), Ok(rest)) => Path::new(name).join(rest),
        _ => path.to_path_buf(),
    }
}

/// Every vector file below `dir`, sorted.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let skip = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| NOT_VECTOR_DIRS.contains(&n));
        if path.is_dir() && !skip {
            for file in std::fs::read_dir(&path).map_err(|e| Error::io(&path, e))? {
                let file = file.map_err(|e| Error::io(&path, e))?.path();
                if file.extension().is_some_and(|x| x == "json") {
                    out.push(file);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A vector file that passed its schema.
pub struct LoadedFile {
    pub path: PathBuf,
    pub file: VectorFile,
}

/// Reads and schema-checks one vector file. Schema problems are returned
/// rather than raised, so that one run reports all of them.
pub fn load(path: &Path) -> Result<std::result::Result<LoadedFile, Vec<Problem>>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let problem = |case: Option<String>, field: String, message: String| Problem {
        file: path.into(),
        case,
        field,
        message,
    };
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            return Ok(Err(vec![problem(
                None,
                "/".into(),
                format!("not JSON: {e}"),
            )]));
        }
    };
    let violations = Schema::Vectors.violations(&value);
    if !violations.is_empty() {
        return Ok(Err(violations
            .into_iter()
            .map(|(at, message)| problem(case_id_at(&value, &at), at, message))
            .collect()));
    }
    match serde_json::from_value::<VectorFile>(value) {
        Ok(file) => Ok(Ok(LoadedFile {
            path: path.into(),
            file,
        })),
        Err(e) => Ok(Err(vec![problem(None, "/".into(), e.to_string())])),
    }
}

/// The id of the case a JSON pointer like `/cases/3/op` points into.
fn case_id_at(value: &Value, pointer: &str) -> Option<String> {
    let index: usize = pointer
        .strip_prefix("/cases/")?
        .split('/')
        .next()?
        .parse()
        .ok()?;
    let case = &value["cases"][index];
    Some(
        case["id"]
            .as_str()
            .map_or_else(|| format!("#{index}"), str::to_string),
    )
}

/// Lints the requirement catalogue: schema, then unique ids and quotes.
pub fn lint_catalogue(dir: &Path) -> Result<(Catalogue, Vec<Problem>)> {
    let mut problems = Vec::new();
    let req_dir = dir.join("requirements");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&req_dir)
        .map_err(|e| Error::io(&req_dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for path in &paths {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        match serde_json::from_str::<Value>(&text) {
            Err(e) => problems.push(Problem {
                file: path.clone(),
                case: None,
                field: "/".into(),
                message: format!("not JSON: {e}"),
            }),
            Ok(v) => problems.extend(Schema::Requirements.violations(&v).into_iter().map(
                |(at, message)| Problem {
                    file: path.clone(),
                    case: None,
                    field: at,
                    message,
                },
            )),
        }
    }
    if !problems.is_empty() {
        return Ok((Catalogue::default(), problems));
    }
    let catalogue = Catalogue::load(dir).map_err(|reason| Error::Json {
        path: req_dir.clone(),
        reason,
    })?;
    problems.extend(catalogue.lint(dir).into_iter().map(|p| Problem {
        file: p.file,
        case: Some(p.id),
        field: p.field.into(),
        message: p.problem,
    }));
    Ok((catalogue, problems))
}

/// Reads the method rule files of a vectors folder (`methods/*.json`):
/// each must compile and name requirements of its own draft's catalogue.
/// The rules come back to be judged by (see
/// [`mppconf_suite::methods::rules::install`]).
pub fn lint_method_rules(
    dir: &Path,
    catalogue: &Catalogue,
) -> Result<(Vec<MethodRules>, Vec<Problem>)> {
    let rules_dir = dir.join("methods");
    let mut problems = Vec::new();
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&rules_dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(&rules_dir, e)),
    };
    paths.sort();
    let mut all = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut problem = |field: &str, message: String| {
            problems.push(Problem {
                file: path.clone(),
                case: None,
                field: field.into(),
                message,
            })
        };
        match serde_json::from_str::<Value>(&text) {
            Err(e) => {
                problem("/", format!("not JSON: {e}"));
                continue;
            }
            Ok(v) => {
                let violations = Schema::MethodRules.violations(&v);
                if !violations.is_empty() {
                    for (at, message) in violations {
                        problem(&at, message);
                    }
                    continue;
                }
            }
        }
        let rules = match MethodRules::from_json(&text) {
            Ok(rules) => rules,
            Err(e) => {
                problem("/", e);
                continue;
            }
        };
        let Some((_, file)) = catalogue
            .files
            .iter()
            .find(|(_, f)| f.docname == rules.docname)
        else {
            problem(
                "/docname",
                format!(
                    "{} has no catalogue file in requirements/: write its catalogue first",
                    rules.docname
                ),
            );
            continue;
        };
        for (part, list) in [("request", &rules.request), ("payload", &rules.payload)] {
            for (i, rule) in list.iter().enumerate() {
                if !file.requirements.iter().any(|r| r.id == rule.requirement) {
                    problem(
                        &format!("/{part}/{i}/requirement"),
                        format!(
                            "{} is not a requirement of {}",
                            rule.requirement, rules.docname
                        ),
                    );
                }
            }
        }
        all.push(rules);
    }
    Ok((all, problems))
}

/// Lints loaded vector files against the catalogue and the reference codec.
pub fn lint_vectors(files: &[LoadedFile], catalogue: &Catalogue) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut ids: BTreeMap<&str, &Path> = BTreeMap::new();
    let ambiguities: BTreeSet<&str> = catalogue.ambiguities().map(|a| a.id.as_str()).collect();
    for LoadedFile { path, file } in files {
        let mut problem = |case: Option<&str>, field: &str, message: String| {
            problems.push(Problem {
                file: path.clone(),
                case: case.map(str::to_string),
                field: field.into(),
                message,
            })
        };
        let used: BTreeSet<&str> = file
            .cases
            .iter()
            .flat_map(|c| c.flags.iter().map(String::as_str))
            .collect();
        for (flag, note) in &file.notes {
            if !used.contains(flag.as_str()) {
                problem(
                    None,
                    &format!("notes.{flag}"),
                    "flag defined but used by no case".into(),
                );
            }
            if let Some(a) = note
                .ambiguity
                .as_deref()
                .filter(|a| !ambiguities.contains(a))
            {
                problem(
                    None,
                    &format!("notes.{flag}.ambiguity"),
                    format!("unknown ambiguity {a}"),
                );
            }
        }
        for case in &file.cases {
            let id = Some(case.id.as_str());
            if let Some(first) = ids.insert(&case.id, path) {
                problem(
                    id,
                    "id",
                    format!("case id already used in {}", first.display()),
                );
            }
            for flag in case.flags.iter().filter(|f| !file.notes.contains_key(*f)) {
                problem(
                    id,
                    "flags",
                    format!("flag {flag} is not defined in the file's notes"),
                );
            }
            for req in case
                .requirements
                .iter()
                .filter(|r| catalogue.find(r).is_none())
            {
                problem(
                    id,
                    "requirements",
                    format!("{req} is not in the requirement catalogue"),
                );
            }
            for name in &case.drafts {
                if let Err(why) = name.parse::<CoreDraft>() {
                    problem(id, "drafts", why);
                }
            }
            if let Some(message) = uncited_rejection(case, catalogue) {
                problem(id, "requirements", message);
            }
            if let Some((field, message)) = shape_problem(case) {
                problem(id, field, message);
            } else if let Some((field, message)) = CoreDraft::ALL
                .into_iter()
                .filter(|d| case.holds_under(*d))
                .find_map(|d| reference_disagreement(case, d))
            {
                problem(id, field, message);
            }
        }
    }
    problems
}

/// An invalid case that the reference codec rejects under a catalogue
/// requirement (a request, payload, voucher or discovery rule) must cite
/// it: otherwise the reports count the case as exercising what it cites
/// and not the requirement it breaks.
fn uncited_rejection(case: &Case, catalogue: &Catalogue) -> Option<String> {
    if case.result != Expectation::Invalid || case.roundtrip_of().is_some() {
        return None;
    }
    let draft = CoreDraft::ALL.into_iter().find(|d| case.holds_under(*d))?;
    let Err((_, error)) = ops::execute(&case.op, &case.input, draft) else {
        return None;
    };
    let code = error.code();
    (catalogue.find(&code).is_some() && !case.requirements.contains(&code)).then(|| {
        format!("the reference codec rejects the case under {code}, which it does not cite: add it")
    })
}

/// Rules on which fields a case needs, beyond the schema.
fn shape_problem(case: &Case) -> Option<(&'static str, String)> {
    let judged_by_reading_back = case.format_of().is_some();
    if judged_by_reading_back && case.expected.is_some() {
        return Some((
            "expected",
            "format cases are judged by reading the header back with the reference codec; remove `expected`".into(),
        ));
    }
    let needs_expected = case.result == Expectation::Valid
        && !judged_by_reading_back
        && case.roundtrip_of().is_none();
    if needs_expected && case.expected.is_none() {
        return Some((
            "expected",
            "a valid case must say what value it expects".into(),
        ));
    }
    None
}

/// Where the reference codec, under `draft`, contradicts the case, and
/// which field to fix.
fn reference_disagreement(case: &Case, draft: CoreDraft) -> Option<(&'static str, String)> {
    let judgement = vectors::judge(case, &mut Reference(draft), draft);
    if judgement.verdict != Verdict::Fail {
        return None;
    }
    let direct = case
        .roundtrip_of()
        .is_none()
        .then(|| ops::execute(&case.op, &case.input, draft));
    let field = match (case.result, &direct) {
        (Expectation::Invalid, Some(Err((t, _)))) if Some(t.as_str()) == case.error.as_deref() => {
            "error_code"
        }
        (Expectation::Invalid, Some(Err(_))) => "error",
        (Expectation::Valid | Expectation::Acceptable, Some(Ok(_))) => "expected",
        _ => "result",
    };
    Some((
        field,
        format!(
            "the reference codec disagrees under {draft}:\n{}",
            indent(&judgement.detail)
        ),
    ))
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The fuzz target (in `fuzz/`) whose parser a case's input header feeds.
pub fn fuzz_target_of(op: &str) -> Option<&'static str> {
    match op.split('.').next()? {
        "challenge" if op != "challenge.id" => Some("challenge"),
        "credential" => Some("credential"),
        "receipt" => Some("receipt"),
        "accept_payment" => Some("accept_payment"),
        "payment_info" => Some("discovery"),
        "mcp" => Some("mcp"),
        "lightning" if op == "lightning.session.events.parse" => Some("session_event"),
        "hedera" if op.starts_with("hedera.session.") => Some("session_voucher"),
        "request" | "payload" | "lightning" | "hedera" | "card" | "subscription" => {
            Some("method_rules")
        }
        "session" => Some("session_voucher"),
        "evm" if op.starts_with("evm.session.") => Some("session_voucher"),
        "evm" => Some("evm_charge"),
        "stellar" => Some("stellar_transaction"),
        "solana" if op.starts_with("solana.session.") => Some("session_voucher"),
        "solana" => Some("solana_transaction"),
        "tempo" if op.starts_with("tempo.subscription.") => Some("tempo_subscription"),
        _ => None,
    }
}

/// Writes every header a case feeds to a parser into
/// `<out>/<fuzz target>/<case id>`, to seed the fuzzers. Returns the count
/// per target.
pub fn write_corpus(files: &[LoadedFile], out: &Path) -> Result<BTreeMap<&'static str, usize>> {
    let mut counts = BTreeMap::new();
    for case in files.iter().flat_map(|f| &f.file.cases) {
        let Some(target) = fuzz_target_of(&case.op) else {
            continue;
        };
        // request.validate, payload.validate, lightning.preimage.verify:
        // the JSON objects, as text.
        let mut objects: Vec<String> = ["request", "payload"]
            .iter()
            .filter_map(|k| case.input.get(*k))
            .map(Value::to_string)
            .collect();
        // session.*, evm.*, stellar.*, solana.*, hedera.*, card.*, the Lightning
        // session's stored state, a Lightning challenge's expires and a
        // subscription's billing period: the whole input object.
        if case.op.starts_with("lightning.session.")
            || case.op == "lightning.expiry.verify"
            || case.op == "subscription.period.bounds"
            || matches!(
                target,
                "session_voucher"
                    | "evm_charge"
                    | "stellar_transaction"
                    | "solana_transaction"
                    | "tempo_subscription"
            )
            || case.op.starts_with("hedera.")
            || case.op.starts_with("card.")
        {
            objects.push(case.input.to_string());
        }
        let headers: Vec<&str> = match (
            case.input.get("header"),
            case.input.get("headers"),
            case.input.get("text"),
        ) {
            (Some(Value::String(h)), _, _) => vec![h],
            (_, Some(Value::Array(hs)), _) => hs.iter().filter_map(Value::as_str).collect(),
            // payment_info.parse, mcp.*: JSON text.
            (_, _, Some(Value::String(t))) => vec![t],
            _ if !objects.is_empty() => objects.iter().map(String::as_str).collect(),
            _ => continue,
        };
        // An EVM charge request or payload also seeds the EVM target.
        let evm = target == "method_rules"
            && case.input.get("method").and_then(Value::as_str) == Some("evm");
        for target in std::iter::once(target).chain(evm.then_some("evm_charge")) {
            let dir = out.join(target);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            for (i, h) in headers.iter().enumerate() {
                let path = dir.join(format!("{}-{i}", case.id));
                std::fs::write(&path, h).map_err(|e| Error::io(&path, e))?;
                *counts.entry(target).or_insert(0) += 1;
            }
        }
        // A Stellar or Solana transaction also seeds the target's raw form:
        // a flag byte and the transaction's bytes, which mutate better than
        // base64 inside JSON.
        let raw = match target {
            "stellar_transaction" => stellar_raw_seed(&case.input),
            "solana_transaction" => solana_raw_seed(&case.input),
            "tempo_subscription" => subscription_raw_seed(&case.input),
            _ => None,
        };
        if let Some(raw) = raw {
            let path = out.join(target).join(format!("{}-xdr", case.id));
            std::fs::write(&path, raw).map_err(|e| Error::io(&path, e))?;
            *counts.entry(target).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

/// `fuzz/fuzz_targets/tempo_subscription.rs`'s raw input of a
/// `tempo.subscription.key_authorization.verify` case: the RLP bytes of
/// its signed key authorization.
fn subscription_raw_seed(input: &Value) -> Option<Vec<u8>> {
    let hex = input.pointer("/payload/signature")?.as_str()?;
    alloy::hex::decode(hex.strip_prefix("0x")?).ok()
}

/// `fuzz/fuzz_targets/solana_transaction.rs`'s raw input of a
/// `solana.transaction.verify` case: bit 0 feePayer.
fn solana_raw_seed(input: &Value) -> Option<Vec<u8>> {
    let sponsored = input
        .pointer("/request/methodDetails/feePayer")
        .and_then(Value::as_bool)
        == Some(true);
    raw_seed(input, u8::from(sponsored))
}

/// `fuzz/fuzz_targets/stellar_transaction.rs`'s raw input of a
/// `stellar.transaction.verify` case: bit 0 feePayer, bit 1 pubnet.
fn stellar_raw_seed(input: &Value) -> Option<Vec<u8>> {
    let details = input.pointer("/request/methodDetails");
    let fee_payer = details
        .and_then(|d| d.get("feePayer"))
        .and_then(Value::as_bool)
        == Some(true);
    let pubnet = details
        .and_then(|d| d.get("network"))
        .and_then(Value::as_str)
        == Some("stellar:pubnet");
    raw_seed(input, u8::from(fee_payer) | (u8::from(pubnet) << 1))
}

/// The flag byte, then the bytes of the case's base64 `transaction`.
fn raw_seed(input: &Value, flags: u8) -> Option<Vec<u8>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(input.get("transaction")?.as_str()?)
        .ok()?;
    Some(std::iter::once(flags).chain(bytes).collect())
}
