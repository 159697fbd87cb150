//! draft-httpauth-payment-00 §"Challenge" to §"Credential Handling": the core client checks, for a client of any payment method.
//!
//! Scenarios whose 402 tests what the core draft asks of a paying client:
//! echo the challenge byte for byte, one `Authorization` header, the body
//! the digest binds, a well-formed `Accept-Payment`; refuse expired,
//! id-less, unknown-intent and undecodable challenges; parse several
//! challenges, quoted commas, unknown parameters and 4 KB headers; keep
//! the credential from other origins and from plain http. The payable
//! challenge of each scenario is the client's method's (today Tempo
//! charge, the method the scenario server verifies); the method adds the
//! requirements of its own that these checks also exercise
//! ([`crate::methods::PaymentMethod::also_cites`]).

use mppconf_suite::codec::{Challenge, Credential, accept_payment, base64url};

use super::check::{
    Check, Need, ScenarioDef, blocked, broadcasts, c, credentials_sent, fail, refused,
    sent_credential, should,
};
use super::{Built, Record, header};
use crate::server_suite::Outcome;

type Verdict = Result<Outcome, Outcome>;

/// The core scenarios, in run order.
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
        name: "tls",
        needs: Need::Nothing,
        build: |env| {
            let c = env.challenge("/plain");
            let mut b = Built::paying("/plain", vec![header(&c)], c);
            b.tls = true;
            b
        },
    },
    ScenarioDef {
        name: "over-limit",
        needs: Need::Policy,
        build: |env| {
            let mut request = env.plain_request();
            request["amount"] = "1000000".into();
            Built::refusing(vec![header(&env.challenge_with_request(request))])
        },
    },
    ScenarioDef {
        name: "unexpected-recipient",
        needs: Need::Policy,
        build: |env| {
            let mut request = env.plain_request();
            request["recipient"] = alloy::primitives::Address::random().to_string().into();
            Built::refusing(vec![header(&env.challenge_with_request(request))])
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

/// Every core check, in report order.
pub const CHECKS: &[Check] = &[
    c(
        "standard.paid",
        &["core.credential.fields"],
        "standard",
        |r, _| paid(r),
    ),
    c(
        "echo.id",
        &["core.challenge.id-echoed-unchanged"],
        "standard",
        |r, p| echo(r, EchoField::Id, p),
    ),
    c("echo.realm-method-intent", ECHO, "standard", |r, p| {
        echo(r, EchoField::RealmMethodIntent, p)
    }),
    c("echo.request", ECHO, "standard", |r, p| {
        echo(r, EchoField::Request, p)
    }),
    c("echo.expires", ECHO, "standard", |r, p| {
        echo(r, EchoField::Expires, p)
    }),
    c(
        "echo.opaque",
        &["core.challenge.opaque-echoed-unchanged"],
        "standard",
        |r, p| echo(r, EchoField::Opaque, p),
    ),
    c(
        "authorization.one-header",
        &["core.multiple.one-authorization"],
        "standard",
        one_authorization,
    ),
    c(
        "accept-payment.well-formed",
        &["core.accept-payment.client-may-send"],
        "standard",
        |r, _| accept_payment_well_formed(r),
    ),
    c("echo.digest", ECHO, "digest", |r, p| {
        echo(r, EchoField::Digest, p)
    }),
    c(
        "digest.same-body",
        &["core.challenge.digest-body-match"],
        "digest",
        same_body,
    ),
    c(
        "refuse.expired",
        &["core.challenge.expired-not-paid"],
        "expired",
        refused,
    ),
    c(
        "refuse.missing-id",
        &["core.challenge.id-missing-rejected"],
        "missing-id",
        refused,
    ),
    c(
        "refuse.empty-id",
        &["core.challenge.id-missing-rejected"],
        "empty-id",
        refused,
    ),
    should(
        "refuse.unknown-intent",
        &["core.intent.unrecognized-unsupported"],
        "unknown-intent",
        refused,
    ),
    should(
        "refuse.unknown-method",
        &["core.multiple.client-select"],
        "unknown-method",
        refused,
    ),
    c(
        "refuse.request-not-json",
        &["core.accept-payment.client-validates"],
        "request-not-json",
        refused,
    ),
    c(
        "parse.several-in-one-header",
        &[
            "core.challenge.auth-param-syntax",
            "core.multiple.client-select",
        ],
        "several-in-one-header",
        |r, _| answered(r),
    ),
    c(
        "parse.across-headers",
        &[
            "core.challenge.auth-param-syntax",
            "core.multiple.client-select",
            "core.intermediary.client-prepared",
        ],
        "across-headers",
        |r, _| answered(r),
    ),
    c(
        "parse.quoted-description",
        &[
            "core.challenge.auth-param-syntax",
            "core.amount.no-description-reliance",
        ],
        "quoted-description",
        |r, _| answered(r),
    ),
    c(
        "parse.unknown-params",
        &["core.challenge.unknown-params-ignored"],
        "unknown-params",
        |r, _| answered(r),
    ),
    c(
        "parse.4kb-challenge",
        &["core.size.client-4kb-challenge"],
        "large-challenge",
        |r, _| answered(r),
    ),
    should(
        "parse.non-ascii-description",
        &["core.challenge.auth-param-syntax"],
        "non-ascii-description",
        |r, _| answered(r),
    ),
    should(
        "transport.redirect-keeps-credential",
        &["core.credential-handling.sensitive-headers"],
        "redirect",
        |r, _| no_credential_elsewhere(r),
    ),
    c(
        "transport.no-plain-http",
        &[
            "core.transport.client-no-plain-http",
            "core.transport.must-use-tls",
        ],
        "plain-http",
        |r, _| no_credential_over_http(r),
    ),
    should(
        "transport.rejects-plain-http",
        &["core.transport.reject-non-tls"],
        "plain-http",
        |r, _| no_credential_over_http(r),
    ),
    c(
        "transport.tls",
        &["core.transport.tls-required", "core.transport.must-use-tls"],
        "tls",
        |r, _| paid_over_tls(r),
    ),
    c(
        "refuse.over-limit",
        &[
            "core.amount.client-verifies",
            "charge.amount.client-verifies",
        ],
        "over-limit",
        refused,
    ),
    c(
        "refuse.unexpected-recipient",
        &["core.amount.client-verifies"],
        "unexpected-recipient",
        refused,
    ),
    should(
        "refuse.recipient-verified",
        &["charge.recipient.client-verifies"],
        "unexpected-recipient",
        refused,
    ),
];

/// A payment over TLS, the scenario's only origin. A client whose TLS
/// handshake ended with a certificate alert does not trust the run's
/// authority: that is the manifest's to fix, not a verdict.
fn paid_over_tls(r: &Record) -> Verdict {
    let distrust = r.tls_failures.iter().find(|f| {
        [
            "UnknownCA",
            "BadCertificate",
            "CertificateUnknown",
            "unknown ca",
        ]
        .iter()
        .any(|alert| f.contains(alert))
    });
    if let (true, Some(alert)) = (r.seen.is_empty(), distrust) {
        return Err(blocked(format!(
            "the client ended the TLS handshake with {alert:?}: it does not trust the run's certificate authority; its manifest must make it trust {{ca_cert}} (also given as SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE)"
        )));
    }
    // Whether the server accepts the credential is the other checks'
    // business: this one judges that it travelled over TLS.
    match credentials_sent(r).len() {
        0 => Ok(fail(
            "a credential sent over TLS (the scenario's only origin)",
            format!("none sent (client: {})", r.run.ended),
        )),
        n => Ok(Outcome::pass(format!(
            "{n} credential(s) sent over TLS, the scenario's only origin"
        ))),
    }
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

/// The client paid the payable challenge and the server accepted.
fn paid(r: &Record) -> Verdict {
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

/// The client answered the payable challenge (and no other): what a
/// parsing check judges; whether the payment is right is for `paid`.
fn answered(r: &Record) -> Verdict {
    let payable = r.payable.as_ref().expect("parsing scenarios are payable");
    let sent = credentials_sent(r);
    let Some(raw) = sent.first() else {
        return Ok(fail(
            format!("a credential for challenge {}", payable.id),
            format!("none sent (client: {})", r.run.ended),
        ));
    };
    Ok(match Credential::parse(raw) {
        Err(e) => fail("a well-formed credential (core.credential.syntax)", e),
        // Which challenge it answers: by id, or by the random nonce in
        // `opaque` (an echo defect is the echo checks').
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
    })
}

fn echo(r: &Record, field: EchoField, paid_check: &str) -> Verdict {
    let credential = sent_credential(r, paid_check)?;
    let payable = r.payable.as_ref().expect("sent_credential() checked");
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

fn one_authorization(r: &Record, paid_check: &str) -> Verdict {
    let credentialed: Vec<&super::Seen> = r
        .seen
        .iter()
        .filter(|s| !s.payment_credentials().is_empty())
        .collect();
    let Some(first) = credentialed.first() else {
        return Err(blocked(format!("no credential was sent, {paid_check}")));
    };
    let n = first.header_values("authorization").len();
    Ok(if n == 1 {
        Outcome::pass("one Authorization header")
    } else {
        fail(
            "exactly one Authorization: Payment header",
            format!("{n} Authorization headers in one request"),
        )
    })
}

fn same_body(r: &Record, paid_check: &str) -> Verdict {
    let Some(credentialed) = r.seen.iter().find(|s| !s.payment_credentials().is_empty()) else {
        return Err(blocked(format!("no credential was sent, {paid_check}")));
    };
    let want = r.body.unwrap_or_default();
    Ok(if credentialed.body == want {
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
    })
}

fn accept_payment_well_formed(r: &Record) -> Verdict {
    let values: Vec<String> = r
        .seen
        .iter()
        .flat_map(|s| s.header_values("accept-payment"))
        .collect();
    if values.is_empty() {
        return Ok(Outcome::skip("the client sends no Accept-Payment (it MAY)"));
    }
    let bad: Vec<String> = values
        .iter()
        .filter_map(|v| {
            accept_payment::AcceptPayment::parse(v)
                .err()
                .map(|e| format!("{v:?}: {e}"))
        })
        .collect();
    Ok(if bad.is_empty() {
        Outcome::pass(format!("Accept-Payment {:?}", values[0]))
    } else {
        fail("a well-formed Accept-Payment", bad.join("; "))
    })
}

fn no_credential_elsewhere(r: &Record) -> Verdict {
    let leaked: Vec<&super::Seen> = r
        .seen
        .iter()
        .filter(|s| s.origin == "other" && !s.header_values("authorization").is_empty())
        .collect();
    let followed = r.seen.iter().any(|s| s.origin == "other");
    Ok(if !leaked.is_empty() {
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
    })
}

fn no_credential_over_http(r: &Record) -> Verdict {
    let sent = credentials_sent(r);
    Ok(if sent.is_empty() && broadcasts(r).is_empty() {
        Outcome::pass("no credential over http without the allowance")
    } else {
        fail(
            "no Payment credential over plain http",
            format!("{} credential(s) sent to {}", sent.len(), r.url),
        )
    })
}
