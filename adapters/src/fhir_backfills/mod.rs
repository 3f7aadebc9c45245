//! [`FhirBackfillRepository`] over the database: one row per destination (its latest run). A
//! run is started, claimed and saved with conditional statements, so two instances never run
//! the same backfill and two presses never start two runs.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::fhir_push::{
    BackfillState, FhirBackfill, FhirBackfillRepository, FhirDestinationId, FhirResource,
};
use clinicgate_core::ids::TenantId;
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait as _, Condition, DatabaseConnection, EntityTrait as _, IntoActiveModel as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, SqlErr,
};
use uuid::Uuid;

use crate::db::db_error;
use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};

/// [`FhirBackfillRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaFhirBackfillRepository {
    db: DatabaseConnection,
}

impl SeaFhirBackfillRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn malformed(what: &str) -> Error {
    Error::internal(format!("a stored FHIR backfill's {what} is malformed"))
}

fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn unsigned(count: i64) -> u64 {
    u64::try_from(count).unwrap_or_default()
}

fn to_row(tenant: TenantId, b: &FhirBackfill) -> entity::Model {
    entity::Model {
        destination_id: b.destination.as_uuid(),
        tenant_id: tenant.as_uuid(),
        state: b.state.as_str().to_owned(),
        phase: b.phase.as_str().to_owned(),
        next_page: i32::try_from(b.next_page).unwrap_or(i32::MAX),
        with_appointments: b.with_appointments,
        window_start: b.window_start,
        window_end: b.window_end,
        patients_queued: signed(b.patients_queued),
        patients_total: b.patients_total.map(signed),
        appointments_queued: signed(b.appointments_queued),
        appointments_total: b.appointments_total.map(signed),
        last_error: b.last_error.clone(),
        lease_id: None,
        lease_until: None,
        started_at: b.started_at,
        updated_at: b.updated_at,
        finished_at: b.finished_at,
    }
}

fn to_domain(row: &entity::Model) -> Result<FhirBackfill> {
    Ok(FhirBackfill {
        destination: FhirDestinationId::from_uuid(row.destination_id),
        state: BackfillState::parse(&row.state).ok_or_else(|| malformed("state"))?,
        phase: FhirResource::parse(&row.phase).ok_or_else(|| malformed("phase"))?,
        next_page: u32::try_from(row.next_page).map_err(|_| malformed("page"))?,
        with_appointments: row.with_appointments,
        window_start: row.window_start,
        window_end: row.window_end,
        patients_queued: unsigned(row.patients_queued),
        patients_total: row.patients_total.map(unsigned),
        appointments_queued: unsigned(row.appointments_queued),
        appointments_total: row.appointments_total.map(unsigned),
        last_error: row.last_error.clone(),
        started_at: row.started_at,
        updated_at: row.updated_at,
        finished_at: row.finished_at,
    })
}

/// Every column a run's progress sets, as `UPDATE … SET` pairs (the keys and the lease are not
/// among them).
fn progress_values(row: &entity::Model) -> Vec<(entity::Column, SimpleExpr)> {
    use entity::Column as C;
    vec![
        (C::State, row.state.clone().into()),
        (C::Phase, row.phase.clone().into()),
        (C::NextPage, row.next_page.into()),
        (C::WithAppointments, row.with_appointments.into()),
        (C::WindowStart, row.window_start.into()),
        (C::WindowEnd, row.window_end.into()),
        (C::PatientsQueued, row.patients_queued.into()),
        (C::PatientsTotal, row.patients_total.into()),
        (C::AppointmentsQueued, row.appointments_queued.into()),
        (C::AppointmentsTotal, row.appointments_total.into()),
        (C::LastError, row.last_error.clone().into()),
        (C::StartedAt, row.started_at.into()),
        (C::UpdatedAt, row.updated_at.into()),
        (C::FinishedAt, row.finished_at.into()),
    ]
}

