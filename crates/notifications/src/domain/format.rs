//! How values appear in emails: times in the recipient's zone first (the
//! provider's when the recipient's is unknown), in the provider's zone too when
//! its clock reads differently, and in UTC; money in major units; and free text
//! made safe for a subject line or a text body.

use chrono::{DateTime, Offset, Utc};
use chrono_tz::Tz;

use super::appointment::Money;

/// Text from elsewhere (names, type names, reasons) with control characters
/// (newlines included) turned into spaces, runs of spaces collapsed and the
/// length bounded, so no value can add a header line or forge a text paragraph.
/// HTML escaping is the templates' job; this is for every output.
pub fn clean(text: &str, max_chars: usize) -> String {
    let words: Vec<String> = text
        .split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let joined = words.join(" ");
    if joined.chars().count() <= max_chars {
        return joined;
    }
    let mut cut: String = joined.chars().take(max_chars).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// `Tuesday 3 March 2026, 10:00 CET` in `tz`.
pub fn local_long(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%A %-d %B %Y, %H:%M %Z")
        .to_string()
}

/// `Tue 3 Mar 10:00 CET`, for subject lines.
pub fn local_short(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%a %-d %b %H:%M %Z")
        .to_string()
}

/// `10:30` local: the end of an interval whose day was already said.
pub fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
}

/// `2026-03-03 09:00 UTC`.
pub fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `Tuesday 3 March 2026, 10:00 CET – 10:30` in `tz`.
pub fn interval_local(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    format!("{} – {}", local_long(start, tz), local_time(end, tz))
}

/// `2026-03-03 09:00 – 09:30 UTC`.
pub fn interval_utc(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    format!(
        "{} – {}",
        start.format("%Y-%m-%d %H:%M"),
        end.format("%H:%M UTC")
    )
}

/// Whose clocks an email shows a time on: the recipient's first when it is
/// known, and the provider's as well wherever it reads differently. Emails to
/// providers (and to patients whose zone is unknown) show the provider's only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zones {
    /// The provider's zone: the appointment's (or the offered slot's).
    pub provider: Tz,
    /// The recipient's own zone, when known.
    pub recipient: Option<Tz>,
}

impl Zones {
    /// The provider's zone alone: for providers, and for recipients of unknown zone.
    pub fn provider_only(provider: Tz) -> Self {
        Self {
            provider,
            recipient: None,
        }
    }

    /// The zone times are shown in first.
    pub fn shown(&self) -> Tz {
        self.recipient.unwrap_or(self.provider)
    }

    /// Whether the provider's clock reads differently from the shown one at
    /// any of `instants`. Zones are compared by their UTC offset at that
    /// moment, not by name: Europe/Paris and Europe/Berlin always agree, while
    /// Africa/Lagos agrees with Europe/Berlin in winter only.
    pub fn provider_differs(&self, instants: &[DateTime<Utc>]) -> bool {
        let offset = |at: &DateTime<Utc>, tz: Tz| at.with_timezone(&tz).offset().fix();
        instants
            .iter()
            .any(|at| offset(at, self.shown()) != offset(at, self.provider))
    }
}

/// A person's own zone as an event names it: an IANA name this build knows.
/// Anything else is no zone at all (unknown), never an error: emails then show
/// the provider's zone, as they did before people had one.
pub fn own_zone(name: Option<&str>) -> Option<Tz> {
    name.map(str::trim)
        .filter(|n| !n.is_empty())
        .and_then(|n| n.parse().ok())
}

/// What the provider's clock says, in an email to a patient.
const PROVIDER_TIME: &str = "your provider's time";

/// The provider's reading of an interval, when it differs from the shown
/// one: `10:00 CET – 10:30`, with the day when that is not the shown day
/// (`Wednesday 4 March 2026, 01:00 JST – 01:30`). `None` when the clocks agree.
pub fn provider_interval(start: DateTime<Utc>, end: DateTime<Utc>, zones: Zones) -> Option<String> {
    if !zones.provider_differs(&[start, end]) {
        return None;
    }
    let provider = zones.provider;
    Some(if same_day(start, zones) {
        format!(
            "{} – {}",
            start.with_timezone(&provider).format("%H:%M %Z"),
            local_time(end, provider)
        )
    } else {
        interval_local(start, end, provider)
    })
}

