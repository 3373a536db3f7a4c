//! Every invalid field of a request, collected so a client fixes them in one pass.

use std::fmt::Display;

/// One invalid field: its path (`address.city`) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// The invalid fields found while parsing one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations(Vec<Violation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// A single invalid field.
    pub fn one(field: impl Into<String>, message: impl Display) -> Self {
        let mut v = Self::new();
        v.add(field, message);
        v
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Display) {
        self.0.push(Violation {
            field: field.into(),
            message: message.to_string(),
        });
    }

    /// The value if `result` is Ok; otherwise records the error under `field`.
    pub fn check<T, E: Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }

    /// Keep the violations of a nested value under `prefix` (`address.city`).
    pub fn nest(&mut self, prefix: &str, inner: Violations) {
        for v in inner.0 {
            self.0.push(Violation {
                field: format!("{prefix}.{}", v.field),
                message: v.message,
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Violation> {
        self.0.iter()
    }

    /// Ok(`build()`) when nothing was invalid.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Violations> {
        if !self.is_empty() {
            return Err(self);
        }
        // Every field parsed, so `build` has all it needs; a `None` here would be
        // a bug in the caller, reported as an invalid request rather than a panic.
        build().ok_or_else(|| Violations::one("body", "is not valid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_field_and_nests_paths() {
        let mut v = Violations::new();
        assert_eq!(v.check::<u8, &str>("a", Ok(1)), Some(1));
        assert_eq!(v.check::<u8, &str>("b", Err("bad")), None);
        v.nest("address", Violations::one("city", "too long"));
        let fields: Vec<_> = v.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["b", "address.city"]);
        assert!(v.finish(|| Some(())).is_err());
        assert_eq!(Violations::new().finish(|| Some(3)), Ok(3));
    }
}
