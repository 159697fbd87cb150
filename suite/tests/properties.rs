//! Properties of the reference codec (proptest): format-then-parse is
//! identity, parsing never panics, formatted output always parses, unknown
//! parameters are ignored, JCS is idempotent.

use mppconf_suite::codec::{
    AcceptPayment, Challenge, Credential, EchoedChallenge, EncodedJson, Receipt, auth_params,
    base64url, json,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Printable text including quotes, backslashes, commas, `=` and non-ASCII,
/// the characters that stress quoting; no control characters (which no
/// header can carry).
fn header_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[ -~\u{a0}-\u{2fff}é€😀"\\,=]{0,40}"#).unwrap()
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        header_text().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-zA-Z_]{1,6}", json_value(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn flat_string_map() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z]{1,6}", header_text(), 1..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect()))
}

fn challenge() -> impl Strategy<Value = Challenge> {
    (
        header_text().prop_filter("id must be non-empty", |s| !s.is_empty()),
        header_text(),
        "[a-z]{1,8}",
        "[a-zA-Z0-9-]{1,8}",
        json_object(),
        proptest::option::of(Just("2025-01-15T12:05:00Z".to_string())),
        proptest::option::of(Just(
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:".to_string(),
        )),
        proptest::option::of(header_text()),
        proptest::option::of(flat_string_map()),
        prop::collection::btree_map("x[a-z]{1,5}", header_text(), 0..3),
    )
        .prop_map(
            |(
                id,
                realm,
                method,
                intent,
                request,
                expires,
                digest,
                description,
                opaque,
                unknown,
            )| {
                Challenge {
                    id,
                    realm,
                    method,
                    intent,
                    request: EncodedJson::canonical(request),
                    expires,
                    digest,
                    description,
                    opaque: opaque.map(EncodedJson::canonical),
                    unknown_params: unknown.into_iter().collect(),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn challenge_format_then_parse_is_identity(c in challenge()) {
        let header = c.to_header().unwrap();
        prop_assert_eq!(Challenge::parse(&header).unwrap(), c);
    }

    #[test]
    fn challenge_abi_roundtrip(c in challenge()) {
        let again = Challenge::from_abi(&c.to_abi()).unwrap();
        prop_assert_eq!(again.to_abi(), c.to_abi());
    }

    #[test]
    fn unknown_params_are_ignored(c in challenge(), name in "z[a-z]{1,6}", value in header_text()) {
        let header = c.to_header().unwrap();
        let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
        let extended = format!("{header}, {name}=\"{quoted}\"");
        let parsed = Challenge::parse(&extended).unwrap();
        prop_assert_eq!(parsed.to_abi(), c.to_abi());
    }

    #[test]
    fn credential_format_then_parse_is_identity(c in challenge(), payload in json_object(), source in proptest::option::of(header_text())) {
        let Value::Object(payload) = payload else { unreachable!() };
        let cred = Credential { challenge: EchoedChallenge::echo_of(&c), payload, source, unknown: Map::new() };
        prop_assert_eq!(Credential::parse(&cred.to_header()).unwrap(), cred);
    }

    #[test]
    fn receipt_format_then_parse_is_identity(reference in header_text(), method in "[a-z]{1,8}", extra in prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..3)) {
        let extra: Map<String, Value> = extra.into_iter()
            .filter(|(k, _)| !["status", "method", "timestamp", "reference"].contains(&k.as_str()))
            .collect();
        let r = Receipt { status: "success".into(), method, timestamp: "2025-01-15T12:00:00Z".into(), reference, extra };
        prop_assert_eq!(Receipt::parse(&r.to_header()).unwrap(), r);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = auth_params::parse_field(&s);
        let _ = Challenge::parse(&s);
        let _ = Credential::parse(&s);
        let _ = Receipt::parse(&s);
        let _ = AcceptPayment::parse(&s);
    }

    #[test]
    fn parsers_never_panic_on_header_shaped_text(s in r#"(Payment|Bearer|payment)( |, )?([a-zA-Z]{1,4} ?= ?("[^"\\]{0,8}("|\\.)?|[a-z0-9=]{0,6})(, ?|,,| )?){0,5}"#) {
        let _ = auth_params::parse_field(&s);
        let _ = Challenge::parse(&s);
    }

    #[test]
    fn base64url_roundtrip(bytes in prop::collection::vec(any::<u8>(), 1..64)) {
        let text = base64url::encode(&bytes);
        prop_assert!(base64url::deviation(&text).is_none());
        prop_assert_eq!(base64url::decode("t", &text).unwrap(), bytes);
    }

    #[test]
    fn jcs_is_idempotent(v in json_value()) {
        let once = json::canonicalize(&v);
        prop_assert_eq!(json::canonicalize_text(&once).unwrap(), once);
    }

    #[test]
    fn accept_payment_select_is_a_subsequence_of_offers(
        header in "((tempo|stripe|\\*)/(charge|session|\\*)(;q=(0|1|0\\.[0-9]{1,3}))?, ){0,4}",
        offers in prop::collection::vec(("(tempo|stripe|solana)", "(charge|session)"), 0..5),
    ) {
        let a = AcceptPayment::parse(&header).unwrap();
        let offers: Vec<(&str, &str)> = offers.iter().map(|(m, i)| (m.as_str(), i.as_str())).collect();
        let order = AcceptPayment::select(Some(&a), &offers);
        let mut seen = order.clone();
        seen.sort_unstable();
        seen.dedup();
        prop_assert_eq!(seen.len(), order.len());
        prop_assert!(order.iter().all(|i| *i < offers.len()));
    }
}
