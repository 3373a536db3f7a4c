use axum::{extract::State, http::StatusCode, response::IntoResponse};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use platform::{
    auth::AuthUser,
    extract::{Json, Path, Query},
    problem::ProblemBody,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{actor, cursor};
use crate::{
    calendar::{self, OnConflict, Resolved, Stranded},
    domain::{
        availability::{Availability, DateOverride, TimeOff, WeeklyRule},
        cancellation::FeeCap,
        slots::Slot,
        types::{Mode, Money},
    },
    error::Error,
    store::{availability, readmodel, types, types::TypeRow},
    AppState,
};

/// An appointment type as clients see it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AppointmentTypeView {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
    pub buffer_before_minutes: i32,
    pub buffer_after_minutes: i32,
    pub price: Money,
    pub mode: Mode,
    pub min_notice_minutes: i32,
    pub horizon_days: i32,
    pub cancellation_window_minutes: i32,
    /// What cancelling or rescheduling inside the window costs (amount 0:
    /// nothing). At most the clinic's cap (`SCHEDULING_MAX_FEE_PERCENT` of the
    /// price), also for a type stored with more before the cap existed.
    pub late_cancel_fee: Money,
    /// What not coming costs (amount 0: nothing); capped like `late_cancel_fee`.
    pub no_show_fee: Money,
    /// How far apart offered slots start: as created, or by default the
    /// visit with its buffers (one slot's buffer never hides the next).
    pub slot_step_minutes: i64,
    /// At most this many of this type a day in the provider's zone (`null`: no cap).
    #[schema(required = true)]
    pub daily_cap: Option<i32>,
    /// Bookable from the start of the local day this many days ahead (0: no such rule).
    pub min_notice_days: i32,
    /// When patients are reminded, minutes before the start (`null`: the
    /// clinic's default, 24 h and 2 h unless configured; `[]`: never).
    #[schema(required = true)]
    pub reminder_offsets_minutes: Option<Vec<i32>>,
}

