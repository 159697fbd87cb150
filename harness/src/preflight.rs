//! Inputs checked before any work starts: a gate that goes green on a
//! typo is worse than no gate, and a mistake found after anvil started (or
//! after the whole run) costs the user the run. Each error is a usage
//! error (exit code 2) that names the flag and what was expected.

use std::path::Path;

use crate::error::{Error, Result};

/// `value` is an absolute `http://` or `https://` URL with a host.
pub fn http_url(flag: &str, value: &str) -> Result<()> {
    let expected = || {
        Error::Usage(format!(
            "{flag} {value:?}: expected an absolute http:// or https:// URL with a host, e.g. http://127.0.0.1:8402"
        ))
    };
    let url = reqwest::Url::parse(value).map_err(|_| expected())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(expected());
    }
    Ok(())
}

/// The report folder can be written: it is created and a probe file is
/// written and removed, so that a read-only folder is found before the
/// run, not after it.
pub fn report_dir(dir: &Path) -> Result<()> {
    let cannot = |e: std::io::Error| {
        Error::Usage(format!(
            "--report-dir {}: cannot write there ({e}); give a folder mppconf may create and write",
            dir.display()
        ))
    };
    // A folder without write permission is refused even where the user
    // could write it anyway (root): it says "do not write here".
    let existing = dir.ancestors().find(|a| a.exists());
    if let Some(folder) = existing
        && std::fs::metadata(folder).is_ok_and(|m| m.permissions().readonly())
    {
        return Err(Error::Usage(format!(
            "--report-dir {}: {} is read-only; give a folder mppconf may create and write",
            dir.display(),
            folder.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(cannot)?;
    let probe = dir.join(".mppconf-write-probe");
    std::fs::write(&probe, b"").map_err(cannot)?;
    std::fs::remove_file(&probe).map_err(cannot)?;
    Ok(())
}

/// An output file's folder exists and can be written (`--out FILE`).
pub fn out_file(flag: &str, file: &Path) -> Result<()> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::Usage(format!(
            "{flag} {}: the folder {} does not exist",
            file.display(),
            parent.display()
        )));
    }
    Ok(())
}

/// The ids closest to a mistyped one, best first (at most three).
pub fn closest<'a>(wanted: &str, ids: &[&'a str]) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = ids
        .iter()
        .map(|id| {
            // A filter is a part of an id: score it against the whole id
            // and against each dotted part, whichever is closer.
            let best_part = id
                .split('.')
                .map(|part| strsim::normalized_damerau_levenshtein(wanted, part))
                .fold(0.0, f64::max);
            let whole = strsim::normalized_damerau_levenshtein(wanted, id);
            (whole.max(best_part), *id)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_a_scheme_or_host_are_refused() {
        assert!(http_url("--url", "http://127.0.0.1:8402").is_ok());
        assert!(http_url("--url", "https://api.example.test/x").is_ok());
        for bad in [
            "127.0.0.1:1",
            "localhost:8402",
            "ftp://x",
            "http://",
            "/paid",
            "",
        ] {
            let e = http_url("--url", bad).unwrap_err().to_string();
            assert!(e.contains("--url") && e.contains("http://"), "{bad}: {e}");
        }
    }

    #[test]
    fn closest_ids_rank_typos_first() {
        let ids = [
            "replay.rejected",
            "tamper.request",
            "tamper.realm",
            "paid.receipt",
        ];
        assert_eq!(closest("replay.rejectd", &ids)[0], "replay.rejected");
        assert_eq!(
            closest("tampr", &ids)[..2],
            ["tamper.realm", "tamper.request"]
        );
    }
}
