//! One open channel of a session check: a fresh payer, its channel on the
//! challenge's escrow, and the accounting the server's receipts state.

use alloy::primitives::U256;
use mppconf_suite::codec::{Challenge, Receipt};
use mppconf_suite::vectors::Verdict;
use serde_json::{Map, Value};

use crate::chain::escrow::Escrow;
use crate::methods::tempo_session::{OpenFlaw, SessionPayer, SessionTerms, v2_blocked};
use crate::server_suite::check::{blocked, fresh, transport};
use crate::server_suite::{Answer, Ctx, Outcome};

/// One open channel of a check.
pub(super) struct Session<'a> {
    pub(super) ctx: &'a Ctx,
    pub(super) challenge: Challenge,
    pub(super) payer: SessionPayer,
    /// The highest voucher the server accepted, and what it says was spent.
    pub(super) accepted: U256,
    pub(super) spent: U256,
}

pub(super) fn price(payer: &SessionPayer) -> U256 {
    payer.terms.price
}

/// The terms of a fresh session challenge, and a payer funded for it.
pub(super) async fn payer(ctx: &Ctx) -> Result<(Challenge, SessionPayer), Outcome> {
    let challenge = fresh(ctx).await?;
    let terms = SessionTerms::from_request(&challenge.request.value)
        .map_err(|e| blocked(format!("not a tempo session request: {e}")))?;
    if let Some(why) = v2_blocked(&terms, &ctx.target.rpc_url).await {
        return Err(blocked(why));
    }
    if terms.price.is_zero() {
        return Err(Outcome::skip(
            "the session's price is 0: nothing to account",
        ));
    }
    let funds = terms.price * U256::from(1000u64) + U256::from(10_000_000u64);
    let payer = SessionPayer::fresh(terms, &ctx.target.rpc_url, funds)
        .await
        .map_err(Outcome::error)?;
    Ok((challenge, payer))
}

/// What a session answer says: its status and its receipt, if any.
pub(super) fn receipt_of(answer: &Answer) -> Option<Receipt> {
    answer
        .header("payment-receipt")
        .and_then(|h| Receipt::parse(h).ok())
}

pub(super) fn amount_in(receipt: &Receipt, field: &str) -> Option<U256> {
    receipt
        .extra
        .get(field)
        .and_then(Value::as_str)
        .and_then(|s| U256::from_str_radix(s, 10).ok())
}

impl<'a> Session<'a> {
    /// A fresh challenge and payer, and the `open` payload (with `flaw`) of
    /// a channel of `deposit_units` requests whose initial voucher pays
    /// one; nothing sent yet.
    pub(super) async fn opening(
        ctx: &'a Ctx,
        deposit_units: u64,
        flaw: OpenFlaw,
    ) -> Result<(Session<'a>, Map<String, Value>), Outcome> {
        let (challenge, payer) = payer(ctx).await?;
        let p = price(&payer);
        let payload = payer
            .open_payload(p * U256::from(deposit_units), p, flaw)
            .await
            .map_err(Outcome::error)?;
        let session = Session {
            ctx,
            challenge,
            payer,
            accepted: U256::ZERO,
            spent: U256::ZERO,
        };
        Ok((session, payload))
    }

    /// Opens a channel of `deposit` units with an initial voucher paying
    /// one request; `Err` is `blocked` when a valid open is refused (the
    /// open check judges that).
    pub(super) async fn open(ctx: &'a Ctx, deposit_units: u64) -> Result<Session<'a>, Outcome> {
        let (mut session, payload) = Self::opening(ctx, deposit_units, OpenFlaw::None).await?;
        let answer = session.send(payload).await?;
        if !(200..300).contains(&answer.status) {
            return Err(blocked(format!(
                "a valid open was refused ({}): session.open-and-vouchers-paid says why",
                answer.status
            )));
        }
        session.note(&answer);
        Ok(session)
    }

    pub(super) async fn send(&self, payload: Map<String, Value>) -> Result<Answer, Outcome> {
        let header = self.payer.credential(&self.challenge, payload).to_header();
        self.ctx.send(&[&header], None).await.map_err(transport)
    }

    /// Sends a voucher for `amount` (`action` voucher or close).
    pub(super) async fn voucher(&mut self, action: &str, amount: U256) -> Result<Answer, Outcome> {
        let answer = self
            .send(self.payer.voucher_payload(action, amount))
            .await?;
        self.note(&answer);
        Ok(answer)
    }

    /// Keeps the receipt's accounting.
    pub(super) fn note(&mut self, answer: &Answer) {
        if let Some(r) = receipt_of(answer) {
            self.accepted = amount_in(&r, "acceptedCumulative").unwrap_or(self.accepted);
            self.spent = amount_in(&r, "spent").unwrap_or(self.spent);
        }
    }

    /// The next voucher after a served request, `units` requests ahead.
    pub(super) fn next(&self, units: u64) -> U256 {
        self.accepted.max(self.spent) + price(&self.payer) * U256::from(units)
    }

    pub(super) fn escrow(&self) -> Escrow {
        Escrow::at(self.payer.terms.escrow, &self.ctx.target.rpc_url)
    }

    /// The escrow's events for the channel, as evidence.
    pub(super) async fn chain_evidence(&self) -> String {
        match self.escrow().events(self.payer.channel_id()).await {
            Ok(events) => format!(
                "escrow {} events for channel {}: {events:?}",
                self.payer.terms.escrow,
                self.payer.channel_id()
            ),
            Err(e) => format!("the escrow's events could not be read: {e}"),
        }
    }
}

/// A refused session credential: 402 (400 or 410 are `warn`,
/// ambiguity.tempo-session-error-status), never 2xx or 5xx, no receipt.
pub(super) fn refused(answer: &Answer, what: &str) -> Outcome {
    if (200..300).contains(&answer.status) {
        return Outcome::fail(
            format!("{what} refused (402)"),
            format!("{}: served", answer.status),
        );
    }
    if answer.header("payment-receipt").is_some() {
        return Outcome::fail(
            format!("{what} refused without a Payment-Receipt"),
            format!("{} with a Payment-Receipt", answer.status),
        );
    }
    match answer.status {
        402 => Outcome::pass(format!("{what}: refused with 402")),
        400 | 410 => Outcome {
            verdict: Verdict::Warn,
            detail: format!(
                "{what}: refused with {} (the draft's own table; the core draft asks 402 on the protected resource, ambiguity.tempo-session-error-status)",
                answer.status
            ),
        },
        s => Outcome::fail(format!("{what} refused (402)"), s),
    }
}
