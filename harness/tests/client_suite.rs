//! The client suite judged against known clients: the reference client
//! passes every check; each of its deviations is flagged by exactly the
//! checks that name it; scripted client programs (through manifests) that
//! pay blindly, hang, crash or flood get `fail` or `error` with a reason,
//! never a hung run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mppconf_harness::client_suite::ClientUnderTest;
use mppconf_harness::client_suite::command::{ClientCheckResult, run_client};
use mppconf_harness::client_suite::manifest::ClientTarget;
use mppconf_harness::reference::client::Deviation;
use mppconf_harness::report::Selection;
use mppconf_harness::report::compare::Verdicts;
use mppconf_suite::drafts::CoreDraft;
use mppconf_suite::vectors::Verdict;

async fn run(client: ClientUnderTest, filter: &[&str]) -> Vec<ClientCheckResult> {
    run_under(CoreDraft::Draft00, client, filter).await
}

async fn run_under(
    core: CoreDraft,
    client: ClientUnderTest,
    filter: &[&str],
) -> Vec<ClientCheckResult> {
    run_client(&client, &Selection::filtered(filter), core, |_| {})
        .await
        .unwrap()
        .results
}

fn not_passed(results: &[ClientCheckResult]) -> BTreeMap<&'static str, (Verdict, String)> {
    results
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .map(|r| (r.id, (r.verdict, r.detail.clone())))
        .collect()
}

#[tokio::test]
async fn the_reference_client_passes_every_check() {
    let client = ClientUnderTest::Reference {
        deviations: BTreeSet::new(),
    };
    let run = run_client(&client, &Selection::all(), CoreDraft::Draft00, |_| {})
        .await
        .unwrap();
    // It concludes what it did at the last deliberate change of the checks
    // (fixtures/verdicts/client-reference.json: first written from the run
    // before the payment-method plug-ins, rewritten after reviewing the
    // differences when checks or citations are added, by `mppconf report
    // compare R/report.json --write`).
    let reports = mppconf_harness::client_suite::command::reports_of(
        std::slice::from_ref(&run),
        "2026-01-01T00:00:00Z",
    );
    let before = Verdicts::read(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/verdicts/client-reference.json"
    )))
    .unwrap();
    let differences = before.differences(&Verdicts::of(&reports[0].0));
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let results = run.results;
    assert_eq!(
        results.len(),
        mppconf_harness::client_suite::checks_for(CoreDraft::Draft00).len(),
        "every check ran"
    );
    assert!(
        not_passed(&results).is_empty(),
        "{:#?}",
        not_passed(&results)
    );
}

#[test]
fn every_check_cites_catalogued_requirements() {
    let catalogue = mppconf_suite::catalogue::Catalogue::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vectors"
    )))
    .unwrap();
    let mut ids = BTreeSet::new();
    for check in mppconf_harness::client_suite::checks() {
        assert!(ids.insert(check.id), "{} twice", check.id);
        assert!(!check.requirements.is_empty(), "{} cites nothing", check.id);
        for r in mppconf_harness::client_suite::cited(check) {
            assert!(
                catalogue.find(r).is_some(),
                "{}: unknown requirement {r}",
                check.id
            );
        }
    }
}

