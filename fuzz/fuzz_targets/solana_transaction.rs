//! draft-solana-charge-00 pull-mode transactions (`solana.transaction.verify`):
//! any input never panics, and a transaction the verifier accepts pays each
//! leg of the request (the primary amount − Σ splits, then the splits).
//! Two shapes: the operation's JSON input (the vectors' seeds), and raw
//! wire bytes after a flag byte (bit 0: the fee payer sponsors), judged as
//! a native SOL payment of the first System transfer the bytes make, so
//! that mutations reach the fee payer, leg and signature checks.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::ops;
use serde_json::{Value, json};
use solana_transaction::versioned::VersionedTransaction;

fn accepted_pays_the_request(input: &Value) {
    let Ok(paid) = ops::execute("solana.transaction.verify", input, CoreDraft::Draft00) else {
        return;
    };
    let request = &input["request"];
    let legs = paid["legs"].as_array().expect("legs");
    let splits = request
        .pointer("/methodDetails/splits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert_eq!(legs.len(), splits.len() + 1);
    assert_eq!(legs[0]["recipient"], request["recipient"]);
    // Amounts compare as numbers: the request rules allow leading zeros
    // ("09999999" is 9999999 base units).
    let total: u128 = legs.iter().map(|l| base_units(&l["amount"])).sum();
    assert_eq!(total, base_units(&request["amount"]));
    for (leg, split) in legs[1..].iter().zip(&splits) {
        assert_eq!(leg["recipient"], split["recipient"]);
        assert_eq!(base_units(&leg["amount"]), base_units(&split["amount"]));
    }
}

fn base_units(amount: &Value) -> u128 {
    amount.as_str().unwrap().parse().unwrap()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = serde_json::from_slice::<Value>(data) {
        accepted_pays_the_request(&input);
        return;
    }
    let Some((&flags, wire)) = data.split_first() else {
        return;
    };
    let Some((payer, to, lamports)) = first_sol_transfer(wire) else {
        return;
    };
    let mut details = json!({});
    if flags & 1 == 1 {
        details = json!({"feePayer": true, "feePayerKey": payer});
    }
    let input = json!({
        "request": {"amount": lamports.to_string(), "currency": "sol", "recipient": to, "methodDetails": details},
        "transaction": base64::engine::general_purpose::STANDARD.encode(wire),
    });
    accepted_pays_the_request(&input);
});

/// The fee payer, and the destination and lamports of the first System
/// transfer, of a wire transaction.
fn first_sol_transfer(wire: &[u8]) -> Option<(String, String, u64)> {
    let tx: VersionedTransaction = wincode::deserialize(wire).ok()?;
    let keys = tx.message.static_account_keys();
    tx.message.instructions().iter().find_map(|ix| {
        let program = keys.get(usize::from(ix.program_id_index))?;
        if program.to_string() != "11111111111111111111111111111111"
            || ix.data.len() != 12
            || ix.data[..4] != [2, 0, 0, 0]
        {
            return None;
        }
        let to = keys.get(usize::from(*ix.accounts.get(1)?))?;
        let lamports = u64::from_le_bytes(ix.data[4..12].try_into().ok()?);
        Some((keys.first()?.to_string(), to.to_string(), lamports))
    })
}
