//! The escrow suite: an EVM session escrow contract judged on a local chain
//! against draft-evm-session-00 §"Channel Escrow Contract" and the
//! security sections that bind the contract (§"Channel Re-Use /
//! Cross-Epoch Replay", §"Rollback Prevention", §"Deposit Cap",
//! §"Forced Close").
//!
//! The draft makes the escrow "the last line of defense": a payee can call
//! it directly, so whatever a server checks, the contract must check again.
//! Every check drives the contract as the parties would (a payer, a payee,
//! an authorized signer and a stranger, each with its own key on a plain
//! anvil), attempts the attack the rule exists for, and reads the verdict
//! off the chain: whether the attempt was mined or reverted, and who holds
//! what of the token afterwards. Each check's evidence is its list of
//! transactions.

pub mod checks;
mod closing;
pub mod command;

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{Eip712Domain, SolCall, SolStruct};
use mppconf_suite::vectors::Verdict;
use serde::Serialize;
use serde_json::{Value, json};

use crate::chain::contracts::{UNLOCKED_SENDS, wait_for_receipt};
use crate::chain::evm::IMppTestToken;
use crate::chain::rpc::Rpc;
use crate::report::Selection;
use crate::report::progress::{Shown, Watch};
use crate::server_suite::Outcome;

pub use crate::chain::evm_channel::{IEvmPaymentChannel, Voucher};

/// What every check deposits into a fresh channel.
pub const DEPOSIT: u128 = 1_000_000;

/// One party of the channels: its key signs vouchers, and the chain sends
/// its transactions (anvil impersonates it).
pub struct Party {
    pub role: &'static str,
    pub key: PrivateKeySigner,
}

impl Party {
    fn fresh(role: &'static str) -> Self {
        Self {
            role,
            key: PrivateKeySigner::random(),
        }
    }

    pub fn address(&self) -> Address {
        self.key.address()
    }
}

/// The escrow under test, the chain and token it runs on, the parties,
/// and the journal of the running check's transactions.
pub struct EscrowCtx {
    pub rpc: Rpc,
    pub escrow: Address,
    pub token: Address,
    pub chain_id: u64,
    /// The forced-close grace period in seconds: the escrow's
    /// `CLOSE_GRACE_PERIOD()`, else what the user gave, else unknown (the
    /// checks that wait it out `skip`).
    pub grace: Option<u64>,
    pub payer: Party,
    pub payee: Party,
    pub delegate: Party,
    pub stranger: Party,
    journal: Mutex<Vec<Value>>,
}

type Step = Result<Outcome, Outcome>;

/// A failure of the chain itself (not of the escrow): the check's `error`.
fn chain_error(e: impl std::fmt::Display) -> Outcome {
    Outcome::error(format!("the local chain failed: {e}"))
}

