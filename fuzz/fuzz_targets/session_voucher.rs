//! draft-tempo-session-00 and draft-evm-session-00 voucher handling: the
//! session operations on any JSON input never panic, and no signature
//! either voucher signer accepts has a high s, whatever bytes it is given
//! (§"Signature Malleability"; §"Signature Verification"); the EVM signer
//! accepts only 65 bytes with v 27 or 28 (§"Hexadecimal Values").
//! draft-hedera-session-00's signer accepts what Tempo's does (both
//! formats, low-s only), and an accepted Hedera voucher is within the
//! channel's deposit and above its highest voucher.
//! draft-solana-session-00's voucher, proof and splits operations on the
//! same JSON: never a panic; an accepted voucher raises the channel's
//! watermark within its deposit, and its message is the 50-byte layout.
#![no_main]

use alloy_primitives::{B256, U256};
use libfuzzer_sys::fuzz_target;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::methods::{evm_session, hedera_session, tempo_session};
use mppconf_suite::ops;
use serde_json::Value;

const HALF_ORDER: &str = "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0";

fn low_s(signature: &[u8]) -> bool {
    let half = U256::from_str_radix(HALF_ORDER, 16).unwrap();
    let raw = U256::from_be_slice(&signature[32..64]);
    // EIP-2098 (64 bytes): the top bit is the parity, not part of s.
    let s = if signature.len() == 64 {
        raw & (U256::MAX >> 1)
    } else {
        raw
    };
    s <= half
}

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = serde_json::from_slice::<Value>(data) {
        for op in [
            "session.channel_id",
            "session.voucher.digest",
            "session.voucher.signer",
            "evm.session.channel_id",
            "evm.session.voucher.digest",
            "evm.session.voucher.signer",
            "hedera.session.channel_id",
            "hedera.session.voucher.digest",
        ] {
            let _ = ops::execute(op, &input, CoreDraft::Draft00);
        }
        if let Ok(accepted) =
            ops::execute("hedera.session.voucher.verify", &input, CoreDraft::Draft00)
        {
            let amount = |v: &Value| U256::from_str_radix(v.as_str().unwrap(), 10).unwrap();
            let cumulative = amount(&accepted["cumulativeAmount"]);
            assert!(cumulative > amount(&input["channel"]["highestVoucherAmount"]));
            assert!(cumulative <= amount(&input["channel"]["deposit"]));
        }
        let _ = ops::execute("solana.session.proof.verify", &input, CoreDraft::Draft00);
        let _ = ops::execute("solana.session.splits.hash", &input, CoreDraft::Draft00);
        if let Ok(accepted) =
            ops::execute("solana.session.voucher.verify", &input, CoreDraft::Draft00)
        {
            let amount = |v: &Value| v.as_str().unwrap().parse::<u64>().unwrap();
            let channel = &input["channel"];
            let cumulative = amount(&accepted["cumulativeAmount"]);
            assert!(cumulative > amount(&channel["acceptedCumulative"]));
            assert!(cumulative <= amount(&channel["escrowedAmount"]));
            let message = accepted["message"].as_str().unwrap();
            assert_eq!(message.len(), 100);
            assert!(message.starts_with("5601"));
        }
    }
    if data.len() >= 32 + 64 {
        let digest = B256::from_slice(&data[..32]);
        let signature = &data[32..];
        if tempo_session::voucher_signer(digest, signature).is_ok() {
            assert!(matches!(signature.len(), 64 | 65) && low_s(signature));
        }
        assert_eq!(
            hedera_session::voucher_signer(digest, signature).ok(),
            tempo_session::voucher_signer(digest, signature).ok()
        );
        if evm_session::voucher_signer(digest, signature).is_ok() {
            assert!(signature.len() == 65 && matches!(signature[64], 27 | 28) && low_s(signature));
        }
    }
});
