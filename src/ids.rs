//! Identifiers: KSUIDs (27 characters of base62, time-sortable), like the seed's payment ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use svix_ksuid::{Ksuid, KsuidLike};

macro_rules! ksuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A new id, sortable by creation time.
            pub fn generate() -> Self {
                $name(Ksuid::new(None::<std::time::SystemTime>, None).to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            /// Accepts only the canonical 27-character base62 form, so an id from a URL can
            /// be used as a storage key without further escaping.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.len() == 27 && s.bytes().all(|b| b.is_ascii_alphanumeric()) && Ksuid::from_str(s).is_ok() {
                    Ok($name(s.to_owned()))
                } else {
                    Err(InvalidId)
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct InvalidId;

ksuid_id!(
    /// A payment; also SBPS's `cust_code`, `order_id` and `item_id`.
    PaymentId
);
ksuid_id!(
    /// A capture, cancel or refund of a payment.
    OperationId
);
ksuid_id!(
    /// The key of the public tracking URL; unrelated to the payment id so that it reveals nothing.
    TrackId
);

ksuid_id!(
    /// A merchant's webhook endpoint.
    EndpointId
);

/// 128 random bits as hex: a token no other request holds.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_the_seeds() {
        let id = PaymentId::generate();
        assert_eq!(id.as_str().len(), 27);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!("27yiW9MgzBtwiodreuNOXk0rtIw".parse::<PaymentId>().is_ok());
    }

    #[test]
    fn refuses_anything_else() {
        for bad in
            ["", "short", "27yiW9MgzBtwiodreuNOXk0rtI!", "27yiW9MgzBtwiodreuNOXk0rtIwX", "../../etc/passwd0000000000"]
        {
            assert!(bad.parse::<PaymentId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn later_ids_sort_later() {
        let a = OperationId::generate();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = OperationId::generate();
        assert!(a < b);
    }
}
