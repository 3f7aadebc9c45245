//! The one place that wires adapters into the application: database, migrations, shared-state
//! stores, the master key, and the HTTP server with its middleware.

use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use clinicgate_adapters::api_clients::SeaApiClientRepository;
use clinicgate_adapters::assertion_jtis::SeaAssertionJtiRepository;
use clinicgate_adapters::booking_claims::SeaSlotClaims;
use clinicgate_adapters::calendar_feeds::SeaCalendarFeedRepository;
use clinicgate_adapters::client_jwks::SeaClientJwksRepository;
use clinicgate_adapters::client_jwks::fetch::OutboundJwksFetcher;
use clinicgate_adapters::clinic_settings::SeaClinicSettingsRepository;
use clinicgate_adapters::clinics::SeaClinicRepository;
use clinicgate_adapters::cliniko::HttpClinikoClient;
use clinicgate_adapters::cliniko_key::SeaClinikoKeyRepository;
use clinicgate_adapters::db::{self, DatabaseOptions, Db, private_files};
use clinicgate_adapters::deliveries::SeaDeliveryQueue;
use clinicgate_adapters::fhir_backfills::SeaFhirBackfillRepository;
use clinicgate_adapters::fhir_destinations::SeaFhirDestinationRepository;
use clinicgate_adapters::fhir_push::FhirPushSender;
use clinicgate_adapters::idempotency::SeaIdempotencyRepository;
use clinicgate_adapters::ledger::SeaLedgerRepository;
use clinicgate_adapters::mfa::SeaMfaRepository;
use clinicgate_adapters::notifications::SeaNotificationRepository;
use clinicgate_adapters::notifications::smtp::SmtpMailer;
use clinicgate_adapters::notifications::twilio::TwilioSms;
use clinicgate_adapters::outbound::OutboundClient;
use clinicgate_adapters::partner_links::SeaPartnerLinks;
use clinicgate_adapters::partner_sync::PartnerSyncSender;
use clinicgate_adapters::password_links::SeaPasswordLinkRepository;
use clinicgate_adapters::patient_syncs::SeaPatientSyncRepository;
use clinicgate_adapters::polling::SeaPollStore;
use clinicgate_adapters::revocations::SeaRevocationRepository;
use clinicgate_adapters::secrets::SeaDataKeyRepository;
use clinicgate_adapters::service_keys::SeaServiceKeyRepository;
use clinicgate_adapters::sso::SeaSsoConfigRepository;
use clinicgate_adapters::sso::oidc::OutboundOidc;
use clinicgate_adapters::stores::{SharedStateHandle, StoreConfig, build_shared_state};
use clinicgate_adapters::suspensions::SeaSuspensionRepository;
use clinicgate_adapters::usage::SeaUsageStore;
use clinicgate_adapters::users::SeaUserRepository;
use clinicgate_adapters::webhook_endpoints::SeaWebhookEndpointRepository;
use clinicgate_adapters::webhooks::WebhookSender;
use clinicgate_core::booking::BookingService;
use clinicgate_core::calendar_feeds::CalendarFeedService;
use clinicgate_core::clinic_settings::ClinicSettingsService;
use clinicgate_core::clinics::{ClinicRepository, SignupService};
use clinicgate_core::cliniko::ClinikoClient;
use clinicgate_core::cliniko_key::{ClinikoKeyService, FingerprintReport, load_key_fingerprinter};
use clinicgate_core::clock::Clock;
use clinicgate_core::crypto::{MasterKey, MasterKeyring};
use clinicgate_core::dashboard::DashboardService;
use clinicgate_core::delivery::{DeliveryQueue, DeliveryWorker, OutboundKind, RetrySchedule};
use clinicgate_core::directory::DirectoryService;
use clinicgate_core::events::EventPublisher;
use clinicgate_core::fhir_push::{FhirBackfillService, FhirDestinationService};
use clinicgate_core::idempotency::IdempotencyService;
use clinicgate_core::ledger::LedgerService;
use clinicgate_core::mfa::MfaService;
use clinicgate_core::notifications::{
    Mailer, NotificationSender, NotificationService, SmsSender, SmsSettingsService,
    UnsubscribeLinks, UnsubscribeTokens,
};
use clinicgate_core::partner_links::{PartnerLinks, PartnerPatientService, PartnerPolicy};
use clinicgate_core::patient_sync::{PatientBackfill, PatientSyncService};
use clinicgate_core::patients::PatientService;
use clinicgate_core::polling::{PhoneIndex, PollStore};
use clinicgate_core::secrets::Vault;
use clinicgate_core::sessions::{LoginThrottle, SessionService};
use clinicgate_core::sso::{Providers, SsoService};
use clinicgate_core::suspensions::SuspensionService;
use clinicgate_core::tokens::{
    AccessChecker, ApiClientRepository, ClientAssertions, ClientJwksRepository, ClientKeysService,
    ClientService, Freshness, RemoteJwks, SigningKeys, TokenAwareClinics, TokenIssuer, TokenPolicy,
    TokenService, load_secret_hasher,
};
use clinicgate_core::usage::{UsageRecorder, UsageService, UsageStore};
use clinicgate_core::users::{PasswordRecovery, UserRepository, UserService};
use clinicgate_core::webhooks::WebhookEndpointService;
use clinicgate_migration::{Migrator, MigratorTrait as _};
use secrecy::ExposeSecret as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::calendar_feeds::IcsInvitations;
use crate::config::Settings;
use crate::events::{PublicShapes, spawn_event_tasks};
use crate::http::{extract, fallback, host, observe, security};
use crate::state::{AppState, Inner};
use crate::{openapi, ops, pages, polling, public, routes};

