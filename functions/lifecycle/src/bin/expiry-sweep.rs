//! Run hourly by a schedule: records the expiry notices due now (7 days,
//! 1 day, expired), each once, then the idle sweep's warnings and
//! revocations (`management::idle`); the stream publishes them.

use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::sdk_config;
use cog_tokens::config::required;
use cog_tokens::events::expiry::sweep;
use cog_tokens::management::idle::{deployment_window_from_env, sweep_idle};
use cog_tokens::metrics::emit;
use cog_tokens::records::Timestamp;
use lambda_runtime::{service_fn, LambdaEvent};
use lifecycle::metrics::{record_sweep, EXPIRY_SWEEP};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cog_tokens::logging::init();
    let table = required("TABLE_NAME")?;
    let idle_days = deployment_window_from_env()?;
    let sdk = sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| {
        let store = &store;
        async move {
            let report = sweep(store, Timestamp::now()).await?;
            tracing::info!(?report, "expiry sweep done");
            let idle = sweep_idle(store, idle_days, Timestamp::now()).await;
            emit(EXPIRY_SWEEP, Timestamp::now().0, |aggregate| {
                record_sweep(aggregate, &report, idle.as_ref().ok())
            });
            let idle = idle?;
            tracing::info!(?idle, "idle sweep done");
            Ok::<_, lambda_runtime::Error>(format!("{report:?} {idle:?}"))
        }
    }))
    .await
}
