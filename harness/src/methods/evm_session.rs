//! EVM session (draft-evm-session-00), client-broadcast opens
//! (`feePayer: false`, credential type `hash`): the built-in paying side
//! of a session, shared by the server suite's EVM session checks and the
//! plug-in that lets the core checks pay an EVM session resource.
//!
//! A payer approves the escrow and calls `open()` itself, then sends the
//! transaction hash with an initial voucher; it pays each request with a
//! cumulative EIP-712 voucher (domain "EVM Payment Channel") and closes
//! with a last one. The server-submitted paths (`authorization`,
//! `permit2`) are not paid: a challenge that offers only those is
//! refused by name.

use alloy::primitives::{Address, B256, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use async_trait::async_trait;
use mppconf_suite::codec::{Challenge, Credential, EchoedChallenge, Receipt, request_schema};
use mppconf_suite::methods::evm_session as offline;
pub use mppconf_suite::methods::evm_session::Terms as EvmSessionTerms;
use mppconf_suite::methods::rules::{self, Part};
use serde_json::{Map, Value, json};

use super::{Evidence, PayContext, PaymentMethod};
use crate::chain::Rpc;
use crate::chain::evm::{EvmChain, IMppTestToken, PERMIT2};
use crate::chain::evm_channel::{self, IEvmPaymentChannel as E};
use crate::reference::evm as build;
use crate::server_suite::Outcome;

/// The EVM session plug-in.
pub struct EvmSession;

/// Flaws of an open the server must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFlaw {
    None,
    /// The channel's payee is not the challenge's recipient.
    OtherPayee,
    /// The hash is of a second `open()` of the same channel, which the
    /// escrow reverted (`ChannelAlreadyExists`): the channel exists and
    /// pays the recipient, only the transaction named failed.
    RevertedTransaction,
}

/// A payer of one channel: its key and the channel it opens.
pub struct EvmSessionPayer {
    pub key: PrivateKeySigner,
    pub terms: EvmSessionTerms,
    pub salt: B256,
    /// The payee the channel was opened to (the recipient, but for a
    /// flaw's).
    pub payee: Address,
    rpc: Rpc,
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(bytes))
}

