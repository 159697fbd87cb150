//! The main job's target: the reference server (with its deliberate
//! deviations) on mppconf's own chain behind the recording proxy, and the
//! resources it is probed on, so that every check has something to check.

use mppconf_suite::codec::challenge::PAYMENT_AUTHORIZATION;
use mppconf_suite::drafts::CoreDraft;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;

use super::command::{FEE_PAYER_KEY, Run, others_than};
use super::resource_run::{Naming, Paying, probe_resource};
use super::restart::ReferenceRestart;
use super::{CheckResult, Target};
use crate::chain::anvil::Network;
use crate::chain::{Anvil, AnvilConfig, RpcProxy};
use crate::error::Result;
use crate::reference::server::{self, Deviation, RouteConfig, ServerConfig};
use crate::report::Selection;
use crate::report::progress::Watch;
use crate::tls::LocalCa;

/// One resource of the reference run and the body it is requested with.
pub struct ReferenceResource {
    pub route: RouteConfig,
    pub body: Option<&'static str>,
}

/// What the reference run probes for a payment method (`tempo` or
/// `stub`), so that every check has something to check.
pub fn reference_resources(payment_method: &str) -> Vec<ReferenceResource> {
    match payment_method {
        "stub" => stub_resources(),
        SESSION => session_resources(),
        SUBSCRIPTION => subscription_resources(),
        EVM | EVM_ON_TEMPO => evm_resources(),
        EVM_SESSION => evm_session_resources(),
        _ => tempo_resources(),
    }
}

/// The `--payment-method` of the Tempo session intent's reference run.
pub const SESSION: &str = "tempo-session";

/// The `--payment-method` of the Tempo subscription intent's reference
/// run.
pub const SUBSCRIPTION: &str = "tempo-subscription";

/// Tempo subscription: a daily subscription with an externalId and an
/// expiry short enough to wait out, activated with its first period's
/// charge (the server's fee payer sponsors it).
fn subscription_resources() -> Vec<ReferenceResource> {
    vec![ReferenceResource {
        route: RouteConfig {
            expires_in: 6,
            external_id: Some("mppconf-plan-pro".into()),
            ..RouteConfig::subscription("/subscription", "1000", &Address::random().to_string())
        },
        body: None,
    }]
}

/// The `--payment-method` of EVM charge's reference run.
pub const EVM: &str = "evm";

/// EVM charge's reference run on a tempo-mode anvil instead of a plain
/// one: Permit2 predeployed (draft-evm-charge-00 is chain-agnostic), gas
/// paid in a TIP-20 fee token.
pub const EVM_ON_TEMPO: &str = "evm-tempo";

/// The `--payment-method` of the EVM session intent's reference run.
pub const EVM_SESSION: &str = "evm-session";

/// EVM session: one resource on mppconf's `EvmPaymentChannel` (deployed
/// by [`start_reference`]) in mppconf's token, paid to a fresh payee whose
/// key closes channels; a request costs 1000 and vouchers advance by at
/// least that; its challenges expire soon enough to wait out.
fn evm_session_resources() -> Vec<ReferenceResource> {
    let mut route = RouteConfig {
        expires_in: 6,
        ..RouteConfig::evm_session("/evm-session", "1000", &payee_key())
    };
    if let Some(session) = route.session.as_mut() {
        session.min_voucher_delta = Some("1000".into());
        session.suggested_deposit = Some("10000".into());
    }
    vec![ReferenceResource { route, body: None }]
}

/// A fresh payee key (the recipient of an EVM charge route submits its
/// Permit2 and EIP-3009 transfers).
fn payee_key() -> String {
    alloy::signers::local::PrivateKeySigner::random()
        .to_bytes()
        .to_string()
}

