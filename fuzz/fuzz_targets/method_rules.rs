//! The request and payload schemas of the methods judged by data
//! (`vectors/methods/` rules, and the Lightning invoice decoded by the
//! codec): any JSON judged as a request and as a payload of every method
//! with rules never panics, and judges the same twice; an EVM charge
//! request accepted has splits summing below its amount. The same JSON as a
//! Hedera Attribution memo check: a memo that verifies anonymously is
//! exactly the one the challenge's realm and id make; and as a Hedera
//! pull-mode transaction check: an accepted one pays the request's amount,
//! the primary leg to its recipient. And as a Lightning session action:
//! one the verifier accepts is paid by the preimage it carries (open and
//! topUp: the challenge's payment hash; bearer and close: the session's),
//! and a close response it accepts refunds exactly the unspent balance.
//! And as a card JWE check: an accepted JWE's header is RSA-OAEP-256 /
//! A256GCM under the offered key's kid, without zip; one that decrypts
//! passes the header check too; and the raw bytes as a decrypted card
//! plaintext: an accepted one is a minified JSON object with token and
//! dynamicData objects. And as a card `jwksUri` origin check: one found on
//! the realm's origin is `https://<realm>` then a path, query or fragment.
//! And as a Lightning expiry check (`{request, expires?}`): the effective
//! expiry is `expires` when given, else the invoice's, never after the
//! invoice's; `expires` is refused exactly when it is later than that.
//! And as a subscription's billing period (`{anchor, periodUnit,
//! periodCount, period}`): an accepted period is non-empty, starts where
//! the one before it ends, period 0 starts at the anchor, and a monthly
//! boundary keeps the anchor's time of day and its day of the month, or
//! the month's last day when the month is shorter. And as an EVM session
//! request: one the rules accept gives the terms mppconf pays and serves
//! by, refused only at the payer's stated limits.
#![no_main]

use chrono::Datelike;
use libfuzzer_sys::fuzz_target;
use mppconf_suite::codec::{request_schema, rfc3339};
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::methods::{card, evm_session, hedera, lightning, rules};
use mppconf_suite::ops;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn sha256_hex(hex: &Value) -> String {
    let bytes = alloy_primitives::hex::decode(hex.as_str().unwrap()).unwrap();
    alloy_primitives::hex::encode(Sha256::digest(bytes))
}

