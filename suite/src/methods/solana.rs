//! draft-solana-charge-00 offline: a pull-mode credential's transaction
//! (§"Transaction Payload — Pull Mode") decoded with Anza's
//! `solana-transaction` and judged against the challenge's request by every
//! check of §"Pull Mode Verification" that needs no RPC: only the expected
//! instructions (§"Transaction Payload Security"), the fee payer
//! (§"Fee Sponsorship"), one distinct transfer per payment leg
//! (§"Native SOL Verification", §"SPL Token Verification", destinations
//! derived as canonical associated token accounts), the split-recipient
//! ATA creations (§"Split Recipient ATA Creation") and the ed25519
//! signatures. Simulation, broadcast and confirmation need a live Solana
//! validator and are not judged here.

use serde_json::{Value, json};
use solana_address::Address;
use solana_transaction::versioned::VersionedTransaction;

use crate::error::{Error, Result};

const SYSTEM_PROGRAM: &str = "11111111111111111111111111111111";
const TOKEN_PROGRAM: &str = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
const TOKEN_2022_PROGRAM: &str = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb";
const ATA_PROGRAM: &str = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL";
const MEMO_PROGRAMS: [&str; 2] = [
    "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
    "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo",
];
const COMPUTE_BUDGET_PROGRAM: &str = "ComputeBudget111111111111111111111111111111";

/// §"Transaction Payload — Pull Mode": "the 1232-byte transaction size
/// limit".
const MAX_TRANSACTION_BYTES: usize = 1232;

const UNEXPECTED: &str = "solana-charge.security.only-expected-instructions";

fn fail(requirement: &'static str, reason: impl Into<String>) -> Error {
    Error::PayloadSchema {
        requirement,
        path: "$.transaction".into(),
        reason: reason.into(),
    }
}

fn bad_input(reason: impl Into<String>) -> Error {
    Error::BadOpInput {
        op: "solana.transaction.verify".into(),
        reason: reason.into(),
    }
}

fn address(text: &str, field: &str) -> Result<Address> {
    text.parse()
        .map_err(|_| bad_input(format!("{field} {text:?} is not a base58 public key")))
}

/// One payment leg of the request: the primary (amount − Σ splits) first,
/// then the splits in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    pub recipient: Address,
    pub amount: u64,
    /// `ataCreationRequired` (splits only).
    pub ata_required: bool,
}

/// The request's terms a transaction is judged against.
#[derive(Debug, Clone)]
struct Terms {
    /// `None` for native SOL.
    mint: Option<Address>,
    decimals: Option<u8>,
    /// `methodDetails.tokenProgram`, when given.
    token_program: Option<Address>,
    fee_payer_key: Option<Address>,
    legs: Vec<Leg>,
    external_id: Option<String>,
}

impl Terms {
    fn read(request: &Value) -> Result<Self> {
        let text = |pointer: &str| request.pointer(pointer).and_then(Value::as_str);
        let need = |pointer: &str| {
            text(pointer)
                .ok_or_else(|| bad_input(format!("the request has no string at {pointer}")))
        };
        let amount = |v: &str, field: &str| {
            v.parse::<u64>()
                .map_err(|_| bad_input(format!("{field} {v:?} is not a u64 decimal")))
        };
        let currency = need("/currency")?;
        let mint = (currency != "sol")
            .then(|| address(currency, "currency"))
            .transpose()?;
        let details = request.get("methodDetails");
        let detail = |name: &str| details.and_then(|d| d.get(name));
        let fee_payer = detail("feePayer").and_then(Value::as_bool) == Some(true);
        let fee_payer_key = if fee_payer {
            Some(address(
                detail("feePayerKey")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad_input("feePayer is true and feePayerKey is absent"))?,
                "feePayerKey",
            )?)
        } else {
            None
        };
        let mut legs = vec![Leg {
            recipient: address(need("/recipient")?, "recipient")?,
            amount: amount(need("/amount")?, "amount")?,
            ata_required: false,
        }];
        for (i, split) in detail("splits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = |name: &str| {
                split
                    .get(name)
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad_input(format!("splits[{i}] has no string {name}")))
            };
            legs.push(Leg {
                recipient: address(field("recipient")?, "split recipient")?,
                amount: amount(field("amount")?, "split amount")?,
                ata_required: split.get("ataCreationRequired").and_then(Value::as_bool)
                    == Some(true),
            });
        }
        // Checked: splits whose sum wraps a u64 would leave the primary leg
        // almost the whole amount (a fuzzing find).
        legs[0].amount = legs[1..]
            .iter()
            .try_fold(0u64, |sum, l| sum.checked_add(l.amount))
            .and_then(|splits| legs[0].amount.checked_sub(splits))
            .ok_or_else(|| bad_input("the splits add up to more than amount"))?;
        Ok(Self {
            mint,
            decimals: detail("decimals")
                .and_then(Value::as_u64)
                .and_then(|d| u8::try_from(d).ok()),
            token_program: detail("tokenProgram")
                .and_then(Value::as_str)
                .map(|p| address(p, "tokenProgram"))
                .transpose()?,
            fee_payer_key,
            legs,
            external_id: text("/externalId").map(str::to_owned),
        })
    }
}

