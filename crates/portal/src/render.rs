//! Pages: minijinja templates compiled into the binary (deployment needs no
//! template directory), every value HTML-escaped (`.html` templates
//! auto-escape), one base layout every page extends.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

/// A page's values for [`Pages::render`]: like minijinja's `context!`, with
/// every value serialized (our view structs derive `Serialize`).
#[macro_export]
macro_rules! page {
    ($($key:ident $(=> $value:expr)?),* $(,)?) => {
        ::minijinja::context! {
            $($key => ::minijinja::value::Serde($crate::page!(@value $key $(=> $value)?))),*
        }
    };
    (@value $key:ident => $value:expr) => { $value };
    (@value $key:ident) => { $key };
}

/// Every template, by name. A syntax error fails the start (and the tests).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("register.html", include_str!("../templates/register.html")),
    (
        "auth/totp_setup.html",
        include_str!("../templates/auth/totp_setup.html"),
    ),
    (
        "auth/code.html",
        include_str!("../templates/auth/code.html"),
    ),
    (
        "auth/enrol.html",
        include_str!("../templates/auth/enrol.html"),
    ),
    (
        "auth/recovery_codes.html",
        include_str!("../templates/auth/recovery_codes.html"),
    ),
    (
        "auth/check_email.html",
        include_str!("../templates/auth/check_email.html"),
    ),
    (
        "auth/verify_email.html",
        include_str!("../templates/auth/verify_email.html"),
    ),
    (
        "auth/verified.html",
        include_str!("../templates/auth/verified.html"),
    ),
    (
        "auth/password_reset.html",
        include_str!("../templates/auth/password_reset.html"),
    ),
    (
        "auth/password_reset_confirm.html",
        include_str!("../templates/auth/password_reset_confirm.html"),
    ),
    (
        "auth/password_reset_done.html",
        include_str!("../templates/auth/password_reset_done.html"),
    ),
    (
        "account/index.html",
        include_str!("../templates/account/index.html"),
    ),
    (
        "account/totp.html",
        include_str!("../templates/account/totp.html"),
    ),
    ("week.html", include_str!("../templates/week.html")),
    ("hold.html", include_str!("../templates/hold.html")),
    (
        "links/show.html",
        include_str!("../templates/links/show.html"),
    ),
    (
        "links/done.html",
        include_str!("../templates/links/done.html"),
    ),
    (
        "links/gone.html",
        include_str!("../templates/links/gone.html"),
    ),
    (
        "waitlist/mine.html",
        include_str!("../templates/waitlist/mine.html"),
    ),
    (
        "waitlist/clinic.html",
        include_str!("../templates/waitlist/clinic.html"),
    ),
    (
        "waitlist/join.html",
        include_str!("../templates/waitlist/join.html"),
    ),
    (
        "waitlist/offer.html",
        include_str!("../templates/waitlist/offer.html"),
    ),
    (
        "patient/providers.html",
        include_str!("../templates/patient/providers.html"),
    ),
    (
        "patient/provider.html",
        include_str!("../templates/patient/provider.html"),
    ),
    (
        "patient/book.html",
        include_str!("../templates/patient/book.html"),
    ),
    (
        "patient/appointments.html",
        include_str!("../templates/patient/appointments.html"),
    ),
    (
        "patient/appointment.html",
        include_str!("../templates/patient/appointment.html"),
    ),
    (
        "patient/reschedule.html",
        include_str!("../templates/patient/reschedule.html"),
    ),
    (
        "patient/invoices.html",
        include_str!("../templates/patient/invoices.html"),
    ),
    (
        "patient/invoice.html",
        include_str!("../templates/patient/invoice.html"),
    ),
    (
        "patient/record.html",
        include_str!("../templates/patient/record.html"),
    ),
    (
        "patient/access_log.html",
        include_str!("../templates/patient/access_log.html"),
    ),
    (
        "admin/users.html",
        include_str!("../templates/admin/users.html"),
    ),
    (
        "admin/accounts.html",
        include_str!("../templates/admin/accounts.html"),
    ),
    (
        "invoice_body.html",
        include_str!("../templates/invoice_body.html"),
    ),
    (
        "visits/row.html",
        include_str!("../templates/visits/row.html"),
    ),
    (
        "provider/tabs.html",
        include_str!("../templates/provider/tabs.html"),
    ),
    (
        "provider/day.html",
        include_str!("../templates/provider/day.html"),
    ),
    (
        "provider/week.html",
        include_str!("../templates/provider/week.html"),
    ),
    (
        "provider/patients.html",
        include_str!("../templates/provider/patients.html"),
    ),
    (
        "provider/chart.html",
        include_str!("../templates/provider/chart.html"),
    ),
    (
        "provider/break_glass.html",
        include_str!("../templates/provider/break_glass.html"),
    ),
    (
        "provider/access.html",
        include_str!("../templates/provider/access.html"),
    ),
    (
        "admin/break_glass.html",
        include_str!("../templates/admin/break_glass.html"),
    ),
    (
        "provider/entry_fields.html",
        include_str!("../templates/provider/entry_fields.html"),
    ),
    (
        "provider/entry_new.html",
        include_str!("../templates/provider/entry_new.html"),
    ),
    (
        "provider/entry.html",
        include_str!("../templates/provider/entry.html"),
    ),
    (
        "provider/availability.html",
        include_str!("../templates/provider/availability.html"),
    ),
    (
        "provider/conflicts.html",
        include_str!("../templates/provider/conflicts.html"),
    ),
    (
        "staff/series.html",
        include_str!("../templates/staff/series.html"),
    ),
    (
        "staff/day.html",
        include_str!("../templates/staff/day.html"),
    ),
    (
        "staff/appointment.html",
        include_str!("../templates/staff/appointment.html"),
    ),
    (
        "staff/reschedule.html",
        include_str!("../templates/staff/reschedule.html"),
    ),
    (
        "staff/book.html",
        include_str!("../templates/staff/book.html"),
    ),
    (
        "staff/book_week.html",
        include_str!("../templates/staff/book_week.html"),
    ),
    (
        "staff/invoices.html",
        include_str!("../templates/staff/invoices.html"),
    ),
    (
        "staff/invoice.html",
        include_str!("../templates/staff/invoice.html"),
    ),
];

