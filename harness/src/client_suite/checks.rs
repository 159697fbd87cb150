//! The client checks: the scenarios (what the scripted server offers) and
//! the checks that judge them (what a conformant client sends and does on
//! chain, with the requirement each cites). A scenario runs once; several
//! checks judge its record.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use mppconf_suite::codec::{Challenge, Credential, accept_payment, base64url, rfc3339};
use mppconf_suite::methods::tempo_charge;
use mppconf_suite::methods::tempo_effects::{self, ChargeRequest};
use mppconf_suite::vectors::Verdict;
use serde_json::{Value, json};

use super::{Built, Env, Record, header};
use crate::probe::Outcome;
use crate::reference::tx::{self, DecodedPayment};

/// A scenario: a name and how to build it.
pub struct ScenarioDef {
    pub name: &'static str,
    /// What the client must claim (or do) for the scenario to apply.
    pub needs: Need,
    pub build: fn(&Env) -> Built,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Nothing,
    /// The client can send a request body (digest binding).
    Body,
    /// The client can run without its plain-http allowance.
    StrictMode,
    FeeSponsorship,
    Push,
    ZeroAmountProof,
}

/// One check.
pub struct Check {
    /// Stable id, named after what it checks.
    pub id: &'static str,
    pub requirements: &'static [&'static str],
    /// All cited requirements are SHOULD-level (or the reading is an
    /// ambiguity): a failure is `warn`.
    pub should: bool,
    pub scenario: &'static str,
    judge: Judge,
}

#[derive(Clone, Copy)]
enum Judge {
    /// The client paid the payable challenge and the server accepted.
    Paid,
    /// The client answered the payable challenge (and no other): what a
    /// parsing check judges; whether the payment is right is for `Paid`.
    Answered,
    Echo(EchoField),
    OneAuthorization,
    SourceDidPkh,
    Tx(TxAspect),
    /// In a feePayer challenge: signed for sponsorship, never pushed.
    Sponsored,
    NoPushWithFeePayer,
    /// supportedModes ["pull"]: never a hash.
    PullOnly,
    /// supportedModes ["push"]: never a transaction credential.
    PushOnly,
    ZeroAmountProof,
    SameBody,
    AcceptPaymentWellFormed,
    /// No credential sent, nothing broadcast, nothing spent.
    Refused,
    NoCredentialElsewhere,
    NoCredentialOverHttp,
}

#[derive(Clone, Copy)]
enum EchoField {
    Id,
    RealmMethodIntent,
    Request,
    Expires,
    Opaque,
    Digest,
}

#[derive(Clone, Copy)]
enum TxAspect {
    Token,
    Primary,
    Memo,
    Splits,
    ChainId,
    ValidBefore,
    FeeToken,
}

