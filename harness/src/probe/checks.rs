//! The server checks: what each one sends, what it expects, and the
//! requirement it cites. Each check is a row of [`ALL`]; the steps that
//! many checks share (a fresh challenge, a valid credential, the answer
//! every rejection must have) are functions here.

use mppconf_suite::codec::{
    Challenge, Credential, EncodedJson, ProblemType, Receipt, base64url, rfc3339,
};
use mppconf_suite::methods::tempo_effects::{self, ChargeRequest, Log};
use mppconf_suite::vectors::Verdict;
use serde_json::{Value, json};

use super::{Answer, Ctx, Outcome};
use crate::chain::Rpc;

/// One check.
pub struct Check {
    /// Stable id, named after what it checks.
    pub id: &'static str,
    /// Catalogue ids of the requirements it tests.
    pub requirements: &'static [&'static str],
    /// All cited requirements are SHOULD-level: a failure is `warn`.
    pub should: bool,
    probe: Probe,
}

/// What a check does.
#[derive(Clone, Copy)]
enum Probe {
    UnpaidIs402,
    ChallengeIdNonEmpty,
    ChallengeRealm,
    ChallengeMethodLowercase,
    ChallengeRequestUnpadded,
    ChallengeRequestJcs,
    ChallengeExpires,
    UnpaidNoStore,
    UnpaidProblemDetails,
    FreshChallengePer402,
    UnknownResourceNot402,
    Malformed(Malformation),
    SeveralCredentials,
    Tamper(EchoField),
    ForgedId,
    Replay,
    Concurrency,
    ShortAmount,
    PaidReceipt,
    PlainTransferAccepted,
    NoReceiptOnError,
    CredentialNotEchoed,
    NoSecretsInErrors,
    Credential4kb,
    AcceptPaymentStill402(&'static str),
    Pull(TxMutation),
    PushShort,
    PushHashReused,
    DigestBody,
    Expired,
    Proof(ProofFlaw),
    PushForbidden,
    Fuzz,
}

/// A zero-amount proof that must not be accepted.
#[derive(Clone, Copy)]
enum ProofFlaw {
    /// Signed by another key than the `source` names.
    WrongSigner,
    /// `source` names another chain than the challenge's.
    WrongChain,
    /// Signed over another challenge id.
    OtherChallenge,
    /// A proof for a non-zero charge.
    NonZeroAmount,
}

/// A signed transaction that does not pay what the challenge asks.
#[derive(Clone, Copy)]
enum TxMutation {
    Recipient,
    Token,
    ChainId,
    Memo,
    SplitShort,
    ValidBeforeAfterExpires,
}

/// A credential that is not one, and how.
#[derive(Clone, Copy)]
enum Malformation {
    NotBase64url,
    Padded,
    StandardAlphabet,
    NotJson,
    NotAnObject,
    NoChallenge,
    NoPayload,
    OtherScheme,
    Oversized,
}

/// An echoed challenge field to alter.
#[derive(Clone, Copy)]
enum EchoField {
    Request,
    Realm,
    Expires,
    Opaque,
}

macro_rules! check {
    ($id:literal, [$($req:literal),+], $should:literal, $probe:expr) => {
        Check { id: $id, requirements: &[$($req),+], should: $should, probe: $probe }
    };
}

/// Every server check, in run order.
pub const ALL: &[Check] = &[
    check!(
        "unpaid.status-402",
        [
            "core.status.no-credential-402",
            "core.usage-402.challenge-required"
        ],
        false,
        Probe::UnpaidIs402
    ),
    check!(
        "challenge.id-non-empty",
        ["core.challenge.id-server-non-empty"],
        false,
        Probe::ChallengeIdNonEmpty
    ),
    check!(
        "challenge.realm-present",
        ["core.challenge.realm-required"],
        false,
        Probe::ChallengeRealm
    ),
    check!(
        "challenge.method-lowercase",
        ["core.challenge.method-lowercase"],
        false,
        Probe::ChallengeMethodLowercase
    ),
    check!(
        "challenge.request-unpadded",
        ["core.challenge.request-no-padding"],
        false,
        Probe::ChallengeRequestUnpadded
    ),
    check!(
        "challenge.request-jcs",
        ["core.challenge.request-jcs", "tempo-charge.request.jcs"],
        false,
        Probe::ChallengeRequestJcs
    ),
    check!(
        "challenge.expires-present",
        [
            "core.challenge.expires-recommended",
            "core.challenge.expires-rfc3339"
        ],
        true,
        Probe::ChallengeExpires
    ),
    check!(
        "unpaid.cache-no-store",
        ["core.caching.no-store-402"],
        false,
        Probe::UnpaidNoStore
    ),
    check!(
        "unpaid.problem-details",
        [
            "core.errors.problem-details",
            "core.errors.problem-type-uri"
        ],
        true,
        Probe::UnpaidProblemDetails
    ),
    check!(
        "unpaid.fresh-challenge",
        [
            "core.status.no-credential-402",
            "core.caching.challenges-not-cached"
        ],
        false,
        Probe::FreshChallengePer402
    ),
    check!(
        "unknown-resource.not-402",
        ["core.usage-402.when-not-to-return"],
        true,
        Probe::UnknownResourceNot402
    ),
    check!(
        "malformed.not-base64url",
        ["core.status.malformed-credential"],
        false,
        Probe::Malformed(Malformation::NotBase64url)
    ),
    check!(
        "malformed.padded",
        ["core.status.malformed-credential"],
        false,
        Probe::Malformed(Malformation::Padded)
    ),
    check!(
        "malformed.standard-alphabet",
        ["core.status.malformed-credential"],
        false,
        Probe::Malformed(Malformation::StandardAlphabet)
    ),
    check!(
        "malformed.not-json",
        ["core.status.malformed-credential"],
        false,
        Probe::Malformed(Malformation::NotJson)
    ),
    check!(
        "malformed.not-an-object",
        ["core.status.malformed-credential"],
        false,
        Probe::Malformed(Malformation::NotAnObject)
    ),
    check!(
        "malformed.no-challenge",
        ["core.status.malformed-credential", "core.credential.fields"],
        false,
        Probe::Malformed(Malformation::NoChallenge)
    ),
    check!(
        "malformed.no-payload",
        ["core.status.malformed-credential", "core.credential.fields"],
        false,
        Probe::Malformed(Malformation::NoPayload)
    ),
    check!(
        "malformed.other-scheme",
        ["core.status.payment-402-www-authenticate"],
        false,
        Probe::Malformed(Malformation::OtherScheme)
    ),
    check!(
        "malformed.oversized-64kb",
        [
            "core.status.malformed-credential",
            "core.credential-handling.no-logging"
        ],
        false,
        Probe::Malformed(Malformation::Oversized)
    ),
    check!(
        "several-credentials.400",
        ["core.multiple.reject-multiple-credentials"],
        true,
        Probe::SeveralCredentials
    ),
    check!(
        "tamper.request",
        ["core.binding.server-must-verify", "core.challenge.id-bound"],
        false,
        Probe::Tamper(EchoField::Request)
    ),
    check!(
        "tamper.realm",
        ["core.binding.server-must-verify", "core.challenge.id-bound"],
        false,
        Probe::Tamper(EchoField::Realm)
    ),
    check!(
        "tamper.expires",
        ["core.binding.server-should-bind"],
        true,
        Probe::Tamper(EchoField::Expires)
    ),
    check!(
        "tamper.opaque",
        ["core.challenge.opaque-bound"],
        true,
        Probe::Tamper(EchoField::Opaque)
    ),
    check!(
        "forged-id.invalid-challenge",
        [
            "core.status.invalid-challenge",
            "core.binding.server-must-verify"
        ],
        false,
        Probe::ForgedId
    ),
    check!(
        "replay.rejected",
        [
            "core.replay.proof-used-once",
            "charge.replay.credential-once",
            "core.status.invalid-challenge"
        ],
        false,
        Probe::Replay
    ),
    check!(
        "concurrency.settles-once",
        ["core.concurrency.at-most-once"],
        false,
        Probe::Concurrency
    ),
    check!(
        "pull.short-amount-rejected",
        [
            "tempo-charge.verification.transaction-checks",
            "core.status.verification-failed"
        ],
        false,
        Probe::ShortAmount
    ),
    check!(
        "paid.receipt",
        [
            "core.status.verified-200",
            "tempo-charge.receipt.must-return",
            "tempo-charge.receipt.fields",
            "core.receipt.status-success",
            "core.caching.receipt-private"
        ],
        false,
        Probe::PaidReceipt
    ),
    check!(
        "paid.plain-transfer-accepted",
        [
            "tempo-charge.transaction.transfer-call",
            "core.status.verified-200"
        ],
        true,
        Probe::PlainTransferAccepted
    ),
    check!(
        "errors.no-receipt",
        [
            "core.receipt.no-receipt-on-error",
            "tempo-charge.receipt.no-receipt-on-error"
        ],
        false,
        Probe::NoReceiptOnError
    ),
    check!(
        "errors.credential-not-echoed",
        ["core.credential-handling.no-logging"],
        false,
        Probe::CredentialNotEchoed
    ),
    check!(
        "errors.no-secrets",
        ["core.secret.no-logging"],
        true,
        Probe::NoSecretsInErrors
    ),
    check!(
        "size.4kb-credential-accepted",
        [
            "core.size.server-4kb-credential",
            "core.versioning.ignore-unknown"
        ],
        false,
        Probe::Credential4kb
    ),
    check!(
        "accept-payment.exact",
        [
            "core.accept-payment.consider",
            "core.usage-402.challenge-required"
        ],
        false,
        Probe::AcceptPaymentStill402("tempo/charge")
    ),
    check!(
        "accept-payment.wildcard",
        [
            "core.accept-payment.weight-semantics",
            "core.usage-402.challenge-required"
        ],
        false,
        Probe::AcceptPaymentStill402("*/*;q=0.5")
    ),
    check!(
        "accept-payment.no-match",
        [
            "core.accept-payment.no-match-may-ignore",
            "core.usage-402.challenge-required"
        ],
        false,
        Probe::AcceptPaymentStill402("nomethod/charge")
    ),
    check!(
        "accept-payment.malformed",
        [
            "core.accept-payment.malformed-may-ignore",
            "core.usage-402.challenge-required"
        ],
        false,
        Probe::AcceptPaymentStill402("tempo;;q=abc, ,/")
    ),
    check!(
        "pull.wrong-recipient-rejected",
        [
            "tempo-charge.verification.transaction-checks",
            "charge.verification.server-checks"
        ],
        false,
        Probe::Pull(TxMutation::Recipient)
    ),
    check!(
        "pull.wrong-token-rejected",
        [
            "tempo-charge.verification.transaction-checks",
            "tempo-charge.splits.same-currency"
        ],
        false,
        Probe::Pull(TxMutation::Token)
    ),
    check!(
        "pull.wrong-chain-rejected",
        ["tempo-charge.verification.transaction-checks"],
        false,
        Probe::Pull(TxMutation::ChainId)
    ),
    check!(
        "pull.wrong-memo-rejected",
        ["tempo-charge.verification.transaction-checks"],
        false,
        Probe::Pull(TxMutation::Memo)
    ),
    check!(
        "pull.short-split-rejected",
        ["tempo-charge.verification.transaction-checks"],
        false,
        Probe::Pull(TxMutation::SplitShort)
    ),
    check!(
        "pull.valid-before-after-expires",
        ["tempo-charge.transaction.valid-before-expires"],
        true,
        Probe::Pull(TxMutation::ValidBeforeAfterExpires)
    ),
    check!(
        "push.short-amount-rejected",
        ["tempo-charge.verification.hash-transfer-logs"],
        false,
        Probe::PushShort
    ),
    check!(
        "push.hash-reused-rejected",
        [
            "charge.replay.credential-once",
            "core.replay.proof-used-once"
        ],
        true,
        Probe::PushHashReused
    ),
    check!(
        "digest.other-body-rejected",
        ["core.digest.server-verifies"],
        false,
        Probe::DigestBody
    ),
    check!(
        "expiry.expired-rejected",
        [
            "core.status.invalid-challenge",
            "charge.verification.server-checks"
        ],
        false,
        Probe::Expired
    ),
    check!(
        "fuzz.bounded",
        [
            "core.status.malformed-credential",
            "core.usage-402.challenge-required",
            "core.credential-handling.no-logging"
        ],
        false,
        Probe::Fuzz
    ),
    check!(
        "proof.wrong-signer-rejected",
        ["tempo-charge.proof.server-verifies"],
        false,
        Probe::Proof(ProofFlaw::WrongSigner)
    ),
    check!(
        "proof.wrong-chain-rejected",
        ["tempo-charge.proof.server-verifies"],
        false,
        Probe::Proof(ProofFlaw::WrongChain)
    ),
    check!(
        "proof.other-challenge-rejected",
        [
            "tempo-charge.proof.server-verifies",
            "tempo-charge.proof.eip712-domain"
        ],
        false,
        Probe::Proof(ProofFlaw::OtherChallenge)
    ),
    check!(
        "proof.non-zero-amount-rejected",
        ["tempo-charge.proof.zero-amount-only"],
        false,
        Probe::Proof(ProofFlaw::NonZeroAmount)
    ),
    check!(
        "push.forbidden-rejected",
        [
            "tempo-charge.hash.no-hash-with-fee-payer-server",
            "tempo-charge.hash.no-hash-without-push-server",
            "tempo-charge.verification.hash-push-allowed"
        ],
        false,
        Probe::PushForbidden
    ),
];

/// The bounded fuzzing pass inside the suite: fixed seed, so a run is
/// reproducible.
pub const FUZZ_SEED: u64 = 402;
const FUZZ_REQUESTS: usize = 150;

/// The longest the expiry check waits for a challenge to expire.
const MAX_EXPIRY_WAIT_SECS: i64 = 15;

/// Runs one check.
pub async fn run(check: &Check, ctx: &Ctx) -> Outcome {
    match probe(check.probe, ctx).await {
        Ok(outcome) | Err(outcome) => outcome,
    }
}

/// `?` on a transport failure gives an `error` outcome.
fn transport(e: String) -> Outcome {
    Outcome::error(format!("no usable answer from the server: {e}"))
}

async fn unpaid(ctx: &Ctx) -> Result<Answer, Outcome> {
    ctx.send(&[], None).await.map_err(transport)
}

/// The first Payment challenge of an unpaid 402, or why there is none
/// (such checks are `blocked` by `unpaid.status-402`).
async fn unpaid_challenge(ctx: &Ctx) -> Result<(Answer, Challenge), Outcome> {
    let answer = unpaid(ctx).await?;
    let first = answer.challenges().into_iter().next();
    match first {
        Some(Ok(c)) => Ok((answer, c)),
        Some(Err(e)) => Err(Outcome {
            verdict: Verdict::Blocked,
            detail: format!("the challenge does not parse ({e}); the challenge.* checks say why"),
        }),
        None => Err(Outcome {
            verdict: Verdict::Blocked,
            detail: format!(
                "no Payment challenge on the unpaid answer ({}), see unpaid.status-402",
                answer.status
            ),
        }),
    }
}

/// The raw parameters of the first Payment challenge, for checks that
/// must see what the strict codec would refuse.
async fn raw_params(ctx: &Ctx) -> Result<Vec<(String, String)>, Outcome> {
    let answer = unpaid(ctx).await?;
    for field in answer.challenge_fields() {
        if let Ok(challenges) = mppconf_suite::codec::auth_params::parse_field(&field)
            && let Some(p) = challenges
                .iter()
                .find(|c| c.scheme.eq_ignore_ascii_case("payment"))
        {
            return Ok(p
                .params
                .iter()
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect());
        }
    }
    Err(Outcome {
        verdict: Verdict::Blocked,
        detail: "no Payment challenge to read, see unpaid.status-402".into(),
    })
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// What every rejected credential must get: 402, a fresh parseable
/// Payment challenge and (if `problem` is given) that problem type.
/// Receipts, caching and echoes on errors have checks of their own, so
/// that one defect fails one check.
fn rejection(answer: &Answer, problem: Option<ProblemType>, issued: Option<&str>) -> Outcome {
    if (200..300).contains(&answer.status) {
        return Outcome::fail(
            "402 Payment Required",
            format!("{}: access granted to a bad credential", answer.status),
        );
    }
    if answer.status >= 500 {
        return Outcome::fail(
            "402 Payment Required",
            format!("{} server error", answer.status),
        );
    }
    if answer.status != 402 {
        return Outcome::fail("402 Payment Required", answer.status);
    }
    // A fresh challenge must be there; whether it is well formed is the
    // challenge.* checks' business.
    let fresh_id = answer.challenge_fields().iter().find_map(|f| {
        let challenges = mppconf_suite::codec::auth_params::parse_field(f).ok()?;
        let payment = challenges
            .into_iter()
            .find(|c| c.scheme.eq_ignore_ascii_case("payment"))?;
        Some(
            payment
                .params
                .into_iter()
                .find(|p| p.name == "id")
                .map(|p| p.value)
                .unwrap_or_default(),
        )
    });
    let Some(fresh_id) = fresh_id else {
        return Outcome::fail("a fresh Payment challenge with the 402", "none");
    };
    if issued.is_some_and(|id| id == fresh_id) {
        return Outcome::fail(
            "a fresh challenge",
            format!("the same challenge id {fresh_id} again"),
        );
    }
    if let Some(want) = problem {
        let got = answer.problem().and_then(|p| p.problem_type());
        if got != Some(want) {
            return Outcome::fail(
                format!("problem type {}", want.uri()),
                got.map_or_else(
                    || {
                        format!(
                            "body {:?}",
                            answer.body.chars().take(200).collect::<String>()
                        )
                    },
                    |t| t.uri(),
                ),
            );
        }
    }
    Outcome::pass(format!(
        "rejected with 402 and a fresh challenge {fresh_id:?}"
    ))
}

async fn send_credential(ctx: &Ctx, header: &str) -> Result<Answer, Outcome> {
    ctx.send(&[header], None).await.map_err(transport)
}

async fn valid(ctx: &Ctx) -> Result<(Challenge, Credential), Outcome> {
    ctx.valid_credential().await.map_err(|e| Outcome {
        verdict: Verdict::Blocked,
        detail: e,
    })
}

/// Sends a credential that must be refused: the answer must be a
/// rejection (see [`rejection`]) and, when the harness sees the server's
/// chain calls, nothing may have been broadcast for it.
async fn refused_unbroadcast(
    ctx: &Ctx,
    header: &str,
    problem: Option<ProblemType>,
) -> Result<Outcome, Outcome> {
    let outcome = rejection(&send_credential(ctx, header).await?, problem, None);
    if outcome.verdict == Verdict::Pass {
        nothing_broadcast(ctx)?;
    }
    Ok(outcome)
}

/// The server broadcast nothing (when the harness sees its chain calls).
fn nothing_broadcast(ctx: &Ctx) -> Result<(), Outcome> {
    let Some(proxy) = &ctx.proxy else {
        return Ok(());
    };
    let sent = proxy.broadcasts();
    if sent.is_empty() {
        Ok(())
    } else {
        Err(Outcome::fail(
            "nothing broadcast for a rejected credential",
            format!("{} transaction(s) broadcast", sent.len()),
        ))
    }
}

async fn probe(p: Probe, ctx: &Ctx) -> Result<Outcome, Outcome> {
    Ok(match p {
        Probe::UnpaidIs402 => {
            let a = unpaid(ctx).await?;
            let challenges = a.challenges();
            if a.status != 402 {
                Outcome::fail("402 for an unpaid request", a.status)
            } else if challenges.is_empty() {
                Outcome::fail(
                    "at least one Payment challenge in WWW-Authenticate",
                    format!("{:?}", a.challenge_fields()),
                )
            } else {
                Outcome::pass(format!(
                    "402 with {} Payment challenge(s)",
                    challenges.len()
                ))
            }
        }
        Probe::ChallengeIdNonEmpty => match param(&raw_params(ctx).await?, "id") {
            Some(id) if !id.is_empty() => Outcome::pass(format!("id {id}")),
            other => Outcome::fail("a non-empty id", format!("{other:?}")),
        },
        Probe::ChallengeRealm => match param(&raw_params(ctx).await?, "realm") {
            Some(r) => Outcome::pass(format!("realm {r:?}")),
            None => Outcome::fail("a realm parameter", "none"),
        },
        Probe::ChallengeMethodLowercase => match param(&raw_params(ctx).await?, "method") {
            Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_lowercase()) => {
                Outcome::pass(m)
            }
            other => Outcome::fail("method of lowercase letters", format!("{other:?}")),
        },
        Probe::ChallengeRequestUnpadded => match param(&raw_params(ctx).await?, "request") {
            Some(r) if r.contains('=') => Outcome::fail("request without = padding", r),
            Some(_) => Outcome::pass("no padding"),
            None => Outcome::fail("a request parameter", "none"),
        },
        Probe::ChallengeRequestJcs => {
            let params = raw_params(ctx).await?;
            let Some(wire) = param(&params, "request") else {
                return Ok(Outcome::fail("a request parameter", "none"));
            };
            let text = base64url::decode_text("request", wire.trim_end_matches('='))
                .map_err(|e| Outcome::fail("base64url request", e))?;
            match mppconf_suite::codec::json::canonicalize_text(&text) {
                Ok(canonical) if canonical == text => Outcome::pass("request is JCS"),
                Ok(canonical) => Outcome::fail(format!("JCS text {canonical}"), text),
                Err(e) => Outcome::fail("request JSON", e),
            }
        }
        Probe::ChallengeExpires => {
            let params = raw_params(ctx).await?;
            match param(&params, "expires") {
                None => Outcome::fail("an expires parameter", "none"),
                Some(e) => match rfc3339::parse("expires", e) {
                    Ok(_) => Outcome::pass(e),
                    Err(err) => Outcome::fail("an RFC 3339 date-time", err),
                },
            }
        }
        Probe::UnpaidNoStore => {
            let a = unpaid(ctx).await?;
            let cc = a
                .header("cache-control")
                .unwrap_or_default()
                .to_ascii_lowercase();
            if cc.split(',').any(|d| d.trim() == "no-store") {
                Outcome::pass(format!("Cache-Control: {cc}"))
            } else {
                Outcome::fail(
                    "Cache-Control: no-store on a 402",
                    format!("{:?}", a.header("cache-control")),
                )
            }
        }
        Probe::UnpaidProblemDetails => {
            let a = unpaid(ctx).await?;
            match a.problem() {
                Some(p) if p.problem_type() == Some(ProblemType::PaymentRequired) => {
                    Outcome::pass(p.type_uri)
                }
                Some(p) => Outcome::fail(ProblemType::PaymentRequired.uri(), p.type_uri),
                None => Outcome::fail(
                    "a problem+json body",
                    format!("{:?}", a.body.chars().take(200).collect::<String>()),
                ),
            }
        }
        Probe::FreshChallengePer402 => {
            let (_, first) = unpaid_challenge(ctx).await?;
            let (_, second) = unpaid_challenge(ctx).await?;
            if first.id == second.id {
                Outcome::fail(
                    "a fresh challenge id for each 402",
                    format!("{} twice", first.id),
                )
            } else {
                Outcome::pass("two 402s, two ids")
            }
        }
        Probe::UnknownResourceNot402 => {
            let url = format!(
                "{}/mppconf-no-such-resource-{}",
                ctx.target.base_url,
                std::process::id()
            );
            let a = ctx
                .request(reqwest::Method::GET, &url, &[], None, &[])
                .await
                .map_err(transport)?;
            if a.status == 402 {
                Outcome::fail("404 (not 402) for a resource that does not exist", 402)
            } else {
                Outcome::pass(format!("{}", a.status))
            }
        }
        Probe::Malformed(m) => {
            // Echo a real challenge where the defect is elsewhere, so that
            // the defect is the only reason to refuse.
            let echo = match m {
                Malformation::NoPayload | Malformation::Padded => {
                    ctx.fresh_challenge().await.ok().map(|c| echo_json(&c))
                }
                _ => None,
            };
            let (header, want) = malformed(m, echo);
            let a = match ctx.send(&[&header], None).await {
                Ok(a) => a,
                Err(e) => match (m, ctx.last_status()) {
                    // Above the 4 KB minimum a server may refuse the size.
                    (Malformation::Oversized, Some(s @ (413 | 431))) => {
                        return Ok(Outcome::pass(format!(
                            "refused as too large ({s}), which the 4 KB minimum allows"
                        )));
                    }
                    _ => return Err(transport(e)),
                },
            };
            if matches!(m, Malformation::Oversized) && matches!(a.status, 413 | 431) {
                return Ok(Outcome::pass(format!(
                    "refused as too large ({}), which the 4 KB minimum allows",
                    a.status
                )));
            }
            let strict = rejection(&a, want, None);
            let loose = rejection(&a, None, None);
            // A problem about the credential's content (not payment-required,
            // not none) shows the server read past the padding.
            let read_past_padding = a
                .problem()
                .and_then(|p| p.problem_type())
                .is_none_or(|t| t != ProblemType::PaymentRequired)
                && a.problem().is_some();
            if matches!(m, Malformation::Padded)
                && strict.verdict == Verdict::Fail
                && loose.verdict == Verdict::Pass
                && read_past_padding
            {
                let problem = a.problem().map(|p| p.type_uri).unwrap_or_default();
                Outcome {
                    verdict: Verdict::Lenient,
                    detail: format!(
                        "read the padded credential (base64url-nopad forbids padding; ambiguity.padding lets receivers accept it) and refused it as {problem}"
                    ),
                }
            } else {
                strict
            }
        }
        Probe::SeveralCredentials => {
            let (_, credential) = valid(ctx).await?;
            let header = credential.to_header();
            let a = ctx
                .send(&[&header, &header], None)
                .await
                .map_err(transport)?;
            if a.status == 400 {
                Outcome::pass("400")
            } else {
                Outcome::fail("400 for two Payment credentials", a.status)
            }
        }
        Probe::Tamper(field) => {
            let (_, mut credential) = valid(ctx).await?;
            let echo = &mut credential.challenge;
            match field {
                EchoField::Request => {
                    let mut v = echo.request.value.clone();
                    v["amount"] = "1".into();
                    echo.request = EncodedJson::canonical(v);
                }
                EchoField::Realm => echo.realm.push_str(".tampered"),
                EchoField::Expires => echo.expires = Some("2999-12-31T23:59:59Z".into()),
                EchoField::Opaque => {
                    echo.opaque = Some(EncodedJson::canonical(json!({"tampered": "1"})))
                }
            }
            refused_unbroadcast(ctx, &credential.to_header(), None).await?
        }
        Probe::ForgedId => {
            let (_, mut credential) = valid(ctx).await?;
            credential.challenge.id = "mppconf-forged-challenge-id".into();
            refused_unbroadcast(
                ctx,
                &credential.to_header(),
                Some(ProblemType::InvalidChallenge),
            )
            .await?
        }
        Probe::Replay => {
            let (challenge, credential) = valid(ctx).await?;
            let header = credential.to_header();
            let first = send_credential(ctx, &header).await?;
            if !(200..300).contains(&first.status) {
                return Err(Outcome {
                    verdict: Verdict::Blocked,
                    detail: format!(
                        "a valid credential was refused ({}), see paid.receipt",
                        first.status
                    ),
                });
            }
            let second = send_credential(ctx, &header).await?;
            rejection(
                &second,
                Some(ProblemType::InvalidChallenge),
                Some(&challenge.id),
            )
        }
        Probe::Concurrency => {
            let (challenge, credential) = valid(ctx).await?;
            let request = ChargeRequest::from_json(&challenge.request.value)
                .map_err(|e| Outcome::error(format!("the challenge request: {e}")))?;
            let rpc = Rpc::new(&ctx.target.rpc_url);
            let before =
                crate::reference::tx::balance_of(&rpc, request.currency, request.recipient)
                    .await
                    .map_err(|e| Outcome::error(e.to_string()))?;
            let header = credential.to_header();
            let auth = [header.as_str()];
            let sends = (0..6).map(|_| ctx.send(&auth, None));
            let answers = futures::future::join_all(sends).await;
            let granted = answers
                .iter()
                .filter(|a| a.as_ref().is_ok_and(|a| (200..300).contains(&a.status)))
                .count();
            let after = crate::reference::tx::balance_of(&rpc, request.currency, request.recipient)
                .await
                .map_err(|e| Outcome::error(e.to_string()))?;
            let primary = request.required_transfers()[0].amount;
            let paid_times = if primary.is_zero() {
                0
            } else {
                ((after - before) / primary).to::<u64>()
            };
            if granted != 1 {
                Outcome::fail(
                    "exactly one 2xx for six copies of one credential",
                    format!("{granted}"),
                )
            } else if paid_times > 1 {
                Outcome::fail(
                    "at most one settlement",
                    format!("the recipient was paid {paid_times} times"),
                )
            } else {
                Outcome::pass("one 2xx, one settlement")
            }
        }
        Probe::ShortAmount => {
            let mut opts = ctx.pay_options();
            opts.deviations
                .insert(crate::reference::client::Deviation::ShortAmount);
            let challenge = ctx.fresh_challenge().await.map_err(|e| Outcome {
                verdict: Verdict::Blocked,
                detail: e,
            })?;
            if ChargeRequest::from_json(&challenge.request.value).is_ok_and(|r| r.amount.is_zero())
            {
                return Ok(Outcome::skip("a zero-amount charge has no transaction"));
            }
            let credential = crate::reference::client::credential_for(&challenge, &opts)
                .await
                .map_err(|e| Outcome {
                    verdict: Verdict::Blocked,
                    detail: format!("no payable challenge to build a short credential for: {e}"),
                })?;
            refused_unbroadcast(ctx, &credential.to_header(), None).await?
        }
        Probe::PaidReceipt => {
            let (challenge, credential) = valid(ctx).await?;
            let a = send_credential(ctx, &credential.to_header()).await?;
            paid_receipt(ctx, &challenge, &a).await
        }
        Probe::PlainTransferAccepted => {
            let challenge = ctx.fresh_challenge().await.map_err(|e| Outcome {
                verdict: Verdict::Blocked,
                detail: e,
            })?;
            let request = ChargeRequest::from_json(&challenge.request.value)
                .map_err(|e| Outcome::error(format!("the challenge request: {e}")))?;
            if request.amount.is_zero() {
                return Ok(Outcome::skip(
                    "a zero-amount charge takes a proof, not a transfer",
                ));
            }
            if request.memo.is_some() {
                return Ok(Outcome::skip(
                    "the challenge asks for a memo: a plain transfer is not the payment",
                ));
            }
            // Without the attribution memo the run may otherwise add.
            let mut opts = ctx.pay_options();
            opts.attribution_memo = false;
            let credential = crate::reference::client::credential_for(&challenge, &opts)
                .await
                .map_err(|e| Outcome {
                    verdict: Verdict::Blocked,
                    detail: format!("cannot build a valid credential: {e}"),
                })?;
            let a = send_credential(ctx, &credential.to_header()).await?;
            if (200..300).contains(&a.status) {
                Outcome::pass("a payment by plain transfer (no memo asked, none sent) was accepted")
            } else {
                Outcome::fail(
                    "2xx for a payment by transfer(recipient, amount): the request asks for no memo",
                    format!(
                        "{} {} (ambiguity.server-required-memo: the drafts do not say a server may demand a memo it did not ask for, so this is warn)",
                        a.status,
                        a.body.chars().take(300).collect::<String>()
                    ),
                )
            }
        }
        Probe::NoSecretsInErrors => {
            let mut leaks = Vec::new();
            // The chain endpoints the server may know: ours, and the proxy's.
            let mut endpoints = vec![ctx.target.rpc_url.clone()];
            if let Some(p) = &ctx.proxy {
                endpoints.push(p.url());
            }
            let hosts: Vec<String> = endpoints
                .iter()
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
                if a.body.contains(&ctx.payer.to_bytes().to_string()[2..]) {
                    leaks.push("a private key".into());
                }
            }
            if leaks.is_empty() {
                Outcome::pass("no RPC endpoint or key in error bodies")
            } else {
                Outcome::fail("no secrets in error details", leaks.join("; "))
            }
        }
        Probe::Credential4kb => {
            let (_, mut credential) = valid(ctx).await?;
            credential
                .unknown
                .insert("mppconf_padding".into(), "x".repeat(4096).into());
            let header = credential.to_header();
            let a = send_credential(ctx, &header).await?;
            if (200..300).contains(&a.status) {
                Outcome::pass(format!(
                    "a {}-byte credential with an unknown member was accepted",
                    header.len()
                ))
            } else {
                Outcome::fail(
                    format!(
                        "2xx for a valid {}-byte credential with an unknown member",
                        header.len()
                    ),
                    format!(
                        "{} {}",
                        a.status,
                        a.body.chars().take(200).collect::<String>()
                    ),
                )
            }
        }
        Probe::AcceptPaymentStill402(value) => {
            let a = ctx
                .send_with(&[], None, &[("accept-payment", value)])
                .await
                .map_err(transport)?;
            if a.status == 402 && !a.challenges().is_empty() {
                Outcome::pass(format!("402 with a challenge for Accept-Payment: {value}"))
            } else {
                Outcome::fail(
                    format!("402 with at least one Payment challenge for Accept-Payment: {value}"),
                    format!("{} with {} challenge(s)", a.status, a.challenges().len()),
                )
            }
        }
        Probe::Pull(m) => {
            let challenge = ctx.fresh_challenge().await.map_err(|e| Outcome {
                verdict: Verdict::Blocked,
                detail: e,
            })?;
            let header = mutated_pull(ctx, &challenge, m).await?;
            refused_unbroadcast(ctx, &header, None).await?
        }
        Probe::PushShort => {
            let challenge = push_challenge(ctx).await?;
            let hash = broadcast_payment(ctx, &challenge, true).await?;
            let header = hash_credential(&challenge, &hash);
            rejection(&send_credential(ctx, &header).await?, None, None)
        }
        Probe::PushHashReused => {
            let first = push_challenge(ctx).await?;
            let hash = broadcast_payment(ctx, &first, false).await?;
            let paid = send_credential(ctx, &hash_credential(&first, &hash)).await?;
            if !(200..300).contains(&paid.status) {
                return Err(Outcome {
                    verdict: Verdict::Blocked,
                    detail: format!("a valid push payment was refused ({})", paid.status),
                });
            }
            let second = push_challenge(ctx).await?;
            let header = hash_credential(&second, &hash);
            rejection(&send_credential(ctx, &header).await?, None, None)
        }
        Probe::DigestBody => {
            let Some(body) = ctx.target.body.clone() else {
                return Ok(Outcome::skip(
                    "the resource takes no body (give --data to test body binding)",
                ));
            };
            let (challenge, credential) = valid(ctx).await?;
            if challenge.digest.is_none() {
                return Ok(Outcome::skip(
                    "the challenge has no digest (core.challenge.digest-recommended is a SHOULD)",
                ));
            }
            let mut other = body;
            other.extend_from_slice(b" ");
            let header = credential.to_header();
            let a = ctx
                .send(&[&header], Some(&other))
                .await
                .map_err(transport)?;
            rejection(&a, None, None)
        }
        Probe::Expired => {
            let (challenge, credential) = valid(ctx).await?;
            let Some(expires) = challenge
                .expires
                .as_deref()
                .and_then(|e| rfc3339::parse("expires", e).ok())
            else {
                return Ok(Outcome::skip("the challenge has no expires"));
            };
            let wait = expires.timestamp() + 1 - crate::reference::tx::unix_now() as i64;
            if wait > MAX_EXPIRY_WAIT_SECS {
                return Ok(Outcome::skip(format!(
                    "the challenge expires in {wait} s; the suite waits at most {MAX_EXPIRY_WAIT_SECS} s (give a resource with a shorter expiry)"
                )));
            }
            ctx.pause(std::time::Duration::from_secs(wait.max(0) as u64))
                .await;
            refused_unbroadcast(ctx, &credential.to_header(), None).await?
        }
        Probe::Proof(flaw) => {
            let challenge = ctx.fresh_challenge().await.map_err(|e| Outcome {
                verdict: Verdict::Blocked,
                detail: e,
            })?;
            let request = ChargeRequest::from_json(&challenge.request.value)
                .map_err(|e| Outcome::error(format!("the challenge request: {e}")))?;
            let zero = request.amount.is_zero();
            if zero == matches!(flaw, ProofFlaw::NonZeroAmount) {
                return Ok(Outcome::skip(if zero {
                    "a zero-amount charge: a proof is what it asks for"
                } else {
                    "the charge is not zero: it takes no proof"
                }));
            }
            let signer = &ctx.payer;
            let (signed_id, chain, key) = match flaw {
                ProofFlaw::WrongSigner => (
                    challenge.id.clone(),
                    request.chain_id,
                    alloy::signers::local::PrivateKeySigner::random(),
                ),
                ProofFlaw::WrongChain => {
                    (challenge.id.clone(), request.chain_id + 1, signer.clone())
                }
                ProofFlaw::OtherChallenge => (
                    "mppconf-another-challenge".to_string(),
                    request.chain_id,
                    signer.clone(),
                ),
                ProofFlaw::NonZeroAmount => {
                    (challenge.id.clone(), request.chain_id, signer.clone())
                }
            };
            let signature = crate::reference::tx::sign_proof(&signed_id, chain, &key)
                .map_err(|e| Outcome::error(e.to_string()))?;
            let credential = Credential {
                challenge: mppconf_suite::codec::EchoedChallenge::echo_of(&challenge),
                payload: json!({"type": "proof", "signature": signature})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                source: Some(format!("did:pkh:eip155:{chain}:{}", signer.address())),
                unknown: Default::default(),
            };
            let header = credential.to_header();
            rejection(&send_credential(ctx, &header).await?, None, None)
        }
        Probe::PushForbidden => {
            let challenge = ctx.fresh_challenge().await.map_err(|e| Outcome {
                verdict: Verdict::Blocked,
                detail: e,
            })?;
            let request = ChargeRequest::from_json(&challenge.request.value)
                .map_err(|e| Outcome::error(format!("the challenge request: {e}")))?;
            if request.amount.is_zero() || (!request.fee_payer && request.allows_mode("push")) {
                return Ok(Outcome::skip("the challenge allows push mode"));
            }
            // Pay it on chain for real, so only the mode is wrong.
            let hash = broadcast_payment(ctx, &challenge, false).await?;
            let header = hash_credential(&challenge, &hash);
            rejection(&send_credential(ctx, &header).await?, None, None)
        }
        Probe::Fuzz => {
            let report = super::fuzz::fuzz(ctx, FUZZ_SEED, FUZZ_REQUESTS, 3)
                .await
                .map_err(|e| Outcome {
                    verdict: Verdict::Blocked,
                    detail: e,
                })?;
            match report.findings.first() {
                None => Outcome::pass(format!(
                    "{} mutated credentials (seed {}): no 2xx, no 5xx, no 402 without a challenge, no echo, none slower than {:?}",
                    report.requests,
                    report.seed,
                    super::fuzz::SLOW
                )),
                Some(f) => Outcome::fail(
                    "no mutated credential breaks the oracle",
                    format!(
                        "{:?} ({}) for {:?} (shrunk from {} bytes; seed {}, request {}; `mppconf fuzz server --seed` reproduces it)",
                        f.violation, f.status, f.header, f.original_length, f.seed, f.index
                    ),
                ),
            }
        }
        Probe::CredentialNotEchoed => {
            let (header, _) = malformed(Malformation::NoPayload, None);
            let a = send_credential(ctx, &header).await?;
            let token = header.trim_start_matches("Payment ");
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
            }
        }
        Probe::NoReceiptOnError => {
            let mut seen = Vec::new();
            for header in [None, Some("Payment e30")] {
                let a = ctx.send(header.as_slice(), None).await.map_err(transport)?;
                if a.header("payment-receipt").is_some() {
                    seen.push(a.status);
                }
            }
            if seen.is_empty() {
                Outcome::pass("no receipt on the unpaid and malformed answers")
            } else {
                Outcome::fail(
                    "no Payment-Receipt on an error response",
                    format!("receipts on {seen:?}"),
                )
            }
        }
    })
}

