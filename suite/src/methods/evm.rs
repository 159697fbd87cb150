//! draft-evm-charge-00 §"Permit2 Payload", §"Authorization Payload": the
//! challenge binding of an EVM charge, computed offline. `challengeHash`
//! (the Permit2 witness member and the EIP-3009 nonce) is
//! keccak256(id ‖ realm); the Permit2 type hashes come from the witness
//! type string, which the draft writes with a space EIP-712 never
//! produces (ambiguity.evm-witness-type-string): both forms are given, so
//! a check can say which one an implementation signs or submits with.

use alloy_primitives::{Address, B256, U256, keccak256};

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

alloy_sol_types::sol! {
    /// Permit2's token permission (draft-evm-charge-00 §"Permit Object").
    #[derive(Debug, PartialEq, Eq)]
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    /// §"Witness Data (Challenge Binding)".
    #[derive(Debug, PartialEq, Eq)]
    struct PaymentWitness {
        bytes32 challengeHash;
        string externalId;
    }

    /// What the payer signs for a single transfer: Permit2's
    /// `PermitWitnessTransferFrom` with the payment witness (the spender is
    /// the account that submits).
    #[derive(Debug)]
    struct PermitWitnessTransferFrom {
        TokenPermissions permitted;
        address spender;
        uint256 nonce;
        uint256 deadline;
        PaymentWitness witness;
    }

    /// The same for a transfer with splits.
    #[derive(Debug)]
    struct PermitBatchWitnessTransferFrom {
        TokenPermissions[] permitted;
        address spender;
        uint256 nonce;
        uint256 deadline;
        PaymentWitness witness;
    }

    /// EIP-3009's `transferWithAuthorization` message (§"Authorization
    /// Payload").
    #[derive(Debug)]
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// Permit2's EIP-712 domain: name "Permit2", no version.
pub fn permit2_domain(chain_id: u64, permit2: Address) -> alloy_sol_types::Eip712Domain {
    alloy_sol_types::Eip712Domain {
        name: Some("Permit2".into()),
        version: None,
        chain_id: Some(U256::from(chain_id)),
        verifying_contract: Some(permit2),
        salt: None,
    }
}

/// An EIP-3009 token's domain (name and version as the token reports
/// them: ambiguity.evm-eip3009-domain).
pub fn token_domain(
    name: &str,
    version: &str,
    chain_id: u64,
    token: Address,
) -> alloy_sol_types::Eip712Domain {
    alloy_sol_types::Eip712Domain {
        name: Some(name.to_string().into()),
        version: Some(version.to_string().into()),
        chain_id: Some(U256::from(chain_id)),
        verifying_contract: Some(token),
        salt: None,
    }
}

/// A Permit2 payload's signed content, single or batch by the number of
/// permissions, with the canonical witness (ambiguity.evm-witness-type-string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit2Message {
    pub permitted: Vec<(Address, U256)>,
    pub spender: Address,
    pub nonce: U256,
    pub deadline: U256,
    pub challenge_hash: B256,
    pub external_id: String,
}

impl Permit2Message {
    fn witness(&self) -> PaymentWitness {
        PaymentWitness {
            challengeHash: self.challenge_hash,
            externalId: self.external_id.clone(),
        }
    }

    fn permissions(&self) -> Vec<TokenPermissions> {
        self.permitted
            .iter()
            .map(|&(token, amount)| TokenPermissions { token, amount })
            .collect()
    }

    /// The EIP-712 digest the payer signs.
    pub fn digest(&self, chain_id: u64, permit2: Address) -> B256 {
        use alloy_sol_types::SolStruct;
        let domain = permit2_domain(chain_id, permit2);
        match self.permissions().as_slice() {
            [one] => PermitWitnessTransferFrom {
                permitted: one.clone(),
                spender: self.spender,
                nonce: self.nonce,
                deadline: self.deadline,
                witness: self.witness(),
            }
            .eip712_signing_hash(&domain),
            _ => PermitBatchWitnessTransferFrom {
                permitted: self.permissions(),
                spender: self.spender,
                nonce: self.nonce,
                deadline: self.deadline,
                witness: self.witness(),
            }
            .eip712_signing_hash(&domain),
        }
    }

    /// `hashStruct(PaymentWitness)`: the `witness` argument Permit2 takes.
    pub fn witness_hash(&self) -> B256 {
        use alloy_sol_types::SolStruct;
        self.witness().eip712_hash_struct()
    }
}

/// An EIP-3009 authorization's signed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationMessage {
    pub from: Address,
    pub to: Address,
    pub value: U256,
    pub valid_after: U256,
    pub valid_before: U256,
    pub nonce: B256,
}

impl AuthorizationMessage {
    /// The EIP-712 digest the payer signs, on the token's domain.
    pub fn digest(&self, domain: &alloy_sol_types::Eip712Domain) -> B256 {
        use alloy_sol_types::SolStruct;
        TransferWithAuthorization {
            from: self.from,
            to: self.to,
            value: self.value,
            validAfter: self.valid_after,
            validBefore: self.valid_before,
            nonce: self.nonce,
        }
        .eip712_signing_hash(domain)
    }
}

