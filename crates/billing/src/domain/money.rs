//! Money: integer minor units of an ISO 4217 currency. No floats anywhere; the
//! currency's exponent never matters because every amount is already in minor
//! units (cents, paise, yen).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest amount (in minor units) billing accepts from a client or an event:
/// ten billion of a two-decimal currency. Sums of many such amounts stay far
/// inside `i64`, and every sum is checked anyway.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

/// An ISO 4217 alphabetic code: three ASCII capital letters (`EUR`, `USD`, `INR`).
/// Only the shape is checked; the code is compared, never interpreted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a currency is three capital letters (ISO 4217), like EUR")]
pub struct InvalidCurrency;

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, InvalidCurrency> {
        let bytes: [u8; 3] = raw.as_bytes().try_into().map_err(|_| InvalidCurrency)?;
        if bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Self(bytes))
        } else {
            Err(InvalidCurrency)
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII capitals get in (see `parse`).
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An amount of one currency, on the wire `{"amount_minor": 4500, "currency": "EUR"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    /// Integer minor units (cents); negative only on credit lines and balances.
    pub amount_minor: i64,
    /// ISO 4217 code.
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }
}

impl From<Money> for contracts::Money {
    fn from(m: Money) -> Self {
        Self {
            amount_minor: m.amount_minor,
            currency: m.currency.as_str().to_owned(),
        }
    }
}

impl TryFrom<&contracts::Money> for Money {
    type Error = InvalidCurrency;

    /// An amount from an event: its currency is checked at the edge like a client's.
    fn try_from(m: &contracts::Money) -> Result<Self, Self::Error> {
        Ok(Self::new(m.amount_minor, Currency::parse(&m.currency)?))
    }
}

/// A sum left the range billing can represent.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
#[error("amount out of range")]
pub struct AmountOverflow;

/// `a + b`, or [`AmountOverflow`].
pub fn add(a: i64, b: i64) -> Result<i64, AmountOverflow> {
    a.checked_add(b).ok_or(AmountOverflow)
}

/// `a - b`, or [`AmountOverflow`].
pub fn sub(a: i64, b: i64) -> Result<i64, AmountOverflow> {
    a.checked_sub(b).ok_or(AmountOverflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn currencies_are_three_capital_letters() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        for bad in ["", "eur", "EU", "EURO", "E1R", "ÉUR", " EU"] {
            assert_eq!(Currency::parse(bad), Err(InvalidCurrency), "{bad:?}");
        }
    }

    #[test]
    fn money_has_the_documented_wire_form() {
        let m = Money::new(4500, Currency::parse("EUR").unwrap());
        let v = serde_json::to_value(m).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"amount_minor": 4500, "currency": "EUR"})
        );
        assert_eq!(serde_json::from_value::<Money>(v).unwrap(), m);
        assert!(serde_json::from_value::<Money>(
            serde_json::json!({"amount_minor": 1, "currency": "eur"})
        )
        .is_err());
        assert!(serde_json::from_value::<Money>(
            serde_json::json!({"amount_minor": 1.5, "currency": "EUR"})
        )
        .is_err());
    }

    #[test]
    fn sums_never_wrap() {
        assert_eq!(add(i64::MAX, 1), Err(AmountOverflow));
        assert_eq!(sub(i64::MIN, 1), Err(AmountOverflow));
        assert_eq!(add(2, 3), Ok(5));
    }

    proptest! {
        #[test]
        fn any_three_capitals_round_trip(code in "[A-Z]{3}") {
            let c = Currency::parse(&code).unwrap();
            prop_assert_eq!(c.as_str(), code.as_str());
            let back: Currency = serde_json::from_value(serde_json::to_value(c).unwrap()).unwrap();
            prop_assert_eq!(back, c);
        }

        #[test]
        fn parsing_never_panics(raw in ".{0,8}") {
            let _ = Currency::parse(&raw);
        }
    }
}