impl AppointmentTypeView {
    /// The type as clients see it, with the fees it charges under `cap`.
    fn of(t: &TypeRow, cap: FeeCap) -> Self {
        let policy = t.policy(cap);
        let zero = || Money {
            amount_minor: 0,
            currency: t.currency.clone(),
        };
        Self {
            id: t.id,
            provider_id: t.provider_id,
            name: t.name.clone(),
            duration_minutes: t.duration_minutes,
            buffer_before_minutes: t.buffer_before_minutes,
            buffer_after_minutes: t.buffer_after_minutes,
            price: t.price(),
            mode: t.mode(),
            min_notice_minutes: t.min_notice_minutes,
            horizon_days: t.horizon_days,
            cancellation_window_minutes: t.cancellation_window_minutes,
            late_cancel_fee: policy.late_cancel_fee.unwrap_or_else(zero),
            no_show_fee: policy.no_show_fee.unwrap_or_else(zero),
            slot_step_minutes: t.rules().step().num_minutes(),
            daily_cap: t.daily_cap,
            min_notice_days: t.min_notice_days,
            reminder_offsets_minutes: t.reminder_offsets_minutes.clone(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TypeList {
    pub items: Vec<AppointmentTypeView>,
    pub next_cursor: Option<String>,
}

/// The appointment types a provider offers.
#[utoipa::path(get, path = "/api/v1/providers/{id}/appointment-types", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = TypeList), (status = 404, body = ProblemBody)))]
pub async fn list_types(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<TypeList>, Error> {
    calendar::provider(&state.db, id).await?;
    let items = types::for_provider(&state.db, id)
        .await?
        .iter()
        .map(|t| AppointmentTypeView::of(t, state.max_fee))
        .collect();
    Ok(Json(TypeList {
        items,
        next_cursor: None,
    }))
}

/// One appointment type, as an item of its provider's list. Also a type the
/// provider no longer offers: appointments booked on it still name it.
#[utoipa::path(get, path = "/api/v1/appointment-types/{id}", tag = "scheduling", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = AppointmentTypeView), (status = 404, body = ProblemBody)))]
pub async fn get_type(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<AppointmentTypeView>, Error> {
    let row = types::by_id(&state.db, id)
        .await?
        .ok_or(Error::TypeNotFound)?;
    Ok(Json(AppointmentTypeView::of(&row, state.max_fee)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppointmentType {
    pub name: String,
    pub duration_minutes: i32,
    #[serde(default)]
    pub buffer_before_minutes: i32,
    #[serde(default)]
    pub buffer_after_minutes: i32,
    pub price: Money,
    pub mode: Mode,
    #[serde(default)]
    pub min_notice_minutes: i32,
    #[serde(default = "default_horizon")]
    pub horizon_days: i32,
    #[serde(default = "default_window")]
    pub cancellation_window_minutes: i32,
    /// Owed for cancelling or rescheduling inside the window, and for a
    /// no-show; at most `SCHEDULING_MAX_FEE_PERCENT` (default 50) percent of
    /// the price, or 422 on this field.
    #[serde(default)]
    pub late_cancel_fee_minor: i64,
    /// How far apart slots start, in minutes: a multiple of 5, at least the
    /// visit with its buffers, at most 1440. Default: the visit with its
    /// buffers. A longer step leaves room between visits (a 45-minute visit
    /// on the hour: 60).
    #[serde(default)]
    pub slot_step_minutes: Option<i32>,
    /// At most this many of this type a day in the provider's zone (1 to
    /// 500; default: no cap). The provider's own cap applies as well.
    #[serde(default)]
    pub daily_cap: Option<i32>,
    /// Calendar days of notice (0 to 365): with 1, nothing for today; with 3,
    /// Monday's visits can be booked until Friday. `min_notice_minutes` still
    /// applies.
    #[serde(default)]
    pub min_notice_days: i32,
    /// When patients are reminded, in minutes before the start: at most 5,
    /// each from 5 minutes to 14 days (20160); `[]`: no reminders. Default:
    /// the clinic's (24 h and 2 h unless configured).
    #[serde(default)]
    pub reminder_offsets_minutes: Option<Vec<i32>>,
}

fn default_horizon() -> i32 {
    90
}

fn default_window() -> i32 {
    24 * 60
}

fn validate_type(provider_id: Uuid, b: NewAppointmentType, cap: FeeCap) -> Result<TypeRow, Error> {
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "1 to 100 characters"));
    }
    if !(5..=480).contains(&b.duration_minutes) || b.duration_minutes % 5 != 0 {
        return Err(Error::invalid(
            "duration_minutes",
            "a multiple of 5 between 5 and 480",
        ));
    }
    for (field, v) in [
        ("buffer_before_minutes", b.buffer_before_minutes),
        ("buffer_after_minutes", b.buffer_after_minutes),
    ] {
        if !(0..=240).contains(&v) {
            return Err(Error::invalid(field, "between 0 and 240"));
        }
    }
    if b.price.amount_minor < 0 || b.late_cancel_fee_minor < 0 {
        return Err(Error::invalid("price", "amounts cannot be negative"));
    }
    if b.price.currency.len() != 3 || !b.price.currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::invalid(
            "price.currency",
            "an ISO 4217 code such as EUR",
        ));
    }
    if !cap.allows(b.late_cancel_fee_minor, b.price.amount_minor) {
        return Err(Error::invalid(
            "late_cancel_fee_minor",
            format!(
                "at most {}% of the price ({} minor units)",
                cap.percent(),
                cap.max_fee_minor(b.price.amount_minor)
            ),
        ));
    }
    if b.min_notice_minutes < 0 || b.cancellation_window_minutes < 0 {
        return Err(Error::invalid("min_notice_minutes", "cannot be negative"));
    }
    if !(1..=730).contains(&b.horizon_days) {
        return Err(Error::invalid("horizon_days", "between 1 and 730"));
    }
    if let Some(step) = b.slot_step_minutes {
        let footprint = b.buffer_before_minutes + b.duration_minutes + b.buffer_after_minutes;
        if step % 5 != 0 || !(footprint..=1440).contains(&step) {
            return Err(Error::invalid(
                "slot_step_minutes",
                format!("a multiple of 5 from {footprint} (the visit with its buffers) to 1440"),
            ));
        }
    }
    if b.daily_cap.is_some_and(|cap| !(1..=500).contains(&cap)) {
        return Err(Error::invalid("daily_cap", "between 1 and 500"));
    }
    if !(0..=365).contains(&b.min_notice_days) {
        return Err(Error::invalid("min_notice_days", "between 0 and 365"));
    }
    let reminder_offsets_minutes = b
        .reminder_offsets_minutes
        .map(|offsets| reminder_offsets(&offsets))
        .transpose()?;
    Ok(TypeRow {
        id: Uuid::now_v7(),
        provider_id,
        name: name.to_owned(),
        duration_minutes: b.duration_minutes,
        buffer_before_minutes: b.buffer_before_minutes,
        buffer_after_minutes: b.buffer_after_minutes,
        price_minor: b.price.amount_minor,
        currency: b.price.currency,
        mode: match b.mode {
            Mode::InPerson => "in_person",
            Mode::Telehealth => "telehealth",
        }
        .to_owned(),
        min_notice_minutes: b.min_notice_minutes,
        horizon_days: b.horizon_days,
        cancellation_window_minutes: b.cancellation_window_minutes,
        late_cancel_fee_minor: b.late_cancel_fee_minor,
        slot_step_minutes: b.slot_step_minutes,
        daily_cap: b.daily_cap,
        min_notice_days: b.min_notice_days,
        reminder_offsets_minutes,
    })
}

/// Reminder offsets as stored: distinct, longest first, within bounds.
fn reminder_offsets(offsets: &[i32]) -> Result<Vec<i32>, Error> {
    if offsets.len() > 5 || offsets.iter().any(|m| !(5..=20_160).contains(m)) {
        return Err(Error::invalid(
            "reminder_offsets_minutes",
            "at most 5, each from 5 to 20160 minutes",
        ));
    }
    let mut sorted = offsets.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    Ok(sorted)
}

/// Offer a new appointment type (the provider, staff).
#[utoipa::path(post, path = "/api/v1/providers/{id}/appointment-types", tag = "scheduling", request_body = NewAppointmentType, security(("bearer" = [])),
    responses((status = 201, body = AppointmentTypeView), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 422, description = "`validation-error` naming the field, e.g. `late_cancel_fee_minor` above the clinic's cap", body = ProblemBody)))]
pub async fn create_type(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<NewAppointmentType>,
) -> Result<impl IntoResponse, Error> {
    let actor = actor(&user);
    calendar::ensure_manager(actor, id)?;
    let row = calendar::add_type(&state, actor, validate_type(id, body, state.max_fee)?).await?;
    Ok((
        StatusCode::CREATED,
        Json(AppointmentTypeView::of(&row, state.max_fee)),
    ))
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowBody {
    /// Local time `HH:MM`.
    pub start: String,
    pub end: String,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyRuleBody {
    /// `mon` … `sun`.
    pub weekday: String,
    pub start: String,
    pub end: String,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideBody {
    pub date: NaiveDate,
    /// Empty: closed that day.
    pub windows: Vec<WindowBody>,
}

/// Weekly rules in the provider's time zone, plus date overrides.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityBody {
    pub weekly: Vec<WeeklyRuleBody>,
    #[serde(default)]
    pub overrides: Vec<OverrideBody>,
    /// What to do with booked appointments the change would leave outside
    /// the hours; without it such a change answers 409 `availability-conflicts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_conflict: Option<OnConflict>,
}

/// More windows than this in one day is not a working day.
const MAX_OVERRIDE_WINDOWS: usize = 24;

fn time(field: &'static str, s: &str) -> Result<NaiveTime, Error> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| Error::invalid(field, format!("{s:?} is not a HH:MM time")))
}

fn parse_availability(b: AvailabilityBody) -> Result<(Availability, Option<OnConflict>), Error> {
    if b.weekly.len() > 100 || b.overrides.len() > 400 {
        return Err(Error::invalid("availability", "too many rules"));
    }
    let mut weekly = Vec::new();
    for r in b.weekly {
        let weekday: Weekday = r
            .weekday
            .parse()
            .map_err(|_| Error::invalid("weekday", format!("{:?} is not a weekday", r.weekday)))?;
        weekly.push(WeeklyRule {
            weekday,
            start: time("start", &r.start)?,
            end: time("end", &r.end)?,
        });
    }
    let mut overrides = Vec::new();
    for o in b.overrides {
        overrides.push(DateOverride {
            date: o.date,
            windows: windows(&o.windows)?,
        });
    }
    let a = Availability {
        weekly,
        overrides,
        time_off: Vec::new(),
    };
    Ok((a, b.on_conflict))
}

/// The provider's weekly rules.
#[utoipa::path(get, path = "/api/v1/providers/{id}/availability", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = AvailabilityBody), (status = 404, body = ProblemBody)))]
pub async fn get_availability(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<AvailabilityBody>, Error> {
    calendar::provider(&state.db, id).await?;
    let weekly = availability::weekly(&state.db, id)
        .await?
        .into_iter()
        .map(|r| WeeklyRuleBody {
            weekday: r.weekday.to_string().to_lowercase(),
            start: r.start.format("%H:%M").to_string(),
            end: r.end.format("%H:%M").to_string(),
        })
        .collect();
    Ok(Json(AvailabilityBody {
        weekly,
        overrides: Vec::new(),
        on_conflict: None,
    }))
}

/// 204 when the change stranded no appointment, else 200 with what
/// `on_conflict` did with them.
fn resolved_response(resolved: Resolved) -> axum::response::Response {
    if resolved.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        Json(resolved).into_response()
    }
}

/// `availability-conflicts`: problem+json with the appointments in the way.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AvailabilityConflictsBody {
    /// `https://carebook.dev/problems/availability-conflicts`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The booked appointments the change would leave outside the hours.
    pub conflicts: Vec<Stranded>,
}

/// Replace the weekly rules (and set the listed dates' overrides), under the
/// provider's calendar lock. Booked appointments the change would leave
/// outside the hours are answered with 409 `availability-conflicts`, unless
/// `on_conflict` says to cancel or keep them.
#[utoipa::path(put, path = "/api/v1/providers/{id}/availability", tag = "scheduling", request_body = AvailabilityBody, security(("bearer" = [])),
    responses((status = 204, description = "Changed; no appointment stranded"),
        (status = 200, description = "Changed; what `on_conflict` did with the stranded appointments", body = Resolved),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, description = "`availability-conflicts`", body = AvailabilityConflictsBody, content_type = "application/problem+json"),
        (status = 422, body = ProblemBody)))]
