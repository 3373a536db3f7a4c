//! The second factor: TOTP (RFC 6238) as authenticator apps do it — SHA-1, six
//! digits, 30-second steps, one step of drift either way — and the one-time
//! recovery codes that stand in for a lost phone.

use rand::{Rng, RngCore};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds per step.
pub const STEP: u64 = 30;
pub const DIGITS: usize = 6;
/// Steps of clock drift accepted either way.
pub const SKEW: u8 = 1;
/// Recovery codes made at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// The issuer authenticator apps show.
pub const ISSUER: &str = "Carebook";

/// Why a secret is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a base32 TOTP secret of at least 128 bits")]
pub struct InvalidSecret;

/// A shared TOTP secret (base32, RFC 4648 without padding, as apps take it).
#[derive(Clone)]
pub struct TotpSecret {
    base32: String,
    totp: TOTP,
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// 160 random bits (RFC 4226's recommendation).
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let base32 = match Secret::Raw(bytes.clone()).to_encoded() {
            Secret::Encoded(s) => s,
            // `to_encoded` of raw bytes is always the encoded form.
            Secret::Raw(_) => String::new(),
        };
        Self {
            base32,
            totp: TOTP::new_unchecked(Algorithm::SHA1, DIGITS, SKEW, STEP, bytes),
        }
    }

    /// A stored or configured secret (spaces and case ignored, as apps do).
    pub fn parse(raw: &str) -> Result<Self, InvalidSecret> {
        let base32: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect::<String>()
            .trim_end_matches('=')
            .to_owned();
        let bytes = Secret::Encoded(base32.clone())
            .to_bytes()
            .map_err(|_| InvalidSecret)?;
        let totp =
            TOTP::new(Algorithm::SHA1, DIGITS, SKEW, STEP, bytes).map_err(|_| InvalidSecret)?;
        Ok(Self { base32, totp })
    }

    /// The secret as apps take it (shown once, at enrolment).
    pub fn base32(&self) -> &str {
        &self.base32
    }

    /// The code of the step holding unix time `at`.
    pub fn code_at(&self, at: u64) -> String {
        self.totp.generate(at)
    }

    /// The step of the code `code` matches at unix time `now` (this step or one
    /// either side), checked in constant time per candidate.
    pub fn matching_step(&self, code: &str, now: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now / STEP;
        let mut found = None;
        for step in current.saturating_sub(u64::from(SKEW))..=current + u64::from(SKEW) {
            let expected = self.totp.generate(step * STEP);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        found
    }

    /// The `otpauth://` URI authenticator apps scan (Key Uri Format).
    pub fn otpauth_uri(&self, account: &str) -> String {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        let label = format!("{ISSUER}:{account}");
        format!(
            "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
            utf8_percent_encode(&label, NON_ALPHANUMERIC),
            self.base32,
            utf8_percent_encode(ISSUER, NON_ALPHANUMERIC),
        )
    }
}

/// Whether a code of `step` may be accepted after the code of `last_used`
/// was: each code once, and never one older than a code already used.
pub fn fresh(step: u64, last_used: Option<u64>) -> bool {
    last_used.is_none_or(|last| step > last)
}

/// What was typed as the second factor.
#[derive(Debug, PartialEq, Eq)]
pub enum SecondFactor {
    /// Six digits from the app.
    Totp(String),
    /// A recovery code, normalized (lower-case, no separators).
    Recovery(String),
}

impl SecondFactor {
    pub fn parse(raw: &str) -> Self {
        let trimmed = raw.trim();
        if trimmed.len() == DIGITS && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Self::Totp(trimmed.to_owned());
        }
        Self::Recovery(normalize_recovery(trimmed))
    }
}

const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Ten fresh recovery codes, `xxxxx-xxxxx` from an unambiguous alphabet
/// (≈ 49 bits each).
pub fn recovery_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..10)
                .map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// A recovery code as typed, in the form its hash was taken of.
