//! Billing's SQL, one module per table group.

pub mod appointments;
pub mod attempts;
pub mod insurance;
pub mod invoices;

use sqlx::{
    encode::IsNull,
    error::BoxDynError,
    postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef},
    Decode, Encode, Postgres, Type,
};

// Invoice status and reason columns: `contracts`' `sqlx` feature.
use crate::{
    domain::{attempt::AttemptStatus, money::Currency, totals::PaymentKind},
    payment_provider::PaymentMethod,
};

#[derive(Debug, thiserror::Error)]
#[error("unexpected value in a {0} column")]
struct UnknownValue(&'static str);

/// Text columns that hold a domain value: decoding checks it (the columns'
/// CHECK constraints make a failure a bug, reported rather than guessed around).
macro_rules! text_column {
    ($ty:ty, $what:literal, $parse:expr, $as_str:expr) => {
        impl Type<Postgres> for $ty {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Postgres> for $ty {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let raw = <&str as Decode<Postgres>>::decode(value)?;
                let parse: fn(&str) -> Option<$ty> = $parse;
                parse(raw.trim()).ok_or_else(|| Box::new(UnknownValue($what)) as BoxDynError)
            }
        }

        impl Encode<'_, Postgres> for $ty {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                let as_str: fn(&$ty) -> &str = $as_str;
                <&str as Encode<Postgres>>::encode_by_ref(&as_str(self), buf)
            }
        }
    };
}

text_column!(Currency, "currency", |s| Currency::parse(s).ok(), |c| c
    .as_str());
text_column!(AttemptStatus, "attempt status", AttemptStatus::parse, |s| s
    .as_str());
text_column!(PaymentKind, "payment kind", PaymentKind::parse, |k| k
    .as_str());
text_column!(PaymentMethod, "payment method", PaymentMethod::parse, |m| m
    .as_str());
