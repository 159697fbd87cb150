//! One open channel of an EVM session check (a fresh payer, its channel
//! on the challenge's escrow, the accounting its receipts state), and the
//! judge of refusals (ambiguity.evm-session-error-responses).

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use mppconf_suite::codec::{Challenge, Receipt};
use mppconf_suite::vectors::Verdict;
use serde_json::{Map, Value};

use crate::methods::evm_session::{EvmSessionPayer, EvmSessionTerms, OpenFlaw};
use crate::server_suite::check::{blocked, fresh, transport};
use crate::server_suite::{Answer, Ctx, Outcome};

/// The problem type URIs' base, and the session types' (§"Error
/// Responses").
const PROBLEMS: &str = "https://paymentauth.org/problems/";
const SESSION_PROBLEMS: &str = "https://paymentauth.org/problems/session/";

/// One open channel of a check, and the accounting its receipts state.
pub(super) struct Session<'a> {
    pub(super) ctx: &'a Ctx,
    pub(super) challenge: Challenge,
    pub(super) payer: EvmSessionPayer,
    pub(super) accepted: U256,
    pub(super) spent: U256,
}

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
    /// A fresh challenge and a payer funded for it.
    pub(super) async fn payer(ctx: &'a Ctx) -> Result<Session<'a>, Outcome> {
        let challenge = fresh(ctx).await?;
        let terms = EvmSessionTerms::from_request(&challenge.request.value)
            .map_err(|e| blocked(format!("not an EVM session request: {e}")))?;
        if !terms.offers_hash() {
            return Err(blocked(format!(
                "the challenge offers {:?}; these checks pay with hash credentials only",
                terms.credential_types
            )));
        }
        if terms.price.is_zero() {
            return Err(Outcome::skip(
                "the session's price is 0: nothing to account",
            ));
        }
        let funds = terms.price * U256::from(1000u64) + U256::from(10_000_000u64);
        let payer = EvmSessionPayer::fresh(terms, &ctx.target.rpc_url, funds)
            .await
            .map_err(Outcome::error)?;
        Ok(Session {
            ctx,
            challenge,
            payer,
            accepted: U256::ZERO,
            spent: U256::ZERO,
        })
    }

    pub(super) fn units(&self, n: u64) -> U256 {
        self.payer.terms.price * U256::from(n)
    }

    /// Opens a channel of `deposit` requests on chain; the open payload
    /// with an initial voucher for `initial` requests, not sent.
    pub(super) async fn opening(
        ctx: &'a Ctx,
        deposit: u64,
        initial: u64,
        flaw: OpenFlaw,
    ) -> Result<(Session<'a>, Map<String, Value>), Outcome> {
        let mut session = Self::payer(ctx).await?;
        let hash = session
            .payer
            .open_on_chain(session.units(deposit), flaw)
            .await
            .map_err(Outcome::error)?;
        let payload = session.payer.open_payload(hash, session.units(initial));
        Ok((session, payload))
    }

    /// A channel of `deposit` requests opened with an initial voucher for
    /// `initial` (the open buys one); `Err` is `blocked` when a valid open
    /// is refused (the open check judges that).
    pub(super) async fn open(
        ctx: &'a Ctx,
        deposit: u64,
        initial: u64,
    ) -> Result<Session<'a>, Outcome> {
        let (mut session, payload) = Self::opening(ctx, deposit, initial, OpenFlaw::None).await?;
        let answer = session.send(payload).await?;
        if !(200..300).contains(&answer.status) {
            return Err(blocked(format!(
                "a valid open was refused ({}): evm-session.open-and-vouchers-paid says why",
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

    /// A request paid with the payer's voucher (`action` voucher or
    /// close) for `amount`.
    pub(super) async fn voucher(&mut self, action: &str, amount: U256) -> Result<Answer, Outcome> {
        let answer = self
            .send(self.payer.voucher_payload(action, amount))
            .await?;
        self.note(&answer);
        Ok(answer)
    }

    /// A voucher for `amount` signed by a stranger.
    pub(super) async fn forged(&self, amount: U256) -> Result<Answer, Outcome> {
        let stranger = PrivateKeySigner::random();
        let signature = self.payer.sign_as(&stranger, amount);
        self.send(
            self.payer
                .voucher_payload_signed("voucher", amount, &signature),
        )
        .await
    }

    pub(super) fn note(&mut self, answer: &Answer) {
        if let Some(r) = receipt_of(answer) {
            self.accepted = amount_in(&r, "acceptedCumulative").unwrap_or(self.accepted);
            self.spent = amount_in(&r, "spent").unwrap_or(self.spent);
        }
    }
}

/// A refused credential (ambiguity.evm-session-error-responses): the
/// core's 402, or the draft's status with its session problem type;
/// `specific` are the session types that name this refusal most closely
/// (none: any).
pub(super) fn refused(answer: &Answer, what: &str, specific: &[&str]) -> Outcome {
    if (200..300).contains(&answer.status) {
        return Outcome::fail(
            format!("{what} refused"),
            format!("{}: served", answer.status),
        );
    }
    if answer.header("payment-receipt").is_some() {
        return Outcome::fail(
            format!("{what} refused without a Payment-Receipt"),
            format!("{} with a Payment-Receipt", answer.status),
        );
    }
    let kind = serde_json::from_str::<Value>(&answer.body)
        .ok()
        .and_then(|b| b.get("type").and_then(Value::as_str).map(str::to_string));
    if let Some(t) = &kind
        && !t.starts_with(PROBLEMS)
        && t != "about:blank"
    {
        return Outcome::fail(
            format!("{what} refused with a problem type URI (evm-session.errors.no-raw-selector)"),
            format!("{}: type {t:?}", answer.status),
        );
    }
    let session_type = kind
        .as_deref()
        .and_then(|t| t.strip_prefix(SESSION_PROBLEMS));
    let warn = |detail: String| Outcome {
        verdict: Verdict::Warn,
        detail,
    };
    match (answer.status, session_type) {
        (402, None) => Outcome::pass(format!(
            "{what}: refused with 402 ({})",
            kind.as_deref().unwrap_or("no problem type")
        )),
        (status, Some(name)) => {
            let table = match name {
                "transaction-reverted" => 409,
                "channel-not-found" | "channel-finalized" => 410,
                _ => 402,
            };
            if !specific.is_empty() && !specific.contains(&name) {
                warn(format!(
                    "{what}: refused ({status}) as session/{name}; the most specific type is {specific:?} (evm-session.errors.most-specific)"
                ))
            } else if status != table {
                warn(format!(
                    "{what}: refused as session/{name} with {status}, where the draft's table says {table}"
                ))
            } else {
                Outcome::pass(format!("{what}: refused with {status} session/{name}"))
            }
        }
        (400 | 409 | 410, None) => warn(format!(
            "{what}: refused with {} but no session problem type (the draft's table pairs each status with one)",
            answer.status
        )),
        (status, None) => Outcome::fail(format!("{what} refused (402)"), status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, problem_type: Option<&str>) -> Answer {
        Answer {
            status,
            headers: Default::default(),
            body: problem_type
                .map(|t| serde_json::json!({"type": t, "status": status}).to_string())
                .unwrap_or_default(),
        }
    }

    fn verdict(status: u16, problem_type: Option<&str>, specific: &[&str]) -> Verdict {
        refused(&answer(status, problem_type), "a probe", specific).verdict
    }

    /// ambiguity.evm-session-error-responses, row by row.
    #[test]
    fn refusals_are_judged_by_the_error_responses_ambiguity() {
        let session = |name: &str| format!("{SESSION_PROBLEMS}{name}");
        let core = "https://paymentauth.org/problems/verification-failed";
        // The core's 402, whatever its type.
        assert_eq!(
            verdict(402, Some(core), &["signer-mismatch"]),
            Verdict::Pass
        );
        // The draft's status with its session type.
        assert_eq!(
            verdict(
                409,
                Some(&session("transaction-reverted")),
                &["transaction-reverted"]
            ),
            Verdict::Pass
        );
        assert_eq!(
            verdict(410, Some(&session("channel-finalized")), &[]),
            Verdict::Pass
        );
        // A session type under another status, or not the most specific.
        assert_eq!(
            verdict(
                402,
                Some(&session("transaction-reverted")),
                &["transaction-reverted"]
            ),
            Verdict::Warn
        );
        assert_eq!(
            verdict(
                402,
                Some(&session("invalid-signature")),
                &["amount-exceeds-deposit"]
            ),
            Verdict::Warn
        );
        assert_eq!(verdict(410, Some(core), &[]), Verdict::Warn);
        // Served, a server error, a raw revert as the type.
        assert_eq!(verdict(200, None, &[]), Verdict::Fail);
        assert_eq!(verdict(500, Some(core), &[]), Verdict::Fail);
        assert_eq!(verdict(402, Some("0x3a81d6fc"), &[]), Verdict::Fail);
        assert_eq!(verdict(403, None, &[]), Verdict::Fail);
    }

    #[test]
    fn a_refusal_with_a_receipt_fails() {
        let mut refusal = answer(402, None);
        refusal
            .headers
            .insert("payment-receipt", "e30".parse().expect("a header value"));
        assert_eq!(refused(&refusal, "a probe", &[]).verdict, Verdict::Fail);
    }
}
