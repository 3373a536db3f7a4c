//! The small rules of the account pages: what a session's browser is called,
//! how a secret is shown for typing, how a typed code is cleaned up, and what
//! a reason or a repeated password must be before the API is asked.

/// "Firefox on Linux", "Safari on iPhone"; "Unknown device" when the browser
/// did not say. Only a label for a person: never used to decide anything.
pub fn device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()) else {
        return "Unknown device".to_owned();
    };
    // Order matters: Edge and Opera say "Chrome", Chrome says "Safari".
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => format!("A browser on {s}"),
        // Something else (an app, a script): its own words, shortened.
        (None, None) => ua.chars().take(40).collect(),
    }
}

/// A base32 secret in groups of four, easier to type into an app by hand
/// (apps ignore the spaces).
pub fn grouped(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().filter(|c| !c.is_whitespace()).collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A code as typed: an app's six digits with any spaces removed ("123 456"),
/// anything else (a recovery code) trimmed and left to the API.
pub fn code(raw: &str) -> String {
    let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits
    } else {
        raw.trim().to_owned()
    }
}

/// Why an administrator's reason is refused before asking the API.
pub const REASON_MIN: usize = 3;
pub const REASON_MAX: usize = 500;

/// The reason for disabling or enabling an account, trimmed; the sentence to
/// show when it is missing or too long (the API keeps it in the audit log).
pub fn reason(raw: &str) -> Result<&str, &'static str> {
    let reason = raw.trim();
    let n = reason.chars().count();
    if n < REASON_MIN {
        Err("Give a reason (at least 3 characters); it is kept in the audit log.")
    } else if n > REASON_MAX {
        Err("Keep the reason under 500 characters.")
    } else {
        Ok(reason)
    }
}

/// A new password typed twice must match; the API judges its strength.
pub fn repeated(new_password: &str, repeat: &str) -> Result<(), &'static str> {
    if new_password == repeat {
        Ok(())
    } else {
        Err("The two passwords differ. Type the same new password twice.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_are_named_in_words() {
        let chrome_linux = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        assert_eq!(device(Some(chrome_linux)), "Chrome on Linux");
        let safari_iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(device(Some(safari_iphone)), "Safari on iPhone");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(device(Some(edge)), "Edge on Windows");
        let firefox_mac =
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 Firefox/121.0";
        assert_eq!(device(Some(firefox_mac)), "Firefox on macOS");
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36";
        assert_eq!(device(Some(android)), "Chrome on Android");
    }

    #[test]
    fn an_unknown_or_missing_agent_is_said_plainly() {
        assert_eq!(device(None), "Unknown device");
        assert_eq!(device(Some("  ")), "Unknown device");
        assert_eq!(
            device(Some("carebook-loadtest/1.0")),
            "carebook-loadtest/1.0"
        );
        assert_eq!(device(Some(&"x".repeat(100))).chars().count(), 40);
    }

    #[test]
    fn secrets_are_shown_in_groups_of_four() {
        assert_eq!(
            grouped("INQXEZLCN5XWWRDFNVXUCZDNNFXCCMRW"),
            "INQX EZLC N5XW WRDF NVXU CZDN NFXC CMRW"
        );
        assert_eq!(grouped("ABCDEF"), "ABCD EF");
        assert_eq!(grouped(""), "");
    }

    #[test]
    fn typed_codes_lose_their_spaces_and_recovery_codes_pass_through() {
        assert_eq!(code(" 123 456 "), "123456");
        assert_eq!(code("123456"), "123456");
        assert_eq!(code(" abcde-fghjk "), "abcde-fghjk");
        assert_eq!(code("12345"), "12345");
    }

    #[test]
    fn a_reason_is_required_and_bounded() {
        assert_eq!(reason("  left the clinic "), Ok("left the clinic"));
        assert!(reason("  ").is_err());
        assert!(reason("ok").is_err());
        assert!(reason(&"x".repeat(501)).is_err());
        assert!(reason(&"é".repeat(500)).is_ok());
    }

    #[test]
    fn a_new_password_must_be_typed_the_same_twice() {
        assert!(repeated("a long passphrase", "a long passphrase").is_ok());
        assert!(repeated("a long passphrase", "a long passphrasE").is_err());
    }
}
