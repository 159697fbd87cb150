//! Scripted broken servers (wiremock, the `stub` method: no chain) for
//! the server checks that need no settlement: each check passes the
//! honest script and flags the broken one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use mppconf_harness::report::Selection;
use mppconf_harness::report::progress::Silent;
use mppconf_harness::server_suite::{self, CheckResult, Ctx, Probes, Target};
use mppconf_suite::codec::{BindingSlots, Challenge, EncodedJson};
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::vectors::Verdict;
use serde_json::json;
use wiremock::matchers::{header_exists, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &[u8] = b"mppconf-scripted-secret";

/// A stub challenge, its id the recommended HMAC with [`SECRET`].
fn challenge() -> String {
    stub_challenge().to_header().unwrap()
}

fn stub_challenge() -> Challenge {
    let mut c = Challenge {
        id: String::new(),
        realm: "scripted.test".into(),
        method: "stub".into(),
        intent: "charge".into(),
        request: EncodedJson::canonical(json!({
            "amount": "1000",
            "currency": "usd",
            "recipient": "acct_scripted",
        })),
        expires: Some("2999-01-01T00:00:00Z".into()),
        digest: None,
        description: None,
        opaque: None,
        unknown_params: Vec::new(),
    };
    c.id = BindingSlots::of(&c, Default::default()).challenge_id(SECRET);
    c
}

fn payment_required() -> ResponseTemplate {
    ResponseTemplate::new(402)
        .insert_header("www-authenticate", challenge().as_str())
        .insert_header("cache-control", "no-store")
        .insert_header("content-type", "application/problem+json")
        .set_body_string(
            json!({"type": "https://paymentauth.org/problems/payment-required", "title": "Payment Required", "status": 402})
                .to_string(),
        )
}

fn target(server: &MockServer, route: &str, http_method: &str) -> Target {
    Target {
        base_url: server.uri(),
        path: route.into(),
        method: http_method.into(),
        body: None,
        rpc_url: String::new(),
        ca: None,
    }
}

fn stub_ctx(server: &MockServer) -> Ctx {
    Ctx::new(
        target(server, "/paid", "GET"),
        PrivateKeySigner::random(),
        None,
    )
    .with_method("stub", "charge")
    .with_answer_timeout(Duration::from_secs(5))
}

async fn run(ctx: &Ctx, id: &str) -> CheckResult {
    let results = server_suite::run_all(
        std::slice::from_ref(ctx),
        &Selection::filtered(&[id]),
        &mut Silent,
    )
    .await;
    results
        .into_iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id} did not run"))
}

fn assert_verdict(r: &CheckResult, want: Verdict) {
    assert_eq!(
        r.verdict, want,
        "{}: {}\n{:#?}",
        r.id, r.detail, r.exchanges
    );
}

/// Unpaid requests get the 402; credentials get `paid` (any status).
async fn paywall(server: &MockServer, route: &str, paid: ResponseTemplate) {
    Mock::given(path(route))
        .and(header_exists("authorization"))
        .respond_with(paid)
        .mount(server)
        .await;
    Mock::given(path(route))
        .respond_with(payment_required())
        .mount(server)
        .await;
}

#[tokio::test]
async fn plain_http_is_info_on_loopback_and_fails_elsewhere() {
    let server = MockServer::start().await;
    paywall(&server, "/paid", ResponseTemplate::new(200)).await;
    let ctx = stub_ctx(&server);
    for id in [
        "transport.tls",
        "transport.no-challenge-over-http",
        "transport.plain-http-credential-refused",
    ] {
        let r = run(&ctx, id).await;
        assert_verdict(&r, Verdict::Info);
        assert!(r.detail.contains("ambiguity.tls-loopback"), "{}", r.detail);
    }
    assert_verdict(&run(&ctx, "transport.tls13").await, Verdict::Skip);
    // A documentation address (never contacted: the scheme decides).
    let remote = Ctx::new(
        Target {
            base_url: "http://192.0.2.1:9".into(),
            ..target(&server, "/paid", "GET")
        },
        PrivateKeySigner::random(),
        None,
    )
    .with_method("stub", "charge");
    assert_verdict(&run(&remote, "transport.tls").await, Verdict::Fail);
}

