//! Errors as FHIR says them: an OperationOutcome with an issue type
//! (`http://hl7.org/fhir/issue-type`) that matches the HTTP status.

use serde_json::{json, Value};

/// Where Carebook's own problem types are named, as in the REST API's
/// problem `type` (`…/problems/slot-taken`).
pub const PROBLEM_SYSTEM: &str = "https://carebook.dev/problems";

/// One failed request: its status and what to tell the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
    /// The REST problem's kind (`slot-taken`), when the API gave one.
    pub problem: Option<String>,
    pub diagnostics: String,
}

impl Outcome {
    pub fn new(status: u16, diagnostics: impl Into<String>) -> Self {
        Self {
            status,
            problem: None,
            diagnostics: diagnostics.into(),
        }
    }

    pub fn invalid(diagnostics: impl Into<String>) -> Self {
        Self::new(400, diagnostics)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(404, format!("{what} was not found"))
    }

    pub fn forbidden(diagnostics: impl Into<String>) -> Self {
        Self::new(403, diagnostics)
    }

    pub fn unprocessable(diagnostics: impl Into<String>) -> Self {
        Self::new(422, diagnostics)
    }

    pub fn with_problem(mut self, problem: impl Into<String>) -> Self {
        self.problem = Some(problem.into());
        self
    }

    /// The issue type for the status (FHIR's RESTful API page's table).
    pub fn issue_code(&self) -> &'static str {
        match self.status {
            400 => "invalid",
            401 => "login",
            403 => "forbidden",
            404 | 410 => "not-found",
            405 | 406 | 415 => "not-supported",
            409 | 412 => "conflict",
            413 => "too-costly",
            422 => "processing",
            429 => "throttled",
            503 | 504 => "transient",
            _ => "exception",
        }
    }

    pub fn to_json(&self) -> Value {
        let mut issue = json!({
            "severity": "error",
            "code": self.issue_code(),
            "diagnostics": self.diagnostics,
        });
        if let Some(problem) = &self.problem {
            issue["details"] = json!({
                "coding": [{"system": PROBLEM_SYSTEM, "code": problem}],
                "text": self.diagnostics,
            });
        }
        json!({"resourceType": "OperationOutcome", "issue": [issue]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_has_its_issue_type() {
        for (status, code) in [
            (400, "invalid"),
            (401, "login"),
            (403, "forbidden"),
            (404, "not-found"),
            (409, "conflict"),
            (422, "processing"),
            (429, "throttled"),
            (503, "transient"),
            (500, "exception"),
        ] {
            assert_eq!(Outcome::new(status, "x").issue_code(), code, "{status}");
        }
    }

    #[test]
    fn the_rest_problem_travels_as_a_coding() {
        let o = Outcome::new(409, "That time was just taken.").with_problem("slot-taken");
        let v = o.to_json();
        assert_eq!(v["resourceType"], "OperationOutcome");
        assert_eq!(v["issue"][0]["code"], "conflict");
        assert_eq!(v["issue"][0]["details"]["coding"][0]["code"], "slot-taken");
    }
}
