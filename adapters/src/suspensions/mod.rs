//! The clinic's kill-switches over the database: the state on the rows token validation and the
//! delivery claim already read (`api_clients.suspended_at`, `clinics.integrations_suspended_at`),
//! the history in `suspensions`, and the claim's filter ([`held_by_suspension`]).
//!
//! A switch is one conditional `UPDATE` (`… WHERE suspended_at IS NULL` to suspend, `IS NOT NULL`
//! to resume) and its history row, in one transaction: two owners pressing the same button at
//! once record one switch, not two.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::delivery::{DeliveryStatus, OutboundKind};
use clinicgate_core::ids::{TenantId, UserId};
use clinicgate_core::suspensions::{Subject, SuspensionRecord, SuspensionRepository, Switch};
use clinicgate_core::tokens::ClientId;
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::{Condition, Expr, ExprTrait as _, Query};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, Set, TransactionTrait as _,
};

use crate::api_clients::entity as clients;
use crate::clinics::entity as clinics;
use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};
use crate::db::{all_to_domain, db_error};
use crate::deliveries::entity as deliveries;
use crate::patient_syncs::entity as syncs;
use crate::users::entity as users;
use crate::webhook_endpoints::entity as endpoints;

/// [`SuspensionRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaSuspensionRepository {
    db: DatabaseConnection,
}

impl SeaSuspensionRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// The deliveries the claim must leave pending: those whose target (a webhook endpoint, a
/// patient sync) belongs to a suspended client, and every delivery of a clinic whose
/// integrations are suspended. Added to the claim's `WHERE`; every subquery reads only
/// suspended rows, so they stay tiny.
pub(crate) fn held_by_suspension() -> Condition {
    let suspended_clinics = Query::select()
        .column(clinics::Column::Id)
        .from(clinics::Entity)
        .and_where(clinics::Column::IntegrationsSuspendedAt.is_not_null())
        .to_owned();
    Condition::any()
        .add(held_target(
            OutboundKind::Webhook,
            endpoints::Entity,
            endpoints::Column::Id,
            endpoints::Column::ClientId,
        ))
        .add(held_target(
            OutboundKind::PatientSync,
            syncs::Entity,
            syncs::Column::Id,
            syncs::Column::ClientId,
        ))
        .add(deliveries::Entity::tenant_column(Across::Delivery).in_subquery(suspended_clinics))
}

/// Deliveries of `kind` whose target, a row of `table` (`id`, owned by `client`), belongs to a
/// suspended client.
fn held_target<E>(kind: OutboundKind, table: E, id: E::Column, client: E::Column) -> Condition
where
    E: sea_orm::EntityTrait,
{
    let suspended = Query::select()
        .column((table, id))
        .from(table)
        .inner_join(
            clients::Entity,
            Expr::col((clients::Entity, clients::Column::ClientId)).equals((table, client)),
        )
        .and_where(clients::Column::SuspendedAt.is_not_null())
        .to_owned();
    Condition::all()
        .add(deliveries::Column::Kind.eq(kind.as_str()))
        .add(deliveries::Column::TargetId.in_subquery(suspended))
}

fn malformed(what: &str) -> Error {
    Error::internal(format!("a stored suspension {what} is malformed"))
}

