//! Email addresses, normalized at the edge.

use std::fmt;

/// A syntactically valid email, trimmed and lower-cased, so one person has one account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a valid email address")]
pub struct InvalidEmail;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let normalized = raw.trim().to_lowercase();
        if normalized.len() > 254 || !email_address::EmailAddress::is_valid(&normalized) {
            return Err(InvalidEmail);
        }
        // Reject quoted local parts and IP-literal domains: valid by RFC 5322, but
        // no patient needs them and they complicate every downstream system.
        let (_, domain) = normalized.rsplit_once('@').ok_or(InvalidEmail)?;
        if normalized.contains('"') || domain.starts_with('[') || !domain.contains('.') {
            return Err(InvalidEmail);
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Paula@Example.ORG ").unwrap().as_str(),
            "paula@example.org"
        );
    }

    #[test]
    fn invalid_emails_are_rejected() {
        for bad in [
            "",
            "paula",
            "paula@",
            "@example.org",
            "pa ula@example.org",
            "a@b",
            "\"x\"@example.org",
            "a@[127.0.0.1]",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidEmail), "{bad}");
        }
        assert!(Email::parse(&format!("{}@example.org", "a".repeat(250))).is_err());
    }
}
