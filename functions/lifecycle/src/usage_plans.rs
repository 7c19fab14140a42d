//! `UsagePlans` over API Gateway's control plane (REST APIs): API keys named
//! `{prefix}-{token}-{rate}-{burst}`, in usage plans named
//! `{prefix}-rate-{rate}-burst-{burst}` on the configured stages. A
//! token's keys are listed by name: `GetApiKeys`' `nameQuery` matches name
//! prefixes (undocumented, but so on AWS: aws/aws-sdk-java-v2#1732,
//! getmoto/moto#8220), and every name is checked again here. Locally the
//! SDK finds moto through `AWS_ENDPOINT_URL_API_GATEWAY`.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_apigateway::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigateway::types::{
    ApiKeySourceType, ApiStage, Op, PatchOperation, ThrottleSettings, UsagePlan,
};
use aws_sdk_apigateway::Client;
use cog_tokens::records::{PlanName, RateLimit, UsageKey};
use cog_tokens::store::usage_plans::{UsagePlanError, UsagePlans};
use cog_tokens::token::TokenId;

/// The most a listing returns per page.
const PAGE: i32 = 500;

#[derive(Debug)]
pub struct SdkUsagePlans {
    client: Client,
    prefix: String,
    /// The REST stages (API id, stage) every plan covers.
    stages: Vec<(String, String)>,
    /// Plan ids by limit, as learnt by this process.
    plans: Mutex<HashMap<RateLimit, String>>,
}

impl SdkUsagePlans {
    pub fn new(client: Client, prefix: String, stages: Vec<(String, String)>) -> Self {
        Self {
            client,
            prefix,
            stages,
            plans: Mutex::new(HashMap::new()),
        }
    }

    /// The error's code only: SDK errors' `Debug` can carry response bodies.
    fn error<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> UsagePlanError {
        match error.as_service_error().and_then(|e| e.code()) {
            Some("TooManyRequestsException") => UsagePlanError::Throttled,
            Some("LimitExceededException") => {
                UsagePlanError::QuotaReached("API keys or usage plans".into())
            }
            Some(code) => UsagePlanError::Failed(format!("service error {code}")),
            None => UsagePlanError::Failed(match error {
                SdkError::TimeoutError(_) => "timeout".into(),
                SdkError::DispatchFailure(_) => "dispatch failure".into(),
                _ => "request failed".into(),
            }),
        }
    }

    fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
        error.as_service_error().and_then(|e| e.code())
    }

    /// Keys whose name starts with `name_query`, as (name, id).
    async fn named(&self, name_query: &str) -> Result<Vec<(String, String)>, UsagePlanError> {
        let mut found = Vec::new();
        let mut position = None;
        loop {
            let page = self
                .client
                .get_api_keys()
                .name_query(name_query)
                .limit(PAGE)
                .set_position(position)
                .send()
                .await
                .map_err(|e| Self::error(&e))?;
            for key in page.items() {
                if let (Some(name), Some(id)) = (key.name(), key.id()) {
                    if name.starts_with(name_query) {
                        found.push((name.to_owned(), id.to_owned()));
                    }
                }
            }
            match page.position() {
                Some(next) if !page.items().is_empty() => position = Some(next.to_owned()),
                _ => return Ok(found),
            }
        }
    }

    async fn key_id(&self, key: &UsageKey) -> Result<Option<String>, UsagePlanError> {
        let name = key.name(&self.prefix);
        let found = self.named(&name).await?;
        Ok(found
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| id))
    }

    /// The plans holding `key_id` (or every plan, with `None`).
    async fn plans_of(&self, key_id: Option<&str>) -> Result<Vec<UsagePlan>, UsagePlanError> {
        let mut plans = Vec::new();
        let mut position = None;
        loop {
            let page = self
                .client
                .get_usage_plans()
                .set_key_id(key_id.map(str::to_owned))
                .limit(PAGE)
                .set_position(position)
                .send()
                .await
                .map_err(|e| Self::error(&e))?;
            plans.extend(page.items().iter().cloned());
            match page.position() {
                Some(next) if !page.items().is_empty() => position = Some(next.to_owned()),
                _ => return Ok(plans),
            }
        }
    }

    /// The id of `limit`'s plan, made if there is none.
    async fn plan_for(&self, limit: RateLimit) -> Result<String, UsagePlanError> {
        if let Some(id) = self.learnt(limit) {
            return Ok(id);
        }
        let name = PlanName {
            prefix: &self.prefix,
            limit,
        }
        .to_string();
        let existing = self.plans_of(None).await?;
        let id = match existing
            .iter()
            .find(|plan| plan.name() == Some(name.as_str()))
        {
            Some(plan) => {
                self.add_missing_stages(plan).await?;
                plan.id().unwrap_or_default().to_owned()
            }
            None => {
                let throttle = ThrottleSettings::builder()
                    .rate_limit(f64::from(limit.per_second()))
                    .burst_limit(limit.burst() as i32)
                    .build();
                let stages = self
                    .stages
                    .iter()
                    .map(|(api, stage)| ApiStage::builder().api_id(api).stage(stage).build());
                let created = self
                    .client
                    .create_usage_plan()
                    .name(&name)
                    .description(format!("cog credentials limited to {limit}"))
                    .throttle(throttle)
                    .set_api_stages(Some(stages.collect()))
                    .send()
                    .await
                    .map_err(|e| Self::error(&e))?;
                created.id().unwrap_or_default().to_owned()
            }
        };
        if id.is_empty() {
            return Err(UsagePlanError::Failed("a usage plan without an id".into()));
        }
        if let Ok(mut plans) = self.plans.lock() {
            plans.insert(limit, id.clone());
        }
        Ok(id)
    }

    /// Adds to `plan` the configured stages it does not cover.
    async fn add_missing_stages(&self, plan: &UsagePlan) -> Result<(), UsagePlanError> {
        let covered = |api: &str, stage: &str| {
            plan.api_stages()
                .iter()
                .any(|s| s.api_id() == Some(api) && s.stage() == Some(stage))
        };
        let missing: Vec<PatchOperation> = self
            .stages
            .iter()
            .filter(|(api, stage)| !covered(api, stage))
            .map(|(api, stage)| {
                PatchOperation::builder()
                    .op(Op::Add)
                    .path("/apiStages")
                    .value(format!("{api}:{stage}"))
                    .build()
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        self.client
            .update_usage_plan()
            .usage_plan_id(plan.id().unwrap_or_default())
            .set_patch_operations(Some(missing))
            .send()
            .await
            .map(drop)
            .map_err(|e| Self::error(&e))
    }

    fn learnt(&self, limit: RateLimit) -> Option<String> {
        self.plans.lock().ok()?.get(&limit).cloned()
    }

    async fn create_key(&self, key: &UsageKey) -> Result<String, UsagePlanError> {
        let created = self
            .client
            .create_api_key()
            .name(key.name(&self.prefix))
            .value(key.value())
            .enabled(true)
            .description(format!("cog token {} limited to {}", key.token, key.limit))
            .send()
            .await;
        match created {
            Ok(created) => Ok(created.id().unwrap_or_default().to_owned()),
            // Made by an earlier attempt whose answer was lost.
            Err(error) if Self::code(&error) == Some("ConflictException") => self
                .key_id(key)
                .await?
                .ok_or_else(|| UsagePlanError::Failed("the key's value is taken".into())),
            Err(error) => Err(Self::error(&error)),
        }
    }
}

#[async_trait]
impl UsagePlans for SdkUsagePlans {
    async fn keys(&self, token: Option<&TokenId>) -> Result<Vec<UsageKey>, UsagePlanError> {
        let query = match token {
            Some(token) => format!("{}-{token}-", self.prefix),
            None => format!("{}-", self.prefix),
        };
        Ok(self
            .named(&query)
            .await?
            .iter()
            .filter_map(|(name, _)| UsageKey::from_name(&self.prefix, name))
            .filter(|key| token.is_none_or(|token| key.token == *token))
            .collect())
    }

    async fn place(&self, key: &UsageKey) -> Result<(), UsagePlanError> {
        let (key_id, made) = match self.key_id(key).await? {
            Some(id) => (id, false),
            None => (self.create_key(key).await?, true),
        };
        let plan_id = self.plan_for(key.limit).await?;
        // A key made just now is in no plan yet (one made meanwhile by a
        // lost attempt is, and its conflict below says so).
        if !made {
            let holding = self.plans_of(Some(&key_id)).await?;
            if holding
                .iter()
                .any(|plan| plan.id() == Some(plan_id.as_str()))
            {
                return Ok(());
            }
        }
        let added = self
            .client
            .create_usage_plan_key()
            .usage_plan_id(&plan_id)
            .key_id(&key_id)
            .key_type("API_KEY")
            .send()
            .await;
        match added {
            Ok(_) => Ok(()),
            // Added meanwhile, or held by another plan of the stage (an
            // operator's): only the first is placed.
            Err(error) if Self::code(&error) == Some("ConflictException") => {
                let holding = self.plans_of(Some(&key_id)).await?;
                if holding
                    .iter()
                    .any(|plan| plan.id() == Some(plan_id.as_str()))
                {
                    Ok(())
                } else {
                    Err(UsagePlanError::Misconfigured(format!(
                        "{} is in another usage plan of the stage",
                        key.name(&self.prefix)
                    )))
                }
            }
            Err(error) if Self::code(&error) == Some("NotFoundException") => {
                // The plan this process knew is gone: learn it again next time.
                if let Ok(mut plans) = self.plans.lock() {
                    plans.remove(&key.limit);
                }
                Err(UsagePlanError::Failed("the usage plan is gone".into()))
            }
            Err(error) => Err(Self::error(&error)),
        }
    }

    async fn check_stages(&self) -> Result<(), UsagePlanError> {
        for api in self.stages.iter().map(|(api, _)| api) {
            let rest = self
                .client
                .get_rest_api()
                .rest_api_id(api)
                .send()
                .await
                .map_err(|e| Self::error(&e))?;
            if rest.api_key_source() != Some(&ApiKeySourceType::Authorizer) {
                return Err(UsagePlanError::Misconfigured(format!(
                    "REST API {api}: its key source is not AUTHORIZER"
                )));
            }
        }
        let prefix = format!("{}-rate-", self.prefix);
        for plan in self.plans_of(None).await? {
            if plan.name().is_some_and(|name| name.starts_with(&prefix)) {
                self.add_missing_stages(&plan).await?;
            }
        }
        Ok(())
    }

    async fn remove(&self, key: &UsageKey) -> Result<(), UsagePlanError> {
        let Some(key_id) = self.key_id(key).await? else {
            return Ok(());
        };
        for plan in self.plans_of(Some(&key_id)).await? {
            let removed = self
                .client
                .delete_usage_plan_key()
                .usage_plan_id(plan.id().unwrap_or_default())
                .key_id(&key_id)
                .send()
                .await;
            match removed {
                Ok(_) => {}
                Err(error) if Self::code(&error) == Some("NotFoundException") => {}
                Err(error) => return Err(Self::error(&error)),
            }
        }
        match self.client.delete_api_key().api_key(&key_id).send().await {
            Ok(_) => Ok(()),
            Err(error) if Self::code(&error) == Some("NotFoundException") => Ok(()),
            Err(error) => Err(Self::error(&error)),
        }
    }
}