/// The request of an EVM charge, read (draft-evm-charge-00 §"Request
/// Schema"); the method rules judge its schema, this takes the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmChargeRequest {
    pub amount: U256,
    pub currency: Address,
    pub recipient: Address,
    pub chain_id: u64,
    pub permit2: Address,
    /// `credentialTypes`, absent when the request does not list them.
    pub credential_types: Option<Vec<String>>,
    pub splits: Vec<(Address, U256)>,
    pub external_id: Option<String>,
}

/// The canonical Permit2 address, `permit2Address`'s default
/// (ambiguity.evm-permit2-address-required).
pub const CANONICAL_PERMIT2: Address =
    alloy_primitives::address!("0x000000000022D473030F116dDEE9F6B43aC78BA3");

fn field<'a>(v: &'a serde_json::Value, name: &str) -> Result<&'a str, String> {
    v.get(name)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format!("{name} is missing or not a string"))
}

fn address_of(v: &serde_json::Value, name: &str) -> Result<Address, String> {
    let text = field(v, name)?;
    text.parse()
        .map_err(|_| format!("{name} {text:?} is not a 20-byte hex address"))
}

fn integer_of(v: &serde_json::Value, name: &str) -> Result<U256, String> {
    let text = field(v, name)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} {text:?} is not a base-10 integer string"));
    }
    U256::from_str_radix(text, 10).map_err(|_| format!("{name} {text:?} exceeds uint256"))
}

fn hex_of(v: &serde_json::Value, name: &str) -> Result<Vec<u8>, String> {
    let text = field(v, name)?;
    text.strip_prefix("0x")
        .and_then(|h| alloy_primitives::hex::decode(h).ok())
        .ok_or_else(|| format!("{name} is not 0x-prefixed whole-byte hex"))
}

fn b256_of(v: &serde_json::Value, name: &str) -> Result<B256, String> {
    let bytes = hex_of(v, name)?;
    (bytes.len() == 32)
        .then(|| B256::from_slice(&bytes))
        .ok_or_else(|| format!("{name} is {} bytes, not 32", bytes.len()))
}

impl EvmChargeRequest {
    pub fn from_json(request: &serde_json::Value) -> Result<Self, String> {
        let details = request
            .get("methodDetails")
            .filter(|d| d.is_object())
            .ok_or("methodDetails is missing")?;
        let chain_id = details
            .get("chainId")
            .and_then(serde_json::Value::as_u64)
            .ok_or("methodDetails.chainId is missing or not an integer")?;
        let permit2 = match details.get("permit2Address") {
            None => CANONICAL_PERMIT2,
            Some(_) => address_of(details, "permit2Address")?,
        };
        let credential_types = match details.get("credentialTypes") {
            None => None,
            Some(list) => Some(
                list.as_array()
                    .ok_or("methodDetails.credentialTypes is not an array")?
                    .iter()
                    .map(|t| {
                        t.as_str()
                            .map(str::to_string)
                            .ok_or("a credentialTypes entry is not a string")
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let mut splits = Vec::new();
        for split in details
            .get("splits")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            splits.push((
                address_of(split, "recipient")?,
                integer_of(split, "amount")?,
            ));
        }
        let amount = integer_of(request, "amount")?;
        let split_sum = splits
            .iter()
            .try_fold(U256::ZERO, |sum, (_, a)| sum.checked_add(*a))
            .ok_or("the splits overflow uint256")?;
        if !splits.is_empty() && split_sum >= amount {
            return Err(format!(
                "the splits sum to {split_sum}, not below amount {amount}"
            ));
        }
        Ok(Self {
            amount,
            currency: address_of(request, "currency")?,
            recipient: address_of(request, "recipient")?,
            chain_id,
            permit2,
            credential_types,
            splits,
            external_id: request
                .get("externalId")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string),
        })
    }

    /// The transfers the charge asks for, in Permit2's order: the primary
    /// recipient's remainder first, then each split (§"Payment Splits").
    pub fn transfers(&self) -> Vec<(Address, U256)> {
        let split_sum: U256 = self.splits.iter().map(|(_, a)| *a).sum();
        let mut out = vec![(self.recipient, self.amount - split_sum)];
        out.extend(self.splits.iter().copied());
        out
    }

    /// Whether the challenge offers `kind`: listed, or (no list) one a
    /// server must or should accept (§"Credential Type Negotiation").
    pub fn offers(&self, kind: &str) -> bool {
        match &self.credential_types {
            Some(list) => list.iter().any(|t| t == kind),
            None => matches!(kind, "transaction" | "hash"),
        }
    }
}

/// A credential payload of EVM charge, read (§"Credential Schema").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvmPayload {
    Permit2 {
        permitted: Vec<(Address, U256)>,
        nonce: U256,
        deadline: U256,
        transfer_details: Vec<(Address, U256)>,
        challenge_hash: B256,
        external_id: Option<String>,
        signature: Vec<u8>,
    },
    Authorization {
        message: AuthorizationMessage,
        signature: Vec<u8>,
    },
    /// An RLP-encoded signed transaction.
    Transaction {
        signed: Vec<u8>,
    },
    Hash {
        hash: B256,
    },
}

impl EvmPayload {
    /// Reads a payload; an error names the field that breaks it.
    pub fn parse(payload: &serde_json::Value) -> Result<Self, String> {
        let pairs = |v: &serde_json::Value, list: &str, to: &str, amount: &str| {
            v.get(list)
                .and_then(serde_json::Value::as_array)
                .ok_or(format!("{list} is missing or not an array"))?
                .iter()
                .map(|e| Ok((address_of(e, to)?, integer_of(e, amount)?)))
                .collect::<Result<Vec<_>, String>>()
        };
        match field(payload, "type")? {
            "permit2" => {
                let permit = payload
                    .get("permit")
                    .filter(|p| p.is_object())
                    .ok_or("permit is missing")?;
                let witness = payload
                    .get("witness")
                    .filter(|w| w.is_object())
                    .ok_or("witness is missing")?;
                Ok(Self::Permit2 {
                    permitted: pairs(permit, "permitted", "token", "amount")?,
                    nonce: integer_of(permit, "nonce")?,
                    deadline: integer_of(permit, "deadline")?,
                    transfer_details: pairs(payload, "transferDetails", "to", "requestedAmount")?,
                    challenge_hash: b256_of(witness, "challengeHash")?,
                    external_id: witness
                        .get("externalId")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_string),
                    signature: hex_of(payload, "signature")?,
                })
            }
            "authorization" => Ok(Self::Authorization {
                message: AuthorizationMessage {
                    from: address_of(payload, "from")?,
                    to: address_of(payload, "to")?,
                    value: integer_of(payload, "value")?,
                    valid_after: integer_of(payload, "validAfter")?,
                    valid_before: integer_of(payload, "validBefore")?,
                    nonce: b256_of(payload, "nonce")?,
                },
                signature: hex_of(payload, "signature")?,
            }),
            "transaction" => Ok(Self::Transaction {
                signed: hex_of(payload, "signature")?,
            }),
            "hash" => Ok(Self::Hash {
                hash: b256_of(payload, "hash")?,
            }),
            other => Err(format!(
                "type {other:?} is none of permit2, authorization, transaction, hash"
            )),
        }
    }

