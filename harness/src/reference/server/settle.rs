//! Verifying and settling one credential: the checks every method shares
//! (the challenge binding, the echo issued for this route, expiry, the
//! body's digest), then the method's own: Tempo charge here with `tempo`,
//! EVM charge with `evm`, session and subscription in theirs, and the
//! `stub` test method.

use alloy::primitives::{Address, Bytes};
use mppconf_suite::codec::{
    BindingSlots, Credential, ProblemType, Receipt, content_digest, rfc3339,
};
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::methods::tempo_charge::{self, PayloadType};
use mppconf_suite::methods::tempo_effects::ChargeRequest;
use serde_json::{Map, Value};

use super::super::tx;
use super::answers::{issued_method, issued_realm};
use super::{
    Deviation, Refusal, RouteConfig, State, evm, evm_session, now_rfc3339, parse_credential,
    refuse, session, subscription, tempo,
};

/// Verifies a credential against the route and settles it; the receipt on
/// success.
pub(super) async fn settle(
    state: &State,
    route: &RouteConfig,
    raw: &str,
    body: &[u8],
    skip_replay: bool,
    voucher_only: bool,
) -> std::result::Result<Receipt, Refusal> {
    let credential = parse_credential(state, raw).map_err(|e| {
        refuse(
            ProblemType::MalformedCredential,
            format!("Invalid credential format: {e}"),
        )
    })?;
    let leniency = Leniency {
        skip_replay,
        voucher_only,
        ..Leniency::default()
    };
    settle_credential(state, route, &credential, body, leniency).await
}

/// Rules a transport layer (MCP's deviations) relaxes for one credential,
/// on top of the server's own deviations.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Leniency {
    /// No single-use claim of the challenge id.
    pub(super) skip_replay: bool,
    /// The echoed challenge as it comes: no binding, no comparison with
    /// the route's request, the payment verified against the echo.
    pub(super) trust_echo: bool,
    /// Expired challenges accepted.
    pub(super) ignore_expiry: bool,
    /// Echoed ids taken as they come: no binding recomputed (the echoed
    /// values are still compared with the route's).
    pub(super) skip_binding: bool,
    /// A session voucher on a `HEAD` request: it raises the balance and
    /// buys nothing (draft-tempo-session-00 §"Session Flow": "clients MAY
    /// use `HEAD` for pure voucher top-ups").
    pub(super) voucher_only: bool,
}

