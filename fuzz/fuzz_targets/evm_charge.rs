//! draft-evm-charge-00: the EVM charge request and payload readers, and
//! the EIP-712 digest operations, never panic on any JSON; a request that
//! reads pays exactly its amount (primary remainder plus splits, in
//! order); a payload that reads is of the type it names and reads the
//! same twice.
#![no_main]

use alloy_primitives::U256;
use libfuzzer_sys::fuzz_target;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::methods::evm::{EvmChargeRequest, EvmPayload};
use mppconf_suite::ops;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(request) = EvmChargeRequest::from_json(&input) {
        let transfers = request.transfers();
        assert_eq!(transfers.len(), request.splits.len() + 1);
        let total = transfers.iter().fold(U256::ZERO, |sum, (_, a)| sum + *a);
        assert_eq!(total, request.amount);
        assert_eq!(transfers[0].0, request.recipient);
        assert_eq!(&transfers[1..], request.splits.as_slice());
    }
    let once = EvmPayload::parse(&input);
    if let Ok(payload) = &once {
        assert_eq!(
            Some(payload.kind()),
            input.get("type").and_then(Value::as_str)
        );
    }
    assert_eq!(once, EvmPayload::parse(&input));
    for op in [
        "evm.permit2.digest",
        "evm.authorization.digest",
        "evm.challenge_hash",
    ] {
        let _ = ops::execute(op, &input, CoreDraft::Draft00);
    }
});
