//! One-time password links stored with sea-orm (`password_resets`). Every query starts from
//! [`InTenant`](crate::db::tenant_scoped::InTenant): a link is used on its clinic's host, so the
//! clinic is known before its token is looked up, and another clinic's link finds nothing.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::ids::{TenantId, UserId};
use clinicgate_core::users::password_links::NewPasswordLink;
use clinicgate_core::users::{LinkPurpose, PasswordHash, PasswordLinkRepository, UsableLink};
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, EntityTrait as _, QueryFilter as _, Set,
    TransactionTrait as _,
};

use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;

/// [`PasswordLinkRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaPasswordLinkRepository {
    db: DatabaseConnection,
}

impl SeaPasswordLinkRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn usable(row: &entity::Model) -> Result<UsableLink> {
    Ok(UsableLink {
        user_id: UserId::from_uuid(row.user_id),
        purpose: LinkPurpose::parse(&row.purpose)
            .ok_or_else(|| Error::internal("password_resets row with an unknown purpose"))?,
    })
}

/// The unused, unexpired link with `digest` in `tenant`, read on `db`.
async fn find_usable(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    digest: &str,
    now: DateTime<Utc>,
) -> Result<Option<entity::Model>> {
    entity::Entity::find_in_tenant(tenant)
        .filter(entity::Column::TokenDigest.eq(digest))
        .filter(entity::Column::UsedAt.is_null())
        .filter(entity::Column::ExpiresAt.gt(now))
        .one(db)
        .await
        .map_err(db_error)
}

#[async_trait]
impl PasswordLinkRepository for SeaPasswordLinkRepository {
    async fn insert_in_tenant(&self, tenant: TenantId, link: NewPasswordLink) -> Result<()> {
        let now = Utc::now();
        let txn = self.db.begin().await.map_err(db_error)?;
        entity::Entity::update_many_in_tenant(tenant)
            .col_expr(entity::Column::UsedAt, Expr::value(now))
            .filter(entity::Column::UserId.eq(link.user_id.as_uuid()))
            .filter(entity::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_error)?;
        let row = entity::ActiveModel {
            id: Set(link.id.as_uuid()),
            tenant_id: Set(tenant.as_uuid()),
            user_id: Set(link.user_id.as_uuid()),
            purpose: Set(link.purpose.as_str().to_owned()),
            token_digest: Set(link.token_digest),
            created_by: Set(link.created_by.map(|user| user.as_uuid())),
            created_at: Set(now),
            expires_at: Set(link.expires_at),
            used_at: Set(None),
        };
        entity::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)
    }

    async fn find_usable_in_tenant(
        &self,
        tenant: TenantId,
        token_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UsableLink>> {
        find_usable(&self.db, tenant, token_digest, now)
            .await?
            .as_ref()
            .map(usable)
            .transpose()
    }

    async fn redeem_in_tenant(
        &self,
        tenant: TenantId,
        token_digest: &str,
        now: DateTime<Utc>,
        hash: PasswordHash,
    ) -> Result<Option<UsableLink>> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let Some(row) = find_usable(&txn, tenant, token_digest, now).await? else {
            return Ok(None);
        };
        // Conditional on still being unused: of two concurrent uses, one updates the row and
        // the other updates nothing.
        let spent = entity::Entity::update_many_in_tenant(tenant)
            .col_expr(entity::Column::UsedAt, Expr::value(now))
            .filter(entity::Column::Id.eq(row.id))
            .filter(entity::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_error)?;
        if spent.rows_affected != 1 {
            return Ok(None);
        }
        let link = usable(&row)?;
        crate::users::set_password(&txn, tenant, link.user_id, &hash).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(Some(link))
    }
}
