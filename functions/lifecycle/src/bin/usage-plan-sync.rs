//! Cold start: the table and the REST stages; then one credential event or
//! one schedule tick per invocation (`lifecycle::plan_sync`).
//!
//! `TABLE_NAME`; `USAGE_PLAN_STAGES` (`<rest api id>/<stage>`, separated by
//! commas; at least one): the stages each usage plan covers;
//! `USAGE_PLAN_PREFIX`: what this deployment's keys' and plans' names start
//! with (the stack's name).

use std::sync::Arc;

use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::sdk_config;
use cog_tokens::config::{required, ConfigError};
use cog_tokens::events::usage_plans::UsagePlanSync;
use cog_tokens::logging::Causes;
use cog_tokens::metrics::emit;
use cog_tokens::records::Timestamp;
use lambda_runtime::{service_fn, LambdaEvent};
use lifecycle::metrics::{record_plan_sync, USAGE_PLAN_SYNC};
use lifecycle::plan_sync::handle;
use lifecycle::usage_plans::SdkUsagePlans;

fn stages() -> Result<Vec<(String, String)>, ConfigError> {
    let bad = |problem: String| ConfigError {
        name: "USAGE_PLAN_STAGES",
        problem,
    };
    let text = required("USAGE_PLAN_STAGES")?;
    let stages = text
        .split(',')
        .map(str::trim)
        .filter(|stage| !stage.is_empty())
        .map(|stage| match stage.split_once('/') {
            Some((api, name)) if !api.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok((api.to_owned(), name.to_owned()))
            }
            _ => Err(bad(format!("`{stage}`: expected <rest api id>/<stage>"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if stages.is_empty() {
        return Err(bad("at least one stage".into()));
    }
    Ok(stages)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cog_tokens::logging::init();
    let table = required("TABLE_NAME")?;
    let prefix = required("USAGE_PLAN_PREFIX")?;
    let stages = stages()?;
    let sdk = sdk_config().await;
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table));
    let plans = SdkUsagePlans::new(aws_sdk_apigateway::Client::new(&sdk), prefix, stages);
    let sync = UsagePlanSync::new(store, plans);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let sync = &sync;
        async move {
            let (result, tally) = handle(sync, &event.payload).await;
            emit(USAGE_PLAN_SYNC, Timestamp::now().0, |aggregate| {
                record_plan_sync(aggregate, &tally)
            });
            match result {
                Ok(report) => {
                    tracing::info!(placed = report.placed, removed = report.removed, "synced");
                    Ok(format!("{report:?}"))
                }
                Err(error) => {
                    tracing::error!(error = %Causes(&error), "sync failed: retried");
                    Err(lambda_runtime::Error::from(error.to_string()))
                }
            }
        }
    }))
    .await
}
