//! draft-httpauth-payment-00 §"Payment-Receipt Header" to §"Security Considerations": the paid answer and the error answers.
//!
//! A paid answer carries a well-formed receipt for the challenge's method
//! and `Cache-Control: private` (its settlement is the method plug-in's
//! to verify); error answers carry no receipt, never echo the credential
//! and leak no secrets; a bounded fuzzing pass breaks none of this.

use mppconf_suite::codec::{Challenge, Credential, Receipt};

use super::super::check::{send_credential, transport, valid};
use super::super::{Answer, Ctx, Outcome, fuzz};
use super::credential::{Malformation, malformed};

type Step = Result<Outcome, Outcome>;

/// The bounded fuzzing pass inside the suite: fixed seed, so a run is
/// reproducible.
pub const FUZZ_SEED: u64 = 402;
const FUZZ_REQUESTS: usize = 150;

pub async fn paid_receipt(ctx: &Ctx) -> Step {
    let (challenge, credential) = valid(ctx).await?;
    let a = send_credential(ctx, &credential.to_header()).await?;
    Ok(judge_paid(ctx, &challenge, &credential, &a).await)
}

/// A successful paid answer: 2xx, `Cache-Control: private`, a receipt for
/// the challenge's method whose settlement the method verifies.
pub async fn judge_paid(
    ctx: &Ctx,
    challenge: &Challenge,
    credential: &Credential,
    a: &Answer,
) -> Outcome {
    if !(200..300).contains(&a.status) {
        return Outcome::fail(
            "2xx for a valid credential",
            format!(
                "{} {}",
                a.status,
                a.body.chars().take(200).collect::<String>()
            ),
        );
    }
    let Some(raw) = a.header("payment-receipt") else {
        return Outcome::fail("a Payment-Receipt on the paid answer", "none");
    };
    let receipt = match Receipt::parse(raw) {
        Ok(r) => r,
        Err(e) => return Outcome::fail("a well-formed receipt", e),
    };
    // Method names are lowercase letters; one in another case is the
    // challenge.method-lowercase check's finding, not this one's.
    if !receipt.method.eq_ignore_ascii_case(&challenge.method) {
        return Outcome::fail(
            format!("receipt method {}", challenge.method),
            receipt.method,
        );
    }
    let cc = a
        .header("cache-control")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !cc.split(',').any(|d| d.trim() == "private") {
        return Outcome::fail(
            "Cache-Control: private with the receipt",
            format!("{:?}", a.header("cache-control")),
        );
    }
    match ctx.method {
        Some(m) => {
            m.verify_receipt(&ctx.target.rpc_url, challenge, credential, &receipt)
                .await
        }
        None => Outcome::pass(format!(
            "receipt {:?} for method {}; its settlement is not verified (no built-in support for the method)",
            receipt.reference, challenge.method
        )),
    }
}

pub async fn no_receipt_on_error(ctx: &Ctx) -> Step {
    let mut seen = Vec::new();
    for header in [None, Some("Payment e30")] {
        let a = ctx.send(header.as_slice(), None).await.map_err(transport)?;
        if a.header("payment-receipt").is_some() {
            seen.push(a.status);
        }
    }
    Ok(if seen.is_empty() {
        Outcome::pass("no receipt on the unpaid and malformed answers")
    } else {
        Outcome::fail(
            "no Payment-Receipt on an error response",
            format!("receipts on {seen:?}"),
        )
    })
}

pub async fn credential_not_echoed(ctx: &Ctx) -> Step {
    let (header, _) = malformed(Malformation::NoPayload, None, &ctx.method_name);
    let a = send_credential(ctx, &header).await?;
    let token = header.trim_start_matches("Payment ");
    Ok(
        if a.body.contains(token)
            || a.headers
                .iter()
                .any(|(_, v)| v.to_str().is_ok_and(|v| v.contains(token)))
        {
            Outcome::fail(
                "the credential never echoed in an error",
                "the answer contains the credential",
            )
        } else {
            Outcome::pass("not echoed")
        },
    )
}

pub async fn no_secrets_in_errors(ctx: &Ctx) -> Step {
    let mut leaks = Vec::new();
    // The chain endpoints the server may know: ours, and the proxy's.
    let mut endpoints = vec![ctx.target.rpc_url.clone()];
    if let Some(p) = &ctx.proxy {
        endpoints.push(p.url());
    }
    let hosts: Vec<String> = endpoints
        .iter()
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.trim_start_matches("http://")
                .trim_start_matches("https://")
                .to_string()
        })
        .collect();
    for header in [None, Some("Payment e30"), Some("Payment not-valid!!!")] {
        let a = ctx.send(header.as_slice(), None).await.map_err(transport)?;
        for host in hosts.iter().filter(|h| a.body.contains(h.as_str())) {
            leaks.push(format!("the RPC endpoint {host} in a {} body", a.status));
        }
        if a.body.contains(&ctx.account.to_bytes().to_string()[2..]) {
            leaks.push("a private key".into());
        }
    }
    Ok(if leaks.is_empty() {
        Outcome::pass("no RPC endpoint or key in error bodies")
    } else {
        Outcome::fail("no secrets in error details", leaks.join("; "))
    })
}

pub async fn fuzz_bounded(ctx: &Ctx) -> Step {
    let report = fuzz::fuzz(ctx, FUZZ_SEED, FUZZ_REQUESTS, 3)
        .await
        .map_err(super::super::check::blocked)?;
    Ok(match report.findings.first() {
        None => Outcome::pass(format!(
            "{} mutated credentials (seed {}): no 2xx, no 5xx, no 402 without a challenge, no echo, none slower than {:?}",
            report.requests,
            report.seed,
            fuzz::SLOW
        )),
        Some(f) => Outcome::fail(
            "no mutated credential breaks the oracle",
            format!(
                "{:?} ({}) for {:?} (shrunk from {} bytes; seed {}, request {}; `mppconf fuzz server --seed` reproduces it)",
                f.violation, f.status, f.header, f.original_length, f.seed, f.index
            ),
        ),
    })
}
