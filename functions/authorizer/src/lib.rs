//! The API Gateway Lambda authorizer: the request view (`request`), the
//! answer (`response`) and the usage-plan key it names (`usage_plans`), one
//! invocation (`handler`) and its settings (`config`); `main.rs` only wires
//! it to AWS and the Lambda runtime.

pub mod config;
pub mod handler;
pub mod metrics;
pub mod request;
pub mod response;
pub mod usage_plans;
