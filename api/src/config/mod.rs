//! Configuration: embedded documented defaults (`config/default.toml`) → optional file
//! (`--config`, `CLINICGATE_CONFIG`) → `CLINICGATE_*` environment (`__` nests) → `*_FILE` secrets.
//!
//! [`Settings::load`] validates everything at start and reports every problem with the key to
//! change and how; secrets stay [`SecretString`]s so `Debug` output never shows them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clinicgate_adapters::db::Backend;
use clinicgate_core::crypto::MasterKey;
use clinicgate_core::sessions::{SessionPolicy, ThrottlePolicy};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

pub mod events;
pub mod notifications;
pub mod outbound;
pub mod polling;
pub mod public_api;
pub mod tokens;

pub use events::EventSettings;
pub use notifications::NotificationSettings;
pub use outbound::OutboundSettings;
pub use polling::PollingSettings;
pub use public_api::PublicApiSettings;
pub use tokens::TokenSettings;

/// The embedded defaults, documented key by key.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// Prefix of every environment variable ClinicGate reads.
const ENV_PREFIX: &str = "CLINICGATE_";

/// Secrets that may be given as `CLINICGATE_<KEY>_FILE` (a path whose contents are the value).
const FILE_SECRETS: &[&str] = &[
    "database_url",
    "redis_url",
    "master_key",
    "previous_master_key",
];

/// Development or production. Production is strict about secrets and identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Generates a master key if none is set; allows the placeholder Cliniko User-Agent.
    Development,
    /// Requires an explicit master key and a real Cliniko contact e-mail.
    Production,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// Database settings (`[database]`).
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Run pending migrations when `serve` starts.
    pub run_migrations: bool,
    /// Pool size.
    pub max_connections: u32,
    /// Seconds to wait for a connection.
    pub connect_timeout_secs: u64,
}

/// Redis settings (`[redis]`).
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// Prefix of every key.
    pub key_prefix: String,
}

/// HTTP server settings (`[http]`).
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// Largest accepted request body in bytes.
    pub body_limit_bytes: usize,
    /// Seconds in-flight requests get after a stop signal.
    pub shutdown_timeout_secs: u64,
    /// Take the client's IP from the last `X-Forwarded-For` entry (set it only behind a proxy
    /// that appends it); otherwise the TCP peer address is the client.
    pub trust_forwarded_for: bool,
    /// Send `Server-Timing` (time spent waiting for Cliniko, recording the access ledger, and in
    /// total) on patient responses: for benchmarks and diagnosis, off by default.
    #[serde(default)]
    pub server_timing: bool,
}

/// Browser session settings (`[session]`).
#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    /// Seconds without a request after which a session ends.
    pub idle_timeout_secs: u64,
    /// Seconds after login after which a session ends, however active.
    pub absolute_timeout_secs: u64,
}

/// Login throttling settings (`[login]`).
#[derive(Debug, Clone, Deserialize)]
pub struct LoginSettings {
    /// Failed logins allowed per account (clinic + e-mail) in one window.
    pub max_failures_per_account: u64,
    /// Failed logins allowed per client IP in one window.
    pub max_failures_per_ip: u64,
    /// Seconds failures are remembered.
    pub failure_window_secs: u64,
    /// Milliseconds added to each attempt per failure beyond half a limit.
    pub delay_step_ms: u64,
}

impl SessionSettings {
    /// As the session service's policy.
    pub fn policy(&self) -> SessionPolicy {
        SessionPolicy {
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            absolute_timeout: Duration::from_secs(self.absolute_timeout_secs),
        }
    }
}

impl LoginSettings {
    /// As the login throttle's policy.
    pub fn throttle_policy(&self) -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures_per_account: self.max_failures_per_account,
            max_failures_per_ip: self.max_failures_per_ip,
            window: Duration::from_secs(self.failure_window_secs),
            delay_step: Duration::from_millis(self.delay_step_ms),
        }
    }
}

/// Sign-up settings (`[signup]`).
#[derive(Debug, Clone, Deserialize)]
pub struct SignupSettings {
    /// Sign-ups accepted per client IP per hour.
    pub max_per_ip_per_hour: u32,
}