/// An interval on one line, the shown zone first and the provider's after it
/// when it differs: `Tuesday 3 March 2026, 04:00 EST – 04:30 (your
/// provider's time: 10:00 CET – 10:30)`.
pub fn interval_for(start: DateTime<Utc>, end: DateTime<Utc>, zones: Zones) -> String {
    let shown = interval_local(start, end, zones.shown());
    match provider_interval(start, end, zones) {
        Some(theirs) => format!("{shown} ({PROVIDER_TIME}: {theirs})"),
        None => shown,
    }
}

/// One moment on one line, the same way: `Tuesday 3 March 2026, 03:15 EST
/// (your provider's time: 09:15 CET)`.
pub fn long_for(at: DateTime<Utc>, zones: Zones) -> String {
    let shown = local_long(at, zones.shown());
    if !zones.provider_differs(&[at]) {
        return shown;
    }
    let theirs = if same_day(at, zones) {
        at.with_timezone(&zones.provider)
            .format("%H:%M %Z")
            .to_string()
    } else {
        local_long(at, zones.provider)
    };
    format!("{shown} ({PROVIDER_TIME}: {theirs})")
}

/// Whether `at` falls on the same calendar day on both clocks.
fn same_day(at: DateTime<Utc>, zones: Zones) -> bool {
    at.with_timezone(&zones.shown()).date_naive() == at.with_timezone(&zones.provider).date_naive()
}

