//! What an org's admins decide about their members' PATs, as the authorizer
//! applies it: a PAT never carries an org that blocked it, whose policy
//! blocks PATs, or whose maximum lifetime it exceeds. Blocks live on the
//! token's own item (read anyway); policies are read for the orgs a cache
//! entry is missing for, at most once per `ttl` per org and process, so a
//! request reads only the token and its owner whatever the number of orgs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::records::{OrgMembership, OrgPolicy, TokenRecord};
use crate::store::{CredentialLookup, StoreError};

/// Orgs remembered before the cache starts over (memory stays bounded).
const MAX_CACHED_ORGS: usize = 10_000;

/// Org policies this process has read, each kept for `ttl`.
#[derive(Debug)]
pub struct PolicyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (OrgPolicy, Instant)>>,
}

impl PolicyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `orgs`, less those outside the PAT's own org limit and those that
    /// block it. A store fault is an error: the caller fails closed. With
    /// every policy cached this allocates nothing and reads nothing.
    pub async fn pat_orgs(
        &self,
        store: &(impl CredentialLookup + ?Sized),
        record: &TokenRecord,
        mut orgs: Vec<OrgMembership>,
    ) -> Result<Vec<OrgMembership>, StoreError> {
        orgs.retain(|m| {
            record.may_act_in(&m.org_id) && !record.org_decisions.blocked.contains(&m.org_id)
        });
        if orgs.is_empty() {
            return Ok(orgs);
        }
        let missing = self.missing(&orgs);
        let fresh = if missing.is_empty() {
            HashMap::new()
        } else {
            self.refresh(store, missing).await?
        };
        let entries = self.lock();
        orgs.retain(|m| {
            fresh
                .get(&m.org_id)
                .or_else(|| entries.get(&m.org_id).map(|(policy, _)| policy))
                .is_some_and(|policy| policy.admits_pat(&m.org_id, record))
        });
        Ok(orgs)
    }

    /// Drops `org`'s policy (the feed says it changed): read on next use.
    pub fn forget(&self, org: &str) {
        self.lock().remove(org);
    }

    /// The orgs with no cached policy, or one older than `ttl`.
    fn missing(&self, orgs: &[OrgMembership]) -> Vec<String> {
        let now = Instant::now();
        let entries = self.lock();
        orgs.iter()
            .filter(|m| {
                entries
                    .get(&m.org_id)
                    .is_none_or(|(_, read_at)| now.duration_since(*read_at) >= self.ttl)
            })
            .map(|m| m.org_id.clone())
            .collect()
    }

    /// Reads `missing` in one call and caches them (no policy item: the
    /// default, which allows every PAT).
    async fn refresh(
        &self,
        store: &(impl CredentialLookup + ?Sized),
        missing: Vec<String>,
    ) -> Result<HashMap<String, OrgPolicy>, StoreError> {
        let read = store.org_policies(&missing).await?;
        let now = Instant::now();
        let mut fresh = HashMap::with_capacity(missing.len());
        let mut entries = self.lock();
        if entries.len() > MAX_CACHED_ORGS {
            entries.clear();
        }
        for org in missing {
            let policy = read.get(&org).copied().unwrap_or_default();
            entries.insert(org.clone(), (policy, now));
            fresh.insert(org, policy);
        }
        Ok(fresh)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (OrgPolicy, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use crate::records::credentials::test_record;
    use crate::records::{PatAccess, PatApproval};

    use super::*;
    use crate::records::{OrgDecisions, Owner, Timestamp};
    use crate::store::Principal;
    use crate::token::TokenId;

    /// Counts policy reads; each org's policy is `policy`'s answer (by
    /// default acme blocks PATs, the other orgs have none).
    struct Counting {
        reads: AtomicUsize,
        keys: AtomicUsize,
        policy: fn(&str) -> Option<OrgPolicy>,
    }

    impl Default for Counting {
        fn default() -> Self {
            Self {
                reads: AtomicUsize::new(0),
                keys: AtomicUsize::new(0),
                policy: |org| {
                    (org == "acme").then_some(OrgPolicy {
                        pat_access: PatAccess::Blocked,
                        ..OrgPolicy::default()
                    })
                },
            }
        }
    }

    #[async_trait]
    impl CredentialLookup for Counting {
        async fn token_and_owner(
            &self,
            _: &TokenId,
            _: Option<&Owner>,
        ) -> Result<(Option<TokenRecord>, Option<Principal>), StoreError> {
            Ok((None, None))
        }

        async fn org_policies(
            &self,
            orgs: &[String],
        ) -> Result<HashMap<String, OrgPolicy>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.keys.fetch_add(orgs.len(), Ordering::SeqCst);
            Ok(orgs
                .iter()
                .filter_map(|org| (self.policy)(org).map(|p| (org.clone(), p)))
                .collect())
        }
    }

    fn pat(blocked: &[&str]) -> TokenRecord {
        TokenRecord {
            expires_at: Some(Timestamp(86_400_000)),
            org_decisions: OrgDecisions::new(
                blocked.iter().map(|o| (*o).to_owned()).collect(),
                Vec::new(),
                Vec::new(),
            ),
            rate_limit: None,
            usage_key_placed: false,
            ..test_record(Owner::user("u"), Timestamp(0))
        }
    }

    fn orgs(names: &[&str]) -> Vec<OrgMembership> {
        names
            .iter()
            .map(|n| OrgMembership {
                org_id: (*n).to_owned(),
                role: "member".into(),
            })
            .collect()
    }

    #[tokio::test]
    async fn ten_orgs_cost_one_read_per_ttl_and_blocks_and_policies_drop_orgs() {
        let store = Counting::default();
        let cache = PolicyCache::new(Duration::from_secs(30));
        let ten: Vec<String> = (0..9)
            .map(|i| format!("org{i}"))
            .chain(["acme".into()])
            .collect();
        let names: Vec<&str> = ten.iter().map(String::as_str).collect();
        let record = pat(&["org3"]);
        for _ in 0..5 {
            let kept = cache.pat_orgs(&store, &record, orgs(&names)).await.unwrap();
            let kept: Vec<&str> = kept.iter().map(|m| m.org_id.as_str()).collect();
            // org3 blocked on the token, acme by its policy.
            assert_eq!(
                kept,
                ["org0", "org1", "org2", "org4", "org5", "org6", "org7", "org8"]
            );
        }
        // Nine orgs asked (org3 was already out), in one read, once.
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
        assert_eq!(store.keys.load(Ordering::SeqCst), 9);

        let expiring = PolicyCache::new(Duration::ZERO);
        for _ in 0..3 {
            expiring
                .pat_orgs(&store, &record, orgs(&["acme"]))
                .await
                .unwrap();
        }
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            4,
            "a zero ttl reads every time"
        );
    }

    #[test]
    fn a_max_lifetime_admits_only_pats_that_expire_within_it() {
        let policy = OrgPolicy {
            pat_access: PatAccess::Allowed,
            pat_max_lifetime_days: Some(1),
            idle_expiry_days: None,
            pat_approval: Default::default(),
        };
        assert!(policy.admits_pat("acme", &pat(&[])));
        let mut two_days = pat(&[]);
        two_days.expires_at = Some(Timestamp(2 * 86_400_000));
        assert!(!policy.admits_pat("acme", &two_days));
        let mut forever = pat(&[]);
        forever.expires_at = None;
        assert!(!policy.admits_pat("acme", &forever));
        assert!(OrgPolicy::default().admits_pat("acme", &forever));
    }

    #[tokio::test]
    async fn an_org_requiring_approval_keeps_only_the_pats_approved_there() {
        let requiring = Counting {
            policy: |_| {
                Some(OrgPolicy {
                    pat_approval: PatApproval::Required,
                    ..OrgPolicy::default()
                })
            },
            ..Counting::default()
        };
        let cache = PolicyCache::new(Duration::ZERO);
        let mut record = pat(&[]);
        record.org_decisions.edit().approved = vec!["acme".into()];
        record.org_decisions.edit().denied = vec![crate::records::Denial {
            org: "globex".into(),
            reason: "no".into(),
            by: "user:a".into(),
            at: Timestamp(1),
        }];
        let kept = cache
            .pat_orgs(&requiring, &record, orgs(&["acme", "globex", "initech"]))
            .await
            .unwrap();
        let kept: Vec<&str> = kept.iter().map(|m| m.org_id.as_str()).collect();
        // Approved: kept; denied and pending (never decided): out.
        assert_eq!(kept, ["acme"]);
    }
}
