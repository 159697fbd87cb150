//! What the tests of the methods judged by data share: the cases of the
//! vector files.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
}

/// Every case of `op` in the vector files.
pub fn cases(op: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(vectors_dir()).unwrap() {
        let dir = dir.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if !dir.is_dir() || ["schema", "requirements", "specs", "methods"].contains(&name.as_str())
        {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let v: Value =
                serde_json::from_str(&std::fs::read_to_string(file.unwrap().path()).unwrap())
                    .unwrap();
            out.extend(
                v["cases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["op"] == op)
                    .cloned(),
            );
        }
    }
    out
}
