//! [`PartnerLinks`] over the database: the primary key (clinic, client, partner id) is the claim,
//! so two instances creating one partner's patient at once cannot both insert it. The database
//! rather than the shared cache for the reason the booking guard gives: it is the one store every
//! instance shares on both backends.

pub(crate) mod entity;

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::Result;
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::ids::TenantId;
use clinicgate_core::partner_links::{Claim, PartnerId, PartnerLink, PartnerLinks};
use clinicgate_core::tokens::ClientId;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, Condition, DatabaseConnection, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, Select, Set, SqlErr,
};

use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;

/// [`PartnerLinks`] over the database.
#[derive(Debug, Clone)]
pub struct SeaPartnerLinks {
    db: DatabaseConnection,
}

impl SeaPartnerLinks {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// The rows of one client in one clinic.
fn of_client(tenant: TenantId, client: &ClientId) -> Select<entity::Entity> {
    entity::Entity::find_in_tenant(tenant).filter(entity::Column::ClientId.eq(client.as_str()))
}

/// The claim on `partner_id` of `client` while it has no Cliniko patient yet.
fn unsettled(client: &ClientId, partner_id: &PartnerId) -> Condition {
    Condition::all()
        .add(entity::Column::ClientId.eq(client.as_str()))
        .add(entity::Column::PartnerId.eq(partner_id.as_str()))
        .add(entity::Column::ClinikoPatientId.is_null())
}

/// A stored Cliniko id; a value that is not one names nothing.
fn cliniko_id(raw: Option<&str>) -> Option<ClinikoId> {
    raw.and_then(ClinikoId::parse)
}

#[async_trait]
impl PartnerLinks for SeaPartnerLinks {
    async fn claim(
        &self,
        tenant: TenantId,
        client: &ClientId,
        partner_id: &PartnerId,
        ttl: Duration,
    ) -> Result<Claim> {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(2));
        // Twice at most: a row that vanished (a released claim) between the insert's conflict and
        // the read is simply claimed again.
        for _ in 0..2 {
            let now = Utc::now();
            let row = entity::ActiveModel {
                tenant_id: Set(tenant.as_uuid()),
                client_id: Set(client.as_str().to_owned()),
                partner_id: Set(partner_id.as_str().to_owned()),
                cliniko_patient_id: Set(None),
                claim_expires_at: Set(Some(now + ttl)),
                created_at: Set(now),
                updated_at: Set(now),
            };
            match entity::Entity::insert(row)
                .exec_without_returning(&self.db)
                .await
            {
                Ok(_) => return Ok(Claim::Claimed),
                Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                }
                Err(err) => return Err(db_error(err)),
            }
            let Some(found) = of_client(tenant, client)
                .filter(entity::Column::PartnerId.eq(partner_id.as_str()))
                .one(&self.db)
                .await
                .map_err(db_error)?
            else {
                continue;
            };
            if let Some(id) = cliniko_id(found.cliniko_patient_id.as_deref()) {
                return Ok(Claim::Linked(id));
            }
            if found.claim_expires_at.is_some_and(|until| until > now) {
                return Ok(Claim::Busy);
            }
            // The holder died before settling: take its claim over, if no one else just did
            // (the update is conditional on the claim still being expired).
            let taken = entity::Entity::update_many_in_tenant(tenant)
                .col_expr(entity::Column::ClaimExpiresAt, Expr::value(now + ttl))
                .col_expr(entity::Column::UpdatedAt, Expr::value(now))
                .filter(unsettled(client, partner_id))
                .filter(entity::Column::ClaimExpiresAt.lte(now))
                .exec(&self.db)
                .await
                .map_err(db_error)?;
            return Ok(if taken.rows_affected == 1 {
                Claim::Claimed
            } else {
                Claim::Busy
            });
        }
        Ok(Claim::Busy)
    }

    async fn settle(
        &self,
        tenant: TenantId,
        client: &ClientId,
        partner_id: &PartnerId,
        patient: &ClinikoId,
    ) -> Result<()> {
        entity::Entity::update_many_in_tenant(tenant)
            .col_expr(
                entity::Column::ClinikoPatientId,
                Expr::value(patient.as_str().to_owned()),
            )
            .col_expr(
                entity::Column::ClaimExpiresAt,
                Expr::value(Option::<chrono::DateTime<Utc>>::None),
            )
            .col_expr(entity::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(unsettled(client, partner_id))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn release(
        &self,
        tenant: TenantId,
        client: &ClientId,
        partner_id: &PartnerId,
    ) -> Result<()> {
        entity::Entity::delete_many_in_tenant(tenant)
            .filter(unsettled(client, partner_id))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn link(
        &self,
        tenant: TenantId,
        client: &ClientId,
        partner_id: &PartnerId,
        patient: &ClinikoId,
    ) -> Result<()> {
        let now = Utc::now();
        let row = entity::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            client_id: Set(client.as_str().to_owned()),
            partner_id: Set(partner_id.as_str().to_owned()),
            cliniko_patient_id: Set(Some(patient.as_str().to_owned())),
            claim_expires_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        match entity::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
        {
            // Either key taken: the partner id or the patient is linked already (a retried
            // delivery, or the partner's own create), and that link stands.
            Ok(_) => Ok(()),
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(())
            }
            Err(err) => Err(db_error(err)),
        }
    }

    async fn patient_of(
        &self,
        tenant: TenantId,
        client: &ClientId,
        partner_id: &PartnerId,
    ) -> Result<Option<ClinikoId>> {
        let found = of_client(tenant, client)
            .filter(entity::Column::PartnerId.eq(partner_id.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?;
        Ok(found.and_then(|row| cliniko_id(row.cliniko_patient_id.as_deref())))
    }

    async fn partner_id_of(
        &self,
        tenant: TenantId,
        client: &ClientId,
        patient: &ClinikoId,
    ) -> Result<Option<PartnerId>> {
        let found = of_client(tenant, client)
            .filter(entity::Column::ClinikoPatientId.eq(patient.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?;
        Ok(found.and_then(|row| PartnerId::parse("partner_id", &row.partner_id).ok()))
    }

    async fn linked(
        &self,
        tenant: TenantId,
        client: &ClientId,
        after: Option<&PartnerId>,
        limit: u64,
    ) -> Result<Vec<PartnerLink>> {
        let mut query = of_client(tenant, client)
            .filter(entity::Column::ClinikoPatientId.is_not_null())
            .order_by_asc(entity::Column::PartnerId)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(entity::Column::PartnerId.gt(after.as_str()));
        }
        let rows = query.all(&self.db).await.map_err(db_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(PartnerLink {
                    partner_id: PartnerId::parse("partner_id", &row.partner_id).ok()?,
                    patient: ClinikoId::parse(row.cliniko_patient_id.as_deref()?)?,
                    linked_at: row.updated_at,
                })
            })
            .collect())
    }
}
