//! The waitlist as people fill it in and read it: the join form read into
//! what the API takes (dates are whole days in the provider's time zone, as
//! are the weekdays and the time-of-day window), an entry in words, and the
//! clinic's list in the order offers go out (higher priority first, then
//! first come, first served: scheduling's ranking).

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use super::{feedback::Feedback, time};
use crate::api::models::{WaitlistEntry, Window};

/// The API's weekday names and how the pages show them, Monday first.
pub const WEEKDAYS: [(&str, &str); 7] = [
    ("mon", "Mon"),
    ("tue", "Tue"),
    ("wed", "Wed"),
    ("thu", "Thu"),
    ("fri", "Fri"),
    ("sat", "Sat"),
    ("sun", "Sun"),
];

/// The longest wait one entry may cover (scheduling's limit).
const MAX_RANGE_DAYS: i64 = 366;

/// Whom the entry waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// This provider only.
    Provider,
    /// Any provider of the same specialty (a type of the same name).
    Specialty,
}

/// The join form as sent (every field as typed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JoinForm {
    pub scope: String,
    pub earliest: String,
    pub latest: String,
    /// The ticked `day` boxes.
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
}

impl JoinForm {
    /// From the form's fields (`day` repeats, one per ticked box).
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut form = Self::default();
        for (name, value) in pairs {
            let value = value.trim().to_owned();
            match name.as_str() {
                "scope" => form.scope = value,
                "earliest" => form.earliest = value,
                "latest" => form.latest = value,
                "day" => form.days.push(value),
                "from" => form.from = value,
                "to" => form.to = value,
                _ => {}
            }
        }
        form
    }
}

/// A valid join request, ready for the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Join {
    pub scope: Scope,
    /// The first day's start in the provider's zone.
    pub earliest: DateTime<Utc>,
    /// The end of the last day (the next day's start) in the provider's zone.
    pub latest: DateTime<Utc>,
    pub weekdays: Vec<&'static str>,
    pub time_of_day: Option<Window>,
}

fn date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

fn clock(raw: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(raw, "%H:%M").ok()
}

/// Read the join form for a provider in `tz` on `today` (their date), or say
/// what to correct next to each field.
pub fn read(form: &JoinForm, tz: Tz, today: NaiveDate) -> Result<Join, Feedback> {
    let mut fb = Feedback::default();
    let scope = match form.scope.as_str() {
        "specialty" => Scope::Specialty,
        _ => Scope::Provider,
    };
    let earliest = date(&form.earliest);
    let latest = date(&form.latest);
    if earliest.is_none() {
        fb = fb.field("earliest", "Enter the first day as a date (YYYY-MM-DD).");
    }
    if latest.is_none() {
        fb = fb.field("latest", "Enter the last day as a date (YYYY-MM-DD).");
    }
    if let (Some(first), Some(last)) = (earliest, latest) {
        if last < first {
            fb = fb.field("latest", "The last day must be on or after the first day.");
        } else if last < today {
            fb = fb.field("latest", "The last day must not be in the past.");
        } else if (last - first).num_days() >= MAX_RANGE_DAYS {
            fb = fb.field(
                "latest",
                "Wait for at most a year: choose an earlier last day.",
            );
        }
    }
    let mut weekdays = Vec::new();
    for day in &form.days {
        match WEEKDAYS.iter().find(|(name, _)| name == day) {
            Some((name, _)) if !weekdays.contains(name) => weekdays.push(*name),
            Some(_) => {}
            None => fb = fb.field("day", "Choose days from the list."),
        }
    }
    weekdays.sort_by_key(|d| WEEKDAYS.iter().position(|(n, _)| n == d));
    if weekdays.len() == WEEKDAYS.len() {
        weekdays.clear();
    }
    let time_of_day = match (form.from.as_str(), form.to.as_str()) {
        ("", "") => None,
        (from, to) => match (clock(from), clock(to)) {
            (Some(f), Some(t)) if t > f => Some(Window {
                start: f.format("%H:%M").to_string(),
                end: t.format("%H:%M").to_string(),
            }),
            (Some(_), Some(_)) => {
                fb = fb.field("to", "The end must be after the start.");
                None
            }
            (f, t) => {
                if f.is_none() {
                    fb = fb.field("from", "Enter a time as HH:MM, or leave both times empty.");
                }
                if t.is_none() {
                    fb = fb.field("to", "Enter a time as HH:MM, or leave both times empty.");
                }
                None
            }
        },
    };
    match (earliest, latest) {
        (Some(first), Some(last)) if fb.is_empty() => Ok(Join {
            scope,
            earliest: time::start_of_day(first, tz),
            latest: time::start_of_day(last + Duration::days(1), tz),
            weekdays,
            time_of_day,
        }),
        _ => Err(Feedback {
            message: Some("Please correct the highlighted fields.".to_owned()),
            ..fb
        }),
    }
}