/// ISO 4217 currencies without the usual two decimals.
fn decimals(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `60.00 EUR`, `5000 JPY`, `-1.500 KWD`.
pub fn money(m: &Money) -> String {
    let currency = clean(&m.currency, 3);
    let places = decimals(&currency);
    let sign = if m.amount_minor < 0 { "-" } else { "" };
    let abs = m.amount_minor.unsigned_abs();
    if places == 0 {
        return format!("{sign}{abs} {currency}");
    }
    let unit = 10u64.pow(places);
    format!(
        "{sign}{}.{:0width$} {currency}",
        abs / unit,
        abs % unit,
        width = places as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn times_show_in_the_providers_zone_and_in_utc() {
        let at: DateTime<Utc> = "2026-03-03T09:00:00Z".parse().unwrap();
        assert_eq!(
            local_long(at, chrono_tz::Europe::Berlin),
            "Tuesday 3 March 2026, 10:00 CET"
        );
        assert_eq!(
            local_short(at, chrono_tz::America::New_York),
            "Tue 3 Mar 04:00 EST"
        );
        assert_eq!(local_time(at, chrono_tz::Asia::Kolkata), "14:30");
        assert_eq!(utc(at), "2026-03-03 09:00 UTC");
        // Summer time is shown as such.
        let summer: DateTime<Utc> = "2026-07-01T08:00:00Z".parse().unwrap();
        assert_eq!(
            local_short(summer, chrono_tz::Europe::Berlin),
            "Wed 1 Jul 10:00 CEST"
        );
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn zones(provider: Tz, recipient: Option<Tz>) -> Zones {
        Zones {
            provider,
            recipient,
        }
    }

    use chrono_tz::{Africa, America, Asia, Europe};

    #[test]
    fn a_recipient_in_the_providers_zone_sees_one_time() {
        let (s, e) = (at("2026-03-03T09:00:00Z"), at("2026-03-03T09:30:00Z"));
        let z = zones(Europe::Berlin, Some(Europe::Berlin));
        assert_eq!(provider_interval(s, e, z), None);
        assert_eq!(
            interval_for(s, e, z),
            "Tuesday 3 March 2026, 10:00 CET – 10:30"
        );
        assert_eq!(long_for(s, z), "Tuesday 3 March 2026, 10:00 CET");
        // Another name for the same clock is the same clock.
        let paris = zones(Europe::Berlin, Some(Europe::Paris));
        assert_eq!(
            interval_for(s, e, paris),
            "Tuesday 3 March 2026, 10:00 CET – 10:30"
        );
    }

    #[test]
    fn a_recipient_in_another_zone_sees_their_time_first_and_the_providers_after() {
        let (s, e) = (at("2026-03-03T09:00:00Z"), at("2026-03-03T09:30:00Z"));
        let z = zones(Europe::Berlin, Some(America::New_York));
        assert_eq!(z.shown(), America::New_York);
        assert_eq!(
            interval_for(s, e, z),
            "Tuesday 3 March 2026, 04:00 EST – 04:30 (your provider's time: 10:00 CET – 10:30)"
        );
        assert_eq!(
            long_for(at("2026-03-03T08:15:00Z"), z),
            "Tuesday 3 March 2026, 03:15 EST (your provider's time: 09:15 CET)"
        );
        // The provider's day is named only when it is not the recipient's.
        let la = zones(Asia::Tokyo, Some(America::Los_Angeles));
        assert_eq!(
            interval_for(s, e, la),
            "Tuesday 3 March 2026, 01:00 PST – 01:30 (your provider's time: 18:00 JST – 18:30)"
        );
        let late = (at("2026-03-03T16:00:00Z"), at("2026-03-03T16:30:00Z"));
        assert_eq!(
            provider_interval(late.0, late.1, la).as_deref(),
            Some("Wednesday 4 March 2026, 01:00 JST – 01:30")
        );
    }

    #[test]
    fn an_unknown_recipient_zone_shows_the_providers_as_before() {
        let (s, e) = (at("2026-03-03T09:00:00Z"), at("2026-03-03T09:30:00Z"));
        let z = zones(Europe::Berlin, None);
        assert_eq!(z, Zones::provider_only(Europe::Berlin));
        assert_eq!(z.shown(), Europe::Berlin);
        assert_eq!(interval_for(s, e, z), interval_local(s, e, Europe::Berlin));
        assert_eq!(long_for(s, z), local_long(s, Europe::Berlin));
    }

    #[test]
    fn daylight_saving_changes_decide_whether_the_clocks_differ() {
        // Lagos keeps UTC+1 all year; Berlin is UTC+1 in winter, UTC+2 in summer.
        let z = zones(Europe::Berlin, Some(Africa::Lagos));
        let winter = at("2026-03-03T09:00:00Z");
        assert!(!z.provider_differs(&[winter]));
        assert_eq!(long_for(winter, z), "Tuesday 3 March 2026, 10:00 WAT");
        let summer = at("2026-07-01T08:00:00Z");
        assert_eq!(
            long_for(summer, z),
            "Wednesday 1 July 2026, 09:00 WAT (your provider's time: 10:00 CEST)"
        );
        // Berlin moves its clocks at 01:00 UTC on 29 March 2026: an
        // appointment across the change differs at its end only.
        let (s, e) = (at("2026-03-29T00:30:00Z"), at("2026-03-29T01:30:00Z"));
        assert_eq!(
            interval_for(s, e, z),
            "Sunday 29 March 2026, 01:30 WAT – 02:30 (your provider's time: 01:30 CET – 03:30)"
        );
        // New York moves on 8 March, Berlin on 29 March: five hours apart
        // before, four in between.
        let ny = zones(Europe::Berlin, Some(America::New_York));
        assert_eq!(
            long_for(at("2026-03-16T14:00:00Z"), ny),
            "Monday 16 March 2026, 10:00 EDT (your provider's time: 15:00 CET)"
        );
    }

    #[test]
    fn only_known_zone_names_count_as_a_persons_zone() {
        assert_eq!(own_zone(Some("America/New_York")), Some(America::New_York));
        assert_eq!(own_zone(Some(" Europe/Berlin ")), Some(Europe::Berlin));
        assert_eq!(own_zone(Some("Mars/Olympus")), None);
        assert_eq!(own_zone(Some("")), None);
        assert_eq!(own_zone(None), None);
    }

    #[test]
    fn money_uses_the_currencys_minor_unit() {
        let m = |amount_minor, currency: &str| Money {
            amount_minor,
            currency: currency.into(),
        };
        assert_eq!(money(&m(6000, "EUR")), "60.00 EUR");
        assert_eq!(money(&m(5, "USD")), "0.05 USD");
        assert_eq!(money(&m(5000, "JPY")), "5000 JPY");
        assert_eq!(money(&m(-1500, "KWD")), "-1.500 KWD");
    }

    #[test]
    fn clean_removes_line_breaks_and_bounds_length() {
        assert_eq!(clean("  Dr.\r\nEvil\tSmith  ", 100), "Dr. Evil Smith");
        assert_eq!(clean("Bcc: x@y\nSubject: hi", 100), "Bcc: x@y Subject: hi");
        assert_eq!(clean("abcdef", 3), "abc…");
    }

    proptest! {
        #[test]
        fn cleaned_text_has_no_control_characters(s in "\\PC*|[\\x00-\\x1f\\u{7f}-\\u{9f}a ]*") {
            let c = clean(&s, 50);
            prop_assert!(!c.chars().any(|c| c.is_control()));
            prop_assert!(c.chars().count() <= 51);
        }
    }
}