/// Each deviation of the reference client and the checks that flag it
/// (`standard.paid` is the umbrella: the server refuses a wrong payment).
fn expected_flags(d: Deviation) -> &'static [&'static str] {
    use Deviation::*;
    match d {
        // Judged by the session scenarios (tests/session_client.rs).
        SessionWrongChannelId
        | SessionWrongDomain
        | SessionOtherEscrow
        | SessionUppercaseHex
        | SessionRepeatVoucher
        | SessionIgnoreNeedVoucher
        | SessionSkipTopUp
        | SessionVoucherBeforeTopUp
        | SessionIgnoreBudget
        | SessionTrustAccepted
        | SessionPayWithoutDelivery
        | SessionNoClose
        | SessionNoIdempotencyKey
        | SessionSelfPaidWhenSponsored
        | SessionAsksSponsorship
        | SessionResumeUnchecked => &[],
        // Judged by the EVM charge scenarios (tests/evm_client.rs).
        EvmUnboundWitness | EvmDropExternalId | EvmAnyChain | EvmAnyPermit2
        | EvmAnyCredentialType | EvmOverpay | EvmOtherSpender => &[],
        IgnoreExpiry => &["refuse.expired"],
        IgnoreSplitRule => &["refuse.splits-reach-amount"],
        ShortAmount => &["standard.paid", "tx.recipient-amount"],
        // The split's memo goes too.
        DropMemo => &["standard.paid", "tx.memo", "tx.splits"],
        TamperRequest => &["standard.paid", "echo.request"],
        TwoAuthorizationHeaders => &["standard.paid", "authorization.one-header"],
        PushAlways => &[
            "sponsored.fee-fields",
            "sponsored.no-push",
            "modes.pull-only",
        ],
        PullAlways => &["modes.push-only"],
        EchoWrongId => &["standard.paid", "echo.id"],
        EchoWrongRealm => &["standard.paid", "echo.realm-method-intent"],
        EchoWrongExpires => &["standard.paid", "echo.expires"],
        ResortOpaque => &["standard.paid", "echo.opaque"],
        DropDigest => &["echo.digest"],
        NoSource => &["credential.source-did-pkh", "proof.zero-amount"],
        WrongToken => &[
            "standard.paid",
            "tx.token",
            "tx.recipient-amount",
            "tx.memo",
            "tx.splits",
        ],
        SkipSplits => &["standard.paid", "tx.recipient-amount", "tx.splits"],
        WrongChainId => &["standard.paid", "tx.chain-id"],
        LateValidBefore => &["standard.paid", "tx.valid-before"],
        NoFeeToken => &["standard.paid", "tx.fee-token"],
        SelfPaidWhenSponsored => &["sponsored.fee-fields"],
        ProofOtherId => &["proof.zero-amount"],
        DropBodyOnRetry => &["digest.same-body"],
        MalformedAcceptPayment => &["accept-payment.well-formed"],
        AcceptMissingId => &["refuse.missing-id", "refuse.empty-id"],
        AnyIntent => &["refuse.unknown-intent", "parse.across-headers"],
        FirstChallengeOnly => &[
            "refuse.unknown-intent",
            "refuse.unknown-method",
            "parse.several-in-one-header",
            "parse.across-headers",
        ],
        IgnoreModes => &["modes.push-only", "refuse.no-usable-mode"],
        RejectUnknownParams => &["parse.unknown-params"],
        SmallHeaderLimit => &["parse.4kb-challenge"],
        AsciiOnlyHeaders => &["parse.non-ascii-description"],
        // No credential for the quoted description: the check of what it
        // paid is blocked, saying so.
        NaiveCommaSplit => &[
            "parse.quoted-description",
            "parse.unknown-params",
            "description.not-an-input",
        ],
        FollowRedirects => &["transport.redirect-keeps-credential"],
        IgnorePlainHttpRule => &["transport.no-plain-http", "transport.rejects-plain-http"],
        DowngradeToHttp => &["transport.tls"],
        IgnorePolicy => &[
            "refuse.over-limit",
            "refuse.unexpected-recipient",
            "refuse.recipient-verified",
        ],
        RecipientTextCompare => &["tx.address-case"],
        ReverseTransfers => &["tx.splits-in-order"],
        HashWithoutBroadcast => &["modes.push-only"],
        AmountFromDescription => &["description.not-an-input"],
        // Rules of -01 (see `draft_01_deviations`): inert under -00.
        CredentialInAuthorization
        | DropHeaderEcho
        | AnyHeaderValue
        | AlwaysPaymentAuthorization
        | EchoHeaderAlways => &[],
    }
}

/// The deviations from what -01 adds, and the checks that flag them in a
/// run against -01.
fn draft_01_flags(d: Deviation) -> Option<&'static [&'static str]> {
    use Deviation::*;
    Some(match d {
        CredentialInAuthorization => &["header.selected-field"],
        // The server refuses the unbound echo; no check of the scenario
        // but this one reads why.
        DropHeaderEcho => &["header.echoed"],
        AnyHeaderValue => &["refuse.header-other-field", "refuse.header-authorization"],
        AlwaysPaymentAuthorization => &["standard.paid", "header.default-authorization"],
        EchoHeaderAlways => &["standard.paid", "header.no-echo-without"],
        _ => return None,
    })
}

