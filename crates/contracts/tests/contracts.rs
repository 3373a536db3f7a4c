//! The contracts hold: every event round-trips, every payload's shape matches
//! the snapshot of its version (or changed only additively), and the committed
//! AsyncAPI document is the one the catalog generates.
//!
//! `CAREBOOK_BLESS=1 cargo test -p contracts` rewrites the snapshots of additive
//! changes and the AsyncAPI document; it refuses breaking changes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::{Path, PathBuf};

use contracts::{compatibility::breaking_changes, CATALOG};
use serde_json::Value;

fn bless() -> bool {
    std::env::var("CAREBOOK_BLESS").is_ok_and(|v| v == "1")
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[test]
fn every_event_round_trips_and_its_example_fits_its_schema() {
    for spec in CATALOG {
        let example = (spec.example)();
        assert!(
            example.is_object(),
            "{}: example is not an object",
            spec.event_type
        );
        let back = (spec.round_trip)(&example).unwrap();
        assert_eq!(back, example, "{} v{}", spec.event_type, spec.version);
        let schema = spec.schema();
        let validator = jsonschema::draft7::new(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&example)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", spec.event_type);
    }
}

#[test]
fn a_payload_missing_a_required_field_is_refused() {
    for spec in CATALOG {
        let mut example = (spec.example)();
        let first_required = spec.schema()["required"][0].as_str().map(str::to_owned);
        let (Some(field), Some(object)) = (first_required, example.as_object_mut()) else {
            continue;
        };
        object.remove(&field);
        assert!(
            (spec.round_trip)(&example).is_err(),
            "{} decoded without {field}",
            spec.event_type
        );
    }
}

#[test]
fn payload_shapes_match_their_published_versions() {
    let dir = crate_dir().join("schemas");
    let mut problems = Vec::new();
    for spec in CATALOG {
        let path = dir.join(format!("{}.v{}.json", spec.event_type, spec.version));
        let current = spec.schema();
        let text = serde_json::to_string_pretty(&current).unwrap() + "\n";
        let Ok(published) = std::fs::read_to_string(&path) else {
            if bless() {
                write(&path, &text);
            } else {
                problems.push(format!(
                    "{} v{}: no snapshot yet; run with CAREBOOK_BLESS=1 to publish it",
                    spec.event_type, spec.version
                ));
            }
            continue;
        };
        let published: Value = serde_json::from_str(&published).unwrap();
        if published == current {
            continue;
        }
        let breaking = breaking_changes(&published, &current);
        if !breaking.is_empty() {
            problems.push(format!(
                "{} v{} changed incompatibly ({}); publish it as v{} beside v{} instead",
                spec.event_type,
                spec.version,
                breaking.join("; "),
                spec.version + 1,
                spec.version
            ));
        } else if bless() {
            write(&path, &text);
        } else {
            problems.push(format!(
                "{} v{} gained optional fields; run with CAREBOOK_BLESS=1 to update its snapshot",
                spec.event_type, spec.version
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_committed_asyncapi_document_is_current() {
    let path = crate_dir().join("../../docs/asyncapi.yaml");
    let generated = format!(
        "# Generated from crates/contracts (CAREBOOK_BLESS=1 cargo test -p contracts); do not edit.\n{}",
        serde_norway::to_string(&contracts::asyncapi::document()).unwrap()
    );
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        if bless() {
            write(&path, &generated);
        } else {
            panic!("docs/asyncapi.yaml is stale: run `CAREBOOK_BLESS=1 cargo test -p contracts`");
        }
    }
}
