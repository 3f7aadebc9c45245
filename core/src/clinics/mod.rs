//! Clinics are ClinicGate's tenants: each has a subdomain, and every tenant-owned record hangs off
//! its [`TenantId`].

mod name;
mod signup;
mod subdomain;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use name::ClinicName;
pub use signup::{SignupRequest, SignupService, subdomain_taken};
pub use subdomain::Subdomain;

use crate::Result;
use crate::ids::TenantId;
use crate::users::{NewUser, User};

/// Whether a clinic may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClinicStatus {
    /// Normal operation.
    Active,
    /// Switched off by an operator: its hosts answer 404 and its tokens stop working.
    Suspended,
}

impl ClinicStatus {
    /// The value stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    /// Parses a stored value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// A clinic as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clinic {
    /// Its id.
    pub id: TenantId,
    /// Display name chosen at sign-up.
    pub name: String,
    /// Its unique subdomain (lowercase).
    pub subdomain: Subdomain,
    /// Active or suspended.
    pub status: ClinicStatus,
    /// When it signed up (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// What is needed to create a clinic.
#[derive(Debug, Clone)]
pub struct NewClinic {
    /// Display name.
    pub name: String,
    /// The subdomain it will be served on.
    pub subdomain: Subdomain,
}

/// Storage of clinics.
#[async_trait]
pub trait ClinicRepository: Send + Sync + std::fmt::Debug {
    /// Stores a new clinic; a subdomain already in use is `Error::Conflict { code: "subdomain_taken" }`.
    async fn create(&self, clinic: NewClinic) -> Result<Clinic>;
    /// Stores a new clinic and its first user in one transaction: on any failure neither exists.
    /// A subdomain already in use is `Error::Conflict { code: "subdomain_taken" }`.
    async fn create_with_owner(&self, clinic: NewClinic, owner: NewUser) -> Result<(Clinic, User)>;
    /// Finds a clinic by its subdomain (any status).
    async fn find_by_subdomain(&self, subdomain: &Subdomain) -> Result<Option<Clinic>>;
    /// Finds a clinic by id (any status).
    async fn find_by_id(&self, id: TenantId) -> Result<Option<Clinic>>;
    /// Changes a clinic's status.
    async fn set_status(&self, id: TenantId, status: ClinicStatus) -> Result<()>;
}
