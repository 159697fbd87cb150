//! The reference server's Tempo charge settlement (draft-tempo-charge-00
//! §"Transaction Verification" to §"Settlement Procedure"): pull
//! transactions co-signed and broadcast, push hashes read back, the
//! mined logs checked against the request.

use alloy::primitives::{B256, Bytes};
use mppconf_suite::codec::Credential;
use mppconf_suite::methods::tempo_effects::{self, ChargeRequest, Log};
use serde_json::{Value, json};

use super::{Deviation, ProblemType, Refusal, State, refuse, tx};

/// The attribution-memo demand of the SDK servers (a deviation): the
/// primary transfer must carry the memo bound to this challenge.
pub(super) fn require_attribution_memo(
    request: &ChargeRequest,
    credential: &Credential,
) -> std::result::Result<(), Refusal> {
    let echo = &credential.challenge;
    let wanted = crate::reference::client::attribution_memo(&echo.realm, &echo.id);
    let raw: Bytes = credential
        .payload
        .get("signature")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let bound = tx::decode_payment(&raw).is_ok_and(|p| {
        p.effects(request.currency)
            .iter()
            .any(|e| e.to == request.recipient && e.memo == Some(wanted))
    });
    if bound {
        Ok(())
    } else {
        Err(refuse(
            ProblemType::VerificationFailed,
            "memo is not bound to this challenge",
        ))
    }
}

/// Pull mode: decode, check, (co-sign,) broadcast, check the receipt.
pub(super) async fn settle_pull(
    state: &State,
    request: &ChargeRequest,
    credential: &Credential,
    expires: Option<i64>,
) -> std::result::Result<String, Refusal> {
    let fail = |d: String| refuse(ProblemType::VerificationFailed, d);
    let raw: Bytes = credential
        .payload
        .get("signature")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| fail("signature is not hex".into()))?;
    let payment = tx::decode_payment(&raw).map_err(fail)?;
    if payment.tx().chain_id != request.chain_id && !state.deviates(Deviation::IgnoreChainId) {
        return Err(fail(format!(
            "transaction is for chain {}, the challenge for {}",
            payment.tx().chain_id,
            request.chain_id
        )));
    }
    // "with validBefore no later than the challenge expires": a later one
    // could settle after the challenge is gone (and T4 drops transactions
    // valid for more than 30 s, so the broadcast would hang).
    let valid_before = payment.tx().valid_before.map(|v| v.get() as i64);
    if let (Some(vb), Some(exp)) = (valid_before, expires)
        && vb > exp
        && !state.deviates(Deviation::IgnoreValidBefore)
    {
        return Err(fail(format!(
            "validBefore {vb} is later than the challenge's expires {exp}"
        )));
    }
    if state.deviates(Deviation::StrictCallOrder)
        && payment
            .effects(request.currency)
            .first()
            .is_some_and(|e| e.to != request.recipient)
    {
        return Err(fail("the primary transfer must come first".into()));
    }
    if !state.deviates(Deviation::AcceptWrongAmount) {
        tempo_effects::verify(
            &request.required_transfers(),
            &payment.effects(request.currency),
            "tempo-charge.verification.transaction-checks",
        )
        .map_err(|e| fail(e.to_string()))?;
    }
    let broadcast = if payment.awaits_fee_payer {
        if !request.fee_payer {
            return Err(fail(
                "the transaction asks for a fee payer but the challenge does not sponsor fees"
                    .into(),
            ));
        }
        let sponsor = state
            .fee_payer
            .as_ref()
            .ok_or_else(|| fail("no fee payer configured".into()))?;
        tx::cosign(payment, request.currency, sponsor).map_err(|e| fail(e.to_string()))?
    } else {
        raw.to_vec()
    };
    let receipt = state
        .rpc
        .call(
            "eth_sendRawTransactionSync",
            json!([Bytes::from(broadcast)]),
        )
        .await
        .map_err(|e| fail(format!("broadcast failed: {e}")))?;
    check_mined(
        request,
        &receipt,
        !state.deviates(Deviation::AcceptWrongAmount),
    )
    .map_err(fail)
}

/// Push mode: the client broadcast; read and check its receipt.
pub(super) async fn settle_push(
    state: &State,
    request: &ChargeRequest,
    credential: &Credential,
) -> std::result::Result<String, Refusal> {
    let fail = |d: String| refuse(ProblemType::VerificationFailed, d);
    let hash: B256 = credential
        .payload
        .get("hash")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| fail("hash is not 32-byte hex".into()))?;
    if !state.deviates(Deviation::SkipReplayCheck) {
        let fresh = state
            .used_hashes
            .lock()
            .map(|mut h| h.insert(hash))
            .unwrap_or(false);
        if !fresh {
            return Err(fail(
                "transaction hash already used for another payment".into(),
            ));
        }
    }
    let receipt = state
        .rpc
        .call("eth_getTransactionReceipt", json!([hash]))
        .await
        .map_err(|_| fail("the transaction receipt could not be read".into()))?;
    if receipt.is_null() {
        if state.deviates(Deviation::AcceptUnminedHash) {
            return Ok(hash.to_string());
        }
        return Err(fail(format!("no mined transaction {hash}")));
    }
    if state.deviates(Deviation::StrictCallOrder) {
        // Among the transfers to the request's payees (fee transfers
        // aside), the primary one first.
        let logs: Vec<Log> = receipt["logs"]
            .as_array()
            .map(|a| a.iter().filter_map(Log::from_json).collect())
            .unwrap_or_default();
        let payees: Vec<_> = request.required_transfers().iter().map(|t| t.to).collect();
        let first = tempo_effects::effects_of_logs(&logs, request.currency)
            .into_iter()
            .find(|e| payees.contains(&e.to));
        if first.is_some_and(|e| e.to != request.recipient) {
            return Err(fail("the primary transfer must come first".into()));
        }
    }
    check_mined(
        request,
        &receipt,
        !state.deviates(Deviation::AcceptWrongAmount),
    )
    .map_err(fail)
}

/// A mined receipt must be a success whose logs pay the request; returns
/// the transaction hash (the receipt `reference`).
fn check_mined(
    request: &ChargeRequest,
    receipt: &Value,
    check_logs: bool,
) -> std::result::Result<String, String> {
    if receipt["status"] != "0x1" {
        return Err(format!(
            "transaction {} reverted",
            receipt["transactionHash"]
        ));
    }
    if check_logs {
        let logs: Vec<Log> = receipt["logs"]
            .as_array()
            .map(|a| a.iter().filter_map(Log::from_json).collect())
            .unwrap_or_default();
        tempo_effects::verify(
            &request.required_transfers(),
            &tempo_effects::effects_of_logs(&logs, request.currency),
            "tempo-charge.verification.hash-transfer-logs",
        )
        .map_err(|e| e.to_string())?;
    }
    receipt["transactionHash"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "receipt without transactionHash".into())
}
