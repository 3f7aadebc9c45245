//! Idempotency records over the database (shared by every instance on both backends). The
//! primary key (clinic, client, key) makes a claim atomic: of two concurrent first requests, one
//! inserts and the other finds its record.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::idempotency::{
    Claimed, ExistingRecord, Fingerprint, IdempotencyRepository, IdempotencyScope,
};
use clinicgate_core::secrets::SealedSecret;
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, Set, SqlErr,
};

use crate::db::db_error;
use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};

const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";

/// Attempts at inserting a claim that keeps meeting records which then vanish.
const CLAIM_ATTEMPTS: usize = 3;

/// [`IdempotencyRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaIdempotencyRepository {
    db: DatabaseConnection,
}

impl SeaIdempotencyRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The scope's record within its clinic (the clinic itself is the query's starting point).
    fn of(scope: &IdempotencyScope) -> Condition {
        Condition::all()
            .add(entity::Column::ClientId.eq(scope.client.as_str()))
            .add(entity::Column::IdempotencyKey.eq(scope.key.as_str()))
    }
}

fn existing(row: entity::Model) -> Result<ExistingRecord> {
    let fingerprint = Fingerprint::from_stored(row.fingerprint);
    if row.state != COMPLETED {
        return Ok(ExistingRecord::InProgress { fingerprint });
    }
    let (Some(status), Some(ciphertext), Some(key_version)) =
        (row.status_code, row.response_body, row.response_key_version)
    else {
        return Err(Error::internal(
            "a completed idempotency record lacks its response",
        ));
    };
    Ok(ExistingRecord::Completed {
        fingerprint,
        status: u16::try_from(status).map_err(Error::internal)?,
        body: SealedSecret {
            ciphertext,
            key_version,
        },
    })
}

#[async_trait]
impl IdempotencyRepository for SeaIdempotencyRepository {
    async fn claim(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Claimed> {
        for _ in 0..CLAIM_ATTEMPTS {
            // A record past its expiry, or in progress past its lease (its instance died), no
            // longer holds the key: delete it (atomically, only if still so) and compete to insert.
            entity::Entity::delete_many_in_tenant(scope.tenant)
                .filter(Self::of(scope))
                .filter(
                    Condition::any()
                        .add(entity::Column::ExpiresAt.lte(now))
                        .add(
                            Condition::all()
                                .add(entity::Column::State.eq(IN_PROGRESS))
                                .add(entity::Column::LeaseUntil.lte(now)),
                        ),
                )
                .exec(&self.db)
                .await
                .map_err(db_error)?;
            let row = entity::ActiveModel {
                tenant_id: Set(scope.tenant.as_uuid()),
                client_id: Set(scope.client.clone()),
                idempotency_key: Set(scope.key.as_str().to_owned()),
                fingerprint: Set(fingerprint.as_str().to_owned()),
                state: Set(IN_PROGRESS.to_owned()),
                status_code: Set(None),
                response_body: Set(None),
                response_key_version: Set(None),
                lease_until: Set(lease_until),
                created_at: Set(now),
                expires_at: Set(expires_at),
            };
            match entity::Entity::insert(row)
                .exec_without_returning(&self.db)
                .await
            {
                Ok(_) => return Ok(Claimed::Acquired),
                Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                }
                Err(err) => return Err(db_error(err)),
            }
            let found = entity::Entity::find_in_tenant(scope.tenant)
                .filter(Self::of(scope))
                .one(&self.db)
                .await
                .map_err(db_error)?;
            if let Some(row) = found {
                return existing(row).map(Claimed::Existing);
            }
        }
        Err(Error::internal(
            "an idempotency record kept changing while claiming it",
        ))
    }

    async fn complete(
        &self,
        scope: &IdempotencyScope,
        status: u16,
        body: &SealedSecret,
    ) -> Result<()> {
        entity::Entity::update_many_in_tenant(scope.tenant)
            .col_expr(entity::Column::State, COMPLETED.into())
            .col_expr(entity::Column::StatusCode, i32::from(status).into())
            .col_expr(entity::Column::ResponseBody, body.ciphertext.clone().into())
            .col_expr(entity::Column::ResponseKeyVersion, body.key_version.into())
            .filter(Self::of(scope))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn release(&self, scope: &IdempotencyScope) -> Result<()> {
        entity::Entity::delete_many_in_tenant(scope.tenant)
            .filter(Self::of(scope))
            .filter(entity::Column::State.eq(IN_PROGRESS))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn prune(&self, now: DateTime<Utc>) -> Result<u64> {
        let result = entity::Entity::delete_many_across_tenants(Across::Expiry)
            .filter(entity::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected)
    }
}