#[tokio::test]
async fn a_refusal_without_retry_after_warns() {
    for (retry_after, want) in [
        (None, Verdict::Warn),
        (Some("soon"), Verdict::Warn),
        (Some("5"), Verdict::Pass),
        (Some("Fri, 04 Dec 2026 12:00:00 GMT"), Verdict::Pass),
    ] {
        let server = MockServer::start().await;
        let refusal = match retry_after {
            Some(v) => payment_required().insert_header("retry-after", v),
            None => payment_required(),
        };
        paywall(&server, "/paid", refusal).await;
        let r = run(&stub_ctx(&server), "errors.retry-after").await;
        assert_eq!(r.verdict, want, "Retry-After {retry_after:?}: {}", r.detail);
    }
}

#[tokio::test]
async fn ids_that_are_not_the_recommended_hmac_warn_when_the_secret_is_known() {
    let server = MockServer::start().await;
    paywall(&server, "/paid", ResponseTemplate::new(200)).await;
    let unknown = run(&stub_ctx(&server), "challenge.id-hmac").await;
    assert_verdict(&unknown, Verdict::Skip);
    assert!(unknown.detail.contains("--secret"), "{}", unknown.detail);
    let right = stub_ctx(&server).with_hmac_secret(Some(SECRET.to_vec()));
    assert_verdict(&run(&right, "challenge.id-hmac").await, Verdict::Pass);
    let wrong = stub_ctx(&server).with_hmac_secret(Some(b"another secret".to_vec()));
    assert_verdict(&run(&wrong, "challenge.id-hmac").await, Verdict::Warn);
}

/// Issues the recommended HMAC challenge with `expires` five minutes
/// ahead at second precision and no nonce: the same challenge, id and
/// all, for every 402 within one second (ambiguity.hmac-id-uniqueness).
/// With `bind_expires` false the id stays that of the first challenge
/// while `expires` moves on: an id not bound to what it names, reused.
struct PerSecond {
    bind_expires: bool,
    first_id: std::sync::OnceLock<String>,
}

impl Respond for PerSecond {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut c = stub_challenge();
        c.expires = Some(mppconf_harness::client_suite::rfc3339_in(300));
        c.id = BindingSlots::of(&c, Default::default()).challenge_id(SECRET);
        if !self.bind_expires {
            c.id = self.first_id.get_or_init(|| c.id.clone()).clone();
        }
        ResponseTemplate::new(402)
            .insert_header("www-authenticate", c.to_header().unwrap().as_str())
            .insert_header("cache-control", "no-store")
    }
}

/// A fresh challenge per 402: a deterministic HMAC id that repeats within
/// one second passes (the check asks again past the second); a static
/// challenge and an id kept while the challenge changes fail.
#[tokio::test]
async fn a_challenge_reused_past_the_second_fails_and_a_per_second_hmac_id_passes() {
    for (bind_expires, want) in [(true, Verdict::Pass), (false, Verdict::Fail)] {
        let server = MockServer::start().await;
        Mock::given(path("/paid"))
            .respond_with(PerSecond {
                bind_expires,
                first_id: Default::default(),
            })
            .mount(&server)
            .await;
        let r = run(&stub_ctx(&server), "unpaid.fresh-challenge").await;
        assert_eq!(r.verdict, want, "bind_expires {bind_expires}: {}", r.detail);
    }
    let server = MockServer::start().await;
    paywall(&server, "/paid", ResponseTemplate::new(200)).await;
    let r = run(&stub_ctx(&server), "unpaid.fresh-challenge").await;
    assert_verdict(&r, Verdict::Fail);
    assert!(r.detail.contains("1100 ms later"), "{}", r.detail);
}