    /// The payload's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Permit2 { .. } => "permit2",
            Self::Authorization { .. } => "authorization",
            Self::Transaction { .. } => "transaction",
            Self::Hash { .. } => "hash",
        }
    }
}

impl AuthorizationMessage {
    /// Reads `{from, to, value, validAfter, validBefore, nonce}` (the
    /// payload's names; integers as base-10 strings).
    pub fn from_json(message: &serde_json::Value) -> Result<Self, String> {
        Ok(Self {
            from: address_of(message, "from")?,
            to: address_of(message, "to")?,
            value: integer_of(message, "value")?,
            valid_after: integer_of(message, "validAfter")?,
            valid_before: integer_of(message, "validBefore")?,
            nonce: b256_of(message, "nonce")?,
        })
    }
}

/// Reads an EIP-712 domain `{name, version, chainId, verifyingContract}`.
pub fn domain_from_json(
    domain: &serde_json::Value,
) -> Result<alloy_sol_types::Eip712Domain, String> {
    let chain_id = domain
        .get("chainId")
        .and_then(serde_json::Value::as_u64)
        .ok_or("chainId is missing or not an integer")?;
    Ok(token_domain(
        field(domain, "name")?,
        field(domain, "version")?,
        chain_id,
        address_of(domain, "verifyingContract")?,
    ))
}

impl Permit2Message {
    /// Reads `{permitted: [{token, amount}], spender, nonce, deadline,
    /// witness: {challengeHash, externalId}}` (the payload's names, with
    /// the spender the payload does not carry).
    pub fn from_json(message: &serde_json::Value) -> Result<Self, String> {
        let witness = message
            .get("witness")
            .filter(|w| w.is_object())
            .ok_or("witness is missing")?;
        let permitted = message
            .get("permitted")
            .and_then(serde_json::Value::as_array)
            .ok_or("permitted is missing or not an array")?
            .iter()
            .map(|p| Ok((address_of(p, "token")?, integer_of(p, "amount")?)))
            .collect::<Result<Vec<_>, String>>()?;
        if permitted.is_empty() {
            return Err("permitted is empty".into());
        }
        Ok(Self {
            permitted,
            spender: address_of(message, "spender")?,
            nonce: integer_of(message, "nonce")?,
            deadline: integer_of(message, "deadline")?,
            challenge_hash: b256_of(witness, "challengeHash")?,
            external_id: witness
                .get("externalId")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
    }
}
