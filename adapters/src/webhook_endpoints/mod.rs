//! Webhook endpoints stored with sea-orm ([`WebhookEndpointRepository`]). Every query starts from
//! [`InTenant`](crate::db::tenant_scoped::InTenant); a partner's also narrows to its own client
//! ([`Owner::Client`]). Reads join the owning API client (its name and current scopes) and, for a
//! delivery, the clinic (whether it is active), in one query: the delivery workers ask for every
//! message they send.

pub(crate) mod entity;

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::events::EventType;
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::SealedSecret;
use clinicgate_core::tokens::{ClientId, ClientName, ScopeSet};
use clinicgate_core::webhooks::{
    DeliveryView, DisabledReason, EndpointChange, NewWebhookEndpoint, Owner, SealedSecrets,
    Subscription, WebhookEndpoint, WebhookEndpointId, WebhookEndpointRepository,
};
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter, QueryOrder as _, Set,
    SqlErr, UpdateMany,
};

use crate::api_clients::entity as clients;
use crate::api_clients::{clinic_active, scopes, suspended};
use crate::clinics::entity as clinics;
use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;

/// [`WebhookEndpointRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaWebhookEndpointRepository {
    db: DatabaseConnection,
}

impl SeaWebhookEndpointRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn malformed(what: &str) -> Error {
    Error::internal(format!("a stored webhook endpoint's {what} is malformed"))
}

fn not_found() -> Error {
    Error::NotFound {
        resource: "webhook endpoint",
    }
}

fn event_types(stored: &str) -> Result<BTreeSet<EventType>> {
    stored
        .split(' ')
        .filter(|word| !word.is_empty())
        .map(|word| EventType::parse(word).ok_or_else(|| malformed("event type")))
        .collect()
}

