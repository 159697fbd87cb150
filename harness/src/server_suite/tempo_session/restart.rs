//! draft-tempo-session-00 §"Crash Safety": the accounting across the
//! server's restart.

use super::{Session, Step, price, receipt_of};
use crate::server_suite::check::blocked;
use crate::server_suite::{Ctx, Outcome};

/// §"Crash Safety": what a voucher paid for and what was spent survive
/// the server's restart (a graceful one: the harness stops and starts the
/// server it launched; a crash mid-request is not simulated). After the
/// restart the highest voucher, replayed, must buy nothing (its request
/// was served before), and the next one must be taken on the channel with
/// the accounting carried on.
pub(super) async fn restart(ctx: &Ctx) -> Step {
    let Some(restarter) = ctx.restart.clone() else {
        return Ok(Outcome::skip(
            "the harness did not start this server, so it cannot restart it (run it from a target manifest: --target)",
        ));
    };
    let mut s = Session::open(ctx, 10).await?;
    let p = price(&s.payer);
    let highest = s.next(1);
    let answer = s.voucher("voucher", highest).await?;
    if !(200..300).contains(&answer.status) {
        return Err(blocked(format!(
            "a valid voucher was refused before the restart ({}): session.open-and-vouchers-paid says why",
            answer.status
        )));
    }
    let (accepted, spent) = (s.accepted, s.spent);
    restarter.restart().await.map_err(Outcome::error)?;
    let replay = s.voucher("voucher", highest).await?;
    if (200..300).contains(&replay.status) {
        return Ok(Outcome::fail(
            format!(
                "after the restart, the voucher for {highest} (whose request was served before it) buys nothing"
            ),
            format!(
                "{}: served again, the accounting reset ({}; {})",
                replay.status,
                restarter.how(),
                s.chain_evidence().await
            ),
        ));
    }
    let next = highest + p;
    let answer = s.voucher("voucher", next).await?;
    if !(200..300).contains(&answer.status) {
        return Ok(Outcome::fail(
            format!("after the restart, the channel's next voucher ({next}) served"),
            format!(
                "{}: {} ({}; {})",
                answer.status,
                answer.problem().and_then(|p| p.detail).unwrap_or_default(),
                restarter.how(),
                s.chain_evidence().await
            ),
        ));
    }
    let want_spent = spent + p;
    if receipt_of(&answer).is_some() && (s.accepted != next || s.spent != want_spent) {
        return Ok(Outcome::fail(
            format!(
                "acceptedCumulative {next} and spent {want_spent} after the restart (before it: {accepted} and {spent})"
            ),
            format!("acceptedCumulative {} and spent {}", s.accepted, s.spent),
        ));
    }
    Ok(Outcome::pass(format!(
        "across a restart ({}): the replayed voucher {highest} was refused ({}), the next one {next} served with acceptedCumulative {} and spent {}",
        restarter.how(),
        replay.status,
        s.accepted,
        s.spent
    )))
}