/// Opens the database described by `settings`.
pub async fn connect_database(settings: &Settings) -> anyhow::Result<Db> {
    let options = DatabaseOptions {
        url: settings.database_url.clone(),
        max_connections: settings.database.max_connections,
        connect_timeout: Duration::from_secs(settings.database.connect_timeout_secs),
    };
    db::connect(&options)
        .await
        .context("opening the database (check CLINICGATE_DATABASE_URL)")
}

/// Applies every pending migration.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("running database migrations")
}

/// The configured master key, or the one in `{data_dir}/master.key`, generated there (mode 0600)
/// on first run. Production never gets here without a configured key (validation refuses it).
pub fn load_master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(configured) = &settings.master_key {
        return MasterKey::from_base64(configured).context("CLINICGATE_MASTER_KEY");
    }
    let path = settings.master_key_file();
    if path.exists() {
        let mode = std::fs::metadata(&path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the master key file is readable by other users; chmod 600 it");
        }
        let encoded = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return MasterKey::from_base64(&encoded.into())
            .with_context(|| format!("the key in {} is invalid", path.display()));
    }
    private_files::create_dir(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let key = MasterKey::generate();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{}", key.to_base64().expose_secret())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "no master key configured: generated one. Back this file up (losing it loses every stored secret) \
         and set CLINICGATE_MASTER_KEY or CLINICGATE_MASTER_KEY_FILE in production"
    );
    Ok(key)
}

/// The master key plus, during a rotation, the previous one (`CLINICGATE_PREVIOUS_MASTER_KEY`).
pub fn load_keyring(settings: &Settings) -> anyhow::Result<MasterKeyring> {
    let keyring = MasterKeyring::new(load_master_key(settings)?);
    Ok(match &settings.previous_master_key {
        Some(previous) => keyring.with_previous(
            MasterKey::from_base64(previous).context("CLINICGATE_PREVIOUS_MASTER_KEY")?,
        ),
        None => keyring,
    })
}

/// A built, bound, not-yet-running ClinicGate.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    shutdown: CancellationToken,
    stop_signals: StopSignals,
}

