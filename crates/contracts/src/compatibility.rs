//! Whether a payload's new JSON schema may keep its version: the versioning
//! rule as a pure function over two draft-07 schemas (the published snapshot
//! and today's).
//!
//! Within a version, old and new producers and consumers run side by side in
//! both directions, so the only allowed change is a new *optional* property.
//! Everything else — a property removed, a property made required or optional,
//! a type, format, enum or constant changed — breaks someone. Documentation
//! (`description`, `title`, `examples`) may change freely.

use serde_json::{Map, Value};

/// Keywords that describe but never constrain.
const ANNOTATIONS: &[&str] = &["description", "title", "examples", "$schema", "default"];

/// What breaks when `new` replaces `old`; empty when the change is additive
/// (or nothing changed). Each entry names the JSON path it concerns.
pub fn breaking_changes(old: &Value, new: &Value) -> Vec<String> {
    let mut found = Vec::new();
    compare(
        &Roots { old, new },
        old,
        new,
        "$",
        &mut found,
        &mut Vec::new(),
    );
    found
}

struct Roots<'a> {
    old: &'a Value,
    new: &'a Value,
}

/// The schema `s` points to, following a local `$ref` into its root's definitions.
fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .unwrap_or(s),
        None => s,
    }
}

fn compare(
    roots: &Roots,
    old: &Value,
    new: &Value,
    path: &str,
    found: &mut Vec<String>,
    seen: &mut Vec<(String, String)>,
) {
    // Recursive types: compare each pair of references once.
    if let (Some(a), Some(b)) = (
        old.get("$ref").and_then(Value::as_str),
        new.get("$ref").and_then(Value::as_str),
    ) {
        let pair = (a.to_owned(), b.to_owned());
        if seen.contains(&pair) {
            return;
        }
        seen.push(pair);
    }
    let (old, new) = (resolve(roots.old, old), resolve(roots.new, new));
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        if old != new {
            found.push(format!("{path}: schema changed"));
        }
        return;
    };
    compare_objects(roots, o, n, path, found, seen);
}