/// "Any day", or "Mon, Wed" (the API's names, in week order).
pub fn days_text(weekdays: &[String]) -> String {
    let shown: Vec<&str> = WEEKDAYS
        .iter()
        .filter(|(name, _)| weekdays.iter().any(|d| d == name))
        .map(|(_, label)| *label)
        .collect();
    if shown.is_empty() || shown.len() == WEEKDAYS.len() {
        "Any day".to_owned()
    } else {
        shown.join(", ")
    }
}

/// "Any time of day", or "09:00–12:00".
pub fn window_text(window: Option<&Window>) -> String {
    match window {
        Some(w) => format!("{}–{}", w.start, w.end),
        None => "Any time of day".to_owned(),
    }
}

/// "Mon 4 May 2026 – Sun 31 May 2026": the days an entry covers (its
/// `latest` is the end of its last day).
pub fn range_text(earliest: DateTime<Utc>, latest: DateTime<Utc>, tz: Tz) -> String {
    let last = latest - Duration::seconds(1);
    format!(
        "{} – {}",
        time::date(earliest, tz),
        time::date(last.max(earliest), tz)
    )
}

/// Order `entries` as offers go out: higher priority first, then the earlier joined.
pub fn rank(entries: &mut [WaitlistEntry]) {
    entries.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.created_at.cmp(&b.created_at))
            .then(a.id.cmp(&b.id))
    });
}

