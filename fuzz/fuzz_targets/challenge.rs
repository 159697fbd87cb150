//! `WWW-Authenticate` parsing: never panics, and whatever parses formats
//! back to a header that parses to the same challenges. The lenient read
//! (what the server suite goes on with after a syntax slip) never panics,
//! names a slip for every challenge the strict read refuses, and agrees
//! with the strict read wherever that one accepts. `Challenge::parse`
//! gives the first Payment challenge of the list read. Under -01 a
//! challenge is refused for a `header` other than Payment-Authorization,
//! and only a `header` changes the binding input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppconf_suite::codec::challenge::PAYMENT_AUTHORIZATION;
use mppconf_suite::codec::{BindingSlots, Challenge, challenge};
use mppconf_suite::drafts::CoreDraft;

fuzz_target!(|data: &[u8]| {
    let Ok(field) = std::str::from_utf8(data) else {
        return;
    };
    let one = Challenge::parse(field);
    let Ok(all) = challenge::parse_all(&[field]) else {
        // The field's grammar failed, so the one read fails the same way.
        assert!(one.is_err());
        return;
    };
    match all.first() {
        Some(first) => assert_eq!(first.as_ref(), one.as_ref()),
        None => assert!(one.is_err()),
    }
    let lenient = challenge::parse_all_lenient(&[field]).expect("the same fields split");
    assert_eq!(lenient.len(), all.len());
    for (strict, loose) in all.iter().zip(&lenient) {
        match (strict, loose) {
            (Ok(c), Ok((l, slips))) => {
                assert_eq!(c, l);
                assert!(slips.is_empty(), "{slips:?}");
            }
            (Err(_), Ok((_, slips))) => assert!(!slips.is_empty()),
            (Ok(_), Err(e)) => panic!("lenient refused a strict challenge: {e}"),
            (Err(_), Err(_)) => {}
        }
    }
    for c in all.into_iter().flatten() {
        let header = c.to_header().expect("a parsed challenge formats");
        assert_eq!(Challenge::parse(&header).as_ref(), Ok(&c), "{header}");
        // -01 reads the `header` parameter; -00 never binds it.
        let strict01 = c.check_draft(CoreDraft::Draft01);
        assert_eq!(
            strict01.is_ok(),
            c.header().is_none_or(|h| h == PAYMENT_AUTHORIZATION)
        );
        let (old, new) = (
            BindingSlots::of(&c, CoreDraft::Draft00),
            BindingSlots::of(&c, CoreDraft::Draft01),
        );
        assert_eq!(old.header, None);
        assert_eq!(old.input() == new.input(), c.header().is_none());
    }
});
