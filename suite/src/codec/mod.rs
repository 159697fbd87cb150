//! The strict reference wire codec: the oracle every implementation is
//! judged against. Each module cites the section of the pinned draft it
//! implements; where a draft is ambiguous the module says which reading it
//! takes, and the vectors mark the case `acceptable`.

pub mod accept_payment;
pub mod auth_params;
pub mod base64url;
pub mod challenge;
pub mod challenge_id;
pub mod content_digest;
pub mod credential;
pub mod json;
pub mod problem;
pub mod receipt;
pub mod request_schema;
pub mod rfc3339;

pub use accept_payment::{AcceptPayment, PaymentRange};
pub use challenge::Challenge;
pub use challenge_id::BindingSlots;
pub use credential::{Credential, EchoedChallenge};
pub use json::EncodedJson;
pub use problem::{ProblemDetails, ProblemType};
pub use receipt::Receipt;
