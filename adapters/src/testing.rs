//! Test support (feature `test-support`): a fresh database per test, on the backend the
//! environment asks for.
//!
//! - unset `CLINICGATE_TEST_DATABASE_URL`: a new SQLite file in a temporary folder;
//! - set: a new PostgreSQL database on that server, dropped when the guard is dropped.
//!
//! A backend that was asked for and cannot be reached panics the test with a clear message:
//! nothing silently falls back or skips.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test support: a backend that was asked for and is missing must fail the test"
)]

use sea_orm::{ConnectionTrait as _, Database};
use secrecy::SecretString;

/// Names the PostgreSQL server to run tests on (a URL to an existing database, e.g. `test`).
pub const TEST_DATABASE_ENV: &str = "CLINICGATE_TEST_DATABASE_URL";
/// Names the Redis server to run tests on.
pub const TEST_REDIS_ENV: &str = "CLINICGATE_TEST_REDIS_URL";

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Sqlite(#[allow(dead_code, reason = "held so the folder outlives the test")] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// Creates the database the environment selects.
    ///
    /// # Panics
    /// When `CLINICGATE_TEST_DATABASE_URL` is set but the server cannot be reached or the database
    /// cannot be created, or a temporary folder cannot be made.
    pub async fn create() -> Self {
        match std::env::var(TEST_DATABASE_ENV) {
            Ok(admin_url) if !admin_url.is_empty() => Self::postgres(admin_url).await,
            _ => Self::sqlite(),
        }
    }

    fn sqlite() -> Self {
        let dir =
            tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary folder: {e}"));
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("clinicgate.db").display()
        );
        Self {
            url,
            kind: Kind::Sqlite(dir),
        }
    }

    async fn postgres(admin_url: String) -> Self {
        let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("{TEST_DATABASE_ENV} is set but PostgreSQL cannot be reached ({e}); start it or unset the variable")
        });
        let name = format!("cg_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let mut url = url::Url::parse(&admin_url)
            .unwrap_or_else(|e| panic!("{TEST_DATABASE_ENV} is not a URL: {e}"));
        url.set_path(&name);
        Self {
            url: url.to_string(),
            kind: Kind::Postgres { admin_url, name },
        }
    }

    /// The URL of the fresh database.
    pub fn url(&self) -> SecretString {
        SecretString::from(self.url.clone())
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, Kind::Postgres { .. })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Kind::Postgres { admin_url, name } = &self.kind else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived thread
        // with its own runtime does the clean-up so test databases do not pile up on the server.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if let Err(e) = admin.execute_unprepared(&sql).await {
                        eprintln!("could not drop test database {name}: {e}");
                    }
                }
            });
        });
        if cleanup.join().is_err() {
            eprintln!("the test database clean-up thread panicked");
        }
    }
}

/// The Redis URL to test against, if the environment names one, plus a key prefix unique to the
/// caller. Tests that get `None` use the in-process stores.
pub fn test_redis() -> Option<(SecretString, String)> {
    let url = std::env::var(TEST_REDIS_ENV)
        .ok()
        .filter(|u| !u.is_empty())?;
    Some((
        SecretString::from(url),
        format!("cgtest:{}", uuid::Uuid::new_v4().simple()),
    ))
}

/// A loopback port on which every connection is refused for as long as this value lives.
///
/// Releasing a port and hoping nobody takes it races with the other tests of the binary: a
/// server started in between (or this test's own app, given the same port back) answers instead
/// of refusing. A socket bound without listening keeps the port reserved and makes the kernel
/// answer each connection with a reset.
#[derive(Debug)]
pub struct RefusedPort {
    socket: tokio::net::TcpSocket,
}

impl RefusedPort {
    /// Reserves a free loopback port that refuses connections.
    #[must_use]
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("a free loopback port");
        Self { socket }
    }

    /// The reserved port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("a bound socket").port()
    }
}

impl Default for RefusedPort {
    fn default() -> Self {
        Self::new()
    }
}
