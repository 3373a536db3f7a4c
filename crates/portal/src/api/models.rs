//! The API's request and response bodies, as far as the portal uses them
//! (field names from ARCHITECTURE.md and each service's `routes/`). Unknown
//! fields are ignored so the API can grow without breaking the portal.

use chrono::{DateTime, NaiveDate, Utc};
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `{items, next_cursor}`, the shape of every list.
#[derive(Clone, Debug, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

// identity

#[derive(Serialize)]
pub struct Credentials<'a> {
    pub email: &'a str,
    pub password: &'a str,
}

#[derive(Serialize)]
pub struct Registration<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
    /// The browser's IANA time zone, when it said one the portal knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<&'a str>,
}

#[derive(Serialize)]
pub struct NewAccount<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
    pub role: Role,
}

#[derive(Serialize)]
pub struct RefreshToken<'a> {
    pub refresh_token: &'a str,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub patient_id: Option<Uuid>,
    #[serde(default)]
    pub provider_id: Option<Uuid>,
    /// Sign-in asks for a code from an authenticator app.
    #[serde(default)]
    pub mfa_enabled: bool,
}

/// What the password step of a login gives: tokens, or a second step.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum LoginOutcome {
    Tokens(TokenPair),
    Mfa(MfaChallenge),
}

/// The right password of an account that signs in with a second factor.
#[derive(Clone, Debug, Deserialize)]
pub struct MfaChallenge {
    /// Single use, bound to the account; sent with the code to `/auth/mfa/verify`.
    pub mfa_token: String,
    /// The account must enrol an authenticator (with this `mfa_token`) first.
    #[serde(default)]
    pub enrolment_required: bool,
    /// Seconds the step may take.
    #[serde(default)]
    pub expires_in: u64,
}

/// `{"email"}`: a new verification link, a password-reset link.
#[derive(Serialize)]
pub struct EmailAddress<'a> {
    pub email: &'a str,
}

/// `{"token"}` of an emailed link.
#[derive(Serialize)]
pub struct LinkToken<'a> {
    pub token: &'a str,
}

#[derive(Serialize)]
pub struct ResetConfirm<'a> {
    pub token: &'a str,
    pub new_password: &'a str,
}

#[derive(Serialize)]
pub struct PasswordChange<'a> {
    pub current_password: &'a str,
    pub new_password: &'a str,
}

/// A second-factor code; with the login's `mfa_token` while enrolling before a first sign-in.
#[derive(Serialize)]
pub struct MfaCode<'a> {
    pub code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<&'a str>,
}

/// The second step of a login.
#[derive(Serialize)]
pub struct MfaVerify<'a> {
    pub mfa_token: &'a str,
    pub code: &'a str,
}

/// Start an enrolment: with the login's `mfa_token`, or (empty) with the bearer token.
#[derive(Serialize)]
pub struct MfaEnrol<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<&'a str>,
}

/// A pending authenticator: its secret and `otpauth://` URI.
#[derive(Clone, Debug, Deserialize)]
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// Shown once, after an enrolment is confirmed.
#[derive(Clone, Debug, Deserialize)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// One of the caller's sessions (`GET /auth/sessions`).
#[derive(Clone, Debug, Deserialize)]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The session of the portal's own token.
    #[serde(default)]
    pub current: bool,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Where the login came from, coarsely (a /24 or /48).
    #[serde(default)]
    pub network: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SessionList {
    pub items: Vec<SessionInfo>,
}

/// An account in the administrator's list (`GET /admin/users`).
#[derive(Clone, Debug, Deserialize)]
pub struct AdminUser {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
}

