//! Reads the table's stream the way Lambda's event source mapping does (DescribeStream,
//! GetShardIterator, GetRecords) and hands out each batch as the JSON event Lambda would send
//! `dispatch`. For `local` on DynamoDB Local and for the tests; deployed, Lambda reads it.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{Value, json};

/// Where a reader is in each shard of the table's stream.
pub struct StreamReader {
    streams: aws_sdk_dynamodbstreams::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    arn: Option<String>,
    /// Shard id -> next iterator (`None`: the shard is closed and read to its end).
    shards: HashMap<String, Option<String>>,
}

fn failed(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl StreamReader {
    pub fn new(streams: aws_sdk_dynamodbstreams::Client, dynamodb: aws_sdk_dynamodb::Client, table: &str) -> Self {
        StreamReader { streams, dynamodb, table: table.to_owned(), arn: None, shards: HashMap::new() }
    }

    async fn arn(&mut self) -> Result<String, String> {
        if let Some(arn) = &self.arn {
            return Ok(arn.clone());
        }
        let out = self
            .dynamodb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| format!("describe table: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        let arn = out.table().and_then(|t| t.latest_stream_arn()).ok_or("the table has no stream")?.to_owned();
        self.arn = Some(arn.clone());
        Ok(arn)
    }

    /// The records written since the last call, from every shard, as one `dispatch` event.
    pub async fn next_batch(&mut self) -> Result<Event, String> {
        let arn = self.arn().await?;
        let described = self
            .streams
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await
            .map_err(|e| format!("describe stream: {}", aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
        let shard_ids: Vec<String> = described
            .stream_description()
            .map(|d| d.shards().iter().filter_map(|s| s.shard_id().map(str::to_owned)).collect())
            .unwrap_or_default();
        for shard in shard_ids {
            if self.shards.contains_key(&shard) {
                continue;
            }
            let iterator = self
                .streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(&shard)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(failed)?;
            self.shards.insert(shard, iterator.shard_iterator().map(str::to_owned));
        }
        let mut records = Vec::new();
        for iterator in self.shards.values_mut() {
            let Some(current) = iterator.clone() else { continue };
            let out = self
                .streams
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .map_err(|e| format!("get records: {}", aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
            records.extend(out.records().iter().map(|r| lambda_record(r, &arn)));
            *iterator = out.next_shard_iterator().map(str::to_owned);
        }
        serde_json::from_value(json!({ "Records": records })).map_err(|e| format!("stream event: {e}"))
    }
}

/// One stream record as Lambda's DynamoDB event shows it.
pub fn lambda_record(record: &Record, arn: &str) -> Value {
    let change = record.dynamodb();
    let image = |m: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
        m.map(|m| serde_json::to_value(serde_dynamo::Item::from(m.clone())).unwrap_or(Value::Null))
            .unwrap_or_else(|| json!({}))
    };
    json!({
        "eventID": record.event_id().unwrap_or_default(),
        "eventName": record.event_name().map(|n| n.as_str()).unwrap_or_default(),
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region().unwrap_or("us-east-1"),
        "eventSourceARN": arn,
        "dynamodb": {
            "ApproximateCreationDateTime": change.and_then(|c| c.approximate_creation_date_time()).map(|t| t.secs()).unwrap_or(0),
            "Keys": image(change.and_then(|c| c.keys())),
            "NewImage": image(change.and_then(|c| c.new_image())),
            "SequenceNumber": change.and_then(|c| c.sequence_number()).unwrap_or_default(),
            "SizeBytes": change.and_then(|c| c.size_bytes()).unwrap_or(0),
            "StreamViewType": "NEW_IMAGE",
        },
    })
}
