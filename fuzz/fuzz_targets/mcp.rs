//! Payment data in JSON-RPC (MCP) messages (draft-payment-transport-mcp-00):
//! never panic; a payment-required error that reads reads back the same
//! from the message its ABI value rebuilds; credentials and receipts read
//! or are refused, in either `_meta` placement.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::mcp::{McpCredential, McpReceipt, PaymentRequired};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = PaymentRequired::parse(text) {
        let mut abi = p.to_abi();
        let code = abi["code"].clone();
        if let Some(m) = abi.as_object_mut() {
            m.remove("code");
        }
        let rebuilt =
            json!({"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": "", "data": abi}});
        let again =
            PaymentRequired::from_message(&rebuilt).expect("a rebuilt challenge error reads");
        assert_eq!(again, p, "{rebuilt}");
    }
    let _ = McpCredential::parse(text);
    let _ = McpReceipt::parse(text);
});
