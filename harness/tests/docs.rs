//! The documentation is tested: every command of the `sh` blocks of
//! README.md and harness/README.md runs here, from the repository's root,
//! and must succeed, except those marked `# outside: <what it needs>`
//! (another party's server, npm or PyPI packages, the test run itself),
//! which are listed with their reason. Each exit code the README lists
//! has a fixture that ends with it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One command of an `sh` block.
struct DocCommand {
    file: &'static str,
    text: String,
    background: bool,
    outside: Option<String>,
}

fn commands(file: &'static str) -> Vec<DocCommand> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            continue;
        }
        if !in_block || line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        let (command, comment) = match full.split_once(" #") {
            Some((c, comment)) => (c.trim().to_string(), comment.trim().to_string()),
            None => (full.trim().to_string(), String::new()),
        };
        let outside = comment
            .strip_prefix("outside:")
            .map(|r| r.trim().to_string());
        let background = command.ends_with('&');
        out.push(DocCommand {
            file,
            text: command.trim_end_matches('&').trim().to_string(),
            background,
            outside,
        });
    }
    out
}

/// The command's arguments for this binary (`mppconf …` or
/// `cargo run --release -p mppconf -- …`).
fn argv(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let rest = match words.as_slice() {
        ["mppconf", rest @ ..] => rest,
        [
            "cargo",
            "run",
            "--release",
            "-p",
            "mppconf",
            "--",
            rest @ ..,
        ] => rest,
        _ => panic!("not an mppconf command: {text}"),
    };
    rest.iter().map(|s| s.to_string()).collect()
}

fn mppconf(args: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mppconf"));
    cmd.args(args).current_dir(root());
    cmd
}

/// Waits until `--listen ADDR` of a background command accepts connections.
fn wait_listening(args: &[String]) {
    let Some(i) = args.iter().position(|a| a == "--listen") else {
        std::thread::sleep(Duration::from_secs(3));
        return;
    };
    let addr = &args[i + 1];
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{addr} never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_command_of_the_readmes_runs() {
    let mut background: Vec<Child> = Vec::new();
    let mut ran = 0;
    for c in commands("README.md")
        .into_iter()
        .chain(commands("harness/README.md"))
    {
        if let Some(why) = &c.outside {
            eprintln!("docs: skipped ({why}): {}: {}", c.file, c.text);
            continue;
        }
        let args = argv(&c.text);
        if c.background {
            let child = mppconf(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            background.push(child);
            wait_listening(&args);
            continue;
        }
        let o = mppconf(&args).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}\n{}{}",
            c.file,
            c.text,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        ran += 1;
    }
    for mut child in background {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(ran >= 2, "the READMEs' runnable commands ran ({ran})");
}

fn run(args: &[&str]) -> Output {
    mppconf(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .output()
        .unwrap()
}

/// Every exit code the README lists, each from a fixture that ends with
/// it (130 and 143, the interrupts, are tests/interrupt.rs's).
#[test]
fn every_exit_code_the_readme_lists_has_a_fixture() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let paragraph = readme
        .split("\n\n")
        .find(|p| p.starts_with("Exit codes:"))
        .expect("README lists the exit codes");
    let listed: Vec<i32> = paragraph
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(listed, [0, 1, 2, 3, 4, 130, 143], "{paragraph}");
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.json");
    std::fs::write(
        &stale,
        r#"{"format": "mppconf-expectations/1", "cases": {"unpaid.status-402": "listed, but it passes"}}"#,
    )
    .unwrap();
    let fixtures: [(i32, Vec<&str>); 5] = [
        (
            0,
            vec!["server", "--reference", "--filter", "unpaid.status-402"],
        ),
        (
            1,
            vec![
                "server",
                "--reference",
                "--deviate",
                "no-cache-control",
                "--filter",
                "unpaid.cache",
            ],
        ),
        (
            2,
            vec!["server", "--reference", "--filter", "no-such-check"],
        ),
        (
            3,
            vec![
                "server",
                "--target",
                "harness/tests/fixtures/targets/exits-at-start.toml",
            ],
        ),
        (
            4,
            vec![
                "server",
                "--reference",
                "--filter",
                "unpaid.status-402",
                "--baseline",
                stale.to_str().unwrap(),
            ],
        ),
    ];
    for (code, args) in fixtures {
        let o = run(&args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{args:?}\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
