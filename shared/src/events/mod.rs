//! Lifecycle events: what the platform's mailer, chat bot or SIEM can
//! subscribe to on the event bus (`source: cog.tokens`). Each is made from
//! one audit event (the outbox), so it exists exactly when its change
//! committed; its `event_id` is the audit event's, for de-duplication.
//! The schemas are in docs/events.md.
//!
//! Layer 4, with the expiry sweep (`expiry`), the cache invalidator
//! (`invalidation`) and the usage-plan sync (`usage_plans`). May import
//! `store`, `records`, `token`; never `authorize` or `management`.

pub mod expiry;
pub mod invalidation;
pub mod usage_plans;

use serde::Serialize;

use crate::records::{AuditAction, AuditEvent, Timestamp};

/// The bus events' `source`.
pub const EVENT_SOURCE: &str = "cog.tokens";

/// One event for the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    pub detail_type: &'static str,
    pub detail: EventDetail,
}

/// The event's `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventDetail {
    /// The audit event's id: the same change always has the same id.
    pub event_id: String,
    /// RFC 3339, UTC, milliseconds.
    pub occurred_at: String,
    /// The audit action, e.g. `token.revoke`.
    pub action: &'static str,
    /// `None` for "revoke all" (every credential of the owner).
    pub token_id: Option<String>,
    pub owner: EventOwner,
    /// Who made the change: `user:<id>`, `github-secret-scanning`, ...
    pub actor: String,
    /// The org an org admin acted in.
    pub org: Option<String>,
    /// Why, or what changed: the revocation reason, the leak's URL, ...
    pub detail: Option<String>,
    /// The address of the request that caused it, when there was one.
    pub source_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventOwner {
    /// `user` or `service_user`.
    pub kind: &'static str,
    pub id: String,
}

/// The `detail-type` of each published action; other actions (accounts,
/// service users, policies, peppers, re-hashes) are not credential events.
pub fn detail_type(action: AuditAction) -> Option<&'static str> {
    Some(match action {
        AuditAction::TokenCreate => "Credential Created",
        AuditAction::TokenRotate => "Credential Rotated",
        AuditAction::TokenRevoke => "Credential Revoked",
        AuditAction::TokenRevokeAll => "Credentials Revoked",
        AuditAction::TokenLeaked => "Credential Leaked",
        AuditAction::TokenBlock => "Credential Blocked In Org",
        AuditAction::TokenApprovalRequest => "Credential Approval Requested",
        AuditAction::TokenApprove => "Credential Approved In Org",
        AuditAction::TokenDeny => "Credential Denied In Org",
        AuditAction::TokenUpdate => "Credential Updated",
        AuditAction::TokenIpRefused => "Credential Refused From Address",
        AuditAction::TokenExpiring => "Credential Expiring",
        AuditAction::TokenExpired => "Credential Expired",
        AuditAction::TokenRehash
        | AuditAction::AccountPut
        | AuditAction::ServiceUserCreate
        | AuditAction::ServiceUserUpdate
        | AuditAction::OrgPolicyPut
        | AuditAction::PepperAdd
        | AuditAction::PepperRetire => return None,
    })
}

impl LifecycleEvent {
    /// The bus event for `audit`, if it is a credential event.
    pub fn from_audit(audit: &AuditEvent) -> Option<Self> {
        let detail_type = detail_type(audit.action)?;
        let owner = audit.owner.as_ref()?;
        Some(Self {
            detail_type,
            detail: EventDetail {
                event_id: audit.id.clone(),
                occurred_at: rfc3339(audit.at),
                action: audit.action.as_str(),
                token_id: audit.token_id.map(|id| id.to_string()),
                owner: EventOwner {
                    kind: owner.kind.as_str(),
                    id: owner.id.clone(),
                },
                actor: audit.actor.clone(),
                org: audit.org.clone(),
                detail: audit.detail.clone(),
                source_ip: audit
                    .origin
                    .as_ref()
                    .map(|o| o.source_ip.clone())
                    .filter(|ip| !ip.is_empty()),
            },
        })
    }
}

fn rfc3339(at: Timestamp) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Actor, Origin, Owner};

    #[test]
    fn credential_audit_events_become_bus_events_and_others_do_not() {
        let token = crate::PlainToken::generate().unwrap();
        let audit = Actor::new("user:ann")
            .from_origin(Origin::new("203.0.113.4", "curl"))
            .event(
                AuditAction::TokenRevoke,
                Owner::user("ann"),
                Timestamp(1_767_225_600_123),
            )
            .for_token(token.id())
            .with_detail("revoked by owner");
        let event = LifecycleEvent::from_audit(&audit).unwrap();
        assert_eq!(event.detail_type, "Credential Revoked");
        assert_eq!(event.detail.event_id, audit.id);
        assert_eq!(event.detail.occurred_at, "2026-01-01T00:00:00.123Z");
        assert_eq!(event.detail.token_id, Some(token.id().to_string()));
        assert_eq!(event.detail.source_ip.as_deref(), Some("203.0.113.4"));
        let json = serde_json::to_value(&event.detail).unwrap();
        assert_eq!(json["owner"]["kind"], "user");
        assert!(!json.to_string().contains(token.expose_secret()));

        let published: Vec<_> = AuditAction::ALL
            .into_iter()
            .filter(|a| detail_type(*a).is_some())
            .collect();
        assert_eq!(published.len(), 13);
        let account = AuditEvent::new(
            "op",
            AuditAction::AccountPut,
            Owner::user("a"),
            Timestamp(0),
        );
        assert_eq!(LifecycleEvent::from_audit(&account), None);
    }
}