/// EVM charge: a GET offering every credential type with an externalId
/// and an expiry short enough to wait out, and a POST with a split, for
/// Permit2 only (draft-evm-charge-00 §"Payment Splits").
fn evm_resources() -> Vec<ReferenceResource> {
    let mut split = RouteConfig::evm("/evm-split", "1000", &payee_key());
    split.method = "POST".into();
    split.splits = vec![server::SplitConfig {
        amount: "100".into(),
        recipient: Address::random().to_string(),
        memo: Some("platform fee".into()),
    }];
    if let Some(evm) = split.evm.as_mut() {
        evm.credential_types = Some(vec!["permit2".into()]);
    }
    vec![
        ReferenceResource {
            route: RouteConfig {
                expires_in: 6,
                external_id: Some("mppconf-order-7".into()),
                ..RouteConfig::evm("/evm", "1000", &payee_key())
            },
            body: None,
        },
        ReferenceResource {
            route: split,
            body: Some("{\"item\":\"marketplace\"}"),
        },
    ]
}

/// Two Tempo session resources (v1), on the escrow [`start_reference`]
/// deploys, each paid to a fresh payee whose key closes channels; a
/// request costs 1000 and vouchers advance by at least that. On
/// `/session` clients pay their own fees; `/session-sponsored` pays the
/// fees of their opens and topUps (`feePayer: true`).
fn session_resources() -> Vec<ReferenceResource> {
    [("/session", false), ("/session-sponsored", true)]
        .into_iter()
        .map(|(path, fee_payer)| {
            let payee = alloy::signers::local::PrivateKeySigner::random();
            let mut route = RouteConfig::new(path, "1000", &payee.address().to_string());
            route.fee_payer = fee_payer;
            route.session = Some(server::SessionRoute {
                escrow_contract: String::new(),
                payee_key: payee.to_bytes().to_string(),
                min_voucher_delta: Some("1000".into()),
                suggested_deposit: Some("10000".into()),
                stream_units: Some(5),
            });
            ReferenceResource { route, body: None }
        })
        .collect()
}

/// The declared routes of the reference run ([`super::Probes`]), of the
/// resources' payment method: one that denies after payment, one that
/// fails after payment, a POST with a side effect (read at
/// [`server::SIDE_EFFECTS_PATH`]), and one behind an API key.
fn probe_routes(payment_method: &str) -> Vec<RouteConfig> {
    let merchant = Address::random().to_string();
    let route = |path: &str| {
        if payment_method == EVM || payment_method == EVM_ON_TEMPO {
            return RouteConfig::evm(path, "1000", &payee_key());
        }
        if payment_method == SUBSCRIPTION {
            return RouteConfig::subscription(path, "1000", &merchant);
        }
        let mut r = RouteConfig::new(path, "1000", &merchant);
        r.payment_method = payment_method.into();
        r
    };
    vec![
        RouteConfig {
            after_payment: server::AfterPayment::Deny,
            ..route("/denied")
        },
        RouteConfig {
            after_payment: server::AfterPayment::Fail,
            ..route("/broken")
        },
        RouteConfig {
            method: "POST".into(),
            side_effect: true,
            ..route("/orders")
        },
        RouteConfig {
            requires_header: Some(format!("{PROBE_AUTH_HEADER}: {PROBE_AUTH_VALUE}")),
            ..route("/private")
        },
    ]
}

const PROBE_AUTH_HEADER: &str = "x-api-key";
const PROBE_AUTH_VALUE: &str = "mppconf-reference-key";

/// [`probe_routes`] as the checks see them, on the server at `base`.
fn probes(base: &Target) -> super::Probes {
    let at = |path: &str, method: &str| Target {
        path: path.into(),
        method: method.into(),
        body: None,
        ..base.clone()
    };
    super::Probes {
        denied: Some(at("/denied", "GET")),
        failing: Some(at("/broken", "GET")),
        side_effect: Some((
            at("/orders", "POST"),
            format!("{}{}", base.base_url, server::SIDE_EFFECTS_PATH),
        )),
        authenticated: Some((
            at("/private", "GET"),
            format!("{PROBE_AUTH_HEADER}: {PROBE_AUTH_VALUE}"),
        )),
    }
}

