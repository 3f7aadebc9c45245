//! Paging state of a searchset, carried by the client instead of kept by the server: the search
//! (its parameters, page size and includes) and the page, sealed with the clinic's data key for
//! [`SecretPurpose::FhirCursor`]. Sealing makes the cursor opaque (search terms such as names
//! never show in a link), tamper-evident, bound to the clinic (another clinic's key cannot open
//! it) and, with the expiry inside, short-lived. Any instance can open it: nothing is stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use clinicgate_core::secrets::{DATA_KEY_VERSION, SealedSecret, SecretPurpose};
use clinicgate_core::tenancy::TenantContext;
use clinicgate_core::{Error, FieldError};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::state::AppState;

/// What a cursor holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The resource type searched.
    #[serde(rename = "r")]
    pub resource: String,
    /// The recognised search parameters, as given.
    #[serde(rename = "q")]
    pub params: Vec<(String, String)>,
    /// The page, from 1.
    #[serde(rename = "p")]
    pub page: u32,
    /// For a search that runs two Cliniko lists one after the other (Patient `name`): how
    /// many pages the first list fills, learnt on the first page and kept so every page of
    /// the walk splits the lists at the same place.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub first_pages: Option<u32>,
    /// Expiry, seconds since the epoch.
    #[serde(rename = "e")]
    pub expires: i64,
}

/// The error every unusable cursor gets: the caller cannot tell (and need not know) whether it
/// was changed, expired or belongs to another clinic.
fn refused() -> Error {
    Error::Validation(vec![FieldError::new(
        "_cursor",
        "invalid_cursor",
        "this paging link is invalid or has expired; run the search again",
    )])
}

impl Cursor {
    /// Seals the cursor for `ctx`'s clinic.
    pub async fn seal(&self, state: &AppState, ctx: &TenantContext) -> Result<String, Error> {
        let plain = serde_json::to_string(self).map_err(Error::internal)?;
        let sealed = state
            .vault
            .seal(
                ctx.tenant_id(),
                SecretPurpose::FhirCursor,
                &SecretString::from(plain),
            )
            .await?;
        Ok(URL_SAFE_NO_PAD.encode(sealed.ciphertext))
    }

    /// Opens a cursor sealed for `ctx`'s clinic and `resource`, refusing one that was changed,
    /// sealed for another clinic or resource, or has expired.
    pub async fn open(
        raw: &str,
        resource: &str,
        state: &AppState,
        ctx: &TenantContext,
    ) -> Result<Self, Error> {
        let ciphertext = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| refused())?;
        let sealed = SealedSecret {
            ciphertext,
            key_version: DATA_KEY_VERSION,
        };
        let plain = match state
            .vault
            .open(ctx.tenant_id(), SecretPurpose::FhirCursor, &sealed)
            .await
        {
            Ok(plain) => plain,
            // The store being down is not the caller's fault; anything else is a bad cursor.
            Err(err @ Error::Unavailable { .. }) => return Err(err),
            Err(_) => return Err(refused()),
        };
        let cursor: Self = serde_json::from_str(plain.expose_secret()).map_err(|_| refused())?;
        if cursor.resource != resource || cursor.expires < Utc::now().timestamp() {
            return Err(refused());
        }
        Ok(cursor)
    }
}