// directory

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Provider {
    pub id: Uuid,
    pub name: String,
    pub specialty: String,
    #[serde(default)]
    pub bio: String,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub location: String,
    pub time_zone: String,
    #[serde(default)]
    pub accepting_new_patients: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PatientProfile {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub preferred_provider_id: Option<Uuid>,
}

/// `GET`/`PUT /api/v1/patients/me` as the time-zone form uses it: the PUT
/// replaces the editable details, so they are read and sent back unchanged
/// (the address and insurance as the directory gave them) with the new zone.
#[derive(Debug, Deserialize, Serialize)]
pub struct PatientDetails {
    pub name: String,
    #[serde(default)]
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<serde_json::Value>,
    #[serde(default)]
    pub insurance: Option<serde_json::Value>,
    /// IANA name; `null` clears it.
    #[serde(default)]
    pub time_zone: Option<String>,
}

#[derive(Serialize)]
pub struct PreferredProvider {
    pub provider_id: Uuid,
}

// scheduling

/// Money as scheduling and billing send it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AppointmentType {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
    pub price: Money,
    /// `in_person` or `telehealth`.
    pub mode: String,
    #[serde(default)]
    pub min_notice_minutes: i32,
    #[serde(default)]
    pub horizon_days: i32,
    #[serde(default)]
    pub cancellation_window_minutes: i32,
    /// Owed for cancelling or moving inside the window (amount 0: nothing).
    #[serde(default)]
    pub late_cancel_fee: Option<Money>,
    /// Owed for not coming (amount 0: nothing).
    #[serde(default)]
    pub no_show_fee: Option<Money>,
}

/// What cancelling, moving or missing one appointment costs (scheduling's
/// `cancellation_policy` on a single appointment's answer); `null` fees: nothing.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct CancellationPolicy {
    pub window_minutes: i64,
    #[serde(default)]
    pub late_cancel_fee: Option<Money>,
    #[serde(default)]
    pub no_show_fee: Option<Money>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    CheckedIn,
    Completed,
    Cancelled,
    NoShow,
}

impl AppointmentStatus {
    pub fn label(self) -> &'static str {
        match self {
            AppointmentStatus::Booked => "Booked",
            AppointmentStatus::CheckedIn => "Checked in",
            AppointmentStatus::Completed => "Completed",
            AppointmentStatus::Cancelled => "Cancelled",
            AppointmentStatus::NoShow => "No-show",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Appointment {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: AppointmentStatus,
    #[serde(default)]
    pub cancel_reason: Option<String>,
    #[serde(default)]
    pub late_cancellation: bool,
    /// On a single appointment's answers (not in lists).
    #[serde(default)]
    pub cancellation_policy: Option<CancellationPolicy>,
}

/// A reschedule's answer: the appointment where it is now, and whether the
/// move was late (inside the cancellation window) and what it owes.
#[derive(Clone, Debug, Deserialize)]
pub struct Rescheduled {
    #[serde(flatten)]
    pub appointment: Appointment,
    #[serde(default)]
    pub late: bool,
    /// `None`: nothing owed (outside the window, or waived by staff).
    #[serde(default)]
    pub fee: Option<Money>,
}

#[derive(Serialize)]
pub struct Booking {
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    /// Book the slot this hold keeps (the same provider, type and start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_id: Option<Uuid>,
}

#[derive(Serialize)]
pub struct Cancellation<'a> {
    pub reason: &'a str,
}

#[derive(Serialize)]
pub struct Reschedule<'a> {
    pub start: DateTime<Utc>,
    /// Staff only: waive the late fee a move inside the window owes, for this reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waive_fee_reason: Option<&'a str>,
}

/// `POST /holds`: keep a slot while its patient confirms (staff name the patient).
#[derive(Serialize)]
pub struct HoldRequest {
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<Uuid>,
}

/// What became of a hold.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Keeping the slot until `expires_at`.
    Held,
    Released,
    Expired,
    /// Booked: the appointment has the hold's id.
    Converted,
}

/// A slot kept for one patient until `expires_at` (`POST/GET /holds`).
#[derive(Clone, Debug, Deserialize)]
pub struct Hold {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: HoldStatus,
}

/// Where a waitlist entry stands.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    Waiting,
    /// A slot is held for it now (`offer`).
    Offered,
    /// Its patient booked an offered slot.
    Fulfilled,
    Left,
}

impl EntryStatus {
    pub const ALL: [EntryStatus; 4] = [
        EntryStatus::Waiting,
        EntryStatus::Offered,
        EntryStatus::Fulfilled,
        EntryStatus::Left,
    ];

