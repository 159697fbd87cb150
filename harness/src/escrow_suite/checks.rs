//! The escrow suite's checks, one per rule of draft-evm-session-00 that
//! binds the contract. Each opens channels of its own (fresh salts), so
//! no check depends on another's state; a step that every later part
//! relies on (opening, settling a valid voucher) is `blocked` when it
//! fails, pointing to the check that judges it. Opening, settling and the
//! voucher's signature are here; topping up, closing and the forced close
//! are in [`super::closing`].

use alloy::primitives::{Address, B256, Bytes, U256};
use mppconf_suite::methods::evm_session;

use super::IEvmPaymentChannel as E;
use super::closing;
use super::{DEPOSIT, EscrowCheck, EscrowCtx, Party, Step, domain, escrow_check};
use crate::server_suite::Outcome;

pub static CHECKS: &[EscrowCheck] = &[
    escrow_check!(
        "escrow.open.channel-id",
        [
            "evm-session.escrow.channel-id",
            "evm-session.open.abi",
            "evm-session.escrow.channel-state"
        ],
        |ctx| open_channel_id(ctx)
    ),
    escrow_check!(
        "escrow.open.existing-reverts",
        ["evm-session.open.revert-existing"],
        |ctx| open_existing(ctx)
    ),
    escrow_check!(
        "escrow.open.no-reopen-after-close",
        [
            "evm-session.open.retain-records",
            "evm-session.security.no-reopen"
        ],
        |ctx| no_reopen(ctx)
    ),
    escrow_check!(
        "escrow.settle.pays-delta",
        [
            "evm-session.settle.effects",
            "evm-session.settle.abi",
            "evm-session.signature-verification.scope"
        ],
        |ctx| settle_pays_delta(ctx)
    ),
    escrow_check!(
        "escrow.settle.payee-only",
        [
            "evm-session.settle.payee-only",
            "evm-session.escrow.access-control"
        ],
        |ctx| settle_payee_only(ctx)
    ),
    escrow_check!(
        "escrow.settle.strictly-increasing",
        [
            "evm-session.settle.strictly-increasing",
            "evm-session.security.rollback"
        ],
        |ctx| settle_increasing(ctx)
    ),
    escrow_check!(
        "escrow.settle.deposit-cap",
        [
            "evm-session.settle.strictly-increasing",
            "evm-session.security.deposit-cap"
        ],
        |ctx| settle_deposit_cap(ctx)
    ),
    escrow_check!(
        "escrow.signature.low-s",
        [
            "evm-session.signature-verification.low-s",
            "evm-session.signature-verification.half-order",
            "evm-session.security.low-s-escrow"
        ],
        |ctx| low_s(ctx)
    ),
    escrow_check!(
        "escrow.signature.authorized-signer",
        ["evm-session.signature-verification.authorized-signer"],
        |ctx| authorized_signer(ctx)
    ),
    escrow_check!(
        "escrow.signature.domain",
        ["evm-session.signature-verification.domain-binding"],
        |ctx| domain_binding(ctx)
    ),
    escrow_check!(
        "escrow.topup.payer-only",
        ["evm-session.topup.payer-only", "evm-session.topup.abi"],
        |ctx| closing::topup_payer_only(ctx)
    ),
    escrow_check!(
        "escrow.topup.cancels-close",
        [
            "evm-session.topup.cancels-close",
            "evm-session.topup.resets-close"
        ],
        |ctx| closing::topup_cancels_close(ctx)
    ),
    escrow_check!(
        "escrow.close.settles-and-refunds",
        ["evm-session.close.effects", "evm-session.close.abi"],
        |ctx| closing::close_effects(ctx)
    ),
    escrow_check!(
        "escrow.close.payee-only",
        ["evm-session.close.payee-only"],
        |ctx| closing::close_payee_only(ctx)
    ),
    escrow_check!(
        "escrow.request-close.reverts",
        [
            "evm-session.request-close.reverts",
            "evm-session.request-close.abi"
        ],
        |ctx| closing::request_close_reverts(ctx)
    ),
    escrow_check!(
        "escrow.withdraw.needs-request",
        ["evm-session.withdraw.reverts"],
        |ctx| closing::withdraw_needs_request(ctx)
    ),
    escrow_check!(
        "escrow.withdraw.grace-minimum",
        [
            "evm-session.forced-close.grace-minimum",
            "evm-session.forced-close.settle-during-grace"
        ],
        |ctx| closing::grace_minimum(ctx)
    ),
    escrow_check!(
        "escrow.withdraw.refunds-once",
        [
            "evm-session.withdraw.effects",
            "evm-session.withdraw.reverts",
            "evm-session.withdraw.abi"
        ],
        |ctx| closing::withdraw_once(ctx)
    ),
];

