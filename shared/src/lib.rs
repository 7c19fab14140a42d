//! The library every cog_ Lambda shares: the token format, peppered hashing,
//! the KMS-backed pepper ring, DynamoDB storage and the authorization policy.
//!
//! Layout: the domain (`token`, `bearer`, `hash`, `pepper`, `records`) and the
//! storage ports (`store`) know nothing of AWS; `aws` holds the adapters.

pub mod accounts;
pub mod allowlist;
pub mod audit;
pub mod authorize;
#[cfg(feature = "aws")]
pub mod aws;
pub mod bearer;
pub mod caller;
pub mod config;
pub mod context;
pub mod events;
pub mod expiry;
pub mod hash;
pub mod leaks;
pub mod lifecycle;
pub mod logging;
pub mod management;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod names;
pub mod org_policies;
pub mod pepper;
pub mod records;
pub mod routes;
pub mod store;
pub mod token;

pub use bearer::{extract_bearer, BearerError};
pub use hash::{Pepper, PepperVersion, TokenHash};
pub use token::{PlainToken, TokenFormatError, TokenId};
