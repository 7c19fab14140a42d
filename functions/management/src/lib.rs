//! The management routes over HTTP (API Gateway HTTP API behind a JWT
//! authorizer): routing, the caller, bodies, typed response views and RFC 9457
//! problems. Handlers only translate between HTTP and
//! [`cog_tokens::management`]; the binaries in `src/bin/` are wiring.

pub mod body;
pub mod caller;
#[cfg(feature = "aws")]
pub mod config;
pub mod endpoints;
pub mod handlers;
pub mod metrics;
mod org_handlers;
pub mod problem;
pub mod response;
pub mod views;

pub use endpoints::{Endpoint, Function, ENDPOINTS};
pub use handlers::handle_request;
pub use problem::Problem;
