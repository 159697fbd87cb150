//! `mppconf`: the command line. Thin by design: each command parses its
//! arguments and calls into `harness` modules and the `suite` crate.
//!
//! Exit codes: 0 conformant, 1 non-conformant, 2 usage error (bad
//! arguments or a broken input file), 3 harness error (an adapter could not
//! be run, a case could not be decided), 4 stale expectations (a listed
//! known failure now passes).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mppconf_suite::drafts::CoreDraft;

use mppconf_harness::adapter::AdapterClient;
use mppconf_harness::error::{self, Error};
use mppconf_harness::outln;
use mppconf_harness::reference::commands;
use mppconf_harness::report::Report;
use mppconf_harness::{serve_adapter, vector_files, vectors_run};

const EXIT_FAIL: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_HARNESS: u8 = 3;

#[derive(Parser)]
#[command(
    name = "mppconf",
    version,
    about = "Conformance suite and fuzzer for the Machine Payments Protocol (HTTP 402 Payment)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Library-level test vectors: validate the data, run it against adapters.
    Vectors {
        #[command(subcommand)]
        command: VectorsCommand,
    },
    /// The reference codec behind the adapter ABI on stdin/stdout: one
    /// response line per JSON request (one-shot and persistent alike).
    Adapter {
        /// The core draft the codec follows: draft-httpauth-payment-00 (the
        /// pinned default) or draft-httpauth-payment-01 (the `header`
        /// parameter and its binding slot).
        #[arg(long, default_value = "draft-httpauth-payment-00")]
        core: CoreDraft,
    },
    /// Start a local Tempo chain (anvil) and keep it until Ctrl-C.
    Chain(commands::ChainArgs),
    /// The reference Tempo charge server.
    Serve(commands::ServeArgs),
    /// The reference client (Tempo charge and session, EVM charge): pay one
    /// paid resource.
    Pay(commands::PayArgs),
    /// The reference MCP client: pay one paid MCP tool, resource or
    /// prompt (draft-payment-transport-mcp-00, Tempo charge).
    McpPay(commands::McpPayArgs),
    /// The server suite: probe a running server (--url) or the reference
    /// server on a local chain (--reference).
    Server(Box<mppconf_harness::server_suite::command::ServerArgs>),
    /// The MCP server suite (draft-payment-transport-mcp-00): probe a
    /// running MCP endpoint's paid tool (--url) or the reference server's
    /// MCP endpoint (--reference).
    McpServer(Box<mppconf_harness::mcp_suite::command::McpServerArgs>),
    /// The escrow suite (draft-evm-session-00 §"Channel Escrow Contract"):
    /// an EVM session escrow judged on a local chain, from its creation
    /// code (--creation-code) or the reference escrow (--reference).
    Escrow(Box<mppconf_harness::escrow_suite::command::EscrowArgs>),
    /// An MCP server on stdio relaying each line to a Streamable HTTP
    /// endpoint (how `mcp-server --reference --stdio` serves the
    /// reference endpoint over stdio).
    McpBridge {
        /// The Streamable HTTP endpoint, e.g. http://127.0.0.1:3000/mcp.
        #[arg(long)]
        url: String,
    },
    /// Run the client suite: scripted 402 scenarios against the reference
    /// client or client programs from their manifests.
    Client(mppconf_harness::client_suite::command::ClientArgs),
    /// The MCP client suite (draft-payment-transport-mcp-00): scripted
    /// paid MCP endpoints against the reference MCP client or MCP client
    /// programs from their manifests.
    McpClient(mppconf_harness::mcp_client_suite::command::McpClientArgs),
    /// Fuzzing of live targets.
    Fuzz {
        #[command(subcommand)]
        command: FuzzCommand,
    },
    /// Conformance reports: join shards, render runs side by side.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Join the report.json of each shard of one run (--shard i/n) into
    /// one report, written in every format; the exit code is the merged
    /// run's.
    Merge {
        /// The shards' report.json files.
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Folder for the merged report.
        #[arg(long)]
        out: PathBuf,
    },
    /// Take the runs of one implementation (its server, client and vector
    /// runs' report.json) together as one report, written in every format:
    /// each requirement's verdict considers the checks of every run, each
    /// spec's coverage what any run's target can violate. The exit code is
    /// the joined report's.
    Join {
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// The implementation's name (e.g. `mppx 0.11.0`).
        #[arg(long)]
        target: String,
        /// Folder for the joined report.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a Markdown index of report.json files (one row per run and
    /// spec, linked to each run's pages).
    Index {
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// The Markdown file to write; links are relative to its folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Whether two runs concluded the same: every check's verdict and
    /// cited requirements on every subject, every requirement's verdict
    /// (not times, details or order). Each side is a report.json or a
    /// verdicts file (--write). Exit 0 when they agree, 1 when not.
    Compare {
        /// The run to compare with (e.g. before a change).
        before: PathBuf,
        /// The run to compare (e.g. after it); omit with --write.
        after: Option<PathBuf>,
        /// Instead of comparing, write `before`'s verdicts to this file.
        #[arg(long, conflicts_with = "after")]
        write: Option<PathBuf>,
    },
    /// How much of each spec several runs exercised together (e.g. one
    /// implementation's server, client and vector runs): per spec, the
    /// testable requirements some check of some run judged, the
    /// untestable ones, and the list of those no run exercised.
    Coverage {
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Exit 1 when less than this percentage of the testable
        /// requirements of all the specs together was exercised.
        #[arg(long, value_name = "PERCENT")]
        min: Option<f64>,
        /// Count only this spec (repeatable; default: every spec the runs
        /// cite), e.g. a floor for the specs a suite judges in full apart
        /// from a spec it judges in part.
        #[arg(long, value_name = "DOCNAME")]
        spec: Vec<String>,
    },
    /// Render report.json files as one HTML page: one run in detail, or
    /// several as a matrix of requirements × implementations.
    Render {
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// The HTML file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum FuzzCommand {
    /// Mutated credentials against a server, judged by an oracle (no 2xx
    /// without payment, no 5xx, no 402 without a challenge, no echo,
    /// bounded time); findings are shrunk and saved.
    Server(mppconf_harness::server_suite::command::FuzzServerArgs),
    /// Differential fuzzing of parsers: generated headers to every adapter
    /// and the reference codec; disagreements classified, shrunk and
    /// written as candidate vectors.
    Diff(DiffArgs),
    /// Mutated challenges served to a paying client, judged by an oracle
    /// (never pay an unpayable challenge, never crash, hang or flood).
    Client(mppconf_harness::client_suite::command::FuzzClientArgs),
}

#[derive(clap::Args)]
struct DiffArgs {
    /// An adapter (manifest path, folder or name under --adapters);
    /// repeatable. The reference codec always takes part.
    #[arg(long, required = true)]
    adapter: Vec<String>,
    #[arg(long, default_value = "harness/adapters")]
    adapters: PathBuf,
    /// The seed; the same seed gives the same inputs and findings.
    #[arg(long)]
    seed: Option<u64>,
    /// How many inputs to generate.
    #[arg(long, default_value_t = 20_000)]
    cases: usize,
    /// Stop after this many seconds even if --cases is not reached.
    #[arg(long)]
    budget_secs: Option<u64>,
    /// Folder for findings.json and candidates.json.
    #[arg(long, default_value = "target/fuzz-diff")]
    out_dir: PathBuf,
    /// The vectors folder (seeds and what the drafts allow).
    #[arg(long)]
    vectors: Option<PathBuf>,
    /// The most an adapter may take for one input; a slower answer is a
    /// finding (the adapter is restarted), not a wait.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// The core draft the reference reads the inputs under (the SDKs
    /// follow draft-httpauth-payment-01: under it a `header` parameter is
    /// theirs and the reference's alike).
    #[arg(long, default_value = "draft-httpauth-payment-00")]
    core: mppconf_suite::drafts::CoreDraft,
}

#[derive(Subcommand)]
enum VectorsCommand {
    /// Check vector files and the requirement catalogue: schema, ids,
    /// flags, spec quotes, and agreement with the reference codec.
    Validate {
        /// Vector files to check (default: all under the vectors folder).
        files: Vec<PathBuf>,
        /// The vectors folder (default: ./vectors).
        #[arg(long)]
        vectors: Option<PathBuf>,
    },
    /// Write the headers of the vectors' parse cases as fuzzing seeds,
    /// one folder per fuzz target (`fuzz/corpus/<target>/`).
    Corpus {
        /// Output folder.
        #[arg(long, default_value = "fuzz/corpus")]
        out: PathBuf,
        /// The vectors folder (default: ./vectors).
        #[arg(long)]
        vectors: Option<PathBuf>,
    },
    /// Run vectors against an adapter and print a per-case verdict summary.
    Run(vectors_run::RunArgs),
}

fn report_merge(parts: &[PathBuf], out: &Path) -> error::Result<u8> {
    let parts = parts
        .iter()
        .map(|p| Report::read(p))
        .collect::<error::Result<Vec<_>>>()?;
    let merged = Report::merge(parts)?;
    merged.write(out)?;
    mppconf_harness::report::gate::print_findings(&merged);
    mppconf_harness::report::gate::print_coverage(&merged);
    outln!(
        "{} checks merged into {}",
        merged.checks.len(),
        out.join("report.json").display()
    );
    Ok(merged.exit_code())
}

fn report_join(paths: &[PathBuf], target: &str, out: &Path) -> error::Result<u8> {
    let out_dir = std::path::absolute(out).map_err(|e| Error::io(out, e))?;
    let mut runs = Vec::new();
    for path in paths {
        let mut run = Report::read(path)?;
        // Evidence stays in each run's folder: link it from the joined one.
        let folder = std::path::absolute(path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| Error::io(path, e))?;
        for c in &mut run.checks {
            if let Some(e) = &c.evidence {
                c.evidence = Some(relative_to(&folder.join(e), &out_dir));
            }
        }
        runs.push(run);
    }
    let joined = Report::join(target, runs)?;
    joined.write(out)?;
    mppconf_harness::report::gate::print_findings(&joined);
    mppconf_harness::report::gate::print_coverage(&joined);
    outln!(
        "{} runs ({} checks) joined into {}",
        joined.runs.len(),
        joined.checks.len(),
        out.join("report.json").display()
    );
    Ok(joined.exit_code())
}

fn report_coverage(paths: &[PathBuf], min: Option<f64>, only: &[String]) -> error::Result<u8> {
    use mppconf_harness::report::Coverage;
    let reports = paths
        .iter()
        .map(|p| Report::read(p))
        .collect::<error::Result<Vec<_>>>()?;
    let joined = Report::join("coverage", reports)?;
    for name in only {
        if !joined.specs.iter().any(|s| &s.docname == name) {
            let present: Vec<&str> = joined.specs.iter().map(|s| s.docname.as_str()).collect();
            return Err(error::Error::Usage(format!(
                "--spec {name}: no run cites it; the runs cite {}",
                present.join(", ")
            )));
        }
    }
    let specs: Vec<_> = joined
        .specs
        .iter()
        .filter(|s| only.is_empty() || only.contains(&s.docname))
        .collect();
    let mut total = Coverage::default();
    for spec in &specs {
        let c = &spec.coverage;
        outln!("{}: {}", spec.docname, c.summary());
        for id in &c.not_exercised {
            outln!("    not exercised: {id}");
        }
        total.add(c);
    }
    outln!("all {} specs: {}", specs.len(), total.summary());
    match min {
        Some(min) if total.percent() < min => {
            outln!("below --min {min}%");
            Ok(1)
        }
        _ => Ok(0),
    }
}

fn report_compare(before: &Path, after: Option<&Path>, write: Option<&Path>) -> error::Result<u8> {
    use mppconf_harness::report::compare::Verdicts;
    let a = Verdicts::read(before)?;
    if let Some(out) = write {
        std::fs::write(out, a.to_json()).map_err(|e| error::Error::io(out, e))?;
        outln!("verdicts written to {}", out.display());
        return Ok(0);
    }
    let Some(after) = after else {
        return Err(error::Error::Usage(
            "give the run to compare (AFTER), or --write FILE".into(),
        ));
    };
    let differences = a.differences(&Verdicts::read(after)?);
    for d in &differences {
        outln!("{d}");
    }
    outln!(
        "{} checks, {} differences ({} vs {})",
        a.checks.len(),
        differences.len(),
        before.display(),
        after.display()
    );
    Ok(if differences.is_empty() { 0 } else { 1 })
}

fn report_render(reports: &[PathBuf], out: &Path) -> error::Result<u8> {
    let runs = reports
        .iter()
        .map(|p| Report::read(p))
        .collect::<error::Result<Vec<_>>>()?;
    // Each column links to the run's own report.html, relative to the page.
    let page_dir = std::path::absolute(out.parent().unwrap_or(Path::new(".")))
        .map_err(|e| Error::io(out, e))?;
    let links: Vec<String> = reports
        .iter()
        .map(|p| {
            let html = std::path::absolute(p.with_file_name("report.html"))
                .unwrap_or_else(|_| p.with_file_name("report.html"));
            relative_to(&html, &page_dir)
        })
        .collect();
    let html = mppconf_harness::report::html::render_linked(&runs, &links);
    std::fs::write(out, html).map_err(|e| Error::io(out, e))?;
    outln!("{} run(s) rendered to {}", runs.len(), out.display());
    Ok(0)
}

/// `path` relative to the folder `base` (both absolute), with `..` as needed.
fn relative_to(path: &Path, base: &Path) -> String {
    let p: Vec<_> = path.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); b.len() - common];
    parts.extend(
        p[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

fn report_index(reports: &[PathBuf], out: &Path) -> error::Result<u8> {
    let base = out.parent().unwrap_or(Path::new("."));
    let mut runs = Vec::new();
    for path in reports {
        let report = Report::read(path)?;
        let folder = path.parent().unwrap_or(Path::new("."));
        let relative = folder.strip_prefix(base).unwrap_or(folder);
        runs.push((relative.display().to_string(), report));
    }
    let text = mppconf_harness::report::markdown::render_index(&runs);
    std::fs::write(out, text).map_err(|e| Error::io(out, e))?;
    outln!("{} run(s) indexed in {}", runs.len(), out.display());
    Ok(0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Adapter { core } => serve_adapter::serve(core).map(|()| 0),
        Command::Chain(args) => block_on(commands::chain(args)).map(|()| 0),
        Command::Serve(args) => block_on(commands::serve(args)).map(|()| 0),
        Command::Report {
            command: ReportCommand::Merge { parts, out },
        } => report_merge(&parts, &out),
        Command::Report {
            command: ReportCommand::Render { reports, out },
        } => report_render(&reports, &out),
        Command::Report {
            command:
                ReportCommand::Join {
                    reports,
                    target,
                    out,
                },
        } => report_join(&reports, &target, &out),
        Command::Report {
            command:
                ReportCommand::Compare {
                    before,
                    after,
                    write,
                },
        } => report_compare(&before, after.as_deref(), write.as_deref()),
        Command::Report {
            command: ReportCommand::Index { reports, out },
        } => report_index(&reports, &out),
        Command::Report {
            command: ReportCommand::Coverage { reports, min, spec },
        } => report_coverage(&reports, min, &spec),
        Command::Fuzz {
            command: FuzzCommand::Diff(args),
        } => fuzz_diff(&args),
        Command::Fuzz {
            command: FuzzCommand::Client(args),
        } => block_on(mppconf_harness::client_suite::command::fuzz_client(args)),
        Command::Fuzz {
            command: FuzzCommand::Server(args),
        } => block_on(mppconf_harness::server_suite::command::fuzz_server(args)),
        Command::Server(args) => block_on(mppconf_harness::server_suite::command::server(*args)),
        Command::McpBridge { url } => block_on(mppconf_harness::mcp_suite::bridge::bridge(&url)),
        Command::McpServer(args) => {
            block_on(mppconf_harness::mcp_suite::command::mcp_server(*args))
        }
        Command::Escrow(args) => block_on(mppconf_harness::escrow_suite::command::escrow(*args)),
        Command::Client(args) => block_on(mppconf_harness::client_suite::command::client(args)),
        Command::McpClient(args) => {
            block_on(mppconf_harness::mcp_client_suite::command::mcp_client(args))
        }
        Command::Pay(args) => {
            block_on(commands::pay(args)).map(|paid| if paid { 0 } else { EXIT_FAIL })
        }
        Command::McpPay(args) => {
            block_on(commands::mcp_pay(args)).map(|paid| if paid { 0 } else { EXIT_FAIL })
        }
        Command::Vectors { command } => match command {
            VectorsCommand::Validate { files, vectors } => validate(&files, vectors.as_deref()),
            VectorsCommand::Corpus { out, vectors } => corpus(&out, vectors.as_deref()),
            VectorsCommand::Run(args) => vectors_run::run(args),
        },
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("mppconf: {e}");
            ExitCode::from(match e {
                Error::Adapter { .. } | Error::Setup(_) => EXIT_HARNESS,
                Error::Refused(_) => EXIT_FAIL,
                Error::Io { .. }
                | Error::Json { .. }
                | Error::Field { .. }
                | Error::At { .. }
                | Error::Usage(_)
                | Error::Chain { .. } => EXIT_USAGE,
            })
        }
    }
}

fn block_on<T>(f: impl std::future::Future<Output = error::Result<T>>) -> error::Result<T> {
    tokio::runtime::Runtime::new()
        .map_err(|e| Error::Setup(format!("cannot start the async runtime: {e}")))?
        .block_on(f)
}

fn validate(files: &[PathBuf], vectors: Option<&Path>) -> error::Result<u8> {
    let dir = vector_files::vectors_dir(vectors);
    let (catalogue, mut problems) = vector_files::lint_catalogue(&dir)?;
    // The reference judges the vectors by the folder's own method rules.
    let (rules, rule_problems) = vector_files::lint_method_rules(&dir, &catalogue)?;
    problems.extend(rule_problems);
    let rule_files = rules.len();
    if mppconf_suite::methods::rules::install(rules).is_err() {
        return Err(Error::Setup(
            "the method rules were in use before the vectors folder's could be read".into(),
        ));
    }
    let paths = if files.is_empty() {
        vector_files::discover(&dir)?
    } else {
        files.to_vec()
    };
    let mut loaded = Vec::new();
    for path in &paths {
        match vector_files::load(path)? {
            Ok(file) => loaded.push(file),
            Err(p) => problems.extend(p),
        }
    }
    problems.extend(vector_files::lint_vectors(&loaded, &catalogue));
    for p in &problems {
        outln!("{p}");
    }
    let cases: usize = loaded.iter().map(|f| f.file.cases.len()).sum();
    let requirements = catalogue.requirements().count();
    outln!(
        "{} vector files, {cases} cases, {requirements} requirements, {rule_files} method rule files: {} problem{}",
        paths.len(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    Ok(if problems.is_empty() { 0 } else { EXIT_FAIL })
}

/// Every vector file of the folder, all of them valid (the first problem
/// is a usage error naming the file).
fn load_all(vectors: Option<&Path>) -> error::Result<Vec<vector_files::LoadedFile>> {
    let dir = vector_files::vectors_dir(vectors);
    let mut loaded = Vec::new();
    for path in vector_files::discover(&dir)? {
        match vector_files::load(&path)? {
            Ok(file) => loaded.push(file),
            Err(problems) => {
                return Err(Error::Usage(format!(
                    "{} is not a valid vector file: {}",
                    path.display(),
                    problems[0]
                )));
            }
        }
    }
    Ok(loaded)
}

fn fuzz_diff(args: &DiffArgs) -> error::Result<u8> {
    use mppconf_harness::differential::{self, Contender};
    let files = load_all(args.vectors.as_deref())?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut contenders = vec![Contender::reference(args.core)];
    for given in &args.adapter {
        let manifest =
            vectors_run::resolve_adapter(given, &args.adapters)?.with_timeout_ms(args.timeout_ms);
        manifest.build()?;
        let capabilities = manifest.capabilities.clone();
        let name = manifest.name.clone();
        contenders.push(Contender::adapter(
            AdapterClient::new(manifest),
            &capabilities,
            &name,
        ));
    }
    eprintln!(
        "mppconf fuzz diff: seed {seed}, {} inputs, {} implementations, under {}",
        args.cases,
        contenders.len(),
        args.core
    );
    let summary = differential::run(
        args.core,
        &mut contenders,
        &files,
        seed,
        args.cases,
        args.budget_secs.map(std::time::Duration::from_secs),
        |done, found| eprint!("\r{done} inputs, {found} distinct disagreements"),
    );
    eprintln!();
    for f in &summary.findings {
        outln!(
            "{:<10} {} [{}]\n           input: {}\n           {}",
            f.classification,
            f.signature.op,
            f.signature.pattern.join(" "),
            if f.input.len() > 160 {
                format!(
                    "{}… ({} bytes)",
                    f.input.chars().take(160).collect::<String>(),
                    f.input.len()
                )
            } else {
                f.input.clone()
            },
            f.verdict
        );
    }
    for (name, rate) in &summary.execs_per_sec {
        outln!("{name}: {rate:.0} executions/s");
    }
    let (findings, candidates) = differential::write(&summary, &args.out_dir)?;
    outln!(
        "{} inputs, {} disagreeing, {} distinct: {}{}",
        summary.inputs,
        summary.disagreeing_inputs,
        summary.findings.len(),
        findings.display(),
        candidates
            .map(|c| format!(" and {}", c.display()))
            .unwrap_or_default()
    );
    Ok(if summary.findings.is_empty() { 0 } else { 1 })
}

fn corpus(out: &Path, vectors: Option<&Path>) -> error::Result<u8> {
    let loaded = load_all(vectors)?;
    for (target, n) in vector_files::write_corpus(&loaded, out)? {
        outln!(
            "{n:>5} seeds for {target} in {}",
            out.join(target).display()
        );
    }
    Ok(0)
}
