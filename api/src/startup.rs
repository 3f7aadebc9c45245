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
use clinicgate_adapters::clinics::SeaClinicRepository;
use clinicgate_adapters::db::{self, DatabaseOptions, Db};
use clinicgate_adapters::stores::{StoreConfig, build_shared_state};
use clinicgate_core::crypto::MasterKey;
use clinicgate_migration::{Migrator, MigratorTrait as _};
use secrecy::ExposeSecret as _;
use tokio_util::sync::CancellationToken;
use utoipa_actix_web::AppExt as _;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::http::{extract, fallback, observe, security};
use crate::state::{AppState, Inner};
use crate::{openapi, ops, routes};

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
    std::fs::create_dir_all(&settings.data_dir)
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

/// A built, bound, not-yet-running ClinicGate.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    shutdown: CancellationToken,
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
        let master_key = load_master_key(&settings)?;
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

        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = AppState::new(Inner {
            clinics: Arc::new(SeaClinicRepository::new(db.clone())),
            db,
            shared: stores.state,
            store_probe: stores.probe,
            master_key: Arc::new(master_key),
            openapi: Arc::new(openapi::spec()),
            metrics: ops::recorder_handle(),
            settings,
        });
        let server = serve(listener, state.clone())?;
        Ok(Self {
            port,
            server,
            state,
            shutdown: CancellationToken::new(),
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
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let upkeep = tokio::spawn(metrics_upkeep(
            self.state.metrics.clone(),
            self.shutdown.clone(),
        ));
        let result = self.server.await;
        self.shutdown.cancel();
        if let Err(err) = upkeep.await {
            tracing::warn!(error = %err, "metrics upkeep task ended abnormally");
        }
        tracing::info!("stopped");
        result
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
        let spec = (*state.openapi).clone();
        App::new()
            .into_utoipa_app()
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
            .openapi_service(move |_| SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", spec))
            .default_service(web::to(fallback::fallback))
            .into_app()
            .wrap(Compress::default())
            .wrap(from_fn(move |req, next| {
                security::security_headers(req, next, hsts)
            }))
            .wrap(from_fn(observe::observe))
    })
    .listen(listener)?
    .workers(workers)
    .shutdown_timeout(shutdown_timeout)
    .run();
    Ok(server)
}
