//! Adapters: the processes that put an implementation behind the
//! cross-SDK ABI (see `vectors/README.md`).
//!
//! A manifest (`adapter.json`, schema `harness/schema/adapter.schema.json`)
//! says how to build and start one. In `one-shot` mode, the official
//! suite's, every call starts a process; in `persistent` mode one process
//! answers one request per line, which is what makes a vector run fast.
//! Every call is bounded by a timeout, and a crashed, silent or babbling
//! adapter is a transport error (verdict `error`), never a pass.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use mppconf_suite::ops::{AbiError, AbiRequest, AbiResponse};
use mppconf_suite::vectors::Executor;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result, read_json};
use crate::schema::Schema;

const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// How an adapter process talks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    OneShot,
    Persistent,
}

/// A parsed, schema-checked `adapter.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub language: String,
    pub command: Vec<String>,
    #[serde(default)]
    pub build: Option<Vec<String>>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// The folder `cwd` is relative to.
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Manifest {
    /// Reads a manifest file, naming the field at fault on error.
    pub fn load(path: &Path) -> Result<Self> {
        let value = read_json(path)?;
        Schema::AdapterManifest.check(path, &value, "harness/schema/adapter.schema.json")?;
        let mut manifest: Manifest =
            serde_json::from_value(value).map_err(|e| Error::field(path, "/", e.to_string()))?;
        manifest.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Ok(manifest)
    }

    /// Finds `*/adapter.json` below a folder, sorted by adapter name.
    pub fn discover(dir: &Path) -> Result<Vec<Self>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry
                .map_err(|e| Error::io(dir, e))?
                .path()
                .join("adapter.json");
            if path.is_file() {
                found.push(Self::load(&path)?);
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    pub fn mode(&self) -> Mode {
        self.mode.unwrap_or(Mode::OneShot)
    }

    fn workdir(&self) -> PathBuf {
        self.dir.join(self.cwd.as_deref().unwrap_or("."))
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS))
    }

    /// Overrides the per-call time limit (e.g. a fuzzer that treats a
    /// slow answer as a finding rather than waiting it out).
    pub fn with_timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    fn command(&self, argv: &[String]) -> Command {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(self.workdir())
            .envs(&self.env);
        cmd
    }

    fn fail(&self, reason: impl Into<String>) -> Error {
        Error::Adapter {
            adapter: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// Runs the `build` command, if any.
    pub fn build(&self) -> Result<()> {
        let Some(build) = &self.build else {
            return Ok(());
        };
        let status = self
            .command(build)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| self.fail(format!("cannot run build {build:?}: {e}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(self.fail(format!("build {build:?} failed with {status}")))
        }
    }
}

/// A running adapter: calls go through [`Executor::call`].
pub struct AdapterClient {
    manifest: Manifest,
    session: Option<Session>,
}

/// The one long-lived process of a persistent adapter.
struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<std::io::Result<String>>,
}

impl AdapterClient {
    pub fn new(manifest: Manifest) -> Self {
        Self {
            manifest,
            session: None,
        }
    }

    fn spawn(&self) -> std::result::Result<Child, String> {
        let mut cmd = self.manifest.command(&self.manifest.command);
        // Its own process group, so that a kill reaches what it started
        // (a shell's children hold the pipes open otherwise).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", self.manifest.command))
    }

    fn one_shot(&self, request: &str) -> std::result::Result<String, String> {
        let mut child = self.spawn()?;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        let mut stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut out = String::new();
            let r = stdout.read_to_string(&mut out).map(|_| out);
            let _ = tx.send(r);
        });
        // An adapter that exits without reading its input closes the pipe;
        // the missing response is the error worth reporting.
        let _ = stdin.write_all(request.as_bytes());
        drop(stdin);
        let out = match rx.recv_timeout(self.manifest.timeout()) {
            Ok(r) => r.map_err(|e| format!("reading stdout: {e}")),
            Err(_) => {
                kill_group(&mut child);
                let _ = child.wait();
                return Err(format!("no answer within {:?}", self.manifest.timeout()));
            }
        };
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("adapter exited with {status}"));
        }
        out
    }

    fn session(&mut self) -> std::result::Result<&mut Session, String> {
        if self.session.is_none() {
            let mut child = self.spawn()?;
            let stdin = child.stdin.take().ok_or("no stdin")?;
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let (tx, lines) = mpsc::channel();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            self.session = Some(Session {
                child,
                stdin,
                lines,
            });
        }
        Ok(self.session.as_mut().expect("just set"))
    }

    fn persistent(&mut self, request: &str) -> std::result::Result<String, String> {
        let timeout = self.manifest.timeout();
        let session = self.session()?;
        let sent = session
            .stdin
            .write_all(request.as_bytes())
            .and_then(|_| session.stdin.write_all(b"\n"))
            .and_then(|_| session.stdin.flush());
        let answer = match sent {
            Err(e) => Err(format!("writing request: {e}")),
            Ok(()) => match session.lines.recv_timeout(timeout) {
                Ok(Ok(line)) => Ok(line),
                Ok(Err(e)) => Err(format!("reading response: {e}")),
                Err(RecvTimeoutError::Timeout) => Err(format!("no answer within {timeout:?}")),
                Err(RecvTimeoutError::Disconnected) => {
                    Err("the process closed its output (it exited or crashed)".into())
                }
            },
        };
        // After any transport failure the stream may be out of step: start
        // afresh on the next call.
        if answer.is_err() {
            self.close();
        }
        answer
    }

    /// Sends one request line and returns the answer line, in the
    /// manifest's mode (the transport of ABIs other than the vectors',
    /// e.g. [`crate::payer`]).
    pub fn call_line(&mut self, line: &str) -> std::result::Result<String, String> {
        match self.manifest.mode() {
            Mode::OneShot => self.one_shot(line),
            Mode::Persistent => self.persistent(line),
        }
    }

    /// Ends a persistent session: stdin is closed, then the process is
    /// given a moment to exit before it is killed.
    pub fn close(&mut self) {
        if let Some(mut s) = self.session.take() {
            drop(s.stdin);
            for _ in 0..50 {
                if matches!(s.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
            kill_group(&mut s.child);
            let _ = s.child.wait();
        }
    }
}

/// Kills a child and every process of its group.
fn kill_group(child: &mut Child) {
    // The child leads its own group (see `spawn`).
    crate::process::kill_group(child.id());
    let _ = child.kill();
}

impl Drop for AdapterClient {
    fn drop(&mut self) {
        self.close();
    }
}

impl AdapterClient {
    fn unsupported(&self, request: &AbiRequest) -> Option<AbiResponse> {
        (!self.manifest.capabilities.iter().any(|c| c == &request.op)).then(|| {
            AbiResponse::Err(AbiError {
                error_type: "unsupported_operation".into(),
                message: format!("{} is not among the manifest's capabilities", request.op),
                code: None,
            })
        })
    }

    /// Writes every request (from a second thread) while reading the
    /// answers in order, each within the timeout. An adapter stuck on one
    /// input stops reading, so a writer on this thread would block forever
    /// on the full pipe; instead the stuck adapter is killed, which ends
    /// the writer, and the rest of the batch is reported unanswered.
    ///
    /// Only the input it failed on is charged to the adapter: the rest of
    /// the batch is sent again to a fresh process.
    fn pipelined(&mut self, lines: &[String]) -> Vec<std::result::Result<String, String>> {
        let mut answers = Vec::with_capacity(lines.len());
        // Failures on the first input of consecutive restarts: an adapter
        // that answers nothing at all is given up on after a few.
        let mut dead = 0;
        while answers.len() < lines.len() {
            let rest = &lines[answers.len()..];
            match self.pipelined_once(rest) {
                // The adapter does not start: nothing will answer the rest.
                Err(e) => answers.extend(rest.iter().map(|_| Err(e.clone()))),
                Ok(part) => {
                    match part.iter().position(|a| a.is_err()) {
                        Some(0) if dead >= 2 => {
                            let why = part[0].clone().err().unwrap_or_default();
                            answers.extend(rest.iter().map(|_| {
                                Err(format!("{why} (and on the inputs before: given up)"))
                            }));
                        }
                        Some(i) => {
                            dead = if i == 0 { dead + 1 } else { 1 };
                            answers.extend(part.into_iter().take(i + 1));
                        }
                        None => answers.extend(part),
                    }
                }
            }
        }
        answers
    }

    fn pipelined_once(
        &mut self,
        lines: &[String],
    ) -> std::result::Result<Vec<std::result::Result<String, String>>, String> {
        let timeout = self.manifest.timeout();
        let session = self.session()?;
        let mut buffer = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            buffer.push_str(line);
            buffer.push('\n');
        }
        let Session {
            child,
            stdin,
            lines: responses,
        } = session;
        let mut answers = Vec::with_capacity(lines.len());
        let mut broken: Option<String> = None;
        std::thread::scope(|scope| {
            let writer = scope.spawn(move || {
                stdin
                    .write_all(buffer.as_bytes())
                    .and_then(|_| stdin.flush())
            });
            for _ in lines {
                if let Some(why) = &broken {
                    answers.push(Err(why.clone()));
                    continue;
                }
                let answer = match responses.recv_timeout(timeout) {
                    Ok(Ok(line)) => Ok(line),
                    Ok(Err(e)) => Err(format!("reading response: {e}")),
                    Err(RecvTimeoutError::Timeout) => Err(format!("no answer within {timeout:?}")),
                    Err(RecvTimeoutError::Disconnected) => {
                        Err("the process closed its output (it exited or crashed)".into())
                    }
                };
                if let Err(why) = &answer {
                    broken = Some(why.clone());
                    // Unblocks the writer if the adapter stopped reading.
                    kill_group(child);
                }
                answers.push(answer);
            }
            if let Ok(Err(e)) = writer.join()
                && broken.is_none()
            {
                broken = Some(format!("writing requests: {e}"));
            }
        });
        if broken.is_some() {
            self.close();
        }
        Ok(answers)
    }
}

