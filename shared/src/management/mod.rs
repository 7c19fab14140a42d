//! Managing credentials: the rules behind the settings page, independent of
//! HTTP. `policy` says what may be issued, `tokens` issues, lists, reads,
//! rotates and revokes PATs (`rotation` replaces a credential),
//! `token_self` is what a token does for itself (reads and rotates itself), `service_users` is org administration (service
//! users and their keys), `org_credentials` an org's PAT policy and blocks,
//! `error` says why a request is refused, `idempotency` gives a retried
//! issuing request its first result back.
//! `accounts` applies the platform directory's updates, `leaks` revokes
//! reported tokens, `idle` revokes unused ones, `lifecycle` holds revoke-all and complete listings.
//!
//! Layer 4: may import `store`, `records`, `token`; never `authorize` or
//! `events`.

pub mod accounts;
mod approval_rules;
mod approvals;
mod error;
mod idempotency;
pub mod idle;
pub mod leaks;
pub mod lifecycle;
mod org_credentials;
mod org_policy;
mod policy;
pub mod preconditions;
mod rotation;
mod service_users;
mod token_self;
mod tokens;

pub use approval_rules::{ApprovalChange, Decision};
pub use error::{Fault, ManagementError};
pub use org_credentials::{Credential, CredentialFilter, CredentialPage, Removal};
pub use policy::{
    IssuancePolicy, NewToken, RateLimitRequest, TokenRequest, DEFAULT_MAX_KEYS_PER_SERVICE_USER,
    DEFAULT_MAX_SERVICE_USERS_PER_ORG, DEFAULT_ROLES, DEFAULT_SCOPES, NAME_MAX_CHARS, PAGE_MAX,
};
pub use service_users::{OrgCall, ServiceUserChanges, ServiceUserRequest, ADMIN_ROLE};
pub use token_self::ROTATE_SELF_SCOPE;
pub use tokens::{pat_refusal, IssuedToken, TokenManager};