/// Doctors' calendar feeds (`[calendar_feeds]`).
#[derive(Debug, Clone, Deserialize)]
pub struct CalendarFeedSettings {
    /// Days of appointments before now that a feed shows.
    pub days_before: u32,
    /// Days of appointments after now that a feed shows.
    pub days_after: u32,
    /// Fetches one feed may make per hour.
    pub fetches_per_hour: u32,
    /// The most appointments one feed holds.
    pub max_appointments: usize,
}

impl CalendarFeedSettings {
    /// The feed policy these settings describe.
    pub fn policy(&self) -> clinicgate_core::calendar_feeds::FeedPolicy {
        clinicgate_core::calendar_feeds::FeedPolicy {
            days_before: self.days_before,
            days_after: self.days_after,
            fetches: clinicgate_core::ports::Quota {
                limit: self.fetches_per_hour,
                period: Duration::from_secs(3600),
            },
            max_appointments: self.max_appointments,
        }
    }
}

/// Logging settings (`[log]`).
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// Line format.
    pub format: LogFormat,
}

/// Cliniko client settings (`[cliniko]`).
#[derive(Debug, Clone, Deserialize)]
pub struct ClinikoSettings {
    /// Base URL with a `{shard}` placeholder.
    pub base_url: String,
    /// `Name (contact e-mail)`.
    pub user_agent: String,
    /// Per-call timeout in seconds.
    pub timeout_secs: u64,
    /// Sustained Cliniko calls per minute per API key, shared by every instance.
    pub budget_per_minute: u32,
    /// Calls that may go at once after a quiet spell (at most `budget_per_minute + budget_burst`
    /// calls in any minute).
    pub budget_burst: u32,
    /// Budget units third-party API calls leave for interactive (clinician) calls.
    pub api_reserve: u32,
    /// Budget units background work leaves for interactive and API calls.
    pub background_reserve: u32,
    /// Milliseconds an interactive call may wait for budget.
    pub interactive_wait_ms: u64,
    /// Seconds a background call may wait for budget.
    pub background_wait_secs: u64,
    /// Seconds to pause a key after a Cliniko 429 that gives no reset time.
    pub default_pause_secs: u64,
    /// Retries of idempotent calls on connection errors, 502/503/504 and 429.
    pub max_retries: u32,
    /// Seconds reference data (practitioners, businesses, appointment types, settings) is cached.
    pub cache_ttl_secs: u64,
}

impl ClinikoSettings {
    /// The Cliniko client's configuration.
    pub fn client_config(&self) -> clinicgate_adapters::cliniko::ClinikoClientConfig {
        use clinicgate_adapters::cliniko::{BudgetConfig, ClinikoClientConfig, RetryConfig};
        ClinikoClientConfig {
            timeout: Duration::from_secs(self.timeout_secs),
            budget: BudgetConfig {
                limit: self.budget_per_minute,
                period: Duration::from_secs(60),
                burst: self.budget_burst,
                api_reserve: self.api_reserve,
                background_reserve: self.background_reserve,
                interactive_wait: Duration::from_millis(self.interactive_wait_ms),
                background_wait: Duration::from_secs(self.background_wait_secs),
                default_pause: Duration::from_secs(self.default_pause_secs),
            },
            retry: RetryConfig {
                max_retries: self.max_retries,
                ..RetryConfig::default()
            },
            cache_ttl: Duration::from_secs(self.cache_ttl_secs),
            ..ClinikoClientConfig::new(self.base_url.clone(), self.user_agent.clone())
        }
    }
}

/// The configuration as read, before validation.
#[derive(Debug, Deserialize)]
struct RawSettings {
    env: Environment,
    bind: String,
    public_url: String,
    data_dir: PathBuf,
    database_url: Option<SecretString>,
    redis_url: Option<SecretString>,
    master_key: Option<SecretString>,
    previous_master_key: Option<SecretString>,
    database: DatabaseSettings,
    redis: RedisSettings,
    http: HttpSettings,
    log: LogSettings,
    cliniko: ClinikoSettings,
    session: SessionSettings,
    login: LoginSettings,
    signup: SignupSettings,
    tokens: TokenSettings,
    public_api: PublicApiSettings,
    calendar_feeds: CalendarFeedSettings,
    events: EventSettings,
    outbound: outbound::RawOutboundSettings,
    polling: PollingSettings,
    notifications: NotificationSettings,
}

/// The public root URL, split into the parts tenant routing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    url: Url,
    host: String,
}

