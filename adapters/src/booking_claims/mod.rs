//! Slot claims of the booking guard over the database: the primary key (clinic, slot) is the
//! lock. The database rather than the shared cache, because it is the store every instance
//! shares on both backends: without Redis the cache is per process, so two instances on one
//! database would both grant a slot through it.

pub(crate) mod entity;

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::Result;
use clinicgate_core::booking::{SlotClaims, SlotKey};
use clinicgate_core::ids::TenantId;
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, Set, SqlErr,
};

use crate::db::db_error;
use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};

/// [`SlotClaims`] over the database.
#[derive(Debug, Clone)]
pub struct SeaSlotClaims {
    db: DatabaseConnection,
}

impl SeaSlotClaims {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl SlotClaims for SeaSlotClaims {
    async fn claim(&self, tenant: TenantId, slot: &SlotKey, ttl: Duration) -> Result<bool> {
        let now = Utc::now();
        // Expired claims go first (an indexed delete; bookings are rare), so a claim whose
        // holder died or whose booking settled long ago no longer blocks its slot.
        entity::Entity::delete_many_across_tenants(Across::Expiry)
            .filter(entity::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(2));
        let row = entity::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            slot: Set(slot.as_key()),
            claimed_at: Set(now),
            expires_at: Set(now + ttl),
        };
        match entity::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(false)
            }
            Err(err) => Err(db_error(err)),
        }
    }

    async fn release(&self, tenant: TenantId, slot: &SlotKey) -> Result<()> {
        entity::Entity::delete_many_in_tenant(tenant)
            .filter(entity::Column::Slot.eq(slot.as_key()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
