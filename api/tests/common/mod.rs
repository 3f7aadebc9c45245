//! `spawn_app()`: a real ClinicGate on port 0 with a fresh database and its own shared-state
//! namespace, on the backends the environment selects (see `clinicgate_adapters::testing`).

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use clinicgate_adapters::testing::{TestDatabase, test_redis};
use clinicgate_api::config::Settings;
use clinicgate_api::startup::Application;
use clinicgate_api::state::AppState;
use figment::Figment;
use figment::providers::Serialized;
use secrecy::ExposeSecret as _;

/// A running app and what it needs to stay alive.
pub struct TestApp {
    /// `http://127.0.0.1:{port}`.
    pub address: String,
    /// The bound port.
    pub port: u16,
    /// A client that does not follow redirects (tests assert on them).
    pub client: reqwest::Client,
    /// The app's shared state, to inspect storage directly.
    pub state: AppState,
    /// The folder used as `data_dir`.
    pub data_dir: tempfile::TempDir,
    handle: actix_web::dev::ServerHandle,
    _database: TestDatabase,
}

impl TestApp {
    /// `GET {address}{path}`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request failed")
    }

    /// Whether the app runs on PostgreSQL + Redis.
    pub fn backends(&self) -> (&'static str, &'static str) {
        let db = if self._database.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        };
        (db, self.state.store_probe.backend())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting and close the pool's users before the database is dropped.
        drop(self.handle.stop(false));
    }
}

/// Starts ClinicGate with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|figment| figment).await
}

/// Starts ClinicGate with `customise` applied on top of the test defaults.
pub async fn spawn_app_with(customise: impl FnOnce(Figment) -> Figment) -> TestApp {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().expect("temporary data dir");
    let mut figment = Settings::defaults()
        .merge(Serialized::default("bind", "127.0.0.1:0"))
        .merge(Serialized::default(
            "data_dir",
            data_dir.path().display().to_string(),
        ))
        .merge(Serialized::default(
            "database_url",
            database.url().expose_secret().to_owned(),
        ))
        .merge(Serialized::default("http.workers", 1))
        .merge(Serialized::default("http.shutdown_timeout_secs", 1))
        .merge(Serialized::default("log.format", "pretty"));
    if let Some((url, prefix)) = test_redis() {
        figment = figment
            .merge(Serialized::default(
                "redis_url",
                url.expose_secret().to_owned(),
            ))
            .merge(Serialized::default("redis.key_prefix", prefix));
    }
    let settings =
        Settings::from_figment(&customise(figment)).expect("test configuration is valid");
    let app = Application::build(settings)
        .await
        .expect("the app builds (is a requested test backend down?)");
    let port = app.port();
    let handle = app.handle();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        state,
        data_dir,
        handle,
        _database: database,
    }
}
