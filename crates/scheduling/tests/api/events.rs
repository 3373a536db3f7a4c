use std::time::Duration;

use lapin::{options::BasicPublishOptions, BasicProperties};
use platform::{
    events::{Broker, Envelope},
    testing::eventually,
};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app, ten_am_local};

async fn publish(app: &crate::helpers::TestApp, event: &Envelope) {
    let cfg = &app.backing.config;
    let broker = Broker::connect(&cfg.amqp_url, &cfg.events_exchange)
        .await
        .unwrap();
    let channel = broker.channel().await.unwrap();
    channel
        .basic_publish(
            &cfg.events_exchange,
            &event.event_type,
            BasicPublishOptions::default(),
            &serde_json::to_vec(event).unwrap(),
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    broker.close().await;
}

#[tokio::test]
async fn new_patients_and_provider_time_zones_arrive_by_events() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::UTC).await;
    let newcomer = app.user(platform::auth::Role::Patient);
    let start = ten_am_local(chrono_tz::UTC, 3);
    // Unknown to scheduling until identity's event arrives.
    let staff = app.user(platform::auth::Role::Staff);
    let body = json!({"provider_id": clinic.provider.id, "appointment_type_id": clinic.type_id, "start": start, "patient_id": newcomer.id});
    assert_problem(
        app.post(&staff, "/api/v1/appointments", &body).await,
        StatusCode::NOT_FOUND,
        "patient-not-found",
    )
    .await;

    let registered = Envelope::new("user.registered", 1, "identity", &json!({"user_id": newcomer.id, "role": "patient", "name": "New Patient", "email": "new@example.org"})).unwrap();
    publish(&app, &registered).await;
    publish(&app, &registered).await; // redelivered: applied once
    let db = app.db.clone();
    eventually(Duration::from_secs(10), "the patient read model", || {
        let db = db.clone();
        async move {
            scheduling::store::readmodel::patient_exists(&db, newcomer.id)
                .await
                .ok()
                .filter(|x| *x)
        }
    })
    .await;
    assert_eq!(
        app.book(&newcomer, &clinic, start).await.status(),
        StatusCode::CREATED
    );

    // The provider moves to New York: 10:00 UTC is no longer a working hour.
    let moved = Envelope::new("provider.updated", 1, "directory", &json!({"provider_id": clinic.provider.id, "name": "Dr. Test", "time_zone": "America/New_York", "specialty": "x", "accepting_new_patients": true})).unwrap();
    publish(&app, &moved).await;
    let provider_id = clinic.provider.id;
    eventually(
        Duration::from_secs(10),
        "the provider's new time zone",
        || {
            let db = db.clone();
            async move {
                let p = scheduling::store::readmodel::provider(&db, provider_id)
                    .await
                    .ok()??;
                (p.time_zone == "America/New_York").then_some(())
            }
        },
    )
    .await;
    let processed: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(processed, 2);
}

#[tokio::test]
async fn a_booking_publishes_appointment_booked_with_what_others_need() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let patient = app.patient().await;
    let start = ten_am_local(clinic.tz, 3);
    let a: serde_json::Value = app
        .book(&patient, &clinic, start)
        .await
        .json()
        .await
        .unwrap();
    let events = app.outbox("appointment.booked").await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["source"], "scheduling");
    assert_eq!(e["data"]["appointment_id"], a["id"]);
    assert_eq!(e["data"]["patient_id"], patient.id.to_string());
    assert_eq!(e["data"]["time_zone"], "Europe/Berlin");
    assert_eq!(
        e["data"]["price"],
        json!({"amount_minor": 6000, "currency": "EUR"})
    );
    assert_eq!(e["data"]["appointment_type_name"], "Consultation");
    assert_eq!(e["data"]["version"], 1);
    let db = app.db.clone();
    eventually(Duration::from_secs(10), "the relay to publish", || {
        let db = db.clone();
        async move {
            let unsent: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    .fetch_one(&db)
                    .await
                    .ok()?;
            (unsent == 0).then_some(())
        }
    })
    .await;
}
