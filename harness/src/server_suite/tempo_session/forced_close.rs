//! draft-tempo-session-00 §"Forced Close": when a payer calls
//! `requestClose`, the server "can still `settle()` or `close()` during
//! grace period" (§"Grace Period Rationale": the grace period is there
//! for payees "to detect close requests and submit final settlements").

use std::time::{Duration, Instant};

use alloy::primitives::U256;

use super::{Session, Step};
use crate::server_suite::check::blocked;
use crate::server_suite::{Ctx, Outcome};

/// How long the check gives the server to settle after `requestClose`
/// (the escrow's grace period is 15 minutes; a server that watches the
/// chain settles within a few blocks).
const SETTLE_WAIT: Duration = Duration::from_secs(10);

/// Two requests served, then the payer calls `requestClose` on chain: the
/// server settles what it delivered before the payer can withdraw it
/// (the draft gives no keyword: a server that does not loses the
/// delivered service to the payer's `withdraw`, so it is a `warn`).
pub(super) async fn settles_on_close_request(ctx: &Ctx) -> Step {
    let mut s = Session::open(ctx, 10).await?;
    let next = s.next(1);
    let answer = s.voucher("voucher", next).await?;
    if !(200..300).contains(&answer.status) || s.spent.is_zero() {
        return Err(blocked(format!(
            "a valid voucher for {next} was not served with a receipt stating what was spent ({}): nothing delivered to settle",
            answer.status
        )));
    }
    let spent = s.spent;
    s.payer.request_close().await.map_err(Outcome::error)?;
    let escrow = s.escrow();
    let channel = s.payer.channel_id();
    let started = Instant::now();
    let mut settled = U256::ZERO;
    while started.elapsed() < SETTLE_WAIT {
        ctx.pause(Duration::from_millis(250)).await;
        let on_chain = escrow
            .channel(channel)
            .await
            .map_err(|e| Outcome::error(e.to_string()))?;
        settled = U256::from(on_chain.settled);
        if settled >= spent {
            return Ok(Outcome::pass(format!(
                "{settled} settled {:.1}s after the payer's requestClose (the receipts said {spent} was spent); {}",
                started.elapsed().as_secs_f64(),
                s.chain_evidence().await
            )));
        }
    }
    Ok(Outcome::fail(
        format!(
            "the {spent} spent settled on chain within {}s of the payer's requestClose (during the grace period)",
            SETTLE_WAIT.as_secs()
        ),
        format!(
            "settled {settled}: after the grace period the payer's withdraw takes back {} of delivered service; {}",
            spent - settled.min(spent),
            s.chain_evidence().await
        ),
    ))
}