fn payload(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

impl EvmSessionPayer {
    /// A fresh account with gas and `funds` of the challenge's currency,
    /// which must be mppconf's token (it is minted).
    pub async fn fresh(terms: EvmSessionTerms, rpc_url: &str, funds: U256) -> Result<Self, String> {
        let rpc = Rpc::new(rpc_url);
        let chain = EvmChain {
            rpc_url: rpc_url.to_string(),
            chain_id: terms.chain_id,
            token: terms.currency,
            permit2: PERMIT2,
        };
        let key = PrivateKeySigner::random();
        chain.fund(key.address(), funds).await.map_err(|e| {
            format!(
                "funding a payer in {} (mppconf's token, which it mints): {e}",
                terms.currency
            )
        })?;
        Ok(Self {
            key,
            payee: terms.recipient,
            terms,
            salt: B256::random(),
            rpc,
        })
    }

    /// §"Channel State": the id of the channel this payer opens (no
    /// authorized signer).
    pub fn channel_id(&self) -> B256 {
        offline::channel_id(
            self.key.address(),
            self.payee,
            self.terms.currency,
            self.salt,
            Address::ZERO,
            self.terms.escrow,
            self.terms.chain_id,
        )
    }

    /// The 65-byte voucher signature of `signer` for `amount` on this
    /// channel.
    pub fn sign_as(&self, signer: &PrivateKeySigner, amount: U256) -> Vec<u8> {
        offline::voucher_digest(
            self.terms.chain_id,
            self.terms.escrow,
            self.channel_id(),
            amount,
        )
        .ok()
        .and_then(|digest| signer.sign_hash_sync(&digest).ok())
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_default()
    }

    pub fn sign(&self, amount: U256) -> Vec<u8> {
        self.sign_as(&self.key, amount)
    }

    /// Sends `input` to `to` from the payer; the transaction hash and
    /// whether it succeeded.
    async fn send(&self, to: Address, input: Vec<u8>) -> Result<(B256, bool), String> {
        let raw = build::sign_call(&self.rpc, self.terms.chain_id, to, input, &self.key)
            .await
            .map_err(|e| e.to_string())?;
        let receipt = build::broadcast(&self.rpc, &raw)
            .await
            .map_err(|e| e.to_string())?;
        let hash = receipt
            .get("transactionHash")
            .and_then(|h| serde_json::from_value::<B256>(h.clone()).ok())
            .ok_or_else(|| format!("a receipt without a transaction hash: {receipt}"))?;
        let ok = receipt.get("status").and_then(Value::as_str) == Some("0x1");
        Ok((hash, ok))
    }

    /// Approves the escrow for `amount` and calls `open()` for `deposit`
    /// (with `flaw`): the transaction hash the open payload names.
    pub async fn open_on_chain(&mut self, deposit: U256, flaw: OpenFlaw) -> Result<B256, String> {
        if flaw == OpenFlaw::OtherPayee {
            self.payee = Address::random();
        }
        let approve = IMppTestToken::approveCall {
            spender: self.terms.escrow,
            amount: deposit * U256::from(2u8),
        };
        let (_, approved) = self.send(self.terms.currency, approve.abi_encode()).await?;
        if !approved {
            return Err(format!(
                "approving the escrow in {} reverted",
                self.terms.currency
            ));
        }
        let open = E::openCall {
            payee: self.payee,
            token: self.terms.currency,
            deposit: deposit.to::<u128>(),
            salt: self.salt,
            authorizedSigner: Address::ZERO,
        };
        let (hash, opened) = self.send(self.terms.escrow, open.abi_encode()).await?;
        if !opened {
            return Err(format!(
                "open() on escrow {} reverted (transaction {hash})",
                self.terms.escrow
            ));
        }
        if flaw != OpenFlaw::RevertedTransaction {
            return Ok(hash);
        }
        // The same open again: the escrow refuses an id it knows.
        let (again, succeeded) = self.send(self.terms.escrow, open.abi_encode()).await?;
        if succeeded {
            return Err(format!(
                "escrow {} opened channel {} twice (transaction {again})",
                self.terms.escrow,
                self.channel_id()
            ));
        }
        Ok(again)
    }

    /// §"Open Payload (feePayer: false)" for the open in `hash`, with an
    /// initial voucher for `initial`.
    pub fn open_payload(&self, hash: B256, initial: U256) -> Map<String, Value> {
        payload(json!({
            "action": "open",
            "type": "hash",
            "channelId": self.channel_id().to_string(),
            "hash": hash.to_string(),
            "cumulativeAmount": initial.to_string(),
            "signature": hex(&self.sign(initial)),
            "salt": self.salt.to_string(),
        }))
    }

    /// Approves and calls `topUp()` for `additional`: §"TopUp Payload"
    /// (`hash`).
    pub async fn top_up_payload(&self, additional: U256) -> Result<Map<String, Value>, String> {
        let approve = IMppTestToken::approveCall {
            spender: self.terms.escrow,
            amount: additional,
        };
        self.send(self.terms.currency, approve.abi_encode()).await?;
        let call = E::topUpCall {
            channelId: self.channel_id(),
            additionalDeposit: additional.to::<u128>(),
        };
        let (hash, ok) = self.send(self.terms.escrow, call.abi_encode()).await?;
        if !ok {
            return Err(format!(
                "topUp() on escrow {} reverted ({hash})",
                self.terms.escrow
            ));
        }
        Ok(payload(json!({
            "action": "topUp",
            "type": "hash",
            "channelId": self.channel_id().to_string(),
            "hash": hash.to_string(),
            "additionalDeposit": additional.to_string(),
        })))
    }

    /// The payer's own `requestClose()`: the start of a forced close.
    pub async fn request_close(&self) -> Result<(), String> {
        let call = E::requestCloseCall {
            channelId: self.channel_id(),
        };
        let (hash, ok) = self.send(self.terms.escrow, call.abi_encode()).await?;
        if ok {
            Ok(())
        } else {
            Err(format!(
                "requestClose() on escrow {} reverted ({hash})",
                self.terms.escrow
            ))
        }
    }

    /// §"Voucher Payload" or §"Close Payload" with `signature`.
    pub fn voucher_payload_signed(
        &self,
        action: &str,
        amount: U256,
        signature: &[u8],
    ) -> Map<String, Value> {
        payload(json!({
            "action": action,
            "channelId": self.channel_id().to_string(),
            "cumulativeAmount": amount.to_string(),
            "signature": hex(signature),
        }))
    }

    /// A voucher (`action` voucher or close) for `amount`, signed by the
    /// payer.
    pub fn voucher_payload(&self, action: &str, amount: U256) -> Map<String, Value> {
        self.voucher_payload_signed(action, amount, &self.sign(amount))
    }

    /// The credential answering `challenge` with `payload`
    /// (§"Credential Structure": `source` is REQUIRED for `hash`).
    pub fn credential(&self, challenge: &Challenge, payload: Map<String, Value>) -> Credential {
        Credential {
            challenge: EchoedChallenge::echo_of(challenge),
            payload,
            source: Some(build::source_of(self.terms.chain_id, self.key.address())),
            unknown: Map::new(),
        }
    }

    /// The channel's state on the escrow (mppconf's escrow's getter).
    pub async fn channel(&self) -> Result<E::Channel, String> {
        evm_channel::channel(&self.rpc, self.terms.escrow, self.channel_id())
            .await
            .map_err(|e| e.to_string())
    }
}

/// What the plug-in deposits when it pays: ten requests.
fn deposit_for(terms: &EvmSessionTerms) -> U256 {
    terms.price.max(U256::from(1u8)) * U256::from(10u8)
}

#[async_trait]
impl PaymentMethod for EvmSession {
    fn name(&self) -> &'static str {
        "evm"
    }

    fn intents(&self) -> &'static [&'static str] {
        &["session"]
    }

    fn spec(&self) -> Option<&'static str> {
        Some("draft-evm-session-00")
    }

    fn label(&self) -> &'static str {
        "evm session"
    }

    fn evidence(&self) -> Evidence {
        Evidence::Chain
    }

    fn validate_request(&self, intent: &str, request: &Value) -> Result<(), String> {
        request_schema::validate(self.name(), intent, request).map_err(|e| e.to_string())?;
        rules::validate(self.name(), intent, Part::Request, request)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn validate_payload(&self, credential: &Credential) -> Result<(), String> {
        rules::validate(
            self.name(),
            "session",
            Part::Payload,
            &Value::Object(credential.payload.clone()),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// Opens a fresh channel of ten requests whose initial voucher pays
    /// one.
    async fn pay(&self, challenge: &Challenge, context: &PayContext) -> Result<Credential, String> {
        let terms = EvmSessionTerms::from_request(&challenge.request.value)?;
        if !terms.offers_hash() {
            return Err(format!(
                "the challenge offers {:?}; mppconf pays EVM sessions with hash credentials only",
                terms.credential_types
            ));
        }
        let deposit = deposit_for(&terms);
        let price = terms.price;
        let mut payer =
            EvmSessionPayer::fresh(terms, &context.rpc_url, deposit * U256::from(2u8)).await?;
        let hash = payer.open_on_chain(deposit, OpenFlaw::None).await?;
        Ok(payer.credential(challenge, payer.open_payload(hash, price)))
    }

    /// §"Receipt Generation": the reference is the channel id, and the
    /// channel is on the escrow with the challenge's payee and token.
    async fn verify_receipt(
        &self,
        rpc_url: &str,
        challenge: &Challenge,
        credential: &Credential,
        receipt: &Receipt,
    ) -> Outcome {
        let Ok(terms) = EvmSessionTerms::from_request(&challenge.request.value) else {
            return Outcome::error("the challenge's request is not an EVM session request");
        };
        let id = match super::session_reference(credential, receipt) {
            Ok(id) => id,
            Err(outcome) => return outcome,
        };
        let state = match evm_channel::channel(&Rpc::new(rpc_url), terms.escrow, id).await {
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

    /// Sessions move money at settlement, not per request.
    async fn received(&self, _: &str, _: &Challenge) -> Result<Option<U256>, String> {
        Ok(None)
    }

    fn settlements(&self, _: &Challenge, _: U256, _: U256) -> u64 {
        0
    }

    fn also_cites(&self, check_id: &str) -> &'static [&'static str] {
        match check_id {
            "paid.receipt" => &[
                "evm-session.receipt.every-paid-request",
                "evm-session.receipt.reference-channel-id",
            ],
            _ => &[],
        }
    }

    /// One challenge serves a whole session
    /// (ambiguity.evm-session-challenge-reuse): whether a repetition buys
    /// service twice is the EVM session checks' to judge.
    fn not_applicable(&self, check_id: &str) -> Option<&'static str> {
        matches!(
            check_id,
            "replay.rejected" | "idempotency.new-key-no-replay" | "concurrency.settles-once"
        )
        .then_some(
            "a session credential is not single use (ambiguity.evm-session-challenge-reuse): whether a repeated one buys service twice is judged by evm-session.stale-voucher-pays-nothing",
        )
    }

    fn server_checks(&self) -> &'static [crate::server_suite::Check] {
        crate::server_suite::evm_session::CHECKS
    }

    fn client_scenarios(&self) -> &'static [crate::client_suite::ScenarioDef] {
        &[]
    }

    fn client_checks(&self) -> &'static [crate::client_suite::Check] {
        &[]
    }
}
