//! Fuzzing a live server's credential parsing, with an oracle instead of
//! a crash detector.
//!
//! Each request carries an `Authorization: Payment` value made from a real
//! challenge's echo and mutated at one of three layers (the header text,
//! the base64url token, the credential JSON). None of them pays, so the
//! oracle holds for every one: no 2xx (access without payment), no 5xx,
//! a 402 carries a Payment challenge, the credential is not echoed, and
//! the answer comes within a time bound. Runs are seeded and reproducible;
//! a violation is shrunk to a shorter header that still violates the same
//! rule and saved as a regression case.

use std::time::{Duration, Instant};

use mppconf_suite::codec::base64url;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Answer, Ctx};

/// The rule an answer broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Violation {
    AccessWithoutPayment,
    ServerError,
    NoChallengeOn402,
    CredentialEchoed,
    TooSlow,
}

/// A header that broke the oracle, shrunk.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub violation: Violation,
    pub status: u16,
    /// The shrunk header (as a regression case).
    pub header: String,
    pub original_length: usize,
    pub seed: u64,
    pub index: usize,
}

/// The most time one answer may take.
pub const SLOW: Duration = Duration::from_secs(5);

/// Judges one answer to a non-paying credential.
fn judge(answer: &Answer, header: &str, elapsed: Duration) -> Option<Violation> {
    if (200..300).contains(&answer.status) {
        return Some(Violation::AccessWithoutPayment);
    }
    if answer.status >= 500 {
        return Some(Violation::ServerError);
    }
    if answer.status == 402 && answer.challenge_fields().is_empty() {
        return Some(Violation::NoChallengeOn402);
    }
    let token = header.split_whitespace().last().unwrap_or_default();
    if token.len() >= 24 && answer.body.contains(token) {
        return Some(Violation::CredentialEchoed);
    }
    if elapsed > SLOW {
        return Some(Violation::TooSlow);
    }
    None
}

/// Values that stress parsers: wrong types, huge, odd characters.
fn odd_value(rng: &mut StdRng) -> Value {
    match rng.random_range(0..9) {
        0 => Value::Null,
        1 => json!(rng.random::<i64>()),
        2 => json!(true),
        3 => json!([]),
        4 => json!({}),
        5 => json!("x".repeat(rng.random_range(1000..9000))),
        6 => json!("é\u{0}\u{202e}💸\"\\"),
        7 => json!(""),
        _ => json!(1e308),
    }
}

/// One mutated header from a valid echo.
fn mutate(rng: &mut StdRng, echo: &Value) -> String {
    let mut credential =
        json!({"challenge": echo.clone(), "payload": {"type": "transaction", "signature": "0x76"}});
    // Layer 1: the JSON.
    if rng.random_bool(0.7) {
        let fields = [
            "id", "realm", "method", "intent", "request", "expires", "opaque", "digest",
        ];
        match rng.random_range(0..6) {
            0 => {
                credential["challenge"][fields[rng.random_range(0..fields.len())]] = odd_value(rng)
            }
            1 => {
                if let Some(c) = credential["challenge"].as_object_mut() {
                    c.remove(fields[rng.random_range(0..fields.len())]);
                }
            }
            2 => credential["payload"] = odd_value(rng),
            3 => credential["challenge"] = odd_value(rng),
            4 => credential["source"] = odd_value(rng),
            _ => {
                let mut deep = json!(1);
                for _ in 0..rng.random_range(10..400) {
                    deep = json!([deep]);
                }
                credential["payload"]["nested"] = deep;
            }
        }
    }
    let mut token = base64url::encode(credential.to_string());
    // Layer 2: the token.
    if rng.random_bool(0.4) {
        let mut bytes = token.into_bytes();
        for _ in 0..rng.random_range(1..4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.random_range(0..bytes.len());
            match rng.random_range(0..4) {
                0 => bytes[at] = b"+/=-_.!~*"[rng.random_range(0..9)],
                1 => {
                    bytes.remove(at);
                }
                2 => bytes.insert(at, b"A=_-"[rng.random_range(0..4)]),
                _ => bytes.truncate(at),
            }
        }
        token = String::from_utf8(bytes).unwrap_or_default();
    }
    // Layer 3: the header around it.
    let scheme = [
        "Payment", "payment", "PAYMENT", "Payment ", "Paymen", "Bearer",
    ][rng.random_range(0..6)];
    let sep = [" ", "  ", "\t", "", " ,"][rng.random_range(0..5)];
    let tail = ["", " ", ", Payment x", " extra"][rng.random_range(0..4)];
    format!("{scheme}{sep}{token}{tail}")
}

/// Sends a header; the violation it causes, if any (a transport failure
/// is reported separately, it is not the server's answer).
async fn probe(ctx: &Ctx, header: &str) -> Result<(Option<Violation>, u16), String> {
    let start = Instant::now();
    let answer = ctx.send(&[header], None).await?;
    Ok((judge(&answer, header, start.elapsed()), answer.status))
}

/// Shortens a violating header while it keeps violating the same rule
/// (delta debugging on character chunks), within a budget of requests.
async fn shrink(ctx: &Ctx, header: &str, violation: Violation) -> String {
    let mut best = header.to_string();
    let mut chunk = best.len() / 2;
    let mut budget = 64;
    while chunk >= 1 && budget > 0 {
        let mut at = 0;
        let mut shrunk = false;
        while at < best.len() && budget > 0 {
            let end = (at + chunk).min(best.len());
            if !best.is_char_boundary(at) || !best.is_char_boundary(end) {
                at += chunk;
                continue;
            }
            let candidate = format!("{}{}", &best[..at], &best[end..]);
            budget -= 1;
            if !candidate.is_empty()
                && let Ok((Some(v), _)) = probe(ctx, &candidate).await
                && v == violation
            {
                best = candidate;
                shrunk = true;
            } else {
                at += chunk;
            }
        }
        if !shrunk {
            chunk /= 2;
        }
    }
    best
}

/// What a fuzzing run did.
#[derive(Debug, Clone, Serialize)]
pub struct FuzzReport {
    pub seed: u64,
    pub requests: usize,
    pub transport_errors: usize,
    pub seconds: f64,
    pub findings: Vec<Finding>,
}

/// Sends `requests` mutated credentials built on a fresh challenge; stops
/// collecting after `max_findings` distinct violations.
pub async fn fuzz(
    ctx: &Ctx,
    seed: u64,
    requests: usize,
    max_findings: usize,
) -> Result<FuzzReport, String> {
    let start = Instant::now();
    let challenge = ctx.fresh_challenge().await?;
    let echo = super::check::echo_json(&challenge);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut findings: Vec<Finding> = Vec::new();
    let mut transport_errors = 0;
    for index in 0..requests {
        let header = mutate(&mut rng, &echo);
        match probe(ctx, &header).await {
            Err(_) => transport_errors += 1,
            Ok((Some(violation), status)) => {
                if findings.iter().any(|f| f.violation == violation)
                    || findings.len() >= max_findings
                {
                    continue;
                }
                let shrunk = shrink(ctx, &header, violation).await;
                findings.push(Finding {
                    violation,
                    status,
                    original_length: header.len(),
                    header: shrunk,
                    seed,
                    index,
                });
            }
            Ok((None, _)) => {}
        }
        // Evidence of thousands of exchanges is not kept.
        ctx.take_evidence();
    }
    Ok(FuzzReport {
        seed,
        requests,
        transport_errors,
        seconds: start.elapsed().as_secs_f64(),
        findings,
    })
}
