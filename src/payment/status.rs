use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a payment stands (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Authorized,
    Captured,
    PartiallyRefunded,
    Refunded,
    Cancelled,
    Declined,
    Expired,
    /// SBPS said the authorization is gone (cancelled at SBPS or by the payer, or its capture
    /// period ended): nothing can be captured any more, and no money was taken.
    Voided,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Authorized => "authorized",
            Status::Captured => "captured",
            Status::PartiallyRefunded => "partially_refunded",
            Status::Refunded => "refunded",
            Status::Cancelled => "cancelled",
            Status::Declined => "declined",
            Status::Expired => "expired",
            Status::Voided => "voided",
        }
    }

    /// A terminal status never changes again. `partially_refunded` is terminal because a
    /// payment takes one refund only.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::PartiallyRefunded
                | Status::Refunded
                | Status::Cancelled
                | Status::Declined
                | Status::Expired
                | Status::Voided
        )
    }

    /// Ended without money taken: the merchant reference is released for a new attempt.
    pub fn releases_reference(self) -> bool {
        matches!(self, Status::Cancelled | Status::Declined | Status::Expired | Status::Voided)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
