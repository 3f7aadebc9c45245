//! Managing a clinic's API clients (owners and admins): create (the secret is returned once),
//! list, change, rotate the secret (the old one keeps working for a grace period), delete (every
//! token of the client stops working at once).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::access::AccessChecker;
use super::clients::{
    ApiClient, ApiClientRepository, ClientChange, ClientId, ClientName, NewApiClient,
    validate_budget_share, validate_rate_limit,
};
use super::{ClientSecret, ScopeSet, SecretHasher};
use crate::tenancy::TenantContext;
use crate::{Error, FieldError, Result};

/// A client to create, as requested.
#[derive(Debug, Clone)]
pub struct NewClientRequest {
    /// Its name.
    pub name: String,
    /// Its scopes, one per entry.
    pub scopes: Vec<String>,
    /// Its rate limit; `None` = the default.
    pub rate_limit_per_minute: Option<u32>,
}

/// A change to a client, as requested; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    /// A new name.
    pub name: Option<String>,
    /// New scopes.
    pub scopes: Option<Vec<String>>,
    /// A new rate limit; `Some(None)` returns to the default.
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// A new cap on its share of the clinic's Cliniko budget (percent); `Some(None)` removes it.
    pub cliniko_budget_share: Option<Option<u8>>,
}

/// A client and its secret, right after creation or rotation: the only time it is visible.
#[derive(Debug)]
pub struct ClientWithSecret {
    /// The client.
    pub client: ApiClient,
    /// Its new secret.
    pub secret: ClientSecret,
}

/// API clients of one clinic at a time.
#[derive(Debug, Clone)]
pub struct ClientService {
    clients: Arc<dyn ApiClientRepository>,
    hasher: Arc<SecretHasher>,
    access: AccessChecker,
    secret_grace: Duration,
}

fn not_found() -> Error {
    Error::NotFound {
        resource: "API client",
    }
}

fn parse_scopes(words: &[String], errors: &mut Vec<FieldError>) -> Option<ScopeSet> {
    match ScopeSet::parse_words(words.iter().map(String::as_str), "scopes") {
        Ok(scopes) if scopes.is_empty() => {
            errors.push(FieldError::new(
                "scopes",
                "required",
                format!("choose at least one scope: {}", ScopeSet::all()),
            ));
            None
        }
        Ok(scopes) => Some(scopes),
        Err(Error::Validation(fields)) => {
            errors.extend(fields);
            None
        }
        Err(_) => None,
    }
}

fn collect<T>(result: Result<T>, errors: &mut Vec<FieldError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(Error::Validation(fields)) => {
            errors.extend(fields);
            None
        }
        Err(_) => None,
    }
}

impl ClientService {
    /// A service over `clients`, hashing secrets with `hasher`; a rotated secret keeps working
    /// for `secret_grace`.
    pub fn new(
        clients: Arc<dyn ApiClientRepository>,
        hasher: Arc<SecretHasher>,
        access: AccessChecker,
        secret_grace: Duration,
    ) -> Self {
        Self {
            clients,
            hasher,
            access,
            secret_grace,
        }
    }

    /// How long a rotated secret keeps working.
    pub fn secret_grace(&self) -> Duration {
        self.secret_grace
    }

    /// Creates a client; its secret is in the result and nowhere else, ever.
    ///
    /// # Errors
    /// `Forbidden` for clinicians and API clients; `Validation` naming every invalid field.
    pub async fn create(
        &self,
        ctx: &TenantContext,
        request: NewClientRequest,
    ) -> Result<ClientWithSecret> {
        ctx.require_manager()?;
        let mut errors = Vec::new();
        let name = collect(ClientName::parse(&request.name), &mut errors);
        let scopes = parse_scopes(&request.scopes, &mut errors);
        let limit = request
            .rate_limit_per_minute
            .map(|limit| collect(validate_rate_limit(limit), &mut errors));
        let (Some(name), Some(scopes), false) = (name, scopes, limit == Some(None)) else {
            return Err(Error::Validation(errors));
        };
        let secret = ClientSecret::generate();
        let client = self
            .clients
            .create_in_tenant(
                ctx.tenant_id(),
                NewApiClient {
                    client_id: ClientId::generate(),
                    name,
                    scopes,
                    rate_limit_per_minute: limit.flatten(),
                    secret_hash: self.hasher.hash(&secret),
                },
            )
            .await?;
        tracing::info!(tenant_id = %ctx.tenant_id(), client_id = %client.client_id, "created an API client");
        Ok(ClientWithSecret { client, secret })
    }