/// Under -01: a GET whose challenges select `Payment-Authorization`, with
/// an expiry short enough to wait out (-01's `payment-expired`).
fn header_resources(payment_method: &str) -> Vec<ReferenceResource> {
    let merchant = Address::random().to_string();
    let mut route = if payment_method == SESSION {
        session_resources().remove(0).route
    } else if payment_method == EVM || payment_method == EVM_ON_TEMPO {
        RouteConfig::evm("/selected-field", "1000", &payee_key())
    } else if payment_method == SUBSCRIPTION {
        subscription_resources().remove(0).route
    } else if payment_method == EVM_SESSION {
        evm_session_resources().remove(0).route
    } else {
        let mut route = RouteConfig::new("/selected-field", "1000", &merchant);
        route.payment_method = payment_method.into();
        route
    };
    route.path = "/selected-field".into();
    route.credential_header = Some(PAYMENT_AUTHORIZATION.into());
    route.expires_in = 6;
    vec![ReferenceResource { route, body: None }]
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

/// A running reference server and what it runs on, kept alive together.
pub(super) struct Reference {
    pub chain: Anvil,
    pub proxy: Arc<RpcProxy>,
    /// The server, restartable ([`super::restart`]).
    pub server: Arc<ReferenceRestart>,
    /// The authority of its certificate, for the probing client to trust.
    pub ca: reqwest::Certificate,
    pub secret: Vec<u8>,
    /// Its session store (§"Crash Safety"), removed with it.
    _store: tempfile::TempDir,
}

impl Reference {
    pub fn url(&self) -> String {
        format!("https://{}", self.server.addr)
    }
}

/// The reference server with `routes` and `deviations` on mppconf's own
/// chain, settling through the recording proxy, served over HTTPS with a
/// certificate of an authority made for the run, its session accounting
/// persisted in a folder of its own.
pub(super) async fn start_reference(
    routes: Vec<RouteConfig>,
    deviations: &BTreeSet<Deviation>,
    core: CoreDraft,
) -> Result<Reference> {
    start_reference_on(routes, deviations, core, None).await
}

/// [`start_reference`] on a chain of `network`; `None`: a plain anvil for
/// EVM charge routes, a tempo-mode one otherwise.
async fn start_reference_on(
    routes: Vec<RouteConfig>,
    deviations: &BTreeSet<Deviation>,
    core: CoreDraft,
    network: Option<Network>,
) -> Result<Reference> {
    let evm = routes.iter().any(|r| r.payment_method == "evm");
    let chain = Anvil::start(&AnvilConfig {
        network: network.unwrap_or(if evm { Network::Plain } else { Network::Tempo }),
        ..AnvilConfig::default()
    })
    .await?;
    let mut routes = routes;
    prepare_session_routes(&chain.rpc(), &mut routes).await?;
    prepare_evm_routes(&chain.rpc(), &mut routes, deviations).await?;
    prepare_evm_session_routes(&chain.rpc(), &mut routes).await?;
    let proxy = Arc::new(RpcProxy::start(&chain.rpc_url, Duration::from_secs(5)).await?);
    let secret = alloy::primitives::B256::random().0.to_vec();
    let store = crate::tls::scratch_dir("session-store")?;
    let config = ServerConfig {
        realm: "mppconf.reference".into(),
        secret: secret.clone(),
        rpc_url: proxy.url(),
        chain_id: chain.chain_id,
        fee_payer_key: Some(FEE_PAYER_KEY.into()),
        routes,
        deviations: deviations.clone(),
        choices: server::Choices {
            core,
            session_store: Some(store.path().to_path_buf()),
            ..Default::default()
        },
    };
    let ca = LocalCa::new()?;
    let running =
        server::start_tls(config.clone(), SocketAddr::from(([127, 0, 0, 1], 0)), &ca).await?;
    let certificate = ca.certificate()?;
    Ok(Reference {
        chain,
        proxy,
        server: Arc::new(ReferenceRestart {
            config,
            addr: running.addr,
            ca,
            server: tokio::sync::Mutex::new(Some(running)),
        }),
        ca: certificate,
        secret,
        _store: store,
    })
}

/// The reference server (with `deviations`) on mppconf's own chain,
/// behind the recording proxy, probed on every reference resource of
/// Tempo charge.
pub async fn run_reference(
    deviations: &BTreeSet<Deviation>,
    selection: &Selection,
    mut progress: impl Watch<CheckResult> + Send,
) -> Result<Vec<Run>> {
    run_reference_method(
        "tempo",
        CoreDraft::Draft00,
        deviations,
        selection,
        &mut progress,
    )
    .await
}

/// [`run_reference`] for the reference resources of a payment method,
/// judged against `core`. Under -01 the server follows -01 and the one
/// resource is a route that selects `Payment-Authorization` (what the
/// header.* checks need; the -00 resources are the -00 run's).
pub async fn run_reference_method(
    payment_method: &str,
    core: CoreDraft,
    deviations: &BTreeSet<Deviation>,
    selection: &Selection,
    progress: &mut (impl Watch<CheckResult> + Send),
) -> Result<Vec<Run>> {
    let resources = if core.has_header_param() {
        header_resources(payment_method)
    } else {
        reference_resources(payment_method)
    };
    let probes_too =
        !core.has_header_param() && payment_method != SESSION && payment_method != EVM_SESSION;
    let routes = resources
        .iter()
        .map(|r| r.route.clone())
        .chain(
            probe_routes(payment_method)
                .into_iter()
                .filter(|_| probes_too),
        )
        .collect();
    let network = (payment_method == EVM_ON_TEMPO).then_some(Network::Tempo);
    let reference = start_reference_on(routes, deviations, core, network).await?;
    let names: Vec<String> = deviations.iter().map(|d| d.name()).collect();
    let label = if names.is_empty() {
        "mppconf serve (reference)".to_string()
    } else {
        format!("mppconf serve (reference, deviating: {})", names.join(", "))
    };
    let reproduce = std::iter::once("mppconf server --reference".to_string())
        .chain((payment_method != "tempo").then(|| format!("--payment-method {payment_method}")))
        .chain((core != CoreDraft::Draft00).then(|| format!("--core {core}")))
        .chain(names.iter().map(|n| format!("--deviate {n}")))
        .collect::<Vec<_>>()
        .join(" ");
    let targets: Vec<Target> = resources
        .iter()
        .map(|r| Target {
            base_url: reference.url(),
            path: r.route.path.clone(),
            method: r.route.method.clone(),
            body: r.body.map(|b| b.as_bytes().to_vec()),
            rpc_url: reference.chain.rpc_url.clone(),
            ca: Some(reference.ca.clone()),
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
                Some(reference.proxy.clone()),
                Paying {
                    restart: Some(reference.server.clone()),
                    // Configured like the SDK servers that demand the memo.
                    attribution_memo: deviations.contains(&Deviation::RequireAttributionMemo),
                    probes: (i == 0 && probes_too).then(|| probes(target)),
                    hmac_secret: Some(reference.secret.clone()),
                    core,
                    // The reference server serves its discovery document.
                    discovery: Some(
                        crate::reference::server::discovery::path(|d| deviations.contains(&d))
                            .to_string(),
                    ),
                    first: i == 0,
                    ..Paying::default()
                },
                selection,
                progress,
            )
            .await?,
        );
    }
    Ok(runs)
}