    /// The API's name (the `status` filter).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Waiting => "waiting",
            EntryStatus::Offered => "offered",
            EntryStatus::Fulfilled => "fulfilled",
            EntryStatus::Left => "left",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            EntryStatus::Waiting => "Waiting",
            EntryStatus::Offered => "Slot offered",
            EntryStatus::Fulfilled => "Booked",
            EntryStatus::Left => "Left",
        }
    }

    /// Still on the waitlist (it can be left).
    pub fn is_active(self) -> bool {
        matches!(self, EntryStatus::Waiting | EntryStatus::Offered)
    }
}

/// The slot held for a waitlist entry now.
#[derive(Clone, Debug, Deserialize)]
pub struct WaitlistOffer {
    pub id: Uuid,
    pub hold_id: Uuid,
    pub provider_id: Uuid,
    pub start: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// One waitlist entry (`GET /waitlist`).
#[derive(Clone, Debug, Deserialize)]
pub struct WaitlistEntry {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    #[serde(default)]
    pub provider_id: Option<Uuid>,
    #[serde(default)]
    pub specialty: Option<String>,
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    /// `mon` … `sun`; empty: any day.
    #[serde(default)]
    pub weekdays: Vec<String>,
    #[serde(default)]
    pub time_of_day: Option<Window>,
    #[serde(default)]
    pub priority: i32,
    pub status: EntryStatus,
    #[serde(default)]
    pub appointment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub offer: Option<WaitlistOffer>,
}

/// The body of `POST /waitlist`: `provider_id` or `specialty`, not both.
#[derive(Serialize)]
pub struct WaitlistJoin<'a> {
    pub appointment_type_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub specialty: Option<&'a str>,
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    pub weekdays: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_of_day: Option<Window>,
}

/// The body of `PATCH /waitlist/{id}`.
#[derive(Serialize)]
pub struct WaitlistPriority {
    pub priority: i32,
}

/// What an emailed appointment link does.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    Cancel,
    Reschedule,
}

/// What an emailed link would do now (`GET /appointment-links/{token}`).
#[derive(Clone, Debug, Deserialize)]
pub struct LinkPreview {
    pub action: LinkAction,
    pub expires_at: DateTime<Utc>,
    pub appointment: Appointment,
    pub appointment_type_name: String,
    pub provider_name: String,
    pub time_zone: String,
    /// Done now, the action counts as late (inside the cancellation window).
    #[serde(default)]
    pub late: bool,
    /// What it would cost now (`None`: nothing).
    #[serde(default)]
    pub fee: Option<Money>,
}

// billing

#[derive(Clone, Debug, Deserialize)]
pub struct Totals {
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
    pub paid: Money,
    pub due: Money,
}

#[derive(Clone, Debug, Deserialize)]
pub struct InvoiceSummary {
    pub id: Uuid,
    pub number: i64,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub appointment_id: Uuid,
    /// `completed`, `late_cancellation`, `no_show`.
    pub reason: String,
    /// `draft`, `issued`, `paid`, `void`.
    pub status: String,
    pub totals: Totals,
    #[serde(default)]
    pub issued_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct InvoiceLine {
    /// `charge` or `credit`.
    pub kind: String,
    pub description: String,
    pub amount: Money,
    pub tax_rate_bp: u32,
    pub tax: Money,
    pub gross: Money,
}

#[derive(Clone, Debug, Deserialize)]
pub struct InvoicePayment {
    /// `payment` or `refund`.
    pub kind: String,
    pub amount: Money,
    pub method: String,
    #[serde(default)]
    pub reference: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct BilledAppointment {
    pub appointment_type_name: String,
    pub start: DateTime<Utc>,
    pub time_zone: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct InvoiceDetail {
    #[serde(flatten)]
    pub summary: InvoiceSummary,
    pub lines: Vec<InvoiceLine>,
    pub payments: Vec<InvoicePayment>,
    #[serde(default)]
    pub void_reason: Option<String>,
    #[serde(default)]
    pub appointment: Option<BilledAppointment>,
}

// records

/// The record kinds a patient reads, in the order the page shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Notes,
    Diagnoses,
    Allergies,
    Medications,
    Vitals,
}

impl RecordKind {
    pub const SHOWN: [RecordKind; 5] = [
        RecordKind::Notes,
        RecordKind::Diagnoses,
        RecordKind::Allergies,
        RecordKind::Medications,
        RecordKind::Vitals,
    ];

