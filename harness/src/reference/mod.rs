//! The reference implementations inside the harness: a paying client and
//! a verifying server for `tempo`/`charge`, both able to misbehave on
//! purpose so that every check can be shown to fail.

pub mod client;
pub mod commands;
pub mod server;
pub mod tx;
