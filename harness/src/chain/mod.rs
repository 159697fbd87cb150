//! The local chains (Tempo, plain EVM) and talking to them: anvil's lifecycle, a bounded
//! JSON-RPC client, and the contracts mppconf deploys on it.

pub mod anvil;
pub mod contracts;
pub mod escrow;
pub mod evm;
pub mod evm_channel;
pub mod npm;
pub mod proxy;
pub mod rpc;

pub use anvil::{Anvil, AnvilConfig};
pub use proxy::RpcProxy;
pub use rpc::Rpc;
