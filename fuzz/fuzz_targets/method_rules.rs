//! The request and payload schemas of the methods judged by data
//! (`vectors/methods/` rules, and the Lightning invoice decoded by the
//! codec): any JSON judged as a request and as a payload of every method
//! with rules never panics, and judges the same twice.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::codec::request_schema;
use mppconf_suite::methods::{lightning, rules};
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
});
