//! `mppconf escrow`: the escrow suite against mppconf's reference EVM
//! session escrow (`--reference`, optionally with one rule broken on
//! purpose) or against an escrow of the user's own, deployed from its
//! creation code on a local chain mppconf starts (`--creation-code`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::{SolCall, SolValue};
use serde_json::json;

use super::{EscrowCtx, EscrowResult, IEvmPaymentChannel, all_checks, run_all};
use crate::chain::contracts::{self, EVM_PAYMENT_CHANNEL, EVM_PAYMENT_CHANNEL_DEVIATING};
use crate::chain::evm::LocalEvm;
use crate::chain::rpc::Rpc;
use crate::error::{Error, Result};
use crate::report::gate::GateArgs;
use crate::report::progress::Progress;
use crate::report::{CheckRecord, Report};

#[derive(clap::Args)]
pub struct EscrowArgs {
    /// Judge mppconf's reference escrow (harness/contracts/EvmPaymentChannel.sol).
    #[arg(long, conflicts_with = "creation_code")]
    pub reference: bool,
    /// With --reference: the reference escrow with one rule broken on
    /// purpose (see --help for the names).
    #[arg(long, requires = "reference", value_parser = deviation_names())]
    pub deviate: Option<String>,
    /// Your escrow's creation code: a file of hex (the contract's bytecode
    /// with its ABI-encoded constructor arguments appended), deployed on a
    /// plain anvil mppconf starts. It must implement the mandatory core of
    /// draft-evm-session-00 §"Contract Functions" with the draft's
    /// signatures.
    #[arg(long)]
    pub creation_code: Option<PathBuf>,
    /// The forced-close grace period in seconds (default: the escrow's
    /// `CLOSE_GRACE_PERIOD()`; without either, the checks that wait it out
    /// are `skip`).
    #[arg(long)]
    pub grace_period: Option<u64>,
    /// Only checks whose id contains one of these.
    #[arg(long)]
    pub filter: Vec<String>,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Write the raw results (every check's transactions) as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The reference escrow's deviations: the name, the code its deviating
/// twin takes as constructor argument (`EvmPaymentChannelDeviating.sol`),
/// and the check that must catch it.
pub const DEVIATIONS: &[(&str, u64, &str)] = &[
    ("open-overwrites", 1, "escrow.open.existing-reverts"),
    ("reopen-after-close", 2, "escrow.open.no-reopen-after-close"),
    ("channel-id-without-chain", 3, "escrow.open.channel-id"),
    ("settle-any-caller", 4, "escrow.settle.payee-only"),
    (
        "settle-equal-amount",
        5,
        "escrow.settle.strictly-increasing",
    ),
    ("settle-beyond-deposit", 6, "escrow.settle.deposit-cap"),
    ("high-s", 7, "escrow.signature.low-s"),
    (
        "payer-despite-delegate",
        8,
        "escrow.signature.authorized-signer",
    ),
    ("also-tempo-domain", 9, "escrow.signature.domain"),
    ("topup-any-caller", 10, "escrow.topup.payer-only"),
    ("topup-keeps-close", 11, "escrow.topup.cancels-close"),
    ("close-any-caller", 12, "escrow.close.payee-only"),
    ("close-no-refund", 13, "escrow.close.settles-and-refunds"),
    (
        "request-close-any-caller",
        14,
        "escrow.request-close.reverts",
    ),
    (
        "request-close-finalized",
        15,
        "escrow.request-close.reverts",
    ),
    (
        "withdraw-without-request",
        16,
        "escrow.withdraw.needs-request",
    ),
    ("short-grace", 17, "escrow.withdraw.grace-minimum"),
    ("withdraw-twice", 18, "escrow.withdraw.refunds-once"),
];

fn deviation_names() -> Vec<&'static str> {
    DEVIATIONS.iter().map(|(name, _, _)| *name).collect()
}

/// Which escrow a run judges.
pub enum Subject {
    Reference { deviation: Option<String> },
    CreationCode(PathBuf),
}

impl Subject {
    fn label(&self) -> String {
        match self {
            Subject::Reference { deviation: None } => {
                "mppconf EvmPaymentChannel (reference escrow)".into()
            }
            Subject::Reference { deviation: Some(d) } => {
                format!("mppconf EvmPaymentChannel (reference escrow, deviating: {d})")
            }
            Subject::CreationCode(path) => format!("escrow from {}", path.display()),
        }
    }

    fn reproduce(&self) -> String {
        match self {
            Subject::Reference { deviation: None } => "mppconf escrow --reference".into(),
            Subject::Reference { deviation: Some(d) } => {
                format!("mppconf escrow --reference --deviate {d}")
            }
            Subject::CreationCode(path) => {
                format!("mppconf escrow --creation-code {}", path.display())
            }
        }
    }
}

/// Reads a creation-code file: hex, with or without `0x`, white space
/// ignored; a clear error names the file and the fix.
pub fn read_creation_code(path: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let hex: String = text.split_whitespace().collect();
    let hex = hex.strip_prefix("0x").unwrap_or(&hex);
    let code = alloy::hex::decode(hex).map_err(|e| {
        Error::Usage(format!(
            "{}: not hex creation code ({e}); give the contract's creation bytecode with its ABI-encoded constructor arguments appended (e.g. `forge inspect EscrowContract bytecode`)",
            path.display()
        ))
    })?;
    if code.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the file is empty; give the escrow's creation bytecode as hex",
            path.display()
        )));
    }
    Ok(code)
}

