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
}
