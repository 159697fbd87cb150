//! Payment-method specifics, one module per method and intent spec.

pub mod card;
pub mod evm;
pub mod evm_session;
pub mod hedera;
pub mod hedera_session;
pub mod lightning;
pub mod lightning_session;
pub mod rules;
pub mod solana;
pub mod solana_session;
pub mod stellar;
pub mod subscription;
pub mod tempo_charge;
pub mod tempo_effects;
pub mod tempo_session;
pub mod tempo_session_stream;
pub mod tempo_subscription;

/// Whether `signature` is `key`'s strict ed25519 signature of `message`
/// (RFC 8032, refusing non-canonical encodings and weak keys): the
/// signatures of Stellar and Solana transactions.
pub(crate) fn ed25519_verifies(key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(signature)) = (
        ed25519_dalek::VerifyingKey::from_bytes(key),
        ed25519_dalek::Signature::from_slice(signature),
    ) else {
        return false;
    };
    key.verify_strict(message, &signature).is_ok()
}
