//! Cold start: settings (the table, the directory's AWS account) and the
//! DynamoDB client once; then one directory event per invocation.

use account_sync::{handle, record_result, Directory, DirectoryEvent, FUNCTION_NAME};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::sdk_config;
use cog_tokens::config::required;
use cog_tokens::metrics;
use cog_tokens::records::Timestamp;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cog_tokens::logging::init();
    let table = required("TABLE_NAME")?;
    let directory = Directory::from_env()?;
    let sdk = sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    lambda_runtime::run(service_fn(|event: LambdaEvent<DirectoryEvent>| {
        let (store, directory) = (&store, &directory);
        async move {
            let result = handle(store, directory, event.payload, Timestamp::now()).await;
            metrics::emit(FUNCTION_NAME, Timestamp::now().0, |aggregate| {
                record_result(aggregate, &result)
            });
            result.map(|outcome| format!("{outcome:?}"))
        }
    }))
    .await
}