pub(super) fn settle(channel: B256, amount: u128, signature: Bytes) -> E::settleCall {
    E::settleCall {
        channelId: channel,
        cumulativeAmount: amount,
        signature,
    }
}

pub(super) fn close(channel: B256, amount: u128, signature: Bytes) -> E::closeCall {
    E::closeCall {
        channelId: channel,
        cumulativeAmount: amount,
        signature,
    }
}

/// Sends what a conformant escrow must refuse; `Some(finding)` when it was
/// mined.
pub(super) async fn refused<C: alloy::sol_types::SolCall>(
    ctx: &EscrowCtx,
    from: &Party,
    what: &str,
    call: C,
) -> Result<Option<String>, Outcome> {
    Ok(ctx
        .send(from, what, call)
        .await?
        .then(|| format!("{what} from the {} was mined", from.role)))
}

/// Sends `call` from the stranger and from the payer: what only the
/// channel's payee may do (settle, close) must revert for both.
pub(super) async fn refused_unless_payee<C: alloy::sol_types::SolCall + Clone>(
    ctx: &EscrowCtx,
    what: &str,
    call: C,
) -> Result<Vec<String>, Outcome> {
    let mut findings = Vec::new();
    for who in [&ctx.stranger, &ctx.payer] {
        findings.extend(refused(ctx, who, what, call.clone()).await?);
    }
    Ok(findings)
}

/// A check's verdict from the attempts a conformant escrow refuses.
pub(super) fn verdict(expected: &str, findings: Vec<String>, passed: impl Into<String>) -> Outcome {
    if findings.is_empty() {
        Outcome::pass(passed)
    } else {
        Outcome::fail(expected, findings.join("; "))
    }
}

async fn open_channel_id(ctx: &EscrowCtx) -> Step {
    let salt = B256::random();
    let call = ctx.open_call(salt, Address::ZERO);
    let expected = evm_session::channel_id(
        ctx.payer.address(),
        ctx.payee.address(),
        ctx.token,
        salt,
        Address::ZERO,
        ctx.escrow,
        ctx.chain_id,
    );
    let Some(returned) = ctx.simulate(&ctx.payer, call.clone()).await? else {
        return Ok(Outcome::fail(
            "open(payee, token, deposit, salt, authorizedSigner) from a payer that approved the escrow succeeds",
            "it reverts",
        ));
    };
    let before = ctx.balances("before open").await?;
    if !ctx.send(&ctx.payer, "open", call).await? {
        return Ok(Outcome::fail(
            "the payer's open is mined",
            "it reverted (its eth_call did not)",
        ));
    }
    let after = ctx.balances("after open").await?;
    let mut findings = Vec::new();
    if returned != expected {
        findings.push(format!(
            "open returned channelId {returned}, not keccak256(abi.encode(payer, payee, token, salt, authorizedSigner, address(this), block.chainid)) = {expected}"
        ));
    }
    if before[0] - after[0] != DEPOSIT || after[3] - before[3] != DEPOSIT {
        findings.push(format!(
            "the payer paid {} and the escrow received {} of a {DEPOSIT} deposit",
            before[0] - after[0],
            after[3].saturating_sub(before[3])
        ));
    }
    Ok(verdict(
        "open returns the draft's channelId and escrows the deposit",
        findings,
        format!("channelId {returned}; {DEPOSIT} moved from the payer to the escrow"),
    ))
}

async fn open_existing(ctx: &EscrowCtx) -> Step {
    let (channel, salt) = ctx.open(Address::ZERO).await?;
    let before = ctx.balances("after the first open").await?;
    let again = refused(
        ctx,
        &ctx.payer,
        "a second open with the same inputs",
        ctx.open_call(salt, Address::ZERO),
    )
    .await?;
    let after = ctx.balances("after the second open").await?;
    let findings: Vec<String> = again
        .into_iter()
        .map(|f| {
            format!(
                "{f} (channel {channel}; the escrow now holds {} more)",
                after[3] - before[3]
            )
        })
        .collect();
    Ok(verdict(
        "open reverts for a channelId that exists",
        findings,
        "the second open reverted",
    ))
}

