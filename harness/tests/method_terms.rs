//! The client checks of every method judged by data (`vectors/methods/`),
//! against a scripted client (a Python program that answers the offered
//! challenge with a given payload), no chain and no rail:
//! `method.payload-rules` passes a payload the method's `payload.validate`
//! vectors call valid and fails one they call invalid, naming the broken
//! requirement; `method.payload-terms` does the same with the Stellar,
//! Solana and Hedera transaction, card JWE and Lightning preimage vectors,
//! and is `skip` where only a rail can judge. The server checks are in
//! `method_rules.rs`.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mppconf_harness::client_suite::ClientUnderTest;
use mppconf_harness::client_suite::command::run_client;
use mppconf_harness::client_suite::manifest::ClientTarget;
use mppconf_harness::report::Selection;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::methods::rules;
use mppconf_suite::vectors::Verdict;
use serde_json::{Value, json};
use support::cases;

/// Pays the first Payment challenge of `{url}` (argument 1) with the
/// payload in the JSON file named by argument 2, echoing the challenge as
/// the core draft says.
const CLIENT: &str = r#"
import base64, json, os, re, sys, time, urllib.error, urllib.request
url = sys.argv[1]
try:
    urllib.request.urlopen(url)
    sys.exit("no 402")
except urllib.error.HTTPError as e:
    field = e.headers["WWW-Authenticate"]
