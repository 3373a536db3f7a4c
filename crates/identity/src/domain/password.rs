//! The password policy (NIST SP 800-63B: length over composition rules, and a
//! block list of common passwords).

use super::Email;

/// Passwords known from breach corpora and guessing lists, lower-cased.
const COMMON: &str = include_str!("common_passwords.txt");

pub const MIN_CHARS: usize = 12;
/// Upper bound so hashing cost cannot be abused with megabyte passwords.
pub const MAX_CHARS: usize = 128;

/// A password that passed the policy; only ever hashed, never stored or logged.
pub struct NewPassword(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("password must be at least {MIN_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_CHARS} characters")]
    TooLong,
    #[error("password is too common; choose a longer phrase")]
    Common,
    #[error("password must not contain your email address")]
    ContainsEmail,
}

impl NewPassword {
    pub fn parse(raw: &str, email: &Email) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        let lower = raw.to_lowercase();
        if is_common(&lower) {
            return Err(PasswordError::Common);
        }
        let local = email.as_str().split('@').next().unwrap_or_default();
        if local.len() >= 4 && lower.contains(local) {
            return Err(PasswordError::ContainsEmail);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn is_common(lower: &str) -> bool {
    COMMON
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|common| {
            // "password1234" and "Password123!" are the same guess.
            let trimmed =
                lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
            common == lower || (common.len() >= 6 && common == trimmed)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("paula.patient@example.org").unwrap()
    }

    #[test]
    fn long_uncommon_passwords_pass() {
        assert!(NewPassword::parse("correct horse battery staple", &email()).is_ok());
        assert!(NewPassword::parse("Carebook-demo-2026!", &email()).is_ok());
    }

    #[test]
    fn short_long_common_and_personal_passwords_fail() {
        let e = email();
        assert_eq!(
            NewPassword::parse("short", &e).err(),
            Some(PasswordError::TooShort)
        );
        assert_eq!(
            NewPassword::parse(&"x".repeat(129), &e).err(),
            Some(PasswordError::TooLong)
        );
        assert_eq!(
            NewPassword::parse("password1234", &e).err(),
            Some(PasswordError::Common)
        );
        assert_eq!(
            NewPassword::parse("Password123!", &e).err(),
            Some(PasswordError::Common)
        );
        assert_eq!(
            NewPassword::parse("Password123456!", &e).err(),
            Some(PasswordError::Common)
        );
        assert_eq!(
            NewPassword::parse("qwertyuiop123", &e).err(),
            Some(PasswordError::Common)
        );
        assert_eq!(
            NewPassword::parse("paula.patient-2026", &e).err(),
            Some(PasswordError::ContainsEmail)
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(NewPassword::parse("ääääääääääää", &email()).is_ok());
    }
}