/// The compiled templates.
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    /// Compile every template; `asset_version` busts browser caches of our static files.
    pub fn new(asset_version: &str) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        // A misspelt variable is an error in tests, not a silently empty page.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.add_global("asset_version", asset_version.to_owned());
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    /// Render template `name` with the layout's values and the page's own.
    pub fn render(
        &self,
        name: &str,
        layout: &Layout,
        page: Value,
    ) -> Result<String, minijinja::Error> {
        let ctx = minijinja::context! { layout => minijinja::value::Serde(layout), ..page };
        self.env.get_template(name)?.render(ctx)
    }

    /// [`Self::render`] as an HTML response; a template failure is a plain 500
    /// (logged without the page's data).
    pub fn respond(
        &self,
        status: StatusCode,
        name: &str,
        layout: &Layout,
        page: Value,
    ) -> Response {
        match self.render(name, layout, page) {
            Ok(html) => html_response(status, html),
            Err(e) => {
                tracing::error!(template = name, error = %e.kind(), "template failed");
                html_response(StatusCode::INTERNAL_SERVER_ERROR, FALLBACK_ERROR.to_owned())
            }
        }
    }
}

/// Shown if even the error page cannot be rendered.
const FALLBACK_ERROR: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error – Carebook</title></head><body><h1>Something went wrong</h1><p>Please try again in a moment.</p><p><a href=\"/\">Home</a></p></body></html>";

pub fn html_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response()
}

/// What the base layout shows around every page.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Layout {
    /// The session's CSRF token, for every form and for htmx (`hx-headers`).
    pub csrf: String,
    pub user: Option<UserView>,
    pub flash: Option<crate::session::Flash>,
    pub nav: Vec<NavItem>,
}

#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    pub name: String,
    /// `patient`, `provider`, `staff`, `admin`.
    pub role: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    /// This page is under the item (`aria-current="page"`).
    pub current: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        Pages::new("test").unwrap();
    }

    #[test]
    fn the_availability_page_lists_dates_and_time_off_with_their_forms() {
        use crate::{
            api::models::{DateOverride, TimeOffEntry, Window},
            domain::{availability, feedback::Feedback},
        };
        let pages = Pages::new("test").unwrap();
        let date = "2026-05-04".parse().unwrap();
        let o = DateOverride {
            date,
            windows: vec![Window {
                start: "09:00".into(),
                end: "12:00".into(),
            }],
        };
        let at = |s: &str| s.parse().unwrap();
        let t = TimeOffEntry {
            id: uuid::Uuid::nil(),
            start: at("2026-05-05T07:00:00Z"),
            end: at("2026-05-05T15:00:00Z"),
            reason: Some("<b>Conference</b>".into()),
        };
        let rows: Vec<(String, String, String, String)> = availability::override_fields()
            .into_iter()
            .map(|(s, e)| (String::new(), String::new(), s, e))
            .collect();
        let refused = Feedback::message("Please correct the highlighted fields.")
            .field("ov_1_start", "Overlaps 09:00–12:00 on that date.");
        let html = pages
            .render(
                "provider/availability.html",
                &Layout::default(),
                crate::page! {
                    days => availability::editor(&[]),
                    overrides => vec![availability::override_view(&o)],
                    time_off => vec![availability::time_off_view(&t, chrono_tz::Tz::UTC, at("2026-01-01T00:00:00Z"))],
                    override_rows => rows,
                    feedback => Feedback::default(),
                    off_feedback => Feedback::default(),
                    off_start => "", off_end => "", off_reason => "",
                    ov_feedback => refused,
                    ov_date => "2026-05-04",
                    today => "2026-05-01",
                    zone => "UTC",
                },
            )
            .unwrap();
        assert!(
            html.contains("Mon 4 May 2026</strong>: 09:00–12:00"),
            "{html}"
        );
        assert!(html.contains(r#"action="/availability/overrides/2026-05-04/delete""#));
        assert!(html.contains("Tue 5 May 2026, 07:00 UTC – Tue 5 May 2026, 15:00 UTC"));
        assert!(
            html.contains("&lt;b&gt;Conference"),
            "the reason is escaped"
        );
        assert!(html.contains(r#"id="f-ov_1_start-error">Overlaps 09:00–12:00 on that date."#));
    }

    #[test]
    fn values_are_escaped() {
        let pages = Pages::new("test").unwrap();
        let html = pages
            .render(
                "error.html",
                &Layout::default(),
                crate::page! { title => "<b>x</b>", message => "<script>alert(1)</script>" },
            )
            .unwrap();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"), "{html}");
    }
}
