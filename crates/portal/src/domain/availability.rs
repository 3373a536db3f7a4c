//! The availability page's forms and lists, in the provider's own time zone:
//! the weekly editor (a few time windows per weekday, scheduling's
//! `PUT /providers/{id}/availability` body `{weekly: [{weekday, start, end}]}`),
//! one date's hours instead of the weekly ones (`PUT …/availability/overrides/{date}`),
//! and how date overrides and time off are listed. Checked here first so every
//! mistake lands next to its own field; the API checks again.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{feedback::Feedback, time};
use crate::api::models::{
    AppointmentType, DateOverride, OnConflict, Resolved, Stranded, TimeOffEntry, Window,
};

/// Scheduling's weekdays and how the page names them, Monday first.
pub const WEEKDAYS: [(&str, &str); 7] = [
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
];

/// At least this many window rows per day (empty ones are ignored)…
const MIN_ROWS: usize = 2;
/// …and at most this many (more windows in a day than that is not a working day).
pub const MAX_ROWS: usize = 6;

/// One weekly rule as the API sends and takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyRule {
    /// `mon` … `sun`.
    pub weekday: String,
    /// Local `HH:MM`.
    pub start: String,
    pub end: String,
}

/// The API's availability body (date overrides are not edited here).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AvailabilityBody {
    pub weekly: Vec<WeeklyRule>,
    /// What to do with booked appointments the new hours would strand.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub on_conflict: Option<crate::api::models::OnConflict>,
}

/// One weekday in the editor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EditorDay {
    pub key: &'static str,
    pub label: &'static str,
    pub rows: Vec<EditorRow>,
}

/// One window's two inputs, with the names the form posts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EditorRow {
    pub start_field: String,
    pub end_field: String,
    pub start: String,
    pub end: String,
}

fn field(day: &str, row: usize, end: bool) -> String {
    format!("{day}_{row}_{}", if end { "end" } else { "start" })
}

fn day_rows(day: &'static str, windows: &[(String, String)]) -> Vec<EditorRow> {
    let count = (windows.len() + 1).clamp(MIN_ROWS, MAX_ROWS);
    (0..count)
        .map(|i| {
            let (start, end) = windows.get(i).cloned().unwrap_or_default();
            EditorRow {
                start_field: field(day, i, false),
                end_field: field(day, i, true),
                start,
                end,
            }
        })
        .collect()
}

/// The editor filled with the provider's current rules (one spare row a day).
pub fn editor(rules: &[WeeklyRule]) -> Vec<EditorDay> {
    WEEKDAYS
        .iter()
        .map(|&(key, label)| {
            let mut windows: Vec<(String, String)> = rules
                .iter()
                .filter(|r| r.weekday == key)
                .map(|r| (r.start.clone(), r.end.clone()))
                .collect();
            windows.sort();
            EditorDay {
                key,
                label,
                rows: day_rows(key, &windows),
            }
        })
        .collect()
}

/// The editor as the provider filled it in (after a refusal), rows kept in place.
pub fn editor_from_form(form: &HashMap<String, String>) -> Vec<EditorDay> {
    WEEKDAYS
        .iter()
        .map(|&(key, label)| {
            let posted: Vec<(String, String)> = (0..MAX_ROWS)
                .map(|i| {
                    let get = |end| form.get(&field(key, i, end)).cloned().unwrap_or_default();
                    (get(false), get(true))
                })
                .collect();
            let used = posted
                .iter()
                .rposition(|(s, e)| !s.trim().is_empty() || !e.trim().is_empty())
                .map_or(0, |i| i + 1);
            EditorDay {
                key,
                label,
                rows: day_rows(key, &posted[..used]),
            }
        })
        .collect()
}

/// `09:00` (or `09:00:00`, as some browsers send) → 09:00.
fn clock(value: &str) -> Option<NaiveTime> {
    let v = value.trim();
    NaiveTime::parse_from_str(v, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(v, "%H:%M:%S"))
        .ok()
}

