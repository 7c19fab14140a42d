//! Cold start: the table and the bus (`TABLE_NAME`, `EVENT_BUS_NAME`); then
//! one stream batch per invocation, counted in one EMF line.

use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::sdk_config;
use cog_tokens::config::required;
use cog_tokens::metrics::emit;
use cog_tokens::records::Timestamp;
use lambda_runtime::{service_fn, LambdaEvent};
use lifecycle::bus::EventBridgeBus;
use lifecycle::metrics::{record_publish, EVENT_PUBLISHER};
use lifecycle::publisher::{publish_counted, StreamBatch};

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
            let (response, tally) =
                publish_counted(store, bus, &event.payload, Timestamp::now()).await;
            let now = Timestamp::now();
            emit(EVENT_PUBLISHER, now.0, |aggregate| {
                record_publish(aggregate, &tally, now)
            });
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}
