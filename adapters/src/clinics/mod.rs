//! Clinics stored with sea-orm.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::clinics::{
    Clinic, ClinicRepository, ClinicStatus, NewClinic, Subdomain, subdomain_taken,
};
use clinicgate_core::ids::TenantId;
use clinicgate_core::users::{NewUser, User};
use clinicgate_core::{Error, Result};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, QueryFilter, Set, SqlErr,
    TransactionTrait as _,
};

use crate::db::db_error;
use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};

/// [`ClinicRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaClinicRepository {
    db: DatabaseConnection,
}

impl SeaClinicRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn to_domain(row: entity::Model) -> Result<Clinic> {
    let subdomain = Subdomain::parse_label(&row.subdomain)
        .map_err(|e| Error::internal(format!("stored subdomain is invalid: {}", e.message)))?;
    let status = ClinicStatus::parse(&row.status).ok_or_else(|| {
        Error::internal(format!("stored clinic status {:?} is unknown", row.status))
    })?;
    Ok(Clinic {
        id: TenantId::from_uuid(row.id),
        name: row.name,
        subdomain,
        status,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Inserts a clinic on `db` (a pool or a transaction).
async fn insert(db: &impl ConnectionTrait, clinic: NewClinic) -> Result<Clinic> {
    let now = Utc::now();
    let row = entity::ActiveModel {
        id: Set(TenantId::new().as_uuid()),
        name: Set(clinic.name),
        subdomain: Set(clinic.subdomain.as_str().to_owned()),
        status: Set(ClinicStatus::Active.as_str().to_owned()),
        integrations_suspended_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    match row.insert(db).await {
        Ok(model) => to_domain(model),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(subdomain_taken(&clinic.subdomain))
        }
        Err(err) => Err(db_error(err)),
    }
}

#[async_trait]
impl ClinicRepository for SeaClinicRepository {
    async fn create(&self, clinic: NewClinic) -> Result<Clinic> {
        insert(&self.db, clinic).await
    }

    async fn create_with_owner(&self, clinic: NewClinic, owner: NewUser) -> Result<(Clinic, User)> {
        // Dropping the transaction without committing rolls it back, so every early return
        // below leaves neither the clinic nor its owner behind.
        let txn = self.db.begin().await.map_err(db_error)?;
        let clinic = insert(&txn, clinic).await?;
        let owner = crate::users::insert(&txn, clinic.id, owner).await?;
        txn.commit().await.map_err(db_error)?;
        Ok((clinic, owner))
    }

    async fn find_by_subdomain(&self, subdomain: &Subdomain) -> Result<Option<Clinic>> {
        entity::Entity::find_across_tenants(Across::Authentication)
            .filter(entity::Column::Subdomain.eq(subdomain.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_domain)
            .transpose()
    }

    async fn find_by_id(&self, id: TenantId) -> Result<Option<Clinic>> {
        entity::Entity::find_in_tenant(id)
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_domain)
            .transpose()
    }

    async fn set_status(&self, id: TenantId, status: ClinicStatus) -> Result<()> {
        let result = entity::Entity::update_many_in_tenant(id)
            .col_expr(
                entity::Column::Status,
                sea_orm::sea_query::Expr::value(status.as_str()),
            )
            .col_expr(
                entity::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(Utc::now()),
            )
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        if result.rows_affected == 0 {
            return Err(Error::NotFound { resource: "clinic" });
        }
        Ok(())
    }
}
