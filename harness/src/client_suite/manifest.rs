//! Client target manifests: how to make one paid request with an
//! implementation under test (TOML, schema
//! `harness/schema/client-target.schema.json`).
//!
//! ```toml
//! name = "mppx"
//! [client]
//! command = ["node", "client.mjs", "{url}"]   # without {url}, the URL is appended
//! cwd = "../interop/mppx"                      # relative to the manifest
//! build = ["npm", "ci"]                        # optional, run once
//! env = { PAYER_KEY = "{payer_key}", RPC_URL = "{rpc_url}", CHAIN_ID = "{chain_id}" }
//! timeout_secs = 30
//! [claims]
//! push = false
//! ```
//!
//! Placeholders: `{url}` (the scenario's resource), `{method}` and `{body}`
//! (a manifest that uses `{body}` can send a POST body; the digest checks
//! need it), `{payer_key}` (a fresh funded account), `{rpc_url}` (the
//! chain, through the recording proxy), `{chain_id}`, `{ca_cert}` (the PEM
//! file of the authority of a TLS scenario's certificate; the client is
//! also given it as `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`,
//! `REQUESTS_CA_BUNDLE` and `CURL_CA_BUNDLE`), `{max_amount}` and
//! `{recipient}` (the spending policy: the most to pay in base units, the
//! only recipient to pay; a manifest that uses both gets the policy
//! checks).
//!
//! An MCP client (`mppconf mcp-client`) has an `[mcp]` table naming the
//! operations it can pay (`operations = ["tool"]`, of tool, resource,
//! prompt); its command is given `{url}` (the MCP endpoint),
//! `{operation}` and `{name}` (the tool or prompt name, or the resource
//! URI).
//!
//! A client of a method the harness cannot pay or settle (Lightning,
//! Stripe, ...) has an `[offer]` table: `method`, `intent` and a
//! `[offer.request]` table, the request every scenario offers; its
//! credentials are judged by the method's payload rules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Result;
use crate::schema::Schema;

/// A parsed, checked client target manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTarget {
    pub name: String,
    /// The implementation's version, named in reports.
    #[serde(default)]
    pub version: Option<String>,
    pub client: Invoke,
    #[serde(default)]
    pub claims: Claims,
    /// Present for an MCP client (draft-payment-transport-mcp-00).
    #[serde(default)]
    pub mcp: Option<McpClaims>,
    /// Present for a client of a method the harness cannot pay itself:
    /// the challenge every scenario offers ([`super::method_rules`]).
    #[serde(default)]
    pub offer: Option<Offer>,
    #[serde(skip)]
    pub dir: PathBuf,
    /// The manifest file itself.
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invoke {
    pub command: Vec<String>,
    #[serde(default)]
    pub strict_command: Option<Vec<String>>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub build: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// The exit codes the client ends with on purpose (paid, refused,
    /// usage); any other is a crash to the client fuzzer.
    #[serde(default)]
    pub exit_codes: Option<Vec<i32>>,
}

fn default_timeout() -> u64 {
    30
}

/// What the client claims; checks of what it does not claim are `skip`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    #[serde(default = "yes")]
    pub push: bool,
    #[serde(default = "yes")]
    pub fee_sponsorship: bool,
    #[serde(default = "yes")]
    pub zero_amount_proof: bool,
    /// The EVM charge credential types it pays with (draft-evm-charge-00
    /// lets a client support a subset); the scenarios of the others are
    /// `skip`. All four by default.
    #[serde(default = "every_evm_type")]
    pub evm_credential_types: Vec<String>,
}

fn every_evm_type() -> Vec<String> {
    crate::methods::evm_charge::CREDENTIAL_TYPES
        .map(String::from)
        .to_vec()
}

/// The challenge a client of a method the harness judges by its rules
/// only is offered: method, intent and request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    pub method: String,
    pub intent: String,
    pub request: serde_json::Value,
}

/// What an MCP client can pay for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpClaims {
    /// Of `tool`, `resource`, `prompt`; checks of the others are `skip`.
    pub operations: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for Claims {
    fn default() -> Self {
        Self {
            push: true,
            fee_sponsorship: true,
            zero_amount_proof: true,
            evm_credential_types: every_evm_type(),
        }
    }
}

/// Values for the placeholders of one request.
pub struct Placeholders {
    pub url: String,
    pub method: String,
    pub body: String,
    pub payer_key: String,
    pub rpc_url: String,
    pub chain_id: u64,
    /// The PEM file of a TLS scenario's authority (empty otherwise).
    pub ca_cert: String,
    pub max_amount: String,
    pub recipient: String,
    /// The token the scenarios charge in (PathUSD, or an EVM run's
    /// EIP-3009 token): a client that must be configured with it.
    pub currency: String,
    /// An MCP call's operation (`tool`, `resource`, `prompt`) and the
    /// tool or prompt name or resource URI (empty for HTTP).
    pub operation: String,
    pub name: String,
}

