//! `mppconf pay`: the reference Tempo charge client.
//!
//! It pays one `tempo`/`charge` challenge in pull, push or proof mode and
//! refuses what a client MUST refuse: an expired challenge, a request
//! whose splits reach the amount, a chain other than its own, more than
//! its policy allows, and plain-http unless explicitly allowed. It is the
//! known-good target of every client check; each named [`Deviation`]
//! breaks one rule on purpose. A `tempo`/`session` challenge is paid by
//! [`super::session_client`], an `evm`/`charge` one by
//! [`super::evm_client`].

use mppconf_suite::drafts::CoreDraft;
use std::collections::BTreeSet;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use mppconf_suite::codec::challenge::PAYMENT_AUTHORIZATION;
use mppconf_suite::codec::{
    Challenge, Credential, EchoedChallenge, EncodedJson, Receipt, challenge, rfc3339,
};
use mppconf_suite::methods::tempo_effects::{self, ChargeRequest};
use serde_json::{Map, Value, json};

use super::tx::{self, PaymentPlan};
use crate::chain::Rpc;
use crate::error::{Error, Result};

pub use super::client_deviation::Deviation;

/// Which submission mode to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModeChoice {
    /// Pull unless the challenge excludes it.
    #[default]
    Auto,
    Pull,
    Push,
}

/// What to pay and under which policy.
#[derive(Debug, Clone)]
pub struct PayOptions {
    pub url: String,
    pub http_method: String,
    pub body: Option<Vec<u8>>,
    pub key: String,
    pub rpc_url: String,
    /// The most this client pays, in base units.
    pub max_amount: Option<U256>,
    pub currency: Option<Address>,
    pub recipient: Option<Address>,
    pub mode: ModeChoice,
    /// Send credentials over plain http (local testing only; the core
    /// draft forbids it otherwise).
    pub allow_http: bool,
    pub accept_payment: Option<String>,
    /// When the request names no memo, pay with `transferWithMemo` and the
    /// attribution memo that mppx servers require (see [`attribution_memo`]).
    pub attribution_memo: bool,
    pub deviations: BTreeSet<Deviation>,
    /// An authority to trust besides the system's (`--ca-cert`).
    pub ca: Option<reqwest::Certificate>,
    /// The core draft the client follows: under -01 it sends the
    /// credential in the field the challenge's `header` selects, and takes
    /// a challenge with any other `header` value as unrecognized.
    pub core: CoreDraft,
}

impl PayOptions {
    /// A GET with no policy limits, over https only, honest.
    pub fn new(url: &str, key: &str, rpc_url: &str) -> Self {
        Self {
            url: url.into(),
            http_method: "GET".into(),
            body: None,
            key: key.into(),
            rpc_url: rpc_url.into(),
            max_amount: None,
            currency: None,
            recipient: None,
            mode: ModeChoice::Auto,
            allow_http: false,
            accept_payment: None,
            attribution_memo: false,
            deviations: BTreeSet::new(),
            ca: None,
            core: CoreDraft::Draft00,
        }
    }
}

/// mppx's attribution memo: `keccak256("mpp")[0..4]`, version 1,
/// `keccak256(realm)[0..10]`, a 10-byte client id (ours:
/// `keccak256("mppconf")[0..10]`), `keccak256(challenge id)[0..7]`.
///
/// mppx 0.11.0 servers refuse a payment without it even when the request
/// has no `memo`, which draft-tempo-charge-00 does not require
/// (§"Transaction Verification" checks a memo only "If methodDetails.memo
/// is present"); a client may send it, since a memo is allowed whenever
/// none is asked for ("transfer(recipient, amount) or
/// transferWithMemo(recipient, amount, memo)").
pub fn attribution_memo(realm: &str, challenge_id: &str) -> B256 {
    use alloy::primitives::keccak256;
    let mut memo = [0u8; 32];
    memo[..4].copy_from_slice(&keccak256("mpp")[..4]);
    memo[4] = 1;
    memo[5..15].copy_from_slice(&keccak256(realm)[..10]);
    memo[15..25].copy_from_slice(&keccak256("mppconf")[..10]);
    memo[25..32].copy_from_slice(&keccak256(challenge_id)[..7]);
    B256::from(memo)
}

