//! RFC 6238 time-based one-time passwords through `totp-rs`: SHA-1, 6 digits, 30-second steps —
//! the only parameters every authenticator app honours (some silently ignore others).

use secrecy::{ExposeSecret as _, SecretString};
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::{Error, Result};

/// Digits per code.
const DIGITS: u8 = 6;
/// Seconds per step.
pub const STEP_SECONDS: u64 = 30;
/// Steps accepted either side of the current one, for clock drift and typing time (RFC 6238
/// §5.2 recommends one).
const SKEW: u16 = 1;
/// Secret length: 160 bits, as RFC 4226 §4 recommends.
const SECRET_BYTES: usize = 20;

/// A user's TOTP secret, base32 as authenticator apps show it; only ever held as a secret.
pub struct TotpSecret(SecretString);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

impl TotpSecret {
    /// 160 fresh random bits.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        Self(SecretString::from(Secret::from(bytes).to_base32()))
    }

    /// Wraps a secret opened from storage.
    pub fn from_stored(base32: SecretString) -> Self {
        Self(base32)
    }

    /// The base32 form (for storage, and for typing into an app that cannot scan).
    pub fn expose_base32(&self) -> &str {
        self.0.expose_secret()
    }

    /// The secret as a string to seal.
    pub fn as_secret(&self) -> &SecretString {
        &self.0
    }

    fn totp(&self, issuer: &str, account: &str) -> Result<Totp> {
        let secret = Secret::try_from_base32(self.expose_base32())
            .map_err(|_| Error::internal("a stored TOTP secret is not base32"))?;
        // A colon separates issuer from account in the otpauth label, so neither may hold one.
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(SKEW)
            .with_step_duration(STEP_SECONDS)
            .with_secret(secret)
            .with_issuer(Some(issuer.replace(':', " ")))
            .with_account_name(account.replace(':', " "))
            .build()
            .map_err(|e| Error::internal(format!("TOTP parameters: {e}")))
    }

    /// The `otpauth://totp/…` URI an authenticator app scans.
    ///
    /// # Errors
    /// `Internal` if the secret or parameters are malformed (never for a generated secret).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Result<SecretString> {
        let uri = self
            .totp(issuer, account)?
            .to_url()
            .map_err(|e| Error::internal(format!("otpauth URI: {e}")))?;
        Ok(SecretString::from(uri))
    }

    /// The step (Unix time / 30 s) whose code `code` is, within one step of `unix_time`;
    /// `None` when it matches none. Spaces in the code are ignored (apps show `123 456`).
    ///
    /// # Errors
    /// `Internal` if the stored secret is malformed.
    pub fn matching_step(&self, code: &str, unix_time: u64) -> Result<Option<u64>> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        Ok(self.totp("ClinicGate", "staff")?.check(&code, unix_time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 secret ("12345678901234567890"), base32.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    fn rfc() -> TotpSecret {
        TotpSecret::from_stored(SecretString::from(RFC_SECRET))
    }

    #[test]
    fn the_rfc_6238_test_vectors_match_their_steps() {
        // Appendix B, SHA-1, truncated to 6 digits: T = 59 → 94287082, T = 1111111109 → 07081804.
        assert_eq!(rfc().matching_step("287082", 59).unwrap(), Some(1));
        assert_eq!(
            rfc().matching_step("081804", 1_111_111_109).unwrap(),
            Some(1_111_111_109 / 30)
        );
    }

    #[test]
    fn a_code_one_step_away_is_accepted_and_two_steps_away_is_not() {
        assert_eq!(rfc().matching_step("287 082", 59 + 30).unwrap(), Some(1));
        assert_eq!(rfc().matching_step("287082", 59 + 60).unwrap(), None);
    }

    #[test]
    fn malformed_codes_match_nothing() {
        for code in ["", "28708", "2870823", "abcdef"] {
            assert_eq!(rfc().matching_step(code, 59).unwrap(), None, "{code:?}");
        }
    }

    #[test]
    fn a_generated_secret_is_160_bits_and_gives_an_otpauth_uri() {
        let secret = TotpSecret::generate();
        assert_eq!(secret.expose_base32().len(), 32);
        let uri = secret
            .otpauth_uri("ClinicGate: Harbour", "jane@clinic.com")
            .unwrap();
        assert!(uri.expose_secret().starts_with("otpauth://totp/"));
        assert!(uri.expose_secret().contains(secret.expose_base32()));
        assert_eq!(format!("{secret:?}"), "TotpSecret([REDACTED])");
    }
}