/// The filled windows among `rows` (each its start and end field's names),
/// sorted; each mistake — half-filled, unreadable, ending before it starts,
/// overlapping another of the same day (`day` names it) — noted in `fb` next
/// to its field.
fn windows(
    form: &HashMap<String, String>,
    rows: impl Iterator<Item = (String, String)>,
    day: &str,
    fb: &mut Feedback,
) -> Vec<(NaiveTime, NaiveTime)> {
    let mut windows: Vec<(NaiveTime, NaiveTime, String)> = Vec::new();
    let raw = |f: &str| form.get(f).map(|v| v.trim()).unwrap_or("");
    for (sf, ef) in rows {
        let (s, e) = (raw(&sf), raw(&ef));
        match (s.is_empty(), e.is_empty()) {
            (true, true) => continue,
            (false, true) => {
                fb.fields
                    .insert(ef, "Enter when this window ends.".to_owned());
                continue;
            }
            (true, false) => {
                fb.fields
                    .insert(sf, "Enter when this window starts.".to_owned());
                continue;
            }
            (false, false) => {}
        }
        let (Some(start), Some(end)) = (clock(s), clock(e)) else {
            for (f, v) in [(sf, s), (ef, e)] {
                if clock(v).is_none() {
                    fb.fields.insert(f, "Use a time like 09:00.".to_owned());
                }
            }
            continue;
        };
        if end <= start {
            fb.fields.insert(
                ef,
                format!("Must be after the start ({}).", start.format("%H:%M")),
            );
            continue;
        }
        windows.push((start, end, sf));
    }
    windows.sort();
    for pair in windows.windows(2) {
        let (prev, this) = (&pair[0], &pair[1]);
        if this.0 < prev.1 {
            fb.fields.insert(
                this.2.clone(),
                format!(
                    "Overlaps {}–{} on {day}.",
                    prev.0.format("%H:%M"),
                    prev.1.format("%H:%M")
                ),
            );
        }
    }
    windows.into_iter().map(|(s, e, _)| (s, e)).collect()
}

fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

/// `fb` with the form's summary, as the result of a form with mistakes.
fn refused<T>(fb: Feedback, summary: &str) -> Result<T, Feedback> {
    Err(Feedback {
        message: Some(summary.to_owned()),
        ..fb
    })
}

/// Read the editor's form into weekly rules, or say what is wrong next to
/// each field: half-filled windows, unreadable times, windows that end
/// before they start, and windows of one day that overlap.
pub fn parse(form: &HashMap<String, String>) -> Result<Vec<WeeklyRule>, Feedback> {
    let mut rules = Vec::new();
    let mut fb = Feedback::default();
    for &(day, label) in &WEEKDAYS {
        let rows = (0..MAX_ROWS).map(|i| (field(day, i, false), field(day, i, true)));
        rules.extend(
            windows(form, rows, label, &mut fb)
                .into_iter()
                .map(|(s, e)| WeeklyRule {
                    weekday: day.to_owned(),
                    start: hhmm(s),
                    end: hhmm(e),
                }),
        );
    }
    if fb.fields.is_empty() {
        Ok(rules)
    } else {
        refused(fb, "Please correct the highlighted times.")
    }
}

/// Window rows in the form for one date's hours.
pub const OVERRIDE_ROWS: usize = 2;

/// The fields of one date's hours: `ov_date`, then `ov_<row>_start|end`.
pub fn override_fields() -> Vec<(String, String)> {
    (0..OVERRIDE_ROWS)
        .map(|i| (format!("ov_{i}_start"), format!("ov_{i}_end")))
        .collect()
}

/// Read the form for one date's hours: the date (today or later, in the
/// provider's zone) and its windows; none at all means closed that day.
pub fn parse_override(
    form: &HashMap<String, String>,
    today: NaiveDate,
) -> Result<(NaiveDate, Vec<Window>), Feedback> {
    let mut fb = Feedback::default();
    let raw_date = form.get("ov_date").map(|v| v.trim()).unwrap_or("");
    let date = match NaiveDate::parse_from_str(raw_date, "%Y-%m-%d") {
        Ok(d) if d < today => {
            fb = fb.field("ov_date", "Choose today or a later date.");
            None
        }
        Ok(d) => Some(d),
        Err(_) if raw_date.is_empty() => {
            fb = fb.field("ov_date", "Choose the date.");
            None
        }
        Err(_) => {
            fb = fb.field("ov_date", "Use a date like 2026-05-04.");
            None
        }
    };
    let found = windows(form, override_fields().into_iter(), "that date", &mut fb);
    match date {
        Some(date) if fb.fields.is_empty() => Ok((
            date,
            found
                .into_iter()
                .map(|(s, e)| Window {
                    start: hhmm(s),
                    end: hhmm(e),
                })
                .collect(),
        )),
        _ => refused(fb, "Please correct the highlighted fields."),
    }
}

