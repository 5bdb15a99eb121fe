//! Items as the domain's JSON: a serialized value with its keys becomes an item (numbers stay
//! numbers, objects become maps), and back.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::{PARTITION_KEY, SORT_KEY};
use crate::store::StoreError;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// JSON -> DynamoDB attribute: numbers stay numbers, objects become maps.
pub(super) fn to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(num) => AttributeValue::N(num.to_string()),
        Value::String(text) => AttributeValue::S(text.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attr).collect()),
        Value::Object(map) => AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()),
    }
}

pub(super) fn from_attr(attr: &AttributeValue) -> Result<Value, StoreError> {
    Ok(match attr {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(num) => serde_json::from_str(num).map_err(|_| unavailable("unreadable number"))?,
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attr).collect::<Result<_, _>>()?),
        AttributeValue::M(map) => {
            Value::Object(map.iter().map(|(k, v)| Ok((k.clone(), from_attr(v)?))).collect::<Result<_, StoreError>>()?)
        }
        _ => return Err(unavailable("unexpected attribute type")),
    })
}

/// A domain value as an item with its keys.
pub(super) fn item_of<T: serde::Serialize>(value: &T, pk: String, sk: &str) -> Result<Item, StoreError> {
    let Value::Object(map) = serde_json::to_value(value).map_err(unavailable)? else {
        return Err(unavailable("not an object"));
    };
    let mut item: Item = map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), to_attr(v))).collect();
    item.insert(PARTITION_KEY.into(), s(pk));
    item.insert(SORT_KEY.into(), s(sk));
    Ok(item)
}

pub(super) fn value_of<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let map = item
        .iter()
        .filter(|(k, _)| k.as_str() != PARTITION_KEY && k.as_str() != SORT_KEY)
        .map(|(k, v)| Ok((k.clone(), from_attr(v)?)))
        .collect::<Result<serde_json::Map<String, Value>, StoreError>>()?;
    serde_json::from_value(Value::Object(map)).map_err(|e| unavailable(format!("unreadable item: {e}")))
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PARTITION_KEY.to_owned(), s(pk)), (SORT_KEY.to_owned(), s(sk))])
}
