//! Accounts come from the platform's user directory. The directory sends
//! each change as an [`AccountUpdate`] with a version (for example its
//! `updated_at` in milliseconds); an update older than the stored one, or the
//! same one again, changes nothing, so delivery may repeat and reorder.

use serde::Deserialize;

use crate::records::{
    Account, Actor, AuditAction, OrgMembership, PrincipalStatus, Timestamp, UserId,
};
use crate::store::{PrincipalStore, StoreError};

/// How the directory's writes are audited.
pub const DIRECTORY_ACTOR: &str = "directory";

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
    /// Increases with every change of this account (e.g. `updated_at` in ms).
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
        if self.version <= 0 {
            return Err(SyncError::Invalid("version"));
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
        orgs.dedup_by(|a, b| a.org_id == b.org_id);
        Ok(Account {
            user_id: user_id.as_str().to_owned(),
            status,
            sso: self.sso,
            pat_beta: self.pat_beta,
            orgs,
            tokens_valid_after: None,
        })
    }
}

/// Writes `update` unless the stored account is as new or newer.
pub async fn apply(
    store: &(impl PrincipalStore + ?Sized),
    update: &AccountUpdate,
    now: Timestamp,
) -> Result<SyncOutcome, SyncError> {
    let account = update.account()?;
    let audit = Actor::new(DIRECTORY_ACTOR)
        .event(
            AuditAction::AccountPut,
            crate::records::Owner::user(&account.user_id),
            now,
        )
        .with_detail(format!("version {}", update.version));
    let written = store
        .put_account_version(&account, update.version, &audit)
        .await?;
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
                version: 0,
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
        let unknown_field = serde_json::json!({
            "user_id": "u", "status": "active", "sso": false, "pat_beta": true, "orgs": [],
            "version": 1, "admin": true
        });
        assert!(serde_json::from_value::<AccountUpdate>(unknown_field).is_err());
    }
}
