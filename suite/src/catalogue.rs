//! The requirement catalogue: every testable normative statement of the
//! pinned drafts, with a stable id. The data lives in
//! `vectors/requirements/<docname>.json` (schema:
//! `vectors/schema/requirements.schema.json`); this module reads it and
//! checks what a schema cannot: that every quote stands in the pinned spec
//! text and that ids are unique across files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
}

impl Requirement {
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
            let spec = std::fs::read_to_string(vectors_dir.join(&file.spec_file))
                .map(|t| normalize_space(&t));
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
            for r in &file.requirements {
                if let Some(first) = seen.insert(&r.id, path) {
                    problem(
                        &r.id,
                        "id",
                        format!("id also defined in {}", first.display()),
                    );
                }
                if let Ok(spec) = &spec
                    && !spec.contains(&normalize_space(&r.quote))
                {
                    problem(
                        &r.id,
                        "quote",
                        format!("quote not found in {}", file.spec_file),
                    );
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

/// Folds every run of white space to one space.
fn normalize_space(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
