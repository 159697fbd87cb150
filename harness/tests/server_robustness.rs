//! The server suite against broken targets: scripted servers on raw TCP
//! that hang, drop or reset the connection, answer endless or 10 MB
//! bodies, garbage status lines, or 200 to everything. The run always
//! ends within a bound, never panics, and never passes a check the target
//! did not answer; a check that got no usable answer is `error` with a
//! reason that names the problem.

use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use mppconf_harness::chain::{Anvil, AnvilConfig};
use mppconf_harness::report::progress::Silent;
use mppconf_harness::server_suite::{self, BODY_LIMIT, CheckResult, Ctx, Target};
use mppconf_suite::vectors::Verdict;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The answer timeout the tests give the harness.
const ANSWER: Duration = Duration::from_secs(1);
/// A whole run against a target that never answers stays well under this.
const HANGING_RUN_BOUND: Duration = Duration::from_secs(90);
/// A whole run against a target that answers at once (badly).
const QUICK_RUN_BOUND: Duration = Duration::from_secs(30);
const TEN_MB: usize = 10 * 1024 * 1024;

/// A valid-looking Payment challenge.
const CHALLENGE: &str = "WWW-Authenticate: Payment id=\"mppconf-robustness\", realm=\"broken.test\", \
     method=\"tempo\", intent=\"charge\", request=\"eyJhbW91bnQiOiIxMDAwIn0\"\r\n";

/// What a scripted server does with each connection.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// Reads the request, never answers, holds the connection open.
    Hang,
    /// Reads the request and closes the connection (FIN).
    Close,
    /// Reads the request and resets the connection (RST).
    Reset,
    /// 402 with a 10 MB body (Content-Length given), with or without a
    /// valid-looking challenge.
    Huge402 { challenge: bool },
    /// 402 with a close-delimited body that never ends.
    Endless402,
    /// 402 headers announcing 1000 bytes, 10 bytes, then silence.
    StalledBody,
    /// These bytes instead of a status line, then silence.
    Garbage(&'static [u8]),
    /// 200 with a short body to every request.
    AlwaysOk,
    /// 200 with a close-delimited body that never ends.
    Endless200,
}

/// Starts a server playing `script` on 127.0.0.1; returns its base URL.
async fn serve(script: Script) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                // A client that gives up makes writes fail: that is fine.
                let _ = play(stream, script).await;
            });
        }
    });
    format!("http://{addr}")
}

/// Reads one request head (and its Content-Length body); false at EOF.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<bool> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(false);
        }
        have += n;
    }
    Ok(true)
}

/// Reads and discards until the client goes away.
async fn hold(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    while stream.read(&mut chunk).await? > 0 {}
    Ok(())
}

/// Writes `total` bytes of body (or forever, for `None`).
async fn pour(stream: &mut TcpStream, total: Option<usize>) -> std::io::Result<()> {
    let block = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while total.is_none_or(|t| sent < t) {
        let n = total.map_or(block.len(), |t| block.len().min(t - sent));
        stream.write_all(&block[..n]).await?;
        sent += n;
    }
    Ok(())
}

async fn play(mut stream: TcpStream, script: Script) -> std::io::Result<()> {
    if !read_request(&mut stream).await? {
        return Ok(());
    }
    match script {
        Script::Hang => hold(&mut stream).await,
        Script::Close => stream.shutdown().await,
        Script::Reset => {
            stream.set_zero_linger()?;
            drop(stream);
            Ok(())
        }
        Script::Huge402 { challenge } => {
            let head = format!(
                "HTTP/1.1 402 Payment Required\r\n{}Cache-Control: no-store\r\n\
                 Content-Type: application/problem+json\r\nContent-Length: {TEN_MB}\r\n\
                 Connection: close\r\n\r\n",
                if challenge { CHALLENGE } else { "" }
            );
            stream.write_all(head.as_bytes()).await?;
            pour(&mut stream, Some(TEN_MB)).await
        }
        Script::Endless402 => {
            let head =
                format!("HTTP/1.1 402 Payment Required\r\n{CHALLENGE}Connection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
            pour(&mut stream, None).await
        }
        Script::StalledBody => {
            let head = format!(
                "HTTP/1.1 402 Payment Required\r\n{CHALLENGE}Content-Length: 1000\r\n\r\n0123456789"
            );
            stream.write_all(head.as_bytes()).await?;
            hold(&mut stream).await
        }
        Script::Garbage(bytes) => {
            stream.write_all(bytes).await?;
            hold(&mut stream).await
        }
        Script::AlwaysOk => {
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\
                      Connection: close\r\n\r\nthe resource.",
                )
                .await?;
            stream.shutdown().await
        }
        Script::Endless200 => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                .await?;
            pour(&mut stream, None).await
        }
    }
}

fn ctx(base_url: String, chain: &Anvil) -> Ctx {
    let target = Target {
        base_url,
        path: "/paid".into(),
        method: "GET".into(),
        body: None,
        rpc_url: chain.rpc_url.clone(),
        ca: None,
    };
    Ctx::new(target, PrivateKeySigner::random(), None).with_answer_timeout(ANSWER)
}