/// -01: "Servers MUST NOT emit a `header` parameter with any other value"
/// than `Payment-Authorization`; one in other letter case warns
/// (ambiguity.header-value-case); no `header` at all is the default.
#[tokio::test]
async fn a_header_parameter_naming_another_field_fails_under_01() {
    for (value, want) in [
        (None, Verdict::Pass),
        (Some("Payment-Authorization"), Verdict::Pass),
        (Some("payment-authorization"), Verdict::Warn),
        (Some("X-Payment-Credential"), Verdict::Fail),
        (Some("Authorization"), Verdict::Fail),
    ] {
        let mut c = stub_challenge();
        if let Some(v) = value {
            c.unknown_params.push(("header".into(), v.into()));
            c.id = BindingSlots::of(&c, CoreDraft::Draft01).challenge_id(SECRET);
        }
        let server = MockServer::start().await;
        Mock::given(path("/paid"))
            .respond_with(
                ResponseTemplate::new(402)
                    .insert_header("www-authenticate", c.to_header().unwrap().as_str())
                    .insert_header("cache-control", "no-store"),
            )
            .mount(&server)
            .await;
        let ctx = stub_ctx(&server).with_core(CoreDraft::Draft01, value);
        let r = run(&ctx, "header.value").await;
        assert_eq!(r.verdict, want, "header={value:?}: {}", r.detail);
    }
}

fn with_probes(server: &MockServer, probes: Probes) -> Ctx {
    stub_ctx(server).with_probes(Some(probes))
}

#[tokio::test]
async fn payment_before_authentication_warns() {
    for (anonymous, want) in [
        (ResponseTemplate::new(401), Verdict::Pass),
        (payment_required(), Verdict::Warn),
    ] {
        let server = MockServer::start().await;
        Mock::given(path("/private"))
            .and(header_exists("x-api-key"))
            .respond_with(payment_required())
            .mount(&server)
            .await;
        Mock::given(path("/private"))
            .respond_with(anonymous)
            .mount(&server)
            .await;
        let ctx = with_probes(
            &server,
            Probes {
                authenticated: Some((target(&server, "/private", "GET"), "X-Api-Key: k".into())),
                ..Probes::default()
            },
        );
        let r = run(&ctx, "auth.before-payment").await;
        assert_eq!(r.verdict, want, "{}", r.detail);
    }
    // Not declared: said, not passed.
    let server = MockServer::start().await;
    let r = run(
        &with_probes(&server, Probes::default()),
        "auth.before-payment",
    )
    .await;
    assert_verdict(&r, Verdict::Skip);
}

#[tokio::test]
async fn a_denied_route_must_answer_403_without_a_challenge() {
    for (after_payment, want) in [
        (ResponseTemplate::new(403), Verdict::Pass),
        (payment_required(), Verdict::Fail),
        (ResponseTemplate::new(200), Verdict::Fail),
    ] {
        let server = MockServer::start().await;
        paywall(&server, "/paid", ResponseTemplate::new(200)).await;
        paywall(&server, "/denied", after_payment).await;
        let ctx = with_probes(
            &server,
            Probes {
                denied: Some(target(&server, "/denied", "GET")),
                ..Probes::default()
            },
        );
        let r = run(&ctx, "policy.denied-403").await;
        assert_eq!(r.verdict, want, "{}", r.detail);
    }
}

/// Without the control (payments accepted on the resource), a denied
/// route's 402 may be the refusal: `blocked`, not `fail`.
#[tokio::test]
async fn declared_routes_are_blocked_when_payments_are_refused() {
    let server = MockServer::start().await;
    paywall(&server, "/paid", payment_required()).await;
    paywall(&server, "/denied", payment_required()).await;
    let ctx = with_probes(
        &server,
        Probes {
            denied: Some(target(&server, "/denied", "GET")),
            failing: Some(target(&server, "/denied", "GET")),
            ..Probes::default()
        },
    );
    for id in ["policy.denied-403", "receipt.only-2xx"] {
        let r = run(&ctx, id).await;
        assert_verdict(&r, Verdict::Blocked);
        assert!(r.detail.contains("see paid.receipt"), "{}", r.detail);
    }
}

