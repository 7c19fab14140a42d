//! The table's shape: key names, the owner GSI and the TTL attribute.
//! `template.yaml` must define the same; an integration test compares them.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use crate::store::StoreError;

pub const PARTITION_KEY: &str = "pk";
pub const SORT_KEY: &str = "sk";
/// GSI listing tokens by owner, newest first.
pub const OWNER_INDEX: &str = "gsi1";
pub const OWNER_INDEX_PARTITION_KEY: &str = "gsi1pk";
pub const OWNER_INDEX_SORT_KEY: &str = "gsi1sk";
/// GSI of tokens by expiry day, soonest first, for the expiry sweep. Sparse:
/// only tokens that expire and have not had their "expired" notice.
pub const EXPIRY_INDEX: &str = "gsi2";
pub const EXPIRY_INDEX_PARTITION_KEY: &str = "gsi2pk";
pub const EXPIRY_INDEX_SORT_KEY: &str = "gsi2sk";
/// GSI of credentials by the day they were last active, for the idle
/// sweep. Sparse (tokens only), keyed `IDLE#<day>` / `<id>` so a use moves
/// an entry at most once a day, and projecting only the owner: a use's
/// `last_used_at` write changes nothing in it on the other days.
pub const IDLE_INDEX: &str = "gsi3";
pub const IDLE_INDEX_PARTITION_KEY: &str = "gsi3pk";
pub const IDLE_INDEX_SORT_KEY: &str = "gsi3sk";
/// What the idle index projects besides its keys.
pub const IDLE_INDEX_PROJECTED: [&str; 2] = ["owner_kind", "owner_id"];
/// The table's stream: every item as written, read by the event publisher.
pub const STREAM_VIEW: StreamViewType = StreamViewType::NewImage;
/// DynamoDB TTL attribute (seconds since the epoch).
pub const TTL_ATTRIBUTE: &str = "ttl";

fn unavailable(context: &str, error: impl std::fmt::Debug) -> StoreError {
    StoreError::Unavailable(format!("{context}: {error:?}"))
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| unavailable("key schema", e))
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| unavailable("attribute definition", e))
}

fn index(name: &str, partition: &str, sort: &str) -> Result<GlobalSecondaryIndex, StoreError> {
    let all = Projection::builder()
        .projection_type(ProjectionType::All)
        .build();
    index_projecting(name, partition, sort, all)
}

fn index_projecting(
    name: &str,
    partition: &str,
    sort: &str,
    projection: Projection,
) -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(partition, KeyType::Hash)?)
        .key_schema(key(sort, KeyType::Range)?)
        .projection(projection)
        .build()
        .map_err(|e| unavailable("index", e))
}

fn idle_index() -> Result<GlobalSecondaryIndex, StoreError> {
    let projection = Projection::builder()
        .projection_type(ProjectionType::Include)
        .set_non_key_attributes(Some(
            IDLE_INDEX_PROJECTED
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
        ))
        .build();
    index_projecting(
        IDLE_INDEX,
        IDLE_INDEX_PARTITION_KEY,
        IDLE_INDEX_SORT_KEY,
        projection,
    )
}

/// Creates the table (on-demand, with its three GSIs, its stream and TTL) unless it exists.
/// Returns whether it created it. PITR and encryption are set by the template
/// in AWS; DynamoDB Local supports neither.
pub async fn ensure_table(client: &Client, table: &str) -> Result<bool, StoreError> {
    match client.describe_table().table_name(table).send().await {
        Ok(_) => return Ok(false),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(error) => return Err(unavailable("describe table", error)),
    }
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(STREAM_VIEW)
        .build()
        .map_err(|e| unavailable("stream", e))?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attribute(PARTITION_KEY)?)
        .attribute_definitions(string_attribute(SORT_KEY)?)
        .attribute_definitions(string_attribute(OWNER_INDEX_PARTITION_KEY)?)
        .attribute_definitions(string_attribute(OWNER_INDEX_SORT_KEY)?)
        .attribute_definitions(string_attribute(EXPIRY_INDEX_PARTITION_KEY)?)
        .attribute_definitions(string_attribute(EXPIRY_INDEX_SORT_KEY)?)
        .attribute_definitions(string_attribute(IDLE_INDEX_PARTITION_KEY)?)
        .attribute_definitions(string_attribute(IDLE_INDEX_SORT_KEY)?)
        .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(SORT_KEY, KeyType::Range)?)
        .global_secondary_indexes(index(
            OWNER_INDEX,
            OWNER_INDEX_PARTITION_KEY,
            OWNER_INDEX_SORT_KEY,
        )?)
        .global_secondary_indexes(index(
            EXPIRY_INDEX,
            EXPIRY_INDEX_PARTITION_KEY,
            EXPIRY_INDEX_SORT_KEY,
        )?)
        .global_secondary_indexes(idle_index()?)
        .stream_specification(stream)
        .send()
        .await
        .map_err(|e| unavailable("create table", e))?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .map_err(|e| unavailable("ttl", e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| unavailable("update time to live", e))?;
    Ok(true)
}
