//! How mppconf drives implementations: adapter processes behind the
//! cross-SDK ABI, the vector files and their lint, the runner, and the
//! reference adapter. The `mppconf` binary is a thin layer over this.

pub mod adapter;
pub mod background;
pub mod chain;
pub mod error;
pub mod official;
pub mod probe;
pub mod process;
pub mod reference;
pub mod runner;
pub mod schema;
pub mod serve_adapter;
pub mod vector_files;