async fn no_reopen(ctx: &EscrowCtx) -> Step {
    let (channel, salt) = ctx.open(Address::ZERO).await?;
    let old = ctx.close_valid(channel, 400).await?;
    let Some(finding) = refused(
        ctx,
        &ctx.payer,
        "open with the closed channel's inputs (same salt)",
        ctx.open_call(salt, Address::ZERO),
    )
    .await?
    else {
        return Ok(Outcome::pass("re-opening the closed channel's id reverted"));
    };
    // The attack the rule exists for: the old epoch's voucher, replayed
    // against the fresh deposit.
    let before = ctx.balances("after the re-open").await?;
    let replayed = ctx
        .send(
            &ctx.payee,
            "settle the old voucher for 400 again",
            settle(channel, 400, old),
        )
        .await?;
    let after = ctx.balances("after the replay").await?;
    Ok(Outcome::fail(
        "a finalized channel's record is kept and its id can never be opened again",
        if replayed {
            format!(
                "{finding}, and the closed epoch's voucher for 400 then paid the payee {} more from the new deposit",
                after[1] - before[1]
            )
        } else {
            format!("{finding} (the old voucher did not settle again)")
        },
    ))
}

async fn settle_pays_delta(ctx: &EscrowCtx) -> Step {
    let (channel, _) = ctx.open(Address::ZERO).await?;
    let mut paid = Vec::new();
    for amount in [300u128, 700] {
        let before = ctx.balances(&format!("before settling {amount}")).await?;
        let signature = ctx.voucher(&ctx.payer, channel, amount);
        if !ctx
            .send(
                &ctx.payee,
                &format!("settle {amount}"),
                settle(channel, amount, signature),
            )
            .await?
        {
            return Ok(Outcome::fail(
                format!(
                    "the payee settles the payer's voucher for {amount}, signed as §\"Signing Procedure\" says"
                ),
                "it reverted",
            ));
        }
        let after = ctx.balances(&format!("after settling {amount}")).await?;
        paid.push(after[1] - before[1]);
    }
    Ok(if paid == [300, 400] {
        Outcome::pass("cumulative vouchers for 300 then 700 paid the payee 300 then 400")
    } else {
        Outcome::fail(
            "cumulative vouchers for 300 then 700 pay the payee 300 then 400 (delta = cumulativeAmount - settled)",
            format!("the payee received {} then {}", paid[0], paid[1]),
        )
    })
}

async fn settle_payee_only(ctx: &EscrowCtx) -> Step {
    let (channel, _) = ctx.open(Address::ZERO).await?;
    let signature = ctx.voucher(&ctx.payer, channel, 300);
    let findings = refused_unless_payee(ctx, "settle 300", settle(channel, 300, signature)).await?;
    if findings.is_empty() {
        ctx.settle_valid(channel, 300).await?;
    }
    Ok(verdict(
        "settle reverts unless msg.sender is the channel's payee",
        findings,
        "settle by the stranger and by the payer reverted; the payee's settled",
    ))
}

async fn settle_increasing(ctx: &EscrowCtx) -> Step {
    let (channel, _) = ctx.open(Address::ZERO).await?;
    ctx.settle_valid(channel, 300).await?;
    let mut findings = Vec::new();
    for amount in [300u128, 200] {
        let signature = ctx.voucher(&ctx.payer, channel, amount);
        findings.extend(
            refused(
                ctx,
                &ctx.payee,
                &format!("settle {amount} after 300 was settled"),
                settle(channel, amount, signature),
            )
            .await?,
        );
    }
    Ok(verdict(
        "settle reverts when cumulativeAmount <= channel.settled",
        findings,
        "after 300, settling 300 again and 200 reverted",
    ))
}

async fn settle_deposit_cap(ctx: &EscrowCtx) -> Step {
    // A second channel puts other funds in the escrow's pool: what an
    // uncapped settle would pay out of.
    let (channel, _) = ctx.open(Address::ZERO).await?;
    ctx.open(Address::ZERO).await?;
    let before = ctx.balances("before").await?;
    let over = ctx.voucher(&ctx.payer, channel, DEPOSIT + 1);
    let mut findings: Vec<String> = refused(
        ctx,
        &ctx.payee,
        &format!("settle {} (above the deposit)", DEPOSIT + 1),
        settle(channel, DEPOSIT + 1, over),
    )
    .await?
    .into_iter()
    .collect();
    let after = ctx.balances("after").await?;
    if after[1] > before[1] {
        findings.push(format!(
            "the payee received {} of a {DEPOSIT} deposit, out of the other channel's funds",
            after[1] - before[1]
        ));
    }
    if findings.is_empty() {
        // The bound is inclusive: the whole deposit settles.
        let whole = ctx.voucher(&ctx.payer, channel, DEPOSIT);
        if !ctx
            .send(
                &ctx.payee,
                "settle the whole deposit",
                settle(channel, DEPOSIT, whole),
            )
            .await?
        {
            findings.push(format!(
                "a voucher for exactly the deposit ({DEPOSIT}) reverted: only cumulativeAmount > deposit must"
            ));
        }
    }
    Ok(verdict(
        "settle reverts when cumulativeAmount > channel.deposit, and settles the deposit itself",
        findings,
        "a voucher above the deposit reverted; one for the whole deposit settled",
    ))
}

