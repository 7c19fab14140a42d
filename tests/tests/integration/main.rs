//! Every integration test in one binary (one link of the AWS SDK instead of
//! one per file), a module per area; helpers live in `tests/src/`.

mod account_sync;
mod accounts;
mod allowlists;
mod audit_trail;
mod authorizer;
mod bounded_listings;
mod cache_tiers;
mod caching;
mod client;
mod events;
mod gateway;
mod iam;
mod idempotency;
mod idle_expiry;
mod last_use;
mod leaks;
mod local_stack;
mod management;
mod mass_revocation;
mod metrics;
mod openapi;
mod org_approval;
mod org_limits;
mod orgs;
mod peppers;
mod rate_limits;
mod rotation;
mod security;
mod self_rotation;
mod settings_page;
mod smoke;
mod storage;
mod template;
mod token_self;
mod usage_plans;
