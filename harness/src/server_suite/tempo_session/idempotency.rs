//! draft-tempo-session-00 §"Request Idempotency": a retried session
//! request (same challenge, same `Idempotency-Key`) is not charged again.

use alloy::primitives::B128;
use mppconf_suite::vectors::Verdict;

use super::{Session, Step, amount_in, price, receipt_of};
use crate::server_suite::check::{blocked, transport};
use crate::server_suite::{Ctx, Outcome};

/// A request paid by a voucher two units ahead (one unit left over), then
/// the same request again with the same `Idempotency-Key`: the retry must
/// not raise `spent` (MUST NOT) and should get the original answer
/// (SHOULD, `warn` when refused instead). A third request, on a new key
/// with a voucher one unit higher, shows what the retry consumed: `spent`
/// must be one price above the first request's.
pub(super) async fn idempotent_retry(ctx: &Ctx) -> Step {
    let mut s = Session::open(ctx, 10).await?;
    let p = price(&s.payer);
    let ahead = s.next(2);
    let header = s
        .payer
        .credential(&s.challenge, s.payer.voucher_payload("voucher", ahead))
        .to_header();
    let key = format!("mppconf-{}", B128::random());
    let first = ctx
        .send_with(&[&header], None, &[("idempotency-key", &key)])
        .await
        .map_err(transport)?;
    if !(200..300).contains(&first.status) {
        return Err(blocked(format!(
            "a valid voucher for {ahead} was refused ({}): session.open-and-vouchers-paid says why",
            first.status
        )));
    }
    s.note(&first);
    let spent = s.spent;
    let retry = ctx
        .send_with(&[&header], None, &[("idempotency-key", &key)])
        .await
        .map_err(transport)?;
    let retry_spent = receipt_of(&retry).and_then(|r| amount_in(&r, "spent"));
    if (200..300).contains(&retry.status) && retry_spent.is_some_and(|r| r > spent) {
        return Ok(Outcome::fail(
            format!(
                "the retry (same challenge, same Idempotency-Key) not charged: spent stays {spent}"
            ),
            format!("spent {}", retry_spent.unwrap_or_default()),
        ));
    }
    let next = ahead + p;
    let third = s.voucher("voucher", next).await?;
    if (200..300).contains(&third.status)
        && let Some(after) = receipt_of(&third).and_then(|r| amount_in(&r, "spent"))
        && after != spent + p
    {
        return Ok(Outcome::fail(
            format!(
                "spent {} after the request, its retry and one more request at {p} (the retry charged nothing)",
                spent + p
            ),
            format!("spent {after}"),
        ));
    }
    if !(200..300).contains(&retry.status) {
        return Ok(Outcome {
            verdict: Verdict::Warn,
            detail: format!(
                "the retry was not charged, but refused ({}) rather than answered with the original response (SHOULD)",
                retry.status
            ),
        });
    }
    Ok(Outcome::pass(format!(
        "the retry got {} without a charge (spent {}); the next request brought spent to {}",
        retry.status,
        retry_spent
            .map(|r| r.to_string())
            .unwrap_or_else(|| "not stated".into()),
        s.spent
    )))
}
