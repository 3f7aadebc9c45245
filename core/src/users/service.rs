//! Managing a clinic's staff: who may add, change and deactivate whom.
//!
//! Rules: only owners and admins manage staff; only an owner may create an owner, promote someone
//! to owner, or change an owner; the last active owner can be neither demoted nor deactivated
//! (enforced atomically by the repository); deactivating a user ends all their sessions.

use std::sync::Arc;

use secrecy::SecretString;

use super::{Email, NewUser, Password, Role, User, UserChange, UserRepository, password};
use crate::ids::UserId;
use crate::ports::SessionStore;
use crate::tenancy::TenantContext;
use crate::{Error, FieldError, Result};

/// A staff member to add, as requested.
#[derive(Debug)]
pub struct NewStaff {
    /// Their e-mail (login name).
    pub email: String,
    /// Their role.
    pub role: Role,
    /// Their initial password (they log in with it; changing it is theirs to do).
    pub password: SecretString,
}

/// A change requested through the API: role and/or active flag.
pub type StaffChange = UserChange;

/// Staff management for one clinic at a time.
#[derive(Debug, Clone)]
pub struct UserService {
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionStore>,
}

fn owners_only() -> Error {
    Error::Forbidden("only an owner can create, promote or change an owner".to_owned())
}

impl UserService {
    /// A service over `users`, ending sessions in `sessions` on deactivation.
    pub fn new(users: Arc<dyn UserRepository>, sessions: Arc<dyn SessionStore>) -> Self {
        Self { users, sessions }
    }

    /// The clinic's staff.
    pub async fn list(&self, ctx: &TenantContext) -> Result<Vec<User>> {
        ctx.require_manager()?;
        self.users.list_in_tenant(ctx.tenant_id()).await
    }

    /// Adds a staff member.
    pub async fn create(&self, ctx: &TenantContext, staff: NewStaff) -> Result<User> {
        ctx.require_manager()?;
        if staff.role == Role::Owner && ctx.role() != Some(Role::Owner) {
            return Err(owners_only());
        }
        let mut errors: Vec<FieldError> = Vec::new();
        let email = Email::parse(&staff.email).map_err(|e| errors.push(e)).ok();
        let password = Password::parse_new(staff.password)
            .map_err(|e| errors.push(e))
            .ok();
        let (Some(email), Some(password)) = (email, password) else {
            return Err(Error::Validation(errors));
        };
        let password_hash = password::hash(password).await?;
        self.users
            .create_in_tenant(
                ctx.tenant_id(),
                NewUser {
                    id: UserId::new(),
                    email,
                    role: staff.role,
                    password_hash,
                },
            )
            .await
    }

    /// Changes a staff member's role and/or active flag.
    pub async fn change(
        &self,
        ctx: &TenantContext,
        id: UserId,
        change: StaffChange,
    ) -> Result<User> {
        ctx.require_manager()?;
        let target = self
            .users
            .find_in_tenant(ctx.tenant_id(), id)
            .await?
            .ok_or(Error::NotFound { resource: "user" })?;
        if ctx.role() != Some(Role::Owner)
            && (target.role == Role::Owner || change.role == Some(Role::Owner))
        {
            return Err(owners_only());
        }
        let updated = self
            .users
            .change_in_tenant(ctx.tenant_id(), id, change)
            .await?;
        if !updated.active {
            // The session check re-reads the user on every request and refuses inactive ones, so
            // a store outage here cannot keep a deactivated user in: it only leaves dead entries.
            if let Err(err) = self.sessions.remove_all_for_user(id).await {
                tracing::warn!(error = %err, user_id = %id, "could not remove a deactivated user's sessions; they are refused anyway");
            }
        }
        Ok(updated)
    }

    /// Deactivates a staff member (`DELETE`): they can no longer log in and their sessions end.
    pub async fn deactivate(&self, ctx: &TenantContext, id: UserId) -> Result<User> {
        self.change(
            ctx,
            id,
            UserChange {
                role: None,
                active: Some(false),
            },
        )
        .await
    }
}
