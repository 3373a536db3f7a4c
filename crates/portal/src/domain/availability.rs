//! The weekly availability editor: a few time windows per weekday, in the
//! provider's own time zone, read from and written to scheduling's
//! `PUT /providers/{id}/availability` body (`{weekly: [{weekday, start, end}]}`).
//! Checked here first so every mistake lands next to its own field; the API
//! checks again.

use std::collections::HashMap;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use super::feedback::Feedback;

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

/// Read the editor's form into weekly rules, or say what is wrong next to
/// each field: half-filled windows, unreadable times, windows that end
/// before they start, and windows of one day that overlap.
pub fn parse(form: &HashMap<String, String>) -> Result<Vec<WeeklyRule>, Feedback> {
    let mut rules = Vec::new();
    let mut fb = Feedback::default();
    for &(day, label) in &WEEKDAYS {
        let mut windows: Vec<(NaiveTime, NaiveTime, String)> = Vec::new();
        for i in 0..MAX_ROWS {
            let (sf, ef) = (field(day, i, false), field(day, i, true));
            let raw = |f: &str| form.get(f).map(|v| v.trim()).unwrap_or("");
            let (s, e) = (raw(&sf), raw(&ef));
            match (s.is_empty(), e.is_empty()) {
                (true, true) => continue,
                (false, true) => {
                    fb = fb.field(&ef, "Enter when this window ends.");
                    continue;
                }
                (true, false) => {
                    fb = fb.field(&sf, "Enter when this window starts.");
                    continue;
                }
                (false, false) => {}
            }
            let (Some(start), Some(end)) = (clock(s), clock(e)) else {
                for (f, v) in [(&sf, s), (&ef, e)] {
                    if clock(v).is_none() {
                        fb = fb.field(f, "Use a time like 09:00.");
                    }
                }
                continue;
            };
            if end <= start {
                fb = fb.field(
                    &ef,
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
                fb = fb.field(
                    &this.2,
                    format!(
                        "Overlaps {}–{} on {label}.",
                        prev.0.format("%H:%M"),
                        prev.1.format("%H:%M")
                    ),
                );
            }
        }
        rules.extend(windows.into_iter().map(|(s, e, _)| WeeklyRule {
            weekday: day.to_owned(),
            start: s.format("%H:%M").to_string(),
            end: e.format("%H:%M").to_string(),
        }));
    }
    if fb.fields.is_empty() {
        Ok(rules)
    } else {
        Err(Feedback {
            message: Some("Please correct the highlighted times.".to_owned()),
            ..fb
        })
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
}
