//! Validated inputs: every field a caller sends is parsed into one of these types before the
//! engine runs anything, so the engine never sees an out-of-range value.
//!
//! Limits (characters are Unicode scalar values): login name, display name, ids, codes 1–200;
//! passwords 1–200 on checks and 8–200 when set; TOTP codes exactly 6; metadata at most
//! [`MAX_METADATA_ENTRIES`] keys per request and per session, keys 1–200, values up to
//! [`MAX_METADATA_VALUE_BYTES`]; lifetimes above zero and at most [`MAX_LIFETIME_DAYS`] days.

use std::collections::BTreeMap;

use crate::crypto::Secret;
use crate::error::DomainError;

/// Longest login name, hint, id or other short text a request may carry, in characters (the
/// contract's limit). The console's own copy, for its wasm, is held equal to it by a test.
pub const MAX_TEXT_CHARS: usize = 200;

/// How login names and email addresses are compared: without letter case, by Unicode's
/// lowercase mapping. Every store and every check folds with this one function (SQL's `lower`
/// and `NOCASE` only know ASCII).
pub fn fold_case(text: &str) -> String {
    text.to_lowercase()
}

/// Most metadata keys a request may send, and a session may hold.
pub const MAX_METADATA_ENTRIES: usize = 50;
/// Longest metadata key, in characters.
pub const MAX_METADATA_KEY_CHARS: usize = 200;
/// Largest metadata value, in bytes (64 KiB).
pub const MAX_METADATA_VALUE_BYTES: usize = 64 * 1024;
/// Longest session lifetime (about ten years).
pub const MAX_LIFETIME_DAYS: i64 = 3650;
/// Shortest password that can be set. Checks accept 1–200 (the contract).
pub const MIN_NEW_PASSWORD_CHARS: usize = 8;

fn bounded(field: &'static str, text: &str, min: usize, max: usize) -> Result<(), DomainError> {
    let n = text.chars().count();
    if n < min {
        return Err(DomainError::field(field, "too short"));
    }
    if n > max {
        return Err(DomainError::field(field, "too long"));
    }
    Ok(())
}

fn plain_text(
    field: &'static str,
    text: String,
    min: usize,
    max: usize,
) -> Result<String, DomainError> {
    bounded(field, &text, min, max)?;
    if text.chars().any(char::is_control) {
        return Err(DomainError::field(field, "contains control characters"));
    }
    Ok(text)
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);
        impl $name {
            /// Validates the length and refuses control characters.
            pub fn parse(text: impl Into<String>) -> Result<Self, DomainError> {
                plain_text($field, text.into(), $min, $max).map(Self)
            }
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

text_type!(
    /// A login name: 1–200 characters, unique case-insensitively.
    LoginName, "login_name", 1, 200
);
text_type!(
    /// A user id, session id or other record id sent by a caller: 1–200 characters.
    Id, "id", 1, 200
);
text_type!(
    /// A display name: 1–200 characters.
    DisplayName, "display_name", 1, 200
);
text_type!(
    /// An app's or API key's name: 1–200 characters.
    Name, "name", 1, 200
);

/// Which user a user check names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Id(Id),
    LoginName(LoginName),
}

/// A password as sent to a check: 1–200 characters.
#[derive(Debug, Clone)]
pub struct Password(pub(crate) Secret<String>);

impl Password {
    /// Validates 1–200 characters.
    pub fn parse(text: String) -> Result<Self, DomainError> {
        bounded("password", &text, 1, 200)?;
        Ok(Self(Secret::new(text)))
    }
}

/// A password to set: 8–200 characters (no composition rules, no truncation).
#[derive(Debug, Clone)]
pub struct NewPassword(pub(crate) Secret<String>);

impl NewPassword {
    /// Validates 8–200 characters.
    pub fn parse(text: String) -> Result<Self, DomainError> {
        bounded("password", &text, MIN_NEW_PASSWORD_CHARS, 200)?;
        Ok(Self(Secret::new(text)))
    }
}

/// A TOTP code: exactly 6 characters (the contract); non-digits simply never match.
#[derive(Debug, Clone)]
pub struct TotpCode(pub(crate) Secret<String>);

impl TotpCode {
    /// Validates exactly 6 characters.
    pub fn parse(text: String) -> Result<Self, DomainError> {
        bounded("code", &text, 6, 6)?;
        Ok(Self(Secret::new(text)))
    }
}

/// A code received by SMS or email: 1–200 characters.
#[derive(Debug, Clone)]
pub struct OtpCode(pub(crate) Secret<String>);

impl OtpCode {
    /// Validates 1–200 characters.
    pub fn parse(text: String) -> Result<Self, DomainError> {
        bounded("code", &text, 1, 200)?;
        Ok(Self(Secret::new(text)))
    }
}

