//! The requirement catalogue a report maps its verdicts to, compiled in
//! so that it is the same wherever mppconf runs: per core draft, that
//! draft's requirements (a revision resolved over the draft it extends)
//! and the other specs'.

use std::collections::BTreeMap;

use mppconf_suite::catalogue::CatalogueFile;
use mppconf_suite::drafts::CoreDraft;
use sha2::{Digest, Sha256};

use super::SPEC_SNAPSHOT;

/// The catalogue, compiled in so that a report maps verdicts to the
/// same requirements wherever mppconf runs (every file of
/// `vectors/requirements/`): each core draft's file (a later one extends
/// an earlier one), then the other specs'.
fn compiled() -> impl Iterator<Item = (Option<CoreDraft>, &'static str)> {
    let core_of = |name: &str| {
        CoreDraft::ALL
            .into_iter()
            .find(|d| name == format!("{}.json", d.docname()))
    };
    let files = mppconf_suite::catalogue::compiled::FILES;
    let cores = files
        .iter()
        .filter_map(move |(name, text)| core_of(name).map(|d| (Some(d), *text)));
    // The intents, then the methods, then the extensions: the order the
    // drafts build on each other, and the order reports list them in.
    let rank = |name: &str| {
        if name.starts_with("draft-payment-intent-") {
            0
        } else if name.starts_with("draft-payment-") {
            2
        } else {
            1
        }
    };
    let mut others: Vec<&(&str, &str)> = files
        .iter()
        .filter(|(name, _)| core_of(name).is_none())
        .collect();
    others.sort_by_key(|(name, _)| (rank(name), *name));
    cores.chain(others.into_iter().map(|(_, text)| (None, *text)))
}

/// The texts a run under `core` maps its verdicts to: the core drafts up
/// to it (a revision is read over the draft it extends) and the others.
fn catalogue_texts(core: CoreDraft) -> impl Iterator<Item = &'static str> {
    compiled()
        .filter(move |(draft, _)| draft.is_none_or(|d| d <= core))
        .map(|(_, text)| text)
}

/// The catalogue a run under `core` judges by: that core draft's
/// requirements (a revision's resolved over the draft it extends), then
/// the other specs'.
pub fn catalogue(core: CoreDraft) -> Vec<CatalogueFile> {
    let files = catalogue_texts(core)
        .map(|text| {
            let file: CatalogueFile =
                serde_json::from_str(text).expect("the compiled-in catalogue parses");
            (std::path::PathBuf::new(), file)
        })
        .collect();
    mppconf_suite::catalogue::Catalogue { files }
        .for_draft(core)
        .expect("the compiled-in catalogue resolves")
}

/// The catalogue to look a cited requirement up in, for a report under
/// `core`: its own first (an inherited requirement is shown under that
/// draft), then the specs of other core drafts.
pub fn catalogue_for_lookup(core: CoreDraft) -> Vec<CatalogueFile> {
    let mut files = catalogue(core);
    for f in catalogue_all() {
        if !files.iter().any(|g| g.docname == f.docname) {
            files.push(f);
        }
    }
    files
}

/// Every spec of every core draft (an id means the same statement in
/// every draft that has it), each draft's core file first.
pub fn catalogue_all() -> Vec<CatalogueFile> {
    // Each draft's core file comes first in its catalogue.
    let mut all: Vec<CatalogueFile> = CoreDraft::ALL
        .into_iter()
        .filter_map(|core| catalogue(core).into_iter().next())
        .collect();
    all.extend(catalogue(CoreDraft::Draft00).into_iter().skip(1));
    all
}

/// Where the drafts a run under `core` quotes come from: the pinned set,
/// and a later core draft's own commit.
pub fn spec_snapshot(core: CoreDraft) -> String {
    if core == CoreDraft::Draft00 {
        return SPEC_SNAPSHOT.into();
    }
    let file = &catalogue(core)[0];
    format!("{SPEC_SNAPSHOT}; {} {}", file.docname, file.snapshot)
}

/// For each requirement a core draft's revision replaced, the ones that
/// replace it; empty under -00.
pub(super) fn successors(core: CoreDraft) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in catalogue(core).into_iter().flat_map(|f| f.requirements) {
        for old in &r.replaces {
            map.entry(old.clone()).or_default().push(r.id.clone());
        }
    }
    map
}

/// SHA-256 of the catalogue a run under `core` maps its verdicts to (the
/// requirement data of `vectors/`), so two reports can be told apart by
/// their data. A -00 run hashes the files it always did.
pub fn vectors_digest(core: CoreDraft) -> String {
    let mut h = Sha256::new();
    for text in catalogue_texts(core) {
        h.update(text.as_bytes());
    }
    format!("sha256:{}", alloy::hex::encode(h.finalize()))
}
