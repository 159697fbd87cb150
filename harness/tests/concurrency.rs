//! Checks run concurrently conclude what they conclude one after another:
//! the same check, subject, verdict and cited requirements, per
//! `mppconf report compare` (which ignores times, details and order),
//! on the reference server and (ignored by default: they need the SDKs'
//! packages, which `.ci/run` installs) on the mppx, pympp and mpp servers.

use std::path::Path;
use std::process::Command;

fn mppconf(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mppconf"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("mppconf runs")
}

fn serial_and_concurrent_agree(target: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let report = |jobs: &str| -> String {
        let out = dir.path().join(format!("jobs-{jobs}"));
        let mut args = vec!["server"];
        args.extend(target);
        args.extend(["--jobs", jobs, "--report-dir", out.to_str().unwrap()]);
        let o = mppconf(&args);
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let path = out.join("report.json");
        assert!(Path::new(&path).is_file());
        path.to_str().unwrap().to_string()
    };
    let serial = report("1");
    let concurrent = report("4");
    let o = mppconf(&["report", "compare", &serial, &concurrent]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{target:?}: {text}");
    assert!(text.contains(" 0 differences"), "{text}");
}

#[test]
fn the_reference_server_gets_the_same_verdicts_concurrently() {
    serial_and_concurrent_agree(&["--reference"]);
}

#[test]
#[ignore = "needs the mppx packages (npm); .ci/run runs it"]
fn the_mppx_server_gets_the_same_verdicts_concurrently() {
    serial_and_concurrent_agree(&["--target", "harness/targets/mppx-server.toml"]);
}

#[test]
#[ignore = "needs the pympp packages (PyPI); .ci/run runs it"]
fn the_pympp_server_gets_the_same_verdicts_concurrently() {
    serial_and_concurrent_agree(&["--target", "harness/targets/pympp-server.toml"]);
}

#[test]
#[ignore = "needs the mpp crate built; .ci/run runs it"]
fn the_mpp_server_gets_the_same_verdicts_concurrently() {
    serial_and_concurrent_agree(&["--target", "harness/targets/mpp-server.toml"]);
}
