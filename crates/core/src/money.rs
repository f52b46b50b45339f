use std::fmt;
use std::ops::{Add, Sub};

use serde::{Deserialize, Serialize};

/// An amount of money in integer fen (1/100 yuan). Stored, sent and configured as fen so no
/// amount is ever rounded; shown as yuan (`¥1,234.50`). Negative amounts exist only as the
/// difference of two (a budget overspent), never as something paid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_fen(fen: i64) -> Money {
        Money(fen)
    }

    pub const fn fen(self) -> i64 {
        self.0
    }

    /// What is left of `self` after `spent`, never below zero.
    pub fn remaining_after(self, spent: Money) -> Money {
        Money(self.0.saturating_sub(spent.0).max(0))
    }

    /// As people read yuan: `¥1,234.50`.
    pub fn yuan(self) -> String {
        self.to_string()
    }

    /// An amount people typed in yuan (`12`, `12.5`, `¥12.50`) as fen; `None` for anything
    /// else: no sign, at most two decimals, no grouping, more than zero.
    pub fn from_yuan_text(text: &str) -> Option<Money> {
        let text = text.trim().trim_start_matches('¥');
        let (whole, cents) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 9 || cents.len() > 2 || !digits(whole) || !digits(cents) {
            return None;
        }
        let cents: i64 = format!("{cents:0<2}").parse().ok()?;
        let fen = whole.parse::<i64>().ok()? * 100 + cents;
        (fen > 0).then_some(Money(fen))
    }
}

impl Add for Money {
    type Output = Money;

    fn add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }
}

impl Sub for Money {
    type Output = Money;

    fn sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = (abs / 100).to_string();
        let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(f, "{sign}¥{grouped}.{:02}", abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::Money;

    #[test]
    fn amounts_typed_in_yuan_become_fen() {
        assert_eq!(Money::from_yuan_text("12"), Some(Money::from_fen(1200)));
        assert_eq!(Money::from_yuan_text(" 12.5 "), Some(Money::from_fen(1250)));
        assert_eq!(Money::from_yuan_text("¥0.05"), Some(Money::from_fen(5)));
        for bad in ["", "0", "0.00", "-3", "1.234", "1e3", "12,00", ".5", "abc", "9999999999"] {
            assert_eq!(Money::from_yuan_text(bad), None, "{bad}");
        }
    }

    #[test]
    fn shows_fen_as_yuan() {
        let yuan = |fen| Money::from_fen(fen).yuan();
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(123_450), "¥1,234.50");
        assert_eq!(yuan(100_000_000), "¥1,000,000.00");
        assert_eq!(yuan(-250), "-¥2.50");
        assert_eq!(yuan(i64::MIN), "-¥92,233,720,368,547,758.08");
    }

    #[test]
    fn travels_as_integer_fen() {
        assert_eq!(serde_json::to_string(&Money::from_fen(1_500)).unwrap(), "1500");
        assert_eq!(serde_json::from_str::<Money>("1500").unwrap(), Money::from_fen(1_500));
        assert!(serde_json::from_str::<Money>("15.5").is_err(), "fractions of a fen are refused");
    }

    #[test]
    fn remaining_never_goes_below_zero() {
        let (cap, spent) = (Money::from_fen(30_000), Money::from_fen(45_000));
        assert_eq!(cap.remaining_after(spent), Money::ZERO);
        assert_eq!(cap.remaining_after(Money::from_fen(1)), Money::from_fen(29_999));
        assert_eq!(spent - cap, Money::from_fen(15_000));
    }
}
