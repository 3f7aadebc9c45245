//! Tenancy in the data layer: the one place that builds a query on a tenant-owned table.
//!
//! Every table that belongs to a clinic is registered below with its tenant column. Queries on it
//! begin from one of two doors, and from nothing else:
//!
//! - [`InTenant`]: `find_in_tenant`, `update_many_in_tenant`, `delete_many_in_tenant` take the
//!   clinic's [`TenantId`] and add the filter on the tenant column themselves, so a find, update
//!   or delete of a clinic's rows cannot be written without saying whose rows they are;
//! - [`AcrossTenants`]: the few queries that cross clinics by design, each naming its reason
//!   ([`Across`]) at the call site, so a reviewer sees every exception listed in one enum.
//!
//! `db::tenancy_check` (a test, so CI runs it on both backends) fails when code outside this file
//! filters by a tenant column by hand or starts a query on a registered entity with sea-orm's own
//! `Entity::find()`, `update_many()`, `delete_many()`, `find_by_id()` or `delete_by_id()`.
//! Inserts are not scoped here: a new row names its clinic in its `tenant_id` field.
//!
//! The blanket implementations mean no entity can override these doors with a version that forgets
//! the filter. This module depends on sea-orm and core's ids only.

use clinicgate_core::ids::TenantId;
use sea_orm::{
    ColumnTrait as _, DeleteMany, EntityTrait, QueryFilter as _, QueryOrder as _, Select,
    UpdateMany,
};

/// A table whose rows belong to one clinic each.
///
/// Implemented through [`tenant_owned!`] below, so the list of tenant-owned tables is in one place.
pub(crate) trait TenantOwned: EntityTrait {
    /// The column holding the owning clinic's id.
    const TENANT: Self::Column;
}

/// Registers tenant-owned entities: `crate::module => TenantColumn` (the module's `entity`).
/// The tenancy check reads this list and refuses an entity with a `tenant_id` field that is
/// missing from it.
macro_rules! tenant_owned {
    ($(crate::$module:ident => $column:ident,)+) => {
        $(
            impl TenantOwned for crate::$module::entity::Entity {
                const TENANT: crate::$module::entity::Column = crate::$module::entity::Column::$column;
            }
        )+
    };
}

tenant_owned! {
    crate::api_clients => TenantId,
    crate::booking_claims => TenantId,
    crate::calendar_feed_settings => TenantId,
    crate::calendar_feeds => TenantId,
    crate::client_jwks => TenantId,
    crate::clinic_settings => TenantId,
    // A clinic's own row: its id is the tenant.
    crate::clinics => Id,
    crate::cliniko_key => TenantId,
    crate::deliveries => TenantId,
    crate::delivery_attempts => TenantId,
    crate::events => TenantId,
    crate::fhir_backfills => TenantId,
    crate::fhir_destinations => TenantId,
    crate::idempotency => TenantId,
    crate::ledger => TenantId,
    crate::mfa => TenantId,
    crate::mfa_recovery_codes => TenantId,
    crate::mfa_resets => TenantId,
    crate::notification_opt_outs => TenantId,
    crate::notification_queue_sends => TenantId,
    crate::notification_reminder_sends => TenantId,
    crate::notification_settings => TenantId,
    crate::notification_sms_settings => TenantId,
    crate::notification_templates => TenantId,
    crate::notifications => TenantId,
    crate::partner_links => TenantId,
    crate::patient_syncs => TenantId,
    crate::password_links => TenantId,
    crate::poll_clinics => TenantId,
    crate::poll_cursors => TenantId,
    crate::poll_marks => TenantId,
    crate::poll_phone_keys => TenantId,
    crate::polling => TenantId,
    crate::revocations => TenantId,
    crate::secrets => TenantId,
    crate::sso => TenantId,
    crate::suspensions => TenantId,
    crate::usage => TenantId,
    crate::users => TenantId,
    crate::webhook_endpoints => TenantId,
}

/// The way into one clinic's rows of a tenant-owned table.
pub(crate) trait InTenant: TenantOwned {
    /// `SELECT … WHERE tenant = tenant`; further filters narrow it.
    fn find_in_tenant(tenant: TenantId) -> Select<Self> {
        Self::find().filter(Self::TENANT.eq(tenant.as_uuid()))
    }

    /// `UPDATE … WHERE tenant = tenant`; further filters narrow it.
    fn update_many_in_tenant(tenant: TenantId) -> UpdateMany<Self> {
        Self::update_many().filter(Self::TENANT.eq(tenant.as_uuid()))
    }

    /// `DELETE … WHERE tenant = tenant`; further filters narrow it.
    fn delete_many_in_tenant(tenant: TenantId) -> DeleteMany<Self> {
        Self::delete_many().filter(Self::TENANT.eq(tenant.as_uuid()))
    }
}

// One blanket implementation: no entity can bring its own, unfiltered, version.
impl<E: TenantOwned> InTenant for E {}

/// Why a query on a tenant-owned table may cross clinics. This is the complete list of
/// exceptions; a new one is a design decision to be reviewed, not a convenience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Across {
    /// The row is how a request's clinic is found, so the clinic cannot be known before the
    /// query: a clinic by its subdomain, an API client by its public id, a token by its `jti`,
    /// and the revocation set authentication consults.
    Authentication,
    /// Expired rows are removed the same way for every clinic (slot claims, idempotency records,
    /// revocations, events past their retention, usage counters older than 30 days).
    Expiry,
    /// Key maintenance walks every clinic in turn: re-wrapping data keys under a new master key,
    /// backfilling Cliniko key fingerprints.
    KeyMaintenance,
    /// A rule that spans clinics: one Cliniko key belongs to one clinic, so a key is looked up by
    /// its fingerprint whichever clinic holds it.
    KeyUniqueness,
    /// The delivery queue is shared: workers claim due deliveries of every clinic, and read the
    /// events those deliveries carry; the operator's metrics measure its depth.
    Delivery,
    /// The Cliniko pollers share the clinics: an instance claims whichever clinics are due, the
    /// schedule is filled from every connected clinic, and the operator's metrics read every
    /// clinic's poll lag.
    Polling,
    /// A FHIR backfill whose instance stopped is resumed by whichever instance's upkeep finds
    /// its lease lapsed, in any clinic.
    Backfill,
}

/// The documented way across clinics. The reason does not change the query; it is written at
/// the call site so that every cross-clinic query says why it is one.
pub(crate) trait AcrossTenants: TenantOwned {
    /// Every clinic's rows.
    fn find_across_tenants(_why: Across) -> Select<Self> {
        Self::find()
    }

    /// Updates among every clinic's rows; further filters say which.
    fn update_many_across_tenants(_why: Across) -> UpdateMany<Self> {
        Self::update_many()
    }

    /// Deletes among every clinic's rows; further filters say which.
    fn delete_many_across_tenants(_why: Across) -> DeleteMany<Self> {
        Self::delete_many()
    }

    /// The tenant column itself, for a query that picks clinics (a claim of due clinics from a
    /// table keyed by clinic).
    fn tenant_column(_why: Across) -> Self::Column {
        Self::TENANT
    }

    /// One page of a walk over every clinic's rows in clinic order, resuming after the clinic
    /// `after` (keyset pagination on the tenant column).
    fn sweep_after(_why: Across, after: Option<TenantId>) -> Select<Self> {
        let query = Self::find().order_by_asc(Self::TENANT);
        match after {
            Some(after) => query.filter(Self::TENANT.gt(after.as_uuid())),
            None => query,
        }
    }
}

impl<E: TenantOwned> AcrossTenants for E {}
