//! Tokens, audit events and peppers to their items, and back with
//! `TryFrom<&Item>` (principals and org policies: `principal_items`).
//! Reading never trusts the item: damage is `StoreError::Malformed`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::approvals;
use super::attributes::{
    b, get_bool, get_bytes, get_i64, get_opt_s, get_opt_timestamp, get_s, get_u32, malformed, n, s,
    ttl_after,
};
use super::keys::{
    audit_partition, audit_sort_key, created_sort_key, expiry_partition, idle_partition,
    idle_sort_key, key, org_audit_key, owner_key, pepper_key, token_key, TOKEN_PREFIX,
};
use super::last_use;
use super::schema::{
    EXPIRY_INDEX_PARTITION_KEY, EXPIRY_INDEX_SORT_KEY, IDLE_INDEX_PARTITION_KEY,
    IDLE_INDEX_SORT_KEY, OWNER_INDEX_PARTITION_KEY, OWNER_INDEX_SORT_KEY, PARTITION_KEY,
    TTL_ATTRIBUTE,
};
use super::{Item, AUDIT_RETENTION_DAYS};
use crate::records::idle;
use crate::records::{
    AuditEvent, IpAllowlist, Origin, Owner, OwnerKind, RateLimit, Revocation, Timestamp,
    TokenRecord,
};
use crate::store::{StoreError, StoredPepper};
use crate::token::hash::{PepperVersion, TokenHash};
use crate::token::TokenId;

/// A new token's item: it holds a slot, so it has no TTL (see the module doc).
pub(super) fn token_item(record: &TokenRecord) -> Item {
    let mut item = token_key(&record.id);
    item.insert("owner_kind".into(), s(record.owner.kind.as_str()));
    item.insert("owner_id".into(), s(&record.owner.id));
    item.insert("name".into(), s(&record.name));
    item.insert(
        "scopes".into(),
        AttributeValue::L(record.scopes.iter().map(s).collect()),
    );
    item.insert("hash".into(), b(record.hash.as_bytes()));
    item.insert("pepper_version".into(), n(record.pepper_version.0));
    item.insert("created_at".into(), n(record.created_at.0));
    item.insert("holds_slot".into(), AttributeValue::Bool(true));
    item.insert(
        OWNER_INDEX_PARTITION_KEY.into(),
        s(owner_key(&record.owner)),
    );
    item.insert(
        OWNER_INDEX_SORT_KEY.into(),
        s(created_sort_key(record.created_at, &record.id)),
    );
    if let Some(expires_at) = record.expires_at {
        item.insert("expires_at".into(), n(expires_at.0));
        if record.revoked.is_none() {
            item.insert(
                EXPIRY_INDEX_PARTITION_KEY.into(),
                s(expiry_partition(expires_at)),
            );
            item.insert(
                EXPIRY_INDEX_SORT_KEY.into(),
                s(created_sort_key(expires_at, &record.id)),
            );
        }
    }
    if let Some(revoked) = &record.revoked {
        item.insert("revoked_at".into(), n(revoked.at.0));
        item.insert("revoked_by".into(), s(&revoked.by));
        item.insert("revoke_reason".into(), s(&revoked.reason));
    }
    if let Some(last_used_at) = record.last_used_at {
        item.insert("last_used_at".into(), n(last_used_at.0));
    }
    last_use::insert(&mut item, &record.last_use);
    if record.revoked.is_none() {
        item.insert(
            IDLE_INDEX_PARTITION_KEY.into(),
            s(idle_partition(idle::last_active(record))),
        );
        item.insert(
            IDLE_INDEX_SORT_KEY.into(),
            s(idle_sort_key(&record.id, !record.last_use.is_empty())),
        );
    }
    approvals::insert(&mut item, &record.org_decisions);
    if !record.allowed_ips.is_empty() {
        item.insert(ALLOWED_IPS.into(), allowed_ips_value(&record.allowed_ips));
    }
    if let Some(limit) = record.rate_limit {
        item.insert(RATE_LIMIT.into(), rate_limit_value(limit));
        if record.usage_key_placed {
            item.insert(USAGE_KEY.into(), rate_limit_value(limit));
        }
    }
    if let Some(orgs) = &record.org_limit {
        item.insert(ORG_LIMIT.into(), AttributeValue::Ss(orgs.clone()));
    }
    if let Some(family) = &record.family {
        item.insert(FAMILY.into(), s(family.as_str()));
    }
    item
}

/// The first token of a self-rotation chain; absent: the token is its own.
const FAMILY: &str = "family";

/// A PAT's org limit: a non-empty string set; absent, all the owner's orgs.
const ORG_LIMIT: &str = "org_limit";

