//! The library every cog_ Lambda shares: the token format, the stored
//! records and the ports their adapters implement, the authorization
//! decision, the management use cases and the event side.
//!
//! # Layers
//!
//! Each folder is one concern; a module imports only from layers below its
//! own (and from its own folder). `shared/tests/layers.rs` fails when an
//! import runs upward or two files import each other in a circle.
//!
//! | layer | module | holds |
//! | --- | --- | --- |
//! | 0 | [`config`], [`logging`], [`metrics`] | environment helpers, log set-up and error chains, CloudWatch metrics in Embedded Metric Format: used by every layer, import none |
//! | 1 | [`token`] | the token format, bearer parsing, peppered hashing, sealing under a pepper |
//! | 2 | [`records`] | the stored records and value types: tokens, principals, audit events, access changes, allowlists, rate limits and their usage-plan keys, names, callers, org policies, idempotency records |
//! | 3 | [`store`] | the ports the adapters implement (storage, the pepper source and ring, the expiry index, the revocation feed, API Gateway's authorizer cache, its API keys and usage plans) and their errors |
//! | 4 | [`authorize`] | the authorization decision: rules, routes, org policies as applied, the credential cache, the context handed on |
//! | 4 | [`management`] | the use cases behind the management routes, leak response, account sync, revoke-all |
//! | 4 | [`events`] | lifecycle events from the audit outbox, the expiry sweep, the cache invalidator, the usage-plan sync |
//! | 5 | `aws`, `memory` | the adapters: DynamoDB and KMS (feature `aws`), in-memory fakes (feature `test-util`) |
//!
//! Layer-4 modules do not import one another; functions (the Lambda crates)
//! sit above all of it.

pub mod config;
pub mod logging;
pub mod metrics;

pub mod token;

pub mod records;

pub mod store;

pub mod authorize;
pub mod events;
pub mod management;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;

pub use token::bearer::{extract_bearer, BearerError};
pub use token::hash::{Pepper, PepperVersion, TokenHash};
pub use token::{PlainToken, TokenFormatError, TokenId};