fn compare_objects(
    roots: &Roots,
    o: &Map<String, Value>,
    n: &Map<String, Value>,
    path: &str,
    found: &mut Vec<String>,
    seen: &mut Vec<(String, String)>,
) {
    let keywords = o.keys().chain(n.keys().filter(|k| !o.contains_key(*k)));
    for key in keywords {
        if ANNOTATIONS.contains(&key.as_str()) {
            continue;
        }
        match (key.as_str(), o.get(key), n.get(key)) {
            ("properties", Some(op), Some(np)) => {
                properties(roots, op, np, o, n, path, found, seen);
            }
            ("properties", Some(_), None) => found.push(format!("{path}: properties removed")),
            ("properties", None, Some(np)) => {
                // Properties appear on what was an open object: new ones must be optional.
                properties(roots, &Value::Null, np, o, n, path, found, seen);
            }
            ("required", ..) => {} // checked with the properties
            ("items" | "additionalProperties", Some(a), Some(b)) => {
                compare(roots, a, b, &format!("{path}.{key}"), found, seen)
            }
            ("anyOf" | "oneOf" | "allOf", Some(Value::Array(a)), Some(Value::Array(b)))
                if a.len() == b.len() =>
            {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    compare(roots, x, y, &format!("{path}.{key}[{i}]"), found, seen);
                }
            }
            ("$ref", ..) => {}                  // followed by `compare`
            ("definitions" | "$defs", ..) => {} // reached through references
            (_, a, b) if a == b => {}
            (_, a, b) => found.push(format!(
                "{path}: `{key}` changed from {} to {}",
                show(a),
                show(b)
            )),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn properties(
    roots: &Roots,
    old_props: &Value,
    new_props: &Value,
    o: &Map<String, Value>,
    n: &Map<String, Value>,
    path: &str,
    found: &mut Vec<String>,
    seen: &mut Vec<(String, String)>,
) {
    let required = |m: &Map<String, Value>, name: &str| {
        m.get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|v| v == name))
    };
    let empty = Map::new();
    let old_props = old_props.as_object().unwrap_or(&empty);
    let new_props = new_props.as_object().unwrap_or(&empty);
    for (name, old_schema) in old_props {
        let here = format!("{path}.{name}");
        match new_props.get(name) {
            None => found.push(format!("{here}: removed")),
            Some(new_schema) => {
                match (required(o, name), required(n, name)) {
                    (false, true) => found.push(format!("{here}: became required")),
                    (true, false) => found.push(format!("{here}: became optional")),
                    _ => {}
                }
                compare(roots, old_schema, new_schema, &here, found, seen);
            }
        }
    }
    for name in new_props.keys().filter(|k| !old_props.contains_key(*k)) {
        if required(n, name) {
            found.push(format!("{path}.{name}: added as required"));
        }
    }
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "nothing".to_owned(), Value::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(props: Value, required: &[&str]) -> Value {
        json!({"type": "object", "properties": props, "required": required})
    }

    fn base() -> Value {
        object(
            json!({"id": {"type": "string", "format": "uuid"}, "n": {"type": "integer"}}),
            &["id", "n"],
        )
    }

    #[test]
    fn the_same_schema_or_new_docs_break_nothing() {
        assert!(breaking_changes(&base(), &base()).is_empty());
        let mut documented = base();
        documented["description"] = json!("now with words");
        documented["properties"]["n"]["description"] = json!("a count");
        assert!(breaking_changes(&base(), &documented).is_empty());
    }

    #[test]
    fn a_new_optional_field_is_additive() {
        let mut new = base();
        new["properties"]["note"] = json!({"type": ["string", "null"]});
        assert!(breaking_changes(&base(), &new).is_empty());
    }

    #[test]
    fn a_new_required_field_breaks() {
        let new = object(
            json!({"id": {"type": "string", "format": "uuid"}, "n": {"type": "integer"}, "x": {"type": "string"}}),
            &["id", "n", "x"],
        );
        assert_eq!(breaking_changes(&base(), &new), ["$.x: added as required"]);
    }

    #[test]
    fn removing_renaming_or_retyping_a_field_breaks() {
        let removed = object(json!({"id": {"type": "string", "format": "uuid"}}), &["id"]);
        assert_eq!(breaking_changes(&base(), &removed), ["$.n: removed"]);
        let retyped = object(
            json!({"id": {"type": "string", "format": "uuid"}, "n": {"type": "string"}}),
            &["id", "n"],
        );
        assert_eq!(
            breaking_changes(&base(), &retyped),
            ["$.n: `type` changed from \"integer\" to \"string\""]
        );
        let optional = object(
            json!({"id": {"type": "string", "format": "uuid"}, "n": {"type": "integer"}}),
            &["id"],
        );
        assert_eq!(
            breaking_changes(&base(), &optional),
            ["$.n: became optional"]
        );
    }

    #[test]
    fn enum_values_added_or_removed_break() {
        let old = json!({"type": "string", "enum": ["a", "b"]});
        let new = json!({"type": "string", "enum": ["a", "b", "c"]});
        assert_eq!(breaking_changes(&old, &new).len(), 1);
    }

    #[test]
    fn references_are_followed_into_definitions() {
        let old = json!({
            "type": "object", "required": ["price"],
            "properties": {"price": {"$ref": "#/definitions/Money"}},
            "definitions": {"Money": object(json!({"amount_minor": {"type": "integer"}}), &["amount_minor"])}
        });
        let mut new = old.clone();
        new["definitions"]["Money"]["properties"]["amount_minor"]["type"] = json!("number");
        assert_eq!(
            breaking_changes(&old, &new),
            ["$.price.amount_minor: `type` changed from \"integer\" to \"number\""]
        );
    }

    #[test]
    fn self_referencing_definitions_terminate() {
        let tree = json!({
            "$ref": "#/definitions/Node",
            "definitions": {"Node": object(json!({"children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}}), &[])}
        });
        assert!(breaking_changes(&tree, &tree).is_empty());
    }
}
