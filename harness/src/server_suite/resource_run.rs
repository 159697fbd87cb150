//! One resource of a server under the suite: what its challenge says
//! (method, intent), who pays for it, the contexts its checks run in
//! (one per `--jobs`, each with its own funded account) and its run.

use mppconf_suite::drafts::CoreDraft;
use std::sync::Arc;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use mppconf_suite::vectors::Verdict;

use super::command::{Discovered, Run, discover};
use super::{CheckResult, Ctx, Target};
use crate::chain::anvil::PATH_USD;
use crate::chain::{Rpc, RpcProxy};
use crate::error::{Error, Result};
use crate::payer::ExternalPayer;
use crate::reference::tx;
use crate::report::Selection;
use crate::report::progress::Watch;

/// What a run is called in reports, and the command that reruns it.
pub(super) struct Naming<'a> {
    pub(super) label: &'a str,
    pub(super) reproduce: &'a str,
}

/// How the checks of a resource pay: a funded key (or a fresh payer),
/// mppx's attribution memo, the user's payer program.
#[derive(Default)]
pub(super) struct Paying<'a> {
    pub(super) payer_key: Option<&'a str>,
    pub(super) attribution_memo: bool,
    pub(super) payer: Option<&'a Arc<ExternalPayer>>,
    /// Texts no answer may contain, each with what it is.
    pub(super) secrets: Vec<(String, String)>,
    /// The server's declared routes (the first resource's run only).
    pub(super) probes: Option<super::Probes>,
    /// The server's challenge-binding secret, when known.
    pub(super) hmac_secret: Option<Vec<u8>>,
    /// The core draft the run judges against.
    pub(super) core: CoreDraft,
    /// The discovery document the server declares (its path), if any.
    pub(super) discovery: Option<String>,
    /// The server's first resource: server-wide checks (the discovery
    /// document) are judged with it.
    pub(super) first: bool,
    /// How to restart the server, when the harness started it.
    pub(super) restart: Option<Arc<dyn super::restart::Restart>>,
}

/// Probes one resource with a fresh funded payer (or the given key),
/// and as many more as `--jobs` asks for.
pub(super) async fn probe_resource(
    naming: Naming<'_>,
    target: Target,
    others: Vec<Target>,
    proxy: Option<Arc<RpcProxy>>,
    paying: Paying<'_>,
    selection: &Selection,
    progress: &mut (impl Watch<CheckResult> + Send),
) -> Result<Run> {
    let Paying {
        payer_key,
        attribution_memo,
        payer,
        mut secrets,
        probes,
        hmac_secret,
        core,
        discovery,
        first,
        restart,
    } = paying;
    let Discovered {
        method: method_name,
        intent,
        header,
        currency,
        ..
    } = discover(&target).await?;
    let method = crate::methods::builtin(&method_name, &intent);
    if let Some(p) = payer
        && !p.pays(&method_name)
    {
        return Err(Error::Usage(format!(
            "payer {} does not pay method {method_name} (its manifest's `methods`), which {} {} asks for",
            p.name(),
            target.method,
            target.url()
        )));
    }
    let on_chain = !target.rpc_url.is_empty();
    let account = match payer_key {
        Some(k) => tx::signer_from_key(k, "--payer-key")?,
        None => fresh_account(&target.rpc_url, &method_name, currency.as_deref())
            .await
            .map_err(|e| {
                Error::Usage(format!(
                    "cannot fund a payer on {} ({e}); give --payer-key of a funded account",
                    target.rpc_url
                ))
            })?,
    };
    let resource = format!("{} {}", target.method, target.url());
    let subject = format!("{} {}", target.method, target.path);
    let chain = if on_chain {
        format!(" on {}", target.rpc_url)
    } else {
        String::new()
    };
    // The chain endpoints the server knows (path and query included,
    // where API keys live).
    for url in [
        Some(target.rpc_url.clone()),
        proxy.as_ref().map(|p| p.url()),
    ]
    .into_iter()
    .flatten()
    .filter(|u| !u.is_empty())
    {
        let bare = url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string();
        secrets.push(("the RPC endpoint".into(), bare));
    }
    let rpc_url = target.rpc_url.clone();
    let mut ctx = Ctx::new(target, account, proxy)
        .with_others(others)
        .with_probes(probes)
        .with_hmac_secret(hmac_secret)
        .with_core(core, header.as_deref())
        .with_discovery(discovery, first)
        .with_secrets(secrets)
        .with_attribution_memo(attribution_memo)
        .with_method(&method_name, &intent)
        .with_restart(restart);
    let mut label = naming.label.to_string();
    match (payer, method) {
        (Some(p), _) => {
            ctx = ctx.with_payer(super::Payer::External(p.clone()));
            label.push_str(&format!(" [method: {method_name}, paid by {}]", p.name()));
        }
        (None, Some(m)) if m.evidence() == crate::methods::Evidence::None => {
            label.push_str(&format!(" [method: {}]", m.label()));
        }
        _ => {}
    }
    crate::outln!("mppconf server suite: {label}: {resource} ({method_name}/{intent}){chain}");
    let jobs = selection.jobs.max(1);
    let mut ctxs = Vec::with_capacity(jobs);
    let alone = match (payer_key, payer) {
        _ if jobs == 1 => None,
        (Some(_), _) => Some("--payer-key is one account"),
        (_, Some(_)) => Some("a payer program pays from its own account"),
        _ => None,
    };
    if let Some(why) = alone {
        crate::outln!(
            "checks run one after another ({why}; --jobs {jobs} needs an account per job)"
        );
    } else {
        for _ in 1..jobs {
            let account = fresh_account(&rpc_url, &method_name, currency.as_deref())
                .await
                .map_err(|e| Error::Setup(format!("cannot fund a payer on {rpc_url}: {e}")))?;
            ctxs.push(ctx.fork(account));
        }
    }
    ctxs.insert(0, ctx);
    let mut results = super::run_all(&ctxs, selection, progress).await;
    if method.is_none() && selection.selects(usize::MAX, UNSUPPORTED_METHOD) {
        results.push(unsupported_method(&ctxs[0], payer.map(|p| p.name())));
    }
    Ok(Run {
        label,
        resource,
        subject,
        reproduce: naming.reproduce.to_string(),
        results,
        core,
    })
}

