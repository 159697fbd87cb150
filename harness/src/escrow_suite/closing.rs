//! The escrow suite's checks of a channel's end: top-up, cooperative
//! close, and the forced close's request, grace period and withdrawal
//! (draft-evm-session-00 §"topUp", §"close", §"requestClose",
//! §"withdraw", §"Forced Close"). The table is in [`super::checks`].

use alloy::primitives::{Address, B256};

use super::IEvmPaymentChannel as E;
use super::checks::{close, refused, refused_unless_payee, settle, verdict};
use super::{DEPOSIT, EscrowCtx, Step};
use crate::server_suite::Outcome;

/// §"Forced Close": "MUST NOT use a grace period shorter than 10 minutes".
const GRACE_MINIMUM: u64 = 600;

/// The grace period, or `skip` when neither the escrow nor the user says
/// what it is.
fn grace(ctx: &EscrowCtx) -> Result<u64, Outcome> {
    ctx.grace.ok_or_else(|| {
        Outcome::skip(
            "the grace period is unknown: the escrow answers no CLOSE_GRACE_PERIOD(); give --grace-period SECONDS",
        )
    })
}

pub(super) async fn topup_payer_only(ctx: &EscrowCtx) -> Step {
    let (channel, _) = ctx.open(Address::ZERO).await?;
    let call = E::topUpCall {
        channelId: channel,
        additionalDeposit: 100,
    };
    let findings: Vec<String> = refused(ctx, &ctx.stranger, "topUp 100", call.clone())
        .await?
        .into_iter()
        .collect();
    if findings.is_empty() && !ctx.send(&ctx.payer, "topUp 100", call).await? {
        return Ok(Outcome::fail(
            "the payer tops its channel up",
            "the payer's topUp of 100 reverted",
        ));
    }
    Ok(verdict(
        "topUp reverts unless msg.sender is the channel's payer",
        findings,
        "the stranger's topUp reverted; the payer's was mined",
    ))
}

pub(super) async fn topup_cancels_close(ctx: &EscrowCtx) -> Step {
    let grace = grace(ctx)?;
    let (channel, _) = ctx.open(Address::ZERO).await?;
    ctx.request_close(channel).await?;
    let top_up = E::topUpCall {
        channelId: channel,
        additionalDeposit: 100,
    };
    if !ctx
        .send(&ctx.payer, "topUp 100 during the close request", top_up)
        .await?
    {
        return Ok(Outcome::fail(
            "the payer tops up a channel with a pending close request",
            "the topUp reverted",
        ));
    }
    ctx.advance(grace + 1).await?;
    let before = ctx.balances("after the grace period").await?;
    let Some(finding) = refused(
        ctx,
        &ctx.payer,
        "withdraw after the grace period of the cancelled request",
        E::withdrawCall { channelId: channel },
    )
    .await?
    else {
        return Ok(Outcome::pass(
            "after the top-up, withdraw reverted past the old request's grace period: the request was cancelled",
        ));
    };
    let after = ctx.balances("after the withdraw").await?;
    // An escrow that lets withdraw through with no request at all would
    // pass the cancelled one too: that is another check's finding.
    let (control, _) = ctx.open(Address::ZERO).await?;
    if ctx
        .send(
            &ctx.payer,
            "withdraw of a channel never asked to close (control)",
            E::withdrawCall { channelId: control },
        )
        .await?
    {
        return Err(Outcome::blocked(
            "withdraw goes through without any close request, so a cancelled one cannot be told apart; see escrow.withdraw.needs-request",
        ));
    }
    Ok(Outcome::fail(
        "topUp resets closeRequestedAt to 0, cancelling the pending close",
        format!(
            "{finding}, refunding the payer {}: the close request survived the top-up",
            after[0] - before[0]
        ),
    ))
}

pub(super) async fn close_effects(ctx: &EscrowCtx) -> Step {
    let (channel, _) = ctx.open(Address::ZERO).await?;
    ctx.settle_valid(channel, 200).await?;
    let before = ctx.balances("before close").await?;
    let last = ctx.voucher(&ctx.payer, channel, 700);
    if !ctx
        .send(
            &ctx.payee,
            "close with the payer's voucher for 700",
            close(channel, 700, last),
        )
        .await?
    {
        return Ok(Outcome::fail(
            "the payee closes with the payer's valid voucher for 700",
            "close reverted",
        ));
    }
    let after = ctx.balances("after close").await?;
    let mut findings = Vec::new();
    let (to_payee, to_payer) = (after[1] - before[1], after[0] - before[0]);
    if (to_payee, to_payer) != (500, DEPOSIT - 700) {
        findings.push(format!(
            "close paid the payee {to_payee} and refunded the payer {to_payer}, not {} and {}",
            500,
            DEPOSIT - 700
        ));
    }
    let later = ctx.voucher(&ctx.payer, channel, 800);
    findings.extend(
        refused(
            ctx,
            &ctx.payee,
            "settle 800 on the closed channel",
            settle(channel, 800, later),
        )
        .await?,
    );
    Ok(verdict(
        "close settles the final voucher's delta, refunds the rest to the payer, and finalizes",
        findings,
        format!(
            "close paid the payee 500 and refunded {}; a later settle reverted",
            DEPOSIT - 700
        ),
    ))
}

pub(super) async fn close_payee_only(ctx: &EscrowCtx) -> Step {
    let (channel, _) = ctx.open(Address::ZERO).await?;
    let signature = ctx.voucher(&ctx.payer, channel, 500);
    let findings =
        refused_unless_payee(ctx, "close at 500", close(channel, 500, signature)).await?;
    if findings.is_empty() {
        ctx.close_valid(channel, 500).await?;
    }
    Ok(verdict(
        "close reverts unless msg.sender is the channel's payee",
        findings,
        "close by the stranger and by the payer reverted; the payee's was mined",
    ))
}