/// SIGTERM and SIGINT, registered when the application is built.
///
/// actix-web would install its own handlers only when the server future is first polled, yet it
/// serves requests before that; a stop signal in between (an orchestrator stopping a container
/// that just became ready) would kill the process without draining. Registering here closes that
/// window: from `build` on, a stop signal always means a graceful stop.
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    async fn received(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects to everything, runs migrations when configured, and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let keyring = Arc::new(load_keyring(&settings)?);
        let db = connect_database(&settings).await?;
        if settings.database.run_migrations {
            migrate(&db).await?;
        }
        let stores = build_shared_state(&StoreConfig {
            redis_url: settings.redis_url.clone(),
            key_prefix: settings.redis.key_prefix.clone(),
        })
        .await
        .context("connecting to the shared-state store (check CLINICGATE_REDIS_URL)")?;

        let usage_store: Arc<dyn UsageStore> = Arc::new(SeaUsageStore::new(db.clone()));
        let usage_recorder = UsageRecorder::new(usage_store.clone());
        let cliniko =
            HttpClinikoClient::new(settings.cliniko.client_config(), stores.state.clone())
                .context("building the Cliniko client (check the [cliniko] settings)")?
                .with_usage(usage_recorder.clone());

        let outbound = outbound_client(&settings)?;

        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let spec = openapi::spec();
        let TokenServices {
            tokens,
            clients,
            client_keys,
            suspensions,
            clinics,
        } = token_services(
            &settings,
            &db,
            &keyring,
            &stores,
            Arc::new(SeaClinicRepository::new(db.clone())),
            &outbound,
        )
        .await?;
        let users: Arc<dyn UserRepository> = Arc::new(SeaUserRepository::new(db.clone()));
        let cliniko: Arc<dyn ClinikoClient> = Arc::new(cliniko);
        let vault = Vault::new(
            keyring.clone(),
            Arc::new(SeaDataKeyRepository::new(db.clone())),
        );
        let sessions = SessionService::new(
            users.clone(),
            stores.state.sessions.clone(),
            LoginThrottle::new(
                stores.state.rate_limiter.clone(),
                settings.login.throttle_policy(),
            ),
            settings.session.policy(),
        );
        // MFA codes count failures under their own keys, with the login limits.
        let mfa = MfaService::new(
            Arc::new(SeaMfaRepository::new(db.clone())),
            users.clone(),
            vault.clone(),
            LoginThrottle::new(
                stores.state.rate_limiter.clone(),
                settings.login.throttle_policy(),
            ),
        );
        let cliniko_keys =
            cliniko_key_service(&db, &keyring, cliniko.clone(), vault.clone()).await?;
        let ledger = LedgerService::new(Arc::new(SeaLedgerRepository::new(db.clone())));
        let directory = DirectoryService::new(
            cliniko.clone(),
            cliniko_keys.clone(),
            settings.public_api.directory_memo(),
        );
        let webhooks = webhook_endpoints(&db, &vault, &outbound);
        let patient_sync = patient_sync_service(&db, &vault, &outbound);
        let fhir_destinations = fhir_destination_service(&db, &vault, &outbound);
        let fhir_push = FhirPushSender::new(outbound.clone(), fhir_destinations.clone())
            .with_request_timeout(settings.events.delivery_timeout());
        let delivery_queue: Arc<dyn DeliveryQueue> = Arc::new(SeaDeliveryQueue::new(db.clone()));
        let delivery_wake = Arc::new(Notify::new());
        let notifications = notification_service(&db);
        let events = event_publisher(
            &settings,
            &webhooks,
            &patient_sync,
            &fhir_destinations,
            &notifications,
            &vault,
            delivery_queue.clone(),
        )
        .with_wake(delivery_wake.clone());
        // ClinicGate's own bookings and changes are announced through the change detector, so
        // their events go out at once and the poller has nothing to add later.
        let own_writes = polling::detector_over(
            &settings,
            &db,
            cliniko.clone(),
            cliniko_keys.clone(),
            clinics.clone(),
            vault.clone(),
            events.clone(),
        );
        let booking = BookingService::new(
            directory.clone(),
            Arc::new(SeaSlotClaims::new(db.clone())),
            settings.public_api.booking_policy(),
        )
        .with_own_writes(Arc::new(own_writes));
        let clinic_settings =
            ClinicSettingsService::new(Arc::new(SeaClinicSettingsRepository::new(db.clone())));
        let partner_links: Arc<dyn PartnerLinks> = Arc::new(SeaPartnerLinks::new(db.clone()));
        let partner_patients = PartnerPatientService::new(
            cliniko.clone(),
            cliniko_keys.clone(),
            partner_links.clone(),
            PartnerPolicy::default(),
            clinic_settings.clone(),
        );
        let patient_backfill = PatientBackfill::new(
            patient_sync.clone(),
            cliniko.clone(),
            cliniko_keys.clone(),
            partner_links.clone(),
            events.clone(),
        );
        let fhir_backfill = FhirBackfillService::new(
            fhir_destinations.clone(),
            Arc::new(SeaFhirBackfillRepository::new(db.clone())),
            cliniko.clone(),
            cliniko_keys.clone(),
            events.clone(),
        );
        let idempotency = IdempotencyService::new(
            Arc::new(SeaIdempotencyRepository::new(db.clone())),
            vault.clone(),
            settings.public_api.idempotency_policy(),
        );
        let calendar_feeds = CalendarFeedService::new(
            Arc::new(SeaCalendarFeedRepository::new(db.clone())),
            cliniko.clone(),
            cliniko_keys.clone(),
            ledger.clone(),
            stores.state.rate_limiter.clone(),
            settings.calendar_feeds.policy(),
        );
        let poll_store: Arc<dyn PollStore> = Arc::new(SeaPollStore::new(db.clone()));
        let phone_index = PhoneIndex::new(poll_store.clone(), vault.clone());
        let dashboard = DashboardService::new(
            usage_store.clone(),
            Arc::new(SeaDeliveryQueue::new(db.clone())),
            poll_store,
            cliniko_keys.clone(),
            clients.clone(),
            webhooks.clone(),
        );
        let sso = SsoService::new(
            Arc::new(SeaSsoConfigRepository::new(db.clone())),
            users.clone(),
            vault.clone(),
            Providers::new(Arc::new(OutboundJwksFetcher::new(outbound.clone()))),
            Arc::new(OutboundOidc::new(outbound.clone())),
            Arc::new(outbound.clone()),
        );
        let staff = UserService::new(
            users,
            Arc::new(SeaPasswordLinkRepository::new(db.clone())),
            stores.state.sessions.clone(),
        );
        let mailer = smtp_mailer(&settings);
        let sms_settings = SmsSettingsService::new(
            Arc::new(SeaNotificationRepository::new(db.clone())),
            vault.clone(),
        );
        let sms = twilio_sender(&settings, &outbound)?;
        let state = AppState::new(Inner {
            phone_index,
            sms_settings,
            sms,
            dashboard,
            webhooks,
            calendar_feeds,
            notifications,
            signup: SignupService::new(clinics.clone()),
            mfa,
            clinic_settings,
            recovery: PasswordRecovery::new(
                staff.clone(),
                stores.state.rate_limiter.clone(),
                mailer.clone(),
                settings.notifications.send_timeout(),
            ),
            staff,
            mailer,
            sso,
            patients: PatientService::new(cliniko.clone(), cliniko_keys.clone(), ledger.clone()),
            ledger,
            outbound,
            cliniko_keys,
            directory,
            booking,
            partner_patients,
            patient_sync,
            patient_backfill,
            fhir_destinations,
            fhir_push,
            fhir_backfill,
            partner_links,
            idempotency,
            events,
            delivery_queue,
            delivery_wake,
            clock: Clock::system(),
            sessions,
            tokens,
            clients,
            client_keys,
            suspensions,
            usage_recorder,
            usage: UsageService::new(usage_store),
            vault,
            keyring,
            clinics,
            cliniko,
            db,
            shared: stores.state,
            store_probe: stores.probe,
            openapi_json: serde_json::to_vec(&spec)
                .context("serialising the OpenAPI document")?
                .into(),
            allowed_methods: fallback::allowed_methods(&spec),
            list_bodies: crate::state::ListBodies::default(),
            metrics: ops::recorder_handle(),
            settings,
        });
        let stop_signals =
            StopSignals::register().context("registering SIGTERM/SIGINT handlers")?;
        let server = serve(listener, state.clone())?;
        Ok(Self {
            port,
            server,
            state,
            shutdown: CancellationToken::new(),
            stop_signals,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state, for tests that inspect what a request stored.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or [`ServerHandle::stop`]), then lets in-flight requests finish
    /// and stops the background tasks.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let upkeep = tokio::spawn(metrics_upkeep(
            self.state.metrics.clone(),
            self.shutdown.clone(),
        ));
        let token_upkeep = tokio::spawn(token_upkeep(self.state.clone(), self.shutdown.clone()));
        let backfill_upkeep = tokio::spawn(backfill_upkeep(
            self.state.fhir_backfill.clone(),
            self.shutdown.clone(),
        ));
        let usage_flush = tokio::spawn({
            let (recorder, shutdown) = (self.state.usage_recorder.clone(), self.shutdown.clone());
            async move {
                recorder.run(USAGE_FLUSH_EVERY, shutdown.cancelled()).await;
            }
        });
        let event_tasks = spawn_event_tasks(
            &self.state,
            self.state
                .settings
                .events
                .deliver
                .then(|| delivery_worker(&self.state)),
            &self.shutdown,
        );
        if !self.state.settings.polling.enabled {
            tracing::info!("Cliniko polling is off on this instance ([polling] enabled = false)");
        }
        let poller = self.state.settings.polling.enabled.then(|| {
            polling::spawn_poller(
                &self.state,
                self.state.events.clone(),
                self.shutdown.clone(),
            )
        });
        let handle = self.server.handle();
        let mut server = self.server;
        let result = tokio::select! {
            result = &mut server => result,
            signal = self.stop_signals.received() => {
                tracing::info!(signal, "stopping: finishing in-flight requests");
                // The stop command is carried out by the server future, so both must be polled.
                let ((), result) = tokio::join!(handle.stop(true), server);
                result
            }
        };
        self.shutdown.cancel();
        if let Err(err) = upkeep.await {
            tracing::warn!(error = %err, "metrics upkeep task ended abnormally");
        }
        if let Err(err) = token_upkeep.await {
            tracing::warn!(error = %err, "token upkeep task ended abnormally");
        }
        if let Err(err) = backfill_upkeep.await {
            tracing::warn!(error = %err, "FHIR backfill upkeep task ended abnormally");
        }
        if let Err(err) = usage_flush.await {
            tracing::warn!(error = %err, "usage counter task ended abnormally");
        }
        event_tasks.finish().await;
        if let Some(poller) = poller {
            poller.finish().await;
        }
        tracing::info!("stopped");
        result
    }
}