/// [`settle`] for a parsed credential (the HTTP header's, or the MCP
/// `_meta` credential in its HTTP form).
pub(super) async fn settle_credential(
    state: &State,
    route: &RouteConfig,
    credential: &Credential,
    body: &[u8],
    leniency: Leniency,
) -> std::result::Result<Receipt, Refusal> {
    let skip_replay = leniency.skip_replay;
    let echo = &credential.challenge;

    // The binding: recompute the id from the echoed slots.
    let slots = BindingSlots::of_echo(echo, state.binding_draft());
    let skip_echo = state.deviates(Deviation::SkipEchoCheck)
        || state.deviates(Deviation::VerifyEchoedRequest)
        || leniency.trust_echo;
    if !state.deviates(Deviation::SkipBindingCheck)
        && !leniency.skip_binding
        && !skip_echo
        && slots.challenge_id(&state.binding_key()) != echo.id
    {
        return Err(refuse(
            ProblemType::InvalidChallenge,
            "Challenge ID unknown.",
        ));
    }
    // Issued for this resource and price.
    let mut wanted = route.request(state.config.chain_id);
    subscription::issued_access_key(state, route, &echo.request.value, &mut wanted);
    if !skip_echo
        && (echo.realm != issued_realm(state)
            || echo.method != issued_method(state, route)
            || echo.intent != route.intent()
            || echo.request.value != wanted)
    {
        return Err(refuse(
            ProblemType::InvalidChallenge,
            "Challenge was not issued for this resource.",
        ));
    }
    if !state.deviates(Deviation::IgnoreExpiry) && !leniency.ignore_expiry {
        let expired = match echo
            .expires
            .as_deref()
            .map(|e| rfc3339::parse("expires", e))
        {
            Some(Ok(t)) => t.timestamp() <= tx::unix_now() as i64,
            // A server that issues no expires does not call its own
            // challenges expired for want of one.
            None => !state.deviates(Deviation::NoExpires),
            Some(Err(_)) => true,
        };
        if expired {
            let problem = if state.config.choices.expired_as_payment_expired
                || (state.config.choices.core >= CoreDraft::Draft01
                    && !state.deviates(Deviation::ExpiredAsInvalidChallenge))
            {
                ProblemType::PaymentExpired
            } else {
                ProblemType::InvalidChallenge
            };
            return Err(refuse(problem, "Challenge expired."));
        }
    }
    if let Some(digest) = &echo.digest
        && !state.deviates(Deviation::SkipDigestCheck)
        && !content_digest::verify(digest, body).unwrap_or(false)
    {
        return Err(refuse(
            ProblemType::VerificationFailed,
            "Request body does not match the challenge digest.",
        ));
    }
    if route.is_stub() {
        return settle_stub(state, route, credential, skip_replay);
    }
    if route.session.is_some() && route.payment_method == "evm" {
        return evm_session::settle(state, route, credential, leniency.voucher_only).await;
    }
    if route.session.is_some() {
        return session::settle(state, route, credential, leniency.voucher_only).await;
    }
    if route.evm.is_some() {
        return settle_evm(state, route, credential, &wanted, skip_replay).await;
    }
    if route.subscription.is_some() {
        return subscription::settle(state, route, credential, &wanted, skip_replay).await;
    }
    let payload_type = credential.payload.get("type").and_then(Value::as_str);
    let kind = match (payload_type, tempo_charge::validate_credential(credential)) {
        (_, Ok((kind, _))) => kind,
        (Some("proof"), Err(_)) if state.deviates(Deviation::SkipProofCheck) => PayloadType::Proof,
        (Some("hash"), Err(_)) if state.deviates(Deviation::AcceptForbiddenPush) => {
            PayloadType::Hash
        }
        (_, Err(e)) => return Err(refuse(ProblemType::VerificationFailed, e.to_string())),
    };
    // Single use, claimed before any settlement so that concurrent copies
    // of one credential cannot both pass (§"Concurrent Request Handling").
    if !skip_replay {
        claim_once(state, &echo.id)?;
    }
    let verified_against = if state.deviates(Deviation::VerifyEchoedRequest) || leniency.trust_echo
    {
        &echo.request.value
    } else {
        &wanted
    };
    let request = ChargeRequest::from_json(verified_against)
        .map_err(|e| refuse(ProblemType::VerificationFailed, e.to_string()))?;
    let reference = match kind {
        PayloadType::Transaction => {
            let expires = echo
                .expires
                .as_deref()
                .and_then(|e| rfc3339::parse("expires", e).ok())
                .map(|t| t.timestamp());
            if state.deviates(Deviation::RequireAttributionMemo) && request.memo.is_none() {
                tempo::require_attribution_memo(&request, credential)?;
            }
            tempo::settle_pull(state, &request, credential, expires).await?
        }
        PayloadType::Hash => {
            if state.deviates(Deviation::RefusePushUnadvertised) && route.supported_modes.is_none()
            {
                return Err(refuse(
                    ProblemType::VerificationFailed,
                    "hash credentials are not accepted",
                ));
            }
            tempo::settle_push(state, &request, credential).await?
        }
        PayloadType::Proof => {
            let signature: Bytes = credential
                .payload
                .get("signature")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or_default();
            let signer = tx::recover_proof(&echo.id, request.chain_id, &signature);
            let claimed = credential
                .source
                .as_deref()
                .and_then(tempo_charge::parse_did_pkh)
                .and_then(|(_, a)| a.parse::<Address>().ok());
            if !state.deviates(Deviation::SkipProofCheck) && (signer.is_none() || signer != claimed)
            {
                return Err(refuse(
                    ProblemType::VerificationFailed,
                    "Proof signature does not recover to the source address.",
                ));
            }
            echo.id.clone()
        }
    };
    // The deviation names the first transaction it ever settled for the
    // route: a mined payment of the same request, but not this one.
    let reference = if state.deviates(Deviation::StaleReceiptReference) && !request.amount.is_zero()
    {
        let mut first = state
            .first_reference
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        first.entry(route.path.clone()).or_insert(reference).clone()
    } else {
        reference
    };
    let mut extra = Map::new();
    if let Some(e) = route
        .external_id
        .as_ref()
        .filter(|_| !state.deviates(Deviation::DropExternalId))
    {
        extra.insert("externalId".into(), e.clone().into());
    }
    Ok(Receipt {
        status: "success".into(),
        method: "tempo".into(),
        timestamp: now_rfc3339(),
        reference,
        extra,
    })
}