params = dict((k, v.replace('\\"', '"')) for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', field))
challenge = {k: params[k] for k in ("id", "realm", "method", "intent", "request", "expires") if k in params}
# A payload bound to the challenge (Hedera's memo) is built by the test
# once it has seen the challenge: hand it over and wait for the payload.
if not os.path.exists(sys.argv[2]):
    json.dump(challenge, open(sys.argv[2] + ".challenge.tmp", "w"))
    os.rename(sys.argv[2] + ".challenge.tmp", sys.argv[2] + ".challenge")
    for _ in range(150):
        if os.path.exists(sys.argv[2]):
            break
        time.sleep(0.1)
credential = {"challenge": challenge, "payload": json.load(open(sys.argv[2]))}
token = base64.urlsafe_b64encode(json.dumps(credential).encode()).decode().rstrip("=")
request = urllib.request.Request(url, headers={"Authorization": "Payment " + token})
try:
    urllib.request.urlopen(request)
except urllib.error.HTTPError as e:
    print("answered", e.code)
"#;

fn of(case: &Value, method: &str, intent: &str) -> bool {
    case["input"]["method"] == method && case["input"]["intent"] == intent
}

/// The manifest of a scripted client offered `request` and answering
/// with `payload`.
fn manifest(dir: &Path, method: &str, intent: &str, request: &Value, payload: &Value) -> PathBuf {
    let script = dir.join("client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let payload_file = dir.join("payload.json");
    std::fs::write(&payload_file, payload.to_string()).unwrap();
    let text = json!({
        "name": format!("scripted-{method}"),
        "client": {
            "command": ["python3", script.display().to_string(), "{url}", payload_file.display().to_string()],
            "timeout_secs": 20,
        },
        "offer": { "method": method, "intent": intent, "request": request },
    });
    let text = toml::to_string(&toml::Value::try_from(text).unwrap()).unwrap();
    let path = dir.join("client.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn every_method_flags_a_broken_payload_by_requirement_and_passes_a_valid_one() {
    let requests = cases("request.validate");
    let payloads = cases("payload.validate");
    let mut judged = 0;
    for file in rules::all()
        .iter()
        .filter(|f| f.method != "*" && !f.payload.is_empty())
    {
        let (method, intent) = (file.method.as_str(), file.intent.as_str());
        // TOML has no null: a request with one cannot be a manifest's.
        let request = requests
            .iter()
            .find(|c| {
                of(c, method, intent)
                    && c["result"] == "valid"
                    && !c["input"]["request"].to_string().contains("null")
            })
            .unwrap_or_else(|| panic!("{}: no valid request.validate vector", file.docname));
        let valid = payloads
            .iter()
            .find(|c| {
                of(c, method, intent)
                    && c["result"] == "valid"
                    && c["expected"]["warnings"]
                        .as_array()
                        .is_some_and(Vec::is_empty)
            })
            .unwrap_or_else(|| panic!("{}: no valid payload.validate vector", file.docname));
        // A payload that is not an object makes the credential itself
        // unreadable: the core checks judge that, not the rules.
        let invalid = payloads
            .iter()
            .find(|c| {
                of(c, method, intent)
                    && c["result"] == "invalid"
                    && c["input"]["payload"].is_object()
            })
            .unwrap_or_else(|| panic!("{}: no invalid payload.validate vector", file.docname));
        for case in [valid, invalid] {
            let dir = tempfile::tempdir().unwrap();
            let path = manifest(
                dir.path(),
                method,
                intent,
                &request["input"]["request"],
                &case["input"]["payload"],
            );
            let client = ClientUnderTest::Program(Box::new(ClientTarget::load(&path).unwrap()));
            let run = run_client(
                &client,
                &Selection::filtered(&["method.payload-rules"]),
                CoreDraft::Draft00,
                |_| {},
            )
            .await
            .unwrap();
            let [r] = run.results.as_slice() else {
                panic!("{}: one check, got {}", case["id"], run.results.len());
            };
            if case["result"] == "valid" {
                assert_eq!(r.verdict, Verdict::Pass, "{}: {}", case["id"], r.detail);
            } else {
                let code = case["error_code"].as_str().unwrap();
                assert_eq!(r.verdict, Verdict::Fail, "{}: {}", case["id"], r.detail);
                assert!(r.detail.contains(code), "{}: {}", case["id"], r.detail);
                assert!(r.requirements.contains(&code), "{}", case["id"]);
            }
        }
        judged += 1;
    }
    assert!(judged > 0, "no method rule file with payload rules");
}

/// A check's outcome for a vector's input: `pass` for a valid vector; for
/// an invalid one `fail`, naming and citing the vector's requirement.
fn expect_as_vector(case: &Value, verdict: Verdict, detail: &str, cited: &[&str]) {
    match case["error_code"].as_str() {
        None => assert_eq!(verdict, Verdict::Pass, "{}: {detail}", case["id"]),
        Some(code) => {
            assert_eq!(verdict, Verdict::Fail, "{}: {detail}", case["id"]);
            assert!(detail.contains(code), "{}: {detail}", case["id"]);
            assert!(cited.contains(&code), "{}: {code} not cited", case["id"]);
        }
    }
}

/// `method.payload-terms` for one scripted client offered `request` and
/// answering `payload`.
async fn judge_terms(
    method: &str,
    intent: &str,
    request: &Value,
    payload: &Value,
) -> (Verdict, String, Vec<&'static str>) {
    let payload = payload.clone();
    judge_bound_terms(method, intent, request, move |_| payload).await
}

/// A Stellar client's pull-mode transaction is judged against the offered
/// request: every `stellar.transaction.verify` vector that does not
/// depend on the server's own account, ledger or a past expiry (the run
/// offers its own `expires`) passes or fails as the vector says, naming
/// its requirement; every `solana.transaction.verify` vector likewise (a
/// valid one with SHOULD findings warns), and every
/// `tempo.subscription.key_authorization.verify` one that needs no
/// `source` or special request. Lightning's preimage and every
/// `card.jwe.verify` vector likewise; a push-mode hash and a
/// method without offline terms are `skip`, never `pass`.
#[tokio::test]
async fn a_client_payload_is_judged_on_what_it_pays_where_that_is_offline() {
    let mut judged = 0;
    for case in cases("stellar.transaction.verify") {
        let code = case["error_code"].as_str();
        if matches!(
            code,
            Some(
                "stellar-charge.verification.server-address-absent"
                    | "stellar-charge.verification.auth-expiration-bound"
            )
        ) || case["id"] == "stellar.transaction.client-paid-max-time-after-expires"
        {
            continue;
        }
        let payload = json!({"type": "transaction", "transaction": case["input"]["transaction"]});
        let (verdict, detail, cited) =
            judge_terms("stellar", "charge", &case["input"]["request"], &payload).await;
        expect_as_vector(&case, verdict, &detail, &cited);
        judged += 1;
    }
    assert!(judged >= 25, "only {judged} Stellar cases judged");

    let mut judged = 0;
    for case in cases("solana.transaction.verify") {
        let payload = json!({"type": "transaction", "transaction": case["input"]["transaction"]});
        let (verdict, detail, cited) =
            judge_terms("solana", "charge", &case["input"]["request"], &payload).await;
        let warns = case["expected"]["warnings"]
            .as_array()
            .is_some_and(|w| !w.is_empty());
        match (case["result"].as_str(), case["error_code"].as_str()) {
            (Some("valid"), _) if warns => {
                assert_eq!(verdict, Verdict::Warn, "{}: {detail}", case["id"]);
            }
            (Some("valid"), _) => assert_eq!(verdict, Verdict::Pass, "{}: {detail}", case["id"]),
            (Some("invalid"), Some(code)) => {
                assert_eq!(verdict, Verdict::Fail, "{}: {detail}", case["id"]);
                assert!(detail.contains(code), "{}: {detail}", case["id"]);
                assert!(cited.contains(&code), "{}: {code} not cited", case["id"]);
            }
            _ => continue,
        }
        judged += 1;
    }
    assert!(judged >= 40, "only {judged} Solana cases judged");

    // A Tempo subscription client's key authorization, but for what the
    // run cannot reproduce: a `source` (the scripted client sends none)
    // and a request no server may offer (the run's own `expires`, a month).
    let mut judged = 0;
    for case in cases("tempo.subscription.key_authorization.verify") {
        let code = case["error_code"].as_str();
        if matches!(
            code,
            Some(
                "tempo-subscription.source.chain-match"
                    | "tempo-subscription.verification.reject-expires-before-challenge"
                    | "tempo-subscription.request.reject-month"
            )
        ) {
            continue;
        }
        let (verdict, detail, cited) = judge_terms(
            "tempo",
            "subscription",
            &case["input"]["request"],
            &case["input"]["payload"],
        )
        .await;
        expect_as_vector(&case, verdict, &detail, &cited);
        judged += 1;
    }
    assert!(
        judged >= 55,
        "only {judged} Tempo subscription cases judged"
    );

    let request = cases("stellar.transaction.verify")[0]["input"]["request"].clone();
    let hash = json!({"type": "hash", "hash": "a".repeat(64)});
    let (verdict, detail, _) = judge_terms("stellar", "charge", &request, &hash).await;
    assert_eq!(verdict, Verdict::Skip, "{detail}");
    assert!(detail.contains("needs a live stellar network"), "{detail}");

    for case in cases("lightning.preimage.verify") {
        let (verdict, detail, cited) = judge_terms(
            "lightning",
            "charge",
            &case["input"]["request"],
            &case["input"]["payload"],
        )
        .await;
        match case["error_code"].as_str() {
            None => assert_eq!(verdict, Verdict::Pass, "{}: {detail}", case["id"]),
            Some(code) => {
                assert_eq!(verdict, Verdict::Fail, "{}: {detail}", case["id"]);
                assert!(cited.contains(&code), "{}", case["id"]);
            }
        }
    }

    // A card client's JWE against the offered key, in the payload the
    // draft's example gives around it.
    let mut judged = 0;
    for case in cases("card.jwe.verify") {
        let payload = json!({
            "encryptedPayload": case["input"]["encryptedPayload"],
            "network": "visa",
            "panLastFour": "4242",
            "panExpirationMonth": "12",
            "panExpirationYear": "2028",
        });
        let (verdict, detail, cited) =
            judge_terms("card", "charge", &case["input"]["request"], &payload).await;
        expect_as_vector(&case, verdict, &detail, &cited);
        judged += 1;
    }
    assert!(judged >= 15, "only {judged} card cases judged");

    let stripe = cases("request.validate")
        .into_iter()
        .find(|c| {
            of(c, "stripe", "charge")
                && c["result"] == "valid"
                && !c["input"]["request"].to_string().contains("null")
        })
        .expect("a valid Stripe charge request");
    let (verdict, detail, cited) = judge_terms(
        "stripe",
        "charge",
        &stripe["input"]["request"],
        &json!({"spt": "spt_x"}),
    )
    .await;
    assert_eq!(verdict, Verdict::Skip, "{detail}");
    assert!(cited.is_empty(), "{cited:?}");
}

/// A `hedera.transaction.verify` vector's transaction moved to another
/// challenge: in each body's attribution memo, the vectors' SERVER_ID
/// (realm api.example.com) becomes `realm`'s and the vectors' NONCE
/// (challenge kM9xPqWvT2nJrHsY4aDfEb) becomes `challenge_id`'s (hex of the
/// same length, so nothing else moves), and each signature that was good
/// over the old body is made again over the new one by a test key (unless
/// `resign` is false: the edit a signature must catch). Broken signatures
/// stay broken, unsigned bodies unsigned, a memo of another challenge,
/// realm or tag as wrong as it was: each case keeps its meaning.
fn rebind_hedera_transaction(
    transaction: &str,
    realm: &str,
    challenge_id: &str,
    resign: bool,
) -> String {
    use alloy::primitives::{hex, keccak256};
    use base64::Engine;
    use ed25519_dalek::{Signer, Verifier};
    use mppconf_suite::methods::hedera::hapi;
    use prost::Message;
    let b64 = base64::engine::general_purpose::STANDARD;
    let Ok(bytes) = b64.decode(transaction) else {
        return transaction.to_string();
    };
    let Ok(mut list) = hapi::TransactionList::decode(bytes.as_slice()) else {
        return transaction.to_string();
    };
    let server_id = |realm: &str| hex::encode(&keccak256(realm)[..10]);
    let nonce = |id: &str| hex::encode(&keccak256(id)[..7]);
    let moves = [
        (server_id("api.example.com"), server_id(realm)),
        (nonce("kM9xPqWvT2nJrHsY4aDfEb"), nonce(challenge_id)),
    ];
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    for tx in &mut list.transaction_list {
        let Ok(mut signed) =
            hapi::SignedTransaction::decode(tx.signed_transaction_bytes.as_slice())
        else {
            continue;
        };
        let old_body = signed.body_bytes.clone();
        for (from, to) in &moves {
            let mut at = 0;
            while let Some(found) = signed.body_bytes[at..]
                .windows(from.len())
                .position(|w| w == from.as_bytes())
            {
                at += found;
                signed.body_bytes[at..at + to.len()].copy_from_slice(to.as_bytes());
                at += to.len();
            }
        }
        if signed.body_bytes == old_body {
            continue;
        }
        for pair in signed
            .sig_map
            .iter_mut()
            .flat_map(|m| m.sig_pair.iter_mut())
        {
            let was_good = pair.ed25519.as_ref().is_some_and(|signature| {
                let key: Option<[u8; 32]> = pair.pub_key_prefix.as_slice().try_into().ok();
                let signature: Option<[u8; 64]> = signature.as_slice().try_into().ok();
                key.zip(signature).is_some_and(|(key, signature)| {
                    ed25519_dalek::VerifyingKey::from_bytes(&key).is_ok_and(|key| {
                        key.verify(&old_body, &ed25519_dalek::Signature::from_bytes(&signature))
                            .is_ok()
                    })
                })
            });
            if was_good && resign {
                pair.pub_key_prefix = key.verifying_key().to_bytes().to_vec();
                pair.ed25519 = Some(key.sign(&signed.body_bytes).to_bytes().to_vec());
            }
        }
        tx.signed_transaction_bytes = signed.encode_to_vec();
    }
    b64.encode(list.encode_to_vec())
}

/// `method.payload-terms` for one scripted client offered `request`, whose
/// payload `build` makes from the challenge it was offered (the client
/// hands it over and waits: see [`CLIENT`]).
async fn judge_bound_terms(
    method: &str,
    intent: &str,
    request: &Value,
    build: impl FnOnce(&Value) -> Value + Send + 'static,
) -> (Verdict, String, Vec<&'static str>) {
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(dir.path(), method, intent, request, &Value::Null);
    let payload_file = dir.path().join("payload.json");
    std::fs::remove_file(&payload_file).unwrap();
    let handed_over = dir.path().join("payload.json.challenge");
    let builder = std::thread::spawn(move || {
        for _ in 0..300 {
            if let Ok(text) = std::fs::read_to_string(&handed_over) {
                let challenge: Value = serde_json::from_str(&text).unwrap();
                let tmp = payload_file.with_extension("tmp");
                std::fs::write(&tmp, build(&challenge).to_string()).unwrap();
                std::fs::rename(&tmp, &payload_file).unwrap();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the scripted client never handed over its challenge");
    });
    let client = ClientUnderTest::Program(Box::new(ClientTarget::load(&path).unwrap()));
    let run = run_client(
        &client,
        &Selection::filtered(&["method.payload-terms"]),
        CoreDraft::Draft00,
        |_| {},
    )
    .await
    .unwrap();
    builder.join().unwrap();
    let [r] = run.results.as_slice() else {
        panic!("one check, got {}", run.results.len());
    };
    (r.verdict, r.detail.clone(), r.requirements.clone())
}

/// A Hedera client's pull-mode transaction is judged against the offered
/// request and challenge: every `hedera.transaction.verify` vector, moved
/// to the offered challenge (its memo and good signatures remade), passes
/// or fails as the vector says, naming its requirement; a transaction
/// paying exactly the request under the memo of another challenge of the
/// same server (a replay) fails `pull.memo-verify`; a body whose memo was moved
/// without signing it again fails `frozen-signed`; a push-mode
/// transaction id is `skip`, never `pass`.
#[tokio::test]
async fn a_hedera_client_transaction_is_judged_bound_to_the_offered_challenge() {
    let mut judged = 0;
    for case in cases("hedera.transaction.verify") {
        if case["result"] == "acceptable" {
            continue;
        }
        let transaction = case["input"]["transaction"].as_str().unwrap().to_string();
        let (verdict, detail, cited) =
            judge_bound_terms("hedera", "charge", &case["input"]["request"], move |c| {
                json!({
                    "type": "transaction",
                    "transaction": rebind_hedera_transaction(
                        &transaction,
                        c["realm"].as_str().unwrap(),
                        c["id"].as_str().unwrap(),
                        true,
                    ),
                })
            })
            .await;
        expect_as_vector(&case, verdict, &detail, &cited);
        judged += 1;
    }
    assert!(judged >= 25, "only {judged} Hedera cases judged");

    let plain = cases("hedera.transaction.verify")
        .into_iter()
        .find(|c| c["id"] == "hedera.transaction.verify.plain")
        .expect("the plain Hedera vector");
    let request = plain["input"]["request"].clone();
    // Paid for another challenge of the same server (the vectors' id
    // kept, the realm moved to the run's): a replay.
    let transaction = plain["input"]["transaction"].as_str().unwrap().to_string();
    let (verdict, detail, _) = judge_bound_terms("hedera", "charge", &request, move |c| {
        let replayed = rebind_hedera_transaction(
            &transaction,
            c["realm"].as_str().unwrap(),
            "kM9xPqWvT2nJrHsY4aDfEb",
            true,
        );
        json!({"type": "transaction", "transaction": replayed})
    })
    .await;
    assert_eq!(verdict, Verdict::Fail, "{detail}");
    assert!(
        detail.contains("hedera-charge.pull.memo-verify"),
        "{detail}"
    );

    let transaction = plain["input"]["transaction"].as_str().unwrap().to_string();
    let (verdict, detail, _) = judge_bound_terms("hedera", "charge", &request, move |c| {
        // The memo moved, the payer's signature left over the old body.
        let edited = rebind_hedera_transaction(
            &transaction,
            c["realm"].as_str().unwrap(),
            c["id"].as_str().unwrap(),
            false,
        );
        json!({"type": "transaction", "transaction": edited})
    })
    .await;
    assert_eq!(verdict, Verdict::Fail, "{detail}");
    assert!(
        detail.contains("hedera-charge.transaction.frozen-signed"),
        "{detail}"
    );

    let push = json!({"type": "hash", "transactionId": "0.0.1001@1700000000.000000000"});
    let (verdict, detail, _) = judge_terms("hedera", "charge", &request, &push).await;
    assert_eq!(verdict, Verdict::Skip, "{detail}");
    assert!(detail.contains("needs a live hedera network"), "{detail}");
}

/// A JWE of `plaintext` as a card client makes it (§"Encrypted Payload
/// Format": RSA-OAEP-256 to `public_jwk`, A256GCM, a 96-bit IV), its
/// header naming `kid`.
fn card_jwe(public_jwk: &Value, kid: &str, plaintext: &str) -> String {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use mppconf_suite::codec::base64url;
    let mut rng = rsa::rand_core::UnwrapErr(getrandom::SysRng);
    let part = |name: &str| {
        let bytes = base64url::decode("jwk", public_jwk[name].as_str().unwrap()).unwrap();
        rsa::BoxedUint::from_be_slice_vartime(&bytes)
    };
    let key = rsa::PublicKey::new(part("n"), part("e")).unwrap();
    let cek: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let iv = [9u8; 12];
    let encrypted_key = key
        .encrypt(&mut rng, rsa::Oaep::<sha2_011::Sha256>::new(), &cek)
        .unwrap();
    let header =
        base64url::encode(json!({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": kid}).to_string());
    let sealed = aes_gcm::Aes256Gcm::new_from_slice(&cek)
        .unwrap()
        .encrypt(
            &aes_gcm::Nonce::<aes_gcm::aead::consts::U12>::try_from(&iv[..]).unwrap(),
            Payload {
                msg: plaintext.as_bytes(),
                aad: header.as_bytes(),
            },
        )
        .unwrap();
    let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
    [
        header,
        base64url::encode(encrypted_key),
        base64url::encode(iv),
        base64url::encode(ciphertext),
        base64url::encode(tag),
    ]
    .join(".")
}

/// A card client offered a request that names no key is offered mppconf's
/// own (`methodDetails.encryptionJwk`), and its JWE is decrypted and its
/// plaintext judged: the draft's example passes; pretty-printed JSON, a
/// plaintext without dynamicData and a JWE encrypted to another key of
/// the same size (the header naming the offered kid) fail, naming their
/// requirement; a numeric-string expiry warns.
#[tokio::test]
async fn a_card_client_jwe_is_decrypted_with_the_key_mppconf_offers() {
    let request = json!({
        "amount": "4999",
        "currency": "usd",
        "recipient": "merch_abc123",
        "methodDetails": {"acceptedNetworks": ["visa"], "merchantName": "Acme Corp"},
    });
    let token = json!({"paymentToken": "4242424242424242", "tokenExpirationMonth": "06", "tokenExpirationYear": "2034", "eci": "07"});
    let dynamic = json!({"dynamicDataValue": "AmDDBjkH/4A=", "dynamicDataType": "CARD_APPLICATION_CRYPTOGRAM_SHORT_FORM", "dynamicDataExpiration": 1746296464});
    let example = json!({"token": token, "dynamicData": dynamic});
    let mut string_expiry = example.clone();
    string_expiry["dynamicData"]["dynamicDataExpiration"] = json!("1746296464");
    let other_key = {
        let mut rng = rsa::rand_core::UnwrapErr(getrandom::SysRng);
        let key = rsa::PrivateKey::new(&mut rng, 2048).unwrap();
        use rsa::traits::PublicKeyParts;
        let encode = |b: &[u8]| {
            let start = b.iter().position(|x| *x != 0).unwrap();
            mppconf_suite::codec::base64url::encode(&b[start..])
        };
        json!({"n": encode(&key.n().to_be_bytes()), "e": encode(&key.e().to_be_bytes())})
    };
    // (name, plaintext, the key to encrypt to instead of the offered one,
    // the verdict or the requirement a failure names)
    type Case = (
        &'static str,
        String,
        Option<Value>,
        Result<Verdict, &'static str>,
    );
    let cases: [Case; 5] = [
        ("the example", example.to_string(), None, Ok(Verdict::Pass)),
        (
            "pretty-printed",
            serde_json::to_string_pretty(&example).unwrap(),
            None,
            Err("card-charge.encrypted.minified-json"),
        ),
        (
            "no dynamicData",
            json!({"token": token}).to_string(),
            None,
            Err("card-charge.encrypted.plaintext-fields"),
        ),
        (
            "another key",
            example.to_string(),
            Some(other_key),
            Err("card-charge.jwe.cek-rsa-oaep-256"),
        ),
        (
            "a numeric-string expiry",
            string_expiry.to_string(),
            None,
            Ok(Verdict::Warn),
        ),
    ];
    for (name, plaintext, encrypt_to, expected) in cases {
        let (verdict, detail, cited) = judge_bound_terms("card", "charge", &request, move |c| {
            use base64::Engine;
            let request: Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c["request"].as_str().unwrap())
                    .unwrap(),
            )
            .unwrap();
            let offered = &request["methodDetails"]["encryptionJwk"];
            let kid = offered["kid"].as_str().expect("mppconf offers its own key");
            let jwe = card_jwe(encrypt_to.as_ref().unwrap_or(offered), kid, &plaintext);
            json!({
                "encryptedPayload": jwe,
                "network": "visa",
                "panLastFour": "4242",
                "panExpirationMonth": "12",
                "panExpirationYear": "2028",
            })
        })
        .await;
        assert!(
            cited.contains(&"card-charge.token.fields"),
            "{name}: {cited:?}"
        );
        match expected {
            Ok(v) => assert_eq!(verdict, v, "{name}: {detail}"),
            Err(code) => {
                assert_eq!(verdict, Verdict::Fail, "{name}: {detail}");
                assert!(detail.contains(code), "{name}: {detail}");
                assert!(cited.contains(&code), "{name}: {code} not cited");
            }
        }
        if verdict == Verdict::Pass {
            assert!(detail.contains("decrypts"), "{name}: {detail}");
            assert!(!detail.contains("4242424242424242"), "{name}: {detail}");
        }
    }
}
