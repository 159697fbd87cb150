//! The server suite: black-box checks of an MPP server, filed by spec.
//!
//! - [`core`]: draft-httpauth-payment-00, for a server of any method;
//! - [`charge`]: draft-payment-intent-charge-00, the charge intent;
//! - [`tempo_charge`]: draft-tempo-charge-00, the Tempo charge method;
//! - [`discovery`]: draft-payment-discovery-00, the server's OpenAPI
//!   discovery document (for a server of any method).
//!
//! A [`Target`] is a running server and one protected resource on it; a
//! [`Ctx`] adds the means to pay (the resource's payment method as a
//! plug-in, [`crate::methods`], or the user's payer program,
//! [`crate::payer`]) and to see what the server did on chain (the
//! recording proxy, when the harness started the server). Each check
//! ([`Check`]) names its requirements; every HTTP exchange it makes is
//! kept as evidence, with credentials redacted. [`command`] is
//! `mppconf server`, [`fuzz`] the oracle-judged fuzzing of live servers,
//! [`manifest`] the server target manifests.

pub mod charge;
mod check;
pub mod command;
pub mod core;
mod ctx;
pub mod discovery;
pub mod evm_charge;
pub mod evm_session;
mod exchange;
pub mod fuzz;
pub mod manifest;
pub mod method_rules;
pub(crate) mod reference_run;
mod resource_run;
pub mod restart;
pub mod subscription;
pub mod tempo_charge;
pub mod tempo_session;
pub mod tempo_subscription;

pub use check::{Check, fresh_ids};
pub(crate) use check::{blocked, transport};
pub use core::declared::Probes;
pub use ctx::{ANSWER_TIMEOUT, BODY_LIMIT, Ctx, Payer, no_payer};
pub use exchange::{Answer, Exchange, Outcome, Target};

use mppconf_suite::drafts::CoreDraft;
use std::time::{Duration, Instant};

use mppconf_suite::vectors::Verdict;
use serde::Serialize;

use crate::chain::proxy::RpcRecord;
use crate::methods::PaymentMethod;
use crate::report::progress::{Shown, Watch};

/// One check's result, with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub requirements: Vec<&'static str>,
    pub verdict: Verdict,
    pub detail: String,
    pub millis: f64,
    /// Of `millis`, the deliberate waits (see [`Ctx::pause`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub paused_millis: f64,
    pub exchanges: Vec<Exchange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc: Option<Vec<RpcRecord>>,
}

impl Shown for CheckResult {
    fn id(&self) -> &str {
        self.id
    }
    fn verdict(&self) -> Verdict {
        self.verdict
    }
    fn millis(&self) -> f64 {
        self.millis
    }
}

/// Milliseconds to the microsecond, for evidence and timing.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// Where a run's time went: in the target (waiting for its answers), in
/// deliberate waits, and in the harness (its checks' own work, including
/// its chain calls, and set-up: chain, target start, payer funding).
#[derive(Debug, Default, Clone, Copy)]
pub struct Timing {
    pub total: Duration,
    pub in_checks: Duration,
    pub answers: Duration,
    pub paused: Duration,
}

impl Timing {
    pub fn of(results: &[&CheckResult], total: Duration) -> Self {
        let ms = |x: f64| Duration::from_secs_f64(x / 1e3);
        Timing {
            total,
            in_checks: results.iter().map(|r| ms(r.millis)).sum(),
            answers: results
                .iter()
                .flat_map(|r| &r.exchanges)
                .map(|e| ms(e.millis))
                .sum(),
            paused: results.iter().map(|r| ms(r.paused_millis)).sum(),
        }
    }

    /// The harness's own time: everything but the target's answers and
    /// the deliberate waits.
    pub fn harness(&self) -> Duration {
        self.total.saturating_sub(self.answers + self.paused)
    }

    pub fn setup(&self) -> Duration {
        self.total.saturating_sub(self.in_checks)
    }
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let active = self.total.saturating_sub(self.paused).as_secs_f64();
        let share = if active > 0.0 {
            100.0 * self.harness().as_secs_f64() / active
        } else {
            0.0
        };
        write!(
            f,
            "{:.2}s: target answers {:.2}s, deliberate waits {:.2}s, harness {:.2}s ({share:.0}% of the time not spent waiting on purpose; set-up {:.2}s of it)",
            self.total.as_secs_f64(),
            self.answers.as_secs_f64(),
            self.paused.as_secs_f64(),
            self.harness().as_secs_f64(),
            self.setup().as_secs_f64(),
        )
    }
}