fn stored_event_types(types: &BTreeSet<EventType>) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn to_domain(row: &entity::Model, client: Option<&clients::Model>) -> Result<WebhookEndpoint> {
    // The foreign key cascades, so an endpoint always has its client.
    let client = client.ok_or_else(|| malformed("client"))?;
    Ok(WebhookEndpoint {
        id: WebhookEndpointId::from_uuid(row.id),
        tenant_id: TenantId::from_uuid(row.tenant_id),
        client_id: ClientId::parse(&row.client_id).ok_or_else(|| malformed("client id"))?,
        client_name: ClientName::from_stored(client.name.clone()),
        url: row.url.clone(),
        event_types: event_types(&row.event_types)?,
        description: row.description.clone(),
        disabled: row
            .disabled_reason
            .as_deref()
            .map(|raw| DisabledReason::parse(raw).ok_or_else(|| malformed("disabled reason")))
            .transpose()?,
        failing_since: row.failing_since,
        previous_secret_until: row.previous_secret_until,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn sealed_secrets(row: entity::Model) -> SealedSecrets {
    let previous = match (
        row.previous_secret,
        row.previous_secret_key_version,
        row.previous_secret_until,
    ) {
        (Some(ciphertext), Some(key_version), Some(until)) => Some((
            SealedSecret {
                ciphertext,
                key_version,
            },
            until,
        )),
        _ => None,
    };
    SealedSecrets {
        current: SealedSecret {
            ciphertext: row.secret,
            key_version: row.secret_key_version,
        },
        previous,
    }
}

/// Narrows a query on the clinic's endpoints (already scoped by `InTenant`) to `owner`'s.
fn owned<Q: QueryFilter>(query: Q, owner: Owner<'_>) -> Q {
    match owner {
        Owner::Client(client) => query.filter(entity::Column::ClientId.eq(client.as_str())),
        Owner::Clinic => query,
    }
}

/// An update of one endpoint of `owner` in `tenant`.
fn update_one(
    tenant: TenantId,
    owner: Owner<'_>,
    id: WebhookEndpointId,
) -> UpdateMany<entity::Entity> {
    owned(
        entity::Entity::update_many_in_tenant(tenant).filter(entity::Column::Id.eq(id.as_uuid())),
        owner,
    )
}

/// The columns `change` sets on `update`.
fn apply(
    mut update: UpdateMany<entity::Entity>,
    change: EndpointChange,
) -> UpdateMany<entity::Entity> {
    use entity::Column;
    if let Some(url) = change.url {
        update = update.col_expr(Column::Url, Expr::value(url));
    }
    if let Some(types) = change.event_types {
        update = update.col_expr(Column::EventTypes, Expr::value(stored_event_types(&types)));
    }
    if let Some(description) = change.description {
        update = update.col_expr(Column::Description, Expr::value(description));
    }
    match change.enabled {
        Some(true) => {
            // A disabled endpoint enabled again starts afresh: its old failing streak would
            // otherwise disable it again at the first failure. An enabled one keeps its streak.
            let streak = Expr::case(
                Column::DisabledReason.is_null(),
                Expr::col(Column::FailingSince),
            )
            .finally(Expr::value(Option::<DateTime<Utc>>::None));
            update = update
                .col_expr(Column::FailingSince, streak.into())
                .col_expr(Column::DisabledReason, Expr::value(Option::<String>::None));
        }
        Some(false) => {
            update = update.col_expr(
                Column::DisabledReason,
                Expr::value(DisabledReason::Manual.as_str()),
            );
        }
        None => {}
    }
    update.col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
}

impl SeaWebhookEndpointRepository {
    async fn one(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>> {
        owned(
            entity::Entity::find_in_tenant(tenant).filter(entity::Column::Id.eq(id.as_uuid())),
            owner,
        )
        .find_also_related(clients::Entity)
        .one(&self.db)
        .await
        .map_err(db_error)?
        .map(|(row, client)| to_domain(&row, client.as_ref()))
        .transpose()
    }

    /// Runs `update` on one endpoint and reads it back; `NotFound` when it matched none.
    async fn update_and_read(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
        id: WebhookEndpointId,
        update: UpdateMany<entity::Entity>,
    ) -> Result<WebhookEndpoint> {
        if update.exec(&self.db).await.map_err(db_error)?.rows_affected == 0 {
            return Err(not_found());
        }
        self.one(tenant, owner, id).await?.ok_or_else(not_found)
    }
}

#[async_trait]
impl WebhookEndpointRepository for SeaWebhookEndpointRepository {
    async fn create_in_tenant(
        &self,
        tenant: TenantId,
        endpoint: NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint> {
        let now = Utc::now();
        let row = entity::ActiveModel {
            id: Set(endpoint.id.as_uuid()),
            tenant_id: Set(tenant.as_uuid()),
            client_id: Set(endpoint.client_id.as_str().to_owned()),
            url: Set(endpoint.url),
            event_types: Set(stored_event_types(&endpoint.event_types)),
            description: Set(endpoint.description),
            secret: Set(endpoint.secret.ciphertext),
            secret_key_version: Set(endpoint.secret.key_version),
            previous_secret: Set(None),
            previous_secret_key_version: Set(None),
            previous_secret_until: Set(None),
            disabled_reason: Set(None),
            failing_since: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        match entity::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
        {
            Ok(_) => {}
            // The client was deleted meanwhile.
            Err(err)
                if matches!(
                    err.sql_err(),
                    Some(SqlErr::ForeignKeyConstraintViolation(_))
                ) =>
            {
                return Err(Error::NotFound {
                    resource: "API client",
                });
            }
            Err(err) => return Err(db_error(err)),
        }
        self.one(tenant, Owner::Client(&endpoint.client_id), endpoint.id)
            .await?
            .ok_or_else(not_found)
    }

    async fn find_in_tenant(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>> {
        self.one(tenant, owner, id).await
    }

    async fn list_in_tenant(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
    ) -> Result<Vec<WebhookEndpoint>> {
        owned(entity::Entity::find_in_tenant(tenant), owner)
            .find_also_related(clients::Entity)
            .order_by_asc(entity::Column::CreatedAt)
            .order_by_asc(entity::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?
            .iter()
            .map(|(row, client)| to_domain(row, client.as_ref()))
            .collect()
    }

    async fn change_in_tenant(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
        id: WebhookEndpointId,
        change: EndpointChange,
    ) -> Result<WebhookEndpoint> {
        let update = apply(update_one(tenant, owner, id), change);
        self.update_and_read(tenant, owner, id, update).await
    }

    async fn rotate_secret_in_tenant(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
        id: WebhookEndpointId,
        secret: SealedSecret,
        previous_until: DateTime<Utc>,
    ) -> Result<WebhookEndpoint> {
        use entity::Column;
        // SQL reads every right-hand side from the row as it was, so the current secret moves to
        // the previous slot in the same statement that replaces it: two rotations at once leave
        // one of them in each slot, never a secret nobody was shown.
        let update = update_one(tenant, owner, id)
            .col_expr(Column::PreviousSecret, Expr::col(Column::Secret))
            .col_expr(
                Column::PreviousSecretKeyVersion,
                Expr::col(Column::SecretKeyVersion),
            )
            .col_expr(Column::PreviousSecretUntil, Expr::value(previous_until))
            .col_expr(Column::Secret, Expr::value(secret.ciphertext))
            .col_expr(Column::SecretKeyVersion, Expr::value(secret.key_version))
            .col_expr(Column::UpdatedAt, Expr::value(Utc::now()));
        self.update_and_read(tenant, owner, id, update).await
    }

    async fn delete_in_tenant(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
        id: WebhookEndpointId,
    ) -> Result<bool> {
        let deleted = owned(
            entity::Entity::delete_many_in_tenant(tenant)
                .filter(entity::Column::Id.eq(id.as_uuid())),
            owner,
        )
        .exec(&self.db)
        .await
        .map_err(db_error)?;
        Ok(deleted.rows_affected > 0)
    }

    async fn delivery_view(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
    ) -> Result<Option<DeliveryView>> {
        Ok(self
            .delivery_views(tenant, &[id])
            .await?
            .pop()
            .map(|(_, view)| view))
    }

    async fn delivery_views(
        &self,
        tenant: TenantId,
        ids: &[WebhookEndpointId],
    ) -> Result<Vec<(WebhookEndpointId, DeliveryView)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Id.is_in(ids.iter().map(|id| id.as_uuid())))
            .find_also_related(clients::Entity)
            .and_also_related(clinics::Entity)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        found
            .into_iter()
            .map(|(row, client, clinic)| {
                let endpoint = to_domain(&row, client.as_ref())?;
                let client = client.ok_or_else(|| malformed("client"))?;
                let view = DeliveryView {
                    endpoint,
                    secrets: sealed_secrets(row),
                    client_scopes: scopes(&client.scopes)?,
                    clinic_active: clinic_active(clinic.as_ref()),
                    client_suspended: suspended(&client, clinic.as_ref()),
                };
                Ok((view.endpoint.id, view))
            })
            .collect()
    }

    async fn subscriptions_in_tenant(&self, tenant: TenantId) -> Result<Vec<Subscription>> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::DisabledReason.is_null())
            .find_also_related(clients::Entity)
            .all(&self.db)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|(row, client)| {
                Ok(Subscription {
                    id: WebhookEndpointId::from_uuid(row.id),
                    event_types: event_types(&row.event_types)?,
                    client_scopes: scopes(&client.ok_or_else(|| malformed("client"))?.scopes)?,
                })
            })
            .collect()
    }

    async fn client_scopes_in_tenant(
        &self,
        tenant: TenantId,
        client: &ClientId,
    ) -> Result<Option<ScopeSet>> {
        clients::Entity::find_in_tenant(tenant)
            .filter(clients::Column::ClientId.eq(client.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(|row| scopes(&row.scopes))
            .transpose()
    }

    async fn note_delivered(&self, tenant: TenantId, id: WebhookEndpointId) -> Result<()> {
        update_one(tenant, Owner::Clinic, id)
            .filter(entity::Column::FailingSince.is_not_null())
            .col_expr(
                entity::Column::FailingSince,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn note_failed(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        at: DateTime<Utc>,
        disable_if_failing_since: DateTime<Utc>,
    ) -> Result<bool> {
        use entity::Column;
        update_one(tenant, Owner::Clinic, id)
            .filter(Column::FailingSince.is_null())
            .col_expr(Column::FailingSince, Expr::value(at))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        // Conditional, so of several workers failing at once exactly one disables it (and says
        // so).
        let disabled = update_one(tenant, Owner::Clinic, id)
            .filter(Column::DisabledReason.is_null())
            .filter(Column::FailingSince.lte(disable_if_failing_since))
            .col_expr(
                Column::DisabledReason,
                Expr::value(DisabledReason::Failing.as_str()),
            )
            .col_expr(Column::UpdatedAt, Expr::value(at))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(disabled.rows_affected == 1)
    }
}
