//! What a server check is, and the steps many checks share: a fresh
//! challenge, a valid credential, the answer every rejection must have.
//! The checks themselves are filed by spec: [`super::core`],
//! [`super::charge`], [`super::tempo_charge`].

use futures::future::BoxFuture;
use mppconf_suite::codec::{Challenge, Credential, EchoedChallenge, ProblemType};
use mppconf_suite::vectors::Verdict;
use serde_json::Value;

use super::{Answer, Ctx, Outcome};

/// One check.
pub struct Check {
    /// Stable id, named after what it checks.
    pub id: &'static str,
    /// Catalogue ids of the requirements it tests (the method and intent
    /// plug-ins may add their own, see
    /// [`crate::methods::PaymentMethod::also_cites`]).
    pub requirements: &'static [&'static str],
    /// All cited requirements are SHOULD-level: a failure is `warn`.
    pub should: bool,
    /// It judges state the whole server shares (the recipient's balance,
    /// a side-effect oracle) or loads the server on purpose, so no other
    /// check may run beside it (see [`super::run_all`]).
    pub alone: bool,
    /// What it does.
    pub run: for<'a> fn(&'a Ctx) -> BoxFuture<'a, Outcome>,
}

/// A check row: `check!(id, [requirements], should, |ctx| step(ctx, …))`
/// where the step is an `async fn(&Ctx, …) -> Result<Outcome, Outcome>`
/// (`Err` ends the check early with that outcome);
/// `check!(alone id, …)` for a check no other may run beside
/// ([`Check::alone`]).
#[macro_export]
#[doc(hidden)]
macro_rules! server_check {
    (alone $id:literal, [$($req:literal),+ $(,)?], $should:literal, |$ctx:ident| $step:expr) => {
        $crate::server_suite::Check {
            alone: true,
            ..$crate::server_check!($id, [$($req),+], $should, |$ctx| $step)
        }
    };
    ($id:literal, [$($req:literal),+ $(,)?], $should:literal, |$ctx:ident| $step:expr) => {
        $crate::server_suite::Check {
            id: $id,
            requirements: &[$($req),+],
            should: $should,
            alone: false,
            run: |$ctx| Box::pin(async move {
                match $step.await {
                    Ok(o) | Err(o) => o,
                }
            }),
        }
    };
}

/// `?` on a transport failure gives an `error` outcome.
pub fn transport(e: String) -> Outcome {
    Outcome::error(format!("no usable answer from the server: {e}"))
}

pub fn blocked(detail: impl Into<String>) -> Outcome {
    Outcome {
        verdict: Verdict::Blocked,
        detail: detail.into(),
    }
}

pub async fn unpaid(ctx: &Ctx) -> Result<Answer, Outcome> {
    ctx.send(&[], None).await.map_err(transport)
}

/// The first Payment challenge of an unpaid 402, or why there is none
/// (such checks are `blocked` by `unpaid.status-402`).
pub async fn unpaid_challenge(ctx: &Ctx) -> Result<(Answer, Challenge), Outcome> {
    let answer = unpaid(ctx).await?;
    let first = match mppconf_suite::codec::challenge::parse_all_lenient(&answer.challenge_fields())
    {
        Ok(all) => all.into_iter().next(),
        Err(e) => Some(Err(e)),
    };
    match first {
        Some(Ok((c, slips))) => {
            ctx.tolerate(slips);
            Ok((answer, c))
        }
        Some(Err(e)) => Err(blocked(format!(
            "the challenge does not parse ({e}); the challenge.* checks say why"
        ))),
        None => Err(blocked(format!(
            "no Payment challenge on the unpaid answer ({}), see unpaid.status-402",
            answer.status
        ))),
    }
}

/// How long [`fresh_ids`] waits before asking a third time: past the
/// one-second precision of an RFC 3339 `expires` without fractions.
pub const CLOCK_STEP: std::time::Duration = std::time::Duration::from_millis(1100);