/// A priority as typed by staff: a whole number from -100 to 100.
pub fn priority(raw: &str) -> Result<i32, &'static str> {
    match raw.trim().parse::<i32>() {
        Ok(p) if (-100..=100).contains(&p) => Ok(p),
        _ => Err("Enter a whole number from -100 to 100."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::EntryStatus;
    use uuid::Uuid;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn form(earliest: &str, latest: &str) -> JoinForm {
        JoinForm {
            scope: "provider".into(),
            earliest: earliest.into(),
            latest: latest.into(),
            ..JoinForm::default()
        }
    }

    #[test]
    fn the_days_cover_whole_local_days() {
        let join = read(
            &form("2026-05-04", "2026-05-08"),
            Tz::Europe__Berlin,
            d("2026-05-01"),
        )
        .unwrap();
        assert_eq!(join.scope, Scope::Provider);
        assert_eq!(join.earliest, at("2026-05-03T22:00:00Z"));
        assert_eq!(join.latest, at("2026-05-08T22:00:00Z"));
        assert!(join.weekdays.is_empty());
        assert_eq!(join.time_of_day, None);
    }

    #[test]
    fn weekdays_and_a_window_are_read_in_week_order() {
        let pairs: Vec<(String, String)> = [
            ("scope", "specialty"),
            ("earliest", "2026-05-04"),
            ("latest", "2026-06-04"),
            ("day", "wed"),
            ("day", "mon"),
            ("day", "wed"),
            ("from", "09:00"),
            ("to", " 12:30 "),
            ("csrf_token", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let join = read(&JoinForm::from_pairs(&pairs), Tz::UTC, d("2026-05-01")).unwrap();
        assert_eq!(join.scope, Scope::Specialty);
        assert_eq!(join.weekdays, ["mon", "wed"]);
        assert_eq!(
            join.time_of_day,
            Some(Window {
                start: "09:00".into(),
                end: "12:30".into()
            })
        );
        let every: Vec<String> = WEEKDAYS.iter().map(|(n, _)| n.to_string()).collect();
        let all = JoinForm {
            days: every,
            ..form("2026-05-04", "2026-05-05")
        };
        assert!(read(&all, Tz::UTC, d("2026-05-01"))
            .unwrap()
            .weekdays
            .is_empty());
    }

    #[test]
    fn mistakes_are_named_next_to_their_fields() {
        let today = d("2026-05-10");
        let err = |f: JoinForm| read(&f, Tz::UTC, today).unwrap_err();
        let fb = err(form("", "2026-05-x"));
        assert!(fb.fields.contains_key("earliest") && fb.fields.contains_key("latest"));
        assert_eq!(
            fb.message.as_deref(),
            Some("Please correct the highlighted fields.")
        );
        let fb = err(form("2026-05-20", "2026-05-12"));
        assert_eq!(
            fb.fields["latest"],
            "The last day must be on or after the first day."
        );
        let fb = err(form("2026-05-01", "2026-05-09"));
        assert_eq!(fb.fields["latest"], "The last day must not be in the past.");
        let fb = err(form("2026-05-10", "2027-05-11"));
        assert!(fb.fields["latest"].contains("at most a year"));
        assert!(
            read(&form("2026-05-10", "2027-05-10"), Tz::UTC, today).is_ok(),
            "366 days, as scheduling allows"
        );
        let fb = err(JoinForm {
            from: "09:00".into(),
            ..form("2026-05-10", "2026-05-12")
        });
        assert!(fb.fields["to"].contains("leave both times empty"));
        let fb = err(JoinForm {
            from: "12:00".into(),
            to: "09:00".into(),
            ..form("2026-05-10", "2026-05-12")
        });
        assert_eq!(fb.fields["to"], "The end must be after the start.");
        let fb = err(JoinForm {
            days: vec!["funday".into()],
            ..form("2026-05-10", "2026-05-12")
        });
        assert!(fb.fields.contains_key("day"));
    }

    #[test]
    fn an_entry_reads_in_words() {
        assert_eq!(days_text(&[]), "Any day");
        assert_eq!(days_text(&["fri".into(), "mon".into()]), "Mon, Fri");
        assert_eq!(window_text(None), "Any time of day");
        assert_eq!(
            window_text(Some(&Window {
                start: "09:00".into(),
                end: "12:00".into()
            })),
            "09:00–12:00"
        );
        assert_eq!(
            range_text(
                at("2026-05-03T22:00:00Z"),
                at("2026-05-08T22:00:00Z"),
                Tz::Europe__Berlin
            ),
            "Mon 4 May 2026 – Fri 8 May 2026"
        );
    }

    fn entry(n: u128, priority: i32, joined: &str) -> WaitlistEntry {
        WaitlistEntry {
            id: Uuid::from_u128(n),
            patient_id: Uuid::from_u128(100 + n),
            appointment_type_id: Uuid::nil(),
            provider_id: Some(Uuid::nil()),
            specialty: None,
            earliest: at("2026-05-01T00:00:00Z"),
            latest: at("2026-06-01T00:00:00Z"),
            weekdays: Vec::new(),
            time_of_day: None,
            priority,
            status: EntryStatus::Waiting,
            appointment_id: None,
            created_at: at(joined),
            offer: None,
        }
    }

    #[test]
    fn offers_go_by_priority_then_first_come() {
        let mut list = vec![
            entry(1, 0, "2026-04-01T09:00:00Z"),
            entry(2, 0, "2026-03-01T09:00:00Z"),
            entry(3, 10, "2026-04-02T09:00:00Z"),
            entry(4, -5, "2026-01-01T09:00:00Z"),
        ];
        rank(&mut list);
        let order: Vec<u128> = list.iter().map(|e| e.id.as_u128()).collect();
        assert_eq!(order, [3, 2, 1, 4]);
    }

    #[test]
    fn priorities_are_whole_numbers_in_range() {
        assert_eq!(priority(" 10 "), Ok(10));
        assert_eq!(priority("-100"), Ok(-100));
        assert!(priority("101").is_err());
        assert!(priority("1.5").is_err());
        assert!(priority("").is_err());
    }
}
