//! draft-stellar-charge-00 pull-mode transactions (`stellar.transaction.verify`):
//! any input never panics, and a transaction the verifier accepts pays
//! exactly what the request asks (contract, recipient, amount). Two
//! shapes: the operation's JSON input (the vectors' seeds), and raw XDR
//! bytes after a flag byte (feePayer, network), judged against a request
//! made from the transfer the bytes invoke, so that mutations reach the
//! signature and expiry checks instead of stopping at the arguments.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::ops;
use serde_json::{Value, json};

fn accepted_pays_the_request(input: &Value) {
    let Ok(paid) = ops::execute("stellar.transaction.verify", input, CoreDraft::Draft00) else {
        return;
    };
    let request = &input["request"];
    assert_eq!(paid["contract"], request["currency"]);
    assert_eq!(paid["to"], request["recipient"]);
    assert_eq!(paid["amount"], request["amount"]);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = serde_json::from_slice::<Value>(data) {
        accepted_pays_the_request(&input);
        return;
    }
    let Some((&flags, xdr)) = data.split_first() else {
        return;
    };
    let transaction = base64::engine::general_purpose::STANDARD.encode(xdr);
    let network = if flags & 2 == 0 {
        "stellar:testnet"
    } else {
        "stellar:pubnet"
    };
    let mut request = json!({
        "amount": "1",
        "currency": "CBIELTK6YBZJU5UP2WWQEUCYKLPU6AUNZ2BQ4WWFEIE3USCIHMXQDAMA",
        "recipient": "GA3ZZ4JGL45TM5FW5QZCFJYCCKTQSUJWHKIYH5KO5XXYZOMXYRPSE6AK",
        "methodDetails": {"network": network, "feePayer": flags & 1 == 1},
    });
    let input = |request: &Value| json!({"request": request, "transaction": transaction});
    accepted_pays_the_request(&input(&request));
    if let Some(terms) = invoked_transfer(xdr) {
        request["currency"] = json!(terms.0);
        request["recipient"] = json!(terms.1);
        request["amount"] = json!(terms.2);
        accepted_pays_the_request(&input(&request));
    }
});

/// The (contract, to, amount) of the first operation's `transfer`, if the
/// bytes are a v1 envelope invoking one.
fn invoked_transfer(xdr: &[u8]) -> Option<(String, String, String)> {
    use stellar_xdr::{HostFunction, Limits, OperationBody, ReadXdr, ScVal, TransactionEnvelope};
    let TransactionEnvelope::Tx(envelope) =
        TransactionEnvelope::from_xdr(xdr, Limits::len(xdr.len())).ok()?
    else {
        return None;
    };
    let OperationBody::InvokeHostFunction(op) = &envelope.tx.operations.first()?.body else {
        return None;
    };
    let HostFunction::InvokeContract(args) = &op.host_function else {
        return None;
    };
    let [_, ScVal::Address(to), ScVal::I128(amount)] = args.args.as_slice() else {
        return None;
    };
    Some((
        args.contract_address.to_string(),
        to.to_string(),
        amount.to_string(),
    ))
}
