//! A slot held while its patient confirms: whether it can still be
//! confirmed, and until when, in words a person reads ("Held for you until
//! 10:42 CET") and in the form the page's countdown reads.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::time;
use crate::api::models::HoldStatus;

/// What the confirmation page can do with a hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldState {
    /// Still kept: confirm it or let it go.
    Live,
    /// Lapsed or released: the slot is anyone's again; pick a time again.
    Ended,
    /// Booked already: the appointment has the hold's id.
    Booked,
}

/// A hold's state at `now`; one past `expires_at` has ended whatever the
/// API last said (the page may be shown a moment late).
pub fn state(status: HoldStatus, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> HoldState {
    match status {
        HoldStatus::Converted => HoldState::Booked,
        HoldStatus::Held if now < expires_at => HoldState::Live,
        HoldStatus::Held | HoldStatus::Released | HoldStatus::Expired => HoldState::Ended,
    }
}

/// When the hold lapses, for the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HoldTimer {
    /// "10:42", in the viewer's zone.
    pub until: String,
    /// "CET": which clock `until` is on.
    pub zone: String,
    /// RFC 3339, for the countdown script.
    pub expires_at: String,
    /// Whole seconds left (0 once lapsed), as rendered.
    pub seconds_left: i64,
}

/// The timer of a hold lapsing at `expires_at`, shown on `tz`'s clock.
pub fn timer(expires_at: DateTime<Utc>, now: DateTime<Utc>, tz: Tz) -> HoldTimer {
    HoldTimer {
        until: time::clock(expires_at, tz),
        zone: expires_at.with_timezone(&tz).format("%Z").to_string(),
        expires_at: expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        seconds_left: (expires_at - now).num_seconds().max(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_hold_can_be_confirmed_only_while_it_is_kept() {
        let expires = at("2026-05-04T08:42:00Z");
        let before = at("2026-05-04T08:35:00Z");
        assert_eq!(state(HoldStatus::Held, expires, before), HoldState::Live);
        assert_eq!(state(HoldStatus::Held, expires, expires), HoldState::Ended);
        assert_eq!(
            state(HoldStatus::Expired, expires, before),
            HoldState::Ended
        );
        assert_eq!(
            state(HoldStatus::Released, expires, before),
            HoldState::Ended
        );
        assert_eq!(
            state(HoldStatus::Converted, expires, expires),
            HoldState::Booked
        );
    }

    #[test]
    fn the_timer_reads_on_the_viewers_clock() {
        let t = timer(
            at("2026-05-04T08:42:00Z"),
            at("2026-05-04T08:32:30Z"),
            Tz::Europe__Berlin,
        );
        assert_eq!(t.until, "10:42");
        assert_eq!(t.zone, "CEST");
        assert_eq!(t.expires_at, "2026-05-04T08:42:00Z");
        assert_eq!(t.seconds_left, 570);
        let lapsed = timer(
            at("2026-05-04T08:42:00Z"),
            at("2026-05-04T09:00:00Z"),
            Tz::UTC,
        );
        assert_eq!(lapsed.seconds_left, 0);
        assert_eq!(lapsed.until, "08:42");
    }
}
