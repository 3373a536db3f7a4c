//! A patient's editable details — date of birth, phone, address, insurance,
//! time zone — and what makes them valid. Name and email arrive from identity; the email
//! is identity's login and is not edited here.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    text::{self, limits},
    TimeZone, Violations,
};

/// A postal address. The same shape is accepted, stored and returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    /// State, province or county, where the country uses one.
    #[serde(default)]
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 (`DE`, `US`).
    pub country: String,
}

/// Insurance coverage, as billing needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Insurance {
    pub payer: String,
    pub member_id: String,
    #[serde(default)]
    pub group_number: Option<String>,
}

/// Details as submitted, before validation.
pub struct PatientInput<'a> {
    pub name: &'a str,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: Option<&'a str>,
    pub address: Option<&'a Address>,
    pub insurance: Option<&'a Insurance>,
    /// `None`: not in the request, the stored zone stays; `Some(None)` or an
    /// empty name: cleared; `Some(Some(name))`: set.
    pub time_zone: Option<Option<&'a str>>,
}

/// What an edit does to the patient's time zone. Unlike the other details it
/// is kept when a request leaves it out: the browser sets it at registration,
/// and an edit from a client that never showed it must not erase it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeZoneChange {
    Keep,
    Clear,
    Set(TimeZone),
}

impl TimeZoneChange {
    fn parse(raw: Option<Option<&str>>) -> Result<Self, super::time_zone::UnknownTimeZone> {
        match raw {
            None => Ok(Self::Keep),
            Some(name) => match name.map(str::trim).filter(|n| !n.is_empty()) {
                None => Ok(Self::Clear),
                Some(name) => TimeZone::parse(name).map(Self::Set),
            },
        }
    }
}

/// Valid patient details (`None` clears a field; the time zone says itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientDetails {
    pub name: String,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: Option<String>,
    pub address: Option<Address>,
    pub insurance: Option<Insurance>,
    pub time_zone: TimeZoneChange,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DateOfBirthError {
    #[error("must not be in the future")]
    InFuture,
    #[error("must be after 1900-01-01")]
    TooEarly,
}

/// Birth dates run from 1900 to today (in the clinic's notion of today).
pub fn check_date_of_birth(
    dob: NaiveDate,
    today: NaiveDate,
) -> Result<NaiveDate, DateOfBirthError> {
    if dob > today {
        return Err(DateOfBirthError::InFuture);
    }
    if dob < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) {
        return Err(DateOfBirthError::TooEarly);
    }
    Ok(dob)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("must be at most {MAX_PHONE_CHARS} characters")]
    TooLong,
    #[error("may contain only digits, spaces and + ( ) - . /, starting with +, ( or a digit")]
    Characters,
    #[error("must have between 5 and 15 digits")]
    Digits,
}

pub const MAX_PHONE_CHARS: usize = 32;

/// A phone number as people write it (`+49 30 1234-567`), at most 15 digits (E.164).
pub fn parse_phone(raw: &str) -> Result<String, PhoneError> {
    let phone = raw.trim();
    if phone.chars().count() > MAX_PHONE_CHARS {
        return Err(PhoneError::TooLong);
    }
    let allowed = |c: char| c.is_ascii_digit() || " +()-./".contains(c);
    let starts_well = phone.starts_with(|c: char| c == '+' || c == '(' || c.is_ascii_digit());
    if !phone.chars().all(allowed) || !starts_well || phone[1..].contains('+') {
        return Err(PhoneError::Characters);
    }
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if !(5..=15).contains(&digits) {
        return Err(PhoneError::Digits);
    }
    Ok(phone.to_owned())
}

fn parse_address(raw: &Address) -> Result<Address, Violations> {
    let mut v = Violations::new();
    let line1 = v.check("line1", text::required(&raw.line1, limits::ADDRESS_LINE));
    let line2 = v.check(
        "line2",
        text::optional(raw.line2.as_deref(), limits::ADDRESS_LINE),
    );
    let city = v.check("city", text::required(&raw.city, limits::CITY));
    let region = v.check(
        "region",
        text::optional(raw.region.as_deref(), limits::REGION),
    );
    let postal_code = v.check(
        "postal_code",
        text::required(&raw.postal_code, limits::POSTAL_CODE),
    );
    let country = raw.country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        v.add(
            "country",
            "must be a two-letter ISO 3166-1 country code such as DE or US",
        );
    }
    v.finish(|| {
        Some(Address {
            line1: line1?,
            line2: line2?,
            city: city?,
            region: region?,
            postal_code: postal_code?,
            country,
        })
    })
}

fn parse_insurance(raw: &Insurance) -> Result<Insurance, Violations> {
    let mut v = Violations::new();
    let payer = v.check("payer", text::required(&raw.payer, limits::PAYER));
    let member_id = v.check(
        "member_id",
        text::required(&raw.member_id, limits::MEMBER_ID),
    );
    let group_number = v.check(
        "group_number",
        text::optional(raw.group_number.as_deref(), limits::GROUP_NUMBER),
    );
    v.finish(|| {
        Some(Insurance {
            payer: payer?,
            member_id: member_id?,
            group_number: group_number?,
        })
    })
}

