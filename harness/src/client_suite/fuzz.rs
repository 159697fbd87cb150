//! `mppconf fuzz client`: mutated challenges served to a client under
//! test, judged by an oracle rather than a crash detector.
//!
//! Each round serves one 402 whose `WWW-Authenticate` value is a valid
//! challenge mutated by the differential fuzzer's generator. The oracle:
//! where the 402 holds no payable challenge (the reference codec finds it
//! malformed, or its request breaks a rule a client MUST check: splits,
//! expiry, chain), the client must not pay (no credential, nothing
//! broadcast, nothing spent); in every round it must not crash (a signal,
//! a Rust panic's exit code 101, or an exit code its manifest does not
//! list), hang past its timeout, or flood the server. Rounds are seeded;
//! a violation is shrunk (within a small budget of client runs) and saved.

use std::time::{Duration, Instant};

use alloy::primitives::U256;
use mppconf_suite::codec::{challenge, rfc3339};
use mppconf_suite::methods::tempo_effects::ChargeRequest;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::scenario::{OnCredential, Script};
use super::{Built, ClientUnderTest, Env, Record, run_scenario};

/// The rule a round broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Violation {
    /// Paid (a credential, a broadcast or a spend) where no challenge was
    /// payable.
    PaidUnpayable,
    Crashed,
    Hung,
    Flooded,
}

/// A violating challenge header, shrunk.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub violation: Violation,
    /// Why the challenge was not payable (for `paid-unpayable`).
    pub unpayable: Option<String>,
    pub header: String,
    pub original: String,
    pub client: String,
    pub seed: u64,
    pub round: usize,
}

/// What a campaign did.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    pub seed: u64,
    pub rounds: usize,
    pub unpayable_rounds: usize,
    pub findings: Vec<Finding>,
    pub rounds_per_sec: f64,
}

/// Why the challenges of a 402 are not payable, or `None` if one is:
/// what the reference client checks before it pays.
pub fn unpayable(fields: &[String], chain_id: u64) -> Option<String> {
    let all = match challenge::parse_all(fields) {
        Ok(all) => all,
        Err(e) => return Some(format!("malformed: {}", e.code())),
    };
    let Some(c) = all
        .into_iter()
        .filter_map(Result::ok)
        .find(|c| c.method == "tempo" && c.intent == "charge")
    else {
        return Some("no well-formed tempo/charge challenge".into());
    };
    let request = match ChargeRequest::from_json(&c.request.value) {
        Ok(r) => r,
        Err(e) => return Some(format!("request not payable: {}", e.code())),
    };
    match c.expires.as_deref().map(|e| rfc3339::parse("expires", e)) {
        Some(Ok(t)) if t.timestamp() > crate::reference::tx::unix_now() as i64 => {}
        Some(Ok(_)) => return Some("expired".into()),
        Some(Err(e)) => return Some(format!("expires: {}", e.code())),
        None => return Some("no expires".into()),
    }
    (request.chain_id != chain_id).then(|| format!("chain {}", request.chain_id))
}

/// What a round's record shows, judged.
fn judge(
    record: &Record,
    unpayable: Option<&str>,
    exit_codes: Option<&[i32]>,
) -> Option<Violation> {
    if let Some(why) = &record.run.failure {
        return Some(if why.contains("did not finish") {
            Violation::Hung
        } else if why.contains("crashed") {
            Violation::Crashed
        } else {
            Violation::Flooded
        });
    }
    let ended = &record.run.ended;
    if ended == "exit 101" {
        return Some(Violation::Crashed);
    }
    if let (Some(codes), Some(code)) = (
        exit_codes,
        ended
            .strip_prefix("exit ")
            .and_then(|c| c.parse::<i32>().ok()),
    ) && !codes.contains(&code)
    {
        return Some(Violation::Crashed);
    }
    let paid = record
        .seen
        .iter()
        .any(|s| !s.payment_credentials().is_empty())
        || record.payer_spent > U256::ZERO
        || record
            .rpc
            .iter()
            .any(|c| c.method.starts_with("eth_sendRawTransaction"));
    (unpayable.is_some() && paid).then_some(Violation::PaidUnpayable)
}

