//! A REST stage's API keys and usage plans, as API Gateway applies them to
//! a method with `ApiKeyRequired` under `ApiKeySourceType: AUTHORIZER`: the
//! authorizer's `usageIdentifierKey` must be the value of an enabled key in
//! a usage plan of the stage, else 403; the plan's throttle applies per
//! key, over it 429. Keys and plans are read for each request from the
//! control plane that holds them (`--usage-plans-url`: moto locally, where
//! the usage-plan sync keeps them), so a key placed or removed counts at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use aws_sdk_apigateway::types::{ApiKey, UsagePlan};
use aws_sdk_apigateway::Client;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::quota::TokenBucket;
use crate::responses::message;
use crate::stages::RestStage;

/// What the stage does with a request its authorizer allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metered {
    Admitted,
    /// No key, an unknown or disabled one, or none in a plan of the stage.
    Forbidden,
    /// Over the plan's throttle.
    Throttled,
}

#[derive(Debug)]
pub struct UsagePlans {
    client: Client,
    stage: RestStage,
    /// A bucket per (key id, plan id), made with the plan's throttle.
    buckets: Mutex<HashMap<(String, String), Metering>>,
}

/// A plan's throttle (rate, burst), and the bucket made with it.
type Metering = ((f64, i32), TokenBucket);

impl UsagePlans {
    /// Keys and plans at `url`, with the environment's AWS credentials.
    pub async fn new(url: &str, stage: RestStage) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(url)
            .load()
            .await;
        Self {
            client: Client::new(&sdk),
            stage,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn stage(&self) -> &RestStage {
        &self.stage
    }

    /// API Gateway's answer to an allowed request under the key `value`:
    /// none (admitted), 403 without a key in a plan of the stage, 429 over
    /// the plan's throttle, 500 when the keys cannot be read.
    pub async fn admit(
        &self,
        value: Option<&str>,
        now: Instant,
    ) -> Result<(), Response<Full<Bytes>>> {
        match self.meter(value, now).await {
            Ok(Metered::Admitted) => Ok(()),
            Ok(Metered::Forbidden) => Err(message(StatusCode::FORBIDDEN, "Forbidden")),
            Ok(Metered::Throttled) => {
                Err(message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"))
            }
            Err(error) => {
                tracing::error!(%error, "usage plans unreadable");
                Err(message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                ))
            }
        }
    }

    /// The request's fate under the key `value` the authorizer named.
    async fn meter(&self, value: Option<&str>, now: Instant) -> Result<Metered, String> {
        let Some(value) = value else {
            return Ok(Metered::Forbidden);
        };
        let Some(key) = self.key_of(value).await? else {
            return Ok(Metered::Forbidden);
        };
        let key_id = key.id().unwrap_or_default().to_owned();
        let plans = self
            .client
            .get_usage_plans()
            .key_id(&key_id)
            .send()
            .await
            .map_err(|e| format!("GetUsagePlans: {e}"))?;
        let Some(plan) = plans.items().iter().find(|plan| self.covers(plan)) else {
            return Ok(Metered::Forbidden);
        };
        // A plan without a throttle leaves only the stage's.
        let Some(throttle) = plan.throttle() else {
            return Ok(Metered::Admitted);
        };
        let limits = (throttle.rate_limit(), throttle.burst_limit());
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = (key_id, plan.id().unwrap_or_default().to_owned());
        let fresh = || {
            let burst = u32::try_from(limits.1).unwrap_or(0);
            (limits, TokenBucket::new(limits.0, burst, now))
        };
        let (held, bucket) = buckets.entry(slot).or_insert_with(fresh);
        if *held != limits {
            (*held, *bucket) = fresh();
        }
        Ok(if bucket.try_take(now) {
            Metered::Admitted
        } else {
            Metered::Throttled
        })
    }

    fn covers(&self, plan: &UsagePlan) -> bool {
        plan.api_stages().iter().any(|s| {
            s.api_id() == Some(self.stage.rest_api_id.as_str())
                && s.stage() == Some(self.stage.stage.as_str())
        })
    }

    /// The enabled key whose value is `value`.
    async fn key_of(&self, value: &str) -> Result<Option<ApiKey>, String> {
        let mut position = None;
        loop {
            let page = self
                .client
                .get_api_keys()
                .include_values(true)
                .limit(500)
                .set_position(position)
                .send()
                .await
                .map_err(|e| format!("GetApiKeys: {e}"))?;
            if let Some(key) = page
                .items()
                .iter()
                .find(|k| k.value() == Some(value) && k.enabled())
            {
                return Ok(Some(key.clone()));
            }
            match page.position() {
                Some(next) if !page.items().is_empty() => position = Some(next.to_owned()),
                _ => return Ok(None),
            }
        }
    }
}