/// Every scenario, in run order.
pub const SCENARIOS: &[ScenarioDef] = &[
    ScenarioDef {
        name: "standard",
        needs: Need::Nothing,
        build: |env| {
            let c = env.challenge("/std");
            Built::paying("/std", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "digest",
        needs: Need::Body,
        build: |env| {
            let c = env.challenge("/digest");
            let mut b = Built::paying("/digest", vec![header(&c)], c);
            b.body = Some(super::DIGEST_BODY.as_bytes());
            b
        },
    },
    ScenarioDef {
        name: "sponsored",
        needs: Need::FeeSponsorship,
        build: |env| {
            let c = env.challenge("/sponsored");
            Built::paying("/sponsored", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "pull-only",
        needs: Need::Nothing,
        build: |env| {
            let c = env.challenge("/pull-only");
            Built::paying("/pull-only", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "push-only",
        needs: Need::Push,
        build: |env| {
            let c = env.challenge("/push-only");
            Built::paying("/push-only", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "zero-amount",
        needs: Need::ZeroAmountProof,
        build: |env| {
            let c = env.challenge("/free");
            Built::paying("/free", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "expired",
        needs: Need::Nothing,
        build: |env| {
            let mut c = env.challenge("/plain");
            c.expires = Some(super::rfc3339_in(-60));
            env.bind(&mut c);
            Built::refusing(vec![header(&c)])
        },
    },
    ScenarioDef {
        name: "missing-id",
        needs: Need::Nothing,
        build: |env| {
            let c = env.challenge("/plain");
            let h = header(&c).replace(&format!("id=\"{}\", ", c.id), "");
            Built::refusing(vec![h])
        },
    },
    ScenarioDef {
        name: "empty-id",
        needs: Need::Nothing,
        build: |env| {
            let c = env.challenge("/plain");
            let h = header(&c).replace(&format!("id=\"{}\"", c.id), "id=\"\"");
            Built::refusing(vec![h])
        },
    },
    ScenarioDef {
        name: "unknown-intent",
        needs: Need::Nothing,
        build: |env| {
            let mut c = env.challenge("/plain");
            c.intent = "mppconf-unknown".into();
            env.bind(&mut c);
            Built::refusing(vec![header(&c)])
        },
    },
    ScenarioDef {
        name: "unknown-method",
        needs: Need::Nothing,
        build: |env| {
            let mut c = env.challenge("/plain");
            c.method = "mppconfunknown".into();
            env.bind(&mut c);
            Built::refusing(vec![header(&c)])
        },
    },
    ScenarioDef {
        name: "splits-reach-amount",
        needs: Need::Nothing,
        build: |env| {
            let mut r = env.plain_request();
            r["methodDetails"]["splits"] = json!([
                {"amount": "600", "recipient": Address::random().to_string()},
                {"amount": "400", "recipient": Address::random().to_string()},
            ]);
            Built::refusing(vec![header(&env.challenge_with_request(r))])
        },
    },
    ScenarioDef {
        name: "request-not-json",
        needs: Need::Nothing,
        build: |env| {
            let mut c = env.challenge("/plain");
            c.request.wire = base64url::encode(b"{\"amount\":\"1000\",");
            env.bind(&mut c);
            let h = header(&c);
            Built::refusing(vec![h])
        },
    },
    ScenarioDef {
        name: "no-usable-mode",
        needs: Need::Nothing,
        build: |env| {
            let mut r = env.plain_request();
            r["methodDetails"]["supportedModes"] = json!(["mppconf-unknown-mode"]);
            Built::refusing(vec![header(&env.challenge_with_request(r))])
        },
    },
    ScenarioDef {
        name: "several-in-one-header",
        needs: Need::Nothing,
        build: |env| {
            let mut other = env.challenge("/plain");
            other.method = "mppconfunknown".into();
            env.bind(&mut other);
            let c = env.challenge("/plain");
            let field = format!(
                "Basic realm=\"legacy\", {}, {}, Bearer realm=\"api\", error=\"invalid_token\"",
                header(&other),
                header(&c)
            );
            Built::paying("/plain", vec![field], c)
        },
    },
    ScenarioDef {
        name: "across-headers",
        needs: Need::Nothing,
        build: |env| {
            let mut other = env.challenge("/plain");
            other.intent = "mppconf-unknown".into();
            env.bind(&mut other);
            let c = env.challenge("/plain");
            Built::paying(
                "/plain",
                vec!["Bearer realm=\"api\"".into(), header(&other), header(&c)],
                c,
            )
        },
    },
    ScenarioDef {
        name: "quoted-description",
        needs: Need::Nothing,
        build: |env| {
            let mut c = env.challenge("/plain");
            c.description =
                Some("Pay once, then \"Payment id=forged, amount=1\" applies, payment".into());
            Built::paying("/plain", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "unknown-params",
        needs: Need::Nothing,
        build: |env| {
            let mut c = env.challenge("/plain");
            c.unknown_params = vec![
                ("x-mppconf-ext".into(), "\"quoted, value\"".into()),
                ("future".into(), "token".into()),
            ];
            let h = format!(
                "{}, x-mppconf-ext=\"quoted, value\", future=token",
                header(&Challenge {
                    unknown_params: Vec::new(),
                    ..c.clone()
                })
            );
            Built::paying("/plain", vec![h], c)
        },
    },
    ScenarioDef {
        name: "large-challenge",
        needs: Need::Nothing,
        build: |env| {
            let mut c = env.challenge("/plain");
            c.description = Some("A long description. ".repeat(200));
            Built::paying("/plain", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "non-ascii-description",
        needs: Need::Nothing,
        build: |env| {
            let mut c = env.challenge("/plain");
            c.description = Some("Café ☕ – Bericht für März".into());
            Built::paying("/plain", vec![header(&c)], c)
        },
    },
    ScenarioDef {
        name: "redirect",
        needs: Need::Nothing,
        build: |env| {
            let c = env.challenge("/plain");
            let mut b = Built::paying("/plain", vec![header(&c)], c);
            b.script.on_credential = super::scenario::OnCredential::RedirectElsewhere;
            b
        },
    },
    ScenarioDef {
        name: "plain-http",
        needs: Need::StrictMode,
        build: |env| {
            let c = env.challenge("/plain");
            let mut b = Built::refusing(vec![header(&c)]);
            b.strict = true;
            b
        },
    },
];

const ECHO: &[&str] = &["core.credential.challenge-echo"];
const REFUSE_REQUEST: &[&str] = &[
    "tempo-charge.security.client-verifies-request",
    "core.accept-payment.client-validates",
];

/// Every check, in report order.
pub const ALL: &[Check] = &[
    c(
        "standard.paid",
        &[
            "core.credential.fields",
            "tempo-charge.transaction.transfer-call",
        ],
        "standard",
        Judge::Paid,
    ),
    c(
        "echo.id",
        &["core.challenge.id-echoed-unchanged"],
        "standard",
        Judge::Echo(EchoField::Id),
    ),
    c(
        "echo.realm-method-intent",
        ECHO,
        "standard",
        Judge::Echo(EchoField::RealmMethodIntent),
    ),
    c(
        "echo.request",
        ECHO,
        "standard",
        Judge::Echo(EchoField::Request),
    ),
    c(
        "echo.expires",
        ECHO,
        "standard",
        Judge::Echo(EchoField::Expires),
    ),
    c(
        "echo.opaque",
        &["core.challenge.opaque-echoed-unchanged"],
        "standard",
        Judge::Echo(EchoField::Opaque),
    ),
    c(
        "authorization.one-header",
        &["core.multiple.one-authorization"],
        "standard",
        Judge::OneAuthorization,
    ),
    should(
        "credential.source-did-pkh",
        &["tempo-charge.credential.source-did-pkh"],
        "standard",
        Judge::SourceDidPkh,
    ),
    c(
        "tx.token",
        &[
            "tempo-charge.transaction.transfer-call",
            "charge.currency.client-verifies",
        ],
        "standard",
        Judge::Tx(TxAspect::Token),
    ),
    c(
        "tx.recipient-amount",
        &[
            "tempo-charge.transaction.transfer-call",
            "tempo-charge.splits.client-effects",
        ],
        "standard",
        Judge::Tx(TxAspect::Primary),
    ),
    c(
        "tx.memo",
        &["tempo-charge.request.memo-transfer-with-memo"],
        "standard",
        Judge::Tx(TxAspect::Memo),
    ),
    c(
        "tx.splits",
        &["tempo-charge.splits.client-effects"],
        "standard",
        Judge::Tx(TxAspect::Splits),
    ),
    c(
        "tx.chain-id",
        &["tempo-charge.transaction.transfer-call"],
        "standard",
        Judge::Tx(TxAspect::ChainId),
    ),
    c(
        "tx.valid-before",
        &["tempo-charge.transaction.valid-before-expires"],
        "standard",
        Judge::Tx(TxAspect::ValidBefore),
    ),
    c(
        "tx.fee-token",
        &["tempo-charge.fees.client-paid-usd-token"],
        "standard",
        Judge::Tx(TxAspect::FeeToken),
    ),
    c(
        "accept-payment.well-formed",
        &["core.accept-payment.client-may-send"],
        "standard",
        Judge::AcceptPaymentWellFormed,
    ),
    c(
        "echo.digest",
        ECHO,
        "digest",
        Judge::Echo(EchoField::Digest),
    ),
    c(
        "digest.same-body",
        &["core.challenge.digest-body-match"],
        "digest",
        Judge::SameBody,
    ),
    c(
        "sponsored.fee-fields",
        &[
            "tempo-charge.fees.client-sponsored-placeholder",
            "tempo-charge.fees.sponsored-client-signs",
        ],
        "sponsored",
        Judge::Sponsored,
    ),
    c(
        "sponsored.no-push",
        &["tempo-charge.hash.no-hash-with-fee-payer-client"],
        "sponsored",
        Judge::NoPushWithFeePayer,
    ),
    c(
        "modes.pull-only",
        &[
            "tempo-charge.hash.no-hash-without-push-client",
            "tempo-charge.modes.client-uses-advertised",
        ],
        "pull-only",
        Judge::PullOnly,
    ),
    c(
        "modes.push-only",
        &["tempo-charge.modes.client-uses-advertised"],
        "push-only",
        Judge::PushOnly,
    ),
    c(
        "proof.zero-amount",
        &[
            "tempo-charge.proof.zero-amount-only",
            "tempo-charge.proof.eip712-domain",
            "tempo-charge.proof.source-required",
            "tempo-charge.modes.zero-amount-proof",
        ],
        "zero-amount",
        Judge::ZeroAmountProof,
    ),
    c(
        "refuse.expired",
        &["core.challenge.expired-not-paid"],
        "expired",
        Judge::Refused,
    ),
    c(
        "refuse.missing-id",
        &["core.challenge.id-missing-rejected"],
        "missing-id",
        Judge::Refused,
    ),
    c(
        "refuse.empty-id",
        &["core.challenge.id-missing-rejected"],
        "empty-id",
        Judge::Refused,
    ),
    should(
        "refuse.unknown-intent",
        &["core.intent.unrecognized-unsupported"],
        "unknown-intent",
        Judge::Refused,
    ),
    should(
        "refuse.unknown-method",
        &["core.multiple.client-select"],
        "unknown-method",
        Judge::Refused,
    ),
    c(
        "refuse.splits-reach-amount",
        &["tempo-charge.splits.sum-below-amount-client"],
        "splits-reach-amount",
        Judge::Refused,
    ),
    c(
        "refuse.request-not-json",
        REFUSE_REQUEST,
        "request-not-json",
        Judge::Refused,
    ),
    c(
        "refuse.no-usable-mode",
        &["tempo-charge.modes.client-uses-advertised"],
        "no-usable-mode",
        Judge::Refused,
    ),
    c(
        "parse.several-in-one-header",
        &[
            "core.challenge.auth-param-syntax",
            "core.multiple.client-select",
        ],
        "several-in-one-header",
        Judge::Answered,
    ),
    c(
        "parse.across-headers",
        &[
            "core.challenge.auth-param-syntax",
            "core.multiple.client-select",
        ],
        "across-headers",
        Judge::Answered,
    ),
    c(
        "parse.quoted-description",
        &[
            "core.challenge.auth-param-syntax",
            "core.amount.no-description-reliance",
        ],
        "quoted-description",
        Judge::Answered,
    ),
    c(
        "parse.unknown-params",
        &["core.challenge.unknown-params-ignored"],
        "unknown-params",
        Judge::Answered,
    ),
    c(
        "parse.4kb-challenge",
        &["core.size.client-4kb-challenge"],
        "large-challenge",
        Judge::Answered,
    ),
    should(
        "parse.non-ascii-description",
        &["core.challenge.auth-param-syntax"],
        "non-ascii-description",
        Judge::Answered,
    ),
    should(
        "transport.redirect-keeps-credential",
        &["core.credential-handling.sensitive-headers"],
        "redirect",
        Judge::NoCredentialElsewhere,
    ),
    c(
        "transport.no-plain-http",
        &["core.transport.client-no-plain-http"],
        "plain-http",
        Judge::NoCredentialOverHttp,
    ),
];

const fn c(
    id: &'static str,
    requirements: &'static [&'static str],
    scenario: &'static str,
    judge: Judge,
) -> Check {
    Check {
        id,
        requirements,
        should: false,
        scenario,
        judge,
    }
}

const fn should(
    id: &'static str,
    requirements: &'static [&'static str],
    scenario: &'static str,
    judge: Judge,
) -> Check {
    Check {
        id,
        requirements,
        should: true,
        scenario,
        judge,
    }
}

fn fail(expected: impl std::fmt::Display, actual: impl std::fmt::Display) -> Outcome {
    Outcome::fail(expected, actual)
}

fn blocked(detail: impl Into<String>) -> Outcome {
    Outcome {
        verdict: Verdict::Blocked,
        detail: detail.into(),
    }
}

/// Judges one check on its scenario's record.
pub fn judge(check: &Check, r: &Record) -> Outcome {
    if let Some(why) = &r.run.failure {
        return Outcome::error(format!("{why} (client: {})", r.run.ended));
    }
    match run_judge(check, r) {
        Ok(o) | Err(o) => o,
    }
}

fn run_judge(check: &Check, r: &Record) -> Result<Outcome, Outcome> {
    // What a check blocked by a missing or broken credential points to.
    let paid_check = if r.scenario == "standard" {
        "see standard.paid".to_string()
    } else {
        format!(
            "in scenario {} (client: {}{})",
            r.scenario,
            r.run.ended,
            r.run
                .output
                .lines()
                .last()
                .map(|l| format!(": {}", l.chars().take(200).collect::<String>()))
                .unwrap_or_default()
        )
    };
    Ok(match check.judge {
        Judge::Paid => paid(r)?,
        Judge::Answered => {
            let payable = r.payable.as_ref().expect("parsing scenarios are payable");
            let sent = credentials_sent(r);
            let Some(raw) = sent.first() else {
                return Ok(fail(
                    format!("a credential for challenge {}", payable.id),
                    format!("none sent (client: {})", r.run.ended),
                ));
            };
            match Credential::parse(raw) {
                Err(e) => fail("a well-formed credential (core.credential.syntax)", e),
                // Which challenge it answers: by id, or by the random
                // nonce in `opaque` (an echo defect is the echo checks').
                Ok(c)
                    if c.challenge.id != payable.id
                        && c.challenge.opaque.as_ref().map(|o| &o.wire)
                            != payable.opaque.as_ref().map(|o| &o.wire) =>
                {
                    fail(
                        format!("a credential answering challenge {}", payable.id),
                        format!("it answers {:?}", c.challenge.id),
                    )
                }
                Ok(_) => Outcome::pass(format!("answered challenge {}", payable.id)),
            }
        }
        Judge::Echo(field) => echo(r, field, &paid_check)?,
        Judge::OneAuthorization => {
            let credentialed: Vec<&super::Seen> = r
                .seen
                .iter()
                .filter(|s| !s.payment_credentials().is_empty())
                .collect();
            let Some(first) = credentialed.first() else {
                return Err(blocked(format!("no credential was sent, {paid_check}")));
            };
            let n = first.header_values("authorization").len();
            if n == 1 {
                Outcome::pass("one Authorization header")
            } else {
                fail(
                    "exactly one Authorization: Payment header",
                    format!("{n} Authorization headers in one request"),
                )
            }
        }
        Judge::SourceDidPkh => {
            let (credential, request) = credential(r, &paid_check)?;
            let wanted_chain = request.chain_id;
            match credential.source.as_deref() {
                None => fail("source = did:pkh:eip155:<chainId>:<address>", "no source"),
                Some(s) => match tempo_charge::parse_did_pkh(s) {
                    Some((chain, address))
                        if chain == wanted_chain
                            && address.parse::<Address>().ok() == Some(r.payer) =>
                    {
                        Outcome::pass(format!("source {s}"))
                    }
                    _ => fail(
                        format!("did:pkh:eip155:{wanted_chain}:{}", r.payer),
                        format!("source {s:?}"),
                    ),
                },
            }
        }
        Judge::Tx(aspect) => tx_aspect(r, aspect, &paid_check)?,
        Judge::Sponsored => {
            let (credential, _) = credential(r, &paid_check)?;
            if payload_type(&credential) != Some("transaction") {
                return Ok(fail(
                    "a transaction credential signed for sponsorship",
                    format!("payload type {:?}", payload_type(&credential)),
                ));
            }
            let (payment, _) = transaction(r, &credential)?;
            let fee_token = payment.tx().fee_token;
            if !payment.awaits_fee_payer {
                fail(
                    "fee_payer_signature = 0x00 (placeholder) for feePayer: true",
                    "no fee-payer placeholder: the client signed to pay its own fees",
                )
            } else if fee_token.is_some_and(|t| t != Address::ZERO) {
                fail(
                    "fee_token empty (or 0x80) for feePayer: true",
                    format!("fee_token {fee_token:?}"),
                )
            } else {
                Outcome::pass("placeholder fee-payer signature, no fee token")
            }
        }
        Judge::NoPushWithFeePayer => {
            let (credential, _) = credential(r, &paid_check)?;
            match payload_type(&credential) {
                Some("hash") => fail(
                    "no type=\"hash\" when feePayer is true",
                    "a hash credential (the client broadcast itself)",
                ),
                t => Outcome::pass(format!("payload type {t:?}")),
            }
        }
        Judge::PullOnly => match credentials_sent(r).first() {
            None => Outcome::pass("no credential (the client did not pay pull-only)"),
            Some(raw) => match Credential::parse(raw) {
                Ok(c) if payload_type(&c) == Some("hash") => fail(
                    "no type=\"hash\" when supportedModes excludes push",
                    "a hash credential",
                ),
                Ok(c) => Outcome::pass(format!("payload type {:?}", payload_type(&c))),
                Err(e) => fail("a well-formed credential", format!("{e}")),
            },
        },
        Judge::PushOnly => {
            let hashes = broadcasts(r);
            match credentials_sent(r).first() {
                None => Outcome::pass(format!(
                    "no credential ({} transaction(s) broadcast; client: {})",
                    hashes.len(),
                    r.run.ended
                )),
                Some(raw) => match Credential::parse(raw) {
                    Ok(c) if payload_type(&c) == Some("hash") => {
                        Outcome::pass("a hash credential (push mode, as advertised)")
                    }
                    Ok(c) => fail(
                        "type=\"hash\" (supportedModes is [\"push\"])",
                        format!("payload type {:?}", payload_type(&c)),
                    ),
                    Err(e) => fail("a well-formed credential", format!("{e}")),
                },
            }
        }
        Judge::ZeroAmountProof => zero_amount(r, &paid_check)?,
        Judge::SameBody => {
            let Some(credentialed) = r.seen.iter().find(|s| !s.payment_credentials().is_empty())
            else {
                return Err(blocked(format!("no credential was sent, {paid_check}")));
            };
            let want = r.body.unwrap_or_default();
            if credentialed.body == want {
                Outcome::pass(format!("the same {}-byte body", want.len()))
            } else {
                fail(
                    format!("the {}-byte body the digest binds", want.len()),
                    format!(
                        "a {}-byte body: {:?}",
                        credentialed.body.len(),
                        String::from_utf8_lossy(&credentialed.body)
                    ),
                )
            }
        }
        Judge::AcceptPaymentWellFormed => {
            let values: Vec<String> = r
                .seen
                .iter()
                .flat_map(|s| s.header_values("accept-payment"))
                .collect();
            if values.is_empty() {
                Outcome::skip("the client sends no Accept-Payment (it MAY)")
            } else {
                let bad: Vec<String> = values
                    .iter()
                    .filter_map(|v| {
                        accept_payment::AcceptPayment::parse(v)
                            .err()
                            .map(|e| format!("{v:?}: {e}"))
                    })
                    .collect();
                if bad.is_empty() {
                    Outcome::pass(format!("Accept-Payment {:?}", values[0]))
                } else {
                    fail("a well-formed Accept-Payment", bad.join("; "))
                }
            }
        }
        Judge::Refused => refused(r),
        Judge::NoCredentialElsewhere => {
            let leaked: Vec<&super::Seen> = r
                .seen
                .iter()
                .filter(|s| s.origin == "other" && !s.header_values("authorization").is_empty())
                .collect();
            let followed = r.seen.iter().any(|s| s.origin == "other");
            if !leaked.is_empty() {
                fail(
                    "no Authorization sent to another origin after a redirect",
                    format!(
                        "the credential followed the 307 to {} (Credential Storage: \"MUST treat Authorization: Payment headers ... as sensitive data\"; the drafts say nothing of redirects: warn)",
                        leaked[0].path
                    ),
                )
            } else if followed {
                Outcome::pass("followed the redirect without the credential")
            } else {
                Outcome::pass("did not follow the redirect")
            }
        }
        Judge::NoCredentialOverHttp => {
            let sent = credentials_sent(r);
            if sent.is_empty() && broadcasts(r).is_empty() {
                Outcome::pass("no credential over http without the allowance")
            } else {
                fail(
                    "no Payment credential over plain http",
                    format!("{} credential(s) sent to {}", sent.len(), r.url),
                )
            }
        }
    })
}

fn payload_type(c: &Credential) -> Option<&str> {
    c.payload.get("type").and_then(Value::as_str)
}

fn credentials_sent(r: &Record) -> Vec<String> {
    r.seen
        .iter()
        .flat_map(|s| s.payment_credentials())
        .collect()
}

/// Raw transactions the client broadcast itself (through the proxy).
fn broadcasts(r: &Record) -> Vec<Vec<u8>> {
    r.rpc
        .iter()
        .filter(|c| c.method.starts_with("eth_sendRawTransaction"))
        .filter_map(|c| c.params.get(0)?.as_str()?.parse::<Bytes>().ok())
        .map(|b| b.to_vec())
        .collect()
}

/// The first credential sent, parsed, with the request of the payable
/// challenge; `Err` blocks the check (the `.paid` check says why).
fn credential(r: &Record, paid_check: &str) -> Result<(Credential, ChargeRequest), Outcome> {
    let Some(payable) = &r.payable else {
        return Err(Outcome::error("the scenario has no payable challenge"));
    };
    let request = ChargeRequest::from_json(&payable.request.value)
        .map_err(|e| Outcome::error(format!("the scenario's own request: {e}")))?;
    let Some(raw) = credentials_sent(r).into_iter().next() else {
        return Err(blocked(format!("no credential was sent, {paid_check}")));
    };
    let credential = Credential::parse(&raw)
        .map_err(|e| blocked(format!("the credential does not parse ({e}), {paid_check}")))?;
    Ok((credential, request))
}

fn paid(r: &Record) -> Result<Outcome, Outcome> {
    let Some(payable) = &r.payable else {
        return Err(Outcome::error("the scenario has no payable challenge"));
    };
    let sent = credentials_sent(r);
    let Some(raw) = sent.first() else {
        return Ok(fail(
            format!("a credential for challenge {}", payable.id),
            format!("none sent (client: {})", r.run.ended),
        ));
    };
    let credential = match Credential::parse(raw) {
        Ok(c) => c,
        Err(e) => {
            return Ok(fail(
                "a well-formed credential (core.credential.syntax)",
                format!("{e}"),
            ));
        }
    };
    if credential.challenge.id != payable.id {
        return Ok(fail(
            format!("the credential answers challenge {}", payable.id),
            format!("it answers {:?}", credential.challenge.id),
        ));
    }
    let answered = r
        .seen
        .iter()
        .find(|s| !s.payment_credentials().is_empty())
        .map(|s| s.status)
        .unwrap_or_default();
    if (200..300).contains(&answered) {
        Ok(Outcome::pass(format!(
            "paid challenge {}; the server answered {answered}",
            payable.id
        )))
    } else {
        Ok(fail(
            "a credential the server accepts (2xx)",
            format!(
                "the reference server answered {answered} (client: {})",
                r.run.ended
            ),
        ))
    }
}

fn echo(r: &Record, field: EchoField, paid_check: &str) -> Result<Outcome, Outcome> {
    let (credential, _) = credential(r, paid_check)?;
    let payable = r.payable.as_ref().expect("credential() checked");
    let e = &credential.challenge;
    let compare = |name: &str, want: Option<&str>, got: Option<&str>| {
        if want == got {
            Outcome::pass(format!("{name} echoed byte for byte"))
        } else {
            fail(
                format!("{name} = {want:?} (as issued)"),
                format!("{name} = {got:?}"),
            )
        }
    };
    Ok(match field {
        EchoField::Id => compare("id", Some(&payable.id), Some(&e.id)),
        EchoField::RealmMethodIntent => {
            for (name, want, got) in [
                ("realm", &payable.realm, &e.realm),
                ("method", &payable.method, &e.method),
                ("intent", &payable.intent, &e.intent),
            ] {
                if want != got {
                    return Ok(compare(name, Some(want), Some(got)));
                }
            }
            Outcome::pass("realm, method and intent echoed")
        }
        EchoField::Request => compare(
            "request",
            Some(&payable.request.wire),
            Some(&e.request.wire),
        ),
        EchoField::Expires => compare("expires", payable.expires.as_deref(), e.expires.as_deref()),
        EchoField::Opaque => compare(
            "opaque",
            payable.opaque.as_ref().map(|o| o.wire.as_str()),
            e.opaque.as_ref().map(|o| o.wire.as_str()),
        ),
        EchoField::Digest => compare("digest", payable.digest.as_deref(), e.digest.as_deref()),
    })
}

/// The payment transaction: from the credential (pull) or from what the
/// client broadcast (push, matched by hash).
fn transaction(r: &Record, c: &Credential) -> Result<(DecodedPayment, &'static str), Outcome> {
    match payload_type(c) {
        Some("transaction") => {
            let raw: Bytes = c
                .payload
                .get("signature")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| fail("payload.signature as 0x-hex", "not hex"))?;
            if raw.first() == Some(&0x78) {
                return Err(fail(
                    "a 0x76 Tempo Transaction (with the 0x00 fee-payer placeholder when sponsored)",
                    "a 0x78-prefixed fee-payer envelope, a wire form draft-tempo-charge-00 does not describe",
                ));
            }
            let p = tx::decode_payment(&raw).map_err(|e| fail("a Tempo Transaction", e))?;
            Ok((p, "the credential's transaction"))
        }
        Some("hash") => {
            let hash: Option<B256> = c
                .payload
                .get("hash")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok());
            let raw = broadcasts(r)
                .into_iter()
                .find(|raw| Some(keccak256(raw)) == hash)
                .ok_or_else(|| {
                    fail(
                        "the hash of a transaction the client broadcast",
                        format!("{hash:?}, which it did not broadcast through the given RPC"),
                    )
                })?;
            let p = tx::decode_payment(&raw).map_err(|e| fail("a Tempo Transaction", e))?;
            Ok((p, "the broadcast transaction"))
        }
        Some("proof") => Err(fail(
            "a payment (type transaction or hash) for a non-zero amount",
            "type=\"proof\" (tempo-charge.proof.zero-amount-only: MUST NOT for non-zero)",
        )),
        other => Err(fail(
            "payload type transaction or hash",
            format!("{other:?}"),
        )),
    }
}

fn tx_aspect(r: &Record, aspect: TxAspect, paid_check: &str) -> Result<Outcome, Outcome> {
    let (credential, request) = credential(r, paid_check)?;
    let (payment, from) = transaction(r, &credential)?;
    let t = payment.tx();
    let required = request.required_transfers();
    let effects = payment.effects(request.currency);
    Ok(match aspect {
        TxAspect::Token => {
            let other: Vec<String> = t
                .calls
                .iter()
                .filter_map(|call| {
                    let to = *call.to.to()?;
                    tempo_effects::decode_transfer_call(&call.input)
                        .filter(|_| to != request.currency)
                        .map(|e| format!("{} to {} on token {to}", e.amount, e.to))
                })
                .collect();
            if !other.is_empty() {
                fail(
                    format!("transfers on {} only", request.currency),
                    format!("{from} transfers on another token: {}", other.join(", ")),
                )
            } else if effects.is_empty() {
                fail(
                    format!("a transfer on {}", request.currency),
                    format!("{from} has no transfer call on it"),
                )
            } else {
                Outcome::pass(format!("transfers on {}", request.currency))
            }
        }
        TxAspect::Primary => {
            let mut primary = required[0].clone();
            primary.memo = None;
            verified(&[primary], &effects, from)
        }
        TxAspect::Memo => match request.memo {
            None => Outcome::skip("the challenge asks for no memo"),
            Some(memo) => {
                let primary = &required[0];
                if effects
                    .iter()
                    .any(|e| e.to == primary.to && e.memo == Some(memo))
                {
                    Outcome::pass(format!(
                        "transferWithMemo to {} with memo {memo}",
                        primary.to
                    ))
                } else {
                    fail(
                        format!("transferWithMemo to {} with memo {memo}", primary.to),
                        format!("{from}: no transfer to it carries the memo"),
                    )
                }
            }
        },
        TxAspect::Splits => {
            if required.len() < 2 {
                Outcome::skip("the challenge has no splits")
            } else {
                verified(&required[1..], &effects, from)
            }
        }
        TxAspect::ChainId => {
            if t.chain_id == request.chain_id {
                Outcome::pass(format!("chain id {}", t.chain_id))
            } else {
                fail(
                    format!("chain id {} (the challenge's)", request.chain_id),
                    format!("{from} is for chain {}", t.chain_id),
                )
            }
        }
        TxAspect::ValidBefore => {
            let payable = r.payable.as_ref().expect("credential() checked");
            let expires = payable
                .expires
                .as_deref()
                .and_then(|e| rfc3339::parse("expires", e).ok())
                .map(|t| t.timestamp() as u64);
            match (t.valid_before.map(|v| v.get()), expires) {
                (Some(vb), Some(exp)) if vb <= exp => {
                    Outcome::pass(format!("validBefore {vb} <= expires {exp}"))
                }
                (vb, exp) => fail(
                    format!("validBefore no later than expires ({exp:?})"),
                    format!("validBefore {vb:?}"),
                ),
            }
        }
        TxAspect::FeeToken => {
            if request.fee_payer {
                Outcome::skip("the challenge sponsors fees")
            } else {
                match t.fee_token {
                    Some(token) if token != Address::ZERO => {
                        Outcome::pass(format!("fee_token {token}"))
                    }
                    other => fail(
                        "fee_token set to a USD TIP-20 token (feePayer absent)",
                        format!("fee_token {other:?}"),
                    ),
                }
            }
        }
    })
}

fn verified(
    required: &[tempo_effects::RequiredTransfer],
    effects: &[tempo_effects::TransferEffect],
    from: &str,
) -> Outcome {
    match tempo_effects::verify(required, effects, "tempo-charge.splits.client-effects") {
        Ok(()) => Outcome::pass(format!(
            "{from} makes the required transfer(s): {}",
            required
                .iter()
                .map(|t| format!("{} to {}", t.amount, t.to))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(e) => fail("the transfers the request requires", format!("{from}: {e}")),
    }
}

fn zero_amount(r: &Record, paid_check: &str) -> Result<Outcome, Outcome> {
    let (credential, request) = credential(r, paid_check)?;
    if payload_type(&credential) != Some("proof") {
        return Ok(fail(
            "type=\"proof\" for amount \"0\"",
            format!("payload type {:?}", payload_type(&credential)),
        ));
    }
    if !broadcasts(r).is_empty() {
        return Ok(fail(
            "no transaction for a zero amount",
            format!("{} transaction(s) broadcast", broadcasts(r).len()),
        ));
    }
    let signature: Bytes = credential
        .payload
        .get("signature")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let payable = r.payable.as_ref().expect("credential() checked");
    let signer = tx::recover_proof(&payable.id, request.chain_id, &signature);
    let source = credential
        .source
        .as_deref()
        .and_then(tempo_charge::parse_did_pkh);
    Ok(match (signer, source) {
        (None, _) => fail(
            "an EIP-712 proof over the challenge id",
            "the signature does not recover",
        ),
        (_, None) => fail(
            "source = did:pkh:eip155:<chainId>:<address> (required on proofs)",
            format!("source {:?}", credential.source),
        ),
        (Some(signer), Some((chain, address))) => {
            if chain != request.chain_id || address.parse::<Address>().ok() != Some(signer) {
                fail(
                    format!(
                        "a proof over id {} by the account in source, on chain {}",
                        payable.id, request.chain_id
                    ),
                    format!(
                        "source {:?}; under the draft's EIP-712 domain (name \"MPP\", version \"1\") and type Proof(string challengeId) the signature recovers to {signer}",
                        credential.source
                    ),
                )
            } else {
                Outcome::pass(format!("a proof by {signer}, no transfer"))
            }
        }
    })
}

fn refused(r: &Record) -> Outcome {
    let sent = credentials_sent(r);
    let broadcast = broadcasts(r);
    if sent.is_empty() && broadcast.is_empty() && r.payer_spent == U256::ZERO {
        return Outcome::pass(format!(
            "no credential, nothing broadcast (client: {})",
            r.run.ended
        ));
    }
    let mut what = Vec::new();
    if !sent.is_empty() {
        what.push(format!("{} credential(s) sent", sent.len()));
    }
    if !broadcast.is_empty() {
        what.push(format!("{} transaction(s) broadcast", broadcast.len()));
    }
    if r.payer_spent > U256::ZERO {
        what.push(format!("{} base units spent", r.payer_spent));
    }
    fail("no credential and no transfer", what.join(", "))
}
