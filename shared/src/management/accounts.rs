//! Accounts come from the platform's user directory. The directory sends
//! each change as an [`AccountUpdate`] with a version (its `updated_at` in
//! milliseconds); an update older than the stored one changes nothing, and
//! the same one again only finishes what a failed delivery of it left
//! undone, so delivery may repeat and reorder. A version far ahead
//! of now, or an org named twice, is refused: it would freeze the account,
//! or leave which role was meant to chance.

use serde::Deserialize;

use crate::records::{
    Account, Actor, AuditAction, OrgMembership, PrincipalStatus, Timestamp, UserId,
};
use crate::store::{PrincipalStore, StoreError};

/// How the directory's writes are audited.
pub const DIRECTORY_ACTOR: &str = "directory";

/// How far ahead of this clock a version (milliseconds) may be: the
/// directory's clock and ours may differ a little.
pub const MAX_VERSION_SKEW_MS: i64 = 5 * 60 * 1000;

/// One account as the directory knows it now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    pub user_id: String,
    /// `active`, `suspended` or `deleted`.
    pub status: String,
    pub sso: bool,
    pub pat_beta: bool,
    pub orgs: Vec<Membership>,
    /// Increases with every change of this account: its `updated_at` in
    /// milliseconds, so never more than [`MAX_VERSION_SKEW_MS`] ahead of now.
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    pub org: String,
    pub role: String,
}

/// What an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOutcome {
    Applied,
    /// The stored account is as new or newer: nothing was written.
    Stale,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("invalid account update: {0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AccountUpdate {
    /// The account it describes, checked.
    pub fn account(&self) -> Result<Account, SyncError> {
        let user_id = UserId::parse(&self.user_id).map_err(|_| SyncError::Invalid("user_id"))?;
        let status: PrincipalStatus = self
            .status
            .parse()
            .map_err(|_| SyncError::Invalid("status"))?;
        if status == PrincipalStatus::Disabled {
            return Err(SyncError::Invalid("status"));
        }
        if self.orgs.len() > Account::MAX_ORGS {
            return Err(SyncError::Invalid("orgs"));
        }
        let mut orgs = Vec::with_capacity(self.orgs.len());
        for m in &self.orgs {
            if m.org.is_empty() || m.role.is_empty() {
                return Err(SyncError::Invalid("orgs"));
            }
            orgs.push(OrgMembership {
                org_id: m.org.clone(),
                role: m.role.clone(),
            });
        }
        orgs.sort();
        // Two roles in one org: which one the directory meant is unknown.
        if orgs.windows(2).any(|pair| pair[0].org_id == pair[1].org_id) {
            return Err(SyncError::Invalid("orgs: an org is named twice"));
        }
        Ok(Account {
            user_id: user_id.as_str().to_owned(),
            status,
            sso: self.sso,
            pat_beta: self.pat_beta,
            orgs,
            tokens_valid_after: None,
        })
    }

    /// The version, if it is positive and at most [`MAX_VERSION_SKEW_MS`]
    /// ahead of `now`: versions are the directory's `updated_at` in
    /// milliseconds, and one far ahead would make every later update stale.
    pub fn checked_version(&self, now: Timestamp) -> Result<i64, SyncError> {
        if self.version <= 0 {
            return Err(SyncError::Invalid("version: not positive"));
        }
        if self.version > now.0.saturating_add(MAX_VERSION_SKEW_MS) {
            return Err(SyncError::Invalid(
                "version: more than 5 minutes ahead of this clock",
            ));
        }
        Ok(self.version)
    }
}