/// The checks that judge a resource of `method` (the plug-in, if built
/// in, and the challenges' method name) and `intent`: the core ones, the
/// intent's, the method's own when it is built in, and its request rules
/// when it has a rule file, in run order.
pub fn checks_for(
    method: Option<&dyn PaymentMethod>,
    method_name: &str,
    intent: &str,
    draft: CoreDraft,
) -> Vec<&'static Check> {
    let mut all: Vec<&'static Check> = core::CHECKS.iter().collect();
    if draft.has_header_param() {
        all.extend(core::header::CHECKS);
    }
    if intent == "charge" {
        all.extend(charge::CHECKS);
    }
    if let Some(m) = method {
        all.extend(m.server_checks());
    }
    if method_rules::applies(method_name, intent) {
        all.push(&method_rules::CHECK);
    }
    if method_rules::has_broken_payloads(method_name, intent) {
        all.push(&method_rules::REFUSES_BROKEN);
    }
    if (method_name, intent) == ("lightning", "charge") {
        all.push(&method_rules::FRESH_INVOICE_CHECK);
    }
    all.extend(discovery::CHECKS);
    all
}

/// Every server check of every spec, once (e.g. to list or select them).
pub fn all_checks() -> Vec<&'static Check> {
    let mut all: Vec<&'static Check> = core::CHECKS
        .iter()
        .chain(core::header::CHECKS)
        .chain(charge::CHECKS)
        .collect();
    for m in crate::methods::BUILTIN {
        all.extend(m.server_checks());
    }
    all.push(&method_rules::CHECK);
    all.push(&method_rules::REFUSES_BROKEN);
    all.push(&method_rules::FRESH_INVOICE_CHECK);
    all.extend(discovery::CHECKS);
    all
}

/// The requirements a check cites against this resource: its own, and
/// what its intent's and method's specs add (see
/// [`PaymentMethod::also_cites`]).
fn cited(check: &Check, ctx: &Ctx) -> Vec<&'static str> {
    let mut requirements = check.requirements.to_vec();
    match ctx.intent.as_str() {
        "charge" => requirements.extend(charge::also_cites(check.id)),
        "subscription" => requirements.extend(subscription::also_cites(check.id)),
        _ => {}
    }
    if let Some(m) = ctx.method {
        requirements.extend(m.also_cites(check.id));
    }
    if check.id == method_rules::REQUEST_RULES {
        requirements.extend(method_rules::cited(&ctx.method_name, &ctx.intent));
    }
    if check.id == method_rules::BROKEN_PAYLOADS {
        requirements.extend(method_rules::refused_cited(&ctx.method_name, &ctx.intent));
    }
    requirements
}

/// The raw parameters of the first Payment challenge of an answer, as
/// they came (no strict parsing: what a check of the syntax judges).
pub fn first_raw_params(answer: &Answer) -> Option<Vec<(String, String)>> {
    answer.challenge_fields().iter().find_map(|field| {
        let challenges = mppconf_suite::codec::auth_params::parse_field(field).ok()?;
        let p = challenges
            .iter()
            .find(|c| c.scheme.eq_ignore_ascii_case("payment"))?;
        Some(
            p.params
                .iter()
                .map(|p| (p.name.to_string(), p.value.to_string()))
                .collect(),
        )
    })
}

/// Runs every selected check that judges the contexts' resource; the
/// results come in the suite's order whatever order they finished in.
///
/// With one context the checks run one after another. With several
/// (forks of one, [`Ctx::fork`], each paying from its own account) each
/// context runs one check at a time, so as many checks run at once as
/// there are contexts; a check marked [`Check::alone`] waits until no
/// other runs, and none starts beside it. `progress` sees each result as
/// it comes.
pub async fn run_all(
    ctxs: &[Ctx],
    selection: &crate::report::Selection,
    progress: &mut (impl Watch<CheckResult> + Send),
) -> Vec<CheckResult> {
    let Some(first) = ctxs.first() else {
        return Vec::new();
    };
    let checks: Vec<&'static Check> =
        checks_for(first.method, &first.method_name, &first.intent, first.core)
            .into_iter()
            .enumerate()
            .filter(|(n, check)| selection.selects(*n, check.id))
            .map(|(_, check)| check)
            .collect();
    // The long ones start first, so that the others fill their time.
    let mut order: Vec<usize> = (0..checks.len()).collect();
    if ctxs.len() > 1 {
        order.sort_by_key(|&i| !STARTS_FIRST.contains(&checks[i].id));
    }
    progress.planned(checks.len());
    let progress = std::sync::Mutex::new(progress);
    let slots = std::sync::Mutex::new(vec![None; checks.len()]);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let alone = tokio::sync::RwLock::new(());
    let shared = Shared {
        checks: &checks,
        order: &order,
        progress: &progress,
        slots: &slots,
        next: &next,
        alone: &alone,
    };
    futures::future::join_all(ctxs.iter().map(|ctx| worker(ctx, &shared))).await;
    slots
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// Checks that wait on purpose (outlasting a challenge's `expires`) or
/// send many requests: with concurrent contexts they start first.
const STARTS_FIRST: [&str; 2] = ["expiry.expired-rejected", "fuzz.bounded"];

/// What the contexts of one run share: the checks, the next one to take,
/// where the results go, and the lock that keeps an `alone` check alone.
struct Shared<'a, F> {
    checks: &'a [&'static Check],
    /// The order the checks start in (indexes into `checks`).
    order: &'a [usize],
    progress: &'a std::sync::Mutex<F>,
    slots: &'a std::sync::Mutex<Vec<Option<CheckResult>>>,
    next: &'a std::sync::atomic::AtomicUsize,
    alone: &'a tokio::sync::RwLock<()>,
}

