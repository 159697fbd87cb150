//! `WWW-Authenticate` parsing: never panics, and whatever parses formats
//! back to a header that parses to the same challenges.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::codec::{Challenge, challenge};

fuzz_target!(|data: &[u8]| {
    let Ok(field) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Challenge::parse(field) {
        let header = c.to_header().expect("a parsed challenge formats");
        assert_eq!(Challenge::parse(&header).as_ref(), Ok(&c), "{header}");
    }
    if let Ok(all) = challenge::parse_all(&[field]) {
        for c in all.into_iter().flatten() {
            let header = c.to_header().expect("a parsed challenge formats");
            assert_eq!(Challenge::parse(&header).as_ref(), Ok(&c), "{header}");
        }
    }
});
