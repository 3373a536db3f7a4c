//! Search parameters as FHIR sends them: repeated names, date prefixes,
//! `_count`, `_summary`. Unknown parameters are ignored (FHIR's lenient
//! default) and left out of the Bundle's `self` link, which lists only what
//! was applied.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// The most a page holds, and what it holds when `_count` is not given.
pub const MAX_COUNT: usize = 100;
pub const DEFAULT_COUNT: usize = 20;

/// A search's parameters in the order they came.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Result<Self, String> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
            .map(Self)
            .map_err(|_| "the query string is not valid form encoding".to_owned())
    }

    /// Every value of `name` (comma-separated values count one by one).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The one value of `name`; several are refused (we do not OR them).
    pub fn one(&self, name: &str) -> Result<Option<&str>, String> {
        match self.all(name).as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(format!("`{name}` takes one value here")),
        }
    }

    /// `_count`: 1–100, default 20.
    pub fn count(&self) -> Result<usize, String> {
        match self.one("_count")? {
            None => Ok(DEFAULT_COUNT),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_COUNT).contains(&n) => Ok(n),
                _ => Err(format!(
                    "`_count` must be a whole number from 1 to {MAX_COUNT}"
                )),
            },
        }
    }

    /// `_summary=count` asks for the total only.
    pub fn summary_count(&self) -> Result<bool, String> {
        match self.one("_summary")? {
            None | Some("false") => Ok(false),
            Some("count") => Ok(true),
            Some(other) => Err(format!(
                "`_summary={other}` is not supported (only `count`)"
            )),
        }
    }

    pub fn cursor(&self) -> Option<&str> {
        self.one("_cursor").ok().flatten()
    }

    /// The parameters among `applied` (in request order), for the `self` link.
    pub fn applied(&self, applied: &[&str]) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(n, _)| applied.contains(&n.as_str()) || n == "_count" || n == "_summary")
            .cloned()
            .collect()
    }
}

/// A time range `[from, to)`, either end open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Range {
    /// Narrow by one `date`-type value (`ge2027-03-01`, `lt2027-03-08T09:00:00Z`, `2027-03-01`).
    /// A date means the whole UTC day; a dateTime the instant.
    pub fn narrow(self, value: &str) -> Result<Self, String> {
        let (prefix, rest) = match value.get(..2) {
            Some(p @ ("eq" | "ge" | "gt" | "le" | "lt")) => (p, &value[2..]),
            Some(p @ ("ne" | "sa" | "eb" | "ap")) => {
                return Err(format!("the date prefix `{p}` is not supported"))
            }
            _ => ("eq", value),
        };
        let (low, high) = bounds(rest).ok_or_else(|| {
            format!("`{value}` is not a FHIR date (`2027-03-01`) or dateTime with a zone")
        })?;
        let mut range = self;
        let later = |a: Option<DateTime<Utc>>, b| Some(a.map_or(b, |a: DateTime<Utc>| a.max(b)));
        let earlier = |a: Option<DateTime<Utc>>, b| Some(a.map_or(b, |a: DateTime<Utc>| a.min(b)));
        match prefix {
            "ge" => range.from = later(range.from, low),
            "gt" => range.from = later(range.from, high),
            "lt" => range.to = earlier(range.to, low),
            "le" => range.to = earlier(range.to, high),
            _ => {
                range.from = later(range.from, low);
                range.to = earlier(range.to, high);
            }
        }
        Ok(range)
    }

    /// Every value given, narrowed in turn.
    pub fn of(values: &[&str]) -> Result<Self, String> {
        values.iter().try_fold(Self::default(), |r, v| r.narrow(v))
    }

    pub fn is_empty(&self) -> bool {
        matches!((self.from, self.to), (Some(f), Some(t)) if f >= t)
    }
}

/// The instants a date or dateTime spans: `[low, high)`.
fn bounds(text: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let low = day.and_hms_opt(0, 0, 0)?.and_utc();
        return Some((low, low + Duration::days(1)));
    }
    let at = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    Some((at, at + Duration::seconds(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_bound_the_range_as_fhir_reads_them() {
        let r = Range::of(&["ge2027-03-01", "lt2027-03-08"]).unwrap();
        assert_eq!(r.from, Some(t("2027-03-01T00:00:00Z")));
        assert_eq!(r.to, Some(t("2027-03-08T00:00:00Z")));
        let r = Range::of(&["le2027-03-07"]).unwrap();
        assert_eq!(r.to, Some(t("2027-03-08T00:00:00Z")));
        let r = Range::of(&["gt2027-03-07"]).unwrap();
        assert_eq!(r.from, Some(t("2027-03-08T00:00:00Z")));
        let r = Range::of(&["2027-03-07"]).unwrap();
        assert_eq!(
            (r.from, r.to),
            (
                Some(t("2027-03-07T00:00:00Z")),
                Some(t("2027-03-08T00:00:00Z"))
            )
        );
        let r = Range::of(&["ge2027-03-07T09:30:00+01:00"]).unwrap();
        assert_eq!(r.from, Some(t("2027-03-07T08:30:00Z")));
    }

    #[test]
    fn two_lower_bounds_keep_the_later() {
        let r = Range::of(&["ge2027-03-01", "ge2027-03-05"]).unwrap();
        assert_eq!(r.from, Some(t("2027-03-05T00:00:00Z")));
        assert!(Range::of(&["ge2027-03-05", "lt2027-03-01"])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn what_is_not_a_date_is_refused() {
        for bad in [
            "ge",
            "2027-13-01",
            "ap2027-03-01",
            "ge2027-03-01T09:00",
            "tomorrow",
        ] {
            assert!(Range::of(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn count_and_summary_are_checked() {
        let p = |q: &str| Params::parse(Some(q)).unwrap();
        assert_eq!(p("").count(), Ok(DEFAULT_COUNT));
        assert_eq!(p("_count=5").count(), Ok(5));
        assert!(p("_count=0").count().is_err());
        assert!(p("_count=101").count().is_err());
        assert!(p("_count=x").count().is_err());
        assert_eq!(p("_summary=count").summary_count(), Ok(true));
        assert!(p("_summary=text").summary_count().is_err());
    }

    #[test]
    fn repeated_and_comma_separated_values_are_listed() {
        let p = Params::parse(Some("status=booked,cancelled&status=noshow&x=1")).unwrap();
        assert_eq!(p.all("status"), ["booked", "cancelled", "noshow"]);
        assert!(p.one("status").is_err());
        assert_eq!(
            p.applied(&["status"]),
            vec![
                ("status".to_owned(), "booked,cancelled".to_owned()),
                ("status".to_owned(), "noshow".to_owned())
            ]
        );
    }
}
