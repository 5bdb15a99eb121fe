//! The DynamoDB adapter's webhook half: endpoints under `ACCOUNT#<account>` with a counter
//! item that holds the limit in the same transaction, deliveries beside their payment.

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};

use super::{DynamoStore, Item, event_sk, item_of, key, n, payment_pk, unavailable, value_of};
use crate::ids::{EndpointId, PaymentId};
use crate::payment::AuditEvent;
use crate::store::StoreError;
use crate::store::item::EventItem;
use crate::store::webhooks::{DeliveryItem, EndpointItem, WebhookStore};
use crate::webhooks::{Delivery, DeliveryKey, Endpoint};

fn account_pk(account: &str) -> String {
    format!("ACCOUNT#{account}")
}
fn endpoint_sk(id: &str) -> String {
    format!("WHEP#{id}")
}
const ENDPOINT_COUNT_SK: &str = "COUNT#WHEP";
fn delivery_sk(seq: u64, endpoint: &str) -> String {
    format!("DLV#{seq:010}#{endpoint}")
}

fn endpoint_item(e: &Endpoint) -> Result<Item, StoreError> {
    item_of(&EndpointItem::of(e), account_pk(&e.account_id), &endpoint_sk(e.id.as_str()))
}

fn delivery_item(d: &Delivery) -> Result<Item, StoreError> {
    let sk = delivery_sk(d.key.seq, d.key.endpoint_id.as_str());
    item_of(&DeliveryItem::of(d), payment_pk(d.key.payment_id.as_str()), &sk)
}

/// Which item of an endpoint transaction refused.
fn transaction_refused(
    e: &aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError>,
) -> Option<Vec<bool>> {
    super::cancellation_reasons(e).map(|r| r.iter().map(|x| x.code() == Some("ConditionalCheckFailed")).collect())
}

impl WebhookStore for DynamoStore {
    async fn event(&self, payment: &PaymentId, seq: u64) -> Result<Option<AuditEvent>, StoreError> {
        match self.get(payment_pk(payment.as_str()), &event_sk(seq)).await? {
            Some(item) => value_of::<EventItem>(&item).and_then(EventItem::into_event).map(Some),
            None => Ok(None),
        }
    }

    async fn create_endpoint(&self, endpoint: &Endpoint, max: usize) -> Result<(), StoreError> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(self.table())
            .set_item(Some(endpoint_item(endpoint)?))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(unavailable)?;
        let count = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(account_pk(&endpoint.account_id), ENDPOINT_COUNT_SK)))
            .update_expression("SET #n = if_not_exists(#n, :zero) + :one")
            .condition_expression("attribute_not_exists(#n) OR #n < :max")
            .expression_attribute_names("#n", "endpoints")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .build()
            .map_err(unavailable)?;
        let items =
            vec![TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().update(count).build()];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(e) => match transaction_refused(&e) {
                Some(refused) if refused.get(1) == Some(&true) => Err(StoreError::LimitReached),
                Some(_) => Err(StoreError::VersionConflict),
                None => Err(unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
            },
        }
    }

    async fn endpoints(&self, account: &str) -> Result<Vec<Endpoint>, StoreError> {
        let items = self.query_partition(account_pk(account), "begins_with(SK, :sk)", "WHEP#").await?;
        let mut endpoints: Vec<Endpoint> = items
            .iter()
            .map(|i| value_of::<EndpointItem>(i).and_then(EndpointItem::into_endpoint))
            .collect::<Result<_, _>>()?;
        endpoints.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(endpoints)
    }

    async fn endpoint(&self, account: &str, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        match self.get(account_pk(account), &endpoint_sk(id.as_str())).await? {
            Some(item) => value_of::<EndpointItem>(&item).and_then(EndpointItem::into_endpoint).map(Some),
            None => Ok(None),
        }
    }

    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let values = vec![(":v", n(endpoint.version - 1))];
        let written = self.put_if(endpoint_item(endpoint)?, "version = :v", values).await?;
        if written { Ok(()) } else { Err(StoreError::VersionConflict) }
    }

    async fn delete_endpoint(&self, account: &str, id: &EndpointId) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(self.table())
            .set_key(Some(key(account_pk(account), &endpoint_sk(id.as_str()))))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(unavailable)?;
        let count = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(account_pk(account), ENDPOINT_COUNT_SK)))
            .update_expression("SET #n = #n - :one")
            .condition_expression("#n > :zero")
            .expression_attribute_names("#n", "endpoints")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(unavailable)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(e) => match transaction_refused(&e) {
                Some(refused) if refused.first() == Some(&true) => Ok(false),
                Some(_) => Err(StoreError::Unavailable("the endpoint count is out of step".into())),
                None => Err(unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
            },
        }
    }

    async fn insert_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        self.put_if(delivery_item(delivery)?, "attribute_not_exists(PK)", vec![]).await
    }

    async fn delivery(&self, k: &DeliveryKey) -> Result<Option<Delivery>, StoreError> {
        let sk = delivery_sk(k.seq, k.endpoint_id.as_str());
        match self.get(payment_pk(k.payment_id.as_str()), &sk).await? {
            Some(item) => value_of::<DeliveryItem>(&item).and_then(DeliveryItem::into_delivery).map(Some),
            None => Ok(None),
        }
    }

    async fn update_delivery(&self, delivery: &Delivery, expected_attempts: u32) -> Result<(), StoreError> {
        let values = vec![(":a", n(expected_attempts)), (":v", n(delivery.version - 1))];
        let written = self.put_if(delivery_item(delivery)?, "attempts = :a AND version = :v", values).await?;
        if written { Ok(()) } else { Err(StoreError::VersionConflict) }
    }

    async fn deliveries(&self, payment: &PaymentId) -> Result<Vec<Delivery>, StoreError> {
        let items = self.query_partition(payment_pk(payment.as_str()), "begins_with(SK, :sk)", "DLV#").await?;
        items.iter().map(|i| value_of::<DeliveryItem>(i).and_then(DeliveryItem::into_delivery)).collect()
    }
}
