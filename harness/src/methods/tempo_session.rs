//! Tempo session (draft-tempo-session-00, `sessionProtocol: "v1"`): the
//! built-in paying side of a session, shared by the server suite's
//! session checks and the plug-in that lets the core checks pay a session
//! resource.
//!
//! A payer opens a channel on the challenge's escrow with a signed Tempo
//! transaction (approve, then `open`) that the server broadcasts, and
//! pays each request with a cumulative voucher. `v2` needs the TIP-1034
//! precompile; no local chain has it, so v2 challenges are `blocked`.

use alloy::primitives::{Address, B256, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use async_trait::async_trait;
use mppconf_suite::codec::{Challenge, Credential, EchoedChallenge, Receipt, request_schema};
use mppconf_suite::methods::tempo_session::{self as offline, SessionProtocol};
use serde_json::{Map, Value, json};
use tempo_alloy::primitives::transaction::Call;

use super::{Evidence, PayContext, PaymentMethod};
use crate::chain::Rpc;
use crate::chain::escrow::{Escrow, ITempoStreamChannel as E, ITip20};
use crate::reference::tx::{self, call};
use crate::server_suite::Outcome;

/// Tempo's chain id, the draft's default for `methodDetails.chainId`.
const DEFAULT_CHAIN_ID: u64 = 4217;

/// What a session challenge asks (§"Request Schema").
#[derive(Debug, Clone)]
pub struct SessionTerms {
    /// Price of one unit (here: one request).
    pub price: U256,
    pub currency: Address,
    pub recipient: Address,
    pub escrow: Address,
    pub chain_id: u64,
    pub protocol: SessionProtocol,
    pub min_voucher_delta: U256,
    /// `methodDetails.feePayer: true`: the server pays the fees of the
    /// client's open and topUp (§"Fee Payment").
    pub fee_payer: bool,
}

impl SessionTerms {
    pub fn from_request(request: &Value) -> Result<Self, String> {
        let text = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("the session request has no string {k:?}"))
        };
        let amount = |s: String, k: &str| {
            U256::from_str_radix(&s, 10).map_err(|_| format!("{k} {s:?} is not a decimal amount"))
        };
        let address = |s: String, k: &str| {
            s.parse::<Address>()
                .map_err(|_| format!("{k} {s:?} is not an address"))
        };
        let details = request
            .get("methodDetails")
            .ok_or("the session request has no methodDetails")?;
        let protocol = match details.get("sessionProtocol").and_then(Value::as_str) {
            None => SessionProtocol::V1,
            Some(p) => SessionProtocol::parse(p)
                .ok_or_else(|| format!("sessionProtocol {p:?} is neither v1 nor v2"))?,
        };
        Ok(Self {
            price: amount(text(request, "amount")?, "amount")?,
            currency: address(text(request, "currency")?, "currency")?,
            recipient: address(text(request, "recipient")?, "recipient")?,
            escrow: address(text(details, "escrowContract")?, "escrowContract")?,
            chain_id: details
                .get("chainId")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_CHAIN_ID),
            protocol,
            min_voucher_delta: match details.get("minVoucherDelta").and_then(Value::as_str) {
                Some(d) => amount(d.to_string(), "minVoucherDelta")?,
                None => U256::ZERO,
            },
            fee_payer: match details.get("feePayer") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(v) => return Err(format!("feePayer {v} is not a boolean")),
            },
        })
    }
}

/// A payer of one channel: its key and the channel it opened.
pub struct SessionPayer {
    pub key: PrivateKeySigner,
    pub terms: SessionTerms,
    pub salt: B256,
    /// Signs its open and topUp for the server to sponsor (the fee-payer
    /// placeholder, no fee token) rather than paying its own fees: as the
    /// challenge's `feePayer` says, unless a check or deviation says
    /// otherwise.
    pub sponsored: bool,
    rpc: Rpc,
}

/// Flaws of an open the server must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFlaw {
    None,
    /// The channel's payee is not the challenge's recipient.
    OtherPayee,
    /// The payload names another channel id than the transaction opens.
    OtherChannelId,
    /// The channel holds another TIP-20 token than the challenge's
    /// currency (ThetaUSD, or AlphaUSD when that is the currency).
    OtherToken,
    /// The channel is opened on another escrow (a fresh deployment of
    /// mppconf's own, which needs a chain with an unlocked account).
    OtherEscrow,
    /// A transfer of one base unit of the currency to a fresh address
    /// rides along after the open (harmless to a server that does not pay
    /// the fees; gas it pays for when it sponsors them).
    ExtraTransfer,
}

