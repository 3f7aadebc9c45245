//! Cliniko, the practice-management system every clinic connects: identifiers, API keys and the
//! port through which ClinicGate talks to it. Facts come from `shared/reference/cliniko-api.md`.
//!
//! The types here are domain types: how Cliniko spells them in JSON, and how it cuts requests
//! (pages, 7-day availability windows), is the adapter's business (`clinicgate-adapters`,
//! `cliniko::wire` and `cliniko::availability`).

mod appointments;
mod availability;
mod changes;
mod daily;
mod ids;
mod key;
mod patience;
mod patients;
mod query;
mod reference;
mod time_zones;
mod usage;

use async_trait::async_trait;

pub use appointments::{
    Appointment, AppointmentPatch, Cancellation, CancellationReason, NewAppointment,
};
pub use availability::{AvailabilityQuery, AvailableTime, Bookable, MAX_AVAILABILITY_DAYS};
pub use changes::{ChangeQuery, Changed, Changes, Feed};
pub use daily::{AvailabilitySpan, DailyAvailability};
pub use ids::ClinikoId;
pub use key::{ClinikoApiKey, Shard};
pub use patience::Patience;
pub use patients::{MedicalAlert, Patient, PatientFields, PhoneNumber};
pub use query::{
    Direction, Filter, FilterOp, FilterValue, ListPage, ListQuery, PageRequest, contains_text,
};
pub use reference::{
    AccountSettings, AppointmentType, Business, CalendarSettings, ClinikoSettings, Practitioner,
};
pub use time_zones::iana_for_label;
pub use usage::{ClinikoUsage, LaneUsage};

use crate::Result;
use crate::ids::TenantId;

/// Which kind of caller a Cliniko request serves; it decides how the shared per-key budget treats
/// it when budget is short. Highest priority first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// A clinician waiting on a page: may wait briefly for budget.
    Interactive,
    /// A third-party API call: fails fast with 429 when no budget is left.
    Api,
    /// Sync, webhooks, backfills: only uses budget above a reserve, and waits.
    Background,
}

impl Lane {
    /// Every lane, highest priority first.
    pub const ALL: [Self; 3] = [Self::Interactive, Self::Api, Self::Background];

    /// Label for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Interactive => "interactive",
            Self::Api => "api",
            Self::Background => "background",
        }
    }
}

/// One clinic's Cliniko credentials, as handed to the client for a call.
#[derive(Debug, Clone)]
pub struct ClinikoAccount {
    /// The clinic the key belongs to (for the per-clinic metrics and cache namespaces).
    pub tenant_id: TenantId,
    /// Its API key (carries the shard).
    pub key: ClinikoApiKey,
    /// The API client the calls serve, if they serve one: its calls are counted as its own, and
    /// a capped client's API-lane calls spend its own slice of the key's budget first.
    pub caller: Option<ClinikoCaller>,
}

/// The API client a Cliniko call serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinikoCaller {
    /// The client.
    pub client_id: crate::tokens::ClientId,
    /// Its cap on the clinic's Cliniko budget: at most this many percent (1 to 100) of the key's
    /// budget (rate and burst), across every instance, so one partner cannot starve the others.
    /// `None`: no cap of its own.
    pub budget_share: Option<u8>,
}

/// The Cliniko user behind an API key (`GET /user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinikoUser {
    /// Cliniko's id of the user.
    pub id: ClinikoId,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Security role, e.g. `administrator` (absent in some accounts).
    pub role: Option<String>,
    /// Whether the user is active.
    pub active: Option<bool>,
}

/// Which practitioners to list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PractitionerScope {
    /// Every active practitioner.
    All,
    /// Those who work at a business (`/businesses/{id}/practitioners`).
    AtBusiness(ClinikoId),
    /// Those who offer an appointment type (`/appointment_types/{id}/practitioners`).
    OfferingType(ClinikoId),
}

/// Which appointment types to list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AppointmentTypeScope {
    /// Every appointment type.
    All,
    /// Those a practitioner offers (`/practitioners/{id}/appointment_types`).
    OfferedBy(ClinikoId),
}

/// The Cliniko API. Implemented in `clinicgate-adapters` over HTTP, with one shared rate budget
/// per key; every call names the [`Lane`] it runs on.
///
/// Reference data (practitioners, businesses, appointment types, settings) may be served from a
/// per-clinic cache; patient data (patients, alerts, appointments, free times) is always fetched.
///
/// Errors: Cliniko 401 → `Error::Upstream { failure: Unauthorized }` (the caller marks the clinic's
/// key as needing attention), 403 → `Forbidden`, 404 → `Error::NotFound`, 400/422 →
/// `Error::Validation` with Cliniko's field messages, 429 or no budget → `Error::RateLimited`,
/// 5xx/timeouts/garbage → the matching [`crate::error::UpstreamFailure`].
#[async_trait]
pub trait ClinikoClient: Send + Sync + std::fmt::Debug {
    /// Books `calls` units of `account`'s budget on `lane` for one operation, waiting as the
    /// lane may, and returns a client whose next `calls` calls with `account` spend them.
    /// An operation that makes several calls reserves them first, so that under overload it is
    /// refused before its first call rather than after spending budget on work thrown away.
    /// Calls beyond the reservation ask the budget as usual.
    ///
    /// # Errors
    /// `RateLimited` (nothing spent) when the budget cannot cover `calls` within the lane's wait
    /// or the key is paused after a Cliniko 429; `Unavailable` when the shared store is down.
    async fn reserve(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        calls: u32,
    ) -> Result<std::sync::Arc<dyn ClinikoClient>>;

