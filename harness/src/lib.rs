//! How mppconf drives implementations. The `mppconf` binary is a thin
//! layer over this.
//!
//! - [`adapter`], [`vector_files`], [`official`], [`runner`],
//!   [`serve_adapter`]: library-level vectors through adapter processes.
//! - [`chain`]: the local Tempo chain, a bounded JSON-RPC client, the
//!   recording RPC proxy.
//! - [`reference`](mod@reference): the reference Tempo charge server and client, their
//!   transactions and their deliberate deviations.
//! - [`methods`]: payment methods as plug-ins (Tempo charge, the `stub`
//!   test method), used by both suites; [`payer`]: the payer ABI, for a
//!   method mppconf cannot pay by itself.
//! - [`server_suite`]: the server suite (checks filed by spec, target
//!   manifests, fuzzing).
//! - [`mcp_suite`]: the MCP server suite (draft-payment-transport-mcp-00:
//!   paid tool calls over JSON-RPC).
//! - [`differential`]: differential fuzzing of parsers across adapters.
//! - [`client_suite`]: the client suite (scenario server, checks, client
//!   target manifests).
//! - [`report`]: the report model, requirement coverage, baselines,
//!   shards and the Markdown, JUnit and HTML writers.
//! - [`preflight`]: every input checked before any work starts;
//!   [`interrupt`]: Ctrl-C and SIGTERM write the report of what ran.
//! - [`schema`], [`error`], [`process`], [`background`], [`stdout`]:
//!   shared plumbing.

pub mod adapter;
pub mod background;
pub mod chain;
pub mod client_suite;
pub mod differential;
pub mod error;
pub mod escrow_suite;
pub mod interrupt;
pub mod mcp_client_suite;
pub mod mcp_suite;
pub mod methods;
pub mod official;
pub mod payer;
pub mod preflight;
pub mod process;
pub mod reference;
pub mod report;
pub mod runner;
pub mod schema;
pub mod serve_adapter;
pub mod server_suite;
pub mod stdout;
pub mod tls;
pub mod vector_files;
pub mod vectors_run;
