//! Points are whole numbers. A balance may be negative (after a refund clawback);
//! amounts of points earned, spent or moved are positive.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The largest single movement of points accepted anywhere (a purchase, an
/// adjustment, a reward cost). Keeps sums of many entries far from overflow.
pub const MAX_POINTS: i64 = 1_000_000_000_000;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Points(i64);

impl Points {
    pub const ZERO: Points = Points(0);

    pub fn new(value: i64) -> Points {
        Points(value)
    }

    /// Whether it is nothing (for leaving zero counts out of answers).
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// A positive amount within [`MAX_POINTS`], for movements given by people.
    pub fn positive(value: i64) -> Option<Points> {
        (1..=MAX_POINTS).contains(&value).then_some(Points(value))
    }

    pub fn value(self) -> i64 {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn checked_add(self, other: Points) -> Option<Points> {
        self.0.checked_add(other.0).map(Points)
    }

    pub fn checked_sub(self, other: Points) -> Option<Points> {
        self.0.checked_sub(other.0).map(Points)
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::ops::Add for Points {
    type Output = Points;
    fn add(self, rhs: Points) -> Points {
        Points(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Points {
    type Output = Points;
    fn sub(self, rhs: Points) -> Points {
        Points(self.0 - rhs.0)
    }
}

impl std::ops::Neg for Points {
    type Output = Points;
    fn neg(self) -> Points {
        Points(-self.0)
    }
}

impl std::iter::Sum for Points {
    fn sum<I: Iterator<Item = Points>>(iter: I) -> Points {
        Points(iter.map(|p| p.0).sum())
    }
}