/// An instruction read: what each allowed one does.
#[derive(Debug, Clone)]
enum Instruction {
    /// System Program `transfer`.
    SolTransfer {
        from: Address,
        to: Address,
        lamports: u64,
    },
    /// Token / Token-2022 `transferChecked`.
    TransferChecked {
        program: Address,
        mint: Address,
        destination: Address,
        authority: Address,
        amount: u64,
        decimals: u8,
    },
    /// Associated Token Program `CreateIdempotent`.
    CreateAta {
        payer: Address,
        ata: Address,
        owner: Address,
        mint: Address,
        token_program: Address,
    },
    Memo(Vec<u8>),
    ComputeBudget,
}

fn program(name: &str) -> Address {
    name.parse().expect("a program id constant is base58")
}

/// Reads one compiled instruction, refusing any the draft does not expect.
fn read_instruction(
    keys: &[Address],
    program_id: &Address,
    accounts: &[u8],
    data: &[u8],
) -> Result<Instruction> {
    let account = |i: usize| -> Result<Address> {
        accounts
            .get(i)
            .and_then(|&k| keys.get(usize::from(k)))
            .copied()
            .ok_or_else(|| fail("solana-charge.transaction.valid-size", format!("an instruction of {program_id} names account #{i}, which the message lacks (lookup tables cannot be read offline)")))
    };
    let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    let id = program_id.to_string();
    if id == SYSTEM_PROGRAM {
        if data.len() == 12 && data[..4] == 2u32.to_le_bytes() {
            return Ok(Instruction::SolTransfer {
                from: account(0)?,
                to: account(1)?,
                lamports: word(&data[4..12]),
            });
        }
        return Err(fail(
            UNEXPECTED,
            "a System Program instruction other than transfer",
        ));
    }
    if id == TOKEN_PROGRAM || id == TOKEN_2022_PROGRAM {
        if data.len() == 10 && data[0] == 12 {
            return Ok(Instruction::TransferChecked {
                program: *program_id,
                mint: account(1)?,
                destination: account(2)?,
                authority: account(3)?,
                amount: word(&data[1..9]),
                decimals: data[9],
            });
        }
        return Err(fail(
            UNEXPECTED,
            format!(
                "a {id} instruction other than transferChecked (tag {:?})",
                data.first()
            ),
        ));
    }
    if id == ATA_PROGRAM {
        if data != [1] {
            return Err(fail(
                "solana-charge.ata.idempotent-create",
                format!(
                    "an Associated Token Program instruction with data {data:?}, not CreateIdempotent ([1])"
                ),
            ));
        }
        return Ok(Instruction::CreateAta {
            payer: account(0)?,
            ata: account(1)?,
            owner: account(2)?,
            mint: account(3)?,
            token_program: account(5)?,
        });
    }
    if MEMO_PROGRAMS.contains(&id.as_str()) {
        return Ok(Instruction::Memo(data.to_vec()));
    }
    if id == COMPUTE_BUDGET_PROGRAM {
        return Ok(Instruction::ComputeBudget);
    }
    Err(fail(UNEXPECTED, format!("an instruction of program {id}")))
}