/// How often this instance writes its usage counts: the dashboard is at most this far behind,
/// and each flush is one upsert per clinic, client and minute seen since the last.
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(5);

/// The one publisher of events: rendered in the public API's shapes, delivered to every
/// subscriber kind.
fn event_publisher(
    settings: &Settings,
    webhooks: &WebhookEndpointService,
    patient_sync: &PatientSyncService,
    fhir_destinations: &FhirDestinationService,
    notifications: &NotificationService,
    vault: &Vault,
    queue: Arc<dyn DeliveryQueue>,
) -> EventPublisher {
    EventPublisher::new(
        vault.clone(),
        queue,
        Arc::new(PublicShapes),
        settings.events.retention(),
    )
    .with_subscribers(Arc::new(webhooks.clone()))
    .with_subscribers(Arc::new(patient_sync.clone()))
    .with_subscribers(Arc::new(fhir_destinations.clone()))
    .with_subscribers(Arc::new(notifications.clone()))
}

/// The clinics' FHIR destinations over the database, their URLs checked by the outbound guard.
fn fhir_destination_service(
    db: &Db,
    vault: &Vault,
    outbound: &OutboundClient,
) -> FhirDestinationService {
    FhirDestinationService::new(
        Arc::new(SeaFhirDestinationRepository::new(db.clone())),
        vault.clone(),
        Arc::new(outbound.clone()),
        Arc::new(SeaDeliveryQueue::new(db.clone())),
    )
}