impl EscrowCtx {
    /// Readies the parties on the chain: gas for all, `DEPOSIT × 100` of
    /// the token for the payer and the stranger (who both approve the
    /// escrow, so that only the escrow's own rules stop the stranger).
    pub async fn prepare(
        rpc: Rpc,
        escrow: Address,
        token: Address,
        grace: Option<u64>,
    ) -> crate::error::Result<Self> {
        let chain_id = rpc.chain_id().await?;
        let ctx = Self {
            rpc,
            escrow,
            token,
            chain_id,
            grace,
            payer: Party::fresh("payer"),
            payee: Party::fresh("payee"),
            delegate: Party::fresh("authorized signer"),
            stranger: Party::fresh("stranger"),
            journal: Mutex::new(Vec::new()),
        };
        let setup_error = |what: String| crate::error::Error::Chain {
            url: ctx.rpc.url().to_string(),
            reason: what,
        };
        for party in ctx.parties() {
            let who = party.address();
            ctx.rpc
                .call(
                    "anvil_setBalance",
                    json!([who, U256::from(10u64).pow(U256::from(20u64))]),
                )
                .await?;
            ctx.rpc
                .call("anvil_impersonateAccount", json!([who]))
                .await?;
        }
        let accounts = ctx.rpc.call("eth_accounts", json!([])).await?;
        let minter: Address = accounts[0]
            .as_str()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| setup_error("the chain has no unlocked account".into()))?;
        for party in [&ctx.payer, &ctx.stranger] {
            let mint = IMppTestToken::mintCall {
                to: party.address(),
                amount: U256::from(DEPOSIT * 100),
            };
            if !ctx.raw_send(minter, token, mint.abi_encode()).await?.0 {
                return Err(setup_error(format!("minting the token {token} reverted")));
            }
            let approve = IMppTestToken::approveCall {
                spender: escrow,
                amount: U256::MAX,
            };
            if !ctx
                .raw_send(party.address(), token, approve.abi_encode())
                .await?
                .0
            {
                return Err(setup_error(format!(
                    "approving the escrow {escrow} on the token reverted"
                )));
            }
        }
        ctx.journal.lock().expect("journal").clear();
        Ok(ctx)
    }

    fn parties(&self) -> [&Party; 4] {
        [&self.payer, &self.payee, &self.delegate, &self.stranger]
    }

    /// A transaction with a fixed gas limit, so that one the escrow
    /// refuses is mined as reverted (anvil would refuse to estimate it):
    /// whether it succeeded, and its hash.
    async fn raw_send(
        &self,
        from: Address,
        to: Address,
        data: Vec<u8>,
    ) -> crate::error::Result<(bool, Value)> {
        let _one_at_a_time = UNLOCKED_SENDS.lock().await;
        let hash = self
            .rpc
            .call(
                "eth_sendTransaction",
                json!([{
                    "from": from.to_string(),
                    "to": to.to_string(),
                    "data": Bytes::from(data),
                    "gas": "0x989680",
                }]),
            )
            .await?;
        let receipt = wait_for_receipt(&self.rpc, &hash).await?;
        Ok((receipt["status"] == "0x1", hash))
    }

    /// `call` to the escrow from `from`, journaled as `what`: whether it
    /// was mined successfully (`false`: reverted).
    pub async fn send<C: SolCall>(
        &self,
        from: &Party,
        what: &str,
        call: C,
    ) -> Result<bool, Outcome> {
        let (ok, hash) = self
            .raw_send(from.address(), self.escrow, call.abi_encode())
            .await
            .map_err(chain_error)?;
        self.note(json!({
            "from": from.role,
            "call": what,
            "status": if ok { "mined" } else { "reverted" },
            "tx": hash,
        }));
        Ok(ok)
    }

    /// What `call` from `from` returns on the current state, without
    /// sending it (`Ok(None)`: it would revert).
    pub async fn simulate<C: SolCall>(
        &self,
        from: &Party,
        call: C,
    ) -> Result<Option<C::Return>, Outcome> {
        let out = self
            .rpc
            .call(
                "eth_call",
                json!([{
                    "from": from.address().to_string(),
                    "to": self.escrow.to_string(),
                    "data": Bytes::from(call.abi_encode()),
                    "gas": "0x989680",
                }, "latest"]),
            )
            .await;
        let Ok(out) = out else { return Ok(None) };
        let bytes: Bytes = serde_json::from_value(out.clone())
            .map_err(|e| chain_error(format!("eth_call answered {out}, not hex ({e})")))?;
        Ok(C::abi_decode_returns(&bytes).ok())
    }

    /// The token balance of `who`.
    pub async fn balance(&self, who: Address) -> Result<u128, Outcome> {
        let out = self
            .rpc
            .call(
                "eth_call",
                json!([{
                    "to": self.token.to_string(),
                    "data": Bytes::from(IMppTestToken::balanceOfCall { owner: who }.abi_encode()),
                }, "latest"]),
            )
            .await
            .map_err(chain_error)?;
        let bytes: Bytes = serde_json::from_value(out).map_err(chain_error)?;
        let value =
            IMppTestToken::balanceOfCall::abi_decode_returns(&bytes).map_err(chain_error)?;
        u128::try_from(value).map_err(chain_error)
    }

    /// Balances of the payer, the payee, the stranger and the escrow, in
    /// that order, journaled under `when`.
    pub async fn balances(&self, when: &str) -> Result<[u128; 4], Outcome> {
        let mut out = [0u128; 4];
        let holders = [
            self.payer.address(),
            self.payee.address(),
            self.stranger.address(),
            self.escrow,
        ];
        for (slot, who) in out.iter_mut().zip(holders) {
            *slot = self.balance(who).await?;
        }
        self.note(json!({
            "balances": when,
            "payer": out[0].to_string(),
            "payee": out[1].to_string(),
            "stranger": out[2].to_string(),
            "escrow": out[3].to_string(),
        }));
        Ok(out)
    }

    /// Moves the chain's clock on by `seconds` (and mines a block).
    pub async fn advance(&self, seconds: u64) -> Result<(), Outcome> {
        self.rpc
            .call("evm_increaseTime", json!([seconds]))
            .await
            .map_err(chain_error)?;
        self.rpc
            .call("evm_mine", json!([]))
            .await
            .map_err(chain_error)?;
        self.note(json!({"clock": format!("+{seconds} s")}));
        Ok(())
    }

    /// The draft's voucher domain for this escrow (§"Domain Separator").
    pub fn domain(&self) -> Eip712Domain {
        domain("EVM Payment Channel", self.chain_id, self.escrow)
    }

    /// `signer`'s 65-byte `r || s || v` voucher for `amount` on `channel`,
    /// under `domain`.
    pub fn voucher_in(
        &self,
        domain: &Eip712Domain,
        signer: &Party,
        channel: B256,
        amount: u128,
    ) -> Bytes {
        let digest = Voucher {
            channelId: channel,
            cumulativeAmount: amount,
        }
        .eip712_signing_hash(domain);
        let signature = signer
            .key
            .sign_hash_sync(&digest)
            .expect("a local key signs any digest");
        Bytes::copy_from_slice(&signature.as_bytes())
    }

    /// `signer`'s voucher as the draft says to sign it.
    pub fn voucher(&self, signer: &Party, channel: B256, amount: u128) -> Bytes {
        self.voucher_in(&self.domain(), signer, channel, amount)
    }

    /// Opens a channel of [`DEPOSIT`] from the payer to the payee with
    /// `authorized_signer` and a fresh salt; its id is what `open` returns
    /// (`Err`: `blocked`, as the open check judges opening).
    pub async fn open(&self, authorized_signer: Address) -> Result<(B256, B256), Outcome> {
        let salt = B256::random();
        let call = self.open_call(salt, authorized_signer);
        let Some(id) = self.simulate(&self.payer, call.clone()).await? else {
            return Err(Outcome::blocked(
                "the payer's open(payee, token, deposit, salt, authorizedSigner) reverts; see escrow.open.channel-id",
            ));
        };
        if !self.send(&self.payer, "open", call).await? {
            return Err(Outcome::blocked(
                "the payer's open was mined as reverted; see escrow.open.channel-id",
            ));
        }
        Ok((id, salt))
    }

    pub fn open_call(
        &self,
        salt: B256,
        authorized_signer: Address,
    ) -> IEvmPaymentChannel::openCall {
        IEvmPaymentChannel::openCall {
            payee: self.payee.address(),
            token: self.token,
            deposit: DEPOSIT,
            salt,
            authorizedSigner: authorized_signer,
        }
    }

    /// The payee settles the payer's voucher for `amount`, as a step every
    /// later part of a check relies on (`Err`: `blocked`, as the settle
    /// check judges a valid voucher).
    pub async fn settle_valid(&self, channel: B256, amount: u128) -> Result<(), Outcome> {
        let signature = self.voucher(&self.payer, channel, amount);
        let call = IEvmPaymentChannel::settleCall {
            channelId: channel,
            cumulativeAmount: amount,
            signature,
        };
        if self
            .send(
                &self.payee,
                &format!("settle {amount} (payer's voucher)"),
                call,
            )
            .await?
        {
            Ok(())
        } else {
            Err(Outcome::blocked(format!(
                "the payee's settle of the payer's valid voucher for {amount} reverted; see escrow.settle.pays-delta"
            )))
        }
    }

    /// The payee closes with the payer's voucher for `amount`, as a step
    /// later parts rely on; the voucher it used (`Err`: `blocked`, as the
    /// close check judges a valid close).
    pub async fn close_valid(&self, channel: B256, amount: u128) -> Result<Bytes, Outcome> {
        let signature = self.voucher(&self.payer, channel, amount);
        let call = IEvmPaymentChannel::closeCall {
            channelId: channel,
            cumulativeAmount: amount,
            signature: signature.clone(),
        };
        if self
            .send(
                &self.payee,
                &format!("close with the payer's voucher for {amount}"),
                call,
            )
            .await?
        {
            Ok(signature)
        } else {
            Err(Outcome::blocked(
                "the payee's close with a valid voucher reverted; see escrow.close.settles-and-refunds",
            ))
        }
    }

    /// The payer asks to close (`Err`: `blocked`, as the request-close
    /// check judges it).
    pub async fn request_close(&self, channel: B256) -> Result<(), Outcome> {
        let call = IEvmPaymentChannel::requestCloseCall { channelId: channel };
        if self.send(&self.payer, "requestClose", call).await? {
            Ok(())
        } else {
            Err(Outcome::blocked(
                "the payer's requestClose reverted; see escrow.request-close.reverts",
            ))
        }
    }

    fn note(&self, entry: Value) {
        self.journal.lock().expect("journal").push(entry);
    }

    fn take_journal(&self) -> Vec<Value> {
        std::mem::take(&mut *self.journal.lock().expect("journal"))
    }
}

