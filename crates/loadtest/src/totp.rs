//! The code an authenticator app shows (RFC 6238: SHA-1, six digits, 30 s),
//! for signing in as the demo admin.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

const STEP: u64 = 30;

/// The current code of base32 `secret`.
pub fn code_now(secret: &str) -> anyhow::Result<String> {
    code_at(secret, unix_now()?)
}

/// The code of base32 `secret` at `unix` seconds.
fn code_at(secret: &str, unix: u64) -> anyhow::Result<String> {
    let bytes = totp_rs::Secret::Encoded(secret.trim().to_owned())
        .to_bytes()
        .map_err(|e| anyhow::anyhow!("the TOTP secret is not base32: {e:?}"))?;
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, STEP, bytes)
        .map_err(|e| anyhow::anyhow!("TOTP: {e}"))?;
    Ok(totp.generate(unix))
}

/// How long until the next step's code (and a little more).
pub fn until_next_step() -> Duration {
    let now = unix_now().unwrap_or_default();
    Duration::from_secs(STEP - now % STEP + 1)
}

fn unix_now() -> anyhow::Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_rfc_6238_sha1_six_digits() {
        // RFC 6238 appendix B, SHA-1 ("12345678901234567890"), last six digits.
        let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(code_at(secret, 59).unwrap(), "287082");
        assert_eq!(code_at(secret, 1_111_111_109).unwrap(), "081804");
        assert_eq!(
            code_now("INQXEZLCN5XWWRDFNVXUCZDNNFXCCMRW").unwrap().len(),
            6
        );
        assert!(code_now("not base32!").is_err());
    }
}
