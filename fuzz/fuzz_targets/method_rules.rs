//! The request and payload schemas of the methods judged by data
//! (`vectors/methods/` rules, and the Lightning invoice decoded by the
//! codec): any JSON judged as a request and as a payload of every method
//! with rules never panics, and judges the same twice. The same JSON as a
//! Hedera Attribution memo check: a memo that verifies anonymously is
//! exactly the one the challenge's realm and id make; and as a Hedera
//! pull-mode transaction check: an accepted one pays the request's amount,
//! the primary leg to its recipient.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::codec::request_schema;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::methods::{hedera, lightning, rules};
use mppconf_suite::ops;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    for file in rules::all() {
        // An intent's rules hold for any method of it.
        let method = if file.method == "*" {
            "example"
        } else {
            &file.method
        };
        let once =
            request_schema::validate(method, &file.intent, &value).map_err(|e| e.to_string());
        let twice =
            request_schema::validate(method, &file.intent, &value).map_err(|e| e.to_string());
        assert_eq!(once.map(|w| w.len()), twice.map(|w| w.len()));
        let _ = rules::validate(method, &file.intent, rules::Part::Payload, &value);
    }
    let _ = lightning::verify_preimage(&value, &value);
    if let Ok(paid) = ops::execute("hedera.transaction.verify", &value, CoreDraft::Draft00) {
        let total: u64 = paid["legs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["amount"].as_str().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(
            total.to_string(),
            value["request"]["amount"].as_str().unwrap()
        );
        assert_eq!(paid["legs"][0]["recipient"], value["request"]["recipient"]);
    }
    if let Ok(verified) = ops::execute("hedera.memo.verify", &value, CoreDraft::Draft00)
        && verified["clientId"].is_null()
    {
        let made = hedera::memo(
            value["realm"].as_str().unwrap(),
            value["challengeId"].as_str().unwrap(),
            None,
        );
        assert_eq!(
            value["memo"].as_str().unwrap().to_ascii_lowercase(),
            hedera::encode(&made)
        );
    }
});
