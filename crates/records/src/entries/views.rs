//! An entry's versions as clients see them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::entries::{EntryData, Kind, Note, Status};

/// One version of an entry as clients see it: the kind's fields plus who wrote
/// this version and when.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    pub id: Uuid,
    pub kind: Kind,
    pub version: i32,
    pub status: Status,
    /// Who wrote this version.
    pub author_id: Uuid,
    /// When this version was written.
    pub created_at: DateTime<Utc>,
    /// Why the entry was marked entered in error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    #[serde(flatten)]
    #[schema(schema_with = flattened_entry_data)]
    pub data: EntryData,
}

/// The kind's fields as they appear flattened into [`EntryView`]: one branch per
/// kind, told apart by `kind`, each without the request schemas'
/// `additionalProperties: false` (the view adds `id`, `version` and the rest).
fn flattened_entry_data() -> utoipa::openapi::schema::Schema {
    use utoipa::{
        openapi::{
            schema::{ObjectBuilder, OneOfBuilder, Schema, Type},
            RefOr,
        },
        PartialSchema,
    };

    use crate::domain::entries::{Allergy, Diagnosis, Encounter, Medication, Vitals};
    let branches: [(Kind, RefOr<Schema>); 6] = [
        (Kind::Encounter, Encounter::schema()),
        (Kind::Note, Note::schema()),
        (Kind::Diagnosis, Diagnosis::schema()),
        (Kind::Allergy, Allergy::schema()),
        (Kind::Medication, Medication::schema()),
        (Kind::Vitals, Vitals::schema()),
    ];
    let mut one_of = OneOfBuilder::new();
    for (kind, schema) in branches {
        let RefOr::T(Schema::Object(mut object)) = schema else {
            continue;
        };
        object.additional_properties = None;
        object.properties.insert(
            "kind".to_owned(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([kind.as_str()]))
                .into(),
        );
        object.required.push("kind".to_owned());
        one_of = one_of.item(Schema::Object(object));
    }
    Schema::OneOf(one_of.build())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryList {
    pub items: Vec<EntryView>,
    pub next_cursor: Option<String>,
}
