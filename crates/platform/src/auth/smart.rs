//! SMART on FHIR scopes (v2 style, v1 accepted): the vocabulary access tokens
//! carry in their `scope` claim, what a role is granted ([`scopes_for`], the
//! one place that decides it), and whether a set of scopes permits an
//! interaction with a resource type ([`Scopes::permits`]), which the FHIR
//! routes check. Pure: no I/O, no clock.

use std::fmt;

use super::Role;

/// A FHIR interaction a scope may grant; SMART v2 writes them as `c r u d s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interaction {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Interaction {
    /// In SMART v2 order (`c r u d s`), the only order the letters may appear in.
    pub const ALL: [Interaction; 5] = [
        Interaction::Create,
        Interaction::Read,
        Interaction::Update,
        Interaction::Delete,
        Interaction::Search,
    ];

    /// The SMART v2 letter.
    pub fn letter(self) -> char {
        match self {
            Interaction::Create => 'c',
            Interaction::Read => 'r',
            Interaction::Update => 'u',
            Interaction::Delete => 'd',
            Interaction::Search => 's',
        }
    }

    fn from_letter(letter: char) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.letter() == letter)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`Interaction`]s; displays as its SMART v2 letters (`rs`, `cruds`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Interactions(u8);

impl Interactions {
    pub const NONE: Interactions = Interactions(0);
    /// `cruds` (v1 `*`).
    pub const ALL: Interactions = Interactions(0b1_1111);
    /// `rs` (v1 `read`).
    pub const READ: Interactions = Interactions(0b1_0010);
    /// `cud` (v1 `write`).
    pub const WRITE: Interactions = Interactions(0b0_1101);

    pub fn contains(self, interaction: Interaction) -> bool {
        self.0 & interaction.bit() != 0
    }

    pub fn with(self, interaction: Interaction) -> Self {
        Self(self.0 | interaction.bit())
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in SMART v2 order.
    pub fn iter(self) -> impl Iterator<Item = Interaction> {
        Interaction::ALL
            .into_iter()
            .filter(move |i| self.contains(*i))
    }

    /// SMART v2 letters: non-empty, each at most once, in the order `c r u d s`.
    fn parse_v2(letters: &str) -> Option<Self> {
        let mut set = Self::NONE;
        let mut last: Option<Interaction> = None;
        for letter in letters.chars() {
            let i = Interaction::from_letter(letter)?;
            if last.is_some_and(|l| l >= i) {
                return None;
            }
            set = set.with(i);
            last = Some(i);
        }
        (!set.is_empty()).then_some(set)
    }
}

impl FromIterator<Interaction> for Interactions {
    fn from_iter<T: IntoIterator<Item = Interaction>>(iter: T) -> Self {
        iter.into_iter().fold(Self::NONE, Self::with)
    }
}

impl fmt::Display for Interactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.iter().try_for_each(|i| write!(f, "{}", i.letter()))
    }
}

impl fmt::Debug for Interactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interactions({self})")
    }
}

/// Whose data a scope reaches: the patient in context (`patient/`), whatever
/// the user may see (`user/`), or a backend client's (`system/`). Ordered from
/// the narrowest to the widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    Patient,
    User,
    System,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(Context::Patient),
            "user" => Some(Context::User),
            "system" => Some(Context::System),
            _ => None,
        }
    }
}

/// The FHIR resource type a scope names: every type (`*`) or one of them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Any,
    /// A resource type name as FHIR spells it (`Observation`): an ASCII
    /// capital letter, then ASCII letters and digits.
    Named(String),
}

impl Resource {
    pub fn matches(&self, resource: &str) -> bool {
        match self {
            Resource::Any => true,
            Resource::Named(name) => name == resource,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        if s == "*" {
            return Some(Resource::Any);
        }
        let mut chars = s.chars();
        let first = chars.next()?;
        (first.is_ascii_uppercase() && chars.all(|c| c.is_ascii_alphanumeric()))
            .then(|| Resource::Named(s.to_owned()))
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Any => f.write_str("*"),
            Resource::Named(name) => f.write_str(name),
        }
    }
}

/// One resource scope, such as `patient/Observation.rs`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub context: Context,
    pub resource: Resource,
    /// Never empty.
    pub interactions: Interactions,
}