/// The clinics' notification settings over the database, their history from the queue.
fn notification_service(db: &Db) -> NotificationService {
    NotificationService::new(
        Arc::new(SeaNotificationRepository::new(db.clone())),
        Arc::new(SeaDeliveryQueue::new(db.clone())),
    )
}

/// Clients' partner patient APIs over the database, their URLs checked by the outbound guard.
fn patient_sync_service(db: &Db, vault: &Vault, outbound: &OutboundClient) -> PatientSyncService {
    PatientSyncService::new(
        Arc::new(SeaPatientSyncRepository::new(db.clone())),
        vault.clone(),
        Arc::new(outbound.clone()),
        Arc::new(SeaDeliveryQueue::new(db.clone())),
        Arc::new(SeaPartnerLinks::new(db.clone())),
    )
}

/// The webhook endpoints over the database.
fn webhook_endpoints(db: &Db, vault: &Vault, outbound: &OutboundClient) -> WebhookEndpointService {
    WebhookEndpointService::new(
        Arc::new(SeaWebhookEndpointRepository::new(db.clone())),
        vault.clone(),
        Arc::new(outbound.clone()),
        Arc::new(SeaDeliveryQueue::new(db.clone())),
    )
}

/// A publisher over the configured database, for tools that run beside `serve` (the fan-out
/// benchmark's load generator): the same rendering and subscribers as a serving instance.
pub async fn standalone_publisher(settings: &Settings) -> anyhow::Result<(EventPublisher, Db)> {
    let keyring = Arc::new(load_keyring(settings)?);
    let db = connect_database(settings).await?;
    let vault = Vault::new(keyring, Arc::new(SeaDataKeyRepository::new(db.clone())));
    let queue: Arc<dyn DeliveryQueue> = Arc::new(SeaDeliveryQueue::new(db.clone()));
    let outbound = outbound_client(settings)?;
    let webhooks = webhook_endpoints(&db, &vault, &outbound);
    let patient_sync = patient_sync_service(&db, &vault, &outbound);
    let fhir_destinations = fhir_destination_service(&db, &vault, &outbound);
    let notifications = notification_service(&db);
    Ok((
        event_publisher(
            settings,
            &webhooks,
            &patient_sync,
            &fhir_destinations,
            &notifications,
            &vault,
            queue,
        ),
        db,
    ))
}