/// "09:00–12:00, 14:00–16:00", or "Closed" for a day without windows.
pub fn hours(windows: &[Window]) -> String {
    if windows.is_empty() {
        return "Closed".to_owned();
    }
    windows
        .iter()
        .map(|w| format!("{}–{}", w.start, w.end))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A date override as the page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OverrideView {
    /// `2026-05-04`, for the remove button's path.
    pub date: String,
    /// "Mon 4 May 2026"
    pub label: String,
    pub hours: String,
}

pub fn override_view(o: &DateOverride) -> OverrideView {
    OverrideView {
        date: o.date.to_string(),
        label: o.date.format("%a %-d %b %Y").to_string(),
        hours: hours(&o.windows),
    }
}

/// Time off as the page lists it, in the provider's zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimeOffView {
    pub id: uuid::Uuid,
    /// "Mon 4 May 2026, 09:00 CEST – Tue 5 May 2026, 17:00 CEST"
    pub span: String,
    pub reason: Option<String>,
    /// Under way now.
    pub current: bool,
}

pub fn time_off_view(t: &TimeOffEntry, zone: Tz, now: DateTime<Utc>) -> TimeOffView {
    TimeOffView {
        id: t.id,
        span: format!(
            "{} – {}",
            time::date_time(t.start, zone),
            time::date_time(t.end, zone)
        ),
        reason: t.reason.clone().filter(|r| !r.trim().is_empty()),
        current: t.start <= now && now < t.end,
    }
}

/// The fields of the conflicts panel's buttons: the choice and the reason
/// for cancelling (never part of the change itself).
pub const CONFLICT_FIELDS: [&str; 2] = ["on_conflict", "conflict_reason"];

/// The longest reason for cancelling scheduling takes (it is told to the patients).
const MAX_REASON_CHARS: usize = 500;

/// What the provider chose for the booked appointments a change strands:
/// nothing yet (`None`: the API answers with the list), cancel them with a
/// reason, or keep them. Cancelling without a reason is refused next to the
/// reason field.
pub fn on_conflict(choice: Option<&str>, reason: &str) -> Result<Option<OnConflict>, Feedback> {
    let reason = reason.trim();
    match choice.map(str::trim) {
        Some("keep") => Ok(Some(OnConflict::Keep)),
        Some("cancel_conflicts") if reason.is_empty() => Err(Feedback::message(
            "Say why they are cancelled: the patients read it in their email.",
        )
        .field("conflict_reason", "Enter a reason for the patients.")),
        Some("cancel_conflicts") if reason.chars().count() > MAX_REASON_CHARS => {
            Err(Feedback::message("Please shorten the reason.").field(
                "conflict_reason",
                format!("At most {MAX_REASON_CHARS} characters."),
            ))
        }
        Some("cancel_conflicts") => Ok(Some(OnConflict::CancelConflicts {
            reason: reason.to_owned(),
        })),
        _ => Ok(None),
    }
}

/// The change as posted, without the CSRF token and the conflict choice,
/// sorted by name: what the panel's buttons send again, so the change is
/// never lost.
pub fn resend_fields(form: &HashMap<String, String>) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = form
        .iter()
        .filter(|(k, _)| k.as_str() != "csrf_token" && !CONFLICT_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    fields.sort();
    fields
}

/// A booked appointment in the way of a change, as the panel lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConflictView {
    pub id: uuid::Uuid,
    /// "Mon 4 May 2026, 09:00–09:30 CEST" in the provider's zone.
    pub when: String,
    /// The appointment type's name ("Appointment" when it is not among `types`).
    pub kind: String,
}

