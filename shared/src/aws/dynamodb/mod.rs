//! DynamoDB adapter for every storage port, on one table.
//!
//! Item layout (partition key `pk`, sort key `sk`):
//!
//! | item | pk | sk | GSI `gsi1` |
//! | --- | --- | --- | --- |
//! | token | `TOKEN#<id>` | `TOKEN` | `OWNER#<kind>#<owner>` / `<created_at ms, 20 digits>#<id>`; `gsi2` while it may get expiry notices: `EXPIRES#<day>` / `<expires_at ms, 20 digits>#<id>`; `gsi3` (idle index, owner projected) until the idle sweep lets it go: `IDLE#<last active day>` / `<id>` |
//! | active-token counter | `OWNER#<kind>#<owner>` | `COUNTER` | |
//! | token name | `OWNER#<kind>#<owner>` | `NAME#<uniqueness key>` | |
//! | account | `USER#<user_id>` | `ACCOUNT` | |
//! | service user | `SVCUSER#<id>` | `SVCUSER` | `ORG#<org>#SVCUSERS` / `<created_at ms, 20 digits>#<id>` |
//! | audit event | `AUDIT#OWNER#<kind>#<owner>`, `AUDIT#ORG#<org>` (the org's own), or `AUDIT#SYSTEM` | `<at ms, 20 digits>#<event id>` | an org admin's: `AUDIT#ORG#<org>` / its `sk` |
//! | pepper | `PEPPER` | `V#<version, 10 digits>` | |
//! | org member | `ORG#<org>` | `MEMBER#<user_id>` | |
//! | org PAT policy | `ORG#<org>` | `POLICY` | |
//! | org service-user counter | `ORG#<org>` | `SVCUSERS` | |
//! | rate-limit window | `RATE#<key>` | `<window start ms>` | |
//! | published event marker | `PUBLISHED#<audit event id>` | `EVENT` | |
//! | revocation feed | `FEED` | `REVOCATIONS` | |
//! | scheduled credential end | `ENDS#<minute since the epoch>` | `<at ms, 20 digits>#<token id>` | |
//! | an `Idempotency-Key`'s result | `IDEMPOTENCY#<hash of caller and key>` | `RESULT` | |
//!
//! A token holds a slot in its owner's counter (attribute `holds_slot`) from
//! creation until the write that revokes it or releases its ended slot; that
//! same write gives the item its TTL, so TTL never deletes a slot holder.
//! A name item belongs to the live token that holds the name (`token_id`,
//! `expires_at`): a create or rotation claims it conditionally, a revocation
//! deletes it, and an expired holder's name may be claimed again.
//!
//! Files: `keys` (item keys and list cursors), `attributes` (reading and
//! writing attribute values), `items` and `principal_items` (each record to
//! and from its item),
//! `transaction` (conditioned writes and their outcomes), `paging` (one page
//! of a listing), then one file per
//! storage port: `tokens` (with `idempotency` and `last_use`), `expiry`, `idle`, `principals`, `lookup`, `audit`, `peppers`, `feed`,
//! `scan` (every token, for operator commands).

mod approval_writes;
mod approvals;
mod attributes;
mod audit;
mod expiry;
mod feed;
mod idempotency;
mod idle;
mod items;
mod keys;
pub mod last_use;
mod lookup;
mod paging;
mod peppers;
mod principal_items;
mod principals;
mod rate_limits;
mod scan;
pub mod schema;
pub mod stream;
mod token_writes;
mod tokens;
mod transaction;
mod usage_keys;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

/// Revoked and expired token records are kept this long after the later of
/// their expiry and revocation, then DynamoDB TTL removes them.
pub const TOKEN_RETENTION_DAYS: i64 = 90;
/// Audit events are kept this long.
pub const AUDIT_RETENTION_DAYS: i64 = 400;

/// One DynamoDB item, as the SDK reads and writes it.
type Item = HashMap<String, AttributeValue>;

/// Every storage port over one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}