/// The id of the record that stands for the own checks of a method
/// mppconf has no plug-in for.
pub const UNSUPPORTED_METHOD: &str = "method.unsupported";

/// A method without a plug-in: its own checks (payload, settlement) do
/// not run, and the report says so rather than leave them out unseen. For
/// a method judged by data whose draft has requirements only its live
/// rail can judge (`needs-rail`), the record cites them: each shows as
/// `skip` with the rail it needs.
fn unsupported_method(ctx: &Ctx, payer: Option<&str>) -> CheckResult {
    let rail_requirements =
        mppconf_suite::methods::rules::server_rail_requirements(&ctx.method_name, &ctx.intent);
    let mut rails: Vec<&str> = rail_requirements.iter().map(|(_, rail)| *rail).collect();
    rails.sort_unstable();
    rails.dedup();
    let detail = match (payer, rails.is_empty()) {
        (None, true) => super::no_payer(&ctx.method_name),
        (Some(p), true) => format!(
            "no built-in support for method {}: its own checks (payload schema, settlement) do not run; the core and intent checks paid through payer {p}",
            ctx.method_name
        ),
        (None, false) => format!(
            "needs a live {}: give --payer and the rail's test credentials (no built-in support for method {}; its request rules and broken-payload refusals ran without the rail, its {} money-moving requirements did not)",
            rails.join(", a live "),
            ctx.method_name,
            rail_requirements.len()
        ),
        (Some(p), false) => format!(
            "needs a live {}: the core and intent checks paid through payer {p}, but mppconf has no check of the {} {} requirements only the rail can judge (settlement, refunds, receipts of settled payments)",
            rails.join(", a live "),
            rail_requirements.len(),
            ctx.method_name
        ),
    };
    CheckResult {
        id: UNSUPPORTED_METHOD,
        requirements: rail_requirements.iter().map(|(id, _)| *id).collect(),
        verdict: Verdict::Skip,
        detail,
        millis: 0.0,
        paused_millis: 0.0,
        exchanges: Vec::new(),
        rpc: None,
    }
}

/// A new paying account, funded on the chain at `rpc_url` (none: the
/// account is never used to pay, so it is only a key).
async fn fresh_account(
    rpc_url: &str,
    method: &str,
    currency: Option<&str>,
) -> Result<PrivateKeySigner> {
    if rpc_url.is_empty() {
        return Ok(PrivateKeySigner::random());
    }
    // EVM charge pays in the challenge's ERC-20, with gas and Permit2's
    // approval.
    if method == "evm"
        && let Some(currency) = currency.and_then(|c| c.parse::<Address>().ok())
    {
        return crate::methods::evm_charge::fresh_payer(rpc_url, currency).await;
    }
    let token: Address = PATH_USD.parse().unwrap_or_default();
    tx::fresh_payer(&Rpc::new(rpc_url), token, U256::from(10_000_000_000u64)).await
}
