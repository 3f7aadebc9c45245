//! Staff accounts stored with sea-orm. Every query starts from [`InTenant`](crate::db::tenant_scoped::InTenant), so no code path can
//! read another clinic's users.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::ids::{TenantId, UserId};
use clinicgate_core::users::{
    DisplayName, Email, NewUser, PasswordHash, Role, User, UserChange, UserRepository,
};
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, DatabaseConnection,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, Set, SqlErr, TransactionTrait as _,
};

use crate::clinics::entity as clinics;
use crate::db::tenant_scoped::InTenant as _;
use crate::db::{all_to_domain, db_error};

/// [`UserRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaUserRepository {
    db: DatabaseConnection,
}

impl SeaUserRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn to_domain(row: entity::Model) -> Result<User> {
    let email = Email::parse(&row.email)
        .map_err(|_| Error::internal("a stored e-mail address is invalid"))?;
    let role = Role::parse(&row.role)
        .ok_or_else(|| Error::internal(format!("stored role {:?} is unknown", row.role)))?;
    Ok(User {
        id: UserId::from_uuid(row.id),
        tenant_id: TenantId::from_uuid(row.tenant_id),
        email,
        display_name: row.display_name.map(DisplayName::from_stored),
        role,
        active: row.active,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Inserts `user` into `tenant` on `db` (a pool or a transaction).
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    user: NewUser,
) -> Result<User> {
    let now = Utc::now();
    let row = entity::ActiveModel {
        id: Set(user.id.as_uuid()),
        tenant_id: Set(tenant.as_uuid()),
        email: Set(user.email.as_str().to_owned()),
        display_name: Set(user.display_name.map(|name| name.as_str().to_owned())),
        password_hash: Set(user.password_hash.as_str().to_owned()),
        role: Set(user.role.as_str().to_owned()),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    match row.insert(db).await {
        Ok(model) => to_domain(model),
        // The only unique key a new row can collide on is (tenant, e-mail): ids are UUIDv7.
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(Error::Conflict {
                code: "email_taken",
                detail: "a staff member of this clinic already uses this e-mail address".to_owned(),
            })
        }
        Err(err) => Err(db_error(err)),
    }
}

/// Replaces the password hash of `tenant`'s user `id` on `db` (a pool or a transaction).
pub(crate) async fn set_password(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: UserId,
    hash: &PasswordHash,
) -> Result<()> {
    let updated = entity::Entity::update_many_in_tenant(tenant)
        .col_expr(entity::Column::PasswordHash, Expr::value(hash.as_str()))
        .col_expr(entity::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(entity::Column::Id.eq(id.as_uuid()))
        .exec(db)
        .await
        .map_err(db_error)?;
    if updated.rows_affected == 0 {
        return Err(Error::NotFound { resource: "user" });
    }
    Ok(())
}

/// Whether `change` takes an active owner's ownership away.
fn removes_ownership(current: &entity::Model, change: UserChange) -> bool {
    let was_owner = current.active && current.role == Role::Owner.as_str();
    let stays_owner = change.role.is_none_or(|role| role == Role::Owner)
        && change.active.unwrap_or(current.active);
    was_owner && !stays_owner
}

#[async_trait]
impl UserRepository for SeaUserRepository {
    async fn list_in_tenant(&self, tenant: TenantId) -> Result<Vec<User>> {
        let select = entity::Entity::find_in_tenant(tenant)
            .order_by_asc(entity::Column::CreatedAt)
            .order_by_asc(entity::Column::Id);
        all_to_domain(select, &self.db, to_domain).await
    }

    async fn find_in_tenant(&self, tenant: TenantId, id: UserId) -> Result<Option<User>> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_domain)
            .transpose()
    }

    async fn credentials_in_tenant(
        &self,
        tenant: TenantId,
        email: &Email,
    ) -> Result<Option<(User, PasswordHash)>> {
        let Some(row) = entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let hash = PasswordHash::from_stored(row.password_hash.clone());
        Ok(Some((to_domain(row)?, hash)))
    }

    async fn set_password_in_tenant(
        &self,
        tenant: TenantId,
        id: UserId,
        hash: PasswordHash,
    ) -> Result<()> {
        set_password(&self.db, tenant, id, &hash).await
    }

    async fn create_in_tenant(&self, tenant: TenantId, user: NewUser) -> Result<User> {
        insert(&self.db, tenant, user).await
    }

    async fn change_in_tenant(
        &self,
        tenant: TenantId,
        id: UserId,
        change: UserChange,
    ) -> Result<User> {
        let txn = self.db.begin().await.map_err(db_error)?;
        // Touching the clinic's row first serialises every staff change of one clinic: it takes
        // the row lock on PostgreSQL and the write lock on SQLite, so two owners demoting each
        // other at once cannot both see the other as the remaining owner.
        clinics::Entity::update_many_in_tenant(tenant)
            .col_expr(
                clinics::Column::UpdatedAt,
                Expr::col(clinics::Column::UpdatedAt),
            )
            .exec(&txn)
            .await
            .map_err(db_error)?;
        let current = entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Id.eq(id.as_uuid()))
            .one(&txn)
            .await
            .map_err(db_error)?
            .ok_or(Error::NotFound { resource: "user" })?;
        if removes_ownership(&current, change) {
            let other_owners = entity::Entity::find_in_tenant(tenant)
                .filter(entity::Column::Id.ne(id.as_uuid()))
                .filter(entity::Column::Role.eq(Role::Owner.as_str()))
                .filter(entity::Column::Active.eq(true))
                .count(&txn)
                .await
                .map_err(db_error)?;
            if other_owners == 0 {
                return Err(Error::Conflict {
                    code: "last_owner",
                    detail: "a clinic must keep at least one active owner; make someone else an owner first".to_owned(),
                });
            }
        }
        let mut row: entity::ActiveModel = current.into();
        if let Some(role) = change.role {
            row.role = Set(role.as_str().to_owned());
        }
        if let Some(active) = change.active {
            row.active = Set(active);
        }
        row.updated_at = Set(Utc::now());
        let updated = row.update(&txn).await.map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        to_domain(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(role: Role, active: bool) -> entity::Model {
        entity::Model {
            id: uuid::Uuid::now_v7(),
            tenant_id: uuid::Uuid::now_v7(),
            email: "a@b.co".to_owned(),
            display_name: None,
            password_hash: String::new(),
            role: role.as_str().to_owned(),
            active,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn only_demoting_or_deactivating_an_active_owner_removes_ownership() {
        let demote = UserChange {
            role: Some(Role::Admin),
            active: None,
        };
        let deactivate = UserChange {
            role: None,
            active: Some(false),
        };
        let keep = UserChange {
            role: Some(Role::Owner),
            active: Some(true),
        };
        assert!(removes_ownership(&row(Role::Owner, true), demote));
        assert!(removes_ownership(&row(Role::Owner, true), deactivate));
        assert!(!removes_ownership(&row(Role::Owner, true), keep));
        assert!(!removes_ownership(&row(Role::Owner, false), demote));
        assert!(!removes_ownership(&row(Role::Admin, true), deactivate));
    }
}
