//! Managing a clinic's staff: who may add, change and deactivate whom.
//!
//! Rules: only owners and admins manage staff; only an owner may create an owner, promote someone
//! to owner, or change an owner; the last active owner can be neither demoted nor deactivated
//! (enforced atomically by the repository); deactivating a user ends all their sessions.
//!
//! Passwords: a staff member changes their own (the current one required; every session of
//! theirs ends, and the caller starts a fresh one); a manager makes a one-time reset link for
//! someone they may manage, and a staff member added without a password gets an invite link
//! (see [`super::password_links`]). Using a link ends every session of its person.

use std::sync::Arc;

use chrono::Utc;
use secrecy::SecretString;

use super::password_links::{NewPasswordLink, PasswordLinkId};
use super::{
    DisplayName, Email, IssuedLink, LinkPurpose, NewUser, Password, PasswordLinkRepository,
    PasswordLinkToken, Role, UsableLink, User, UserChange, UserRepository, password,
};
use crate::ids::{TenantId, UserId};
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
    /// The name staff know them by, if any.
    pub display_name: Option<String>,
    /// Their initial password (they log in with it; changing it is theirs to do); without one,
    /// they get an invite link to choose it themselves.
    pub password: Option<SecretString>,
}

/// A change requested through the API: role and/or active flag.
pub type StaffChange = UserChange;

/// Staff management for one clinic at a time.
#[derive(Debug, Clone)]
pub struct UserService {
    users: Arc<dyn UserRepository>,
    links: Arc<dyn PasswordLinkRepository>,
    sessions: Arc<dyn SessionStore>,
}

/// Every unusable link answers the same: nobody learns whether it existed.
fn link_unusable() -> Error {
    Error::NotFound {
        resource: "password link",
    }
}

fn owners_only() -> Error {
    Error::Forbidden("only an owner can create, promote or change an owner".to_owned())
}

impl UserService {
    /// A service over `users` and their password `links`, ending sessions in `sessions`.
    pub fn new(
        users: Arc<dyn UserRepository>,
        links: Arc<dyn PasswordLinkRepository>,
        sessions: Arc<dyn SessionStore>,
    ) -> Self {
        Self {
            users,
            links,
            sessions,
        }
    }

    /// The clinic's staff.
    pub async fn list(&self, ctx: &TenantContext) -> Result<Vec<User>> {
        ctx.require_manager()?;
        self.users.list_in_tenant(ctx.tenant_id()).await
    }

    /// Adds a staff member; without a password, also their invite link.
    pub async fn create(
        &self,
        ctx: &TenantContext,
        staff: NewStaff,
    ) -> Result<(User, Option<IssuedLink>)> {
        ctx.require_manager()?;
        if staff.role == Role::Owner && ctx.role() != Some(Role::Owner) {
            return Err(owners_only());
        }
        let mut errors: Vec<FieldError> = Vec::new();
        let email = Email::parse(&staff.email).map_err(|e| errors.push(e)).ok();
        let display_name = staff
            .display_name
            .as_deref()
            .map_or(Ok(None), DisplayName::parse)
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        let password = staff
            .password
            .map(|raw| Password::parse_new(raw).map_err(|e| errors.push(e)).ok());
        let (Some(email), true) = (email, errors.is_empty()) else {
            return Err(Error::Validation(errors));
        };
        let invited = password.is_none();
        let password_hash = match password.flatten() {
            Some(password) => password::hash(password).await?,
            None => password::unusable().await?,
        };
        let user = self
            .users
            .create_in_tenant(
                ctx.tenant_id(),
                NewUser {
                    id: UserId::new(),
                    email,
                    display_name,
                    role: staff.role,
                    password_hash,
                },
            )
            .await?;
        let invite = if invited {
            Some(
                self.issue(ctx.tenant_id(), ctx.user_id(), user.id, LinkPurpose::Invite)
                    .await?,
            )
        } else {
            None
        };
        Ok((user, invite))
    }

    /// A one-time reset link for a staff member the caller may manage (24 hours; any older
    /// unused link of theirs stops working). Made links are recorded with their maker.
    pub async fn create_reset_link(
        &self,
        ctx: &TenantContext,
        id: UserId,
    ) -> Result<(User, IssuedLink)> {
        ctx.require_manager()?;
        let target = self.managed(ctx, id).await?;
        if !target.active {
            return Err(Error::Conflict {
                code: "user_inactive",
                detail: "this staff member is deactivated; reactivate them first".to_owned(),
            });
        }
        let issued = self
            .issue(ctx.tenant_id(), ctx.user_id(), id, LinkPurpose::Reset)
            .await?;
        Ok((target, issued))
    }

