//! The reference session client: `mppconf pay` against a `tempo`/`session`
//! challenge (draft-tempo-session-00, `sessionProtocol` v1).
//!
//! It opens a channel on the challenge's escrow with a deposit within its
//! budget, asks for the resource as a metered stream, answers each
//! `payment-need-voucher` with one more unit (topping up first when the
//! deposit is short), and closes the channel when the stream ends or it
//! stops. It keeps its own accounting: it signs at most one unit beyond
//! what was delivered to it, whatever the server says it accepted or
//! requires, because a voucher is money the server can settle
//! (draft-httpauth-payment-00 §"Amount Verification": the client checks
//! what it pays against its expectations).

use std::time::Duration;

use alloy::primitives::U256;
use mppconf_suite::codec::Challenge;
use mppconf_suite::methods::tempo_session_stream::{EventReader, NeedVoucher};
use serde_json::{Map, Value, json};

use super::client::{Deviation, PayOptions, PayOutcome, read_receipt};
use crate::error::{Error, Result};
use crate::methods::tempo_session::{OpenFlaw, SessionPayer, SessionTerms, v2_blocked};

/// How long the stream may stay silent before the client stops reading
/// (the draft suggests servers close a paused stream after about 60 s).
const QUIET: Duration = Duration::from_secs(10);

/// At most this many events are read from one stream.
const MAX_EVENTS: usize = 1000;

fn refused(why: impl Into<String>) -> Error {
    Error::Refused(why.into())
}

/// Where the session stands, from the client's own view.
struct Session<'a> {
    opts: &'a PayOptions,
    http: &'a reqwest::Client,
    url: &'a str,
    field: &'a str,
    challenge: Challenge,
    payer: SessionPayer,
    /// The price of a unit, and the most the client pays in all.
    price: U256,
    budget: U256,
    /// The deposit on chain, as far as the client funded it.
    deposit: U256,
    /// The highest cumulative amount signed.
    signed: U256,
    /// Units of content delivered to the client.
    delivered: u64,
}

