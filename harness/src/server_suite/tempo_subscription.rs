//! draft-tempo-subscription-00 §"Source Verification" and §"Authorization Scope Verification": the Tempo subscription server checks.
//!
//! A server that activates a key authorization lends the payer's money to
//! whatever that authorization allows. Each check sends, for a fresh
//! challenge, an authorization the payer signed that is off the request
//! by one step (a later expiry, another chain or access key, a larger or
//! faster limit, a broader call scope, a `source` the signature does not
//! back): each must be refused, with nothing broadcast where the harness
//! sees the server's chain calls and nothing taken from the payer. Then
//! the requested grant must activate: a server that refuses every
//! credential shows nothing by refusing a broad one (the check is then
//! `blocked`). The draft's minimal grant, `transfer` without the optional
//! `transferWithMemo`, must activate. And two challenges must name two
//! access keys (§"Access Key Isolation", a SHOULD).
//!
//! Renewal (§"Renewal", §"Billing Anchor and Subscription State") is not
//! probed: a billing period is at least a day of the server's clock.

use alloy::primitives::{Address, U256};
use mppconf_suite::methods::tempo_subscription::{Terms, access_key_address};

use super::check::{blocked, fresh, refused_unbroadcast, send_credential};
use super::{Answer, Check, Ctx, Outcome};
use crate::chain::Rpc;
use crate::methods::tempo_subscription::{self as plugin, Grant};
use crate::reference::tx;
use crate::server_check as check;
use mppconf_suite::vectors::Verdict;

type Step = Result<Outcome, Outcome>;

/// Every Tempo subscription check, in run order.
pub const CHECKS: &[Check] = &[
    check!(
        "subscription.transfer-only-accepted",
        ["tempo-subscription.scope.allowed-calls"],
        false,
        |ctx| transfer_only_accepted(ctx)
    ),
    check!(
        "subscription.later-expiry-refused",
        ["tempo-subscription.scope.expiry-equals"],
        false,
        |ctx| refused(ctx, &[Grant::LaterExpiry])
    ),
    check!(
        "subscription.other-chain-refused",
        ["tempo-subscription.scope.chain-id"],
        false,
        |ctx| refused(ctx, &[Grant::OtherChain])
    ),
    check!(
        "subscription.other-access-key-refused",
        ["tempo-subscription.scope.access-key"],
        false,
        |ctx| refused(ctx, &[Grant::OtherAccessKey])
    ),
    check!(
        "subscription.other-limit-refused",
        ["tempo-subscription.scope.token-limit"],
        false,
        |ctx| refused(
            ctx,
            &[Grant::DoubleLimit, Grant::HalfPeriod, Grant::NoLimit]
        )
    ),
    check!(
        "subscription.broader-scope-refused",
        [
            "tempo-subscription.scope.allowed-calls",
            "tempo-subscription.scope.reject-broader",
            "tempo-subscription.security.reject-unscoped"
        ],
        false,
        |ctx| refused(
            ctx,
            &[
                Grant::Approve,
                Grant::UnrestrictedTarget,
                Grant::ExtraRecipient,
                Grant::SecondTarget,
                Grant::NoCallScope,
                Grant::Admin,
            ]
        )
    ),
    check!(
        "subscription.access-key-per-subscription",
        [
            "tempo-subscription.security.distinct-keys",
            "tempo-subscription.security.prefer-one-key"
        ],
        true,
        |ctx| access_key_per_subscription(ctx)
    ),
    check!(
        "subscription.unbacked-source-refused",
        [
            "tempo-subscription.source.not-trusted",
            "tempo-subscription.source.recover-root",
            "tempo-subscription.source.chain-match"
        ],
        false,
        |ctx| unbacked_source(ctx)
    ),
];

/// §"Authorization Scope Verification": the call scope "allows
/// `transfer(address,uint256)` and MAY additionally allow
/// `transferWithMemo`", so a grant of `transfer` alone, which a client
/// following §"Method Details" may sign, activates like any other.
async fn transfer_only_accepted(ctx: &Ctx) -> Step {
    let challenge = fresh(ctx).await?;
    let credential =
        plugin::credential(&challenge, &ctx.account, Grant::TransferOnly, None).map_err(blocked)?;
    freshen(ctx).await?;
    let answer = send_credential(ctx, &credential.to_header()).await?;
    Ok(match activated(&answer) {
        Ok(detail) => Outcome::pass(format!("a grant of transfer alone: {detail}")),
        Err(refusal) => Outcome::fail(
            "a grant of transfer alone (the draft's minimal scope) activates",
            refusal,
        ),
    })
}