    /// A reset link asked for on the login page ("Forgot password?") for `email` in `tenant`:
    /// `None` when no active staff member of this clinic has that address (the caller answers
    /// the same either way). Like a manager's link it spends any older unused one.
    pub async fn request_reset_link(
        &self,
        tenant: TenantId,
        email: &str,
    ) -> Result<Option<(User, IssuedLink)>> {
        let Ok(email) = Email::parse(email) else {
            return Ok(None);
        };
        let Some((user, _)) = self.users.credentials_in_tenant(tenant, &email).await? else {
            return Ok(None);
        };
        if !user.active {
            return Ok(None);
        }
        let issued = self
            .issue(tenant, None, user.id, LinkPurpose::Reset)
            .await?;
        Ok(Some((user, issued)))
    }

    async fn issue(
        &self,
        tenant: TenantId,
        created_by: Option<UserId>,
        user_id: UserId,
        purpose: LinkPurpose,
    ) -> Result<IssuedLink> {
        let token = PasswordLinkToken::generate();
        let expires_at = Utc::now() + purpose.lifetime();
        self.links
            .insert_in_tenant(
                tenant,
                NewPasswordLink {
                    id: PasswordLinkId::new(),
                    user_id,
                    purpose,
                    token_digest: token.digest(),
                    created_by,
                    expires_at,
                },
            )
            .await?;
        tracing::info!(
            tenant_id = %tenant,
            user_id = %user_id,
            created_by = ?created_by,
            purpose = purpose.as_str(),
            "password link made"
        );
        Ok(IssuedLink {
            token,
            purpose,
            expires_at,
        })
    }

    /// The link `presented` stands for on clinic `tenant`'s host, if it can still be used.
    pub async fn usable_link(&self, tenant: TenantId, presented: &str) -> Result<UsableLink> {
        let token = PasswordLinkToken::parse(presented.trim()).ok_or_else(link_unusable)?;
        self.links
            .find_usable_in_tenant(tenant, &token.digest(), Utc::now())
            .await?
            .ok_or_else(link_unusable)
    }

    /// Sets the password of the link `presented` stands for, spends the link, and ends every
    /// session of its person.
    ///
    /// # Errors
    /// `Validation` for a password that breaks the rules (the link stays usable); `NotFound`
    /// (`password_link`) for a link that is unknown, used, expired or another clinic's.
    pub async fn redeem_link(
        &self,
        tenant: TenantId,
        presented: &str,
        new_password: SecretString,
    ) -> Result<UsableLink> {
        let token = PasswordLinkToken::parse(presented.trim()).ok_or_else(link_unusable)?;
        let password = Password::parse_new(new_password).map_err(|e| Error::Validation(vec![e]))?;
        let hash = password::hash(password).await?;
        let link = self
            .links
            .redeem_in_tenant(tenant, &token.digest(), Utc::now(), hash)
            .await?
            .ok_or_else(link_unusable)?;
        self.sessions.remove_all_for_user(link.user_id).await?;
        tracing::info!(tenant_id = %tenant, user_id = %link.user_id, purpose = link.purpose.as_str(), "password set through a link");
        Ok(link)
    }

    /// Changes the caller's own password after checking the current one, and ends every
    /// session of theirs (the caller's included: it starts a fresh one).
    ///
    /// # Errors
    /// `Validation` on `current_password` (wrong) or `new_password` (breaks the rules); nothing
    /// changes then.
    pub async fn change_own_password(
        &self,
        ctx: &TenantContext,
        current: SecretString,
        new: SecretString,
    ) -> Result<User> {
        let id = ctx.user_id().ok_or(Error::Unauthenticated)?;
        let user = self
            .users
            .find_in_tenant(ctx.tenant_id(), id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let stored = self
            .users
            .credentials_in_tenant(ctx.tenant_id(), &user.email)
            .await?
            .map(|(_, hash)| hash);
        let new = Password::parse_new(new).map_err(|mut e| {
            e.field = "new_password".to_owned();
            e
        });
        if !password::verify(current, stored).await? {
            return Err(Error::invalid(
                "current_password",
                "incorrect",
                "this is not your current password",
            ));
        }
        let hash = password::hash(new.map_err(|e| Error::Validation(vec![e]))?).await?;
        self.users
            .set_password_in_tenant(ctx.tenant_id(), id, hash)
            .await?;
        self.sessions.remove_all_for_user(id).await?;
        tracing::info!(tenant_id = %ctx.tenant_id(), user_id = %id, "password changed");
        Ok(user)
    }

    /// A staff member the caller may manage: another clinic's is `NotFound`, an owner is only
    /// an owner's to manage.
    async fn managed(&self, ctx: &TenantContext, id: UserId) -> Result<User> {
        let target = self
            .users
            .find_in_tenant(ctx.tenant_id(), id)
            .await?
            .ok_or(Error::NotFound { resource: "user" })?;
        if ctx.role() != Some(Role::Owner) && target.role == Role::Owner {
            return Err(owners_only());
        }
        Ok(target)
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
