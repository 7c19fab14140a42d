//! Who a valid token acts as: what the authorizer hands downstream.

use crate::records::{OrgMembership, Owner, RateLimit, TokenRecord};
use crate::token::TokenId;

/// Who a valid token acts as, passed downstream as authorizer context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub owner: Owner,
    pub token_id: TokenId,
    pub scopes: Vec<String>,
    pub orgs: Vec<OrgMembership>,
    /// The limit whose usage-plan key the sync has placed for this token
    /// (REST usage plans); `None` until then, or without a limit.
    pub usage_key: Option<RateLimit>,
}

impl Identity {
    /// The identity `record` acts as, in `orgs`.
    pub(super) fn of(record: TokenRecord, orgs: Vec<OrgMembership>) -> Self {
        Self {
            owner: record.owner,
            token_id: record.id,
            scopes: record.scopes,
            orgs,
            usage_key: record.rate_limit.filter(|_| record.usage_key_placed),
        }
    }

    /// `pat` or `service_key`.
    pub fn auth_method(&self) -> &'static str {
        self.owner.kind.auth_method()
    }

    /// Scopes, space-separated (the OAuth convention).
    pub fn scopes_text(&self) -> String {
        self.scopes.join(" ")
    }

    /// Memberships as `org:role` pairs joined by `,`, each part
    /// percent-encoding `%`, `,` and `:` so the string always splits cleanly.
    pub fn orgs_text(&self) -> String {
        let mut text = String::with_capacity(self.orgs.len() * 24);
        for (index, membership) in self.orgs.iter().enumerate() {
            if index > 0 {
                text.push(',');
            }
            push_encoded(&mut text, &membership.org_id);
            text.push(':');
            push_encoded(&mut text, &membership.role);
        }
        text
    }
}

/// Appends `value`, percent-encoding the three characters the format uses.
fn push_encoded(text: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '%' => text.push_str("%25"),
            ',' => text.push_str("%2C"),
            ':' => text.push_str("%3A"),
            c => text.push(c),
        }
    }
}
