//! The state of one single sign-on login between the redirect to the provider and the callback,
//! and who the identity the provider vouched for is in the clinic.
//!
//! The state (`state`, `nonce`, the PKCE verifier, where to go afterwards, when it expires) is
//! sealed with the clinic's data key ([`SecretPurpose::SsoLoginState`]) into a cookie of the
//! browser that started the login: the callback must come back to that browser, with that
//! `state`, within ten minutes. Nothing is kept on the server, so no instance or shared store
//! has to remember it; a sealed value of another clinic, or altered, does not open.
//!
//! [`SecretPurpose::SsoLoginState`]: crate::secrets::SecretPurpose::SsoLoginState

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{IdentityClaims, SsoFailure};
use crate::ids::TenantId;
use crate::secrets::{DATA_KEY_VERSION, SealedSecret, SecretPurpose, Vault};
use crate::users::{Email, User};

/// How long a login may take at the provider.
pub const LOGIN_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);

/// What the redirect to the provider needs: where to send the browser and the sealed state for
/// its cookie.
#[derive(Debug)]
pub struct SsoStart {
    /// The provider's authorization URL.
    pub authorization_url: String,
    /// The sealed login state, for the cookie.
    pub sealed_state: SecretString,
}

/// Who logged in through the provider.
#[derive(Debug, Clone)]
pub struct SsoIdentity {
    /// The staff member.
    pub user: User,
    /// Where to go afterwards (the `next` of the login).
    pub next: String,
    /// The provider says the person used more than one factor (`amr` holds `mfa`, or a second
    /// factor such as `otp`, `hwk`, `sc`, `swk`, `fpt`).
    pub multi_factor: bool,
}

/// The sealed state's contents.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LoginState {
    pub(super) state: String,
    pub(super) nonce: String,
    pub(super) verifier: String,
    pub(super) next: String,
    pub(super) expires: i64,
}

/// Seals `login` for `tenant`.
pub(super) async fn seal(
    vault: &Vault,
    tenant: TenantId,
    login: &LoginState,
) -> crate::Result<SecretString> {
    let plain = serde_json::to_string(login)
        .map_err(|e| crate::Error::internal(format!("SSO login state: {e}")))?;
    let sealed = vault
        .seal(
            tenant,
            SecretPurpose::SsoLoginState,
            &SecretString::from(plain),
        )
        .await?;
    Ok(SecretString::from(
        URL_SAFE_NO_PAD.encode(sealed.ciphertext),
    ))
}

/// Opens the sealed state of `tenant` and checks it is the one `state` names and not expired.
pub(super) async fn open(
    vault: &Vault,
    tenant: TenantId,
    sealed: &str,
    state: &str,
) -> Result<LoginState, SsoFailure> {
    let ciphertext = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| SsoFailure::BadState)?;
    let plain = vault
        .open(
            tenant,
            SecretPurpose::SsoLoginState,
            &SealedSecret {
                ciphertext,
                key_version: DATA_KEY_VERSION,
            },
        )
        .await
        .map_err(|_| SsoFailure::BadState)?;
    let login: LoginState =
        serde_json::from_str(plain.expose_secret()).map_err(|_| SsoFailure::BadState)?;
    if login.expires <= Utc::now().timestamp() || !same(&login.state, state) {
        return Err(SsoFailure::BadState);
    }
    Ok(login)
}

/// Compares two secrets without an early exit on the first difference.
fn same(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// Whether the nonce in an ID token is the login's.
pub fn nonce_matches(expected: &str, got: Option<&str>) -> bool {
    got.is_some_and(|got| same(expected, got))
}

/// The address the provider vouches for: present and verified, else `EmailUnverified`.
pub(super) fn verified_email(claims: &IdentityClaims) -> Result<Email, SsoFailure> {
    match (&claims.email, claims.email_verified) {
        (Some(email), true) => Email::parse(email).map_err(|_| SsoFailure::EmailUnverified),
        _ => Err(SsoFailure::EmailUnverified),
    }
}

/// Whether `amr` says more than a password was used (RFC 8176 values).
pub(super) fn multi_factor(amr: &[String]) -> bool {
    amr.iter().any(|m| {
        matches!(
            m.as_str(),
            "mfa" | "otp" | "hwk" | "sc" | "swk" | "fpt" | "face"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(email: Option<&str>, verified: bool) -> IdentityClaims {
        IdentityClaims {
            subject: "s".to_owned(),
            email: email.map(str::to_owned),
            email_verified: verified,
            amr: Vec::new(),
        }
    }

    #[test]
    fn only_a_verified_address_identifies_someone() {
        assert_eq!(
            verified_email(&claims(Some("Sam@Harbour.example"), true))
                .unwrap()
                .as_str(),
            "sam@harbour.example"
        );
        assert!(verified_email(&claims(Some("sam@harbour.example"), false)).is_err());
        assert!(verified_email(&claims(None, true)).is_err());
    }

    #[test]
    fn a_second_factor_in_amr_counts_a_password_alone_does_not() {
        assert!(multi_factor(&["pwd".to_owned(), "mfa".to_owned()]));
        assert!(multi_factor(&["otp".to_owned()]));
        assert!(!multi_factor(&["pwd".to_owned()]));
        assert!(!multi_factor(&[]));
    }

    #[test]
    fn nonces_must_match_exactly() {
        assert!(nonce_matches("abc", Some("abc")));
        assert!(!nonce_matches("abc", Some("abd")));
        assert!(!nonce_matches("abc", None));
    }
}
