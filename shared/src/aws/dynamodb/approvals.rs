//! Org admins' decisions on a PAT's item: `blocked_orgs` (SS),
//! `approved_orgs` (SS) and `org_denials` (a map of org to
//! `{reason, by, at}`); and an org policy's
//! `pat_approval` (`required`; absent: not required). The writes of
//! decisions: `approval_writes`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::attributes::{get_opt_i64, get_opt_s, malformed, n, s};
use super::Item;
use crate::records::{Denial, OrgDecisions, PatApproval, Timestamp};
use crate::store::StoreError;

pub(super) const BLOCKED: &str = "blocked_orgs";
pub(super) const APPROVED: &str = "approved_orgs";
pub(super) const DENIALS: &str = "org_denials";
pub(super) const PAT_APPROVAL: &str = "pat_approval";

fn denial_value(denial: &Denial) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("reason".to_owned(), s(&denial.reason)),
        ("by".to_owned(), s(&denial.by)),
        ("at".to_owned(), n(denial.at.0)),
    ]))
}

/// Puts `approvals` on a new item. The denial map is always there, even
/// empty, so a decision can set one org's entry in it.
pub(super) fn insert(item: &mut Item, approvals: &OrgDecisions) {
    if !approvals.blocked.is_empty() {
        item.insert(
            BLOCKED.into(),
            AttributeValue::Ss(approvals.blocked.clone()),
        );
    }
    if !approvals.approved.is_empty() {
        item.insert(
            APPROVED.into(),
            AttributeValue::Ss(approvals.approved.clone()),
        );
    }
    item.insert(
        DENIALS.into(),
        AttributeValue::M(
            approvals
                .denied
                .iter()
                .map(|d| (d.org.clone(), denial_value(d)))
                .collect(),
        ),
    );
}

/// Reads them back; damage is an error, never "approved".
pub(super) fn read(item: &Item) -> Result<OrgDecisions, StoreError> {
    let mut approved = match item.get(APPROVED) {
        None => Vec::new(),
        Some(value) => value.as_ss().map_err(|_| malformed(APPROVED))?.clone(),
    };
    approved.sort();
    let mut denied = Vec::new();
    if let Some(value) = item.get(DENIALS) {
        for (org, entry) in value.as_m().map_err(|_| malformed(DENIALS))? {
            let entry = entry.as_m().map_err(|_| malformed(DENIALS))?;
            denied.push(Denial {
                org: org.clone(),
                reason: get_opt_s(entry, "reason").ok_or_else(|| malformed(DENIALS))?,
                by: get_opt_s(entry, "by").ok_or_else(|| malformed(DENIALS))?,
                at: Timestamp(get_opt_i64(entry, "at")?.ok_or_else(|| malformed(DENIALS))?),
            });
        }
    }
    denied.sort_by(|a, b| a.org.cmp(&b.org));
    Ok(OrgDecisions::new(blocked_orgs(item)?, approved, denied))
}

/// The orgs a PAT is blocked in, sorted: a string set, none when absent;
/// anything else is damage (never read as "blocked nowhere").
fn blocked_orgs(item: &Item) -> Result<Vec<String>, StoreError> {
    let Some(value) = item.get(BLOCKED) else {
        return Ok(Vec::new());
    };
    let mut orgs = value.as_ss().map_err(|_| malformed(BLOCKED))?.clone();
    orgs.sort();
    Ok(orgs)
}

/// An admin's decision in `org` as a token change: its update (its `ADD`
/// clause last), values and names.
pub(super) fn decision_update(
    org: &str,
    denial: Option<&Denial>,
) -> (String, Item, HashMap<String, String>) {
    let names = HashMap::from([("#org".to_owned(), org.to_owned())]);
    let mut values = HashMap::from([(":org".to_owned(), AttributeValue::Ss(vec![org.to_owned()]))]);
    let update = match denial {
        Some(denial) => {
            values.insert(":denial".into(), denial_value(denial));
            format!("SET {DENIALS}.#org = :denial DELETE {APPROVED} :org")
        }
        None => format!("REMOVE {DENIALS}.#org ADD {APPROVED} :org"),
    };
    (update, values, names)
}

/// Puts a policy's approval rule on its item.
pub(super) fn insert_rule(item: &mut Item, rule: PatApproval) {
    if rule == PatApproval::Required {
        item.insert(PAT_APPROVAL.into(), s(rule.as_str()));
    }
}

/// A policy's approval rule. Anything but absent or `required` (which is
/// all that is written) is damage: never read as "not required".
pub(super) fn read_rule(item: &Item) -> Result<PatApproval, StoreError> {
    match item.get(PAT_APPROVAL) {
        None => Ok(PatApproval::NotRequired),
        Some(AttributeValue::S(text)) if text == "required" => Ok(PatApproval::Required),
        Some(_) => Err(malformed(PAT_APPROVAL)),
    }
}

/// The condition that a policy's stored rule is still `read`.
pub(super) fn rule_unchanged(read: PatApproval, values: &mut Item) -> String {
    match read {
        PatApproval::NotRequired => format!("attribute_not_exists({PAT_APPROVAL})"),
        PatApproval::Required => {
            values.insert(":was_approval".into(), s(read.as_str()));
            format!("{PAT_APPROVAL} = :was_approval")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvals_and_rules_read_back_as_written_and_damage_is_an_error() {
        let approvals = OrgDecisions::new(
            vec!["umbrella".into()],
            vec!["acme".into(), "globex".into()],
            vec![Denial {
                org: "initech".into(),
                reason: "not for prod".into(),
                by: "user:ann".into(),
                at: Timestamp(7),
            }],
        );
        let mut item = Item::new();
        insert(&mut item, &approvals);
        assert_eq!(read(&item).unwrap(), approvals);
        let mut empty = Item::new();
        insert(&mut empty, &OrgDecisions::default());
        assert!(empty.contains_key(DENIALS), "the map is there to set into");
        assert_eq!(read(&empty).unwrap(), OrgDecisions::default());
        item.insert(DENIALS.into(), s("initech"));
        assert!(read(&item).is_err());

        for rule in [PatApproval::NotRequired, PatApproval::Required] {
            let mut item = Item::new();
            insert_rule(&mut item, rule);
            assert_eq!(read_rule(&item).unwrap(), rule);
        }
        for damaged in [s("maybe"), s("not_required"), AttributeValue::Bool(true)] {
            let item = HashMap::from([(PAT_APPROVAL.to_owned(), damaged)]);
            assert!(read_rule(&item).is_err(), "fails closed");
        }
    }
}