/// An EIP-712 voucher domain (name, version "1", chain, contract).
pub fn domain(name: &'static str, chain_id: u64, verifying_contract: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(name.into()),
        Some("1".into()),
        Some(U256::from(chain_id)),
        Some(verifying_contract),
        None,
    )
}

/// One check of the suite.
pub struct EscrowCheck {
    pub id: &'static str,
    pub requirements: &'static [&'static str],
    pub run: for<'a> fn(&'a EscrowCtx) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>,
}

/// What one check concluded, with its transactions.
#[derive(Debug, Clone, Serialize)]
pub struct EscrowResult {
    pub id: &'static str,
    pub requirements: Vec<&'static str>,
    pub verdict: Verdict,
    pub detail: String,
    pub millis: f64,
    pub transactions: Vec<Value>,
}

impl Shown for EscrowResult {
    fn id(&self) -> &str {
        self.id
    }
    fn verdict(&self) -> Verdict {
        self.verdict
    }
    fn millis(&self) -> f64 {
        self.millis
    }
}

/// Every check, in run order.
pub fn all_checks() -> &'static [EscrowCheck] {
    checks::CHECKS
}

/// Runs the selected checks one after another (they share the chain's
/// clock, which some move on).
pub async fn run_all(
    ctx: &EscrowCtx,
    selection: &Selection,
    progress: &mut (impl Watch<EscrowResult> + Send),
) -> Vec<EscrowResult> {
    let chosen: Vec<&EscrowCheck> = all_checks()
        .iter()
        .enumerate()
        .filter(|(n, c)| selection.selects(*n, c.id))
        .map(|(_, c)| c)
        .collect();
    progress.planned(chosen.len());
    let mut results = Vec::new();
    for check in chosen {
        let start = Instant::now();
        ctx.take_journal();
        let guarded =
            futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe((check.run)(ctx)));
        let outcome = tokio::select! {
            o = tokio::time::timeout(Duration::from_secs(60), guarded) => match o {
                Ok(Ok(o)) => o,
                Ok(Err(_)) => Outcome::error("the check panicked (a harness defect: please report it)"),
                Err(_) => Outcome::error("the check did not finish within 60 s"),
            },
            _ = crate::interrupt::wait() => {
                Outcome::skip(format!("not run: {}", crate::interrupt::reason().unwrap_or_default()))
            }
        };
        let result = EscrowResult {
            id: check.id,
            requirements: check.requirements.to_vec(),
            verdict: outcome.verdict,
            detail: outcome.detail,
            millis: start.elapsed().as_secs_f64() * 1000.0,
            transactions: ctx.take_journal(),
        };
        progress.finished(&result);
        results.push(result);
    }
    results
}