    /// `GET /user`: the user that owns the key. Used to verify a key before storing it.
    async fn current_user(&self, account: &ClinikoAccount, lane: Lane) -> Result<ClinikoUser>;

    /// Practitioners in `scope` (active ones; cached).
    async fn practitioners(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        scope: &PractitionerScope,
    ) -> Result<Vec<Practitioner>>;

    /// One practitioner (from the cached list when it is there, else `GET /practitioners/{id}`).
    async fn practitioner(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<Practitioner>;

    /// Every business (cached).
    async fn businesses(&self, account: &ClinikoAccount, lane: Lane) -> Result<Vec<Business>>;

    /// One business (from the cached list when it is there).
    async fn business(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<Business>;

    /// Appointment types in `scope` (cached).
    async fn appointment_types(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        scope: &AppointmentTypeScope,
    ) -> Result<Vec<AppointmentType>>;

    /// One appointment type (from the cached list when it is there).
    async fn appointment_type(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<AppointmentType>;

    /// Free start times on the business-local days `from..=to`, in order, without duplicates;
    /// days before today are skipped. At most [`MAX_AVAILABILITY_DAYS`] days. However Cliniko
    /// cuts a range into calls, the answer is the whole range.
    ///
    /// # Errors
    /// `Validation` (`to`) for a range that ends before it starts or is too long.
    async fn available_times(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &AvailabilityQuery,
    ) -> Result<Vec<AvailableTime>>;

    /// The most Cliniko calls [`ClinikoClient::available_times`] makes for `query` (without
    /// reference data it may have to fetch first), so an operation can [`ClinikoClient::reserve`]
    /// them before its first call.
    fn available_times_calls(&self, query: &AvailabilityQuery) -> u32;

    /// The next free start time, if Cliniko has one.
    async fn next_available_time(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        bookable: &Bookable,
    ) -> Result<Option<AvailableTime>>;

    /// Individual appointments matching `query` (every page, up to its limit).
    async fn appointments(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &ListQuery,
    ) -> Result<Vec<Appointment>>;

    /// One page of the individual appointments matching `query` (one Cliniko call), with the
    /// number matching in all.
    async fn appointments_page(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &ListQuery,
        page: PageRequest,
    ) -> Result<ListPage<Appointment>>;

    /// One individual appointment.
    async fn appointment(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<Appointment>;

    /// Books an appointment (never retried: Cliniko has no idempotency keys). Cliniko does not
    /// prevent double bookings: check [`ClinikoClient::appointment_conflicts`] afterwards.
    async fn create_appointment(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        appointment: &NewAppointment,
    ) -> Result<Appointment>;

    /// Changes an appointment.
    async fn update_appointment(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
        patch: &AppointmentPatch,
    ) -> Result<Appointment>;

    /// Cancels an appointment with a reason.
    async fn cancel_appointment(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
        cancellation: &Cancellation,
    ) -> Result<()>;

    /// Whether an appointment overlaps another.
    async fn appointment_conflicts(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<bool>;

    /// Records of one kind changed at or after a time, oldest change first, each once, with the
    /// records Cliniko hides by default (cancelled, archived). Reads page by page from the last
    /// `updated_at` seen rather than by page number, so records changed while it reads cannot
    /// shift a page boundary over one it has not read.
    async fn changes(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &ChangeQuery,
    ) -> Result<Changes>;

    /// Patients matching `query` (every page, up to its limit).
    async fn patients(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &ListQuery,
    ) -> Result<Vec<Patient>>;

    /// One page of the patients matching `query` (one Cliniko call), with the number matching
    /// in all.
    async fn patients_page(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        query: &ListQuery,
        page: PageRequest,
    ) -> Result<ListPage<Patient>>;

    /// One patient.
    async fn patient(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<Patient>;

    /// Creates a patient (Cliniko requires first and last name).
    async fn create_patient(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        patient: &PatientFields,
    ) -> Result<Patient>;

    /// Changes a patient.
    async fn update_patient(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
        patch: &PatientFields,
    ) -> Result<Patient>;

    /// Archives a patient (Cliniko hides archived patients from lists by default).
    async fn archive_patient(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<()>;

    /// A patient's medical alerts.
    async fn medical_alerts(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        patient_id: &ClinikoId,
    ) -> Result<Vec<MedicalAlert>>;

    /// The daily availabilities (weekly hours per business) of `practitioners`, in one list.
    async fn daily_availabilities(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        practitioners: &[ClinikoId],
    ) -> Result<Vec<DailyAvailability>>;

    /// One medical alert by its id (deleted ones included, as Cliniko shows them by id).
    async fn medical_alert(
        &self,
        account: &ClinikoAccount,
        lane: Lane,
        id: &ClinikoId,
    ) -> Result<MedicalAlert>;

    /// The account settings (time zone; cached).
    async fn settings(&self, account: &ClinikoAccount, lane: Lane) -> Result<ClinikoSettings>;

    /// Drops the clinic's cached reference data, so the next reads fetch it again (after a
    /// change in Cliniko the clinic asks us to pick up, or a new key).
    async fn invalidate_reference_data(&self, account: &ClinikoAccount) -> Result<()>;

    /// How the clinic's key is using its budget (the same on every instance).
    async fn usage(&self, account: &ClinikoAccount) -> Result<ClinikoUsage>;
}
