//! One appointment type by its id: what the FHIR Schedule and Slot reads need
//! without knowing the provider, shaped like an item of the provider's list.

use platform::{
    auth::Role,
    testing::{assert_problem, Anonymous},
};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{spawn_app, Scheduling};

#[tokio::test]
async fn an_appointment_type_is_read_by_id_as_its_providers_list_shows_it() {
    let app = spawn_app().await;
    let clinic = app.clinic(chrono_tz::Europe::Berlin).await;
    let list = app
        .get_ok(
            &clinic.provider,
            &format!("/api/v1/providers/{}/appointment-types", clinic.provider.id),
        )
        .await;
    let listed = list["items"][0].clone();
    assert_eq!(listed["id"], clinic.type_id.to_string());

    let path = format!("/api/v1/appointment-types/{}", clinic.type_id);
    for user in [
        app.patient().await,
        app.user(Role::Provider),
        app.user(Role::Staff),
        app.user(Role::Admin),
    ] {
        let one: Value = app.get_ok(&user, &path).await;
        assert_eq!(one, listed, "as {:?}", user.role);
    }
    assert_eq!(
        app.get(&Anonymous, &path).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_unknown_appointment_type_is_not_found() {
    let app = spawn_app().await;
    let patient = app.patient().await;
    let r = app
        .get(
            &patient,
            &format!("/api/v1/appointment-types/{}", Uuid::now_v7()),
        )
        .await;
    assert_problem(r, StatusCode::NOT_FOUND, "appointment-type-not-found").await;
    let r = app
        .get(&patient, "/api/v1/appointment-types/not-a-uuid")
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
