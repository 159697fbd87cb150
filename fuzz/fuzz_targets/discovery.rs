//! Discovery documents and their `x-payment-info` (draft-payment-discovery-00):
//! never panic; a payment-info that validates reads back the same from its
//! normalized (multi-offer) form; a document that reads lists operations
//! whose payment-info reads or is refused, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::discovery::{Document, PaymentInfo};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(info) = PaymentInfo::parse(text) {
        let abi = info.to_abi();
        let normalized = serde_json::json!({ "offers": abi["offers"] }).to_string();
        let again = PaymentInfo::parse(&normalized).expect("the normalized form validates");
        assert_eq!(again.offers, info.offers, "{normalized}");
    }
    if let Ok(doc) = Document::parse(text) {
        let _ = doc.required_field_problems();
        for op in doc.operations() {
            if let Some(v) = &op.payment_info {
                let _ = PaymentInfo::from_value(v, &op.pointer());
            }
        }
        if let Some(info) = doc.service_info() {
            let _ = mppconf_suite::discovery::service_info_problems(info);
        }
    }
});