/// Sets `column` of the rows `update` selects to `at` (suspend) or null (resume), only where it
/// is not already so; whether a row changed.
async fn flip<E: sea_orm::EntityTrait>(
    txn: &DatabaseTransaction,
    update: sea_orm::UpdateMany<E>,
    column: E::Column,
    switch: Switch,
    at: DateTime<Utc>,
) -> Result<bool> {
    let update = match switch {
        Switch::Suspend => update
            .col_expr(column, Expr::value(at))
            .filter(column.is_null()),
        Switch::Resume => update
            .col_expr(column, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(column.is_not_null()),
    };
    Ok(update.exec(txn).await.map_err(db_error)?.rows_affected > 0)
}

/// Makes the pending, never-attempted deliveries `scope` narrows down due again at their creation
/// time: one held by the sender in the instant before a suspension was pushed minutes ahead, and
/// the claim goes in `next_attempt_at` order, so this puts every held delivery back in the order
/// it was created.
async fn redue_held(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    scope: Option<&ClientId>,
    at: DateTime<Utc>,
) -> Result<()> {
    let update = deliveries::Entity::update_many_in_tenant(tenant)
        .col_expr(
            deliveries::Column::NextAttemptAt,
            Expr::col(deliveries::Column::CreatedAt),
        )
        .filter(deliveries::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(deliveries::Column::Attempts.eq(0))
        .filter(deliveries::Column::NextAttemptAt.gt(at));
    let update = match scope {
        None => update,
        Some(client_id) => update
            .filter(deliveries::Column::Kind.eq(OutboundKind::Webhook.as_str()))
            .filter(
                deliveries::Column::TargetId.in_subquery(
                    Query::select()
                        .column(endpoints::Column::Id)
                        .from(endpoints::Entity)
                        .and_where(endpoints::Column::ClientId.eq(client_id.as_str()))
                        .to_owned(),
                ),
            ),
    };
    update.exec(txn).await.map_err(db_error)?;
    Ok(())
}

/// Since when `subject` is suspended, as `conn` reads it; `NotFound` if it is not the clinic's.
async fn suspended_since(
    conn: &impl ConnectionTrait,
    tenant: TenantId,
    subject: &Subject,
) -> Result<Option<DateTime<Utc>>> {
    match subject {
        Subject::Client(client_id) => clients::Entity::find_in_tenant(tenant)
            .filter(clients::Column::ClientId.eq(client_id.as_str()))
            .one(conn)
            .await
            .map_err(db_error)?
            .map(|row| row.suspended_at)
            .ok_or(Error::NotFound {
                resource: "API client",
            }),
        Subject::Clinic => clinics::Entity::find_in_tenant(tenant)
            .one(conn)
            .await
            .map_err(db_error)?
            .map(|row| row.integrations_suspended_at)
            .ok_or(Error::NotFound { resource: "clinic" }),
    }
}

#[async_trait]
impl SuspensionRepository for SeaSuspensionRepository {
    async fn switch(
        &self,
        tenant: TenantId,
        subject: &Subject,
        switch: Switch,
        actor: UserId,
        at: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let (changed, client_id) = match subject {
            Subject::Client(client_id) => {
                let update = clients::Entity::update_many_in_tenant(tenant)
                    .col_expr(clients::Column::UpdatedAt, Expr::value(at))
                    .filter(clients::Column::ClientId.eq(client_id.as_str()));
                let changed = flip(&txn, update, clients::Column::SuspendedAt, switch, at).await?;
                (changed, Some(client_id))
            }
            Subject::Clinic => {
                let update = clinics::Entity::update_many_in_tenant(tenant)
                    .col_expr(clinics::Column::UpdatedAt, Expr::value(at));
                let changed = flip(
                    &txn,
                    update,
                    clinics::Column::IntegrationsSuspendedAt,
                    switch,
                    at,
                )
                .await?;
                (changed, None)
            }
        };
        if changed {
            entity::Entity::insert(entity::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                tenant_id: Set(tenant.as_uuid()),
                client_id: Set(client_id.map(|id| id.as_str().to_owned())),
                action: Set(switch.as_str().to_owned()),
                actor_user_id: Set(actor.as_uuid()),
                at: Set(at),
            })
            .exec_without_returning(&txn)
            .await
            .map_err(db_error)?;
            if switch == Switch::Resume {
                redue_held(&txn, tenant, client_id, at).await?;
            }
        }
        // Read inside the transaction: also says NotFound when nothing matched.
        let since = suspended_since(&txn, tenant, subject).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(since)
    }

    async fn clinic_suspended_since(&self, tenant: TenantId) -> Result<Option<DateTime<Utc>>> {
        suspended_since(&self.db, tenant, &Subject::Clinic).await
    }

    async fn history(&self, tenant: TenantId, limit: u64) -> Result<Vec<SuspensionRecord>> {
        let rows = entity::Entity::find_in_tenant(tenant)
            .order_by_desc(entity::Column::At)
            .order_by_desc(entity::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let actors: Vec<uuid::Uuid> = rows.iter().map(|row| row.actor_user_id).collect();
        let emails = all_to_domain(
            users::Entity::find_in_tenant(tenant).filter(users::Column::Id.is_in(actors)),
            &self.db,
            |user| Ok((user.id, user.email)),
        )
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(SuspensionRecord {
                    client_id: row
                        .client_id
                        .map(|id| ClientId::parse(&id).ok_or_else(|| malformed("client id")))
                        .transpose()?,
                    switch: Switch::parse(&row.action).ok_or_else(|| malformed("action"))?,
                    actor: UserId::from_uuid(row.actor_user_id),
                    actor_email: emails
                        .iter()
                        .find(|(id, _)| *id == row.actor_user_id)
                        .map(|(_, email)| email.clone()),
                    at: row.at,
                })
            })
            .collect()
    }
}