/// The same signature with s' = n - s and the other v: it recovers the same
/// signer, and only a low-s rule refuses it.
fn high_s_twin(signature: &Bytes) -> Bytes {
    const ORDER: U256 = U256::from_be_bytes(alloy::hex!(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141"
    ));
    let mut twin = signature.to_vec();
    let s = U256::from_be_slice(&twin[32..64]);
    twin[32..64].copy_from_slice(&(ORDER - s).to_be_bytes::<32>());
    twin[64] = if twin[64] == 27 { 28 } else { 27 };
    Bytes::from(twin)
}

async fn low_s(ctx: &EscrowCtx) -> Step {
    let (channel, _) = ctx.open(Address::ZERO).await?;
    let signature = ctx.voucher(&ctx.payer, channel, 300);
    let findings: Vec<String> = refused(
        ctx,
        &ctx.payee,
        "settle 300 with the high-s twin of the payer's signature",
        settle(channel, 300, high_s_twin(&signature)),
    )
    .await?
    .into_iter()
    .collect();
    if findings.is_empty() {
        ctx.settle_valid(channel, 300).await?;
    }
    Ok(verdict(
        "a voucher signature with s > secp256k1n/2 reverts",
        findings,
        "the high-s twin reverted; the low-s original settled",
    ))
}

async fn authorized_signer(ctx: &EscrowCtx) -> Step {
    let (delegated, _) = ctx.open(ctx.delegate.address()).await?;
    let mut findings = Vec::new();
    for signer in [&ctx.payer, &ctx.stranger] {
        let signature = ctx.voucher(signer, delegated, 300);
        findings.extend(
            refused(
                ctx,
                &ctx.payee,
                &format!(
                    "settle 300 on a channel whose authorizedSigner is another key, signed by the {}",
                    signer.role
                ),
                settle(delegated, 300, signature),
            )
            .await?,
        );
    }
    let (own, _) = ctx.open(Address::ZERO).await?;
    let stranger = ctx.voucher(&ctx.stranger, own, 300);
    findings.extend(
        refused(
            ctx,
            &ctx.payee,
            "settle 300 on a channel without authorizedSigner, signed by the stranger",
            settle(own, 300, stranger),
        )
        .await?,
    );
    if findings.is_empty() {
        let signature = ctx.voucher(&ctx.delegate, delegated, 300);
        if !ctx
            .send(
                &ctx.payee,
                "settle 300 signed by the authorized signer",
                settle(delegated, 300, signature),
            )
            .await?
        {
            findings.push("the authorized signer's own voucher reverted".into());
        }
    }
    Ok(verdict(
        "only channel.authorizedSigner (or the payer when it is zero) signs vouchers",
        findings,
        "the payer's and a stranger's vouchers reverted on a delegated channel, a stranger's on the payer's own; the authorized signer's settled",
    ))
}

async fn domain_binding(ctx: &EscrowCtx) -> Step {
    let (channel, _) = ctx.open(Address::ZERO).await?;
    let others = [
        (
            "Tempo's domain name \"Tempo Stream Channel\"",
            domain("Tempo Stream Channel", ctx.chain_id, ctx.escrow),
        ),
        (
            "another verifyingContract (the token's address)",
            domain("EVM Payment Channel", ctx.chain_id, ctx.token),
        ),
        (
            "another chainId",
            domain("EVM Payment Channel", ctx.chain_id + 1, ctx.escrow),
        ),
    ];
    let mut findings = Vec::new();
    for (what, other) in others {
        let signature = ctx.voucher_in(&other, &ctx.payer, channel, 300);
        findings.extend(
            refused(
                ctx,
                &ctx.payee,
                &format!("settle 300 with the payer's voucher under {what}"),
                settle(channel, 300, signature),
            )
            .await?,
        );
    }
    if findings.is_empty() {
        ctx.settle_valid(channel, 300).await?;
    }
    Ok(verdict(
        "vouchers verify only under the draft's domain (\"EVM Payment Channel\", \"1\", this chain, this escrow)",
        findings,
        "vouchers under Tempo's name, another contract and another chain reverted; the draft's settled",
    ))
}