/// The canonical associated token account of `owner` for `mint` under
/// `token_program`.
fn ata(owner: &Address, token_program: &Address, mint: &Address) -> Address {
    Address::find_program_address(
        &[owner.as_ref(), token_program.as_ref(), mint.as_ref()],
        &program(ATA_PROGRAM),
    )
    .0
}

fn verifies(key: &Address, message: &[u8], signature: &[u8]) -> bool {
    super::ed25519_verifies(&key.to_bytes(), message, signature)
}

/// What a verified transaction pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub fee_payer: Address,
    pub legs: Vec<Leg>,
    /// SHOULD findings, by requirement id.
    pub warnings: Vec<&'static str>,
}

/// Judges a pull-mode `payload.transaction` against its `request`.
pub fn verify_transaction(request: &Value, transaction: &str) -> Result<Verified> {
    use base64::Engine;
    const SIZE: &str = "solana-charge.transaction.valid-size";
    let terms = Terms::read(request)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(transaction)
        .map_err(|e| fail(SIZE, format!("not base64 ({e})")))?;
    if bytes.len() > MAX_TRANSACTION_BYTES {
        return Err(fail(
            SIZE,
            format!("{} bytes, over the 1232-byte limit", bytes.len()),
        ));
    }
    let tx: VersionedTransaction = wincode::deserialize(&bytes).map_err(|e| {
        fail(
            SIZE,
            format!("not a serialized versioned transaction ({e})"),
        )
    })?;
    if wincode::serialize(&tx).map(|b| b.len()).ok() != Some(bytes.len()) {
        return Err(fail(SIZE, "bytes after the transaction"));
    }
    let message = &tx.message;
    let header = message.header();
    let required = usize::from(header.num_required_signatures);
    if tx.signatures.len() != required {
        return Err(fail(
            SIZE,
            format!(
                "{} signatures for {required} required signers",
                tx.signatures.len()
            ),
        ));
    }
    if message
        .address_table_lookups()
        .is_some_and(|l| !l.is_empty())
    {
        return Err(fail(
            "solana-charge.pull.structural-match",
            "the message loads accounts from address lookup tables, which only a validator can resolve",
        ));
    }
    let keys = message.static_account_keys();
    let fee_payer = *keys
        .first()
        .ok_or_else(|| fail(SIZE, "a message without accounts"))?;
    let mut instructions = Vec::new();
    for ix in message.instructions() {
        let program_id = keys
            .get(usize::from(ix.program_id_index))
            .ok_or_else(|| fail(SIZE, "an instruction names a program the message lacks"))?;
        instructions.push(read_instruction(keys, program_id, &ix.accounts, &ix.data)?);
    }

    // §"Transaction Payload Security": a SOL payment moves lamports only,
    // an SPL payment tokens only.
    for ix in &instructions {
        match (ix, terms.mint) {
            (Instruction::SolTransfer { .. }, Some(_)) => {
                return Err(fail(
                    UNEXPECTED,
                    "a System transfer in an SPL token payment",
                ));
            }
            (Instruction::TransferChecked { .. }, None) => {
                return Err(fail(
                    UNEXPECTED,
                    "a transferChecked in a native SOL payment",
                ));
            }
            (Instruction::CreateAta { .. }, None) => {
                return Err(fail(UNEXPECTED, "an ATA creation in a native SOL payment"));
            }
            _ => {}
        }
    }

    if let Some(key) = terms.fee_payer_key {
        if fee_payer != key {
            return Err(fail(
                "solana-charge.transaction.sponsored-fee-payer",
                format!("feePayer is true and the fee payer is {fee_payer}, not feePayerKey {key}"),
            ));
        }
        let drains = instructions.iter().any(|ix| match ix {
            Instruction::SolTransfer { from, .. } => *from == key,
            Instruction::TransferChecked { authority, .. } => *authority == key,
            _ => false,
        });
        if drains {
            return Err(fail(
                UNEXPECTED,
                format!("a transfer from the server's fee payer {key}"),
            ));
        }
    }

    let token_program = match_legs(&terms, &instructions)?;
    if let (Some(mint), Some(token_program)) = (terms.mint, token_program) {
        check_ata_creations(&terms, &instructions, fee_payer, mint, token_program)?;
    }

    // Signatures over the serialized message.
    let signed = message.serialize();
    let signer = |key: &Address| {
        keys[..required.min(keys.len())]
            .iter()
            .position(|k| k == key)
            .is_some_and(|i| verifies(key, &signed, tx.signatures[i].as_ref()))
    };
    for ix in &instructions {
        let authority = match ix {
            Instruction::SolTransfer { from, .. } => from,
            Instruction::TransferChecked { authority, .. } => authority,
            _ => continue,
        };
        if !signer(authority) {
            return Err(fail(
                "solana-charge.transaction.transfer-authority-signs",
                format!("the transfer authority {authority} has no valid signature"),
            ));
        }
    }
    if terms.fee_payer_key.is_none() {
        let authorities: Vec<&Address> = instructions
            .iter()
            .filter_map(|ix| match ix {
                Instruction::SolTransfer { from, .. } => Some(from),
                Instruction::TransferChecked { authority, .. } => Some(authority),
                _ => None,
            })
            .collect();
        if authorities.iter().any(|a| **a != fee_payer) {
            return Err(fail(
                "solana-charge.fees.client-paid",
                format!(
                    "feePayer is false and the fee payer {fee_payer} is not the transfer authority"
                ),
            ));
        }
        if let Some(unsigned) = keys[..required.min(keys.len())].iter().find(|k| !signer(k)) {
            return Err(fail(
                "solana-charge.transaction.client-paid-fully-signed",
                format!(
                    "feePayer is false and the required signer {unsigned} has no valid signature"
                ),
            ));
        }
    }

    let mut warnings = Vec::new();
    if let Some(external_id) = &terms.external_id {
        let memo = instructions
            .iter()
            .any(|ix| matches!(ix, Instruction::Memo(data) if data == external_id.as_bytes()));
        if !memo {
            warnings.push("solana-charge.request.external-id-memo");
        }
    }
    if !instructions
        .iter()
        .any(|ix| matches!(ix, Instruction::ComputeBudget))
    {
        warnings.push("solana-charge.construction.compute-budget");
    }
    Ok(Verified {
        fee_payer,
        legs: terms.legs,
        warnings,
    })
}

