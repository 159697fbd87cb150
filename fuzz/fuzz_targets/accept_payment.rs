//! `Accept-Payment` parsing and selection: never panics, and the selection
//! is a permutation of a subset of the offers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::codec::AcceptPayment;

const OFFERS: [(&str, &str); 4] = [
    ("tempo", "charge"),
    ("tempo", "session"),
    ("stripe", "charge"),
    ("solana", "charge"),
];

fuzz_target!(|data: &[u8]| {
    let Ok(field) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(a) = AcceptPayment::parse(field) {
        let order = AcceptPayment::select(Some(&a), &OFFERS);
        let mut seen = order.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), order.len());
        assert!(order.iter().all(|i| *i < OFFERS.len()));
    }
});
