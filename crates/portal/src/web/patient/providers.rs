//! Finding a provider (search words, specialty), their profile and appointment
//! types, and marking one as the patient's preferred provider.

use axum::response::Response;
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{zone_of, Directory, TypeView};
use crate::{
    api::{
        models::{Page, PatientProfile, PreferredProvider, Provider},
        ApiRequest,
    },
    domain::feedback::{self, Feedback},
    session::Flash,
    web::{error::safe_next, see_other, CallError, Ctx, Form, PageError, Path, Query},
};

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    specialty: String,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct ProviderCard {
    id: Uuid,
    name: String,
    specialty: String,
    location: String,
    languages: String,
    time_zone: String,
    accepting: bool,
    preferred: bool,
}

fn card(p: Provider, preferred: Option<Uuid>) -> ProviderCard {
    ProviderCard {
        preferred: preferred == Some(p.id),
        id: p.id,
        name: p.name,
        specialty: p.specialty,
        location: p.location,
        languages: p.languages.join(", "),
        time_zone: p.time_zone,
        accepting: p.accepting_new_patients,
    }
}

/// Every specialty in the directory (first 100 providers), for the filter.
async fn specialties(ctx: &mut Ctx) -> Result<Vec<String>, CallError> {
    let page: Page<Provider> = ctx
        .call(ApiRequest::get("/api/v1/providers").query("limit", 100))
        .await?;
    let mut all: Vec<String> = page.items.into_iter().map(|p| p.specialty).collect();
    all.sort_by_key(|s| s.to_lowercase());
    all.dedup_by_key(|s| s.to_lowercase());
    Ok(all)
}

pub async fn search(mut ctx: Ctx, Query(q): Query<SearchQuery>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let me: PatientProfile = ctx.get("/api/v1/patients/me").await?;
    let req = ApiRequest::get("/api/v1/providers")
        .query("q", q.q.trim())
        .query("specialty", q.specialty.trim())
        .query("limit", 20)
        .query("cursor", q.cursor.as_deref().unwrap_or_default());
    let (page, feedback) = match ctx.call::<Page<Provider>>(req).await {
        Ok(page) => (page, Feedback::default()),
        Err(CallError::Api(e)) if e.status().is_some_and(|s| s.is_client_error()) => (
            Page {
                items: Vec::new(),
                next_cursor: None,
            },
            feedback::from_api(&e).for_form(&[]),
        ),
        Err(e) => return Err(e.into()),
    };
    let specialties = specialties(&mut ctx).await?;
    let providers: Vec<ProviderCard> = page
        .items
        .into_iter()
        .map(|p| card(p, me.preferred_provider_id))
        .collect();
    let next_page = page.next_cursor.map(|cursor| {
        let query = serde_urlencoded::to_string([
            ("q", q.q.trim()),
            ("specialty", q.specialty.trim()),
            ("cursor", cursor.as_str()),
        ])
        .unwrap_or_default();
        format!("/providers?{query}")
    });
    Ok(ctx.render(
        "patient/providers.html",
        crate::page! {
            providers, specialties, feedback, next_page,
            q => q.q.trim(), specialty => q.specialty.trim(),
            searched => !q.q.trim().is_empty() || !q.specialty.trim().is_empty(),
            here => ctx.visit.path.clone(),
        },
    ))
}

pub async fn profile(mut ctx: Ctx, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let mut dir = Directory::default();
    let provider = dir
        .provider(&mut ctx, id)
        .await?
        .ok_or(PageError::NotFound)?;
    let me: PatientProfile = ctx.get("/api/v1/patients/me").await?;
    let types: Vec<TypeView> = dir
        .types(&mut ctx, id)
        .await?
        .iter()
        .map(TypeView::from)
        .collect();
    let zone = zone_of(&provider).name().to_owned();
    let bio = provider.bio.clone();
    Ok(ctx.render(
        "patient/provider.html",
        crate::page! {
            provider => card(provider, me.preferred_provider_id),
            bio, types, zone,
            here => ctx.visit.path.clone(),
        },
    ))
}

#[derive(Deserialize)]
pub struct PreferredForm {
    /// The page to return to (the search results or the profile).
    return_to: Option<String>,
}

pub async fn make_preferred(
    mut ctx: Ctx,
    Path(id): Path<Uuid>,
    Form(form): Form<PreferredForm>,
) -> Result<Response, PageError> {
    ctx.require(&[Role::Patient])?;
    let back = safe_next(form.return_to.as_deref()).unwrap_or_else(|| format!("/providers/{id}"));
    let req = ApiRequest::put(
        "/api/v1/patients/me/preferred-provider",
        &PreferredProvider { provider_id: id },
    );
    match ctx.call_for_effect(req).await {
        Ok(()) => {
            let name = Directory::default()
                .provider(&mut ctx, id)
                .await?
                .map(|p| p.name)
                .unwrap_or_else(|| "This provider".to_owned());
            ctx.flash(Flash::success(format!(
                "{name} is now your preferred provider."
            )))
            .await?;
        }
        Err(CallError::Api(e)) if e.status().is_some_and(|s| s.is_client_error()) => {
            let text = feedback::from_api(&e).message.unwrap_or_default();
            ctx.flash(Flash::info(text)).await?;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(&back))
}
