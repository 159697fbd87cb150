//! Bring your own payer: the payer ABI.
//!
//! A server of a method mppconf cannot pay by itself (Stripe test mode,
//! Lightning, a company's private rail) still gets every core and intent
//! check when the user gives a program that pays. mppconf sends it one
//! challenge per line on stdin and reads the credential's `payload` (and
//! optional `source`) back, in the spirit of the adapter ABI: a manifest
//! (`payer.json`, schema `harness/schema/payer.schema.json`), one-shot or
//! persistent line mode, a timeout on every call. The harness builds the
//! credential's `challenge` member itself (the echo is the core suite's
//! business), so a payer only pays.
//!
//! A payer that crashes, hangs, answers something that is not the ABI or
//! pays another challenge than the one it was given is an `error` that
//! names it, never a pass: see [`PayerError`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mppconf_suite::codec::{Challenge, Credential, EchoedChallenge};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::adapter::{AdapterClient, Manifest as ProcessManifest, Mode};
use crate::error::{Error, Result, read_json};
use crate::schema::Schema;

/// The ABI version a request carries.
pub const ABI_VERSION: u64 = 1;

/// A parsed, schema-checked `payer.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct PayerManifest {
    pub name: String,
    pub command: Vec<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The payment methods it pays (`method` values); empty: any.
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(skip)]
    pub dir: PathBuf,
}

impl PayerManifest {
    /// Reads a payer manifest, naming the field at fault on error.
    pub fn load(path: &Path) -> Result<Self> {
        let value = read_json(path)?;
        Schema::PayerManifest.check(path, &value, "harness/schema/payer.schema.json")?;
        let mut manifest: PayerManifest =
            serde_json::from_value(value).map_err(|e| Error::field(path, "/", e.to_string()))?;
        manifest.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Ok(manifest)
    }

    /// The process side is the adapters' (spawn, line mode, timeouts,
    /// process-group kills): a payer is an adapter with one operation.
    fn process(&self) -> ProcessManifest {
        ProcessManifest {
            name: self.name.clone(),
            language: "payer".into(),
            command: self.command.clone(),
            build: None,
            cwd: self.cwd.clone(),
            env: self.env.clone(),
            capabilities: vec!["pay".into()],
            mode: self.mode,
            timeout_ms: Some(self.timeout_ms.unwrap_or(10_000)),
            dir: self.dir.clone(),
        }
    }
}

/// Why a payer gave no credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayerError {
    /// The payer answered with a typed error (it will not or cannot pay
    /// this challenge): the checks that needed the payment cannot run.
    Declined {
        payer: String,
        error_type: String,
        message: String,
    },
    /// The payer broke the ABI: crashed, hung, answered something that is
    /// not JSON or not the ABI, or paid another challenge.
    Broken { payer: String, reason: String },
}

impl std::fmt::Display for PayerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayerError::Declined {
                payer,
                error_type,
                message,
            } => write!(f, "payer {payer} declined ({error_type}): {message}"),
            PayerError::Broken { payer, reason } => write!(f, "payer {payer}: {reason}"),
        }
    }
}

/// A running external payer.
pub struct ExternalPayer {
    manifest: PayerManifest,
    process: Arc<Mutex<AdapterClient>>,
}