/// A check row: `escrow_check!(id, [requirements], |ctx| step(ctx))` where
/// the step is an `async fn(&EscrowCtx) -> Result<Outcome, Outcome>`.
macro_rules! escrow_check {
    ($id:literal, [$($req:literal),+ $(,)?], |$ctx:ident| $step:expr) => {
        $crate::escrow_suite::EscrowCheck {
            id: $id,
            requirements: &[$($req),+],
            run: |$ctx| Box::pin(async move {
                match $step.await {
                    Ok(o) | Err(o) => o,
                }
            }),
        }
    };
}
pub(crate) use escrow_check;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_check_has_one_id_and_cites_catalogued_evm_session_requirements() {
        let catalogue = mppconf_suite::catalogue::Catalogue::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../vectors"
        )))
        .unwrap();
        let mut ids = BTreeSet::new();
        for check in all_checks() {
            assert!(ids.insert(check.id), "{} twice", check.id);
            assert!(check.id.starts_with("escrow."), "{}", check.id);
            assert!(!check.requirements.is_empty(), "{} cites nothing", check.id);
            for r in check.requirements {
                assert!(r.starts_with("evm-session."), "{}: {r}", check.id);
                assert!(catalogue.find(r).is_some(), "{}: unknown {r}", check.id);
            }
        }
    }

    #[test]
    fn the_voucher_domain_is_the_drafts() {
        let escrow = Address::repeat_byte(0x11);
        let channel = B256::repeat_byte(0x22);
        let ours = Voucher {
            channelId: channel,
            cumulativeAmount: 5,
        }
        .eip712_signing_hash(&domain("EVM Payment Channel", 196, escrow));
        let codec = mppconf_suite::methods::evm_session::voucher_digest(
            196,
            escrow,
            channel,
            U256::from(5),
        )
        .unwrap();
        assert_eq!(ours, codec);
    }
}
