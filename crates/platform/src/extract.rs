//! Request extractors whose rejections are problem+json instead of axum's plain text.

use axum::{
    extract::{
        rejection::{JsonRejection, PathRejection, QueryRejection},
        FromRequest, FromRequestParts, Request,
    },
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{de::DeserializeOwned, Serialize};

use crate::problem::Problem;

/// A JSON body: malformed JSON is 400, a body of the wrong shape 422, a missing
/// `Content-Type: application/json` 415 and an oversized body 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_problem(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_problem(rejection: JsonRejection) -> Problem {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => Problem::malformed_json(serde_message(&e.body_text())),
        JsonRejection::JsonDataError(e) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
            "The body does not have the expected fields",
        )
        .with_detail(serde_message(&e.body_text())),
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Expected a JSON body",
        )
        .with_detail("Send the body with `Content-Type: application/json`."),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Request body too large",
        ),
        other => Problem::bad_request(other.body_text()),
    }
}

/// axum prefixes serde's message with its own words; keep serde's part, which
/// names the field and the position and never echoes the value.
fn serde_message(text: &str) -> String {
    text.rsplit_once(": ")
        .map(|(_, tail)| tail)
        .unwrap_or(text)
        .to_owned()
}

/// Path parameters: a malformed id is 400 (`invalid-path`), never a 500.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(path_problem(e)),
        }
    }
}

fn path_problem(e: PathRejection) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-path",
        "Invalid path parameter",
    )
    .with_detail(serde_message(&e.body_text()))
}

/// Query parameters: values of the wrong type are 400 (`invalid-query`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(query_problem(e)),
        }
    }
}

fn query_problem(e: QueryRejection) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-query",
        "Invalid query parameter",
    )
    .with_detail(serde_message(&e.body_text()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::header};

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        age: u8,
    }

    async fn extract(body: &str, content_type: Option<&str>) -> Result<Json<Login>, Problem> {
        let mut req = Request::builder().method("POST").uri("/");
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req.body(Body::from(body.to_owned())).unwrap();
        Json::<Login>::from_request(req, &()).await
    }

    #[tokio::test]
    async fn malformed_json_is_400() {
        let p = extract("{\"email\":", Some("application/json"))
            .await
            .unwrap_err();
        assert_eq!(
            (p.status, p.kind),
            (StatusCode::BAD_REQUEST, "malformed-json")
        );
    }

    #[tokio::test]
    async fn wrong_types_and_unknown_fields_are_422() {
        let p = extract(r#"{"email":"a@b.c","age":"old"}"#, Some("application/json"))
            .await
            .unwrap_err();
        assert_eq!(
            (p.status, p.kind),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid-body")
        );
        let p = extract(
            r#"{"email":"a@b.c","age":3,"admin":true}"#,
            Some("application/json"),
        )
        .await
        .unwrap_err();
        assert!(p.detail.unwrap().contains("unknown field `admin`"));
    }

    #[tokio::test]
    async fn missing_content_type_is_415() {
        let p = extract(r#"{"email":"a@b.c","age":3}"#, None)
            .await
            .unwrap_err();
        assert_eq!(p.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[tokio::test]
    async fn a_valid_body_is_extracted() {
        let Json(login) = extract(r#"{"email":"a@b.c","age":3}"#, Some("application/json"))
            .await
            .unwrap();
        assert_eq!(login.age, 3);
    }
}
