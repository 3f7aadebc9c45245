//! Clinics' notification settings stored with sea-orm (`notification_rules`, with the staff
//! address in `notification_settings`), and the SMTP mailer (`smtp`). Every query starts from
//! [`InTenant`](crate::db::tenant_scoped::InTenant).

pub(crate) mod entity;
pub mod smtp;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::events::EventType;
use clinicgate_core::ids::TenantId;
use clinicgate_core::notifications::{
    Audience, Channel, NotificationRepository, NotificationRuleId, Rule, RuleKey, StoredSettings,
};
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, Set, TransactionTrait as _,
};

use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;
use crate::notification_settings::entity as settings;

/// [`NotificationRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaNotificationRepository {
    db: DatabaseConnection,
}

impl SeaNotificationRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// A stored row that no longer reads as a rule: a bug or tampering, never shown.
fn corrupt(what: &'static str) -> Error {
    Error::internal(format!("notification_rules row with an unreadable {what}"))
}

fn to_domain(row: entity::Model) -> Result<Rule> {
    Ok(Rule {
        id: NotificationRuleId::from_uuid(row.id),
        key: RuleKey {
            event_type: EventType::parse(&row.event_type).ok_or_else(|| corrupt("event_type"))?,
            channel: Channel::parse(&row.channel).ok_or_else(|| corrupt("channel"))?,
            audience: Audience::parse(&row.audience).ok_or_else(|| corrupt("audience"))?,
        },
    })
}

/// The clinic's settings as `conn` sees them.
async fn read(conn: &impl ConnectionTrait, tenant: TenantId) -> Result<StoredSettings> {
    let rules = entity::Entity::find_in_tenant(tenant)
        .order_by_asc(entity::Column::EventType)
        .order_by_asc(entity::Column::Channel)
        .order_by_asc(entity::Column::Audience)
        .all(conn)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(to_domain)
        .collect::<Result<Vec<_>>>()?;
    let row = settings::Entity::find_in_tenant(tenant)
        .one(conn)
        .await
        .map_err(db_error)?;
    Ok(StoredSettings {
        rules,
        staff_email: row.as_ref().and_then(|row| row.staff_email.clone()),
        updated_at: row.map(|row| row.updated_at),
    })
}

#[async_trait]
impl NotificationRepository for SeaNotificationRepository {
    async fn settings(&self, tenant: TenantId) -> Result<StoredSettings> {
        read(&self.db, tenant).await
    }

    async fn save(
        &self,
        tenant: TenantId,
        staff_email: Option<&str>,
        rules: &[RuleKey],
    ) -> Result<StoredSettings> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let now = Utc::now();
        // The settings row first: on PostgreSQL its upsert locks the clinic's row, on SQLite the
        // write locks the database, so two saves of one clinic do not interleave their rules.
        settings::Entity::insert(settings::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            staff_email: Set(staff_email.map(str::to_owned)),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(settings::Column::TenantId)
                .update_columns([settings::Column::StaffEmail, settings::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(&txn)
        .await
        .map_err(db_error)?;
        let existing = read(&txn, tenant).await?.rules;
        let gone: Vec<_> = existing
            .iter()
            .filter(|rule| !rules.contains(&rule.key))
            .map(|rule| rule.id.as_uuid())
            .collect();
        if !gone.is_empty() {
            entity::Entity::delete_many_in_tenant(tenant)
                .filter(entity::Column::Id.is_in(gone))
                .exec(&txn)
                .await
                .map_err(db_error)?;
        }
        let new: Vec<_> = rules
            .iter()
            .filter(|key| !existing.iter().any(|rule| rule.key == **key))
            .map(|key| entity::ActiveModel {
                id: Set(NotificationRuleId::new().as_uuid()),
                tenant_id: Set(tenant.as_uuid()),
                event_type: Set(key.event_type.as_str().to_owned()),
                channel: Set(key.channel.as_str().to_owned()),
                audience: Set(key.audience.as_str().to_owned()),
                created_at: Set(now),
            })
            .collect();
        if !new.is_empty() {
            entity::Entity::insert_many(new)
                .exec_without_returning(&txn)
                .await
                .map_err(db_error)?;
        }
        let saved = read(&txn, tenant).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(saved)
    }

    async fn rule(&self, tenant: TenantId, id: NotificationRuleId) -> Result<Option<Rule>> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_domain)
            .transpose()
    }

    async fn rules_for(&self, tenant: TenantId, event_type: EventType) -> Result<Vec<Rule>> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::EventType.eq(event_type.as_str()))
            .all(&self.db)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}
