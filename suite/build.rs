//! Compiles the requirement catalogue (`vectors/requirements/*.json`),
//! the method rule files (`vectors/methods/*.json`) and the methods'
//! payload vectors (`vectors/*/payload.json`) into the crate, so that
//! mppconf maps verdicts to the same requirements and judges by the same
//! rules wherever it runs, and a new draft's data needs no code.

use std::fmt::Write;
use std::path::Path;

/// Writes `$OUT_DIR/<out>`: `pub const FILES: &[(&str, &str)]`, the
/// (file name, text) of every `*.json` of `vectors/<folder>`, by name.
fn embed(folder: &str, out: &str, what: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vectors")
        .join(folder);
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut text =
        format!("/// {what}: (file name, text).\npub const FILES: &[(&str, &str)] = &[\n");
    for path in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        writeln!(
            text,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    text.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join(out);
    std::fs::write(target, text).unwrap();
}

/// Writes `$OUT_DIR/payload_vectors.rs`: every `vectors/<folder>/payload.json`
/// (the `payload.validate` cases of a method), whose invalid payloads the
/// server suite sends to a server of that method.
fn embed_payload_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path().join("payload.json")))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut text = String::from(
        "/// Every method's payload vectors: (file, text).\npub const FILES: &[(&str, &str)] = &[\n",
    );
    for path in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let shown = path
            .strip_prefix(&dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        writeln!(
            text,
            "    ({shown:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    text.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join("payload_vectors.rs");
    std::fs::write(target, text).unwrap();
}

fn main() {
    embed("requirements", "catalogue_files.rs", "Every catalogue file");
    embed("methods", "method_rules.rs", "Every method rule file");
    embed_payload_vectors();
}
