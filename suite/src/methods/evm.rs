//! draft-evm-charge-00 §"Permit2 Payload", §"Authorization Payload": the
//! challenge binding of an EVM charge, computed offline. `challengeHash`
//! (the Permit2 witness member and the EIP-3009 nonce) is
//! keccak256(id ‖ realm); the Permit2 type hashes come from the witness
//! type string, which the draft writes with a space EIP-712 never
//! produces (ambiguity.evm-witness-type-string): both forms are given, so
//! a check can say which one an implementation signs or submits with.

use alloy_primitives::{B256, keccak256};

/// `keccak256(abi.encodePacked(challenge.id, challenge.realm))`: the two
/// strings' bytes, concatenated (no separator: ambiguity
/// evm-challenge-hash-encoding).
pub fn challenge_hash(id: &str, realm: &str) -> B256 {
    let mut packed = Vec::with_capacity(id.len() + realm.len());
    packed.extend_from_slice(id.as_bytes());
    packed.extend_from_slice(realm.as_bytes());
    keccak256(packed)
}

/// Which text of the witness type string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitnessForm {
    /// The draft's literal text, with the space after the comma.
    Literal,
    /// EIP-712's encodeType, as typed-data signers produce it.
    Canonical,
}

impl WitnessForm {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "literal" => Some(Self::Literal),
            "canonical" => Some(Self::Canonical),
            _ => None,
        }
    }

    /// The `PaymentWitness` struct's type.
    fn witness_type(self) -> &'static str {
        match self {
            Self::Literal => "PaymentWitness(bytes32 challengeHash, string externalId)",
            Self::Canonical => "PaymentWitness(bytes32 challengeHash,string externalId)",
        }
    }

    /// Permit2's `witnessTypeString`: the witness member closing its
    /// stub, then the referenced structs in alphabetical order.
    fn witness_type_string(self) -> String {
        format!(
            "PaymentWitness witness){}TokenPermissions(address token,uint256 amount)",
            self.witness_type()
        )
    }
}

/// The type hashes of a witness form: the `PaymentWitness` struct's, and
/// Permit2's `permitWitnessTransferFrom` and
/// `permitBatchWitnessTransferFrom` ones (keccak256 of Permit2's stub and
/// the witness type string, as Permit2 hashes them).
pub fn permit2_type_hashes(form: WitnessForm) -> [B256; 3] {
    const SINGLE: &str = "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,";
    const BATCH: &str = "PermitBatchWitnessTransferFrom(TokenPermissions[] permitted,address spender,uint256 nonce,uint256 deadline,";
    let witness = form.witness_type_string();
    [
        keccak256(form.witness_type()),
        keccak256(format!("{SINGLE}{witness}")),
        keccak256(format!("{BATCH}{witness}")),
    ]
}
