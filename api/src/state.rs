//! The state every handler shares, built once by [`crate::startup`].

use std::fmt;
use std::sync::Arc;

use clinicgate_adapters::db::Db;
use clinicgate_adapters::stores::StoreProbe;
use clinicgate_core::clinics::ClinicRepository;
use clinicgate_core::crypto::MasterKey;
use clinicgate_core::ports::SharedState;
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa::openapi::OpenApi;

use crate::config::Settings;

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
    /// The key-encryption key.
    pub master_key: Arc<MasterKey>,
    /// The OpenAPI document served at `/openapi.json`.
    pub openapi: Arc<OpenApi>,
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
