//! How values appear in emails: times in the provider's zone and in UTC, money
//! in major units, and free text made safe for a subject line or a text body.

use chrono::{DateTime, Utc};
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

/// `Tuesday 3 March 2026, 10:00 CET` in the provider's zone.
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
