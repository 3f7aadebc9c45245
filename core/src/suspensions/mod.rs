//! The clinic's kill-switches: suspending one API client, or every integration of the clinic at
//! once, and resuming them. Owners and admins switch; every switch is recorded with who did it.
//!
//! What a suspension does is enforced where the state is already read, so it costs nothing per
//! request: token validation refuses the client's tokens (the state travels in the cached
//! [`ClientAccess`](crate::tokens::ClientAccess), refreshed here after every switch, so every
//! instance sees it on its next request), and the delivery claim skips the client's deliveries,
//! which stay pending — held, not attempted, not failed — until it is resumed. The database is
//! the record; a shared cache in front of it may be lost at any time without losing a suspension.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{TenantId, UserId};
use crate::tenancy::TenantContext;
use crate::tokens::{AccessChecker, ClientId};
use crate::{Error, Result};

/// What a switch applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// One API client of the clinic.
    Client(ClientId),
    /// Every API client and integration of the clinic.
    Clinic,
}

/// Which way a switch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// Stop: tokens refused, deliveries held.
    Suspend,
    /// Go again: held deliveries go out in the order they were created.
    Resume,
}

impl Switch {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Resume => "resume",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Suspend, Self::Resume]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recorded switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspensionRecord {
    /// The client switched; `None` for the whole clinic.
    pub client_id: Option<ClientId>,
    /// Suspend or resume.
    pub switch: Switch,
    /// The staff member who switched.
    pub actor: UserId,
    /// Their email, unless they have since been removed from the clinic.
    pub actor_email: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Storage of suspension state and history.
#[async_trait]
pub trait SuspensionRepository: Send + Sync + fmt::Debug {
    /// Switches `subject` of `tenant` and, when that changed its state, records the switch by
    /// `actor` at `at`, in one transaction. A resume also makes the subject's held deliveries
    /// that were never attempted due again at their creation time, so they go out in the order
    /// they were created. Returns since when the subject is suspended after the switch.
    ///
    /// # Errors
    /// `NotFound` for another clinic's (or an unknown) client.
    async fn switch(
        &self,
        tenant: TenantId,
        subject: &Subject,
        switch: Switch,
        actor: UserId,
        at: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>>;

    /// Since when every integration of `tenant` is suspended, if it is.
    async fn clinic_suspended_since(&self, tenant: TenantId) -> Result<Option<DateTime<Utc>>>;

    /// The clinic's most recent switches, newest first, at most `limit`.
    async fn history(&self, tenant: TenantId, limit: u64) -> Result<Vec<SuspensionRecord>>;
}

/// The state of a subject after a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspensionState {
    /// What was switched.
    pub subject: Subject,
    /// Since when it is suspended; `None` when it is not.
    pub suspended_at: Option<DateTime<Utc>>,
}

/// How many switches the history shows.
pub const HISTORY_LIMIT: u64 = 200;

/// The kill-switches of one clinic at a time.
#[derive(Debug, Clone)]
pub struct SuspensionService {
    store: Arc<dyn SuspensionRepository>,
    access: AccessChecker,
}

impl SuspensionService {
    /// A service over `store`; `access` is told after every switch so token validation sees it.
    pub fn new(store: Arc<dyn SuspensionRepository>, access: AccessChecker) -> Self {
        Self { store, access }
    }

    /// Suspends or resumes `subject`. Switching to the state it is already in changes and
    /// records nothing.
    ///
    /// # Errors
    /// `Forbidden` for clinicians and API clients; `NotFound` for another clinic's client.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id(), switch = %switch))]
    pub async fn switch(
        &self,
        ctx: &TenantContext,
        subject: Subject,
        switch: Switch,
    ) -> Result<SuspensionState> {
        ctx.require_manager()?;
        let actor = ctx
            .user_id()
            .ok_or_else(|| Error::Forbidden("only staff can suspend integrations".to_owned()))?;
        let suspended_at = self
            .store
            .switch(ctx.tenant_id(), &subject, switch, actor, Utc::now())
            .await?;
        // The database has the new state; now every instance's token check must see it.
        match &subject {
            Subject::Client(client_id) => self.access.refresh(client_id).await?,
            Subject::Clinic => self.access.refresh_clinic(ctx.tenant_id()).await?,
        }
        tracing::info!(subject = ?subject, "integrations switched");
        Ok(SuspensionState {
            subject,
            suspended_at,
        })
    }

    /// Since when the whole clinic's integrations are suspended, and the recent switches,
    /// newest first. Any staff member may look.
    ///
    /// # Errors
    /// `Forbidden` for API clients.
    pub async fn overview(
        &self,
        ctx: &TenantContext,
    ) -> Result<(Option<DateTime<Utc>>, Vec<SuspensionRecord>)> {
        if ctx.user_id().is_none() {
            return Err(Error::Forbidden(
                "only the clinic's staff can read its suspensions".to_owned(),
            ));
        }
        let tenant = ctx.tenant_id();
        tokio::try_join!(
            self.store.clinic_suspended_since(tenant),
            self.store.history(tenant, HISTORY_LIMIT)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_round_trip_through_their_stored_names() {
        for switch in [Switch::Suspend, Switch::Resume] {
            assert_eq!(Switch::parse(switch.as_str()), Some(switch));
        }
        assert_eq!(Switch::parse("pause"), None);
    }
}
