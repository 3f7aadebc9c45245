//! Staff accounts. A user belongs to exactly one clinic; the same e-mail address in two clinics is
//! two unrelated users. Every query starts from the clinic ([`UserRepository`] methods all take
//! the tenant first), so another clinic's user is simply not found.

mod email;
pub mod password;
pub mod password_links;
pub mod recovery;
mod service;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use email::Email;
pub use password::{Password, PasswordHash};
pub use password_links::{
    IssuedLink, LinkPurpose, PasswordLinkRepository, PasswordLinkToken, UsableLink,
};
pub use recovery::{PasswordRecovery, ResetRequest};
pub use service::{NewStaff, StaffChange, UserService};

use crate::Result;
use crate::ids::{TenantId, UserId};

/// What a staff member may do in their clinic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Created at sign-up; can do everything, including managing other owners.
    Owner,
    /// Manages settings, the Cliniko key, staff (except owners) and API clients.
    Admin,
    /// Sees patients; cannot change settings, keys, users or clients.
    Clinician,
}

impl Role {
    /// The value stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Clinician => "clinician",
        }
    }

    /// Parses a stored value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "clinician" => Some(Self::Clinician),
            _ => None,
        }
    }

    /// Whether this role may change the clinic's settings, keys, staff and clients.
    pub const fn manages_clinic(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

/// A staff member as stored (without the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// The one clinic it belongs to.
    pub tenant_id: TenantId,
    /// Login name, lowercase, unique within the clinic.
    pub email: Email,
    /// The name staff know the person by, if given.
    pub display_name: Option<DisplayName>,
    /// What it may do.
    pub role: Role,
    /// Deactivated users cannot log in and their sessions end.
    pub active: bool,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// A staff member's display name: 1 to 100 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Checks a name as typed; blank is `None` (no name).
    ///
    /// # Errors
    /// A field error on `display_name` when too long or holding control characters.
    pub fn parse(raw: &str) -> std::result::Result<Option<Self>, crate::FieldError> {
        let name = raw.trim();
        if name.is_empty() {
            return Ok(None);
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(crate::FieldError::new(
                "display_name",
                "too_long",
                "use at most 100 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(crate::FieldError::new(
                "display_name",
                "invalid_characters",
                "a name cannot hold line breaks or control characters",
            ));
        }
        Ok(Some(Self(name.to_owned())))
    }

    /// Wraps a stored name.
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user about to be stored. The id is chosen by the service (UUIDv7), like every id.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Its id.
    pub id: UserId,
    /// Login name.
    pub email: Email,
    /// The name staff know the person by.
    pub display_name: Option<DisplayName>,
    /// Role.
    pub role: Role,
    /// argon2id hash of its password.
    pub password_hash: PasswordHash,
}

/// A change to a user's role or active flag (absent fields stay as they are).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserChange {
    /// The new role.
    pub role: Option<Role>,
    /// Activate or deactivate.
    pub active: Option<bool>,
}

/// Storage of staff accounts; every method is scoped to one clinic.
#[async_trait]
pub trait UserRepository: Send + Sync + std::fmt::Debug {
    /// The clinic's users, oldest first.
    async fn list_in_tenant(&self, tenant: TenantId) -> Result<Vec<User>>;
    /// One of the clinic's users; another clinic's id is `None`.
    async fn find_in_tenant(&self, tenant: TenantId, id: UserId) -> Result<Option<User>>;
    /// A user of the clinic by e-mail, with the password hash, for logging in.
    async fn credentials_in_tenant(
        &self,
        tenant: TenantId,
        email: &Email,
    ) -> Result<Option<(User, PasswordHash)>>;
    /// Replaces a user's password hash; another clinic's id is `NotFound`.
    async fn set_password_in_tenant(
        &self,
        tenant: TenantId,
        id: UserId,
        hash: PasswordHash,
    ) -> Result<()>;
    /// Adds a user to the clinic; an e-mail already used in this clinic is
    /// `Conflict { code: "email_taken" }`.
    async fn create_in_tenant(&self, tenant: TenantId, user: NewUser) -> Result<User>;
    /// Applies `change` atomically with the rule that a clinic always keeps at least one active
    /// owner: a change that would leave none is `Conflict { code: "last_owner" }`. Another
    /// clinic's id is `NotFound`.
    async fn change_in_tenant(
        &self,
        tenant: TenantId,
        id: UserId,
        change: UserChange,
    ) -> Result<User>;
}