pub(super) async fn request_close_reverts(ctx: &EscrowCtx) -> Step {
    let (live, _) = ctx.open(Address::ZERO).await?;
    let (closed, _) = ctx.open(Address::ZERO).await?;
    ctx.close_valid(closed, 100).await?;
    let mut findings = Vec::new();
    findings.extend(
        refused(
            ctx,
            &ctx.stranger,
            "requestClose of the payer's channel",
            E::requestCloseCall { channelId: live },
        )
        .await?,
    );
    findings.extend(
        refused(
            ctx,
            &ctx.payer,
            "requestClose of a channelId that does not exist",
            E::requestCloseCall {
                channelId: B256::random(),
            },
        )
        .await?,
    );
    findings.extend(
        refused(
            ctx,
            &ctx.payer,
            "requestClose of a finalized channel",
            E::requestCloseCall { channelId: closed },
        )
        .await?,
    );
    if findings.is_empty()
        && !ctx
            .send(
                &ctx.payer,
                "requestClose",
                E::requestCloseCall { channelId: live },
            )
            .await?
    {
        findings.push("the payer's own requestClose of its live channel reverted".into());
    }
    Ok(verdict(
        "requestClose reverts for a caller other than the payer, an unknown channel and a finalized one",
        findings,
        "requestClose by the stranger, of an unknown id and of a finalized channel reverted; the payer's was mined",
    ))
}

pub(super) async fn withdraw_needs_request(ctx: &EscrowCtx) -> Step {
    let (channel, _) = ctx.open(Address::ZERO).await?;
    let before = ctx.balances("before").await?;
    let Some(finding) = refused(
        ctx,
        &ctx.payer,
        "withdraw without requestClose",
        E::withdrawCall { channelId: channel },
    )
    .await?
    else {
        return Ok(Outcome::pass("withdraw without a close request reverted"));
    };
    let after = ctx.balances("after").await?;
    Ok(Outcome::fail(
        "withdraw reverts when no close was requested (closeRequestedAt == 0)",
        format!(
            "{finding}, refunding the payer {} before the payee could settle",
            after[0] - before[0]
        ),
    ))
}

pub(super) async fn grace_minimum(ctx: &EscrowCtx) -> Step {
    let (channel, _) = ctx.open(Address::ZERO).await?;
    ctx.request_close(channel).await?;
    // Thirty seconds short of the minimum leaves room for the wall-clock
    // time anvil adds between blocks.
    ctx.advance(GRACE_MINIMUM - 30).await?;
    let mut findings: Vec<String> = refused(
        ctx,
        &ctx.payer,
        "withdraw 9.5 minutes after requestClose",
        E::withdrawCall { channelId: channel },
    )
    .await?
    .into_iter()
    .map(|f| format!("{f}: the grace period is under the 10-minute minimum"))
    .collect();
    if findings.is_empty() {
        let signature = ctx.voucher(&ctx.payer, channel, 300);
        if !ctx
            .send(
                &ctx.payee,
                "settle 300 during the grace period",
                settle(channel, 300, signature),
            )
            .await?
        {
            findings.push(
                "the payee's settle of a valid voucher during the grace period reverted".into(),
            );
        }
    }
    Ok(verdict(
        "a grace period of at least 10 minutes, during which the payee can still settle",
        findings,
        "withdraw 9.5 minutes after requestClose reverted; the payee settled during the grace period",
    ))
}

pub(super) async fn withdraw_once(ctx: &EscrowCtx) -> Step {
    let grace = grace(ctx)?;
    let (channel, _) = ctx.open(Address::ZERO).await?;
    ctx.settle_valid(channel, 300).await?;
    ctx.request_close(channel).await?;
    ctx.advance(grace + 1).await?;
    // Other funds in the pool: what a second payout would draw on.
    ctx.open(Address::ZERO).await?;
    let mut findings = Vec::new();
    findings.extend(
        refused(
            ctx,
            &ctx.stranger,
            "withdraw of the payer's channel",
            E::withdrawCall { channelId: channel },
        )
        .await?,
    );
    let before = ctx.balances("before withdraw").await?;
    if !ctx
        .send(
            &ctx.payer,
            "withdraw after the grace period",
            E::withdrawCall { channelId: channel },
        )
        .await?
    {
        return Ok(Outcome::fail(
            "the payer withdraws once the grace period is over",
            format!("withdraw {} s after requestClose reverted", grace + 1),
        ));
    }
    let after = ctx.balances("after withdraw").await?;
    if after[0] - before[0] != DEPOSIT - 300 {
        findings.push(format!(
            "withdraw refunded {}, not deposit - settled = {}",
            after[0] - before[0],
            DEPOSIT - 300
        ));
    }
    if let Some(f) = refused(
        ctx,
        &ctx.payer,
        "a second withdraw",
        E::withdrawCall { channelId: channel },
    )
    .await?
    {
        let again = ctx.balances("after the second withdraw").await?;
        findings.push(format!(
            "{f}, paying the payer {} more out of other channels' funds",
            again[0] - after[0]
        ));
    }
    Ok(verdict(
        "after the grace period the payer alone withdraws deposit - settled, once",
        findings,
        format!(
            "the stranger's withdraw reverted; the payer's refunded {}; a second reverted",
            DEPOSIT - 300
        ),
    ))
}