impl PublicUrl {
    /// Parses and checks a root URL: http(s), a host name (not an IP: clinics are subdomains of
    /// it), no credentials, path, query or fragment.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|e| format!("is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must start with http:// or https://".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain a user name or password".into());
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(
                "must be only scheme, host and port, with no path, query or fragment".into(),
            );
        }
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => domain.trim_end_matches('.').to_ascii_lowercase(),
            Some(_) => return Err("must use a host name, not an IP address, because clinics are served on its subdomains".into()),
            None => return Err("has no host".into()),
        };
        Ok(Self { url, host })
    }

    /// The root URL without a trailing slash, e.g. `https://clinicgate.example.com`.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// The lowercase host name, e.g. `clinicgate.example.com`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, if any (`None` for the scheme's default).
    pub fn port(&self) -> Option<u16> {
        self.url.port()
    }

    /// Whether browsers reach it over TLS (cookies become `Secure`, HSTS is sent).
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The URL of a clinic's host, e.g. `https://clinic-a.clinicgate.example.com`.
    pub fn tenant_url(&self, subdomain: &str) -> String {
        let port = self.port().map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{subdomain}.{}{port}", self.url.scheme(), self.host)
    }

    /// The addresses of the clinic on `subdomain`.
    pub fn clinic_urls(&self, subdomain: &str) -> ClinicUrls {
        let url = self.tenant_url(subdomain);
        let port = self.port().map(|p| format!(":{p}")).unwrap_or_default();
        ClinicUrls {
            button_url: format!("{url}/patients"),
            wildcard_button_url: format!("*.{}{port}/patients", self.host()),
            url,
        }
    }
}

/// The clinic's public addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicUrls {
    /// `https://{subdomain}.{host}`.
    pub url: String,
    /// `https://{subdomain}.{host}/patients`: what the clinic pastes into Cliniko.
    pub button_url: String,
    /// `*.{host}/patients`: the wildcard form ClinicGate registers with Cliniko once for all clinics.
    pub wildcard_button_url: String,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Development or production.
    pub env: Environment,
    /// Listen address.
    pub bind: SocketAddr,
    /// Public root URL.
    pub public_url: PublicUrl,
    /// Folder for the default SQLite file and the generated master key.
    pub data_dir: PathBuf,
    /// Database URL (defaults to the SQLite file in `data_dir`).
    pub database_url: SecretString,
    /// Redis URL; `None` = in-process stores.
    pub redis_url: Option<SecretString>,
    /// The configured master key; `None` = use or generate `{data_dir}/master.key`.
    pub master_key: Option<SecretString>,
    /// The master key being rotated away from, still accepted for reading data keys.
    pub previous_master_key: Option<SecretString>,
    /// `[database]`.
    pub database: DatabaseSettings,
    /// `[redis]`.
    pub redis: RedisSettings,
    /// `[http]`.
    pub http: HttpSettings,
    /// `[log]`.
    pub log: LogSettings,
    /// `[cliniko]`.
    pub cliniko: ClinikoSettings,
    /// `[session]`.
    pub session: SessionSettings,
    /// `[login]`.
    pub login: LoginSettings,
    /// `[signup]`.
    pub signup: SignupSettings,
    /// `[calendar_feeds]`.
    pub calendar_feeds: CalendarFeedSettings,
    /// `[tokens]`.
    pub tokens: TokenSettings,
    /// `[public_api]`.
    pub public_api: PublicApiSettings,
    /// `[events]`: event retention and this instance's delivery worker.
    pub events: EventSettings,
    /// `[outbound]`: the SSRF guard for calls to user-given URLs.
    pub outbound: OutboundSettings,
    /// `[polling]`: change detection over Cliniko.
    pub polling: PollingSettings,
    /// `[notifications]`: the SMTP relay of notification e-mails.
    pub notifications: NotificationSettings,
}

/// One configuration problem: which key, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, as the environment variable that sets it.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Why the configuration was refused.
#[derive(Debug)]
pub struct ConfigError(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration; ClinicGate did not start:")?;
        for problem in &self.0 {
            writeln!(f, "  - {}: {}", problem.key, problem.message)?;
        }
        write!(f, "(every key is documented in config/default.toml)")
    }
}

impl std::error::Error for ConfigError {}

fn problem(key: &str, message: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        key: key.into(),
        message: message.into(),
    }
}

