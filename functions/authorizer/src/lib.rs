//! The API Gateway Lambda authorizer: event shapes, responses and the
//! handler; `main.rs` only wires it to AWS and the Lambda runtime.

pub mod config;
pub mod events;
pub mod handler;
