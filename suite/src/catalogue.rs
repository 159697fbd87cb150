//! The requirement catalogue: every testable normative statement of the
//! pinned drafts, with a stable id. The data lives in
//! `vectors/requirements/<docname>.json` (schema:
//! `vectors/schema/requirements.schema.json`); this module reads it and
//! checks what a schema cannot: that every quote stands in the pinned spec
//! text and that ids are unique across files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::drafts::CoreDraft;

/// The catalogue files of `vectors/requirements/`, compiled in by name.
pub mod compiled {
    include!(concat!(env!("OUT_DIR"), "/catalogue_files.rs"));
}

/// The compiled-in catalogue files, read once.
pub fn compiled_files() -> &'static [CatalogueFile] {
    static FILES: std::sync::OnceLock<Vec<CatalogueFile>> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        compiled::FILES
            .iter()
            .map(|(name, text)| {
                serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("vectors/requirements/{name}: {e}"))
            })
            .collect()
    })
}

/// One catalogue file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogueFile {
    pub format: String,
    pub docname: String,
    pub title: String,
    pub spec_file: String,
    pub snapshot: String,
    pub requirements: Vec<Requirement>,
    #[serde(default)]
    pub ambiguities: Vec<Ambiguity>,
    /// The docname of the earlier draft this one revises
    /// (draft-httpauth-payment-01 extends -00): the earlier draft's
    /// requirements hold here too, under their ids, but for those a
    /// requirement of this file `replaces`. The lint checks that each one
    /// inherited still stands in this draft's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
}

impl CatalogueFile {
    /// The whole catalogue of a revision: the requirements of `base` (the
    /// file it extends) that none of its own replaces, then its own; the
    /// ambiguities of both.
    pub fn resolved(&self, base: &CatalogueFile) -> CatalogueFile {
        let replaced: Vec<&str> = self
            .requirements
            .iter()
            .flat_map(|r| r.replaces.iter().map(String::as_str))
            .collect();
        let mut out = self.clone();
        out.extends = None;
        out.requirements = base
            .requirements
            .iter()
            .filter(|r| !replaced.contains(&r.id.as_str()))
            .chain(&self.requirements)
            .cloned()
            .collect();
        out.ambiguities = base
            .ambiguities
            .iter()
            .chain(&self.ambiguities)
            .cloned()
            .collect();
        out
    }
}

/// One testable normative statement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Requirement {
    pub id: String,
    pub section: String,
    pub keyword: String,
    pub binds: String,
    pub summary: String,
    pub quote: String,
    pub tested_by: Vec<String>,
    #[serde(default)]
    pub untestable_reason: Option<String>,
    #[serde(default)]
    pub ambiguities: Vec<String>,
    /// In a revision (a file that `extends` another): the ids of the
    /// earlier draft's requirements this one replaces, because the
    /// statement changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<String>,
    /// In a revision: what changed against the earlier draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Requirement {
    /// The catalogue says it cannot be tested (and why).
    pub fn is_untestable(&self) -> bool {
        self.tested_by.iter().all(|t| t == "untestable")
    }

    /// The live payment rail it needs (`needs-rail: <rail>`), when nothing
    /// offline can test it: a probe named beside the rail needs the rail
    /// too (a client cannot pay, a server cannot settle, without it), a
    /// `vector` can judge its offline part without it.
    pub fn rail(&self) -> Option<&str> {
        let rail = self
            .tested_by
            .iter()
            .find_map(|t| t.strip_prefix("needs-rail: "))?;
        (!self.tested_by.iter().any(|t| t == "vector")).then_some(rail)
    }

    /// MUST-class statements fail a run; SHOULD-class ones warn unless
    /// `--strict`; MAY and implied ones are informative.
    pub fn is_must(&self) -> bool {
        matches!(
            self.keyword.as_str(),
            "MUST" | "MUST NOT" | "REQUIRED" | "SHALL" | "SHALL NOT" | "ABNF"
        )
    }
}

/// A place where the drafts conflict or are silent, and what mppconf does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ambiguity {
    pub id: String,
    pub summary: String,
    pub resolution: String,
    #[serde(default)]
    pub sections: Vec<String>,
}

