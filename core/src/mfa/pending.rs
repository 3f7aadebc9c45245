//! The state between a correct password and a correct code: a token sealed with the clinic's data
//! key (AES-256-GCM, bound to the clinic and to this purpose), holding the user and an expiry.
//! Nothing is stored: the token cannot be forged or moved to another clinic, and it only lets its
//! holder try codes, each of which is single-use and throttled per user.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret as _, SecretString};

use crate::ids::{TenantId, UserId};
use crate::secrets::{DATA_KEY_VERSION, SealedSecret, SecretPurpose, Vault};
use crate::{Error, Result};

/// How long a password step stays good for entering a code.
pub const PENDING_LIFETIME: Duration = Duration::minutes(5);
/// Prefix that makes a pending-login token recognisable.
const PREFIX: &str = "cgmfa_";

/// A pending login as handed to the browser or script.
#[derive(Debug)]
pub struct PendingLogin {
    /// The opaque token to present with the code.
    pub token: SecretString,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Seals a pending login of `user` at `tenant`.
pub(super) async fn issue(vault: &Vault, tenant: TenantId, user: UserId) -> Result<PendingLogin> {
    let expires_at = Utc::now() + PENDING_LIFETIME;
    let plain = SecretString::from(format!("{}|{}", user.as_uuid(), expires_at.timestamp()));
    let sealed = vault
        .seal(tenant, SecretPurpose::MfaPendingLogin, &plain)
        .await?;
    Ok(PendingLogin {
        token: SecretString::from(format!(
            "{PREFIX}{}",
            URL_SAFE_NO_PAD.encode(sealed.ciphertext)
        )),
        expires_at,
    })
}

/// The user of a pending login of `tenant` that has not expired; `Unauthenticated` otherwise.
pub(super) async fn open(vault: &Vault, tenant: TenantId, token: &str) -> Result<UserId> {
    let ciphertext = token
        .strip_prefix(PREFIX)
        .and_then(|body| URL_SAFE_NO_PAD.decode(body).ok())
        .ok_or(Error::Unauthenticated)?;
    let sealed = SealedSecret {
        ciphertext,
        key_version: DATA_KEY_VERSION,
    };
    // A token of another clinic, or altered, fails authentication: the same answer as expired.
    let plain = vault
        .open(tenant, SecretPurpose::MfaPendingLogin, &sealed)
        .await
        .map_err(|_| Error::Unauthenticated)?;
    let (user, expires) = plain
        .expose_secret()
        .split_once('|')
        .ok_or(Error::Unauthenticated)?;
    let expires: i64 = expires.parse().map_err(|_| Error::Unauthenticated)?;
    if expires <= Utc::now().timestamp() {
        return Err(Error::Unauthenticated);
    }
    let user = uuid::Uuid::parse_str(user).map_err(|_| Error::Unauthenticated)?;
    Ok(UserId::from_uuid(user))
}
