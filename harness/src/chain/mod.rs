//! The local Tempo chain and talking to it: anvil's lifecycle and a
//! bounded JSON-RPC client.

pub mod anvil;
pub mod proxy;
pub mod rpc;

pub use anvil::{Anvil, AnvilConfig};
pub use proxy::RpcProxy;
pub use rpc::Rpc;