/// ThetaUSD and AlphaUSD, TIP-20 tokens of the local chain's genesis.
const THETA_USD: Address =
    alloy::primitives::address!("0x20c0000000000000000000000000000000000003");
const ALPHA_USD: Address =
    alloy::primitives::address!("0x20c0000000000000000000000000000000000001");

impl SessionPayer {
    /// A fresh account holding `funds` of the challenge's currency (it
    /// pays its own fees in it).
    pub async fn fresh(terms: SessionTerms, rpc_url: &str, funds: U256) -> Result<Self, String> {
        let rpc = Rpc::new(rpc_url);
        let key = tx::fresh_payer(&rpc, terms.currency, funds)
            .await
            .map_err(|e| format!("funding a payer: {e}"))?;
        Ok(Self {
            key,
            sponsored: terms.fee_payer,
            terms,
            salt: B256::random(),
            rpc,
        })
    }

    /// A payer with its own key and a fresh salt (the reference client).
    pub fn new(key: PrivateKeySigner, terms: SessionTerms, rpc_url: &str) -> Self {
        Self {
            key,
            sponsored: terms.fee_payer,
            terms,
            salt: B256::random(),
            rpc: Rpc::new(rpc_url),
        }
    }

    /// The same channel's terms and salt under another key (a stranger
    /// signing for this channel).
    pub fn with_key(&self, key: PrivateKeySigner) -> Self {
        Self {
            key,
            terms: self.terms.clone(),
            salt: self.salt,
            sponsored: self.sponsored,
            rpc: Rpc::new(self.rpc.url()),
        }
    }

    /// Where [`OpenFlaw::ExtraTransfer`] sends its unit: an address of
    /// this payer's own (the hash of its address) that nobody holds a key
    /// for, so that its balance is the evidence of the ride-along.
    pub fn extra_transfer_to(&self) -> Address {
        Address::from_word(alloy::primitives::keccak256(self.key.address()))
    }

    /// The id of the channel this payer opens as the challenge asks.
    pub fn channel_id(&self) -> B256 {
        offline::channel_id_v1(
            self.key.address(),
            self.terms.recipient,
            self.terms.currency,
            self.salt,
            Address::ZERO,
            self.terms.escrow,
            self.terms.chain_id,
        )
    }

    /// A voucher signature over any domain (a flawed one for another
    /// escrow or chain is the checks' business).
    pub fn sign_for(&self, escrow: Address, chain_id: u64, channel: B256, amount: U256) -> Vec<u8> {
        let digest =
            offline::voucher_digest(self.terms.protocol, chain_id, escrow, channel, amount)
                .unwrap_or_default();
        self.key
            .sign_hash_sync(&digest)
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default()
    }

    pub fn sign(&self, amount: U256) -> Vec<u8> {
        self.sign_for(
            self.terms.escrow,
            self.terms.chain_id,
            self.channel_id(),
            amount,
        )
    }

    /// `calls` signed by the payer; `sponsored` leaves the fees to the
    /// server (only opens and topUps, which the server broadcasts).
    async fn signed_calls(&self, calls: Vec<Call>, sponsored: bool) -> Result<Vec<u8>, String> {
        tx::sign_calls(
            &self.rpc,
            self.terms.chain_id,
            (!sponsored).then_some(self.terms.currency),
            calls,
            &self.key,
        )
        .await
        .map(|p| p.raw)
        .map_err(|e| e.to_string())
    }