#[tokio::test]
async fn a_receipt_on_a_failed_resource_fails() {
    let receipt = "eyJzdGF0dXMiOiJzdWNjZXNzIn0";
    for (after_payment, want) in [
        (ResponseTemplate::new(500), Verdict::Pass),
        (
            ResponseTemplate::new(500).insert_header("payment-receipt", receipt),
            Verdict::Fail,
        ),
        // It succeeded: nothing to judge.
        (ResponseTemplate::new(200), Verdict::Blocked),
    ] {
        let server = MockServer::start().await;
        paywall(&server, "/paid", ResponseTemplate::new(200)).await;
        paywall(&server, "/broken", after_payment).await;
        let ctx = with_probes(
            &server,
            Probes {
                failing: Some(target(&server, "/broken", "GET")),
                ..Probes::default()
            },
        );
        let r = run(&ctx, "receipt.only-2xx").await;
        assert_eq!(r.verdict, want, "{}", r.detail);
    }
}

/// Counts requests to `/orders` (all of them, or only credentialed ones)
/// and answers like a paywall.
struct Orders {
    count: Arc<AtomicU64>,
    unpaid_too: bool,
}

/// The request carries the stub payment (`{"token":"stub"}`).
fn stub_paid(request: &Request) -> bool {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| mppconf_suite::codec::Credential::parse(v).ok())
        .is_some_and(|c| c.payload == mppconf_harness::methods::stub::payload())
}

impl Respond for Orders {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let paid = stub_paid(request);
        if paid || self.unpaid_too {
            self.count.fetch_add(1, Ordering::SeqCst);
        }
        if paid {
            ResponseTemplate::new(200)
        } else {
            payment_required()
        }
    }
}

struct Count(Arc<AtomicU64>);

impl Respond for Count {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_string(self.0.load(Ordering::SeqCst).to_string())
    }
}

#[tokio::test]
async fn side_effects_of_unpaid_requests_fail_and_a_blind_oracle_blocks() {
    for (unpaid_too, counting, want) in [
        (false, true, Verdict::Pass),
        (true, true, Verdict::Fail),
        // An oracle that never changes observes nothing.
        (false, false, Verdict::Blocked),
    ] {
        let server = MockServer::start().await;
        let count = Arc::new(AtomicU64::new(0));
        Mock::given(path("/orders"))
            .respond_with(Orders {
                count: count.clone(),
                unpaid_too,
            })
            .mount(&server)
            .await;
        let shown = if counting {
            count
        } else {
            Arc::new(AtomicU64::new(7))
        };
        Mock::given(method("GET"))
            .and(path("/orders/count"))
            .respond_with(Count(shown))
            .mount(&server)
            .await;
        let ctx = with_probes(
            &server,
            Probes {
                side_effect: Some((
                    target(&server, "/orders", "POST"),
                    format!("{}/orders/count", server.uri()),
                )),
                ..Probes::default()
            },
        );
        let r = run(&ctx, "side-effects.none-unpaid").await;
        assert_eq!(
            r.verdict, want,
            "unpaid_too {unpaid_too}, counting {counting}: {}",
            r.detail
        );
    }
}

/// The first credential gets the content; the same one again is refused,
/// with or without a preview of the content.
struct Content {
    served: AtomicU64,
    preview: bool,
}

const CONTENT: &str = "the quarterly report, paid";

impl Respond for Content {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !request.headers.contains_key("authorization") {
            return payment_required();
        }
        if self.served.fetch_add(1, Ordering::SeqCst) == 0 {
            return ResponseTemplate::new(200)
                .set_body_string(json!({"report": CONTENT}).to_string());
        }
        let mut body =
            json!({"type": "https://paymentauth.org/problems/invalid-challenge", "status": 402});
        if self.preview {
            body["preview"] = CONTENT.into();
        }
        payment_required().set_body_string(body.to_string())
    }
}