#[tokio::test]
async fn each_deviation_is_flagged_by_the_checks_that_name_it_and_no_other() {
    let mut wrong = Vec::new();
    for d in Deviation::ALL
        .into_iter()
        .filter(|d| draft_01_flags(*d).is_none())
    {
        let results = run(
            ClientUnderTest::Reference {
                deviations: BTreeSet::from([d]),
            },
            &[],
        )
        .await;
        // A skip is no finding: a deviation may leave a check nothing to
        // judge (it says why), which another check's failure explains.
        let mut flagged = not_passed(&results);
        flagged.retain(|_, (v, _)| *v != Verdict::Skip);
        let got: BTreeSet<&str> = flagged.keys().copied().collect();
        let want: BTreeSet<&str> = expected_flags(d).iter().copied().collect();
        if got != want {
            wrong.push(format!("{}: flagged {got:?}, expected {want:?}", d.name()));
        }
        for (id, (verdict, detail)) in &flagged {
            assert!(
                matches!(verdict, Verdict::Fail | Verdict::Warn)
                    || (*verdict == Verdict::Blocked
                        && detail.starts_with("no credential was sent")),
                "{}: {id} is {verdict:?}, not a finding: {detail}",
                d.name()
            );
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Under -01 the reference client passes every check, the header.* ones
/// included; each deviation from what -01 adds is flagged by the checks
/// that name it and no other, and all of them together are inert under
/// -00 (no challenge there has a `header`).
#[tokio::test]
async fn draft_01_deviations_are_flagged_by_the_header_checks_and_inert_under_00() {
    let honest = run_under(
        CoreDraft::Draft01,
        ClientUnderTest::Reference {
            deviations: BTreeSet::new(),
        },
        &[],
    )
    .await;
    assert_eq!(
        honest.len(),
        mppconf_harness::client_suite::checks_for(CoreDraft::Draft01).len()
    );
    assert!(honest.iter().any(|r| r.id == "header.selected-field"));
    assert!(not_passed(&honest).is_empty(), "{:#?}", not_passed(&honest));
    let draft_01: BTreeSet<Deviation> = Deviation::ALL
        .into_iter()
        .filter(|d| draft_01_flags(*d).is_some())
        .collect();
    let mut wrong = Vec::new();
    for &d in &draft_01 {
        let results = run_under(
            CoreDraft::Draft01,
            ClientUnderTest::Reference {
                deviations: BTreeSet::from([d]),
            },
            &["header.", "refuse.header", "standard.paid"],
        )
        .await;
        let mut flagged = not_passed(&results);
        flagged.retain(|_, (v, _)| *v != Verdict::Skip);
        let got: BTreeSet<&str> = flagged.keys().copied().collect();
        let want: BTreeSet<&str> = draft_01_flags(d).unwrap().iter().copied().collect();
        if got != want {
            wrong.push(format!("{}: flagged {got:?}, expected {want:?}", d.name()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let under_00 = run(
        ClientUnderTest::Reference {
            deviations: draft_01,
        },
        &[],
    )
    .await;
    assert!(
        not_passed(&under_00).is_empty(),
        "{:#?}",
        not_passed(&under_00)
    );
}

/// A client program described by a manifest written here.
fn program(dir: &Path, name: &str, script: &str, extra: &str) -> ClientUnderTest {
    std::fs::write(dir.join(format!("{name}.py")), script).unwrap();
    let manifest = dir.join(format!("{name}.toml"));
    std::fs::write(
        &manifest,
        format!(
            "name = \"{name}\"\n[client]\ncommand = [\"python3\", \"{name}.py\"]\n{extra}\n[client.env]\nPAYER_KEY = \"{{payer_key}}\"\n"
        ),
    )
    .unwrap();
    ClientUnderTest::Program(Box::new(ClientTarget::load(&manifest).unwrap()))
}

/// Requires discovery: asks the origin for /openapi.json first and gives
/// up without one.
const DISCOVERY_FIRST: &str = r#"
import sys, urllib.parse, urllib.request, urllib.error
url = sys.argv[-1]
parts = urllib.parse.urlsplit(url)
try:
    urllib.request.urlopen(f"{parts.scheme}://{parts.netloc}/openapi.json")
except urllib.error.HTTPError as e:
    print(f"no discovery document ({e.code}): not paying")
    sys.exit(1)
"#;

/// "Clients MUST NOT require discovery to function": the reference client
/// pays from the 402 alone; a client that needs /openapi.json fails.
#[tokio::test]
async fn a_client_that_requires_discovery_fails_discovery_not_required() {
    let honest = run(
        ClientUnderTest::Reference {
            deviations: BTreeSet::new(),
        },
        &["discovery."],
    )
    .await;
    assert_eq!(honest.len(), 1);
    assert_eq!(honest[0].verdict, Verdict::Pass, "{}", honest[0].detail);
    let dir = tempfile::tempdir().unwrap();
    let needy = program(dir.path(), "needy", DISCOVERY_FIRST, "");
    let results = run(needy, &["discovery."]).await;
    assert_eq!(results[0].verdict, Verdict::Fail, "{}", results[0].detail);
    assert!(
        results[0].detail.contains("/openapi.json"),
        "{}",
        results[0].detail
    );
}

/// Pays whatever it is offered: echoes the first Payment challenge it
/// finds (by regular expression) with a junk payload.
const BLIND_PAYER: &str = r#"
import base64, json, re, sys, urllib.request, urllib.error
url = sys.argv[-1]
try:
    urllib.request.urlopen(url)
    sys.exit(0)
except urllib.error.HTTPError as e:
    fields = e.headers.get_all("WWW-Authenticate") or []
params = dict(re.findall(r'(\w+)="([^"]*)"', " ".join(fields)))
cred = {"challenge": params, "payload": {"type": "transaction", "signature": "0x76"}}
token = base64.urlsafe_b64encode(json.dumps(cred).encode()).decode().rstrip("=")
req = urllib.request.Request(url, headers={"Authorization": "Payment " + token})
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    print(e.code)
    sys.exit(1)
"#;

#[tokio::test]
async fn a_client_that_pays_blindly_fails_every_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let blind = program(dir.path(), "blind", BLIND_PAYER, "");
    let results = run(
        blind,
        &["refuse.", "transport.", "digest.", "standard.paid"],
    )
    .await;
    let flagged = not_passed(&results);
    for id in [
        "refuse.expired",
        "refuse.missing-id",
        "refuse.splits-reach-amount",
        "refuse.request-not-json",
        "refuse.no-usable-mode",
        "standard.paid",
    ] {
        assert_eq!(
            flagged.get(id).map(|f| f.0),
            Some(Verdict::Fail),
            "{id}: {flagged:#?}"
        );
    }
    // What the manifest cannot do is said, not passed.
    let (verdict, why) = &flagged["transport.no-plain-http"];
    assert_eq!(*verdict, Verdict::Info, "{why}");
    assert!(why.contains("strict_command"), "{why}");
    let (verdict, why) = &flagged["digest.same-body"];
    assert_eq!(*verdict, Verdict::Skip, "{why}");
    assert!(why.contains("{body}"), "{why}");
}

/// A client that never pays refuses everything: without the control (a
/// paid standard scenario) its refusals prove nothing, so they are
/// `blocked` with the reason, never `pass`.
#[tokio::test]
async fn refusals_are_blocked_when_the_client_pays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let never = program(
        dir.path(),
        "never-pays",
        "import sys\nprint('mppconf fixture: I never pay')\nsys.exit(1)\n",
        "",
    );
    let results = run(never, &["refuse.", "transport."]).await;
    assert!(!results.is_empty());
    for r in &results {
        assert_ne!(r.verdict, Verdict::Pass, "{}: {}", r.id, r.detail);
        // The policy scenarios need a policy this manifest does not
        // give: skip, saying so.
        if r.id.starts_with("refuse.") && r.verdict != Verdict::Skip {
            assert_eq!(r.verdict, Verdict::Blocked, "{}: {}", r.id, r.detail);
            assert!(r.detail.contains("did not pay the control"), "{}", r.detail);
        }
    }
}

/// Requests over TLS with an empty trust store: every certificate is
/// unknown to it.
const DISTRUSTING_CLIENT: &str = r#"
import ssl, sys, urllib.request
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
try:
    urllib.request.urlopen(sys.argv[-1], context=ctx)
except Exception as e:
    print(e)
    sys.exit(1)
"#;

/// A client that does not trust the run's certificate authority tells
/// nothing about TLS: `transport.tls` is `blocked`, naming the alert and
/// the fix, never `fail`.
#[tokio::test]
async fn a_client_that_distrusts_the_runs_authority_is_blocked_on_tls() {
    let dir = tempfile::tempdir().unwrap();
    let client = program(dir.path(), "distrusting", DISTRUSTING_CLIENT, "");
    let results = run(client, &["transport.tls"]).await;
    let r = results
        .iter()
        .find(|r| r.id == "transport.tls")
        .expect("transport.tls ran");
    assert_eq!(r.verdict, Verdict::Blocked, "{}", r.detail);
    assert!(r.detail.contains("UnknownCA"), "{}", r.detail);
    assert!(r.detail.contains("{ca_cert}"), "{}", r.detail);
}

#[tokio::test]
async fn clients_that_hang_crash_or_flood_are_errors_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            program(
                dir.path(),
                "hang",
                "import time\ntime.sleep(120)\n",
                "timeout_secs = 1",
            ),
            "did not finish within 1 s",
        ),
        (
            program(
                dir.path(),
                "crash",
                "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
                "",
            ),
            "crashed (signal 9)",
        ),
        (
            program(
                dir.path(),
                "flood",
                "import sys, urllib.request\nfor _ in range(40):\n    try: urllib.request.urlopen(sys.argv[-1])\n    except Exception: pass\n",
                "",
            ),
            "requests for one paid request",
        ),
    ];
    for (client, reason) in cases {
        let label = client.label();
        let started = std::time::Instant::now();
        let results = run(client, &["refuse.expired", "echo.id"]).await;
        assert!(started.elapsed().as_secs() < 20, "{label}: took too long");
        assert_eq!(results.len(), 2);
        for r in &results {
            assert_eq!(r.verdict, Verdict::Error, "{label}: {}: {}", r.id, r.detail);
            assert!(r.detail.contains(reason), "{label}: {}", r.detail);
        }
    }
}

/// `mppconf fuzz client`'s oracle: the honest reference client pays no
/// unpayable challenge; one that pays challenges without an id is caught
/// (and the header shrunk); a client that hangs is a finding, not a hang.
#[tokio::test]
async fn the_client_fuzzer_catches_what_the_oracle_forbids() {
    use mppconf_harness::client_suite::command::start;
    use mppconf_harness::client_suite::fuzz::{Violation, campaign};
    let started = start(CoreDraft::Draft00).await.unwrap();
    let env = &started.env;
    let honest = ClientUnderTest::Reference {
        deviations: BTreeSet::new(),
    };
    let c = campaign(env, &honest, None, 3, 200, None, |_, _| {})
        .await
        .unwrap();
    assert_eq!(c.rounds, 200);
    assert!(
        c.unpayable_rounds > 50,
        "the mutations must break challenges"
    );
    assert!(c.findings.is_empty(), "{:#?}", c.findings);
    let lax = ClientUnderTest::Reference {
        deviations: BTreeSet::from([Deviation::AcceptMissingId]),
    };
    let c = campaign(env, &lax, None, 3, 300, None, |_, _| {})
        .await
        .unwrap();
    let f = c
        .findings
        .iter()
        .find(|f| f.violation == Violation::PaidUnpayable)
        .expect("paying a challenge without an id is caught");
    assert!(f.header.len() <= f.original.len());
    assert!(!f.header.contains(" id="), "{}", f.header);
    // The same seed finds the same thing, in the same round (the base
    // challenge's expires moves with the clock; the mutations do not).
    let again = campaign(env, &lax, None, 3, 300, None, |_, _| {})
        .await
        .unwrap();
    assert_eq!(again.findings[0].round, c.findings[0].round);
    assert_eq!(again.findings[0].violation, c.findings[0].violation);
    let dir = tempfile::tempdir().unwrap();
    let hang = program(
        dir.path(),
        "hang",
        "import time\ntime.sleep(120)\n",
        "timeout_secs = 1",
    );
    let c = campaign(env, &hang, None, 1, 2, None, |_, _| {})
        .await
        .unwrap();
    assert_eq!(c.findings.len(), 1);
    assert_eq!(c.findings[0].violation, Violation::Hung);
}
