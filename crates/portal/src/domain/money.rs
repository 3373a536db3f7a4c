//! Amounts as people read them: "45.00 EUR", with the currency's own number
//! of decimals (ISO 4217: yen has none, dinars three).

use crate::api::models::Money;

fn decimals(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

pub fn format(m: &Money) -> String {
    let places = decimals(&m.currency);
    let sign = if m.amount_minor < 0 { "-" } else { "" };
    let abs = m.amount_minor.unsigned_abs();
    if places == 0 {
        return format!("{sign}{abs} {}", m.currency);
    }
    let unit = 10u64.pow(places);
    format!(
        "{sign}{}.{:0width$} {}",
        abs / unit,
        abs % unit,
        m.currency,
        width = places as usize
    )
}

/// An amount typed by a person ("45", "45.5", "45,50") in `currency`'s minor
/// units; `None` unless it is a positive number with at most the currency's
/// decimals.
pub fn parse_amount(text: &str, currency: &str) -> Option<i64> {
    let t = text.trim().replace(',', ".");
    let (whole, fraction) = t.split_once('.').unwrap_or((&t, ""));
    let places = decimals(currency) as usize;
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > places {
        return None;
    }
    let unit = 10i64.checked_pow(places as u32)?;
    let fraction = format!("{fraction:0<places$}");
    let minor = whole
        .parse::<i64>()
        .ok()?
        .checked_mul(unit)?
        .checked_add(if places == 0 {
            0
        } else {
            fraction.parse().ok()?
        })?;
    (minor > 0).then_some(minor)
}

/// An amount in minor units as an input's value ("45.00"), no currency.
pub fn input_value(m: &Money) -> String {
    let shown = format(m);
    shown
        .rsplit_once(' ')
        .map_or(shown.clone(), |(n, _)| n.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(amount_minor: i64, currency: &str) -> Money {
        Money {
            amount_minor,
            currency: currency.into(),
        }
    }

    #[test]
    fn amounts_use_the_currencys_decimals() {
        assert_eq!(format(&m(4500, "EUR")), "45.00 EUR");
        assert_eq!(format(&m(5, "USD")), "0.05 USD");
        assert_eq!(format(&m(-1250, "EUR")), "-12.50 EUR");
        assert_eq!(format(&m(4500, "JPY")), "4500 JPY");
        assert_eq!(format(&m(1234, "KWD")), "1.234 KWD");
        assert_eq!(format(&m(i64::MIN, "EUR")), "-92233720368547758.08 EUR");
    }

    #[test]
    fn typed_amounts_become_minor_units() {
        assert_eq!(parse_amount("45", "EUR"), Some(4500));
        assert_eq!(parse_amount(" 45.5 ", "EUR"), Some(4550));
        assert_eq!(parse_amount("45,05", "EUR"), Some(4505));
        assert_eq!(parse_amount("0.01", "USD"), Some(1));
        assert_eq!(parse_amount("1500", "JPY"), Some(1500));
        assert_eq!(parse_amount("1.234", "KWD"), Some(1234));
        for bad in [
            "",
            "0",
            "0.00",
            "-5",
            "4.555",
            "1e3",
            "abc",
            "1.5.0",
            "99999999999999999999",
        ] {
            assert_eq!(parse_amount(bad, "EUR"), None, "{bad:?}");
        }
        assert_eq!(parse_amount("1.5", "JPY"), None);
        assert_eq!(input_value(&m(4550, "EUR")), "45.50");
        assert_eq!(input_value(&m(1500, "JPY")), "1500");
    }
}