/// A problem found in the catalogue, with the file it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueProblem {
    pub file: PathBuf,
    pub id: String,
    pub field: &'static str,
    pub problem: String,
}

/// All catalogue files of a `vectors/` folder.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub files: Vec<(PathBuf, CatalogueFile)>,
}

impl Catalogue {
    /// Reads every `*.json` of `<vectors>/requirements`, sorted by name.
    pub fn load(vectors_dir: &Path) -> Result<Self, String> {
        let dir = vectors_dir.join("requirements");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        let mut files = Vec::new();
        for path in paths {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let file: CatalogueFile =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push((path, file));
        }
        Ok(Self { files })
    }

    pub fn requirements(&self) -> impl Iterator<Item = (&CatalogueFile, &Requirement)> {
        self.files
            .iter()
            .flat_map(|(_, f)| f.requirements.iter().map(move |r| (f, r)))
    }

    pub fn find(&self, id: &str) -> Option<(&CatalogueFile, &Requirement)> {
        self.requirements().find(|(_, r)| r.id == id)
    }

    pub fn ambiguities(&self) -> impl Iterator<Item = &Ambiguity> {
        self.files.iter().flat_map(|(_, f)| f.ambiguities.iter())
    }

    /// The files a run under `draft` judges by: the core draft's file,
    /// resolved over the one it extends, and every file that is not a
    /// core draft. `None` if a file `extends` one that is not loaded.
    pub fn for_draft(&self, draft: CoreDraft) -> Option<Vec<CatalogueFile>> {
        let by_name = |name: &str| {
            self.files
                .iter()
                .map(|(_, f)| f)
                .find(|f| f.docname == name)
        };
        let is_core = |f: &CatalogueFile| CoreDraft::ALL.iter().any(|d| d.docname() == f.docname);
        let core = by_name(draft.docname())?;
        let core = match &core.extends {
            Some(base) => core.resolved(by_name(base)?),
            None => core.clone(),
        };
        Some(
            std::iter::once(core)
                .chain(
                    self.files
                        .iter()
                        .map(|(_, f)| f)
                        .filter(|f| !is_core(f))
                        .cloned(),
                )
                .collect(),
        )
    }

    /// Checks what the schema cannot: unique ids, known ambiguity
    /// references, and every quote present verbatim (up to white space) in
    /// the pinned spec text.
    pub fn lint(&self, vectors_dir: &Path) -> Vec<CatalogueProblem> {
        let mut problems = Vec::new();
        let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
        let ambiguity_ids: Vec<&str> = self.ambiguities().map(|a| a.id.as_str()).collect();
        for (path, file) in &self.files {
            let mut problem = |id: &str, field: &'static str, problem: String| {
                problems.push(CatalogueProblem {
                    file: path.clone(),
                    id: id.to_string(),
                    field,
                    problem,
                })
            };
            let raw = std::fs::read_to_string(vectors_dir.join(&file.spec_file));
            let sections = raw.as_ref().map(|t| section_bodies(t)).unwrap_or_default();
            let spec = raw.map(|t| normalize_space(&t));
            if let Err(e) = &spec {
                problem(
                    "spec_file",
                    "spec_file",
                    format!("cannot read {}: {e}", file.spec_file),
                );
            }
            for a in &file.ambiguities {
                if ambiguity_ids.iter().filter(|id| **id == a.id).count() > 1 {
                    problem(&a.id, "id", "ambiguity id is not unique".into());
                }
            }
            let base = file.extends.as_ref().map(|name| {
                self.files
                    .iter()
                    .map(|(_, f)| f)
                    .find(|f| &f.docname == name)
            });
            match base {
                Some(None) => problem(
                    "extends",
                    "extends",
                    format!(
                        "{} is not a catalogue file of this folder",
                        file.extends.as_deref().unwrap_or_default()
                    ),
                ),
                Some(Some(base)) => {
                    for r in &file.requirements {
                        for old in r
                            .replaces
                            .iter()
                            .filter(|old| !base.requirements.iter().any(|b| &b.id == *old))
                        {
                            problem(
                                &r.id,
                                "replaces",
                                format!("{old} is not a requirement of {}", base.docname),
                            );
                        }
                    }
                    // What is inherited must still be said, word for word.
                    let resolved = file.resolved(base);
                    for r in resolved
                        .requirements
                        .iter()
                        .take(resolved.requirements.len() - file.requirements.len())
                    {
                        if let Ok(spec) = &spec
                            && !spec.contains(&normalize_space(&r.quote))
                        {
                            problem(
                                &r.id,
                                "quote",
                                format!(
                                    "inherited from {} but its quote is not in {}: add a requirement that replaces it",
                                    base.docname, file.spec_file
                                ),
                            );
                        }
                    }
                }
                None => {
                    for r in file.requirements.iter().filter(|r| !r.replaces.is_empty()) {
                        problem(
                            &r.id,
                            "replaces",
                            "only a file that extends another replaces requirements".into(),
                        );
                    }
                }
            }
            for r in &file.requirements {
                if let Some(first) = seen.insert(&r.id, path) {
                    problem(
                        &r.id,
                        "id",
                        format!("id also defined in {}", first.display()),
                    );
                }
                if let Ok(spec) = &spec {
                    let quote = normalize_space(&r.quote);
                    if !spec.contains(&quote) {
                        problem(
                            &r.id,
                            "quote",
                            format!("quote not found in {}", file.spec_file),
                        );
                    } else if !sections
                        .get(r.section.as_str())
                        .is_some_and(|bodies| bodies.iter().any(|b| b.contains(&quote)))
                    {
                        problem(
                            &r.id,
                            "section",
                            format!(
                                "the quote does not stand under a heading \"{}\" of {} (nor its subsections): name the heading it stands under",
                                r.section, file.spec_file
                            ),
                        );
                    }
                }
                for a in &r.ambiguities {
                    if !ambiguity_ids.contains(&a.as_str()) {
                        problem(&r.id, "ambiguities", format!("unknown ambiguity {a}"));
                    }
                }
            }
        }
        problems
    }
}