/// Judges two challenges asked for one after the other: each 402 (or
/// unpaid MCP call) carries a fresh one.
///
/// The recommended HMAC id is a function of the challenge's slots, so a
/// server without a nonce gives two requests within one second the same
/// challenge, id and all: by ambiguity.hmac-id-uniqueness that is no
/// reuse. A cached or reused challenge is still the same once the clock
/// has moved on, so when the two are identical the check waits
/// [`CLOCK_STEP`] and asks again (`again`). The same id on challenges that
/// differ is reuse at once. `id` reads a challenge's id.
pub async fn fresh_ids<T: PartialEq + std::fmt::Debug>(
    first: T,
    second: T,
    id: impl Fn(&T) -> &str,
    again: impl std::future::Future<Output = Result<T, Outcome>>,
) -> Result<Outcome, Outcome> {
    if id(&first) != id(&second) {
        return Ok(Outcome::pass("two challenges, two ids"));
    }
    if first != second {
        return Ok(Outcome::fail(
            "a fresh challenge id for each challenge",
            format!(
                "id {:?} on two challenges that differ: {} and {}",
                id(&first),
                shown(&first),
                shown(&second)
            ),
        ));
    }
    tokio::time::sleep(CLOCK_STEP).await;
    let third = again.await?;
    Ok(if id(&third) == id(&first) {
        Outcome::fail(
            "a fresh challenge id for each challenge",
            format!(
                "id {:?} twice, and again {} ms later: {}",
                id(&first),
                CLOCK_STEP.as_millis(),
                shown(&third)
            ),
        )
    } else {
        Outcome::pass(format!(
            "the first two challenges were identical, id and all (a deterministic id within one \
             second, ambiguity.hmac-id-uniqueness); {} ms later a new id",
            CLOCK_STEP.as_millis()
        ))
    })
}

/// A challenge as a report shows it: its first 400 characters.
fn shown(challenge: &impl std::fmt::Debug) -> String {
    let text = format!("{challenge:?}");
    match text.char_indices().nth(400) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// A fresh challenge the harness can pay, or why there is none (`blocked`).
pub async fn fresh(ctx: &Ctx) -> Result<Challenge, Outcome> {
    ctx.fresh_challenge().await.map_err(blocked)
}

/// The raw parameters of the first Payment challenge, for checks that
/// must see what the strict codec would refuse.
pub async fn raw_params(ctx: &Ctx) -> Result<Vec<(String, String)>, Outcome> {
    let answer = unpaid(ctx).await?;
    super::first_raw_params(&answer)
        .ok_or_else(|| blocked("no Payment challenge to read, see unpaid.status-402"))
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// What every rejected credential must get: 402, a fresh parseable
/// Payment challenge and (if `problem` is given) that problem type.
/// Receipts, caching and echoes on errors have checks of their own, so
/// that one defect fails one check.
pub fn rejection(answer: &Answer, problem: Option<ProblemType>, issued: Option<&str>) -> Outcome {
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
                .map(|p| p.value.into_owned())
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
        // The status table's problem type is part of its MUST row; that
        // the body is RFC 9457 problem details at all is a SHOULD
        // (core.errors.problem-details): a missing body warns, a body of
        // another problem type fails.
        if answer.problem().is_none() {
            return Outcome {
                verdict: Verdict::Warn,
                detail: format!(
                    "Expected: problem type {} in a problem details body (core.errors.problem-details: SHOULD)\nActual: a 402 with a fresh challenge {fresh_id:?} and body {:?}",
                    want.uri(),
                    answer.body.chars().take(200).collect::<String>()
                ),
            };
        }
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

pub async fn send_credential(ctx: &Ctx, header: &str) -> Result<Answer, Outcome> {
    ctx.send(&[header], None).await.map_err(transport)
}

/// A fresh challenge and a valid credential for it from the run's payer
/// (a built-in method, the user's payer program, or none: see
/// [`Ctx::valid_credential`]).
pub async fn valid(ctx: &Ctx) -> Result<(Challenge, Credential), Outcome> {
    ctx.valid_credential().await
}

/// Sends a credential that must be refused: the answer must be a
/// rejection (see [`rejection`]) and, when the harness sees the server's
/// chain calls, nothing may have been broadcast for it.
pub async fn refused_unbroadcast(
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

/// A valid credential, changed by `change`, must be refused (with
/// `problem`) and cause no broadcast (see [`refused_unbroadcast`]).
pub async fn changed_refused(
    ctx: &Ctx,
    change: impl FnOnce(&mut Credential),
    problem: Option<ProblemType>,
) -> Result<Outcome, Outcome> {
    let (_, mut credential) = valid(ctx).await?;
    change(&mut credential);
    refused_unbroadcast(ctx, &credential.to_header(), problem).await
}

/// The server broadcast nothing (when the harness sees its chain calls).
pub fn nothing_broadcast(ctx: &Ctx) -> Result<(), Outcome> {
    let Some(sent) = ctx.broadcasts() else {
        return Ok(());
    };
    if sent.is_empty() {
        Ok(())
    } else {
        Err(Outcome::fail(
            "nothing broadcast for a rejected credential",
            format!("{} transaction(s) broadcast", sent.len()),
        ))
    }
}

/// The `challenge` member a credential for `c` carries.
pub fn echo_json(c: &Challenge) -> Value {
    Credential {
        challenge: EchoedChallenge::echo_of(c),
        payload: Default::default(),
        source: None,
        unknown: Default::default(),
    }
    .to_json()["challenge"]
        .clone()
}