#[tokio::test]
async fn content_in_a_refusal_is_partial_access() {
    for (preview, want) in [(false, Verdict::Pass), (true, Verdict::Warn)] {
        let server = MockServer::start().await;
        Mock::given(path("/paid"))
            .respond_with(Content {
                served: AtomicU64::new(0),
                preview,
            })
            .mount(&server)
            .await;
        let r = run(&stub_ctx(&server), "atomicity.no-partial-access").await;
        assert_eq!(r.verdict, want, "preview {preview}: {}", r.detail);
    }
}

/// The stub challenge's live price, and a discovery document of the
/// paid route offering `amount` (draft-payment-discovery-00).
fn discovery_document(amount: &str) -> serde_json::Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "scripted", "version": "1"},
        "paths": {"/paid": {"get": {
            "x-payment-info": {"offers": [
                {"intent": "charge", "method": "stub", "amount": amount, "currency": "usd"}
            ]},
            "responses": {"402": {"description": "Payment Required"}}
        }}}
    })
}

async fn with_document(document: Option<serde_json::Value>) -> MockServer {
    let server = MockServer::start().await;
    if let Some(d) = document {
        Mock::given(path("/openapi.json"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/json")
                    .insert_header("cache-control", "max-age=300")
                    .set_body_string(d.to_string()),
            )
            .mount(&server)
            .await;
    }
    paywall(&server, "/paid", ResponseTemplate::new(200)).await;
    server
}

/// An offer whose amount is not the live challenge's fails
/// discovery.offers-match-challenge; the honest one passes; no document
/// is `skip` (discovery is OPTIONAL) unless one is declared.
#[tokio::test]
async fn a_discovery_offer_that_is_not_the_live_challenge_fails() {
    let honest = with_document(Some(discovery_document("1000"))).await;
    let r = run(&stub_ctx(&honest), "discovery.offers-match-challenge").await;
    assert_verdict(&r, Verdict::Pass);
    assert_verdict(
        &run(&stub_ctx(&honest), "discovery.resource-listed").await,
        Verdict::Pass,
    );
    let cheaper = with_document(Some(discovery_document("10"))).await;
    let r = run(&stub_ctx(&cheaper), "discovery.offers-match-challenge").await;
    assert_verdict(&r, Verdict::Fail);
    assert!(r.detail.contains("amount \"10\""), "{}", r.detail);
    // A member the draft does not define is a schema finding; a recipient
    // other than the challenge's is still compared, and fails.
    let mut elsewhere = discovery_document("1000");
    elsewhere["paths"]["/paid"]["get"]["x-payment-info"]["offers"][0]["recipient"] =
        "acct_attacker".into();
    let elsewhere = with_document(Some(elsewhere)).await;
    let r = run(&stub_ctx(&elsewhere), "discovery.offers-match-challenge").await;
    assert_verdict(&r, Verdict::Fail);
    assert!(
        r.detail.contains("recipient") && r.detail.contains("leniently"),
        "{}",
        r.detail
    );
    assert_verdict(
        &run(&stub_ctx(&elsewhere), "discovery.payment-info-schema").await,
        Verdict::Fail,
    );
    let none = with_document(None).await;
    for id in ["discovery.location", "discovery.offers-match-challenge"] {
        let r = run(&stub_ctx(&none), id).await;
        assert_verdict(&r, Verdict::Skip);
        assert!(r.detail.contains("OPTIONAL"), "{}", r.detail);
    }
    let declared = stub_ctx(&none).with_discovery(Some("/openapi.json".into()), true);
    assert_verdict(&run(&declared, "discovery.location").await, Verdict::Fail);
}

/// An operation without x-payment-info fails discovery.resource-listed
/// on a charge resource, and is skip on a subscription one: an offer's
/// intent is "charge" or "session", so a subscription cannot be declared
/// (ambiguity.discovery-intent-closed).
#[tokio::test]
async fn an_undeclared_operation_fails_unless_its_intent_cannot_be_declared() {
    let mut document = discovery_document("1000");
    document["paths"]["/paid"]["get"]
        .as_object_mut()
        .unwrap()
        .remove("x-payment-info");
    let server = with_document(Some(document)).await;
    let charge = stub_ctx(&server);
    assert_verdict(
        &run(&charge, "discovery.resource-listed").await,
        Verdict::Fail,
    );
    assert_verdict(
        &run(&charge, "discovery.offers-match-challenge").await,
        Verdict::Blocked,
    );
    let subscription = stub_ctx(&server).with_method("stub", "subscription");
    for id in [
        "discovery.resource-listed",
        "discovery.offers-match-challenge",
    ] {
        let r = run(&subscription, id).await;
        assert_verdict(&r, Verdict::Skip);
        assert!(
            r.detail.contains("ambiguity.discovery-intent-closed"),
            "{id}: {}",
            r.detail
        );
    }
}

/// Six copies of one credential: all six taken fails
/// concurrency.settles-once, exactly one passes, and none taken is
/// blocked (at most once holds; the refusal is paid.receipt's finding).
#[tokio::test]
async fn concurrent_copies_all_taken_fail_and_none_taken_is_blocked() {
    for (paid, want) in [
        (ResponseTemplate::new(200), Verdict::Fail),
        (payment_required(), Verdict::Blocked),
    ] {
        let server = MockServer::start().await;
        paywall(&server, "/paid", paid).await;
        let r = run(&stub_ctx(&server), "concurrency.settles-once").await;
        assert_verdict(&r, want);
    }
}

/// A Tempo subscription challenge naming `access_key` (the draft's
/// §"Method Details" example otherwise).
fn subscription_challenge(access_key: &str) -> String {
    let mut c = Challenge {
        id: String::new(),
        realm: "api.example.com".into(),
        method: "tempo".into(),
        intent: "subscription".into(),
        request: EncodedJson::canonical(json!({
            "amount": "10000000",
            "currency": "0x20c0000000000000000000000000000000000001",
            "periodUnit": "day",
            "periodCount": "30",
            "subscriptionExpires": "2099-07-14T12:00:00Z",
            "recipient": "0x742d35cc6634c0532925a3b844bc9e7595f8fe00",
            "methodDetails": {
                "accessKey": {"accessKeyAddress": access_key, "keyType": "secp256k1"},
                "chainId": 42431,
            },
        })),
        expires: Some("2099-01-01T00:00:00Z".into()),
        digest: None,
        description: None,
        opaque: None,
        unknown_params: Vec::new(),
    };
    c.id = BindingSlots::of(&c, CoreDraft::Draft00).challenge_id(b"scripted");
    c.to_header().unwrap()
}

/// draft-tempo-subscription-00 §"Access Key Isolation" (a SHOULD): a
/// server naming one access key in two challenges warns
/// subscription.access-key-per-subscription, even when the second names
/// it in another case (addresses compare by value); one naming a fresh
/// key in each passes.
#[tokio::test]
async fn a_subscription_server_naming_one_access_key_twice_warns() {
    let key = "0x5050a4f4b3f9338c3472dcc01a87c76a144b3c9c";
    for (second, want) in [
        (key.to_uppercase().replacen("0X", "0x", 1), Verdict::Warn),
        (
            "0x1111111111111111111111111111111111111111".to_string(),
            Verdict::Pass,
        ),
    ] {
        let server = MockServer::start().await;
        let answer = |key: &str| {
            ResponseTemplate::new(402)
                .insert_header("www-authenticate", subscription_challenge(key).as_str())
                .insert_header("cache-control", "no-store")
        };
        Mock::given(path("/paid"))
            .respond_with(answer(key))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(path("/paid"))
            .respond_with(answer(&second))
            .with_priority(2)
            .mount(&server)
            .await;
        let ctx = Ctx::new(
            target(&server, "/paid", "GET"),
            PrivateKeySigner::random(),
            None,
        )
        .with_method("tempo", "subscription")
        .with_answer_timeout(Duration::from_secs(5));
        let r = run(&ctx, "subscription.access-key-per-subscription").await;
        assert_verdict(&r, want);
        assert!(r.detail.contains(key), "{}", r.detail);
    }
}
