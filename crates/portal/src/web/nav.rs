//! Each role's navigation and landing page. Adding a role's pages means adding
//! its entries here.

use platform::auth::Role;

use crate::render::NavItem;

fn entries(role: Option<Role>) -> &'static [(&'static str, &'static str)] {
    match role {
        None => &[("/login", "Log in"), ("/register", "Register")],
        Some(Role::Patient) => &[
            ("/providers", "Find a provider"),
            ("/appointments", "My appointments"),
            ("/waitlist", "Waitlist"),
            ("/invoices", "Invoices"),
            ("/record", "My record"),
        ],
        Some(Role::Provider) => &[
            ("/schedule", "Schedule"),
            ("/patients", "Patients"),
            ("/availability", "Availability"),
        ],
        Some(Role::Staff) => &[
            ("/clinic", "Clinic day"),
            ("/bookings", "Book for a patient"),
            ("/waitlist", "Waitlist"),
            ("/billing", "Invoices"),
        ],
        Some(Role::Admin) => &[
            ("/admin/accounts", "Accounts"),
            ("/admin/users", "Create accounts"),
            ("/admin/break-glass", "Break-glass reviews"),
        ],
    }
}

/// Where a role lands after login.
pub fn home(role: Role) -> &'static str {
    match role {
        Role::Patient => "/appointments",
        Role::Provider => "/schedule",
        Role::Staff => "/clinic",
        Role::Admin => "/admin/users",
    }
}

pub fn items(role: Option<Role>, path: &str) -> Vec<NavItem> {
    let path = path.split('?').next().unwrap_or(path);
    entries(role)
        .iter()
        .map(|&(href, label)| NavItem {
            href,
            label,
            current: if href == "/" {
                path == "/"
            } else {
                path == href || path.starts_with(&format!("{href}/"))
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_section_is_marked() {
        let nav = items(Some(Role::Patient), "/appointments/018f?x=1");
        let current: Vec<&str> = nav.iter().filter(|n| n.current).map(|n| n.label).collect();
        assert_eq!(current, ["My appointments"]);
        assert!(items(Some(Role::Patient), "/providersx")
            .iter()
            .all(|n| !n.current));
    }

    #[test]
    fn every_role_lands_on_a_page_of_its_own_navigation() {
        for role in Role::ALL {
            let home = home(role);
            assert!(
                entries(Some(role)).iter().any(|(href, _)| *href == home),
                "{role:?}"
            );
        }
    }
}