impl Scope {
    /// A SMART v2 scope (`patient/Observation.rs`, `user/*.cruds`) or a v1 one
    /// (`.read` = `rs`, `.write` = `cud`, `.*` = `cruds`); anything else,
    /// including v2 letters out of order, repeated or absent and the v2
    /// granular form (`?category=…`), is `None`: an unknown scope grants nothing.
    pub fn parse(s: &str) -> Option<Scope> {
        let (context, rest) = s.split_once('/')?;
        let (resource, permissions) = rest.split_once('.')?;
        let interactions = match permissions {
            "read" => Interactions::READ,
            "write" => Interactions::WRITE,
            "*" => Interactions::ALL,
            letters => Interactions::parse_v2(letters)?,
        };
        Some(Scope {
            context: Context::parse(context)?,
            resource: Resource::parse(resource)?,
            interactions,
        })
    }

    /// Whether this scope grants `interaction` on resources of type `resource`.
    pub fn permits(&self, resource: &str, interaction: Interaction) -> bool {
        self.resource.matches(resource) && self.interactions.contains(interaction)
    }
}

/// The SMART v2 form.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}.{}",
            self.context.as_str(),
            self.resource,
            self.interactions
        )
    }
}

/// The scopes of a token's `scope` claim (space-separated). Resource scopes
/// are parsed; every other token (`openid`, `fhirUser`, `launch/patient`,
/// `offline_access`, a malformed scope) is kept as it came and grants nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes {
    resources: Vec<Scope>,
    other: Vec<String>,
}

impl Scopes {
    pub fn parse(s: &str) -> Self {
        let mut scopes = Self::default();
        for token in s.split_ascii_whitespace() {
            match Scope::parse(token) {
                Some(scope) => scopes.resources.push(scope),
                None => scopes.other.push(token.to_owned()),
            }
        }
        scopes
    }

    /// The resource scopes, in the claim's order.
    pub fn resources(&self) -> &[Scope] {
        &self.resources
    }

    /// The tokens that are not resource scopes, in the claim's order.
    pub fn other(&self) -> &[String] {
        &self.other
    }

    /// Whether the claim held `token` verbatim among its other tokens
    /// (`openid`, `launch/patient`, …).
    pub fn has_other(&self, token: &str) -> bool {
        self.other.iter().any(|t| t == token)
    }

    /// Whether some scope grants `interaction` on resources of type `resource`.
    pub fn permits(&self, resource: &str, interaction: Interaction) -> bool {
        self.granting(resource, interaction).is_some()
    }

    /// The widest context among the scopes granting `interaction` on
    /// `resource`, or `None` when none does. `Some(Context::Patient)` means
    /// the access is limited to the patient in context.
    pub fn granting(&self, resource: &str, interaction: Interaction) -> Option<Context> {
        self.resources
            .iter()
            .filter(|s| s.permits(resource, interaction))
            .map(|s| s.context)
            .max()
    }

    /// True when the token grants something and only through `patient/`
    /// scopes: everything it reaches is the patient in context's.
    pub fn patient_context(&self) -> bool {
        !self.resources.is_empty() && self.resources.iter().all(|s| s.context == Context::Patient)
    }
}

const IDENTITY: [&str; 2] = ["openid", "fhirUser"];

/// A patient reads everything in their own compartment and books, moves and
/// cancels (a status update) their own appointments.
const PATIENT: &[&str] = &["launch/patient", "patient/*.rs", "patient/Appointment.cu"];

/// A provider reads what the user-level access rules let them see and manages
/// appointments.
const PROVIDER: &[&str] = &["user/*.rs", "user/Appointment.cu"];

/// Staff run the schedule and the front desk; they never read clinical content.
const STAFF: &[&str] = &[
    "user/Practitioner.rs",
    "user/PractitionerRole.rs",
    "user/Schedule.rs",
    "user/Slot.rs",
    "user/Appointment.cruds",
    "user/Patient.rs",
];

/// Admins: what staff have, and the audit trail.
const ADMIN_EXTRA: &[&str] = &["user/AuditEvent.rs"];

/// Every scope the server may grant (a token's scopes are always among them),
/// for `scopes_supported` in `/.well-known/smart-configuration`.
pub const SUPPORTED: &[&str] = &[
    "openid",
    "fhirUser",
    "launch/patient",
    "patient/*.rs",
    "patient/Appointment.cu",
    "user/*.rs",
    "user/Appointment.cu",
    "user/Practitioner.rs",
    "user/PractitionerRole.rs",
    "user/Schedule.rs",
    "user/Slot.rs",
    "user/Appointment.cruds",
    "user/Patient.rs",
    "user/AuditEvent.rs",
];

