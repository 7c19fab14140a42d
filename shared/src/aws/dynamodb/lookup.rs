//! `CredentialLookup`: the authorizer's read of a token and its owner, in one
//! round trip when the token carries its owner hint.

use std::collections::HashMap;

use async_trait::async_trait;

use super::attributes::{get_s, malformed};
use super::keys::{
    org_policy_key, pepper_key, principal_key, token_key, ACCOUNT_SK, SERVICE_USER_SK, TOKEN_SK,
};
use super::schema::SORT_KEY;
use super::{DynamoStore, Item};
use crate::records::{OrgPolicy, Owner, TokenRecord};
use crate::store::{read_principal, CredentialLookup, Principal, StoreError, StoredPepper};
use crate::token::hash::PepperVersion;
use crate::token::TokenId;

/// What the authorize path reads in place of an owner for an unknown token
/// id, so unknown and known ids cost the same two sequential reads of items
/// of about the same size: pepper v1, which every table has.
fn decoy_owner_key() -> Item {
    pepper_key(PepperVersion(1))
}

impl DynamoStore {
    /// Two sequential reads: the token, then its owner (or the decoy).
    async fn token_then_owner(
        &self,
        id: &TokenId,
    ) -> Result<(Option<TokenRecord>, Option<Principal>), StoreError> {
        let Some(record) = self.get_record::<TokenRecord>(token_key(id)).await? else {
            // A known id costs a second read (its owner) and its parsing:
            // so does an unknown one.
            if let Some(decoy) = self.get_item(decoy_owner_key()).await? {
                let _ = std::hint::black_box(StoredPepper::try_from(&decoy));
            }
            return Ok((None, None));
        };
        let principal = read_principal(self, &record.owner).await?;
        Ok((Some(record), principal))
    }

    /// The token's and `hint`'s items in one strongly consistent batch
    /// read, or `None` when DynamoDB left keys unprocessed (throttling).
    async fn token_and_hinted_owner(
        &self,
        id: &TokenId,
        hint: &Owner,
    ) -> Result<Option<(Option<TokenRecord>, Option<Principal>)>, StoreError> {
        let (items, left) = self
            .batch_get(vec![token_key(id), principal_key(hint)])
            .await?;
        if !left.is_empty() {
            return Ok(None);
        }
        let mut record = None;
        let mut principal = None;
        for item in &items {
            match get_s(item, SORT_KEY)? {
                TOKEN_SK => record = Some(TokenRecord::try_from(item)?),
                ACCOUNT_SK => principal = Some(Principal::User(item.try_into()?)),
                SERVICE_USER_SK => principal = Some(Principal::Service(item.try_into()?)),
                _ => return Err(malformed(SORT_KEY)),
            }
        }
        Ok(Some((record, principal)))
    }
}

#[async_trait]
impl CredentialLookup for DynamoStore {
    async fn token_and_owner(
        &self,
        id: &TokenId,
        owner_hint: Option<&Owner>,
    ) -> Result<(Option<TokenRecord>, Option<Principal>), StoreError> {
        let Some(hint) = owner_hint else {
            return self.token_then_owner(id).await;
        };
        match self.token_and_hinted_owner(id, hint).await? {
            None => self.token_then_owner(id).await,
            Some((None, _)) => Ok((None, None)),
            Some((Some(record), principal)) if record.owner == *hint => {
                Ok((Some(record), principal))
            }
            // Owners never change, so a stale hint means a bug upstream: read the real owner.
            Some((Some(record), _)) => {
                let principal = read_principal(self, &record.owner).await?;
                Ok((Some(record), principal))
            }
        }
    }

    async fn org_policies(
        &self,
        orgs: &[String],
    ) -> Result<HashMap<String, OrgPolicy>, StoreError> {
        let keys = orgs.iter().map(|org| org_policy_key(org)).collect();
        self.batch_get_all(keys)
            .await?
            .iter()
            .map(|item| {
                Ok((
                    get_s(item, "org_id")?.to_owned(),
                    OrgPolicy::try_from(item)?,
                ))
            })
            .collect()
    }
}