/// One context's loop: take the next check, run it, file its result.
async fn worker<W: Watch<CheckResult>>(ctx: &Ctx, shared: &Shared<'_, &mut W>) {
    loop {
        let n = shared
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(&i) = shared.order.get(n) else {
            break;
        };
        let check = shared.checks[i];
        let result = if check.alone {
            let _only = shared.alone.write().await;
            run_one(ctx, check).await
        } else {
            let _beside = shared.alone.read().await;
            run_one(ctx, check).await
        };
        if let Ok(mut p) = shared.progress.lock() {
            p.finished(&result);
        }
        if let Ok(mut slots) = shared.slots.lock() {
            slots[i] = Some(result);
        }
    }
}

/// Runs one check on a context and judges what it left behind: lost
/// answers, leaked secrets, challenges read leniently, SHOULD-level
/// failures.
async fn run_one(ctx: &Ctx, check: &Check) -> CheckResult {
    ctx.take_evidence();
    ctx.take_rpc();
    ctx.take_paused();
    ctx.take_tolerated();
    ctx.take_leaks();
    let start = Instant::now();
    let not_applicable = ctx.method.and_then(|m| m.not_applicable(check.id));
    let outcome = tokio::select! {
        o = async {
            match not_applicable {
                Some(why) => Ok(Outcome::skip(why)),
                None => tokio::time::timeout(Duration::from_secs(60), (check.run)(ctx)).await,
            }
        } => match o {
            Ok(o) => o,
            Err(_) => Outcome::error("the check did not finish within 60 s"),
        },
        // Cancelled: it did not run to a verdict.
        _ = crate::interrupt::wait() => {
            ctx.take_evidence();
            ctx.take_tolerated();
            ctx.take_refusals_judged();
            let why = crate::interrupt::reason().unwrap_or_default();
            return not_run(check, ctx, &why);
        }
    };
    let exchanges = ctx.take_evidence();
    let mut outcome = if ctx.take_refusals_judged() {
        outcome
    } else {
        unanswered(outcome, &exchanges)
    };
    // A secret, or the check's own credential material, in any answer
    // fails the check that saw it (core.secret.no-logging,
    // core.credential-handling.no-logging).
    let leaks = ctx.take_leaks();
    if !leaks.is_empty() && !matches!(outcome.verdict, Verdict::Fail | Verdict::Error) {
        outcome = Outcome::fail(
            "no secret or credential material in any answer",
            leaks.join("; "),
        );
    }
    let tolerated = ctx.take_tolerated();
    if !tolerated.is_empty() && outcome.verdict != Verdict::Skip {
        outcome.detail.push_str(&format!(
            "\n(went on with a challenge read leniently: {}; the challenge.* checks judge that)",
            tolerated.join("; ")
        ));
    }
    // A SHOULD that is not met warns; it fails only under --strict.
    let verdict = match (outcome.verdict, check.should) {
        (Verdict::Fail, true) => Verdict::Warn,
        (v, _) => v,
    };
    CheckResult {
        id: check.id,
        requirements: cited(check, ctx),
        verdict,
        detail: outcome.detail,
        millis: millis(start.elapsed()),
        paused_millis: millis(ctx.take_paused()),
        exchanges,
        rpc: ctx.take_rpc(),
    }
}

/// The record of a check an interrupt kept from running.
fn not_run(check: &Check, ctx: &Ctx, why: &str) -> CheckResult {
    CheckResult {
        id: check.id,
        requirements: cited(check, ctx),
        verdict: Verdict::Skip,
        detail: format!("not run: {why}"),
        millis: 0.0,
        paused_millis: 0.0,
        exchanges: Vec::new(),
        rpc: None,
    }
}