/// Each heading's text (without its `{#anchor}`) and the body under it,
/// subsections included, white space folded: a requirement's quote must
/// stand in the body of its section.
fn section_bodies(spec: &str) -> BTreeMap<String, Vec<String>> {
    let lines: Vec<&str> = spec.lines().collect();
    let headings: Vec<(usize, usize, String)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let level = line.bytes().take_while(|b| *b == b'#').count();
            let rest = line.get(level..)?;
            if level == 0 || !rest.starts_with(char::is_whitespace) {
                return None;
            }
            let name = match rest.trim().rfind("{#") {
                Some(at) if rest.trim().ends_with('}') => rest.trim()[..at].trim(),
                _ => rest.trim(),
            };
            Some((i, level, name.to_string()))
        })
        .collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, (start, level, name)) in headings.iter().enumerate() {
        let end = headings[k + 1..]
            .iter()
            .find(|(_, l, _)| l <= level)
            .map_or(lines.len(), |(i, _, _)| *i);
        out.entry(name.clone())
            .or_default()
            .push(normalize_space(&lines[start + 1..end].join("\n")));
    }
    out
}

/// Folds every run of white space to one space.
fn normalize_space(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
    }

    #[test]
    fn the_01_catalogue_inherits_all_but_what_it_replaces() {
        let catalogue = Catalogue::load(&vectors_dir()).unwrap();
        assert_eq!(catalogue.lint(&vectors_dir()), vec![]);
        let ids = |draft| -> Vec<String> {
            catalogue.for_draft(draft).unwrap()[0]
                .requirements
                .iter()
                .map(|r| r.id.clone())
                .collect()
        };
        let (old, new) = (ids(CoreDraft::Draft00), ids(CoreDraft::Draft01));
        for id in [
            "core.replay.proof-used-once",
            "core.challenge.required-params",
        ] {
            assert!(old.contains(&id.to_string()) && new.contains(&id.to_string()));
        }
        assert!(old.contains(&"core.binding.hmac-seven-slots".to_string()));
        assert!(!new.contains(&"core.binding.hmac-seven-slots".to_string()));
        assert!(new.contains(&"core.binding.hmac-base-slots".to_string()));
        assert!(!old.iter().any(|id| id.starts_with("core.header.")));
        assert!(new.iter().any(|id| id.starts_with("core.header.")));
        let core01 = &catalogue.for_draft(CoreDraft::Draft01).unwrap()[0];
        assert_eq!(core01.docname, "draft-httpauth-payment-01");
        assert!(core01.extends.is_none());
    }

    #[test]
    fn a_revision_that_drops_a_sentence_without_replacing_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("requirements")).unwrap();
        std::fs::create_dir_all(dir.path().join("specs")).unwrap();
        std::fs::write(
            dir.path().join("specs/a-00.md"),
            "# S {#s}\n\nServers MUST do one thing. Clients MUST do another thing.",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("specs/a-01.md"),
            "# S\n\nServers MUST do one thing. Clients MUST do a new thing.",
        )
        .unwrap();
        let requirement = |id: &str, quote: &str, replaces: &[&str]| {
            serde_json::json!({
                "id": id, "section": "S", "keyword": "MUST", "binds": "server",
                "summary": "s", "quote": quote, "tested_by": ["vector"],
                "replaces": replaces,
            })
        };
        let file = |name: &str, extends: Option<&str>, reqs: Vec<serde_json::Value>| {
            serde_json::json!({
                "format": "mppconf-requirements/1", "docname": name, "title": "t",
                "spec_file": format!("specs/{name}.md"), "snapshot": "x",
                "extends": extends, "requirements": reqs,
            })
        };
        let write = |name: &str, v: serde_json::Value| {
            std::fs::write(
                dir.path().join(format!("requirements/{name}.json")),
                v.to_string(),
            )
            .unwrap()
        };
        write(
            "a-00",
            file(
                "a-00",
                None,
                vec![
                    requirement("core.a.one", "Servers MUST do one thing.", &[]),
                    requirement("core.a.two", "Clients MUST do another thing.", &[]),
                ],
            ),
        );
        write(
            "a-01",
            file(
                "a-01",
                Some("a-00"),
                vec![requirement(
                    "core.a.new",
                    "Clients MUST do a new thing.",
                    &["core.a.gone"],
                )],
            ),
        );
        let problems = Catalogue::load(dir.path()).unwrap().lint(dir.path());
        let found: Vec<(&str, &str)> = problems.iter().map(|p| (p.id.as_str(), p.field)).collect();
        // core.a.two's quote is not in a-01 and nothing replaces it; the
        // replacement names an id a-00 does not have.
        assert!(found.contains(&("core.a.two", "quote")), "{problems:?}");
        assert!(found.contains(&("core.a.new", "replaces")), "{problems:?}");
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn a_quote_must_stand_under_its_section_or_a_subsection_of_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("requirements")).unwrap();
        std::fs::create_dir_all(dir.path().join("specs")).unwrap();
        std::fs::write(
            dir.path().join("specs/b-00.md"),
            "# Servers {#servers}\n\nServers MUST answer.\n\n## Details\n\nServers MUST log.\n\n# Clients\n\nClients MUST pay.\n",
        )
        .unwrap();
        let requirement = |id: &str, section: &str, quote: &str| {
            serde_json::json!({
                "id": id, "section": section, "keyword": "MUST", "binds": "server",
                "summary": "s", "quote": quote, "tested_by": ["vector"],
            })
        };
        let file = serde_json::json!({
            "format": "mppconf-requirements/1", "docname": "b-00", "title": "t",
            "spec_file": "specs/b-00.md", "snapshot": "x",
            "requirements": [
                requirement("core.b.answer", "Servers", "Servers MUST answer."),
                requirement("core.b.log-parent", "Servers", "Servers MUST log."),
                requirement("core.b.log", "Details", "Servers MUST log."),
                requirement("core.b.pay", "Servers", "Clients MUST pay."),
            ],
        });
        std::fs::write(dir.path().join("requirements/b-00.json"), file.to_string()).unwrap();
        let problems = Catalogue::load(dir.path()).unwrap().lint(dir.path());
        let found: Vec<(&str, &str)> = problems.iter().map(|p| (p.id.as_str(), p.field)).collect();
        assert_eq!(found, vec![("core.b.pay", "section")], "{problems:?}");
    }
}
