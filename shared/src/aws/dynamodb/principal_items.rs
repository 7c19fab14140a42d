//! Accounts, service users and org policies to their items, and back with
//! `TryFrom<&Item>`. The flags and statuses that gate access fail closed:
//! a damaged one reads as the refusing value, or is an error.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::approvals;
use super::attributes::{get_opt_i64, get_opt_timestamp, get_s, malformed, n, s};
use super::keys::{
    created_sort_key_of, member_key, org_policy_key, org_service_users_key, principal_key,
};
use super::schema::{OWNER_INDEX_PARTITION_KEY, OWNER_INDEX_SORT_KEY};
use super::Item;
use crate::records::{
    Account, OrgMember, OrgMembership, OrgPolicy, Owner, PrincipalStatus, ServiceUser, Timestamp,
};
use crate::store::StoreError;

/// The update expression that writes [`account_values`].
pub(super) const ACCOUNT_UPDATE: &str =
    "SET user_id = :user_id, #status = :status, sso = :sso, pat_beta = :pat_beta, orgs = :orgs";

/// The account fields an operator sets; `tokens_valid_after` is not among
/// them (only "revoke all" moves it), so a put never undoes a revoke-all.
pub(super) fn account_values(account: &Account) -> Item {
    HashMap::from([
        (":user_id".to_owned(), s(&account.user_id)),
        (":status".into(), s(account.status.as_str())),
        (":sso".into(), AttributeValue::Bool(account.sso)),
        (":pat_beta".into(), AttributeValue::Bool(account.pat_beta)),
        (
            ":orgs".into(),
            AttributeValue::M(
                account
                    .orgs
                    .iter()
                    .map(|m| (m.org_id.clone(), s(&m.role)))
                    .collect(),
            ),
        ),
    ])
}