/// The appointments in the way, earliest first, in the provider's zone.
pub fn conflict_views(
    conflicts: &[Stranded],
    zone: Tz,
    types: &[AppointmentType],
) -> Vec<ConflictView> {
    let mut sorted: Vec<&Stranded> = conflicts.iter().collect();
    sorted.sort_by_key(|c| (c.start, c.id));
    sorted
        .into_iter()
        .map(|c| ConflictView {
            id: c.id,
            when: time::span(c.start, c.end, zone),
            kind: types
                .iter()
                .find(|t| t.id == c.appointment_type_id)
                .map_or_else(|| "Appointment".to_owned(), |t| t.name.clone()),
        })
        .collect()
}

/// What a saved change did with the appointments in its way, for the
/// success message (`None` when there were none).
pub fn resolved_note(r: &Resolved) -> Option<String> {
    let count = |n: usize| match n {
        1 => "1 booked appointment".to_owned(),
        n => format!("{n} booked appointments"),
    };
    match (r.cancelled.len(), r.kept.len()) {
        (0, 0) => None,
        (c, 0) => Some(format!(
            "{} cancelled; the patients get an email.",
            count(c)
        )),
        (0, k) => Some(format!("{} kept outside your hours.", count(k))),
        (c, k) => Some(format!(
            "{} cancelled (the patients get an email), {} kept.",
            count(c),
            count(k)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn rule(day: &str, start: &str, end: &str) -> WeeklyRule {
        WeeklyRule {
            weekday: day.into(),
            start: start.into(),
            end: end.into(),
        }
    }

    #[test]
    fn the_editor_shows_each_days_windows_in_order_with_a_spare_row() {
        let days = editor(&[
            rule("mon", "13:00", "17:00"),
            rule("mon", "09:00", "12:00"),
            rule("wed", "08:00", "10:00"),
        ]);
        assert_eq!(days.len(), 7);
        assert_eq!(days[0].label, "Monday");
        let monday: Vec<(&str, &str)> = days[0]
            .rows
            .iter()
            .map(|r| (r.start.as_str(), r.end.as_str()))
            .collect();
        assert_eq!(monday, [("09:00", "12:00"), ("13:00", "17:00"), ("", "")]);
        assert_eq!(days[0].rows[1].start_field, "mon_1_start");
        assert_eq!(days[2].rows.len(), 2);
        assert_eq!(days[6].rows.len(), 2);
        assert!(days[6].rows.iter().all(|r| r.start.is_empty()));
    }

    #[test]
    fn filled_windows_become_rules_and_empty_rows_are_ignored() {
        let rules = parse(&form(&[
            ("mon_0_start", "13:00"),
            ("mon_0_end", "17:00"),
            ("mon_1_start", "09:00"),
            ("mon_1_end", "12:00:00"),
            ("mon_2_start", ""),
            ("mon_2_end", " "),
            ("fri_0_start", "08:30"),
            ("fri_0_end", "12:30"),
            ("unrelated", "x"),
        ]))
        .unwrap();
        assert_eq!(
            rules,
            [
                rule("mon", "09:00", "12:00"),
                rule("mon", "13:00", "17:00"),
                rule("fri", "08:30", "12:30"),
            ]
        );
        assert!(parse(&form(&[])).unwrap().is_empty());
    }

    #[test]
    fn each_mistake_is_reported_next_to_its_field() {
        let fb = parse(&form(&[
            ("mon_0_start", "09:00"),
            ("tue_0_end", "12:00"),
            ("wed_0_start", "9am"),
            ("wed_0_end", "12:00"),
            ("thu_0_start", "12:00"),
            ("thu_0_end", "09:00"),
            ("fri_0_start", "09:00"),
            ("fri_0_end", "12:00"),
            ("fri_1_start", "11:00"),
            ("fri_1_end", "13:00"),
        ]))
        .unwrap_err();
        assert_eq!(fb.fields["mon_0_end"], "Enter when this window ends.");
        assert_eq!(fb.fields["tue_0_start"], "Enter when this window starts.");
        assert_eq!(fb.fields["wed_0_start"], "Use a time like 09:00.");
        assert!(!fb.fields.contains_key("wed_0_end"));
        assert_eq!(fb.fields["thu_0_end"], "Must be after the start (12:00).");
        assert_eq!(fb.fields["fri_1_start"], "Overlaps 09:00–12:00 on Friday.");
        assert_eq!(fb.fields.len(), 5);
        assert!(fb.message.is_some());
    }

    #[test]
    fn windows_may_touch_without_overlapping() {
        let rules = parse(&form(&[
            ("sat_0_start", "09:00"),
            ("sat_0_end", "12:00"),
            ("sat_1_start", "12:00"),
            ("sat_1_end", "14:00"),
        ]))
        .unwrap();
        assert_eq!(rules.len(), 2);
    }

    #[test]
    fn a_refused_form_is_shown_as_typed() {
        let days = editor_from_form(&form(&[
            ("mon_0_start", "09:00"),
            ("mon_3_start", "15:00"),
            ("mon_3_end", "nonsense"),
        ]));
        let monday = &days[0].rows;
        assert_eq!(monday.len(), 5);
        assert_eq!(monday[0].start, "09:00");
        assert_eq!(monday[3].end, "nonsense");
        assert_eq!(days[1].rows.len(), 2);
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn window(start: &str, end: &str) -> Window {
        Window {
            start: start.into(),
            end: end.into(),
        }
    }

    #[test]
    fn one_dates_hours_are_read_sorted_and_no_windows_mean_closed() {
        let today = date("2026-05-04");
        let (d, w) = parse_override(
            &form(&[
                ("ov_date", "2026-05-06"),
                ("ov_0_start", "14:00"),
                ("ov_0_end", "16:00"),
                ("ov_1_start", "08:00"),
                ("ov_1_end", "12:00:00"),
            ]),
            today,
        )
        .unwrap();
        assert_eq!(d, date("2026-05-06"));
        assert_eq!(w, [window("08:00", "12:00"), window("14:00", "16:00")]);
        let (d, w) = parse_override(&form(&[("ov_date", "2026-05-04")]), today).unwrap();
        assert_eq!((d, w.len()), (today, 0), "today may be closed too");
    }

    #[test]
    fn one_dates_mistakes_are_said_next_to_their_fields() {
        let today = date("2026-05-04");
        let fb = parse_override(
            &form(&[
                ("ov_date", "2026-05-03"),
                ("ov_0_start", "09:00"),
                ("ov_0_end", "12:00"),
                ("ov_1_start", "11:00"),
                ("ov_1_end", "13:00"),
            ]),
            today,
        )
        .unwrap_err();
        assert_eq!(fb.fields["ov_date"], "Choose today or a later date.");
        assert_eq!(
            fb.fields["ov_1_start"],
            "Overlaps 09:00–12:00 on that date."
        );
        assert!(fb.message.is_some());
        let fb = parse_override(
            &form(&[
                ("ov_0_start", "9am"),
                ("ov_0_end", "12:00"),
                ("ov_1_start", "14:00"),
            ]),
            today,
        )
        .unwrap_err();
        assert_eq!(fb.fields["ov_date"], "Choose the date.");
        assert_eq!(fb.fields["ov_0_start"], "Use a time like 09:00.");
        assert_eq!(fb.fields["ov_1_end"], "Enter when this window ends.");
        assert_eq!(fb.fields.len(), 3);
        let fb = parse_override(&form(&[("ov_date", "4/5/2026")]), today).unwrap_err();
        assert_eq!(fb.fields["ov_date"], "Use a date like 2026-05-04.");
    }

    #[test]
    fn overrides_and_time_off_are_listed_in_words() {
        let o = DateOverride {
            date: date("2026-05-04"),
            windows: vec![window("09:00", "12:00"), window("14:00", "16:00")],
        };
        let v = override_view(&o);
        assert_eq!(
            (v.date.as_str(), v.label.as_str(), v.hours.as_str()),
            ("2026-05-04", "Mon 4 May 2026", "09:00–12:00, 14:00–16:00")
        );
        assert_eq!(hours(&[]), "Closed");

        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let t = TimeOffEntry {
            id: uuid::Uuid::nil(),
            start: at("2026-05-04T07:00:00Z"),
            end: at("2026-05-05T15:00:00Z"),
            reason: Some(" ".into()),
        };
        let v = time_off_view(&t, Tz::Europe__Berlin, at("2026-05-04T12:00:00Z"));
        assert_eq!(
            v.span,
            "Mon 4 May 2026, 09:00 CEST – Tue 5 May 2026, 17:00 CEST"
        );
        assert_eq!(v.reason, None, "a blank reason is no reason");
        assert!(v.current);
        assert!(!time_off_view(&t, Tz::UTC, at("2026-05-06T00:00:00Z")).current);
    }

    #[test]
    fn the_conflict_choice_is_read_and_cancelling_needs_a_reason() {
        assert_eq!(on_conflict(None, ""), Ok(None));
        assert_eq!(on_conflict(Some("whatever"), "x"), Ok(None));
        assert_eq!(on_conflict(Some("keep"), ""), Ok(Some(OnConflict::Keep)));
        assert_eq!(
            on_conflict(Some("cancel_conflicts"), "  Clinic closed  "),
            Ok(Some(OnConflict::CancelConflicts {
                reason: "Clinic closed".into()
            }))
        );
        let fb = on_conflict(Some("cancel_conflicts"), "  ").unwrap_err();
        assert_eq!(
            fb.fields["conflict_reason"],
            "Enter a reason for the patients."
        );
        let fb = on_conflict(Some("cancel_conflicts"), &"x".repeat(501)).unwrap_err();
        assert!(fb.fields.contains_key("conflict_reason"));
    }

    #[test]
    fn the_change_is_sent_again_without_token_or_choice() {
        let fields = resend_fields(&form(&[
            ("tue_0_start", "09:00"),
            ("csrf_token", "t"),
            ("on_conflict", "keep"),
            ("conflict_reason", "r"),
            ("mon_0_start", "10:00"),
        ]));
        assert_eq!(
            fields,
            [
                ("mon_0_start".to_owned(), "10:00".to_owned()),
                ("tue_0_start".to_owned(), "09:00".to_owned())
            ]
        );
    }

    #[test]
    fn conflicts_are_listed_in_order_in_the_providers_zone_with_their_type() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let stranded = |id: u128, start: &str, kind: u128| Stranded {
            id: uuid::Uuid::from_u128(id),
            start: at(start),
            end: at(start) + chrono::Duration::minutes(30),
            patient_id: uuid::Uuid::nil(),
            appointment_type_id: uuid::Uuid::from_u128(kind),
        };
        let kind: AppointmentType = serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::from_u128(7), "provider_id": uuid::Uuid::nil(), "name": "Consultation",
            "duration_minutes": 30, "price": {"amount_minor": 0, "currency": "EUR"}, "mode": "in_person",
        }))
        .unwrap();
        let views = conflict_views(
            &[
                stranded(2, "2026-05-05T08:00:00Z", 9),
                stranded(1, "2026-05-04T07:00:00Z", 7),
            ],
            Tz::Europe__Berlin,
            &[kind],
        );
        assert_eq!(views[0].when, "Mon 4 May 2026, 09:00–09:30 CEST");
        assert_eq!(views[0].kind, "Consultation");
        assert_eq!(views[1].kind, "Appointment", "a type not listed");
    }

    #[test]
    fn what_a_change_did_with_the_appointments_is_said_in_words() {
        let s = Stranded {
            id: uuid::Uuid::nil(),
            start: Utc::now(),
            end: Utc::now(),
            patient_id: uuid::Uuid::nil(),
            appointment_type_id: uuid::Uuid::nil(),
        };
        assert_eq!(resolved_note(&Resolved::default()), None);
        let cancelled = Resolved {
            cancelled: vec![s.clone(), s.clone()],
            kept: vec![],
        };
        assert_eq!(
            resolved_note(&cancelled).unwrap(),
            "2 booked appointments cancelled; the patients get an email."
        );
        let kept = Resolved {
            cancelled: vec![],
            kept: vec![s],
        };
        assert_eq!(
            resolved_note(&kept).unwrap(),
            "1 booked appointment kept outside your hours."
        );
    }
}
