//! Run hourly by a schedule: records the expiry notices due now (7 days,
//! 1 day, expired), each once; the stream publishes them.

use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::sdk_config;
use cog_tokens::config::required;
use cog_tokens::events::expiry::sweep;
use cog_tokens::metrics::emit;
use cog_tokens::records::Timestamp;
use lambda_runtime::{service_fn, LambdaEvent};
use lifecycle::metrics::{record_sweep, EXPIRY_SWEEP};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cog_tokens::logging::init();
    let table = required("TABLE_NAME")?;
    let sdk = sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| {
        let store = &store;
        async move {
            let report = sweep(store, Timestamp::now()).await?;
            tracing::info!(?report, "expiry sweep done");
            emit(EXPIRY_SWEEP, Timestamp::now().0, |aggregate| {
                record_sweep(aggregate, &report)
            });
            Ok::<_, lambda_runtime::Error>(format!("{report:?}"))
        }
    }))
    .await
}
