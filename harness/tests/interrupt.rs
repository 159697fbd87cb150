//! An interrupt loses nothing: SIGINT or SIGTERM during a run stops it
//! within seconds with 128 + the signal, writes the report of what ran
//! marked incomplete, and leaves no child process; a target started
//! through a wrapper script leaves no child either, passing or failing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn alive(pid: i32) -> bool {
    // A zombie is as good as gone: read its state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Every process below `pid` (its children, theirs, …).
fn descendants(pid: i32) -> Vec<i32> {
    let mut all = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if !all.contains(&c) {
                    all.push(c);
                    frontier.push(c);
                }
            }
        }
    }
    all
}

fn interrupted_run(signal: i32, expected_code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .args(["server", "--reference", "--report-dir"])
        .arg(&report)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    // Wait until checks run (the first resource is announced), then a bit.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 && !line.contains("mppconf server suite:") {
        line.clear();
    }
    std::thread::sleep(Duration::from_millis(1500));
    let children = descendants(pid);
    assert!(!children.is_empty(), "anvil runs under mppconf");
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(pid, signal);
    }
    let sent = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        // A liveness bound, not a speed target: the running checks are
        // cancelled at once, but children and the report take a moment,
        // longer when the rest of the test run loads both cores (3 s was
        // exceeded there).
        assert!(
            sent.elapsed() < Duration::from_secs(20),
            "still running 20 s after the signal"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(expected_code));
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    let name = if signal == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    assert_eq!(r["incomplete"], format!("interrupted by {name}"));
    let checks = r["checks"].as_array().unwrap();
    let ran = checks
        .iter()
        .filter(|c| !c["detail"].as_str().unwrap().starts_with("not run:"))
        .count();
    assert!(
        ran > 0 && ran < checks.len(),
        "{ran} of {} ran",
        checks.len()
    );
    let junit =
        std::fs::read_to_string(report.join("draft-httpauth-payment-00.junit.xml")).unwrap();
    assert!(
        junit.contains("not run: interrupted"),
        "unrun checks are skipped in JUnit"
    );
    std::thread::sleep(Duration::from_millis(200));
    for c in children {
        assert!(!alive(c), "child {c} of mppconf survived the {name}");
    }
}

#[test]
fn sigint_writes_the_report_of_what_ran_and_exits_130() {
    interrupted_run(libc::SIGINT, 130);
}

#[test]
fn sigterm_writes_the_report_of_what_ran_and_exits_143() {
    interrupted_run(libc::SIGTERM, 143);
}

#[test]
fn no_child_of_a_wrapper_script_survives_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("server.pid");
    let o = Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .args([
            "server",
            "--target",
            "tests/fixtures/targets/wrapper.toml",
            "--filter",
            "unpaid.",
        ])
        .env("PIDFILE", &pidfile)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    // The wrapped server answers 404: the checks fail, the run ends.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "the wrapped server {pid} survived");
}
