//! draft-tempo-session-00 §"Voucher Submission Transport": a voucher on
//! `HEAD`.

use super::{Session, Step, amount_in, price, receipt_of};
use crate::server_suite::check::{blocked, transport};
use crate::server_suite::{Ctx, Outcome};

/// §"Voucher Submission Transport": "Servers SHOULD support voucher
/// credentials on `HEAD` requests": a voucher on `HEAD` is taken (2xx,
/// its receipt's `acceptedCumulative` advanced), and as a voucher-only
/// update it delivers nothing, so it is charged nothing: the next request
/// on the resource's own method costs one price on top of what was spent
/// before the `HEAD` (read from the receipts' `spent`, when they have it).
pub(super) async fn head_voucher(ctx: &Ctx) -> Step {
    let mut s = Session::open(ctx, 10).await?;
    let p = price(&s.payer);
    let spent_before = s.spent;
    let raised = s.next(1);
    let header = s
        .payer
        .credential(&s.challenge, s.payer.voucher_payload("voucher", raised))
        .to_header();
    let head = ctx
        .request(
            reqwest::Method::HEAD,
            &ctx.target.url(),
            &[&header],
            None,
            &[],
        )
        .await
        .map_err(transport)?;
    if !(200..300).contains(&head.status) {
        return Ok(Outcome::fail(
            format!("a voucher for {raised} on HEAD taken (2xx)"),
            head.status,
        ));
    }
    if let Some(receipt) = receipt_of(&head)
        && amount_in(&receipt, "acceptedCumulative").is_some_and(|a| a != raised)
    {
        return Ok(Outcome::fail(
            format!("the HEAD's receipt has acceptedCumulative {raised}"),
            receipt
                .extra
                .get("acceptedCumulative")
                .cloned()
                .unwrap_or_default(),
        ));
    }
    s.note(&head);
    let next = raised + p;
    let answer = s.voucher("voucher", next).await?;
    if !(200..300).contains(&answer.status) {
        return Err(blocked(format!(
            "the voucher for {next} after the HEAD was refused ({}): {}",
            answer.status,
            answer.problem().and_then(|p| p.detail).unwrap_or_default()
        )));
    }
    let Some(spent) = receipt_of(&answer).and_then(|r| amount_in(&r, "spent")) else {
        return Ok(Outcome::pass(format!(
            "HEAD with a voucher for {raised} answered {} (the receipts state no spent: what HEAD was charged is not visible)",
            head.status
        )));
    };
    if spent != spent_before + p {
        return Ok(Outcome::fail(
            format!(
                "spent {} after the HEAD and one request at {p} (before: {spent_before}): a voucher-only HEAD is charged nothing",
                spent_before + p
            ),
            format!("spent {spent}"),
        ));
    }
    Ok(Outcome::pass(format!(
        "HEAD with a voucher for {raised} answered {}, charged nothing; the next request brought spent from {spent_before} to {spent}",
        head.status
    )))
}