/// Reads an account. The flags that gate access fail closed: `sso` is
/// false only when stored as the boolean false, `pat_beta` true only when
/// stored as true, and a missing or unknown `status` reads as suspended.
/// Each such repair is logged; other damage is an error (never an Allow).
impl TryFrom<&Item> for Account {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let user_id = get_s(item, "user_id")?.to_owned();
        let mut orgs = item
            .get("orgs")
            .and_then(|v| v.as_m().ok())
            .ok_or_else(|| malformed("orgs"))?
            .iter()
            .map(|(org_id, role)| {
                Ok(OrgMembership {
                    org_id: org_id.clone(),
                    role: role.as_s().map_err(|_| malformed("orgs"))?.clone(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        orgs.sort();
        Ok(Account {
            status: status_failing_closed(item, &user_id),
            sso: flag_failing_closed(item, &user_id, "sso", true),
            pat_beta: flag_failing_closed(item, &user_id, "pat_beta", false),
            user_id,
            orgs,
            tokens_valid_after: get_opt_timestamp(item, "tokens_valid_after")?,
        })
    }
}

/// A boolean flag, or `closed` (logged) when it is missing or not a boolean.
fn flag_failing_closed(item: &Item, principal: &str, field: &str, closed: bool) -> bool {
    match item.get(field) {
        Some(AttributeValue::Bool(value)) => *value,
        _ => {
            tracing::warn!(principal, field, closed, "unreadable account flag");
            closed
        }
    }
}

fn status_failing_closed(item: &Item, principal: &str) -> PrincipalStatus {
    match item
        .get("status")
        .and_then(|v| v.as_s().ok())
        .map(|s| s.parse())
    {
        Some(Ok(status)) => status,
        _ => {
            tracing::warn!(
                principal,
                field = "status",
                "unreadable status: treated as suspended"
            );
            PrincipalStatus::Suspended
        }
    }
}

/// A service user's item, listed on the owner index under its org.
pub(super) fn service_user_item(user: &ServiceUser) -> Item {
    let mut item = principal_key(&Owner::service_user(&user.id));
    item.insert("service_user_id".into(), s(&user.id));
    item.insert("name".into(), s(&user.name));
    item.insert("org_id".into(), s(&user.org_id));
    item.insert("role".into(), s(&user.role));
    item.insert("status".into(), s(user.status.as_str()));
    item.insert("created_at".into(), n(user.created_at.0));
    item.insert(
        OWNER_INDEX_PARTITION_KEY.into(),
        s(org_service_users_key(&user.org_id)),
    );
    item.insert(
        OWNER_INDEX_SORT_KEY.into(),
        s(created_sort_key_of(user.created_at, &user.id)),
    );
    if let Some(at) = user.tokens_valid_after {
        item.insert("tokens_valid_after".into(), n(at.0));
    }
    item
}

/// The update from `read` to `changed` (update expression, condition,
/// values): it sets only the fields that differ (name, role, status; never
/// the org) and holds the others to their read values, so a write from a
/// stale read cannot undo a concurrent change (a rename re-enabling).
pub(super) fn service_user_change(
    read: &ServiceUser,
    changed: &ServiceUser,
) -> (String, String, Item) {
    let mut values = HashMap::from([(":org".to_owned(), s(&read.org_id))]);
    // The org set to itself: an expression when no field differs.
    let mut sets = vec!["org_id = :org".to_owned()];
    let mut condition = "attribute_exists(pk) AND org_id = :org".to_owned();
    for (field, placeholder, before, after) in [
        ("#name", ":name", read.name.as_str(), changed.name.as_str()),
        ("#role", ":role", read.role.as_str(), changed.role.as_str()),
        (
            "#status",
            ":status",
            read.status.as_str(),
            changed.status.as_str(),
        ),
    ] {
        values.insert(placeholder.to_owned(), s(after));
        if before == after {
            condition.push_str(&format!(" AND {field} = {placeholder}"));
        } else {
            let was = format!("{placeholder}_was");
            condition.push_str(&format!(" AND {field} = {was}"));
            values.insert(was, s(before));
            sets.push(format!("{field} = {placeholder}"));
        }
    }
    (format!("SET {}", sets.join(", ")), condition, values)
}

impl TryFrom<&Item> for ServiceUser {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let id = get_s(item, "service_user_id")?.to_owned();
        Ok(ServiceUser {
            name: get_s(item, "name")?.to_owned(),
            org_id: get_s(item, "org_id")?.to_owned(),
            role: get_s(item, "role")?.to_owned(),
            status: status_failing_closed(item, &id),
            // Items from before creation times were kept sort first.
            created_at: get_opt_timestamp(item, "created_at")?.unwrap_or(Timestamp(0)),
            tokens_valid_after: get_opt_timestamp(item, "tokens_valid_after")?,
            id,
        })
    }
}

/// The condition that an org's stored PAT policy is still `read` (`None`:
/// none is stored), with its values.
pub(super) fn org_policy_unchanged(read: Option<&OrgPolicy>) -> (String, Item) {
    let Some(read) = read else {
        return ("attribute_not_exists(pk)".to_owned(), Item::new());
    };
    let mut values = HashMap::from([(":was_access".to_owned(), s(read.pat_access.as_str()))]);
    let days = optional_number_unchanged(
        "pat_max_lifetime_days",
        ":was_days",
        read.pat_max_lifetime_days,
        &mut values,
    );
    let idle = optional_number_unchanged(
        IDLE_EXPIRY_DAYS,
        ":was_idle",
        read.idle_expiry_days,
        &mut values,
    );
    let approval = approvals::rule_unchanged(read.pat_approval, &mut values);
    (
        format!(
            "attribute_exists(pk) AND pat_access = :was_access AND {days} AND {idle} AND {approval}"
        ),
        values,
    )
}

/// The condition that the optional number `name` is still `read`.
fn optional_number_unchanged(
    name: &str,
    placeholder: &str,
    read: Option<u32>,
    values: &mut Item,
) -> String {
    match read {
        Some(value) => {
            values.insert(placeholder.to_owned(), n(value));
            format!("{name} = {placeholder}")
        }
        None => format!("attribute_not_exists({name})"),
    }
}

/// An org's idle-expiry window in days; absent: the deployment's.
const IDLE_EXPIRY_DAYS: &str = "idle_expiry_days";

fn optional_days(item: &Item, name: &str) -> Result<Option<u32>, StoreError> {
    get_opt_i64(item, name)?
        .map(|days| u32::try_from(days).map_err(|_| malformed(name)))
        .transpose()
}

/// An org's PAT policy item.
pub(super) fn org_policy_item(org_id: &str, policy: &OrgPolicy) -> Item {
    let mut item = org_policy_key(org_id);
    item.insert("org_id".into(), s(org_id));
    item.insert("pat_access".into(), s(policy.pat_access.as_str()));
    if let Some(days) = policy.pat_max_lifetime_days {
        item.insert("pat_max_lifetime_days".into(), n(days));
    }
    if let Some(days) = policy.idle_expiry_days {
        item.insert(IDLE_EXPIRY_DAYS.into(), n(days));
    }
    approvals::insert_rule(&mut item, policy.pat_approval);
    item
}

/// Reads an org policy. A damaged one is an error, never "allowed".
impl TryFrom<&Item> for OrgPolicy {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        Ok(OrgPolicy {
            pat_access: get_s(item, "pat_access")?
                .parse()
                .map_err(|_| malformed("pat_access"))?,
            pat_max_lifetime_days: optional_days(item, "pat_max_lifetime_days")?,
            idle_expiry_days: optional_days(item, IDLE_EXPIRY_DAYS)?,
            pat_approval: approvals::read_rule(item)?,
        })
    }
}

/// An org member item: the user and their role in the org.
pub(super) fn member_item(org_id: &str, user_id: &str, role: &str) -> Item {
    let mut item = member_key(org_id, user_id);
    item.insert("user_id".into(), s(user_id));
    item.insert("role".into(), s(role));
    item
}

impl TryFrom<&Item> for OrgMember {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        Ok(OrgMember {
            user_id: get_s(item, "user_id")?.to_owned(),
            role: get_s(item, "role")?.to_owned(),
        })
    }
}

/// The account attribute that says its org member items are not yet in
/// step with it: there (maybe empty) from a write of the account until all
/// its member items are written, it maps each org whose member item is still
/// to delete (to `true`). A replay or the next write finishes them.
pub(super) const MEMBER_SYNC: &str = "member_sync";

/// `orgs` as the value of [`MEMBER_SYNC`].
pub(super) fn member_sync_value(orgs: &[String]) -> AttributeValue {
    AttributeValue::M(
        orgs.iter()
            .map(|org| (org.clone(), AttributeValue::Bool(true)))
            .collect(),
    )
}

/// What a write of an account must know of the stored one: its orgs (whose
/// member items to delete or finish), its revision, its directory version,
/// and the member item deletes a write left undone.
pub(super) struct StoredAccount {
    pub(super) orgs: Vec<OrgMembership>,
    pub(super) revision: Option<i64>,
    pub(super) version: Option<i64>,
    /// `Some` while the member items are not all written (see [`MEMBER_SYNC`]).
    pub(super) member_sync: Option<Vec<String>>,
}

impl StoredAccount {
    pub(super) fn read(item: Option<&Item>) -> Result<Self, StoreError> {
        let Some(item) = item else {
            return Ok(Self {
                orgs: Vec::new(),
                revision: None,
                version: None,
                member_sync: None,
            });
        };
        let orgs = match item.get("orgs") {
            None => Vec::new(),
            Some(_) => Account::try_from(item)?.orgs,
        };
        let member_sync = match item.get(MEMBER_SYNC) {
            None => None,
            Some(AttributeValue::M(orgs)) => Some(orgs.keys().cloned().collect()),
            Some(_) => return Err(malformed(MEMBER_SYNC)),
        };
        Ok(Self {
            orgs,
            revision: get_opt_i64(item, "revision")?,
            version: get_opt_i64(item, "directory_version")?,
            member_sync,
        })
    }

    /// The orgs whose member items a write of `account` must delete: those
    /// stored (or left to delete by an earlier write) it no longer has.
    pub(super) fn retired_by(&self, account: &Account) -> Vec<String> {
        let mut retired: Vec<String> = self
            .orgs
            .iter()
            .map(|m| &m.org_id)
            .chain(self.member_sync.iter().flatten())
            .filter(|org| !account.orgs.iter().any(|m| &m.org_id == *org))
            .cloned()
            .collect();
        retired.sort();
        retired.dedup();
        retired
    }
}