/// The delivery worker, with a sender for every outbound kind.
fn delivery_worker(state: &AppState) -> DeliveryWorker {
    let webhooks = WebhookSender::new(state.outbound.clone(), Arc::new(state.webhooks.clone()))
        .with_request_timeout(state.settings.events.delivery_timeout());
    let patient_sync = PartnerSyncSender::new(
        state.outbound.clone(),
        state.patient_sync.clone(),
        state.partner_links.clone(),
    )
    .with_request_timeout(state.settings.events.delivery_timeout());
    DeliveryWorker::new(
        state.delivery_queue.clone(),
        state.vault.clone(),
        RetrySchedule::default(),
        state.settings.events.worker(),
    )
    .with_clock(state.clock.clone())
    .with_sender(OutboundKind::Webhook, Arc::new(webhooks))
    .with_sender(OutboundKind::PatientSync, Arc::new(patient_sync))
    .with_sender(OutboundKind::FhirPush, Arc::new(state.fhir_push.clone()))
    .with_sender(
        OutboundKind::Notification,
        Arc::new(notification_sender(state)),
    )
}

/// Sends notification e-mails through the configured relay (or reports that there is none),
/// with invitations from the doctors' feed renderer.
fn notification_sender(state: &AppState) -> NotificationSender {
    let config = &state.settings.notifications;
    NotificationSender::new(
        state.notifications.clone(),
        state.cliniko_keys.clone(),
        state.cliniko.clone(),
        state.mailer.clone(),
        state.sms.clone(),
        state.sms_settings.clone(),
        Arc::new(IcsInvitations::new(&config.from)),
        UnsubscribeLinks::new(
            UnsubscribeTokens::new(state.vault.clone()),
            state.clinics.clone(),
            Arc::new(state.settings.public_url.clone()),
        ),
        config.send_timeout(),
    )
    .with_clock(state.clock.clone())
}

/// Text messages through Twilio's Messages API at the configured base URL, behind the outbound
/// guard.
fn twilio_sender(
    settings: &Settings,
    outbound: &OutboundClient,
) -> anyhow::Result<Arc<dyn SmsSender>> {
    let twilio = TwilioSms::new(outbound.clone(), &settings.notifications.twilio_base_url)
        .map_err(|why| anyhow::anyhow!("{why} (check notifications.twilio_base_url)"))?;
    Ok(Arc::new(twilio))
}

/// The configured SMTP relay (notification e-mails and password links), or a mailer that reports
/// that there is none.
fn smtp_mailer(settings: &Settings) -> Arc<dyn Mailer> {
    let mailer = match settings.notifications.smtp() {
        None => SmtpMailer::not_configured(),
        Some(smtp) => SmtpMailer::new(&smtp).unwrap_or_else(|why| {
            tracing::error!(reason = %why, "the SMTP relay in [notifications] cannot be used; e-mails report not_configured");
            SmtpMailer::not_configured()
        }),
    };
    Arc::new(mailer)
}

/// The client for user-given URLs, behind the SSRF guard. Says once what the guard lets through,
/// so an operator can see from the log that their `[outbound]` settings were taken.
fn outbound_client(settings: &Settings) -> anyhow::Result<OutboundClient> {
    let outbound = OutboundClient::new(&settings.outbound.client_config())
        .context("building the outbound HTTP client (check the [outbound] settings)")?;
    let allowed = outbound.allowed_networks();
    // The networks themselves are the operator's own configuration, not a secret.
    let networks = allowed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    tracing::info!(
        allowed_networks = %networks,
        allow_http = settings.outbound.allow_http,
        "outbound guard: {} allowed networks",
        allowed.len()
    );
    Ok(outbound)
}