/// Deploys the escrow `subject` names on `rpc`.
pub async fn deploy(rpc: &Rpc, subject: &Subject) -> Result<Address> {
    match subject {
        Subject::Reference { deviation: None } => {
            contracts::deploy(rpc, &contracts::artifact(&EVM_PAYMENT_CHANNEL)?).await
        }
        Subject::Reference {
            deviation: Some(name),
        } => {
            let code = DEVIATIONS
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, code, _)| *code)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--deviate {name}: no such deviation; one of {}",
                        deviation_names().join(", ")
                    ))
                })?;
            let artifact = contracts::artifact(&EVM_PAYMENT_CHANNEL_DEVIATING)?;
            let mut creation = artifact.bytecode.clone();
            creation.extend(U256::from(code).abi_encode());
            contracts::deploy_code(rpc, artifact.contract, &creation).await
        }
        Subject::CreationCode(path) => {
            let code = read_creation_code(path)?;
            contracts::deploy_code(rpc, &format!("the escrow of {}", path.display()), &code).await
        }
    }
}

/// The escrow's `CLOSE_GRACE_PERIOD()`, if it answers one.
pub async fn grace_period_of(rpc: &Rpc, escrow: Address) -> Option<u64> {
    let call = IEvmPaymentChannel::CLOSE_GRACE_PERIODCall {};
    let out = rpc
        .call(
            "eth_call",
            json!([{"to": escrow.to_string(), "data": Bytes::from(call.abi_encode())}, "latest"]),
        )
        .await
        .ok()?;
    let bytes: Bytes = serde_json::from_value(out).ok()?;
    IEvmPaymentChannel::CLOSE_GRACE_PERIODCall::abi_decode_returns(&bytes).ok()
}

/// Runs the suite; the exit code as the other suites give it.
pub async fn escrow(args: EscrowArgs) -> Result<u8> {
    let started = Instant::now();
    let started_at = crate::report::now();
    let ids: Vec<&str> = all_checks().iter().map(|c| c.id).collect();
    let selection = args.gate.selection(&args.filter)?;
    selection.validate(&ids)?;
    args.gate.preflight(&ids)?;
    let subject = match (&args.creation_code, args.reference) {
        (Some(path), false) => {
            read_creation_code(path)?;
            Subject::CreationCode(path.clone())
        }
        (None, true) => Subject::Reference {
            deviation: args.deviate.clone(),
        },
        _ => {
            return Err(Error::Usage(
                "give --creation-code FILE (your escrow's creation bytecode, hex) or --reference"
                    .into(),
            ));
        }
    };
    if let Some(out) = &args.out {
        crate::preflight::out_file("--out", out)?;
    }
    crate::interrupt::install()?;
    let chain = LocalEvm::start().await?;
    let rpc = chain.chain.rpc();
    let escrow = deploy(&rpc, &subject).await?;
    let grace = match args.grace_period {
        Some(g) => Some(g),
        None => grace_period_of(&rpc, escrow).await,
    };
    let ctx = EscrowCtx::prepare(rpc, escrow, chain.chain.token, grace).await?;
    let mut progress = Progress::new();
    let results = run_all(&ctx, &selection, &mut progress).await;
    progress.finish();
    summarize(&results, &subject, escrow, args.out.as_deref(), started)?;
    args.gate
        .finish(vec![report(&subject, escrow, &results, &started_at)])
}

/// The run as a report (suite `escrow`), with each check's transactions
/// as its evidence.
pub fn report(
    subject: &Subject,
    escrow: Address,
    results: &[EscrowResult],
    started_at: &str,
) -> (Report, Vec<(usize, serde_json::Value)>) {
    let mut records = Vec::new();
    let mut evidence = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let (expected, actual) = crate::report::expected_actual(&r.detail);
        evidence.push((
            i,
            json!({"check": r.id, "escrow": escrow, "transactions": r.transactions}),
        ));
        records.push(CheckRecord {
            id: r.id.to_string(),
            subject: "EVM session escrow".into(),
            requirements: r.requirements.iter().map(|s| s.to_string()).collect(),
            verdict: r.verdict,
            detail: r.detail.clone(),
            expected,
            actual,
            millis: r.millis,
            evidence: None,
            reproduce: format!("{} --filter {}", subject.reproduce(), r.id),
        });
    }
    (
        Report::new("escrow", &subject.label(), started_at.to_string(), records),
        evidence,
    )
}

fn summarize(
    results: &[EscrowResult],
    subject: &Subject,
    escrow: Address,
    out: Option<&Path>,
    started: Instant,
) -> Result<()> {
    let mut counts = std::collections::BTreeMap::new();
    for r in results {
        *counts.entry(r.verdict.as_str()).or_insert(0usize) += 1;
    }
    let n = |v: &str| counts.get(v).copied().unwrap_or(0);
    crate::outln!(
        "{} passed, {} failed, {} blocked, {} skipped, {} errors ({} escrow checks in {:.2}s)",
        n("pass"),
        n("fail"),
        n("blocked"),
        n("skip"),
        n("error"),
        results.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(out) = out {
        crate::report::gate::write_results(
            out,
            "mppconf-escrow-results/1",
            started.elapsed().as_secs_f64(),
            &counts,
            "escrows",
            vec![json!({"label": subject.label(), "escrow": escrow, "checks": results})],
        )?;
    }
    Ok(())
}
