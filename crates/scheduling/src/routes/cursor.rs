//! The opaque page cursor of scheduling's time-ordered lists (appointments,
//! time off): the `(start, id)` of the last item shown. Clients pass it back
//! unchanged; its encoding may change at any time.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Error;

pub fn encode(start: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", start.timestamp_micros()))
}

pub fn decode(c: &str) -> Result<(DateTime<Utc>, Uuid), Error> {
    let bad = || Error::invalid("cursor", "not a cursor from a previous page");
    let raw =
        String::from_utf8(URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?).map_err(|_| bad())?;
    let (micros, id) = raw.split_once('|').ok_or_else(bad)?;
    let start =
        DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok((start, id.parse().map_err(|_| bad())?))
}

/// Page size: `limit` if given and within 1–100, else `default`; a bad one is 422.
pub fn limit(limit: Option<i64>, default: i64) -> Result<i64, Error> {
    let limit = limit.unwrap_or(default);
    if (1..=100).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::invalid("limit", "between 1 and 100"))
    }
}

/// Cut a page fetched with one item more than `limit` down to `limit`; the
/// cursor of the next page, if there is one.
pub fn next_page<T>(
    items: &mut Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    platform::page::next_page(items, limit, |last| {
        let (start, id) = key(last);
        encode(start, id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let (start, id) = ("2026-05-01T09:00:00Z".parse().unwrap(), Uuid::now_v7());
        assert_eq!(decode(&encode(start, id)).unwrap(), (start, id));
        assert!(decode("not-a-cursor").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("x|y")).is_err());
    }

    #[test]
    fn a_page_with_one_item_more_continues_after_its_last() {
        let at = |m: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(m);
        let key = |n: &i64| (at(*n), Uuid::from_u128(*n as u128));
        let mut items = vec![1, 2, 3];
        let next = next_page(&mut items, 2, key);
        assert_eq!(items, [1, 2]);
        assert_eq!(decode(&next.unwrap()).unwrap(), key(&2));
        assert_eq!(next_page(&mut items, 2, key), None);
        assert!(limit(Some(0), 50).is_err() && limit(Some(101), 50).is_err());
        assert_eq!(limit(None, 50).unwrap(), 50);
    }
}