    /// The path segment of `/api/v1/patients/{id}/records/{kind}`.
    pub fn segment(self) -> &'static str {
        match self {
            RecordKind::Notes => "notes",
            RecordKind::Diagnoses => "diagnoses",
            RecordKind::Allergies => "allergies",
            RecordKind::Medications => "medications",
            RecordKind::Vitals => "vitals",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            RecordKind::Notes => "Clinical notes",
            RecordKind::Diagnoses => "Diagnoses",
            RecordKind::Allergies => "Allergies",
            RecordKind::Medications => "Medications",
            RecordKind::Vitals => "Vital signs",
        }
    }
}

/// One version of a record entry: the common fields plus the kind's own, kept
/// as JSON and turned into display rows by [`crate::domain::record`].
#[derive(Clone, Debug, Deserialize)]
pub struct RecordEntry {
    pub id: Uuid,
    pub version: i32,
    /// `active` or `entered_in_error`.
    pub status: String,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub status_reason: Option<String>,
    #[serde(flatten)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AccessLogEntry {
    pub at: DateTime<Utc>,
    pub actor_id: Uuid,
    pub role: String,
    pub action: String,
    #[serde(default)]
    pub kind: Option<String>,
    pub outcome: String,
    #[serde(default)]
    pub break_glass: bool,
    /// Why access was refused (a code), for denied entries.
    #[serde(default)]
    pub reason: Option<String>,
    /// For a break-glass grant: when its read-only access ends.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

// provider and staff pages

/// Who a patient is (`GET /patients/{id}/summary`, and the items of staff's
/// `GET /patients?q=`): shared with staff and with the providers in whose
/// care the patient is.
#[derive(Clone, Debug, Deserialize)]
pub struct PatientSummary {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// Staff book for a patient: the booking plus whom it is for.
#[derive(Serialize)]
pub struct BookingFor {
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub start: DateTime<Utc>,
    pub patient_id: Uuid,
    /// Book the slot this hold keeps (the same provider, type, start and patient).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_id: Option<Uuid>,
}

#[derive(Serialize)]
pub struct TimeOff<'a> {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_conflict: Option<OnConflict>,
}

/// One stretch of a provider's time off (`GET /providers/{id}/time-off`).
#[derive(Clone, Debug, Deserialize)]
pub struct TimeOffEntry {
    pub id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A local `HH:MM`–`HH:MM` window, as scheduling sends and takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: String,
    pub end: String,
}

/// One date's hours instead of the weekly ones (`GET /providers/{id}/availability/overrides`);
/// no windows: closed that day.
#[derive(Clone, Debug, Deserialize)]
pub struct DateOverride {
    pub date: NaiveDate,
    pub windows: Vec<Window>,
}

/// The body of `PUT /providers/{id}/availability/overrides/{date}`.
#[derive(Serialize)]
pub struct OverrideWindows<'a> {
    pub windows: &'a [Window],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_conflict: Option<OnConflict>,
}

#[derive(Serialize)]
pub struct Reason<'a> {
    pub reason: &'a str,
}

/// Emergency access to a record (`POST /patients/{id}/records/break-glass`).
#[derive(Clone, Debug, Deserialize)]
pub struct BreakGlassGrant {
    pub expires_at: DateTime<Utc>,
}

/// The body of a break-glass request: the emergency, and for how long (5–240 minutes).
#[derive(Serialize)]
pub struct BreakGlassRequest<'a> {
    pub reason: &'a str,
    pub minutes: i64,
}

/// What a provider's access to a patient's record rests on (`GET /patients/{id}/records/access`).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AccessBasis {
    /// An open care window: read and write.
    Care,
    /// A current break-glass grant only: read-only.
    BreakGlass,
    None,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RecordAccess {
    pub basis: AccessBasis,
    /// When access ends (`None` while an appointment is active, and without access).
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

/// A reviewer's verdict on a break-glass grant.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    Justified,
    Unjustified,
}

