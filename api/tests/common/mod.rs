//! `spawn_app()`: a real ClinicGate on port 0 with a fresh database and its own shared-state
//! namespace, on the backends the environment selects (see `clinicgate_adapters::testing`).
//!
//! The public host is `localhost` (the default public URL), so the root host is
//! `localhost:{port}` and clinics are `{subdomain}.localhost:{port}`; the test client resolves
//! every `*.localhost` name to 127.0.0.1, as browsers do.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

pub mod deliveries;
pub mod oidc_provider;
pub mod smtp_sink;
pub mod totp;

use std::net::SocketAddr;
use std::sync::Arc;

use clinicgate_adapters::testing::{TestDatabase, test_redis};
use clinicgate_api::config::Settings;
use clinicgate_api::startup::Application;
use clinicgate_api::state::AppState;
use figment::Figment;
use figment::providers::Serialized;
use secrecy::ExposeSecret as _;

/// A password every test clinic's owner gets (long enough, not common).
pub const PASSWORD: &str = "correct horse battery staple 42";

/// Resolves `localhost` and `*.localhost` to 127.0.0.1 (and nothing else), like browsers do.
struct Loopback;

impl reqwest::dns::Resolve for Loopback {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let local = name.as_str() == "localhost" || name.as_str().ends_with(".localhost");
        Box::pin(async move {
            if local {
                let addrs: reqwest::dns::Addrs =
                    Box::new(std::iter::once(SocketAddr::from(([127, 0, 0, 1], 0))));
                Ok(addrs)
            } else {
                Err("tests resolve only *.localhost".into())
            }
        })
    }
}

/// A client that resolves `*.localhost` to loopback and does not follow redirects.
pub fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // The server closes a keep-alive connection after 5 s idle; on a loaded machine a test
        // may pause that long between requests (building a schema validator), and a request
        // sent on a connection as it closes fails with `IncompleteMessage`. Never reusing a
        // connection idle for 2 s avoids the race.
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .dns_resolver(Arc::new(Loopback))
        .build()
        .expect("client")
}

/// A clinic created through `POST /api/signup`.
#[derive(Debug, Clone)]
pub struct TestClinic {
    /// Its subdomain.
    pub subdomain: String,
    /// Its id.
    pub id: String,
    /// The owner's e-mail.
    pub owner_email: String,
}

/// A running app and what it needs to stay alive.
pub struct TestApp {
    /// `http://localhost:{port}`: the public root host.
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
    _database: Arc<TestDatabase>,
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

    /// `http://{subdomain}.localhost:{port}`.
    pub fn origin(&self, subdomain: &str) -> String {
        format!("http://{subdomain}.localhost:{}", self.port)
    }

    /// A request to `path` on a clinic's host, as that clinic's own pages send it: with its
    /// `Origin`, and with `cookie` (a `name=value` pair) when given.
    pub fn on(
        &self,
        method: reqwest::Method,
        subdomain: &str,
        path: &str,
        cookie: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let origin = self.origin(subdomain);
        let mut request = self
            .client
            .request(method, format!("{origin}{path}"))
            .header("origin", origin);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request
    }

    /// Signs a clinic up on the root host; panics unless it is created.
    pub async fn sign_up(&self, subdomain: &str) -> TestClinic {
        let owner_email = format!("owner@{subdomain}.example.com");
        let response = self
            .client
            .post(format!("{}/api/signup", self.address))
            .json(&serde_json::json!({
                "clinic_name": format!("Clinic {subdomain}"),
                "subdomain": subdomain,
                "email": owner_email,
                "password": PASSWORD,
            }))
            .send()
            .await
            .expect("sign-up request");
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        let body: serde_json::Value = response.json().await.expect("sign-up body");
        TestClinic {
            subdomain: subdomain.to_owned(),
            id: body["id"].as_str().expect("id").to_owned(),
            owner_email,
        }
    }

    /// Logs in with JSON on the clinic's host; returns the response.
    pub async fn try_log_in(
        &self,
        subdomain: &str,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        self.on(reqwest::Method::POST, subdomain, "/api/session", None)
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login request")
    }