/// The Cliniko key service, after giving keys stored before fingerprints existed theirs (so a
/// key already connected to one clinic is refused to another from the first request on).
async fn cliniko_key_service(
    db: &Db,
    keyring: &MasterKeyring,
    cliniko: Arc<dyn ClinikoClient>,
    vault: Vault,
) -> anyhow::Result<ClinikoKeyService> {
    let fingerprints = load_key_fingerprinter(keyring, &SeaServiceKeyRepository::new(db.clone()))
        .await
        .context(
            "loading the Cliniko key fingerprint key (is the master key the one that sealed it?)",
        )?;
    let service = ClinikoKeyService::new(
        cliniko,
        vault,
        Arc::new(SeaClinikoKeyRepository::new(db.clone())),
        Arc::new(fingerprints),
    );
    let report = service
        .fill_missing_fingerprints()
        .await
        .context("fingerprinting the stored Cliniko keys")?;
    if report != FingerprintReport::default() {
        tracing::info!(
            filled = report.filled,
            shared = report.shared,
            unreadable = report.unreadable,
            "fingerprinted Cliniko keys stored before fingerprints existed"
        );
    }
    Ok(service)
}

/// What [`token_services`] builds.
struct TokenServices {
    tokens: TokenService,
    clients: ClientService,
    client_keys: ClientKeysService,
    suspensions: SuspensionService,
    clinics: Arc<dyn ClinicRepository>,
}

/// The third-party access services: the client-secret hasher and the signing keys (sealed by the
/// master key in the database, created on first start), the access checker — over the shared
/// stores with Redis, over the database without (so instances sharing a database still agree) —
/// the clinics' kill-switches, and the clinic repository everyone uses, wrapped so suspensions
/// reach token validation at once.
async fn token_services(
    settings: &Settings,
    db: &Db,
    keyring: &Arc<MasterKeyring>,
    stores: &SharedStateHandle,
    clinics: Arc<dyn ClinicRepository>,
    outbound: &OutboundClient,
) -> anyhow::Result<TokenServices> {
    let config = &settings.tokens;
    let service_keys = Arc::new(SeaServiceKeyRepository::new(db.clone()));
    let hasher = Arc::new(
        load_secret_hasher(keyring, service_keys.as_ref())
            .await
            .context(
                "loading the client-secret hashing key (is the master key the one that sealed it?)",
            )?,
    );
    let keys = Arc::new(
        SigningKeys::start(keyring.clone(), service_keys, config.key_policy())
            .await
            .context(
                "loading the token signing keys (is the master key the one that sealed them?)",
            )?,
    );
    let api_clients: Arc<dyn ApiClientRepository> =
        Arc::new(SeaApiClientRepository::new(db.clone()));
    let freshness = if stores.probe.backend() == "redis" {
        Freshness::SharedStore {
            cache_ttl: config.client_cache_ttl(),
        }
    } else {
        Freshness::Database
    };
    let access = AccessChecker::new(
        api_clients.clone(),
        Arc::new(SeaRevocationRepository::new(db.clone())),
        stores.state.revocations.clone(),
        stores.state.cache.clone(),
        freshness,
    );
    let restored = access
        .restore_revocations()
        .await
        .context("copying token revocations into the shared store")?;
    tracing::debug!(restored, "token revocations restored");
    let limiter = stores.state.rate_limiter.clone();
    let tokens = TokenService::new(
        TokenIssuer::new(
            settings.public_url.as_str(),
            config.audience.clone(),
            config.ttl(),
        )
        .with_leeway(config.leeway()),
        keys,
        api_clients.clone(),
        hasher.clone(),
        access.clone(),
        LoginThrottle::new(limiter.clone(), config.throttle_policy()),
        limiter,
        TokenPolicy {
            default_rate_limit_per_minute: config.default_rate_limit_per_minute,
            rate_limit_window: config.rate_limit_window(),
        },
    );
    // Over Redis every unit costs a round trip: fast clients lease theirs a few at a time.
    let tokens = match freshness {
        Freshness::SharedStore { .. } => tokens.with_rate_leases(),
        Freshness::Database => tokens,
    };
    let client_jwks: Arc<dyn ClientJwksRepository> =
        Arc::new(SeaClientJwksRepository::new(db.clone()));
    // One cache of clients' published keys, filled by registration and by assertions alike.
    let remote_jwks = RemoteJwks::new(Arc::new(OutboundJwksFetcher::new(outbound.clone())));
    let tokens = tokens.with_client_assertions(ClientAssertions::new(
        client_jwks.clone(),
        remote_jwks.clone(),
        Arc::new(SeaAssertionJtiRepository::new(db.clone())),
        crate::auth::token_url(&settings.public_url),
        config.leeway(),
    ));
    let clients = ClientService::new(api_clients, hasher, access.clone(), config.secret_grace());
    let suspensions = SuspensionService::new(
        Arc::new(SeaSuspensionRepository::new(db.clone())),
        access.clone(),
    );
    Ok(TokenServices {
        tokens,
        clients,
        client_keys: ClientKeysService::new(client_jwks, Arc::new(outbound.clone()), remote_jwks),
        suspensions,
        clinics: Arc::new(TokenAwareClinics::new(clinics, access)),
    })
}