/// A successful paid answer: 2xx, `Cache-Control: private`, a receipt
/// whose reference is a mined transaction paying the request.
async fn paid_receipt(ctx: &Ctx, challenge: &Challenge, a: &Answer) -> Outcome {
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
    if receipt.method != challenge.method {
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
    let Ok(request) = ChargeRequest::from_json(&challenge.request.value) else {
        return Outcome::error("the challenge's request is not a tempo charge request");
    };
    if request.amount.is_zero() {
        return if receipt.reference == challenge.id {
            Outcome::pass("proof receipt referencing the challenge id")
        } else {
            Outcome::fail(format!("reference {}", challenge.id), receipt.reference)
        };
    }
    let rpc = Rpc::new(&ctx.target.rpc_url);
    let mined = match rpc
        .call("eth_getTransactionReceipt", json!([receipt.reference]))
        .await
    {
        Ok(v) => v,
        Err(e) => return Outcome::error(format!("reading the reference from the chain: {e}")),
    };
    if mined.is_null() || mined["status"] != "0x1" {
        return Outcome::fail(
            "reference = a mined, successful transaction",
            format!("{}: {}", receipt.reference, mined),
        );
    }
    let logs: Vec<Log> = mined["logs"]
        .as_array()
        .map(|l| l.iter().filter_map(Log::from_json).collect())
        .unwrap_or_default();
    match tempo_effects::verify(
        &request.required_transfers(),
        &tempo_effects::effects_of_logs(&logs, request.currency),
        "tempo-charge.settlement.receipt-reference-digest",
    ) {
        Ok(()) => Outcome::pass(format!("receipt {} pays the request", receipt.reference)),
        Err(e) => Outcome::fail("the reference's logs pay the request", e),
    }
}

/// The `challenge` member a credential for `c` carries.
pub(crate) fn echo_json(c: &Challenge) -> Value {
    Credential {
        challenge: mppconf_suite::codec::EchoedChallenge::echo_of(c),
        payload: Default::default(),
        source: None,
        unknown: Default::default(),
    }
    .to_json()["challenge"]
        .clone()
}

fn malformed(m: Malformation, echo: Option<Value>) -> (String, Option<ProblemType>) {
    let b64 = |v: Value| base64url::encode(v.to_string());
    let challenge = echo.unwrap_or_else(
        || json!({"id": "x", "realm": "r", "method": "tempo", "intent": "charge", "request": "e30"}),
    );
    let want = Some(ProblemType::MalformedCredential);
    match m {
        Malformation::NotBase64url => ("Payment not-valid!!!".into(), want),
        Malformation::Padded => (
            format!(
                "Payment {}",
                padded(json!({"challenge": challenge, "payload": {}}))
            ),
            want,
        ),
        Malformation::StandardAlphabet => ("Payment eyJh+/+/IjoxfQ".into(), want),
        Malformation::NotJson => (format!("Payment {}", base64url::encode("not json")), want),
        Malformation::NotAnObject => (format!("Payment {}", base64url::encode("[]")), want),
        Malformation::NoChallenge => (format!("Payment {}", b64(json!({"payload": {}}))), want),
        Malformation::NoPayload => (
            format!("Payment {}", b64(json!({"challenge": challenge}))),
            want,
        ),
        // Another scheme is no Payment credential at all: a fresh 402,
        // whatever the problem type.
        Malformation::OtherScheme => ("Bearer mppconf-not-a-payment-credential".into(), None),
        Malformation::Oversized => (
            format!(
                "Payment {}",
                b64(json!({"payload": {}, "pad": "x".repeat(64 * 1024)}))
            ),
            want,
        ),
    }
}

/// base64url of the JSON with `=` padding (the JSON is grown by a space
/// until its encoding needs some).
fn padded(v: Value) -> String {
    let mut text = v.to_string();
    while text.len().is_multiple_of(3) {
        text.push(' ');
    }
    let mut out = base64url::encode(&text);
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// A credential for `challenge` whose transaction is changed by `m`
/// (skipped where the challenge has nothing to change).
async fn mutated_pull(ctx: &Ctx, challenge: &Challenge, m: TxMutation) -> Result<String, Outcome> {
    use crate::reference::tx::{self, PaymentPlan};
    let request = ChargeRequest::from_json(&challenge.request.value)
        .map_err(|e| Outcome::error(format!("the challenge request: {e}")))?;
    if request.amount.is_zero() {
        return Err(Outcome::skip("a zero-amount charge has no transaction"));
    }
    let rpc = Rpc::new(&ctx.target.rpc_url);
    let (max_fee, priority) = tx::fee_params(&rpc)
        .await
        .map_err(|e| Outcome::error(e.to_string()))?;
    let expires = challenge
        .expires
        .as_deref()
        .and_then(|e| rfc3339::parse("expires", e).ok())
        .map_or(u64::MAX, |t| t.timestamp().max(0) as u64);
    let mut plan = PaymentPlan {
        chain_id: request.chain_id,
        valid_before: expires.min(tx::unix_now() + 25),
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: priority,
        fee_token: (!request.fee_payer).then_some(request.currency),
    };
    let mut transfers = request.required_transfers();
    let mut currency = request.currency;
    match m {
        TxMutation::Recipient => transfers[0].to = alloy::primitives::Address::random(),
        // AlphaUSD instead of the requested token.
        TxMutation::Token => {
            currency = alloy::primitives::address!("20c0000000000000000000000000000000000001")
        }
        TxMutation::ChainId => plan.chain_id += 1,
        TxMutation::Memo => match transfers[0].memo {
            Some(memo) => transfers[0].memo = Some(!memo),
            None => return Err(Outcome::skip("the challenge asks for no memo")),
        },
        TxMutation::SplitShort => match transfers.get_mut(1) {
            Some(split) => split.amount -= alloy::primitives::U256::from(1),
            None => return Err(Outcome::skip("the challenge has no splits")),
        },
        TxMutation::ValidBeforeAfterExpires => {
            if expires == u64::MAX {
                return Err(Outcome::skip("the challenge has no expires"));
            }
            plan.valid_before = expires + 60;
        }
    }
    let calls = transfers
        .iter()
        .map(|t| tempo_alloy::primitives::transaction::Call {
            to: alloy::primitives::TxKind::Call(currency),
            value: alloy::primitives::U256::ZERO,
            input: tempo_effects::transfer_calldata(t.to, t.amount, t.memo).into(),
        })
        .collect();
    let signed =
        tx::sign_payment(calls, &plan, &ctx.payer).map_err(|e| Outcome::error(e.to_string()))?;
    let payload =
        json!({"type": "transaction", "signature": alloy::primitives::Bytes::from(signed.raw)});
    Ok(Credential {
        challenge: mppconf_suite::codec::EchoedChallenge::echo_of(challenge),
        payload: payload.as_object().cloned().unwrap_or_default(),
        source: None,
        unknown: Default::default(),
    }
    .to_header())
}

/// A fresh challenge that allows push mode, or a skip.
async fn push_challenge(ctx: &Ctx) -> Result<Challenge, Outcome> {
    let challenge = ctx.fresh_challenge().await.map_err(|e| Outcome {
        verdict: Verdict::Blocked,
        detail: e,
    })?;
    let request = ChargeRequest::from_json(&challenge.request.value)
        .map_err(|e| Outcome::error(format!("the challenge request: {e}")))?;
    if request.amount.is_zero() || request.fee_payer || !request.allows_mode("push") {
        return Err(Outcome::skip(
            "the challenge does not offer push mode (zero amount, feePayer, or supportedModes)",
        ));
    }
    Ok(challenge)
}

/// Pays `challenge` on chain from the payer (one unit short if asked);
/// returns the mined transaction hash.
async fn broadcast_payment(
    ctx: &Ctx,
    challenge: &Challenge,
    short: bool,
) -> Result<String, Outcome> {
    use crate::reference::tx::{self, PaymentPlan};
    let request = ChargeRequest::from_json(&challenge.request.value)
        .map_err(|e| Outcome::error(e.to_string()))?;
    let rpc = Rpc::new(&ctx.target.rpc_url);
    let (max_fee, priority) = tx::fee_params(&rpc)
        .await
        .map_err(|e| Outcome::error(e.to_string()))?;
    let mut transfers = request.required_transfers();
    if short {
        transfers[0].amount -= alloy::primitives::U256::from(1);
    }
    if ctx.attribution_memo() && transfers[0].memo.is_none() {
        transfers[0].memo = Some(crate::reference::client::attribution_memo(
            &challenge.realm,
            &challenge.id,
        ));
    }
    let calls = transfers
        .iter()
        .map(|t| tempo_alloy::primitives::transaction::Call {
            to: alloy::primitives::TxKind::Call(request.currency),
            value: alloy::primitives::U256::ZERO,
            input: tempo_effects::transfer_calldata(t.to, t.amount, t.memo).into(),
        })
        .collect();
    let plan = PaymentPlan {
        chain_id: request.chain_id,
        valid_before: tx::unix_now() + 25,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: priority,
        fee_token: Some(request.currency),
    };
    let signed =
        tx::sign_payment(calls, &plan, &ctx.payer).map_err(|e| Outcome::error(e.to_string()))?;
    let receipt = rpc
        .call(
            "eth_sendRawTransactionSync",
            json!([alloy::primitives::Bytes::from(signed.raw)]),
        )
        .await
        .map_err(|e| Outcome::error(format!("broadcasting the push payment: {e}")))?;
    if receipt["status"] != "0x1" {
        return Err(Outcome::error(format!(
            "the push payment reverted: {receipt}"
        )));
    }
    Ok(signed.hash.to_string())
}

fn hash_credential(challenge: &Challenge, hash: &str) -> String {
    Credential {
        challenge: mppconf_suite::codec::EchoedChallenge::echo_of(challenge),
        payload: json!({"type": "hash", "hash": hash})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        source: None,
        unknown: Default::default(),
    }
    .to_header()
}
