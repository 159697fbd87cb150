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
    /// A problem with one field of an input file, where the parser saw it.
    #[error("{path}:{line}:{column}: field `{field}`: {reason}")]
    At {
        path: PathBuf,
        line: usize,
        column: usize,
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

/// Line and column (1-based, in characters) of a byte offset a parser
/// gave for `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    (line, column)
}

/// Places a [`Error::Field`] about a TOML file (its field a JSON pointer,
/// `/server/ready/timeout_secs`, or dotted, `route[0].amount`) at the
/// line and column where the TOML parser saw that field's value.
pub fn locate_in_toml(error: Error, text: &str) -> Error {
    let Error::Field {
        path,
        field,
        reason,
    } = error
    else {
        return error;
    };
    let Ok(doc) = toml::de::DeTable::parse(text) else {
        return Error::Field {
            path,
            field,
            reason,
        };
    };
    let steps: Vec<String> = field
        .replace('[', ".")
        .replace(']', "")
        .split(['/', '.'])
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut span = doc.span();
    let mut here: Option<&toml::de::DeValue> = None;
    let mut table = Some(doc.get_ref());
    for step in &steps {
        let next = match (table, here) {
            (Some(t), _) => t.get(step.as_str()),
            (None, Some(toml::de::DeValue::Array(a))) => {
                step.parse::<usize>().ok().and_then(|i| a.get(i))
            }
            _ => None,
        };
        let Some(value) = next else { break };
        span = value.span();
        here = Some(value.get_ref());
        table = match value.get_ref() {
            toml::de::DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    let (line, column) = line_column(text, span.start);
    Error::At {
        path,
        line,
        column,
        field,
        reason,
    }
}

/// Deserializes a TOML text, naming the file, the line and column and the
/// field path of any error (from the parser's spans and the path
/// `serde_path_to_error` tracks).
pub fn from_toml<T: serde::de::DeserializeOwned>(path: &std::path::Path, text: &str) -> Result<T> {
    let deserializer =
        toml::Deserializer::parse(text).map_err(|e| toml_error(path, text, &e, "/"))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        toml_error(path, text, e.inner(), &field)
    })
}

fn toml_error(path: &std::path::Path, text: &str, e: &toml::de::Error, field: &str) -> Error {
    match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            Error::At {
                path: path.into(),
                line,
                column,
                field: field.into(),
                reason: e.message().to_string(),
            }
        }
        None => Error::field(path, field, e.message()),
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