pub fn normalize_recovery(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 6238 appendix B's SHA-1 secret ("12345678901234567890"), base32.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn codes_match_rfc_6238_test_vectors() {
        let s = TotpSecret::parse(RFC_SECRET).unwrap();
        // The RFC's 8-digit values, last six digits.
        assert_eq!(s.code_at(59), "287082");
        assert_eq!(s.code_at(1_111_111_109), "081804");
        assert_eq!(s.code_at(1_234_567_890), "005924");
        assert_eq!(s.code_at(2_000_000_000), "279037");
    }

    #[test]
    fn one_step_of_drift_is_accepted_either_way_and_no_more() {
        let s = TotpSecret::generate();
        let now = 1_800_000_015;
        let step = now / STEP;
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let at = (now as i64 + offset * STEP as i64) as u64;
            let code = s.code_at(at);
            let got = s.matching_step(&code, now);
            if accepted {
                assert_eq!(got, Some((step as i64 + offset) as u64), "{offset}");
            } else {
                // A code two steps away may collide with a valid one by chance (1 in 10^6).
                assert!(
                    got.is_none() || s.code_at(got.unwrap() * STEP) == code,
                    "{offset}"
                );
            }
        }
        assert_eq!(s.matching_step("12345", now), None);
        assert_eq!(s.matching_step("abcdef", now), None);
    }

    #[test]
    fn secrets_parse_loosely_but_must_be_long_enough() {
        let s = TotpSecret::parse(" gezd gnbv gy3t qojq gezd gnbv gy3t qojq ").unwrap();
        assert_eq!(s.base32(), RFC_SECRET);
        assert_eq!(TotpSecret::parse("GEZDGNBV").err(), Some(InvalidSecret));
        assert_eq!(TotpSecret::parse("not base32!").err(), Some(InvalidSecret));
        let generated = TotpSecret::generate();
        assert_eq!(generated.base32().len(), 32);
        assert_eq!(
            TotpSecret::parse(generated.base32()).unwrap().code_at(0),
            generated.code_at(0)
        );
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let s = TotpSecret::parse(RFC_SECRET).unwrap();
        assert_eq!(
            s.otpauth_uri("ada@example.org"),
            format!("otpauth://totp/Carebook%3Aada%40example%2Eorg?secret={RFC_SECRET}&issuer=Carebook&algorithm=SHA1&digits=6&period=30")
        );
    }

    #[test]
    fn codes_are_accepted_once_and_in_order() {
        assert!(fresh(10, None));
        assert!(fresh(11, Some(10)));
        assert!(!fresh(10, Some(10)));
        assert!(!fresh(9, Some(10)));
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_normalize() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert!(codes
            .iter()
            .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
        assert_eq!(
            SecondFactor::parse(" ABCDE-fghjk "),
            SecondFactor::Recovery("abcdefghjk".into())
        );
        assert_eq!(
            SecondFactor::parse("012345"),
            SecondFactor::Totp("012345".into())
        );
    }

    proptest! {
        #[test]
        fn the_current_code_always_matches_its_own_step(t in 30u64..4_000_000_000) {
            let s = TotpSecret::parse(RFC_SECRET).unwrap();
            let code = s.code_at(t);
            let step = s.matching_step(&code, t);
            prop_assert!(step.is_some());
            // Another step's code could equal it by chance; the match is one of the window.
            let got = step.unwrap();
            prop_assert!(got + 1 >= t / STEP && got <= t / STEP + 1);
        }

        #[test]
        fn a_code_never_matches_far_from_its_time(t in 300u64..4_000_000_000, far in 3u64..1000) {
            let s = TotpSecret::parse(RFC_SECRET).unwrap();
            let code = s.code_at(t);
            let later = t + far * STEP;
            if let Some(step) = s.matching_step(&code, later) {
                // Only by collision with a code of the window around `later`.
                prop_assert!(step + 1 >= later / STEP);
                prop_assert_eq!(s.code_at(step * STEP), code);
            }
        }
    }
}