/// What happened.
#[derive(Debug, Clone)]
pub struct PayOutcome {
    pub status: u16,
    pub challenge_id: String,
    pub mode: &'static str,
    pub receipt: Option<Receipt>,
    pub body: String,
    /// The `Authorization` value sent (for replay scenarios and evidence).
    pub credential: String,
}

/// The client's refusal to pay, saying why.
pub(super) fn refused(why: impl Into<String>) -> Error {
    Error::Refused(why.into())
}

/// Makes the request, pays the 402 and retries; returns the final answer.
pub async fn pay(opts: &PayOptions) -> Result<PayOutcome> {
    let signer = tx::signer_from_key(&opts.key, "--key")?;
    let deviates = |d: Deviation| opts.deviations.contains(&d);
    if opts.url.starts_with("http://")
        && !opts.allow_http
        && !deviates(Deviation::IgnorePlainHttpRule)
    {
        // draft-httpauth-payment-00 §"Transport Security".
        return Err(refused(
            "will not send a Payment credential over plain http (pass --allow-http for local testing)",
        ));
    }
    let mut http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = &opts.ca {
        http = http.add_root_certificate(ca.clone());
    }
    let http = http.build().map_err(|e| Error::Setup(e.to_string()))?;
    let method: reqwest::Method = opts.http_method.parse().map_err(|_| {
        Error::Usage(format!(
            "--method {:?} is not an HTTP method",
            opts.http_method
        ))
    })?;
    let accept_payment = if deviates(Deviation::MalformedAcceptPayment) {
        Some("tempo/charge;q=high".to_string())
    } else {
        opts.accept_payment.clone()
    };
    // The field the credential goes in: `Authorization`, or under -01
    // the one the chosen challenge selects (set once it is chosen).
    let credential_field = std::cell::RefCell::new("authorization".to_string());
    let send = |url: &str, auth: Vec<String>, with_body: bool| {
        let mut rb = http.request(method.clone(), url);
        if let Some(a) = &accept_payment {
            rb = rb.header("accept-payment", a);
        }
        for a in auth {
            rb = rb.header(credential_field.borrow().as_str(), a);
        }
        if let (Some(b), true) = (&opts.body, with_body) {
            rb = rb.body(b.clone());
        }
        rb.send()
    };
    let url = if deviates(Deviation::DowngradeToHttp) {
        opts.url.replacen("https://", "http://", 1)
    } else {
        opts.url.clone()
    };
    let first = send(&url, Vec::new(), true)
        .await
        .map_err(|e| Error::Usage(format!("{url}: unreachable ({e})")))?;
    if first.status().as_u16() != 402 {
        return Err(refused(format!(
            "{} answered {}, not 402 Payment Required",
            opts.url,
            first.status()
        )));
    }
    // Field values as bytes: a quoted-string may carry obs-text (RFC 9110
    // §5.5), e.g. a UTF-8 description.
    let fields: Vec<String> = first
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter(|v| !deviates(Deviation::AsciiOnlyHeaders) || v.to_str().is_ok())
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let challenge = choose_with(&fields, &opts.deviations, opts.core)?;
    *credential_field.borrow_mut() = match challenge.header() {
        _ if opts.core.has_header_param() && deviates(Deviation::AlwaysPaymentAuthorization) => {
            PAYMENT_AUTHORIZATION.to_string()
        }
        _ if deviates(Deviation::CredentialInAuthorization) => "authorization".to_string(),
        Some(named) if opts.core.has_header_param() && deviates(Deviation::AnyHeaderValue) => {
            named.to_string()
        }
        _ => challenge.credential_field(opts.core).to_string(),
    };
    if challenge.intent == "session" {
        let field = credential_field.borrow().clone();
        return crate::reference::session_client::pay(opts, &http, &url, challenge, &field).await;
    }
    let (credential, mode) = if challenge.method == "evm" {
        super::evm_client::credential(&challenge, opts, &signer).await?
    } else {
        let request = check(&challenge, opts).await?;
        build_credential(&challenge, &request, opts, &signer).await?
    };
    let header = credential.to_header();
    let auth = if opts
        .deviations
        .contains(&Deviation::TwoAuthorizationHeaders)
    {
        vec![header.clone(), header.clone()]
    } else {
        vec![header.clone()]
    };
    let with_body = !deviates(Deviation::DropBodyOnRetry);
    let mut answer = send(&url, auth.clone(), with_body)
        .await
        .map_err(|e| Error::Usage(format!("{url}: unreachable on retry ({e})")))?;
    if deviates(Deviation::FollowRedirects)
        && answer.status().is_redirection()
        && let Some(location) = answer
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string)
    {
        answer = send(&location, auth, with_body)
            .await
            .map_err(|e| Error::Usage(format!("{location}: unreachable ({e})")))?;
    }
    let status = answer.status().as_u16();
    let receipt = read_receipt(&answer)?;
    let body = answer.text().await.unwrap_or_default();
    Ok(PayOutcome {
        status,
        challenge_id: challenge.id,
        mode,
        receipt,
        body,
        credential: header,
    })
}

