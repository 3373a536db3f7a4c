//! Fixed ids for the examples in the AsyncAPI document (stable, so the
//! generated document only changes when a contract does).

use uuid::Uuid;

pub const PATIENT: Uuid = Uuid::from_u128(0x0193_8a2e_0000_7000_8000_0000_0000_00a1);
pub const PROVIDER: Uuid = Uuid::from_u128(0x0193_8a2e_0000_7000_8000_0000_0000_00b1);
pub const APPOINTMENT: Uuid = Uuid::from_u128(0x0193_8a2e_0000_7000_8000_0000_0000_00c1);
pub const APPOINTMENT_TYPE: Uuid = Uuid::from_u128(0x0193_8a2e_0000_7000_8000_0000_0000_00d1);
pub const INVOICE: Uuid = Uuid::from_u128(0x0193_8a2e_0000_7000_8000_0000_0000_00e1);
pub const ENTRY: Uuid = Uuid::from_u128(0x0193_8a2e_0000_7000_8000_0000_0000_00f1);
pub const OFFER: Uuid = Uuid::from_u128(0x0193_8a2e_0000_7000_8000_0000_0000_00f2);
pub const STAFF: Uuid = Uuid::from_u128(0x0193_8a2e_0000_7000_8000_0000_0000_0051);

/// 2026-03-03T09:00:00Z: a Tuesday, 10:00 in Berlin.
pub fn at(hour: u32, minute: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2026, 3, 3, hour, minute, 0)
        .single()
        .unwrap_or_default()
}