/// An EVM charge credential: the challenge used once, the payment
/// settled (`evm`), the receipt with draft-evm-charge-00 §"Receipt
/// Generation"'s fields.
async fn settle_evm(
    state: &State,
    route: &RouteConfig,
    credential: &Credential,
    wanted: &Value,
    skip_replay: bool,
) -> std::result::Result<Receipt, Refusal> {
    let request = mppconf_suite::methods::evm::EvmChargeRequest::from_json(wanted)
        .map_err(|e| refuse(ProblemType::VerificationFailed, e))?;
    if !skip_replay {
        claim_once(state, &credential.challenge.id)?;
    }
    let reference = evm::settle(state, route, &request, credential).await?;
    let mut extra = Map::new();
    if !state.deviates(Deviation::EvmReceiptWithoutChainId) {
        extra.insert("chainId".into(), request.chain_id.into());
        extra.insert("challengeId".into(), credential.challenge.id.clone().into());
    }
    if let Some(e) = request
        .external_id
        .filter(|_| !state.deviates(Deviation::DropExternalId))
    {
        extra.insert("externalId".into(), e.into());
    }
    Ok(Receipt {
        status: "success".into(),
        method: "evm".into(),
        timestamp: now_rfc3339(),
        reference,
        extra,
    })
}

/// Claims a challenge id for this credential: single use, claimed before
/// any settlement so that concurrent copies of one credential cannot both
/// pass (§"Concurrent Request Handling").
pub(super) fn claim_once(state: &State, id: &str) -> std::result::Result<(), Refusal> {
    if state.deviates(Deviation::SkipReplayCheck) {
        return Ok(());
    }
    let fresh = state
        .used_ids
        .lock()
        .map(|mut ids| ids.insert(id.to_string()))
        .unwrap_or(false);
    if fresh {
        Ok(())
    } else {
        Err(refuse(
            ProblemType::InvalidChallenge,
            "Challenge already used.",
        ))
    }
}

/// A stub route: the payload must be the stub's, and the challenge is used
/// once; nothing settles, so the receipt's reference is the challenge id.
fn settle_stub(
    state: &State,
    route: &RouteConfig,
    credential: &Credential,
    skip_replay: bool,
) -> std::result::Result<Receipt, Refusal> {
    crate::methods::stub::validate_payload(credential)
        .map_err(|e| refuse(ProblemType::VerificationFailed, e))?;
    let echo = &credential.challenge;
    if !skip_replay {
        claim_once(state, &echo.id)?;
    }
    let mut extra = Map::new();
    if let Some(e) = route
        .external_id
        .as_ref()
        .filter(|_| !state.deviates(Deviation::DropExternalId))
    {
        extra.insert("externalId".into(), e.clone().into());
    }
    Ok(Receipt {
        status: "success".into(),
        method: route.payment_method.clone(),
        timestamp: now_rfc3339(),
        reference: echo.id.clone(),
        extra,
    })
}