/// Matches every payment leg to a distinct transfer instruction and every
/// transfer instruction to a leg; returns the token program of an SPL
/// payment.
fn match_legs(terms: &Terms, instructions: &[Instruction]) -> Result<Option<Address>> {
    let (missing, distinct) = match terms.mint {
        None => (
            "solana-charge.sol.reject-missing",
            "solana-charge.sol.distinct-legs",
        ),
        Some(_) => (
            "solana-charge.spl.reject-missing",
            "solana-charge.spl.distinct-legs",
        ),
    };
    let mut token_program = terms.token_program;
    // Each transfer instruction's (destination, amount), checked against
    // the request's token first.
    let mut transfers: Vec<(Address, u64)> = Vec::new();
    for ix in instructions {
        match ix {
            Instruction::SolTransfer { to, lamports, .. } => transfers.push((*to, *lamports)),
            Instruction::TransferChecked {
                program,
                mint,
                destination,
                amount,
                decimals,
                ..
            } => {
                let want_mint = terms.mint.expect("an SPL payment");
                if *mint != want_mint {
                    return Err(fail(
                        "solana-charge.spl.verify-transfers",
                        format!("a transferChecked of mint {mint}, not currency {want_mint}"),
                    ));
                }
                if terms.decimals.is_some_and(|d| d != *decimals) {
                    return Err(fail(
                        "solana-charge.spl.verify-transfers",
                        format!(
                            "a transferChecked with {decimals} decimals, the request says {:?}",
                            terms.decimals
                        ),
                    ));
                }
                match token_program {
                    Some(p) if p != *program => {
                        return Err(fail(
                            "solana-charge.spl.verify-transfers",
                            format!("a transferChecked on {program}, not the token program {p}"),
                        ));
                    }
                    _ => token_program = Some(*program),
                }
                transfers.push((*destination, *amount));
            }
            _ => {}
        }
    }
    let destination = |leg: &Leg| match (terms.mint, token_program) {
        (Some(mint), Some(program)) => ata(&leg.recipient, &program, &mint),
        (Some(mint), None) => ata(&leg.recipient, &program(TOKEN_PROGRAM), &mint),
        (None, _) => leg.recipient,
    };
    let mut used = vec![false; transfers.len()];
    for (n, leg) in terms.legs.iter().enumerate() {
        let to = destination(leg);
        let matching: Vec<usize> = (0..transfers.len())
            .filter(|&i| transfers[i] == (to, leg.amount))
            .collect();
        let Some(&free) = matching.iter().find(|&&i| !used[i]) else {
            let which = if n == 0 {
                "the primary payment".to_string()
            } else {
                format!("split {}", n - 1)
            };
            return Err(if matching.is_empty() {
                fail(
                    missing,
                    format!("no transfer of {} to {to} for {which}", leg.amount),
                )
            } else {
                fail(
                    distinct,
                    format!(
                        "{which} would need the transfer another leg already matched: each leg needs its own instruction"
                    ),
                )
            });
        };
        used[free] = true;
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(fail(
            UNEXPECTED,
            format!(
                "a transfer of {} to {} that no payment leg asks for",
                transfers[i].1, transfers[i].0
            ),
        ));
    }
    Ok(token_program)
}