pub async fn put_availability(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<AvailabilityBody>,
) -> Result<axum::response::Response, Error> {
    let actor = actor(&user);
    calendar::ensure_manager(actor, id)?;
    let (a, on_conflict) = parse_availability(body)?;
    let resolved = calendar::set_availability(&state, actor, id, a, on_conflict).await?;
    Ok(resolved_response(resolved))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeOffBody {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Why the provider is away (not shown to patients).
    #[serde(default)]
    pub reason: Option<String>,
    /// What to do with booked appointments inside the time off; without it
    /// they are answered with 409 `availability-conflicts`.
    #[serde(default)]
    pub on_conflict: Option<OnConflict>,
}

/// The time off, and what `on_conflict` did with appointments in it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TimeOffCreated {
    pub id: Uuid,
    #[serde(flatten)]
    pub resolved: Resolved,
}

/// Block time off (holidays, sick leave), under the provider's calendar lock:
/// booked appointments inside it are answered with 409
/// `availability-conflicts`, unless `on_conflict` says to cancel or keep them.
#[utoipa::path(post, path = "/api/v1/providers/{id}/time-off", tag = "scheduling", request_body = TimeOffBody, security(("bearer" = [])),
    responses((status = 201, body = TimeOffCreated), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 409, description = "`availability-conflicts`", body = AvailabilityConflictsBody, content_type = "application/problem+json"),
        (status = 422, body = ProblemBody)))]
