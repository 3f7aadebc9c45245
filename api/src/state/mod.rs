//! The state every handler shares, built once by [`crate::startup`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use clinicgate_adapters::db::Db;
use clinicgate_adapters::fhir_push::FhirPushSender;
use clinicgate_adapters::outbound::OutboundClient;
use clinicgate_adapters::stores::StoreProbe;
use clinicgate_core::booking::BookingService;
use clinicgate_core::calendar_feeds::CalendarFeedService;
use clinicgate_core::clinic_settings::ClinicSettingsService;
use clinicgate_core::clinics::{ClinicRepository, SignupService};
use clinicgate_core::cliniko::ClinikoClient;
use clinicgate_core::cliniko_key::ClinikoKeyService;
use clinicgate_core::clock::Clock;
use clinicgate_core::crypto::MasterKeyring;
use clinicgate_core::dashboard::DashboardService;
use clinicgate_core::delivery::DeliveryQueue;
use clinicgate_core::directory::DirectoryService;
use clinicgate_core::events::EventPublisher;
use clinicgate_core::fhir_push::{FhirBackfillService, FhirDestinationService};
use clinicgate_core::idempotency::IdempotencyService;
use clinicgate_core::ledger::LedgerService;
use clinicgate_core::mfa::MfaService;
use clinicgate_core::notifications::Mailer;
use clinicgate_core::notifications::{NotificationService, SmsSender, SmsSettingsService};
use clinicgate_core::partner_links::{PartnerLinks, PartnerPatientService};
use clinicgate_core::patient_sync::{PatientBackfill, PatientSyncService};
use clinicgate_core::patients::PatientService;
use clinicgate_core::polling::PhoneIndex;
use clinicgate_core::ports::SharedState;
use clinicgate_core::secrets::Vault;
use clinicgate_core::sessions::SessionService;
use clinicgate_core::sso::SsoService;
use clinicgate_core::suspensions::SuspensionService;
use clinicgate_core::tokens::{ClientKeysService, ClientService, TokenService};
use clinicgate_core::usage::{UsageRecorder, UsageService};
use clinicgate_core::users::{PasswordRecovery, UserService};
use clinicgate_core::webhooks::WebhookEndpointService;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;

use crate::config::Settings;
mod list_bodies;