fn org_limit(item: &Item) -> Result<Option<Vec<String>>, StoreError> {
    let Some(value) = item.get(ORG_LIMIT) else {
        return Ok(None);
    };
    let mut orgs = value.as_ss().map_err(|_| malformed(ORG_LIMIT))?.clone();
    orgs.sort();
    Ok(Some(orgs))
}

/// Where a token's IP allowlist is kept: a string set of CIDRs, absent when empty.
pub(super) const ALLOWED_IPS: &str = "allowed_ips";

pub(super) fn allowed_ips_value(list: &IpAllowlist) -> AttributeValue {
    AttributeValue::Ss(list.to_strings())
}

/// A stored allowlist that does not parse is damage, never "any address".
fn allowed_ips(item: &Item) -> Result<IpAllowlist, StoreError> {
    let Some(value) = item.get(ALLOWED_IPS) else {
        return Ok(IpAllowlist::default());
    };
    let entries = value.as_ss().map_err(|_| malformed(ALLOWED_IPS))?;
    IpAllowlist::parse(entries).map_err(|_| malformed(ALLOWED_IPS))
}

/// A token's rate limit: a map `{per_second, burst}`; absent, unlimited.
pub(super) const RATE_LIMIT: &str = "rate_limit";

pub(super) fn rate_limit_value(limit: RateLimit) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("per_second".to_owned(), n(limit.per_second())),
        ("burst".to_owned(), n(limit.burst())),
    ]))
}

/// The limit whose usage-plan key the sync placed, in the rate limit's
/// shape; the token's key is placed while it equals `rate_limit`.
pub(super) const USAGE_KEY: &str = "usage_key";

/// A stored limit that does not parse is damage, never "unlimited".
fn limit_at(item: &Item, attribute: &str) -> Result<Option<RateLimit>, StoreError> {
    let Some(value) = item.get(attribute) else {
        return Ok(None);
    };
    let map = value.as_m().map_err(|_| malformed(attribute))?;
    let number = |name: &str| {
        map.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| malformed(attribute))
    };
    RateLimit::new(number("per_second")?, Some(number("burst")?))
        .map(Some)
        .map_err(|_| malformed(attribute))
}

impl TryFrom<&Item> for TokenRecord {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let id: TokenId = get_s(item, PARTITION_KEY)?
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| malformed(PARTITION_KEY))?;
        let owner_kind: OwnerKind = get_s(item, "owner_kind")?
            .parse()
            .map_err(|_| malformed("owner_kind"))?;
        let scopes = item
            .get("scopes")
            .and_then(|v| v.as_l().ok())
            .ok_or_else(|| malformed("scopes"))?
            .iter()
            .map(|v| v.as_s().cloned().map_err(|_| malformed("scopes")))
            .collect::<Result<Vec<_>, _>>()?;
        let hash =
            TokenHash::from_bytes(get_bytes(item, "hash")?).ok_or_else(|| malformed("hash"))?;
        let revoked = get_opt_timestamp(item, "revoked_at")?.map(|at| Revocation {
            at,
            by: get_opt_s(item, "revoked_by").unwrap_or_default(),
            reason: get_opt_s(item, "revoke_reason").unwrap_or_default(),
        });
        let rate_limit = limit_at(item, RATE_LIMIT)?;
        Ok(TokenRecord {
            id,
            owner: Owner {
                kind: owner_kind,
                id: get_s(item, "owner_id")?.to_owned(),
            },
            name: get_s(item, "name")?.to_owned(),
            scopes,
            hash,
            pepper_version: PepperVersion(get_u32(item, "pepper_version")?),
            created_at: Timestamp(get_i64(item, "created_at")?),
            expires_at: get_opt_timestamp(item, "expires_at")?,
            revoked,
            last_used_at: get_opt_timestamp(item, "last_used_at")?,
            last_use: last_use::read(item)?,
            org_decisions: approvals::read(item)?,
            allowed_ips: allowed_ips(item)?,
            rate_limit,
            usage_key_placed: rate_limit.is_some() && limit_at(item, USAGE_KEY)? == rate_limit,
            org_limit: org_limit(item)?,
            family: get_opt_s(item, FAMILY)
                .map(|id| id.parse().map(Box::new).map_err(|_| malformed(FAMILY)))
                .transpose()?,
        })
    }
}