impl Session<'_> {
    fn deviates(&self, d: Deviation) -> bool {
        self.opts.deviations.contains(&d)
    }

    /// A voucher or close payload for `amount`, signed as the client
    /// signs (its deviations included).
    fn voucher(&self, action: &str, amount: U256) -> Map<String, Value> {
        let chain_id = if self.deviates(Deviation::SessionWrongDomain) {
            self.payer.terms.chain_id + 1
        } else {
            self.payer.terms.chain_id
        };
        let signature = self.payer.sign_for(
            self.payer.terms.escrow,
            chain_id,
            self.payer.channel_id(),
            amount,
        );
        let mut payload = self
            .payer
            .voucher_payload_signed(action, amount, &signature);
        if self.deviates(Deviation::SessionUppercaseHex) {
            let upper = format!("0x{}", alloy::hex::encode_upper(self.payer.channel_id()));
            payload.insert("channelId".into(), upper.into());
        }
        payload
    }

    /// Sends a payload on the resource; `HEAD` for a pure voucher update
    /// or topUp (§"Session Flow": "clients MAY use `HEAD` for pure voucher
    /// top-ups").
    async fn send(
        &self,
        method: reqwest::Method,
        payload: Map<String, Value>,
        stream: bool,
    ) -> Result<reqwest::Response> {
        let credential = self.payer.credential(&self.challenge, payload).to_header();
        let mut rb = self
            .http
            .request(method, self.url)
            .header(self.field, credential);
        // §"Request Idempotency": "Clients SHOULD include an
        // Idempotency-Key header on paid requests".
        if !self.deviates(Deviation::SessionNoIdempotencyKey) {
            rb = rb.header(
                "idempotency-key",
                alloy::primitives::B128::random().to_string(),
            );
        }
        if stream {
            rb = rb.header("accept", "text/event-stream");
        }
        rb.send()
            .await
            .map_err(|e| Error::Usage(format!("{}: unreachable ({e})", self.url)))
    }

    /// A voucher for `amount` on its own `HEAD` request; whether the
    /// server took it.
    async fn send_voucher(&mut self, amount: U256) -> Result<bool> {
        let answer = self
            .send(
                reqwest::Method::HEAD,
                self.voucher("voucher", amount),
                false,
            )
            .await?;
        let taken = answer.status().is_success();
        if taken {
            self.signed = self.signed.max(amount);
        } else if amount > self.signed {
            // A refused voucher is still signed: the server holds it.
            self.signed = amount;
        }
        if self.deviates(Deviation::SessionRepeatVoucher) && taken && amount > self.price {
            let previous = amount - self.price;
            self.send(
                reqwest::Method::HEAD,
                self.voucher("voucher", previous),
                false,
            )
            .await?;
        }
        Ok(taken)
    }

    /// Raises the deposit by `additional` with a `topUp` on its own
    /// request; whether the server took it.
    async fn top_up(&mut self, additional: U256) -> Result<bool> {
        let payload = self
            .payer
            .top_up_payload(additional)
            .await
            .map_err(|e| Error::Setup(format!("signing the topUp: {e}")))?;
        let answer = self.send(reqwest::Method::HEAD, payload, false).await?;
        let taken = answer.status().is_success();
        if taken {
            self.deposit += additional;
        }
        Ok(taken)
    }

    /// Answers one `payment-need-voucher`; `Err` with why the client
    /// stops paying.
    async fn answer_need(&mut self, need: &NeedVoucher) -> Result<std::result::Result<(), String>> {
        if need.channel_id != self.payer.channel_id() {
            return Ok(Err(format!(
                "payment-need-voucher names channel {}, not this session's {}",
                need.channel_id,
                self.payer.channel_id()
            )));
        }
        if self.deviates(Deviation::SessionIgnoreNeedVoucher) {
            return Ok(Err("payment-need-voucher left unanswered".into()));
        }
        let base = if self.deviates(Deviation::SessionTrustAccepted) {
            need.accepted_cumulative
        } else {
            self.signed
        };
        let next = base + self.price;
        if need.required_cumulative > next {
            return Ok(Err(format!(
                "the server requires {} cumulative, more than one unit ({}) beyond the {} this client signed",
                need.required_cumulative, self.price, self.signed
            )));
        }
        let paid_units = self.signed / self.price.max(U256::from(1u8));
        if !self.deviates(Deviation::SessionPayWithoutDelivery)
            && paid_units > U256::from(self.delivered)
        {
            return Ok(Err(format!(
                "{} unit(s) paid and {} delivered: nothing more is paid before delivery",
                paid_units, self.delivered
            )));
        }
        if next > self.budget && !self.deviates(Deviation::SessionIgnoreBudget) {
            return Ok(Err(format!(
                "{next} cumulative is beyond this client's budget of {}",
                self.budget
            )));
        }
        if next > self.deposit {
            if self.deviates(Deviation::SessionSkipTopUp) {
                return Ok(Err(format!(
                    "{next} cumulative is beyond the deposit {}",
                    self.deposit
                )));
            }
            if self.deviates(Deviation::SessionVoucherBeforeTopUp) {
                self.send_voucher(next).await?;
            }
            // Another deposit's worth, within the budget.
            let room = if self.deviates(Deviation::SessionIgnoreBudget) {
                U256::MAX
            } else {
                self.budget.saturating_sub(self.deposit)
            };
            let additional = self.deposit.max(next - self.deposit).min(room);
            if additional.is_zero() || !self.top_up(additional).await? {
                return Ok(Err(format!(
                    "the topUp of {additional} above the deposit {} was refused",
                    self.deposit
                )));
            }
        }
        if !self.send_voucher(next).await? {
            return Ok(Err(format!("the voucher for {next} was refused")));
        }
        Ok(Ok(()))
    }
}

