//! Keyset pages: a list query fetches one row more than the page holds, so
//! whether another page follows is known without counting.

/// Cut `rows` (fetched with one more than `limit`) down to `limit`; the cursor
/// of the next page, made from the last row kept, if there is one.
pub fn next_page<R>(
    rows: &mut Vec<R>,
    limit: usize,
    cursor: impl FnOnce(&R) -> String,
) -> Option<String> {
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_more_than_the_page_means_another_page() {
        let mut rows = vec![1, 2, 3];
        assert_eq!(next_page(&mut rows, 2, |r| r.to_string()), Some("2".into()));
        assert_eq!(rows, [1, 2]);
        assert_eq!(next_page(&mut rows, 2, |r| r.to_string()), None);
    }
}