pub use list_bodies::ListBodies;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// What [`AppState`] holds.
#[allow(
    missing_debug_implementations,
    reason = "AppState's Debug shows a safe summary"
)]
pub struct Inner {
    /// Validated configuration.
    pub settings: Settings,
    /// The database pool.
    pub db: Db,
    /// Shared-state stores (Redis or in-process).
    pub shared: SharedState,
    /// Readiness probe of the shared-state backend.
    pub store_probe: StoreProbe,
    /// Clinics.
    pub clinics: Arc<dyn ClinicRepository>,
    /// Cliniko, through one shared rate budget per key (see `clinicgate_adapters::cliniko`).
    pub cliniko: Arc<dyn ClinikoClient>,
    /// The master keys (current, and previous during a rotation).
    pub keyring: Arc<MasterKeyring>,
    /// Seals and opens clinics' secrets.
    pub vault: Vault,
    /// Sign-up of clinics with their owner.
    pub signup: SignupService,
    /// Staff sessions: login, resume, logout.
    pub sessions: SessionService,
    /// Staff management.
    pub staff: UserService,
    /// Password links by e-mail ("Forgot password?", e-mailed reset and invite links).
    pub recovery: PasswordRecovery,
    /// The SMTP relay (or the mailer that says there is none).
    pub mailer: Arc<dyn Mailer>,
    /// Clinics' single sign-on (OpenID Connect).
    pub sso: SsoService,
    /// Staff TOTP MFA: enrolment, and the code step of logins.
    pub mfa: MfaService,
    /// Clinic-wide settings: required MFA, where partners' ids are written in Cliniko.
    pub clinic_settings: ClinicSettingsService,
    /// Clinics' Cliniko keys.
    pub cliniko_keys: ClinikoKeyService,
    /// API clients' access tokens: grant, authenticate, revoke, signing keys.
    pub tokens: TokenService,
    /// Clinics' API clients.
    pub clients: ClientService,
    /// API clients' public keys for `private_key_jwt`.
    pub client_keys: ClientKeysService,
    /// The clinics' kill-switches for their clients and integrations.
    pub suspensions: SuspensionService,
    /// This instance's usage counts, flushed to the database every few seconds.
    pub usage_recorder: UsageRecorder,
    /// The clinics' usage counters, as their dashboards read them.
    pub usage: UsageService,
    /// The clinics' dashboards.
    pub dashboard: DashboardService,
    /// Patients by phone number, from the poller's index (FHIR `Patient?phone=`).
    pub phone_index: PhoneIndex,
    /// The PHI access ledger.
    pub ledger: LedgerService,
    /// The one client for URLs users give (webhooks, partner sync, FHIR push), behind the SSRF
    /// guard configured by `[outbound]`.
    pub outbound: OutboundClient,
    /// Patients from each clinic's Cliniko, every disclosure recorded in the ledger.
    pub patients: PatientService,
    /// Clinics' public directories (doctors, clinics, appointment types).
    pub directory: DirectoryService,
    /// Free slots and bookings through the booking guard.
    pub booking: BookingService,
    /// Doctors' calendar feeds.
    pub calendar_feeds: CalendarFeedService,
    /// The clinics' notification settings and history (also what the publisher asks).
    pub notifications: NotificationService,
    /// The clinics' SMS accounts (auth tokens sealed) and staff phones.
    pub sms_settings: SmsSettingsService,
    /// Sends notification text messages (Twilio's Messages API at the configured base URL).
    pub sms: Arc<dyn SmsSender>,
    /// Partners' patients by their own ids (`/api/public/patients`).
    pub partner_patients: PartnerPatientService,
    /// Clients' partner patient APIs (outbound patient sync; also what the publisher and the
    /// delivery worker ask about them).
    pub patient_sync: PatientSyncService,
    /// Queues a clinic's existing patients to a client's partner.
    pub patient_backfill: PatientBackfill,
    /// The clinics' FHIR destinations (FHIR push; also what the publisher and the delivery
    /// worker ask about them).
    pub fhir_destinations: FhirDestinationService,
    /// Pushes to FHIR destinations, holding their OAuth tokens: the delivery worker's sender,
    /// and "test connection".
    pub fhir_push: FhirPushSender,
    /// "Send existing records" to FHIR destinations: durable runs, resumed by the upkeep.
    pub fhir_backfill: FhirBackfillService,
    /// The links of partner ids to Cliniko patients, which patient sync reads and writes.
    pub partner_links: Arc<dyn PartnerLinks>,
    /// Serialised directory lists, reused until the directory is reloaded.
    pub list_bodies: ListBodies,
    /// Idempotency keys of the public API's writes.
    pub idempotency: IdempotencyService,
    /// Publishes events (ClinicGate's own writes, changes detected in Cliniko).
    pub events: EventPublisher,
    /// The durable queue of events and deliveries.
    pub delivery_queue: Arc<dyn DeliveryQueue>,
    /// Wakes this instance's delivery worker when deliveries were appended or made due.
    pub delivery_wake: Arc<Notify>,
    /// The time the delivery worker and the notification reminders schedule by (the system
    /// clock; tests move it forward to make a reminder due).
    pub clock: Clock,
    /// Partners' webhook endpoints (also what the delivery worker and the event publisher ask
    /// about them).
    pub webhooks: WebhookEndpointService,
    /// The OpenAPI document as served at `/openapi.json`, serialised once for every worker.
    pub openapi_json: actix_web::web::Bytes,
    /// Each documented route's methods, for the `Allow` header of a 405.
    pub allowed_methods: HashMap<String, String>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("public_url", &self.settings.public_url.as_str())
            .field("store_backend", &self.store_probe.backend())
            .finish_non_exhaustive()
    }
}
