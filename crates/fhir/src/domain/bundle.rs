//! Search results as a `searchset` Bundle: the matches, the total, and the
//! links to this page and the next (keyset: the next link carries an opaque
//! `_cursor`, never an offset into a list that may change).

use serde_json::{json, Value};

/// One page of a search.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub resources: Vec<Value>,
    /// Every match, when it was counted.
    pub total: Option<usize>,
    /// Where the next page starts.
    pub next_cursor: Option<String>,
}

/// The Bundle for `page` of a search of `resource_type` at `base` (the FHIR
/// base URL) with `params` applied. `summary_count` leaves the entries out.
pub fn searchset(
    base: &str,
    resource_type: &str,
    params: &[(String, String)],
    cursor: Option<&str>,
    page: Page,
    summary_count: bool,
) -> Value {
    let link = |cursor: Option<&str>| {
        let mut pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        if let Some(cursor) = cursor {
            pairs.push(("_cursor", cursor));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            format!("{base}/{resource_type}")
        } else {
            format!("{base}/{resource_type}?{query}")
        }
    };
    let mut links = vec![json!({"relation": "self", "url": link(cursor)})];
    if let (Some(next), false) = (page.next_cursor.as_deref(), summary_count) {
        links.push(json!({"relation": "next", "url": link(Some(next))}));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
    });
    if let Some(total) = page.total {
        bundle["total"] = json!(total);
    }
    if !summary_count {
        bundle["entry"] = page
            .resources
            .into_iter()
            .map(|resource| {
                let full_url = format!(
                    "{base}/{}/{}",
                    resource["resourceType"].as_str().unwrap_or(resource_type),
                    resource["id"].as_str().unwrap_or_default()
                );
                json!({"fullUrl": full_url, "resource": resource, "search": {"mode": "match"}})
            })
            .collect();
    }
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize, next: Option<&str>) -> Page {
        Page {
            resources: (0..n)
                .map(|i| json!({"resourceType": "Slot", "id": format!("s{i}")}))
                .collect(),
            total: Some(7),
            next_cursor: next.map(str::to_owned),
        }
    }

    #[test]
    fn a_page_links_itself_and_the_next_with_the_applied_parameters() {
        let params = vec![
            ("status".to_owned(), "free".to_owned()),
            ("_count".to_owned(), "2".to_owned()),
        ];
        let b = searchset(
            "https://c.test/fhir/R4",
            "Slot",
            &params,
            Some("abc"),
            page(2, Some("def")),
            false,
        );
        assert_eq!(b["total"], 7);
        assert_eq!(
            b["link"][0]["url"],
            "https://c.test/fhir/R4/Slot?status=free&_count=2&_cursor=abc"
        );
        assert_eq!(b["link"][1]["relation"], "next");
        assert_eq!(
            b["link"][1]["url"],
            "https://c.test/fhir/R4/Slot?status=free&_count=2&_cursor=def"
        );
        assert_eq!(b["entry"][1]["fullUrl"], "https://c.test/fhir/R4/Slot/s1");
        assert_eq!(b["entry"][1]["search"]["mode"], "match");
    }

    #[test]
    fn a_count_summary_has_the_total_and_no_entries() {
        let b = searchset(
            "https://c.test/fhir/R4",
            "Slot",
            &[],
            None,
            page(2, Some("x")),
            true,
        );
        assert_eq!(b["total"], 7);
        assert!(b.get("entry").is_none());
        assert_eq!(b["link"].as_array().unwrap().len(), 1);
        assert_eq!(b["link"][0]["url"], "https://c.test/fhir/R4/Slot");
    }
}