/// EVM charge routes without a currency get mppconf's EIP-3009 token,
/// deployed now (with Permit2) on the chain of `rpc`, and their payee gas
/// for the transfers it submits.
pub async fn prepare_evm_routes(
    rpc: &crate::chain::Rpc,
    routes: &mut [RouteConfig],
    deviations: &BTreeSet<Deviation>,
) -> crate::error::Result<()> {
    if !routes.iter().any(|r| r.evm.is_some()) {
        return Ok(());
    }
    let chain = crate::chain::evm::EvmChain::prepare(rpc).await?;
    // The deviation's currency: an ERC-20 without EIP-3009, still offered
    // with `authorization`.
    let token = if deviations.contains(&Deviation::EvmAuthorizationAnyToken) {
        let plain = crate::chain::contracts::artifact(&crate::chain::contracts::MPP_PLAIN_TOKEN)?;
        crate::chain::contracts::deploy(rpc, &plain).await?
    } else {
        chain.token
    };
    for r in routes.iter_mut().filter(|r| r.evm.is_some()) {
        if r.currency.is_empty() {
            r.currency = token.to_checksum(None);
        }
        let payee: Address = r.recipient.parse().map_err(|_| {
            crate::error::Error::Usage(format!(
                "route {}: recipient {:?} is not an address",
                r.path, r.recipient
            ))
        })?;
        chain.fund(payee, alloy::primitives::U256::ZERO).await?;
    }
    Ok(())
}

