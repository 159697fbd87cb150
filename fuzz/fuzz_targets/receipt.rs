//! `Payment-Receipt` parsing: never panics, and format-then-parse is
//! identity for whatever parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::codec::Receipt;

fuzz_target!(|data: &[u8]| {
    let Ok(field) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Receipt::parse(field) {
        let header = r.to_header();
        assert_eq!(Receipt::parse(&header).as_ref(), Ok(&r), "{header}");
    }
});