    /// Logs in and returns the session cookie as `name=value`; panics unless it succeeds.
    pub async fn log_in(&self, subdomain: &str, email: &str, password: &str) -> String {
        let response = self.try_log_in(subdomain, email, password).await;
        assert_eq!(response.status(), 200, "login failed");
        session_cookie(&response)
    }

    /// Adds a staff member as the holder of `cookie`; returns their id.
    pub async fn add_user(&self, subdomain: &str, cookie: &str, email: &str, role: &str) -> String {
        let response = self
            .on(
                reqwest::Method::POST,
                subdomain,
                "/api/tenant/users",
                Some(cookie),
            )
            .json(&serde_json::json!({ "email": email, "role": role, "password": PASSWORD }))
            .send()
            .await
            .expect("add-user request");
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        let body: serde_json::Value = response.json().await.expect("user body");
        body["id"].as_str().expect("id").to_owned()
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
    let database = Arc::new(TestDatabase::create().await);
    start(database, test_redis(), customise).await
}

impl TestApp {
    /// A second instance of the same deployment: this one's database, master key and (when
    /// testing on Redis) Redis key prefix — only for tests about several instances.
    pub async fn spawn_sibling(&self, customise: impl FnOnce(Figment) -> Figment) -> TestApp {
        let master_key = match &self.state.settings.master_key {
            Some(configured) => configured.expose_secret().to_owned(),
            None => std::fs::read_to_string(self.state.settings.master_key_file())
                .expect("the first instance generated its master key"),
        };
        let redis = self
            .state
            .settings
            .redis_url
            .as_ref()
            .map(|url| (url.clone(), self.state.settings.redis.key_prefix.clone()));
        start(self._database.clone(), redis, move |figment| {
            customise(figment.merge(Serialized::default(
                "master_key",
                master_key.trim().to_owned(),
            )))
        })
        .await
    }
}

async fn start(
    database: Arc<TestDatabase>,
    redis: Option<(secrecy::SecretString, String)>,
    customise: impl FnOnce(Figment) -> Figment,
) -> TestApp {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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
        .merge(Serialized::default("log.format", "pretty"))
        // Tests about change detection turn the Cliniko poller on; the others never poll.
        .merge(Serialized::default("polling.enabled", false));
    if let Some((url, prefix)) = redis {
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
        address: format!("http://localhost:{port}"),
        port,
        client: test_client(),
        state,
        data_dir,
        handle,
        _database: database,
    }
}

/// The session cookie a response sets, as the `name=value` pair a browser sends back.
pub fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.contains("cg_session="))
        .and_then(|value| value.split(';').next())
        .expect("a session cookie was set")
        .to_owned()
}

/// A Cliniko API key in the documented shape (shard `au2`).
pub const CLINIKO_KEY: &str = "MS0xMjM0NTY3ODkwYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo-au2";

/// Another Cliniko key, for a second clinic (one key backs one clinic).
pub const OTHER_CLINIKO_KEY: &str = "MS05ODc2NTQzMjEwYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo-au2";

/// What the stub answers for `GET /user`: a dedicated integration user.
pub fn integration_user() -> serde_json::Value {
    serde_json::json!({
        "id": "836447129235883061",
        "first_name": "ClinicGate",
        "last_name": "Integration",
        "email": "integration@clinic.example.com",
        "role": "receptionist",
        "user_active": true
    })
}

/// A stand-in for Cliniko answering `GET /v1/user` with `user` for any key.
pub async fn cliniko_stub(user: serde_json::Value) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/v1/user"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(user))
        .mount(&server)
        .await;
    server
}

/// Points the app's Cliniko client at `base` (e.g. a wiremock server's URI).
pub fn cliniko_at(figment: Figment, base: &str) -> Figment {
    figment.merge(Serialized::default(
        "cliniko.base_url",
        format!("{base}/v1"),
    ))
}

/// Lets outbound calls reach loopback over http, as tests and demos configure it: receivers in
/// tests listen on 127.0.0.1.
pub fn allow_loopback(figment: Figment) -> Figment {
    figment
        .merge(Serialized::default(
            "outbound.allowed_networks",
            vec!["127.0.0.0/8"],
        ))
        .merge(Serialized::default("outbound.allow_http", true))
}