/// §"Split Recipient ATA Creation".
fn check_ata_creations(
    terms: &Terms,
    instructions: &[Instruction],
    fee_payer: Address,
    mint: Address,
    token_program: Address,
) -> Result<()> {
    let sponsored = terms.fee_payer_key.is_some();
    let splits = &terms.legs[1..];
    for ix in instructions {
        let Instruction::CreateAta {
            payer,
            ata: created,
            owner,
            mint: created_mint,
            token_program: created_program,
        } = ix
        else {
            continue;
        };
        let Some(split) = splits.iter().find(|s| s.recipient == *owner) else {
            return Err(fail(
                "solana-charge.ata.owner-split-recipient",
                format!("an ATA creation for {owner}, who is no split recipient"),
            ));
        };
        if sponsored && !split.ata_required {
            return Err(fail(
                "solana-charge.ata.sponsored-client-no-other",
                format!(
                    "the fee payer funds an ATA for split recipient {owner}, whose split does not set ataCreationRequired"
                ),
            ));
        }
        if *created_mint != mint {
            return Err(fail(
                "solana-charge.ata.mint-currency",
                format!("an ATA creation for mint {created_mint}, not {mint}"),
            ));
        }
        if *created_program != token_program {
            return Err(fail(
                "solana-charge.ata.token-program",
                format!(
                    "an ATA creation under {created_program}, not the payment's token program {token_program}"
                ),
            ));
        }
        if *created != ata(owner, &token_program, &mint) {
            return Err(fail(
                "solana-charge.ata.canonical-pda",
                format!("{created} is not the canonical ATA of {owner}"),
            ));
        }
        if *payer != fee_payer {
            return Err(fail(
                "solana-charge.ata.payer-fee-payer",
                format!("the ATA creation is paid by {payer}, not the fee payer {fee_payer}"),
            ));
        }
    }
    for split in splits.iter().filter(|s| s.ata_required) {
        let account = ata(&split.recipient, &token_program, &mint);
        let created = instructions
            .iter()
            .position(|ix| matches!(ix, Instruction::CreateAta { ata, .. } if *ata == account));
        let paid = instructions.iter().position(
            |ix| matches!(ix, Instruction::TransferChecked { destination, .. } if *destination == account),
        );
        if !matches!((created, paid), (Some(c), Some(p)) if c < p) {
            return Err(fail(
                "solana-charge.ata.required-before-transfer",
                format!(
                    "split recipient {} sets ataCreationRequired and its ATA is not created before its transfer",
                    split.recipient
                ),
            ));
        }
    }
    Ok(())
}

/// The `solana.transaction.verify` operation.
pub fn verify_op(input: &Value) -> Result<Value> {
    let request = input
        .get("request")
        .ok_or_else(|| bad_input("input needs \"request\""))?;
    let transaction = input
        .get("transaction")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_input("input needs a string \"transaction\""))?;
    let verified = verify_transaction(request, transaction)?;
    Ok(json!({
        "feePayer": verified.fee_payer.to_string(),
        "legs": verified.legs.iter().map(|l| json!({"recipient": l.recipient.to_string(), "amount": l.amount.to_string()})).collect::<Vec<_>>(),
        "warnings": verified.warnings,
    }))
}
