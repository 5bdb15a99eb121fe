//! Whole-yen amounts. Money is an integer of yen everywhere: JPY has no minor unit and SBPS
//! sends `amount` as up to 8 digits (spec §5.1, SEQ 12), so the upper bound is 99,999,999.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The largest amount SBPS's 8-digit `amount` field can carry.
pub const MAX_YEN: u32 = 99_999_999;

/// A positive amount of yen, `1..=MAX_YEN`. Running totals that may be zero are plain `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Yen(u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum YenError {
    #[error("must be at least 1 yen")]
    TooSmall,
    #[error("must be at most {MAX_YEN} yen")]
    TooLarge,
}

impl Yen {
    pub fn new(value: u64) -> Result<Self, YenError> {
        match value {
            0 => Err(YenError::TooSmall),
            v if v > u64::from(MAX_YEN) => Err(YenError::TooLarge),
            // Bounded by MAX_YEN above, so the cast cannot truncate.
            v => Ok(Yen(v as u32)),
        }
    }

    pub fn value(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Yen {
    type Error = YenError;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Yen::new(u64::from(value))
    }
}

impl From<Yen> for u32 {
    fn from(value: Yen) -> u32 {
        value.0
    }
}

impl fmt::Display for Yen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_those_of_the_sbps_amount_field() {
        assert_eq!(Yen::new(0), Err(YenError::TooSmall));
        assert_eq!(Yen::new(1).map(Yen::value), Ok(1));
        assert_eq!(Yen::new(99_999_999).map(Yen::value), Ok(99_999_999));
        assert_eq!(Yen::new(100_000_000), Err(YenError::TooLarge));
        assert_eq!(Yen::new(u64::MAX), Err(YenError::TooLarge));
    }

    #[test]
    fn serde_refuses_zero() {
        assert!(serde_json::from_str::<Yen>("0").is_err());
        assert_eq!(serde_json::from_str::<Yen>("200").ok(), Yen::new(200).ok());
    }
}