    /// The `open` payload (§"Open Payload"): approve and open in one
    /// transaction, with an initial voucher for `initial`.
    pub async fn open_payload(
        &self,
        deposit: U256,
        initial: U256,
        flaw: OpenFlaw,
    ) -> Result<Map<String, Value>, String> {
        let payee = match flaw {
            OpenFlaw::OtherPayee => Address::random(),
            _ => self.terms.recipient,
        };
        let token = match flaw {
            OpenFlaw::OtherToken if self.terms.currency == THETA_USD => ALPHA_USD,
            OpenFlaw::OtherToken => THETA_USD,
            _ => self.terms.currency,
        };
        if token != self.terms.currency {
            tx::fund(&self.rpc, token, self.key.address(), deposit)
                .await
                .map_err(|e| format!("funding the payer in {token}: {e}"))?;
        }
        let escrow = match flaw {
            OpenFlaw::OtherEscrow => {
                Escrow::deploy(&self.rpc)
                    .await
                    .map_err(|e| format!("deploying another escrow: {e}"))?
                    .address
            }
            _ => self.terms.escrow,
        };
        let deposit128: u128 = deposit.saturating_to();
        let mut calls = vec![
            call(
                token,
                ITip20::approveCall {
                    spender: escrow,
                    amount: deposit,
                }
                .abi_encode(),
            ),
            call(
                escrow,
                E::openCall {
                    payee,
                    token,
                    deposit: deposit128,
                    salt: self.salt,
                    authorizedSigner: Address::ZERO,
                }
                .abi_encode(),
            ),
        ];
        if flaw == OpenFlaw::ExtraTransfer {
            calls.push(call(
                self.terms.currency,
                ITip20::transferCall {
                    to: self.extra_transfer_to(),
                    amount: U256::from(1u8),
                }
                .abi_encode(),
            ));
        }
        let raw = self.signed_calls(calls, self.sponsored).await?;
        let opened = offline::channel_id_v1(
            self.key.address(),
            payee,
            token,
            self.salt,
            Address::ZERO,
            escrow,
            self.terms.chain_id,
        );
        let named = match flaw {
            OpenFlaw::OtherChannelId => B256::random(),
            _ => opened,
        };
        let signature = self.sign_for(escrow, self.terms.chain_id, opened, initial);
        Ok(payload(json!({
            "action": "open",
            "type": "transaction",
            "channelId": named.to_string(),
            "transaction": hex(&raw),
            "cumulativeAmount": initial.to_string(),
            "signature": hex(&signature),
        })))
    }

    /// The `topUp` payload (§"TopUp Payload").
    pub async fn top_up_payload(&self, additional: U256) -> Result<Map<String, Value>, String> {
        let calls = vec![
            call(
                self.terms.currency,
                ITip20::approveCall {
                    spender: self.terms.escrow,
                    amount: additional,
                }
                .abi_encode(),
            ),
            call(
                self.terms.escrow,
                // The deployed contract's uint256 form, which the SDK
                // servers recognize (mppconf's escrow has both).
                E::topUp_1Call {
                    channelId: self.channel_id(),
                    additionalDeposit: additional,
                }
                .abi_encode(),
            ),
        ];
        let raw = self.signed_calls(calls, self.sponsored).await?;
        Ok(payload(json!({
            "action": "topUp",
            "type": "transaction",
            "channelId": self.channel_id().to_string(),
            "transaction": hex(&raw),
            "additionalDeposit": additional.to_string(),
        })))
    }

    /// The payer's own `requestClose` on chain (the start of a forced
    /// close, §"Forced Close"), in a transaction it sends itself.
    pub async fn request_close(&self) -> Result<(), String> {
        let call = E::requestCloseCall {
            channelId: self.channel_id(),
        };
        self.send_own("requestClose", call.abi_encode()).await
    }

    /// The payer's `withdraw` once the grace period after its
    /// `requestClose` has passed (the end of a forced close).
    pub async fn withdraw(&self) -> Result<(), String> {
        let call = E::withdrawCall {
            channelId: self.channel_id(),
        };
        self.send_own("withdraw", call.abi_encode()).await
    }

    /// A call of the payer's own to the escrow, paying its own fees.
    async fn send_own(&self, what: &str, input: Vec<u8>) -> Result<(), String> {
        let calls = vec![call(self.terms.escrow, input)];
        tx::send_calls(
            &self.rpc,
            self.terms.chain_id,
            self.terms.currency,
            calls,
            &self.key,
        )
        .await
        .map(drop)
        .map_err(|e| format!("{what}: {e}"))
    }

    /// A `voucher` (or `close`) payload with the given signature bytes.
    pub fn voucher_payload_signed(
        &self,
        action: &str,
        amount: U256,
        signature: &[u8],
    ) -> Map<String, Value> {
        voucher_payload_on(self.channel_id(), action, amount, signature)
    }

    /// A voucher of this payer's for another channel than its own (one a
    /// challenge suggests), signed in the challenge's escrow domain.
    pub fn voucher_payload_for(&self, channel: B256, amount: U256) -> Map<String, Value> {
        let signature = self.sign_for(self.terms.escrow, self.terms.chain_id, channel, amount);
        voucher_payload_on(channel, "voucher", amount, &signature)
    }