/// The scopes a role's access tokens carry (space-separated, in a stable
/// order): the one place deciding them. The FHIR routes check these; each
/// service still applies its own access rules behind them.
pub fn scopes_for(role: Role) -> String {
    let granted: Vec<&str> = match role {
        Role::Patient => PATIENT.to_vec(),
        Role::Provider => PROVIDER.to_vec(),
        Role::Staff => STAFF.to_vec(),
        Role::Admin => [STAFF, ADMIN_EXTRA].concat(),
    };
    IDENTITY
        .iter()
        .chain(&granted)
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use Interaction::*;

    fn of(role: Role) -> Scopes {
        Scopes::parse(&scopes_for(role))
    }

    #[test]
    fn roles_get_the_documented_scopes() {
        assert_eq!(
            scopes_for(Role::Patient),
            "openid fhirUser launch/patient patient/*.rs patient/Appointment.cu"
        );
        assert_eq!(
            scopes_for(Role::Provider),
            "openid fhirUser user/*.rs user/Appointment.cu"
        );
        assert_eq!(
            scopes_for(Role::Staff),
            "openid fhirUser user/Practitioner.rs user/PractitionerRole.rs user/Schedule.rs \
             user/Slot.rs user/Appointment.cruds user/Patient.rs"
        );
        assert_eq!(
            scopes_for(Role::Admin),
            format!("{} user/AuditEvent.rs", scopes_for(Role::Staff))
        );
    }

    #[test]
    fn patients_read_their_compartment_and_book_but_never_delete() {
        let p = of(Role::Patient);
        assert!(p.permits("Patient", Read));
        assert!(p.permits("Slot", Search));
        assert!(p.permits("Observation", Search));
        assert!(p.permits("Appointment", Create));
        assert!(p.permits("Appointment", Update));
        assert!(!p.permits("Appointment", Delete));
        assert!(!p.permits("Patient", Update));
        assert!(!p.permits("Observation", Create));
        assert!(p.patient_context());
        assert_eq!(p.granting("Slot", Search), Some(Context::Patient));
        assert!(p.has_other("launch/patient"));
    }

    #[test]
    fn staff_never_read_clinical_content() {
        for role in [Role::Staff, Role::Admin] {
            let s = of(role);
            for clinical in [
                "AllergyIntolerance",
                "Observation",
                "Condition",
                "MedicationRequest",
                "DocumentReference",
            ] {
                assert!(!s.permits(clinical, Read), "{role:?} {clinical}");
                assert!(!s.permits(clinical, Search), "{role:?} {clinical}");
            }
            assert!(s.permits("Appointment", Delete));
            assert!(s.permits("Slot", Search));
            assert!(s.permits("Patient", Read));
            assert!(!s.permits("Patient", Update));
            assert!(!s.patient_context());
        }
        assert!(!of(Role::Staff).permits("AuditEvent", Search));
        assert!(of(Role::Admin).permits("AuditEvent", Search));
    }

    #[test]
    fn providers_read_what_their_user_sees() {
        let d = of(Role::Provider);
        assert!(d.permits("Observation", Search));
        assert!(d.permits("AllergyIntolerance", Read));
        assert!(d.permits("Appointment", Update));
        assert!(!d.permits("Appointment", Delete));
        assert!(!d.permits("Observation", Create));
        assert_eq!(d.granting("Observation", Read), Some(Context::User));
        assert!(!d.patient_context());
    }

    #[test]
    fn every_granted_scope_is_supported_and_every_supported_one_granted() {
        let granted: Vec<String> = Role::ALL
            .iter()
            .flat_map(|r| {
                scopes_for(*r)
                    .split(' ')
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        for g in &granted {
            assert!(SUPPORTED.contains(&g.as_str()), "{g} not in SUPPORTED");
        }
        for s in SUPPORTED {
            assert!(granted.iter().any(|g| g == s), "{s} granted to no role");
        }
    }

    #[test]
    fn resource_scopes_round_trip_in_v2_form() {
        for s in [
            "patient/Observation.rs",
            "user/*.cruds",
            "system/Slot.s",
            "patient/Appointment.cu",
            "user/Patient.r",
            "user/AuditEvent.rs",
        ] {
            let scope = Scope::parse(s).unwrap();
            assert_eq!(scope.to_string(), s);
        }
        assert_eq!(
            Scope::parse("patient/Observation.rs"),
            Some(Scope {
                context: Context::Patient,
                resource: Resource::Named("Observation".into()),
                interactions: [Read, Search].into_iter().collect(),
            })
        );
    }

    #[test]
    fn v1_forms_mean_their_v2_equivalents() {
        let v2 = |s: &str| Scope::parse(s).map(|s| s.to_string());
        assert_eq!(v2("patient/*.read").as_deref(), Some("patient/*.rs"));
        assert_eq!(v2("user/*.write").as_deref(), Some("user/*.cud"));
        assert_eq!(v2("user/*.*").as_deref(), Some("user/*.cruds"));
        assert_eq!(
            v2("patient/Observation.read").as_deref(),
            Some("patient/Observation.rs")
        );
        let w = Scopes::parse("user/Appointment.write");
        assert!(w.permits("Appointment", Delete));
        assert!(!w.permits("Appointment", Read));
    }

    #[test]
    fn malformed_scopes_are_refused() {
        for bad in [
            "patient/*.sr",
            "patient/*.",
            "foo/*.rs",
            "patient/*.rx",
            "patient/*.rrs",
            "patient/*.RS",
            "patient/.rs",
            "patient/observation.rs",
            "patient/Obs.ervation.rs",
            "patient/Observation.rs?category=laboratory",
            "patient/*rs",
            "patient*.rs",
            "Patient/*.rs",
            "/*.rs",
            "",
            "openid",
        ] {
            assert_eq!(Scope::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn other_tokens_are_kept_and_grant_nothing() {
        let s = Scopes::parse("openid  fhirUser launch/patient offline_access patient/*.sr");
        assert!(s.resources().is_empty());
        assert_eq!(
            s.other(),
            [
                "openid",
                "fhirUser",
                "launch/patient",
                "offline_access",
                "patient/*.sr"
            ]
        );
        for i in Interaction::ALL {
            assert!(!s.permits("Patient", i));
        }
        assert!(!s.patient_context());
        assert_eq!(Scopes::parse(""), Scopes::default());
    }

    #[test]
    fn the_widest_granting_context_wins() {
        let s = Scopes::parse("patient/*.rs user/Observation.r");
        assert_eq!(s.granting("Observation", Read), Some(Context::User));
        assert_eq!(s.granting("Observation", Search), Some(Context::Patient));
        assert_eq!(s.granting("Observation", Create), None);
        assert!(!s.patient_context());
    }

    fn scope() -> impl Strategy<Value = Scope> {
        (
            prop_oneof![
                Just(Context::Patient),
                Just(Context::User),
                Just(Context::System)
            ],
            prop_oneof![
                Just(Resource::Any),
                "[A-Z][A-Za-z0-9]{0,24}".prop_map(Resource::Named)
            ],
            1u8..32,
        )
            .prop_map(|(context, resource, bits)| Scope {
                context,
                resource,
                interactions: Interactions(bits),
            })
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(s in scope()) {
            prop_assert_eq!(Scope::parse(&s.to_string()), Some(s));
        }

        #[test]
        fn whatever_parses_prints_back_to_an_equal_scope(input in "\\PC{0,40}") {
            if let Some(s) = Scope::parse(&input) {
                prop_assert_eq!(Scope::parse(&s.to_string()), Some(s));
            }
        }

        #[test]
        fn letters_out_of_order_are_refused(
            letters in proptest::sample::subsequence(vec!['c', 'r', 'u', 'd', 's'], 2..=5)
        ) {
            let reversed: String = letters.iter().rev().collect();
            prop_assert_eq!(Scope::parse(&format!("user/*.{reversed}")), None);
            let ordered: String = letters.iter().collect();
            let in_order = format!("user/*.{ordered}");
            prop_assert!(Scope::parse(&in_order).is_some());
        }

        #[test]
        fn a_scope_permits_exactly_its_interactions_on_its_resource(
            s in scope(), other in "[A-Z][a-z]{0,10}"
        ) {
            for i in Interaction::ALL {
                let named = match &s.resource {
                    Resource::Any => "Anything".to_owned(),
                    Resource::Named(n) => n.clone(),
                };
                prop_assert_eq!(s.permits(&named, i), s.interactions.contains(i));
                let elsewhere = s.resource == Resource::Any || other == named;
                prop_assert_eq!(
                    s.permits(&other, i),
                    elsewhere && s.interactions.contains(i)
                );
            }
        }
    }
}