impl Settings {
    /// The embedded defaults alone.
    pub fn defaults() -> Figment {
        Figment::from(Toml::string(DEFAULT_TOML))
    }

    /// Defaults, then `file` (if any), then the process environment and `*_FILE` secrets.
    pub fn figment(file: Option<&Path>) -> Result<Figment, ConfigError> {
        let mut figment = Self::defaults();
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError(vec![problem(
                    "--config / CLINICGATE_CONFIG",
                    format!("{} is not a readable file", file.display()),
                )]));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(
            Env::prefixed(ENV_PREFIX)
                .split("__")
                .filter(|key| key.as_str() != "config" && !key.as_str().ends_with("_file")),
        );
        for key in FILE_SECRETS {
            let var = format!("{ENV_PREFIX}{}_FILE", key.to_ascii_uppercase());
            let Some(path) = std::env::var_os(&var) else {
                continue;
            };
            if std::env::var_os(format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())).is_some() {
                return Err(ConfigError(vec![problem(
                    &var,
                    "set either this or the variable without _FILE, not both",
                )]));
            }
            let value = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError(vec![problem(
                    &var,
                    format!("cannot read {}: {e}", Path::new(&path).display()),
                )])
            })?;
            figment = figment.merge(Serialized::default(key, value.trim().to_owned()));
        }
        Ok(figment)
    }

    /// Loads and validates the configuration for `serve` and the other commands.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(&Self::figment(file)?)
    }

    /// Validates an assembled configuration, reporting every problem at once.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let raw: RawSettings = figment.extract().map_err(|errors| {
            ConfigError(
                errors
                    .into_iter()
                    .map(|e| {
                        let key = if e.path.is_empty() {
                            "configuration".to_owned()
                        } else {
                            format!("{ENV_PREFIX}{}", e.path.join("__").to_ascii_uppercase())
                        };
                        problem(&key, e.kind.to_string())
                    })
                    .collect(),
            )
        })?;
        raw.validate()
    }

    /// How long in-flight requests get after a stop signal.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.http.shutdown_timeout_secs)
    }

    /// Where a generated master key is kept.
    pub fn master_key_file(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }
}

impl RawSettings {
    fn validate(self) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();

        let bind = self.bind.parse::<SocketAddr>().map_err(|_| {
            problems.push(problem(
                "CLINICGATE_BIND",
                format!(
                    "{:?} is not an address:port such as 127.0.0.1:8080 or 0.0.0.0:8080",
                    self.bind
                ),
            ))
        });
        let public_url = PublicUrl::parse(&self.public_url).map_err(|why| {
            problems.push(problem(
                "CLINICGATE_PUBLIC_URL",
                format!(
                    "{:?} {why}; use e.g. https://clinicgate.example.com or http://localhost:8080",
                    self.public_url
                ),
            ))
        });