    pub fn voucher_payload(&self, action: &str, amount: U256) -> Map<String, Value> {
        self.voucher_payload_signed(action, amount, &self.sign(amount))
    }

    /// The credential answering `challenge` with `payload`.
    pub fn credential(&self, challenge: &Challenge, payload: Map<String, Value>) -> Credential {
        Credential {
            challenge: EchoedChallenge::echo_of(challenge),
            payload,
            source: Some(format!(
                "did:pkh:eip155:{}:{}",
                self.terms.chain_id,
                self.key.address()
            )),
            unknown: Map::new(),
        }
    }
}

/// The channel an `open` transaction opens, read from the transaction
/// itself (sender, the `open()` call and where it goes): what a judge of
/// the client compares the payload and the challenge with.
#[derive(Debug, Clone)]
pub struct OpenedChannel {
    pub id: B256,
    pub payer: Address,
    pub escrow: Address,
    pub payee: Address,
    pub token: Address,
    pub authorized_signer: Address,
    pub deposit: U256,
    pub chain_id: u64,
}

impl OpenedChannel {
    /// Decodes a signed Tempo transaction (the payload's `transaction`).
    pub fn of_transaction(raw: &[u8]) -> Result<Self, String> {
        let payment = tx::decode_payment(raw)?;
        let (escrow, open) = payment
            .tx()
            .calls
            .iter()
            .find_map(|c| Some((*c.to.to()?, E::openCall::abi_decode(&c.input).ok()?)))
            .ok_or("the transaction calls no open(address,address,uint128,bytes32,address)")?;
        let chain_id = payment.tx().chain_id;
        Ok(Self {
            id: offline::channel_id_v1(
                payment.sender,
                open.payee,
                open.token,
                open.salt,
                open.authorizedSigner,
                escrow,
                chain_id,
            ),
            payer: payment.sender,
            escrow,
            payee: open.payee,
            token: open.token,
            authorized_signer: open.authorizedSigner,
            deposit: U256::from(open.deposit),
            chain_id,
        })
    }

    /// Who must have signed a voucher of this channel.
    pub fn signer(&self) -> Address {
        if self.authorized_signer.is_zero() {
            self.payer
        } else {
            self.authorized_signer
        }
    }

    /// The signer of a v1 voucher for `amount` on this channel, in its
    /// escrow's domain.
    pub fn voucher_signer(&self, amount: U256, signature: &[u8]) -> Result<Address, String> {
        let digest = offline::voucher_digest(
            SessionProtocol::V1,
            self.chain_id,
            self.escrow,
            self.id,
            amount,
        )
        .map_err(|e| e.reason)?;
        offline::voucher_signer(digest, signature).map_err(|e| e.reason)
    }
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(bytes))
}

/// A `voucher` (or `close`) payload for `channel`.
fn voucher_payload_on(
    channel: B256,
    action: &str,
    amount: U256,
    signature: &[u8],
) -> Map<String, Value> {
    payload(json!({
        "action": action,
        "channelId": channel.to_string(),
        "cumulativeAmount": amount.to_string(),
        "signature": hex(signature),
    }))
}

