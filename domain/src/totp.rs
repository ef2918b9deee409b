//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of skew) through `totp-rs`,
//! enrollment material (otpauth URI, QR code as SVG) and step-aware verification for replay refusal.

use qrcode::render::svg;
use qrcode::QrCode;
use time::OffsetDateTime;
use totp_rs::{Algorithm, TOTP};

use crate::crypto::{constant_time_eq, Secret};

/// Length of the steps in seconds.
pub const STEP_SECONDS: i64 = 30;
/// Steps accepted before and after the current one.
pub const SKEW_STEPS: i64 = 1;
/// Raw secret size: 160 bits, the RFC 4226 recommendation for SHA-1.
pub const SECRET_BYTES: usize = 20;

/// What a person needs to add the account to an authenticator app. Everything here reveals the
/// secret, so it is shown once and never logged.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    /// The secret as base32 text, for typing in by hand.
    pub secret_base32: Secret<String>,
    /// `otpauth://totp/<issuer>:<account>?secret=...&issuer=...`.
    pub uri: Secret<String>,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: Secret<String>,
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> TOTP {
    // `new_unchecked`: our secrets are always 160 bits, and the account name may contain ':'
    // (the URI encodes it), which the checked constructor refuses.
    TOTP::new_unchecked(
        Algorithm::SHA1,
        6,
        SKEW_STEPS as u8,
        STEP_SECONDS as u64,
        secret.to_vec(),
        Some(issuer.to_owned()),
        account.to_owned(),
    )
}

/// Builds the enrollment material for `secret`.
pub fn enrollment(
    secret: &[u8],
    issuer: &str,
    account: &str,
) -> Result<TotpEnrollment, qrcode::types::QrError> {
    let t = totp(secret, issuer, account);
    let uri = t.get_url();
    let qr = QrCode::new(uri.as_bytes())?;
    let svg = qr
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(TotpEnrollment {
        secret_base32: Secret::new(t.get_secret_base32()),
        uri: Secret::new(uri),
        qr_svg: Secret::new(svg),
    })
}

/// The time step `at` falls in.
pub fn step_of(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(STEP_SECONDS)
}

/// The code for `secret` at time `at` (tests and authenticator simulations).
pub fn code_at(secret: &[u8], at: OffsetDateTime) -> String {
    let seconds = u64::try_from(at.unix_timestamp()).unwrap_or(0);
    totp(secret, "x", "x").generate(seconds)
}

/// Checks `code` within the skew window around `now`; returns the matched step.
/// Every step of the window is computed, so timing does not tell which one matched.
pub fn verify(secret: &[u8], code: &str, now: OffsetDateTime) -> Option<i64> {
    let t = totp(secret, "x", "x");
    let current = step_of(now);
    let mut matched = None;
    for step in (current - SKEW_STEPS)..=(current + SKEW_STEPS) {
        let Ok(seconds) = u64::try_from(step * STEP_SECONDS) else {
            continue;
        };
        // SECURITY: constant-time comparison of the candidate code.
        if constant_time_eq(t.generate(seconds).as_bytes(), code.as_bytes()) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vector() {
        // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", T=59 -> 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let at = OffsetDateTime::from_unix_timestamp(59).unwrap();
        assert_eq!(code_at(b"12345678901234567890", at), "287082");
        let at = OffsetDateTime::from_unix_timestamp(1_111_111_109).unwrap();
        assert_eq!(code_at(b"12345678901234567890", at), "081804");
    }

    #[test]
    fn skew_and_steps() {
        let secret = [7u8; 20];
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let s = step_of(now);
        assert_eq!(verify(&secret, &code_at(&secret, now), now), Some(s));
        let prev = now - time::Duration::seconds(30);
        assert_eq!(verify(&secret, &code_at(&secret, prev), now), Some(s - 1));
        let next = now + time::Duration::seconds(30);
        assert_eq!(verify(&secret, &code_at(&secret, next), now), Some(s + 1));
        let old = now - time::Duration::seconds(90);
        let old_code = code_at(&secret, old);
        if old_code != code_at(&secret, now) && old_code != code_at(&secret, prev) {
            assert_eq!(verify(&secret, &old_code, now), None);
        }
        assert_eq!(verify(&secret, "abcdef", now), None);
    }

    #[test]
    fn enrollment_has_uri_and_svg() {
        let e = enrollment(&[1u8; 20], "Vestibule", "alice:x@example.com").unwrap();
        assert!(e
            .uri
            .expose()
            .starts_with("otpauth://totp/Vestibule:alice%3Ax%40example.com?secret="));
        assert!(e
            .uri
            .expose()
            .contains(&format!("secret={}", e.secret_base32.expose())));
        assert!(e.qr_svg.expose().contains("<svg"));
        assert_eq!(e.secret_base32.expose().len(), 32);
    }
}