/// EVM session routes without an escrow get mppconf's `EvmPaymentChannel`
/// and without a currency mppconf's token, deployed now on the chain of
/// `rpc`, and their payee gas for its close transactions.
pub async fn prepare_evm_session_routes(
    rpc: &crate::chain::Rpc,
    routes: &mut [RouteConfig],
) -> crate::error::Result<()> {
    let is_evm_session = |r: &RouteConfig| r.payment_method == "evm" && r.session.is_some();
    if !routes.iter().any(is_evm_session) {
        return Ok(());
    }
    let chain = crate::chain::evm::EvmChain::prepare(rpc).await?;
    let artifact =
        crate::chain::contracts::artifact(&crate::chain::contracts::EVM_PAYMENT_CHANNEL)?;
    let escrow = crate::chain::contracts::deploy(rpc, &artifact).await?;
    for r in routes.iter_mut().filter(|r| is_evm_session(r)) {
        if r.currency.is_empty() {
            r.currency = chain.token.to_checksum(None);
        }
        if let Some(session) = r.session.as_mut().filter(|s| s.escrow_contract.is_empty()) {
            session.escrow_contract = escrow.to_string();
        }
        let payee: Address = r.recipient.parse().map_err(|_| {
            crate::error::Error::Usage(format!(
                "route {}: recipient {:?} is not an address",
                r.path, r.recipient
            ))
        })?;
        chain.fund(payee, alloy::primitives::U256::ZERO).await?;
    }
    Ok(())
}

/// Session routes without an escrow get mppconf's, deployed now on the
/// chain of `rpc`, and their payee the currency it pays its close
/// transactions' fees in.
pub async fn prepare_session_routes(
    rpc: &crate::chain::Rpc,
    routes: &mut [RouteConfig],
) -> crate::error::Result<()> {
    let tempo = |r: &RouteConfig| r.payment_method == "tempo";
    if !routes.iter().any(|r| {
        tempo(r)
            && r.session
                .as_ref()
                .is_some_and(|s| s.escrow_contract.is_empty())
    }) {
        return Ok(());
    }
    let escrow = crate::chain::escrow::Escrow::deploy(rpc).await?;
    for r in routes.iter_mut().filter(|r| tempo(r)) {
        if let Some(session) = r.session.as_mut().filter(|s| s.escrow_contract.is_empty()) {
            session.escrow_contract = escrow.address.to_string();
            let address = |value: &str, what: &str| {
                value.parse::<Address>().map_err(|_| {
                    crate::error::Error::Usage(format!(
                        "route {}: {what} {value:?} is not an address",
                        r.path
                    ))
                })
            };
            let payee = address(&r.recipient, "recipient")?;
            let currency = address(&r.currency, "currency")?;
            crate::reference::tx::fund(
                rpc,
                currency,
                payee,
                alloy::primitives::U256::from(1_000_000_000u64),
            )
            .await?;
        }
    }
    Ok(())
}
