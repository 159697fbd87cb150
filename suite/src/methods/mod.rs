//! Payment-method specifics, one module per method and intent spec.

pub mod evm;
pub mod evm_session;
pub mod hedera;
pub mod lightning;
pub mod rules;
pub mod solana;
pub mod stellar;
pub mod tempo_charge;
pub mod tempo_effects;
pub mod tempo_session;
pub mod tempo_session_stream;