/// Runs the token upkeep (key reload, scheduled rotation, clean-up) every `key_check_secs`; a
/// failed run is logged and retried at the next tick.
async fn token_upkeep(state: AppState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(state.settings.tokens.key_check_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick fires at once; start-up has just loaded the keys.
    tick.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(err) = state.tokens.maintain().await {
                    tracing::warn!(error = %err, "token upkeep failed; retrying at the next run");
                }
            }
        }
    }
}

/// How often an instance looks for FHIR backfills to resume (one whose instance stopped is
/// resumed within its lease plus this).
const BACKFILL_UPKEEP_EVERY: Duration = Duration::from_secs(15);

/// The most FHIR backfills one instance resumes at a time.
const BACKFILL_RESUME_LIMIT: u64 = 8;

/// Resumes FHIR backfills whose instance stopped (at start-up, then every
/// [`BACKFILL_UPKEEP_EVERY`]), each run its own task; a failed look is logged and tried at the
/// next tick. A run in progress when shutdown comes is dropped with the runtime, its lease lapses
/// and the next instance resumes it.
async fn backfill_upkeep(backfill: FhirBackfillService, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(BACKFILL_UPKEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    resumed = backfill.resume_lapsed(BACKFILL_RESUME_LIMIT) => {
                        if let Err(err) = resumed {
                            tracing::warn!(error = %err, "looking for FHIR backfills to resume failed; retrying at the next run");
                        }
                    }
                }
            }
        }
    }
}

/// Histograms are drained into the exporter periodically; without it they would grow unbounded.
async fn metrics_upkeep(
    handle: metrics_exporter_prometheus::PrometheusHandle,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => handle.run_upkeep(),
        }
    }
}

/// Builds the HTTP server on `listener`.
fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<Server> {
    let settings = &state.settings;
    let workers = match settings.http.workers {
        0 => std::thread::available_parallelism().map_or(2, usize::from),
        n => n,
    };
    let shutdown_timeout = settings.shutdown_timeout().as_secs();
    let server = HttpServer::new(move || {
        let limit = state.settings.http.body_limit_bytes;
        let hsts = state.settings.public_url.is_https();
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(extract::json_config(limit))
            .app_data(extract::form_config(limit))
            .app_data(extract::query_config())
            .app_data(extract::path_config())
            .app_data(web::PayloadConfig::new(limit))
            .configure(routes::configure)
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header(("location", "/docs/"))
                        .finish()
                }),
            )
            .route("/openapi.json", web::get().to(openapi::serve_document))
            // The UI reads the document from the route above rather than keeping a copy per worker.
            .service(SwaggerUi::new("/docs/{_:.*}").config(Config::new(["/openapi.json"])))
            .default_service(web::to(fallback::fallback))
            .wrap(from_fn(pages::error_chrome))
            .wrap(from_fn(public::rate_limit_headers))
            .wrap(from_fn(host::route_by_host))
            .wrap(Compress::default())
            .wrap(from_fn(move |req, next| {
                security::security_headers(req, next, hsts)
            }))
            .wrap(from_fn(observe::observe))
    })
    .listen(listener)?
    .workers(workers)
    .shutdown_timeout(shutdown_timeout)
    // Stop signals are handled by `Application` (see `StopSignals`).
    .disable_signals()
    .run();
    Ok(server)
}