/// Nobody holds the run at `now`: never leased, or the lease has lapsed.
fn unheld(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(entity::Column::LeaseUntil.is_null())
        .add(entity::Column::LeaseUntil.lt(now))
}

impl SeaFhirBackfillRepository {
    async fn row(&self, tenant: TenantId, id: FhirDestinationId) -> Result<Option<entity::Model>> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::DestinationId.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(db_error)
    }
}

#[async_trait]
impl FhirBackfillRepository for SeaFhirBackfillRepository {
    async fn start(&self, tenant: TenantId, fresh: &FhirBackfill) -> Result<Option<FhirBackfill>> {
        let row = to_row(tenant, fresh);
        let id = fresh.destination;
        // A finished run is replaced, in one conditional statement: of two presses at once,
        // only one sees it not running.
        let mut restart = entity::Entity::update_many_in_tenant(tenant)
            .filter(entity::Column::DestinationId.eq(id.as_uuid()))
            .filter(entity::Column::State.ne(BackfillState::Running.as_str()))
            .col_expr(entity::Column::LeaseId, Expr::value(Option::<Uuid>::None))
            .col_expr(
                entity::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        for (column, value) in progress_values(&row) {
            restart = restart.col_expr(column, value);
        }
        if restart
            .exec(&self.db)
            .await
            .map_err(db_error)?
            .rows_affected
            > 0
        {
            return Ok(None);
        }
        if let Some(going) = self.row(tenant, id).await? {
            return to_domain(&going).map(Some);
        }
        match entity::Entity::insert(row.into_active_model())
            .exec_without_returning(&self.db)
            .await
        {
            Ok(_) => Ok(None),
            // Another press inserted it first: that run is the one.
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                let going = self
                    .row(tenant, id)
                    .await?
                    .ok_or_else(|| malformed("row"))?;
                to_domain(&going).map(Some)
            }
            Err(err) => Err(db_error(err)),
        }
    }

    async fn get(&self, tenant: TenantId, id: FhirDestinationId) -> Result<Option<FhirBackfill>> {
        self.row(tenant, id)
            .await?
            .as_ref()
            .map(to_domain)
            .transpose()
    }

    async fn claim(
        &self,
        tenant: TenantId,
        id: FhirDestinationId,
        lease: Uuid,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<FhirBackfill>> {
        let claimed = entity::Entity::update_many_in_tenant(tenant)
            .filter(entity::Column::DestinationId.eq(id.as_uuid()))
            .filter(entity::Column::State.eq(BackfillState::Running.as_str()))
            .filter(unheld(now))
            .col_expr(entity::Column::LeaseId, Expr::value(Some(lease)))
            .col_expr(entity::Column::LeaseUntil, Expr::value(Some(until)))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        if claimed.rows_affected == 0 {
            return Ok(None);
        }
        self.get(tenant, id).await
    }

    async fn save(
        &self,
        tenant: TenantId,
        progress: &FhirBackfill,
        lease: Uuid,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let row = to_row(tenant, progress);
        let mut update = entity::Entity::update_many_in_tenant(tenant)
            .filter(entity::Column::DestinationId.eq(row.destination_id))
            .filter(entity::Column::LeaseId.eq(lease))
            .col_expr(entity::Column::LeaseUntil, Expr::value(Some(until)));
        for (column, value) in progress_values(&row) {
            update = update.col_expr(column, value);
        }
        Ok(update.exec(&self.db).await.map_err(db_error)?.rows_affected > 0)
    }

    async fn lapsed(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(TenantId, FhirDestinationId)>> {
        Ok(entity::Entity::find_across_tenants(Across::Backfill)
            .filter(entity::Column::State.eq(BackfillState::Running.as_str()))
            .filter(unheld(now))
            .order_by_asc(entity::Column::UpdatedAt)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|row| {
                (
                    TenantId::from_uuid(row.tenant_id),
                    FhirDestinationId::from_uuid(row.destination_id),
                )
            })
            .collect())
    }
}