fuzz_target!(|data: &[u8]| {
    if let Ok((kind, _)) = card::judge_plaintext(data) {
        let plaintext: Value = serde_json::from_slice(data).unwrap();
        assert!(plaintext["token"].is_object() && plaintext["dynamicData"].is_object());
        assert_eq!(plaintext["dynamicData"]["dynamicDataType"], kind.as_str());
        assert!(!data.contains(&b'\n'));
    }
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
    // EVM charge: a request accepted leaves its primary recipient
    // something (the splits' sum, without wrapping, below amount).
    if request_schema::validate("evm", "charge", &value).is_ok()
        && let Some(splits) = value
            .pointer("/methodDetails/splits")
            .and_then(Value::as_array)
    {
        let units = |v: &Value| v.as_str().and_then(request_schema::parse_base_units);
        let total = units(&value["amount"]).expect("an accepted amount is base units");
        let mut sum = Some(total - total);
        for split in splits {
            sum = sum.and_then(|s| s.checked_add(units(&split["amount"])?));
        }
        assert!(sum.is_some_and(|s| s < total), "{value}");
    }
    // EVM session: the terms mppconf's payer and reference server read
    // from a request the rules accept, refused only at the payer's stated
    // limits (an amount above 2^256 - 1, a chainId no u64 holds), and
    // equal to what the request says.
    if rules::validate("evm", "session", rules::Part::Request, &value).is_ok() {
        match evm_session::Terms::from_request(&value) {
            Ok(terms) => {
                let decimal = |p: &str| {
                    value
                        .pointer(p)
                        .and_then(Value::as_str)
                        .and_then(|a| alloy_primitives::U256::from_str_radix(a, 10).ok())
                };
                assert_eq!(Some(terms.price), decimal("/amount"));
                assert_eq!(
                    terms.min_voucher_delta,
                    decimal("/methodDetails/minVoucherDelta").unwrap_or_default()
                );
                assert_eq!(
                    Some(terms.chain_id),
                    value
                        .pointer("/methodDetails/chainId")
                        .and_then(Value::as_u64)
                );
                assert_eq!(
                    terms.offers_hash(),
                    value
                        .pointer("/methodDetails/credentialTypes")
                        .and_then(Value::as_array)
                        .is_none_or(|l| l.iter().any(|t| t == "hash"))
                );
            }
            Err(why) => {
                let wide = |p: &str| {
                    value
                        .pointer(p)
                        .and_then(Value::as_str)
                        .is_some_and(|a| alloy_primitives::U256::from_str_radix(a, 10).is_err())
                };
                assert!(
                    wide("/amount")
                        || wide("/methodDetails/minVoucherDelta")
                        || value
                            .pointer("/methodDetails/chainId")
                            .and_then(Value::as_u64)
                            .is_none(),
                    "{value}: {why}"
                );
            }
        }
    }
    let _ = lightning::verify_preimage(&value, &value);
    if let Ok(paid) = ops::execute("hedera.transaction.verify", &value, CoreDraft::Draft00) {
        // As numbers: the request rules allow leading zeros.
        let total: u128 = paid["legs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["amount"].as_str().unwrap().parse::<u128>().unwrap())
            .sum();
        assert_eq!(
            Some(total),
            value["request"]["amount"]
                .as_str()
                .and_then(|a| a.parse::<u128>().ok())
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
    if let Ok(verified) = ops::execute("lightning.session.verify", &value, CoreDraft::Draft00) {
        let (payload, id) = (&value["payload"], &verified["sessionId"]);
        match verified["action"].as_str().unwrap() {
            "open" => {
                assert_eq!(id, &value["request"]["paymentHash"]);
                assert_eq!(id.as_str().unwrap(), sha256_hex(&payload["preimage"]));
            }
            "topUp" => {
                assert_eq!(id, &value["session"]["paymentHash"]);
                assert_eq!(
                    value["request"]["paymentHash"].as_str().unwrap(),
                    sha256_hex(&payload["topUpPreimage"])
                );
            }
            _ => {
                assert_eq!(id, &value["session"]["paymentHash"]);
                assert_eq!(id.as_str().unwrap(), sha256_hex(&payload["preimage"]));
            }
        }
    }
    if let Ok(shape) = ops::execute("card.jwe.verify", &value, CoreDraft::Draft00) {
        use base64::Engine;
        let jwe = value["encryptedPayload"].as_str().unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwe.split('.').next().unwrap())
            .unwrap();
        let header: Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(header["alg"], "RSA-OAEP-256");
        assert_eq!(header["enc"], "A256GCM");
        assert_eq!(header["kid"], shape["kid"]);
        assert!(header.get("zip").is_none());
        assert_eq!(jwe.split('.').count(), 5);
    }
    if let Ok(decrypted) = ops::execute("card.jwe.decrypt", &value, CoreDraft::Draft00) {
        let verified = ops::execute("card.jwe.verify", &value, CoreDraft::Draft00).unwrap();
        assert_eq!(verified["kid"], decrypted["kid"]);
    }
    if let Ok(origin) = ops::execute("card.jwks_uri.origin", &value, CoreDraft::Draft00)
        && origin["origin"] == "same-origin"
    {
        // Read without a URI parser: https, the realm's host, the default
        // port if written out (empty or 443), then a path, query or fragment.
        let uri = value["request"]["methodDetails"]["jwksUri"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase();
        let prefix = format!("https://{}", value["realm"].as_str().unwrap()).to_ascii_lowercase();
        let rest = uri
            .strip_prefix(&prefix)
            .expect("https on the realm's host");
        let rest = match rest.strip_prefix(':') {
            Some(port) => {
                let digits =
                    port.len() - port.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                assert!(
                    digits == 0 || port[..digits].parse::<u16>() == Ok(443),
                    "{uri}"
                );
                &port[digits..]
            }
            None => rest,
        };
        assert!(
            rest.is_empty() || rest.starts_with(['/', '?', '#']),
            "{uri} against {prefix}"
        );
    }
    if let Ok(alone) = lightning::expiry(&value["request"], None) {
        assert_eq!(alone.effective, alone.invoice);
        let expires = value.get("expires").and_then(Value::as_str);
        let instant = expires.and_then(|e| rfc3339::parse("expires", e).ok());
        match (lightning::expiry(&value["request"], expires), instant) {
            (Ok(both), Some(at)) => {
                assert_eq!(both.invoice, alone.invoice);
                assert_eq!(both.effective, at);
                assert!(at <= alone.invoice);
            }
            (Ok(both), None) => {
                assert!(expires.is_none());
                assert_eq!(both, alone);
            }
            (Err(e), Some(at)) => {
                assert_eq!(e.code(), lightning::EXPIRES_NOT_AFTER_INVOICE);
                assert!(at > alone.invoice);
            }
            // Not RFC 3339: bad input, not a verdict.
            (Err(e), None) => assert_eq!(e.code(), "bad-input", "{e}"),
        }
    }
    if let Ok(bounds) = ops::execute("subscription.period.bounds", &value, CoreDraft::Draft00) {
        let read = |v: &Value| {
            rfc3339::parse("timestamp", v.as_str().unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let (start, end) = (read(&bounds["start"]), read(&bounds["end"]));
        assert!(start < end, "{bounds}");
        let anchor = read(&value["anchor"]);
        let n = value["period"].as_u64().unwrap();
        if n == 0 {
            assert_eq!(start, anchor);
        } else {
            let mut before = value.clone();
            before["period"] = (n - 1).into();
            let before = ops::execute("subscription.period.bounds", &before, CoreDraft::Draft00)
                .expect("the period before an accepted one");
            assert_eq!(read(&before["end"]), start);
        }
        if value["periodUnit"] == "month" {
            for t in [start, end] {
                assert_eq!(t.time(), anchor.time());
                let last = (28..=31).rev().find(|d| t.with_day(*d).is_some()).unwrap();
                assert_eq!(t.day(), anchor.day().min(last), "{t} from {anchor}");
            }
        }
    }
    if let Ok(closed) = ops::execute("lightning.session.close.verify", &value, CoreDraft::Draft00) {
        let session = &value["session"];
        let owed = session["depositSats"].as_u64().unwrap() - session["spent"].as_u64().unwrap();
        assert_eq!(closed["refundSats"].as_u64(), Some(owed));
        assert_eq!(closed["refundStatus"] == "skipped", owed == 0);
        assert_eq!(value["receipt"]["refundStatus"], closed["refundStatus"]);
    }
});