pub async fn add_time_off(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<TimeOffBody>,
) -> Result<impl IntoResponse, Error> {
    let actor = actor(&user);
    calendar::ensure_manager(actor, id)?;
    if body
        .reason
        .as_deref()
        .is_some_and(|r| r.chars().count() > 200)
    {
        return Err(Error::invalid("reason", "at most 200 characters"));
    }
    let off = TimeOff {
        start: body.start,
        end: body.end,
    };
    let (created, resolved) = calendar::add_time_off(
        &state,
        actor,
        id,
        off,
        body.reason.as_deref(),
        body.on_conflict,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(TimeOffCreated {
            id: created,
            resolved,
        }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeOffParams {
    /// Time off that ends after this instant (default: now).
    pub from: Option<DateTime<Utc>>,
    /// …and starts before this one (default: a year after `from`; at most 366 days after it).
    pub to: Option<DateTime<Utc>>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One stretch of time off.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TimeOffView {
    pub id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Not shown to patients.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TimeOffList {
    /// By start, earliest first.
    pub items: Vec<TimeOffView>,
    pub next_cursor: Option<String>,
}

/// The provider's time off overlapping `[from, to)` (the provider, staff).
#[utoipa::path(get, path = "/api/v1/providers/{id}/time-off", tag = "scheduling", params(("id" = Uuid, Path), TimeOffParams), security(("bearer" = [])),
    responses((status = 200, body = TimeOffList), (status = 403, body = ProblemBody), (status = 404, description = "`provider-not-found`", body = ProblemBody),
        (status = 422, description = "`to` not after `from`, or more than 366 days after it; `limit` or `cursor` invalid", body = ProblemBody)))]
pub async fn list_time_off(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Query(p): Query<TimeOffParams>,
) -> Result<Json<TimeOffList>, Error> {
    let limit = cursor::limit(p.limit, 50)?;
    let after = p.cursor.as_deref().map(cursor::decode).transpose()?;
    let from = p.from.unwrap_or_else(|| state.clock.now());
    let to =
        p.to.unwrap_or(from + chrono::Duration::days(calendar::MAX_LIST_WINDOW_DAYS));
    let rows = calendar::list_time_off(&state, actor(&user), id, (from, to), after, limit).await?;
    let mut items: Vec<TimeOffView> = rows
        .into_iter()
        .map(|r| TimeOffView {
            id: r.id,
            start: r.start,
            end: r.end,
            reason: r.reason,
            created_at: r.created_at,
        })
        .collect();
    let next_cursor = cursor::next_page(&mut items, limit, |t| (t.start, t.id));
    Ok(Json(TimeOffList { items, next_cursor }))
}

/// Remove time off: its hours can be booked again (the provider, staff).
#[utoipa::path(delete, path = "/api/v1/providers/{id}/time-off/{time_off_id}", tag = "scheduling",
    params(("id" = Uuid, Path), ("time_off_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ProblemBody),
        (status = 404, description = "`provider-not-found`, `time-off-not-found`", body = ProblemBody)))]
pub async fn delete_time_off(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, time_off_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, Error> {
    calendar::remove_time_off(&state, actor(&user), id, time_off_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverrideParams {
    /// First date (default: the provider's today).
    pub from: Option<NaiveDate>,
    /// Last date, included (default: a year on; at most 365 days after `from`).
    pub to: Option<NaiveDate>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OverrideList {
    /// By date.
    pub items: Vec<OverrideBody>,
    /// Always `null`: the date range bounds the list.
    pub next_cursor: Option<String>,
}

/// One date's windows, replacing the weekly rules that day.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideWindows {
    /// Empty: closed that day.
    pub windows: Vec<WindowBody>,
    /// What to do with booked appointments the change would leave outside
    /// the hours; without it they are answered with 409 `availability-conflicts`.
    #[serde(default)]
    pub on_conflict: Option<OnConflict>,
}

/// The date's override as saved, and what `on_conflict` did with
/// appointments it left outside the hours.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OverrideSaved {
    #[serde(flatten)]
    pub saved: OverrideBody,
    #[serde(flatten)]
    pub resolved: Resolved,
}

/// What to do with booked appointments removing an override would strand.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OnConflictParams {
    /// `cancel_conflicts` (with `reason`) or `keep`; absent: 409 `availability-conflicts` when any.
    pub on_conflict: Option<String>,
    /// The cancellation's reason, told to the patients (1–500 characters).
    pub reason: Option<String>,
}

fn override_body(o: DateOverride) -> OverrideBody {
    OverrideBody {
        date: o.date,
        windows: o
            .windows
            .into_iter()
            .map(|(s, e)| WindowBody {
                start: s.format("%H:%M").to_string(),
                end: e.format("%H:%M").to_string(),
            })
            .collect(),
    }
}

fn windows(body: &[WindowBody]) -> Result<Vec<(NaiveTime, NaiveTime)>, Error> {
    body.iter()
        .map(|w| Ok((time("start", &w.start)?, time("end", &w.end)?)))
        .collect()
}

/// The provider's date overrides from `from` through `to`, in the provider's zone.
#[utoipa::path(get, path = "/api/v1/providers/{id}/availability/overrides", tag = "scheduling", params(("id" = Uuid, Path), OverrideParams), security(("bearer" = [])),
    responses((status = 200, body = OverrideList), (status = 404, description = "`provider-not-found`", body = ProblemBody),
        (status = 422, description = "`to` before `from`, or more than 365 days after it", body = ProblemBody)))]
pub async fn list_overrides(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<Uuid>,
    Query(p): Query<OverrideParams>,
) -> Result<Json<OverrideList>, Error> {
    let items = calendar::list_overrides(&state, id, p.from, p.to)
        .await?
        .into_iter()
        .map(override_body)
        .collect();
    Ok(Json(OverrideList {
        items,
        next_cursor: None,
    }))
}

/// Set one date's hours, replacing the weekly rules that day (no windows:
/// closed). Replaces the date's earlier override (the provider, staff).
#[utoipa::path(put, path = "/api/v1/providers/{id}/availability/overrides/{date}", tag = "scheduling",
    params(("id" = Uuid, Path), ("date" = NaiveDate, Path)), request_body = OverrideWindows, security(("bearer" = [])),
    responses((status = 200, body = OverrideSaved), (status = 403, body = ProblemBody), (status = 404, description = "`provider-not-found`", body = ProblemBody),
        (status = 409, description = "`availability-conflicts`", body = AvailabilityConflictsBody, content_type = "application/problem+json"),
        (status = 422, body = ProblemBody)))]
