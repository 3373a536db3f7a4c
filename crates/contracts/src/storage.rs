//! With the `sqlx` feature: the contract's enums as PostgreSQL text columns,
//! so a service stores exactly the values its events carry. Decoding checks
//! the value (a column's CHECK constraint makes a failure a bug, reported
//! rather than guessed around).

use sqlx::{
    encode::IsNull,
    error::BoxDynError,
    postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef},
    Decode, Encode, Postgres, Type,
};

use crate::{
    billing::{InvoiceReason, InvoiceStatus},
    scheduling::AppointmentStatus,
};

#[derive(Debug)]
struct UnknownValue(&'static str);

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unexpected value in a {} column", self.0)
    }
}

impl std::error::Error for UnknownValue {}

macro_rules! text_column {
    ($ty:ty, $what:literal) => {
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
                <$ty>::parse(raw.trim()).ok_or_else(|| Box::new(UnknownValue($what)) as BoxDynError)
            }
        }

        impl Encode<'_, Postgres> for $ty {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }
    };
}

text_column!(AppointmentStatus, "status");
text_column!(InvoiceStatus, "status");
text_column!(InvoiceReason, "reason");