/// The answer's `Payment-Receipt`, if it has one; a malformed one is
/// refused.
pub(super) fn read_receipt(answer: &reqwest::Response) -> Result<Option<Receipt>> {
    answer
        .headers()
        .get("payment-receipt")
        .and_then(|v| v.to_str().ok())
        .map(Receipt::parse)
        .transpose()
        .map_err(|e| refused(format!("the server's Payment-Receipt is malformed: {e}")))
}

/// Checks a challenge as [`pay`] would and builds the credential for it,
/// without sending it (push mode broadcasts the payment first). The
/// server suite uses this to get valid credentials it can then mutate.
pub async fn credential_for(challenge: &Challenge, opts: &PayOptions) -> Result<Credential> {
    let signer = tx::signer_from_key(&opts.key, "--key")?;
    let request = check(challenge, opts).await?;
    Ok(build_credential(challenge, &request, opts, &signer)
        .await?
        .0)
}

/// The first valid `tempo`/`charge` challenge, in server order.
pub fn choose(fields: &[String]) -> Result<Challenge> {
    choose_with(fields, &BTreeSet::new(), CoreDraft::Draft00)
}

/// [`choose`] under `core`, breaking the parsing and selection rules it is
/// told to.
fn choose_with(
    fields: &[String],
    deviations: &BTreeSet<Deviation>,
    core: CoreDraft,
) -> Result<Challenge> {
    let deviates = |d: Deviation| deviations.contains(&d);
    let fields: Vec<String> = fields
        .iter()
        .filter(|f| !deviates(Deviation::SmallHeaderLimit) || f.len() <= 2048)
        .filter(|f| {
            // A parser that splits on every comma breaks quoted strings
            // with commas in them, and gives up on the field.
            !deviates(Deviation::NaiveCommaSplit)
                || f.split(',')
                    .all(|part| part.replace("\\\"", "").matches('"').count() % 2 == 0)
        })
        .map(|f| {
            if !deviates(Deviation::AcceptMissingId) {
                return f.clone();
            }
            let f = f.replace("id=\"\"", "id=\"missing\"");
            if f.starts_with("Payment ") && !f.contains(" id=") {
                f.replacen("Payment ", "Payment id=\"missing\", ", 1)
            } else {
                f
            }
        })
        .collect();
    let all = challenge::parse_all(&fields)
        .map_err(|e| refused(format!("WWW-Authenticate is malformed: {e}")))?;
    let mut reasons = Vec::new();
    for c in all {
        match c {
            Ok(c) if deviates(Deviation::RejectUnknownParams) && !c.unknown_params.is_empty() => {
                reasons.push("unknown parameters".to_string())
            }
            // -01 §"Credentials": "Clients MUST treat any other `header`
            // value as an unrecognized challenge".
            Ok(c) if c.check_draft(core).is_err() && !deviates(Deviation::AnyHeaderValue) => {
                reasons.push(format!(
                    "header {:?} is unrecognized",
                    c.header().unwrap_or_default()
                ))
            }
            Ok(c) if deviates(Deviation::FirstChallengeOnly) => return Ok(c),
            Ok(c) if c.method == "tempo" && deviates(Deviation::AnyIntent) => return Ok(c),
            Ok(c) if c.method == "tempo" && matches!(c.intent.as_str(), "charge" | "session") => {
                return Ok(c);
            }
            Ok(c) if c.method == "evm" && c.intent == "charge" => return Ok(c),
            // "Clients that do not recognize an intent SHOULD treat the challenge as unsupported."
            Ok(c) => reasons.push(format!("{}/{} is not supported", c.method, c.intent)),
            // "clients and parsers MUST reject challenges whose id is missing or empty"
            Err(e) => reasons.push(format!("invalid challenge: {e}")),
        }
    }
    Err(refused(format!(
        "no payable tempo/charge, tempo/session or evm/charge challenge ({})",
        if reasons.is_empty() {
            "none offered".to_string()
        } else {
            reasons.join("; ")
        }
    )))
}

