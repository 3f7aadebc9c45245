//! Logging in, resuming a session on each request, and logging out. This is where a
//! [`TenantContext`] is born for browser requests.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::throttle::{LoginThrottle, ThrottleKeys};
use super::token::SessionToken;
use crate::ids::TenantId;
use crate::ports::{SessionRecord, SessionStore};
use crate::tenancy::TenantContext;
use crate::users::{Email, User, UserRepository, password};
use crate::{Error, Result};

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after login, however active.
    pub absolute_timeout: Duration,
}

/// A login as submitted on a clinic's host.
#[derive(Debug)]
pub struct LoginAttempt {
    /// The clinic whose host received the login.
    pub tenant_id: TenantId,
    /// The e-mail as typed.
    pub email: String,
    /// The password as typed.
    pub password: SecretString,
    /// Where it came from, for throttling.
    pub client_ip: IpAddr,
    /// The session the browser already had, if any: it is ended (sessions rotate at login).
    pub previous: Option<SessionToken>,
}

/// A live session: who, for which clinic, until when.
#[derive(Debug, Clone)]
pub struct Session {
    /// The authenticated context.
    pub context: TenantContext,
    /// The staff member, as read now.
    pub user: User,
    /// The absolute end of the session.
    pub expires_at: DateTime<Utc>,
}

/// A session just created by a login, with the token for the cookie.
#[derive(Debug)]
pub struct NewSession {
    /// The cookie value.
    pub token: SessionToken,
    /// The session.
    pub session: Session,
}

/// Browser sessions over the [`SessionStore`] port.
#[derive(Debug, Clone)]
pub struct SessionService {
    users: Arc<dyn UserRepository>,
    store: Arc<dyn SessionStore>,
    throttle: LoginThrottle,
    policy: SessionPolicy,
}

impl SessionService {
    /// A service storing sessions in `store` and checking users in `users`.
    pub fn new(
        users: Arc<dyn UserRepository>,
        store: Arc<dyn SessionStore>,
        throttle: LoginThrottle,
        policy: SessionPolicy,
    ) -> Self {
        Self {
            users,
            store,
            throttle,
            policy,
        }
    }

    /// Checks the credentials and starts a session.
    ///
    /// The time taken does not depend on whether the e-mail exists: a missing user's password is
    /// checked against a dummy hash.
    ///
    /// # Errors
    /// `Unauthenticated` for any wrong credential (never saying which), `RateLimited` when the
    /// account or IP has failed too often, `Unavailable` when the stores are down.
    pub async fn login(&self, attempt: LoginAttempt) -> Result<NewSession> {
        let user = self.check_password(&attempt).await?;
        self.rotate(attempt.previous.as_ref(), attempt.tenant_id, user)
            .await
    }

    /// The password step of a login: the user whose credentials these are, without starting a
    /// session (a user with MFA still has a code to give).
    ///
    /// # Errors
    /// As [`Self::login`].
    #[tracing::instrument(skip_all, fields(tenant_id = %attempt.tenant_id))]
    pub async fn check_password(&self, attempt: &LoginAttempt) -> Result<User> {
        let keys = ThrottleKeys::new(attempt.tenant_id, &attempt.email, attempt.client_ip);
        let delay = self.throttle.admit(&keys).await?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let credentials = match Email::parse(&attempt.email) {
            Ok(email) => {
                self.users
                    .credentials_in_tenant(attempt.tenant_id, &email)
                    .await?
            }
            Err(_) => None,
        };
        let (user, hash) =
            credentials.map_or((None, None), |(user, hash)| (Some(user), Some(hash)));
        let matches = password::verify(attempt.password.clone(), hash).await?;
        match user {
            Some(user) if matches && user.active => {
                self.throttle.succeeded(&keys).await?;
                Ok(user)
            }
            _ => {
                self.throttle.failed(&keys).await?;
                Err(Error::Unauthenticated)
            }
        }
    }

    /// Starts the session of a completed login, ending the one the browser had (sessions rotate
    /// at login).
    ///
    /// # Errors
    /// `Unavailable` when the session store is down.
    pub async fn rotate(
        &self,
        previous: Option<&SessionToken>,
        tenant_id: TenantId,
        user: User,
    ) -> Result<NewSession> {
        if let Some(previous) = previous {
            self.store.remove(&previous.key()).await?;
        }
        let started = self.start(tenant_id, user).await?;
        tracing::info!(user_id = %started.session.user.id, "logged in");
        Ok(started)
    }

    /// A fresh session for `user` of clinic `tenant_id`, who has just proved who they are
    /// again (a password change ends every session of theirs, the one it was made in too).
    ///
    /// # Errors
    /// `Unavailable` when the session store is down.
    pub async fn start(&self, tenant_id: TenantId, user: User) -> Result<NewSession> {
        let token = SessionToken::generate();
        let now = Utc::now();
        let absolute =
            chrono::Duration::from_std(self.policy.absolute_timeout).map_err(Error::internal)?;
        let record = SessionRecord {
            tenant_id,
            user_id: user.id,
            created_at: now,
            expires_at: now + absolute,
        };
        self.store
            .insert(&token.key(), &record, self.policy.idle_timeout)
            .await?;
        Ok(NewSession {
            token,
            session: Session {
                context: TenantContext::new(tenant_id, user.id, user.role),
                expires_at: record.expires_at,
                user,
            },
        })
    }

    /// The session `token` stands for on the host of clinic `tenant_id`, its idle timer restarted.
    ///
    /// # Errors
    /// `Unauthenticated` when the session is unknown or expired, belongs to another clinic, or
    /// its user is gone or deactivated.
    pub async fn resume(&self, tenant_id: TenantId, token: &SessionToken) -> Result<Session> {
        let key = token.key();
        let record = self
            .store
            .get_and_touch(&key, self.policy.idle_timeout)
            .await?
            .ok_or(Error::Unauthenticated)?;
        if record.tenant_id != tenant_id {
            // Clinic A's cookie presented on clinic B's host (a host-only cookie should make this
            // impossible; refusing is what keeps it impossible).
            return Err(Error::Unauthenticated);
        }
        let user = match self.users.find_in_tenant(tenant_id, record.user_id).await? {
            Some(user) if user.active => user,
            _ => {
                self.store.remove(&key).await?;
                return Err(Error::Unauthenticated);
            }
        };
        Ok(Session {
            context: TenantContext::new(tenant_id, user.id, user.role),
            expires_at: record.expires_at,
            user,
        })
    }

    /// Ends the session `token` stands for (an unknown token is fine).
    pub async fn logout(&self, token: &SessionToken) -> Result<()> {
        self.store.remove(&token.key()).await
    }
}
