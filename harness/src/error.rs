//! The one error type of the harness crate. Each variant names the file or
//! adapter it is about, so that a user can fix their input without reading
//! our code.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not valid JSON: {reason}")]
    Json { path: PathBuf, reason: String },
    #[error("{path}: field `{field}`: {reason}")]
    Field {
        path: PathBuf,
        field: String,
        reason: String,
    },
    #[error("adapter {adapter}: {reason}")]
    Adapter { adapter: String, reason: String },
    #[error("{0}")]
    Usage(String),
    /// A chain (RPC endpoint) that cannot be used as given.
    #[error("chain at {url}: {reason}")]
    Chain { url: String, reason: String },
    /// The reference client declined to pay, for the reason given.
    #[error("refused to pay: {0}")]
    Refused(String),
    /// A tool mppconf needs could not be found, installed or started.
    #[error("{0}")]
    Setup(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A problem with one field of an input file.
    pub fn field(path: &std::path::Path, field: &str, reason: impl Into<String>) -> Self {
        Error::Field {
            path: path.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Reads a JSON file, naming the file in any error.
pub fn read_json(path: &std::path::Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.into(),
        reason: e.to_string(),
    })
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
