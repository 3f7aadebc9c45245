//! Cliniko, the practice-management system every clinic connects: identifiers, API keys and the
//! port through which ClinicGate talks to it. Facts come from `shared/reference/cliniko-api.md`.

mod ids;
mod key;

use async_trait::async_trait;

pub use ids::ClinikoId;
pub use key::{ClinikoApiKey, Shard};

use crate::Result;
use crate::ids::TenantId;

/// Which kind of caller a Cliniko request serves; it decides how the shared per-key budget treats
/// it when budget is short. Highest priority first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// A clinician waiting on a page: may wait briefly for budget.
    Interactive,
    /// A third-party API call: fails fast with 429 when no budget is left.
    Api,
    /// Sync, webhooks, backfills: only uses budget above a reserve, and waits.
    Background,
}

impl Lane {
    /// Label for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Interactive => "interactive",
            Self::Api => "api",
            Self::Background => "background",
        }
    }
}

/// One clinic's Cliniko credentials, as handed to the client for a call.
#[derive(Debug, Clone)]
pub struct ClinikoAccount {
    /// The clinic the key belongs to (for the per-clinic metrics and cache namespaces).
    pub tenant_id: TenantId,
    /// Its API key (carries the shard).
    pub key: ClinikoApiKey,
}

/// The Cliniko user behind an API key (`GET /user`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClinikoUser {
    /// Cliniko's id of the user.
    pub id: ClinikoId,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Security role, e.g. `administrator` (absent in some accounts).
    pub role: Option<String>,
    /// Whether the user is active.
    pub active: Option<bool>,
}

/// The Cliniko API. Implemented in `clinicgate-adapters` over HTTP, with one shared rate budget
/// per key; every call names the [`Lane`] it runs on.
///
/// Errors: Cliniko 401 → `Error::Upstream { failure: Unauthorized }` (the caller marks the clinic's
/// key as needing attention), 403 → `Forbidden`, 404 → `Error::NotFound`, 422 →
/// `Error::Validation` with Cliniko's field messages, 429 or no budget → `Error::RateLimited`,
/// 5xx/timeouts/garbage → the matching [`crate::error::UpstreamFailure`].
#[async_trait]
pub trait ClinikoClient: Send + Sync + std::fmt::Debug {
    /// `GET /user`: the user that owns the key. Used to verify a key before storing it.
    async fn current_user(&self, account: &ClinikoAccount, lane: Lane) -> Result<ClinikoUser>;
}
