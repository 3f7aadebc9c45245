//! Doctors' calendar feeds stored with sea-orm, with each clinic's choice of how they name
//! patients (`calendar_feed_settings`). Every query starts from
//! [`InTenant`](crate::db::tenant_scoped::InTenant): a feed is fetched on its clinic's host, so
//! the clinic is known before its token is looked up.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::calendar_feeds::{
    CalendarFeed, CalendarFeedId, CalendarFeedRepository, PatientNames,
};
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::ids::{TenantId, UserId};
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, QueryOrder as _, Set,
};

use crate::calendar_feed_settings::entity as settings;
use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;

/// [`CalendarFeedRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaCalendarFeedRepository {
    db: DatabaseConnection,
}

impl SeaCalendarFeedRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// A stored row that no longer reads as a feed: a bug or tampering, never shown.
fn corrupt(what: &'static str) -> Error {
    Error::internal(format!("calendar_feeds row with an unreadable {what}"))
}

fn to_domain(row: entity::Model) -> Result<CalendarFeed> {
    Ok(CalendarFeed {
        id: CalendarFeedId::from_uuid(row.id),
        doctor_id: ClinikoId::parse(&row.doctor_id).ok_or_else(|| corrupt("doctor_id"))?,
        created_by: row.created_by.map(UserId::from_uuid),
        created_at: row.created_at,
    })
}

#[async_trait]
impl CalendarFeedRepository for SeaCalendarFeedRepository {
    async fn insert(
        &self,
        tenant: TenantId,
        feed: &CalendarFeed,
        token_digest: &str,
    ) -> Result<()> {
        let row = entity::ActiveModel {
            id: Set(feed.id.as_uuid()),
            tenant_id: Set(tenant.as_uuid()),
            doctor_id: Set(feed.doctor_id.as_str().to_owned()),
            token_digest: Set(token_digest.to_owned()),
            created_by: Set(feed.created_by.map(|user| user.as_uuid())),
            created_at: Set(feed.created_at),
        };
        entity::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn list(&self, tenant: TenantId) -> Result<Vec<CalendarFeed>> {
        entity::Entity::find_in_tenant(tenant)
            .order_by_asc(entity::Column::CreatedAt)
            .order_by_asc(entity::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn find_by_token_digest(
        &self,
        tenant: TenantId,
        token_digest: &str,
    ) -> Result<Option<CalendarFeed>> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::TokenDigest.eq(token_digest))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_domain)
            .transpose()
    }

    async fn delete(&self, tenant: TenantId, id: CalendarFeedId) -> Result<bool> {
        let deleted = entity::Entity::delete_many_in_tenant(tenant)
            .filter(entity::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected > 0)
    }

    async fn patient_names(&self, tenant: TenantId) -> Result<PatientNames> {
        let Some(row) = settings::Entity::find_in_tenant(tenant)
            .one(&self.db)
            .await
            .map_err(db_error)?
        else {
            return Ok(PatientNames::default());
        };
        PatientNames::parse(&row.patient_names).ok_or_else(|| corrupt("patient_names"))
    }

    async fn set_patient_names(&self, tenant: TenantId, names: PatientNames) -> Result<()> {
        let row = settings::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            patient_names: Set(names.as_str().to_owned()),
            updated_at: Set(Utc::now()),
        };
        settings::Entity::insert(row)
            .on_conflict(
                OnConflict::column(settings::Column::TenantId)
                    .update_columns([settings::Column::PatientNames, settings::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
