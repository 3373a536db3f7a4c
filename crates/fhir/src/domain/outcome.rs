//! Errors as FHIR says them: an OperationOutcome with an issue type
//! (`http://hl7.org/fhir/issue-type`) that matches the HTTP status.

use serde_json::{json, Value};

/// Where Carebook's own problem types are named, as in the REST API's
/// problem `type` (`…/problems/slot-taken`).
pub const PROBLEM_SYSTEM: &str = "https://carebook.dev/problems";
const _: () = assert!(
    platform::problem::PROBLEM_BASE.len() == PROBLEM_SYSTEM.len() + 1,
    "PROBLEM_SYSTEM is the REST API's PROBLEM_BASE without its slash"
);

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

    /// The API's problem+json answered with `status`: same status, its
    /// `detail` (written for clients) or `title`, its `type`'s kind as the
    /// problem code when it is one of ours.
    pub fn from_problem(status: u16, problem: &Value) -> Self {
        let detail = problem["detail"]
            .as_str()
            .or(problem["title"].as_str())
            .unwrap_or("The request was refused.");
        let outcome = Self::new(status, detail);
        match problem["type"]
            .as_str()
            .and_then(|t| t.strip_prefix(platform::problem::PROBLEM_BASE))
        {
            Some(kind) if !kind.is_empty() => outcome.with_problem(kind),
            _ => outcome,
        }
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
            502..=504 => "transient",
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
    fn a_problem_keeps_its_status_detail_and_kind() {
        let o = Outcome::from_problem(
            409,
            &json!({"type": "https://carebook.dev/problems/slot-taken", "title": "Slot taken", "status": 409, "detail": "Someone else just booked that time."}),
        );
        assert_eq!(o.status, 409);
        assert_eq!(o.problem.as_deref(), Some("slot-taken"));
        assert_eq!(o.diagnostics, "Someone else just booked that time.");
        let o = Outcome::from_problem(502, &Value::Null);
        assert_eq!(
            (o.status, o.problem.as_deref(), o.issue_code()),
            (502, None, "transient")
        );
        let foreign = Outcome::from_problem(
            400,
            &json!({"type": "https://other.test/x", "title": "Bad"}),
        );
        assert_eq!(
            (foreign.problem, foreign.diagnostics.as_str()),
            (None, "Bad")
        );
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
