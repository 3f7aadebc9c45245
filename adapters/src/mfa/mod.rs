//! Staff TOTP MFA stored with sea-orm (`staff_mfa`, `staff_mfa_recovery_codes`). Every query
//! starts from [`InTenant`](crate::db::tenant_scoped::InTenant), so another clinic's user has no
//! MFA here. Replay refusal and single use are conditional updates: of two concurrent uses of
//! one code, exactly one changes a row.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::ids::{TenantId, UserId};
use clinicgate_core::mfa::{MfaRecord, MfaRepository};
use clinicgate_core::secrets::SealedSecret;
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, EntityTrait as _, QueryFilter as _, Set,
    TransactionTrait as _,
};

use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;
use crate::mfa_recovery_codes::entity as codes;
use crate::mfa_resets::entity as resets;

/// [`MfaRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaMfaRepository {
    db: DatabaseConnection,
}

impl SeaMfaRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl MfaRepository for SeaMfaRepository {
    async fn find_in_tenant(&self, tenant: TenantId, user: UserId) -> Result<Option<MfaRecord>> {
        let row = entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::UserId.eq(user.as_uuid()))
            .one(&self.db)
            .await
            .map_err(db_error)?;
        Ok(row.map(|row| MfaRecord {
            secret: SealedSecret {
                ciphertext: row.ciphertext,
                key_version: row.key_version,
            },
            confirmed_at: row.confirmed_at,
            last_step: row.last_step,
        }))
    }

    async fn begin_in_tenant(
        &self,
        tenant: TenantId,
        user: UserId,
        secret: SealedSecret,
    ) -> Result<()> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let confirmed = entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::UserId.eq(user.as_uuid()))
            .filter(entity::Column::ConfirmedAt.is_not_null())
            .one(&txn)
            .await
            .map_err(db_error)?;
        if confirmed.is_some() {
            return Err(Error::Conflict {
                code: "mfa_already_enabled",
                detail: "MFA is already on; turn it off before enrolling again".to_owned(),
            });
        }
        // An unfinished enrolment is replaced: its secret may have been shown to someone else.
        entity::Entity::delete_many_in_tenant(tenant)
            .filter(entity::Column::UserId.eq(user.as_uuid()))
            .exec(&txn)
            .await
            .map_err(db_error)?;
        let row = entity::ActiveModel {
            user_id: Set(user.as_uuid()),
            tenant_id: Set(tenant.as_uuid()),
            ciphertext: Set(secret.ciphertext),
            key_version: Set(secret.key_version),
            confirmed_at: Set(None),
            last_step: Set(None),
            created_at: Set(Utc::now()),
        };
        entity::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)
    }

    async fn confirm_in_tenant(
        &self,
        tenant: TenantId,
        user: UserId,
        step: i64,
        recovery_digests: Vec<String>,
    ) -> Result<bool> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let confirmed = entity::Entity::update_many_in_tenant(tenant)
            .col_expr(entity::Column::ConfirmedAt, Expr::value(Utc::now()))
            .col_expr(entity::Column::LastStep, Expr::value(step))
            .filter(entity::Column::UserId.eq(user.as_uuid()))
            .filter(entity::Column::ConfirmedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_error)?;
        if confirmed.rows_affected != 1 {
            return Ok(false);
        }
        codes::Entity::delete_many_in_tenant(tenant)
            .filter(codes::Column::UserId.eq(user.as_uuid()))
            .exec(&txn)
            .await
            .map_err(db_error)?;
        let rows = recovery_digests
            .into_iter()
            .map(|digest| codes::ActiveModel {
                user_id: Set(user.as_uuid()),
                code_digest: Set(digest),
                tenant_id: Set(tenant.as_uuid()),
                used_at: Set(None),
            });
        codes::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn accept_step_in_tenant(
        &self,
        tenant: TenantId,
        user: UserId,
        step: i64,
    ) -> Result<bool> {
        let accepted = entity::Entity::update_many_in_tenant(tenant)
            .col_expr(entity::Column::LastStep, Expr::value(step))
            .filter(entity::Column::UserId.eq(user.as_uuid()))
            .filter(entity::Column::ConfirmedAt.is_not_null())
            .filter(
                Condition::any()
                    .add(entity::Column::LastStep.is_null())
                    .add(entity::Column::LastStep.lt(step)),
            )
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(accepted.rows_affected == 1)
    }

    async fn spend_recovery_code_in_tenant(
        &self,
        tenant: TenantId,
        user: UserId,
        digest: &str,
    ) -> Result<bool> {
        let spent = codes::Entity::update_many_in_tenant(tenant)
            .col_expr(codes::Column::UsedAt, Expr::value(Utc::now()))
            .filter(codes::Column::UserId.eq(user.as_uuid()))
            .filter(codes::Column::CodeDigest.eq(digest))
            .filter(codes::Column::UsedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(spent.rows_affected == 1)
    }

    async fn remove_in_tenant(&self, tenant: TenantId, user: UserId) -> Result<()> {
        let txn = self.db.begin().await.map_err(db_error)?;
        remove(&txn, tenant, user).await?;
        txn.commit().await.map_err(db_error)
    }

    async fn reset_in_tenant(&self, tenant: TenantId, user: UserId, by: UserId) -> Result<()> {
        let txn = self.db.begin().await.map_err(db_error)?;
        remove(&txn, tenant, user).await?;
        let record = resets::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            tenant_id: Set(tenant.as_uuid()),
            user_id: Set(user.as_uuid()),
            reset_by: Set(by.as_uuid()),
            reset_at: Set(Utc::now()),
        };
        resets::Entity::insert(record)
            .exec_without_returning(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)
    }
}

/// Deletes `user`'s recovery codes and MFA row on `txn`.
async fn remove(txn: &impl ConnectionTrait, tenant: TenantId, user: UserId) -> Result<()> {
    codes::Entity::delete_many_in_tenant(tenant)
        .filter(codes::Column::UserId.eq(user.as_uuid()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    entity::Entity::delete_many_in_tenant(tenant)
        .filter(entity::Column::UserId.eq(user.as_uuid()))
        .exec(txn)
        .await
        .map_err(db_error)?;
    Ok(())
}