/// Pays a session resource: open, stream, vouchers, close.
pub async fn pay(
    opts: &PayOptions,
    http: &reqwest::Client,
    url: &str,
    challenge: Challenge,
    field: &str,
) -> Result<PayOutcome> {
    let deviates = |d: Deviation| opts.deviations.contains(&d);
    let terms = SessionTerms::from_request(&challenge.request.value).map_err(refused)?;
    if let Some(why) = v2_blocked(&terms, &opts.rpc_url).await {
        return Err(refused(why));
    }
    // §"Amount Verification": the payee and token the user allows.
    if let Some(r) = opts.recipient
        && r != terms.recipient
    {
        return Err(refused(format!(
            "the session pays {}, not the allowed recipient {r}",
            terms.recipient
        )));
    }
    if let Some(c) = opts.currency
        && c != terms.currency
    {
        return Err(refused(format!(
            "the session is in {}, not the allowed currency {c}",
            terms.currency
        )));
    }
    let price = terms.price;
    if price.is_zero() {
        return Err(refused("the session's amount (price per unit) is 0"));
    }
    let budget = opts.max_amount.unwrap_or(U256::MAX);
    let suggested = challenge
        .request
        .value
        .get("suggestedDeposit")
        .and_then(Value::as_str)
        .and_then(|s| U256::from_str_radix(s, 10).ok())
        .unwrap_or(price * U256::from(10u8));
    let deposit = if deviates(Deviation::SessionIgnoreBudget) {
        suggested
    } else {
        suggested.min(budget)
    }
    .max(price);
    if deposit > budget && !deviates(Deviation::SessionIgnoreBudget) {
        return Err(refused(format!(
            "one unit ({price}) is beyond this client's budget of {budget}"
        )));
    }
    let key = super::tx::signer_from_key(&opts.key, "--key")?;
    let mut payer = SessionPayer::new(key, terms, &opts.rpc_url);
    if deviates(Deviation::SessionSelfPaidWhenSponsored) {
        payer.sponsored = false;
    }
    if deviates(Deviation::SessionAsksSponsorship) {
        payer.sponsored = true;
    }
    let flaw = if deviates(Deviation::SessionWrongChannelId) {
        OpenFlaw::OtherChannelId
    } else if deviates(Deviation::SessionOtherEscrow) {
        OpenFlaw::OtherEscrow
    } else {
        OpenFlaw::None
    };
    // The initial voucher pays the first unit, which the open request buys.
    let mut open = payer
        .open_payload(deposit, price, flaw)
        .await
        .map_err(|e| Error::Setup(format!("signing the open: {e}")))?;
    let mut session = Session {
        opts,
        http,
        url,
        field,
        challenge,
        payer,
        price,
        budget,
        deposit,
        signed: price,
        delivered: 0,
    };
    if deviates(Deviation::SessionWrongDomain) {
        let wrong = session.voucher("open", price);
        open.insert("signature".into(), wrong["signature"].clone());
    }
    // The deviation: a suggested channel is resumed as it is, with a
    // voucher for one unit, whatever it has left.
    let suggested = session.challenge.request.value["methodDetails"]["channelId"]
        .as_str()
        .and_then(|c| c.parse::<alloy::primitives::B256>().ok());
    if let Some(channel) = suggested.filter(|_| deviates(Deviation::SessionResumeUnchecked)) {
        open = session.payer.voucher_payload_for(channel, price);
    }
    let open_header = session
        .payer
        .credential(&session.challenge, open.clone())
        .to_header();
    let answer = session.send(reqwest::Method::GET, open, true).await?;
    let status = answer.status().as_u16();
    let mut receipt = read_receipt(&answer)?;
    if !answer.status().is_success() {
        let body = answer.text().await.unwrap_or_default();
        return Ok(PayOutcome {
            status,
            challenge_id: session.challenge.id,
            mode: "session",
            receipt,
            body,
            credential: open_header,
        });
    }
    let streams = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    let mut stopped = None;
    if streams {
        stopped = stream(&mut session, answer).await?;
    } else {
        let _ = answer.bytes().await;
        session.delivered = 1;
    }
    if !deviates(Deviation::SessionNoClose) {
        let close = session.voucher("close", session.signed);
        let answer = session.send(reqwest::Method::GET, close, false).await?;
        if answer.status().is_success() {
            receipt = read_receipt(&answer)?.or(receipt);
        } else {
            stopped.get_or_insert_with(|| format!("the close was answered {}", answer.status()));
        }
    }
    let body = json!({
        "channelId": session.payer.channel_id().to_string(),
        "delivered": session.delivered,
        "signed": session.signed.to_string(),
        "deposit": session.deposit.to_string(),
        "stopped": stopped,
    })
    .to_string();
    Ok(PayOutcome {
        status,
        challenge_id: session.challenge.id,
        mode: "session",
        receipt,
        body,
        credential: open_header,
    })
}

/// Reads the metered stream to its end, paying as it goes; why the client
/// stopped paying, if it did.
async fn stream(session: &mut Session<'_>, answer: reqwest::Response) -> Result<Option<String>> {
    use futures::StreamExt;
    let mut body = Box::pin(answer.bytes_stream());
    let mut reader = EventReader::default();
    let mut read = 0;
    loop {
        while let Some(event) = reader.next_event() {
            read += 1;
            if read > MAX_EVENTS {
                return Ok(Some(format!("more than {MAX_EVENTS} events")));
            }
            if event.is_content() {
                session.delivered += 1;
                continue;
            }
            match event.name.as_str() {
                "payment-need-voucher" => {
                    let need = match NeedVoucher::parse(&event.data) {
                        Ok(n) => n,
                        Err(e) => return Ok(Some(e)),
                    };
                    if let Err(why) = session.answer_need(&need).await? {
                        return Ok(Some(why));
                    }
                }
                "payment-receipt" => return Ok(None),
                _ => {}
            }
        }
        match tokio::time::timeout(QUIET, body.next()).await {
            Ok(Some(Ok(chunk))) => reader.push(&chunk),
            Ok(Some(Err(e))) => return Ok(Some(format!("the stream broke: {e}"))),
            Ok(None) => return Ok(None),
            Err(_) => return Ok(Some(format!("the stream was silent for {QUIET:?}"))),
        }
    }
}