impl Placeholders {
    pub fn fill(&self, text: &str) -> String {
        text.replace("{url}", &self.url)
            .replace("{method}", &self.method)
            .replace("{body}", &self.body)
            .replace("{payer_key}", &self.payer_key)
            .replace("{rpc_url}", &self.rpc_url)
            .replace("{chain_id}", &self.chain_id.to_string())
            .replace("{ca_cert}", &self.ca_cert)
            .replace("{max_amount}", &self.max_amount)
            .replace("{recipient}", &self.recipient)
            .replace("{currency}", &self.currency)
            .replace("{operation}", &self.operation)
            .replace("{name}", &self.name)
    }
}

const PLACEHOLDERS: [&str; 12] = [
    "{url}",
    "{method}",
    "{body}",
    "{payer_key}",
    "{rpc_url}",
    "{chain_id}",
    "{ca_cert}",
    "{max_amount}",
    "{recipient}",
    "{currency}",
    "{operation}",
    "{name}",
];

impl ClientTarget {
    /// Reads a manifest, naming the field at fault on error.
    pub fn load(path: &Path) -> Result<Self> {
        let mut target: ClientTarget = crate::server_suite::manifest::load_toml(
            path,
            Schema::ClientTarget,
            "harness/schema/client-target.schema.json",
            &PLACEHOLDERS,
        )?;
        target.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        target.path = path.to_path_buf();
        Ok(target)
    }

    pub fn workdir(&self) -> PathBuf {
        self.dir.join(self.client.cwd.as_deref().unwrap_or("."))
    }

    /// How reports name the client: name, version and manifest.
    pub fn label(&self) -> String {
        format!(
            "{}{} ({})",
            self.name,
            self.version
                .as_ref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            self.path.display()
        )
    }

    /// Whether the client is given a spending policy (the manifest uses
    /// `{max_amount}` and `{recipient}`).
    /// Whether the client is given a budget (the manifest uses
    /// `{max_amount}`; a session's whole spend).
    pub fn takes_budget(&self) -> bool {
        self.client
            .command
            .iter()
            .any(|s| s.contains("{max_amount}"))
            || self.client.env.values().any(|s| s.contains("{max_amount}"))
    }

    pub fn takes_policy(&self) -> bool {
        let uses = |p: &str| {
            self.client.command.iter().any(|s| s.contains(p))
                || self.client.env.values().any(|s| s.contains(p))
        };
        uses("{max_amount}") && uses("{recipient}")
    }

    /// Whether requests can carry a body (the manifest uses `{body}`).
    pub fn sends_bodies(&self) -> bool {
        let uses = |s: &String| s.contains("{body}");
        self.client.command.iter().any(uses) || self.client.env.values().any(uses)
    }

    /// The argument vector of one request: placeholders filled, the URL
    /// appended when the command does not place it.
    pub fn argv(&self, strict: bool, values: &Placeholders) -> Option<Vec<String>> {
        let template = if strict {
            self.client.strict_command.as_ref()?
        } else {
            &self.client.command
        };
        let mut argv: Vec<String> = template.iter().map(|a| values.fill(a)).collect();
        if !template.iter().any(|a| a.contains("{url}")) {
            argv.push(values.url.clone());
        }
        Some(argv)
    }

    /// Runs the build command, if any.
    pub fn build(&self) -> Result<()> {
        crate::server_suite::manifest::run_build(
            &self.name,
            self.client.build.as_deref(),
            &self.workdir(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ClientTarget> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        ClientTarget::load(&path)
    }

    const GOOD: &str = r#"
name = "demo"
[client]
command = ["node", "client.mjs"]
env = { PAYER_KEY = "{payer_key}" }
"#;

    fn values() -> Placeholders {
        Placeholders {
            url: "http://127.0.0.1:1/x".into(),
            method: "GET".into(),
            body: String::new(),
            payer_key: "0xkey".into(),
            rpc_url: "http://rpc".into(),
            chain_id: 31337,
            ca_cert: String::new(),
            max_amount: "100000".into(),
            recipient: "0xrecipient".into(),
            currency: "0xcurrency".into(),
            operation: String::new(),
            name: String::new(),
        }
    }

    #[test]
    fn the_url_is_appended_unless_placed() {
        let t = load(GOOD).unwrap();
        assert_eq!(
            t.argv(false, &values()).unwrap(),
            ["node", "client.mjs", "http://127.0.0.1:1/x"]
        );
        assert!(t.argv(true, &values()).is_none(), "no strict command");
        assert!(!t.sends_bodies());
        let placed = load(&GOOD.replace("\"client.mjs\"", "\"--url={url}\", \"{body}\"")).unwrap();
        assert_eq!(
            placed.argv(false, &values()).unwrap(),
            ["node", "--url=http://127.0.0.1:1/x", ""]
        );
        assert!(placed.sends_bodies());
        assert!(t.claims.push && t.claims.fee_sponsorship);
    }

    #[test]
    fn mistakes_name_the_field() {
        let typo = load(&GOOD.replace("command", "comand"))
            .unwrap_err()
            .to_string();
        assert!(typo.contains("comand"), "{typo}");
        let placeholder = load(&GOOD.replace("{payer_key}", "{key}"))
            .unwrap_err()
            .to_string();
        assert!(
            placeholder.contains("/client/env/PAYER_KEY") && placeholder.contains("{key}"),
            "{placeholder}"
        );
    }
}