/// A recovery code as typed: 1–200 characters, dashes allowed.
#[derive(Debug, Clone)]
pub struct RecoveryCodeInput(pub(crate) Secret<String>);

impl RecoveryCodeInput {
    /// Validates 1–200 characters.
    pub fn parse(text: String) -> Result<Self, DomainError> {
        bounded("recovery_code", &text, 1, 200)?;
        Ok(Self(Secret::new(text)))
    }
}

/// Metadata changes: key to bytes, where an empty value deletes the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataChanges(pub(crate) BTreeMap<String, Vec<u8>>);

impl MetadataChanges {
    /// Validates count, key lengths and value sizes.
    pub fn parse(entries: BTreeMap<String, Vec<u8>>) -> Result<Self, DomainError> {
        if entries.len() > MAX_METADATA_ENTRIES {
            return Err(DomainError::field("metadata", "too many keys"));
        }
        for (key, value) in &entries {
            bounded("metadata.key", key, 1, MAX_METADATA_KEY_CHARS)?;
            if value.len() > MAX_METADATA_VALUE_BYTES {
                return Err(DomainError::field("metadata.value", "too large"));
            }
        }
        Ok(Self(entries))
    }
    /// No changes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A session lifetime: above zero and at most [`MAX_LIFETIME_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime(pub(crate) time::Duration);

impl Lifetime {
    /// Refuses zero, negative and absurd values (`COMMAND-asEG4`).
    pub fn parse(duration: time::Duration) -> Result<Self, DomainError> {
        if duration <= time::Duration::ZERO || duration > time::Duration::days(MAX_LIFETIME_DAYS) {
            return Err(DomainError::InvalidLifetime {
                max_days: MAX_LIFETIME_DAYS,
            });
        }
        Ok(Self(duration))
    }
    /// Seconds, for callers that receive a number.
    pub fn from_seconds(seconds: i64) -> Result<Self, DomainError> {
        Self::parse(time::Duration::seconds(seconds))
    }
    /// The duration.
    pub fn get(&self) -> time::Duration {
        self.0
    }
}

/// An email address: 3–200 characters, one `@` with text on both sides, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// A light syntactic check; ownership is proven by verification, not by syntax.
    pub fn parse(text: impl Into<String>) -> Result<Self, DomainError> {
        let text = plain_text("email", text.into(), 3, 200)?;
        let mut parts = text.split('@');
        let ok = matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None) if !l.is_empty() && !d.is_empty())
            && !text.chars().any(char::is_whitespace);
        if !ok {
            return Err(DomainError::field("email", "not an email address"));
        }
        Ok(Self(text))
    }
    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 form: `+` and 7–15 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Validates `+` followed by 7–15 digits, the first not 0.
    pub fn parse(text: impl Into<String>) -> Result<Self, DomainError> {
        let text = text.into();
        let digits = text.strip_prefix('+').unwrap_or("");
        let ok = (7..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0');
        if !ok {
            return Err(DomainError::field("phone", "not an E.164 number"));
        }
        Ok(Self(text))
    }
    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A language tag: 2–35 characters of letters, digits and `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language(String);

impl Language {
    /// Validates the shape of a BCP 47 tag (not its registry).
    pub fn parse(text: impl Into<String>) -> Result<Self, DomainError> {
        let text = text.into();
        bounded("preferred_language", &text, 2, 35)?;
        if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(DomainError::field(
                "preferred_language",
                "not a language tag",
            ));
        }
        Ok(Self(text))
    }
    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An absolute `http`/`https` URL with a host and no fragment, up to 2048 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(String);

impl HttpUrl {
    /// Parses with the `url` crate and checks scheme, host, credentials and fragment.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, DomainError> {
        bounded(field, text, 1, 2048)?;
        let url =
            url::Url::parse(text).map_err(|_| DomainError::field(field, "not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(DomainError::field(field, "scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(DomainError::field(field, "host missing"));
        }
        // SECURITY: no credentials in URLs, no fragments (they would swallow appended parameters).
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DomainError::field(field, "credentials not allowed"));
        }
        if url.fragment().is_some() {
            return Err(DomainError::field(field, "fragment not allowed"));
        }
        Ok(Self(text.to_owned()))
    }
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The logo of an app's branding: an `https:` URL (the hosted page's CSP allows no other
/// remote image), otherwise as [`HttpUrl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoUrl(String);

impl LogoUrl {
    pub fn parse(field: &'static str, text: &str) -> Result<Self, DomainError> {
        let url = HttpUrl::parse(field, text)?;
        if !url.as_str().starts_with("https://") {
            return Err(DomainError::field(field, "must be an https URL"));
        }
        Ok(Self(url.0))
    }
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A colour `#rrggbb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Color(String);

impl Color {
    /// Validates `#` and six hex digits (stored lowercase).
    pub fn parse(field: &'static str, text: &str) -> Result<Self, DomainError> {
        let hex = text.strip_prefix('#').unwrap_or("");
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(DomainError::field(field, "must be #rrggbb"));
        }
        Ok(Self(text.to_ascii_lowercase()))
    }
    /// The colour.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_limits() {
        let s = |n: usize| "a".repeat(n);
        for (n, ok) in [(0, false), (1, true), (200, true), (201, false)] {
            assert_eq!(LoginName::parse(s(n)).is_ok(), ok, "login name {n}");
            assert_eq!(Id::parse(s(n)).is_ok(), ok, "id {n}");
            assert_eq!(DisplayName::parse(s(n)).is_ok(), ok, "display {n}");
            assert_eq!(Password::parse(s(n)).is_ok(), ok, "password {n}");
            assert_eq!(OtpCode::parse(s(n)).is_ok(), ok, "otp {n}");
            assert_eq!(RecoveryCodeInput::parse(s(n)).is_ok(), ok, "recovery {n}");
        }
        // Multi-byte characters count as one each.
        assert!(LoginName::parse("é".repeat(200)).is_ok());
        assert!(LoginName::parse("é".repeat(201)).is_err());
        for (n, ok) in [(7, false), (8, true), (200, true), (201, false)] {
            assert_eq!(NewPassword::parse(s(n)).is_ok(), ok, "new password {n}");
        }
        for (n, ok) in [(5, false), (6, true), (7, false)] {
            assert_eq!(TotpCode::parse(s(n)).is_ok(), ok, "totp {n}");
        }
        let err = LoginName::parse(String::new()).unwrap_err();
        assert_eq!(err.id(), "ARG-Inval1");
        assert_eq!(
            err,
            DomainError::InvalidField {
                field: "login_name",
                reason: "too short"
            }
        );
        assert!(LoginName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn metadata_limits() {
        let one = |k: String, v: Vec<u8>| BTreeMap::from([(k, v)]);
        assert!(MetadataChanges::parse(BTreeMap::new()).unwrap().is_empty());
        assert!(MetadataChanges::parse(one("k".into(), vec![])).is_ok());
        assert!(MetadataChanges::parse(one(String::new(), vec![1])).is_err());
        assert!(MetadataChanges::parse(one("k".repeat(200), vec![1])).is_ok());
        assert!(MetadataChanges::parse(one("k".repeat(201), vec![1])).is_err());
        assert!(MetadataChanges::parse(one("k".into(), vec![0; MAX_METADATA_VALUE_BYTES])).is_ok());
        assert!(
            MetadataChanges::parse(one("k".into(), vec![0; MAX_METADATA_VALUE_BYTES + 1])).is_err()
        );
        let many: BTreeMap<String, Vec<u8>> = (0..=MAX_METADATA_ENTRIES)
            .map(|i| (format!("k{i}"), vec![1]))
            .collect();
        assert!(MetadataChanges::parse(many).is_err());
    }

    #[test]
    fn lifetimes() {
        use time::Duration as D;
        for (d, ok) in [
            (D::seconds(-1), false),
            (D::ZERO, false),
            (D::nanoseconds(1), true),
            (D::hours(24), true),
            (D::days(MAX_LIFETIME_DAYS), true),
            (D::days(MAX_LIFETIME_DAYS) + D::seconds(1), false),
            (D::MAX, false),
            (D::MIN, false),
        ] {
            let r = Lifetime::parse(d);
            assert_eq!(r.is_ok(), ok, "{d}");
            if let Err(e) = r {
                assert_eq!(e.id(), "COMMAND-asEG4");
            }
        }
    }

    #[test]
    fn contacts_and_urls() {
        assert!(Email::parse("a@b").is_ok());
        for bad in ["", "ab", "a@", "@b", "a@b@c", "a b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Phone::parse("+41791234567").is_ok());
        for bad in [
            "41791234567",
            "+0791234567",
            "+12",
            "+1234567890123456",
            "+4179a234567",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
        assert!(Language::parse("de-CH").is_ok());
        assert!(Language::parse("d").is_err());
        assert!(HttpUrl::parse("u", "https://app.example.com/cb?x=1").is_ok());
        assert!(HttpUrl::parse("u", "http://localhost:8080/cb").is_ok());
        for bad in [
            "",
            "/cb",
            "ftp://x/cb",
            "javascript:alert(1)",
            "https://u:p@x/cb",
            "https://x/cb#f",
        ] {
            assert!(HttpUrl::parse("u", bad).is_err(), "{bad}");
        }
        assert_eq!(Color::parse("c", "#A0b1C2").unwrap().as_str(), "#a0b1c2");
        for bad in ["", "a0b1c2", "#a0b1c", "#a0b1c2f", "#g0b1c2", "red"] {
            assert!(Color::parse("c", bad).is_err(), "{bad}");
        }
    }
}