/// Writes `update` unless the stored account is as new or newer.
pub async fn apply(
    store: &(impl PrincipalStore + ?Sized),
    update: &AccountUpdate,
    now: Timestamp,
) -> Result<SyncOutcome, SyncError> {
    let version = update.checked_version(now)?;
    let account = update.account()?;
    let audit = Actor::new(DIRECTORY_ACTOR)
        .event(
            AuditAction::AccountPut,
            crate::records::Owner::user(&account.user_id),
            now,
        )
        .with_detail(format!("version {version}"));
    let written = store.put_account_version(&account, version, &audit).await?;
    Ok(if written {
        SyncOutcome::Applied
    } else {
        SyncOutcome::Stale
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(version: i64) -> AccountUpdate {
        serde_json::from_value(serde_json::json!({
            "user_id": "u_1", "status": "active", "sso": false, "pat_beta": true,
            "orgs": [{"org": "b", "role": "member"}, {"org": "a", "role": "admin"}],
            "version": version
        }))
        .unwrap()
    }

    #[test]
    fn an_update_becomes_a_checked_account() {
        let account = update(5).account().unwrap();
        assert_eq!(account.orgs[0].org_id, "a");
        for bad in [
            AccountUpdate {
                user_id: " ".into(),
                ..update(5)
            },
            AccountUpdate {
                status: "disabled".into(),
                ..update(5)
            },
            AccountUpdate {
                status: "gone".into(),
                ..update(5)
            },
            AccountUpdate {
                orgs: vec![
                    Membership {
                        org: "a".into(),
                        role: "member".into(),
                    },
                    Membership {
                        org: "a".into(),
                        role: "admin".into(),
                    },
                ],
                ..update(5)
            },
            AccountUpdate {
                orgs: vec![Membership {
                    org: "".into(),
                    role: "x".into(),
                }],
                ..update(5)
            },
        ] {
            assert!(
                matches!(bad.account(), Err(SyncError::Invalid(_))),
                "{bad:?}"
            );
        }
        for bad in [0, -1] {
            assert!(update(bad).checked_version(Timestamp(1)).is_err());
        }
        let unknown_field = serde_json::json!({
            "user_id": "u", "status": "active", "sso": false, "pat_beta": true, "orgs": [],
            "version": 1, "admin": true
        });
        assert!(serde_json::from_value::<AccountUpdate>(unknown_field).is_err());
    }

    fn named(orgs: serde_json::Value, version: i64) -> AccountUpdate {
        serde_json::from_value(serde_json::json!({
            "user_id": "u_1", "status": "active", "sso": false, "pat_beta": true,
            "orgs": orgs, "version": version
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn an_update_naming_an_org_twice_is_refused_and_changes_nothing() {
        let store = crate::memory::MemoryStore::new();
        let now = Timestamp(10_000);
        let first = named(serde_json::json!([{"org": "a", "role": "member"}]), 1);
        assert_eq!(
            apply(&store, &first, now).await.unwrap(),
            SyncOutcome::Applied
        );
        let twice = named(
            serde_json::json!([{"org": "a", "role": "member"}, {"org": "a", "role": "admin"}]),
            2,
        );
        let refused = apply(&store, &twice, now).await;
        assert!(matches!(refused, Err(SyncError::Invalid(_))), "{refused:?}");
        let account = store.get_account("u_1").await.unwrap().unwrap();
        assert_eq!(account.orgs, first.account().unwrap().orgs);
    }

    #[tokio::test]
    async fn a_version_more_than_five_minutes_ahead_is_refused_and_changes_nothing() {
        let store = crate::memory::MemoryStore::new();
        let now = Timestamp(1_795_860_000_000);
        let skew = 5 * 60 * 1000;
        for version in [i64::MAX, now.0 + skew + 1] {
            let refused = apply(&store, &update(version), now).await;
            assert!(matches!(refused, Err(SyncError::Invalid(_))), "{refused:?}");
        }
        assert!(store.get_account("u_1").await.unwrap().is_none());
        // A clock a little behind the directory's is no reason to refuse.
        let ahead = apply(&store, &update(now.0 + skew), now).await.unwrap();
        assert_eq!(ahead, SyncOutcome::Applied);
    }
}
