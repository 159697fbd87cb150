//! The main job's target: the reference server (with its deliberate
//! deviations) on mppconf's own chain behind the recording proxy, and the
//! resources it is probed on, so that every check has something to check.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;

use super::command::{FEE_PAYER_KEY, Naming, Paying, Run, others_than, probe_resource};
use super::{CheckResult, Target};
use crate::chain::{Anvil, AnvilConfig, RpcProxy};
use crate::error::Result;
use crate::reference::server::{self, Deviation, RouteConfig, ServerConfig};
use crate::report::Selection;

/// One resource of the reference run and the body it is requested with.
pub struct ReferenceResource {
    pub route: RouteConfig,
    pub body: Option<&'static str>,
}

/// What the reference run probes for a payment method (`tempo` or
/// `stub`), so that every check has something to check.
pub fn reference_resources(payment_method: &str) -> Vec<ReferenceResource> {
    if payment_method == "stub" {
        return stub_resources();
    }
    tempo_resources()
}

/// Stub: a POST whose body a digest binds, with an expiry short enough to
/// wait out.
fn stub_resources() -> Vec<ReferenceResource> {
    vec![ReferenceResource {
        route: RouteConfig {
            method: "POST".into(),
            expires_in: 6,
            ..RouteConfig::stub("/paid", "1000", &Address::random().to_string())
        },
        body: Some("{\"report\":\"monthly\"}"),
    }]
}

/// Tempo charge: a POST with memo, split and externalId (its body bound by a digest,
/// and an expiry short enough to wait out), a zero-amount resource
/// (proofs), and a sponsored pull-only one (push forbidden).
fn tempo_resources() -> Vec<ReferenceResource> {
    let merchant = Address::random().to_string();
    vec![
        ReferenceResource {
            route: RouteConfig {
                method: "POST".into(),
                memo: Some(format!("0x{}", "42".repeat(32))),
                splits: vec![crate::reference::server::SplitConfig {
                    amount: "100".into(),
                    recipient: Address::random().to_string(),
                    memo: None,
                }],
                // Short enough for the expiry check to wait it out, long
                // enough for a transaction valid until expires (T4 wants
                // validBefore > now + 3 s).
                expires_in: 6,
                external_id: Some("mppconf-order-42".into()),
                ..RouteConfig::new("/paid", "1000", &merchant)
            },
            body: Some("{\"report\":\"monthly\"}"),
        },
        ReferenceResource {
            route: RouteConfig::new("/free", "0", &merchant),
            body: None,
        },
        ReferenceResource {
            route: RouteConfig {
                fee_payer: true,
                supported_modes: Some(vec!["pull".into()]),
                ..RouteConfig::new("/sponsored", "2500", &merchant)
            },
            body: None,
        },
    ]
}

/// The reference server with `routes` and `deviations` on mppconf's own
/// chain, settling through the recording proxy.
pub(super) async fn start_reference(
    routes: Vec<RouteConfig>,
    deviations: &BTreeSet<Deviation>,
) -> Result<(Anvil, Arc<RpcProxy>, server::Server)> {
    let chain = Anvil::start(&AnvilConfig::default()).await?;
    let proxy = Arc::new(RpcProxy::start(&chain.rpc_url, Duration::from_secs(5)).await?);
    let config = ServerConfig {
        realm: "mppconf.reference".into(),
        secret: alloy::primitives::B256::random().0.to_vec(),
        rpc_url: proxy.url(),
        chain_id: chain.chain_id,
        fee_payer_key: Some(FEE_PAYER_KEY.into()),
        routes,
        deviations: deviations.clone(),
        choices: Default::default(),
    };
    let server = server::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    Ok((chain, proxy, server))
}

/// The reference server (with `deviations`) on mppconf's own chain,
/// behind the recording proxy, probed on every reference resource of
/// Tempo charge.
pub async fn run_reference(
    deviations: &BTreeSet<Deviation>,
    selection: &Selection,
    progress: impl FnMut(&CheckResult),
) -> Result<Vec<Run>> {
    run_reference_method("tempo", deviations, selection, progress).await
}

/// [`run_reference`] for the reference resources of a payment method.
pub async fn run_reference_method(
    payment_method: &str,
    deviations: &BTreeSet<Deviation>,
    selection: &Selection,
    mut progress: impl FnMut(&CheckResult),
) -> Result<Vec<Run>> {
    let resources = reference_resources(payment_method);
    let routes = resources.iter().map(|r| r.route.clone()).collect();
    let (chain, proxy, server) = start_reference(routes, deviations).await?;
    let names: Vec<String> = deviations.iter().map(|d| d.name()).collect();
    let label = if names.is_empty() {
        "mppconf serve (reference)".to_string()
    } else {
        format!("mppconf serve (reference, deviating: {})", names.join(", "))
    };
    let reproduce = std::iter::once("mppconf server --reference".to_string())
        .chain((payment_method != "tempo").then(|| format!("--payment-method {payment_method}")))
        .chain(names.iter().map(|n| format!("--deviate {n}")))
        .collect::<Vec<_>>()
        .join(" ");
    let targets: Vec<Target> = resources
        .iter()
        .map(|r| Target {
            base_url: server.url(),
            path: r.route.path.clone(),
            method: r.route.method.clone(),
            body: r.body.map(|b| b.as_bytes().to_vec()),
            rpc_url: chain.rpc_url.clone(),
        })
        .collect();
    let mut runs = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        runs.push(
            probe_resource(
                Naming {
                    label: &label,
                    reproduce: &reproduce,
                },
                target.clone(),
                others_than(&targets, i),
                Some(proxy.clone()),
                Paying {
                    // Configured like the SDK servers that demand the memo.
                    attribution_memo: deviations.contains(&Deviation::RequireAttributionMemo),
                    ..Paying::default()
                },
                selection,
                &mut progress,
            )
            .await?,
        );
    }
    Ok(runs)
}
