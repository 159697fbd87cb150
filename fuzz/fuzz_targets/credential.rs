//! `Authorization: Payment` parsing: never panics, and format-then-parse
//! is identity for whatever parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::codec::Credential;

fuzz_target!(|data: &[u8]| {
    let Ok(field) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Credential::parse(field) {
        let header = c.to_header();
        assert_eq!(Credential::parse(&header).as_ref(), Ok(&c), "{header}");
    }
});
