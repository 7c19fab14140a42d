//! The records the store keeps and the value types they are made of:
//! tokens (`credentials`), accounts and service users (`principals`), audit
//! events (`audit`), IP allowlists, rate limits and their usage-plan keys, token names, callers, org policies and
//! what an `Idempotency-Key` keeps (`idempotency`).
//! Below: the token format only. Each child imports its siblings by file,
//! never through this module, which only re-exports them.

pub mod access;
pub mod allowlist;
pub mod approval;
pub mod audit;
pub mod caller;
pub mod credentials;
pub mod idempotency;
pub mod idle;
pub mod last_use;
pub mod names;
pub mod org_policy;
pub mod primitives;
pub mod principals;
pub mod rate_limit;
pub mod usage_key;

pub use access::{AccessChange, ChangeKey};
pub use allowlist::IpAllowlist;
pub use approval::{
    ApprovalFilter, ApprovalRules, ApprovalState, Denial, ExistingPats, OrgDecisions, PatApproval,
};
pub use audit::{Actor, AuditAction, AuditEvent, Origin};
pub use caller::{Caller, InvalidUserId, UserId};
pub use credentials::{Revocation, StatusFilter, TokenRecord, TokenStatus};
pub use idempotency::{IdempotencyRecord, RetryKey};
pub use idle::{IdleNotice, IdleStep};
pub use last_use::{LastUse, RecentAddress};
pub use org_policy::{OrgPolicy, PatAccess};
pub use primitives::{entity_tag, Owner, OwnerKind, Timestamp, UnknownValue, DAY_MS};
pub use principals::{Account, OrgMember, OrgMembership, PrincipalStatus, ServiceUser};
pub use rate_limit::{RateLimit, RateLimitError};
pub use usage_key::{PlanName, UsageKey};