/// §"Access Key Isolation": "Servers SHOULD generate a fresh access key
/// for each subscription". Two challenges for the resource are two
/// subscriptions two payers could activate (the server cannot know who
/// will pay an unauthenticated request): one key named in both is shared
/// by their subscriptions. Addresses compare by value (§"Request
/// Fields").
async fn access_key_per_subscription(ctx: &Ctx) -> Step {
    let key = |c: &mppconf_suite::codec::Challenge| {
        access_key_address(&c.request.value).ok_or_else(|| {
            blocked("the challenge names no access key address (method.request-rules says why)")
        })
    };
    let first = key(&fresh(ctx).await?)?;
    let second = key(&fresh(ctx).await?)?;
    Ok(if first == second {
        Outcome::fail(
            "a fresh access key in each challenge (one per subscription)",
            format!("two challenges both name access key {first:#x}"),
        )
    } else {
        Outcome::pass(format!(
            "two challenges name two access keys ({first:#x}, {second:#x})"
        ))
    })
}

/// Whether a credential was taken: a 2xx with a receipt (whose contents
/// are paid.receipt's to judge, so that one defect fails one check).
fn activated(answer: &Answer) -> Result<String, String> {
    match (answer.status, answer.header("payment-receipt")) {
        (200..=299, Some(_)) => Ok(format!("{} with a receipt", answer.status)),
        (status, receipt) => Err(format!(
            "{status}{} {}",
            if receipt.is_some() {
                " with a receipt"
            } else {
                ""
            },
            answer.body.chars().take(300).collect::<String>()
        )),
    }
}

/// Each grant, signed by the payer for a fresh challenge, must be refused
/// with nothing broadcast and nothing taken from the payer; then the
/// requested grant must activate, or the refusals show nothing.
async fn refused(ctx: &Ctx, grants: &[Grant]) -> Step {
    let sends: Vec<_> = grants.iter().map(|&g| (g, None)).collect();
    refused_then_control(ctx, &sends).await
}

/// §"Source Verification": `source` names an address the signature does
/// not recover to; the server must not take it on trust.
async fn unbacked_source(ctx: &Ctx) -> Step {
    refused_then_control(ctx, &[(Grant::Draft, Some(Address::random()))]).await
}

/// A block now, so that the server's expiring-nonce activation is judged
/// against a current `latest` (see [`Rpc::freshen_clock`]).
async fn freshen(ctx: &Ctx) -> Result<(), Outcome> {
    Rpc::new(&ctx.target.rpc_url)
        .freshen_clock()
        .await
        .map_err(|e| blocked(format!("the chain: {e}")))
}

/// The payer's balance of the subscription's currency.
async fn payer_balance(ctx: &Ctx, currency: Address) -> Result<U256, Outcome> {
    tx::balance_of(
        &Rpc::new(&ctx.target.rpc_url),
        currency,
        ctx.account.address(),
    )
    .await
    .map_err(|e| Outcome::error(format!("reading the payer's balance: {e}")))
}

/// Sends each `(grant, claimed source)` for a fresh challenge; each must
/// be refused ([`refused_unbroadcast`]) with the payer's balance
/// unchanged. Then the control: the requested grant must activate.
async fn refused_then_control(ctx: &Ctx, sends: &[(Grant, Option<Address>)]) -> Step {
    let first = fresh(ctx).await?;
    let terms = Terms::of(&first.request.value, first.expires.as_deref())
        .map_err(|e| blocked(format!("the challenge's request: {e}")))?;
    let before = payer_balance(ctx, terms.currency).await?;
    let mut accepted = Vec::new();
    let mut challenge = Some(first);
    for &(grant, source) in sends {
        let challenge = match challenge.take() {
            Some(c) => c,
            None => fresh(ctx).await?,
        };
        let credential =
            plugin::credential(&challenge, &ctx.account, grant, source).map_err(blocked)?;
        freshen(ctx).await?;
        let outcome = refused_unbroadcast(ctx, &credential.to_header(), None).await?;
        let name = match source {
            Some(a) => format!("a source of {a:#x}, not the signer"),
            None => grant.describe().to_string(),
        };
        let after = payer_balance(ctx, terms.currency).await?;
        if outcome.verdict != Verdict::Pass {
            accepted.push(format!("{name}: {}", outcome.detail));
        } else if after != before {
            accepted.push(format!(
                "{name}: refused, but the payer's balance went from {before} to {after}"
            ));
        }
    }
    let names: Vec<String> = sends
        .iter()
        .map(|(g, s)| match s {
            Some(_) => "a source the signature does not back".to_string(),
            None => g.describe().to_string(),
        })
        .collect();
    if !accepted.is_empty() {
        return Ok(Outcome::fail(
            format!("a refusal of each of: {}", names.join("; ")),
            accepted.join(" | "),
        ));
    }
    let challenge = fresh(ctx).await?;
    let credential =
        plugin::credential(&challenge, &ctx.account, Grant::Draft, None).map_err(blocked)?;
    freshen(ctx).await?;
    let answer = send_credential(ctx, &credential.to_header()).await?;
    if let Err(refusal) = activated(&answer) {
        return Err(blocked(format!(
            "the requested grant was refused as well ({refusal}): refusing a broader one shows nothing (see paid.receipt)"
        )));
    }
    Ok(Outcome::pass(format!(
        "refused, nothing broadcast or taken: {}; the requested grant then activated",
        names.join("; ")
    )))
}