/// An audit event's item, in its owner's (or the system's) partition; an
/// org admin's event is also on the owner index under its org.
pub(super) fn audit_item(event: &AuditEvent) -> Item {
    let sort_key = audit_sort_key(event.at, &event.id);
    let partition = match (&event.owner, &event.org) {
        // About an org itself: kept in the org's own partition.
        (None, Some(org)) => org_audit_key(org),
        (owner, _) => audit_partition(owner.as_ref()),
    };
    let mut item = key(partition, &sort_key);
    item.insert("event_id".into(), s(&event.id));
    item.insert("at".into(), n(event.at.0));
    item.insert("actor".into(), s(&event.actor));
    item.insert("action".into(), s(event.action.as_str()));
    if let Some(owner) = &event.owner {
        item.insert("owner_kind".into(), s(owner.kind.as_str()));
        item.insert("owner_id".into(), s(&owner.id));
    }
    if let Some(token_id) = &event.token_id {
        item.insert("token_id".into(), s(token_id.as_str()));
    }
    if let Some(detail) = &event.detail {
        item.insert("detail".into(), s(detail));
    }
    if let Some(org) = &event.org {
        item.insert("org".into(), s(org));
        item.insert(OWNER_INDEX_PARTITION_KEY.into(), s(org_audit_key(org)));
        item.insert(OWNER_INDEX_SORT_KEY.into(), s(sort_key));
    }
    if let Some(origin) = &event.origin {
        item.insert("source_ip".into(), s(&origin.source_ip));
        item.insert("user_agent".into(), s(&origin.user_agent));
    }
    item.insert(
        TTL_ATTRIBUTE.into(),
        ttl_after(event.at, AUDIT_RETENTION_DAYS),
    );
    item
}

impl TryFrom<&Item> for AuditEvent {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let owner = match get_opt_s(item, "owner_kind") {
            None => None,
            Some(kind) => Some(Owner {
                kind: kind.parse().map_err(|_| malformed("owner_kind"))?,
                id: get_s(item, "owner_id")?.to_owned(),
            }),
        };
        let token_id = match get_opt_s(item, "token_id") {
            None => None,
            Some(text) => Some(text.parse().map_err(|_| malformed("token_id"))?),
        };
        let origin = get_opt_s(item, "source_ip").map(|source_ip| Origin {
            source_ip,
            user_agent: get_opt_s(item, "user_agent").unwrap_or_default(),
        });
        Ok(AuditEvent {
            id: get_s(item, "event_id")?.to_owned(),
            at: Timestamp(get_i64(item, "at")?),
            actor: get_s(item, "actor")?.to_owned(),
            action: get_s(item, "action")?
                .parse()
                .map_err(|_| malformed("action"))?,
            owner,
            token_id,
            detail: get_opt_s(item, "detail"),
            org: get_opt_s(item, "org"),
            origin,
        })
    }
}

pub(super) fn pepper_item(pepper: &StoredPepper) -> Item {
    let mut item = pepper_key(pepper.version);
    item.insert("version".into(), n(pepper.version.0));
    item.insert("ciphertext".into(), b(&pepper.ciphertext));
    item.insert("kms_key_id".into(), s(&pepper.kms_key_id));
    item.insert("created_at".into(), n(pepper.created_at.0));
    item.insert("retired".into(), AttributeValue::Bool(pepper.retired));
    item
}

