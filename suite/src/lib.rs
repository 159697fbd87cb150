//! What MPP conformance means.
//!
//! - [`codec`]: the strict reference wire codec, cited section by section.
//! - [`methods`]: method-specific rules (Tempo charge credentials, and the
//!   transfers a charge requires and a transaction or receipt makes).
//! - [`ops`]: the codec behind the cross-SDK adapter ABI operations.
//! - [`drafts`]: the versions of the core draft a run can judge against.
//! - [`catalogue`]: the requirement catalogue (data under `vectors/requirements`).
//! - [`discovery`]: the OpenAPI discovery document and its payment offers.
//! - [`mcp`]: payment data in JSON-RPC (MCP) messages.
//! - [`vectors`]: the vector file model and the judging of an adapter's answer.

pub mod catalogue;
pub mod codec;
pub mod discovery;
pub mod drafts;
pub mod error;
pub mod mcp;
pub mod methods;
pub mod ops;
pub mod vectors;

pub use error::{AbiErrorType, Error, Result};
