//! Lifecycle events. `event-publisher` reads the table's stream (the audit
//! items are the outbox) and puts each credential event on the EventBridge
//! bus once; `expiry-sweep` runs hourly and records expiry notices, which
//! reach the bus the same way. `cache-invalidator` reads the same stream
//! for access changes: the revocation feed and API Gateway's cache flushes;
//! `usage-plan-sync` for rate-limited credentials: their API keys in REST
//! usage plans.

pub mod bus;
pub mod gateway;
pub mod invalidator;
pub mod metrics;
pub mod plan_sync;
pub mod publisher;
pub mod usage_plans;
