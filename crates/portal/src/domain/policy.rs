//! The cancellation policy as a patient reads it before booking, and as the
//! clinic applies it when an appointment moves: cancelling or rescheduling
//! later than the window before the start owes the late-cancellation fee, not
//! coming owes the no-show fee (scheduling caps both and is the authority;
//! these are its numbers in words).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::money;
use crate::api::models::{AppointmentType, CancellationPolicy, Money};

/// The policy in words.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PolicyView {
    /// "Free cancellation and rescheduling until 24 hours before the start."
    pub summary: String,
    /// "22.50 EUR", when cancelling or moving late costs something.
    pub late_cancel_fee: Option<String>,
    /// "22.50 EUR", when not coming costs something.
    pub no_show_fee: Option<String>,
    /// "24 hours": how long before the start changes become late (none without a late fee).
    pub window: Option<String>,
}

/// "24 hours", "1 hour", "90 minutes".
pub fn duration_text(minutes: i64) -> String {
    match minutes {
        m if m % 60 == 0 && m >= 120 => format!("{} hours", m / 60),
        60 => "1 hour".to_owned(),
        1 => "1 minute".to_owned(),
        m => format!("{m} minutes"),
    }
}

/// A fee worth showing (a positive amount).
fn fee(f: Option<&Money>) -> Option<String> {
    f.filter(|f| f.amount_minor > 0).map(money::format)
}

/// The policy of a window of `window_minutes` with these fees.
pub fn view(window_minutes: i64, late: Option<&Money>, no_show: Option<&Money>) -> PolicyView {
    let late_cancel_fee = fee(late).filter(|_| window_minutes > 0);
    let no_show_fee = fee(no_show);
    let window = late_cancel_fee
        .as_ref()
        .map(|_| duration_text(window_minutes));
    let summary = match (&late_cancel_fee, &window) {
        (Some(fee), Some(w)) => format!(
            "Free cancellation and rescheduling until {w} before the start; later, either costs {fee}."
        ),
        _ => "Free cancellation and rescheduling at any time.".to_owned(),
    };
    let summary = match &no_show_fee {
        Some(f) => format!("{summary} Not coming without cancelling costs {f}."),
        None => summary,
    };
    PolicyView {
        summary,
        late_cancel_fee,
        no_show_fee,
        window,
    }
}

/// The policy of an appointment type, as listed before booking.
pub fn of_type(t: &AppointmentType) -> PolicyView {
    view(
        i64::from(t.cancellation_window_minutes),
        t.late_cancel_fee.as_ref(),
        t.no_show_fee.as_ref(),
    )
}

/// The policy that applies to one booked appointment.
pub fn of_appointment(p: &CancellationPolicy) -> PolicyView {
    view(
        p.window_minutes,
        p.late_cancel_fee.as_ref(),
        p.no_show_fee.as_ref(),
    )
}

/// Whether a change at `now` to an appointment starting at `start` falls
/// inside a window of `window_minutes` (scheduling's rule: later than the
/// window before the start).
pub fn inside_window(start: DateTime<Utc>, window_minutes: i64, now: DateTime<Utc>) -> bool {
    window_minutes > 0 && now > start - Duration::minutes(window_minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor: i64) -> Money {
        Money {
            amount_minor: minor,
            currency: "EUR".into(),
        }
    }

    #[test]
    fn both_fees_are_named_before_booking() {
        let p = view(1440, Some(&eur(2250)), Some(&eur(3000)));
        assert_eq!(
            p.summary,
            "Free cancellation and rescheduling until 24 hours before the start; later, either costs 22.50 EUR. Not coming without cancelling costs 30.00 EUR."
        );
        assert_eq!(p.late_cancel_fee.as_deref(), Some("22.50 EUR"));
        assert_eq!(p.no_show_fee.as_deref(), Some("30.00 EUR"));
        assert_eq!(p.window.as_deref(), Some("24 hours"));
    }

    #[test]
    fn no_fee_reads_as_free() {
        let p = view(1440, Some(&eur(0)), Some(&eur(0)));
        assert_eq!(p.summary, "Free cancellation and rescheduling at any time.");
        assert_eq!(
            (p.late_cancel_fee, p.no_show_fee, p.window),
            (None, None, None)
        );
        let p = view(0, Some(&eur(500)), None);
        assert_eq!(p.late_cancel_fee, None, "no window: never late");
        let p = view(90, Some(&eur(100)), None);
        assert_eq!(p.window.as_deref(), Some("90 minutes"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(60), "1 hour");
        assert_eq!(duration_text(120), "2 hours");
        assert_eq!(duration_text(30), "30 minutes");
        assert_eq!(duration_text(1), "1 minute");
    }

    #[test]
    fn a_change_is_late_inside_the_window_only() {
        let start: DateTime<Utc> = "2026-05-05T09:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(!inside_window(start, 1440, at("2026-05-04T09:00:00Z")));
        assert!(inside_window(start, 1440, at("2026-05-04T09:00:01Z")));
        assert!(!inside_window(start, 0, at("2026-05-05T08:59:00Z")));
    }
}