pub async fn put_override(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, date)): Path<(Uuid, NaiveDate)>,
    Json(body): Json<OverrideWindows>,
) -> Result<Json<OverrideSaved>, Error> {
    let actor = actor(&user);
    calendar::ensure_manager(actor, id)?;
    if body.windows.len() > MAX_OVERRIDE_WINDOWS {
        return Err(Error::invalid(
            "windows",
            format!("at most {MAX_OVERRIDE_WINDOWS} windows a day"),
        ));
    }
    let o = DateOverride {
        date,
        windows: windows(&body.windows)?,
    };
    let (saved, resolved) = calendar::put_override(&state, actor, id, o, body.on_conflict).await?;
    Ok(Json(OverrideSaved {
        saved: override_body(saved),
        resolved,
    }))
}

/// Remove one date's override: the weekly rules apply again (the provider,
/// staff). Booked appointments that leaves outside the hours are answered
/// with 409 `availability-conflicts`, unless `on_conflict` says what to do.
#[utoipa::path(delete, path = "/api/v1/providers/{id}/availability/overrides/{date}", tag = "scheduling",
    params(("id" = Uuid, Path), ("date" = NaiveDate, Path), OnConflictParams), security(("bearer" = [])),
    responses((status = 204, description = "Removed; no appointment stranded"),
        (status = 200, description = "Removed; what `on_conflict` did with the stranded appointments", body = Resolved),
        (status = 403, body = ProblemBody),
        (status = 404, description = "`provider-not-found`, `date-override-not-found`", body = ProblemBody),
        (status = 409, description = "`availability-conflicts`", body = AvailabilityConflictsBody, content_type = "application/problem+json"),
        (status = 422, body = ProblemBody)))]
