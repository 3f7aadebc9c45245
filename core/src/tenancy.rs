//! Tenancy as a type. A [`TenantContext`] says "this request acts for this clinic, as this
//! actor": a staff member (authenticated by a browser session), a partner's API client
//! (authenticated by an access token) or a doctor's calendar feed (authenticated by the token in
//! its URL). It can only be built by authentication in this crate
//! (`sessions::SessionService`, `tokens::TokenService`, `calendar_feeds::CalendarFeedService`), so a service that takes one cannot be
//! called for a clinic the caller was not authenticated for. Every tenant-owned service method
//! takes it.

use crate::calendar_feeds::CalendarFeedId;
use crate::cliniko::{ClinikoCaller, ClinikoId};
use crate::ids::{TenantId, UserId};
use crate::tokens::{ClientId, Scope, ScopeSet};
use crate::users::Role;
use crate::{Error, Result};

/// Who acts within the clinic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A staff member, through a browser session.
    Staff {
        /// The staff member.
        user_id: UserId,
        /// Their role, as read from storage when the request was authenticated.
        role: Role,
    },
    /// A partner's API client, through an access token.
    ApiClient {
        /// The client (the token's `sub`).
        client_id: ClientId,
        /// The scopes this request may use: the token's, narrowed to what the client still holds.
        scopes: ScopeSet,
    },
    /// A doctor's calendar feed, through the token in its URL: it reads that doctor's
    /// appointments and nothing else.
    CalendarFeed {
        /// The feed.
        feed_id: CalendarFeedId,
        /// The doctor (Cliniko practitioner) whose appointments it shows.
        doctor_id: ClinikoId,
    },
}

/// The authenticated clinic and actor of a request. No public constructor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContext {
    tenant_id: TenantId,
    actor: Actor,
    /// An API client's cap on the clinic's Cliniko budget, in percent.
    cliniko_budget_share: Option<u8>,
}

impl TenantContext {
    /// A staff member's context; built by session authentication only.
    pub(crate) fn new(tenant_id: TenantId, user_id: UserId, role: Role) -> Self {
        Self {
            tenant_id,
            actor: Actor::Staff { user_id, role },
            cliniko_budget_share: None,
        }
    }

    /// An API client's context; built by token authentication only.
    pub(crate) fn for_api_client(
        tenant_id: TenantId,
        client_id: ClientId,
        scopes: ScopeSet,
    ) -> Self {
        Self {
            tenant_id,
            actor: Actor::ApiClient { client_id, scopes },
            cliniko_budget_share: None,
        }
    }

    /// A calendar feed's context; built by feed-token authentication only.
    pub(crate) fn for_calendar_feed(
        tenant_id: TenantId,
        feed_id: CalendarFeedId,
        doctor_id: ClinikoId,
    ) -> Self {
        Self {
            tenant_id,
            actor: Actor::CalendarFeed { feed_id, doctor_id },
            cliniko_budget_share: None,
        }
    }

    /// The clinic every query of this request is scoped to.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// Who acts.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The staff member acting, if a staff member acts.
    pub fn user_id(&self) -> Option<UserId> {
        match &self.actor {
            Actor::Staff { user_id, .. } => Some(*user_id),
            Actor::ApiClient { .. } | Actor::CalendarFeed { .. } => None,
        }
    }

    /// The staff member's role, if a staff member acts.
    pub fn role(&self) -> Option<Role> {
        match &self.actor {
            Actor::Staff { role, .. } => Some(*role),
            Actor::ApiClient { .. } | Actor::CalendarFeed { .. } => None,
        }
    }

    /// The API client acting, if an API client acts.
    pub fn client_id(&self) -> Option<&ClientId> {
        match &self.actor {
            Actor::ApiClient { client_id, .. } => Some(client_id),
            Actor::Staff { .. } | Actor::CalendarFeed { .. } => None,
        }
    }

    /// Whether the actor may use `scope`: only API clients hold scopes.
    pub fn has_scope(&self, scope: Scope) -> bool {
        matches!(&self.actor, Actor::ApiClient { scopes, .. } if scopes.contains(scope))
    }

    /// With the API client's cap on the clinic's Cliniko budget (percent); set by token
    /// authentication only, from the client's current state.
    pub(crate) fn with_cliniko_budget_share(mut self, percent: Option<u8>) -> Self {
        self.cliniko_budget_share = percent;
        self
    }

    /// The acting API client, with its cap on the clinic's Cliniko budget, for the Cliniko
    /// calls it causes; `None` when staff or a calendar feed act.
    pub fn cliniko_caller(&self) -> Option<ClinikoCaller> {
        match &self.actor {
            Actor::ApiClient { client_id, .. } => Some(ClinikoCaller {
                client_id: client_id.clone(),
                budget_share: self.cliniko_budget_share,
            }),
            Actor::Staff { .. } | Actor::CalendarFeed { .. } => None,
        }
    }

    /// Refuses everyone but owners and admins: only they change settings, keys, staff and
    /// clients. API clients never manage the clinic.
    ///
    /// # Errors
    /// `Forbidden` for a clinician or an API client.
    pub fn require_manager(&self) -> Result<()> {
        match &self.actor {
            Actor::Staff { role, .. } if role.manages_clinic() => Ok(()),
            Actor::Staff { .. } => Err(Error::Forbidden(
                "only the clinic's owners and admins can do this".to_owned(),
            )),
            Actor::ApiClient { .. } => Err(Error::Forbidden(
                "API clients cannot manage the clinic; an owner or admin must do this".to_owned(),
            )),
            Actor::CalendarFeed { .. } => Err(Error::Forbidden(
                "a calendar feed only reads its doctor's appointments".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_and_admins_manage_the_clinic() {
        let ctx = |role| TenantContext::new(TenantId::new(), UserId::new(), role);
        assert!(ctx(Role::Owner).require_manager().is_ok());
        assert!(ctx(Role::Admin).require_manager().is_ok());
        assert!(matches!(
            ctx(Role::Clinician).require_manager(),
            Err(Error::Forbidden(_))
        ));
    }

    #[test]
    fn an_api_client_holds_only_its_scopes_and_manages_nothing() {
        let scopes: ScopeSet = [Scope::DoctorsRead].into_iter().collect();
        let client = ClientId::generate();
        let ctx = TenantContext::for_api_client(TenantId::new(), client.clone(), scopes);
        assert!(ctx.has_scope(Scope::DoctorsRead));
        assert!(!ctx.has_scope(Scope::PatientsRead));
        assert_eq!(ctx.client_id(), Some(&client));
        assert_eq!(ctx.user_id(), None);
        assert_eq!(ctx.role(), None);
        assert!(matches!(ctx.require_manager(), Err(Error::Forbidden(_))));

        let staff = TenantContext::new(TenantId::new(), UserId::new(), Role::Owner);
        assert!(
            !staff.has_scope(Scope::DoctorsRead),
            "staff do not hold API scopes"
        );
        assert_eq!(staff.client_id(), None);
    }
}