impl Executor for AdapterClient {
    fn call(&mut self, request: &AbiRequest) -> std::result::Result<AbiResponse, String> {
        if let Some(unsupported) = self.unsupported(request) {
            return Ok(unsupported);
        }
        let line = serde_json::to_string(request).map_err(|e| e.to_string())?;
        let raw = match self.manifest.mode() {
            Mode::OneShot => self.one_shot(&line)?,
            Mode::Persistent => self.persistent(&line)?,
        };
        decode_answer(&raw)
    }

    fn call_batch(
        &mut self,
        requests: &[AbiRequest],
    ) -> Vec<std::result::Result<AbiResponse, String>> {
        if self.manifest.mode() == Mode::OneShot {
            return requests.iter().map(|r| self.call(r)).collect();
        }
        let mut answers: Vec<Option<std::result::Result<AbiResponse, String>>> = requests
            .iter()
            .map(|r| self.unsupported(r).map(Ok))
            .collect();
        let pending: Vec<usize> = (0..requests.len())
            .filter(|i| answers[*i].is_none())
            .collect();
        let lines: Vec<String> = pending
            .iter()
            .map(|i| serde_json::to_string(&requests[*i]).expect("a request serializes"))
            .collect();
        for (i, raw) in pending.into_iter().zip(self.pipelined(&lines)) {
            answers[i] = Some(raw.and_then(|r| decode_answer(&r)));
        }
        answers
            .into_iter()
            .map(|a| a.expect("every request answered"))
            .collect()
    }
}

fn decode_answer(raw: &str) -> std::result::Result<AbiResponse, String> {
    let value: Value = serde_json::from_str(raw.trim())
        .map_err(|e| format!("answer is not JSON ({e}): {:?}", truncate(raw)))?;
    AbiResponse::from_json(&value).map_err(|e| format!("{e}: {:?}", truncate(raw)))
}

fn truncate(s: &str) -> &str {
    let end = s.char_indices().nth(200).map_or(s.len(), |(i, _)| i);
    &s[..end]
}