impl PatientDetails {
    /// Validate every field against `today`; all invalid fields are reported together.
    pub fn parse(input: &PatientInput<'_>, today: NaiveDate) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let name = v.check("name", text::required(input.name, limits::NAME));
        let date_of_birth = match input.date_of_birth {
            None => Some(None),
            Some(d) => v
                .check("date_of_birth", check_date_of_birth(d, today))
                .map(Some),
        };
        let phone = match input.phone.map(str::trim).filter(|p| !p.is_empty()) {
            None => Some(None),
            Some(p) => v.check("phone", parse_phone(p)).map(Some),
        };
        let address = match input.address.map(parse_address).transpose() {
            Ok(a) => Some(a),
            Err(inner) => {
                v.nest("address", inner);
                None
            }
        };
        let insurance = match input.insurance.map(parse_insurance).transpose() {
            Ok(i) => Some(i),
            Err(inner) => {
                v.nest("insurance", inner);
                None
            }
        };
        let time_zone = v.check("time_zone", TimeZoneChange::parse(input.time_zone));
        v.finish(|| {
            Some(Self {
                name: name?,
                date_of_birth: date_of_birth?,
                phone: phone?,
                address: address?,
                insurance: insurance?,
                time_zone: time_zone?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn birth_dates_are_not_in_the_future() {
        let today = date("2026-03-01");
        assert_eq!(check_date_of_birth(today, today), Ok(today));
        assert_eq!(
            check_date_of_birth(date("2026-03-02"), today),
            Err(DateOfBirthError::InFuture)
        );
        assert_eq!(
            check_date_of_birth(date("1899-12-31"), today),
            Err(DateOfBirthError::TooEarly)
        );
        assert!(check_date_of_birth(date("1900-01-01"), today).is_ok());
    }

    #[test]
    fn phones_are_written_like_people_write_them() {
        for ok in [
            "+49 30 1234-567",
            "(212) 555-0142",
            "030/123456",
            "+1.212.555.0142",
        ] {
            assert_eq!(parse_phone(ok).unwrap(), ok);
        }
        assert_eq!(parse_phone("call me"), Err(PhoneError::Characters));
        assert_eq!(parse_phone("+49+30"), Err(PhoneError::Characters));
        assert_eq!(parse_phone("-123456"), Err(PhoneError::Characters));
        assert_eq!(parse_phone("1234"), Err(PhoneError::Digits));
        assert_eq!(parse_phone("1234567890123456"), Err(PhoneError::Digits));
        assert_eq!(parse_phone(&"1".repeat(40)), Err(PhoneError::TooLong));
    }

    fn address() -> Address {
        Address {
            line1: " Hauptstraße 1 ".into(),
            line2: Some("  ".into()),
            city: "Berlin".into(),
            region: None,
            postal_code: "10115".into(),
            country: "de".into(),
        }
    }

    #[test]
    fn details_are_normalized() {
        let addr = address();
        let ins = Insurance {
            payer: "TK".into(),
            member_id: "A1".into(),
            group_number: Some("".into()),
        };
        let d = PatientDetails::parse(
            &PatientInput {
                name: " Paula ",
                date_of_birth: Some(date("1990-01-01")),
                phone: Some("  "),
                address: Some(&addr),
                insurance: Some(&ins),
                time_zone: Some(Some(" America/New_York ")),
            },
            date("2026-01-01"),
        )
        .unwrap();
        assert_eq!(d.name, "Paula");
        assert_eq!(d.phone, None);
        let a = d.address.unwrap();
        assert_eq!(
            (a.line1.as_str(), a.line2, a.country.as_str()),
            ("Hauptstraße 1", None, "DE")
        );
        assert_eq!(d.insurance.unwrap().group_number, None);
        assert_eq!(
            d.time_zone,
            TimeZoneChange::Set(TimeZone::parse("America/New_York").unwrap())
        );
    }

    #[test]
    fn an_omitted_time_zone_is_kept_and_null_or_empty_clears_it() {
        let parse = |time_zone| {
            PatientDetails::parse(
                &PatientInput {
                    name: "Paula",
                    date_of_birth: None,
                    phone: None,
                    address: None,
                    insurance: None,
                    time_zone,
                },
                date("2026-01-01"),
            )
            .map(|d| d.time_zone)
        };
        assert_eq!(parse(None), Ok(TimeZoneChange::Keep));
        assert_eq!(parse(Some(None)), Ok(TimeZoneChange::Clear));
        assert_eq!(parse(Some(Some("  "))), Ok(TimeZoneChange::Clear));
        let fields: Vec<_> = parse(Some(Some("Mars/Olympus_Mons")))
            .unwrap_err()
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, ["time_zone"]);
    }

    #[test]
    fn nested_fields_are_reported_with_their_path() {
        let mut addr = address();
        addr.city = "x".repeat(limits::CITY + 1);
        addr.country = "Germany".into();
        let err = PatientDetails::parse(
            &PatientInput {
                name: "",
                date_of_birth: Some(date("2030-01-01")),
                phone: Some("nope"),
                address: Some(&addr),
                insurance: None,
                time_zone: Some(Some("CEST")),
            },
            date("2026-01-01"),
        )
        .unwrap_err();
        let fields: Vec<_> = err.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "date_of_birth",
                "phone",
                "address.city",
                "address.country",
                "time_zone"
            ]
        );
    }
}