    /// The clinic's clients (never their secrets).
    pub async fn list(&self, ctx: &TenantContext) -> Result<Vec<ApiClient>> {
        ctx.require_manager()?;
        self.clients.list_in_tenant(ctx.tenant_id()).await
    }

    /// The clinic's clients' ids and names, for any staff member: the dashboard labels each
    /// client's numbers with its name, and clinicians read the dashboard too.
    ///
    /// # Errors
    /// `Forbidden` for API clients.
    pub async fn names(&self, ctx: &TenantContext) -> Result<Vec<(ClientId, String)>> {
        if ctx.user_id().is_none() {
            return Err(Error::Forbidden(
                "only the clinic's staff can list its clients".to_owned(),
            ));
        }
        Ok(self
            .clients
            .list_in_tenant(ctx.tenant_id())
            .await?
            .into_iter()
            .map(|client| (client.client_id, client.name.as_str().to_owned()))
            .collect())
    }

    /// Changes a client's name, scopes, rate limit or Cliniko budget share. New scopes and limits
    /// apply at once, also to tokens already issued (a token never does more than its client may
    /// do now).
    ///
    /// # Errors
    /// `NotFound` for another clinic's client; `Validation` naming every invalid field.
    pub async fn change(
        &self,
        ctx: &TenantContext,
        client_id: &ClientId,
        patch: ClientPatch,
    ) -> Result<ApiClient> {
        ctx.require_manager()?;
        let mut errors = Vec::new();
        let change = ClientChange {
            name: patch
                .name
                .and_then(|name| collect(ClientName::parse(&name), &mut errors)),
            scopes: patch
                .scopes
                .and_then(|scopes| parse_scopes(&scopes, &mut errors)),
            rate_limit_per_minute: patch.rate_limit_per_minute.map(|limit| {
                limit.and_then(|limit| collect(validate_rate_limit(limit), &mut errors))
            }),
            cliniko_budget_share: patch.cliniko_budget_share.map(|share| {
                share.and_then(|share| collect(validate_budget_share(share), &mut errors))
            }),
        };
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        if change == ClientChange::default() {
            return Err(Error::invalid(
                "name",
                "nothing_to_change",
                "send a new name, scopes, rate_limit_per_minute or cliniko_budget_share",
            ));
        }
        let client = self
            .clients
            .change_in_tenant(ctx.tenant_id(), client_id, change)
            .await?;
        self.access.refresh(client_id).await?;
        Ok(client)
    }

    /// Gives a client a new secret. The old one keeps working for the grace period, so the
    /// partner can deploy the new one without downtime; tokens already issued stay valid.
    ///
    /// # Errors
    /// `NotFound` for another clinic's client.
    pub async fn rotate_secret(
        &self,
        ctx: &TenantContext,
        client_id: &ClientId,
    ) -> Result<ClientWithSecret> {
        ctx.require_manager()?;
        let secret = ClientSecret::generate();
        let grace = chrono::Duration::from_std(self.secret_grace).map_err(Error::internal)?;
        let client = self
            .clients
            .rotate_secret_in_tenant(
                ctx.tenant_id(),
                client_id,
                self.hasher.hash(&secret),
                Utc::now() + grace,
            )
            .await?;
        tracing::info!(tenant_id = %ctx.tenant_id(), client_id = %client_id, "rotated an API client's secret");
        Ok(ClientWithSecret { client, secret })
    }

    /// Deletes a client: its secret and every token it holds stop working at once, on every
    /// instance.
    ///
    /// # Errors
    /// `NotFound` for another clinic's (or an unknown) client.
    pub async fn delete(&self, ctx: &TenantContext, client_id: &ClientId) -> Result<()> {
        ctx.require_manager()?;
        if !self
            .clients
            .delete_in_tenant(ctx.tenant_id(), client_id)
            .await?
        {
            return Err(not_found());
        }
        self.access.refresh(client_id).await?;
        tracing::info!(tenant_id = %ctx.tenant_id(), client_id = %client_id, "deleted an API client");
        Ok(())
    }
}