/// A check one of whose exchanges got no usable answer decided nothing
/// about the server: it is `error`, whatever it concluded without that
/// answer (`blocked` for a missing challenge, `fail` from the answers that
/// did come), and the reason says what went wrong. A `pass` or `skip`
/// stands: a check passes on a lost exchange only when it judged what did
/// come (e.g. a 431 status line for an oversized credential).
fn unanswered(outcome: Outcome, exchanges: &[Exchange]) -> Outcome {
    let lost: Vec<&str> = exchanges
        .iter()
        .filter_map(|e| e.error.as_deref())
        .collect();
    let Some(first) = lost.first() else {
        return outcome;
    };
    if matches!(
        outcome.verdict,
        Verdict::Error | Verdict::Pass | Verdict::Skip
    ) {
        return outcome;
    }
    let mut why = format!("no usable answer from the server: {first}");
    if lost.len() > 1 {
        why.push_str(&format!(
            " ({} exchanges of {} lost)",
            lost.len(),
            exchanges.len()
        ));
    }
    if !outcome.detail.contains(first) {
        why.push_str(&format!(
            "\nWithout it the check concluded {}: {}",
            outcome.verdict.as_str(),
            outcome.detail
        ));
    }
    Outcome::error(why)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_check_has_one_id_and_cites_catalogued_requirements_for_every_method() {
        let catalogue = mppconf_suite::catalogue::Catalogue::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../vectors"
        )))
        .unwrap();
        let mut ids = BTreeSet::new();
        for check in all_checks() {
            assert!(ids.insert(check.id), "{} twice", check.id);
            let mut cited: Vec<&str> = check.requirements.to_vec();
            cited.extend(charge::also_cites(check.id));
            cited.extend(subscription::also_cites(check.id));
            for m in crate::methods::BUILTIN {
                cited.extend(m.also_cites(check.id));
            }
            // The rule checks cite what the rule files stand for.
            for file in mppconf_suite::methods::rules::all() {
                let (method, intent) = (file.method.as_str(), file.intent.as_str());
                let own = match check.id {
                    method_rules::REQUEST_RULES => method_rules::cited(method, intent),
                    method_rules::BROKEN_PAYLOADS
                        if method_rules::has_broken_payloads(method, intent) =>
                    {
                        method_rules::refused_cited(method, intent)
                    }
                    method_rules::BROKEN_PAYLOADS => continue,
                    _ => break,
                };
                assert!(
                    !own.is_empty(),
                    "{}: {} cites nothing",
                    check.id,
                    file.docname
                );
                cited.extend(own);
            }
            assert!(!cited.is_empty(), "{} cites nothing", check.id);
            for r in cited {
                assert!(catalogue.find(r).is_some(), "{}: unknown {r}", check.id);
            }
        }
    }

    /// A newcomer reading a requirement finds its check from the section
    /// heading: every check module's first doc line names its draft and
    /// sections, and a check's requirement ids name its spec's module.
    #[test]
    fn check_modules_name_their_draft_and_checks_sit_in_their_spec_module() {
        let sources = [
            ("core/challenge.rs", "draft-httpauth-payment-00 §"),
            ("core/credential.rs", "draft-httpauth-payment-00 §"),
            ("core/receipt.rs", "draft-httpauth-payment-00 §"),
            ("core/mod.rs", "draft-httpauth-payment-00 "),
            ("core/header.rs", "draft-httpauth-payment-01 §"),
            ("discovery.rs", "draft-payment-discovery-00 §"),
            ("charge.rs", "draft-payment-intent-charge-00 §"),
            ("tempo_charge.rs", "draft-tempo-charge-00 §"),
            ("tempo_session/mod.rs", "draft-tempo-session-00 §"),
            ("tempo_subscription.rs", "draft-tempo-subscription-00 §"),
            ("subscription.rs", "draft-payment-intent-subscription-00 §"),
            ("tempo_session/stream.rs", "draft-tempo-session-00 §"),
        ];
        for (file, opening) in sources {
            let text = std::fs::read_to_string(format!(
                "{}/src/server_suite/{file}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            assert!(text.starts_with(&format!("//! {opening}")), "{file}");
        }
        for check in core::CHECKS {
            assert!(
                check.requirements.iter().all(|r| r.starts_with("core.")),
                "core check {} cites another spec: the method or intent adds its own",
                check.id
            );
        }
        // A method's check judges its spec, or its intent's rule as the
        // method makes it (e.g. a reused push hash).
        for check in tempo_charge::CHECKS {
            assert!(
                check
                    .requirements
                    .iter()
                    .any(|r| r.starts_with("tempo-charge.") || r.starts_with("charge.")),
                "{}",
                check.id
            );
        }
        for check in tempo_session::CHECKS {
            assert!(
                check
                    .requirements
                    .iter()
                    .all(|r| r.starts_with("tempo-session.")),
                "{}",
                check.id
            );
        }
        for check in tempo_subscription::CHECKS {
            assert!(
                check
                    .requirements
                    .iter()
                    .all(|r| r.starts_with("tempo-subscription.")),
                "{}",
                check.id
            );
        }
    }
}
