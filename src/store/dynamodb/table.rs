//! The table as DynamoDB Local gets it (`local`, the tests): the key schema, the listing
//! indexes, on-demand billing, the TTL attribute and the stream of new images, as the SAM
//! template declares them for AWS.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::attributes::unavailable;
use super::{DynamoStore, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE, ledger, listing};
use crate::store::StoreError;

impl DynamoStore {
    /// Creates the table (key schema, on-demand, TTL, stream of new images) unless it exists;
    /// for DynamoDB Local.
    /// Point-in-time recovery, encryption and tags are the SAM template's business.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        if self.client.describe_table().table_name(&self.table).send().await.is_ok() {
            return Ok(());
        }
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(unavailable)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(unavailable)
        };
        let index = |name: &str, pk: &str, sk: &str| {
            aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(pk, KeyType::Hash)?)
                .key_schema(key(sk, KeyType::Range)?)
                .projection(
                    aws_sdk_dynamodb::types::Projection::builder()
                        .projection_type(aws_sdk_dynamodb::types::ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(unavailable)
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute(PARTITION_KEY)?)
            .attribute_definitions(attribute(SORT_KEY)?)
            .attribute_definitions(attribute(listing::LIST_PK)?)
            .attribute_definitions(attribute(listing::LIST_SK)?)
            .attribute_definitions(attribute(listing::REF_PK)?)
            .attribute_definitions(attribute(ledger::LEDGER_PK)?)
            .attribute_definitions(attribute(ledger::LEDGER_SK)?)
            .global_secondary_indexes(index(listing::BY_ACCOUNT, listing::LIST_PK, listing::LIST_SK)?)
            .global_secondary_indexes(index(listing::BY_REFERENCE, listing::REF_PK, listing::LIST_SK)?)
            .global_secondary_indexes(index(ledger::BY_LEDGER, ledger::LEDGER_PK, ledger::LEDGER_SK)?)
            .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
            .key_schema(key(SORT_KEY, KeyType::Range)?)
            // New images feed `dispatch` (the webhook outbox), as the SAM template sets it.
            .stream_specification(
                aws_sdk_dynamodb::types::StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewImage)
                    .build()
                    .map_err(unavailable)?,
            )
            .send()
            .await;
        if let Err(e) = created {
            // A concurrent creator may have won.
            if self.client.describe_table().table_name(&self.table).send().await.is_err() {
                return Err(unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e)));
            }
        }
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(unavailable)?;
        let _ = self.client.update_time_to_live().table_name(&self.table).time_to_live_specification(ttl).send().await;
        Ok(())
    }
}