impl ExternalPayer {
    pub fn new(manifest: PayerManifest) -> Self {
        let process = Arc::new(Mutex::new(AdapterClient::new(manifest.process())));
        Self { manifest, process }
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Whether the manifest says it pays `method`.
    pub fn pays(&self, method: &str) -> bool {
        self.manifest.methods.is_empty() || self.manifest.methods.iter().any(|m| m == method)
    }

    /// The request line for one challenge (see harness/README.md, "The payer ABI").
    pub fn request(challenge: &Challenge, header: &str, resource: &Resource) -> Value {
        let mut decoded = json!({
            "id": challenge.id,
            "realm": challenge.realm,
            "method": challenge.method,
            "intent": challenge.intent,
            "request": challenge.request.value,
        });
        if let Some(e) = &challenge.expires {
            decoded["expires"] = e.clone().into();
        }
        if let Some(d) = &challenge.digest {
            decoded["digest"] = d.clone().into();
        }
        if let Some(o) = &challenge.opaque {
            decoded["opaque"] = o.value.clone();
        }
        if let Some(d) = &challenge.description {
            decoded["description"] = d.clone().into();
        }
        json!({
            "schema": ABI_VERSION,
            "op": "pay",
            "challenge": decoded,
            "header": header,
            "resource": {"method": resource.method, "url": resource.url},
        })
    }

    /// Asks the payer to pay `challenge`; the credential it makes.
    pub async fn pay(
        &self,
        challenge: &Challenge,
        header: &str,
        resource: &Resource,
    ) -> std::result::Result<Credential, PayerError> {
        let line = Self::request(challenge, header, resource).to_string();
        let broken = |reason: String| PayerError::Broken {
            payer: self.manifest.name.clone(),
            reason,
        };
        // The process is synchronous (threads and pipes): run it off the
        // async workers. Checks pay one at a time.
        let process = self.process.clone();
        let answer = tokio::task::spawn_blocking(move || {
            process
                .lock()
                .map_err(|_| "the payer's process lock is poisoned".to_string())
                .and_then(|mut p| p.call_line(&line))
        })
        .await
        .map_err(|e| format!("the payer call panicked: {e}"))
        .and_then(|r| r)
        .map_err(broken)?;
        let value: Value = serde_json::from_str(answer.trim()).map_err(|e| {
            broken(format!(
                "its answer is not JSON ({e}): {:?}",
                answer.chars().take(200).collect::<String>()
            ))
        })?;
        self.credential(challenge, &value).map_err(|e| match e {
            Answer::Declined(error_type, message) => PayerError::Declined {
                payer: self.manifest.name.clone(),
                error_type,
                message,
            },
            Answer::Broken(reason) => broken(format!(
                "{reason}; its answer was {}",
                value.to_string().chars().take(300).collect::<String>()
            )),
        })
    }

    /// Reads one answer against the ABI.
    fn credential(
        &self,
        challenge: &Challenge,
        value: &Value,
    ) -> std::result::Result<Credential, Answer> {
        let ok = value
            .get("ok")
            .and_then(Value::as_bool)
            .ok_or_else(|| Answer::Broken("no boolean \"ok\"".into()))?;
        if !ok {
            let error = value.get("error");
            let error_type = error
                .and_then(|e| e.get("type"))
                .and_then(Value::as_str)
                .ok_or_else(|| Answer::Broken("\"ok\": false without error.type".into()))?;
            let message = error
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            return Err(Answer::Declined(error_type.into(), message.into()));
        }
        let v = value
            .get("value")
            .and_then(Value::as_object)
            .ok_or_else(|| Answer::Broken("\"ok\": true without an object \"value\"".into()))?;
        let paid = v.get("id").and_then(Value::as_str).ok_or_else(|| {
            Answer::Broken("value.id (the id of the challenge it paid) is missing".into())
        })?;
        if paid != challenge.id {
            return Err(Answer::Broken(format!(
                "it paid challenge {paid:?}, not the challenge it was given ({:?})",
                challenge.id
            )));
        }
        let payload: Map<String, Value> = v
            .get("payload")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| Answer::Broken("value.payload is not a JSON object".into()))?;
        let source = match v.get("source") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Answer::Broken("value.source is not a string".into())),
        };
        Ok(Credential {
            challenge: EchoedChallenge::echo_of(challenge),
            payload,
            source,
            unknown: Default::default(),
        })
    }
}

enum Answer {
    Declined(String, String),
    Broken(String),
}

/// The resource a challenge came from, as the payer is told.
#[derive(Debug, Clone)]
pub struct Resource {
    pub method: String,
    pub url: String,
}