        let database_url = self.database_url.unwrap_or_else(|| {
            SecretString::from(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("clinicgate.db").display()
            ))
        });
        if Backend::of(database_url.expose_secret()).is_none() {
            problems.push(problem("CLINICGATE_DATABASE_URL", "must start with sqlite:// or postgres:// (the value is not shown because it may hold a password)"));
        }
        if let Some(url) = &self.redis_url {
            let url = url.expose_secret();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                problems.push(problem("CLINICGATE_REDIS_URL", "must start with redis:// or rediss://, or be unset to keep shared state in-process"));
            }
        }
        if self.redis.key_prefix.is_empty() || self.redis.key_prefix.contains(char::is_whitespace) {
            problems.push(problem(
                "CLINICGATE_REDIS__KEY_PREFIX",
                "must be a non-empty word without spaces",
            ));
        }

        match &self.master_key {
            Some(key) => {
                if let Err(why) = MasterKey::from_base64(key) {
                    problems.push(problem(
                        "CLINICGATE_MASTER_KEY",
                        format!("{why}; generate one with `openssl rand -base64 32`"),
                    ));
                }
            }
            None if self.env == Environment::Production => problems.push(problem(
                "CLINICGATE_MASTER_KEY",
                "is required in production (or CLINICGATE_MASTER_KEY_FILE); generate one with `openssl rand -base64 32` and keep it safe: it decrypts every clinic's secrets",
            )),
            None => {}
        }

        let cliniko_base = self.cliniko.base_url.replace("{shard}", "au1");
        match Url::parse(&cliniko_base) {
            Ok(url)
                if url.scheme() == "https"
                    || (url.scheme() == "http" && self.env == Environment::Development) => {}
            Ok(_) => problems.push(problem(
                "CLINICGATE_CLINIKO__BASE_URL",
                "must be an https:// URL (http:// is allowed only in development, for the sandbox)",
            )),
            Err(e) => problems.push(problem(
                "CLINICGATE_CLINIKO__BASE_URL",
                format!("is not a URL ({e}); the default is https://api.{{shard}}.cliniko.com/v1"),
            )),
        }
        match user_agent_email(&self.cliniko.user_agent) {
            None => problems.push(problem(
                "CLINICGATE_CLINIKO__USER_AGENT",
                "must be \"Name (contact e-mail)\", e.g. \"ClinicGate Acme (ops@acme.example)\"; Cliniko blocks clients it cannot contact",
            )),
            Some(email) if self.env == Environment::Production && is_placeholder_email(email) => problems.push(problem(
                "CLINICGATE_CLINIKO__USER_AGENT",
                "still has a placeholder e-mail; production needs a real contact address Cliniko can reach",
            )),
            Some(_) => {}
        }
        if let Some(Err(why)) = self
            .previous_master_key
            .as_ref()
            .map(MasterKey::from_base64)
        {
            problems.push(problem(
                "CLINICGATE_PREVIOUS_MASTER_KEY",
                format!("{why}; it must be the master key being rotated away from, or unset"),
            ));
        }
        if self.session.idle_timeout_secs == 0
            || self.session.absolute_timeout_secs < self.session.idle_timeout_secs
        {
            problems.push(problem(
                "CLINICGATE_SESSION__ABSOLUTE_TIMEOUT_SECS",
                "session timeouts must be at least 1 second, and the absolute timeout at least the idle timeout",
            ));
        }
        if self.login.max_failures_per_account == 0
            || self.login.max_failures_per_ip == 0
            || self.login.failure_window_secs == 0
        {
            problems.push(problem(
                "CLINICGATE_LOGIN__MAX_FAILURES_PER_ACCOUNT",
                "login limits and the failure window must each be at least 1",
            ));
        }
        if self.calendar_feeds.fetches_per_hour == 0 || self.calendar_feeds.max_appointments == 0 {
            problems.push(problem(
                "CLINICGATE_CALENDAR_FEEDS__FETCHES_PER_HOUR",
                "calendar_feeds.fetches_per_hour and calendar_feeds.max_appointments must each be \
                 at least 1",
            ));
        }
        if self.signup.max_per_ip_per_hour == 0 {
            problems.push(problem(
                "CLINICGATE_SIGNUP__MAX_PER_IP_PER_HOUR",
                "must be at least 1",
            ));
        }
        if self.cliniko.timeout_secs == 0 {
            problems.push(problem(
                "CLINICGATE_CLINIKO__TIMEOUT_SECS",
                "must be at least 1",
            ));
        }
        if let Err(clinicgate_core::Error::Validation(fields)) =
            self.cliniko.client_config().validate()
        {
            for field in fields {
                let key = match field.field.as_str() {
                    "budget.limit" => "CLINICGATE_CLINIKO__BUDGET_PER_MINUTE",
                    "budget.burst" => "CLINICGATE_CLINIKO__BUDGET_BURST",
                    "budget.api_reserve" => "CLINICGATE_CLINIKO__API_RESERVE",
                    "budget.background_reserve" => "CLINICGATE_CLINIKO__BACKGROUND_RESERVE",
                    // The others are reported above with their own wording.
                    _ => continue,
                };
                problems.push(problem(key, field.message));
            }
        }
        if self.http.body_limit_bytes < 1024 {
            problems.push(problem(
                "CLINICGATE_HTTP__BODY_LIMIT_BYTES",
                "must be at least 1024",
            ));
        }
        problems.extend(self.tokens.problems());
        problems.extend(self.public_api.problems());
        problems.extend(self.events.problems());
        problems.extend(self.polling.problems());
        problems.extend(self.notifications.problems());
        let outbound = self
            .outbound
            .validate(self.env)
            .map_err(|found| problems.extend(found));
        if self.database.max_connections == 0 {
            problems.push(problem(
                "CLINICGATE_DATABASE__MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }

        match (bind, public_url, outbound, problems.is_empty()) {
            (Ok(bind), Ok(public_url), Ok(outbound), true) => Ok(Settings {
                env: self.env,
                bind,
                public_url,
                data_dir: self.data_dir,
                database_url,
                redis_url: self.redis_url,
                master_key: self.master_key,
                previous_master_key: self.previous_master_key,
                database: self.database,
                redis: self.redis,
                http: self.http,
                log: self.log,
                cliniko: self.cliniko,
                session: self.session,
                login: self.login,
                signup: self.signup,
                tokens: self.tokens,
                public_api: self.public_api,
                calendar_feeds: self.calendar_feeds,
                events: self.events,
                outbound,
                polling: self.polling,
                notifications: self.notifications,
            }),
            _ => Err(ConfigError(problems)),
        }
    }
}

/// The contact e-mail in a `Name (email)` User-Agent, if it has that shape.
fn user_agent_email(user_agent: &str) -> Option<&str> {
    let (name, rest) = user_agent.trim().split_once('(')?;
    let email = rest.strip_suffix(')')?.trim();
    let (local, domain) = email.split_once('@')?;
    let well_formed = !name.trim().is_empty()
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(char::is_whitespace);
    well_formed.then_some(email)
}

/// Reserved documentation domains (RFC 2606 / 6761) cannot receive mail.
fn is_placeholder_email(email: &str) -> bool {
    let domain = email
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    [
        "example.invalid",
        "example.com",
        "example.org",
        "example.net",
    ]
    .iter()
    .any(|reserved| domain == *reserved || domain.ends_with(&format!(".{reserved}")))
        || domain.ends_with(".invalid")
        || domain.ends_with(".test")
}

/// The address a local client (the `healthcheck` command) should dial for `bind`.
pub fn local_address(bind: SocketAddr) -> SocketAddr {
    let ip = match bind.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_urls_follow_the_public_url() {
        let urls = PublicUrl::parse("https://gw.example.com")
            .unwrap()
            .clinic_urls("clinic-a");
        assert_eq!(urls.url, "https://clinic-a.gw.example.com");
        assert_eq!(urls.button_url, "https://clinic-a.gw.example.com/patients");
        assert_eq!(urls.wildcard_button_url, "*.gw.example.com/patients");
        let dev = PublicUrl::parse("http://localhost:8080")
            .unwrap()
            .clinic_urls("a");
        assert_eq!(dev.button_url, "http://a.localhost:8080/patients");
        assert_eq!(dev.wildcard_button_url, "*.localhost:8080/patients");
    }

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut figment = Settings::defaults();
        for (key, value) in pairs {
            figment = figment.merge(Serialized::default(key, *value));
        }
        Settings::from_figment(&figment)
    }

    fn keys(err: ConfigError) -> Vec<String> {
        err.0.into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn events_keep_thirty_days_and_a_claim_outlasts_the_request_timeout() {
        let defaults = with(&[]).unwrap().events;
        assert_eq!(
            defaults.retention(),
            clinicgate_core::events::DEFAULT_RETENTION
        );
        assert_eq!(defaults.delivery_timeout(), Duration::from_secs(15));
        assert!(defaults.worker().lease >= defaults.delivery_timeout() + Duration::from_secs(5));
        let short_lease = with(&[
            ("events.delivery_timeout_secs", "10"),
            ("events.delivery_lease_secs", "12"),
        ]);
        assert_eq!(
            keys(short_lease.unwrap_err()),
            ["CLINICGATE_EVENTS__DELIVERY_LEASE_SECS"]
        );
        let forever = with(&[("events.retention_days", "0")]);
        assert_eq!(
            keys(forever.unwrap_err()),
            ["CLINICGATE_EVENTS__RETENTION_DAYS"]
        );
    }

    #[test]
    fn the_embedded_defaults_are_valid_and_match_the_contract() {
        let settings = with(&[]).unwrap();
        assert_eq!(settings.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(settings.public_url.as_str(), "http://localhost:8080");
        assert_eq!(
            settings.public_url.tenant_url("clinic-a"),
            "http://clinic-a.localhost:8080"
        );
        assert_eq!(
            settings.database_url.expose_secret(),
            "sqlite://./data/clinicgate.db?mode=rwc"
        );
        assert!(settings.redis_url.is_none());
        assert!(settings.master_key.is_none());
        assert_eq!(
            settings.cliniko.base_url,
            "https://api.{shard}.cliniko.com/v1"
        );
        assert_eq!(
            settings.cliniko.user_agent,
            "ClinicGate (set-a-contact@example.invalid)"
        );
    }

    #[test]
    fn debug_output_redacts_every_secret() {
        let key = MasterKey::generate().to_base64();
        let previous = MasterKey::generate().to_base64();
        let settings = with(&[
            ("master_key", key.expose_secret()),
            ("previous_master_key", previous.expose_secret()),
            ("database_url", "postgres://cg:hunter2-password@db/cg"),
            ("redis_url", "redis://:redis-password@cache:6379"),
        ])
        .unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains(key.expose_secret()));
        assert!(!printed.contains(previous.expose_secret()));
        assert!(!printed.contains("hunter2-password"));
        assert!(!printed.contains("redis-password"));
        assert!(printed.contains("REDACTED"));
    }

    #[test]
    fn every_invalid_value_is_reported_with_its_key() {
        let err = with(&[
            ("bind", "localhost"),
            ("public_url", "https://example.com/path"),
            ("database_url", "mysql://x"),
            ("redis_url", "http://x"),
            ("master_key", "c2hvcnQ="),
        ])
        .unwrap_err();
        assert_eq!(
            keys(err),
            [
                "CLINICGATE_BIND",
                "CLINICGATE_PUBLIC_URL",
                "CLINICGATE_DATABASE_URL",
                "CLINICGATE_REDIS_URL",
                "CLINICGATE_MASTER_KEY"
            ]
        );
    }

    #[test]
    fn session_login_and_rotation_settings_are_checked() {
        let figment = Settings::defaults()
            .merge(Serialized::default("previous_master_key", "c2hvcnQ="))
            .merge(Serialized::default("session.idle_timeout_secs", 3600))
            .merge(Serialized::default("session.absolute_timeout_secs", 60))
            .merge(Serialized::default("login.max_failures_per_account", 0))
            .merge(Serialized::default("signup.max_per_ip_per_hour", 0));
        let err = Settings::from_figment(&figment).unwrap_err();
        assert_eq!(
            keys(err),
            [
                "CLINICGATE_PREVIOUS_MASTER_KEY",
                "CLINICGATE_SESSION__ABSOLUTE_TIMEOUT_SECS",
                "CLINICGATE_LOGIN__MAX_FAILURES_PER_ACCOUNT",
                "CLINICGATE_SIGNUP__MAX_PER_IP_PER_HOUR",
            ]
        );
        let defaults = with(&[]).unwrap();
        assert_eq!(
            defaults.session.policy().idle_timeout,
            Duration::from_secs(1800)
        );
        assert_eq!(
            defaults.session.policy().absolute_timeout,
            Duration::from_secs(12 * 3600)
        );
        assert_eq!(defaults.login.throttle_policy().max_failures_per_account, 5);
        assert!(!defaults.http.trust_forwarded_for);
    }

    #[test]
    fn allowed_networks_come_from_a_comma_separated_variable_or_a_toml_list() {
        let defaults = with(&[]).unwrap();
        assert!(defaults.outbound.allowed_networks.is_empty());
        assert!(!defaults.outbound.allow_http);

        // What figment makes of CLINICGATE_OUTBOUND__ALLOWED_NETWORKS=127.0.0.0/8,fd00::/8.
        let from_env: figment::value::Value = "127.0.0.0/8, fd00::/8,".parse().unwrap();
        let figment =
            Settings::defaults().merge(Serialized::default("outbound.allowed_networks", from_env));
        let settings = Settings::from_figment(&figment).unwrap();
        assert_eq!(
            settings.outbound.allowed_networks,
            ["127.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]
        );
        let single = with(&[("outbound.allowed_networks", "10.1.2.3/8")]).unwrap();
        assert_eq!(
            single.outbound.allowed_networks,
            ["10.0.0.0/8".parse().unwrap()]
        );

        let file = Settings::defaults().merge(Toml::string(
            "[outbound]\nallowed_networks = [\"10.20.0.0/16\", \"::1/128\"]\nallow_http = true",
        ));
        let settings = Settings::from_figment(&file).unwrap();
        assert_eq!(settings.outbound.allowed_networks.len(), 2);
        assert!(settings.outbound.allow_http);
        assert_eq!(
            settings.outbound.client_config().allowed_networks,
            settings.outbound.allowed_networks
        );
    }

    #[test]
    fn an_invalid_allowed_network_is_refused_with_how_to_write_one() {
        let err = with(&[(
            "outbound.allowed_networks",
            "127.0.0.0/8,10.0.0.0/33,10.0.0.5,localhost",
        )])
        .unwrap_err();
        let message = err.to_string();
        assert_eq!(keys(err), ["CLINICGATE_OUTBOUND__ALLOWED_NETWORKS"]);
        for shown in [
            "\"10.0.0.0/33\"",
            "\"10.0.0.5\"",
            "\"localhost\"",
            "10.0.0.5/32",
        ] {
            assert!(message.contains(shown), "{message}");
        }
        assert!(!message.contains("\"127.0.0.0/8\""), "{message}");

        let wrong_type =
            Settings::defaults().merge(Toml::string("[outbound]\nallowed_networks = 8"));
        let err = Settings::from_figment(&wrong_type).unwrap_err();
        assert_eq!(keys(err), ["CLINICGATE_OUTBOUND__ALLOWED_NETWORKS"]);
    }

    #[test]
    fn plain_http_to_user_given_urls_is_refused_in_production() {
        let key = MasterKey::generate().to_base64();
        let production = Settings::defaults()
            .merge(Serialized::default("env", "production"))
            .merge(Serialized::default("master_key", key.expose_secret()))
            .merge(Serialized::default(
                "cliniko.user_agent",
                "ClinicGate Acme (ops@acme-health.com.au)",
            ));
        assert!(Settings::from_figment(&production).is_ok());
        let err = Settings::from_figment(
            &production.merge(Serialized::default("outbound.allow_http", true)),
        )
        .unwrap_err();
        assert_eq!(keys(err), ["CLINICGATE_OUTBOUND__ALLOW_HTTP"]);
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_environment_variable() {
        let err = with(&[("http", "")]).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("CLINICGATE_HTTP"), "{err}");
    }

    #[test]
    fn the_public_url_must_be_a_bare_host_name() {
        assert!(PublicUrl::parse("http://127.0.0.1:8080").is_err());
        assert!(PublicUrl::parse("ftp://example.com").is_err());
        assert!(PublicUrl::parse("https://user:pw@example.com").is_err());
        assert!(PublicUrl::parse("https://example.com/?a=1").is_err());
        let url = PublicUrl::parse("https://GW.Example.com.").unwrap();
        assert_eq!(url.host(), "gw.example.com");
        assert!(url.is_https());
        assert_eq!(url.tenant_url("a"), "https://a.gw.example.com");
    }

    #[test]
    fn production_requires_a_master_key_and_a_real_contact_email() {
        let err = with(&[("env", "production")]).unwrap_err();
        assert_eq!(
            keys(err),
            ["CLINICGATE_MASTER_KEY", "CLINICGATE_CLINIKO__USER_AGENT"]
        );

        let key = MasterKey::generate().to_base64();
        let ok = with(&[
            ("env", "production"),
            ("master_key", key.expose_secret()),
            (
                "cliniko.user_agent",
                "ClinicGate Acme (ops@acme-health.com.au)",
            ),
        ]);
        assert!(ok.is_ok());
    }

    #[test]
    fn a_user_agent_without_an_email_is_refused_even_in_development() {
        for bad in [
            "ClinicGate",
            "ClinicGate ()",
            "(ops@acme.com)",
            "ClinicGate (ops)",
            "ClinicGate (a b@c.com)",
        ] {
            let err = with(&[("cliniko.user_agent", bad)]).unwrap_err();
            assert_eq!(keys(err), ["CLINICGATE_CLINIKO__USER_AGENT"], "{bad}");
        }
    }

    #[test]
    fn the_healthcheck_dials_loopback_for_a_wildcard_bind() {
        assert_eq!(
            local_address("0.0.0.0:9000".parse().unwrap()),
            "127.0.0.1:9000".parse().unwrap()
        );
        assert_eq!(
            local_address("[::]:9000".parse().unwrap()),
            "[::1]:9000".parse().unwrap()
        );
        assert_eq!(
            local_address("10.1.2.3:80".parse().unwrap()),
            "10.1.2.3:80".parse().unwrap()
        );
    }
}
