//! The demo clinic's people, with fixed ids so every service's seed agrees on
//! who is who without reading another service's tables.

use uuid::{uuid, Uuid};

use crate::auth::Role;

/// The password of every demo account (listed in the README).
pub const DEMO_PASSWORD: &str = "Carebook-demo-2026!";

pub struct DemoUser {
    pub id: Uuid,
    pub email: &'static str,
    pub name: &'static str,
    pub role: Role,
    /// The provider's IANA time zone, for providers.
    pub time_zone: Option<&'static str>,
}

pub const DEMO_USERS: [DemoUser; 7] = [
    DemoUser {
        id: uuid!("018f0000-0000-7000-8000-000000000001"),
        email: "admin@demo.carebook.test",
        name: "Ada Admin",
        role: Role::Admin,
        time_zone: None,
    },
    DemoUser {
        id: uuid!("018f0000-0000-7000-8000-000000000002"),
        email: "staff@demo.carebook.test",
        name: "Sam Front-Desk",
        role: Role::Staff,
        time_zone: None,
    },
    DemoUser {
        id: uuid!("018f0000-0000-7000-8000-000000000011"),
        email: "provider1@demo.carebook.test",
        name: "Dr. Lena Vogel",
        role: Role::Provider,
        time_zone: Some("Europe/Berlin"),
    },
    DemoUser {
        id: uuid!("018f0000-0000-7000-8000-000000000012"),
        email: "provider2@demo.carebook.test",
        name: "Dr. Marcus Reed",
        role: Role::Provider,
        time_zone: Some("America/New_York"),
    },
    DemoUser {
        id: uuid!("018f0000-0000-7000-8000-000000000013"),
        email: "provider3@demo.carebook.test",
        name: "Dr. Priya Nair",
        role: Role::Provider,
        time_zone: Some("Asia/Kolkata"),
    },
    DemoUser {
        id: uuid!("018f0000-0000-7000-8000-000000000021"),
        email: "patient1@demo.carebook.test",
        name: "Paula Patient",
        role: Role::Patient,
        time_zone: None,
    },
    DemoUser {
        id: uuid!("018f0000-0000-7000-8000-000000000022"),
        email: "patient2@demo.carebook.test",
        name: "Pedro Patient",
        role: Role::Patient,
        time_zone: None,
    },
];