impl TryFrom<&Item> for StoredPepper {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        Ok(StoredPepper {
            version: PepperVersion(get_u32(item, "version")?),
            ciphertext: get_bytes(item, "ciphertext")?.to_vec(),
            kms_key_id: get_s(item, "kms_key_id")?.to_owned(),
            created_at: Timestamp(get_i64(item, "created_at")?),
            retired: get_bool(item, "retired"),
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::keys::principal_key;
    use super::super::principal_items::{account_values, service_user_item};
    use super::*;
    use crate::records::{Account, AuditAction, OrgMembership, PrincipalStatus, ServiceUser};

    /// The item `put_account` leaves for a new account.
    fn account_item(account: &Account) -> Item {
        let mut item = principal_key(&Owner::user(&account.user_id));
        for (placeholder, value) in account_values(account) {
            item.insert(placeholder[1..].to_owned(), value);
        }
        item
    }

    pub(in super::super) fn service_user() -> ServiceUser {
        ServiceUser {
            id: "svc_1".into(),
            name: "ci".into(),
            org_id: "acme".into(),
            role: "deployer".into(),
            status: PrincipalStatus::Disabled,
            created_at: Timestamp(3),
            tokens_valid_after: Some(Timestamp(7)),
        }
    }

    pub(in super::super) fn record() -> TokenRecord {
        let token = crate::PlainToken::generate().unwrap();
        let pepper = crate::Pepper::new(PepperVersion(3), &[9; 32]).unwrap();
        TokenRecord {
            id: token.id(),
            owner: Owner::user("u_1"),
            name: "laptop".into(),
            scopes: vec!["read".into(), "write".into()],
            hash: pepper.hash(&token),
            pepper_version: PepperVersion(3),
            created_at: Timestamp(1_700_000_000_000),
            expires_at: Some(Timestamp(1_800_000_000_000)),
            revoked: Some(Revocation {
                at: Timestamp(1_750_000_000_000),
                by: "user:u_1".into(),
                reason: "lost".into(),
            }),
            last_used_at: Some(Timestamp(1_710_000_000_000)),
            last_use: crate::records::LastUse::default().after(
                Timestamp(1_710_000_000_000),
                Some("192.0.2.7".parse().unwrap()),
                Some("cog-cli/2.1"),
            ),
            org_decisions: crate::records::OrgDecisions::new(
                vec!["acme".into(), "globex".into()],
                vec!["initech".into()],
                vec![crate::records::Denial {
                    org: "umbrella".into(),
                    reason: "not for production".into(),
                    by: "user:ann".into(),
                    at: Timestamp(1_720_000_000_000),
                }],
            ),
            allowed_ips: IpAllowlist::parse(&["10.0.0.0/8", "2001:db8::/32"]).unwrap(),
            org_limit: Some(vec!["acme".into(), "globex".into()]),
            family: None,
            rate_limit: RateLimit::new(50, Some(100)).ok(),
            usage_key_placed: false,
        }
    }

    #[test]
    fn token_items_round_trip() {
        let record = record();
        assert_eq!(TokenRecord::try_from(&token_item(&record)).unwrap(), record);
    }

    #[test]
    fn a_damaged_rate_limit_reads_as_damage_never_as_unlimited() {
        let limit = |per_second: &str, burst: &str| {
            AttributeValue::M(HashMap::from([
                (
                    "per_second".to_owned(),
                    AttributeValue::N(per_second.into()),
                ),
                ("burst".to_owned(), AttributeValue::N(burst.into())),
            ]))
        };
        for damaged in [
            limit("0", "1"),
            limit("10", "5"),
            limit("-1", "1"),
            limit("1.5", "2"),
            AttributeValue::S("10/s".into()),
            AttributeValue::M(HashMap::from([(
                "burst".to_owned(),
                AttributeValue::N("2".into()),
            )])),
        ] {
            let mut item = token_item(&record());
            item.insert(RATE_LIMIT.into(), damaged.clone());
            assert!(
                matches!(TokenRecord::try_from(&item), Err(StoreError::Malformed(_))),
                "{damaged:?}"
            );
        }
        let mut unlimited = record();
        unlimited.rate_limit = None;
        assert!(!token_item(&unlimited).contains_key(RATE_LIMIT));
    }

    #[test]
    fn a_usage_key_is_placed_only_for_the_limit_the_token_has() {
        let mut placed = record();
        placed.usage_key_placed = true;
        let item = token_item(&placed);
        assert_eq!(TokenRecord::try_from(&item).unwrap(), placed);

        let mut other_limit = item.clone();
        other_limit.insert(
            RATE_LIMIT.into(),
            rate_limit_value(RateLimit::new(5, None).unwrap()),
        );
        assert!(
            !TokenRecord::try_from(&other_limit)
                .unwrap()
                .usage_key_placed
        );

        let mut lifted = item.clone();
        lifted.remove(RATE_LIMIT);
        assert!(!TokenRecord::try_from(&lifted).unwrap().usage_key_placed);

        let mut damaged = item;
        damaged.insert(USAGE_KEY.into(), AttributeValue::S("10/s".into()));
        assert!(matches!(
            TokenRecord::try_from(&damaged),
            Err(StoreError::Malformed(_))
        ));
    }

    #[test]
    fn token_items_never_hold_the_token_text() {
        let token = crate::PlainToken::generate().unwrap();
        let mut record = record();
        record.id = token.id();
        let debug = format!("{:?}", token_item(&record));
        assert!(!debug.contains(&token.expose_secret()[20..52]));
    }

    #[test]
    fn accounts_service_users_peppers_and_audit_events_round_trip() {
        let account = Account {
            user_id: "u_1".into(),
            status: PrincipalStatus::Active,
            sso: false,
            pat_beta: true,
            orgs: vec![
                OrgMembership {
                    org_id: "a".into(),
                    role: "admin".into(),
                },
                OrgMembership {
                    org_id: "b".into(),
                    role: "member".into(),
                },
            ],
            tokens_valid_after: None,
        };
        assert_eq!(Account::try_from(&account_item(&account)).unwrap(), account);
        let user = service_user();
        assert_eq!(
            ServiceUser::try_from(&service_user_item(&user)).unwrap(),
            user
        );
        let pepper = StoredPepper {
            version: PepperVersion(4),
            ciphertext: vec![1, 2, 3],
            kms_key_id: "alias/cog".into(),
            created_at: Timestamp(9),
            retired: true,
        };
        assert_eq!(
            StoredPepper::try_from(&pepper_item(&pepper)).unwrap(),
            pepper
        );
        let event = AuditEvent::new(
            "user:u_1",
            AuditAction::TokenCreate,
            Owner::user("u_1"),
            Timestamp(5),
        )
        .for_token(record().id)
        .with_detail("x");
        assert_eq!(AuditEvent::try_from(&audit_item(&event)).unwrap(), event);
    }
}
