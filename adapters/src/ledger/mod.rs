//! The PHI access ledger stored with sea-orm. Append and read only: this repository has no
//! update or delete, and the table's triggers refuse both anyway (see the migration). Every read
//! starts from [`InTenant`](crate::db::tenant_scoped::InTenant).

pub(crate) mod entity;

use async_trait::async_trait;
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::ids::TenantId;
use clinicgate_core::ledger::{
    Categories, Channel, EntryId, LedgerActor, LedgerEntry, LedgerFilter, LedgerRepository,
};
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::Order;
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Select, Set,
};

use crate::db::tenant_scoped::InTenant as _;
use crate::db::{all_to_domain, db_error};

/// [`LedgerRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaLedgerRepository {
    db: DatabaseConnection,
}

impl SeaLedgerRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn corrupt(what: &str) -> Error {
    Error::internal(format!("a stored ledger entry has an invalid {what}"))
}

fn to_domain(row: entity::Model) -> Result<LedgerEntry> {
    let actor = match row.actor_kind.as_str() {
        "user" | "api_client" | "calendar_feed" => LedgerActor::parse(&row.actor_id)
            .filter(|actor| actor.kind() == row.actor_kind)
            .ok_or_else(|| corrupt("actor"))?,
        _ => return Err(corrupt("actor kind")),
    };
    Ok(LedgerEntry {
        id: EntryId::from_uuid(row.id),
        actor,
        patient_id: ClinikoId::parse(&row.patient_id).ok_or_else(|| corrupt("patient id"))?,
        categories: Categories::from_stored(&row.categories).ok_or_else(|| corrupt("category"))?,
        channel: Channel::parse(&row.channel).ok_or_else(|| corrupt("channel"))?,
        at: row.occurred_at,
        ip: row.ip.as_deref().and_then(|ip| ip.parse().ok()),
        user_agent: row.user_agent,
        request_id: row.request_id,
    })
}

fn to_row(tenant: TenantId, entry: &LedgerEntry) -> entity::ActiveModel {
    entity::ActiveModel {
        id: Set(entry.id.as_uuid()),
        tenant_id: Set(tenant.as_uuid()),
        actor_kind: Set(entry.actor.kind().to_owned()),
        actor_id: Set(entry.actor.id()),
        patient_id: Set(entry.patient_id.as_str().to_owned()),
        categories: Set(entry.categories.to_stored()),
        channel: Set(entry.channel.as_str().to_owned()),
        occurred_at: Set(entry.at),
        ip: Set(entry.ip.map(|ip| ip.to_string())),
        user_agent: Set(entry.user_agent.clone()),
        request_id: Set(entry.request_id.clone()),
    }
}

fn of_actor(select: Select<entity::Entity>, actor: &LedgerActor) -> Select<entity::Entity> {
    select
        .filter(entity::Column::ActorKind.eq(actor.kind()))
        .filter(entity::Column::ActorId.eq(actor.id()))
}

#[async_trait]
impl LedgerRepository for SeaLedgerRepository {
    async fn append_in_tenant(&self, tenant: TenantId, entries: &[LedgerEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // One statement: every entry is stored, or none is.
        // Nothing to read back: `RETURNING` would only cost the page it is written for.
        entity::Entity::insert_many(entries.iter().map(|entry| to_row(tenant, entry)))
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn list_in_tenant(
        &self,
        tenant: TenantId,
        filter: &LedgerFilter,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>> {
        let mut select = entity::Entity::find_in_tenant(tenant);
        if let Some(patient) = &filter.patient_id {
            select = select.filter(entity::Column::PatientId.eq(patient.as_str()));
        }
        if let Some(actor) = &filter.actor {
            select = of_actor(select, actor);
        }
        if let Some(from) = filter.from {
            select = select.filter(entity::Column::OccurredAt.gte(from));
        }
        if let Some(to) = filter.to {
            select = select.filter(entity::Column::OccurredAt.lt(to));
        }
        if let Some(before) = filter.before {
            select = select.filter(entity::Column::Id.lt(before.0.as_uuid()));
        }
        let select = select
            .order_by_desc(entity::Column::Id)
            .limit(u64::from(limit));
        all_to_domain(select, &self.db, to_domain).await
    }

    async fn recent_patients_in_tenant(
        &self,
        tenant: TenantId,
        actor: &LedgerActor,
        limit: u32,
    ) -> Result<Vec<ClinikoId>> {
        let channels: Vec<&str> = Channel::ALL
            .into_iter()
            .filter(|channel| channel.opens_a_record())
            .map(Channel::as_str)
            .collect();
        let ids: Vec<String> = of_actor(entity::Entity::find_in_tenant(tenant), actor)
            .filter(entity::Column::Channel.is_in(channels))
            .select_only()
            .column(entity::Column::PatientId)
            .group_by(entity::Column::PatientId)
            .order_by(entity::Column::OccurredAt.max(), Order::Desc)
            .limit(u64::from(limit))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error)?;
        ids.iter()
            .map(|id| ClinikoId::parse(id).ok_or_else(|| corrupt("patient id")))
            .collect()
    }
}
