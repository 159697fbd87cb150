//! What a client check is, and the readings of a scenario's record that
//! many checks share (the credentials the client sent, the transactions it
//! broadcast). The checks themselves are filed by spec: [`super::core`],
//! [`super::tempo_charge`].

use alloy::primitives::{Bytes, U256};
use mppconf_suite::codec::Credential;
use serde_json::Value;

use super::{Built, Env, Record};
use crate::server_suite::Outcome;

/// A scenario: a name and how to build it.
pub struct ScenarioDef {
    pub name: &'static str,
    /// What the client must claim (or do) for the scenario to apply.
    pub needs: Need,
    pub build: fn(&Env) -> Built,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Nothing,
    /// The client can send a request body (digest binding).
    Body,
    /// The client can run without its plain-http allowance.
    StrictMode,
    /// The client is given a spending policy (`{max_amount}`, `{recipient}`).
    Policy,
    /// The client is given a budget (`{max_amount}`).
    Budget,
    FeeSponsorship,
    Push,
    ZeroAmountProof,
    /// The client pays with this EVM charge credential type.
    EvmType(&'static str),
    /// mppconf serves a JWK Set on the origin of the run's realm,
    /// `https://127.0.0.1` (port 443).
    RealmOrigin,
}

/// How a check judges its scenario's record; the `&str` is what a check
/// blocked by a missing or broken credential points to.
pub type Judge = fn(&Record, &str) -> Result<Outcome, Outcome>;

/// One check.
pub struct Check {
    /// Stable id, named after what it checks.
    pub id: &'static str,
    pub requirements: &'static [&'static str],
    /// All cited requirements are SHOULD-level (or the reading is an
    /// ambiguity): a failure is `warn`.
    pub should: bool,
    pub scenario: &'static str,
    pub judge: Judge,
}

/// A MUST-level check.
pub const fn c(
    id: &'static str,
    requirements: &'static [&'static str],
    scenario: &'static str,
    judge: Judge,
) -> Check {
    Check {
        id,
        requirements,
        should: false,
        scenario,
        judge,
    }
}

/// A SHOULD-level check.
pub const fn should(
    id: &'static str,
    requirements: &'static [&'static str],
    scenario: &'static str,
    judge: Judge,
) -> Check {
    Check {
        id,
        requirements,
        should: true,
        scenario,
        judge,
    }
}

pub fn fail(expected: impl std::fmt::Display, actual: impl std::fmt::Display) -> Outcome {
    Outcome::fail(expected, actual)
}

pub fn blocked(detail: impl Into<String>) -> Outcome {
    Outcome::blocked(detail)
}

/// Judges one check on its scenario's record.
pub fn judge(check: &Check, r: &Record) -> Outcome {
    if let Some(why) = &r.run.failure {
        return Outcome::error(format!("{why} (client: {})", r.run.ended));
    }
    // What a check blocked by a missing or broken credential points to.
    let paid_check = if r.scenario == "standard" {
        "see standard.paid".to_string()
    } else {
        format!(
            "in scenario {} (client: {}{})",
            r.scenario,
            r.run.ended,
            r.run
                .output
                .lines()
                .last()
                .map(|l| format!(": {}", l.chars().take(200).collect::<String>()))
                .unwrap_or_default()
        )
    };
    match (check.judge)(r, &paid_check) {
        Ok(o) | Err(o) => o,
    }
}

pub fn payload_type(c: &Credential) -> Option<&str> {
    c.payload.get("type").and_then(Value::as_str)
}

pub fn credentials_sent(r: &Record) -> Vec<String> {
    r.seen
        .iter()
        .flat_map(|s| s.payment_credentials())
        .collect()
}

/// Raw transactions the client broadcast itself (through the proxy).
pub fn broadcasts(r: &Record) -> Vec<Vec<u8>> {
    r.rpc
        .iter()
        .filter(|c| c.method.starts_with("eth_sendRawTransaction"))
        .filter_map(|c| c.params.get(0)?.as_str()?.parse::<Bytes>().ok())
        .map(|b| b.to_vec())
        .collect()
}

/// The first credential sent, parsed; `Err` blocks the check (the
/// `.paid` check says why).
pub fn sent_credential(r: &Record, paid_check: &str) -> Result<Credential, Outcome> {
    if r.payable.is_none() {
        return Err(Outcome::error("the scenario has no payable challenge"));
    }
    let Some(raw) = credentials_sent(r).into_iter().next() else {
        return Err(blocked(format!("no credential was sent, {paid_check}")));
    };
    let credential = Credential::parse(&raw)
        .map_err(|e| blocked(format!("the credential does not parse ({e}), {paid_check}")))?;
    Ok(credential)
}

/// No credential sent, nothing broadcast, nothing spent.
pub fn refused(r: &Record, _: &str) -> Result<Outcome, Outcome> {
    let sent = credentials_sent(r);
    let broadcast = broadcasts(r);
    if sent.is_empty() && broadcast.is_empty() && r.payer_spent == U256::ZERO {
        return Ok(Outcome::pass(format!(
            "no credential, nothing broadcast (client: {})",
            r.run.ended
        )));
    }
    let mut what = Vec::new();
    if !sent.is_empty() {
        what.push(format!("{} credential(s) sent", sent.len()));
    }
    if !broadcast.is_empty() {
        what.push(format!("{} transaction(s) broadcast", broadcast.len()));
    }
    if r.payer_spent > U256::ZERO {
        what.push(format!("{} base units spent", r.payer_spent));
    }
    Ok(fail("no credential and no transfer", what.join(", ")))
}
