//! The demo clinic's profiles (idempotent). Providers get a specialty,
//! languages, a location and their time zone from `platform::demo`; patients
//! get contact and insurance details and a preferred provider. A profile the
//! directory already created from `user.registered` (still at its defaults,
//! never edited) is filled in; an edited one is left alone.

use chrono::NaiveDate;
use platform::{
    auth::Role,
    demo::{DemoUser, DEMO_USERS},
    events::outbox,
};

use crate::{
    cache::Entity,
    domain::{
        patient::{Address, Insurance, PatientDetails, PatientInput},
        provider::{ProviderInput, ProviderProfile},
    },
    events, store, AppState,
};

struct DemoProvider {
    specialty: &'static str,
    bio: &'static str,
    languages: &'static [&'static str],
    location: &'static str,
}

const DEMO_PROVIDERS: [DemoProvider; 3] = [
    DemoProvider {
        specialty: "Family medicine",
        bio: "Family physician caring for patients of every age, with a focus on preventive care.",
        languages: &["de", "en"],
        location: "Carebook Clinic Mitte, Berlin",
    },
    DemoProvider {
        specialty: "Cardiology",
        bio: "Cardiologist treating hypertension, arrhythmia and heart failure; echocardiography on site.",
        languages: &["en", "es"],
        location: "Carebook Heart Center, New York",
    },
    DemoProvider {
        specialty: "Dermatology",
        bio: "Dermatologist for skin, hair and nail conditions, including teledermatology follow-ups.",
        languages: &["en", "hi", "ml"],
        location: "Carebook Skin Clinic, Kochi",
    },
];

struct DemoPatient {
    date_of_birth: (i32, u32, u32),
    phone: &'static str,
    line1: &'static str,
    city: &'static str,
    region: Option<&'static str>,
    postal_code: &'static str,
    country: &'static str,
    payer: &'static str,
    member_id: &'static str,
    group_number: Option<&'static str>,
}

// Fictional people, phone numbers from ranges reserved for fiction.
const DEMO_PATIENTS: [DemoPatient; 2] = [
    DemoPatient {
        date_of_birth: (1988, 4, 12),
        phone: "+49 30 23125 0100",
        line1: "Invalidenstraße 1",
        city: "Berlin",
        region: None,
        postal_code: "10115",
        country: "DE",
        payer: "Demo Krankenkasse",
        member_id: "A123456789",
        group_number: None,
    },
    DemoPatient {
        date_of_birth: (1975, 9, 30),
        phone: "+1 212 555 0142",
        line1: "100 Demo Street",
        city: "New York",
        region: Some("NY"),
        postal_code: "10001",
        country: "US",
        payer: "Demo Health Plan",
        member_id: "W987654321",
        group_number: Some("GRP-4410"),
    },
];

fn provider_profile(user: &DemoUser, details: &DemoProvider) -> anyhow::Result<ProviderProfile> {
    let languages: Vec<String> = details.languages.iter().map(|l| l.to_string()).collect();
    ProviderProfile::parse(&ProviderInput {
        name: user.name,
        specialty: details.specialty,
        bio: details.bio,
        languages: &languages,
        location: details.location,
        time_zone: user.time_zone.unwrap_or("UTC"),
        accepting_new_patients: true,
    })
    .map_err(|v| anyhow::anyhow!("demo provider {} is invalid: {v:?}", user.id))
}

fn patient_details(user: &DemoUser, p: &DemoPatient) -> anyhow::Result<PatientDetails> {
    let (y, m, d) = p.date_of_birth;
    let address = Address {
        line1: p.line1.to_owned(),
        line2: None,
        city: p.city.to_owned(),
        region: p.region.map(str::to_owned),
        postal_code: p.postal_code.to_owned(),
        country: p.country.to_owned(),
    };
    let insurance = Insurance {
        payer: p.payer.to_owned(),
        member_id: p.member_id.to_owned(),
        group_number: p.group_number.map(str::to_owned),
    };
    PatientDetails::parse(
        &PatientInput {
            name: user.name,
            date_of_birth: NaiveDate::from_ymd_opt(y, m, d),
            phone: Some(p.phone),
            address: Some(&address),
            insurance: Some(&insurance),
            time_zone: None,
        },
        chrono::Utc::now().date_naive(),
    )
    .map_err(|v| anyhow::anyhow!("demo patient {} is invalid: {v:?}", user.id))
}

/// Create or complete the demo profiles; returns how many changed (0 on a re-run).
pub async fn demo(state: &AppState) -> anyhow::Result<usize> {
    let mut changed = 0;
    let providers: Vec<&DemoUser> = DEMO_USERS
        .iter()
        .filter(|u| u.role == Role::Provider)
        .collect();
    for (i, user) in providers.iter().enumerate() {
        let profile = provider_profile(user, &DEMO_PROVIDERS[i % DEMO_PROVIDERS.len()])?;
        let mut tx = state.db.begin().await?;
        if let Some(row) = store::seed_provider(&mut tx, user.id, &profile).await? {
            outbox::enqueue(&mut tx, &events::provider_updated(&row)?).await?;
            tx.commit().await?;
            state
                .cache
                .invalidate(Entity::Provider, row.id, row.version)
                .await;
            changed += 1;
        }
    }
    let patients = DEMO_USERS.iter().filter(|u| u.role == Role::Patient);
    for (i, user) in patients.enumerate() {
        let details = patient_details(user, &DEMO_PATIENTS[i % DEMO_PATIENTS.len()])?;
        let preferred = providers.get(i % providers.len().max(1)).map(|p| p.id);
        let mut tx = state.db.begin().await?;
        if let Some(row) =
            store::seed_patient(&mut tx, user.id, user.email, &details, preferred).await?
        {
            outbox::enqueue(&mut tx, &events::patient_updated(&row)?).await?;
            tx.commit().await?;
            state
                .cache
                .invalidate(Entity::Patient, row.id, row.version)
                .await;
            changed += 1;
        }
    }
    // Publish the events now rather than at the service's next start.
    while state.relay.relay_once().await? > 0 {}
    tracing::info!(changed, "demo profiles seeded");
    Ok(changed)
}