/// What a client MUST check before paying (§"Amount Verification").
async fn check(c: &Challenge, opts: &PayOptions) -> Result<ChargeRequest> {
    let ignore_splits = opts.deviations.contains(&Deviation::IgnoreSplitRule);
    let ignore_modes = opts.deviations.contains(&Deviation::IgnoreModes);
    let request = match ChargeRequest::from_json(&c.request.value) {
        Ok(r) => r,
        Err(e) if ignore_splits && e.code().starts_with("tempo-charge.splits.sum-below") => {
            lenient_request(&c.request.value)
        }
        Err(e) if ignore_modes && e.code().starts_with("tempo-charge.modes") => {
            let mut v = c.request.value.clone();
            if let Some(d) = v["methodDetails"].as_object_mut() {
                d.remove("supportedModes");
            }
            ChargeRequest::from_json(&v)
                .map_err(|e| refused(format!("the request is not payable: {e}")))?
        }
        Err(e) => return Err(refused(format!("the request is not payable: {e}"))),
    };
    check_expiry(c, opts)?;
    let policy = !opts.deviations.contains(&Deviation::IgnorePolicy);
    if let Some(max) = opts.max_amount
        && policy
        && request.amount > max
    {
        return Err(refused(format!(
            "asks {} base units, more than the policy's {max}",
            request.amount
        )));
    }
    if opts.currency.is_some_and(|c| c != request.currency) {
        return Err(refused(format!(
            "asks for token {}, not the expected one",
            request.currency
        )));
    }
    let other_recipient = match opts.recipient {
        // The deviation compares address texts, not their 20 bytes.
        Some(r) if opts.deviations.contains(&Deviation::RecipientTextCompare) => {
            c.request.value["recipient"].as_str() != Some(r.to_string().as_str())
        }
        Some(r) => r != request.recipient,
        None => false,
    };
    if policy && other_recipient {
        return Err(refused(format!(
            "pays {}, not the expected recipient",
            request.recipient
        )));
    }
    let chain = Rpc::new(&opts.rpc_url).chain_id().await?;
    if chain != request.chain_id {
        return Err(refused(format!(
            "the challenge is for chain {}, the RPC serves chain {chain}",
            request.chain_id
        )));
    }
    Ok(request)
}

/// A challenge past its `expires`, or without one, is not paid (a
/// blockchain charge needs `expires` to bound its signature's validity:
/// ambiguity.expires-required-for-blockchain).
pub(super) fn check_expiry(c: &Challenge, opts: &PayOptions) -> Result<()> {
    if opts.deviations.contains(&Deviation::IgnoreExpiry) {
        return Ok(());
    }
    match c.expires.as_deref().map(|e| rfc3339::parse("expires", e)) {
        Some(Ok(t)) if t.timestamp() > tx::unix_now() as i64 => Ok(()),
        Some(Ok(_)) => Err(refused("the challenge has expired")),
        None => Err(refused("the challenge has no expires")),
        Some(Err(e)) => Err(refused(e.to_string())),
    }
}

