use chrono::{DateTime, Utc};

use super::{OperationKind, Status};
use crate::ids::OperationId;

/// Why the state machine refused a command. Each message names the state it found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("This payment cannot {action} because its status is {status}; expected {expected}.")]
    WrongStatus { action: &'static str, status: Status, expected: &'static str },
    #[error("This payment already has a {} operation; au Kantan Kessai allows one per payment.", kind.as_str())]
    OnceOnly { kind: OperationKind },
    #[error("This payment has a {} operation ({operation_id}) whose outcome is not known yet; retry later.", kind.as_str())]
    OperationInProgress { operation_id: OperationId, kind: OperationKind },
    #[error("The amount {requested} is more than the {available} yen that remain.")]
    AmountExceedsRemaining { requested: u32, available: u32 },
    #[error("Nothing remains to be processed on this payment.")]
    NothingLeft,
    #[error("A pending payment can only be cancelled in full.")]
    PartialCancelOfPending,
    #[error(
        "A partial refund is possible only from the month after the sale, from {} (Japan time).",
        from.with_timezone(&super::calendar::japan()).format("%Y-%m-%d")
    )]
    PartialRefundNotYetAvailable { from: DateTime<Utc> },
    #[error("Refunds are possible only until the end of the second month after the sale (Japan time).")]
    RefundPeriodExpired,
    #[error("There is no pending operation with that id on this payment.")]
    NoSuchPendingOperation,
    #[error("There is no operation with that id that SBPS refused for now on this payment.")]
    NoSuchRetryableOperation,
}
