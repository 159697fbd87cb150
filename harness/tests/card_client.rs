//! The card client checks of key resolution (draft-card-charge-00
//! §"Encryption Key"), against a scripted Client Enabler (a Python
//! program) that resolves the key as the draft says, and against one
//! broken copy of it per rule: each breach fails its check and no other,
//! and a client that pays nothing has its refusals `blocked`, never
//! `pass`. The JWK Set on the realm's origin needs port 443: where this
//! process may not bind it, those two checks must be `skip`, saying why.

use std::path::{Path, PathBuf};

use mppconf_harness::client_suite::ClientUnderTest;
use mppconf_harness::client_suite::command::run_client;
use mppconf_harness::client_suite::manifest::ClientTarget;
use mppconf_harness::report::Selection;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::vectors::Verdict;
use serde_json::json;

/// Resolves the offered card challenge's key and pays with a fixed
/// payload, or refuses; argument 2 names the rule it breaks, if any.
const CLIENT: &str = r#"
import base64, json, os, re, ssl, sys, urllib.error, urllib.request
url, breach = sys.argv[1], sys.argv[2]
try:
    urllib.request.urlopen(url)
    sys.exit("no 402")
except urllib.error.HTTPError as e:
    field = e.headers["WWW-Authenticate"]
params = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', field))
challenge = {k: params[k] for k in ("id", "realm", "method", "intent", "request", "expires") if k in params}
encoded = params["request"]
details = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))).get("methodDetails", {})
def refuse(why):
    print("refused:", why)
    sys.exit(0)
if breach == "pays-nothing":
    refuse("never pays")
key = None
if "jwksUri" in details:
    uri = details["jwksUri"]
    found = re.match(r"https://([^/:?#]+)(:443)?/", uri)
    if breach != "any-origin" and (not found or found.group(1) != challenge["realm"]):
        refuse("the jwksUri is not on the realm's origin")
    context = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE"))
    if breach == "no-fetch":
        refuse("never fetches a JWK Set")
    keys = json.load(urllib.request.urlopen(uri, context=context))["keys"]
    if breach == "first-key":
        key = keys[0]
    else:
        key = next((k for k in keys if k.get("kid") == details.get("kid")), None)
    if key is None:
        refuse("the kid is not in the set")
elif "encryptionJwk" in details:
    key = details["encryptionJwk"]
elif breach != "no-key":
    refuse("no key")
if key is not None and breach != "any-key":
    if (key.get("kty"), key.get("alg"), key.get("use")) != ("RSA", "RSA-OAEP-256", "enc"):
        refuse("not an RSA-OAEP-256 encryption key")
header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": (key or {}).get("kid", "none")}
protected = base64.urlsafe_b64encode(json.dumps(header).encode()).decode().rstrip("=")
payload = {"encryptedPayload": protected + ".b.c.d.e", "network": "visa", "panLastFour": "4242",
           "panExpirationMonth": "06", "panExpirationYear": "2034"}
token = base64.urlsafe_b64encode(json.dumps({"challenge": challenge, "payload": payload}).encode()).decode().rstrip("=")
try:
    urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Payment " + token}))
except urllib.error.HTTPError as e:
    print("answered", e.code)
"#;

const CHECKS: [&str; 6] = [
    "card.refuse.no-key",
    "card.refuse.pkcs1-key",
    "card.refuse.signing-key",
    "card.refuse.cross-origin-jwks",
    "card.resolve.realm-jwks",
    "card.refuse.kid-not-found",
];

/// The checks of the JWK Set on the realm's origin (port 443).
const ON_REALM_ORIGIN: [&str; 2] = ["card.resolve.realm-jwks", "card.refuse.kid-not-found"];