/// Runs the whole suite against `script` on its own task (a panic shows
/// as a failed join) within `bound`; returns the results and a summary.
async fn run(script: Script, bound: Duration) -> (Vec<CheckResult>, String) {
    let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();
    let ctx = ctx(serve(script).await, &chain);
    let started = Instant::now();
    let task = tokio::spawn(async move {
        server_suite::run_all(
            std::slice::from_ref(&ctx),
            &mppconf_harness::report::Selection::all(),
            &mut Silent,
        )
        .await
    });
    let results = match tokio::time::timeout(bound, task).await {
        Err(_) => panic!("{script:?}: the run did not finish within {bound:?}"),
        Ok(Err(e)) => panic!("{script:?}: the run panicked: {e}"),
        Ok(Ok(results)) => results,
    };
    let took = started.elapsed();
    let summary = results
        .iter()
        .map(|r| {
            format!(
                "{:<8} {:>9.1} ms {}: {}",
                r.verdict.as_str(),
                r.millis,
                r.id,
                r.detail.replace('\n', " | ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!(
        "{script:?}: {} checks in {:.2}s\n{summary}",
        results.len(),
        took.as_secs_f64()
    );
    assert!(!results.is_empty(), "{script:?}: no checks ran");
    // No check waits longer than the answer timeout per exchange.
    let answer_ms = ANSWER.as_millis();
    for r in &results {
        let allowed = (r.exchanges.len() as u128).max(1) * answer_ms + 2000;
        let allowed = allowed as f64;
        assert!(
            r.millis <= allowed,
            "{script:?}: {} took {} ms for {} exchange(s)\n{summary}",
            r.id,
            r.millis,
            r.exchanges.len()
        );
    }
    (results, summary)
}

/// Against a target that never answers properly: nothing passes or
/// fails; every check that sent something is `error`, its reason naming
/// the problem (one of `reasons`, case-insensitive); the rest are skipped
/// without having sent anything.
fn assert_no_answer(script: Script, results: &[CheckResult], summary: &str, reasons: &[&str]) {
    let mut errors = 0;
    for r in results {
        if r.exchanges.is_empty() {
            assert!(
                matches!(r.verdict, Verdict::Skip | Verdict::Error),
                "{script:?}: {} is {} without any exchange\n{summary}",
                r.id,
                r.verdict.as_str()
            );
            continue;
        }
        assert_eq!(
            r.verdict,
            Verdict::Error,
            "{script:?}: {} should be error\n{summary}",
            r.id
        );
        let detail = r.detail.to_ascii_lowercase();
        assert!(
            reasons.iter().any(|w| detail.contains(w)),
            "{script:?}: the reason of {} names none of {reasons:?}: {}",
            r.id,
            r.detail
        );
        assert!(
            r.exchanges.iter().any(|e| e.error.is_some()),
            "{script:?}: {} records no failed exchange\n{summary}",
            r.id
        );
        errors += 1;
    }
    assert!(errors > 0, "{script:?}: no check reached the target");
}

#[tokio::test]
async fn a_target_that_never_answers_errors_every_check_within_the_bound() {
    let script = Script::Hang;
    let (results, summary) = run(script, HANGING_RUN_BOUND).await;
    assert_no_answer(script, &results, &summary, &["no answer within 1s"]);
}

#[tokio::test]
async fn a_target_that_closes_the_connection_errors_every_check() {
    let script = Script::Close;
    let (results, summary) = run(script, QUICK_RUN_BOUND).await;
    assert_no_answer(
        script,
        &results,
        &summary,
        &["connection closed", "incomplete message"],
    );
}

#[tokio::test]
async fn a_target_that_resets_the_connection_errors_every_check() {
    let script = Script::Reset;
    let (results, summary) = run(script, QUICK_RUN_BOUND).await;
    assert_no_answer(
        script,
        &results,
        &summary,
        &[
            "connection reset",
            "connection closed",
            "incomplete message",
        ],
    );
}

#[tokio::test]
async fn a_402_with_a_10_mb_body_and_a_challenge_errors_every_check() {
    let script = Script::Huge402 { challenge: true };
    let (results, summary) = run(script, QUICK_RUN_BOUND).await;
    assert_no_answer(script, &results, &summary, &["byte limit"]);
}

#[tokio::test]
async fn a_402_with_a_10_mb_body_and_no_challenge_errors_every_check() {
    let script = Script::Huge402 { challenge: false };
    let (results, summary) = run(script, QUICK_RUN_BOUND).await;
    assert_no_answer(script, &results, &summary, &["byte limit"]);
}

#[tokio::test]
async fn a_402_with_an_endless_body_errors_every_check_without_reading_it_all() {
    // Were the body read to its end, every exchange would time out
    // instead of stopping at the limit.
    let script = Script::Endless402;
    let (results, summary) = run(script, QUICK_RUN_BOUND).await;
    assert_no_answer(script, &results, &summary, &["byte limit"]);
}

#[tokio::test]
async fn a_body_that_stalls_errors_every_check_within_the_bound() {
    let script = Script::StalledBody;
    let (results, summary) = run(script, HANGING_RUN_BOUND).await;
    assert_no_answer(
        script,
        &results,
        &summary,
        &["body did not finish within 1s"],
    );
}

#[tokio::test]
async fn a_garbage_status_code_errors_every_check() {
    let script = Script::Garbage(b"HTTP/1.1 abc\r\n");
    let (results, summary) = run(script, QUICK_RUN_BOUND).await;
    assert_no_answer(script, &results, &summary, &["invalid http status"]);
}

#[tokio::test]
async fn a_status_line_that_is_not_http_errors_every_check() {
    let script = Script::Garbage(b"NOT HTTP\r\n\r\n");
    let (results, summary) = run(script, QUICK_RUN_BOUND).await;
    assert_no_answer(script, &results, &summary, &["invalid http version"]);
}

#[tokio::test]
async fn a_target_that_gives_the_resource_away_fails_and_never_errors() {
    let script = Script::AlwaysOk;
    let (results, summary) = run(script, QUICK_RUN_BOUND).await;
    let verdict = |id: &str| {
        results
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no check {id}\n{summary}"))
            .verdict
    };
    for r in &results {
        assert!(
            !matches!(r.verdict, Verdict::Error),
            "{} errs against a server that answers everything\n{summary}",
            r.id
        );
        assert!(
            r.exchanges
                .iter()
                .all(|e| e.error.is_none() && e.status == 200),
            "{}: an exchange that is not a 200\n{summary}",
            r.id
        );
    }
    assert_eq!(verdict("unpaid.status-402"), Verdict::Fail, "{summary}");
    assert_eq!(verdict("unpaid.cache-no-store"), Verdict::Fail, "{summary}");
    // The checks no reference deviation reaches fail here.
    for id in [
        "accept-payment.exact",
        "accept-payment.wildcard",
        "accept-payment.no-match",
        "accept-payment.malformed",
    ] {
        assert_eq!(verdict(id), Verdict::Fail, "{id}\n{summary}");
    }
    let malformed: Vec<&CheckResult> = results
        .iter()
        .filter(|r| r.id.starts_with("malformed."))
        .collect();
    assert!(!malformed.is_empty(), "{summary}");
    for r in malformed {
        assert_eq!(r.verdict, Verdict::Fail, "{}\n{summary}", r.id);
        assert!(r.detail.contains("access granted"), "{}\n{summary}", r.id);
    }
    // Nothing that needs a 402, a challenge, a payment or a rejection
    // passes (what may pass: a 404 that is not a 402, no receipt, no
    // echo, no secrets).
    let needs_a_402 = [
        "unpaid.",
        "challenge.",
        "malformed.",
        "several-credentials.",
        "tamper.",
        "forged-id.",
        "replay.",
        "concurrency.",
        "pull.",
        "push.",
        "paid.",
        "size.",
        "accept-payment.",
        "digest.",
        "expiry.",
    ];
    for r in &results {
        assert!(
            !(r.verdict == Verdict::Pass && needs_a_402.iter().any(|p| r.id.starts_with(p))),
            "{} passes against a server that gives everything away\n{summary}",
            r.id
        );
    }
    let failing = results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Warn))
        .count();
    assert!(failing >= 10, "only {failing} checks fail\n{summary}");
}

/// The body limit at the level of one exchange: an endless 2xx body is
/// read up to [`BODY_LIMIT`] and kept cut (a paid resource may be large);
/// an endless or 10 MB error body is no answer.
#[tokio::test]
async fn reading_stops_at_the_body_limit() {
    let chain = Anvil::start(&AnvilConfig::default()).await.unwrap();

    let ok = ctx(serve(Script::Endless200).await, &chain);
    let started = Instant::now();
    let answer = tokio::time::timeout(QUICK_RUN_BOUND, ok.send(&[], None))
        .await
        .expect("an endless 200 body is not read to its end")
        .expect("a 2xx cut at the limit is an answer");
    eprintln!(
        "endless 200 body: cut at {} bytes in {:?}",
        answer.body.len(),
        started.elapsed()
    );
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.len(), BODY_LIMIT);
    let evidence = ok.take_evidence();
    assert!(
        evidence[0]
            .body
            .ends_with(&format!("(cut at {BODY_LIMIT} bytes)"))
    );
    assert!(evidence[0].body.len() < 3000);

    for script in [Script::Endless402, Script::Huge402 { challenge: true }] {
        let bad = ctx(serve(script).await, &chain);
        let started = Instant::now();
        let e = tokio::time::timeout(QUICK_RUN_BOUND, bad.send(&[], None))
            .await
            .expect("a huge 402 body is not read to its end")
            .expect_err("a 402 body over the limit is no answer");
        eprintln!("{script:?}: {e} (in {:?})", started.elapsed());
        assert!(e.contains("402") && e.contains("byte limit"), "{e}");
        assert!(started.elapsed() < ANSWER, "{:?}", started.elapsed());
        let evidence = bad.take_evidence();
        assert_eq!(evidence[0].status, 402);
        assert_eq!(evidence[0].error.as_deref(), Some(e.as_str()));
    }
}