/// A request typed without the split-sum rule (for the deviation only).
fn lenient_request(value: &Value) -> ChargeRequest {
    let mut v = value.clone();
    let splits = v["methodDetails"]
        .as_object_mut()
        .and_then(|d| d.remove("splits"));
    let mut r = ChargeRequest::from_json(&v).unwrap_or_else(|_| {
        ChargeRequest::from_json(&json!({
        "amount": "0", "currency": "0x20c0000000000000000000000000000000000000",
        "recipient": "0x0000000000000000000000000000000000000000"}))
        .expect("a fixed valid request")
    });
    if let Some(Value::Array(splits)) = splits {
        r.splits = splits
            .iter()
            .enumerate()
            .map(|(i, s)| tempo_effects::RequiredTransfer {
                to: s["recipient"]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_default(),
                amount: s["amount"]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_default(),
                memo: s["memo"].as_str().and_then(|m| m.parse().ok()),
                role: format!("splits[{i}]"),
            })
            .collect();
    }
    r
}

async fn build_credential(
    c: &Challenge,
    request: &ChargeRequest,
    opts: &PayOptions,
    signer: &alloy::signers::local::PrivateKeySigner,
) -> Result<(Credential, &'static str)> {
    let deviates = |d: Deviation| opts.deviations.contains(&d);
    let source = format!("did:pkh:eip155:{}:{}", request.chain_id, signer.address());
    let mut echo = EchoedChallenge::echo_of(c);
    if deviates(Deviation::TamperRequest) {
        let mut v = c.request.value.clone();
        v["amount"] = "1".into();
        echo.request = EncodedJson::canonical(v);
    }
    if deviates(Deviation::EchoWrongId) {
        echo.id = format!("{}A", echo.id);
    }
    if deviates(Deviation::EchoWrongRealm) {
        echo.realm = format!("{}.example", echo.realm);
    }
    if deviates(Deviation::EchoWrongExpires) {
        echo.expires = echo.expires.map(|e| e.replace('Z', ".000Z"));
    }
    if deviates(Deviation::ResortOpaque) {
        echo.opaque = echo.opaque.map(|o| EncodedJson::canonical(o.value));
    }
    if deviates(Deviation::DropDigest) {
        echo.digest = None;
    }
    if deviates(Deviation::DropHeaderEcho) {
        echo.unknown.remove("header");
    }
    if deviates(Deviation::EchoHeaderAlways) && opts.core.has_header_param() {
        echo.unknown
            .entry("header")
            .or_insert_with(|| PAYMENT_AUTHORIZATION.into());
    }
    let (payload, mode) = if request.amount.is_zero() {
        let proof_id = if deviates(Deviation::ProofOtherId) {
            format!("{}A", c.id)
        } else {
            c.id.clone()
        };
        let signature = tx::sign_proof(&proof_id, request.chain_id, signer)?;
        (json!({"type": "proof", "signature": signature}), "proof")
    } else {
        let push = match opts.mode {
            _ if deviates(Deviation::PushAlways) => true,
            _ if deviates(Deviation::PullAlways) || deviates(Deviation::IgnoreModes) => false,
            ModeChoice::Pull => false,
            ModeChoice::Push => true,
            ModeChoice::Auto => !request.allows_mode("pull"),
        };
        let mode_rules = !(deviates(Deviation::PushAlways)
            || deviates(Deviation::PullAlways)
            || deviates(Deviation::IgnoreModes));
        if mode_rules {
            if push && (request.fee_payer || !request.allows_mode("push")) {
                return Err(refused(
                    "push mode is not allowed for this challenge (feePayer, or supportedModes)",
                ));
            }
            if !push && !request.allows_mode("pull") {
                return Err(refused(
                    "pull mode is not allowed for this challenge (supportedModes)",
                ));
            }
        }
        let rpc = Rpc::new(&opts.rpc_url).with_timeout(Duration::from_secs(5));
        let (max_fee, priority) = tx::fee_params(&rpc).await?;
        let expires = c
            .expires
            .as_deref()
            .and_then(|e| rfc3339::parse("expires", e).ok())
            .map(|t| t.timestamp().max(0) as u64)
            .unwrap_or(u64::MAX);
        // validBefore no later than expires, and within T4's 30 s window.
        let valid_before = if deviates(Deviation::LateValidBefore) {
            expires.saturating_add(60)
        } else {
            expires.min(tx::unix_now() + 25)
        };
        let pays_own_fees =
            push || !request.fee_payer || deviates(Deviation::SelfPaidWhenSponsored);
        let plan = PaymentPlan {
            chain_id: if deviates(Deviation::WrongChainId) {
                request.chain_id + 1
            } else {
                request.chain_id
            },
            valid_before,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: priority,
            fee_token: match (pays_own_fees, deviates(Deviation::NoFeeToken)) {
                (false, _) => None,
                // "empty" as the zero address: `None` would mean sponsored.
                (true, true) => Some(Address::ZERO),
                (true, false) => Some(request.currency),
            },
        };
        let mut transfers = request.required_transfers();
        if deviates(Deviation::SkipSplits) {
            transfers.truncate(1);
            transfers[0].amount = request.amount;
        }
        if deviates(Deviation::ShortAmount) {
            transfers[0].amount = transfers[0].amount.saturating_sub(U256::from(1));
        }
        if deviates(Deviation::AmountFromDescription)
            && let Some(n) = c.description.as_deref().and_then(|d| {
                let digits: String = d
                    .split_once("amount=")?
                    .1
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse::<U256>().ok()
            })
        {
            transfers[0].amount = n;
        }
        if opts.attribution_memo && transfers[0].memo.is_none() {
            transfers[0].memo = Some(attribution_memo(&c.realm, &c.id));
        }
        if deviates(Deviation::DropMemo) {
            transfers.iter_mut().for_each(|t| t.memo = None);
        }
        if deviates(Deviation::ReverseTransfers) {
            transfers.reverse();
        }
        let token = if deviates(Deviation::WrongToken) {
            // Another TIP-20 address (AlphaUSD's on Tempo networks).
            alloy::primitives::address!("20c0000000000000000000000000000000000001")
        } else {
            request.currency
        };
        let calls = transfers
            .iter()
            .map(|t| tempo_alloy::primitives::transaction::Call {
                to: alloy::primitives::TxKind::Call(token),
                value: U256::ZERO,
                input: tempo_effects::transfer_calldata(t.to, t.amount, t.memo).into(),
            })
            .collect();
        let signed = tx::sign_payment(calls, &plan, signer)?;
        if push && deviates(Deviation::HashWithoutBroadcast) {
            (json!({"type": "hash", "hash": signed.hash}), "push")
        } else if push {
            let receipt = rpc
                .call(
                    "eth_sendRawTransactionSync",
                    json!([Bytes::from(signed.raw)]),
                )
                .await?;
            if receipt["status"] != "0x1" {
                return Err(refused(format!(
                    "the payment transaction reverted: {}",
                    receipt["transactionHash"]
                )));
            }
            let hash: B256 = signed.hash;
            (json!({"type": "hash", "hash": hash}), "push")
        } else {
            (
                json!({"type": "transaction", "signature": Bytes::from(signed.raw)}),
                "pull",
            )
        }
    };
    let payload = payload.as_object().cloned().unwrap_or_default();
    Ok((
        Credential {
            challenge: echo,
            payload,
            source: (!deviates(Deviation::NoSource)).then_some(source),
            unknown: Map::new(),
        },
        mode,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_01_the_challenge_header_picks_the_field_or_makes_it_unrecognized() {
        let field = |h: &str| {
            vec![format!(
                "Payment id=\"x\", realm=\"r\", method=\"tempo\", intent=\"charge\", request=\"e30\", header=\"{h}\""
            )]
        };
        let none = BTreeSet::new();
        let chosen =
            choose_with(&field("Payment-Authorization"), &none, CoreDraft::Draft01).unwrap();
        assert_eq!(
            chosen.credential_field(CoreDraft::Draft01),
            "Payment-Authorization"
        );
        assert_eq!(chosen.credential_field(CoreDraft::Draft00), "Authorization");
        let other = choose_with(&field("X-Other"), &none, CoreDraft::Draft01).unwrap_err();
        assert!(other.to_string().contains("unrecognized"), "{other}");
        // Under -00 `header` is an unknown parameter, ignored.
        assert!(choose_with(&field("X-Other"), &none, CoreDraft::Draft00).is_ok());
    }
}
