//! The AsyncAPI 3.0 document of Carebook's events, generated from the catalog:
//! a channel per routing key, a `send` operation for its producer, a `receive`
//! operation for each consumer, and every payload's JSON schema (draft-07, the
//! AsyncAPI default schema format). `docs/asyncapi.yaml` is this document; a
//! test keeps the committed file current.

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use crate::{EventSpec, CATALOG};

/// The exchange every event is published to (routing key = type).
pub const EXCHANGE: &str = "carebook.events";

const DESCRIPTION: &str = "\
Domain events between Carebook's services. Each service writes the events of a \
change into its transactional outbox, in the change's transaction; a relay \
publishes them to the topic exchange `carebook.events` with the event type as \
routing key and waits for the broker's confirm. Every consumer has its own \
durable quorum queue `<prefix>.<consumer>`, applies each event id once \
(`processed_events`, in the transaction of the effect), acknowledges after its \
commit and dead-letters what it can never apply to `<queue>.dlq`.\n\n\
Every message is the same envelope: `id` (UUIDv7), `type` (the routing key), \
`version` (of `data`'s shape), `occurred_at`, `source` (the producing service), \
`correlation_id` and `data`.\n\n\
Versioning: within a version a payload only grows by optional fields; any other \
change is a new version, published beside the old one until every consumer has \
moved. This document is generated from the `contracts` crate; do not edit it.";

/// The whole document.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft07();
    settings.definitions_path = "/components/schemas".into();
    let mut generator = settings.into_generator();

    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for spec in CATALOG {
        let channel = channel_id(spec.event_type);
        let message = message_id(spec);
        let data = (spec.payload_schema)(&mut generator);
        messages.insert(message.clone(), message_object(spec, data.to_value()));
        channels.insert(channel.clone(), channel_object(spec, &message));
        let message_ref = json!({"$ref": format!("#/channels/{channel}/messages/{message}")});
        let channel_ref = json!({"$ref": format!("#/channels/{channel}")});
        operations.insert(
            format!("{}Send{}", spec.producer.as_str(), pascal(spec.event_type)),
            json!({
                "action": "send",
                "channel": channel_ref,
                "messages": [message_ref],
                "title": format!("{} publishes {}", spec.producer.as_str(), spec.event_type),
                "summary": spec.summary,
                "tags": [{"name": spec.producer.as_str()}],
                "bindings": {"amqp": {"deliveryMode": 2, "mandatory": true, "bindingVersion": "0.3.0"}},
            }),
        );
        for consumer in spec.consumers() {
            operations.insert(
                format!("{}Receive{}", camel(consumer.name), pascal(spec.event_type)),
                json!({
                    "action": "receive",
                    "channel": channel_ref,
                    "messages": [message_ref],
                    "title": format!("{} consumes {}", consumer.name, spec.event_type),
                    "summary": consumer.purpose,
                    "tags": [{"name": consumer.service.as_str()}],
                    "bindings": {"amqp": {"ack": true, "bindingVersion": "0.3.0"}},
                }),
            );
        }
    }
    let schemas: Map<String, Value> = generator.take_definitions(true);

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Carebook domain events",
            "version": "1.0.0",
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "rabbitmq:5671",
                "protocol": "amqps",
                "description": "RabbitMQ; each service connects as its own user.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas,
        },
    })
}

fn channel_object(spec: &EventSpec, message: &str) -> Value {
    json!({
        "address": spec.event_type,
        "title": spec.event_type,
        "summary": spec.summary,
        "messages": {message: {"$ref": format!("#/components/messages/{message}")}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {"name": EXCHANGE, "type": "topic", "durable": true, "autoDelete": false, "vhost": "/"},
                "bindingVersion": "0.3.0",
            }
        },
    })
}

fn message_object(spec: &EventSpec, data: Value) -> Value {
    let example = json!({
        "id": "01938a2e-1111-7000-8000-000000000001",
        "type": spec.event_type,
        "version": spec.version,
        "occurred_at": "2026-03-03T08:00:00Z",
        "source": spec.producer.as_str(),
        "correlation_id": null,
        "data": (spec.example)(),
    });
    json!({
        "name": spec.event_type,
        "title": format!("{} v{}", spec.event_type, spec.version),
        "summary": spec.summary,
        "contentType": "application/json",
        "payload": envelope_schema(spec, data),
        "examples": [{"name": "example", "payload": example}],
    })
}

/// The envelope with this event's constants, `data` its payload schema.
fn envelope_schema(spec: &EventSpec, data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["id", "type", "version", "occurred_at", "source", "correlation_id", "data"],
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "UUIDv7: unique, ordered by creation."},
            "type": {"const": spec.event_type},
            "version": {"const": spec.version},
            "occurred_at": {"type": "string", "format": "date-time"},
            "source": {"const": spec.producer.as_str()},
            "correlation_id": {"type": ["string", "null"], "format": "uuid"},
            "data": data,
        },
    })
}

fn message_id(spec: &EventSpec) -> String {
    format!("{}V{}", camel(spec.event_type), spec.version)
}

fn channel_id(event_type: &str) -> String {
    camel(event_type)
}

/// `appointment.no_show` → `appointmentNoShow` (AsyncAPI ids allow no dots).
fn camel(s: &str) -> String {
    let p = pascal(s);
    let mut chars = p.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn pascal(s: &str) -> String {
    s.split(['.', '_'])
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_camel_case_without_dots() {
        assert_eq!(camel("appointment.no_show"), "appointmentNoShow");
        assert_eq!(pascal("billing.appointments"), "BillingAppointments");
        assert_eq!(camel(""), "");
    }

    #[test]
    fn every_event_has_a_channel_a_producer_and_its_consumers() {
        let doc = document();
        for spec in CATALOG {
            let channel = &doc["channels"][channel_id(spec.event_type)];
            assert_eq!(channel["address"], spec.event_type);
            let send = format!("{}Send{}", spec.producer.as_str(), pascal(spec.event_type));
            assert_eq!(doc["operations"][&send]["action"], "send", "{send}");
            for c in spec.consumers() {
                let op = format!("{}Receive{}", camel(c.name), pascal(spec.event_type));
                assert_eq!(doc["operations"][&op]["action"], "receive", "{op}");
            }
        }
        assert!(doc["components"]["schemas"]["Appointment"].is_object());
        assert!(doc["components"]["schemas"]["Money"].is_object());
    }
}
