//! Cold start: the table and the bus (`TABLE_NAME`, `EVENT_BUS_NAME`); then
//! one stream batch per invocation.

use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::sdk_config;
use cog_tokens::config::required;
use cog_tokens::records::Timestamp;
use lambda_runtime::{service_fn, LambdaEvent};
use lifecycle::bus::EventBridgeBus;
use lifecycle::publisher::{publish, StreamBatch};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cog_tokens::logging::init();
    let table = required("TABLE_NAME")?;
    let bus_name = required("EVENT_BUS_NAME")?;
    let sdk = sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let bus = EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), bus_name);
    lambda_runtime::run(service_fn(|event: LambdaEvent<StreamBatch>| {
        let (store, bus) = (&store, &bus);
        async move {
            Ok::<_, lambda_runtime::Error>(
                publish(store, bus, &event.payload, Timestamp::now()).await,
            )
        }
    }))
    .await
}