fn manifest(dir: &Path, breach: &str) -> PathBuf {
    let script = dir.join("client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let text = json!({
        "name": format!("scripted-card-{breach}"),
        "client": {
            "command": ["python3", script.display().to_string(), "{url}", breach],
            "timeout_secs": 20,
        },
        // No key named: mppconf offers its own in the control.
        "offer": {
            "method": "card",
            "intent": "charge",
            "request": {
                "amount": "4999",
                "currency": "usd",
                "recipient": "merch_abc123",
                "methodDetails": {"acceptedNetworks": ["visa"], "merchantName": "Acme Corp"},
            },
        },
    });
    let path = dir.join("client.toml");
    std::fs::write(
        &path,
        toml::to_string(&toml::Value::try_from(text).unwrap()).unwrap(),
    )
    .unwrap();
    path
}

/// The verdict of each key-resolution check for the client breaking
/// `breach`, and its detail.
async fn verdicts(breach: &str) -> Vec<(String, Verdict, String)> {
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(dir.path(), breach);
    let client = ClientUnderTest::Program(Box::new(ClientTarget::load(&path).unwrap()));
    let run = run_client(
        &client,
        &Selection::filtered(&CHECKS),
        CoreDraft::Draft00,
        |_| {},
    )
    .await
    .unwrap();
    run.results
        .iter()
        .map(|r| (r.id.to_string(), r.verdict, r.detail.clone()))
        .collect()
}

#[tokio::test]
async fn each_key_resolution_breach_is_caught_by_its_check_alone() {
    // (the breach, the checks it fails)
    let breaches: [(&str, &[&str]); 6] = [
        ("none", &[]),
        ("no-key", &["card.refuse.no-key"]),
        (
            "any-key",
            &["card.refuse.pkcs1-key", "card.refuse.signing-key"],
        ),
        ("any-origin", &["card.refuse.cross-origin-jwks"]),
        (
            "first-key",
            &["card.resolve.realm-jwks", "card.refuse.kid-not-found"],
        ),
        ("no-fetch", &["card.resolve.realm-jwks"]),
    ];
    for (breach, failing) in breaches {
        let results = verdicts(breach).await;
        assert_eq!(results.len(), CHECKS.len(), "{breach}: {results:?}");
        for (id, verdict, detail) in results {
            if ON_REALM_ORIGIN.contains(&id.as_str()) && verdict == Verdict::Skip {
                // This process may not bind port 443: said, not passed.
                assert!(
                    mppconf_harness::client_suite::scenario::realm_origin_unavailable().await,
                    "{breach}: {id}: {detail}"
                );
                assert!(detail.contains("127.0.0.1:443"), "{detail}");
                continue;
            }
            let expected = if failing.contains(&id.as_str()) {
                Verdict::Fail
            } else {
                Verdict::Pass
            };
            assert_eq!(verdict, expected, "{breach}: {id}: {detail}");
            if breach == "any-origin" && verdict == Verdict::Fail {
                // The set was fetched from the other origin, then paid for.
                assert!(detail.contains("GET /jwks.json"), "{detail}");
                assert!(detail.contains("credential(s) sent"), "{detail}");
            }
            if breach == "first-key" && id == "card.resolve.realm-jwks" {
                assert!(detail.contains("mppconf-decoy"), "{detail}");
            }
        }
    }
}

#[tokio::test]
async fn a_client_that_pays_nothing_has_its_refusals_blocked() {
    for (id, verdict, detail) in verdicts("pays-nothing").await {
        if id == "card.resolve.realm-jwks" {
            // Not a refusal: no credential is its failure (or a skip
            // without port 443).
            assert!(
                matches!(verdict, Verdict::Fail | Verdict::Skip),
                "{id}: {detail}"
            );
            continue;
        }
        if ON_REALM_ORIGIN.contains(&id.as_str()) && verdict == Verdict::Skip {
            continue;
        }
        assert_eq!(verdict, Verdict::Blocked, "{id}: {detail}");
        assert!(detail.contains("did not pay the control"), "{id}: {detail}");
    }
}