fn built(header: &str) -> Built {
    Built {
        script: Script {
            www_authenticate: vec![header.to_string()],
            on_credential: OnCredential::Settle,
        },
        payable: None,
        path: "/plain",
        body: None,
        strict: false,
        tls: false,
        drained_channel: false,
        foreign_jwks: None,
    }
}

/// Runs `rounds` rounds (or until `budget`), with progress after each.
pub async fn campaign(
    env: &Env,
    client: &ClientUnderTest,
    exit_codes: Option<&[i32]>,
    seed: u64,
    rounds: usize,
    budget: Option<Duration>,
    mut progress: impl FnMut(usize, usize),
) -> crate::error::Result<Campaign> {
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut findings: Vec<Finding> = Vec::new();
    let mut unpayable_rounds = 0;
    let mut done = 0;
    while done < rounds && budget.is_none_or(|b| started.elapsed() < b) {
        // The valid challenge is fresh each round (its expiry moves);
        // the mutation is drawn from the seeded generator.
        let base = super::header(&env.challenge("/plain"));
        let mut header = super::super::differential::mutate::mutate(&mut rng, &base);
        // Only what an HTTP server can send (no CR, LF or NUL).
        while axum::http::HeaderValue::from_bytes(header.as_bytes()).is_err() {
            header = super::super::differential::mutate::mutate(&mut rng, &base);
        }
        let why = unpayable(std::slice::from_ref(&header), env.chain_id);
        unpayable_rounds += usize::from(why.is_some());
        let record = run_scenario(env, client, "fuzz", built(&header)).await?;
        if let Some(violation) = judge(&record, why.as_deref(), exit_codes)
            && !findings.iter().any(|f| f.violation == violation)
        {
            // A hang or crash is rarely the input's doing: shrink only
            // what the input decides (paying an unpayable challenge).
            let shrunk = if violation == Violation::PaidUnpayable {
                shrink(env, client, exit_codes, violation, &header).await?
            } else {
                header.clone()
            };
            findings.push(Finding {
                violation,
                unpayable: why,
                header: shrunk,
                original: header,
                client: record.run.ended.clone(),
                seed,
                round: done,
            });
        }
        done += 1;
        progress(done, findings.len());
    }
    Ok(Campaign {
        seed,
        rounds: done,
        unpayable_rounds,
        findings,
        rounds_per_sec: done as f64 / started.elapsed().as_secs_f64().max(1e-9),
    })
}

/// A shorter header with the same violation: cut the parameters after
/// the scheme one at a time (a client run per attempt, at most 24).
async fn shrink(
    env: &Env,
    client: &ClientUnderTest,
    exit_codes: Option<&[i32]>,
    violation: Violation,
    header: &str,
) -> crate::error::Result<String> {
    let mut best = header.to_string();
    let mut budget = 24;
    let mut i = 0;
    loop {
        let parts: Vec<&str> = best.split(", ").collect();
        if i >= parts.len() || budget == 0 || parts.len() < 2 {
            return Ok(best);
        }
        let candidate: String = parts
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != i)
            .map(|(_, p)| *p)
            .collect::<Vec<_>>()
            .join(", ");
        budget -= 1;
        let why = unpayable(std::slice::from_ref(&candidate), env.chain_id);
        let record = run_scenario(env, client, "fuzz", built(&candidate)).await?;
        if judge(&record, why.as_deref(), exit_codes) == Some(violation) {
            best = candidate;
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpayable_names_why() {
        let c = |extra: &str| {
            format!(
                "Payment id=\"x\", realm=\"r\", method=\"tempo\", intent=\"charge\", request=\"e30\"{extra}"
            )
        };
        assert!(
            unpayable(&[c("")], 1)
                .unwrap()
                .contains("request not payable")
        );
        assert!(
            unpayable(&["Payment id=\"x\", realm=\"r".into()], 1)
                .unwrap()
                .starts_with("malformed")
        );
        assert!(
            unpayable(&["Basic realm=\"r\"".into()], 1)
                .unwrap()
                .contains("no well-formed")
        );
    }
}
