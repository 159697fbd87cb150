//! Running the client under test once: the reference client in process,
//! or a client program from its manifest in its own process group, each
//! bounded in time, with what it ended with.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mppconf_suite::drafts::CoreDraft;
use serde::Serialize;

use super::ClientUnderTest;
use super::manifest::{ClientTarget, Placeholders};
use crate::error::Error;
use crate::reference::client::{self, Deviation, PayOptions};

/// One paid request for the client to make.
pub struct Invocation<'a> {
    pub url: String,
    pub method: &'a str,
    pub body: Option<&'a [u8]>,
    pub payer_key: String,
    pub rpc_url: String,
    pub chain_id: u64,
    /// Without any allowance for plain http.
    pub strict: bool,
    /// The PEM file of the authority a TLS scenario's certificate comes
    /// from, for the client to trust.
    pub ca_file: Option<PathBuf>,
    /// The spending policy the client is given (`{max_amount}`,
    /// `{recipient}`): the most it may pay, in base units, and the only
    /// primary recipient it may pay.
    pub max_amount: &'a str,
    pub recipient: &'a str,
    /// The token the scenarios charge in (`{currency}`).
    pub currency: String,
    /// An MCP call's operation and name (`{operation}`, `{name}`; empty
    /// for HTTP).
    pub operation: &'a str,
    pub name: &'a str,
    /// The core draft of the run: the reference client follows it (a
    /// program follows the draft it implements).
    pub core: CoreDraft,
}

/// How one client run ended.
#[derive(Debug, Clone, Serialize)]
pub struct ClientRun {
    /// e.g. `exit 0`, `exit 1`, `paid (200)`, `refused: …`.
    pub ended: String,
    /// Why the run is unusable for judging (hang, crash, flood).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The client's own output (stdout, then stderr), cut to 2000 bytes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
    pub millis: f64,
}

impl ClientUnderTest {
    /// Makes one paid request; never hangs past the client's timeout.
    pub async fn run(&self, inv: &Invocation<'_>) -> ClientRun {
        let start = Instant::now();
        let mut run = match self {
            ClientUnderTest::Reference { deviations } => reference_run(deviations, inv).await,
            ClientUnderTest::Program(t) => program_run(t, inv).await,
        };
        run.millis = crate::server_suite::millis(start.elapsed());
        run
    }
}

/// The in-process reference client.
async fn reference_run(deviations: &BTreeSet<Deviation>, inv: &Invocation<'_>) -> ClientRun {
    let mut opts = PayOptions::new(&inv.url, &inv.payer_key, &inv.rpc_url);
    opts.http_method = inv.method.to_string();
    opts.body = inv.body.map(<[u8]>::to_vec);
    opts.allow_http = !inv.strict;
    opts.max_amount = inv.max_amount.parse().ok();
    opts.recipient = inv.recipient.parse().ok();
    if let Some(file) = &inv.ca_file {
        match crate::tls::read_ca(file, "the scenario's authority") {
            Ok(ca) => opts.ca = Some(ca),
            Err(e) => {
                return ClientRun {
                    ended: "not started".into(),
                    failure: Some(e.to_string()),
                    output: String::new(),
                    millis: 0.0,
                };
            }
        }
    }
    opts.accept_payment = Some("tempo/charge, */*;q=0.1".into());
    opts.deviations = deviations.clone();
    opts.core = inv.core;
    let outcome = tokio::time::timeout(Duration::from_secs(30), client::pay(&opts)).await;
    let (ended, failure) = match outcome {
        Err(_) => (
            "timed out".to_string(),
            Some("the client did not finish within 30 s".to_string()),
        ),
        Ok(Ok(o)) => (format!("answered {} ({} mode)", o.status, o.mode), None),
        Ok(Err(Error::Refused(why))) => (format!("refused: {why}"), None),
        Ok(Err(e)) => (format!("error: {e}"), None),
    };
    ClientRun {
        ended,
        failure,
        output: String::new(),
        millis: 0.0,
    }
}

/// A client program from its manifest, in its own process group so that
/// a hang is ended with everything it started.
pub async fn program_run(target: &ClientTarget, inv: &Invocation<'_>) -> ClientRun {
    let values = Placeholders {
        url: inv.url.clone(),
        method: inv.method.to_string(),
        body: inv
            .body
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
        payer_key: inv.payer_key.clone(),
        rpc_url: inv.rpc_url.clone(),
        chain_id: inv.chain_id,
        ca_cert: inv
            .ca_file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default(),
        max_amount: inv.max_amount.to_string(),
        recipient: inv.recipient.to_string(),
        currency: inv.currency.clone(),
        operation: inv.operation.to_string(),
        name: inv.name.to_string(),
    };
    let not_run = |why: String| ClientRun {
        ended: "not started".into(),
        failure: Some(why),
        output: String::new(),
        millis: 0.0,
    };
    let Some(argv) = target.argv(inv.strict, &values) else {
        return not_run("the manifest has no strict_command".into());
    };
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(target.workdir())
        .envs(
            target
                .client
                .env
                .iter()
                .map(|(k, v)| (k.clone(), values.fill(v))),
        )
        // The trust stores of OpenSSL, Node.js, Python requests and curl
        // (rustls-native-certs reads SSL_CERT_FILE too).
        .envs(inv.ca_file.iter().flat_map(|f| {
            [
                "SSL_CERT_FILE",
                "NODE_EXTRA_CA_CERTS",
                "REQUESTS_CA_BUNDLE",
                "CURL_CA_BUNDLE",
            ]
            .map(|k| (k, f.as_os_str()))
        }))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    crate::process::die_with_parent(&mut cmd);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return not_run(format!("cannot start {argv:?}: {e}")),
    };
    let pid = child.id();
    let limit = Duration::from_secs(target.client.timeout_secs);
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Err(_) => {
            if let Some(pid) = pid {
                crate::process::kill_group(pid);
            }
            ClientRun {
                ended: "timed out".into(),
                failure: Some(format!(
                    "the client did not finish within {} s (timeout_secs); it was killed",
                    target.client.timeout_secs
                )),
                output: String::new(),
                millis: 0.0,
            }
        }
        Ok(Err(e)) => not_run(format!("waiting for {argv:?}: {e}")),
        Ok(Ok(out)) => {
            use std::os::unix::process::ExitStatusExt;
            let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
            output.push_str(&String::from_utf8_lossy(&out.stderr));
            let output: String = output.trim().chars().take(2000).collect();
            match (out.status.code(), out.status.signal()) {
                (Some(code), _) => ClientRun {
                    ended: format!("exit {code}"),
                    failure: None,
                    output,
                    millis: 0.0,
                },
                (None, signal) => ClientRun {
                    ended: format!("killed by signal {}", signal.unwrap_or_default()),
                    failure: Some(format!(
                        "the client crashed (signal {})",
                        signal.unwrap_or_default()
                    )),
                    output,
                    millis: 0.0,
                },
            }
        }
    }
}