fn payload(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Why a v2 challenge cannot be judged here, or `None` when the chain has
/// the precompile (then the v2 checks run by themselves).
pub async fn v2_blocked(terms: &SessionTerms, rpc_url: &str) -> Option<String> {
    if terms.protocol != SessionProtocol::V2 {
        return None;
    }
    match crate::chain::escrow::has_channel_reserve(&Rpc::new(rpc_url)).await {
        Ok(true) => None,
        _ => Some(format!(
            "sessionProtocol \"v2\" needs the TIP-1034 channel reserve precompile at {}, which this chain does not have (anvil 1.7.1 has hardforks t0-t4 only)",
            crate::chain::escrow::CHANNEL_RESERVE_PRECOMPILE
        )),
    }
}

/// The Tempo session plug-in.
pub struct TempoSession;

/// The deposit the plug-in opens with: ten requests' worth.
fn deposit_for(terms: &SessionTerms) -> U256 {
    terms.price.max(U256::from(1u8)) * U256::from(10u8)
}

#[async_trait]
impl PaymentMethod for TempoSession {
    fn name(&self) -> &'static str {
        "tempo"
    }

    fn intents(&self) -> &'static [&'static str] {
        &["session"]
    }

    fn spec(&self) -> Option<&'static str> {
        Some("draft-tempo-session-00")
    }

    fn label(&self) -> &'static str {
        "tempo session"
    }

    fn evidence(&self) -> Evidence {
        Evidence::Chain
    }

    fn validate_request(&self, intent: &str, request: &Value) -> Result<(), String> {
        request_schema::validate(self.name(), intent, request)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn validate_payload(&self, credential: &Credential) -> Result<(), String> {
        mppconf_suite::methods::rules::validate(
            "tempo",
            "session",
            mppconf_suite::methods::rules::Part::Payload,
            &Value::Object(credential.payload.clone()),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// Opens a fresh channel whose initial voucher pays one request.
    async fn pay(&self, challenge: &Challenge, context: &PayContext) -> Result<Credential, String> {
        let terms = SessionTerms::from_request(&challenge.request.value)?;
        if let Some(why) = v2_blocked(&terms, &context.rpc_url).await {
            return Err(why);
        }
        let funds = deposit_for(&terms) + U256::from(10_000_000u64);
        let payer = SessionPayer::fresh(terms.clone(), &context.rpc_url, funds).await?;
        let payload = payer
            .open_payload(deposit_for(&terms), terms.price, OpenFlaw::None)
            .await?;
        Ok(payer.credential(challenge, payload))
    }

    /// §"Receipt Generation": the reference is the channel id, and the
    /// channel is on the escrow with this payer and the challenge's payee.
    async fn verify_receipt(
        &self,
        rpc_url: &str,
        challenge: &Challenge,
        credential: &Credential,
        receipt: &Receipt,
    ) -> Outcome {
        let Ok(terms) = SessionTerms::from_request(&challenge.request.value) else {
            return Outcome::error("the challenge's request is not a tempo session request");
        };
        let id = match super::session_reference(credential, receipt) {
            Ok(id) => id,
            Err(outcome) => return outcome,
        };
        let state = match Escrow::at(terms.escrow, rpc_url).channel(id).await {
            Ok(s) => s,
            Err(e) => return Outcome::error(format!("reading the channel from the escrow: {e}")),
        };
        if state.payee != terms.recipient || state.token != terms.currency {
            return Outcome::fail(
                format!(
                    "channel {id} on escrow {} pays {} in {}",
                    terms.escrow, terms.recipient, terms.currency
                ),
                format!("payee {} token {}", state.payee, state.token),
            );
        }
        Outcome::pass(format!(
            "receipt names channel {id}, open on escrow {} with deposit {} to the recipient",
            terms.escrow, state.deposit
        ))
    }

    /// Sessions move money at settlement, not per request: the recipient's
    /// balance says nothing about one credential.
    async fn received(&self, _: &str, _: &Challenge) -> Result<Option<U256>, String> {
        Ok(None)
    }

    fn settlements(&self, _: &Challenge, _: U256, _: U256) -> u64 {
        0
    }

    fn also_cites(&self, check_id: &str) -> &'static [&'static str] {
        match check_id {
            "paid.receipt" => &[
                "tempo-session.receipt.every-request",
                "tempo-session.receipt.reference-channel",
            ],
            _ => &[],
        }
    }

    /// A session credential is not single use: its challenge pays for many
    /// vouchers, and a repeated open or voucher may be answered without
    /// new service (ambiguity.tempo-session-challenge-reuse). Whether a
    /// repetition buys service twice is the session checks' to judge
    /// (session.stale-voucher-pays-nothing,
    /// session.concurrent-requests-bounded).
    fn not_applicable(&self, check_id: &str) -> Option<&'static str> {
        matches!(
            check_id,
            "replay.rejected" | "idempotency.new-key-no-replay" | "concurrency.settles-once"
        )
        .then_some(
            "a session credential is not single use (ambiguity.tempo-session-challenge-reuse): whether a repeated one buys service twice is judged by session.stale-voucher-pays-nothing and session.concurrent-requests-bounded",
        )
    }

    fn server_checks(&self) -> &'static [crate::server_suite::Check] {
        crate::server_suite::tempo_session::CHECKS
    }

    fn client_scenarios(&self) -> &'static [crate::client_suite::ScenarioDef] {
        crate::client_suite::tempo_session::SCENARIOS
    }

    fn client_checks(&self) -> &'static [crate::client_suite::Check] {
        crate::client_suite::tempo_session::CHECKS
    }
}