impl ReviewOutcome {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "justified" => Some(ReviewOutcome::Justified),
            "unjustified" => Some(ReviewOutcome::Unjustified),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ReviewOutcome::Justified => "Justified",
            ReviewOutcome::Unjustified => "Unjustified",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct BreakGlassReview {
    pub outcome: ReviewOutcome,
    pub note: String,
    pub reviewed_by: Uuid,
    pub reviewed_at: DateTime<Utc>,
}

/// A break-glass grant in the admins' review queue (`GET /records/break-glass`).
#[derive(Clone, Debug, Deserialize)]
pub struct BreakGlassItem {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub provider_id: Uuid,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub reason: String,
    #[serde(default)]
    pub review: Option<BreakGlassReview>,
}

/// The body of `POST /records/break-glass/{id}/review`.
#[derive(Serialize)]
pub struct ReviewRequest<'a> {
    pub outcome: ReviewOutcome,
    pub note: &'a str,
}

/// A payment staff record (`POST /invoices/{id}/payments`).
#[derive(Serialize)]
pub struct Payment<'a> {
    pub amount: Money,
    /// `cash`, `card`, `bank_transfer`, `insurance`, `other`.
    pub method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<&'a str>,
}

// recurring series and changes of the hours

/// `POST /api/v1/appointment-series`: book the same local time every few weeks.
#[derive(Debug, Serialize)]
pub struct SeriesRequest {
    pub provider_id: Uuid,
    pub appointment_type_id: Uuid,
    pub patient_id: Uuid,
    pub first_start: DateTime<Utc>,
    /// 1 (weekly) to 52.
    pub every_weeks: u32,
    /// How many visits; exactly one of `count` and `until`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// The last day a visit may fall on (the provider's zone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// Book none unless every one can be booked (409 `series-conflicts`).
    pub all_or_nothing: bool,
}

/// A series and each occurrence as it is now (`GET /appointment-series/{id}`).
#[derive(Clone, Debug, Deserialize)]
pub struct Series {
    pub id: Uuid,
    pub provider_id: Uuid,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
    pub every_weeks: u32,
    /// The provider's zone, where every occurrence keeps its wall-clock time.
    pub time_zone: String,
    pub occurrences: Vec<Occurrence>,
}

/// One visit of a series: its appointment, or why it could not be booked.
#[derive(Clone, Debug, Deserialize)]
pub struct Occurrence {
    /// 0 for the first.
    pub position: u32,
    /// The day in the provider's zone.
    pub date: NaiveDate,
    /// `None` when the wall-clock time does not exist that day (clocks jumped past it).
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub appointment: Option<OccurrenceAppointment>,
    /// The problem a single booking of this occurrence got.
    #[serde(default)]
    pub not_booked: Option<crate::api::ProblemBody>,
}

/// An occurrence's appointment, as far as the series page shows it.
#[derive(Clone, Debug, Deserialize)]
pub struct OccurrenceAppointment {
    pub id: Uuid,
    pub status: AppointmentStatus,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// `POST /appointment-series/{id}/cancel`: this occurrence and all following.
#[derive(Serialize)]
pub struct SeriesCancel<'a> {
    /// The first appointment to cancel.
    pub from: Uuid,
    pub reason: &'a str,
}

/// What a change of the hours does with booked appointments it would leave
/// outside them; without it such a change answers 409 `availability-conflicts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnConflict {
    /// Cancel them with this reason (the patients are emailed, no fee).
    CancelConflicts { reason: String },
    /// Keep them booked, as exceptions to the hours.
    Keep,
}

impl OnConflict {
    /// As `DELETE …/overrides/{date}` takes it: `on_conflict` and `reason` parameters.
    pub fn params(&self) -> (&'static str, &str) {
        match self {
            OnConflict::CancelConflicts { reason } => ("cancel_conflicts", reason),
            OnConflict::Keep => ("keep", ""),
        }
    }
}

/// A booked appointment a change of the hours strands (`conflicts` of
/// `availability-conflicts`; `cancelled`/`kept` of the change's answer).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Stranded {
    pub id: Uuid,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub patient_id: Uuid,
    pub appointment_type_id: Uuid,
}

/// What a change of the hours did with the appointments it stranded (both
/// empty, or absent, when it stranded none).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Resolved {
    #[serde(default)]
    pub cancelled: Vec<Stranded>,
    #[serde(default)]
    pub kept: Vec<Stranded>,
}
