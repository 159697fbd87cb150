//! The local Tempo chain and talking to it: anvil's lifecycle, a bounded
//! JSON-RPC client, and the contracts mppconf deploys on it.

pub mod anvil;
pub mod contracts;
pub mod escrow;
pub mod npm;
pub mod proxy;
pub mod rpc;

pub use anvil::{Anvil, AnvilConfig};
pub use proxy::RpcProxy;
pub use rpc::Rpc;