pub async fn delete_override(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, date)): Path<(Uuid, NaiveDate)>,
    Query(p): Query<OnConflictParams>,
) -> Result<axum::response::Response, Error> {
    let on_conflict = OnConflict::from_params(p.on_conflict.as_deref(), p.reason.as_deref())?;
    let resolved = calendar::remove_override(&state, actor(&user), id, date, on_conflict).await?;
    Ok(resolved_response(resolved))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SlotParams {
    pub appointment_type_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SlotList {
    pub items: Vec<Slot>,
    pub next_cursor: Option<String>,
}

/// Free slots in `[from, to)` (at most 31 days).
#[utoipa::path(get, path = "/api/v1/providers/{id}/slots", tag = "scheduling", params(SlotParams), security(("bearer" = [])),
    responses((status = 200, body = SlotList), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
pub async fn slots(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<Uuid>,
    Query(p): Query<SlotParams>,
) -> Result<Json<SlotList>, Error> {
    let items = calendar::free_slots(&state, id, p.appointment_type_id, p.from, p.to).await?;
    Ok(Json(SlotList {
        items,
        next_cursor: None,
    }))
}

/// A provider's cap on appointments a day.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DailyCapBody {
    /// At most this many appointments (of every type) a day in the
    /// provider's zone, 1 to 500; `null`: no cap. Lowering it cancels
    /// nothing: the day just takes no more.
    #[schema(required = true)]
    pub daily_cap: Option<i32>,
}

/// The provider's daily cap.
#[utoipa::path(get, path = "/api/v1/providers/{id}/availability/daily-cap", tag = "scheduling", security(("bearer" = [])),
    responses((status = 200, body = DailyCapBody), (status = 404, body = ProblemBody)))]
pub async fn get_daily_cap(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<DailyCapBody>, Error> {
    let provider = calendar::provider(&state.db, id).await?;
    Ok(Json(DailyCapBody {
        daily_cap: provider.daily_cap,
    }))
}

/// Set or lift the provider's daily cap (the provider, staff).
#[utoipa::path(put, path = "/api/v1/providers/{id}/availability/daily-cap", tag = "scheduling", request_body = DailyCapBody, security(("bearer" = [])),
    responses((status = 200, body = DailyCapBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody),
        (status = 422, body = ProblemBody)))]
pub async fn put_daily_cap(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<DailyCapBody>,
) -> Result<Json<DailyCapBody>, Error> {
    calendar::ensure_manager(actor(&user), id)?;
    if body.daily_cap.is_some_and(|cap| !(1..=500).contains(&cap)) {
        return Err(Error::invalid("daily_cap", "between 1 and 500, or null"));
    }
    if !readmodel::set_daily_cap(&state.db, id, body.daily_cap).await? {
        return Err(Error::ProviderNotFound);
    }
    Ok(Json(body))
}
