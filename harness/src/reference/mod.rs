//! The reference implementations inside the harness: a paying client and
//! a verifying server for `tempo`/`charge`, both able to misbehave on
//! purpose so that every check can be shown to fail.

pub mod client;
mod client_deviation;
pub mod commands;
pub mod evm;
pub mod evm_client;
pub mod mcp_client;
pub mod server;
pub mod session_client;
pub mod tx;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The kebab-case name of a deviation (its serde name).
fn variant_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A deviation by name; an unknown name lists the known ones.
fn parse_variant<T: Serialize + DeserializeOwned>(name: &str, what: &str, all: &[T]) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        let known: Vec<String> = all.iter().map(variant_name).collect();
        Error::Usage(format!(
            "unknown {what} {name:?}; known: {}",
            known.join(", ")
        ))
    })
}
